"""A multiplier with a register on each side: ``p = a·b``, as inferred logic or as one ECP5
MULT18X18D whose own input and output registers hold the operands and the product.

On ECP5 the MULT18X18D sites lie in rows across the die. A product computed from fabric
registers and caught in fabric registers spans two routes plus the multiplier; in the demo build
that was every critical path (register → 3.7 ns route → 3.9 ns multiply → 3.9 ns route → register,
82.7 MHz), and more fabric registers did not get the placer to put one next to a multiplier.
The slice's own registers sit inside it, so each route is one hop from a register into the DSP or
out of it, and nextpnr times them so (clock-to-output at P, setup at A and B). Yosys's
``synth_ecp5`` never moves registers into a MULT18X18D, hence the explicit instance.

Both forms behave identically, cycle for cycle: on every clock edge with ``en`` high the input
register loads (a, b) and the output register loads the product of the input register.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from amaranth import ClockSignal, Instance, Module, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError

DSP_PRIMITIVES = ("MULT18X18D",)
"""Hard multipliers :class:`RegisteredMultiplier` can instantiate (``None``: inferred)."""

MULT18X18D_OPERAND_BITS = 18
"""Signed operand width of the MULT18X18D (an unsigned operand may have 17 bits)."""

MULT18X18D_MODEL = "mult18x18d_model.v"
"""Verilog behavioural model of the MULT18X18D subset used here, shipped in this package, for
simulating generated Verilog that instantiates it (see :func:`primitive_models`)."""


def product_shape(a_shape, b_shape) -> Shape:
    """Shape of the exact product of ``a_shape`` and ``b_shape`` operands (Amaranth's ``a * b``)."""
    return (Signal(a_shape) * Signal(b_shape)).shape()


def _fits_operand(shape) -> bool:
    """True when every value of ``shape`` fits the MULT18X18D's signed operand."""
    shape = Shape.cast(shape)
    return shape.width + (0 if shape.signed else 1) <= MULT18X18D_OPERAND_BITS


def check_primitive_name(primitive) -> None:
    """Raise :class:`ConfigError` unless ``primitive`` is None or one of :data:`DSP_PRIMITIVES`."""
    if primitive is not None and primitive not in DSP_PRIMITIVES:
        raise ConfigError(f"DSP primitive {primitive!r}: expected one of {DSP_PRIMITIVES} or None")


def fits_primitive(primitive, a_shape, b_shape) -> bool:
    """True when ``primitive`` (not None) takes ``a_shape`` × ``b_shape`` operands in one slice."""
    return _fits_operand(a_shape) and _fits_operand(b_shape)


def check_primitive(primitive, a_shape, b_shape) -> None:
    """Raise :class:`ConfigError` if ``primitive`` is unknown or the operands do not fit it."""
    check_primitive_name(primitive)
    if primitive is None:
        return
    for name, shape in (("a", a_shape), ("b", b_shape)):
        if not _fits_operand(shape):
            raise ConfigError(f"operand {name} ({Shape.cast(shape)}) does not fit the "
                              f"MULT18X18D's {MULT18X18D_OPERAND_BITS}-bit signed input")


class RegisteredMultiplier(wiring.Component):
    """``p`` = the product of the (a, b) loaded two enabled clock edges before.

    Parameters
    ----------
    a_shape, b_shape : ShapeLike
        Operand shapes (signed or unsigned).
    primitive : str or None
        ``"MULT18X18D"``: one ECP5 MULT18X18D with REG_INPUTA/B and REG_OUTPUT on the ``sync``
        clock, clock enable ``en`` (operands must fit 18 bits signed); ``None``: two registers
        and a ``*`` for synthesis to map.

    Attributes
    ----------
    a : In(a_shape)
    b : In(b_shape)
    en : In(1)
        Clock enable of both registers.
    p : Out(product_shape(a_shape, b_shape))
        Output register: the exact product.
    """

    def __init__(self, a_shape, b_shape, primitive=None):
        try:
            check_primitive(primitive, a_shape, b_shape)
        except ConfigError:
            self._MustUse__silence = True  # never built: no "created but never used" warning
            raise
        self.primitive = primitive
        super().__init__({"a": In(a_shape), "b": In(b_shape), "en": In(1),
                          "p": Out(product_shape(a_shape, b_shape))})

    def elaborate(self, platform):
        m = Module()
        if self.primitive is None:
            a_r = Signal.like(self.a, name="a_r")
            b_r = Signal.like(self.b, name="b_r")
            with m.If(self.en):
                m.d.sync += [a_r.eq(self.a), b_r.eq(self.b), self.p.eq(a_r * b_r)]
            return m
        a18 = Signal(signed(MULT18X18D_OPERAND_BITS))
        b18 = Signal(signed(MULT18X18D_OPERAND_BITS))
        p36 = Signal(signed(2 * MULT18X18D_OPERAND_BITS))
        m.d.comb += [a18.eq(self.a), b18.eq(self.b), self.p.eq(p36)]
        ports = {f"i_A{i}": a18[i] for i in range(MULT18X18D_OPERAND_BITS)}
        ports.update({f"i_B{i}": b18[i] for i in range(MULT18X18D_OPERAND_BITS)})
        ports.update({f"i_C{i}": 0 for i in range(MULT18X18D_OPERAND_BITS)})
        ports.update({f"o_P{i}": p36[i] for i in range(2 * MULT18X18D_OPERAND_BITS)})
        m.submodules.dsp = Instance(
            "MULT18X18D",
            p_REG_INPUTA_CLK="CLK0", p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
            p_REG_INPUTB_CLK="CLK0", p_REG_INPUTB_CE="CE0", p_REG_INPUTB_RST="RST0",
            p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE",
            p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE0", p_REG_OUTPUT_RST="RST0",
            p_GSR="DISABLED", p_RESETMODE="SYNC", p_MULT_BYPASS="DISABLED",
            p_SOURCEB_MODE="B_SHIFT", p_CAS_MATCH_REG="FALSE",
            i_SIGNEDA=1, i_SIGNEDB=1, i_SOURCEA=0, i_SOURCEB=0,
            i_CLK0=ClockSignal("sync"), i_CE0=self.en, i_RST0=0,
            **ports)
        return m


def primitive_models(verilog_text: str) -> list:
    """Paths of the behavioural models a simulator needs for ``verilog_text``: the MULT18X18D
    model when the text instantiates one, else none."""
    if not re.search(r"^\s*MULT18X18D\b", verilog_text, re.MULTILINE):
        return []
    return [Path(str(resources.files(__package__).joinpath(MULT18X18D_MODEL)))]

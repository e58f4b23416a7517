"""ECP5 PLL (EHXPLLL): divider search and an Amaranth wrapper that makes the ``sync`` domain.

Limits (Lattice TN1263 / nextpnr's ecppll): input 8–400 MHz, phase-detector input
``f_in / CLKI_DIV`` ≥ 3.125 MHz, VCO 400–800 MHz, output 3.125–400 MHz. With feedback from
CLKOP, ``f_out = f_in · CLKFB_DIV / CLKI_DIV`` and ``f_vco = f_out · CLKOP_DIV``.
"""

from dataclasses import dataclass

from amaranth import ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib import io

from structhw.errors import ConfigError

PFD_MIN_MHZ = 3.125
VCO_MIN_MHZ, VCO_MAX_MHZ = 400.0, 800.0
OUT_MIN_MHZ, OUT_MAX_MHZ = 3.125, 400.0


@dataclass(frozen=True)
class PLLParams:
    """EHXPLLL dividers and the frequencies (MHz) they give."""

    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_in_mhz: float
    f_out_mhz: float
    f_vco_mhz: float

    @property
    def clkop_cphase(self) -> int:
        """Coarse phase for 0° (as ecppll computes it for the primary output)."""
        return self.clkop_div // 2


def ecp5_pll_params(f_in_mhz: float, f_out_mhz: float) -> PLLParams:
    """The dividers whose output is closest to ``f_out_mhz`` (ties: the higher VCO frequency,
    which has less jitter).

    Raises
    ------
    ConfigError
        If ``f_out_mhz`` is outside 3.125–400 MHz.
    """
    if not OUT_MIN_MHZ <= f_out_mhz <= OUT_MAX_MHZ:
        raise ConfigError(f"target frequency {f_out_mhz} MHz: the ECP5 PLL makes "
                          f"{OUT_MIN_MHZ}–{OUT_MAX_MHZ} MHz")
    best = None
    for clki_div in range(1, 129):
        pfd = f_in_mhz / clki_div
        if pfd < PFD_MIN_MHZ:
            break
        for clkfb_div in range(1, 129):
            f_out = pfd * clkfb_div
            if f_out > OUT_MAX_MHZ:
                break
            for clkop_div in range(1, 129):
                vco = f_out * clkop_div
                if vco > VCO_MAX_MHZ:
                    break
                if vco < VCO_MIN_MHZ:
                    continue
                key = (abs(f_out - f_out_mhz), -vco)
                if best is None or key < best[0]:
                    best = (key, PLLParams(clki_div, clkfb_div, clkop_div, f_in_mhz, f_out, vco))
    if best is None:
        raise ConfigError(f"no ECP5 PLL setting makes {f_out_mhz} MHz from {f_in_mhz} MHz")
    return best[1]


class ECP5ClockDomain(Elaboratable):
    """Drives the ``sync`` domain's clock from an EHXPLLL fed by a board clock pin, and holds
    every flip-flop in reset until the PLL locks, through the global set/reset (SGSR, with the
    lock signal synchronised by two flip-flops outside it) as Amaranth's own ECP5 clock domain
    does. The parent defines the domain without a reset net
    (``m.domains.sync = ClockDomain("sync", reset_less=True)``): a synchronous reset would be one
    net to every flip-flop (≈ 25 000 in the demo), routed through the fabric; with it, nextpnr's
    router had not finished the demo at 100 MHz after 40 minutes, without it the whole build took
    21. nextpnr derives the output clock's constraint from the board clock's and the dividers, so
    none is added here.

    Parameters
    ----------
    clk_io : io port
        The board oscillator's pin (``platform.request(platform.default_clk, dir="-")``).
    params : PLLParams
        Dividers from :func:`ecp5_pll_params`.
    """

    def __init__(self, clk_io, params: PLLParams):
        self.clk_io = clk_io
        self.params = params
        self.locked = Signal()

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.clk_buf = clk_buf = io.Buffer("i", self.clk_io)
        clk_out = Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{p.f_in_mhz:g}",
            a_FREQUENCY_PIN_CLKOP=f"{p.f_out_mhz:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
            a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=p.clki_div, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p.clkop_div,
            p_CLKOP_CPHASE=p.clkop_cphase, p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=p.clkfb_div,
            i_RST=0, i_STDBY=0, i_CLKI=clk_buf.i, i_CLKFB=clk_out,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=clk_out, o_LOCK=self.locked,
        )
        m.d.comb += ClockSignal("sync").eq(clk_out)
        locked_0, locked_1 = Signal(), Signal()
        m.submodules.lock_sync_0 = Instance("FD1S3AX", p_GSR="DISABLED", i_CK=clk_out,
                                            i_D=self.locked, o_Q=locked_0)
        m.submodules.lock_sync_1 = Instance("FD1S3AX", p_GSR="DISABLED", i_CK=clk_out,
                                            i_D=locked_0, o_Q=locked_1)
        m.submodules.gsr = Instance("SGSR", i_CLK=clk_out, i_GSR=locked_1)
        return m

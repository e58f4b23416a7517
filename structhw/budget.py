"""FPGA resource budgets: what a target device offers the accelerator.

Counts are the device's totals as nextpnr reports them: ``lut4`` LUT4s, ``ff`` flip-flops, ``dsp``
hard multipliers (ECP5 MULT18X18D, 18×18 signed; iCE40 SB_MAC16, 16×16), ``ebr`` block RAMs of
``ebr_bits`` bits each (ECP5 DP16KD: 18 kbit; iCE40 SB_RAM40_4K: 4 kbit).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Budget:
    """Resources available to the accelerator on one device (or an explicit user budget)."""

    lut4: int
    ff: int
    dsp: int
    ebr: int
    ebr_bits: int = 18432
    dsp_width: int = 18
    dsp_primitive: str | None = None
    """The hard multiplier the generator instantiates itself, with the primitive's own input and
    output registers (``"MULT18X18D"`` on ECP5: yosys never moves registers into it); None leaves
    the multiplies to synthesis (iCE40's yosys packs registers into SB_MAC16 itself)."""

    @property
    def bram_bits(self) -> int:
        """Total block-RAM capacity in bits."""
        return self.ebr * self.ebr_bits

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def parse(cls, text: str) -> "Budget":
        """Parse ``"dsp=28,lut4=24000,ebr=56[,ff=...]"`` (ECP5 block and multiplier sizes)."""
        fields = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            if not sep or key not in ("lut4", "ff", "dsp", "ebr") or not value.isdigit():
                raise ConfigError(f"budget entry {part!r}: expected lut4=N, ff=N, dsp=N or ebr=N")
            fields[key] = int(value)
        missing = {"lut4", "dsp", "ebr"} - fields.keys()
        if missing:
            raise ConfigError(f"budget {text!r} lacks {', '.join(sorted(missing))}")
        fields.setdefault("ff", fields["lut4"])
        return cls(**fields)


def _ecp5(**counts) -> Budget:
    return Budget(**counts, dsp_primitive="MULT18X18D")


DEVICES = {
    # Lattice ECP5 data sheet (FPGA-DS-02012), table 1.1.
    "LFE5U-12F": _ecp5(lut4=12288, ff=12288, dsp=28, ebr=32),
    "LFE5U-25F": _ecp5(lut4=24288, ff=24288, dsp=28, ebr=56),
    "LFE5U-45F": _ecp5(lut4=43848, ff=43848, dsp=72, ebr=108),
    "LFE5U-85F": _ecp5(lut4=83640, ff=83640, dsp=156, ebr=208),
    # Lattice iCE40 UltraPlus data sheet (FPGA-DS-02008): UP5K.
    "iCE40UP5K": Budget(lut4=5280, ff=5280, dsp=8, ebr=30, ebr_bits=4096, dsp_width=16),
}

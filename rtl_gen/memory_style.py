"""Which RAM a memory is built in, and what it costs: one rule for the cost model and for the
``ram_style`` attribute synthesis is given, so the plan counts what yosys builds.

Left to itself, yosys ``synth_ecp5`` maps even a 60-deep, 512-bit FIFO to 15 DP16KD blocks
(measured; the distributed form is 512 DPR16X4 and ~1,600 LUT4s). Distributed RAM (DPR16X4,
16 words × 4 bits) is cheap for shallow memories whatever their width; block RAM for deep ones.
"""

from __future__ import annotations

from structhw.resources import Resources, ebr_blocks

DISTRIBUTED_MAX_DEPTH = 64
"""Memories up to this many words are distributed RAM."""

BLOCK_MIN_BITS = 4096
"""Deeper memories are block RAM from this many bits on (a quarter of a DP16KD); smaller ones
stay distributed."""

ECP5_EBR_BITS = 18432


def ram_style(depth: int, width: int) -> str:
    """``"block"`` or ``"distributed"`` for a memory of ``depth`` words of ``width`` bits."""
    if depth > DISTRIBUTED_MAX_DEPTH and depth * width >= BLOCK_MIN_BITS:
        return "block"
    return "distributed"


def block_cost(depth: int, width: int):
    """A memory of ``depth`` × ``width`` bits in whole DP16KD blocks of the best shape."""
    return Resources(bram_bits=ebr_blocks(depth, width) * ECP5_EBR_BITS)


def memory_cost(depth: int, width: int):
    """A synchronous-read memory in the RAM :func:`ram_style` picks: whole DP16KD blocks of the
    best shape, or DPR16X4s of about 3 LUT4s per 16 words × 4 bits."""
    if depth <= 0 or width <= 0:
        return Resources()
    if ram_style(depth, width) == "block":
        return block_cost(depth, width)
    return Resources(lut4=3 * -(-width // 4) * -(-depth // 16))

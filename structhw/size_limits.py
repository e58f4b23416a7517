"""Size limits every stage applies before computing anything from a layer or design: padded
pixels a layer's models can walk, weights that fit some board's memory, designs that fit some
registered board."""

from __future__ import annotations

from .errors import ConfigError

MAX_PIXELS = 256 * 256
"""Most padded input pixels per image of one layer: the cycle model (``engine_cycles``, which the
resource estimate also uses) walks four images pixel by pixel, about 8 µs and 1 KB a pixel, so
this limit keeps it under a second and ~100 MB (a 4096×4096 layer would take minutes and GBs)."""

def largest_board_resources() -> dict:
    """Per resource (``lut4``, ``ff``, ``dsp``, ``bram_bits``), the largest amount any registered
    board offers and that board's name: ``{resource: (amount, board)}``."""
    from structhw.boards.registry import BOARDS

    best = {}
    for board in BOARDS.values():
        have = {"lut4": board.budget.lut4, "ff": board.budget.ff, "dsp": board.budget.dsp,
                "bram_bits": board.budget.bram_bits}
        for key, amount in have.items():
            if key not in best or amount > best[key][0]:
                best[key] = (amount, board.name)
    return best


def check_layer_size(what: str, *, C: int, c: int, n: int, Cout: int, H: int, W: int, pad: int,
                     groups: int = 1, **_) -> None:
    """Refuse, before anything is computed from them, a layer whose input is larger than
    :data:`MAX_PIXELS` or whose weights α (Cout·c·n² int8) exceed all the on-chip memory (block RAM
    and LUT RAM, 16 bits a LUT4) of the largest registered board."""
    rows, cols = max(H, 0) + 2 * max(pad, 0), max(W, 0) + 2 * max(pad, 0)
    if rows * cols > MAX_PIXELS:
        raise ConfigError(f"{what}: {rows}×{cols} padded input pixels per image exceed the "
                          f"limit of {MAX_PIXELS} (256×256) of the cycle and resource models")
    weight_bits = 8 * max(Cout, 0) * max(c, 0) * max(n, 0) ** 2
    largest = largest_board_resources()
    bram, board = largest["bram_bits"]
    memory = bram + 16 * largest["lut4"][0]
    if weight_bits > memory:
        raise ConfigError(f"{what}: its weights α need {weight_bits:,} bits (Cout·c·n²·8), "
                          f"more than all the on-chip memory of the largest registered board "
                          f"({board}: {memory:,} bits of block and LUT RAM)")


def check_fits_some_board(cost, what: str) -> None:
    """Refuse a design whose estimated ``cost`` (lut4, ff, dsp, bram_bits) exceeds, in some
    resource, every registered board: it could be generated, but never built."""
    for key, (amount, board) in largest_board_resources().items():
        need = int(getattr(cost, key))
        if need > amount:
            raise ConfigError(f"{what} needs {need:,} {key} (estimate), more than the largest "
                              f"registered board offers ({board}: {amount:,})")

"""Geometry and timing of the memory-window engine (:mod:`structhw.rtl_gen.memory_engine`).

The engine keeps the last rows of the sum-pool map E in one memory of words of T values and
reads one word per MAC step, instead of holding every window in registers; its sum-pool is a
serial channel sum (one E value per cycle). It serves layers whose sum-pool box is along the
channels only (spatial window 1: Struct-ResNet's c < C, n = N layers, dense layers and linear
layers) with one conv group.

Memory layout: R row slots × Wp columns × ⌈c/T⌉ chunks of T values, word address
``(slot·Wp + column)·chunks + chunk``; padded row y of the stream of images goes to slot y mod R,
so the writer's address is a plain counter. R = span + (Hp − (Ho−1)·stride) + 1: enough rows
that the writer can fill the next output row's rows, and at an image's end the next image's first
``span`` rows, while the reader works on the current output row, plus one row that covers the
two cycles each row hand-over takes (without it, rows of a few cycles make the period alternate
between images).

Flow control counts rows: ``ahead`` = rows the writer has completed beyond the first row of the
reader's current output row. The reader starts an output row once ``ahead ≥ span``; the writer
takes a pixel while ``ahead < R``; finishing an output row releases ``stride`` rows (at an image's
end, the rest of the image).

A linear layer fed an H·W > 1 map (``in_shape``) flattens it itself
(:class:`~structhw.rtl_gen.flat_sumpool.FlatChannelSum`): the H·W pixel beats of an image fill
one half of a pixel memory, one a cycle, and the serial channel sum starts on an image once its
half is full (the "pixel" the writer takes above); it frees the half in its last step, so the
next image but one may fill it from the cycle after. The schedule is the same with that start
condition added.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from structhw.errors import ConfigError
from structhw.qnet import QuantLayer

from .engine import PIPELINE_LATENCY
from .mac_pipeline import tree_stages

MODEL_IMAGES = 4
"""Back-to-back images the schedule is computed for; the period is read off the last."""


def memory_window_refusal(layer: QuantLayer) -> str | None:
    """Why the memory-window engine cannot implement ``layer`` (None when it can)."""
    if layer.groups != 1:
        return f"groups={layer.groups} (the memory window reads one operand word for all lanes)"
    if layer.spatial_window != 1:
        return (f"a spatial sum-pool window of {layer.spatial_window} (the serial sum-pool sums "
                f"along channels only)")
    return None


@dataclass(frozen=True)
class MemoryWindowGeometry:
    """Sizes of the memory-window engine for ``layer`` with T = ``mults`` values per word."""

    layer: QuantLayer
    mults: int

    def __post_init__(self):
        why = memory_window_refusal(self.layer)
        if why is not None:
            raise ConfigError(f"layer {self.layer.name!r}: no memory-window engine for {why}")
        if not 1 <= self.mults <= self.layer.c:
            raise ConfigError(f"layer {self.layer.name!r}: a memory-window engine takes "
                              f"mults in 1..c={self.layer.c}, got {self.mults}")

    @property
    def padded(self) -> tuple:
        """(Hp, Wp): the padded map, which is also the sum-pool map E (spatial window 1)."""
        L = self.layer
        return L.in_height + 2 * L.padding, L.in_width + 2 * L.padding

    @property
    def span(self) -> int:
        """Rows (and columns) one window covers: dilation·(n−1)+1."""
        return self.layer.dilation * (self.layer.n - 1) + 1

    @property
    def tail_rows(self) -> int:
        """Rows released at an image's end: Hp − (Ho−1)·stride (span ≤ it < span + stride)."""
        return self.padded[0] - (self.layer.out_height - 1) * self.layer.stride

    @property
    def rows(self) -> int:
        """R, row slots of the memory."""
        return self.span + self.tail_rows + 1

    @property
    def chunks(self) -> int:
        """Words per pixel: ⌈c/T⌉."""
        return -(-self.layer.c // self.mults)

    @property
    def depth(self) -> int:
        """Memory words: R·Wp·chunks."""
        return self.rows * self.padded[1] * self.chunks

    @property
    def value_bits(self) -> int:
        """Bits of one E value (8 for a dense layer)."""
        return self.layer.widths().sumpool

    @property
    def word_bits(self) -> int:
        return self.mults * self.value_bits

    @property
    def passes(self) -> int:
        """K, MAC steps per lane group: n²·chunks (tap major, chunk minor)."""
        return self.layer.n * self.layer.n * self.chunks

    @property
    def writer_cycles(self) -> int:
        """Cycles the serial sum-pool spends on one padded pixel: C (one input channel each)."""
        return self.layer.in_channels


def memory_window_steps(layer: QuantLayer, lanes: int, mults: int) -> int:
    """MAC steps per output pixel: ⌈Cout/P⌉ · n² · ⌈c/T⌉."""
    return -(-layer.out_channels // lanes) * MemoryWindowGeometry(layer, mults).passes


def flat_fill_beats(layer: QuantLayer, in_shape) -> int:
    """H·W, the pixel beats per image of the map ``in_shape`` = (C, H, W) a linear layer of
    C·H·W inputs flattens in its memory-window engine; 0 for ``in_shape`` None (the layer is
    fed one beat of all its inputs)."""
    if in_shape is None:
        return 0
    C, H, W = (int(v) for v in in_shape)
    if layer.kind != "linear" or C * H * W != layer.in_channels or H * W < 2:
        raise ConfigError(f"layer {layer.name!r}: only a linear layer of C·H·W = "
                          f"{layer.in_channels} inputs flattens a C×H×W map (H·W > 1) in its "
                          f"memory-window engine, not {tuple(in_shape)}")
    return H * W


@lru_cache(maxsize=16384)
def _row_schedule(hp: int, wp: int, ho: int, stride: int, span: int, rows: int,
                  writer_cycles: int, row_steps: int, images: int, fill: int = 0) -> tuple:
    """(first issue, last issue) cycle of every output row of ``images`` back-to-back images,
    input always valid and output always ready, cycle 0 = the writer takes the first pixel.

    Writer: the first pixel of padded row Y is taken once ``Y − r0 < rows`` (r0: first row of
    the reader's current output row) and the writer is free; a row's pixels follow each other
    every ``writer_cycles``; its last value is written ``writer_cycles`` after its last pixel was
    taken, and counts one cycle later. Reader: an output row starts the cycle after its last
    row counts and after the previous row's last issue, then issues ``row_steps`` steps; the rows
    it releases count the cycle after its last issue.

    ``fill`` > 0 (a flattening writer, hp = wp = 1: row y is image y): image y's ``fill`` beats
    are taken one a cycle from ``s_y = max(s_{y−1} + fill, done[y−2] + 1)`` (its half of the
    pixel memory is free once image y−2's last step is done), and its sum starts no earlier
    than ``s_y + fill``, when the half is full.
    """
    tail = hp - (ho - 1) * stride
    firsts = [i * hp + oy * stride for i in range(images) for oy in range(ho)]
    spans = []
    done = {}
    writer_free, reader_end = 0, -1
    j = 0
    if fill and not hp == wp == 1:
        raise ValueError(f"a flattening writer (fill {fill}) schedules a 1×1 map, not {hp}×{wp}")
    fill_start = -fill

    def run_reader_through(row: int) -> None:
        nonlocal j, reader_end
        while j < len(firsts) and firsts[j] + span - 1 <= row:
            start = max(reader_end + 1, done[firsts[j] + span - 1] + 1)
            reader_end = start + row_steps - 1
            spans.append((start, reader_end))
            j += 1

    for y in range(images * hp):
        allowed = 0
        if y - rows >= 0:
            # the reader row whose end moves r0 past y − rows must have run
            k = next(i for i, r0 in enumerate(firsts + [images * hp]) if r0 > y - rows)
            allowed = spans[k - 1][1] + 1 if k > 0 else 0
        start = max(writer_free, allowed)
        if fill:
            fill_start = max(fill_start + fill, done[y - 2] + 1 if y >= 2 else 0)
            start = max(start, fill_start + fill)
        done[y] = start + wp * writer_cycles
        writer_free = done[y]
        run_reader_through(y)
    if len(spans) != len(firsts) or tail < span:
        raise ValueError(f"row schedule incomplete: {len(spans)} of {len(firsts)} output rows "
                         f"issued (window span {span}, last window's rows {tail})")
    return tuple(spans)


def _schedule(layer: QuantLayer, lanes: int, mults: int, images: int, in_shape=None) -> tuple:
    geo = MemoryWindowGeometry(layer, mults)
    hp, wp = geo.padded
    fill = flat_fill_beats(layer, in_shape)
    args = (hp, wp, layer.out_height, layer.stride, geo.span, geo.rows, geo.writer_cycles,
            layer.out_width * memory_window_steps(layer, lanes, mults), images)
    return _row_schedule(*args, fill) if fill else _row_schedule(*args)


def memory_window_cycles(layer: QuantLayer, lanes: int, mults: int, in_shape=None) -> int:
    """Cycles per image in steady state (back-to-back images, no stalls); ``in_shape``: the
    C×H×W map a linear layer flattens itself (:func:`flat_fill_beats`)."""
    spans = _schedule(layer, lanes, mults, MODEL_IMAGES, in_shape)
    ho = layer.out_height
    return spans[MODEL_IMAGES * ho - 1][1] - spans[(MODEL_IMAGES - 1) * ho - 1][1]


def memory_window_first_issue(layer: QuantLayer, lanes: int, mults: int, in_shape=None) -> int:
    """Cycle of the first MAC step of an image into an idle engine (cycle 0: first pixel taken)."""
    return _schedule(layer, lanes, mults, 1, in_shape)[0][0]


def memory_window_latency(layer: QuantLayer, lanes: int, mults: int, in_shape=None) -> int:
    """Cycles from an idle engine taking the first beat of an image to handing out the first
    output pixel, no stalls: the first step's cycle, the output pixel's steps, the MAC tree and
    the pipeline behind it (as in :func:`~structhw.rtl_gen.engine.engine_latency`)."""
    return (memory_window_first_issue(layer, lanes, mults, in_shape) - 1
            + memory_window_steps(layer, lanes, mults) + tree_stages(mults) + PIPELINE_LATENCY)

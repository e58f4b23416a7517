"""Stream primitives the engines and the network are built from: a skid buffer, a RAM-backed
FIFO, a bypassing window queue, and the enable of a pipeline that stalls as a whole."""

from __future__ import annotations

from amaranth import Module, Mux, Shape, Signal, Value
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError


def stall_enable(m: Module, valid, ready, name: str = "advance") -> Signal:
    """The enable of a pipeline that stalls as a whole, ``~valid | ready``: high while its last
    register (``valid``) is empty or being taken by the consumer (``ready``). Every stage
    register of such a pipeline loads only on it, so a stall holds every stage at once."""
    advance = Signal(name=name)
    m.d.comb += advance.eq(~valid | ready)
    return advance


class SkidBuffer(wiring.Component):
    """A one-beat skid buffer: ``i.ready`` comes from a register, so no ready path crosses it.

    Beats pass through combinationally while the buffer is empty; a beat offered while the
    consumer is not ready is caught in the buffer, and ``i.ready`` falls the next cycle until the
    consumer takes it. With a consumer that is ready whenever a beat arrives it adds no cycle.

    Attributes
    ----------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))
    """

    def __init__(self, shape):
        self.shape = shape
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        held = Signal(self.shape)
        m.d.comb += [
            self.i.ready.eq(~full),
            self.o.valid.eq(full | self.i.valid),
            self.o.payload.eq(Mux(full, Value.cast(held), Value.cast(self.i.payload))),
        ]
        with m.If(full & self.o.ready):
            m.d.sync += full.eq(0)
        with m.If(~full & self.i.valid & ~self.o.ready):
            m.d.sync += [full.eq(1), held.eq(self.i.payload)]
        return m


MIN_QUEUE_DEPTH = 2
"""Smallest :class:`WindowQueue` depth: a one-entry ``SyncFIFO`` has zero-width pointers, which
Verilator lints as ASCRANGE."""


class WindowQueue(wiring.Component):
    """A first-word-fall-through queue of up to ``depth`` windows with a bypass.

    Parameters
    ----------
    shape : ShapeCastable
        Payload of one beat (one window).
    depth : int
        Entries, ≥ MIN_QUEUE_DEPTH. Storage is an ``amaranth.lib.fifo.SyncFIFO`` (asynchronous
        read, so LUT RAM on ECP5).

    Attributes
    ----------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))

    While the queue is empty a beat passes straight through (no cycle added) when the consumer
    is ready and is stored otherwise; ``i.ready`` is ``level < depth``, a register-driven signal,
    so no ready path runs from the consumer through the queue.
    """

    def __init__(self, shape, depth: int):
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < MIN_QUEUE_DEPTH:
            raise ConfigError(f"WindowQueue: depth must be an integer ≥ {MIN_QUEUE_DEPTH}, "
                              f"got {depth!r}")
        self.shape, self.depth = shape, depth
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.queue = queue = fifo.SyncFIFO(width=Shape.cast(self.shape).width,
                                                   depth=self.depth)
        m.d.comb += [
            self.o.valid.eq(queue.r_rdy | self.i.valid),
            self.o.payload.eq(Mux(queue.r_rdy, queue.r_data, self.i.payload.as_value())),
            queue.r_en.eq(self.o.ready),
            queue.w_data.eq(self.i.payload),
            queue.w_en.eq(self.i.valid & (queue.r_rdy | ~self.o.ready)),
            self.i.ready.eq(queue.w_rdy),
        ]
        return m


RAM_STYLES = (None, "block", "distributed")


class _StyledFIFO(fifo.SyncFIFOBuffered):
    """``SyncFIFOBuffered`` whose storage memory carries ``ram_style`` for synthesis."""

    def __init__(self, width: int, depth: int, ram_style: str | None):
        super().__init__(width=width, depth=depth)
        self.ram_style = ram_style

    def elaborate(self, platform):
        m = super().elaborate(platform)
        storage = m._named_submodules.get("storage")
        if self.ram_style is not None and storage is not None:
            storage[0].attrs["ram_style"] = self.ram_style
        return m


class StreamFIFO(wiring.Component):
    """A first-in first-out queue of ``depth`` beats between two streams of ``layout``.

    Parameters
    ----------
    layout : ShapeCastable
        Payload layout of both streams.
    depth : int
        Entries (beats), ≥ 1. Storage is a ``SyncFIFOBuffered`` (synchronous RAM read, so block or
        distributed RAM), which adds one cycle of latency on an empty queue.
    ram_style : str or None
        ``"block"`` or ``"distributed"``: the RAM synthesis must use (the plan's cost model
        decided it); None leaves the choice to synthesis (which takes block RAM even for a
        60-deep, 512-bit queue).

    Attributes
    ----------
    i : In(stream.Signature(layout))
    o : Out(stream.Signature(layout))
    """

    def __init__(self, layout, depth: int, ram_style: str | None = None):
        if not isinstance(depth, int) or depth < 1:
            raise ConfigError(f"StreamFIFO: depth must be an integer ≥ 1, got {depth!r}")
        if ram_style not in RAM_STYLES:
            raise ConfigError(f"StreamFIFO: ram_style must be one of {RAM_STYLES}, "
                              f"got {ram_style!r}")
        self.layout, self.depth, self.ram_style = layout, depth, ram_style
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self.layout).width
        m.submodules.queue = queue = _StyledFIFO(width, self.depth, self.ram_style)
        m.d.comb += [
            queue.w_data.eq(self.i.payload.as_value()),
            queue.w_en.eq(self.i.valid),
            self.i.ready.eq(queue.w_rdy),
            self.o.payload.as_value().eq(queue.r_data),
            self.o.valid.eq(queue.r_rdy),
            queue.r_en.eq(self.o.ready),
        ]
        return m

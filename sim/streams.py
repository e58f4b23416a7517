"""cocotb helpers for ``amaranth.lib.stream`` ports of generated Verilog: clock/reset, a source
with random idle cycles, a sink with random backpressure, and int8-vector packing.

An Amaranth stream port ``i`` appears in Verilog as ``i__valid``, ``i__ready``, ``i__payload``;
a payload ``ArrayLayout(signed(8), C)`` is flattened with channel 0 in the low 8 bits.

Timing: every source and sink is stepped by ONE coroutine (:meth:`StreamBench.run`) with two
triggers per clock cycle. On the falling edge it writes the next inputs (valid, payload, ready);
in the ReadOnly phase that follows it reads the settled DUT outputs, which then hold until the
next rising edge, so the handshakes of that edge are known exactly, on any simulator (Verilator
calls edge callbacks after the edge's registers updated, Icarus before: reading on the falling
edge avoids the difference). Random decisions come from numpy in blocks, not one Python call per
cycle, and beats are pre-packed Python ints: the loop does no per-cycle object building beyond
what cocotb's handle writes need.
"""

from __future__ import annotations

import itertools

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

CLOCK_PERIOD_NS = 10
_BLOCK = 1 << 14


def pack_int8(vectors) -> list:
    """[beats, C] int8 values → one unsigned int per beat, channel 0 in the low 8 bits."""
    arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.int64).astype(np.int8))
    if arr.ndim != 2:
        raise ValueError(f"pack_int8 expects [beats, channels], got shape {arr.shape}")
    raw = arr.tobytes()
    width = arr.shape[1]
    return [int.from_bytes(raw[k * width:(k + 1) * width], "little") for k in range(arr.shape[0])]


def unpack_int8(values, channels: int) -> np.ndarray:
    """Inverse of :func:`pack_int8`: unsigned ints → [beats, channels] int8 array."""
    raw = b"".join(int(v).to_bytes(channels, "little") for v in values)
    return np.frombuffer(raw, dtype=np.int8).reshape(len(values), channels).copy()


class _Coins:
    """Biased coin flips drawn from numpy in blocks: ``next()`` is True with probability p.
    ``flips`` is the same sequence as an iterator (``next(coins.flips)``, no Python frame per
    flip)."""

    def __init__(self, p: float, rng: np.random.Generator):
        self.p, self.rng = float(p), rng
        self.flips = (itertools.repeat(False) if self.p <= 0.0
                      else itertools.chain.from_iterable(self._blocks()))

    def _blocks(self):
        while True:
            yield (self.rng.random(_BLOCK) < self.p).tolist()

    def next(self) -> bool:
        return next(self.flips)


class TB:
    """Owns the DUT's clock (``clk``; cocotb runs it in C++ where the simulator allows, as with
    Verilator, so no Python runs per edge) and reset (``rst``, active high, as Amaranth writes
    them)."""

    def __init__(self, dut, clock: str = "clk", reset: str = "rst", period_ns: int = CLOCK_PERIOD_NS):
        self.dut = dut
        self.clk = getattr(dut, clock)
        self.rst = getattr(dut, reset)
        self.period_ns = period_ns
        cocotb.start_soon(Clock(self.clk, period_ns, unit="ns").start())

    async def reset(self, cycles: int = 2) -> None:
        """Hold reset for ``cycles`` rising edges, release it before a falling edge."""
        self.rst.value = 1
        await ClockCycles(self.clk, cycles)
        await FallingEdge(self.clk)
        self.rst.value = 0
        await RisingEdge(self.clk)


class StreamSource:
    """Drives the DUT's input stream ``prefix`` with ``beats`` (packed ints), idling (valid low)
    before a beat with probability ``idle``.

    Attributes
    ----------
    sent : int
        Beats accepted by the DUT so far.
    accept_cycles : list of int
        Clock cycle (counted by the bench) at which each beat was accepted.
    """

    def __init__(self, dut, prefix: str, beats, *, idle: float = 0.0, rng=None):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.beats = list(beats)
        self.coins = _Coins(idle, rng if rng is not None else np.random.default_rng(0))
        self.sent = 0
        self.accept_cycles = []
        self._idle = self.coins.flips
        self._presenting = False
        self._wire_valid = False
        self.valid.value = 0

    @property
    def done(self) -> bool:
        return self.sent >= len(self.beats)

    def drive(self) -> None:
        """Falling edge: keep presenting an unaccepted beat, else present the next one or idle."""
        if self._presenting:
            return
        if self.sent < len(self.beats) and not next(self._idle):
            self.payload.value = self.beats[self.sent]
            self._presenting = True
            if not self._wire_valid:
                self.valid.value = 1
                self._wire_valid = True
        elif self._wire_valid:
            self.valid.value = 0
            self._wire_valid = False

    def observe(self, cycle: int) -> bool:
        """ReadOnly phase: the beat on the wires is taken at the next rising edge if ready.
        Returns True when that was the last beat."""
        if self._presenting and self.ready.value:
            self.sent += 1
            self.accept_cycles.append(cycle)
            self._presenting = False
            return self.sent >= len(self.beats)
        return False


class StreamSink:
    """Receives ``count`` beats from the DUT's output stream ``prefix``, holding ready low in a
    cycle with probability ``stall``.

    Attributes
    ----------
    values : list of int
        The received payloads (unsigned ints, see :func:`unpack_int8`), in order.
    cycles : list of int
        Clock cycle at which each beat was received.
    """

    def __init__(self, dut, prefix: str, count: int, *, stall: float = 0.0, rng=None):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.count = count
        self.coins = _Coins(stall, rng if rng is not None else np.random.default_rng(1))
        self.values, self.cycles = [], []
        self._stalls = self.coins.flips
        self._ready = False
        self.ready.value = 0

    @property
    def done(self) -> bool:
        return len(self.values) >= self.count

    def drive(self) -> None:
        """Falling edge: raise or drop ready for the coming rising edge."""
        want = len(self.values) < self.count and not next(self._stalls)
        if want is not self._ready:
            self.ready.value = int(want)
            self._ready = want

    def observe(self, cycle: int) -> bool:
        """ReadOnly phase: a valid beat is taken at the next rising edge if ready is high.
        Returns True when that was the last beat."""
        if self._ready and self.valid.value:
            self.values.append(self.payload.value.to_unsigned())
            self.cycles.append(cycle)
            return len(self.values) >= self.count
        return False


class StreamBench:
    """Steps any number of sources and sinks from one coroutine, two triggers per cycle."""

    def __init__(self, tb: TB, sources, sinks):
        self.tb, self.sources, self.sinks = tb, list(sources), list(sinks)
        self.cycle = 0

    @property
    def done(self) -> bool:
        return all(s.done for s in self.sources) and all(s.done for s in self.sinks)

    async def run(self, max_cycles: int) -> int:
        """Run until every source has sent and every sink has received everything, or raise
        ``TimeoutError`` after ``max_cycles`` cycles (a hung design). Returns the cycles used."""
        ports = self.sources + self.sinks
        drives = [p.drive for p in ports]
        observes = [p.observe for p in ports]
        falling, read_only = FallingEdge(self.tb.clk), ReadOnly()
        start = cycle = self.cycle
        limit = start + max_cycles
        unfinished = sum(not p.done for p in ports)
        while unfinished:
            if cycle >= limit:
                sent = [s.sent for s in self.sources]
                got = [len(s.values) for s in self.sinks]
                raise TimeoutError(f"stream bench stuck after {max_cycles} cycles: sources sent "
                                   f"{sent} of {[len(s.beats) for s in self.sources]}, sinks got "
                                   f"{got} of {[s.count for s in self.sinks]}")
            await falling
            for drive in drives:
                drive()
            await read_only
            cycle += 1
            self.cycle = cycle
            for observe in observes:
                if observe(cycle):
                    unfinished -= 1
        await falling
        for drive in drives:
            drive()
        return cycle - start

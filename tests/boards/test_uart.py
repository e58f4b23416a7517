"""UART receiver/transmitter: loopback through the line, framing errors, divisor checks."""

import pytest
from amaranth import Module
from amaranth.sim import Simulator
from hypothesis import given, strategies as st

from structhw.boards.uart import UARTRx, UARTTx, uart_divisor
from structhw.errors import ConfigError
from tests.boards.uart_model import uart_receive, uart_send
from tests.rtl.streams import stream_get, stream_put


def run(dut, *testbenches, background=()):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in testbenches:
        sim.add_testbench(tb)
    for tb in background:
        sim.add_testbench(tb, background=True)
    sim.run()


@given(payload=st.binary(min_size=1, max_size=12), divisor=st.integers(4, 9))
def test_loopback_tx_into_rx(payload, divisor):
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor)
    m.submodules.rx = rx = UARTRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    received = []
    errors = []

    async def send(ctx):
        await stream_put(ctx, tx.i, list(payload))

    async def receive(ctx):
        received.extend(await stream_get(ctx, rx.o, len(payload)))

    async def watch(ctx):
        async for _clk, _rst, frame_error, overrun in ctx.tick().sample(rx.frame_error, rx.overrun):
            if frame_error or overrun:
                errors.append((frame_error, overrun))

    run(m, send, receive, background=[watch])
    assert bytes(received) == payload
    assert errors == []


@given(payload=st.binary(min_size=1, max_size=6), divisor=st.integers(4, 12))
def test_tx_line_matches_host_model(payload, divisor):
    dut = UARTTx(divisor)
    got = []

    async def send(ctx):
        await stream_put(ctx, dut.i, list(payload))

    async def receive(ctx):
        for _ in payload:
            got.append(await uart_receive(ctx, dut.tx, divisor))

    run(dut, send, receive)
    assert bytes(got) == payload


def test_rx_drops_byte_with_bad_stop_bit_and_recovers():
    divisor = 6
    dut = UARTRx(divisor)
    seen, frame_errors = [], []

    async def drive(ctx):
        for bit in [0] + [1, 0, 1, 0, 1, 0, 1, 0] + [0, 0, 1, 1]:
            ctx.set(dut.rx, bit)
            await ctx.tick().repeat(divisor)
        await uart_send(ctx, dut.rx, b"\x3c", divisor)
        await ctx.tick().repeat(4 * divisor)

    async def watch(ctx):
        ctx.set(dut.o.ready, 1)
        async for _clk, _rst, valid, payload, frame_error in ctx.tick().sample(dut.o.valid, dut.o.payload,
                                                                   dut.frame_error):
            if valid:
                seen.append(payload)
            if frame_error:
                frame_errors.append(1)

    run(dut, drive, background=[watch])
    assert seen == [0x3C]
    assert frame_errors == [1]


def test_divisor_from_clock_and_baud():
    assert uart_divisor(100e6, 115200) == 868
    assert uart_divisor(25e6, 115200) == 217
    with pytest.raises(ConfigError, match="at least 4"):
        uart_divisor(1e6, 1_000_000)
    with pytest.raises(ConfigError, match="off by"):
        uart_divisor(25e6, 3_000_000)

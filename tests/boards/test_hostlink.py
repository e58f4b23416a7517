"""HostLink + a stand-in accelerator: responses decoded by boards/protocol.py match the
stand-in's Python model, byte-exactly; malformed frames get error frames and the link recovers."""

import numpy as np
import pytest
import torch
from amaranth import Module
from amaranth.sim import Simulator
from hypothesis import given, strategies as st

from structhw.boards import protocol
from structhw.boards.hostlink import HostLink, SerialAccelerator
from tests.boards.standin import StandInAccelerator, standin_logits
from tests.boards.uart_model import uart_collect, uart_send
from tests.rtl.streams import stream_get, stream_put


def random_image(rng, shape):
    return rng.integers(-128, 128, size=shape, dtype=np.int64)


def link_with_standin(channels, pixels, classes, timeout=200):
    m = Module()
    m.submodules.link = link = HostLink(channels, pixels, classes, timeout)
    m.submodules.acc = acc = StandInAccelerator(channels, pixels, classes)
    from amaranth.lib import wiring
    wiring.connect(m, link.pixels, acc.i)
    wiring.connect(m, acc.o, link.logits)
    return m, link


@given(channels=st.integers(1, 3), height=st.integers(1, 3), width=st.integers(1, 3),
       classes=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_byte_level_request_gets_model_logits(channels, height, width, classes, seed):
    rng = np.random.default_rng(seed)
    images = [random_image(rng, (channels, height, width)) for _ in range(2)]
    m, link = link_with_standin(channels, height * width, classes)
    expected = [protocol.encode_result(standin_logits(img, classes)) for img in images]
    got = []

    async def host(ctx):
        for img in images:
            await stream_put(ctx, link.rx, list(protocol.encode_request(img)), rng=rng, idle=0.2)

    async def reply(ctx):
        for frame in expected:
            got.append(bytes(await stream_get(ctx, link.tx, len(frame), rng=rng, stall=0.3)))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(reply)
    sim.run()
    assert got == expected
    for frame, img in zip(got, images):
        result = protocol.decode_response(frame, classes)
        assert list(result.logits) == standin_logits(img, classes)


DIVISOR = 4
TIMEOUT = 40 * DIVISOR
SHAPE = (2, 3, 3)
CLASSES = 5


class LineHost:
    """Drives a SerialAccelerator's rx pin and collects its tx bytes in the background."""

    def __init__(self):
        self.dut = SerialAccelerator(StandInAccelerator(SHAPE[0], SHAPE[1] * SHAPE[2], CLASSES),
                                     pixels=SHAPE[1] * SHAPE[2], divisor=DIVISOR,
                                     timeout_cycles=TIMEOUT)
        self.received = []

    async def response(self, ctx):
        """Wait until one complete response frame has arrived; return it decoded."""
        while True:
            if len(self.received) >= 3:
                length = protocol.response_length(self.received[2], CLASSES)
                if len(self.received) >= length:
                    frame = bytes(self.received[:length])
                    del self.received[:length]
                    return protocol.decode_response(frame, CLASSES)
            await ctx.tick()

    def run(self, script):
        sim = Simulator(self.dut)
        sim.add_clock(1e-6)
        sim.add_testbench(script)
        async def collect(ctx):
            await uart_collect(ctx, self.dut.tx, DIVISOR, self.received)
        sim.add_testbench(collect, background=True)
        sim.run()


def test_uart_pins_full_request_and_recovery_after_malformed_frames():
    rng = np.random.default_rng(7)
    images = [random_image(rng, SHAPE) for _ in range(4)]
    host = LineHost()
    results = []

    async def script(ctx):
        send = lambda data: uart_send(ctx, host.dut.rx, data, DIVISOR)
        await send(protocol.encode_request(images[0]))
        results.append(await host.response(ctx))
        results.append((ctx.get(host.dut.predicted), ctx.get(host.dut.error)))

        corrupt = bytearray(protocol.encode_request(images[1]))
        corrupt[5] ^= 0x10
        await send(bytes(corrupt))
        results.append(await host.response(ctx))
        results.append((ctx.get(host.dut.predicted), ctx.get(host.dut.error)))

        await send(protocol.encode_request(images[2]))
        results.append(await host.response(ctx))

        await send(b"\x00\x13" + protocol.encode_request(images[3])[:6])
        results.append(await host.response(ctx))
        await ctx.tick().repeat(2 * TIMEOUT)
        await send(protocol.encode_request(images[3]))
        results.append(await host.response(ctx))

        await send(protocol.encode_request(images[0])[:7])
        results.append(await host.response(ctx))
        await send(protocol.encode_request(images[1]))
        results.append(await host.response(ctx))

    host.run(script)
    expect = lambda img: protocol.Result(tuple(standin_logits(img, CLASSES)),
                                         protocol.argmax_first(standin_logits(img, CLASSES)))
    assert results[0] == expect(images[0])
    assert results[1] == (results[0].predicted, 0)
    assert results[2] == protocol.LinkError(protocol.ERROR_BAD_CHECKSUM)
    assert results[3] == (results[0].predicted, 1)
    assert results[4] == expect(images[2])
    assert results[5] == protocol.LinkError(protocol.ERROR_BAD_SYNC)
    assert results[6] == expect(images[3])
    assert results[7] == protocol.LinkError(protocol.ERROR_TIMEOUT)
    assert results[8] == expect(images[1])


def test_bad_frame_type_is_reported():
    host = LineHost()
    results = []

    async def script(ctx):
        await uart_send(ctx, host.dut.rx, protocol.SYNC + b"Q", DIVISOR)
        results.append(await host.response(ctx))

    host.run(script)
    assert results == [protocol.LinkError(protocol.ERROR_BAD_TYPE)]


@given(st.lists(st.integers(-128, 127), min_size=1, max_size=12))
def test_argmax_first_matches_torch_argmax(values):
    assert protocol.argmax_first(values) == int(torch.argmax(torch.tensor(values)))


def test_argmax_ties_in_hardware_pick_the_first():
    image = np.full(SHAPE, 127, dtype=np.int64)
    logits = standin_logits(image, CLASSES)
    assert len(set(logits)) < len(logits), "the stand-in must produce a tie for this test"
    host = LineHost()
    results = []

    async def script(ctx):
        await uart_send(ctx, host.dut.rx, protocol.encode_request(image), DIVISOR)
        results.append(await host.response(ctx))

    host.run(script)
    assert results[0].predicted == int(torch.argmax(torch.tensor(logits)))


def test_decode_rejects_corrupt_responses():
    frame = bytearray(protocol.encode_result([3, -7, 3]))
    assert protocol.decode_response(bytes(frame), 3) == protocol.Result((3, -7, 3), 0)
    frame[3] ^= 1
    with pytest.raises(protocol.ProtocolError, match="CRC"):
        protocol.decode_response(bytes(frame), 3)
    with pytest.raises(protocol.ProtocolError, match="sync"):
        protocol.decode_response(b"\x00" + bytes(frame[1:]), 3)
    assert protocol.crc8(b"123456789") == 0xF4


def test_real_network_behind_the_uart_matches_golden():
    from structhw import golden
    from structhw.compiler import compile_plan
    from structhw.rtl_gen.network import Network
    from tests.rtl.test_network import SMALL, random_net

    from structhw.boards.top import image_pixels

    qnet = random_net(11, structured=True)
    network = Network(compile_plan(qnet, SMALL))
    dut = SerialAccelerator(network, pixels=image_pixels(network), divisor=DIVISOR,
                            timeout_cycles=TIMEOUT)
    images = torch.randint(-128, 128, (2, *qnet.input_shape), generator=torch.Generator().manual_seed(11))
    expected = golden.logits(qnet, images).tolist()
    received, results = [], []

    async def script(ctx):
        for image in images:
            await uart_send(ctx, dut.rx, protocol.encode_request(image.numpy()), DIVISOR)
            length = protocol.response_length(protocol.TYPE_RESULT, qnet.num_classes)
            while len(received) < length:
                await ctx.tick()
            results.append(protocol.decode_response(bytes(received[:length]), qnet.num_classes))
            del received[:length]

    async def collect(ctx):
        await uart_collect(ctx, dut.tx, DIVISOR, received)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(script)
    sim.add_testbench(collect, background=True)
    sim.run()
    assert [list(r.logits) for r in results] == expected
    assert [r.predicted for r in results] == [int(torch.argmax(torch.tensor(e))) for e in expected]

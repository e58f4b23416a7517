"""cocotb test module: a host UART model on the ``rx``/``tx`` pins of a SerialAccelerator's
Verilog. Sends the request frames it is given (hex), waits for each answer, and hands the raw
response frames back through the runner; the pytest side decodes and checks them."""

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge

from structhw.boards import protocol
from structhw.sim.bench_io import test_params, write_test_result
from structhw.sim.streams import TB


async def send_bytes(dut, payload: bytes, divisor: int):
    for byte in payload:
        for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
            dut.rx.value = bit
            await ClockCycles(dut.clk, divisor)


async def receive_forever(dut, divisor: int, into: list):
    while True:
        await FallingEdge(dut.tx)
        await ClockCycles(dut.clk, divisor // 2)
        assert int(dut.tx.value) == 0, "glitch instead of a start bit"
        value = 0
        for i in range(8):
            await ClockCycles(dut.clk, divisor)
            value |= int(dut.tx.value) << i
        await ClockCycles(dut.clk, divisor)
        assert int(dut.tx.value) == 1, "stop bit is 0"
        into.append(value)


async def next_frame(dut, received: list, classes: int, divisor: int, max_cycles: int) -> bytes:
    waited = 0
    while True:
        if len(received) >= 3:
            length = protocol.response_length(received[2], classes)
            if len(received) >= length:
                frame = bytes(received[:length])
                del received[:length]
                return frame
        assert waited < max_cycles, f"no complete response after {max_cycles} cycles"
        await ClockCycles(dut.clk, divisor)
        waited += divisor


@cocotb.test()
async def frames_over_uart_pins(dut):
    p = test_params()
    divisor, classes = p["divisor"], p["classes"]
    dut.rx.value = 1
    tb = TB(dut)
    await tb.reset()
    received = []
    cocotb.start_soon(receive_forever(dut, divisor, received))
    responses = []
    for step in p["steps"]:
        await send_bytes(dut, bytes.fromhex(step["send"]), divisor)
        responses.append((await next_frame(dut, received, classes, divisor, p["max_cycles"])).hex())
        await ClockCycles(dut.clk, step.get("quiet_cycles", 0) + 1)
    write_test_result({"responses": responses})

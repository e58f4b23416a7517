"""The host link with the real network on the demo model, as Verilog in Verilator via cocotb: a
UART model on the pins sends digits test images, the answers equal the golden model's logits
bit for bit, a corrupted frame and a garbage byte get their error frames, and the link recovers."""

import pytest
import torch

from structhw import golden
from structhw.boards import protocol
from structhw.boards.hostlink import SerialAccelerator
from structhw.sim.runner import run, simulator_available

DIVISOR = 8
TIMEOUT = 40 * DIVISOR


@pytest.mark.slow
@pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")
def test_demo_network_over_uart_in_verilator(tmp_path):
    from structhw.budget import DEVICES
    from structhw.compiler import compile_plan
    from structhw.data import digits_arrays, normalise, split_indices
    from structhw.quant import quantize_checkpoint, quantize_input
    from structhw.rtl_gen.network import Network
    from structhw.rtl_gen.verilog import simulation_sources, write_verilog

    qnet, _ = quantize_checkpoint()
    network = Network(compile_plan(qnet, DEVICES["LFE5U-85F"]))
    c, h, w = qnet.input_shape
    top = SerialAccelerator(network, pixels=h * w, divisor=DIVISOR, timeout_cycles=TIMEOUT)
    verilog = write_verilog(top, tmp_path / "rtl", "serial_top")

    raw, labels = digits_arrays()
    _, test_idx = split_indices()
    images = quantize_input(normalise(raw[test_idx[:4]]), qnet)
    expected = golden.logits(qnet, images).tolist()
    requests = [protocol.encode_request(img.numpy()) for img in images]
    corrupt = bytearray(requests[1])
    corrupt[10] ^= 0x01
    steps = [
        {"send": requests[0].hex()},
        {"send": bytes(corrupt).hex()},
        {"send": requests[1].hex()},
        {"send": (b"\x42" + requests[2][:8]).hex(), "quiet_cycles": 2 * TIMEOUT},
        {"send": requests[2].hex()},
        {"send": requests[3].hex()},
    ]
    frame_cycles = 10 * DIVISOR * (len(requests[0]) + 20)
    sources = simulation_sources(verilog)
    assert any(s.name == "mult18x18d_model.v" for s in sources), "ECP5 budget: MULT18X18D expected"
    result = run("tests.boards.uart_bench", sources, "serial_top",
                 params={"divisor": DIVISOR, "classes": qnet.num_classes, "steps": steps,
                         "max_cycles": 20 * frame_cycles},
                 build_root=tmp_path / "cache", work_dir=tmp_path / "run")
    answers = [protocol.decode_response(bytes.fromhex(r), qnet.num_classes)
               for r in result.data["responses"]]
    result_of = lambda i: protocol.Result(tuple(expected[i]),
                                          int(torch.argmax(torch.tensor(expected[i]))))
    assert answers == [result_of(0), protocol.LinkError(protocol.ERROR_BAD_CHECKSUM), result_of(1),
                       protocol.LinkError(protocol.ERROR_BAD_SYNC), result_of(2), result_of(3)]
    print(f"cocotb/Verilator: {len(steps)} frames, build {result.build_seconds:.1f} s, "
          f"run {result.run_seconds:.1f} s; predicted {[a.predicted for a in answers[::2]]}, "
          f"labels {labels[test_idx[:4]].tolist()}")

# amaranth: UnusedElaboratable=no
"""PadShortcut and Relu against their ops' golden under random idle and backpressure, images
back to back; with no stalls H·W cycles per image (one input beat per cycle)."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from structhw.graph.ops import PadShortcutOp, ReluOp
from structhw.rtl_gen.shortcut import PadShortcut, Relu

from .streams import run_stream_dut
from .test_residual import pixels


def _images(C, H, W, seed, count=2):
    return torch.randint(-128, 128, (count, C, H, W), generator=torch.Generator().manual_seed(seed))


@settings(max_examples=6, deadline=None)
@given(C=st.integers(2, 6), H=st.integers(3, 7), W=st.integers(3, 7), stride=st.integers(1, 3),
       extra=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_pad_shortcut_matches_golden(C, H, W, stride, extra, seed):
    op = PadShortcutOp(name="s", inputs=("x",), in_shapes=((C, H, W),), stride=stride, extra=extra)
    x = _images(C, H, W, seed)
    want = pixels(op.golden(x))
    got, _ = run_stream_dut(PadShortcut(op), pixels(x), len(want), seed=seed, idle=0.3, stall=0.3)
    assert got == want


@settings(max_examples=4, deadline=None)
@given(C=st.integers(2, 6), H=st.integers(3, 6), hi=st.integers(0, 127), seed=st.integers(0, 2**16))
def test_relu_matches_golden(C, H, hi, seed):
    op = ReluOp(name="r", inputs=("x",), in_shapes=((C, H, H),), hi=hi)
    x = _images(C, H, H, seed)
    want = pixels(op.golden(x))
    got, _ = run_stream_dut(Relu(op), pixels(x), len(want), seed=seed, idle=0.3, stall=0.3)
    assert got == want


def test_shortcut_and_relu_one_input_beat_per_cycle():
    C, H, W = 3, 5, 4
    x = _images(C, H, W, 7, count=3)
    for dut, op in [(PadShortcut, PadShortcutOp(name="s", inputs=("x",), in_shapes=((C, H, W),),
                                                stride=2, extra=2)),
                    (Relu, ReluOp(name="r", inputs=("x",), in_shapes=((C, H, W),), hi=50))]:
        want = pixels(op.golden(x))
        got, cycles = run_stream_dut(dut(op), pixels(x), len(want), seed=0, idle=0.0, stall=0.0)
        assert got == want
        n = len(want) // 3
        assert cycles[2 * n - 1] - cycles[n - 1] == cycles[3 * n - 1] - cycles[2 * n - 1] == H * W

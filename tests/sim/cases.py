"""Hypothesis strategies for random (layer, engine parameters) cases of the layer bench: conv,
depthwise, pointwise and linear layers, dense and structured, stride, padding, dilation, groups,
both sum-pool microarchitectures, the memory-window engine where it applies (half the time),
any lanes and multipliers. Kept small (≤ 7×7 maps, ≤ 6
channels) so that many fit in one simulator build."""

from hypothesis import strategies as st

from structhw.rtl_gen.memory_window_model import memory_window_refusal
from structhw.rtl_gen.params import EngineParams
from structhw.rtl_gen.random_layer import random_quant_layer


@st.composite
def layer_cases(draw, name: str = "case"):
    kind = draw(st.sampled_from(["conv", "conv", "conv", "depthwise", "pointwise", "linear"]))
    groups, dilation, stride, pad, N, H, W = 1, 1, 1, 0, 1, 1, 1
    if kind == "linear":
        C = draw(st.integers(2, 24))
    else:
        C = draw(st.integers(1, 6))
        N = 1 if kind == "pointwise" else draw(st.integers(2, 3))
        stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, N // 2 + 1))
        dilation = 1 if kind == "pointwise" else draw(st.integers(1, 2))
        span = dilation * (N - 1) + 1
        H = draw(st.integers(max(1, span - 2 * pad), 7))
        W = draw(st.integers(max(1, span - 2 * pad), 7))
        if kind == "depthwise":
            groups = C
        elif kind == "conv" and C % 2 == 0:
            groups = draw(st.sampled_from([1, 1, 2]))
    Cout = C if kind == "depthwise" else draw(st.integers(1, 6))
    if Cout % groups:
        Cout = groups * max(1, Cout // groups)
    cg = C // groups
    dense = draw(st.booleans())
    c, n = (cg, N) if dense else (draw(st.integers(1, cg)), draw(st.integers(1, N)))
    layer = random_quant_layer(C, N, c, n, Cout, H, W, stride, pad, seed=draw(st.integers(0, 2**31)),
                               dilation=dilation, groups=groups, relu=draw(st.booleans()),
                               kind="linear" if kind == "linear" else "conv", name=name)
    if memory_window_refusal(layer) is None and draw(st.booleans()):
        return layer, EngineParams(lanes=draw(st.integers(1, Cout)),
                                   mults=draw(st.integers(1, layer.c)), window="memory")
    sumpool = None if layer.is_dense else draw(st.sampled_from(["tree", "separable"]))
    params = EngineParams(lanes=draw(st.integers(1, Cout)),
                          mults=draw(st.integers(1, layer.mults_per_output)), sumpool=sumpool)
    return layer, params


def describe(layer, params) -> str:
    """One line naming a case precisely enough to rebuild it."""
    return (f"{layer.kind} C={layer.in_channels} N={layer.kernel} c={layer.c} n={layer.n} "
            f"Cout={layer.out_channels} H={layer.in_height} W={layer.in_width} "
            f"stride={layer.stride} pad={layer.padding} dilation={layer.dilation} "
            f"groups={layer.groups} relu={layer.relu} P={params.lanes} T={params.mults} "
            f"sumpool={params.sumpool} window={params.window}")


def sample_cases(count: int) -> list:
    """``count`` cases drawn by hypothesis without running anything per example, so that they
    can share one simulator build. (A ``@given`` test with one example per build would see only
    hypothesis's first, minimal example.)"""
    from hypothesis import Phase, given, settings

    drawn = []

    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None)
    @given(layer_cases())
    def collect(case):
        drawn.append(case)

    collect()
    return drawn[:count]

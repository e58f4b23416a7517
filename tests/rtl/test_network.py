# amaranth: UnusedElaboratable=no
"""The whole-network accelerator against the golden model, and its speed against the plan.

A random conv → conv → flatten → linear network on a 1×6×6 input is planned under a small budget
and simulated with several images back to back: every logit must equal
:func:`structhw.golden.logits`, under random idle cycles and backpressure, and with neither the
cycles between consecutive logits must equal the plan's prediction exactly (the engines are
exact, so the estimate is too).
"""


import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amaranth import Fragment

from structhw import golden
from structhw.budget import Budget
from structhw.compiler import compile_plan
from structhw.qnet import QuantNet
from structhw.rtl_gen.network import Network
from structhw.rtl_gen.random_layer import random_quant_layer

from .streams import run_stream_dut


def random_net(seed: int, *, structured: bool) -> QuantNet:
    """conv 3×3 (pad 1) 1→4 on 6×6, conv 3×3 stride 2 4→4, flatten, linear 36→3."""
    rng = np.random.default_rng(seed)
    s = int(rng.integers(0, 2**31))
    c2, n2, r = (int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(4, 20))) \
        if structured else (4, 3, 36)
    n1 = int(rng.integers(1, 3)) if structured else 3
    layers = [
        random_quant_layer(1, 3, 1, n1, 4, 6, 6, 1, 1, s, name="conv0"),
        random_quant_layer(4, 3, c2, n2, 4, 6, 6, 2, 1, s + 1, name="conv1"),
        random_quant_layer(36, 1, r, 1, 3, 1, 1, 1, 0, s + 2, kind="linear", relu=False, name="fc"),
    ]
    return QuantNet(1, 6, 6, 1.0, layers)


SMALL = Budget(lut4=12000, ff=12000, dsp=12, ebr=8)


def simulate(net: Network, images: torch.Tensor, *, seed: int, idle: float, stall: float):
    """Stream ``images`` ([B, C, H, W]) through ``net``; returns (logits [B, classes] as lists,
    cycle at which each logits beat was accepted)."""
    beats = [[int(v) for v in img[:, y, x]] for img in images
             for y in range(img.shape[1]) for x in range(img.shape[2])]
    return run_stream_dut(net, beats, len(images), seed=seed, idle=idle, stall=stall)


def random_images(seed: int, count: int, shape) -> torch.Tensor:
    return torch.randint(-128, 128, (count, *shape), generator=torch.Generator().manual_seed(seed))


@settings(max_examples=3)
@given(seed=st.integers(0, 2**16), structured=st.booleans())
def test_network_logits_equal_golden_under_idle_and_backpressure(seed, structured):
    qnet = random_net(seed, structured=structured)
    net = Network(compile_plan(qnet, SMALL))
    images = random_images(seed, 3, qnet.input_shape)
    got, _ = simulate(net, images, seed=seed, idle=0.3, stall=0.3)
    assert got == golden.logits(qnet, images).tolist()


@pytest.mark.parametrize("structured", [False, True])
def test_network_cycles_per_image_match_plan(structured):
    qnet = random_net(7, structured=structured)
    plan = compile_plan(qnet, SMALL)
    images = random_images(7, 5, qnet.input_shape)
    got, cycles = simulate(Network(plan), images, seed=0, idle=0.0, stall=0.0)
    assert got == golden.logits(qnet, images).tolist()
    steady = [b - a for a, b in zip(cycles[2:], cycles[3:])]
    print(f"structured={structured}: predicted {plan.cycles_per_image} cycles/image "
          f"(bottleneck {plan.bottleneck.layer}), measured {steady}, first logits at "
          f"cycle {cycles[0]} (latency bound {plan.latency_cycles})")
    assert steady == [plan.cycles_per_image] * 2
    assert cycles[0] <= plan.latency_cycles + 2


def test_network_of_a_compiled_plan_builds():
    qnet = random_net(3, structured=True)
    net = Network(compile_plan(qnet, SMALL))
    assert net.plan.qnet is qnet
    assert net.o.payload.shape().size == 8 * qnet.num_classes
    Fragment.get(net, None)


def test_linear_first_layer_flattens_the_input_image():
    """A network that is one linear layer on a 2×2×3 image: the Flatten sits at the input."""
    layer = random_quant_layer(12, 1, 5, 1, 4, 1, 1, 1, 0, 5, kind="linear", relu=False, name="fc")
    qnet = QuantNet(2, 2, 3, 1.0, [layer])
    plan = compile_plan(qnet, SMALL)
    assert plan.stages[0].flatten_before
    images = random_images(5, 4, qnet.input_shape)
    got, _ = simulate(Network(plan), images, seed=5, idle=0.3, stall=0.3)
    assert got == golden.logits(qnet, images).tolist()

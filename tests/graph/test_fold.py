"""BatchNorm folding: exact (float64) for every layer kind, structure kept, user model untouched."""

import pytest
import torch
from torch import nn

from structhw.decompose import StructuredConv2d, StructuredLinear
from structhw.errors import ConfigError
from structhw.graph import trace_model
from structhw.graph.fold import batchnorm_scale_shift, fold_batchnorm
from structhw.structure import project, relative_residual_norm


def _random_bn(bn, seed=0):
    """Give ``bn`` non-trivial running statistics and affine parameters (float64)."""
    g = torch.Generator().manual_seed(seed)
    c = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(c, generator=g, dtype=torch.float64))
        bn.running_var.copy_(torch.rand(c, generator=g, dtype=torch.float64) + 0.1)
        if bn.affine:
            bn.weight.copy_(torch.randn(c, generator=g, dtype=torch.float64))
            bn.bias.copy_(torch.randn(c, generator=g, dtype=torch.float64))
    return bn.eval()


def _assert_folds(layer, bn, x):
    want = bn(layer(x))
    folded = fold_batchnorm(layer, bn)
    torch.testing.assert_close(folded(x), want, rtol=1e-12, atol=1e-12)
    return folded


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_conv_fold_is_exact_and_leaves_the_layer_alone(bias, groups):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 8, 3, padding=1, groups=groups, bias=bias).double()
    before = conv.weight.clone()
    folded = _assert_folds(conv, _random_bn(nn.BatchNorm2d(8).double()),
                           torch.randn(2, 4, 5, 5, dtype=torch.float64))
    assert folded is not conv and folded.bias is not None
    assert torch.equal(conv.weight, before) and (conv.bias is None) == (not bias)


def test_linear_and_affine_free_batchnorm():
    torch.manual_seed(1)
    linear = nn.Linear(6, 5).double()
    _assert_folds(linear, _random_bn(nn.BatchNorm1d(5, affine=False).double()),
                  torch.randn(3, 6, dtype=torch.float64))


def test_scale_shift_formula():
    bn = _random_bn(nn.BatchNorm2d(3).double())
    scale, shift = batchnorm_scale_shift(bn)
    expect = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(scale, expect.detach())
    torch.testing.assert_close(shift, (bn.bias - bn.running_mean * expect).detach())


def test_structured_conv_stays_structured():
    torch.manual_seed(2)
    layer = StructuredConv2d(6, 4, 3, c=2, n=2, padding=1).double()
    bn = _random_bn(nn.BatchNorm2d(4).double())
    folded = _assert_folds(layer, bn, torch.randn(2, 6, 6, 6, dtype=torch.float64))
    assert isinstance(folded, StructuredConv2d) and (folded.c, folded.n) == (2, 2)
    assert folded.sumpool.extra_repr() == layer.sumpool.extra_repr()
    scale, _ = batchnorm_scale_shift(bn)
    torch.testing.assert_close(folded.conv.weight, layer.conv.weight * scale[:, None, None, None])


def test_structured_kernel_in_a_dense_conv_stays_structured():
    torch.manual_seed(3)
    conv = nn.Conv2d(6, 4, 3, padding=1).double()
    with torch.no_grad():
        conv.weight.copy_(project(conv.weight, 2, 2))
    assert relative_residual_norm(conv.weight, 2, 2) < 1e-12
    folded = _assert_folds(conv, _random_bn(nn.BatchNorm2d(4).double()),
                           torch.randn(2, 6, 6, 6, dtype=torch.float64))
    assert relative_residual_norm(folded.weight.detach(), 2, 2) < 1e-12


def test_structured_linear():
    torch.manual_seed(4)
    layer = StructuredLinear(8, 3, c=3).double()
    folded = _assert_folds(layer, _random_bn(nn.BatchNorm1d(3).double()),
                           torch.randn(4, 8, dtype=torch.float64))
    assert isinstance(folded, StructuredLinear)


def test_refusals():
    with pytest.raises(ConfigError, match="running"):
        fold_batchnorm(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3, track_running_stats=False))
    with pytest.raises(ConfigError, match="channels"):
        fold_batchnorm(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(4))
    with pytest.raises(ConfigError, match="ReLU"):
        fold_batchnorm(nn.ReLU(), nn.BatchNorm2d(4))


def test_traced_train_mode_batchnorm_folds_running_stats_and_modes_are_restored():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    _random_bn(model[1].double()).float()
    model.train()
    model[2].eval()
    weight = model[0].weight.clone()
    graph = trace_model(model, (3, 6, 6))
    assert [n.op for n in graph.nodes] == ["conv", "relu"]
    assert graph.nodes[0].name == "0" and graph.nodes[0].module is not model[0]
    assert torch.equal(model[0].weight, weight)
    assert model.training and model[1].training and not model[2].training
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(graph.forward(x), model.eval()(x), rtol=1e-5, atol=1e-5)


def test_traced_structured_conv_and_batchnorm():
    model = nn.Sequential(StructuredConv2d(4, 6, 3, c=2, n=2, padding=1, bias=False),
                          nn.BatchNorm2d(6))
    _random_bn(model[1].double()).float()
    graph = trace_model(model, (4, 5, 5))
    (node,) = graph.nodes
    assert node.op == "conv" and isinstance(node.module, StructuredConv2d)
    assert node.module.conv.bias is not None and model[0].conv.bias is None

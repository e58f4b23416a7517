"""The torch.fx frontend: every supported op in each spelling, whole models, refusals."""

import inspect
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from structhw.decompose import StructuredConv2d, StructuredLinear, SumPool3d, decompose
from structhw.errors import ConfigError
from structhw.graph import FLOAT_OPS, FloatGraph, FloatNode, trace_model
from structhw.zoo import BasicBlock, PadShortcut, build_model


def _traced(model, shape, batch=3):
    """Trace ``model`` and assert the graph's float output equals the model's (float32)."""
    graph = trace_model(model, shape)
    x = torch.randn(batch, *shape)
    with torch.no_grad():
        want = model.eval()(x.clone())
        got = graph.forward(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()) + 1e-6)
    assert all(n.op in FLOAT_OPS for n in graph.nodes)
    return graph


def _ops(graph):
    return [n.op for n in graph.nodes]


class Fn(nn.Module):
    """A 3→4 channel 3×3 conv, then ``fn(self, y)``: the functional form under test."""

    def __init__(self, fn, width=4):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.fn = fn

    def forward(self, x):
        return self.fn(self, self.conv(x))


FUNCTIONAL = [
    (lambda m, y: F.relu(y), ["relu"], {}),
    (lambda m, y: F.relu(y, inplace=True), ["relu"], {}),
    (lambda m, y: torch.relu(y), ["relu"], {}),
    (lambda m, y: torch.relu_(y), ["relu"], {}),
    (lambda m, y: y.relu_(), ["relu"], {}),
    (lambda m, y: y.relu(), ["relu"], {}),
    (lambda m, y: y.clamp(min=0), ["relu"], {}),
    (lambda m, y: F.relu6(y), ["relu6"], {}),
    (lambda m, y: F.hardtanh(y, 0.0, 6.0), ["relu6"], {}),
    (lambda m, y: torch.clamp(y, 0, 6), ["relu6"], {}),
    (lambda m, y: F.max_pool2d(y, 2), ["maxpool"], {"kernel": 2, "stride": 2, "padding": 0}),
    (lambda m, y: F.max_pool2d(y, 3, 2, 1), ["maxpool"], {"kernel": 3, "stride": 2, "padding": 1}),
    (lambda m, y: torch.max_pool2d(y, (2, 2)), ["maxpool"],
     {"kernel": 2, "stride": 2, "padding": 0}),
    (lambda m, y: F.avg_pool2d(y, 2), ["avgpool"],
     {"kernel": 2, "stride": 2, "padding": 0, "count_include_pad": True}),
    (lambda m, y: F.avg_pool2d(y, 3, stride=1, padding=1, count_include_pad=False), ["avgpool"],
     {"kernel": 3, "stride": 1, "padding": 1, "count_include_pad": False}),
    (lambda m, y: F.adaptive_avg_pool2d(y, 1), ["global_avgpool"], {}),
    (lambda m, y: F.adaptive_avg_pool2d(y, (1, 1)), ["global_avgpool"], {}),
    (lambda m, y: y.mean((2, 3)), ["global_avgpool", "flatten"], {}),
    (lambda m, y: y.mean([-2, -1], keepdim=True), ["global_avgpool"], {}),
    (lambda m, y: torch.mean(y, dim=(3, 2)), ["global_avgpool", "flatten"], {}),
    (lambda m, y: torch.flatten(y, 1), ["flatten"], {}),
    (lambda m, y: y.flatten(1), ["flatten"], {}),
    (lambda m, y: y.view(y.size(0), -1), ["flatten"], {}),
    (lambda m, y: y.reshape(y.shape[0], -1), ["flatten"], {}),
    (lambda m, y: torch.reshape(y, (y.size(0), -1)), ["flatten"], {}),
    (lambda m, y: y.view(-1, 4 * 8 * 8), ["flatten"], {}),
    (lambda m, y: y + y, ["add"], {}),
    (lambda m, y: torch.add(y, F.relu(y)), ["relu", "add"], {}),
    (lambda m, y: y.add(y), ["add"], {}),
    (lambda m, y: y[:, :, ::2, ::2], ["pad_shortcut"], {"stride": 2, "extra": 0}),
    (lambda m, y: F.pad(y, (0, 0, 0, 0, 0, 3)), ["pad_shortcut"], {"stride": 1, "extra": 3}),
    (lambda m, y: F.pad(y[:, :, ::2, ::2], (0, 0, 0, 0, 0, 2), "constant", 0), ["pad_shortcut"],
     {"stride": 2, "extra": 2}),
    (lambda m, y: F.pad(y, (0, 0, 0, 0, 0, 2))[..., ::2, ::2], ["pad_shortcut"],
     {"stride": 2, "extra": 2}),
    (lambda m, y: F.dropout(y, 0.5, m.training), [], {}),
    (lambda m, y: y.contiguous(), [], {}),
]


@pytest.mark.parametrize("fn, ops, attrs", FUNCTIONAL,
                         ids=[f"{i}-{'+'.join(ops) or 'dropped'}" for i, (_, ops, _) in
                              enumerate(FUNCTIONAL)])
def test_functional_forms(fn, ops, attrs):
    graph = _traced(Fn(fn), (3, 8, 8))
    assert _ops(graph) == ["conv"] + ops
    assert graph.nodes[-1].attrs == attrs and graph.output == graph.nodes[-1].name
    assert graph.nodes[0].inputs == ("input",)
    assert all(i == "conv" for i in graph.nodes[min(1, len(ops))].inputs) or not ops


MODULES = [
    (nn.ReLU(), "relu", {}),
    (nn.ReLU(inplace=True), "relu", {}),
    (nn.ReLU6(), "relu6", {}),
    (nn.Hardtanh(0.0, 6.0), "relu6", {}),
    (nn.MaxPool2d(3, 2, 1), "maxpool", {"kernel": 3, "stride": 2, "padding": 1}),
    (nn.MaxPool2d((2, 2)), "maxpool", {"kernel": 2, "stride": 2, "padding": 0}),
    (nn.AvgPool2d(2), "avgpool",
     {"kernel": 2, "stride": 2, "padding": 0, "count_include_pad": True}),
    (nn.AvgPool2d(3, 1, 1, count_include_pad=False), "avgpool",
     {"kernel": 3, "stride": 1, "padding": 1, "count_include_pad": False}),
    (nn.AdaptiveAvgPool2d(1), "global_avgpool", {}),
    (nn.AdaptiveAvgPool2d((1, 1)), "global_avgpool", {}),
    (nn.Flatten(), "flatten", {}),
    (PadShortcut(2, 4), "pad_shortcut", {"stride": 2, "extra": 4}),
    (nn.Identity(), None, {}),
    (nn.Dropout(0.3), None, {}),
    (nn.Dropout2d(0.3), None, {}),
]


@pytest.mark.parametrize("module, op, attrs", MODULES,
                         ids=[type(m).__name__ for m, _, _ in MODULES])
def test_module_forms(module, op, attrs):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), module)
    graph = _traced(model, (3, 8, 8))
    assert _ops(graph) == ["conv"] + ([op] if op else [])
    assert graph.nodes[-1].attrs == attrs
    assert graph.nodes[-1].name == ("1" if op else "0") and graph.output == graph.nodes[-1].name


def test_linear_and_batchnorm1d():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 6), nn.BatchNorm1d(6),
                          nn.ReLU(), nn.Dropout(), nn.Linear(6, 3))
    graph = _traced(model, (1, 5, 5))
    assert _ops(graph) == ["conv", "flatten", "linear", "relu", "linear"]
    assert [n.out_shape for n in graph.nodes] == [(2, 3, 3), (18, 1, 1), (6, 1, 1), (6, 1, 1),
                                                  (3, 1, 1)]
    assert isinstance(graph.node("2").module, nn.Linear) and graph.node("6").inputs == ("4",)


@pytest.mark.parametrize("groups, kernel", [(8, 3), (1, 1), (2, 3)], ids=["depthwise", "pointwise",
                                                                         "grouped"])
def test_conv_groups(groups, kernel):
    conv = nn.Conv2d(8, 16 if groups < 8 else 8, kernel, padding=kernel // 2, groups=groups)
    graph = _traced(nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels)), (8, 6, 6))
    (node,) = graph.nodes
    assert node.module.groups == groups and node.module.kernel_size == (kernel, kernel)


def test_conv_padding_strings():
    graph = _traced(nn.Sequential(nn.Conv2d(2, 3, 3, padding="same", dilation=2),
                                  nn.Conv2d(3, 3, 3, padding="valid")), (2, 9, 9))
    assert [n.module.padding for n in graph.nodes] == [(2, 2), (0, 0)]


@settings(max_examples=25)
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from([1, 2, 3]), st.integers(1, 4),
       st.integers(1, 3), st.integers(0, 2), st.integers(1, 2), st.booleans(), st.booleans())
def test_random_conv_geometries(cin_g, cout_g, groups, kernel, stride, padding, dilation, bias,
                                bn):
    conv = nn.Conv2d(cin_g * groups, cout_g * groups, kernel, stride, padding, dilation, groups,
                     bias)
    model = nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels)) if bn else nn.Sequential(conv)
    if bn:
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    size = dilation * (kernel - 1) + 2
    graph = _traced(model, (conv.in_channels, size, size))
    (node,) = graph.nodes
    m = node.module
    assert node.op == "conv" and node.name == "0"
    assert (m.kernel_size, m.stride, m.padding, m.dilation, m.groups) == (
        (kernel,) * 2, (stride,) * 2, (padding,) * 2, (dilation,) * 2, groups)
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    assert node.out_shape == (conv.out_channels, out, out)


def test_resnet20():
    model = build_model("resnet20")
    graph = _traced(model, (3, 32, 32), batch=2)
    counts = graph.op_counts()
    want = {"conv": 19, "add": 9, "pad_shortcut": 2, "global_avgpool": 1, "linear": 1}
    assert {k: counts.get(k, 0) for k in want} == want
    pads = [n for n in graph.nodes if n.op == "pad_shortcut"]
    assert [(n.name, n.attrs) for n in pads] == [
        ("layer2.0.downsample", {"stride": 2, "extra": 16}),
        ("layer3.0.downsample", {"stride": 2, "extra": 32})]
    lines, first = inspect.getsourcelines(BasicBlock.forward)
    line = first + next(i for i, text in enumerate(lines) if "self.conv1(x)" in text)
    assert graph.node("layer1.0.conv1").source == f"layer1.0.conv1 (zoo.py:{line})"
    assert graph.output == "fc"
    add = graph.node("layer2.0.conv2").name
    assert [c.op for c in graph.consumers(add)] == ["add"]
    names = [n.name for n in graph.nodes]
    assert len(set(names)) == len(names) and "input" not in names
    seen = {"input"}
    for node in graph.nodes:
        assert set(node.inputs) <= seen
        seen.add(node.name)


def test_digits_cnn_and_its_decomposition():
    model = build_model("digits-cnn")
    graph = _traced(model, (1, 8, 8))
    assert _ops(graph) == ["conv", "relu"] * 3 + ["flatten", "linear"]
    with pytest.warns(UserWarning):
        decomposed, _ = decompose(model, {"0": (1, 2), "2": (4, 3), "7": (5, 1)})
    graph = _traced(decomposed, (1, 8, 8))
    assert _ops(graph) == ["conv", "relu"] * 3 + ["flatten", "linear"]
    assert [type(n.module).__name__ for n in graph.nodes if n.module is not None] == \
        ["StructuredConv2d", "StructuredConv2d", "Conv2d", "StructuredLinear"]
    assert graph.node("2").module.c == 4 and graph.node("2").module is not decomposed[2]


def test_forward_return_all_and_api():
    graph = trace_model(build_model("digits-cnn"), (1, 8, 8))
    values = graph.forward(torch.randn(5, 1, 8, 8), return_all=True)
    assert list(values) == [n.name for n in graph.nodes]
    assert values["0"].shape == (5, 8, 8, 8) and values["6"].shape == (5, 64)
    assert values["7"].shape == (5, 10)
    assert isinstance(graph, FloatGraph) and isinstance(graph.nodes[0], FloatNode)
    assert [n.name for n in graph.consumers("input")] == ["0"]
    with pytest.raises(ConfigError, match="no node"):
        graph.node("nope")
    with pytest.raises(ConfigError, match=r"\[B, 1, 8, 8\]"):
        graph.forward(torch.zeros(1, 2, 8, 8))


def test_option_b_block():
    block = BasicBlock(16, 32, 2, "B")
    for bn in (block.bn1, block.bn2, block.downsample[1]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    graph = _traced(block, (16, 8, 8))
    assert _ops(graph) == ["conv", "relu", "conv", "conv", "add", "relu"]
    assert graph.node("downsample.0").inputs == ("input",)
    assert graph.node("downsample.0").module.stride == (2, 2)
    assert graph.node("add").inputs == ("conv2", "downsample.0")


class InlineA(nn.Module):
    """A CIFAR basic block whose option-A shortcut is written inline, akamaster-style."""

    def __init__(self, pad=(0, 0, 0, 0, 0, 8)):
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3, 2, 1)
        self.bn = nn.BatchNorm2d(16)
        self.pad = pad

    def forward(self, x):
        shortcut = F.pad(x[:, :, ::2, ::2], self.pad, "constant", 0)
        out = self.bn(self.conv(x))
        out += shortcut
        return F.relu(out)


def test_inline_option_a_shortcut():
    graph = _traced(InlineA(), (8, 8, 8))
    assert _ops(graph) == ["pad_shortcut", "conv", "add", "relu"]
    assert graph.nodes[0].attrs == {"stride": 2, "extra": 8} and graph.nodes[0].name == "pad"
    assert graph.nodes[0].out_shape == (16, 4, 4)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1×1 expand, 3×3 depthwise, 1×1 project, residual add."""

    def __init__(self, channels=8, expand=4):
        super().__init__()
        hidden = channels * expand
        self.conv = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return x + self.conv(x)


def test_mobilenet_v2_inverted_residual():
    block = InvertedResidual()
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    graph = _traced(block, (8, 6, 6))
    assert _ops(graph) == ["conv", "relu6", "conv", "relu6", "conv", "add"]
    assert [n.name for n in graph.nodes if n.op == "conv"] == ["conv.0", "conv.3", "conv.6"]
    assert graph.node("conv.3").module.groups == 32
    assert graph.nodes[-1].inputs == ("input", "conv.6")


class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        z = y.relu_()
        return y + z


def test_in_place_ops_are_followed():
    graph = _traced(InPlace(), (3, 4, 4))
    assert _ops(graph) == ["conv", "relu", "add"]
    assert graph.nodes[-1].inputs == ("relu_", "relu_")


class AliasedAdd(nn.Module):
    """``out += x`` mutates ``identity`` too in eager mode; fx records a plain add."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        out = self.conv(x)
        identity = out
        out += x
        return out + identity


def test_the_check_catches_a_misparse():
    with pytest.raises(ConfigError, match="disagrees with the model: largest difference"):
        trace_model(AliasedAdd(), (3, 4, 4))
    assert trace_model(AliasedAdd(), (3, 4, 4), check=False).op_counts() == {"conv": 1, "add": 2}


class At(nn.Module):
    """``body`` (module path "body") computes ``fn(self, x)`` after a conv."""

    def __init__(self, fn, **layers):
        super().__init__()
        self.body = Fn(fn)
        for name, layer in layers.items():
            setattr(self, name, layer)

    def forward(self, x):
        return self.body(x)


class TwoInputs(nn.Module):
    def forward(self, x, y):
        return x + y


class Untraceable(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


class Seq(nn.Module):
    """``layers`` (an nn.Sequential) applied to the input."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


REFUSED = [
    (At(lambda m, y: torch.sigmoid(y)), "'sigmoid' (torch.sigmoid)", "body"),
    (At(lambda m, y: torch.cat([y, y], 1)), "'cat' (torch.cat)", "body"),
    (At(lambda m, y: y * 2), "'mul' (operator.mul)", "body"),
    (At(lambda m, y: y.permute(0, 2, 3, 1)), "'permute' (Tensor.permute)", "body"),
    (At(lambda m, y: y + 1), "'add' (operator.add)", "body"),
    (At(lambda m, y: y + m.conv.bias), "'get_attr'", "body"),
    (At(lambda m, y: (y, y)), "'output'", "<At>"),
    (At(lambda m, y: y.view(y.size(0), 2, -1)), "'view'", "body"),
    (At(lambda m, y: y.mean(1)), "'mean'", "body"),
    (At(lambda m, y: F.pad(y[:, :, ::2, ::2], (0, 0, 0, 0, 2, 2))), "'pad' (F.pad)", "body"),
    (At(lambda m, y: F.pad(y, (1, 1, 1, 1))), "'pad' (F.pad)", "body"),
    (At(lambda m, y: F.dropout(y, 0.5)), "'dropout' (F.dropout)", "body"),
    (At(lambda m, y: F.hardtanh(y)), "'hardtanh' (F.hardtanh)", "body"),
    (At(lambda m, y: F.max_pool2d(y, 2, ceil_mode=True)), "'max_pool2d'", "body"),
    (At(lambda m, y: y[:, 1:]), "'getitem' (operator.getitem)", "body"),
    (At(lambda m, y: y + F.adaptive_avg_pool2d(y, 1)), "'add' (operator.add)", "body"),
    (Seq(nn.Conv1d(3, 4, 3)), "'Conv1d' (nn.Conv1d)", "layers.0"),
    (Seq(nn.Sigmoid()), "'Sigmoid' (nn.Sigmoid)", "layers.0"),
    (Seq(nn.Conv2d(3, 4, (3, 1))), "'conv' (nn.Conv2d)", "layers.0"),
    (Seq(nn.Conv2d(3, 4, 3, stride=(1, 2))), "'conv' (nn.Conv2d)", "layers.0"),
    (Seq(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")), "'conv'", "layers.0"),
    (Seq(nn.MaxPool2d(2, dilation=2)), "'maxpool' (nn.MaxPool2d)", "layers.0"),
    (Seq(nn.MaxPool2d((2, 3))), "'maxpool' (nn.MaxPool2d)", "layers.0"),
    (Seq(nn.AvgPool2d(2, ceil_mode=True)), "'avgpool' (nn.AvgPool2d)", "layers.0"),
    (Seq(nn.AdaptiveAvgPool2d(2)), "'global_avgpool' (nn.AdaptiveAvgPool2d)", "layers.0"),
    (Seq(nn.Conv2d(3, 4, 3), nn.Linear(6, 2)), "'linear' (nn.Linear)", "layers.1"),
    (Seq(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)), "'batchnorm' (nn.BatchNorm2d)",
     "layers.2"),
    (Seq(nn.BatchNorm2d(3)), "'batchnorm' (nn.BatchNorm2d)", "layers.0"),
    (Seq(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False)), "'batchnorm'",
     "layers.1"),
    (Seq(SumPool3d(2, 2)), "'SumPool3d'", "layers.0"),
    (Seq(nn.Hardtanh()), "'hardtanh' (nn.Hardtanh)", "layers.0"),
    (Seq(nn.Flatten(2)), "'flatten' (nn.Flatten)", "layers.0"),
    (TwoInputs(), "'input'", "<TwoInputs>"),
    (Untraceable(), "cannot trace <Untraceable>", "<Untraceable>"),
]


@pytest.mark.parametrize("model, what, path", REFUSED,
                         ids=[f"{i}-{w.split()[0]}" for i, (_, w, _) in enumerate(REFUSED)])
def test_refusals_name_op_module_and_line(model, what, path):
    with pytest.raises(ConfigError) as info:
        trace_model(model, (3, 8, 8))
    message = str(info.value)
    assert "\n" not in message
    assert what in message
    assert re.search(rf" at {re.escape(path)} — \w+\.py:\d+: ", message), message


class SharedConv(nn.Module):
    """A conv whose output feeds a BatchNorm and the residual add."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


def test_batchnorm_after_a_shared_conv_is_refused():
    with pytest.raises(ConfigError, match=r"at bn — test_trace\.py:\d+: the conv before it "
                                          r"\(conv\) also feeds 1 other"):
        trace_model(SharedConv(), (3, 4, 4))


def test_unsupported_op_is_refused_before_the_model_runs():
    model = Seq(nn.Conv2d(3, 4, 3), nn.Conv1d(4, 4, 1))
    with pytest.raises(ConfigError, match="unsupported op 'Conv1d'"):
        trace_model(model, (3, 8, 8))
    with pytest.raises(ConfigError, match=r"fails on its input at layers\.0 — .*5 channels"):
        trace_model(Seq(nn.Conv2d(5, 4, 3)), (3, 8, 8))


def test_bad_arguments():
    with pytest.raises(ConfigError, match="input_shape"):
        trace_model(nn.ReLU(), (3, 8))
    with pytest.raises(ConfigError, match="nn.Module"):
        trace_model(lambda x: x, (3, 8, 8))


def test_structured_linear_is_a_leaf():
    model = nn.Sequential(nn.Flatten(), StructuredLinear(12, 4, 3), nn.ReLU6())
    graph = _traced(model, (3, 2, 2))
    assert _ops(graph) == ["flatten", "linear", "relu6"]
    assert isinstance(graph.node("1").module, StructuredLinear)
    graph = _traced(nn.Sequential(StructuredConv2d(4, 4, 3, 2, 2, stride=2, padding=1)), (4, 7, 7))
    assert graph.nodes[0].out_shape == (4, 4, 4)

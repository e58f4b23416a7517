"""The model zoo: the float architectures structhw trains, structures and counts.

``resnet20`` / ``resnet32`` / ``resnet56``
    CIFAR-10 ResNets of He et al. (2016, §4.2): a 3×3 stem of 16 channels, three stages of
    (depth−2)/6 basic blocks with 16, 32, 64 channels, global average pooling, a 64→10 classifier.
    Shortcuts are option A (identity; at a stride-2 stage change, subsample by 2 and zero-pad the
    new channels), which has no parameters and gives the 0.27 / 0.46 / 0.85 M parameters of the
    paper's Table 1 (option B's 1×1 projections would add ~0.01 M per network). Input 3×32×32.
``resnet18``
    The ImageNet ResNet-18 (torchvision's layout and module names: ``conv1``, ``bn1``,
    ``layer1`` … ``layer4``, ``fc``), 11.69 M parameters, 1000 classes. Input 3×224×224.
``digits-cnn``
    The small CNN for scikit-learn's 8×8 digits (docs/INTERFACES.md), input 1×8×8, 10 classes.
``digits-tiny``
    The smallest boards' digits CNN: a stride-2 3×3 conv to 4 channels, then a 4×4 conv to the
    10 logits (a classifier without a Flatten, whose buffer would cost 1,024 flip-flops). It
    fits the iCEBreaker's iCE40UP5K (8 multipliers, 5,280 logic cells). Input 1×8×8.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .errors import ConfigError

__all__ = ["MODELS", "build_model", "input_shape", "num_classes"]


class PadShortcut(nn.Module):
    """Option-A shortcut: keep every ``stride``-th pixel and zero-pad ``extra`` channels at the end."""

    def __init__(self, stride: int, extra: int):
        super().__init__()
        self.stride = stride
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    """Two 3×3 conv + BN layers with a residual connection (ReLU after the sum).

    ``shortcut`` is ``"A"`` (parameter-free, CIFAR) or ``"B"`` (1×1 conv + BN when the shape
    changes, ImageNet); the 1×1 projection is called ``downsample`` as in torchvision.
    """

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        changes_shape = stride != 1 or in_planes != planes
        if not changes_shape:
            self.downsample = nn.Identity()
        elif shortcut == "A":
            self.downsample = PadShortcut(stride, planes - in_planes)
        else:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.downsample(x))


class ResNet(nn.Module):
    """A ResNet of basic blocks. ``stem`` is ``"cifar"`` (3×3 conv) or ``"imagenet"``
    (7×7/2 conv + 3×3/2 max-pool); ``blocks`` and ``widths`` give each stage (``layer1`` …)."""

    def __init__(self, blocks, widths, num_classes: int, stem: str, shortcut: str):
        super().__init__()
        if stem == "cifar":
            self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_planes = widths[0]
        for stage, (count, planes) in enumerate(zip(blocks, widths), start=1):
            layers = []
            for index in range(count):
                stride = 2 if (index == 0 and stage > 1) else 1
                layers.append(BasicBlock(in_planes, planes, stride, shortcut))
                in_planes = planes
            self.add_module(f"layer{stage}", nn.Sequential(*layers))
        self.num_stages = len(blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        for stage in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{stage}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _cifar_resnet(depth: int) -> ResNet:
    per_stage = (depth - 2) // 6
    return ResNet([per_stage] * 3, [16, 32, 64], 10, stem="cifar", shortcut="A")


def _digits_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


def _digits_tiny() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 10, 4),
        nn.Flatten(),
    )


_BUILDERS = {
    "resnet20": (lambda: _cifar_resnet(20), (3, 32, 32), 10),
    "resnet32": (lambda: _cifar_resnet(32), (3, 32, 32), 10),
    "resnet56": (lambda: _cifar_resnet(56), (3, 32, 32), 10),
    "resnet18": (lambda: ResNet([2, 2, 2, 2], [64, 128, 256, 512], 1000, "imagenet", "B"), (3, 224, 224), 1000),
    "digits-cnn": (_digits_cnn, (1, 8, 8), 10),
    "digits-tiny": (_digits_tiny, (1, 8, 8), 10),
}

#: Names accepted by :func:`build_model`.
MODELS: tuple[str, ...] = tuple(_BUILDERS)


def _entry(name: str):
    try:
        return _BUILDERS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def build_model(name: str) -> nn.Module:
    """A freshly initialised float model (train mode) of the zoo architecture ``name``."""
    return _entry(name)[0]()


def input_shape(name: str) -> tuple[int, int, int]:
    """The (channels, height, width) of one input image of model ``name``."""
    return _entry(name)[1]


def num_classes(name: str) -> int:
    """Number of output classes (logits) of model ``name``."""
    return _entry(name)[2]

"""Models of the scaling and graph-model benchmarks (``bench_graph_scaling.py``,
``bench_graph_models.py``), nameable as MODEL too:
``structhw compile benchmarks/scaling_models.py:plain_cnn --preset A --data random``."""

import torch.nn as nn


def plain_cnn() -> nn.Module:
    """A plain 3×32×32 CNN: five 3×3 convs (32, 32, 64 s2, 64 s2, 32 s2 channels), ReLUs, and a
    512→10 classifier over the flattened 32×4×4 map."""
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
    model.input_shape = (3, 32, 32)
    return model


def linear512() -> nn.Module:
    """A lone 512→10 Linear layer (input 512×1×1)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(512, 10))
    model.input_shape = (512, 1, 1)
    return model


class InvertedResidual(nn.Module):
    """MobileNetV2's inverted-residual block: 1×1 expand + BN + ReLU6, 3×3 depthwise + BN +
    ReLU6, 1×1 project + BN, and the residual add (stride 1, channels kept)."""

    def __init__(self, channels: int, expand: int = 4):
        super().__init__()
        hidden = channels * expand
        self.block = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return x + self.block(x)


class MobileNetV2Stack(nn.Module):
    """A MobileNetV2-style stack on 3×32×32: a 3×3 stride-2 stem (16 channels) + BN + ReLU6, two
    inverted-residual blocks, global average pool, a 16→10 classifier."""

    input_shape = (3, 32, 32)

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU6())
        self.blocks = nn.Sequential(InvertedResidual(16), InvertedResidual(16))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(self.blocks(self.stem(x)))
        return self.fc(x.flatten(1))


def mobilenet_v2_stack() -> nn.Module:
    return MobileNetV2Stack()


class ReadmeNet(nn.Module):
    """The README's "Bring your own model" example: conv + BN + ReLU, a residual conv, max pool,
    global average pool (``mean``), linear; 3×16×16."""

    input_shape = (3, 16, 16)

    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.body, self.pool = nn.Conv2d(8, 8, 3, padding=1), nn.MaxPool2d(2)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = nn.functional.relu(self.bn(self.stem(x)))
        x = nn.functional.relu(x + self.body(x))
        return self.fc(self.pool(x).mean((2, 3)))


def readme_net() -> nn.Module:
    return ReadmeNet()

"""Models of the scaling benchmark (``bench_graph_scaling.py``), nameable as MODEL too:
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

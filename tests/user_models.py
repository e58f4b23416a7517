"""A user's own model file (BatchNorm, a residual add, max pool, global average pool) for the
tests of MODEL as ``path/to/file.py:callable``; ``build`` returns it, ``sigmoid_net`` the same net
with an unsupported op, the others fail the ways a user's file can."""

import textwrap


def user_model_py(channels: int = 3, size: int = 12) -> str:
    """The model file's text for ``channels``×``size``×``size`` input images."""
    return textwrap.dedent('''
    import torch
    from torch import nn
    import torch.nn.functional as F

    class Net(nn.Module):
        input_shape = ({channels}, {size}, {size})

        def __init__(self, act=F.relu):
            super().__init__()
            self.act = act
            self.stem = nn.Conv2d({channels}, 8, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.body = nn.Conv2d(8, 8, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            x = F.relu(self.bn(self.stem(x)))
            x = self.act(x + self.body(x))
            return self.fc(torch.flatten(self.gap(self.pool(x)), 1))

    def build():
        torch.manual_seed(0)
        return Net()

    def sigmoid_net():
        return Net(act=torch.sigmoid)

    def not_a_module():
        return 42

    def broken():
        raise RuntimeError("no weights here")
''').format(channels=channels, size=size)

"""``structhw train``: SR training (paper §5.1) or direct training (§6.4) of a zoo model on digits.

Writes ``checkpoint.pt`` and ``metrics.json`` to ``--out``; see :mod:`structhw.train`.
"""

from .. import train


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train with Structural Regularization, decompose, write checkpoint + metrics",
        description=(
            "Step 1: train with task loss + λ·SR loss (or, with --direct, train the decomposed "
            "architecture). Step 2: decompose. A dense baseline is trained in the same run. "
            "Runs data-parallel under `torchrun -m structhw.train`."
        ),
    )
    train.add_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    return train.run_from_args(args)

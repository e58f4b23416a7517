"""Time per training step of ResNet18 with and without the Structural Regularization loss.

Variants, measured side by side in one run (round-robin, so machine load hits all alike):

* ``none``       cross-entropy only
* ``naive``      + SR loss with the dense CN²×CN² matrix ``I − A·pinv(A)`` per layer shape
                 (computed once and cached, so only the per-step cost is timed)
* ``projector``  + SR loss with the axis-by-axis projectors ``T·T⁺`` (C×C and N×N; cached)
* ``factored``   + SR loss as shipped (:func:`structhw.regularization.sr_loss`: the O(C)
                 periodic residual along channels, no matrix products for n = N layers)

Prints the median seconds per step and the ratio to ``none``; writes the numbers as JSON
(atomically) to ``--out``. The paper (Table 6) reports 5–10 % overhead on a V100 at batch 256.

Usage: ``python benchmarks/bench_sr_overhead.py [--batch 8] [--size 64] [--rounds 5] [--preset A]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch.nn import functional as F
from tqdm import tqdm

from structhw.jsonfile import write_json
from structhw.regularization import make_plan, sr_loss, sr_loss_naive
from structhw.structure import project
from structhw.zoo import build_model


def sr_loss_projector(model, plan):
    """SR loss with the C×C / N×N projector factors (``structhw.structure.project``)."""
    modules = dict(model.named_modules())
    total = 0.0
    for name, (c, n) in plan.items():
        W = modules[name].weight
        W = W.reshape(W.shape[0], W.shape[1], 1, 1) if W.dim() == 2 else W
        if c == W.shape[1] and n == W.shape[2]:
            continue
        total = total + torch.linalg.vector_norm(W - project(W, c, n)) / torch.linalg.vector_norm(W)
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="input height = width (pixels)")
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant")
    parser.add_argument("--preset", default="A", choices=["A", "B"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--lam", type=float, default=0.1, help="SR loss weight λ")
    parser.add_argument("--variants", default="none,naive,projector,factored")
    parser.add_argument("--out", default="bench_sr_overhead.json")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = build_model("resnet18")
    plan = make_plan(model, args.preset)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size)
    target = torch.randint(0, 1000, (args.batch,))
    naive_cache: dict = {}
    regularizers = {
        "none": None,
        "naive": lambda m: sr_loss_naive(m, plan, cache=naive_cache),
        "projector": lambda m: sr_loss_projector(m, plan),
        "factored": lambda m: sr_loss(m, plan),
    }
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in regularizers:
            parser.error(f"unknown variant {v!r}; known: {', '.join(regularizers)}")

    def step(variant: str) -> float:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), target)
        if regularizers[variant] is not None:
            loss = loss + args.lam * regularizers[variant](model)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {v: [] for v in variants}
    total = (args.warmup + args.rounds) * len(variants)
    with tqdm(total=total, desc="training steps", file=sys.stderr) as bar:
        for round_index in range(args.warmup + args.rounds):
            for v in variants:
                elapsed = step(v)
                if round_index >= args.warmup:
                    times[v].append(elapsed)
                bar.update()

    base = statistics.median(times["none"]) if "none" in times else None
    result = {
        "model": "resnet18",
        "preset": args.preset,
        "input": [args.batch, 3, args.size, args.size],
        "threads": args.threads,
        "rounds": args.rounds,
        "median_seconds_per_step": {v: statistics.median(t) for v, t in times.items()},
        "ratio_to_none": {v: statistics.median(t) / base for v, t in times.items()} if base else {},
        "all_seconds": times,
    }
    print(f"ResNet18, preset {args.preset}, input {args.batch}×3×{args.size}×{args.size}, "
          f"{args.threads} thread(s), median of {args.rounds} steps")
    print(f"{'variant':<10} {'s/step':>9} {'ratio':>8}")
    for v in variants:
        med = result["median_seconds_per_step"][v]
        ratio = f"{med / base:.3f}" if base else "-"
        print(f"{v:<10} {med:>9.4f} {ratio:>8}")

    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sweep the SR weight λ and the compression preset on digits-cnn; plot accuracy vs λ and vs compression.

For each preset (A, B) and each λ, trains with the paper's recipe (SR, then decompose) and records
the test accuracy of the SR-trained model before decomposition and of the decomposed model; the
dense baseline (trained once, same seed and schedule) and the §6.4 direct recipe (per preset) are
the reference points. Everything else is ``structhw train``'s defaults.

Writes ``benchmarks/results/training_sweep.json``, ``training_acc_vs_lambda.png`` and
``training_acc_vs_compression.png``; prints one line per run and the wall time.

Usage: ``python benchmarks/plot_training.py [--epochs N] [--lams 0,0.1,1] [--out DIR] [--replot]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from structhw import train  # noqa: E402
from structhw.data import digits_split  # noqa: E402
from structhw.regularization import make_plan  # noqa: E402
from structhw.zoo import build_model  # noqa: E402

DEFAULT_LAMS = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0)
PRESETS = ("A", "B")


def sweep(lams, epochs: int) -> dict:
    """Run every training of the sweep; returns the JSON-ready results."""
    base = train.TrainConfig(epochs=epochs)
    train_ds, test_ds = digits_split()
    started = time.perf_counter()
    dense = train.train_dense(base, train_ds, test_ds, progress=False)
    dense_acc = train.accuracy(dense, test_ds)
    dense_params = train.parameter_count(dense)
    print(f"dense: acc {dense_acc:.4f}, {dense_params} params", flush=True)
    runs = []
    for preset in PRESETS:
        plan = make_plan(build_model(base.model), preset)
        for lam in [None, *lams]:
            config = dataclasses.replace(base, preset=preset, lam=lam or 0.0, direct=lam is None)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                trained, decomposed, _ = train.train_structured(config, plan, train_ds, test_ds, progress=False)
            run = {
                "preset": preset,
                "recipe": config.recipe,
                "lam": config.lam,
                "structured_acc": None if config.direct else train.accuracy(trained, test_ds),
                "decomposed_acc": train.accuracy(decomposed, test_ds),
                "decomposed_params": train.parameter_count(decomposed),
                "compression": dense_params / train.parameter_count(decomposed),
                "sr_residual": None if config.direct else train.layer_residuals(trained, plan),
                "seconds": round(time.perf_counter() - t0, 2),
            }
            runs.append(run)
            structured = "  n/a " if run["structured_acc"] is None else f"{run['structured_acc']:.4f}"
            print(
                f"preset {preset} {run['recipe']:6s} λ={run['lam']:<5g} structured {structured} "
                f"decomposed {run['decomposed_acc']:.4f} compression {run['compression']:.2f}x "
                f"({run['seconds']:.1f} s)",
                flush=True,
            )
    return {
        "model": base.model,
        "epochs": epochs,
        "seed": base.seed,
        "lr": base.lr,
        "batch_size": base.batch_size,
        "dense_acc": dense_acc,
        "dense_params": dense_params,
        "runs": runs,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def _save_atomically(write, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def plot_vs_lambda(results: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = {"A": "tab:blue", "B": "tab:orange"}
    sr = [r for r in results["runs"] if r["recipe"] == "sr"]
    lams = sorted({r["lam"] for r in sr})
    positive = [lam for lam in lams if lam > 0]
    zero_x = min(positive) / 3 if positive else 1e-3
    for preset in PRESETS:
        rows = sorted((r for r in sr if r["preset"] == preset), key=lambda r: r["lam"])
        xs = [r["lam"] if r["lam"] > 0 else zero_x for r in rows]
        ax.plot(xs, [r["structured_acc"] for r in rows], "o--", color=colors[preset], alpha=0.6,
                label=f"{preset}: SR-trained, before decomposition")
        ax.plot(xs, [r["decomposed_acc"] for r in rows], "s-", color=colors[preset],
                label=f"{preset}: decomposed")
        direct = next(r for r in results["runs"] if r["recipe"] == "direct" and r["preset"] == preset)
        ax.axhline(direct["decomposed_acc"], color=colors[preset], ls=":",
                   label=f"{preset}: direct (§6.4)")
    ax.axhline(results["dense_acc"], color="black", lw=1, label="dense baseline")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks([zero_x, *positive])
    ax.set_xticklabels(["0", *[f"{lam:g}" for lam in positive]])
    ax.set_xlabel("SR weight λ")
    ax.set_ylabel("test accuracy (360 images)")
    ax.set_title(f"digits-cnn, {results['epochs']} epochs: accuracy vs λ")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _save_atomically(lambda tmp: fig.savefig(tmp, dpi=120, format="png"), path)
    plt.close(fig)


def plot_vs_compression(results: dict, path: Path, lam: float) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot([1.0], [results["dense_acc"]], "k*", ms=12, label="dense baseline")
    markers = {"sr": ("o", f"SR (λ={lam:g}) + decompose"), "direct": ("x", "direct (§6.4)")}
    for recipe, (marker, label) in markers.items():
        rows = [r for r in results["runs"] if r["recipe"] == recipe and (recipe == "direct" or r["lam"] == lam)]
        rows.sort(key=lambda r: r["compression"])
        ax.plot([r["compression"] for r in rows], [r["decomposed_acc"] for r in rows], marker + "-",
                ms=9, label=label)
        for r in rows:
            ax.annotate(r["preset"], (r["compression"], r["decomposed_acc"]),
                        textcoords="offset points", xytext=(6, -10))
    ax.set_xlabel("compression (dense parameters / decomposed parameters)")
    ax.set_ylabel("test accuracy (360 images)")
    ax.set_title(f"digits-cnn, {results['epochs']} epochs: accuracy vs compression")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    _save_atomically(lambda tmp: fig.savefig(tmp, dpi=120, format="png"), path)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=train.DEFAULT_EPOCHS)
    parser.add_argument("--lams", default=",".join(f"{lam:g}" for lam in DEFAULT_LAMS),
                        help="comma-separated λ values")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--replot", action="store_true",
                        help="redraw the PNGs from the JSON in --out without training")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "training_sweep.json"
    if args.replot:
        results = json.loads(json_path.read_text())
        lams = sorted({r["lam"] for r in results["runs"] if r["recipe"] == "sr"})
    else:
        lams = [float(v) for v in args.lams.split(",")]
        results = sweep(lams, args.epochs)
        _save_atomically(lambda tmp: Path(tmp).write_text(json.dumps(results, indent=2) + "\n"), json_path)
    plot_vs_lambda(results, out / "training_acc_vs_lambda.png")
    compression_lam = train.DEFAULT_LAM if train.DEFAULT_LAM in lams else max(lams)
    plot_vs_compression(results, out / "training_acc_vs_compression.png", compression_lam)
    print(f"wrote {json_path}, training_acc_vs_lambda.png, training_acc_vs_compression.png "
          f"in {out} ({results['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

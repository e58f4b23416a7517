"""Training with Structural Regularization (paper §5.1), the direct alternative (§6.4), and DDP.

Recipes
    ``sr`` (default, the paper's two steps)
        Step 1: train the original architecture with ``task loss + λ·SR loss`` (Eq. 3, from
        :func:`structhw.regularization.sr_loss`). Step 2: :func:`structhw.decompose.decompose`
        replaces every planned layer by a sum-pool and a small c×n×n layer (α = A⁺W).
    ``direct`` (``--direct``)
        Train the decomposed architecture itself (sum-pools + small layers), no SR term. Its
        initial α is A⁺W of the same seeded dense initialisation, so both recipes start from the
        same weights seen through the structure. One change to the schedule: each small layer's
        learning rate is divided by its sum-pool window volume (:func:`direct_param_groups`). A step
        of size η on α moves the equivalent dense kernel W = Aα by up to ``window``·η, so without
        it Adam at the dense learning rate (0.01) drives the digits model to chance accuracy.

A dense baseline is trained in the same run, with the same seed (same initial weights), the same
data order and the same schedule, so ``dense_acc`` is the number the structured model is judged by.

Schedule (the defaults, :class:`TrainConfig`)
    Adam, learning rate 0.01 with cosine decay to 0 over all steps, batch 64, 60 epochs. λ is
    constant, as in the paper. Because the SR term is a norm ratio (not squared), its gradient does
    not vanish as the residual shrinks; the decaying learning rate is what lets the residual
    settle near zero, so that the model before and after Step 2 is the same function (the
    residual is measured and written to ``metrics.json``; nothing projects the weights).

Determinism
    :func:`deterministic` seeds torch, enables ``torch.use_deterministic_algorithms`` and uses
    one intra-op thread while a model trains, so a run is bit-for-bit repeatable on the same machine and torch build.
    Not removed: a different CPU (instruction set) or torch build may pick different float kernels
    and give slightly different weights; a run under torchrun with N processes averages gradients
    with gloo and is not bit-identical to a single-process run (identical across its own ranks).

Distributed
    Under ``torchrun --nproc_per_node=K -m structhw.train …`` every rank joins a gloo process
    group, trains a ``DistributedDataParallel`` replica on its ``DistributedSampler`` shard (global
    batch ``batch_size`` split evenly), and only rank 0 writes files. Without torchrun the same code
    runs as one process (a sampler with one replica).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .distributed import process_group_from_env, world
from .errors import ConfigError, check_output_dir, path_argument

from .train_config import (
    CHECKPOINT_NAME, DEFAULT_BATCH_SIZE, DEFAULT_DATA, DEFAULT_EPOCHS, DEFAULT_LAM, DEFAULT_LR,
    DEFAULT_MODEL, DEFAULT_PRESET, DEFAULT_SEED, METRICS_NAME, TrainConfig,
)


def _non_finite(model: nn.Module) -> str | None:
    """The name of ``model``'s first floating tensor holding NaN or ∞, or None."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def _diverged(what: str, detail: str, options: str) -> ConfigError:
    return ConfigError(f"training diverged: {what} {detail}, so nothing was written; "
                       f"lower {options}")


@contextlib.contextmanager
def deterministic(seed: int):
    """Seed torch and, for the duration, use deterministic kernels and one intra-op thread (see the
    module docstring); the previous thread count and determinism setting are restored after."""
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)


@torch.no_grad()
def accuracy(model: nn.Module, dataset: Dataset, batch_size: int = 512) -> float:
    """Fraction of ``dataset`` (items ``(image, label)``) that ``model`` classifies correctly, run
    in eval mode without gradients; logits of any shape [B, classes, ...] are flattened per image."""
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            logits = model(x).reshape(len(y), -1)
            correct += int((logits.argmax(dim=1) == y).sum())
            total += int(y.numel())
    model.train(was_training)
    return correct / total


def fit(
    model: nn.Module,
    train_ds: Dataset,
    test_ds: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    regularizer: Callable[[nn.Module], torch.Tensor] | None = None,
    lam: float = 0.0,
    param_groups: list[dict] | None = None,
    desc: str = "train",
    progress: bool = True,
) -> list[dict]:
    """Train ``model`` in place: Adam, cosine-decayed learning rate, cross-entropy + λ·regularizer.

    Parameters
    ----------
    model
        The float model; trained in place (wrapped in ``DistributedDataParallel`` when a process
        group is initialised, whose gradients then average over ranks).
    train_ds, test_ds
        Items ``(image, label)``; test accuracy is measured after every epoch.
    epochs, lr, batch_size, seed
        ``batch_size`` is the global batch (each of W ranks takes ``batch_size / W``); ``seed``
        fixes the shuffling order (the same for every model trained with it).
    regularizer
        ``regularizer(model) -> 0-d tensor`` added to the loss with weight ``lam``; ``None``
        trains on the task loss alone.
    param_groups
        ``[{"params": [...], "lr_scale": s}, ...]`` covering every parameter: each group trains
        at ``lr·s``. ``None``: one group, scale 1.
    desc, progress
        Label and on/off of the tqdm bar (stderr, rank 0 only) showing loss, SR term, accuracy.

    Returns
    -------
    list of dict
        Per epoch: ``epoch``, ``loss`` (mean total loss), ``sr`` (regularizer at the epoch's end,
        0 without one), ``acc`` (test accuracy, fraction).
    """
    from tqdm import tqdm

    rank, world_size = world()
    sampler = DistributedSampler(
        train_ds, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
    )
    loader = DataLoader(train_ds, batch_size=batch_size // world_size, sampler=sampler)
    trainee = model
    if world_size > 1:
        trainee = nn.parallel.DistributedDataParallel(model)
    if param_groups is None:
        param_groups = [{"params": list(model.parameters()), "lr_scale": 1.0}]
    optimizer = torch.optim.Adam(
        [{"params": g["params"], "lr": lr * g["lr_scale"]} for g in param_groups], lr=lr
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
    history = []
    bar = tqdm(range(epochs), desc=desc, disable=not progress or rank != 0, file=sys.stderr, leave=True)
    model.train()
    for epoch in bar:
        sampler.set_epoch(epoch)
        mean_loss = _train_epoch(trainee, model, loader, optimizer, scheduler, regularizer, lam)
        with torch.no_grad():
            sr = float(regularizer(model)) if regularizer is not None else 0.0
        bad = _non_finite(model)
        if bad is not None:
            options = f"--lr ({lr:g})" + (f" or --lam ({lam:g})" if regularizer is not None and lam > 0 else "")
            raise _diverged(f"the {desc} model's weight {bad!r}", f"is NaN or infinite after epoch {epoch + 1}", options)
        record = {"epoch": epoch + 1, "loss": mean_loss, "sr": sr, "acc": accuracy(model, test_ds)}
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.4f}", sr=f"{sr:.2e}", acc=f"{record['acc']:.4f}")
    model.eval()
    return history


def _train_epoch(trainee, model, loader, optimizer, scheduler, regularizer, lam) -> float:
    """One pass over ``loader``: task loss of ``trainee`` (the model or its DDP wrapper) plus
    ``lam`` × ``regularizer(model)``, one optimizer and scheduler step per batch; returns the
    mean loss over the batches."""
    loss_sum, steps = 0.0, 0
    for x, y in loader:
        loss = F.cross_entropy(trainee(x), y)
        if regularizer is not None and lam > 0:
            loss = loss + lam * regularizer(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += float(loss.detach())
        steps += 1
    return loss_sum / steps


def direct_param_groups(decomposed: nn.Module) -> list[dict]:
    """Parameter groups for training a decomposed model directly: the small layer behind each
    sum-pool at ``lr_scale = 1 / window volume`` (channel window × spatial window²), every other
    parameter at scale 1."""
    scaled, seen = [], set()
    for module in decomposed.modules():
        pool = getattr(module, "sumpool", None)
        inner = getattr(module, "conv", None) or getattr(module, "linear", None)
        if pool is None or inner is None:
            continue
        volume = pool.channel_window * pool.spatial_window**2
        params = list(inner.parameters())
        seen.update(id(p) for p in params)
        scaled.append({"params": params, "lr_scale": 1.0 / volume})
    rest = [p for p in decomposed.parameters() if id(p) not in seen]
    return scaled + ([{"params": rest, "lr_scale": 1.0}] if rest else [])


def parameter_count(model: nn.Module) -> int:
    """Number of trainable scalars in ``model``."""
    return sum(p.numel() for p in model.parameters())


def state_digest(*models: nn.Module) -> str:
    """SHA-256 over the exact bytes of the models' state dicts (names and values, in order)."""
    h = hashlib.sha256()
    for model in models:
        for name, tensor in model.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def layer_residuals(model: nn.Module, plan: dict) -> dict[str, float]:
    """Per planned layer, ``‖(I − AA⁺)W‖_F / ‖W‖_F``: 0 for a perfectly structured layer."""
    from .regularization import sr_loss

    with torch.no_grad():
        return {name: float(sr_loss(model, {name: cn})) for name, cn in plan.items()}


@dataclass
class TrainResult:
    """What a run produced: the checkpoint dict, the metrics dict and the trained float models."""

    checkpoint: dict
    metrics: dict
    dense: nn.Module
    trained: nn.Module
    decomposed: nn.Module


def _schedule(config: TrainConfig) -> dict:
    return dict(epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, seed=config.seed)


def train_dense(config: TrainConfig, train_ds: Dataset, test_ds: Dataset, progress: bool = True) -> nn.Module:
    """The dense baseline of ``config``: seeded initialisation, task loss only; in eval mode."""
    from .zoo import build_model

    with deterministic(config.seed):
        dense = build_model(config.model)
        fit(dense, train_ds, test_ds, desc="dense", progress=progress, **_schedule(config))
    return dense


def train_structured(
    config: TrainConfig, plan: dict, train_ds: Dataset, test_ds: Dataset, progress: bool = True
) -> tuple[nn.Module, nn.Module, list[dict]]:
    """The structured model of ``config`` from the same seeded initialisation as the baseline.

    Returns ``(trained, decomposed, history)``: for recipe ``sr`` the SR-trained model (Step 1)
    and its decomposition (Step 2); for ``direct`` the directly trained decomposed model, twice.
    """
    from .decompose import decompose
    from .regularization import sr_loss
    from .zoo import build_model

    with deterministic(config.seed):
        trained = build_model(config.model)
        if config.direct:
            trained, _ = decompose(trained, plan, warn_threshold=math.inf)
            history = fit(
                trained, train_ds, test_ds, param_groups=direct_param_groups(trained),
                desc=f"direct {config.preset}", progress=progress, **_schedule(config),
            )
            return trained, trained, history
        history = fit(
            trained, train_ds, test_ds, regularizer=lambda m: sr_loss(m, plan), lam=config.lam,
            desc=f"SR {config.preset} λ={config.lam:g}", progress=progress, **_schedule(config),
        )
        decomposed, _ = decompose(trained, plan)
    return trained, decomposed.eval(), history


def run_training(config: TrainConfig, progress: bool = True) -> TrainResult:
    """Train the dense baseline and the structured model of ``config``; write nothing.

    For recipe ``sr``: Step 1 trains with λ·SR, Step 2 decomposes; ``trained`` is the SR-trained
    model before decomposition. For ``direct``: ``trained`` is the decomposed architecture trained
    directly, and is also ``decomposed``.
    """
    from .checkpoint import make_checkpoint, plan_to_config, state_to_plain

    rank, world_size = world()
    config.validate(world_size)
    from .datasets import training_sets
    train_ds, test_ds = training_sets(config.data)
    plan = config.plan()
    started = time.perf_counter()
    dense = train_dense(config, train_ds, test_ds, progress)
    trained, decomposed, history = train_structured(config, plan, train_ds, test_ds, progress)
    seconds = time.perf_counter() - started
    dense.eval(), trained.eval(), decomposed.eval()
    _check_finite(config, dense, trained, decomposed, history)

    metrics = {
        "model": config.model,
        "data": config.data,
        "preset": config.preset,
        "recipe": config.recipe,
        "lam": config.lam if not config.direct else 0.0,
        "epochs": config.epochs,
        "seed": config.seed,
        "lr": config.lr,
        "batch_size": config.batch_size,
        "world_size": world_size,
        "plan": plan_to_config(plan),
        "dense_acc": accuracy(dense, test_ds),
        "structured_acc": None if config.direct else accuracy(trained, test_ds),
        "decomposed_acc": accuracy(decomposed, test_ds),
        "dense_params": parameter_count(dense),
        "decomposed_params": parameter_count(decomposed),
        "sr_residual": None if config.direct else layer_residuals(trained, plan),
        "final_epoch": history[-1],
        "train_seconds": round(seconds, 2),
        "test_images": len(test_ds),
        "train_images": len(train_ds),
        "torch_version": torch.__version__,
    }
    ckpt_config = {
        "model": config.model,
        "preset": config.preset,
        "plan": plan_to_config(plan),
        "lam": float(metrics["lam"]),
        "epochs": config.epochs,
        "seed": config.seed,
        "recipe": config.recipe,
        "lr": float(config.lr),
        "batch_size": config.batch_size,
        "data": config.data,
    }
    checkpoint = make_checkpoint(ckpt_config, state_to_plain(dense), state_to_plain(trained))
    return TrainResult(checkpoint, metrics, dense, trained, decomposed)


def _check_finite(config: TrainConfig, dense, trained, decomposed, history) -> None:
    """The safety net after training: refuse weights, loss or SR term that are NaN or ∞ (however
    they got there) before anything is assembled or written."""
    options = f"--lam ({config.lam:g}) or --lr ({config.lr:g})"
    for what, model in (("dense baseline", dense), ("structured model", trained),
                        ("decomposed model", decomposed)):
        bad = _non_finite(model)
        if bad is not None:
            raise _diverged(f"the {what}'s weight {bad!r}", "is NaN or infinite", options)
    for record in history:
        for key in ("loss", "sr"):
            if not math.isfinite(record[key]):
                raise _diverged(f"the {key} of epoch {record['epoch']}",
                                f"is {record[key]} (NaN or infinite)", options)


def write_outputs(result: TrainResult, out_dir) -> tuple[Path, Path]:
    """Write ``checkpoint.pt`` and ``metrics.json`` into ``out_dir`` together
    (:func:`structhw.staging.staged_outputs`, metrics last): a failure leaves the folder as it
    was (or absent), never one new file beside an old one."""
    from .checkpoint import save_checkpoint
    from .jsonfile import write_json
    from .staging import staged_outputs

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} exists and is not a directory")
    with staged_outputs(out, last=(METRICS_NAME,)) as stage:
        save_checkpoint(result.checkpoint, stage.folder / CHECKPOINT_NAME)
        write_json(stage.folder / METRICS_NAME, result.metrics, sort_keys=True)
    return out / CHECKPOINT_NAME, out / METRICS_NAME


def default_out_dir(config: TrainConfig) -> Path:
    """``runs/<model>-<preset>-<recipe>`` under the current directory."""
    return Path("runs") / f"{config.model}-{config.preset}-{config.recipe}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``structhw train`` and ``python -m structhw.train``."""
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"zoo model (default {DEFAULT_MODEL})")
    parser.add_argument("--preset", default=DEFAULT_PRESET, help="compression preset A or B (default A)")
    parser.add_argument("--data", default=DEFAULT_DATA, metavar="DATA",
                        help="labelled images of the model's input shape: digits (1×8×8, "
                        "default), standin (generated 3×32×32 CIFAR-10 stand-in) or cifar10:DIR")
    parser.add_argument("--lam", type=float, default=DEFAULT_LAM, help=f"SR weight λ >= 0 (default {DEFAULT_LAM:g})")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help=f"epochs >= 1 (default {DEFAULT_EPOCHS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"Adam learning rate (default {DEFAULT_LR:g})")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
        help=f"global batch size (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument("--out", default=None, type=path_argument,
                        help="output folder (default runs/<model>-<preset>-<recipe>)")
    parser.add_argument("--direct", action="store_true", help="train the decomposed architecture directly (paper §6.4)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--digest-dir", default=None, help=argparse.SUPPRESS)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model=args.model, preset=args.preset, lam=args.lam, epochs=args.epochs, seed=args.seed,
        lr=args.lr, batch_size=args.batch_size, direct=args.direct, data=args.data,
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Validate, train, and (on rank 0) write the outputs; print the accuracies to stdout.

    Under torchrun (``structhw train`` or ``python -m structhw.train``) every rank joins the gloo
    process group first.
    """
    with process_group_from_env():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    rank, world_size = world()
    config = config_from_args(args)
    config.validate(world_size)
    out = check_output_dir(args.out if args.out is not None else default_out_dir(config))
    result = run_training(config, progress=not args.no_progress)
    if args.digest_dir:
        Path(args.digest_dir, f"rank{rank}.sha256").write_text(
            state_digest(result.dense, result.trained) + "\n"
        )
    if rank == 0:
        ckpt_path, metrics_path = write_outputs(result, out)
        m = result.metrics
        structured = "n/a" if m["structured_acc"] is None else f"{m['structured_acc']:.4f}"
        print(
            f"{m['recipe']} {m['model']} preset {m['preset']} λ={m['lam']:g}: "
            f"dense_acc={m['dense_acc']:.4f} structured_acc={structured} "
            f"decomposed_acc={m['decomposed_acc']:.4f} "
            f"params {m['dense_params']}→{m['decomposed_params']} "
            f"({m['train_seconds']:.1f} s, {world_size} process(es))"
        )
        print(f"wrote {ckpt_path} and {metrics_path}")
    return 0


def main(argv=None) -> int:
    """``python -m structhw.train`` (alone or under torchrun): the same options as ``structhw train``."""
    parser = argparse.ArgumentParser(prog="python -m structhw.train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except ConfigError as exc:
        print(f"structhw train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The hardware plan of a chain network (``plan.json`` version 1, ``docs/plan-format.md``): the
types the compiler fills and every stage downstream reads — :class:`HardwarePlan`,
:class:`StagePlan` — and their JSON form, written atomically and read back with every field
checked (:func:`load_plan`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from structhw.rtl_gen.dsp import DSP_PRIMITIVES
from structhw.rtl_gen.params import EngineParams

from . import golden
from .budget import Budget
from .errors import ConfigError
from .jsonfile import read_json
from .plan_fields import (PLAN_FORMAT, check_derived, check_header, check_network_digest,
                          check_within_budget, dense_and_target, nonnegative_resources)
from .qnet import QuantNet
from .resources import Resources

PLAN_VERSION = 1
MIN_FIFO_DEPTH = 3
MAX_FIFO_DEPTH = 64


# ----- the plan -------------------------------------------------------------------------------
@dataclass(frozen=True)
class StagePlan:
    """One pipeline stage: the engine for ``qnet.layers[index]``.

    Attributes
    ----------
    index : int
        Position of the layer in the network.
    layer : str
        The layer's name.
    params : EngineParams
        Lanes P, multipliers per lane T and sum-pool microarchitecture of the engine.
    cycles : int
        Engine cycles per image in steady state.
    cost : Resources
        Estimated resources of the engine (without FIFO and Flatten).
    flatten_before : bool
        True when a Flatten turns the previous C×H×W map (H·W > 1) into one beat for this layer.
    fifo_depth : int
        Depth (beats) of the FIFO after this stage; 0 for the last stage (no FIFO).
    """

    index: int
    layer: str
    params: object
    cycles: int
    cost: Resources
    flatten_before: bool
    fifo_depth: int

    def to_json(self) -> dict:
        return {
            "index": self.index, "layer": self.layer,
            "params": {"lanes": self.params.lanes, "mults": self.params.mults,
                       "sumpool": self.params.sumpool},
            "cycles_per_image": self.cycles, "cost": self.cost.to_json(),
            "flatten_before": self.flatten_before, "fifo_depth": self.fifo_depth,
        }

    def summary(self) -> dict:
        """This engine as one row of a plan summary: layer name, op, lanes, multipliers per
        lane, sum-pool arch, cycles per image, estimated DSPs."""
        return {"layer": self.layer, "op": "engine", "lanes": self.params.lanes,
                "mults": self.params.mults, "sumpool": self.params.sumpool,
                "cycles": int(self.cycles), "dsp": self.cost.dsp}


@dataclass(eq=False)
class HardwarePlan:
    """Everything the hardware generator, simulator and board flow need, decided once.

    Attributes
    ----------
    qnet : QuantNet
        The quantized network, embedded whole (weight images α, bias, M, S of every layer).
    budget : Budget
        The resources the plan was fitted into.
    target : str or None
        Board or device name the budget came from (information only).
    dense : bool
        True for the dense baseline (every layer has c = C/groups, n = N: no sum-pool).
    stages : list of StagePlan
        One per layer, in order.
    overhead : Resources
        Estimated resources outside the engines: FIFOs and Flatten components.
    """

    qnet: QuantNet
    budget: Budget
    stages: list
    overhead: Resources
    dense: bool = False
    target: str | None = None
    qnet_sha256: str = field(default="")

    def __post_init__(self):
        if not self.qnet_sha256:
            self.qnet_sha256 = qnet_digest(self.qnet)

    # ----- what the accelerator computes -----------------------------------------------------
    @property
    def input_shape(self) -> tuple:
        """(C, H, W) of one input image."""
        return self.qnet.input_shape

    @property
    def num_classes(self) -> int:
        """Logits per image (one output beat)."""
        return self.qnet.num_classes

    def golden_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The golden int8 logits [B, classes] the accelerator must give for int8 x [B, C, H, W]."""
        return golden.logits(self.qnet, x)

    @property
    def units(self) -> list:
        """The plan's hardware units in order (its stages), each with ``params`` and
        ``summary()``."""
        return self.stages

    def with_units(self, units: list) -> "HardwarePlan":
        """This plan with its stages replaced by ``units``."""
        return dataclasses.replace(self, stages=list(units))

    # ----- predictions --------------------------------------------------------------------
    @property
    def bottleneck(self) -> StagePlan:
        """The slowest stage (the first of equals)."""
        return max(self.stages, key=lambda s: s.cycles)

    @property
    def cycles_per_image(self) -> int:
        """Predicted cycles between consecutive images in steady state: the bottleneck's cycles."""
        return self.bottleneck.cycles

    @property
    def throughput(self) -> float:
        """Upper bound on throughput, images per cycle (1 / cycles_per_image)."""
        return 1.0 / self.cycles_per_image

    @property
    def latency_cycles(self) -> int:
        """Upper bound on the cycles from an image's first pixel in to its logits out, pipeline
        empty: every stage's full per-image time, plus two cycles per FIFO and one per Flatten."""
        return sum(s.cycles + (2 if s.fifo_depth else 0) + (1 if s.flatten_before else 0)
                   for s in self.stages)

    @property
    def totals(self) -> Resources:
        """Estimated resources of the whole accelerator."""
        total = self.overhead
        for s in self.stages:
            total = total + s.cost
        return total

    def engine_params(self) -> list:
        """The :class:`EngineParams` of every layer, in order."""
        return [s.params for s in self.stages]

    # ----- serialisation ------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": PLAN_FORMAT, "version": PLAN_VERSION,
            "target": self.target, "dense": self.dense,
            "budget": self.budget.to_json(),
            "prediction": {
                "cycles_per_image": self.cycles_per_image,
                "throughput_images_per_cycle": self.throughput,
                "latency_cycles": self.latency_cycles,
                "bottleneck": self.bottleneck.layer,
            },
            "totals": self.totals.to_json(),
            "overhead": self.overhead.to_json(),
            "stages": [s.to_json() for s in self.stages],
            "qnet_sha256": self.qnet_sha256,
            "qnet": self.qnet.to_json(),
        }

    def save(self, path, extra: dict | None = None) -> Path:
        """Write the plan as JSON to ``path`` atomically (temporary file, then rename), with the
        top-level fields of ``extra`` (e.g. ``verilog_sha256``) before ``qnet_sha256``."""
        return save_plan_json(self.to_json(), path, extra=extra)


def save_plan_json(obj: dict, path, rows: tuple = ("stages",), extra: dict | None = None) -> Path:
    """Write a plan's JSON object to ``path`` atomically, one top-level key per line and one
    entry per line for the lists named in ``rows`` (the weights compact); the fields of
    ``extra`` are inserted before ``qnet_sha256``."""
    if extra:
        head = {k: v for k, v in obj.items() if k not in ("qnet_sha256", "qnet")}
        obj = {**head, **extra, **{k: obj[k] for k in ("qnet_sha256", "qnet") if k in obj}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as f:
            f.write(_layout_json(obj, rows))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def _layout_json(obj: dict, rows: tuple) -> str:
    def compact(v):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)

    lines = []
    for key, value in obj.items():
        if key in rows:
            body = ",\n  ".join(compact(s) for s in value)
            lines.append(f" {compact(key)}: [\n  {body}\n ]")
        else:
            lines.append(f" {compact(key)}: {compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def qnet_digest(qnet: QuantNet) -> str:
    """SHA-256 (hex) of the quantized network's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(qnet.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _int(v, what: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ConfigError(f"{what} must be an integer, got {v!r}")
    return v


def _dsp_primitive(value):
    if value is not None and value not in DSP_PRIMITIVES:
        raise ConfigError(f"plan budget.dsp_primitive must be one of {DSP_PRIMITIVES} or null, "
                          f"got {value!r}")
    return value


MAX_BUDGET = 10**7
"""Largest count any budget resource may have in a plan (the largest ECP5 has 83,640 LUT4s and 208
EBRs; this leaves room for any FPGA while refusing absurd values)."""
BUDGET_RANGES = {"lut4": (0, MAX_BUDGET), "ff": (0, MAX_BUDGET), "dsp": (0, MAX_BUDGET),
                 "ebr": (0, MAX_BUDGET), "ebr_bits": (1, 1 << 20), "dsp_width": (2, 64)}
"""Allowed ``[low, high]`` of each integer budget field of a plan."""


def budget_from_json(b) -> Budget:
    """The plan's budget, every count an integer within :data:`BUDGET_RANGES`."""
    if not isinstance(b, dict):
        raise ConfigError("plan 'budget' must be an object")
    fields = {}
    for key, (low, high) in BUDGET_RANGES.items():
        if key not in b:
            raise ConfigError(f"plan budget lacks {key!r}")
        value = _int(b[key], f"budget.{key}")
        if not low <= value <= high:
            raise ConfigError(f"plan budget.{key} must be between {low} and {high}, got {value}")
        fields[key] = value
    return Budget(**fields, dsp_primitive=_dsp_primitive(b.get("dsp_primitive")))


def _check_fifo_depth(depth: int, what: str, last: bool) -> None:
    """0 after the last stage; MIN_FIFO_DEPTH..MAX_FIFO_DEPTH (what the compiler derives) elsewhere."""
    if last:
        if depth != 0:
            raise ConfigError(f"{what}: fifo_depth must be 0 for the last stage, got {depth}")
    elif not MIN_FIFO_DEPTH <= depth <= MAX_FIFO_DEPTH:
        raise ConfigError(f"{what}: fifo_depth must be between {MIN_FIFO_DEPTH} and "
                          f"{MAX_FIFO_DEPTH}, got {depth}")


def _stage_from_json(s, i: int, qnet: QuantNet) -> StagePlan:
    """Stage ``i`` of the plan, checked against layer ``i`` of its network."""
    what, layer = f"stage {i}", qnet.layers[i]
    if not isinstance(s, dict):
        raise ConfigError(f"{what}: expected an object")
    try:
        p = s["params"]
        params = EngineParams(lanes=p["lanes"], mults=p["mults"], sumpool=p["sumpool"])
        if s["layer"] != layer.name or s["index"] != i:
            raise ConfigError(f"{what}: names layer {s['layer']!r} at index {s['index']!r}, "
                              f"but layer {i} is {layer.name!r}")
        params.check(layer)
        if not isinstance(s["flatten_before"], bool):
            raise ConfigError(f"{what}: flatten_before must be true or false")
        expect_flatten = needs_flatten(qnet, i)
        if s["flatten_before"] != expect_flatten:
            raise ConfigError(f"{what}: flatten_before must be {str(expect_flatten).lower()} "
                              f"for layer {layer.name!r}")
        depth = _int(s["fifo_depth"], f"{what}.fifo_depth")
        _check_fifo_depth(depth, what, i == len(qnet.layers) - 1)
        cycles = _int(s["cycles_per_image"], f"{what}.cycles_per_image")
        if cycles < 1:
            raise ConfigError(f"{what}: cycles_per_image must be ≥ 1, got {cycles}")
        cost = nonnegative_resources(s["cost"], f"{what}.cost")
        return StagePlan(index=i, layer=layer.name, params=params, cycles=cycles, cost=cost,
                         flatten_before=s["flatten_before"], fifo_depth=depth)
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{what}: missing or malformed field ({exc})") from None


def plan_from_json(obj) -> HardwarePlan:
    """Rebuild a :class:`HardwarePlan` from its JSON object, validating every field: the embedded
    network must match its recorded hash, every stage's parameters must fit its layer, FIFO
    depths and budget counts must be in range and the totals within the budget."""
    check_header(obj, PLAN_VERSION, ("budget", "stages", "qnet", "qnet_sha256", "overhead"))
    qnet = QuantNet.from_json(obj["qnet"])
    digest = qnet_digest(qnet)
    check_network_digest(digest, obj["qnet_sha256"])
    budget = budget_from_json(obj["budget"])
    stages_json = obj["stages"]
    if not isinstance(stages_json, list) or len(stages_json) != len(qnet.layers):
        raise ConfigError(f"plan needs one stage per layer ({len(qnet.layers)})")
    stages = [_stage_from_json(s, i, qnet) for i, s in enumerate(stages_json)]
    dense, target = dense_and_target(obj)
    if dense and not all(layer.is_dense for layer in qnet.layers):
        raise ConfigError("plan says dense but its network has structured layers")
    plan = HardwarePlan(qnet=qnet, budget=budget, stages=stages,
                        overhead=nonnegative_resources(obj["overhead"], "overhead"),
                        dense=dense, target=target, qnet_sha256=digest)
    check_within_budget(plan)
    check_derived(obj, plan)
    return plan


def load_plan(path) -> HardwarePlan:
    """Read a ``plan.json``; anything malformed is a :class:`ConfigError` naming the file."""
    obj = read_json(path)
    try:
        return plan_from_json(obj)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def needs_flatten(qnet: QuantNet, index: int) -> bool:
    """True when layer ``index`` is linear and its input arrives as H·W > 1 pixel beats."""
    layer = qnet.layers[index]
    if layer.kind != "linear":
        return False
    if index == 0:
        return qnet.input_height * qnet.input_width > 1
    prev = qnet.layers[index - 1]
    return prev.out_height * prev.out_width > 1

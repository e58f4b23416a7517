"""The hardware plan of a chain network (``plan.json`` version 1, ``docs/plan-format.md``): the
types the compiler fills and every stage downstream reads — :class:`HardwarePlan`,
:class:`StagePlan` — and their JSON form, written atomically and read back with every field
checked (:func:`load_plan`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
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
    from .atomic_file import atomic_open

    path = Path(path)
    with atomic_open(path, "w") as f:
        f.write(_layout_json(obj, rows))
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


MAX_CYCLES = 1 << 53
"""Largest cycle count (per image, latency) a plan may record: integers up to this convert to a
float (throughput, JSON readers) exactly."""


def check_version(obj, version: int) -> None:
    """``obj['version']`` (when ``obj`` is an object) is the integer ``version``, not ``true`` or
    ``2.0``, which equal it in Python."""
    if isinstance(obj, dict) and "version" in obj and type(obj["version"]) is not int:
        raise ConfigError(f"unsupported {PLAN_FORMAT} version {obj['version']!r}; this reader "
                          f"takes version {version} (an integer)")


def check_count(value, what: str, low: int = 0, high: int = MAX_CYCLES) -> int:
    """``value`` when it is an integer (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be an integer, got {repr(value)[:40]}")
    if value < low:
        raise ConfigError(f"{what} must be ≥ {low}, got {value}")
    if value > high:
        shown = f"an integer of {len(str(value))} digits" if value > 10**30 else str(value)
        raise ConfigError(f"{what} must be ≤ {high} (an integer between {low} and {high}), "
                          f"got {shown}")
    return value


CUSTOM_TARGET = "custom budget"
"""The target ``structhw compile --budget`` records (:func:`structhw.commands.compile.resolve_budget`)."""


def check_target_budget(budget: Budget, target) -> None:
    """The plan's ``target`` and ``budget`` agree: a registered board's canonical name with a
    budget within that board's FPGA (its block-RAM size, multiplier width and cell exactly,
    every count at most the board's: report and search plan under fewer DSPs); the target
    ``--budget`` records with its ECP5 block and multiplier sizes; or none (a plan made in
    Python) with the block and multiplier sizes of some registered FPGA."""
    from structhw.boards.registry import BOARDS
    from structhw.budget import Budget as _Budget

    kind = (budget.ebr_bits, budget.dsp_width, budget.dsp_primitive)
    if target is None:
        kinds = {(b.budget.ebr_bits, b.budget.dsp_width, p) for b in BOARDS.values()
                 for p in (b.budget.dsp_primitive, None)}
        if kind not in kinds:
            raise ConfigError(f"plan budget (ebr_bits={budget.ebr_bits}, dsp_width="
                              f"{budget.dsp_width}, dsp_primitive={budget.dsp_primitive!r}) is "
                              f"not the block RAM and multiplier of any registered FPGA")
        return
    if target == CUSTOM_TARGET:
        plain = _Budget(lut4=1, ff=1, dsp=1, ebr=1)
        if kind != (plain.ebr_bits, plain.dsp_width, plain.dsp_primitive):
            raise ConfigError(f"plan budget (ebr_bits={budget.ebr_bits}, dsp_width="
                              f"{budget.dsp_width}, dsp_primitive={budget.dsp_primitive!r}) is "
                              f"not what structhw compile --budget plans with ({plain.ebr_bits}, "
                              f"{plain.dsp_width}, {plain.dsp_primitive!r})")
        return
    board = BOARDS.get(target)
    if board is None:
        raise ConfigError(f"plan 'target' must be a registered board ({', '.join(BOARDS)}), "
                          f"{CUSTOM_TARGET!r} or null, got {target[:40]!r}")
    have = board.budget
    if kind != (have.ebr_bits, have.dsp_width, have.dsp_primitive):
        raise ConfigError(f"plan budget (ebr_bits={budget.ebr_bits}, dsp_width="
                          f"{budget.dsp_width}, dsp_primitive={budget.dsp_primitive!r}) is not "
                          f"that of its target {target} ({have.ebr_bits}, {have.dsp_width}, "
                          f"{have.dsp_primitive!r})")
    for key in ("lut4", "ff", "dsp", "ebr"):
        if getattr(budget, key) > getattr(have, key):
            raise ConfigError(f"plan budget.{key}={getattr(budget, key)} exceeds its target "
                              f"{target}'s {getattr(have, key)}")


def check_rederived(what: str, recorded: dict, derived: dict) -> None:
    """Each field of ``recorded`` equals the compiler's own model's value in ``derived``
    (``{field: value}``, Resources compared as JSON); a mismatch names the field."""
    for key, want in derived.items():
        got = recorded[key]
        if hasattr(want, "to_json"):
            got, want = got.to_json(), want.to_json()
        if got != want:
            raise ConfigError(f"{what}: {key} is {json.dumps(got)[:80]}, but the compiler's "
                              f"models give {json.dumps(want)[:80]} for its layer and params: "
                              f"the file was edited")


def _rederive_chain(plan: "HardwarePlan") -> None:
    """Every stage's params, cycles and cost, the FIFO depths and the overhead of a version-1
    plan as :func:`structhw.compiler.compile_plan` derives them (same models, same code)."""
    from structhw.rtl_gen.nodes import ConvNode

    from .compiler import HardwareModel, _overhead, fifo_depth_after
    from .graph.quant_graph import QuantGraph

    qnet, model = plan.qnet, HardwareModel()
    ops = QuantGraph.from_qnet(qnet).nodes
    last = len(qnet.layers) - 1
    for i, (stage, op) in enumerate(zip(plan.stages, ops)):
        what = f"stage {i}"
        choice = ConvNode(op, model).evaluate((stage.params.lanes, stage.params.mults))
        if choice.params != stage.params:
            raise ConfigError(f"{what}: sumpool is {stage.params.sumpool!r}, but the compiler "
                              f"plans {choice.params.sumpool!r} for layer {stage.layer!r}")
        depth = 0 if i == last else fifo_depth_after(qnet.layers[i], qnet.layers[i + 1],
                                                     needs_flatten(qnet, i + 1))
        check_rederived(what, {"cycles_per_image": stage.cycles, "cost": stage.cost,
                               "fifo_depth": stage.fifo_depth},
                        {"cycles_per_image": choice.cycles, "cost": choice.cost,
                         "fifo_depth": depth})
    check_rederived("plan", {"overhead": plan.overhead},
                    {"overhead": _overhead(qnet, [s.fifo_depth for s in plan.stages])})


def _stage_from_json(s, i: int, qnet: QuantNet) -> StagePlan:
    """Stage ``i`` of the plan, checked against layer ``i`` of its network."""
    what, layer = f"stage {i}", qnet.layers[i]
    if not isinstance(s, dict):
        raise ConfigError(f"{what}: expected an object")
    try:
        p = s["params"]
        params = EngineParams(lanes=p["lanes"], mults=p["mults"], sumpool=p["sumpool"])
        if s["layer"] != layer.name or type(s["index"]) is not int or s["index"] != i:
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
        cycles = check_count(s["cycles_per_image"], f"{what}.cycles_per_image", low=1)
        cost = nonnegative_resources(s["cost"], f"{what}.cost")
        return StagePlan(index=i, layer=layer.name, params=params, cycles=cycles, cost=cost,
                         flatten_before=s["flatten_before"], fifo_depth=depth)
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{what}: missing or malformed field ({exc})") from None


def plan_from_json(obj) -> HardwarePlan:
    """Rebuild a :class:`HardwarePlan` from its JSON object, validating every field: the embedded
    network must match its recorded hash, every stage's parameters must fit its layer, FIFO
    depths and budget counts must be in range and the totals within the budget."""
    check_version(obj, PLAN_VERSION)
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
    check_target_budget(budget, target)
    if dense and not all(layer.is_dense for layer in qnet.layers):
        raise ConfigError("plan says dense but its network has structured layers")
    plan = HardwarePlan(qnet=qnet, budget=budget, stages=stages,
                        overhead=nonnegative_resources(obj["overhead"], "overhead"),
                        dense=dense, target=target, qnet_sha256=digest)
    check_within_budget(plan)
    _rederive_chain(plan)
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

"""``structhw sim``: prove the generated RTL bit-exact against the golden model in a simulator.

``structhw sim [MODEL] [--images N] [--bench native|cocotb] [--simulator verilator|icarus]
[--waves] [--seed S] [--json]`` compiles MODEL (default: the shipped demo) under the board's
budget, simulates the whole-network accelerator on N test images (default: the whole test split)
under random idle cycles and backpressure, and prints mismatching logits (must be 0; else the
first mismatching image and logit), the hardware accuracy, measured vs predicted cycles per image
and the simulation speed; ``--json`` prints them as one JSON object instead. Exit code 1 on any
mismatch. The default bench is native (:mod:`structhw.sim.native`: Verilator with a C++
testbench); ``--bench cocotb`` runs the cocotb bench (the only one for Icarus).

``structhw sim --random-layer C,N,c,n,Cout,H,W,stride,pad --seed S --dump out.npz`` sends one
random int8 image through the RTL of a random quantized layer (dilation 1, zero padding) and
writes ``x, alpha, bias, M, S, relu, y_hw, y_ref`` to the npz, so anyone can check the RTL
against their own reading of the paper's math.

MODEL may also be a ``structhw compile`` output folder (or its plan.json): its plan is simulated
as it is, from the folder's own Verilog files, after they and plan.json have been checked against
each other (:func:`structhw.compiled.open_compiled`); a mismatch is refused before anything runs.
A folder compiled with ``--no-verilog`` is simulated from Verilog generated for its plan.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..compiled import is_compiled
from ..errors import ConfigError, check_output_dir, path_argument
from ..sim.runner import CACHE_ENV, default_build_root
from .model_args import (MODEL_HELP, add_model_arguments, is_file_model, is_graph_file,
                         model_source, refuse_model_options)
from .sim_dump import check_dump_path, dump_arrays, float_model

RANDOM_LAYER_FIELDS = ("C", "N", "c", "n", "Cout", "H", "W", "stride", "pad")
BENCHES = ("native", "cocotb")
DEFAULT_LANES = 4
DEFAULT_MULTS = 4


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="simulate the generated RTL (cocotb + Verilator) and compare it with the golden model",
        description="Compile MODEL, simulate its accelerator on test images under random stalls "
        "and compare every logit with the golden integer model; or, with --random-layer, run one "
        "random quantized layer through its RTL and dump inputs, weights and both outputs.",
    )
    add_model_arguments(parser, MODEL_HELP + "; a graph network (residual adds, pooling, "
                        "shortcuts) runs in the native bench, on the --data test images")
    parser.add_argument("--board", default=None, help="board whose budget the compiler plans for "
                        "(default ulx3s-85f)")
    parser.add_argument("--images", type=int, default=None, metavar="N",
                        help="test images to simulate (default: the whole test split)")
    parser.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"))
    parser.add_argument("--bench", default=None, choices=BENCHES,
                        help="network testbench: native (Verilator + C++, default with "
                        "Verilator) or cocotb (default with Icarus)")
    parser.add_argument("--json", action="store_true",
                        help="network: print the results as one JSON object")
    parser.add_argument("--x-initial", default="zero", choices=("zero", "unique"),
                        help="native bench: start memories without an initial value at zero "
                        "or at random values drawn from --seed (default zero)")
    parser.add_argument("--reset-at", type=int, default=None, metavar="CYCLE",
                        help="native bench: pulse the reset at this cycle of the random-stall "
                        "phase; unfinished images are sent again")
    parser.add_argument("--waves", action="store_true",
                        help="record a waveform (VCD for Verilator, FST for Icarus)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random stalls and layer")
    parser.add_argument("--idle", type=float, default=0.25, metavar="P",
                        help="probability of an idle input cycle (default 0.25)")
    parser.add_argument("--stall", type=float, default=0.25, metavar="P",
                        help="probability of a cycle of output backpressure (default 0.25)")
    parser.add_argument("--random-layer", default=None, metavar=",".join(RANDOM_LAYER_FIELDS),
                        help="simulate one random quantized layer instead of a model")
    parser.add_argument("--lanes", type=int, default=None, metavar="P",
                        help=f"random layer: output lanes (default min({DEFAULT_LANES}, Cout))")
    parser.add_argument("--mults", type=int, default=None, metavar="T",
                        help=f"random layer: multipliers per lane (default min({DEFAULT_MULTS}, c·n²))")
    parser.add_argument("--no-relu", action="store_true", help="random layer: no fused ReLU")
    parser.add_argument("--dump", type=path_argument, default=None, metavar="OUT.npz",
                        help="random layer: write x, alpha, bias, M, S, relu, y_hw, y_ref here; "
                             "a network: x, logits_hw, logits_golden, logits_float, "
                             "logit_scale, input_scale")
    parser.add_argument("--work", type=path_argument, default=None, metavar="DIR",
                        help="keep Verilog, stimulus, logs and waves in DIR (default: a cache folder)")
    parser.set_defaults(func=run)


def parse_random_layer(text: str) -> dict:
    """``"C,N,c,n,Cout,H,W,stride,pad"`` → dict of the nine integers (ConfigError otherwise)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != len(RANDOM_LAYER_FIELDS):
        raise ConfigError(f"--random-layer needs {len(RANDOM_LAYER_FIELDS)} comma-separated integers "
                          f"{','.join(RANDOM_LAYER_FIELDS)}, got {text!r}")
    values = {}
    for name, part in zip(RANDOM_LAYER_FIELDS, parts):
        try:
            values[name] = int(part)
        except ValueError:
            raise ConfigError(f"--random-layer: {name} must be an integer, got {part!r}") from None
    return values


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"--{name} must be a probability in [0, 1), got {value}")


def write_npz(path: Path, arrays: dict) -> Path:
    """Write ``arrays`` to ``path`` atomically (no ``.npz`` is appended to the name)."""
    from ..atomic_file import atomic_open

    path = Path(path)
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def run_random_layer(args) -> int:
    from structhw.rtl_gen.params import EngineParams
    from structhw.rtl_gen.random_layer import random_quant_layer
    from structhw.sim.layer import random_inputs, simulate_layers
    from structhw.sim.runner import require_simulator

    from ..size_limits import check_layer_size

    if args.model is not None:
        raise ConfigError("--random-layer simulates a random layer: give no MODEL with it")
    if args.images is not None:
        raise ConfigError("--images applies to a model; --random-layer sends one image")
    if args.dump is not None:
        check_dump_path(args.dump)
    g = parse_random_layer(args.random_layer)
    check_layer_size("--random-layer", **g)
    for flag in ("lanes", "mults"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ConfigError(f"--{flag} must be ≥ 1, got {getattr(args, flag)}")
    layer = random_quant_layer(g["C"], g["N"], g["c"], g["n"], g["Cout"], g["H"], g["W"],
                               g["stride"], g["pad"], seed=args.seed, relu=not args.no_relu,
                               name="random_layer")
    sumpool = None
    if not layer.is_dense:
        from structhw.rtl_gen.sumpool import choose_sumpool_arch
        sumpool = choose_sumpool_arch(layer)
    params = EngineParams(lanes=args.lanes if args.lanes is not None
                          else min(DEFAULT_LANES, layer.out_channels),
                          mults=args.mults if args.mults is not None
                          else min(DEFAULT_MULTS, layer.mults_per_output),
                          sumpool=sumpool)
    params.check(layer)
    require_simulator(args.simulator)
    x = random_inputs(layer, 1, args.seed)
    with tqdm(total=1, desc="sim random layer", unit="run", file=sys.stderr, leave=False,
              disable=None) as bar:
        result, = simulate_layers([(layer, params)], [x], seed=args.seed, idle=args.idle,
                                  stall=args.stall, simulator=args.simulator, waves=args.waves,
                                  work_dir=args.work, check=False)
        bar.update()
    shape = "×".join(map(str, result.y_ref.shape[1:]))
    print(f"random layer C,N,c,n,Cout,H,W,stride,pad = {args.random_layer} (seed {args.seed}), "
          f"engine P={params.lanes} T={params.mults} sumpool={params.sumpool or '-'}")
    print(f"output {shape}: {result.mismatches} mismatching elements of {result.y_ref.size} "
          f"(y_hw {'==' if result.mismatches == 0 else '!='} y_ref)")
    for note in result.notes:
        print(f"  {note}", file=sys.stderr)
    if result.waves is not None:
        print(f"waves: {result.waves}")
    if args.dump is not None:
        path = write_npz(args.dump, {
            "x": x[0].astype(np.int8), "alpha": layer.alpha.astype(np.int8),
            "bias": layer.bias.astype(np.int32), "M": layer.multiplier.astype(np.int64),
            "S": layer.shift.astype(np.int64), "relu": np.bool_(layer.relu),
            "y_hw": result.y_hw[0].astype(np.int8), "y_ref": result.y_ref[0].astype(np.int8)})
        print(f"wrote {path}")
    return 0 if result.mismatches == 0 else 1


def format_network_report(result, model_name: str, target: str, simulator: str) -> str:
    """The summary lines ``structhw sim`` prints for a network run."""
    lines = [f"{model_name} on {target}: {result.images} test images in {simulator} "
             f"({result.bench} bench)"]
    total = result.logits_ref.size
    lines.append(f"mismatching logits: {result.mismatches} of {total}"
                 + ("" if result.mismatches == 0 else "  ← RTL differs from the golden model"))
    first = result.first_mismatch
    if first is not None:
        image, logit, got, want = first
        lines.append(f"first mismatch: image {image} logit {logit}: RTL {got}, golden {want}")
    if result.accuracy_hw is not None:
        lines.append(f"hardware accuracy: {100 * result.accuracy_hw:.2f}% "
                     f"(golden model {100 * result.accuracy_ref:.2f}%)")
    if result.cycles_per_image is not None:
        dev = 100.0 * (result.cycles_per_image - result.predicted_cycles) / result.predicted_cycles
        lines.append(f"cycles per image: measured {result.cycles_per_image:.1f}, predicted "
                     f"{result.predicted_cycles} ({dev:+.1f}%); first-image latency "
                     f"{result.latency_cycles} cycles")
    lines.append(f"simulation: {result.sim_cycles} cycles in {result.sim_seconds:.2f} s = "
                 f"{result.cycles_per_second:,.0f} cycles/s, {result.images_per_second:.1f} images/s "
                 f"(simulator process {result.run_seconds:.1f} s)")
    build = "cached" if result.build_seconds == 0 else f"{result.build_seconds:.1f} s"
    lines.append(f"{simulator} build: {build}; total wall time {result.total_seconds:.1f} s")
    if result.waves is not None:
        lines.append(f"waves: {result.waves}")
    return "\n".join(lines)


def network_json(result, model_name: str, target: str, simulator: str) -> dict:
    """The object ``structhw sim --json`` prints (counts, cycles, seconds)."""
    first = result.first_mismatch
    return {
        "model": model_name, "target": target, "bench": result.bench, "simulator": simulator,
        "images": result.images, "logits": int(result.logits_ref.size),
        "mismatches": result.mismatches,
        "first_mismatch": (None if first is None
                           else dict(zip(("image", "logit", "got", "expected"), first))),
        "notes": list(result.notes), "accuracy_hw": result.accuracy_hw,
        "accuracy_golden": result.accuracy_ref,
        "cycles_per_image_measured": result.cycles_per_image,
        "cycles_per_image_predicted": result.predicted_cycles,
        "latency_cycles": result.latency_cycles, "sim_cycles": result.sim_cycles,
        "sim_s": result.sim_seconds, "cycles_per_s": result.cycles_per_second,
        "images_per_s": result.images_per_second, "build_s": result.build_seconds,
        "run_s": result.run_seconds, "total_s": result.total_seconds,
        "resets": result.resets, "waves": None if result.waves is None else str(result.waves),
    }


def resolve_bench(args) -> str:
    """The network bench of ``args`` (``--bench``, else native with Verilator, cocotb with
    Icarus); ConfigError for native options the chosen bench cannot honour."""
    bench = args.bench or ("native" if args.simulator == "verilator" else "cocotb")
    if bench == "native" and args.simulator != "verilator":
        raise ConfigError(f"--bench native is built with Verilator: use --bench cocotb with "
                          f"--simulator {args.simulator}")
    if bench != "native":
        if args.x_initial != "zero":
            raise ConfigError("--x-initial applies to the native bench (--bench native)")
        if args.reset_at is not None:
            raise ConfigError("--reset-at applies to the native bench (--bench native)")
    if args.reset_at is not None and args.reset_at < 1:
        raise ConfigError(f"--reset-at must be a cycle ≥ 1, got {args.reset_at}")
    return bench


def _simulate(plan, images, labels, args, bench: str, sources=()):
    """Simulate ``plan``'s accelerator on ``images`` in ``bench``, from the Verilog ``sources``
    when given (a compile folder's own files), else from Verilog generated for the plan."""
    if bench == "native":
        from structhw.sim.native import simulate_network_native
        return simulate_network_native(
            plan, images, labels, seed=args.seed, idle=args.idle, stall=args.stall,
            waves=args.waves, work_dir=args.work, reset_at=args.reset_at,
            x_seed=args.seed if args.x_initial == "unique" else None, sources=sources)
    from structhw.sim.network import simulate_network
    return simulate_network(plan, images, labels, seed=args.seed, idle=args.idle,
                            stall=args.stall, simulator=args.simulator, waves=args.waves,
                            work_dir=args.work, sources=sources)


def check_images_in_split(images, data: str) -> None:
    """Refuse an ``--images`` beyond the test split of data set ``data`` (before any work)."""
    from ..datasets import parse_data

    available = parse_data(data).test_size
    if images is not None and images > available:
        raise ConfigError(f"--images must be at most {available} (the {data.split(':')[0]} "
                          f"test split), got {images}")


def _graph_test_images(args, input_shape: tuple, input_scale: float, data=None) -> tuple:
    """(int8 test images int64 [B, C, H, W], labels or None): the first ``--images`` test
    images of ``data`` (default ``--data``, else digits) for ``input_shape``, quantized to
    ``input_scale`` (:func:`structhw.model_source.quantized_test_images`)."""
    from structhw.model_source import quantized_test_images

    return quantized_test_images(data or args.data or "digits", input_shape, input_scale,
                                 args.images)


def _graph_model(args, budget, target) -> tuple:
    """(plan, int8 test images int64 [B, C, H, W], labels or None, ModelSource) of a zoo, .py or graph
    MODEL: quantized on ``--data`` as ``structhw quantize`` does, planned as ``compile``
    does, the first ``--images`` test images of the data set quantized to its input scale."""
    from structhw.graph.pipeline import plan_graph, quantize_source

    source = model_source(args)
    check_images_in_split(args.images, source.data or args.data or "digits")
    graph, _ = quantize_source(source, data=args.data)
    plan = plan_graph(graph, budget, target=target)
    images = _graph_test_images(args, graph.input_shape, graph.input_scale, source.data)
    return (plan, *images, source)


def _compiled_model(args) -> tuple:
    """(plan, int8 test images, labels or None, Verilog sources) of a compile output folder
    MODEL: a chain plan on the digits test split, a graph plan on ``--data``'s test images; the
    sources are the folder's own checked Verilog files (none when compiled with
    ``--no-verilog``: the plan's Verilog is generated then)."""
    from structhw.compiled import open_compiled
    from structhw.graph.plan import GraphPlan
    from structhw.quant import quantized_test_split

    if args.board is not None:
        raise ConfigError(f"--board: {args.model} holds a finished plan; compile it with "
                          f"--board {args.board} to simulate that board's plan")
    refuse_model_options(args, "a compile folder", data=False)
    folder = open_compiled(args.model)
    plan = folder.plan
    if not isinstance(plan, GraphPlan):
        if args.data is not None:
            raise ConfigError("--data applies to graph plans; a chain plan runs on the digits "
                              "test split")
        check_images_in_split(args.images, "digits")
        return (plan, *quantized_test_split(plan.qnet, args.images), folder.sources)
    check_images_in_split(args.images, args.data or "digits")
    return (plan, *_graph_test_images(args, plan.graph.input_shape, plan.graph.input_scale),
            folder.sources)


def run_network(args) -> int:
    from structhw.commands.compile import load_model, resolve_budget
    from structhw.compiler import compile_plan
    from structhw.quant import quantized_test_split
    from structhw.sim.runner import require_simulator

    if args.dump is not None:
        check_dump_path(args.dump)
    if args.images is not None and args.images < 1:
        raise ConfigError(f"--images must be ≥ 1, got {args.images}")
    bench = resolve_bench(args)
    compiled = (_compiled_model(args) if args.model is not None and is_compiled(args.model)
                else None)
    require_simulator(args.simulator)
    steps = ("model", "compile", "simulate")
    with tqdm(total=len(steps), desc="sim", unit="step", file=sys.stderr, leave=False,
              disable=None) as bar:
        bar.set_postfix_str("model")
        budget, target = resolve_budget(args.board, None)
        source, sources = None, ()
        if compiled is not None:
            plan, images, labels, sources = compiled
            target = plan.target or "its budget"
            bar.update()
            bar.set_postfix_str("compile")
        elif is_file_model(args.model) and not is_graph_file(args.model):
            refuse_model_options(args, "a checkpoint or chain qnet file (on the digits test "
                                 "split)")
            check_images_in_split(args.images, "digits")
            qnet = load_model(args.model, dense=False)
            bar.update()
            bar.set_postfix_str("compile")
            plan = compile_plan(qnet, budget, target=target)
            images, labels = quantized_test_split(qnet, args.images)
        else:
            plan, images, labels, source = _graph_model(args, budget, target)
            bar.update()
            bar.set_postfix_str("compile")
        bar.update()
        bar.set_postfix_str(f"simulate {len(images)} images")
        result = _simulate(plan, images, labels, args, bench, sources)
        bar.update()
    if args.dump is not None:
        arrays = dump_arrays(images, result, plan, float_model(args, source))
        print(f"wrote {write_npz(args.dump, arrays)}", file=sys.stderr)
    name = Path(args.model).name if args.model else "demo model"
    if args.json:
        print(json.dumps(network_json(result, name, target, args.simulator)))
    else:
        print(format_network_report(result, name, target, args.simulator))
        for note in result.notes:
            print(f"  {note}", file=sys.stderr)
    return 0 if result.mismatches == 0 else 1


MAX_SEED = 2**32 - 1
"""Largest ``--seed``: the native bench's and numpy's seeds are unsigned 32-bit here."""
MAX_RESET_CYCLE = 2**62
"""Largest ``--reset-at`` the native bench's 64-bit cycle counter takes."""


def check_sim_folders(args) -> None:
    """Refuse an unusable ``--work`` or simulator cache folder before any work."""
    if args.work is not None:
        check_output_dir(args.work, "--work")
    check_output_dir(default_build_root(),
                     f"the simulator cache (${CACHE_ENV}, else $XDG_CACHE_HOME/structhw/sim)")


def run(args) -> int:
    check_sim_folders(args)
    _check_probability("idle", args.idle)
    _check_probability("stall", args.stall)
    if not 0 <= args.seed <= MAX_SEED:
        raise ConfigError(f"--seed must be between 0 and {MAX_SEED}, got {args.seed}")
    if args.reset_at is not None and args.reset_at > MAX_RESET_CYCLE:
        raise ConfigError(f"--reset-at must be a cycle ≤ {MAX_RESET_CYCLE}, got {args.reset_at}")
    if args.random_layer is not None:
        for flag in ("bench", "reset_at"):
            if getattr(args, flag) is not None:
                raise ConfigError(f"--{flag.replace('_', '-')} applies to a network: "
                                  "--random-layer runs the cocotb layer bench")
        if args.json or args.x_initial != "zero":
            raise ConfigError("--json and --x-initial apply to a network, not --random-layer")
        return run_random_layer(args)
    for flag in ("lanes", "mults"):
        if getattr(args, flag) is not None:
            raise ConfigError(f"--{flag} applies to --random-layer only")
    return run_network(args)

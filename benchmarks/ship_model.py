"""Ship a trained model: copy a ``structhw train`` run's checkpoint into structhw/models and
write its metrics with the int8 and hardware accuracies measured here.

    python benchmarks/ship_model.py runs/resnet20-A-sr --stem resnet20_A --images 100
    python benchmarks/ship_model.py runs/digits-tiny-A-sr --stem digits_tiny_A --board icebreaker

Adds to the run's ``metrics.json``:

- ``int8_acc`` / ``dense_int8_acc``: golden-integer accuracy of the quantized decomposed model
  and of the quantized dense baseline on the whole test split (``structhw quantize --json``,
  ``structhw quantize --dense --json``);
- ``hardware``: ``structhw sim`` of the quantized decomposed model on the first ``--images``
  test images (default all) for ``--board``: images, logits compared, mismatches, the
  hardware's and the golden model's accuracy on those images, measured and planned cycles per
  image.

The CLI is run as a user runs it; nothing is written unless every step succeeds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from structhw.graph.quant_graph import GRAPH_VERSION

MODELS = Path(__file__).resolve().parent.parent / "structhw" / "models"
HARDWARE_KEYS = ("images", "logits", "mismatches", "accuracy_hw", "accuracy_golden",
                 "cycles_per_image_measured", "cycles_per_image_predicted", "target", "bench")


def structhw_json(*args: str) -> dict:
    """``structhw ARGS --json``'s JSON object; a failing command stops the script."""
    cmd = [sys.executable, "-m", "structhw", *args, "--json"]
    print("$", " ".join(cmd[2:]), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd[2:])} failed (exit {done.returncode})")
    return json.loads(done.stdout)


def measured_metrics(checkpoint: Path, metrics: dict, images: int | None, board: str,
                     work: Path) -> dict:
    """``metrics`` with the int8 and hardware figures measured for ``checkpoint``."""
    qnet = work / "model.qnet.json"
    quant = structhw_json("quantize", str(checkpoint), "--out", str(qnet))
    dense = structhw_json("quantize", str(checkpoint), "--dense")
    # structhw sim takes --data for a graph qnet (version 2) only; a chain's is digits
    graph = json.loads(qnet.read_text())["version"] == GRAPH_VERSION
    data_args = ("--data", metrics.get("data", "digits")) if graph else ()
    image_args = () if images is None else ("--images", str(images))
    sim = structhw_json("sim", str(qnet), *data_args, *image_args, "--board", board)
    if sim["mismatches"]:
        sys.exit(f"the hardware disagrees with the golden model: {sim['first_mismatch']}")
    return {**metrics, "int8_acc": quant["int8_acc"], "dense_int8_acc": dense["int8_acc"],
            "hardware": {key: sim[key] for key in HARDWARE_KEYS}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a structhw train --out folder")
    parser.add_argument("--stem", required=True, help="file name stem in structhw/models")
    parser.add_argument("--images", type=int, default=None,
                        help="test images simulated (default the whole test split)")
    parser.add_argument("--board", default="ulx3s-85f", help="board the simulated plan targets")
    args = parser.parse_args(argv)
    checkpoint, metrics_path = args.run / "checkpoint.pt", args.run / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    with tempfile.TemporaryDirectory() as work:
        shipped = measured_metrics(checkpoint, metrics, args.images, args.board, Path(work))
    shutil.copyfile(checkpoint, MODELS / f"{args.stem}.pt")
    out = MODELS / f"{args.stem}.metrics.json"
    out.write_text(json.dumps(shipped, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: shipped[k] for k in ("int8_acc", "dense_int8_acc", "hardware")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

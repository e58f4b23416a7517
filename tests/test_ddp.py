"""Data-parallel training: ``torchrun --nproc_per_node=2 -m structhw.train`` on gloo/CPU.

Each rank hashes its trained state dicts into ``--digest-dir``; DDP averages gradients, so both
ranks must end bit-identical although each trained on a different half of the data.
"""

import json
import warnings
import os
import subprocess
import sys

from structhw.checkpoint import build_models, build_structured_model, load_checkpoint
from structhw.train import state_digest


def test_two_processes_end_with_identical_weights(tmp_path):
    out, digests = tmp_path / "out", tmp_path / "digests"
    digests.mkdir()
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "structhw.train", "--epochs", "1", "--no-progress",
        "--out", str(out), "--digest-dir", str(digests),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]

    rank0 = (digests / "rank0.sha256").read_text().strip()
    rank1 = (digests / "rank1.sha256").read_text().strip()
    assert len(rank0) == 64 and rank0 == rank1

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json"]
    assert proc.stdout.count("wrote ") == 1, "only rank 0 writes"
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["config"]["epochs"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dense, _ = build_models(ckpt)
    assert state_digest(dense, build_structured_model(ckpt)) == rank0

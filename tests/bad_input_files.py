"""The input files the bad-input table (tests/test_bad_inputs.py) refers to as ``{S}/…``:
corrupted, truncated, malicious or out-of-spec checkpoints, qnet files, arrays, bitstreams and a
user's model file. None of them is written by a case."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import torch

from structhw import cli
from structhw.checkpoint import demo_checkpoint_path
from structhw.graph.quant_graph import QuantGraph
from structhw.qnet import QuantNet, save
from structhw.rtl_gen.random_layer import random_quant_layer
from tests.tiny_models import tiny_chain

NET_PY = """
import torch.nn as nn


def make():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))


def not_a_module():
    return 42


def raises():
    raise RuntimeError("the user's model failed to build")


def exits():
    import sys
    sys.exit(0)


def huge_shape():
    m = make()
    m.input_shape = (1, 100000, 100000)
    return m


def wide():
    m = nn.Sequential(nn.Flatten(), nn.Linear(2 * 128 * 128, 10))
    m.input_shape = (2, 128, 128)
    return m
"""
"""A user's model file: ``make`` (no input_shape attribute, so ``--input-shape`` is needed), a
callable returning no module and one that raises."""


class _Code:
    def __reduce__(self):
        return (print, ("this must never run",))


def _flip_weight_bytes(data: bytes) -> bytes:
    """The checkpoint with 64 bytes inside a tensor's data flipped (the zip structure intact)."""
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if "/data/" in info.filename and info.filename.endswith("/0"):
                body = body[:16] + bytes(b ^ 0xFF for b in body[16:80]) + body[80:]
            dst.writestr(info, body)
    return out.getvalue()


QNET_EDITS = {
    "M50": lambda o: o["layers"][0]["multiplier"].__setitem__(0, 2**50),
    "M40": lambda o: o["layers"][0]["multiplier"].__setitem__(0, 2**40),
    "ascale_short": lambda o: o["layers"][0].__setitem__("alpha_scale", [1.0]),
    "ascale_neg": lambda o: o["layers"][0].__setitem__("alpha_scale", [-1.0] * 4),
    "inscale_neg": lambda o: o["layers"][0].__setitem__("in_scale", -0.5),
    "outscale_zero": lambda o: o["layers"][-1].__setitem__("out_scale", 0.0),
    "inputscale_zero": lambda o: o["input"].__setitem__("scale", 0.0),
    "name_newline": lambda o: o["layers"][0].__setitem__("name", "a\n" * 3),
    "metaname_tab": lambda o: o["metadata"].__setitem__("name", "net\tx"),
}
"""qnet files outside the integer spec (docs/qnet-format.md), each one edit of the tiny chain."""


def _write_edited_qnets(folder) -> None:
    for name, edit in QNET_EDITS.items():
        obj = tiny_chain().to_json()
        obj["layers"][0]["alpha_scale"] = [0.01] * 4
        edit(obj)
        (folder / f"{name}.qnet.json").write_text(json.dumps(obj))
    graph = QuantGraph.from_qnet(tiny_chain()).to_json()
    graph["nodes"][0]["name"] = "conv\nfc"
    (folder / "graph_name.qnet.json").write_text(json.dumps(graph))


def _write_bad_tensors(folder) -> None:
    """state_dicts for net.py:make and re-sealed checkpoints (valid sha256) whose tensors are
    complex, integer where the model's are float, or hold a NaN."""
    from structhw.checkpoint import checkpoint_digest

    def with_nan(w):
        w = w.clone()
        w.view(-1)[0] = float("nan")
        return w

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(144, 10))
    good = model.state_dict()
    w = good["0.weight"]
    for name, tensor in {"complex": w.to(torch.complex64), "integer": w.round().to(torch.int64),
                         "nan": with_nan(w)}.items():
        torch.save({**good, "0.weight": tensor}, folder / f"{name}.pt")
    for name, edit in {"nan": with_nan, "complex": lambda w: w.to(torch.complex64)}.items():
        ckpt = torch.load(demo_checkpoint_path(), weights_only=True)
        key = next(iter(ckpt["structured"]))
        ckpt["structured"][key] = edit(ckpt["structured"][key])
        ckpt["sha256"] = checkpoint_digest(ckpt)
        torch.save(ckpt, folder / f"{name}-ckpt.pt")



def write_static_files(d) -> None:
    """Write every shared input file into folder ``d``."""
    demo = demo_checkpoint_path().read_bytes()
    (d / "truncated.pt").write_bytes(demo[: len(demo) // 2])
    (d / "garbage.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "empty.pt").write_bytes(b"")
    torch.save([1, 2, 3], d / "list.pt")
    (d / "protocol5.pt").write_bytes(pickle.dumps({"a": 1}, protocol=5))
    (d / "code.pt").write_bytes(pickle.dumps(_Code()))
    (d / "flipped.pt").write_bytes(_flip_weight_bytes(demo))
    (d / "folder.pt").mkdir()
    save(tiny_chain(name="tiny"), d / "tiny.qnet.json")
    meta = tiny_chain().to_json()
    meta["metadata"] = [1]
    (d / "metadata.qnet.json").write_text(json.dumps(meta))
    (d / "notjson.qnet.json").write_text("{")
    (d / "deep.qnet.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "format.qnet.json").write_text('{"format": "nope"}')
    huge = random_quant_layer(1, 3, 1, 2, 4, 4096, 4096, 1, 1, 0, name="big")
    save(QuantNet(1, 4096, 4096, 1.0, [huge]), d / "huge.qnet.json")
    np.save(d / "shape.npy", np.zeros((2, 2), dtype=np.int8))
    np.save(d / "range.npy", np.full((1, 6, 6), 500, dtype=np.int64))
    np.save(d / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (d / "text.npy").write_text("not numpy")
    (d / "top.bit").write_bytes(b"\xff" * 64)
    (d / "top.bin").write_bytes(b"\xff" * 64)
    (d / "empty.bit").write_bytes(b"")
    (d / "folder.bit").mkdir()
    (d / "net.py").write_text(NET_PY)
    (d / "exits.py").write_text("import sys\nsys.exit(0)\n")
    _write_edited_qnets(d)
    _write_special_files(d)
    nosha = torch.load(demo_checkpoint_path(), weights_only=True)
    del nosha["sha256"]
    torch.save(nosha, d / "nosha.pt")
    _write_bad_tensors(d)
    assert cli.main(["compile", str(d / "tiny.qnet.json"), "--board", "ulx3s-12f",
                     "--out", str(d / "compiled")]) == 0
    assert cli.main(["compile", str(d / "tiny.qnet.json"), "--board", "ulx3s-12f",
                     "--out", str(d / "edited")]) == 0
    with open(d / "edited" / "structhw_network.v", "a") as f:
        f.write("// edited\n")


def _write_special_files(d) -> None:
    """Inputs that are not what their names say: a FIFO, a device, links to nothing, a JSON
    integer of 5,000 digits (beyond Python's int parsing limit) and one beyond 64 bits."""
    os.mkfifo(d / "fifo.qnet.json")
    os.mkfifo(d / "fifo.pt")
    (d / "zero.qnet.json").symlink_to("/dev/zero")
    (d / "dangling").symlink_to("/nonexistent/structhw-target")
    (d / "loop").symlink_to(d / "loop")
    text = json.dumps(tiny_chain(name="tiny").to_json())
    (d / "digits5000.qnet.json").write_text(text.replace('"in_channels": 1', '"in_channels": '
                                                         + "1" * 5000, 1))
    (d / "int70.qnet.json").write_text(text.replace('"in_channels": 1',
                                                    f'"in_channels": {2 ** 70}', 1))
    _write_probe_files(d, text)


def _write_probe_files(d, text: str) -> None:
    """The second probe's inputs: arrays nested deeper than numpy takes (but not deep enough for
    the JSON guard), a duplicated key, .npy images that are empty, complex, or whose header
    claims more than the file holds, and a CIFAR-10 file of more records than the official 10,000."""
    nested = "[" * 40 + "1" + "]" * 40
    assert '"bias": [' in text and '"relu": ' in text
    (d / "nested40.qnet.json").write_text(text.replace('"bias": [', f'"bias": {nested}, "x": [', 1))
    (d / "dupkey.qnet.json").write_text(text.replace('"relu": ', '"relu": false, "relu": ', 1))
    np.save(d / "empty.npy", np.zeros((0, 1, 6, 6), dtype=np.int8))
    np.save(d / "complex.npy", np.zeros((1, 6, 6), dtype=np.complex64))
    np.savez(d / "archive.npz", x=np.zeros((1, 1, 6, 6), dtype=np.int8))
    header = b"{'descr': '|i1', 'fortran_order': False, 'shape': (1000000000000, 1, 6, 6), }"
    header += b" " * (118 - len(header)) + b"\n"
    (d / "claims.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
                                   + header + bytes(64))
    cifar = d / "cifar_big"
    cifar.mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (cifar / name).write_bytes(bytes(20 * 3073))
    with open(cifar / "data_batch_1.bin", "r+b") as f:
        f.truncate(3073 * 10_001)

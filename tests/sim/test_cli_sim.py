"""``structhw sim``: the random-layer npz dump (fields, shapes, dtypes, y_hw == y_ref, and y_ref
against an independent numpy reading of the paper's math), bad input, and the cocotb network
bench on the shipped demo model when the compiler and the demo exist (the native bench, the
default, is tested in test_native.py)."""

import numpy as np
import pytest

from structhw.cli import main
from structhw.sim.runner import simulator_available

needs_verilator = pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")


def structured_layer_numpy(x, alpha, bias, M, S, relu, N, stride, pad):
    """Independent reference: zero-pad, 3-D box sum (channels C−c+1, rows/cols N−n+1), the small
    c×n×n convolution at ``stride``, bias, ``clamp((acc·M + 2^(S−1)) >> S)``. x: [C, H, W]."""
    C, H, W = x.shape
    Cout, c, n, _ = alpha.shape
    xp = np.pad(x.astype(np.int64), ((0, 0), (pad, pad), (pad, pad)))
    cw, sw = C - c + 1, N - n + 1
    Hs, Ws = xp.shape[1] - sw + 1, xp.shape[2] - sw + 1
    E = np.zeros((c, Hs, Ws), dtype=np.int64)
    for k in range(c):
        for i in range(Hs):
            for j in range(Ws):
                E[k, i, j] = xp[k:k + cw, i:i + sw, j:j + sw].sum()
    Ho, Wo = (H + 2 * pad - N) // stride + 1, (W + 2 * pad - N) // stride + 1
    y = np.zeros((Cout, Ho, Wo), dtype=np.int64)
    for o in range(Cout):
        for i in range(Ho):
            for j in range(Wo):
                patch = E[:, i * stride:i * stride + n, j * stride:j * stride + n]
                acc = int((patch * alpha[o].astype(np.int64)).sum()) + int(bias[o])
                v = (acc * int(M[o]) + (1 << (int(S[o]) - 1))) >> int(S[o])
                y[o, i, j] = min(max(v, 0 if relu else -128), 127)
    return y


@needs_verilator
@pytest.mark.slow
def test_random_layer_dump(tmp_path, capsys):
    C, N, c, n, Cout, H, W, stride, pad = 3, 3, 2, 2, 4, 6, 5, 2, 1
    out = tmp_path / "layer.npz"
    rc = main(["sim", "--random-layer", f"{C},{N},{c},{n},{Cout},{H},{W},{stride},{pad}",
               "--seed", "11", "--dump", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "0 mismatching elements" in printed
    f = np.load(out)
    Ho, Wo = (H + 2 * pad - N) // stride + 1, (W + 2 * pad - N) // stride + 1
    expect = {"x": (np.int8, (C, H, W)), "alpha": (np.int8, (Cout, c, n, n)),
              "bias": (np.int32, (Cout,)), "M": (np.int64, (Cout,)), "S": (np.int64, (Cout,)),
              "relu": (np.bool_, ()), "y_hw": (np.int8, (Cout, Ho, Wo)),
              "y_ref": (np.int8, (Cout, Ho, Wo))}
    assert set(f.files) == set(expect)
    for key, (dtype, shape) in expect.items():
        assert f[key].dtype == dtype and f[key].shape == shape, key
    assert (f["y_hw"] == f["y_ref"]).all()
    mine = structured_layer_numpy(f["x"], f["alpha"], f["bias"], f["M"], f["S"], bool(f["relu"]),
                                  N, stride, pad)
    assert (mine == f["y_ref"]).all()
    assert len(np.unique(f["y_ref"])) > 3  # not a degenerate all-clamped output


@pytest.mark.parametrize("argv, message", [
    (["sim", "--random-layer", "3,3,2"], "needs 9 comma-separated integers"),
    (["sim", "--random-layer", "3,3,2,2,4,6,x,1,1"], "W must be an integer"),
    (["sim", "--random-layer", "3,3,4,2,4,6,6,1,1"], "c=4 exceeds"),
    (["sim", "--dump", "/etc/passwd/out.npz"], "is not a directory"),
    (["sim", "--stall", "1.5"], "--stall must be a probability"),
    (["sim", "--images", "0"], "--images must be"),
    (["sim", "--bench", "native", "--simulator", "icarus"],
     "--bench native is built with Verilator"),
    (["sim", "--bench", "cocotb", "--x-initial", "unique"], "--x-initial applies to the native"),
    (["sim", "--bench", "cocotb", "--reset-at", "100"], "--reset-at applies to the native"),
    (["sim", "--reset-at", "0"], "--reset-at must be a cycle"),
    (["sim", "--random-layer", "3,3,2,2,4,6,6,1,1", "--bench", "native"],
     "--bench applies to a network"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@needs_verilator
@pytest.mark.slow
def test_cocotb_bench_on_demo_model(capsys):
    rc = main(["sim", "--bench", "cocotb", "--images", "40", "--seed", "3"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "mismatching logits: 0 of 400" in printed and "(cocotb bench)" in printed
    assert "hardware accuracy" in printed and "predicted" in printed


@needs_verilator
def test_small_boards_default_model_is_bit_exact_on_every_test_image(capsys):
    """digits-tiny as planned for the iCEBreaker (8 multipliers), under random stalls and idle
    input: every logit of the 360 test images equals the golden model's."""
    from structhw.checkpoint import shipped_checkpoint_path

    rc = main(["sim", str(shipped_checkpoint_path("digits-tiny")), "--board", "icebreaker",
               "--images", "360", "--stall", "0.3", "--idle", "0.2", "--seed", "5"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "mismatching logits: 0 of 3600" in printed


@needs_verilator
def test_relative_work_and_cache_folders_are_taken_from_the_current_folder(tmp_path, capsys,
                                                                         monkeypatch):
    """The simulator runs in folders of its own: a relative --work or $STRUCTHW_SIM_CACHE used to
    make it miss its input (a traceback and a half-filled --work) or its executable."""
    from structhw.checkpoint import shipped_checkpoint_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STRUCTHW_SIM_CACHE", "cache")
    rc = main(["sim", str(shipped_checkpoint_path("digits-tiny")), "--board", "icebreaker",
               "--images", "2", "--work", "work"])
    assert rc == 0, capsys.readouterr()
    assert "mismatching logits: 0 of 20" in capsys.readouterr().out
    assert (tmp_path / "work" / "x.bin").is_file() and (tmp_path / "cache").is_dir()

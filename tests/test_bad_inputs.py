"""Every bad input to every command is one line on stderr and exit code 2, with no traceback and
nothing written: a table of bad inputs run through ``structhw.cli.main`` in-process.

Each case runs in a fresh folder holding an existing ``out`` folder (with a file in it) and a
plain file ``afile``; the folder and the shared fixture files must be byte for byte the same
afterwards. The expensive stages (quantization, training, board builds, the report's
measurements, simulations, openFPGALoader, talking to a board) are replaced by functions that
fail the test if reached: every case must be refused before them.
"""

from __future__ import annotations

import os
import signal
import stat
import time
import warnings

import pytest

from structhw import cli
from structhw.checkpoint import demo_checkpoint_path
from tests.bad_input_files import write_static_files

DEMO = str(demo_checkpoint_path())
GOOD_LAYER = "4,3,2,2,3,5,5,1,1"
TINY = "{S}/tiny.qnet.json"
BUDGET = "dsp=8,lut4=20000,ebr=10"

CASES = {
    # ----- the command line itself
    "no-command": [],
    "unknown-command": ["nope"],
    # ----- count
    "count/unknown-model": ["count", "no-such-model"],
    "count/empty-model": ["count", ""],
    "count/missing-model": ["count"],
    "count/unknown-preset": ["count", "digits-cnn", "--preset", "nope"],
    "count/empty-preset": ["count", "digits-cnn", "--preset", ""],
    "count/unknown-option": ["count", "digits-cnn", "--bogus"],
    "count/extra-argument": ["count", "digits-cnn", "more"],
    "count/json-with-value": ["count", "digits-cnn", "--json=yes"],
    # ----- train
    "train/epochs-0": ["train", "--epochs", "0", "--out", "{out}"],
    "train/epochs-negative": ["train", "--epochs", "-1", "--out", "{out}"],
    "train/epochs-not-int": ["train", "--epochs", "2.5", "--out", "{out}"],
    "train/lam-negative": ["train", "--lam", "-1", "--out", "{out}"],
    "train/lam-nan": ["train", "--lam", "nan", "--out", "{out}"],
    "train/lam-inf": ["train", "--lam", "inf", "--out", "{out}"],
    "train/lr-0": ["train", "--lr", "0", "--out", "{out}"],
    "train/lr-negative": ["train", "--lr", "-0.1", "--out", "{out}"],
    "train/lr-nan": ["train", "--lr", "nan", "--out", "{out}"],
    "train/batch-0": ["train", "--batch-size", "0", "--out", "{out}"],
    "train/batch-negative": ["train", "--batch-size", "-64", "--out", "{out}"],
    "train/seed-negative": ["train", "--seed", "-1", "--out", "{out}"],
    "train/seed-over-64-bit": ["train", "--seed", str(2**64), "--out", "{out}"],
    "train/unknown-model": ["train", "--model", "nope", "--out", "{out}"],
    "train/model-without-data": ["train", "--model", "resnet20", "--out", "{out}"],
    "train/unknown-preset": ["train", "--preset", "C", "--out", "{out}"],
    "train/dense-preset": ["train", "--preset", "dense", "--out", "{out}"],
    "train/out-is-a-file": ["train", "--out", "{file}"],
    "train/out-under-a-file": ["train", "--out", "{file}/run"],
    "train/out-on-sysfs": ["train", "--out", "/sys/structhw-run"],
    "train/out-in-proc": ["train", "--out", "/proc/1/structhw-run"],
    # ----- quantize
    "quantize/missing-file": ["quantize", "/nonexistent/model.pt"],
    "quantize/truncated": ["quantize", "{S}/truncated.pt"],
    "quantize/garbage": ["quantize", "{S}/garbage.pt"],
    "quantize/empty-file": ["quantize", "{S}/empty.pt"],
    "quantize/not-a-dict": ["quantize", "{S}/list.pt"],
    "quantize/code-in-pickle": ["quantize", "{S}/code.pt"],
    "quantize/flipped-weight-bytes": ["quantize", "{S}/flipped.pt"],
    "quantize/folder-as-model": ["quantize", "{S}/folder.pt"],
    "quantize/qnet-as-checkpoint": ["quantize", TINY],
    "quantize/percentile-10": ["quantize", "--percentile", "10"],
    "quantize/percentile-0": ["quantize", "--percentile", "0"],
    "quantize/percentile-101": ["quantize", "--percentile", "101"],
    "quantize/percentile-nan": ["quantize", "--percentile", "nan"],
    "quantize/percentile-text": ["quantize", "--percentile", "high"],
    "quantize/unknown-rounding": ["quantize", "--rounding", "up"],
    "quantize/out-is-a-folder": ["quantize", "--out", "{out}"],
    "quantize/out-under-a-file": ["quantize", "--out", "{file}/x.qnet.json"],
    "quantize/out-wrong-suffix": ["quantize", "--out", "{out}/x.json"],
    "quantize/out-on-sysfs": ["quantize", "--out", "/sys/x.qnet.json"],
    "quantize/out-empty": ["quantize", "--out", ""],
    "train/out-empty": ["train", "--out", ""],
    "rtl/name-300-characters": ["rtl", "--layer", GOOD_LAYER, "--name", "a" * 300,
                                "--out", "{out}"],
    "rtl/out-empty": ["rtl", "--layer", GOOD_LAYER, "--out", ""],
    "compile/out-empty": ["compile", TINY, "--budget", BUDGET, "--out", ""],
    "build/out-empty": ["build", TINY, "--out", ""],
    "report/out-empty": ["report", "--out", ""],
    "sim/work-empty": ["sim", TINY, "--work", ""],
    "sim/dump-empty": ["sim", TINY, "--dump", ""],
    # ----- rtl
    "rtl/layer-too-few-fields": ["rtl", "--layer", "4,3,2,2,3", "--out", "{out}"],
    "rtl/layer-not-int": ["rtl", "--layer", "4,3,x,2,3,5,5,1,1", "--out", "{out}"],
    "rtl/layer-C-0": ["rtl", "--layer", "0,3,1,2,3,5,5,1,1", "--out", "{out}"],
    "rtl/layer-stride-0": ["rtl", "--layer", "4,3,2,2,3,5,5,0,1", "--out", "{out}"],
    "rtl/layer-pad-negative": ["rtl", "--layer", "4,3,2,2,3,5,5,1,-1", "--out", "{out}"],
    "rtl/layer-c-over-C": ["rtl", "--layer", "4,3,5,2,3,5,5,1,1", "--out", "{out}"],
    "rtl/layer-n-over-N": ["rtl", "--layer", "4,3,2,4,3,5,5,1,1", "--out", "{out}"],
    "rtl/layer-output-empty": ["rtl", "--layer", "4,3,2,2,3,1,1,1,0", "--out", "{out}"],
    "rtl/layer-4096-pixels": ["rtl", "--layer", "1,3,1,2,4,4096,4096,1,1", "--out", "{out}"],
    "rtl/layer-huge-weights": ["rtl", "--layer", "4096,3,4096,3,4096,8,8,1,1", "--out", "{out}"],
    "rtl/layer-huge-Cout": ["rtl", "--layer", "1,3,1,2,100000,6,6,1,1", "--out", "{out}"],
    "rtl/layer-window-too-wide": ["rtl", "--layer", "64,7,1,1,2,7,7,1,0", "--out", "{out}"],
    "rtl/seed-negative": ["rtl", "--layer", GOOD_LAYER, "--seed", "-1", "--out", "{out}"],
    "rtl/groups-0-dense": ["rtl", "--layer", GOOD_LAYER, "--groups", "0", "--dense",
                           "--out", "{out}"],
    "rtl/groups-0": ["rtl", "--layer", GOOD_LAYER, "--groups", "0", "--out", "{out}"],
    "rtl/groups-not-dividing": ["rtl", "--layer", GOOD_LAYER, "--groups", "3", "--dense",
                                "--out", "{out}"],
    "rtl/dilation-0": ["rtl", "--layer", GOOD_LAYER, "--dilation", "0", "--out", "{out}"],
    "rtl/lanes-0": ["rtl", "--layer", GOOD_LAYER, "--lanes", "0", "--out", "{out}"],
    "rtl/lanes-over-Cout": ["rtl", "--layer", GOOD_LAYER, "--lanes", "4", "--out", "{out}"],
    "rtl/mults-0": ["rtl", "--layer", GOOD_LAYER, "--mults", "0", "--out", "{out}"],
    "rtl/mults-over-cn2": ["rtl", "--layer", GOOD_LAYER, "--mults", "99", "--out", "{out}"],
    "rtl/too-many-dsps": ["rtl", "--layer", "64,3,64,3,64,4,4,1,1", "--lanes", "64",
                          "--mults", "18", "--out", "{out}"],
    "rtl/sumpool-on-dense": ["rtl", "--layer", GOOD_LAYER, "--dense", "--sumpool", "tree",
                             "--out", "{out}"],
    "rtl/unknown-sumpool": ["rtl", "--layer", GOOD_LAYER, "--sumpool", "fast", "--out", "{out}"],
    "rtl/name-not-identifier": ["rtl", "--layer", GOOD_LAYER, "--name", "1st", "--out", "{out}"],
    "rtl/name-path": ["rtl", "--layer", GOOD_LAYER, "--name", "../evil", "--out", "{out}"],
    "rtl/name-empty": ["rtl", "--layer", GOOD_LAYER, "--name", "", "--out", "{out}"],
    "rtl/missing-layer": ["rtl", "--out", "{out}"],
    "rtl/missing-out": ["rtl", "--layer", GOOD_LAYER],
    "rtl/out-is-a-file": ["rtl", "--layer", GOOD_LAYER, "--out", "{file}"],
    "rtl/out-under-a-file": ["rtl", "--layer", GOOD_LAYER, "--out", "{file}/sub"],
    "rtl/out-on-sysfs": ["rtl", "--layer", GOOD_LAYER, "--out", "/sys/structhw-rtl"],
    # ----- compile
    "compile/missing-model": ["compile", "/nonexistent/model.pt", "--out", "{out}"],
    "compile/truncated": ["compile", "{S}/truncated.pt", "--out", "{out}"],
    "compile/flipped-weight-bytes": ["compile", "{S}/flipped.pt", "--out", "{out}"],
    "compile/qnet-metadata-list": ["compile", "{S}/metadata.qnet.json", "--budget", BUDGET,
                                   "--out", "{out}", "--no-verilog"],
    "compile/qnet-not-json": ["compile", "{S}/notjson.qnet.json", "--out", "{out}"],
    "compile/qnet-wrong-format": ["compile", "{S}/format.qnet.json", "--out", "{out}"],
    "compile/qnet-missing": ["compile", "{S}/nope.qnet.json", "--out", "{out}"],
    "compile/qnet-M-2^50": ["compile", "{S}/M50.qnet.json", "--budget", BUDGET, "--out", "{out}"],
    "compile/qnet-M-2^40": ["compile", "{S}/M40.qnet.json", "--budget", BUDGET, "--out", "{out}"],
    "compile/qnet-alpha-scale-short": ["compile", "{S}/ascale_short.qnet.json", "--budget",
                                       BUDGET, "--out", "{out}"],
    "compile/qnet-alpha-scale-negative": ["compile", "{S}/ascale_neg.qnet.json", "--budget",
                                          BUDGET, "--out", "{out}"],
    "compile/qnet-in-scale-negative": ["compile", "{S}/inscale_neg.qnet.json", "--budget",
                                       BUDGET, "--out", "{out}"],
    "compile/qnet-out-scale-zero": ["compile", "{S}/outscale_zero.qnet.json", "--budget",
                                    BUDGET, "--out", "{out}"],
    "compile/qnet-input-scale-zero": ["compile", "{S}/inputscale_zero.qnet.json", "--budget",
                                      BUDGET, "--out", "{out}"],
    "sim/qnet-M-2^50": ["sim", "{S}/M50.qnet.json"],
    "compile/qnet-layer-name-newlines": ["compile", "{S}/name_newline.qnet.json", "--budget",
                                         BUDGET, "--out", "{out}"],
    "sim/qnet-metadata-name-tab": ["sim", "{S}/metaname_tab.qnet.json"],
    "compile/graph-node-name-newline": ["compile", "{S}/graph_name.qnet.json", "--budget",
                                        BUDGET, "--out", "{out}"],
    "build/qnet-alpha-scale-negative": ["build", "{S}/ascale_neg.qnet.json", "--out", "{out}"],
    "quantize/checkpoint-without-digest": ["quantize", "{S}/nosha.pt"],
    "compile/checkpoint-without-digest": ["compile", "{S}/nosha.pt", "--out", "{out}"],
    "compile/qnet-4096-pixels": ["compile", "{S}/huge.qnet.json", "--budget", BUDGET,
                                 "--out", "{out}"],
    "compile/budget-superscript": ["compile", "--budget", "dsp=²,lut4=20000,ebr=10",
                                   "--out", "{out}"],
    "compile/budget-negative": ["compile", "--budget", "dsp=-5,lut4=20000,ebr=10",
                                "--out", "{out}"],
    "compile/budget-lacks-ebr": ["compile", "--budget", "dsp=8,lut4=20000", "--out", "{out}"],
    "compile/budget-unknown-key": ["compile", "--budget", "dsp=8,lut=5,ebr=1", "--out", "{out}"],
    "compile/budget-400-digits": ["compile", TINY, "--budget", f"dsp={'9' * 400},lut4=20000,ebr=10",
                                  "--out", "{out}", "--no-verilog"],
    "compile/budget-empty": ["compile", "--budget", "", "--out", "{out}"],
    "compile/budget-short": ["compile", TINY, "--budget", "dsp=1,lut4=20000,ebr=10",
                             "--out", "{out}", "--no-verilog"],
    "compile/budget-ff-short": ["compile", TINY, "--budget", "dsp=8,lut4=20000,ebr=10,ff=99",
                                "--out", "{out}"],
    "compile/unknown-board": ["compile", "--board", "nope", "--out", "{out}"],
    "compile/board-and-budget": ["compile", "--board", "ulx3s", "--budget", BUDGET,
                                 "--out", "{out}"],
    "compile/dense-structured-qnet": ["compile", TINY, "--dense", "--budget", BUDGET,
                                      "--out", "{out}", "--no-verilog"],
    "compile/missing-out": ["compile", TINY],
    "compile/out-is-a-file": ["compile", TINY, "--budget", BUDGET, "--out", "{file}"],
    "compile/out-under-a-file": ["compile", TINY, "--budget", BUDGET, "--out", "{file}/o"],
    "compile/out-on-sysfs": ["compile", TINY, "--budget", BUDGET, "--out", "/sys/structhw-c"],
    # ----- compile and build of zoo / .py / graph models
    "compile/input-shape-two-fields": ["compile", "{S}/net.py:make", "--input-shape", "3,32",
                                       "--out", "{out}"],
    "compile/input-shape-zero": ["compile", "{S}/net.py:make", "--input-shape", "0,8,8",
                                 "--out", "{out}"],
    "compile/input-shape-four-fields": ["compile", "{S}/net.py:make", "--input-shape",
                                        "1,8,8,1", "--out", "{out}"],
    "compile/py-missing-callable": ["compile", "{S}/net.py:nope", "--out", "{out}"],
    "compile/py-missing-file": ["compile", "{S}/nope.py:make", "--out", "{out}"],
    "compile/py-not-a-module": ["compile", "{S}/net.py:not_a_module", "--out", "{out}"],
    "compile/py-raises": ["compile", "{S}/net.py:raises", "--out", "{out}"],
    "compile/weights-missing": ["compile", "resnet20", "--weights", "{S}/nope.pt", "--out",
                                "{out}"],
    "compile/weights-with-code": ["compile", "{S}/net.py:make", "--weights", "{S}/code.pt",
                                  "--out", "{out}"],
    "compile/weights-wrong-keys": ["compile", "{S}/net.py:make", "--weights", "{S}/list.pt",
                                   "--out", "{out}"],
    "compile/unknown-data": ["compile", "resnet20", "--data", "cifar", "--out", "{out}"],
    "compile/preset-for-qnet": ["compile", TINY, "--preset", "A", "--budget", BUDGET,
                                "--out", "{out}"],
    "compile/input-shape-for-checkpoint": ["compile", "--input-shape", "1,8,8", "--out", "{out}"],
    "sim/preset-for-qnet": ["sim", TINY, "--preset", "B"],
    "sim/weights-for-checkpoint": ["sim", "--weights", "{S}/list.pt"],
    "sim/input-shape-for-qnet": ["sim", TINY, "--input-shape", "3,32,32"],
    "sim/preset-for-compile-folder": ["sim", "{S}/compiled", "--preset", "A"],
    "compile/py-calls-sys-exit": ["compile", "{S}/net.py:exits", "--out", "{out}"],
    "compile/py-module-exits": ["compile", "{S}/exits.py:make", "--out", "{out}"],
    "compile/input-shape-superscript": ["compile", "{S}/net.py:make", "--input-shape", "²,8,8",
                                        "--out", "{out}"],
    "compile/input-shape-4096x4096": ["compile", "{S}/net.py:make", "--input-shape",
                                      "1,4096,4096", "--data", "random", "--out", "{out}"],
    "compile/py-input-shape-attribute-huge": ["compile", "{S}/net.py:huge_shape",
                                              "--data", "random", "--out", "{out}"],
    "compile/data-for-qnet": ["compile", TINY, "--data", "random", "--budget", BUDGET,
                              "--out", "{out}"],
    "compile/unknown-zoo-model": ["compile", "resnet21", "--out", "{out}"],
    "compile/py-gptq-covariance-8GiB": ["compile", "{S}/net.py:wide", "--data", "random",
                                        "--out", "{out}"],
    "quantize/py-gptq-covariance-8GiB": ["quantize", "{S}/net.py:wide", "--data", "random",
                                         "--out", "{out}/w.qnet.json"],
    "compile/weights-pickle-protocol-5": ["compile", "{S}/net.py:make", "--input-shape", "1,8,8",
                                          "--weights", "{S}/protocol5.pt", "--out", "{out}"],
    "compile/weights-complex": ["compile", "{S}/net.py:make", "--input-shape", "1,8,8",
                                "--weights", "{S}/complex.pt", "--out", "{out}"],
    "compile/weights-integer": ["compile", "{S}/net.py:make", "--input-shape", "1,8,8",
                                "--weights", "{S}/integer.pt", "--out", "{out}"],
    "compile/weights-nan": ["compile", "{S}/net.py:make", "--input-shape", "1,8,8",
                            "--weights", "{S}/nan.pt", "--out", "{out}"],
    "quantize/checkpoint-nan-weights-resealed": ["quantize", "{S}/nan-ckpt.pt"],
    "compile/checkpoint-complex-weights-resealed": ["compile", "{S}/complex-ckpt.pt",
                                                    "--out", "{out}"],
    "build/py-missing-callable": ["build", "{S}/net.py:nope", "--out", "{out}"],
    "build/input-shape-text": ["build", "{S}/net.py:make", "--input-shape", "a,b,c",
                               "--out", "{out}"],
    "build/edited-compile-folder": ["build", "{S}/edited", "--board", "ulx3s-12f",
                                    "--out", "{out}"],
    "build/folder-without-plan": ["build", "{S}/folder.pt", "--out", "{out}"],
    # ----- build
    "build/unknown-board": ["build", "--board", "nope", "--out", "{out}"],
    "build/target-mhz-0": ["build", "--target-mhz", "0", "--out", "{out}"],
    "build/target-mhz-negative": ["build", "--target-mhz", "-25", "--out", "{out}"],
    "build/target-mhz-nan": ["build", "--target-mhz", "nan", "--out", "{out}"],
    "build/target-mhz-inf": ["build", "--target-mhz", "inf", "--out", "{out}"],
    "build/target-mhz-beyond-pll": ["build", "--target-mhz", "1000", "--out", "{out}"],
    "build/target-mhz-text": ["build", "--target-mhz", "fast", "--out", "{out}"],
    "build/target-mhz-ice40-pll": ["build", "--board", "icebreaker", "--target-mhz", "50",
                                   "--out", "{out}"],
    "build/missing-model": ["build", "/nonexistent/model.pt", "--out", "{out}"],
    "build/truncated": ["build", "{S}/truncated.pt", "--out", "{out}"],
    "build/qnet-metadata-list": ["build", "{S}/metadata.qnet.json", "--out", "{out}"],
    "build/out-is-a-file": ["build", TINY, "--out", "{file}"],
    "build/out-under-a-file": ["build", TINY, "--out", "{file}/b"],
    "build/out-on-sysfs": ["build", TINY, "--out", "/sys/structhw-b"],
    # ----- sim
    "sim/images-0": ["sim", TINY, "--images", "0"],
    "sim/images-negative": ["sim", TINY, "--images", "-2"],
    "sim/images-text": ["sim", TINY, "--images", "all"],
    "sim/idle-1": ["sim", TINY, "--idle", "1"],
    "sim/idle-negative": ["sim", TINY, "--idle", "-0.1"],
    "sim/stall-nan": ["sim", TINY, "--stall", "nan"],
    "sim/unknown-bench": ["sim", TINY, "--bench", "fast"],
    "sim/native-on-icarus": ["sim", TINY, "--bench", "native", "--simulator", "icarus"],
    "sim/x-initial-on-cocotb": ["sim", TINY, "--bench", "cocotb", "--x-initial", "unique"],
    "sim/seed-over-32-bit": ["sim", TINY, "--seed", str(2**64)],
    "sim/seed-negative": ["sim", TINY, "--seed", "-1"],
    "sim/random-layer-seed-negative": ["sim", "--random-layer", GOOD_LAYER, "--seed", "-1"],
    "sim/reset-at-beyond-64-bit": ["sim", TINY, "--reset-at", str(2**64)],
    "sim/qnet-nested-too-deep": ["sim", "{S}/deep.qnet.json"],
    "sim/reset-at-0": ["sim", TINY, "--reset-at", "0"],
    "sim/reset-at-on-cocotb": ["sim", TINY, "--bench", "cocotb", "--reset-at", "100"],
    "sim/unknown-board": ["sim", TINY, "--board", "nope"],
    "sim/missing-model": ["sim", "/nonexistent/model.pt"],
    "sim/truncated": ["sim", "{S}/truncated.pt"],
    "sim/flipped-weight-bytes": ["sim", "{S}/flipped.pt"],
    "sim/qnet-metadata-list": ["sim", "{S}/metadata.qnet.json"],
    "sim/qnet-not-json": ["sim", "{S}/notjson.qnet.json"],
    "sim/data-for-a-checkpoint": ["sim", "--data", "random"],
    "sim/edited-compile-folder": ["sim", "{S}/edited"],
    "sim/compile-folder-with-board": ["sim", "{S}/compiled", "--board", "ulx3s-85f"],
    "sim/folder-without-plan": ["sim", "{S}/folder.pt"],
    "sim/lanes-without-random-layer": ["sim", TINY, "--lanes", "2"],
    "sim/dump-under-a-file": ["sim", TINY, "--dump", "{file}/x.npz"],
    "sim/dump-is-a-folder": ["sim", TINY, "--dump", "{out}"],
    "sim/dump-not-npz": ["sim", TINY, "--dump", "{out}/x.txt"],
    "sim/random-layer-dump-under-a-file": ["sim", "--random-layer", GOOD_LAYER,
                                           "--dump", "{file}/x.npz"],
    "sim/random-layer-too-few-fields": ["sim", "--random-layer", "4,3,2"],
    "sim/random-layer-not-int": ["sim", "--random-layer", "4,3,2,2,x,5,5,1,1"],
    "sim/random-layer-c-over-C": ["sim", "--random-layer", "4,3,5,2,3,5,5,1,1"],
    "sim/random-layer-with-model": ["sim", TINY, "--random-layer", GOOD_LAYER],
    "sim/random-layer-with-images": ["sim", "--random-layer", GOOD_LAYER, "--images", "3"],
    "sim/random-layer-with-json": ["sim", "--random-layer", GOOD_LAYER, "--json"],
    "sim/random-layer-lanes-0": ["sim", "--random-layer", GOOD_LAYER, "--lanes", "0"],
    "sim/random-layer-4096-pixels": ["sim", "--random-layer", "1,3,1,2,4,4096,4096,1,1"],
    # ----- flash
    "flash/unknown-board": ["flash", "--board", "nope", "{S}/top.bit"],
    "flash/no-default-bitstream": ["flash"],
    "flash/missing-bitstream": ["flash", "/nonexistent/top.bit"],
    "flash/ice40-file-on-ecp5": ["flash", "{S}/top.bin"],
    "flash/ecp5-file-on-ice40": ["flash", "--board", "icebreaker", "{S}/top.bit"],
    "flash/empty-bitstream": ["flash", "{S}/empty.bit"],
    "flash/folder-as-bitstream": ["flash", "{S}/folder.bit"],
    "flash/two-bitstreams": ["flash", "{S}/top.bit", "{S}/top.bit"],
    # ----- run
    "run/missing-port": ["run", "--model", TINY],
    "run/baud-negative": ["run", "--port", "{tty}", "--baud", "-9600"],
    "run/baud-0": ["run", "--port", "{tty}", "--baud", "0"],
    "run/baud-huge": ["run", "--port", "{tty}", "--baud", str(10**12)],
    "run/baud-text": ["run", "--port", "{tty}", "--baud", "fast"],
    "run/timeout-negative": ["run", "--port", "{tty}", "--timeout", "-1"],
    "run/timeout-0": ["run", "--port", "{tty}", "--timeout", "0"],
    "run/timeout-nan": ["run", "--port", "{tty}", "--timeout", "nan"],
    "run/digits-0": ["run", "--port", "{tty}", "--digits", "0"],
    "run/digits-negative": ["run", "--port", "{tty}", "--digits", "-3"],
    "run/digits-beyond-test-split": ["run", "--port", "{tty}", "--digits", "361"],
    "run/no-such-port": ["run", "--port", "/nonexistent/ttyUSB0", "--model", TINY],
    "run/port-is-a-file": ["run", "--port", "{file}", "--model", TINY],
    "run/missing-image": ["run", "--port", "{tty}", "--model", TINY, "{S}/nope.npy"],
    "run/image-not-npy": ["run", "--port", "{tty}", "--model", TINY, "{S}/text.npy"],
    "run/image-wrong-shape": ["run", "--port", "{tty}", "--model", TINY, "{S}/shape.npy"],
    "run/image-out-of-int8": ["run", "--port", "{tty}", "--model", TINY, "{S}/range.npy"],
    "run/image-pickled": ["run", "--port", "{tty}", "--model", TINY, "{S}/objects.npy"],
    "run/missing-model": ["run", "--port", "{tty}", "--model", "/nonexistent/model.pt"],
    "run/truncated-model": ["run", "--port", "{tty}", "--model", "{S}/truncated.pt"],
    "run/qnet-metadata-list": ["run", "--port", "{tty}", "--model", "{S}/metadata.qnet.json"],
    "run/image-empty": ["run", "--port", "{tty}", "--model", TINY, "{S}/empty.npy"],
    "run/image-complex": ["run", "--port", "{tty}", "--model", TINY, "{S}/complex.npy"],
    "run/image-npz-archive": ["run", "--port", "{tty}", "--model", TINY, "{S}/archive.npz"],
    "run/image-header-beyond-file": ["run", "--port", "{tty}", "--model", TINY,
                                     "{S}/claims.npy"],
    "compile/qnet-nested-40-deep": ["compile", "{S}/nested40.qnet.json", "--budget", BUDGET,
                                    "--out", "{out}", "--no-verilog"],
    "sim/qnet-nested-40-deep": ["sim", "{S}/nested40.qnet.json"],
    "compile/qnet-duplicate-key": ["compile", "{S}/dupkey.qnet.json", "--budget", BUDGET,
                                   "--out", "{out}", "--no-verilog"],
    "compile/budget-duplicate-field": ["compile", TINY, "--budget", BUDGET + ",dsp=9",
                                       "--out", "{out}", "--no-verilog"],
    "compile/budget-empty-field": ["compile", TINY, "--budget", "dsp=8,,lut4=20000,ebr=10",
                                   "--out", "{out}", "--no-verilog"],
    "sim/images-beyond-test-split": ["sim", DEMO, "--images", "361"],
    "compile/cifar10-more-than-10000-records": ["compile", "resnet20", "--preset", "A",
                                                "--data", "cifar10:{S}/cifar_big",
                                                "--out", "{out}", "--no-verilog"],
    # ----- report
    "report/unknown-board": ["report", "--board", "nope", "--out", "{out}"],
    "report/missing-out": ["report"],
    "report/images-1": ["report", "--images", "1", "--out", "{out}"],
    "report/images-0": ["report", "--images", "0", "--out", "{out}"],
    "report/images-negative": ["report", "--images", "-3", "--out", "{out}"],
    "report/images-beyond-test-split": ["report", "--images", "1000", "--out", "{out}"],
    "report/target-mhz-0": ["report", "--target-mhz", "0", "--out", "{out}"],
    "report/target-mhz-nan": ["report", "--target-mhz", "nan", "--out", "{out}"],
    "report/target-mhz-beyond-pll": ["report", "--target-mhz", "500", "--out", "{out}"],
    "report/missing-model": ["report", "/nonexistent/model.pt", "--out", "{out}"],
    "report/truncated": ["report", "{S}/truncated.pt", "--out", "{out}"],
    "report/garbage": ["report", "{S}/garbage.pt", "--out", "{out}"],
    "report/flipped-weight-bytes": ["report", "{S}/flipped.pt", "--out", "{out}"],
    "report/qnet-metadata-list": ["report", "{S}/metadata.qnet.json", "--out", "{out}"],
    "report/out-is-a-file": ["report", "--out", "{file}"],
    "report/out-under-a-file": ["report", "--out", "{file}/r"],
    "report/out-on-sysfs": ["report", "--out", "/sys/structhw-report"],
    "report/chain-qnet-not-of-the-digits-shape": ["report", TINY, "--out", "{out}"],
    "report/model-is-a-fifo": ["report", "{S}/fifo.pt", "--out", "{out}"],
    "report/out-dangling-link": ["report", "--out", "{S}/dangling"],
    # ----- files that are not regular files, JSON integers beyond 64 bits, link and name limits
    "compile/qnet-is-a-fifo": ["compile", "{S}/fifo.qnet.json", "--out", "{out}"],
    "compile/checkpoint-is-a-fifo": ["compile", "{S}/fifo.pt", "--out", "{out}"],
    "compile/qnet-links-to-dev-zero": ["compile", "{S}/zero.qnet.json", "--out", "{out}"],
    "quantize/checkpoint-is-a-fifo": ["quantize", "{S}/fifo.pt"],
    "sim/qnet-links-to-dev-zero": ["sim", "{S}/zero.qnet.json"],
    "build/qnet-is-a-fifo": ["build", "{S}/fifo.qnet.json", "--out", "{out}"],
    "compile/qnet-int-of-5000-digits": ["compile", "{S}/digits5000.qnet.json", "--out", "{out}"],
    "sim/qnet-int-of-5000-digits": ["sim", "{S}/digits5000.qnet.json"],
    "quantize/qnet-int-beyond-64-bits": ["quantize", "{S}/int70.qnet.json"],
    "build/qnet-int-beyond-64-bits": ["build", "{S}/int70.qnet.json", "--out", "{out}"],
    "train/out-dangling-link": ["train", "--out", "{S}/dangling"],
    "train/out-link-loop": ["train", "--out", "{S}/loop"],
    "compile/out-dangling-link": ["compile", TINY, "--out", "{S}/dangling"],
    "compile/out-under-a-dangling-link": ["compile", TINY, "--out", "{S}/dangling/c"],
    "train/out-name-too-long-for-its-staging-folder": ["train", "--out", "{out}/" + "a" * 240],
    "compile/out-name-too-long-for-its-staging-folder": ["compile", TINY,
                                                         "--out", "{out}/" + "b" * 230],
    "sim/dump-name-too-long-for-its-temporary-file": ["sim", TINY,
                                                      "--dump", "{out}/" + "d" * 240 + ".npz"],
    "sim/work-is-a-file": ["sim", TINY, "--work", "{file}"],
    "sim/work-dangling-link": ["sim", TINY, "--work", "{S}/dangling"],
}


@pytest.fixture(scope="module")
def static(tmp_path_factory):
    """The shared input files (never written by a case)."""
    d = tmp_path_factory.mktemp("inputs")
    write_static_files(d)
    return d


@pytest.fixture(scope="module")
def tty():
    """A pseudo-terminal that pyserial opens like a USB serial port (nothing answers on it)."""
    controller, device = os.openpty()
    yield os.ttyname(device)
    os.close(controller)
    os.close(device)


def snapshot(*roots) -> dict:
    """Every path under ``roots`` with its bytes (None for a folder; its mode and link target
    for a FIFO, device or link, which are not read)."""
    state = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            state[folder] = None
            for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                path = os.path.join(folder, name)
                mode = os.lstat(path).st_mode
                if stat.S_ISREG(mode):
                    with open(path, "rb") as f:
                        state[path] = f.read()
                else:
                    state[path] = (mode, os.readlink(path) if stat.S_ISLNK(mode) else None)
    return state


def _never(what):
    def reached(*args, **kwargs):
        raise AssertionError(f"a bad input reached {what}")
    return reached


WALL_LIMIT = 10
"""Seconds after which a case is stopped as a failure: a regression that lets a bad input run
away (the 4096×4096 layer grew by ~40 MB/s) fails the test instead of exhausting the machine."""


class RanAway(BaseException):
    """Raised in a case still running after WALL_LIMIT (a BaseException: no handler in structhw
    may turn it into a clean exit)."""


def _stop(signum, frame):
    raise RanAway(f"still running after {WALL_LIMIT} s: the input was not refused up front")


@pytest.fixture
def time_limit():
    previous = signal.signal(signal.SIGALRM, _stop)
    signal.alarm(WALL_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def guarded(monkeypatch):
    """Replace every expensive or outside-world stage with a failure (see the module docstring)."""
    import structhw.boards.flow
    import structhw.commands.flash
    import structhw.commands.run
    import structhw.commands.sim
    import structhw.graph.pipeline
    import structhw.quant.pipeline
    import structhw.sim.layer
    import structhw.report
    import structhw.train

    monkeypatch.setattr(structhw.quant.pipeline, "quantize", _never("quantization"))
    monkeypatch.setattr(structhw.graph.pipeline, "quantize_graph",
                        _never("graph quantization"))
    monkeypatch.setattr(structhw.commands.sim, "_simulate", _never("a network simulation"))
    monkeypatch.setattr(structhw.sim.layer, "simulate_layers", _never("a layer simulation"))
    monkeypatch.setattr(structhw.train, "run_training", _never("training"))
    monkeypatch.setattr(structhw.boards.flow, "build_board", _never("a board build"))
    monkeypatch.setattr(structhw.report, "collect_report", _never("the report's measurements"))
    monkeypatch.setattr(structhw.commands.flash.subprocess, "run", _never("openFPGALoader"))
    monkeypatch.setattr(structhw.commands.run, "infer", _never("talking to a board"))


def test_the_table_covers_every_command_with_over_100_inputs():
    commands = {argv[0] for argv in CASES.values() if argv and argv[0] != "nope"}
    assert commands == set(cli.COMMANDS)
    assert len(CASES) >= 100


ENV_CASES = {
    "train/world-size-not-an-integer": ({"WORLD_SIZE": "abc"}, ["train", "--out", "{out}"]),
    "train/world-size-0": ({"WORLD_SIZE": "0"}, ["train", "--out", "{out}"]),
}
"""Bad settings of the environment variables a command reads, with the command line."""


@pytest.mark.parametrize("argv", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, static, tty, tmp_path,
                                                         monkeypatch, capsys, guarded,
                                                         time_limit):
    check_refused(argv, static, tty, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("env, argv", list(ENV_CASES.values()), ids=list(ENV_CASES))
def test_bad_environment_is_one_line_exit_2_and_writes_nothing(env, argv, static, tty, tmp_path,
                                                               monkeypatch, capsys, guarded,
                                                               time_limit):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    check_refused(argv, static, tty, tmp_path, monkeypatch, capsys)


def check_refused(argv, static, tty, tmp_path, monkeypatch, capsys) -> None:
    """Run ``argv`` in a fresh folder; assert one error line, exit 2, nothing written."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("an earlier run's result\n")
    (tmp_path / "afile").write_text("a file, not a folder\n")
    monkeypatch.chdir(tmp_path)
    places = {"out": tmp_path / "out", "file": tmp_path / "afile", "S": static, "tty": tty}
    argv = [arg.format(**places) for arg in argv]
    before = snapshot(tmp_path, static)
    started = time.process_time()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        code = cli.main(argv)
    seconds = time.process_time() - started
    out, err = capsys.readouterr()
    lines = [line for line in err.replace("\r", "\n").split("\n") if line.strip()]
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert not shown, [str(w.message)[:200] for w in shown]
    assert lines[0].startswith("structhw") and ": error: " in lines[0], lines[0]
    assert snapshot(tmp_path, static) == before
    assert seconds < 5, f"{seconds:.1f} s of CPU to refuse it"
    print(f"{' '.join(argv)}\n    → {lines[0]}")

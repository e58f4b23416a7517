"""``structhw run --port /dev/ttyUSB0 [IMAGES…] [--model MODEL] [--digits N]``: the host client.
Sends int8 images to the board over the UART host link (format: ``docs/hostlink.md``), prints
each predicted class and the logits, and checks them against the golden integer model."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError

DEFAULT_BAUD = 115200
MAX_BAUD = 12_000_000
"""Fastest UART rate a USB serial bridge runs (FTDI FT2232H, the ULX3S's: 12 Mbaud)."""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="send images to the board over UART; print and check its answers",
        description="Send images to a board running a structhw bitstream, print the class and "
        "logits it returns, and compare them with the golden integer model (bit-exact).")
    parser.add_argument("images", nargs="*", metavar="IMAGES",
                        help=".npy files: [C,H,W] or [N,C,H,W]; integer arrays are taken as int8 "
                        "values, float arrays are quantized with the model's input scale "
                        "(default: --digits 10)")
    parser.add_argument("--port", required=True, help="serial port of the board (e.g. /dev/ttyUSB0)")
    parser.add_argument("--model", metavar="MODEL",
                        help="the model the bitstream was built from: a training checkpoint or a "
                        "*.qnet.json (default: the shipped demo model)")
    parser.add_argument("--digits", type=int, metavar="N",
                        help="send the first N images of the digits test split")
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                        help="UART rate in baud, > 0 (default 115200)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for each answer, > 0 (default 5)")
    parser.set_defaults(func=run)


def load_qnet(model):
    """The QuantNet of ``model`` (a ``*.qnet.json`` or a training checkpoint; None: the demo)."""
    if model is not None and str(model).endswith(".qnet.json"):
        from .compile import load_qnet_file
        return load_qnet_file(model)
    from ..quant import quantize_checkpoint
    qnet, _ = quantize_checkpoint(model)
    return qnet


def load_images(paths, digits, qnet) -> list:
    """(name, int8 image [C, H, W] as int64 array, label or None) for every image to send."""
    import torch
    from ..quant import quantize_input

    out = []
    for path in paths:
        try:
            # mapped, not read: a header claiming more data than the file holds is refused here
            arr = np.load(path, allow_pickle=False, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"image file {path}: not a readable .npy array ({exc})") from None
        if not isinstance(arr, np.ndarray):
            arr.close()
            raise ConfigError(f"image file {path}: an .npz archive; give each array as a .npy "
                              f"file (numpy.save)")
        batch = arr[None] if arr.ndim == 3 else arr
        if batch.ndim != 4 or tuple(batch.shape[1:]) != qnet.input_shape:
            raise ConfigError(f"image file {path}: shape {arr.shape}, the model takes "
                              f"[C,H,W] = {list(qnet.input_shape)} (or a batch of them)")
        if not len(batch):
            raise ConfigError(f"image file {path}: holds no image (shape {arr.shape})")
        if not (np.issubdtype(batch.dtype, np.integer) or np.issubdtype(batch.dtype, np.floating)):
            raise ConfigError(f"image file {path}: dtype {batch.dtype}; images are int8 values "
                              f"or float images (normalised as the model's training data)")
        batch = np.array(batch)
        if np.issubdtype(batch.dtype, np.floating):
            batch = quantize_input(torch.from_numpy(batch.astype(np.float32)), qnet).numpy()
        elif batch.min() < -128 or batch.max() > 127:
            raise ConfigError(f"image file {path}: integer values must be int8 (-128..127)")
        out += [(f"{Path(path).name}[{i}]" if len(batch) > 1 else Path(path).name,
                 batch[i].astype(np.int64), None) for i in range(len(batch))]
    if digits:
        from ..data import digits_arrays, normalise, split_indices
        images, labels = digits_arrays()
        _, test_idx = split_indices()
        chosen = test_idx[:digits]
        quantized = quantize_input(normalise(images[chosen]), qnet).numpy()
        out += [(f"digits-test[{i}]", quantized[i].astype(np.int64), int(labels[j]))
                for i, j in enumerate(chosen)]
    return out


def open_port(port: str, baud: int, timeout: float):
    """An open pyserial port, or ConfigError in one line."""
    import serial

    try:
        return serial.Serial(port, baud, timeout=timeout)
    except (serial.SerialException, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"serial port {port}: cannot open it ({reason}); is the board plugged in "
                          f"and programmed (structhw flash)?") from None


def infer(port, image, num_classes: int):
    """Send one int8 image [C, H, W] and return the decoded answer (Result or LinkError)."""
    from structhw.boards import protocol

    port.reset_input_buffer()
    port.write(protocol.encode_request(image))
    port.flush()
    return protocol.read_response(port.read, num_classes)


def check_arguments(args) -> None:
    """The numbers and files of the arguments, checked before the port is opened or a model
    quantized."""
    from ..data import split_indices

    if not 0 < args.baud <= MAX_BAUD:
        raise ConfigError(f"--baud must be a rate between 1 and {MAX_BAUD} (a USB serial "
                          f"bridge's fastest), got {args.baud}")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ConfigError(f"--timeout must be a finite number of seconds > 0, got {args.timeout:g}")
    if args.digits is not None:
        available = len(split_indices()[1])
        if not 1 <= args.digits <= available:
            raise ConfigError(f"--digits {args.digits}: must be between 1 and {available} "
                              f"(the digits test split)")
    for path in args.images:
        if not Path(path).is_file():
            raise ConfigError(f"image file {path}: no such file")
    from .compile import check_model
    check_model(args.model)


def run(args) -> int:
    import torch
    from structhw.boards import protocol
    from .. import golden

    check_arguments(args)
    port = open_port(args.port, args.baud, args.timeout)
    with port:
        qnet = load_qnet(args.model)
        images = load_images(args.images, args.digits or (0 if args.images else 10), qnet)
        mismatches = 0
        for name, image, label in images:
            answer = infer(port, image, qnet.num_classes)
            if isinstance(answer, protocol.LinkError):
                raise ConfigError(f"{name}: the board answered with an error frame: "
                                  f"{answer.message}")
            expect = golden.logits(qnet, torch.from_numpy(image[None])).reshape(-1).tolist()
            ok = list(answer.logits) == expect
            mismatches += not ok
            label_text = f" label {label}" if label is not None else ""
            print(f"{name}: class {answer.predicted}{label_text} logits {list(answer.logits)} "
                  + ("== golden" if ok else f"!= golden {expect}"))
    if mismatches:
        print(f"structhw run: {mismatches} of {len(images)} answers differ from the golden model",
              file=sys.stderr)
        return 1
    print(f"all {len(images)} answers match the golden model bit-exactly")
    return 0

"""The host link's frame format, host side: encode requests, decode responses.

Shared by ``structhw run`` (the host client) and the tests; the gateware that speaks the other
side is :class:`structhw.boards.hostlink.HostLink`. ``docs/hostlink.md`` describes the format.

Request (host → board)::

    SYNC0 SYNC1 'I' image[C·H·W] CRC

Responses (board → host)::

    SYNC0 SYNC1 'R' logits[K] class CRC        a result
    SYNC0 SYNC1 'E' code CRC                   an error

``image`` is the int8 image in the accelerator's stream order: pixel by pixel in raster order
(row by row, left to right), the C channels of a pixel consecutively (so (H, W, C) order), each
value as one two's-complement byte. ``logits`` are the K int8 logits, ``class`` the index of the
first largest logit. ``CRC`` is CRC-8 (polynomial x⁸+x²+x+1, 0x07; initial value 0; no
reflection; no final XOR) over every byte after SYNC1, the type byte included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from structhw.errors import ConfigError

SYNC = bytes([0xA5, 0x5A])
TYPE_IMAGE = ord("I")
TYPE_RESULT = ord("R")
TYPE_ERROR = ord("E")
CRC_POLY = 0x07

ERROR_BAD_SYNC = 0x01
ERROR_BAD_TYPE = 0x02
ERROR_BAD_CHECKSUM = 0x03
ERROR_TIMEOUT = 0x04
ERROR_NAMES = {
    ERROR_BAD_SYNC: "bad sync (a byte arrived that does not start a frame)",
    ERROR_BAD_TYPE: "bad frame type (only 'I', an image, is understood)",
    ERROR_BAD_CHECKSUM: "bad checksum (the image arrived corrupted)",
    ERROR_TIMEOUT: "timeout (the line went idle in the middle of a frame)",
}


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8 with polynomial 0x07 (MSB first, no reflection, no final XOR), continuing from
    ``crc``."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def image_bytes(image) -> bytes:
    """The wire bytes of one int8 image given as a [C, H, W] array (values in -128..127), in the
    stream's (H, W, C) order."""
    arr = np.asarray(image)
    if arr.ndim != 3:
        raise ConfigError(f"image: expected a [C, H, W] array, got shape {arr.shape}")
    if arr.size and (arr.min() < -128 or arr.max() > 127):
        raise ConfigError(f"image: values must be int8 (-128..127), got {arr.min()}..{arr.max()}")
    return arr.astype(np.int64).transpose(1, 2, 0).astype(np.int8).tobytes()


def encode_request(image) -> bytes:
    """The request frame for one [C, H, W] int8 image."""
    body = bytes([TYPE_IMAGE]) + image_bytes(image)
    return SYNC + body + bytes([crc8(body)])


def argmax_first(logits) -> int:
    """Index of the first largest value (``torch.argmax`` semantics on ties)."""
    values = [int(v) for v in logits]
    return values.index(max(values))


@dataclass(frozen=True)
class Result:
    """A decoded result frame: ``logits`` (K signed ints) and ``predicted`` (class index)."""

    logits: tuple
    predicted: int


@dataclass(frozen=True)
class LinkError:
    """A decoded error frame: ``code`` (one of ``ERROR_*``) and its meaning."""

    code: int

    @property
    def message(self) -> str:
        return ERROR_NAMES.get(self.code, f"unknown error code 0x{self.code:02x}")


class ProtocolError(ConfigError):
    """Bytes from the board that are not a well-formed response frame."""


def encode_result(logits) -> bytes:
    """The result frame the board sends for ``logits`` (what the gateware must produce)."""
    values = [int(v) for v in logits]
    body = bytes([TYPE_RESULT]) + np.asarray(values, dtype=np.int8).tobytes() \
        + bytes([argmax_first(values)])
    return SYNC + body + bytes([crc8(body)])


def encode_error(code: int) -> bytes:
    """The error frame the board sends for error ``code``."""
    body = bytes([TYPE_ERROR, code])
    return SYNC + body + bytes([crc8(body)])


def response_length(frame_type: int, num_classes: int) -> int:
    """Total bytes of a response frame of ``frame_type`` (sync and CRC included)."""
    if frame_type == TYPE_RESULT:
        return len(SYNC) + 1 + num_classes + 1 + 1
    if frame_type == TYPE_ERROR:
        return len(SYNC) + 1 + 1 + 1
    raise ProtocolError(f"response: unknown frame type 0x{frame_type:02x}")


def decode_response(frame: bytes, num_classes: int) -> Result | LinkError:
    """Decode one complete response frame (sync included).

    Raises
    ------
    ProtocolError
        Wrong sync, unknown type, wrong length, bad CRC, or a class byte that is not the argmax.
    """
    frame = bytes(frame)
    if frame[:2] != SYNC:
        raise ProtocolError(f"response: expected sync {SYNC.hex()}, got {frame[:2].hex()}")
    if len(frame) < 3:
        raise ProtocolError("response: frame ends after the sync bytes")
    length = response_length(frame[2], num_classes)
    if len(frame) != length:
        raise ProtocolError(f"response: a type {chr(frame[2])!r} frame is {length} bytes, got {len(frame)}")
    body, crc = frame[2:-1], frame[-1]
    if crc8(body) != crc:
        raise ProtocolError(f"response: CRC 0x{crc:02x} does not match the frame (0x{crc8(body):02x})")
    if frame[2] == TYPE_ERROR:
        return LinkError(body[1])
    logits = tuple(int(v) for v in np.frombuffer(body[1:1 + num_classes], dtype=np.int8))
    predicted = body[1 + num_classes]
    if predicted != argmax_first(logits):
        raise ProtocolError(f"response: class byte {predicted} is not the argmax of the logits")
    return Result(logits, predicted)


def read_response(read, num_classes: int) -> Result | LinkError:
    """Read one response with ``read(n) -> bytes`` (e.g. a pyserial port's ``read``), skipping
    bytes before the sync; a short read (timeout) raises :class:`ProtocolError`."""
    window = b""
    while window != SYNC:
        byte = read(1)
        if not byte:
            raise ProtocolError("response: no frame from the board before the timeout")
        window = (window + byte)[-2:]
    kind = read(1)
    if not kind:
        raise ProtocolError("response: frame ends after the sync bytes")
    rest_len = response_length(kind[0], num_classes) - 3
    rest = read(rest_len)
    if len(rest) != rest_len:
        raise ProtocolError(f"response: frame truncated ({len(rest)} of {rest_len} bytes after the type)")
    return decode_response(SYNC + kind + rest, num_classes)

"""structhw flash / run: one clear line and a non-zero exit when the board, tool or port is
missing; the host client's request/answer exchange against a simulated board."""

import stat

import numpy as np
import pytest

from structhw.boards import protocol
from structhw.cli import main
from structhw.commands.flash import explain_failure
from structhw.commands.run import infer
from tests.boards.standin import standin_logits


def stderr_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_flash_missing_bitstream_is_one_line(tmp_path, capsys):
    assert main(["flash", "--board", "ulx3s", str(tmp_path / "top.bit")]) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "not found" in lines[0] and "structhw build" in lines[0]


def test_flash_unknown_board_lists_boards(tmp_path, capsys):
    assert main(["flash", "--board", "de10-nano", str(tmp_path / "top.bit")]) == 2
    assert "ulx3s-85f" in stderr_lines(capsys)[0]


def test_flash_without_a_board_attached(tmp_path, capsys, monkeypatch):
    fake = tmp_path / "openFPGALoader"
    fake.write_text("#!/bin/sh\necho 'unable to open ftdi device: -3 (device not found)' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("OPENFPGALOADER", str(fake))
    bitstream = tmp_path / "top.bit"
    bitstream.write_bytes(b"\xff\x00")
    assert main(["flash", "--board", "ulx3s", str(bitstream)]) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "no board found" in lines[0]


def test_flash_failure_explanations():
    assert "libusb-1.0.so.0" in explain_failure(
        127, "openFPGALoader: error while loading shared libraries: libusb-1.0.so.0: cannot open "
             "shared object file: No such file or directory")
    assert "exit 3" in explain_failure(3, "something\nbitstream too large\n")


def test_run_missing_port_is_one_line(capsys):
    assert main(["run", "--port", "/dev/does-not-exist-ttyUSB9"]) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "/dev/does-not-exist-ttyUSB9" in lines[0]


class FakeBoard:
    """A serial port whose far end behaves like the board running the stand-in accelerator."""

    def __init__(self, shape, classes, corrupt_next=False):
        self.shape, self.classes = shape, classes
        self.pending = b""
        self.corrupt_next = corrupt_next

    def reset_input_buffer(self):
        self.pending = b""

    def flush(self):
        pass

    def write(self, frame):
        body = frame[3:-1]
        if self.corrupt_next or protocol.crc8(frame[2:-1]) != frame[-1]:
            self.corrupt_next = False
            self.pending += b"\x00" + protocol.encode_error(protocol.ERROR_BAD_CHECKSUM)
            return
        c, h, w = self.shape
        image = np.frombuffer(body, dtype=np.int8).reshape(h, w, c).transpose(2, 0, 1)
        self.pending += protocol.encode_result(standin_logits(image.astype(np.int64), self.classes))

    def read(self, n):
        out, self.pending = self.pending[:n], self.pending[n:]
        return out


def test_host_client_exchange_with_a_fake_board():
    rng = np.random.default_rng(3)
    shape, classes = (2, 3, 4), 7
    board = FakeBoard(shape, classes, corrupt_next=True)
    image = rng.integers(-128, 128, size=shape)
    assert infer(board, image, classes) == protocol.LinkError(protocol.ERROR_BAD_CHECKSUM)
    answer = infer(board, image, classes)
    assert list(answer.logits) == standin_logits(image, classes)
    assert answer.predicted == protocol.argmax_first(answer.logits)
    with pytest.raises(protocol.ProtocolError, match="no frame"):
        protocol.read_response(lambda n: b"", classes)


class GoldenBoard(FakeBoard):
    """A fake board that answers with the golden model's logits of ``qnet`` (optionally wrong)."""

    def __init__(self, qnet, wrong=False):
        super().__init__(qnet.input_shape, qnet.num_classes)
        self.qnet, self.wrong = qnet, wrong

    def write(self, frame):
        import torch
        from structhw import golden
        c, h, w = self.shape
        image = np.frombuffer(frame[3:-1], dtype=np.int8).reshape(h, w, c).transpose(2, 0, 1)
        logits = golden.logits(self.qnet, torch.from_numpy(image.astype(np.int64)[None]))[0].tolist()
        if self.wrong:
            logits[0] = (logits[0] + 129) % 256 - 128
        self.pending += protocol.encode_result(logits)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("wrong", [False, True])
def test_run_checks_answers_against_golden(tmp_path, capsys, monkeypatch, wrong):
    from structhw import qnet as qnet_io
    from structhw.commands import run as run_command
    from tests.rtl.test_network import random_net

    qnet = random_net(5, structured=True)
    model = qnet_io.save(qnet, tmp_path / "net.qnet.json")
    images = np.random.default_rng(5).integers(-128, 128, size=(3, *qnet.input_shape)).astype(np.int8)
    np.save(tmp_path / "images.npy", images)
    monkeypatch.setattr(run_command, "open_port", lambda port, baud, timeout: GoldenBoard(qnet, wrong))
    code = main(["run", "--port", "fake", "--model", str(model), str(tmp_path / "images.npy")])
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert code == (1 if wrong else 0)
    assert len([line for line in lines if line.startswith("images.npy[")]) == 3
    if wrong:
        assert "3 of 3 answers differ" in out.err and "!= golden" in lines[0]
    else:
        assert "match the golden model bit-exactly" in lines[-1]

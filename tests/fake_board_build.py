"""A stand-in for :func:`structhw.boards.flow.build_board` that runs no tool: it records each call
and writes what a build writes (a bitstream, report.json, the logs) into the folder it is given,
or fails like a tool would after writing its logs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from structhw.errors import ConfigError


@dataclass
class FakeReport:
    """What the build command reads of a :class:`~structhw.boards.build.BuildReport`."""

    bitstream: str | None

    def table(self) -> str:
        return "stand-in build"


@dataclass
class FakeBoardBuild:
    """Callable like ``build_board``; ``calls`` holds ``(board, factory, out_dir, MHz, shape)``.
    With ``fail`` set, it writes the logs and a report.json with the error, then raises
    ConfigError(``fail``), as a build that missed timing does."""

    fail: str | None = None
    calls: list = field(default_factory=list)

    def __call__(self, board, factory, out_dir, target_mhz, image_shape):
        self.calls.append((board, factory, Path(out_dir), target_mhz, image_shape))
        out_dir = Path(out_dir)
        (out_dir / "build.log").write_text(f"stand-in build of {board}\n")
        (out_dir / "nextpnr.log").write_text("Info: stand-in\n")
        report = {"board": board, "target_mhz": target_mhz, "fmax_mhz": 50.0}
        if self.fail:
            (out_dir / "report.json").write_text(json.dumps({**report, "error": self.fail}))
            raise ConfigError(self.fail)
        bitstream = out_dir / "top.bit"
        bitstream.write_bytes(b"stand-in bitstream of " + board.encode())
        (out_dir / "report.json").write_text(json.dumps({**report, "bitstream": "top.bit"}))
        return FakeReport(str(bitstream))

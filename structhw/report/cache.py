"""Board builds of a plan and their cache: one build per key, reused while the key holds."""

from __future__ import annotations

import json
from pathlib import Path

from .. import __version__
from ..errors import ConfigError
from ..jsonfile import write_json

BUILD_KEY = "build-key.json"
"""File in a build folder recording the :func:`build_key` its ``report.json`` was built under."""


def build_key(board: str, plan, target_mhz: float) -> str:
    """SHA-256 naming one bitstream build: the digest of the files yosys and nextpnr would get for
    ``plan``'s network in ``board``'s top at ``target_mhz`` (RTLIL, constraints, scripts with
    their options) and the tool versions (:func:`structhw.boards.flow.board_design_digest`). A
    changed generator, plan, board, clock or tool makes another key; a cached build is reused
    only under the same key."""
    from structhw.boards.flow import board_design_digest
    from structhw.rtl_gen.graph_network import accelerator

    return board_design_digest(board, lambda: accelerator(plan), target_mhz,
                               image_shape=plan.input_shape)


def cached_build(out_dir, key: str) -> dict | None:
    """The ``report.json`` of an earlier build in ``out_dir`` when both the key recorded beside
    it and the ``design_sha256`` the build recorded in it equal ``key`` (:func:`build_key` of
    the build about to run), else ``None``: a report.json edited, corrupted or left by another
    build under a matching key file is not trusted."""
    out_dir = Path(out_dir)
    try:
        recorded = json.loads((out_dir / BUILD_KEY).read_text())["key"]
        report = json.loads((out_dir / "report.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(report, dict):
        return None
    return report if recorded == key and report.get("design_sha256") == key else None


def board_build(board: str, plan, out_dir, target_mhz: float) -> dict:
    """Build ``plan``'s network in the board top into ``out_dir`` (yosys → nextpnr → pack) and
    return the ``report.json`` it wrote (resources, Fmax; ``"error"`` when it missed timing or
    did not fit — then a :class:`ConfigError` is raised only if nextpnr produced no figures)."""
    from structhw.boards.flow import build_board
    from structhw.rtl_gen.graph_network import accelerator

    out_dir = Path(out_dir)
    try:
        build_board(board, lambda: accelerator(plan), out_dir, target_mhz,
                    image_shape=plan.input_shape)
    except ConfigError as exc:
        if not (out_dir / "report.json").exists():
            raise ConfigError(f"{exc} (logs in {out_dir})") from None
    return json.loads((out_dir / "report.json").read_text())


def cached_board_build(board: str, plan, out_dir, target_mhz: float, *, build: bool = True,
                       builder=board_build) -> tuple[dict, bool]:
    """``(report.json contents, reused)`` for ``plan`` on ``board`` in ``out_dir``.

    Reuses the cached report when :func:`cached_build` accepts it, otherwise runs
    ``builder(board, plan, out_dir, target_mhz)`` (unless ``build`` is False) and records the
    key; either way ``out_dir/plan.json`` is the plan built. Raises :class:`ConfigError` with the
    reason when there is no report, writing nothing.
    """
    out_dir = Path(out_dir)
    key = build_key(board, plan, target_mhz)
    cached = cached_build(out_dir, key)
    if cached is not None:
        plan.save(out_dir / "plan.json")
        return cached, True
    if not build:
        raise ConfigError(f"not built (--no-build) and no cached build of this design in {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    plan.save(out_dir / "plan.json")
    (out_dir / BUILD_KEY).unlink(missing_ok=True)
    report = builder(board, plan, out_dir, target_mhz)
    write_json(out_dir / BUILD_KEY, {"key": key, "board": board, "target_mhz": float(target_mhz),
                                     "structhw": __version__})
    return report, False


def measured_build(missing, what: str, board: str, plan, out_dir: Path, target_mhz: float, *,
                   build: bool, builder) -> tuple:
    """``(nextpnr report, reused)`` of :func:`cached_board_build`, or ``(None, None)`` with the
    reason under ``<what>.build`` in ``missing`` (:class:`~structhw.report.missing.Missing`); a
    build that missed timing is kept, its error also recorded under ``<what>.timing``."""
    result = missing.attempt(f"{what}.build", cached_board_build, board, plan, out_dir,
                             target_mhz, build=build, builder=builder)
    if result is None:
        return None, None
    if result[0].get("error"):
        missing.reasons.setdefault(f"{what}.timing", result[0]["error"])
    return result

"""Where nextpnr is, read from its growing log (``--log``): the phase and, where nextpnr prints
one, a count that moves.

The lines it follows are nextpnr's own (ECP5 and iCE40 print the same ones):

* packing (nextpnr's own, into the FPGA's cells): from the start of the log to the first placer line;
* HeAP analytic placer: four initial solves, then ``at iteration #N, type ALL: ...``;
* simulated-annealing placer (refinement, or ``--placer sa``): ``at iteration #N: temp = ...``;
* routing the global (clock) nets first: ``Routing globals...``;
* router1: ``Routing N arcs.``, then a table row every 1000 arcs whose ``remaining arcs``
  column is the count of arcs still unrouted (ripped-up arcs go back into it);
* router2: ``iter=N wires=W overused=O ...`` per iteration, O the wires still used by more
  than one net; then router1 runs over the result (``Running router1 to check ...``);
* the timing report after routing (``Critical path report``, ``Max frequency``).

:class:`PnrLog` takes the log text piece by piece (a piece may end mid-line; the tail waits
for the rest) and :meth:`PnrLog.describe` gives one short line for a progress bar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PACK, HEAP, SA, ROUTE, ROUTE1, ROUTE2, CHECK, TIMING, DONE = (
    "packing", "place HeAP", "place SA", "route", "route router1", "route router2", "route check",
    "timing", "done")
PHASES = (PACK, HEAP, SA, ROUTE, ROUTE1, ROUTE2, CHECK, TIMING, DONE)
"""Phase names in the order nextpnr goes through them: ``route`` is the global nets, then
router1, or router2 and its check."""

_HEAP_ITER = re.compile(r"at iteration #(\d+), type \S+: wirelen solved = \d+, spread = \d+, "
                        r"legal = (\d+)")
_SA_ITER = re.compile(r"at iteration #(\d+): temp = [\d.e+-]+, timing cost = \d+, "
                      r"wirelen = (\d+)")
_ROUTE1_ARCS = re.compile(r"Routing (\d+) arcs\.")
_ROUTE1_ROW = re.compile(r"^Info:\s+(\d+) \|\s*\d+\s+\d+ \|\s*\d+\s+\d+ \|\s*(\d+)\|")
_ROUTE2_ITER = re.compile(r"iter=(\d+) wires=(\d+) overused=(\d+)")
# A line that starts a phase, and the phase it starts.
_MARKERS = (
    ("Creating initial analytic placement", HEAP),
    ("Running main analytical placer", HEAP),
    ("Running simulated annealing placer", SA),
    ("Running router2", ROUTE2),
    ("Running router1 to check", CHECK),
    ("Routing globals", ROUTE),
    ("Setting up routing queue", None),
    ("Critical path report", TIMING),
    ("Program finished normally", DONE),
)


@dataclass
class PnrStatus:
    """One reading of the log.

    ``phase``: one of :data:`PHASES`; ``iteration``: the placer's or router2's last iteration
    number (None when the phase has none); ``wirelen``: the placer's last wirelength (nextpnr's
    half-perimeter units); ``arcs_total``/``arcs_left``: router1's arcs to route and still
    unrouted; ``overused``: router2's wires still shared by several nets.
    """

    phase: str = PACK
    iteration: int | None = None
    wirelen: int | None = None
    arcs_total: int | None = None
    arcs_left: int | None = None
    overused: int | None = None


class PnrLog:
    """nextpnr's log, read as it grows.

    Feed it text with :meth:`feed` or let :meth:`follow` read what a log file gained since the
    last call; :attr:`status` is the :class:`PnrStatus` after the last complete line.
    """

    def __init__(self):
        self.status = PnrStatus()
        self._tail = ""
        self._offset = 0
        self._pending = b""
        self._router = ROUTE1

    def feed(self, text: str) -> PnrStatus:
        """Take more log text (any cut); returns the status after its last complete line."""
        lines = (self._tail + text).split("\n")
        self._tail = lines.pop()
        for line in lines:
            self._line(line)
        return self.status

    def follow(self, path) -> bool:
        """Read what the log at ``path`` gained since the last call (nothing when it does not
        exist yet or cannot be read: a progress display must not stop a build); True when
        :meth:`describe` changed."""
        before = self.describe()
        try:
            with open(Path(path), "rb") as log:
                log.seek(self._offset)
                data = self._pending + log.read()
        except OSError:
            return False
        self._offset += len(data) - len(self._pending)
        cut = data.rfind(b"\n") + 1
        self._pending = data[cut:]
        self.feed(data[:cut].decode("utf-8", errors="replace"))
        return self.describe() != before

    def describe(self) -> str:
        """One short line: the phase and its count, e.g. ``place HeAP #12`` or
        ``route router1 5,631/7,346 arcs left``."""
        s = self.status
        if s.phase in (HEAP, SA) and s.iteration is not None:
            return f"{s.phase} #{s.iteration}"
        if s.phase in (ROUTE1, CHECK) and s.arcs_total is not None:
            left = s.arcs_total if s.arcs_left is None else s.arcs_left
            return f"{s.phase} {left:,}/{s.arcs_total:,} arcs left"
        if s.phase == ROUTE2 and s.iteration is not None:
            return f"{s.phase} #{s.iteration}, {s.overused:,} overused wires"
        return s.phase

    def _enter(self, phase: str) -> None:
        if phase != self.status.phase:
            self.status = PnrStatus(phase=phase)

    def _line(self, line: str) -> None:
        for marker, phase in _MARKERS:
            if marker in line:
                if phase == ROUTE2:
                    self._router = ROUTE2
                self._enter(phase or (CHECK if self._router == ROUTE2 else ROUTE1))
                return
        s = self.status
        if s.phase == HEAP and (found := _HEAP_ITER.search(line)):
            s.iteration, s.wirelen = int(found.group(1)), int(found.group(2))
        elif s.phase == SA and (found := _SA_ITER.search(line)):
            s.iteration, s.wirelen = int(found.group(1)), int(found.group(2))
        elif s.phase in (ROUTE1, CHECK) and (found := _ROUTE1_ARCS.search(line)):
            s.arcs_total, s.arcs_left = int(found.group(1)), None
        elif s.phase in (ROUTE1, CHECK) and (found := _ROUTE1_ROW.search(line)):
            s.arcs_left = int(found.group(2))
        elif s.phase == ROUTE2 and (found := _ROUTE2_ITER.search(line)):
            s.iteration, s.overused = int(found.group(1)), int(found.group(3))

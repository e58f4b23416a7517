"""nextpnr's phases read from its log (boards/pnr_progress.py), on excerpts of real
nextpnr-ecp5 logs: the stand-in design on the ULX3S-85F with router1 and with
``--router router2``, and router1 rows of the demo build. No tool runs."""

from structhw.boards.pnr_progress import (CHECK, DONE, HEAP, PACK, PHASES, ROUTE, ROUTE1, ROUTE2,
                                          SA, TIMING, PnrLog)

PACKING = """\
Info: constraining clock net 'clk25_0__io' to 25.00 MHz

Info: Logic utilisation before packing:
Info:     Total LUT4s:      1678/83640     2%
Info: Packing IOs..
Info: Packing LUTs...
Info:     567 FFs paired with LUTs.
Info: Promoting globals...
Info: Checksum: 0x86d43e19
"""
PLACEMENT = """\
Info: Placed 13 cells based on constraints.
Info: Creating initial analytic placement for 1245 cells, random placement wirelen = 164707.
Info:     at initial placer iter 0, wirelen = 1250
Info:     at initial placer iter 3, wirelen = 1249
Info: Running main analytical placer, max placement attempts per cell = 1041124.
Info:     at iteration #1, type ALL: wirelen solved = 1217, spread = 16465, legal = 16750; time = 0.15s
Info:     at iteration #2, type ALL: wirelen solved = 1426, spread = 13790, legal = 14662; time = 0.12s
Info:     at iteration #20, type ALL: wirelen solved = 4375, spread = 9622, legal = 9909; time = 0.07s
Info: HeAP Placer Time: 3.30s
Info:   of which solving equations: 2.05s

Info: Running simulated annealing placer for refinement.
Info:   at iteration #1: temp = 0.000000, timing cost = 410, wirelen = 9362
Info:   at iteration #5: temp = 0.000000, timing cost = 226, wirelen = 8113
Info:   at iteration #15: temp = 0.000000, timing cost = 566, wirelen = 7697 
Info: SA placement time 3.07s

Info: Max frequency for clock '$glbnet$clk': 116.12 MHz (PASS at 100.00 MHz)
Info: Checksum: 0xe8a2900c
Info: Routing globals...
Info:     routing clock net $glbnet$clk using global 0
"""
ROUTER1 = """\

Info: Routing..
Info: Setting up routing queue.
Info: Routing 7346 arcs.
Info:            |   (re-)routed arcs  |   delta    | remaining|       time spent     |
Info:    IterCnt |  w/ripup   wo/ripup |  w/r  wo/r |      arcs| batch(sec) total(sec)|
Info:       1000 |       67        932 |   67   932 |      6462|       1.18       1.18|
Info:       2000 |      218       1781 |  151   849 |      5631|       0.41       1.58|
Info:       9000 |     1479       6920 |  115   753 |        86|       0.20       3.74|
Info:       9085 |     1479       6980 |    0    60 |         0|       0.02       3.76|
Info: Routing complete.
Info: Router1 time 3.76s
Info: Checksum: 0x12dc65ed
"""
ROUTER2 = """\
Info: Running router2...
Info: Setting up routing resources...
Info: Running main router loop...
Info:     iter=1 wires=27733 overused=1604 overuse=1884 archfail=NA
Info:     iter=2 wires=28154 overused=938 overuse=997 archfail=NA
Info:     iter=27 wires=28709 overused=1 overuse=1 archfail=NA
Info:     iter=28 wires=28709 overused=0 overuse=0 archfail=0
Info: Router2 time 4.89s
Info: Running router1 to check that route is legal...

Info: Routing..
Info: Setting up routing queue.
Info: Routing 0 arcs.
Info:            |   (re-)routed arcs  |   delta    | remaining|       time spent     |
Info:    IterCnt |  w/ripup   wo/ripup |  w/r  wo/r |      arcs| batch(sec) total(sec)|
Info:          0 |        0          0 |    0     0 |         0|       0.16       0.16|
Info: Routing complete.
Info: Router1 time 0.16s
Info: Checksum: 0x181202e3
"""
REPORT = """\

Info: Critical path report for clock '$glbnet$clk' (posedge -> posedge):
Info:       type curr  total name
Info:   clk-to-q  0.52  0.52 Source serial.accelerator.acc9_TRELLIS_FF_Q_21.Q
Info: Max frequency for clock '$glbnet$clk': 125.57 MHz (PASS at 100.00 MHz)

Info: Program finished normally.
"""


def readings(text: str) -> list:
    """describe() after each line, repeats dropped."""
    log, seen = PnrLog(), []
    for line in text.splitlines(keepends=True):
        log.feed(line)
        if not seen or seen[-1] != log.describe():
            seen.append(log.describe())
    return seen


def phases_in_order(seen: list) -> list:
    phases = []
    for reading in seen:
        phase = max((p for p in PHASES if reading.startswith(p)), key=len)
        if not phases or phases[-1] != phase:
            phases.append(phase)
    return phases


def test_empty_log_is_packing():
    log = PnrLog()
    assert log.feed("").phase == PACK and log.describe() == PACK
    assert log.status.iteration is None and log.status.arcs_left is None


def test_missing_log_file_reads_as_nothing(tmp_path):
    log = PnrLog()
    assert log.follow(tmp_path / "top.tim") is False and log.describe() == PACK


def test_router1_log_phases_and_falling_arc_count():
    seen = readings(PACKING + PLACEMENT + ROUTER1 + REPORT)
    assert phases_in_order(seen) == [PACK, HEAP, SA, ROUTE, ROUTE1, TIMING, DONE]
    assert [s for s in seen if s.startswith(HEAP + " #")] == [
        "place HeAP #1", "place HeAP #2", "place HeAP #20"]
    assert [s for s in seen if s.startswith(SA + " #")] == [
        "place SA #1", "place SA #5", "place SA #15"]
    assert [s for s in seen if s.startswith(ROUTE1)] == [
        "route router1", "route router1 7,346/7,346 arcs left",
        "route router1 6,462/7,346 arcs left", "route router1 5,631/7,346 arcs left",
        "route router1 86/7,346 arcs left", "route router1 0/7,346 arcs left"]


def test_router1_status_fields():
    log = PnrLog()
    log.feed(PACKING + PLACEMENT)
    assert log.status.phase == ROUTE
    status = log.feed(ROUTER1)
    assert (status.phase, status.arcs_total, status.arcs_left) == (ROUTE1, 7346, 0)


def test_placer_status_fields():
    log = PnrLog()
    status = log.feed(PACKING + PLACEMENT.split("Info: HeAP Placer Time")[0])
    assert (status.phase, status.iteration, status.wirelen) == (HEAP, 20, 9909)
    status = log.feed(PLACEMENT.split("Info: HeAP Placer Time")[1].split("Info: SA placement")[0])
    assert (status.phase, status.iteration, status.wirelen) == (SA, 15, 7697)


def test_router2_log_phases_and_falling_overuse():
    seen = readings(PACKING + PLACEMENT + ROUTER2 + REPORT)
    assert phases_in_order(seen) == [PACK, HEAP, SA, ROUTE, ROUTE2, CHECK, TIMING, DONE]
    assert [s for s in seen if s.startswith(ROUTE2)] == [
        "route router2", "route router2 #1, 1,604 overused wires",
        "route router2 #2, 938 overused wires", "route router2 #27, 1 overused wires",
        "route router2 #28, 0 overused wires"]
    assert "route check 0/0 arcs left" in seen
    assert not any(s.startswith(ROUTE1) for s in seen), "router2's check is not router1's run"


def test_demo_router1_rows():
    log = PnrLog()
    log.feed("Info: Routing globals...\nInfo: Setting up routing queue.\n"
             "Info: Routing 86572 arcs.\n")
    for row, left in (("      1000 |      583        416 |  583   416 |     86376|       5.73"
                       "       5.73|", 86376),
                      ("    134000 |    29387     101151 |  100   804 |       133|       4.97"
                       "    1091.91|", 133)):
        log.feed(f"Info: {row}\n")
        assert log.status.arcs_left == left
    assert log.describe() == "route router1 133/86,572 arcs left"


def test_log_cut_mid_line_waits_for_the_rest():
    log = PnrLog()
    log.feed(PACKING + "Info: Running main analytical placer, max placement attempts per cell")
    assert log.status.phase == PACK
    log.feed(" = 1041124.\nInfo:     at iteration #3, type ALL: wirelen solved = 2088, spr")
    assert log.status.phase == HEAP and log.status.iteration is None
    log.feed("ead = 13688, legal = 14209; time = 0.10s\n")
    assert log.describe() == "place HeAP #3"


def test_any_cut_gives_the_same_readings():
    text = PACKING + PLACEMENT + ROUTER1 + REPORT
    whole = PnrLog()
    whole.feed(text)
    for size in (1, 7, 100):
        log = PnrLog()
        for at in range(0, len(text), size):
            log.feed(text[at:at + size])
        assert log.status == whole.status


def test_follow_reads_only_what_the_file_gained(tmp_path):
    path = tmp_path / "top.tim"
    data = (PACKING + PLACEMENT + "Info: wirelen ≈ 1\n" + ROUTER1).encode()
    log = PnrLog()
    split = data.index("≈".encode()) + 1
    path.write_bytes(data[:split])
    assert log.follow(path) is True and log.describe() == ROUTE
    assert log.follow(path) is False
    cut = data.index(b"5631|") + 2
    with open(path, "ab") as f:
        f.write(data[split:cut])
    log.follow(path)
    assert log.describe() == "route router1 6,462/7,346 arcs left"
    with open(path, "ab") as f:
        f.write(data[cut:])
    assert log.follow(path) is True and log.describe() == "route router1 0/7,346 arcs left"

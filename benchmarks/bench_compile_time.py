"""Wall time of the graph compiler's planning (``compile_graph``) of a quantized network for a
board, and the digest of the plan it gives (so two runs on two commits can be compared for
time and for sameness of the plan). The first planning is what ``structhw compile`` pays; the
later ones in the same process reuse the engine models' caches (window schedules).

    structhw quantize resnet20-A --out r20a.qnet.json
    python benchmarks/bench_compile_time.py r20a.qnet.json [--board ulx3s-85f] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time


def main(argv=None) -> int:
    from structhw.boards.registry import get_board
    from structhw.graph.plan import compile_graph
    from structhw.graph.quant_graph import load_graph

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("qnet", help="a graph *.qnet.json (version 2)")
    parser.add_argument("--board", default="ulx3s-85f")
    parser.add_argument("--repeat", type=int, default=3, help="plannings timed")
    args = parser.parse_args(argv)
    graph, board = load_graph(args.qnet), get_board(args.board)
    seconds, digests = [], set()
    for _ in range(args.repeat):
        fresh = load_graph(args.qnet)  # nothing remembered from the previous planning
        start = time.perf_counter()
        plan = compile_graph(fresh, board.budget, target=board.name)
        seconds.append(time.perf_counter() - start)
        text = json.dumps(plan.to_json(), sort_keys=True).encode()
        digests.add(hashlib.sha256(text).hexdigest()[:16])
    print(json.dumps({"qnet": args.qnet, "nodes": len(graph.nodes), "board": board.name,
                      "seconds": [round(s, 2) for s in seconds],
                      "first_s": round(seconds[0], 2),
                      "median_s": round(statistics.median(seconds), 2),
                      "cycles_per_image": plan.cycles_per_image, "plan_sha256": sorted(digests)},
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

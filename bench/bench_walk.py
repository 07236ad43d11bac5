"""Benchmark: the walk's visits a second against the walk of an earlier commit (read from git), in one run."""

# Run: ``python bench/bench_walk.py [--before REV] [--repeat N] [--json FILE]``. ``--before`` (default feedd93, the
# last commit before the walk was split into a kernel context) names the commit whose ``simulator/solvers/scan.py``
# is timed against today's; it is read with ``git show`` into a temporary module, so no old copy is kept. Each walk runs on one thread, old and new in turn, and is timed
# in CPU time (the machine may be shared), best of ``--repeat``, a short walk repeated for about half a second each
# time; both must return the same footprints, costs and bounds. Walks:
# - ``cost``: every candidate costed (no duals, nothing pruned): London and the South West at place level, and the
#   North West from its 9th root on (8.3 million of its 116 million candidates);
# - ``bound``: a proving walk (branch and bound at 0) on the duals of the set-partitioning LP over every candidate,
#   a little off as in column generation, with 40 subset-row cuts: the bound's work at every node;
# - ``count``: counting the North West's candidates (no costing).

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

from simulator.model import Model, load_model
from simulator.scenario import parse_scenario
from simulator.solvers import ExactSolver, Problem
from simulator.solvers import scan as after
from results import module_at, write_json  # bench/results.py: a script's own folder is on the path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
MIN_S = 0.5  # a timing of a short walk repeats it for about this long
NW_FIRST_ROOT = 8  # the North West's costing walk starts at its 9th root: 8.3 million candidates, a few seconds


ROOT = Path(__file__).resolve().parent.parent
BEFORE = "feedd93"
_walk_before = None  # the earlier walk's module, loaded by main()


def _load_before(rev: str):
    """``simulator/solvers/scan.py`` as it was at ``rev``, imported as a module of its own."""
    return module_at(rev, "simulator/solvers/scan.py", "_walk_before")


def _problem(name: str, model: Model) -> Problem:
    text = (SCENARIOS / f"{name}.toml").read_text().replace('level = "sicbl"', 'level = "place"')
    return Problem.from_scenario(parse_scenario(text, name), model)


def _lp_walk(problem: Problem) -> dict:
    """Keyword arguments of a proving walk: the LP's duals over every candidate, perturbed, and random cuts."""
    C, costs = ExactSolver(problem).candidates()
    lp = linprog(costs, A_eq=C.T.tocsr(), b_eq=np.ones(C.shape[1]), bounds=(0, None), method="highs")
    rng = np.random.default_rng(5)
    y = lp.eqlin.marginals * rng.uniform(0.97, 1.06, C.shape[1])
    free = np.flatnonzero(problem.free_blocks)
    cuts = [tuple(sorted(rng.choice(free, 3, replace=False).tolist())) for _ in range(40)]
    return dict(block_duals=y, constant=-0.01, cuts=cuts, cut_duals=-rng.uniform(0.0, 0.01, len(cuts)),
                threshold=0.0, keep=100_000, exact_below=0.0)


def _same(a: after.ScanResult, b: after.ScanResult) -> bool:
    """The two walks' results agree exactly (footprints kept, costs, counts, bounds)."""
    key = [tuple(sorted(int(i) for i in f)) for f in a.footprints]
    other = [tuple(sorted(int(i) for i in f)) for f in b.footprints]
    return (a.visited == b.visited and a.pruned == b.pruned and a.min_reduced_cost == b.min_reduced_cost
            and a.lower_bound == b.lower_bound and sorted(zip(key, a.reduced_costs.tolist()))
            == sorted(zip(other, b.reduced_costs.tolist())))


def _timed(fn: Callable[[], object], calls: int) -> tuple[float, object]:
    """Mean CPU time of ``calls`` calls of ``fn``, and its result."""
    t = time.process_time()
    for _ in range(calls):
        out = fn()
    return (time.process_time() - t) / calls, out


def bench(name: str, kind: str, problem: Problem, repeat: int, **kw) -> dict:
    """Time one walk with the saved and the current code, alternately, on one thread."""
    scans = {"before": _walk_before.FootprintScan(problem, workers=1), "after": after.FootprintScan(problem, workers=1)}
    if name == "region_north_west" and kind == "cost":
        for s in scans.values():
            s.roots = s.roots[NW_FIRST_ROOT:]
    run = {side: (lambda s=s: s.count(10 ** 10)) if kind == "count" else (lambda s=s: s.scan(**kw))
           for side, s in scans.items()}
    # Short walks are repeated to last about MIN_S each, so that a timer's tick or a stray pause weighs little.
    first, _ = _timed(run["after"], 1)
    calls = max(1, int(np.ceil(MIN_S / max(first, 1e-6))))
    times: dict[str, float] = {k: np.inf for k in scans}
    results = {}
    for _ in range(repeat):  # alternate, so that load on the machine falls on both alike
        for side in scans:
            t, results[side] = _timed(run[side], calls)
            times[side] = min(times[side], t)
    if kind == "count":
        assert results["before"] == results["after"], results
        visited = results["after"]
    else:
        assert _same(results["before"], results["after"]), f"{name} {kind}: the walks disagree"
        visited = results["after"].visited
    return {"scenario": name, "walk": kind, "visited": int(visited),
            "before_per_s": visited / times["before"], "after_per_s": visited / times["after"],
            "before_s": times["before"], "after_s": times["after"], "ratio": times["before"] / times["after"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=BEFORE, help=f"commit whose walk is timed against today's (default {BEFORE})")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    global _walk_before
    _walk_before = _load_before(args.before)
    model = load_model("place")
    problems = {n: _problem(n, model) for n in ("region_london", "region_south_west", "region_north_west")}
    for mod in (_walk_before, after):  # compile (or load from the cache) before timing
        mod.FootprintScan(problems["region_london"], workers=1).scan(threshold=0.0, keep=10, exact_below=0.0)
    plain = dict(threshold=0.0, keep=1_000)
    rows = [bench(n, "cost", problems[n], args.repeat, **plain) for n in problems]
    rows += [bench(n, "bound", problems[n], args.repeat, **_lp_walk(problems[n]))
             for n in ("region_london", "region_south_west")]
    rows.append(bench("region_north_west", "count", problems["region_north_west"], args.repeat))
    print(f"{'scenario':<20} {'walk':<6} {'visited':>11} {'before/s':>11} {'after/s':>11} {'after/before':>12}")
    for r in rows:
        print(f"{r['scenario']:<20} {r['walk']:<6} {r['visited']:>11,} {r['before_per_s']:>11,.0f} "
              f"{r['after_per_s']:>11,.0f} {r['ratio']:>12.3f}")
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

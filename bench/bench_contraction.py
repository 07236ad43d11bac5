"""Benchmark: candidate footprints and exact-solver time with groups kept whole contracted to one node, and without."""

# Run: ``python bench/bench_contraction.py [--limit N] [--json FILE]``. For each case the candidates under the
# population cap (the band's ceiling, 2.5m) are counted by the compiled walk over the graph the exact solver
# enumerates, block by block and with every group the rules keep together contracted to one node (counting stops
# past ``--limit``); where a count is at most the exact solver's limit (3 million), the exact solver is timed that
# way, both ways in the same run (``ExactSolver(contract_groups=...)``; with a soft ceiling it lifts its cap as it
# needs, and "-" means it gave up, with too many candidates); where both prove an optimum it must be the same. Cases:
# - the three 2026 backtests as shipped (place level, councils kept whole, one region each);
# - the same with sub-ICB locations kept whole too (``keep_whole = ["lad", "sicbl"]``): a stand-in for upper-tier
#   councils, which chain places together about as much;
# - the shipped sub-ICB scenarios whose groups are authorities and pathology networks.

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

from simulator.errors import TooManyCandidates
from simulator.model import load_model
from simulator.scenario import parse_scenario
from simulator.solvers import ExactSolver, Problem
from simulator.solvers.enumerate import candidate_graph, population_cap
from simulator.solvers.scan import count_connected

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SOLVE_LIMIT = 3_000_000

CASES = [
    ("backtest_2026_london.toml", None),
    ("backtest_2026_east_of_england.toml", None),
    ("backtest_2026_south_east.toml", None),
    ("backtest_2026_london.toml", '["lad", "sicbl"]'),
    ("backtest_2026_east_of_england.toml", '["lad", "sicbl"]'),
    ("backtest_2026_south_east.toml", '["lad", "sicbl"]'),
    ("mayoral_authorities_whole.toml", None),
    ("pathology_networks_whole.toml", None),
]


def _problem(name: str, keep: str | None) -> Problem:
    text = (SCENARIOS / name).read_text(encoding="utf-8")
    if keep is not None:
        text = re.sub(r"keep_whole = \[.*\]", f"keep_whole = {keep}", text)
    sc = parse_scenario(text, name)
    return Problem.from_scenario(sc, load_model(sc.level, baseline=sc.baseline))


def _solve(problem: Problem, contract: bool) -> tuple[float | None, float | None, str]:
    """Seconds, objective and status of the exact solver; (None, None, "too many") if it gives up (with a soft
    ceiling the cap it must lift to can hold more candidates than the count under 2.5m)."""
    t = time.perf_counter()
    try:
        r = ExactSolver(problem, contract_groups=contract).solve()
    except TooManyCandidates:
        return None, None, "too many"
    return time.perf_counter() - t, r.objective, r.status.value


def _answer(row: dict, side: str) -> str:
    status, objective = row.get(f"status_{side}"), row.get(f"objective_{side}")
    if status is None:
        return "-"
    return status if objective is None else f"{status} {objective:.4f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=float, default=5e7, help="stop counting past this many candidates")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    limit = int(args.limit)
    rows = []
    print(f"{'case':<48} {'blocks':>6} {'nodes':>6} {'before':>12} {'after':>12} {'ratio':>10} "
          f"{'time before':>12} {'time after':>11} {'ratio':>7}  answer before / after")
    for name, keep in CASES:
        problem = _problem(name, keep)
        cap = population_cap(problem)
        counts, nodes = [], []
        for contract in (False, True):
            g = candidate_graph(problem, contract_groups=contract)
            nodes.append(int(np.isfinite(g.weight).sum()))
            counts.append(count_connected(g.contraction.neighbours, g.weight, cap, limit))
        row = {"case": name + (f" keep_whole={keep}" if keep else ""), "blocks": nodes[0], "nodes": nodes[1],
               "candidates_before": counts[0], "candidates_after": counts[1]}
        if counts[1] <= SOLVE_LIMIT:
            tb, ob, sb = _solve(problem, False) if counts[0] <= SOLVE_LIMIT else (None, None, "too many")
            ta, oa, sa = _solve(problem, True)
            if sb == sa == "optimal":
                assert abs(ob - oa) <= 1e-9 * max(1.0, abs(ob)), (ob, oa)
            row.update(seconds_before=None if tb is None else round(tb, 3),
                       seconds_after=None if ta is None else round(ta, 3), objective_before=ob, objective_after=oa,
                       status_before=sb, status_after=sa)
        rows.append(row)

        def fmt(c: int) -> str:
            return f">{limit:,}" if c > limit else f"{c:,}"

        ratio = counts[0] / max(counts[1], 1)
        tb, ta = row.get("seconds_before"), row.get("seconds_after")
        print(f"{row['case']:<48} {nodes[0]:>6} {nodes[1]:>6} {fmt(counts[0]):>12} {fmt(counts[1]):>12} "
              f"{('>' if counts[0] > limit else '') + f'{ratio:,.1f}':>10} "
              f"{'-' if tb is None else f'{tb:.2f} s':>12} {'-' if ta is None else f'{ta:.2f} s':>11} "
              f"{'-' if tb is None or ta is None else f'{tb / ta:.2f}':>7}  "
              f"{_answer(row, 'before')} / {_answer(row, 'after')}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

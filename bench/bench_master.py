"""Benchmark: the exact solver's cut-strengthened LP bound against an earlier commit's (read from git), in one run."""

# Run: ``python bench/bench_master.py [--before REV] [--repeat N] [--json FILE]``. ``--before`` (default a4ba345, the
# last commit before the cut membership was kept per cut) names the commit whose ``simulator/solvers/master.py`` is
# timed against today's; it is read with ``git show`` into a temporary module, so no old copy is kept. Cases: the
# London backtest (place level from the 2024 map, its soft ceiling lifted: the largest pool the exact solver takes on a
# shipped scenario) and the national default at sub-ICB level. For each, one exact solve with today's code records the
# candidates the bound is run over; then the bound alone (``cut_strengthened_bound``) is timed old and new in turn, in
# CPU time, best of ``--repeat``, and both must return the same bound, duals, cuts, support and reduced costs (to the
# last bit); then one whole ``ExactSolver`` solve with each (enumeration and costing included), which must give the
# same status, objective, bound and configuration.

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import simulator.solvers.exact as exact
from simulator.model import load_model
from simulator.scenario import load_scenario
from simulator.solvers import ExactSolver, Problem
from simulator.solvers import master as after
from results import module_at  # bench/results.py: a script's own folder is on the path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "a4ba345"
CASES = {"backtest_2026_london": "London backtest (place, soft ceiling lifted)",
         "national_default_sicbl": "National default (sub-ICB)"}


def _load_before(rev: str):
    """``simulator/solvers/master.py`` as it was at ``rev``, imported as a module of its own."""
    return module_at(rev, "simulator/solvers/master.py", "_master_before")


def _solve(problem: Problem, bound_fn) -> tuple[float, object, ExactSolver, list]:
    """One exact solve with ``bound_fn`` as its cut-strengthened bound: CPU seconds, result, solver, and the
    arguments of every call of the bound."""
    calls = []

    def recorded(C, costs, global_rows=(), **kw):
        calls.append((C, costs, global_rows, {k: v for k, v in kw.items() if k != "progress"}))
        return bound_fn(C, costs, global_rows, **kw)

    exact.cut_strengthened_bound = recorded
    try:
        solver = ExactSolver(problem)
        t = time.process_time()
        result = solver.solve()
        return time.process_time() - t, result, solver, calls
    finally:
        exact.cut_strengthened_bound = after.cut_strengthened_bound


def _same_bound(a, b) -> bool:
    return (a.bound == b.bound and a.plain_lp == b.plain_lp and a.feasible == b.feasible
            and np.array_equal(a.support, b.support) and np.array_equal(a.reduced_costs, b.reduced_costs)
            and (a.duals is None) == (b.duals is None) and (a.duals is None or np.array_equal(a.duals, b.duals))
            and a.triples == b.triples)


def _same_answer(a, b) -> bool:
    return (a.status == b.status and a.objective == b.objective and a.bound == b.bound
            and np.array_equal(a.configuration.assignment, b.configuration.assignment))


def bench(name: str, before, repeat: int) -> dict:
    sc = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    problem = Problem.from_scenario(sc, load_model(sc.level, baseline=sc.baseline))
    solve_after, res_after, solver, calls = _solve(problem, after.cut_strengthened_bound)
    C, costs, rows, kw = max(calls, key=lambda c: c[0].shape[0])  # the pool the answer is proven over
    times = {"before": np.inf, "after": np.inf}
    out = {}
    for _ in range(repeat):  # alternate, so that load on the machine falls on both alike
        for side, mod in (("before", before), ("after", after)):
            t = time.process_time()
            out[side] = mod.cut_strengthened_bound(C, costs, rows, **kw)
            times[side] = min(times[side], time.process_time() - t)
    assert _same_bound(out["before"], out["after"]), f"{name}: the bounds differ"
    solve_before, res_before, _, _ = _solve(problem, before.cut_strengthened_bound)
    assert _same_answer(res_before, res_after), f"{name}: the answers differ"
    return {"scenario": name, "candidates": int(C.shape[0]), "cuts": len(out["after"].triples),
            "rounds": out["after"].stats["cut_rounds"], "status": res_after.status.value,
            "objective": res_after.objective, "bound": res_after.bound,
            "bound_before_s": times["before"], "bound_after_s": times["after"],
            "bound_ratio": times["after"] / times["before"],
            "solve_before_s": solve_before, "solve_after_s": solve_after, "solve_ratio": solve_after / solve_before}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=BEFORE, help=f"commit whose master is timed against today's (default {BEFORE})")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    before = _load_before(args.before)
    rows = [bench(name, before, args.repeat) for name in CASES]
    print(f"{'case':<46} {'candidates':>10} {'cuts':>5} {'bound before':>12} {'after':>7} {'after/before':>12} "
          f"{'solve before':>12} {'after':>7} {'after/before':>12}")
    for r in rows:
        print(f"{CASES[r['scenario']]:<46} {r['candidates']:>10,} {r['cuts']:>5} {r['bound_before_s']:>11.2f}s "
              f"{r['bound_after_s']:>6.2f}s {r['bound_ratio']:>12.3f} {r['solve_before_s']:>11.2f}s "
              f"{r['solve_after_s']:>6.2f}s {r['solve_ratio']:>12.3f}")
        print(f"{'':<46} {r['status']}, objective {r['objective']:.6f}, bound {r['bound']:.6f} (same before and after)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

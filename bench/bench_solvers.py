"""Benchmark: time to a proven optimum per level, the national sub-ICB gap, and local-search speed, in one run.

Run: ``python bench/bench_solvers.py [--json FILE]``. Targets (issue 3) are reported as ratios of the
measured time to the target, measured together on this machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from simulator.model import load_model
from simulator.scenario import load_scenario
from simulator.solvers import ExactSolver, LocalSearchSolver, Problem
from simulator.solvers.neighbourhood import polish
from simulator.solvers.run import optimise, sicbl_warm_start, start_configuration
from results import write_json  # bench/results.py: a script's own folder is on the path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
TARGETS = {"icb": 1.0, "sicbl": 15.0}  # seconds to a proven optimum, enumeration included


def _exact(name: str, level: str | None = None) -> dict:
    sc = load_scenario(SCENARIOS / name)
    if level:
        sc.level = level
    model = load_model(sc.level)
    t = time.perf_counter()
    s = ExactSolver(Problem.from_scenario(sc, model))
    s.solve()
    wall = time.perf_counter() - t
    return {"scenario": sc.name, "level": sc.level, "status": s.status_, "objective": s.objective_,
            "bound": s.bound_, "gap": s.gap_, "seconds": wall,
            "candidates": s.stats_.get("candidates_feasible"),
            "target_s": TARGETS.get(sc.level), "ratio_to_target": wall / TARGETS[sc.level] if sc.level in TARGETS else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    rows = [_exact("national_default.toml", "icb")]
    for region in ("london", "south_west", "midlands", "north_east_and_yorkshire", "east_of_england", "south_east",
                   "north_west"):
        rows.append(_exact(f"region_{region}.toml"))
    rows.append(_exact("national_default.toml", "sicbl"))
    print(f"{'scenario':<40} {'level':<6} {'status':<9} {'objective':>9} {'gap':>7} {'cands':>8} {'time':>7} "
          f"{'÷target':>7}")
    for r in rows:
        gap = "-" if r["gap"] is None else f"{r['gap']:.2%}"
        ratio = "-" if r["ratio_to_target"] is None else f"{r['ratio_to_target']:.2f}"
        print(f"{r['scenario'][:40]:<40} {r['level']:<6} {r['status']:<9} {r['objective']:>9.4f} {gap:>7} "
              f"{r['candidates']:>8,} {r['seconds']:>6.2f}s {ratio:>7}")
    # Local search speed (moves tried per second) at place level.
    sc = load_scenario(SCENARIOS / "national_default.toml")
    sc.level = "place"
    model = load_model("place")
    ls = LocalSearchSolver(Problem.from_scenario(sc, model), seed=1, iterations=5000)
    ls.solve()
    rate = ls.stats_["iterations"] / ls.runtime_
    print(f"local search at place level: {rate:,.0f} iterations/s ({ls.stats_['moves_tried']:,} feasible moves "
          f"scored of {ls.stats_['iterations']:,})")
    # The auto pipeline at sub-ICB level (exact, then local-search polish).
    sc = load_scenario(SCENARIOS / "national_default.toml")
    sc.level = "sicbl"
    auto = optimise(sc, load_model("sicbl"), seed=0)
    print(f"auto at sub-ICB level: objective {auto.objective_:.4f}, bound {auto.bound_:.4f}, gap {auto.gap_:.2%}, "
          f"{auto.runtime_:.1f}s")
    # The auto pipeline at place level: the sub-ICB optimum refined to places (pieces mended), then local search.
    # No proven bound yet at place level, so the table shows what the moves buy over the sub-ICB optimum.
    sc.level = "place"
    place_rows = []
    for its in (20_000, 200_000):
        pl = optimise(sc, load_model("place"), seed=0, iterations=its)
        pst = pl.stats_["polish"]
        place_rows.append({"iterations": its, "objective": pl.objective_, "start": pl.stats_.get("start_objective"),
                           "local_search_objective": pst["objective_before"], "seconds": pl.runtime_,
                           "polish_s": pst["seconds"]})
        print(f"auto at place level, {its:,} moves: objective {pl.objective_:.4f} (from the sub-ICB optimum "
              f"{pl.stats_.get('start_objective'):.4f}, {1 - pl.objective_ / pl.stats_.get('start_objective'):.1%} "
              f"lower; local search alone {pst['objective_before']:.4f}), {pl.runtime_:.1f}s of which exact "
              f"polish {pst['seconds']:.1f}s (every pair checked: {pst['pair_optimal']})")
    # Place level where the footprints can be enumerated (three regions): the proven optimum, and how close the
    # local search (warm-started from the sub-ICB optimum, as auto does elsewhere) gets to it.
    print(f"{'region at place level':<28} {'proven':>9} {'cands':>8} {'time':>7} | local search then exact polish: "
          "moves, objective -> polished, gap to proven, time")
    regional_place = []
    place_model = load_model("place")
    for region in ("london", "south_west", "north_east_and_yorkshire"):
        sc = load_scenario(SCENARIOS / f"region_{region}.toml")
        sc.level = "place"
        t = time.perf_counter()
        ex = optimise(sc, place_model, seed=0)
        ex_s = time.perf_counter() - t
        problem = Problem.from_scenario(sc, place_model, start=start_configuration(sc, place_model))
        warm = sicbl_warm_start(sc, place_model, problem)
        row = {"scenario": sc.name, "solver": ex.name, "status": ex.status_, "objective": ex.objective_,
               "candidates": ex.stats_.get("candidates_feasible"), "seconds": ex_s, "local_search": []}
        for its in (20_000, 200_000):
            ls = LocalSearchSolver(problem, seed=0, start=warm, iterations=its)
            ls.solve()
            polished, polish_stats = polish(problem, ls.configuration_)
            obj = polish_stats["objective_after"]
            gap = (obj - ex.objective_) / abs(ex.objective_)
            row["local_search"].append({"iterations": its, "local_search_objective": ls.objective_, "objective": obj,
                                        "gap_to_proven": gap, "absolute_gap": obj - ex.objective_,
                                        "seconds": ls.runtime_ + polish_stats["seconds"]})
            print(f"{sc.name[:28]:<28} {ex.objective_:>9.4f} {row['candidates']:>8,} {ex_s:>6.2f}s | {its:>7,} "
                  f"{ls.objective_:.4f} -> {obj:.4f} {gap:.2%} (+{obj - ex.objective_:.4f}) "
                  f"{ls.runtime_ + polish_stats['seconds']:.1f}s")
        regional_place.append(row)
    if args.json:
        write_json(args.json, {"exact": rows, "local_search_iterations_per_s": rate,
                                "auto_sicbl": auto.solution_dict(), "auto_place": place_rows,
                                "regional_place": regional_place})
    return 0


if __name__ == "__main__":
    sys.exit(main())

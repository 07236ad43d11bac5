"""Benchmark: the national default from today's map (the 36 ICBs of April 2026), solved at every level, in one run.

Run: ``python bench/bench_levels.py [--json FILE] [--skip-place]``. For each level it reports the solver ``auto``
chose, its status, objective, bound and gap, the footprints and how many are in band, change from today, and the
seconds it took (model load excluded; every model is loaded first). The place level runs the default local search
on all of England (a few minutes); ``--skip-place`` leaves it out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from simulator.metrics import evaluate
from simulator.model import load_model
from simulator.scenario import load_scenario
from simulator.solvers.run import optimise
from results import write_json  # bench/results.py: a script's own folder is on the path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
RUNS = [("icb2026", "national_default.toml"), ("icb2024", "national_default.toml"),
        ("sicbl", "national_default_sicbl.toml"), ("place", "national_default_sicbl.toml")]


def _run(level: str, name: str) -> dict:
    sc = load_scenario(SCENARIOS / name)
    sc.level = level
    model = load_model(level, baseline=sc.baseline)
    t = time.perf_counter()
    s = optimise(sc, model, seed=0)
    seconds = time.perf_counter() - t
    ev = evaluate(model, s.configuration_, sc.params)
    ch = ev.overall["change_from_today"]
    return {"level": level, "scenario": sc.name, "solver": s.name, "status": s.status_, "objective": s.objective_,
            "bound": s.bound_, "gap": s.gap_, "footprints": s.configuration_.n_footprints,
            "in_band": ev.overall["in_band"], "people_moved": ch["people_moved"],
            "icbs_split": ch["today_icbs_split"], "seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--skip-place", action="store_true", help="leave out the place level (minutes)")
    args = ap.parse_args()
    runs = [r for r in RUNS if not (args.skip_place and r[0] == "place")]
    for level, _ in runs:
        load_model(level)  # build or read each model before timing
    rows = [_run(level, name) for level, name in runs]
    print(f"{'level':<8} {'solver':<13} {'status':<9} {'objective':>10} {'gap':>7} {'fps':>4} {'in band':>7} "
          f"{'moved':>10} {'split':>5} {'time':>8}")
    for r in rows:
        gap = "-" if r["gap"] is None else f"{r['gap']:.2%}"
        print(f"{r['level']:<8} {r['solver']:<13} {r['status']:<9} {r['objective']:>10.4f} {gap:>7} "
              f"{r['footprints']:>4} {r['in_band']:>7} {r['people_moved']:>10,.0f} {r['icbs_split']:>5} "
              f"{r['seconds']:>7.2f}s")
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

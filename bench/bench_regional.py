"""Benchmark: the regional solver against the path ``auto`` took before it, at place level, in one run.

For each scenario whose footprints stay within NHS regions (the published rules and the forecast of the next
step, both at place level with 26 footprints), this runs ``auto`` twice: once as it is (the regional solver:
each region solved exactly for each number of footprints, the counts combined) and once with the regional solver
switched off in this process only (the sub-ICB warm start, local search and polish, then the term-wise bound). For
each it reports the objective, the proven bound and how it was proven, the gap and the seconds; for the regional
run also the entries of the region x count table it solved, each region's count and time, and the seconds
``--margins`` adds. The goal (issue 20) is a proven gap of at most 5% within two minutes: ``gap_ratio`` is the
gap over 5% and ``time_ratio`` the seconds over 120.

Run: ``python bench/bench_regional.py [--json FILE] [--only NAME ...] [--no-before]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from simulator.forecast import forecast
from simulator.model import load_model
from simulator.scenario import load_scenario
from simulator.solvers import run as run_module
from simulator.solvers.run import optimise
from results import write_json  # bench/results.py: a script's own folder is on the path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
NAMES = ["published_design_rules", "next_step"]
GOAL_GAP, GOAL_S = 0.05, 120.0


def _row(s, seconds: float) -> dict:
    gap = s.gap_
    return {"objective": s.objective_, "bound": s.bound_, "gap": gap, "bound_by": s.bound_method_.value,
            "status": s.status_.value, "seconds": round(seconds, 1),
            "gap_ratio": None if gap is None else round(gap / GOAL_GAP, 3), "time_ratio": round(seconds / GOAL_S, 3)}


def run(name: str, before: bool) -> dict:
    scenario = load_scenario(SCENARIOS / f"{name}.toml")
    model = load_model(scenario.level, baseline=scenario.baseline)
    out = {"scenario": name}
    t = time.perf_counter()
    s = optimise(scenario, model)
    out["after"] = _row(s, time.perf_counter() - t)
    out["after"]["solver"] = s.name
    out["regions"] = s.stats_.get("regions", [])
    t = time.perf_counter()
    forecast(scenario, model, s.configuration_, solver=s if s.name == "regional" else None)
    out["margins_s"] = round(time.perf_counter() - t, 1)
    if before:
        kept = run_module._regions_decouple
        run_module._regions_decouple = lambda problem: False  # the path auto took before the regional solver
        try:
            t = time.perf_counter()
            b = optimise(scenario, model)
            out["before"] = _row(b, time.perf_counter() - t)
            out["before"]["solver"] = b.name
        finally:
            run_module._regions_decouple = kept
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the results here as JSON")
    ap.add_argument("--only", nargs="+", choices=NAMES, help="run only these scenarios")
    ap.add_argument("--no-before", action="store_true", help="skip the run without the regional solver")
    args = ap.parse_args()
    results = []
    for name in args.only or NAMES:
        r = run(name, not args.no_before)
        results.append(r)
        for side in ("before", "after"):
            if side in r:
                x = r[side]
                gap = "n/a" if x["gap"] is None else f"{x['gap']:.2%}"
                print(f"{name} {side}: {x['solver']} {x['status']}, objective {x['objective']:.4f}, bound "
                      f"{x['bound']:.4f} ({x['bound_by']}), gap {gap}, {x['seconds']} s "
                      f"(gap ratio {x['gap_ratio']}, time ratio {x['time_ratio']})", flush=True)
        solved = [e for e in r["regions"]]
        print(f"  {len(solved)} region x count entries solved; margins {r['margins_s']} s", flush=True)
        for e in solved:
            change = "-" if e["change"] is None else f"{e['change']:.3f}"
            print(f"    {e['region']} x {e['footprints']}: {e['state']}, change {change}, {e['seconds']} s")
    if args.json:
        write_json(args.json, {"results": results})


if __name__ == "__main__":
    main()

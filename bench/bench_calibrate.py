"""Benchmark: a calibration over the three regions that changed in April 2026, against the 10-minute goal.

Run: ``python bench/bench_calibrate.py [--json FILE] [--no-leave-one-out]``. Times, in one run, what
``icbsim calibrate scenarios/backtest_2026_*.toml --decided 2026 --leave-one-out`` does: the pull chosen by
leave-one-out, the calibration on all three regions, and the leave-one-region-out check; models are loaded
before timing. Reports each stage's seconds, the solves it took, and the total as a ratio of 600 s (below 1 meets
the goal). CPU seconds are reported beside wall-clock seconds (a shared machine slows the wall clock).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from simulator.calibrate import Oracle, calibrate, decided_map, leave_one_out, select_pull
from simulator.model import load_model
from simulator.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
REGIONS = ["east_of_england", "london", "south_east"]
GOAL_S = 600.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--no-leave-one-out", action="store_true", help="time the pull choice and calibration only")
    args = ap.parse_args()
    cases = []
    for r in REGIONS:
        sc = load_scenario(SCENARIOS / f"backtest_2026_{r}.toml")
        cases.append(decided_map(sc, load_model(sc.level, baseline=sc.baseline), "2026", sc.name))
    oracle = Oracle()
    rows = []

    def stage(name, fn):
        w, c = time.perf_counter(), time.process_time()
        before = oracle.solves
        out = fn()
        rows.append({"stage": name, "seconds": time.perf_counter() - w, "cpu_seconds": time.process_time() - c,
                     "solves": oracle.solves - before})
        return out

    pull, scores = stage("choose the pull (leave-one-out)", lambda: select_pull(cases, oracle=oracle))
    cal = stage("calibrate on all three", lambda: calibrate(cases, pull=pull, oracle=oracle))
    held = [] if args.no_leave_one_out else stage("leave one region out", lambda: leave_one_out(cases, oracle=oracle))
    total = sum(r["seconds"] for r in rows)
    print(f"{'stage':<34}{'seconds':>9}{'cpu s':>9}{'solves':>8}")
    for r in rows:
        print(f"{r['stage']:<34}{r['seconds']:>9.1f}{r['cpu_seconds']:>9.1f}{r['solves']:>8}")
    print(f"total {total:.1f}s: {total / GOAL_S:.3f} x the 600 s goal; pull {pull:g} (mean F1 by pull: "
          + ", ".join(f"{p:g}: {s:.3f}" for p, s in scores.items()) + ")")
    print("learned: " + ", ".join(f"{t} {cal.weights[t]:.4g}" for t in cal.learned))
    for h in held:
        print(f"{h.label}: F1 {h.learned['f1']:.3f} (persons {h.learned['f1_persons']:.3f}) against the defaults' "
              f"{h.default['f1']:.3f} ({h.default['f1_persons']:.3f}), pull {h.pull:g}")
    if args.json:
        Path(args.json).write_text(json.dumps({"stages": rows, "total_s": total, "ratio_to_goal": total / GOAL_S,
                                               "pull": pull, "weights": cal.weights}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: how long an infeasible scenario takes to say why, with the presolve and without it."""

# Run: ``python bench/bench_presolve.py [--json FILE] [--skip-slow]``. Every infeasible scenario the tests use
# (tests/test_solvers.py at 2024-ICB level, tests/test_soft_ceiling.py and tests/test_presolve.py at sub-ICB level)
# is solved by ``AutoSolver`` twice in the same run: with the
# presolve (as shipped) and with it switched off (``presolve`` returning no conflict, so the solvers search and
# the explainer's deletion filter says why). Both runs use the explainer as shipped (it counts before it
# enumerates, and confirms over the LP's support first). Times are wall-clock seconds on this machine; the ratio
# is without / with.

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from results import write_json  # bench/results.py: a script's own folder is on the path
from simulator.errors import IcbSimError
from simulator.model import load_model
from simulator.scenario import parse_scenario
from simulator.solvers import exact, explain, run
from simulator.solvers.run import AutoSolver

ROOT = Path(__file__).resolve().parent.parent
ICB = 'level = "icb2024"\nbaseline = "2024"\n[constraints]\n'
EOE = (ROOT / "tests" / "data" / "infeasible_east_of_england_councils_whole_sicbl.toml").read_text(encoding="utf-8")
LONDON = (ROOT / "scenarios" / "published_design_rules.toml").read_text(encoding="utf-8")
LONDON = LONDON.replace('level = "place"', 'level = "sicbl"').replace("hard = false", "hard = true")
LONDON = LONDON.replace("n_footprints = 26", 'n_footprints = 3\nonly_regions = ["Y56"]')

CASES = [
    ("must-merge above a hard ceiling", ICB + 'must_merge = [["QOP", "QYG"]]\npopulation_ceiling = 2_500_000'),
    ("locked and must-merge", ICB + 'locked_to_today = ["QOP"]\nmust_merge = [["QOP", "QYG"]]'),
    ("must-merge and must-not-merge", ICB + 'must_merge = [["QSL", "QVV"]]\nmust_not_merge = [["QSL", "QVV"]]'),
    ("5 footprints under a hard ceiling", ICB + "n_footprints = 5\npopulation_ceiling = 2_500_000"),
    ("42 footprints and a must-merge", ICB + 'n_footprints = 42\nmust_merge = [["QSL", "QVV"]]\n'
                                           'must_not_merge = [["QE1", "QKK"]]\nlocked_to_today = ["QKK"]'),
    ("within region, cross-region must-merge", ICB + 'within_region = true\nmust_merge = [["QOP", "QWO"]]'),
    ("must-merge not adjacent", ICB + 'must_merge = [["QOP", "QKK"]]'),
    ("London in 3 under a hard ceiling (sub-ICB)", LONDON),
    ("East of England, councils whole, hard ceiling (sub-ICB)", EOE),
    ("London in 3 under a hard ceiling (place)", LONDON.replace('level = "sicbl"', 'level = "place"')),
]
SLOW = {"London in 3 under a hard ceiling (sub-ICB)"}


def _time(text: str, name: str, with_presolve: bool) -> tuple[float, str, int]:
    sc = parse_scenario(text, name)
    model = load_model(sc.level, baseline=sc.baseline)
    originals = (run.presolve, exact.presolve, explain.presolve)
    if not with_presolve:
        run.presolve = exact.presolve = explain.presolve = lambda problem: []
    try:
        t = time.perf_counter()
        try:
            r = AutoSolver(sc, model).solve()
            said = r.status.value, len(r.explanation)
        except IcbSimError as e:  # e.g. the local search cannot repair the start at place level
            said = f"error: {str(e)[:60]}", 1
        seconds = time.perf_counter() - t
    finally:
        run.presolve, exact.presolve, explain.presolve = originals
    return seconds, *said


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json")
    ap.add_argument("--skip-slow", action="store_true", help="leave out cases that take minutes without presolve")
    args = ap.parse_args()
    rows = []
    print(f"{'case':58s} {'level':6s} {'with':>8s} {'without':>8s} {'ratio':>7s}  status, reasons")
    for name, text in CASES:
        if args.skip_slow and name in SLOW:
            continue
        level = re.search(r'level = "(\w+)"', text).group(1)
        w, status, k = _time(text, name, True)
        wo, status0, k0 = _time(text, name, False)
        rows.append({"case": name, "level": level, "with_s": round(w, 3), "without_s": round(wo, 3),
                     "ratio": round(wo / w, 1), "status": status, "reasons": k, "status_without": status0})
        print(f"{name:58s} {level:6s} {w:8.2f} {wo:8.2f} {wo / w:7.1f}  {status}, {k} / {status0}, {k0}",
              flush=True)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()

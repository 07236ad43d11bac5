"""Record the answer to every shipped scenario (run as a script), for tests/test_recorded_results.py.

The answers are the solvers' on fixed settings (seed 0; at place level 5,000 local-search moves and one run), so
that a refactor that changes any of them is seen. Re-record only when a change is meant to change results:

    python -m tests.record_results                 # every shipped scenario
    python -m tests.record_results NAME.toml ...   # only these (the others keep their recorded answers)
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from simulator.model import load_model
from simulator.scenario import load_scenario
from simulator.solvers.run import optimise

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
RECORD = Path(__file__).resolve().parent / "data" / "recorded_results.json"
PLACE_SETTINGS = {"iterations": 5_000, "restarts": 1}


def partition_key(config) -> str:
    """A hash of the footprints as sets of block codes (independent of footprint names and order)."""
    codes = config.model.blocks.code.to_numpy()
    parts = sorted(",".join(sorted(codes[config.assignment == f])) for f in range(config.n_footprints))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def solve(name: str) -> dict:
    scenario = load_scenario(SCENARIOS / name)
    model = load_model(scenario.level, baseline=scenario.baseline)
    settings = PLACE_SETTINGS if scenario.level == "place" else {}
    s = optimise(scenario, model, seed=0, **settings)
    if s.configuration_ is None:
        return {"objective": None, "footprints": None, "partition": None, "status": s.status_}
    return {"objective": round(float(s.objective_), 6), "footprints": s.configuration_.n_footprints,
            "partition": partition_key(s.configuration_), "status": s.status_}


def main(names: list[str] | None = None) -> int:
    names = sys.argv[1:] if names is None else names
    out = json.loads(RECORD.read_text(encoding="utf-8")) if names else {}
    unknown = [n for n in names if not (SCENARIOS / n).is_file()]
    if unknown:
        print(f"no shipped scenario {unknown[0]}", file=sys.stderr)
        return 2
    for path in sorted(SCENARIOS.glob("*.toml")):
        if names and path.name not in names:
            continue
        t = time.perf_counter()
        out[path.name] = solve(path.name)
        print(f"{path.name}: {out[path.name]} ({time.perf_counter() - t:.1f} s)", file=sys.stderr)
    RECORD.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

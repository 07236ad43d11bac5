"""Benchmark: server-side time of an app reassignment (re-evaluate + redraw data), measured in one run.

Run: ``python bench/bench_app.py [--moves N]``. Reports the median time per reassignment at each level as a
ratio of the 300 ms target, and a whole Streamlit rerun (AppTest, script included) for comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from simulator.mapdata import block_polygons, block_shapes
from simulator.model import load_model
from simulator.workspace import Workspace

TARGET_S = 0.3


def reassignments(level: str, moves: int, seed: int = 3) -> list[float]:
    model = load_model(level)
    ws = Workspace(model)
    shapes = block_shapes(model)
    rng = np.random.default_rng(seed)
    times = []
    while len(times) < moves:
        b = int(rng.integers(model.n_blocks))
        cfg = ws.configuration
        others = [j for j in model.neighbours[b] if cfg.assignment[j] != cfg.assignment[b]]
        if not others:
            continue  # a move within a footprint changes nothing
        target = cfg.names[cfg.assignment[int(rng.choice(others))]]
        t = time.perf_counter()
        ws.reassign([model.blocks.code[b]], target)
        ev = ws.evaluation()
        block_polygons(shapes, ws.configuration, ev, "footprint")
        ev.footprints.to_dict(orient="records")  # what the tables serialise
        times.append(time.perf_counter() - t)
    return times


def apptest_move(level: str) -> float:
    from streamlit.testing.v1 import AppTest

    os.environ.setdefault("ICBSIM_STORE", os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    app = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")
    at = AppTest.from_file(app, default_timeout=300).run()
    if level != "icb":
        at.radio(key="level").set_value(level).run()
    model = load_model(level)
    at.multiselect(key="pick_blocks").set_value([model.blocks.code[0]])
    at.text_input(key="new_fp_name").set_value("Bench")
    button = next(b for b in at.button if b.label == "Move blocks")
    t = time.perf_counter()
    button.click().run()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=50)
    args = ap.parse_args()
    print(f"{'level':<6} {'median':>8} {'p90':>8} {'÷300ms':>7} {'whole rerun (AppTest)':>22}")
    for level in ("icb", "sicbl", "place"):
        times = reassignments(level, args.moves)
        med, p90 = statistics.median(times), float(np.percentile(times, 90))
        whole = apptest_move(level)
        print(f"{level:<6} {med * 1e3:>6.0f}ms {p90 * 1e3:>6.0f}ms {med / TARGET_S:>7.2f} {whole * 1e3:>20.0f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

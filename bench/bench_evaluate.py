"""Benchmark: full evaluation vs incremental single-block moves, per level, measured in one run.

Run: ``python bench/bench_evaluate.py [--moves N] [--seed S] [--json FILE]``. Targets are reported as ratios
of times measured together, so a slower or busier machine moves both sides alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from simulator import Configuration, evaluate, load_model
from simulator.incremental import MoveEvaluator
from results import write_json  # bench/results.py: a script's own folder is on the path

TARGET_MOVE_S = 1e-3  # issue 2: under 1 ms per evaluation of a single-block move


def _time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_level(level: str, moves: int, seed: int) -> dict:
    model = load_model(level)
    config = Configuration.baseline(model)
    full = _time(lambda: evaluate(model, config), repeat=5)
    ev = MoveEvaluator(model, config)
    rng = np.random.default_rng(seed)
    pairs = []
    while len(pairs) < moves:  # valid (contiguity-keeping) moves along a random walk
        b = int(rng.integers(model.n_blocks))
        cands = ev.candidate_moves(b)
        if cands:
            g = cands[int(rng.integers(len(cands)))]
            pairs.append((b, g))
            ev.apply(b, g)
    ev = MoveEvaluator(model, config)
    t = time.perf_counter()
    for b, g in pairs:
        ev.apply(b, g)
    apply_s = (time.perf_counter() - t) / len(pairs)
    ev = MoveEvaluator(model, config)
    spent = 0.0
    for b, g in pairs:  # score each move without making it, then make it to follow the same walk
        t = time.perf_counter()
        ev.delta(b, g)
        spent += time.perf_counter() - t
        ev.apply(b, g)
    delta_s = spent / len(pairs)
    t = time.perf_counter()
    n_checks = 0
    for b, _ in pairs[: max(1, len(pairs) // 2)]:
        ev.candidate_moves(b)
        n_checks += 1
    cand_s = (time.perf_counter() - t) / n_checks
    return {"level": level, "blocks": model.n_blocks, "full_evaluation_ms": full * 1e3,
            "incremental_move_us": apply_s * 1e6, "move_delta_us": delta_s * 1e6,
            "candidate_moves_us": cand_s * 1e6, "speedup_full_over_move": full / apply_s,
            "move_vs_target": apply_s / TARGET_MOVE_S}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    rows = [bench_level(level, args.moves, args.seed) for level in ("icb", "sicbl", "place")]
    print(f"{'level':<6} {'blocks':>6} {'full eval':>10} {'move':>9} {'delta':>9} {'cand.':>8} {'full/move':>9} "
          f"{'move/1ms':>8}")
    for r in rows:
        print(f"{r['level']:<6} {r['blocks']:>6} {r['full_evaluation_ms']:>8.1f}ms {r['incremental_move_us']:>7.0f}us "
              f"{r['move_delta_us']:>7.0f}us {r['candidate_moves_us']:>6.0f}us {r['speedup_full_over_move']:>8.0f}x "
              f"{r['move_vs_target']:>8.2f}")
    place = rows[-1]
    ok = place["move_vs_target"] < 1.0
    print(f"place-level single-block move: {place['incremental_move_us']:.0f} us = "
          f"{place['move_vs_target']:.2f} x the 1 ms target -> {'MET' if ok else 'NOT MET'}")
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

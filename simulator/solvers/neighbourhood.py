"""Exact polish of a configuration: large neighbourhoods searched with the exact solver's set-partitioning MILP.

A local search moves one block at a time; some improvements need several blocks to move at once. Two
neighbourhoods, each solved exactly over a pool of footprints that contains the configuration's own (so the
answer is never worse), repeated until nothing improves (a certificate of local optimality, not a global
bound):

- exchange: every footprint gives away up to two border blocks and takes up to two neighbouring blocks, all
  footprints at once (``exchange_polish``);
- re-drawing a pair: two neighbouring footprints are re-drawn in the best way between themselves, over every
  connected split of their blocks (``pair_redraw``; the exact counterpart of GerryChain's ReCom move).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import scipy.sparse as sp

from simulator.configuration import Configuration
from simulator.constraints import blocks_connected
from simulator.errors import IcbSimError
from simulator.metrics.score import scorer
from simulator.solvers.base import Problem, SolverStatus
from simulator.solvers.enumerate import connected_sets
from simulator.solvers.enumerate import members as mask_blocks
from simulator.solvers.exact import ExactSolver, enumeration_rules, masks_to_matrix, population_cap


def exchange_candidates(problem: Problem, config: Configuration, max_out: int = 2, max_in: int = 2) -> list[int]:
    """Footprints of ``config`` and their exchange variants, as block bitmasks (sorted, no repeats).

    A variant drops up to ``max_out`` border blocks and adds up to ``max_in`` outside neighbours, stays in one
    piece, keeps under the population cap (the hard ceiling, else the band's ceiling), in one NHS region when
    the scenario asks, and keeps must-not-merge pairs apart. Other per-footprint rules are checked when the pool
    is costed (``Constraints.column_mask``).
    """
    pop = problem.population
    cap = population_cap(problem)
    neighbours, forbid = enumeration_rules(problem)
    nbrs = [set(map(int, nb)) for nb in neighbours]
    masks = set()
    for f in np.unique(config.assignment):
        members = set(np.flatnonzero(config.assignment == f).tolist())
        masks.add(_mask(members))
        border = sorted(u for u in members if nbrs[u] - members)
        outside = sorted(set().union(*(nbrs[u] for u in members)) - members)
        base = float(pop[list(members)].sum())
        drops = [c for k in range(max_out + 1) for c in itertools.combinations(border, k)]
        adds = [c for k in range(max_in + 1) for c in itertools.combinations(outside, k)]
        for drop in drops:
            if len(drop) >= len(members):
                continue
            kept = members.difference(drop)
            kept_pop = base - float(pop[list(drop)].sum())
            for add in adds:
                if not drop and not add:
                    continue
                if kept_pop + float(pop[list(add)].sum()) > cap:
                    continue
                blocks = kept.union(add)
                mask = _mask(blocks)
                if any(mask & forbid[b] for b in blocks):
                    continue
                if blocks_connected(blocks, nbrs):
                    masks.add(mask)
    return sorted(masks)


def exchange_polish(problem: Problem, config: Configuration, max_out: int = 2, max_in: int = 2,
                    max_rounds: int = 10, time_limit: float | None = None,
                    progress=None) -> tuple[Configuration, dict]:
    """Improve ``config`` by exact exchanges of border blocks until none helps (or rounds or time run out).

    Returns the configuration (``config`` itself if nothing helps) and statistics: rounds, objective before
    and after, pool sizes, seconds, and whether the last round proved no exchange improves it. Scenarios with
    ``max_moved`` are returned unchanged (that rule is global, not per footprint).
    """
    t0 = time.perf_counter()
    before = problem.objective(config.assignment)
    stats = {"objective_before": before, "objective_after": before, "rounds": 0, "pool_sizes": [],
             "max_out": max_out, "max_in": max_in, "exchange_optimal": False}
    if problem.constraints.max_moved is not None:
        stats["skipped"] = "max_moved is a rule on the whole configuration"
        return config, stats
    current, current_obj = config, before
    for r in range(max_rounds):
        left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
        if left is not None and left < 1.0:
            break
        masks = exchange_candidates(problem, current, max_out, max_in)
        stats["pool_sizes"].append(len(masks))
        if progress is not None:
            progress(f"exchange polish, round {r + 1}: {len(masks):,} footprint variants", 0.9)
        try:
            res = _PoolSolver(problem, masks, time_limit=left).solve()
        except IcbSimError:
            break
        stats["rounds"] = r + 1
        if res.configuration is None or res.status is not SolverStatus.OPTIMAL:
            break
        new_obj = problem.objective(res.configuration.assignment)
        if new_obj >= current_obj - 1e-9 or problem.violations(res.configuration):
            stats["exchange_optimal"] = True
            break
        current, current_obj = _renamed(current, res.configuration), new_obj
    stats["objective_after"] = current_obj
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return current, stats


def pair_redraw(problem: Problem, config: Configuration, max_splits: int = 100_000,
                time_limit: float | None = None, progress=None,
                direct_limit: int = 2_000) -> tuple[Configuration, dict]:
    """Re-draw pairs of neighbouring footprints in the best way between themselves until no pair improves.

    For each pair, every connected footprint inside the pair's blocks under the population cap is a candidate
    (pairs with more than ``max_splits`` such footprints are skipped and counted; pairs with a footprint locked
    to today's ICB are left as they are); the exact solver picks the best partition of the pair's blocks (into
    two footprints, or one, or more), all other footprints fixed. Returns the configuration and statistics
    (objective before and after, pairs re-drawn, checked and skipped, seconds, whether every pair was checked).
    Scenarios with ``max_moved`` are returned unchanged.
    """
    t0 = time.perf_counter()
    m, cons = problem.model, problem.constraints
    pop = problem.population
    before = problem.objective(config.assignment)
    stats = {"objective_before": before, "objective_after": before, "pairs_redrawn": 0, "pairs_checked": 0,
             "pairs_skipped": 0, "max_splits": max_splits, "pair_optimal": False}
    if cons.max_moved is not None:
        stats["skipped"] = "max_moved is a rule on the whole configuration"
        return config, stats
    cap = population_cap(problem)
    neighbours, forbid = enumeration_rules(problem)
    locked = _mask(np.concatenate([idx for idx, _ in cons.locked])) if cons.locked else 0
    current, current_obj = config, before
    checked: set[tuple[int, int]] = set()
    skipped: set[tuple[int, int]] = set()
    pairs: list[tuple[int, int]] = []
    while True:
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
        a = current.assignment
        masks = {f: _mask(np.flatnonzero(a == f)) for f in np.unique(a)}
        pairs = sorted({(masks[min(a[u], a[v])], masks[max(a[u], a[v])])
                        for u in range(m.n_blocks) for v in neighbours[u] if a[u] != a[v]})
        todo = [p for p in pairs if p not in checked]
        improved = False
        for i, (mf, mg) in enumerate(todo):
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                break  # pairs left unchecked: not pair-optimal
            if progress is not None and i % 10 == 0:
                progress(f"re-drawing pairs of footprints: {stats['pairs_checked']:,} checked", 0.95)
            checked.add((mf, mg))
            if (mf | mg) & locked:  # a footprint locked to today's ICB cannot change
                continue
            blocks = np.array([b for b in range(m.n_blocks) if (mf | mg) >> b & 1])
            local = {int(b): j for j, b in enumerate(blocks)}
            nb = [np.array([local[int(v)] for v in neighbours[b] if int(v) in local], dtype=int) for b in blocks]
            sub_forbid = [sum(1 << local[j] for j in mask_blocks(forbid[b]) if j in local) for b in blocks]
            allowed = (lambda sub, u: not (sub & sub_forbid[u])) if cons.must_not_merge else None
            local_sets = list(connected_sets(nb, pop[blocks], cap, allowed, max_count=max_splits + 1))
            if len(local_sets) > max_splits:
                stats["pairs_skipped"] += 1
                skipped.add((mf, mg))
                continue
            stats["pairs_checked"] += 1
            pool = set(_to_global(local_sets, blocks)) | set(masks.values())
            try:
                res = _PoolSolver(problem, sorted(pool), direct_limit=direct_limit).solve()
            except IcbSimError:
                continue
            if res.configuration is None or res.status is not SolverStatus.OPTIMAL:
                continue
            new_obj = problem.objective(res.configuration.assignment)
            if new_obj < current_obj - 1e-9 and not problem.violations(res.configuration):
                current, current_obj = _renamed(current, res.configuration), new_obj
                stats["pairs_redrawn"] += 1
                improved = True
                break  # footprints changed: list the pairs again
        if not improved:
            # Every pair of the final configuration was checked (none skipped as too big, none left by time).
            stats["pair_optimal"] = all(p in checked and p not in skipped for p in pairs)
            break
    stats["objective_after"] = current_obj
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return current, stats


def _to_global(local_sets: list[int], blocks: np.ndarray) -> list[int]:
    """Bitmasks over ``blocks`` (bit j is ``blocks[j]``) as bitmasks over all blocks, a byte at a time."""
    tables = []
    for start in range(0, len(blocks), 8):
        chunk = [1 << int(b) for b in blocks[start:start + 8]]
        table = [0] * 256
        for byte in range(1, 256):
            low = byte & -byte
            table[byte] = table[byte ^ low] | chunk[low.bit_length() - 1] if low.bit_length() <= len(chunk) else 0
        tables.append((start, table))
    return [sum(table[(sub >> start) & 255] for start, table in tables) for sub in local_sets]


class _PoolSolver(ExactSolver):
    """The exact solver over a given pool of footprints instead of every connected one."""

    lifts_soft_ceiling = False  # the pool is the space searched, whatever the ceiling

    def __init__(self, problem: Problem, masks: list[int], time_limit: float | None = None, **options):
        super().__init__(problem, time_limit=time_limit, **options)
        self._masks = masks

    def candidates(self) -> tuple[sp.csr_matrix, np.ndarray]:
        p = self.problem
        pop = p.population
        C = masks_to_matrix(self._masks, p.model.n_blocks)
        C = C[p.constraints.column_mask(p.model, C, pop)]
        sc = scorer(p.model, p.params)
        self.constant = sc.constant
        self.stats_["population_cap"] = population_cap(p)
        self.stats_["candidates_feasible"] = int(C.shape[0])
        return C, sc.costs(C) + p.constraints.penalty(C @ pop)


def polish(problem: Problem, config: Configuration, time_limit: float | None = None,
           progress=None) -> tuple[Configuration, dict]:
    """Both neighbourhoods in turn (exchange, then pairs re-drawn) until neither improves the configuration."""
    t0 = time.perf_counter()
    stats = {"objective_before": problem.objective(config.assignment), "exchange": [], "pairs": []}
    current, ex = exchange_polish(problem, config, time_limit=time_limit, progress=progress)
    stats["exchange"].append(ex)
    for _ in range(10):
        left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
        current, pr = pair_redraw(problem, current, time_limit=left, progress=progress)
        stats["pairs"].append(pr)
        if pr["pairs_redrawn"] == 0:
            break
        # Pairs were re-drawn until none improves; only if an exchange then helps can pairs help again.
        left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
        current, ex = exchange_polish(problem, current, time_limit=left, progress=progress)
        stats["exchange"].append(ex)
        if ex["objective_after"] >= ex["objective_before"] - 1e-9:
            break
    stats["objective_after"] = problem.objective(current.assignment)
    last_ex, last_pr = stats["exchange"][-1], stats["pairs"][-1]
    stats["exchange_optimal"] = last_ex["exchange_optimal"] and (
        len(stats["exchange"]) > len(stats["pairs"]) or last_pr["pairs_redrawn"] == 0)
    stats["pair_optimal"] = last_pr["pair_optimal"] and len(stats["exchange"]) <= len(stats["pairs"]) or (
        last_pr["pair_optimal"] and last_ex["objective_after"] >= last_ex["objective_before"] - 1e-9)
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return current, stats


def _renamed(old: Configuration, new: Configuration) -> Configuration:
    """``new`` with each footprint named after the footprint of ``old`` it shares most blocks with."""
    names, used = [], set()
    for f in range(len(new.names)):
        members = new.assignment == f
        counts = np.bincount(old.assignment[members], minlength=len(old.names))
        best = next((int(g) for g in np.argsort(-counts, kind="stable") if counts[g] and g not in used), None)
        if best is None:
            name = new.names[f]
            while name in old.names or name in names:
                name += "*"
            names.append(name)
        else:
            used.add(best)
            names.append(old.names[best])
    return Configuration(new.model, new.assignment, names, allow_noncontiguous=old.allow_noncontiguous)


def _mask(blocks) -> int:
    return sum(1 << int(b) for b in blocks)

"""Exchange polish: the best simultaneous exchange of a few border blocks between footprints, solved exactly.

A local search moves one block at a time; some improvements need several footprints to trade blocks at once.
Here every footprint of a configuration gets variants that give away up to ``max_out`` of its border blocks
and take up to ``max_in`` neighbouring blocks, and the set-partitioning MILP (the exact solver's machinery,
over this pool instead of every connected footprint) picks the best combination. The configuration itself is
in the pool, so the answer is never worse; repeated until nothing improves, the result is optimal over every
such combined exchange (a certificate of local optimality, not a global bound).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import scipy.sparse as sp

from simulator.configuration import Configuration
from simulator.errors import IcbSimError
from simulator.metrics.score import scorer
from simulator.solvers.base import Problem
from simulator.solvers.exact import ExactSolver, masks_to_matrix


def exchange_candidates(problem: Problem, config: Configuration, max_out: int = 2, max_in: int = 2) -> list[int]:
    """Footprints of ``config`` and their exchange variants, as block bitmasks (sorted, no repeats).

    A variant drops up to ``max_out`` border blocks and adds up to ``max_in`` outside neighbours, stays in one
    piece, keeps under the population cap (the hard ceiling, else the band's ceiling), in one NHS region when
    the scenario asks, and keeps must-not-merge pairs apart. Other per-footprint rules are checked when the pool
    is costed (``Constraints.column_mask``).
    """
    m, cons = problem.model, problem.constraints
    pop = problem.population
    cap = cons.ceiling.value if (cons.ceiling and cons.ceiling.hard) else problem.params.band[1]
    nbrs = [set(map(int, nb)) for nb in m.neighbours]
    region = m.blocks.region_ods.to_numpy()
    apart = [(int(a), int(b)) for a, b in cons.must_not_merge]
    masks = set()
    for f in np.unique(config.assignment):
        members = set(np.flatnonzero(config.assignment == f).tolist())
        masks.add(_mask(members))
        border = sorted(u for u in members if nbrs[u] - members)
        outside = sorted(set().union(*(nbrs[u] for u in members)) - members)
        if cons.within_region:
            outside = [v for v in outside if region[v] == region[next(iter(members))]]
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
                if apart and any(a in blocks and b in blocks for a, b in apart):
                    continue
                if _connected(blocks, nbrs):
                    masks.add(_mask(blocks))
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
            s = _PoolSolver(problem, masks, time_limit=left).solve()
        except IcbSimError:
            break
        stats["rounds"] = r + 1
        if s.configuration_ is None or s.status_ != "optimal":
            break
        new_obj = problem.objective(s.configuration_.assignment)
        if new_obj >= current_obj - 1e-9 or problem.violations(s.configuration_):
            stats["exchange_optimal"] = True
            break
        current, current_obj = _renamed(current, s.configuration_), new_obj
    stats["objective_after"] = current_obj
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return current, stats


class _PoolSolver(ExactSolver):
    """The exact solver over a given pool of footprints instead of every connected one."""

    def __init__(self, problem: Problem, masks: list[int], time_limit: float | None = None):
        super().__init__(problem, time_limit=time_limit)
        self._masks = masks

    def candidates(self) -> tuple[sp.csr_matrix, np.ndarray]:
        p = self.problem
        pop = p.population
        C = masks_to_matrix(self._masks, p.model.n_blocks)
        C = C[p.constraints.column_mask(p.model, C, pop)]
        sc = scorer(p.model, p.params)
        self.constant = sc.constant
        cons = p.constraints
        self.stats_["population_cap"] = cons.ceiling.value if (cons.ceiling and cons.ceiling.hard) \
            else p.params.band[1]
        self.stats_["candidates_feasible"] = int(C.shape[0])
        return C, sc.costs(C) + cons.penalty(C @ pop)


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


def _connected(blocks: set[int], nbrs: list[set[int]]) -> bool:
    start = next(iter(blocks))
    seen, stack = {start}, [start]
    while stack:
        for v in nbrs[stack.pop()]:
            if v in blocks and v not in seen:
                seen.add(v)
                stack.append(v)
    return len(seen) == len(blocks)

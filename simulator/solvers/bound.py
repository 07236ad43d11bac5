"""Proven bound (and optimum) where candidate footprints are too many to hold: column generation priced exactly.

The exact solver enumerates every candidate, then bounds and fixes. At place level a region can have 10^8 or
more candidates, too many to store but few enough to *visit* (``simulator.solvers.scan``). This module keeps
a pool of candidates in a set-partitioning LP with the exact solver's subset-row cuts, and prices candidates
against the LP's duals by walks of two kinds:

* *searching* walks skip branches on an optimistic bound: cheap (about a second in the North West), they find
  footprints that price out but prove nothing, and run while they find some;
* a *proving* walk then visits every candidate that could price below -1e-6 (skipping only branches proven to
  hold none): if none does, the pool's bound is the bound over all candidates. Whatever it finds,
  ``dual objective + K * min(0, lowest reduced cost)`` is a valid (Lagrangian) bound, where ``K`` is the most
  footprints of free blocks a configuration as good as the incumbent can have (:func:`max_free_footprints`;
  the fixed footprints of locked blocks are in every configuration and priced in the pool);
* what a proving walk finds joins the pool and searching resumes; once a proving walk finds nothing, subset-row
  cuts are added and the loop repeats until none is violated.

Once converged, one more walk keeps every candidate whose reduced cost leaves room to beat the incumbent
(reduced-cost fixing); a MILP over those proves the optimum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from simulator.configuration import Configuration
from simulator.metrics.score import TERM_NAMES, FootprintScorer, scorer
from simulator.solvers.base import Problem
from simulator.solvers.enumerate import members
from simulator.solvers.exact import ExactSolver, _named, standing_alone_footprints
from simulator.solvers.master import PartitionMaster, _cut_membership, violated_subset_rows
from simulator.solvers.neighbourhood import exchange_candidates
from simulator.solvers.scan import FootprintScan
from simulator.solvers.term_bound import term_bound

_NEGATIVE = -1e-6  # HiGHS solves the master to 1e-7 dual feasibility: below that, nothing prices out
_PRUNING_WORTH = 1 / 3  # bounding a branch costs about three visits (measured in the North West)
_SEARCH_TRUST = 0.3  # searching walks count 30% of what joining blocks could bring (measured: East of England
# column generation in 9 walks of about 1 s, against 15 s and more for one proving walk)


@dataclass
class EnumeratedBound:
    """Result of :func:`enumerated_bound`.

    Attributes
    ----------
    bound
        Proven lower bound on the objective (score plus penalties) of every feasible configuration.
    converged
        True if the last walk found no candidate with a negative reduced cost (the bound is the master's).
    configuration, objective
        The best configuration known at the end (the incumbent, or better if the proof found one).
    proven_optimal
        True if the MILP over the candidates left by reduced-cost fixing proved ``objective`` optimal.
    stats
        Walks, candidates visited, pool size, cuts and seconds.
    """

    bound: float | None
    converged: bool
    configuration: Configuration
    objective: float
    proven_optimal: bool = False
    stats: dict = field(default_factory=dict)


def _matrix(footprints: list[np.ndarray], n: int) -> sp.csr_matrix:
    rows = np.concatenate([np.full(len(f), i) for i, f in enumerate(footprints)]) if footprints else np.zeros(0)
    cols = np.concatenate(footprints) if footprints else np.zeros(0)
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(footprints), n))


def _key(footprint: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in footprint)


def _costed(problem: Problem, sc: FootprintScorer, footprints: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """The footprints that pass the scenario's per-footprint rules (and keep apart what must not merge), with
    their costs: the scorer's plus the soft limits' penalties."""
    m, cons, pop = problem.model, problem.constraints, problem.population
    C = _matrix(footprints, m.n_blocks)
    ok = cons.column_mask(m, C, pop)
    if cons.must_not_merge:
        member = C.tolil().rows
        pairs = cons.must_not_merge
        ok &= np.array([not any(a in set(r) and b in set(r) for a, b in pairs) for r in member])
    keep = [f for f, o in zip(footprints, ok) if o]
    C = C[ok]
    return keep, sc.costs(C) + cons.penalty(C @ pop) if C.shape[0] else np.zeros(0)


@dataclass
class _Pool:
    """The candidates priced so far, as columns of the master LP over them.

    Attributes
    ----------
    footprints
        The pool's footprints (sorted block indices), in the master's column order.
    seen
        The seeds (kept or not) and every footprint added since, as ``_key`` tuples: none is offered again.
    is_locked
        For the first footprints (the seeds): True where it holds a locked block. Locked blocks' footprints are
        fixed, in every configuration, so their reduced costs count once each in the bound.
    """

    problem: Problem
    scorer: FootprintScorer
    master: _Master
    footprints: list[np.ndarray]
    seen: set
    is_locked: np.ndarray

    def add(self, found: list[np.ndarray]) -> int:
        """Add the footprints not offered before that pass the rules; return how many were added."""
        new = [np.sort(f) for f in found if _key(np.sort(f)) not in self.seen]
        new, new_costs = _costed(self.problem, self.scorer, new)
        for f in new:
            self.seen.add(_key(f))
        if new:
            self.master.add(new, new_costs)
            self.footprints += new
        return len(new)

    def reduced_costs(self, y: np.ndarray) -> tuple[np.ndarray, float, float]:
        """The pool's reduced costs, the locked footprints' (negative parts) summed, and the free ones' least."""
        rc = self.master.reduced_costs(y)
        locked = np.r_[self.is_locked, np.zeros(len(rc) - len(self.is_locked), dtype=bool)]
        return rc, float(np.minimum(rc[locked], 0.0).sum()), float(rc[~locked].min()) if (~locked).any() else np.inf


def _seed_pool(problem: Problem, incumbent: Configuration, scan: FootprintScan, sc: FootprintScorer,
               global_rows: list[tuple[float, float]]) -> _Pool:
    """The first pool, in a new master LP: single free blocks, the incumbent's footprints and their exchange
    variants, and the footprints that can only stand alone (today's ICBs above the cap, locked ICBs)."""
    seeds = [np.array([i]) for i in np.flatnonzero(scan.free)]
    seeds += [np.array(members(mk), dtype=np.int64) for mk in exchange_candidates(problem, incumbent)]
    seeds += standing_alone_footprints(problem)
    seen, footprints = set(), []
    for f in seeds:
        key = tuple(sorted(int(i) for i in f))
        if key not in seen:
            seen.add(key)
            footprints.append(np.array(key, dtype=np.int64))
    footprints, costs = _costed(problem, sc, footprints)
    master = _Master(problem.model.n_blocks, global_rows)
    master.add(footprints, costs)
    is_locked = np.array([not scan.free[f].all() for f in footprints])
    return _Pool(problem, sc, master, footprints, seen, is_locked)


def _walk(scan: FootprintScan, master: _Master, y: np.ndarray, searching: bool, cutoff: float, pruning: bool,
          per_walk: int, deadline: float | None):
    """One walk of every candidate, priced against the master's duals ``y`` (blocks, global rows, cuts).

    A *searching* walk skips branches on an optimistic bound below ``cutoff``: cheap, it finds columns but proves
    nothing. A *proving* walk visits every candidate pricing below -1e-6 (skipping only branches proven to hold
    none, while ``pruning`` pays): its lowest reduced cost is exact, and so is the bound.
    """
    n, ng = master.n, len(master.global_bounds)
    priced = dict(constant=-float(y[n:n + ng].sum()), cuts=master.triples, cut_duals=y[n + ng:],
                  threshold=_NEGATIVE, keep=per_walk, per_root=True, deadline=deadline)
    if searching:
        return scan.scan(y[:n], exact_below=cutoff, trust=_SEARCH_TRUST, **priced)
    return scan.scan(y[:n], exact_below=_NEGATIVE if pruning else None, **priced)


def _lagrangian_bound(pool: _Pool, y: np.ndarray, walk_bound: float, K: int) -> tuple[float, float]:
    """The bound after a proving walk, without the scorer's constant, and ``g``, the least reduced cost of any
    free candidate (the walk's bound on it, or the pool's): dual objective + the locked footprints' negative
    reduced costs + ``K * min(0, g)``."""
    _, locked_rc, free_least = pool.reduced_costs(y)
    g = min(walk_bound, free_least)
    return pool.master.dual_objective(y) + locked_rc + K * min(0.0, g), g


@dataclass
class _Walks:
    """What column generation did and proved (bounds without the scorer's constant)."""

    bound: float = -np.inf
    converged: bool = False
    walks: int = 0
    proving_walks: int = 0
    visited: int = 0
    least_reduced_cost: float = -np.inf
    pruning: bool = True


def _column_generation(pool: _Pool, scan: FootprintScan, K: int, deadline: float | None, max_walks: int,
                       per_walk: int, cuts_per_round: int, first_cutoff: float, candidates: int | None,
                       fixed_part: float, progress) -> _Walks:
    """Searching walks while they find columns, then a proving walk; once one finds nothing, subset-row cuts, and
    again, until no cut is violated (converged), ``max_walks`` walks, the deadline or a walk cut short."""
    w = _Walks()
    master = pool.master
    cutoff, searching = first_cutoff, True
    while w.walks < max_walks:
        if deadline is not None and time.perf_counter() > deadline:
            break
        if not master.solve():
            break
        y = master.duals()
        walk_t = time.perf_counter()
        res = _walk(scan, master, y, searching, cutoff, w.pruning, per_walk, deadline)
        w.proving_walks += not searching
        w.walks += 1
        w.visited += res.visited
        walked = f"{res.visited:,} candidates in {time.perf_counter() - walk_t:.1f} s"
        if not res.complete:
            break  # out of time part-way: this walk proves nothing
        found_below = res.min_reduced_cost < _NEGATIVE
        if not searching:
            if candidates and res.visited > _PRUNING_WORTH * candidates:
                w.pruning = False  # skipping branches saves less than bounding them costs: walk every candidate
            bound, w.least_reduced_cost = _lagrangian_bound(pool, y, res.lower_bound, K)
            w.bound = max(w.bound, bound)
            progress(f"walk {w.walks} (proving): lowest reduced cost {w.least_reduced_cost:.2e}, bound "
                     f"{w.bound + fixed_part:.4f}, {len(master.triples)} cuts, {walked}",
                     min(0.9, 0.1 + 0.03 * w.walks))
        else:
            progress(f"walk {w.walks} (searching): lowest reduced cost found {res.min_reduced_cost:.2e}, "
                     f"{len(master.triples)} cuts, {walked}", min(0.9, 0.1 + 0.03 * w.walks))
        added = pool.add(res.footprints)
        if found_below and added:
            # Keep searching, with a cut-off a quarter of the lowest reduced cost found (fewer branches to walk
            # while the duals are far off).
            searching, cutoff = True, min(_NEGATIVE, res.min_reduced_cost / 4.0)
        elif searching:
            searching = False  # the search has run dry: prove it
        elif found_below:
            break  # nothing the proving walk found is allowed
        elif not master.add_cuts(cuts_per_round):
            w.converged = True  # the LP over every candidate is solved, and no cut is violated
            break
        else:
            searching, cutoff = True, first_cutoff
    return w


def _reduced_cost_fixing(out: EnumeratedBound, pool: _Pool, scan: FootprintScan, w: _Walks, K: int,
                         fixed_part: float, proof_limit: int, deadline: float | None) -> list[np.ndarray] | None:
    """The candidates that could be in a configuration better than ``out``'s incumbent, or None (with the reason
    in ``out.stats``) when they cannot all be had.

    A candidate S is in a better configuration only if dual objective + rc(S) (+ the rest, each at least
    min(0, g)) stays below the incumbent's objective: one more walk keeps those; the pool's that pass, and the
    incumbent's footprints, join them.
    """
    master, stats = pool.master, out.stats
    n, ng = master.n, len(master.global_bounds)
    y = master.duals()
    pool_rc, locked_rc, _ = pool.reduced_costs(y)
    slack = out.objective - fixed_part - master.dual_objective(y) - locked_rc - (K - 1) * min(0.0, w.least_reduced_cost)
    res = scan.scan(y[:n], constant=-float(y[n:n + ng].sum()), cuts=master.triples, cut_duals=y[n + ng:],
                    threshold=slack + 1e-9, keep=proof_limit + 1,
                    exact_below=slack + 2e-9 if w.pruning else None, deadline=deadline)
    if not res.complete:
        stats["unproven_reason"] = "the time limit passed during reduced-cost fixing; the gap is against the bound"
        return None
    stats["candidates_after_fixing"] = len(res.footprints)
    if res.threshold < slack:  # the buffer overflowed: too many candidates to prove with
        stats["unproven_reason"] = (f"reduced-cost fixing left more than {proof_limit:,} candidates; the gap is "
                                    "against the proven bound")
        return None
    incumbent = out.configuration
    keep = [np.sort(f) for f in res.footprints]
    keep += [f for f, r in zip(pool.footprints, pool_rc) if r <= slack + 1e-9]
    keep += [np.flatnonzero(incumbent.assignment == k) for k in np.unique(incumbent.assignment)]
    return keep


def _prove(out: EnumeratedBound, pool: _Pool, solver: ExactSolver, keep: list[np.ndarray], fixed_part: float,
           time_limit: float | None, t0: float) -> None:
    """Solve the set-partitioning MILP over the candidates ``keep``: its optimum is the proven optimum, and
    replaces ``out``'s incumbent if better (``out`` is updated in place)."""
    problem, n = pool.problem, pool.master.n
    uniq = {_key(f): f for f in keep}
    keep, keep_costs = _costed(problem, pool.scorer, list(uniq.values()))
    C = _matrix(keep, n)
    remaining = None if time_limit is None else max(1.0, time_limit - (time.perf_counter() - t0))
    milp = solver.partition_milp(C, keep_costs, remaining)
    out.stats["proof_s"] = round(time.perf_counter() - t0 - out.stats["bound_s"], 3)
    if milp.status == 0 and milp.x is not None:
        chosen = np.flatnonzero(milp.x > 0.5)
        assignment = np.full(n, -1, dtype=np.int64)
        for k, j in enumerate(chosen):
            assignment[C[j].indices] = k
        value = float(keep_costs[chosen].sum()) + fixed_part
        if value < out.objective - 1e-12:
            out.configuration, out.objective = _named(problem, assignment), value
        out.proven_optimal = True
        out.bound = min(out.objective, max(out.bound, value))


def enumerated_bound(problem: Problem, incumbent: Configuration, time_limit: float | None = None,
                     max_walks: int = 100, per_walk: int = 20_000, cuts_per_round: int = 200,
                     proof_limit: int = 30_000, first_cutoff: float = -0.01, candidates: int | None = None,
                     scan: FootprintScan | None = None, progress=None) -> EnumeratedBound:
    """Bound ``problem`` (and prove ``incumbent`` optimal, or improve it) by exactly priced column generation.

    Parameters
    ----------
    problem
        A problem with contiguity on; the walk visits every connected candidate of its free blocks.
    incumbent
        A feasible configuration (the heuristic's answer): its footprints seed the pool and its objective is
        what reduced-cost fixing must beat.
    time_limit
        Seconds; no root of a walk starts after it (a walk cut short proves nothing; the bound from the walks
        before stays valid).
    max_walks
        Walks of column generation at most, searching and proving.
    per_walk
        Candidates of lowest reduced cost added to the pool by each walk.
    cuts_per_round
        Subset-row cuts added each time the LP over every candidate is solved.
    proof_limit
        Reduced-cost fixing may leave at most this many candidates for the proving MILP.
    first_cutoff
        Cut-off (:meth:`FootprintScan.scan`'s ``exact_below``) of the first searching walk, and of the first
        after cuts are added; later ones are a quarter of the lowest reduced cost found. Proving walks use -1e-6.
    candidates
        How many candidates there are, if counted: once a proving walk visits more than a third of them, later
        proving walks visit every candidate (bounding a branch costs about three visits).
    scan
        The problem's :class:`FootprintScan`, if the caller has built one (it is built here otherwise).
    """
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    n = problem.model.n_blocks
    sc = scorer(problem.model, problem.params)
    solver = ExactSolver(problem)
    _, lows, highs = solver.global_rows(sp.csr_matrix((0, n)))  # only the number of footprints, if any
    scan = scan or FootprintScan(problem)
    incumbent_objective = problem.objective(incumbent.assignment)
    # No configuration as good as the incumbent has more footprints of free blocks than this (as many as the
    # population band allows). Locked blocks' footprints are fixed: each is in every configuration, priced in
    # the pool.
    K = max_free_footprints(problem, incumbent_objective, scan.free)
    pool = _seed_pool(problem, incumbent, scan, sc, list(zip(lows, highs)))
    fixed_part = sc.constant
    w = _column_generation(pool, scan, K, deadline, max_walks, per_walk, cuts_per_round, first_cutoff, candidates,
                           fixed_part, progress or (lambda msg, frac: None))
    stats = {"walks": w.walks, "proving_walks": w.proving_walks, "candidates_visited": w.visited,
             "pool": len(pool.footprints), "subset_row_cuts": len(pool.master.triples),
             "lowest_reduced_cost": w.least_reduced_cost, "bound_s": round(time.perf_counter() - t0, 3)}
    bound = w.bound + fixed_part if np.isfinite(w.bound) else None
    out = EnumeratedBound(bound, w.converged, incumbent, incumbent_objective, stats=stats)
    if bound is None or not w.converged:
        return out
    keep = _reduced_cost_fixing(out, pool, scan, w, K, fixed_part, proof_limit, deadline)
    if keep is not None:
        _prove(out, pool, solver, keep, fixed_part, time_limit, t0)
    return out


def max_free_footprints(problem: Problem, incumbent_objective: float, free: np.ndarray) -> int:
    """Most footprints of ``free`` blocks in any configuration scoring no more than ``incumbent_objective``.

    Every configuration scores at least the term-wise bound (:func:`simulator.solvers.term_bound.term_bound`:
    the locked blocks' fixed footprints, and each term's least total over the free blocks), in which the band
    counts for nothing. ``k`` footprints of free blocks fall short of the band's floor by at least
    ``k * floor - their people``, which the band term charges on top: more footprints than the incumbent's
    score leaves room for cannot do better.
    """
    sc = scorer(problem.model, problem.params)
    w = dict(zip(TERM_NAMES, sc.weights))
    n_free = int(free.sum())
    floor = float(sc.band[0])
    if w["population_band"] <= 0 or floor <= 0:
        return n_free
    slack = max(0.0, incumbent_objective - term_bound(problem).bound)
    people = float(problem.population[free].sum()) + slack / sc.band_per_person
    return int(max(1, min(n_free, np.floor(people / floor + 1e-9))))


class _Master(PartitionMaster):
    """The set-partitioning LP over the pool, kept between walks, with its footprints and cuts: columns are added
    as the walks find them, subset-row cuts as the LP solutions violate them."""

    def __init__(self, n: int, global_rows: list[tuple[float, float]]):
        super().__init__(n, global_rows)
        self.C = sp.csr_matrix((0, n))
        self.costs = np.zeros(0)
        self.triples: list[tuple[int, int, int]] = []
        self.known: set = set()
        self.G = sp.csr_matrix((0, 0))

    def add(self, footprints: list[np.ndarray], costs: np.ndarray) -> None:
        C = _matrix(footprints, self.n)
        G = _cut_membership(C.tocsc(), self.triples)
        self.add_columns(C, costs, np.ones((C.shape[0], len(self.global_bounds))), G)
        self.C = sp.vstack([self.C, C], format="csr")
        self.G = sp.vstack([self.G, G], format="csr") if self.G.shape[0] else G.tocsr()
        self.costs = np.r_[self.costs, costs]

    def solve(self) -> bool:
        """Solve; False also when artificial columns are in use (the pool cannot cover the blocks)."""
        return super().solve() and not self.artificial_in_use()

    def reduced_costs(self, y: np.ndarray) -> np.ndarray:
        n, ng = self.n, len(self.global_bounds)
        rc = self.costs - self.C @ y[:n] - float(y[n:n + ng].sum())
        if self.triples:
            rc = rc - self.G @ y[self.n_fixed:]
        return rc

    def add_cuts(self, limit: int) -> bool:
        """Add the ``limit`` most violated subset-row cuts of the current LP solution; False if none is violated."""
        x = self.values()
        s = np.flatnonzero(x > 1e-9)
        new = violated_subset_rows(self.C[s], x[s], self.known, limit=limit)
        if not new:
            return False
        newG = _cut_membership(self.C.tocsc(), new)
        for k, tri in enumerate(new):
            self.known.add(tri)
            self.triples.append(tri)
            self.add_cut(np.flatnonzero(newG[:, k].toarray().ravel() > 0) + self.n_art)
        self.G = sp.hstack([self.G, newG], format="csr") if self.G.shape[1] else newG.tocsr()
        return True

"""Trade-offs: the k best distinct configurations, Pareto fronts of two terms, and weight sensitivity."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from simulator.configuration import Configuration
from simulator.errors import ScenarioError
from simulator.metrics.score import TERM_NAMES, scorer
from simulator.solvers.base import Problem
from simulator.solvers.enumerate import soft_threshold
from simulator.solvers.exact import ExactSolver, _named

_CHUNK = 50_000


def _candidates(problem: Problem, limit: int) -> tuple[ExactSolver, sp.csr_matrix, np.ndarray]:
    s = ExactSolver(problem)
    C, costs = s.candidates()
    if C.shape[0] > limit:
        raise ScenarioError(f"{C.shape[0]:,} candidate footprints: trade-off runs need the exact solver to solve "
                            f"directly (at most {limit:,}); use ICB level or a regional scenario")
    if (np.asarray(C.sum(axis=0)).ravel() == 0).any():
        raise ScenarioError("the scenario is infeasible: run 'icbsim optimise' for an explanation")
    return s, C, costs


def _config(problem: Problem, C: sp.csr_matrix, x: np.ndarray) -> tuple[Configuration, np.ndarray]:
    chosen = np.flatnonzero(x > 0.5)
    assignment = np.full(problem.model.n_blocks, -1, dtype=np.int64)
    for k, j in enumerate(chosen):
        assignment[C[j].indices] = k
    return _named(problem, assignment), chosen


def top_k(problem: Problem, k: int, limit: int = 20_000, time_limit: float = 60.0) -> list[tuple[float, Configuration]]:
    """The ``k`` best distinct configurations, best first (each later one excluded by a no-good cut)."""
    if k < 1:
        raise ScenarioError("k must be at least 1")
    s, C, costs = _candidates(problem, limit)
    found: list[tuple[float, Configuration]] = []
    cuts = []
    for _ in range(k):
        res = s.partition_milp(C, costs, time_limit, extra=cuts)
        if res.x is None:
            break
        config, chosen = _config(problem, C, res.x)
        found.append((float(costs[chosen].sum()) + s.constant, config))
        row = np.zeros(C.shape[0])
        row[chosen] = 1.0
        cuts = list(cuts) + [(row, -np.inf, len(chosen) - 1)]
    return found


@dataclass
class ParetoPoint:
    """One non-dominated configuration for two terms."""

    x: float
    y: float
    objective: float
    configuration: Configuration


def pareto(problem: Problem, x_term: str, y_term: str, points: int = 8, limit: int = 20_000,
           time_limit: float = 60.0) -> list[ParetoPoint]:
    """Pareto front of two score terms by the epsilon-constraint method, walked point by point.

    Starts from the configuration with the best ``x`` (the best ``y`` among those), then repeatedly caps ``y``
    just below the last point's and minimises ``x`` again, so consecutive points are neighbours on the front.
    Each point is found lexicographically (best ``x``, then best ``y`` at that ``x``), so none is dominated.
    If the front has more than ``points`` points the walk stops early and the best-``y`` end is added.
    """
    for t in (x_term, y_term):
        if t not in TERM_NAMES:
            raise ScenarioError(f"unknown term {t!r}; use one of {', '.join(TERM_NAMES)}")
    if x_term == y_term:
        raise ScenarioError("choose two different terms")
    if points < 2:
        raise ScenarioError("a front needs at least 2 points")
    s, C, costs = _candidates(problem, limit)
    sc = scorer(problem.model, problem.params)
    contrib = np.vstack([sc.contributions(C[i:i + _CHUNK]) for i in range(0, C.shape[0], _CHUNK)])
    xi, yi = TERM_NAMES.index(x_term), TERM_NAMES.index(y_term)
    cx, cy = contrib[:, xi], contrib[:, yi]
    ox, oy = sc.offsets[xi], sc.offsets[yi]
    eps = 1e-4  # in rows scaled to 1: above HiGHS's MIP feasibility tolerance (1e-6)

    def cap(row: np.ndarray, value: float) -> tuple[np.ndarray, float, float]:
        scale = max(float(np.abs(row).max()), 1e-12)  # HiGHS's tolerances are absolute: scale the row to 1
        return row / scale, -np.inf, value / scale

    def lexmin(first: np.ndarray, second: np.ndarray, caps: list) -> np.ndarray | None:
        res = s.partition_milp(C, first, time_limit, extra=caps)
        if res.x is None:
            return None
        row, lo, hi = cap(first, float(first @ res.x))
        res2 = s.partition_milp(C, second, time_limit, extra=caps + [(row, lo, hi + eps)])
        return res.x if res2.x is None else res2.x

    found = []
    x = lexmin(cx, cy, [])
    if x is None:
        raise ScenarioError("no feasible configuration for the Pareto front")
    while x is not None and len(found) < points - 1:
        found.append(x)
        row, lo, hi = cap(cy, float(cy @ x))
        x = lexmin(cx, cy, [(row, lo, hi - eps)])
    end = lexmin(cy, cx, [])
    if end is not None and all(float(cy @ f) > float(cy @ end) + 1e-9 for f in found):
        found.append(end)
    out = []
    for x in found:
        config, _ = _config(problem, C, x)
        out.append(ParetoPoint(float(cx @ x) + ox, float(cy @ x) + oy, float(costs @ x) + s.constant, config))
    return out


@dataclass
class Sensitivity:
    """Co-assignment across runs with perturbed weights.

    Attributes
    ----------
    together
        Block x block share of runs in which the two blocks share a footprint.
    robust_pairs
        Neighbouring blocks of different ICBs today that are together in at least ``threshold`` of runs.
    objectives
        Objective of each run under its own weights.
    """

    codes: list[str]
    together: np.ndarray
    runs: int
    spread: float
    threshold: float
    objectives: list[float] = field(default_factory=list)
    robust_pairs: list[tuple[str, str, float]] = field(default_factory=list)
    configurations: list[Configuration] = field(default_factory=list)


def sensitivity(problem: Problem, runs: int = 20, spread: float = 0.25, seed: int = 0, threshold: float = 0.9,
                limit: int = 20_000, time_limit: float = 60.0) -> Sensitivity:
    """Re-solve with every weight multiplied by a log-normal factor (sd ``spread``) and count co-assignment.

    Deterministic for a seed. A pair of blocks is a robust recommendation when it is together in at least
    ``threshold`` of the runs although the two are in different ICBs today.
    """
    if runs < 1 or spread < 0:
        raise ScenarioError("runs must be at least 1 and spread at least 0")
    s, C, _ = _candidates(problem, limit)
    sc = scorer(problem.model, problem.params)
    contrib = np.vstack([sc.contributions(C[i:i + _CHUNK]) for i in range(0, C.shape[0], _CHUNK)])
    pop = C @ problem.population
    penalty = problem.constraints.penalty(pop)
    rng = np.random.default_rng(seed)
    base = np.array([problem.params.weights.get(t, 0.0) for t in TERM_NAMES])
    n = problem.model.n_blocks
    together = np.zeros((n, n))
    result = Sensitivity([*problem.model.blocks.code], together, runs, spread, threshold)
    for _ in range(runs):
        w = base * np.exp(rng.normal(0.0, spread, size=len(base)))
        res = s.partition_milp(C, contrib @ w + penalty, time_limit)
        if res.x is None:
            raise ScenarioError("a perturbed run found no feasible configuration")
        config, chosen = _config(problem, C, res.x)
        a = config.assignment
        together += (a[:, None] == a[None, :])
        result.objectives.append(float((contrib @ w + penalty) @ res.x + sc.offsets @ w))
        result.configurations.append(config)
    together /= runs
    icb = problem.model.blocks.icb_code.to_numpy()
    codes = problem.model.blocks.code.to_numpy()
    for a_, b_ in zip(problem.model.edges.a, problem.model.edges.b):
        if icb[a_] != icb[b_] and together[a_, b_] >= threshold:
            result.robust_pairs.append((codes[a_], codes[b_], float(together[a_, b_])))
    result.together = together
    return result


@dataclass
class RegionMargin:
    """How firmly the best configuration holds in one NHS region."""

    region: str
    region_name: str
    margin: float | None  # how much more the best configuration differing here costs (None: none, or unproven)
    runner_up: Configuration | None


def runner_up_margins(problem: Problem, limit: int = 500_000, time_limit: float = 60.0
                      ) -> tuple[float, Configuration, list[RegionMargin]]:
    """The best configuration, and per NHS region with free blocks the margin by which it beats the best
    configuration that differs from it in that region (a no-good cut on the region's chosen footprints).

    Footprints that span regions count in the region of their largest part. Raises :class:`ScenarioError` where the
    exact solver cannot price the candidates directly (more than ``limit``).
    """
    if soft_threshold(problem) is not None:
        # Past a soft ceiling: the candidates up to the cap the exact solver's answer searched.
        probe = ExactSolver(problem, max_candidates=limit, explain=False, time_limit=time_limit)
        probe.solve()
        cap = (probe.stats_.get("soft_ceiling") or {}).get("cap_searched")
        s = ExactSolver(problem, max_candidates=limit)
        C, costs = s.candidates(cap)
    else:
        s, C, costs = _candidates(problem, limit)
    res = s.partition_milp(C, costs, time_limit)
    if res.x is None:
        raise ScenarioError("the scenario is infeasible: run 'icbsim optimise' for an explanation")
    if res.status != 0:
        raise ScenarioError(f"the best configuration was not proven within {time_limit:g} s")
    best, chosen = _config(problem, C, res.x)
    objective = float(costs[chosen].sum()) + s.constant
    m = problem.model
    region = m.blocks.region_ods.to_numpy()
    names = dict(zip(m.blocks.region_ods, m.blocks.region_name))
    pop = problem.population
    free = problem.free_blocks
    home = {}
    for j in chosen:
        idx = C[j].indices
        if not free[idx].any():
            continue
        by = {}
        for i in idx:
            by[region[i]] = by.get(region[i], 0.0) + pop[i]
        home.setdefault(max(by, key=by.get), []).append(j)
    out = []
    for r in sorted(home):
        row = np.zeros(C.shape[0])
        row[home[r]] = 1.0
        res2 = s.partition_milp(C, costs, time_limit, extra=[(row, -np.inf, len(home[r]) - 1)])
        if res2.x is None or res2.status != 0:  # none, or not proven the best that differs: no margin claimed
            out.append(RegionMargin(r, names[r], None, None))
            continue
        other, chosen2 = _config(problem, C, res2.x)
        out.append(RegionMargin(r, names[r], float(costs[chosen2].sum()) + s.constant - objective, other))
    return objective, best, out

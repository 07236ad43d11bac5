"""The price list that decided maps reveal: inverse optimisation of the score's weights (cutting planes and an LP).

The score is linear in its weights: a configuration scores ``w . t(x)`` plus its soft-limit penalties, where
``t(x)`` is the vector of its normalised terms (:mod:`simulator.metrics.score`). A decided map ``d`` is optimal
under prices ``w`` when no configuration that keeps the scenario's hard rules scores lower. Calibration looks for
the prices under which the decided maps are optimal, or as near to optimal as any price list makes them:

1. solve each scenario with the current prices (the exact solver where it can, :func:`simulator.solvers.run.optimise`
   elsewhere); if every decided map scores no worse than the answer, stop;
2. keep each answer that beats its decided map as a *competitor* (its term vector);
3. solve an LP (HiGHS) for the prices that minimise, summed over the decided maps, the most by which any of its
   competitors beats it plus a margin that grows with how much the competitor disagrees with the decided map
   (``margin x (1 - F1)``, a structured hinge), plus a pull toward the default prices; the prices are normalised
   so that a typical change scores what it scores under the defaults (no all-zero price list);
4. repeat with the new prices.

Each scenario frees some NHS regions (``only_regions``) and its decided map is taken inside them only, today's map
elsewhere, so other regions' changes do not leak into the term differences. The pull is chosen by
leave-one-region-out (:func:`select_pull`), never by eye.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from simulator.compare import coassignment
from simulator.configuration import Configuration
from simulator.errors import ConfigurationError, ScenarioError, TooManyCandidates
from simulator.metrics.score import DEFAULT_WEIGHTS, TERM_NAMES, TERM_UNITS, scorer
from simulator.scenario import Scenario, dumps_scenario, loads_toml
from simulator.solvers.base import Problem, SolverStatus
from simulator.solvers.exact import ExactSolver
from simulator.solvers.run import optimise, start_configuration

PULLS: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0)
"""Pulls toward the default prices tried by :func:`select_pull` (score units of hinge per score unit of change)."""

MARGIN = 0.1
"""A competitor that shares no merged pair with the decided map must lose by this share of a typical change's
score (``scale``); one that agrees completely needs only to tie."""

MAX_ROUNDS = 15
"""Rounds of cutting planes at most (each solves every scenario once)."""

_TOL = 1e-7
"""Relative tolerance: a decided map within this of the best answer counts as optimal."""


@dataclass
class DecidedMap:
    """One decision to learn from: a scenario's rules (and the regions it frees) and the map decided there.

    Attributes
    ----------
    label
        A short name (the scenario's).
    scenario
        The scenario: rules, band, level, freed regions, footprint count.
    problem
        The scenario resolved against its model (default prices).
    decided
        The decided map within the freed regions, today's map elsewhere.
    """

    label: str
    scenario: Scenario
    problem: Problem
    decided: Configuration

    @property
    def model(self):
        """The model of the scenario's level and baseline."""
        return self.problem.model


@dataclass
class Calibration:
    """What calibration learned (see :func:`calibrate`).

    Attributes
    ----------
    weights
        The learned price list: every score term (terms not learned keep the scenario's price).
    defaults
        The price list the calibration started from and is pulled toward.
    learned
        The terms whose prices were learned.
    fixed
        Terms held at their default, each with the reason (e.g. no decided map changes it).
    ranges
        Per learned term, (least, most) price over every normalised price list that fits the decided maps as well
        as the learned one (the hinge no larger, whatever the pull): how far the data leave it free.
    regrets
        Per decided map, how much more it scores than the best configuration under the learned prices (0: the
        decided map is optimal).
    answers
        Per decided map, the best configuration under the learned prices.
    agreement
        Per decided map, the co-assignment F1 of that answer with the decided map (place pairs and person-weighted).
    rounds, seconds
        Cutting-plane rounds and wall-clock time.
    history
        Per round: the prices used, the regrets, competitors added.
    pull, margin, scale
        The settings used (``scale``: the score a typical change costs, which the margin is a share of).
    """

    weights: dict[str, float]
    defaults: dict[str, float]
    learned: list[str]
    fixed: dict[str, str]
    ranges: dict[str, tuple[float, float]]
    regrets: dict[str, float]
    answers: dict[str, Configuration]
    agreement: dict[str, dict[str, float | None]]
    rounds: int
    seconds: float
    converged: bool
    pull: float
    margin: float
    scale: float
    history: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> list[dict[str, Any]]:
        """One row per term: default and learned price, the range the data leave it, and its unit."""
        rows = []
        for t in TERM_NAMES:
            lo, hi = self.ranges.get(t, (None, None))
            rows.append({"term": t, "unit": TERM_UNITS[t], "default": self.defaults[t], "learned": self.weights[t],
                         "least": lo, "most": hi, "status": "learned" if t in self.learned else
                         f"held: {self.fixed.get(t, 'not learned')}"})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-able values."""
        return {"weights": self.weights, "defaults": self.defaults, "learned": self.learned, "fixed": self.fixed,
                "ranges": {t: list(r) for t, r in self.ranges.items()}, "regrets": self.regrets,
                "agreement": self.agreement, "rounds": self.rounds, "seconds": round(self.seconds, 3),
                "converged": self.converged, "pull": self.pull, "margin": self.margin, "scale": self.scale,
                "prices": self.table(), "history": self.history}


# ---------------------------------------------------------------------------------------------- decided maps
def decided_in_freed_regions(problem: Problem, decided: Configuration, label: str = "decided map") -> Configuration:
    """The decided map inside the scenario's freed blocks and today's map elsewhere.

    Raises
    ------
    ConfigurationError
        If the decided map is drawn on another level, puts a freed block with a locked one, changes nothing in
        the freed regions, or breaks a hard rule of the scenario (each named).
    """
    model = problem.model
    if decided.model.level != model.level or not np.array_equal(decided.model.blocks.code.to_numpy(),
                                                                 model.blocks.code.to_numpy()):
        raise ConfigurationError(f"{label} is drawn at level {decided.model.level}, but the scenario's level is "
                                 f"{model.level}")
    free = problem.free_blocks
    today, today_names = model.baseline_assignment()
    inside = decided.assignment[free]
    # A decided footprint holding freed and locked blocks cannot be taken inside the freed regions alone.
    crossing = sorted(set(inside) & set(decided.assignment[~free]))
    if crossing:
        raise ConfigurationError(f"{label}: footprint(s) {', '.join(decided.names[f] for f in crossing)} hold blocks "
                                 "both inside and outside the regions the scenario frees")
    labels = np.where(free, decided.assignment, -1 - today)
    codes, assignment = np.unique(labels, return_inverse=True)
    names = [decided.names[c] if c >= 0 else f"{today_names[-1 - c]} (today)" for c in codes]
    config = Configuration(model, assignment, _unique(names), allow_noncontiguous=True)
    if _same_partition(config.assignment[free], today[free]):
        raise ConfigurationError(f"{label} is today's map in the regions the scenario frees: it says nothing about "
                                 "the prices")
    broken = problem.violations(config)
    if broken:
        raise ConfigurationError(f"{label} breaks the scenario's hard rule(s): {'; '.join(broken[:5])}"
                                 + (f" (and {len(broken) - 5} more)" if len(broken) > 5 else ""))
    return config


def _unique(names: list[str]) -> list[str]:
    out, seen = [], set()
    for n in names:
        base, k = n, 2
        while n in seen:
            n = f"{base} ({k})"
            k += 1
        seen.add(n)
        out.append(n)
    return out


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def decided_map(scenario: Scenario, model, decided: Configuration | str = "2026", label: str | None = None) -> DecidedMap:
    """A :class:`DecidedMap` of ``scenario`` on ``model``: ``decided`` is ``"2026"``/``"2024"`` (an official
    map) or a configuration on the model's blocks."""
    problem = Problem.from_scenario(scenario, model, start=start_configuration(scenario, model))
    label = label or scenario.name
    if isinstance(decided, str):
        vintage = decided
        assignment, names = model.map_assignment(vintage)
        decided = Configuration(model, assignment, names, allow_noncontiguous=True)
        label_map = f"the official {vintage} map"
    else:
        label_map = "the decided map"
    return DecidedMap(label, scenario, problem, decided_in_freed_regions(problem, decided, f"{label}: {label_map}"))


# ---------------------------------------------------------------------------------------------- the oracle
class _Pool:
    """One scenario's candidate footprints under one cap, with each one's term vector, so that pricing them under
    any prices is a product, and the exact solver's set partitioning can be re-run without enumerating again."""

    def __init__(self, problem: Problem, cap: float | None = None):
        solver = ExactSolver(problem, explain=False)
        C, _ = solver.candidates(cap)
        sc = scorer(problem.model, problem.params)
        chunk = 50_000
        self.C = C
        self.contributions = (np.vstack([sc.contributions(C[i:i + chunk]) for i in range(0, C.shape[0], chunk)])
                              if C.shape[0] else np.zeros((0, len(TERM_NAMES))))
        self.penalty = problem.constraints.penalty(C @ problem.population) if C.shape[0] else np.zeros(0)
        self.offsets = sc.offsets.copy()
        self.stats = dict(solver.stats_)


class _PricedExact(ExactSolver):
    """The exact solver over pooled candidates (:class:`_Pool`, one per cap, made once), priced with the
    problem's weights. With a soft ceiling the solver still lifts its cap as far as the answer needs: each cap it
    asks for is pooled in turn."""

    def __init__(self, problem: Problem, pool_for: Callable[[float | None], _Pool], **kwargs):
        super().__init__(problem, **kwargs)
        self.pool_for = pool_for

    def candidates(self, cap: float | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
        pool = self.pool_for(cap)
        w = _vector(self.problem.params.weights)
        self.constant = float(pool.offsets @ w)
        self.stats_.update(pool.stats)
        return pool.C, pool.contributions @ w + pool.penalty


def _vector(weights: dict[str, float]) -> np.ndarray:
    return np.array([float(weights.get(t, 0.0)) for t in TERM_NAMES])


class Oracle:
    """Best configuration of each decided map's scenario under given prices (cached per price list).

    The exact solver is used where the scenario's candidates can be enumerated (once, then re-priced); elsewhere
    :func:`simulator.solvers.run.optimise` (``auto``) with the seed given.
    """

    def __init__(self, seed: int = 0, time_limit: float | None = None):
        self.seed, self.time_limit = seed, time_limit
        self._pools: dict[tuple, _Pool] = {}
        self._enumerable: dict[int, bool] = {}
        self._memo: dict[tuple, tuple[Configuration, bool]] = {}
        self.solves = 0

    def best(self, case: DecidedMap, weights: dict[str, float]) -> tuple[Configuration, bool]:
        """(best configuration, proven optimal) of ``case``'s scenario under ``weights``.

        Raises
        ------
        ScenarioError
            If no configuration keeps the scenario's hard rules.
        """
        key = (id(case), tuple(np.round(_vector(weights), 12)))
        if key in self._memo:
            return self._memo[key]
        params = replace(case.problem.params, weights=dict(weights))
        problem = replace(case.problem, params=params)
        self.solves += 1
        s = None
        if self._enumerable.get(id(case), case.problem.constraints.contiguity):
            try:
                s = _PricedExact(problem, lambda cap: self._pool(case, cap), time_limit=self.time_limit,
                                 seed=self.seed, explain=False)
                s.solve()
            except TooManyCandidates:
                self._enumerable[id(case)] = False
                s = None
        if s is None:
            sc = copy.copy(case.scenario)
            sc.params = params
            s = optimise(sc, case.model, seed=self.seed, time_limit=self.time_limit)
        if s.configuration_ is None:
            raise ScenarioError(f"{case.label}: no configuration keeps the scenario's hard rules "
                                f"({'; '.join(s.explanation_) or s.status_})")
        out = (s.configuration_, s.status_ is SolverStatus.OPTIMAL)
        self._memo[key] = out
        return out

    def _pool(self, case: DecidedMap, cap: float | None) -> _Pool:
        key = (id(case), None if cap is None else round(float(cap), 3))
        if key not in self._pools:
            self._pools[key] = _Pool(case.problem, cap)
        return self._pools[key]


# ---------------------------------------------------------------------------------------------- the LP
@dataclass
class _Competitor:
    case: int
    delta: np.ndarray  # learned terms of the decided map minus the competitor's
    fixed: float  # the decided map minus the competitor on every other part of the objective
    margin: float
    f1: float


def _objective_parts(case: DecidedMap, config: Configuration) -> tuple[np.ndarray, float]:
    """(term vector, soft-limit penalty) of a configuration of ``case``'s scenario."""
    p = case.problem
    k = config.n_footprints
    terms = scorer(p.model, p.params).terms(config.assignment, k)
    pop = np.bincount(config.assignment, weights=p.population, minlength=k)
    return np.array([terms[t] for t in TERM_NAMES]), float(p.constraints.penalty(pop).sum())


def agreement(case: DecidedMap, answer: Configuration) -> dict[str, float | None]:
    """Co-assignment F1 of ``answer`` with the decided map over pairs of blocks apart on today's map (place pairs,
    ``f1``, and person-weighted, ``f1_persons``); 1 where neither puts any such pair together."""
    reference = case.model.baseline_assignment()[0]
    row = coassignment(case.model, answer, case.decided, reference).iloc[-1]
    both_none = row["f1"] is None and row["tp"] == row["fp"] == row["fn"] == 0
    return {"f1": 1.0 if both_none else row["f1"],
            "f1_persons": 1.0 if both_none else row["f1_persons"],
            "precision": row["precision"], "recall": row["recall"]}


def _solve_lp(competitors: list[_Competitor], n_cases: int, learned: np.ndarray, w0: np.ndarray,
              scale_t: np.ndarray, pull: float, ranges: bool = False) -> tuple[np.ndarray, float, dict]:
    """Prices of the learned terms minimising hinge + pull; with ``ranges``, each price's least and most over the
    optimal face."""
    T = len(learned)
    # Variables: w (T), slack per case (n_cases), |w - w0| (T).
    nv = 2 * T + n_cases
    c = np.r_[np.zeros(T), np.ones(n_cases), pull * scale_t]
    A, b = [], []
    for k in competitors:
        row = np.zeros(nv)
        row[:T] = k.delta
        row[T + k.case] = -1.0
        A.append(row)
        b.append(-(k.fixed + k.margin))
    for j in range(T):
        for sign in (1.0, -1.0):
            row = np.zeros(nv)
            row[j] = sign
            row[T + n_cases + j] = -1.0
            A.append(row)
            b.append(sign * w0[j])
    A_eq = np.r_[scale_t, np.zeros(n_cases + T)][None, :]
    b_eq = [float(scale_t @ w0)]
    bounds = [(0, None)] * nv
    res = linprog(c, A_ub=np.array(A), b_ub=np.array(b), A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0:
        raise ScenarioError(f"the calibration LP could not be solved ({res.message})")
    w = np.maximum(res.x[:T], 0.0)
    out = {}
    if ranges:
        # The range the data leave each price: every normalised price list that fits the decided maps as well as
        # the learned one (hinge no larger), whatever the pull would prefer.
        hinge = float(res.x[T:T + n_cases].sum())
        fit = np.r_[np.zeros(T), np.ones(n_cases), np.zeros(T)]
        A_face = np.vstack([np.array(A), fit[None, :]])
        b_face = np.r_[b, hinge + 1e-7 * max(1.0, hinge)]
        for j in range(T):
            ends = []
            for sign in (1.0, -1.0):
                obj = np.zeros(nv)
                obj[j] = sign
                r = linprog(obj, A_ub=A_face, b_ub=b_face, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
                ends.append(float(r.x[j]) if r.status == 0 else (np.inf if r.status == 3 else float(w[j])))
            out[j] = (min(ends[0], float(w[j])), max(ends[1], float(w[j])))
    return w, float(res.fun), out


# ---------------------------------------------------------------------------------------------- calibration
def _learnable(cases: Sequence[DecidedMap], defaults: dict[str, float], terms: Sequence[str] | None
               ) -> tuple[list[str], dict[str, str], np.ndarray]:
    """Terms to learn, terms held (with why), and each learned term's scale (mean |decided - today| per case)."""
    start = np.array([_objective_parts(c, c.problem.start)[0] for c in cases])
    decided = np.array([_objective_parts(c, c.decided)[0] for c in cases])
    typical = np.abs(decided - start).mean(axis=0)
    wanted = list(terms) if terms is not None else [t for t in TERM_NAMES if defaults.get(t, 0.0) > 0
                                                     or t == "upper_tier_split"]
    unknown = [t for t in wanted if t not in TERM_NAMES]
    if unknown:
        raise ScenarioError(f"unknown score term(s) {', '.join(unknown)}; known: {', '.join(TERM_NAMES)}")
    learned, fixed = [], {}
    for t in TERM_NAMES:
        j = TERM_NAMES.index(t)
        if t not in wanted:
            fixed[t] = "not asked to learn" if terms is not None else "default price 0 (not learned)"
        elif typical[j] <= 1e-9:
            fixed[t] = "no decided map differs from today's map on it"
        else:
            learned.append(t)
    scale_t = np.array([typical[TERM_NAMES.index(t)] for t in learned])
    return learned, fixed, scale_t


def calibrate(cases: Sequence[DecidedMap], pull: float = 0.3, margin: float = MARGIN,
              terms: Sequence[str] | None = None, max_rounds: int = MAX_ROUNDS, oracle: Oracle | None = None,
              progress: Callable[[str, float], None] | None = None, ranges: bool = True) -> Calibration:
    """Learn one price list under which the decided maps are optimal, or as near as any price list makes them.

    Parameters
    ----------
    cases
        Decided maps with their scenarios (see :func:`decided_map`); learned jointly.
    pull
        Weight of the pull toward the default prices against the hinge (choose it with :func:`select_pull`).
    margin
        A competitor must lose by ``margin x scale x (1 - F1)``, where ``scale`` is what a typical change scores
        under the default prices.
    terms
        Terms to learn; by default every term with a default price above 0, and ``upper_tier_split`` if the model
        has it. The rest keep the first scenario's prices.
    max_rounds
        Rounds of cutting planes at most.
    oracle
        Shared :class:`Oracle` (its candidate pools and answers are reused across calls).
    progress
        Called with (message, fraction done).
    ranges
        Compute each learned price's range over the LP's optimal face (two small LPs a term).

    Raises
    ------
    ScenarioError
        No cases, scenarios on different price lists' term sets, or a scenario with no feasible configuration.
    """
    t0 = time.perf_counter()
    if not cases:
        raise ScenarioError("calibration needs at least one decided map")
    say = progress or (lambda msg, frac: None)
    oracle = oracle or Oracle()
    defaults = {t: float(cases[0].problem.params.weights.get(t, DEFAULT_WEIGHTS.get(t, 0.0))) for t in TERM_NAMES}
    learned, fixed, scale_t = _learnable(cases, defaults, terms)
    if not learned:
        raise ScenarioError("no term can be learned: the decided maps do not differ from today's map on any term "
                            "that calibration may price")
    L = np.array([TERM_NAMES.index(t) for t in learned])
    w0_all = np.array([defaults[t] for t in TERM_NAMES])
    w0 = w0_all[L]
    scale = float(scale_t @ w0) / len(cases) if float(scale_t @ w0) > 0 else float(scale_t.sum()) / len(cases)
    decided_parts = [_objective_parts(c, c.decided) for c in cases]
    competitors: list[_Competitor] = []
    seen: set[tuple[int, bytes]] = set()
    w = w0.copy()
    history: list[dict[str, Any]] = []
    converged = False
    rounds = 0
    answers: dict[str, Configuration] = {}
    regrets: dict[str, float] = {}
    for rounds in range(1, max_rounds + 1):
        prices = _prices(w0_all, L, w)
        added = 0
        regrets = {}
        for i, case in enumerate(cases):
            say(f"round {rounds}: solving {case.label}", (rounds - 1 + i / len(cases)) / max_rounds)
            answer, _ = oracle.best(case, prices)
            answers[case.label] = answer
            t_ans, pen_ans = _objective_parts(case, answer)
            t_dec, pen_dec = decided_parts[i]
            full = _vector(prices)
            regret = float(full @ (t_dec - t_ans) + pen_dec - pen_ans)
            regrets[case.label] = max(regret, 0.0)
            key = (i, _canonical(answer.assignment).tobytes())
            if key in seen or case.decided.same_partition(answer):
                continue
            seen.add(key)
            f1 = agreement(case, answer)["f1"] or 0.0
            others = np.setdiff1d(np.arange(len(TERM_NAMES)), L)
            competitors.append(_Competitor(i, (t_dec - t_ans)[L], float(full[others] @ (t_dec - t_ans)[others]
                                                                        + pen_dec - pen_ans),
                                           margin * scale * (1.0 - f1), f1))
            added += 1
        history.append({"round": rounds, "prices": {t: float(v) for t, v in zip(learned, w)},
                        "regrets": dict(regrets), "competitors_added": added})
        tol = _TOL * max(1.0, scale)
        if all(r <= tol for r in regrets.values()) or not added:
            converged = True
            break
        say(f"round {rounds}: fitting prices to {len(competitors)} competitor(s)", rounds / max_rounds)
        w, _, _ = _solve_lp(competitors, len(cases), L, w0, scale_t, pull)
    price_ranges = {}
    if ranges and competitors:
        _, _, rng = _solve_lp(competitors, len(cases), L, w0, scale_t, pull, ranges=True)
        price_ranges = {learned[j]: (float(lo), float(hi)) for j, (lo, hi) in rng.items()}
    final = _prices(w0_all, L, w)
    agree = {c.label: agreement(c, answers[c.label]) for c in cases}
    say("calibrated", 1.0)
    return Calibration(weights=final, defaults=defaults, learned=learned, fixed=fixed, ranges=price_ranges,
                       regrets=regrets, answers=answers, agreement=agree, rounds=rounds,
                       seconds=time.perf_counter() - t0, converged=converged, pull=pull, margin=margin, scale=scale,
                       history=history)


def _prices(w0_all: np.ndarray, L: np.ndarray, w: np.ndarray) -> dict[str, float]:
    full = w0_all.copy()
    full[L] = w
    return {t: float(v) for t, v in zip(TERM_NAMES, full)}


def _canonical(assignment: np.ndarray) -> np.ndarray:
    """Footprint labels renumbered by first appearance (two equal partitions give equal arrays)."""
    _, first, inv = np.unique(assignment, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inv]


# ---------------------------------------------------------------------------------------------- out of sample
@dataclass
class HeldOut:
    """One fold of leave-one-out: prices learned without a decided map, and how they predict it."""

    label: str
    pull: float
    weights: dict[str, float]
    learned: dict[str, float | None]  # agreement of the learned prices' answer with the held-out decided map
    default: dict[str, float | None]  # agreement of the default prices' answer
    answer: Configuration
    default_answer: Configuration


def predict(case: DecidedMap, weights: dict[str, float], oracle: Oracle) -> tuple[Configuration, dict]:
    """The scenario's best configuration under ``weights`` and its agreement with the decided map."""
    answer, _ = oracle.best(case, weights)
    return answer, agreement(case, answer)


def select_pull(cases: Sequence[DecidedMap], pulls: Sequence[float] = PULLS, oracle: Oracle | None = None,
                progress: Callable[[str, float], None] | None = None, **kwargs) -> tuple[float, dict[float, float]]:
    """The pull with the best mean out-of-sample F1 when each decided map is predicted from the others (ties go
    to the stronger pull, nearer the defaults); returns it and the mean F1 of each pull tried."""
    if len(cases) < 2:
        raise ScenarioError("choosing the pull by leave-one-out needs at least two decided maps")
    oracle = oracle or Oracle()
    say = progress or (lambda msg, frac: None)
    score = {}
    for n, pull in enumerate(pulls):
        f1s = []
        for i, held in enumerate(cases):
            say(f"pull {pull:g}: predicting {held.label} from the others", (n + i / len(cases)) / len(pulls))
            cal = calibrate([c for j, c in enumerate(cases) if j != i], pull=pull, oracle=oracle, ranges=False,
                            **kwargs)
            f1s.append(predict(held, cal.weights, oracle)[1]["f1"] or 0.0)
        score[pull] = float(np.mean(f1s))
    best = max(pulls, key=lambda p: (round(score[p], 9), p))
    return best, score


def leave_one_out(cases: Sequence[DecidedMap], pulls: Sequence[float] = PULLS, oracle: Oracle | None = None,
                  progress: Callable[[str, float], None] | None = None, **kwargs) -> list[HeldOut]:
    """Predict each decided map from prices learned on the others (the pull chosen by leave-one-out among the
    others where there are two or more, so the held-out map plays no part in any choice), beside the defaults."""
    oracle = oracle or Oracle()
    say = progress or (lambda msg, frac: None)
    out = []
    for i, held in enumerate(cases):
        train = [c for j, c in enumerate(cases) if j != i]
        say(f"holding out {held.label}", i / len(cases))
        pull = select_pull(train, pulls, oracle, **kwargs)[0] if len(train) >= 2 else float(np.median(pulls))
        cal = calibrate(train, pull=pull, oracle=oracle, ranges=False, **kwargs)
        answer, learned = predict(held, cal.weights, oracle)
        default_answer, default = predict(held, cal.defaults, oracle)
        out.append(HeldOut(held.label, pull, cal.weights, learned, default, answer, default_answer))
    say("done", 1.0)
    return out


def scenario_text(base_text: str, calibration: Calibration, name: str, description: str,
                  drop: Sequence[str] = (), base_name: str | None = None) -> str:
    """The learned prices as a scenario file: ``base_text`` (a scenario's TOML) with its name, description and
    weights replaced, and the constraints named in ``drop`` removed; a comment says where the prices come from."""
    doc = loads_toml(base_text)
    doc["name"] = name
    doc["description"] = description
    doc["weights"] = {t: float(f"{calibration.weights[t]:.6g}") for t in TERM_NAMES}
    for key in drop:
        doc.get("constraints", {}).pop(key, None)
    head = ["# Prices learned by `icbsim calibrate` (inverse optimisation) from decided maps: "
            f"{', '.join(calibration.agreement)}.",
            f"# Learned: {', '.join(calibration.learned)}; the other terms keep their default prices. Pull toward "
            f"the defaults {calibration.pull:g}; {calibration.rounds} round(s).",
            "# No weight here was set by hand; re-run the calibration to reproduce them (docs/backtest.md)."]
    if base_name:
        head.append(f"# Rules and settings as in {base_name} (its comments give their sources)"
                    + (f", without {', '.join(drop)}." if drop else "."))
    return "\n".join(head) + "\n" + dumps_scenario(_ordered(doc))


def _ordered(doc: dict[str, Any]) -> dict[str, Any]:
    """Top-level values first, then tables (TOML needs tables last)."""
    plain = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    return {**plain, **{k: v for k, v in doc.items() if isinstance(v, dict)}}


# ---------------------------------------------------------------------------------------------- files
def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return buf.getvalue()


def calibration_files(calibration: Calibration, cases: Sequence[DecidedMap], held_out: Sequence[HeldOut] = (),
                      pull_scores: dict[float, float] | None = None, scenario: str | None = None) -> dict[str, str]:
    """The files ``icbsim calibrate`` writes: ``calibration.json`` (everything), ``prices.csv`` (each term's
    default and learned price and the range the data leave it), ``decided_maps.csv`` (regret and agreement per
    decided map), ``leave_one_out.csv`` (if run), one ``answer_<label>.csv`` per decided map (the best
    configuration under the learned prices, re-importable) and ``calibrated.toml`` (if ``scenario`` text is
    given)."""
    doc = calibration.to_dict()
    if pull_scores:
        doc["pull_chosen_by_leave_one_out"] = {f"{p:g}": s for p, s in pull_scores.items()}
    rows = []
    for c in cases:
        a = calibration.agreement[c.label]
        rows.append({"decided_map": c.label, "regret": calibration.regrets[c.label], "f1": a["f1"],
                     "f1_persons": a["f1_persons"], "precision": a["precision"], "recall": a["recall"]})
    files = {"prices.csv": _csv(calibration.table(), ["term", "unit", "default", "learned", "least", "most",
                                                      "status"]),
             "decided_maps.csv": _csv(rows, ["decided_map", "regret", "f1", "f1_persons", "precision", "recall"])}
    if held_out:
        loo = [{"held_out": h.label, "pull": h.pull, "f1_learned": h.learned["f1"],
                "f1_persons_learned": h.learned["f1_persons"], "f1_default": h.default["f1"],
                "f1_persons_default": h.default["f1_persons"]} for h in held_out]
        files["leave_one_out.csv"] = _csv(loo, ["held_out", "pull", "f1_learned", "f1_persons_learned", "f1_default",
                                                "f1_persons_default"])
        doc["leave_one_out"] = loo + [{"held_out": h.label, "prices": h.weights} for h in held_out]
    for c in cases:
        answer = calibration.answers[c.label]
        codes = c.model.blocks.code.to_numpy()
        pairs = [{"unit_code": codes[i], "footprint": answer.names[f], "level": c.model.level}
                 for i, f in enumerate(answer.assignment)]
        files[f"answer_{_slug(c.label)}.csv"] = _csv(pairs, ["unit_code", "footprint", "level"])
    if scenario is not None:
        files["calibrated.toml"] = scenario
    files["calibration.json"] = json.dumps(_jsonable(doc), indent=1)
    return files


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_").lower() or "map"


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if np.isfinite(v) else ("inf" if v > 0 else "-inf")
    if isinstance(x, np.integer):
        return int(x)
    return x


def summary_lines(calibration: Calibration, held_out: Sequence[HeldOut] = ()) -> list[str]:
    """A plain-words summary: prices learned beside the defaults, regret and agreement per decided map."""
    c = calibration
    out = [f"calibrated on {len(c.agreement)} decided map(s) in {c.rounds} round(s), {c.seconds:.1f}s"
           f"{'' if c.converged else ' (stopped at the round limit)'}; pull toward the defaults {c.pull:g}",
           f"{'term':<30}{'default':>10}{'learned':>12}   range the data leave it"]
    for row in c.table():
        if row["status"] != "learned":
            continue
        rng = "" if row["least"] is None else f"{row['least']:.4g} to {row['most']:.4g}"
        out.append(f"{row['term']:<30}{row['default']:>10.4g}{row['learned']:>12.4g}   {rng}")
    held = [t for t, why in c.fixed.items() if c.defaults[t] > 0]
    if held:
        out.append(f"held at their defaults: {', '.join(f'{t} ({c.fixed[t]})' for t in held)}")
    for label, regret in c.regrets.items():
        a = c.agreement[label]
        out.append(f"{label}: regret {regret:.4f} (0 = the decided map is optimal); the answer's F1 with it "
                   f"{_f(a['f1'])} (person-weighted {_f(a['f1_persons'])})")
    for h in held_out:
        out.append(f"out of sample, {h.label} predicted from the others (pull {h.pull:g}): F1 {_f(h.learned['f1'])} "
                   f"(person-weighted {_f(h.learned['f1_persons'])}); default prices {_f(h.default['f1'])} "
                   f"({_f(h.default['f1_persons'])})")
    return out


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"

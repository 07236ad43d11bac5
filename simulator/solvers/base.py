"""The optimisation problem (model, measurement, constraints, start) and the interface every solver shares."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from simulator.configuration import Configuration
from simulator.constraints import Constraints, PopulationLimit, build_constraints
from simulator.metrics.evaluate import MetricParameters
from simulator.metrics.score import scorer


class _ValueEnum(str, enum.Enum):
    """An enum whose members are their values as text (``status == "optimal"`` holds; JSON and f-strings show
    the value)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class SolverStatus(_ValueEnum):
    """How a solver's run ended."""

    OPTIMAL = "optimal"
    """Proven optimal: the bound equals the objective (gap 0)."""
    FEASIBLE = "feasible"
    """An answer that keeps every hard rule, not proven optimal (a gap if there is a bound)."""
    INFEASIBLE = "infeasible"
    """No configuration keeps every hard rule; the explanation says which rules conflict."""
    NO_SOLUTION = "no solution"
    """No answer found, nor infeasibility proven (the time limit passed first)."""
    NOT_RUN = "not run"
    """``solve()`` has not been called."""


class BoundMethod(_ValueEnum):
    """How a solver's lower bound was proven (``NONE``: there is no bound)."""

    NONE = "none"
    EXACT = "exact"
    MILP_DUAL = "MILP dual bound"
    LP_RELAXATION = "LP relaxation"
    WALKED_PROOF = "walked proof"
    TERM_WISE = "term-wise"
    BAND = "term-wise with the band"
    REGIONAL = "regions combined"

    @property
    def description(self) -> str:
        """The method in a sentence."""
        return _BOUND_DESCRIPTIONS[self]


_BOUND_DESCRIPTIONS = {
    BoundMethod.NONE: "no bound",
    BoundMethod.EXACT: "the set-partitioning MILP over every candidate footprint, solved to optimality",
    BoundMethod.MILP_DUAL: "the dual bound of the set-partitioning MILP, stopped by the time limit",
    BoundMethod.REGIONAL: "each NHS region's best configuration (or a bound on it) for each number of footprints, "
                          "combined into the least total over the counts that add up to the scenario's",
    BoundMethod.LP_RELAXATION: "the set-partitioning LP relaxation over every candidate footprint, strengthened by "
                               "subset-row cuts",
    BoundMethod.WALKED_PROOF: "column generation priced exactly by walking every candidate footprint (Lagrangian "
                              "bound)",
    BoundMethod.TERM_WISE: "term-wise: each score term's least total over the free blocks, bounded on its own",
    BoundMethod.BAND: "term-wise, except the band, people moved, ICBs split and statutory bodies, bounded together "
                      "over today's ICBs (what the band forces: cuts, people moved, people outside it)",
}


def gap(objective: float | None, bound: float | None) -> float | None:
    """Relative gap between an answer and a lower bound: ``(objective - bound) / |objective|``, at least 0.

    Parameters
    ----------
    objective
        The answer's objective (None if there is no answer).
    bound
        A proven lower bound on the objective (None if there is none).

    Returns
    -------
    float or None
        0 when the bound reaches the objective; None without an answer or a bound.
    """
    if objective is None or bound is None:
        return None
    return max(0.0, (objective - bound) / max(abs(objective), 1e-9))


@dataclass(frozen=True)
class RestartRun:
    """One of several local searches from the same start (``auto`` keeps the best)."""

    seed: int
    objective: float | None
    seconds: float
    start: str | None = None  # "spanning-tree cuts" where the run did not start from the problem's start


@dataclass
class SolverResult:
    """What every solver's ``solve()`` returns.

    Attributes
    ----------
    solver
        Name of the solver that produced the answer (``exact``, ``local_search``).
    status
        How the run ended.
    configuration
        Best configuration found (None without one: infeasible, or no solution in time).
    objective
        Its objective (score plus soft-limit penalties).
    bound
        Proven lower bound on the objective of every configuration the rules allow (None without one).
    gap
        :func:`gap` of ``objective`` and ``bound``: 0 when proven optimal, None without a bound.
    bound_method
        How ``bound`` was proven (``BoundMethod.NONE`` without one).
    problem
        The problem solved.
    terms
        The answer's objective term by term: each score term's weighted value, and ``soft_limits`` (the
        penalties); they add up to ``objective``. Empty without an answer. Worked out when first read.
    timings
        Seconds by stage (``total``, and the stages the solver ran: ``enumeration``, ``local_search``,
        ``polish``, ``proof``, ...).
    seed
        The run's seed (restarts draw theirs from it).
    restarts
        Each local search when several ran (empty for one run).
    best_seed
        The seed of the restart kept (None for one run).
    explanation
        Why there is no answer, in plain words (infeasible or no solution).
    stats
        The solver's other details (candidates, iterations, proof, ...), as in ``solution.json``'s ``stats``.
    """

    solver: str
    status: SolverStatus
    configuration: Configuration | None
    objective: float | None
    bound: float | None
    gap: float | None
    bound_method: BoundMethod
    problem: Problem | None = field(default=None, repr=False, compare=False)
    timings: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    restarts: list[RestartRun] = field(default_factory=list)
    best_seed: int | None = None
    explanation: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def terms(self) -> dict[str, float]:
        """The objective term by term (see the class docstring); on first use, as the polish solves many small
        problems whose terms nobody reads."""
        if self.configuration is None or self.problem is None:
            return {}
        return self.problem.breakdown(self.configuration.assignment)

    @property
    def proven_optimal(self) -> bool:
        """Whether the answer is proven optimal."""
        return self.status is SolverStatus.OPTIMAL


# Keys of ``Solver.stats_`` that the result holds as typed fields.
_TYPED_STATS = ("restarts", "best_seed")


@dataclass
class Problem:
    """What to optimise.

    Attributes
    ----------
    model
        The model (its level is the level of the answer).
    params
        Population measure, band and score weights.
    constraints
        Hard and soft constraints, resolved to blocks.
    start
        Starting configuration (for ``max_moved``, warm starts and "what changed").
    """

    model: Any
    params: MetricParameters
    constraints: Constraints
    start: Configuration
    name: str = "scenario"

    @classmethod
    def from_scenario(cls, scenario, model, start: Configuration | None = None) -> "Problem":
        """Build from a parsed ``simulator.scenario.Scenario``."""
        constraints = build_constraints(model, scenario.constraints, str(scenario.path or scenario.name),
                                        authority_set=scenario.params.authority_set)
        if constraints.ceiling is None:
            # The band's ceiling is a hard rule unless the scenario says otherwise: footprints above it only as
            # today's ICBs standing alone (reported out of band). Every solver then searches the same space.
            constraints.ceiling = PopulationLimit(float(scenario.params.band[1]), hard=True)
            constraints.ceiling_from_band = True
        return cls(model, scenario.params, constraints, start or Configuration.baseline(model), scenario.name)

    @property
    def population(self) -> np.ndarray:
        """Block populations under the problem's measure."""
        return self.model.population(self.params.population_measure)

    @property
    def free_blocks(self) -> np.ndarray:
        """Which blocks the solvers may place (True), as against blocks locked into today's ICBs' footprints."""
        free = np.ones(self.model.n_blocks, dtype=bool)
        for idx, _ in self.constraints.locked:
            free[np.asarray(idx, dtype=np.int64)] = False
        return free

    def objective(self, assignment: np.ndarray) -> float:
        """Weighted score plus soft-constraint penalties of an assignment (lower is better)."""
        k = int(assignment.max()) + 1
        sc = scorer(self.model, self.params)
        terms = sc.terms(assignment, k)
        pop = np.bincount(assignment, weights=self.population, minlength=k)
        return float(sum(self.params.weights.get(t, 0.0) * v for t, v in terms.items())
                     + self.constraints.penalty(pop).sum())

    def breakdown(self, assignment: np.ndarray) -> dict[str, float]:
        """The objective of an assignment term by term: each score term's weighted value and ``soft_limits``
        (the soft-limit penalties); they add up to :meth:`objective`."""
        k = int(assignment.max()) + 1
        terms = scorer(self.model, self.params).terms(assignment, k)
        pop = np.bincount(assignment, weights=self.population, minlength=k)
        out = {t: float(self.params.weights.get(t, 0.0) * v) for t, v in terms.items()}
        out["soft_limits"] = float(self.constraints.penalty(pop).sum())
        return out

    def violations(self, config: Configuration) -> list[str]:
        """Hard constraints that ``config`` breaks."""
        return self.constraints.violations(self.model, config.assignment, self.population,
                                           self.start.assignment, config.names)


class Solver:
    """Base class: configure in ``__init__``, call ``solve()`` for a :class:`SolverResult`.

    Subclasses implement ``_solve``, which sets the attributes below; ``solve()`` times it, computes the gap and
    builds the result. The attributes stay readable after ``solve()`` (callers that refine an answer, such as
    :class:`simulator.solvers.run.AutoSolver`, update them and call :meth:`finish` again).

    Attributes (after ``solve``)
    ----------------------------
    configuration_
        Best configuration found (None if infeasible).
    objective_
        Its objective (score plus soft penalties).
    bound_
        Proven lower bound on the objective (None if the solver proves none).
    bound_method_
        How ``bound_`` was proven (:class:`BoundMethod`).
    gap_
        :func:`gap` of ``objective_`` and ``bound_``: 0 when proven optimal; None without a bound.
    status_
        A :class:`SolverStatus` (equal to its text: ``optimal``, ``feasible``, ``infeasible``, ...).
    explanation_
        For an infeasible problem, which constraints bind, in plain words.
    runtime_
        Wall-clock seconds.
    timings_
        Seconds by stage (the total is ``runtime_``).
    stats_
        Solver-specific counts (candidate footprints, iterations, ...), as written to ``solution.json``.
    result_
        The :class:`SolverResult` that ``solve()`` returned.
    """

    name = "solver"

    def __init__(self, problem: Problem, seed: int = 0, time_limit: float | None = None,
                 progress: Callable[[str, float], None] | None = None):
        self.problem = problem
        self.seed = int(seed)
        self.time_limit = time_limit
        self.progress = progress or (lambda msg, frac: None)
        self.configuration_: Configuration | None = None
        self.objective_: float | None = None
        self.bound_: float | None = None
        self.bound_method_ = BoundMethod.NONE
        self.gap_: float | None = None
        self.status_ = SolverStatus.NOT_RUN
        self.explanation_: list[str] = []
        self.runtime_ = 0.0
        self.timings_: dict[str, float] = {}
        self.stats_: dict[str, Any] = {}
        self.result_: SolverResult | None = None

    def solve(self) -> SolverResult:
        """Run the solver.

        Returns
        -------
        SolverResult
            The answer, its bound and status (also in ``result_`` and the attributes).
        """
        t = time.perf_counter()
        try:
            self._solve()
        finally:
            self.runtime_ = time.perf_counter() - t
        return self.finish()

    def _solve(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def set_bound(self, bound: float | None, method: BoundMethod) -> None:
        """Record a proven bound and how it was proven (``None``: no bound); the gap follows."""
        self.bound_ = bound
        self.bound_method_ = method if bound is not None else BoundMethod.NONE
        self.gap_ = gap(self.objective_, self.bound_)

    def add_time(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` towards a stage in ``timings_``."""
        self.timings_[stage] = self.timings_.get(stage, 0.0) + seconds

    def finish(self) -> SolverResult:
        """Bring the gap up to date and build ``result_`` from the attributes (call again after changing them)."""
        self.status_ = SolverStatus(self.status_)
        if self.status_ is SolverStatus.OPTIMAL and self.objective_ is not None:
            # Proven optimal within the solver's tolerance: the bound is the objective.
            self.bound_ = self.objective_
        if self.bound_ is None:
            self.bound_method_ = BoundMethod.NONE
        self.gap_ = gap(self.objective_, self.bound_)
        restarts = [RestartRun(int(r["seed"]), r["objective"], float(r["seconds"]), r.get("start"))
                    for r in self.stats_.get("restarts", [])]
        self.result_ = SolverResult(
            solver=self.name, status=self.status_, configuration=self.configuration_, objective=self.objective_,
            bound=self.bound_, gap=self.gap_, bound_method=self.bound_method_, problem=self.problem,
            timings={**self.timings_, "total": self.runtime_},
            seed=self.seed, restarts=restarts, best_seed=self.stats_.get("best_seed"),
            explanation=list(self.explanation_),
            stats={k: v for k, v in self.stats_.items() if k not in _TYPED_STATS})
        return self.result_

    def solution_dict(self) -> dict[str, Any]:
        """What ``solution.json`` records."""
        return {"solver": self.name, "status": self.status_.value, "objective": self.objective_,
                "bound": self.bound_, "gap": self.gap_, "bound_method": self.bound_method_.value,
                "runtime_s": round(self.runtime_, 3), "seed": self.seed,
                "time_limit_s": self.time_limit, "level": self.problem.model.level,
                "footprints": self.configuration_.n_footprints if self.configuration_ else None,
                "explanation": self.explanation_, "stats": self.stats_}

"""The optimisation problem (model, measurement, constraints, start) and the interface every solver shares."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from simulator.configuration import Configuration
from simulator.constraints import Constraints, PopulationLimit, build_constraints
from simulator.metrics.evaluate import MetricParameters
from simulator.metrics.score import scorer


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

    def violations(self, config: Configuration) -> list[str]:
        """Hard constraints that ``config`` breaks."""
        return self.constraints.violations(self.model, config.assignment, self.population,
                                           self.start.assignment, config.names)


class Solver:
    """Base class: configure in ``__init__``, call ``solve()``, read the results from attributes.

    Attributes (after ``solve``)
    ----------------------------
    configuration_
        Best configuration found (None if infeasible).
    objective_
        Its objective (score plus soft penalties).
    bound_
        Proven lower bound on the objective (None if the solver proves none).
    gap_
        ``(objective - bound) / |objective|``: 0 when proven optimal; None without a bound.
    status_
        ``optimal``, ``feasible`` (stopped with a gap), or ``infeasible``.
    explanation_
        For an infeasible problem, which constraints bind, in plain words.
    runtime_
        Wall-clock seconds.
    stats_
        Solver-specific counts (candidate footprints, iterations, ...).
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
        self.gap_: float | None = None
        self.status_ = "not run"
        self.explanation_: list[str] = []
        self.runtime_ = 0.0
        self.stats_: dict[str, Any] = {}

    def solve(self) -> "Solver":
        """Run the solver; results land in the attributes."""
        t = time.perf_counter()
        try:
            self._solve()
        finally:
            self.runtime_ = time.perf_counter() - t
        if self.objective_ is not None and self.bound_ is not None:
            self.gap_ = max(0.0, (self.objective_ - self.bound_) / max(abs(self.objective_), 1e-9))
        return self

    def _solve(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def solution_dict(self) -> dict[str, Any]:
        """What ``solution.json`` records."""
        return {"solver": self.name, "status": self.status_, "objective": self.objective_, "bound": self.bound_,
                "gap": self.gap_, "runtime_s": round(self.runtime_, 3), "seed": self.seed,
                "time_limit_s": self.time_limit, "level": self.problem.model.level,
                "footprints": self.configuration_.n_footprints if self.configuration_ else None,
                "explanation": self.explanation_, "stats": self.stats_}

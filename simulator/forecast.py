"""The next step, region by region: which of today's ICBs an answer merges, and how firmly it holds in each region."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.configuration import Configuration
from simulator.errors import ScenarioError, TooManyCandidates
from simulator.solvers.base import Problem, SolverStatus
from simulator.solvers.regional import RegionalSolver, regional_reason, today_assignment, today_outside
from simulator.solvers.run import start_configuration
from simulator.solvers.tradeoffs import runner_up_margins


@dataclass
class RegionForecast:
    """One NHS region of an answer.

    Attributes
    ----------
    footprints
        Per footprint of the answer in the region: the today's ICBs it holds (``(part)`` where it holds some of one).
    margin
        How much more the best configuration that differs in this region scores (same rules, England's number of
        footprints kept): the larger, the firmer the answer. None where it could not be computed (``note`` says
        why) or where no other configuration keeps the rules.
    margin_kind
        ``same count`` where that runner-up keeps the region's number of footprints, ``another count`` where it
        changes it (other regions changing theirs to keep England's total).
    margin_exact
        False where ``margin`` is a proven lower bound (the runner-up scores at least that much more).
    improves
        Where an exact solve of the region scores lower than the answer there, by how much (the answer was not
        the region's best); else 0.
    """

    region: str
    region_name: str
    icbs_today: int
    footprints: list[list[str]]
    margin: float | None
    improves: float
    note: str = ""
    margin_kind: str = "same count"
    margin_exact: bool = True
    runner_up_footprints: int | None = None

    @property
    def merges(self) -> list[list[str]]:
        """Footprints holding more than one of today's ICBs, or part of one."""
        return [f for f in self.footprints if len(f) > 1 or any(x.endswith("(part)") for x in f)]

    def for_people(self) -> dict[str, str]:
        """The region in words and figures a planner reads at a glance (the app's table)."""
        if self.margin is None:
            margin = "none" + (f" ({self.note})" if self.note else "")
        else:
            margin = ("" if self.margin_exact else "at least ") + f"{self.margin:.3f}"
        runner = ("" if self.margin is None else "the same number of footprints" if self.margin_kind == "same count"
                  else f"{self.runner_up_footprints} footprints here, another region changing to keep the total")
        return {"NHS region": self.region_name, "today's ICBs -> footprints": f"{self.icbs_today} -> "
                f"{len(self.footprints)}", "what it merges": "; ".join(" + ".join(f) for f in self.merges) or
                "no change", "margin over the runner-up": margin, "the runner-up has": runner}

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "region_name": self.region_name, "icbs_today": self.icbs_today,
                "footprints": len(self.footprints), "merges": [" + ".join(f) for f in self.merges],
                "margin": self.margin, "margin_exact": self.margin_exact, "margin_kind": self.margin_kind,
                "runner_up_footprints": self.runner_up_footprints, "improves": self.improves, "note": self.note}


def _holdings(model, config: Configuration, f: int) -> list[str]:
    today = model.blocks.icb_name.to_numpy()
    idx = np.flatnonzero(config.assignment == f)
    out = []
    for name in sorted(set(today[idx])):
        whole = (today == name).sum() == (today[idx] == name).sum()
        out.append(name if whole else f"{name} (part)")
    return out


def forecast(scenario, model, answer: Configuration, limit: int = 200_000, time_limit: float = 60.0,
             solver: RegionalSolver | None = None) -> list[RegionForecast]:
    """Per NHS region with free blocks: today's ICBs the answer merges, and the margin by which it beats the
    runner-up there.

    Where footprints stay within NHS regions (``within_region``), the regions are solved exactly for each number
    of footprints (:class:`simulator.solvers.regional.RegionalSolver`; pass ``solver`` if it has run already) and
    the runner-up is the best configuration of England, under the scenario's rules and count, that differs in the
    region: with the region's count (a no-good cut), or another (the other regions' counts changing to keep the
    total). Otherwise each region is solved alone with the answer's number of footprints in it
    (:func:`simulator.solvers.tradeoffs.runner_up_margins`); a region whose candidates pass ``limit``, or whose
    solves pass ``time_limit`` seconds each, then gets no margin (``note`` says why)."""
    problem = Problem.from_scenario(scenario, model, start=start_configuration(scenario, model))
    if regional_reason(problem) is None:
        return _forecast_by_regions(scenario, model, problem, answer, time_limit, solver)
    region = model.blocks.region_ods.to_numpy()
    names = dict(zip(model.blocks.region_ods, model.blocks.region_name))
    free = problem.free_blocks
    out = []
    for r in sorted(set(region[free])):
        inside = region == r
        fps = sorted(set(answer.assignment[inside]))
        holdings = [_holdings(model, answer, f) for f in fps]
        icbs_today = len(set(model.blocks.icb_code.to_numpy()[inside]))
        sc = copy.copy(scenario)
        sc.constraints = {**scenario.constraints, "only_regions": [r], "n_footprints": len(fps)}
        margin, improves, note = None, 0.0, ""
        try:
            regional = Problem.from_scenario(sc, model, start=start_configuration(sc, model))
            objective, best, margins = runner_up_margins(regional, limit=limit, time_limit=time_limit)
            mine = regional.objective(_with_region(model, answer, best, inside).assignment)
            improves = max(0.0, mine - objective)
            if improves > 1e-9:
                note = "the region solved alone does better than the answer there"
            m = next((x for x in margins if x.region == r), None)
            margin = None if m is None else m.margin
            if m is not None and m.margin is None:
                note = note or "no other configuration of the region keeps the rules, or none was proven best in time"
        except (TooManyCandidates, ScenarioError) as exc:
            note = f"no margin: {exc}"
        out.append(RegionForecast(r, names[r], icbs_today, holdings, margin, improves, note))
    return out


def _forecast_by_regions(scenario, model, problem: Problem, answer: Configuration, time_limit: float,
                         solver: RegionalSolver | None) -> list[RegionForecast]:
    """:func:`forecast` where regions decouple: margins from the regional solver's table."""
    if solver is None or solver.status_ is SolverStatus.NOT_RUN:
        solver = RegionalSolver(scenario, model, problem=problem)
        solver.solve()
    region = model.blocks.region_ods.to_numpy()
    icb = model.blocks.icb_code.to_numpy()
    today = problem.objective(today_assignment(model))
    margins = {m.region: m for m in solver.margins(time_limit)} if solver.configuration_ is not None else {}
    out = []
    for r in solver.regions():
        inside = region == r
        fps = sorted(set(answer.assignment[inside]))
        holdings = [_holdings(model, answer, f) for f in fps]
        # The answer's change from today in this region, against the region's best at the answer's count there.
        mine = problem.objective(today_outside(model, answer.assignment, inside)) - today
        entry = solver.table_.get((r, len(fps) if solver.total() is not None else None))
        best = None if entry is None or entry.objective is None else entry.objective - solver.today_
        improves = 0.0 if best is None or mine - best <= 1e-7 * max(1.0, abs(best)) else mine - best
        m = margins.get(r)
        note = "the region's best configuration scores lower than the answer there" if improves > 1e-7 else ""
        if m is None or improves > 1e-7:
            margin, kind, exact, runner = None, "", False, None
            note = note or "the region was not solved to a proven best"
        else:
            margin, kind, exact, runner = m.margin, m.kind, m.exact, m.runner_up_count
            note = note or m.note
        out.append(RegionForecast(r, solver._name(r), len(set(icb[inside])), holdings, margin, improves, note,
                                  kind, exact, runner))
    return out


def _with_region(model, answer: Configuration, other: Configuration, inside: np.ndarray) -> Configuration:
    """``other`` with the region ``inside`` drawn as in ``answer`` (to price the answer's region on the same map)."""
    labels = np.where(inside, answer.assignment, answer.assignment.max() + 1 + other.assignment)
    _, assignment = np.unique(labels, return_inverse=True)
    return Configuration(model, assignment, [f"f{i}" for i in range(assignment.max() + 1)], allow_noncontiguous=True)

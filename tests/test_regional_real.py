"""The regional solver on the real data: the forecast of the next step (place level, 26 footprints within NHS
regions) proven optimal, its first bounds valid against every proven regional optimum, and a margin in every
region. The figures pinned are those reached (a guard against regressions, not a target); docs/backtest.md
reports them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.forecast import forecast
from simulator.scenario import load_scenario
from simulator.solvers.base import SolverStatus
from simulator.solvers.regional import OPTIMAL, RegionalSolver
from simulator.solvers.run import optimise

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("regional_real")]

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
# Footprints per region in the proven optimum, and each region's margin over its runner-up (as reached).
COUNTS = {"London": 4, "South West": 3, "South East": 4, "Midlands": 5, "East of England": 3, "North West": 3,
          "North East and Yorkshire": 4}
MARGINS = {"Y56": 0.8136, "Y58": 0.0069, "Y59": 0.1302, "Y60": 0.0270, "Y61": 0.2442, "Y62": 0.3040, "Y63": 0.0578}


@pytest.fixture(scope="module")
def next_step(place_model_2026):
    sc = load_scenario(SCENARIOS / "next_step.toml")
    return sc, optimise(sc, place_model_2026)


def test_next_step_is_englands_proven_optimum(next_step, place_model_2026):
    sc, s = next_step
    assert s.name == "regional" and s.status_ is SolverStatus.OPTIMAL and s.gap_ == 0
    # What the knapsack adds up region by region is the configuration's own objective, and it keeps every rule.
    assert s.problem.objective(s.configuration_.assignment) == pytest.approx(s.objective_, abs=1e-9)
    assert s.problem.violations(s.configuration_) == [] and s.configuration_.n_footprints == 26
    assert s.stats_["footprints_by_region"] == COUNTS
    assert s.objective_ == pytest.approx(31.77368, abs=1e-5)


def test_first_bounds_hold_against_every_proven_regional_optimum(next_step, place_model_2026):
    """The term-wise and band bound each (region, count) starts from is never above what the exact solver proves."""
    sc, s = next_step
    fresh = RegionalSolver(sc, place_model_2026)
    fresh._build_table()
    proven = [(key, e) for key, e in s.table_.items() if e.state == OPTIMAL]
    assert len(proven) >= 7
    for key, e in proven:
        assert fresh.table_[key].bound <= e.objective + 1e-9, key
    # The band part is what makes the bound bite: London cannot be three footprints of at most 2.5m for nothing.
    assert fresh.table_[("Y56", 3)].bound - fresh.today_ > 0 > fresh.table_[("Y56", 4)].bound - fresh.today_


def test_every_region_has_a_margin(next_step, place_model_2026):
    sc, s = next_step
    regions = {r.region: r for r in forecast(sc, place_model_2026, s.configuration_, solver=s)}
    assert set(regions) == set(MARGINS)
    for code, want in MARGINS.items():
        r = regions[code]
        assert r.margin_exact and r.improves == 0.0, r
        assert r.margin == pytest.approx(want, abs=1e-3), code
    assert regions["Y56"].margin_kind == "another count" and regions["Y56"].runner_up_footprints == 5
    assert np.all([len(r.footprints) == COUNTS[r.region_name] for r in regions.values()])


def test_where_a_region_cannot_be_solved_the_others_still_give_their_best_and_the_bound(place_model_2026):
    """London and the East of England freed at place level, no group kept whole: the East has too many candidates
    for the exact solver, so the local search answers; London is then its proven best, and the bound combines
    London's optimum with the East's term-wise and band bound, above the term-wise bound of the whole."""
    from simulator.scenario import parse_scenario
    from simulator.solvers.base import BoundMethod
    from simulator.solvers.regional import today_assignment
    from simulator.solvers.term_bound import term_bound

    text = ('level = "place"\nbaseline = "2026"\nband = [1_500_000, 2_500_000]\n[constraints]\ncontiguity = true\n'
            'within_region = true\nonly_regions = ["Y56", "Y61"]\n')
    sc = parse_scenario(text, "London and the East")
    s = optimise(sc, place_model_2026, iterations=5000, restarts=1)
    assert s.name == "local_search" and "East of England" in s.stats_["regional_not_used"]
    assert s.bound_method_ is BoundMethod.REGIONAL and s.bound_ > term_bound(s.problem).bound + 0.1
    assert s.problem.objective(s.configuration_.assignment) == pytest.approx(s.objective_, abs=1e-9)
    regional = RegionalSolver(sc, place_model_2026)
    regional._build_table()
    london = regional.table_[("Y56", None)]
    regional.solve_entry(london)
    inside = place_model_2026.blocks.region_ods.to_numpy() == "Y56"
    a = s.configuration_.assignment
    on_today = np.unique(np.where(inside, a, a.max() + 1 + today_assignment(place_model_2026)), return_inverse=True)[1]
    assert london.state == OPTIMAL and s.problem.objective(on_today) == pytest.approx(london.objective, abs=1e-6)

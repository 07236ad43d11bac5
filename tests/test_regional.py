"""The regional solver on the synthetic model: England's optimum, a valid bound and margins, checked against the
exact solver and the k best configurations of the whole problem."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.configuration import Configuration
from simulator.errors import ScenarioError
from simulator.scenario import parse_scenario
from simulator.solvers.base import Problem, SolverStatus
from simulator.solvers.exact import ExactSolver
from simulator.solvers.regional import BOUNDED, RegionalSolver, regional_reason
from simulator.solvers.run import optimise
from simulator.solvers.tradeoffs import top_k
from tests.synthetic import synthetic_model

TEXT = ('level = "sicbl"\nbaseline = "2026"\nband = [500000, 3000000]\n[constraints]\ncontiguity = true\n'
        'within_region = true\n{count}')


def _scenario(count: str = ""):
    return parse_scenario(TEXT.format(count=count), "syn")


def _within(model, cfg, r):
    """The configuration's footprints cut to region ``r``'s blocks."""
    region = model.blocks.region_ods.to_numpy()
    idx = [i for i in range(model.n_blocks) if region[i] == r]
    return frozenset(frozenset(i for i in idx if cfg.assignment[i] == f) for f in {cfg.assignment[i] for i in idx})


@pytest.mark.parametrize("count", ["n_footprints = 2", "n_footprints = 3", "n_footprints = [2, 4]", ""])
def test_regional_optimum_is_the_exact_solvers(count):
    m = synthetic_model()
    sc = _scenario(count)
    exact = ExactSolver(Problem.from_scenario(sc, m))
    exact.solve()
    s = RegionalSolver(sc, m)
    s.solve()
    assert s.status_ is SolverStatus.OPTIMAL
    assert s.objective_ == pytest.approx(exact.objective_)
    # The objective the knapsack adds up is the configuration's own.
    assert s.problem.objective(s.configuration_.assignment) == pytest.approx(s.objective_)
    assert s.problem.violations(s.configuration_) == []


def test_the_first_bound_holds_before_any_region_is_solved():
    m = synthetic_model()
    sc = _scenario("n_footprints = 3")
    exact = ExactSolver(Problem.from_scenario(sc, m))
    exact.solve()
    s = RegionalSolver(sc, m)
    s._build_table()
    assert all(e.state == BOUNDED for e in s.table_.values())
    _, change = s.combine("bound")
    assert s.today_ + change <= exact.objective_ + 1e-9
    # The band alone prices a count that crowds the region: R1 (2.2m) in one footprint of at most 3m costs nothing,
    # R2 (1.2m) in three footprints of at least 0.5m leaves 0.3m short.
    assert s._band_floor(1_200_000, 3) == pytest.approx(300_000 / 100_000
                                                        * s.problem.params.weights["population_band"])
    assert s._band_floor(2_200_000, 1) == 0.0


def test_margins_are_the_gap_to_the_best_configuration_of_england_differing_in_the_region():
    m = synthetic_model()
    sc = _scenario("n_footprints = 3")
    s = RegionalSolver(sc, m)
    s.solve()
    ranked = top_k(Problem.from_scenario(sc, m), 20)
    best_obj, best = ranked[0]
    assert s.objective_ == pytest.approx(best_obj)
    near = {x.region: x for x in s.margins(reach=0.1)}
    far = {x.region: x for x in s.margins(reach=100.0)}
    for r in ("R1", "R2"):
        differing = [obj for obj, cfg in ranked[1:] if _within(m, cfg, r) != _within(m, best, r)]
        if not differing:
            assert far[r].margin is None and near[r].margin is None
            continue
        true = min(differing) - best_obj
        assert far[r].exact and far[r].margin == pytest.approx(true)
        # Searched only 0.1 beyond the best: exact if the runner-up is that close, else a lower bound on it.
        assert near[r].margin == pytest.approx(true) if near[r].exact else near[r].margin <= true + 1e-9


def test_a_scenario_letting_footprints_cross_regions_is_refused_with_the_reason():
    m = synthetic_model()
    sc = parse_scenario('level = "sicbl"\nbaseline = "2026"\nband = [500000, 3000000]\n', "syn")
    assert "within_region" in regional_reason(Problem.from_scenario(sc, m))
    with pytest.raises(ScenarioError, match="within NHS regions"):
        RegionalSolver(sc, m)


def test_counts_no_region_choice_can_add_up_to_are_infeasible_with_reasons():
    m = synthetic_model()
    # Six blocks of at least 0.3m: R1 can have 1-4 footprints and R2 1-2, so 7 cannot be reached.
    sc = parse_scenario(TEXT.format(count="n_footprints = 7").replace("band = [500000, 3000000]",
                                                                      "band = [100000, 3000000]"), "syn")
    s = RegionalSolver(sc, m)
    s.solve()
    assert s.status_ is SolverStatus.INFEASIBLE and s.configuration_ is None
    assert "adds up to 7" in s.explanation_[0]


def test_auto_uses_the_regional_solver_only_at_place_level_and_the_choice_is_offered():
    m = synthetic_model()
    s = optimise(_scenario("n_footprints = 3"), m, solver="regional")
    assert s.name == "regional" and s.status_ is SolverStatus.OPTIMAL
    assert optimise(_scenario("n_footprints = 3"), m).name == "exact"  # sub-ICB level: the exact solver as before
    assert np.isfinite(s.bound_)


def test_a_time_limit_too_short_to_solve_a_region_gives_no_answer_and_says_so():
    m = synthetic_model()
    s = RegionalSolver(_scenario("n_footprints = 3"), m, time_limit=0.5)
    s.solve()
    assert s.status_ is SolverStatus.NO_SOLUTION and s.configuration_ is None
    assert any("time limit" in line for line in s.explanation_)


def test_the_command_line_refuses_the_regional_solver_where_footprints_may_cross_regions(tmp_path, capsys,
                                                                                        monkeypatch):
    from simulator import cli

    monkeypatch.setattr(cli, "load_model", lambda *a, **k: synthetic_model())
    path = tmp_path / "s.toml"
    path.write_text('level = "sicbl"\nbaseline = "2026"\nband = [500000, 3000000]\n')
    out = tmp_path / "out"
    assert cli.main(["optimise", str(path), "--out", str(out), "--solver", "regional"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "within NHS regions" in err[0] and "within_region is off" in err[0]
    assert not out.exists()


def test_another_answer_is_improved_region_by_region_and_bounded_by_the_table():
    """Each region of a worse answer is swapped for the region's proven best at the same count; England's
    objective falls by what each region gains, down to the optimum."""
    m = synthetic_model()
    sc = _scenario("n_footprints = 3")
    s = RegionalSolver(sc, m)
    s.solve()
    # R1 cut the other way (S1+S2, S4+S5) against today's A (S1+S4) and B (S2+S5): still three footprints.
    worse = Configuration(m, np.array([0, 0, 2, 1, 1, 2]), ["f0", "f1", "f2"])
    assert s.problem.objective(worse.assignment) > s.objective_ + 1e-6
    fresh = RegionalSolver(sc, m)
    fresh._build_table()
    better, swapped = fresh.improve(worse)
    assert swapped and s.problem.violations(better) == []
    assert s.problem.objective(better.assignment) == pytest.approx(s.objective_)
    _, change = fresh.combine("bound")
    assert fresh.today_ + change <= s.objective_ + 1e-9
    same, none = fresh.improve(better)
    assert none == [] and same is better


@pytest.mark.parametrize("solver", ["auto", "regional"])
def test_optimise_with_margins_writes_regions_csv(tmp_path, capsys, monkeypatch, solver):
    import csv

    from simulator import cli

    monkeypatch.setattr(cli, "load_model", lambda *a, **k: synthetic_model())
    path = tmp_path / "s.toml"
    path.write_text(TEXT.format(count="n_footprints = 3"))
    out = tmp_path / "out"
    assert cli.main(["optimise", str(path), "--out", str(out), "--solver", solver, "--margins"]) == 0
    rows = {r["region"]: r for r in csv.DictReader((out / "regions.csv").open())}
    assert set(rows) == {"R1", "R2"}
    assert {"margin", "margin_exact", "margin_kind", "runner_up_footprints"} <= set(rows["R1"])
    assert float(rows["R1"]["margin"]) > 0 and rows["R1"]["margin_kind"] in ("same count", "another count")
    printed = capsys.readouterr().out
    assert "Region R1: 2 ICBs today -> 2" in printed and "margin over the runner-up" in printed

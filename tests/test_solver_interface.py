"""One solver interface: every solver's ``solve()`` returns a ``SolverResult`` whose status, bound and bound method
agree, on the synthetic model and, for ``AutoSolver`` at place level, on the real data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.errors import ScenarioError
from simulator.metrics.score import TERM_NAMES
from simulator.scenario import parse_scenario
from simulator.solvers import (BoundMethod, ExactSolver, LocalSearchSolver, Problem, Solver, SolverResult,
                               SolverStatus, gap)
from simulator.solvers import run as run_module
from simulator.solvers.run import AutoSolver, optimise
from tests.legacy import legacy
from tests.synthetic import synthetic_model

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
FEASIBLE = 'level = "sicbl"\n[constraints]\n'
# Six footprints leave every block alone, so S1 and S2 cannot merge (tests/test_unit_synthetic.py).
INFEASIBLE = 'level = "sicbl"\n[constraints]\nn_footprints = 6\nmust_merge = [["S1", "S2"]]\n'


@pytest.fixture(scope="module")
def model():
    return synthetic_model()


def _scenario(text: str):
    return parse_scenario(text, "t")


def check(solver: Solver, result: SolverResult) -> None:
    """The promises every solver's result keeps, and the attributes that mirror it."""
    assert isinstance(result, SolverResult) and result is solver.result_
    assert isinstance(result.status, SolverStatus) and isinstance(result.bound_method, BoundMethod)
    if result.status is SolverStatus.OPTIMAL:
        assert result.gap == 0.0 and result.bound == result.objective
    if result.bound is None:
        assert result.bound_method is BoundMethod.NONE and result.gap is None
    else:
        assert result.bound_method is not BoundMethod.NONE and result.bound <= result.objective + 1e-9
        assert result.gap == gap(result.objective, result.bound)
    if result.configuration is None:
        assert result.status in (SolverStatus.INFEASIBLE, SolverStatus.NO_SOLUTION)
        assert result.objective is None and result.explanation and result.terms == {}
    else:
        assert result.status in (SolverStatus.OPTIMAL, SolverStatus.FEASIBLE) and not result.explanation
        assert set(result.terms) == {*TERM_NAMES, "soft_limits"}
        assert sum(result.terms.values()) == pytest.approx(result.objective, abs=1e-9)
        assert solver.problem.violations(result.configuration) == []
    assert result.timings["total"] == solver.runtime_ >= 0.0
    assert "bound_method" not in result.stats and "restarts" not in result.stats
    # The attributes and solution.json say the same.
    assert (solver.configuration_, solver.objective_, solver.bound_, solver.gap_) == (
        result.configuration, result.objective, result.bound, result.gap)
    assert solver.status_ is result.status and solver.bound_method_ is result.bound_method
    written = json.loads(json.dumps(solver.solution_dict(), default=str))
    assert written["status"] == result.status.value and written["bound_method"] == result.bound_method.value
    assert written["solver"] == result.solver and written["gap"] == result.gap and written["seed"] == result.seed


# ------------------------------------------------------------------------------------------ the types
def test_gap_is_relative_and_never_negative():
    assert gap(2.0, 1.5) == pytest.approx(0.25)
    assert gap(2.0, 2.0) == 0.0 and gap(2.0, 2.5) == 0.0
    assert gap(None, 1.0) is None and gap(1.0, None) is None
    assert gap(-2.0, -3.0) == pytest.approx(0.5)  # relative to |objective|


def test_enums_compare_and_print_as_their_values():
    assert SolverStatus.OPTIMAL == "optimal" and f"{SolverStatus.NO_SOLUTION}" == "no solution"
    assert json.dumps({"m": BoundMethod.TERM_WISE}) == '{"m": "term-wise"}'
    assert SolverStatus("feasible") is SolverStatus.FEASIBLE
    assert all(m.description for m in BoundMethod)


# ------------------------------------------------------------------------------------------ synthetic model
def test_every_solver_returns_a_consistent_result(model):
    problem = Problem.from_scenario(_scenario(FEASIBLE), model)
    solvers = [ExactSolver(problem), ExactSolver(problem, direct_limit=0), LocalSearchSolver(problem, iterations=500),
               LocalSearchSolver(problem, iterations=500, bound=True), AutoSolver(_scenario(FEASIBLE), model),
               AutoSolver(_scenario(FEASIBLE), model, solver="local_search", iterations=500, restarts=2)]
    results = [s.solve() for s in solvers]
    for s, r in zip(solvers, results):
        check(s, r)
    exact, cuts, ls, ls_bound, auto, auto_ls = results
    assert exact.status is SolverStatus.OPTIMAL and exact.bound_method is BoundMethod.EXACT
    assert cuts.objective == pytest.approx(exact.objective, abs=1e-12) and cuts.status is SolverStatus.OPTIMAL
    assert ls.status is SolverStatus.FEASIBLE and ls.bound_method is BoundMethod.NONE
    assert ls_bound.bound_method is BoundMethod.LP_RELAXATION and ls_bound.bound <= exact.objective + 1e-9
    assert ls.timings["local_search"] > 0 and exact.timings["milp"] > 0
    # The automatic choice at sub-ICB level is the exact solver, which its result names.
    assert auto.solver == "exact" and auto.objective == exact.objective and auto.bound_method is BoundMethod.EXACT
    assert solvers[4].solver_.name == "exact" and solvers[4].solution_dict()["solver"] == "exact"
    # Restarts are typed: every run, and the seed of the one kept.
    assert auto_ls.solver == "local_search" and len(auto_ls.restarts) == 2 and auto_ls.seed == 0
    assert auto_ls.restarts[0].seed == 0 and auto_ls.best_seed in [r.seed for r in auto_ls.restarts]
    assert auto_ls.objective == min(r.objective for r in auto_ls.restarts)


def test_infeasible_results_have_no_configuration_and_an_explanation(model):
    problem = Problem.from_scenario(_scenario(INFEASIBLE), model)
    solvers = (ExactSolver(problem), ExactSolver(problem, direct_limit=0), AutoSolver(_scenario(INFEASIBLE), model))
    for solver in solvers:
        result = solver.solve()
        check(solver, result)
        assert result.status is SolverStatus.INFEASIBLE and "number of footprints" in result.explanation[0]
    # The local search needs a start that keeps the rules: it refuses rather than report one that breaks them.
    with pytest.raises(ScenarioError, match="starting configuration"):
        LocalSearchSolver(problem, iterations=10).solve()


def test_optimise_is_auto_solvers_kept_solver(model):
    auto = AutoSolver(_scenario(FEASIBLE), model)
    result = auto.solve()
    s = optimise(_scenario(FEASIBLE), model)
    assert s.name == "exact" and s.result_.objective == result.objective
    assert s.result_.configuration.same_partition(result.configuration)
    assert auto.solution_dict().keys() == s.solution_dict().keys()


# ------------------------------------------------------------------------------------------ real data, place level
def _london(extra: str = ""):
    """London at place level, as a 2024 instance (tests/legacy.py), like tests/test_bound.py's."""
    text = (SCENARIOS / "region_london.toml").read_text().replace('level = "sicbl"', 'level = "place"')
    return parse_scenario(legacy(text + extra), "region_london_place")


@pytest.mark.integration
def test_auto_solver_at_place_level_proves_london_exactly(place_model):
    auto = AutoSolver(_london(), place_model, seed=0)
    result = auto.solve()
    check(auto, result)
    assert result.solver == "exact" and result.status is SolverStatus.OPTIMAL
    assert result.bound_method is BoundMethod.EXACT and result.timings["enumeration"] >= 0.0


@pytest.mark.integration
def test_auto_solver_walked_proof_is_typed(place_model, monkeypatch):
    """With the exact solver kept out, the local search's answer is proven by the walk: optimal, gap 0."""
    monkeypatch.setattr(run_module, "PLACE_EXACT_LIMIT", 1)
    auto = AutoSolver(_london(), place_model, seed=0, iterations=500)
    result = auto.solve()
    check(auto, result)
    assert result.solver == "local_search" and result.status is SolverStatus.OPTIMAL
    assert result.bound_method is BoundMethod.WALKED_PROOF and result.stats["proof"]["proven_optimal"]
    assert {"warm_start", "local_search", "polish", "term_bound", "proof"} <= set(result.timings)


@pytest.mark.integration
def test_auto_solver_term_wise_bound_is_typed_and_the_cli_says_so(place_model, monkeypatch, tmp_path, capsys):
    """Too many candidates to walk: the gap is against the term-wise bound, which the result names, and the CLI
    line says so as before."""
    monkeypatch.setattr(run_module, "PLACE_EXACT_LIMIT", 1)
    monkeypatch.setattr(run_module, "PLACE_PROOF_LIMIT", 1_000)
    auto = AutoSolver(_london(), place_model, seed=0, iterations=500, restarts=1)
    result = auto.solve()
    check(auto, result)
    assert result.status is SolverStatus.FEASIBLE and result.bound_method is BoundMethod.TERM_WISE
    assert 0.0 < result.gap < 1.0 and "proof_not_run" in result.stats
    monkeypatch.delenv("ICBSIM_DEBUG", raising=False)
    path = tmp_path / "london_place.toml"
    path.write_text(legacy((SCENARIOS / "region_london.toml").read_text().replace('level = "sicbl"',
                                                                                  'level = "place"')))
    rc = main(["optimise", str(path), "--out", str(tmp_path / "out"), "--iterations", "500", "--restarts", "1"])
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    last = next(line for line in stdout.splitlines() if line.startswith("solver "))
    assert last.startswith("solver local_search: feasible, objective ")
    assert "(against the term-wise bound: the proof was not run, see stats.proof_not_run)" in last
    sol = json.loads((tmp_path / "out" / "solution.json").read_text())
    assert sol["bound_method"] == "term-wise" and sol["status"] == "feasible" and "bound_method" not in sol["stats"]


@pytest.mark.integration
def test_the_cli_names_the_bound_with_the_band(monkeypatch, tmp_path, capsys):
    """At today's prices (people moved and ICBs split priced) the gap of an answer the proof cannot walk is against
    the term-wise bound with the band, which solution.json and the CLI line name."""
    monkeypatch.setattr(run_module, "PLACE_EXACT_LIMIT", 1)
    monkeypatch.setattr(run_module, "PLACE_PROOF_LIMIT", 1_000)
    monkeypatch.delenv("ICBSIM_DEBUG", raising=False)
    path = tmp_path / "london_place.toml"
    path.write_text((SCENARIOS / "region_london.toml").read_text().replace('level = "sicbl"', 'level = "place"'))
    rc = main(["optimise", str(path), "--out", str(tmp_path / "out"), "--iterations", "500", "--restarts", "1"])
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    lines = stdout.strip().splitlines()
    last = next(line for line in lines if line.startswith("solver "))
    assert "(against the term-wise bound with the band: the proof was not run, see stats.proof_not_run)" in last
    sol = json.loads((tmp_path / "out" / "solution.json").read_text())
    assert sol["bound_method"] == "term-wise with the band" and 0.0 < sol["gap"] < 0.05
    assert sol["bound"] > sum(sol["stats"]["term_bound"].values()) and "band_bound" in sol["stats"]
    # Where the gap may lie: the terms add up to the answer and to the bound, none below its least, each as the
    # score weighs it over England (the ICBs outside London, locked, included), and the CLI's next line names the
    # largest.
    rows = sol["stats"]["gap_by_term"]
    assert sum(r["answer"] for r in rows) == pytest.approx(sol["objective"], abs=1e-4)
    assert sum(r["least"] for r in rows) == pytest.approx(sol["bound"], abs=1e-4)
    assert all(r["answer"] >= r["least"] - 1e-6 for r in rows)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    weighed = {t.replace("_", " "): metrics["weights"][t] * v for t, v in metrics["terms"].items()}
    singles = [r for r in rows if r["term"] in weighed]
    assert len(singles) >= 3
    assert all(r["answer"] == pytest.approx(weighed[r["term"]], abs=1e-4) for r in singles)
    where = lines[lines.index(last) + 1]
    widest = max(rows, key=lambda r: r["answer"] - r["least"])
    assert where.startswith("where the gap may lie (score in the answer / least the bound allows): "
                            f"{widest['term']} {widest['answer']:.3f} / {widest['least']:.3f}")

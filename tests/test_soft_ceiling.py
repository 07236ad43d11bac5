"""A soft ceiling stays soft: footprints above it are candidates for every solver, and what is proven is said.

Unit tests on the six-block synthetic model (``tests.synthetic``: S1-S6 of 600k, 500k, 900k, 400k, 700k and 300k
people, 3.4m in all, two rows of three) check every answer against brute force over all 203 partitions of the six
blocks; integration tests run the published design rules on the real data at each level.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.model import load_model
from simulator.scenario import parse_scenario
from simulator.solvers import ExactSolver, LocalSearchSolver, Problem
from simulator.solvers.enumerate import candidate_graph
from simulator.solvers.local_search import lp_bound
from simulator.solvers.run import AutoSolver
from simulator.solvers.term_bound import SoftCeiling, term_bound
from tests.synthetic import feasible_partitions, synthetic_model

ROOT = Path(__file__).resolve().parent.parent
# A band of 0.5m-1m: two footprints of 3.4m people must hold 1.7m on average, so one at least is above 1m.
BAND = "band = [500_000, 1_000_000]\n"
SOFT = "population_ceiling = { value = 1_000_000, hard = false, penalty_per_person = 2e-6 }\n"
HARD = "population_ceiling = { value = 1_000_000, hard = true }\n"


@pytest.fixture(scope="module")
def model():
    return synthetic_model()


def _problem(model, constraints: str, top: str = BAND) -> Problem:
    text = f'level = "sicbl"\n{top}[constraints]\n{constraints}\n'
    return Problem.from_scenario(parse_scenario(text, "t"), model)


def _feasible(problem: Problem) -> list[tuple[float, np.ndarray]]:
    """(objective, assignment) of every partition of the blocks that keeps the problem's hard rules."""
    return list(feasible_partitions(problem))


def test_a_soft_ceiling_is_crossed_to_meet_the_footprint_count(model):
    problem = _problem(model, "n_footprints = 2\n" + SOFT)
    brute = _feasible(problem)
    best = min(o for o, _ in brute)
    s = ExactSolver(problem)
    r = s.solve()
    assert r.status == "optimal" and r.objective == pytest.approx(best, abs=1e-9)
    pop = np.bincount(r.configuration.assignment, weights=problem.population)
    assert pop.max() > 1_000_000  # above the ceiling, as it must be
    soft = r.stats["soft_ceiling"]
    assert soft["covers_every_configuration"] and soft["rungs"][0]["status"] == "infeasible"
    assert soft["cap_searched"] > 1_000_000
    # Every solver: the local search passes the ceiling too, auto proves the same optimum, and both bounds hold.
    ls = LocalSearchSolver(problem, iterations=300, bound=True).solve()
    assert ls.configuration is not None and problem.violations(ls.configuration) == []
    assert ls.objective >= best - 1e-9 and ls.bound <= best + 1e-9
    sc = parse_scenario(f'level = "sicbl"\n{BAND}[constraints]\nn_footprints = 2\n{SOFT}', "t")
    auto = AutoSolver(sc, model).solve()
    assert auto.status == "optimal" and auto.objective == pytest.approx(best, abs=1e-9)
    assert lp_bound(problem) <= best + 1e-9


def test_the_hard_ceiling_still_binds(model):
    """Today's ICBs B and C (1.2m each) may stand alone above a hard ceiling, but two footprints cannot hold
    3.4m people that way."""
    problem = _problem(model, "n_footprints = 2\n" + HARD)
    assert _feasible(problem) == []
    r = ExactSolver(problem).solve()
    assert r.status == "infeasible" and r.explanation
    three = _problem(model, "n_footprints = 3\n" + HARD)
    r = ExactSolver(three).solve()
    assert r.status == "optimal" and "soft_ceiling" not in r.stats
    pop = np.bincount(r.configuration.assignment, weights=three.population)
    icbs = {frozenset(np.flatnonzero(model.blocks.icb_code.to_numpy() == c).tolist()) for c in "ABC"}
    for f in np.flatnonzero(pop > 1_000_000):
        assert frozenset(np.flatnonzero(r.configuration.assignment == f).tolist()) in icbs


@pytest.mark.parametrize("constraints", [
    "n_footprints = 2\n" + SOFT,
    'must_merge = [["S1", "S3"]]\n' + SOFT,  # S1 and S3 are not neighbours: the group joins through S2
    'must_merge = [["S2", "S5"], ["S3", "S6"]]\nn_footprints = [2, 3]\n' + SOFT,
    "population_ceiling = { value = 1_000_000, hard = false, penalty_per_person = 0 }\n",
])
def test_the_cap_a_soft_ceiling_proves_holds_for_every_configuration(model, constraints):
    """No footprint of a configuration scoring at most U holds more effective people than ``cap_for(U)``, and
    no configuration with a footprint above a cap scores below ``bound_beyond(cap)``; the term-wise bound over
    the footprints the cap allows is below every such configuration."""
    problem = _problem(model, constraints)
    brute = _feasible(problem)
    graph = candidate_graph(problem)
    soft = SoftCeiling(problem, graph)
    best = min(o for o, _ in brute)
    node_of, weight = graph.contraction.node_of, graph.weight

    def effective(blocks) -> float:
        return float(weight[np.unique(node_of[blocks])].sum())

    for slack in (0.0, 0.5, 3.0):
        cap = soft.cap_for(best + slack)
        tb = term_bound(problem, cap=soft.real_cap(cap)).bound
        for objective, a in brute:
            biggest = max(effective(np.flatnonzero(a == f)) for f in range(a.max() + 1))
            if objective <= best + slack:
                assert biggest <= cap
                assert tb <= objective + 1e-9
            assert objective >= soft.bound_beyond(min(biggest, cap) - 1e-6) - 1e-9


# --------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def sicbl_model_2026(data_dir):
    """Sub-ICB locations on the April 2026 map (the published rules' baseline)."""
    return load_model("sicbl", data_dir)


def _published(level: str, region: str, n_footprints: str) -> str:
    text = (ROOT / "scenarios" / "published_design_rules.toml").read_text(encoding="utf-8")
    text = text.replace('level = "place"', f'level = "{level}"')
    return text.replace("n_footprints = 26", f'n_footprints = {n_footprints}\nonly_regions = ["{region}"]')


def _check(result, problem: Problem) -> None:
    assert result.configuration is not None, result.explanation
    assert problem.violations(result.configuration) == []
    assert result.bound is None or result.bound <= result.objective + 1e-9


@pytest.mark.integration
def test_published_rules_at_icb_level_solve_with_every_solver(today_model):
    sc = parse_scenario((ROOT / "scenarios" / "published_design_rules.toml").read_text(encoding="utf-8")
                        .replace('level = "place"', 'level = "icb2026"'), "published")
    problem = Problem.from_scenario(sc, today_model)
    exact = ExactSolver(problem).solve()
    _check(exact, problem)
    assert exact.status == "optimal" and exact.stats["soft_ceiling"]["covers_every_configuration"]
    assert exact.configuration.n_footprints == 26
    for solver in ("auto", "local_search"):
        r = AutoSolver(sc, today_model, solver=solver, iterations=500).solve()
        _check(r, problem)
        assert r.objective >= exact.objective - 1e-9


@pytest.mark.integration
def test_published_rules_at_sub_icb_level_cross_the_ceiling(sicbl_model_2026):
    """London's 10.9m people in three footprints: more than 2.5m each, which only a soft ceiling allows (today's
    ICBs above a hard one may stand alone, but London has four)."""
    sc = parse_scenario(_published("sicbl", "Y56", "3"), "published, London")
    problem = Problem.from_scenario(sc, sicbl_model_2026)
    exact = ExactSolver(problem).solve()
    _check(exact, problem)
    assert exact.status == "optimal"
    assert exact.stats["soft_ceiling"]["rungs"][0]["status"] == "infeasible"
    for solver in ("auto", "local_search"):
        r = AutoSolver(sc, sicbl_model_2026, solver=solver).solve()
        _check(r, problem)
        assert r.objective >= exact.objective - 1e-9
    hard = Problem.from_scenario(parse_scenario(_published("sicbl", "Y56", "3").replace("hard = false", "hard = true"),
                                                "hard"), sicbl_model_2026)
    # (Not explained: the explanation re-solves with each rule relaxed, London's locks too, which takes minutes.)
    assert ExactSolver(hard, explain=False).solve().status == "infeasible"


@pytest.mark.integration
def test_published_rules_at_place_level_lift_the_cap(place_model_2026):
    """London at place level, four or five footprints: the answer under 2.5m proves a cap a little above it,
    and the exact solver searches that far before calling its answer optimal."""
    sc = parse_scenario(_published("place", "Y56", "[4, 5]"), "published, London")
    problem = Problem.from_scenario(sc, place_model_2026)
    auto = AutoSolver(sc, place_model_2026).solve()
    _check(auto, problem)
    assert auto.solver == "exact" and auto.status == "optimal"
    soft = auto.stats["soft_ceiling"]
    assert soft["covers_every_configuration"] and soft["cap_searched"] > 2_500_000
    ls = AutoSolver(sc, place_model_2026, solver="local_search", iterations=2000).solve()
    _check(ls, problem)
    assert ls.objective >= auto.objective - 1e-9

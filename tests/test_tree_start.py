"""A start drawn by spanning-tree cuts where merging footprints cannot repair today's map: on the synthetic model
(checked against every partition) and on the East of England at place level (real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.scenario import parse_scenario
from simulator.solvers.base import Problem
from simulator.solvers.local_search import LocalSearchSolver, repair_start
from simulator.solvers.tree_start import tree_start
from tests.synthetic import feasible_partitions, synthetic_model

# Two footprints of 1.6-1.8m in the synthetic 3.4m: today's ICBs hold 1.0m, 1.2m and 1.2m, and any merge of two
# passes 1.8m, so merging cannot repair the start; {S1, S4, S5} and {S2, S3, S6} (1.7m each) keep the rules.
TEXT = ('level = "sicbl"\nbaseline = "2026"\nband = [1_600_000, 1_800_000]\n[constraints]\ncontiguity = true\n'
        'n_footprints = 2\npopulation_floor = { value = 1_600_000, hard = true }\n'
        'population_ceiling = { value = 1_800_000, hard = true }\n')


def _parts(assignment) -> frozenset:
    return frozenset(frozenset(np.flatnonzero(assignment == f).tolist()) for f in set(assignment.tolist()))


@pytest.fixture(scope="module")
def problem():
    return Problem.from_scenario(parse_scenario(TEXT, "narrow window"), synthetic_model())


def test_merging_cannot_repair_the_start_but_a_tree_draw_finds_one(problem):
    assert problem.violations(problem.start) and repair_start(problem, problem.start) is None
    config = tree_start(problem, seed=0)
    assert config is not None and problem.violations(config) == [] and config.n_footprints == 2
    feasible = {_parts(a) for _, a in feasible_partitions(problem)}
    assert _parts(config.assignment) in feasible


def test_the_draw_is_deterministic_for_a_seed(problem):
    a, b = tree_start(problem, seed=3), tree_start(problem, seed=3)
    assert a.same_partition(b)


def test_no_draw_where_no_configuration_keeps_the_rules():
    p = Problem.from_scenario(parse_scenario(TEXT.replace("1_800_000", "1_650_000"), "too narrow"), synthetic_model())
    assert next(feasible_partitions(p), None) is None
    assert tree_start(p, seed=0, attempts=5) is None


def test_the_local_search_starts_from_a_tree_draw(problem):
    s = LocalSearchSolver(problem, seed=0, iterations=200)
    s.solve()
    assert "spanning-tree" in s.stats_["start_repaired"]
    assert problem.violations(s.configuration_) == []
    assert s.objective_ == pytest.approx(min(o for o, _ in feasible_partitions(problem)))


@pytest.mark.integration
def test_east_of_england_at_place_level_with_districts_whole_has_a_start(place_model):
    """The example that is infeasible at sub-ICB level (tests/data) is feasible at place level, where districts
    do not chain sub-ICB locations together: three footprints of 2.31-2.5m each."""
    text = (Path(__file__).resolve().parent / "data" / "infeasible_east_of_england_councils_whole_sicbl.toml"
            ).read_text(encoding="utf-8").replace('level = "sicbl"', 'level = "place"')
    p = Problem.from_scenario(parse_scenario(text, "East of England, place"), place_model)
    config = tree_start(p, seed=0)
    assert config is not None and p.violations(config) == []
    free = p.free_blocks
    assert len(set(config.assignment[free].tolist())) == 3


@pytest.mark.integration
def test_restarts_draw_a_start_where_an_icb_above_the_ceiling_stands_alone(place_model_2026):
    """The East of England at place level: Central East (3.51m) stands alone above the 2.5m ceiling, and moving
    one place out of it would leave the rest above the ceiling, so the local search from today's map cannot move
    at all. Every other restart starts from spanning-tree cuts instead, which cut it into the band."""
    from simulator.configuration import Configuration
    from simulator.solvers.run import optimise

    text = (Path(__file__).resolve().parent.parent / "scenarios" / "region_east_of_england.toml").read_text(
        encoding="utf-8").replace('level = "sicbl"', 'level = "place"')
    sc = parse_scenario(text, "East of England, place")
    s = optimise(sc, place_model_2026, seed=0, iterations=5000, restarts=2)
    runs = s.stats_["restarts"]
    assert [r["start"] for r in runs] == ["the start", "spanning-tree cuts"]
    today = s.problem.objective(Configuration.baseline(place_model_2026).assignment)
    assert runs[0]["objective"] == pytest.approx(today)  # stuck where it started
    assert s.objective_ == pytest.approx(runs[1]["objective"]) and s.objective_ < today - 5.0
    people = np.bincount(s.configuration_.assignment, weights=s.problem.population)
    free = s.problem.free_blocks
    assert max(people[np.unique(s.configuration_.assignment[free])]) <= 2_500_000

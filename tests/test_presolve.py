"""The presolve (``simulator.solvers.presolve``): each kind of conflict on the six-block synthetic model (S1-S6 of
600k, 500k, 900k, 400k, 700k and 300k people, two rows of three; regions R1 = S1, S2, S4, S5 and R2 = S3, S6),
never a conflict where brute force over all 203 partitions finds a feasible configuration, the solvers stopping
with its reasons, and the East of England at sub-ICB level with councils kept whole under a hard ceiling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.scenario import parse_scenario
from simulator.solvers import ExactSolver, Problem
from simulator.solvers.presolve import fewest_footprints, presolve
from simulator.solvers.run import AutoSolver
from tests.synthetic import CODES, feasible_partitions, synthetic_model

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def model():
    return synthetic_model()


def _text(constraints: str) -> str:
    return f'level = "sicbl"\n[constraints]\n{constraints}\n'


def _problem(model, constraints: str) -> Problem:
    return Problem.from_scenario(parse_scenario(_text(constraints), "t"), model)


def _any_feasible(problem: Problem) -> bool:
    return next(feasible_partitions(problem), None) is not None


@pytest.mark.parametrize("constraints, words", [
    ('must_merge = [["S1", "S2"]]\nmust_not_merge = [["S1", "S2"]]',
     ["Block S1 and Block S2 must not merge", "must-merge pair S1-S2 keeps them together"]),
    ('within_region = true\nmust_merge = [["S2", "S3"]]', ["spans NHS regions Region R1, Region R2"]),
    ('locked_to_today = ["A"]\nmust_merge = [["S1", "S2"]]', ["ICB A ICB is locked to today", "S1-S2"]),
    # S1 and S3 are 1.51m together (GP-registered: 1% above the figures above), and only S2 (0.5m) or S4-S5-S6
    # joins them up: 2.02m at least.
    ('must_merge = [["S1", "S3"]]\npopulation_ceiling = 1_900_000',
     ["1.51m people, 2.02m with the fewest people that join it up", "ceiling of 1.90m"]),
    ('must_merge = [["S1", "S6"]]\nlocked_to_today = ["B"]\nwithin_region = true',
     ["spans NHS regions"]),
    ('must_merge = [["S1", "S5"]]\nlocked_to_today = ["B"]', ["ICB B ICB is locked to today"]),
    # With B locked, S1-S4 (ICB A) and S3-S6 (ICB C) cannot reach each other.
    ('must_merge = [["S4", "S6"]]\nlocked_to_today = ["B"]', ["cannot be joined up"]),
    ('within_region = true\npopulation_floor = 1_300_000', ["Region R2 has 1.21m people", "floor of 1.30m"]),
    ('within_region = true\nmin_acute_trusts = 2', ["Region R2 hosts 1 acute trust(s)"]),
    ("n_footprints = 1\npopulation_ceiling = 2_000_000", ["at most 1", "need at least 2 footprints of at most 2.00m"]),
    ('n_footprints = 6\nmust_merge = [["S1", "S2"]]', ["at least 6", "at most 5 (one per group kept whole"]),
    ("n_footprints = 4\npopulation_floor = 900_000", ["at most 3", "each of at least 0.90m people"]),
    ("n_footprints = 2\nmin_acute_trusts = 2", ["at most 1", "each hosting 2 acute trusts"]),
    ('within_region = true\nn_footprints = 5\nmust_merge = [["S3", "S6"]]\nlocked_to_today = ["A"]',
     ["Region R1 (1.21m: 2)", "and 1 ICB(s) locked to today", "at most 4"]),
])
def test_each_kind_of_conflict_is_found_and_is_real(model, constraints, words):
    problem = _problem(model, constraints)
    found = presolve(problem)
    assert found, constraints
    text = " | ".join(found)
    for w in words:
        assert w in text, text
    assert not _any_feasible(problem)


def test_soft_limits_are_never_a_conflict(model):
    """S1 and S3 kept together (1.51m) under a ceiling of 1m: a conflict when the ceiling is hard, none when it
    is soft (one footprint of everything is a configuration)."""
    rules = ('population_ceiling = {{ value = 1_000_000, hard = {0}, penalty_per_person = 1e-6 }}\n'
             'population_floor = {{ value = 900_000, hard = {0}, penalty_per_person = 1e-6 }}\n'
             'must_merge = [["S1", "S3"]]\nn_footprints = [1, 2]')
    assert presolve(_problem(model, rules.format("true")))
    soft = _problem(model, rules.format("false"))
    assert presolve(soft) == [] and _any_feasible(soft)


@pytest.mark.parametrize("seed", range(40))
def test_a_conflict_is_never_reported_where_a_configuration_exists(model, seed):
    """Random rules of every kind: whenever the presolve names a conflict, brute force finds no configuration."""
    rng = np.random.default_rng(seed)
    rules = []
    pairs = [[CODES[a], CODES[b]] for a, b in rng.choice(6, size=(int(rng.integers(0, 3)), 2)) if a != b]
    if pairs:
        rules.append(f"must_merge = {pairs}".replace("'", '"'))
    if rng.random() < 0.3:
        a, b = rng.choice(6, size=2, replace=False)
        rules.append(f'must_not_merge = [["{CODES[a]}", "{CODES[b]}"]]')
    if rng.random() < 0.3:
        rules.append(f'locked_to_today = ["{rng.choice(list("ABC"))}"]')
    if rng.random() < 0.5:
        rules.append("within_region = true")
    floor = int(rng.choice([500_000, 900_000, 1_200_000])) if rng.random() < 0.5 else 0
    if floor:
        rules.append(f"population_floor = {floor}")
    ceiling = int(rng.choice([1_000_000, 1_500_000, 2_000_000, 3_500_000]))
    rules.append(f"population_ceiling = {max(ceiling, floor)}")
    if rng.random() < 0.3:
        rules.append(f"min_acute_trusts = {int(rng.integers(1, 3))}")
    if rng.random() < 0.5:
        lo = int(rng.integers(1, 6))
        rules.append(f"n_footprints = [{lo}, {lo + int(rng.integers(0, 2))}]")
    problem = _problem(model, "\n".join(rules))
    if presolve(problem):
        assert not _any_feasible(problem), rules


@pytest.mark.parametrize("rules, least", [
    ("population_ceiling = 2_000_000", 2),  # 3.43m in all (GP-registered)
    # Region R1 (2.22m) needs two of at most 2m and R2 one: three (counted over England at once, two).
    ("population_ceiling = 2_000_000\nwithin_region = true", 3),
    ("population_ceiling = 1_000_000", 3),  # ICBs A (1.01m), B and C (1.21m each) above it: each stands alone
    ('locked_to_today = ["B"]\npopulation_ceiling = 1_100_000', 2),  # A and C cannot reach each other
])
def test_fewest_footprints_is_the_least_any_configuration_has(model, rules, least):
    """The fewest footprints the bounds use (each piece of the map on its own, today's ICBs above the ceiling
    standing alone) is never above the count of a configuration brute force finds, and here equals the least."""
    problem = _problem(model, rules)
    counts = [len(np.unique(a[problem.free_blocks])) for _, a in feasible_partitions(problem)]
    fewest = fewest_footprints(problem, problem.constraints.ceiling.value)
    assert fewest <= min(counts)
    assert fewest == least == min(counts)


def test_the_solvers_stop_with_the_presolves_reasons(model):
    constraints = 'n_footprints = 6\nmust_merge = [["S1", "S2"]]'
    want = presolve(_problem(model, constraints))
    exact = ExactSolver(_problem(model, constraints)).solve()
    assert exact.status == "infeasible" and exact.explanation == want and exact.stats.get("presolve") == "infeasible"
    auto = AutoSolver(parse_scenario(_text(constraints), "t"), model)
    r = auto.solve()
    assert r.status == "infeasible" and r.explanation == want and r.configuration is None
    assert "presolve" in r.timings


@pytest.mark.integration
def test_east_of_england_councils_whole_at_sub_icb_level_under_a_hard_ceiling(sicbl_model):
    """The East of England backtest at sub-ICB level with councils kept whole and the ceiling hard: councils
    straddling sub-ICB locations chain them into groups of up to 1.79m people, and three footprints of at most
    2.5m cannot be drawn from them. The presolve cannot see that (it is a question of packing and
    contiguity), so the exact solver finds it and the explainer names the rules to relax, quickly."""
    from simulator.scenario import load_scenario
    scenario = load_scenario(DATA / "infeasible_east_of_england_councils_whole_sicbl.toml")
    problem = Problem.from_scenario(scenario, sicbl_model)
    assert presolve(problem) == []
    r = AutoSolver(scenario, sicbl_model).solve()
    assert r.status == "infeasible" and len(r.explanation) == 1
    assert r.explanation[0].startswith("the constraints conflict; relaxing any one of these")
    assert "the number of footprints" in r.explanation[0]


@pytest.mark.integration
@pytest.mark.parametrize("level", ["sicbl", "place"])
def test_london_in_three_under_a_hard_ceiling_is_counted_out(level, place_model_2026):
    """Every ICB above the ceiling standing alone needs fewest footprints: West and North London (4.66m) alone and
    the other 6.26m in three of at most 2.5m make four, so three cannot be met. The presolve says so at once, at
    sub-ICB and place level (where the exact solver took 17 s to prove it and named no rule)."""
    from simulator.model import load_model

    text = (Path(__file__).resolve().parent.parent / "scenarios" / "published_design_rules.toml").read_text(
        encoding="utf-8")
    text = text.replace('level = "place"', f'level = "{level}"').replace("hard = false", "hard = true")
    text = text.replace("n_footprints = 26", 'n_footprints = 3\nonly_regions = ["Y56"]')
    scenario = parse_scenario(text, "London in three")
    model = place_model_2026 if level == "place" else load_model("sicbl", place_model_2026.data_dir)
    conflicts = presolve(Problem.from_scenario(scenario, model))
    assert conflicts == ["the number of footprints must be at most 3, but London (10.92m people) need at least 4 "
                         "footprints of at most 2.50m (today's ICBs above it standing alone)"]

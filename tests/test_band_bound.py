"""The band's bound (band, people moved, ICBs split and bodies bounded together over today's ICBs) on the synthetic
model: below every configuration that keeps the rules, under each rule it uses, and above the term-wise bound."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.metrics.score import TERM_NAMES, scorer
from simulator.scenario import parse_scenario
from simulator.solvers.band_bound import JOINT_PART, JOINT_TERMS, band_bound
from simulator.solvers.base import Problem
from simulator.solvers.gap_terms import gap_by_term
from simulator.solvers.term_bound import term_bound
from tests.synthetic import feasible_partitions, synthetic_model

# Prices that make the three pull hard against each other: cutting an ICB, moving people and missing the band.
HEAVY = "[weights]\npopulation_band = 3.0\npeople_moved = 1.0\nicbs_split = 2.0\nstatutory_bodies = 0.5\n"

# Today's ICBs: A 1.01m (blocks S1, S4), B 1.212m (S2, S5), C 1.212m (S3, S6); C in region R2, the rest in R1.
RULES = {
    "band alone": ('band = [1500000, 2000000]\n', ""),
    "band, heavy prices": ('band = [1500000, 2000000]\n' + HEAVY, ""),
    "hard floor": ('band = [1500000, 2500000]\n', "population_floor = 1000000\n"),
    "two footprints": ('band = [1500000, 2500000]\n' + HEAVY, "n_footprints = 2\n"),
    "within regions": ('band = [1500000, 2000000]\n' + HEAVY, "within_region = true\n"),
    "soft ceiling": ('band = [600000, 1100000]\n' + HEAVY,
                     "population_ceiling = { value = 1100000, hard = false, penalty_per_person = 0.00001 }\n"),
    "one ICB locked": ('band = [1500000, 2000000]\n' + HEAVY, 'locked_to_today = ["A"]\n'),
    "ICBs above the ceiling": ('band = [400000, 800000]\n' + HEAVY, ""),
}


def _problem(rule: str) -> Problem:
    head, constraints = RULES[rule]
    weights = ""
    if "[weights]" in head:
        head, weights = head.split("[weights]")
        weights = "[weights]" + weights
    text = (f'level = "sicbl"\nbaseline = "2026"\n{head}{weights}[constraints]\ncontiguity = true\n{constraints}')
    return Problem.from_scenario(parse_scenario(text, rule), synthetic_model())


def _joint_terms(problem: Problem, assignment: np.ndarray) -> float:
    """The band, people moved, ICBs split and bodies, weighted, over the footprints that hold no locked block."""
    sc = scorer(problem.model, problem.params)
    free = problem.free_blocks
    ks = [k for k in np.unique(assignment) if free[assignment == k].all()]
    C = np.zeros((len(ks), len(assignment)))
    for i, k in enumerate(ks):
        C[i, assignment == k] = 1.0
    per_term = dict(zip(TERM_NAMES, (sc.contributions(C) * sc.weights).sum(axis=0)))
    return sum(per_term[t] for t in JOINT_TERMS)


@pytest.mark.parametrize("rule", list(RULES))
def test_bound_is_below_every_configuration_keeping_the_rules(rule):
    problem = _problem(rule)
    bb = band_bound(problem)
    tb = term_bound(problem)
    assert bb.bound >= tb.bound - 1e-12
    configurations = list(feasible_partitions(problem))
    assert configurations, rule
    best = min(obj for obj, _ in configurations)
    assert bb.bound <= best + 1e-9, (rule, bb.bound, best)
    if JOINT_PART in bb.parts:
        # The joint part alone is below those four terms in every configuration, not only the best.
        for _, a in configurations:
            assert bb.parts[JOINT_PART] <= _joint_terms(problem, a) + 1e-9, rule


@pytest.mark.parametrize("rule", ["band alone", "band, heavy prices", "two footprints", "ICBs above the ceiling"])
def test_bound_prices_what_the_band_forces(rule):
    """Where every ICB is outside the band on its own, the terms pulled apart cost nothing each; together they do."""
    problem = _problem(rule)
    bb, tb = band_bound(problem), term_bound(problem)
    assert JOINT_PART in bb.parts and bb.bound > tb.bound + 0.05
    assert not set(JOINT_TERMS) & set(bb.parts)


def test_bound_is_the_term_wise_one_when_the_joint_terms_carry_no_weight():
    problem = _problem("band alone")
    for t in JOINT_TERMS:
        problem.params.weights[t] = 0.0
    assert band_bound(problem).bound == pytest.approx(term_bound(problem).bound, abs=1e-12)


@pytest.mark.parametrize("rule", list(RULES))
def test_the_gap_split_by_term_adds_up_and_each_term_is_above_its_least(rule):
    """``gap_by_term`` on every configuration keeping the rules: its rows add up to the configuration's objective
    and to the bound, and no term costs less in a configuration than the least the bound allows it."""
    problem = _problem(rule)
    bb = band_bound(problem)
    for objective, a in feasible_partitions(problem):
        rows = gap_by_term(problem, a, bb.parts)
        assert sum(r.answer for r in rows) == pytest.approx(objective, abs=1e-9)
        assert sum(r.least for r in rows) == pytest.approx(bb.bound, abs=1e-9)
        assert all(r.gap >= -1e-9 for r in rows), [(r.term, r.answer, r.least) for r in rows]
        assert [r.gap for r in rows] == sorted((r.gap for r in rows), reverse=True)


def test_sure_leakage_counts_what_the_ceiling_keeps_out_of_each_hosts_footprint():
    """Every block can share a footprint with every host here, so only the ceiling makes admissions leak: a host's
    footprint holds at most 2m people, which cannot hold all of T1's or T2's catchment. The least leakage is above 0
    yet below the leakage of every configuration keeping the rules; with a ceiling that binds nothing it is 0."""
    problem = _problem("band alone")
    sc = scorer(problem.model, problem.params)
    w = sc.weights[TERM_NAMES.index("flow_leakage")]
    least = term_bound(problem).parts["flow_leakage"]
    assert least > 0.04 * w  # T1's and T2's hosts' footprints keep out over 4% of the 3.18m admissions
    leakage = []
    for _, a in feasible_partitions(problem):
        C = (a[None, :] == np.unique(a)[:, None]).astype(float)
        leakage.append(w * sc.contributions(C)[:, TERM_NAMES.index("flow_leakage")].sum())
    assert least <= min(leakage) + 1e-12
    problem.constraints.ceiling.value = 10_000_000.0
    assert term_bound(problem).parts["flow_leakage"] == 0.0

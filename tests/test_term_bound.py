"""The term-wise bound on the real data: each term's least total is below that term in every configuration tried
(today's map, proven optima, random footprints of the free places), and the bound is exact when nothing is free."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from simulator.configuration import Configuration
from simulator.constraints import today_icb_sets
from simulator.metrics.score import TERM_NAMES, scorer
from simulator.scenario import parse_scenario
from simulator.solvers import ExactSolver, Problem
from simulator.solvers.band_bound import JOINT_PART, JOINT_TERMS, band_bound
from simulator.solvers.term_bound import term_bound
from tests.legacy import legacy

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _problem(name: str, model, weights: dict[str, float] | None = None) -> Problem:
    text = (SCENARIOS / f"{name}.toml").read_text()
    for level in ("icb", "sicbl"):
        text = text.replace(f'level = "{level}"', 'level = "place"')
    for term, value in (weights or {}).items():
        text = re.sub(rf"^{term} = .*$", f"{term} = {value!r}", text, flags=re.M)
    return Problem.from_scenario(parse_scenario(legacy(text), name), model)


def _current(name: str, model) -> Problem:
    """A shipped scenario at place level with its own prices (the legacy list of `_problem` has no people moved or ICBs
    split, and prices the band at a sixtieth of today's), on ``model`` (the April 2026 map's)."""
    text = (SCENARIOS / f"{name}.toml").read_text().replace('level = "sicbl"', 'level = "place"')
    return Problem.from_scenario(parse_scenario(text, name), model)


def _random_configuration(problem: Problem, rng: np.random.Generator, pieces: int) -> np.ndarray:
    """Locked blocks in their fixed footprints; the free ones split into connected footprints grown from
    ``pieces`` random seeds, one block at a time, each inside one NHS region and under the hard ceiling (a block
    that fits nowhere seeds a footprint of its own)."""
    m, cons = problem.model, problem.constraints
    pop = problem.population
    n = m.n_blocks
    a = np.full(n, -1)
    for k, (g, _) in enumerate(cons.locked):
        a[np.asarray(g)] = k
    free = np.flatnonzero(a < 0)
    region = m.blocks.region_ods.to_numpy()
    ceiling = cons.ceiling.value
    size: dict[int, float] = {}
    label = len(cons.locked)
    for s in rng.choice(free, size=min(pieces, len(free)), replace=False):
        a[s], size[label] = label, pop[s]
        label += 1
    while (a < 0).any():
        grew = False
        for b in rng.permutation(np.flatnonzero(a < 0)):
            fits = [x for x in m.neighbours[b] if a[x] >= len(cons.locked) and region[x] == region[b]
                    and size[a[x]] + pop[b] <= ceiling]
            if fits:
                a[b] = a[rng.choice(fits)]
                size[a[b]] += pop[b]
                grew = True
        if not grew:
            b = rng.choice(np.flatnonzero(a < 0))
            a[b], size[label] = label, pop[b]
            label += 1
    return np.unique(a, return_inverse=True)[1]


def _free_terms(problem: Problem, assignment: np.ndarray) -> dict[str, float]:
    """Each weighted term summed over the footprints that hold no locked block."""
    sc = scorer(problem.model, problem.params)
    locked = np.zeros(problem.model.n_blocks, dtype=bool)
    for g, _ in problem.constraints.locked:
        locked[np.asarray(g)] = True
    ks = [k for k in np.unique(assignment) if not locked[assignment == k].any()]
    C = np.zeros((len(ks), len(assignment)))
    for i, k in enumerate(ks):
        C[i, assignment == k] = 1.0
    return dict(zip(TERM_NAMES, (sc.contributions(C) * sc.weights).sum(axis=0)))


@pytest.mark.parametrize("name", ["region_east_of_england", "region_midlands", "region_south_east",
                                  "national_default_sicbl"])
def test_each_term_is_above_its_least_total_in_random_configurations(name, place_model):
    # Upper-tier councils priced too (their default weight is 0), so that their least total is tested.
    problem = _problem(name, place_model, {"upper_tier_split": 0.05})
    tb = term_bound(problem)
    bb = band_bound(problem, terms=tb)
    rng = np.random.default_rng(11)
    today = Configuration.baseline(place_model).assignment
    tried = [today] + [_random_configuration(problem, rng, int(k)) for k in rng.integers(1, 12, size=30)]
    for a in tried:
        assert tb.bound <= bb.bound <= problem.objective(a) + 1e-12
        got = _free_terms(problem, a)
        # The band, people moved, ICBs split and bodies together are above their joint least total.
        assert sum(got[t] for t in JOINT_TERMS) >= bb.parts.get(JOINT_PART, -np.inf) - 1e-9
        for term, least in tb.parts.items():
            if term != "fixed footprints":
                assert got[term] >= least - 1e-12, term
    # The parts that are not zero are what the free places can bring: some rewards, some sure costs.
    assert tb.parts["pathology_split"] < 0 and tb.parts["flow_leakage"] > 0 and tb.parts["major_trust_sharing"] > 0
    assert tb.parts["upper_tier_split"] < 0
    assert tb.bound > (tb.parts["fixed footprints"] + tb.parts["pathology_split"] + tb.parts["mayoral_split"]
                       + tb.parts["upper_tier_split"])


@pytest.mark.parametrize("prices", ["legacy", "today"])
@pytest.mark.parametrize("name", ["region_london", "region_south_west"])
def test_bounds_are_below_the_proven_optimum(name, prices, place_model, place_model_2026):
    problem = _problem(name, place_model) if prices == "legacy" else _current(name, place_model_2026)
    exact = ExactSolver(problem)
    exact.solve()
    assert exact.status_ == "optimal"
    tb = term_bound(problem)
    bb = band_bound(problem, terms=tb)
    assert tb.bound <= bb.bound <= exact.objective_ + 1e-12
    got = _free_terms(problem, exact.configuration_.assignment)
    for term, least in tb.parts.items():
        if term != "fixed footprints":
            assert got[term] >= least - 1e-12, term
    if prices == "today":
        # The band forces cuts or merges that the term-wise bound does not see.
        assert bb.bound > tb.bound
    else:
        # Wide (it ignores that the terms pull against each other), yet not trivial.
        assert 0.0 < (exact.objective_ - tb.bound) / exact.objective_ < 0.25


def test_bound_is_the_objective_when_every_block_is_locked(place_model):
    problem = _problem("region_east_of_england", place_model)
    problem.constraints.locked = [(np.asarray(g), "today's ICB") for g in today_icb_sets(place_model)]
    today = Configuration.baseline(place_model).assignment
    tb = term_bound(problem)
    assert tb.bound == pytest.approx(problem.objective(today), abs=1e-9)
    assert list(tb.parts) == ["fixed footprints"]


def test_band_bound_prices_what_the_band_forces_on_england(place_model_2026):
    """England at place level: the seven ICBs above 2.5m must be cut and the small ones merged or left short,
    which the term-wise bound ignores; the bound with the band holds in random configurations."""
    problem = _current("national_default_sicbl", place_model_2026)
    tb = term_bound(problem)
    bb = band_bound(problem, terms=tb)
    assert bb.bound > tb.bound + 2.0 and JOINT_PART in bb.parts
    rng = np.random.default_rng(5)
    today = Configuration.baseline(place_model_2026).assignment
    for a in [today] + [_random_configuration(problem, rng, int(k)) for k in rng.integers(20, 45, size=10)]:
        assert bb.bound <= problem.objective(a) + 1e-12
        got = _free_terms(problem, a)
        assert sum(got[t] for t in JOINT_TERMS) >= bb.parts[JOINT_PART] - 1e-9

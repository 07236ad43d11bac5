"""Exact polish on the real data (exchanges of border places, pairs of footprints re-drawn): never worse, meets
every hard rule, reaches the proven place optimum where it is known, and leaves no improving single-block move or
two-way split of a pair (both checked here by brute force, not through the library)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.configuration import Configuration
from simulator.scenario import parse_scenario
from simulator.solvers import LocalSearchSolver, Problem
from simulator.solvers.neighbourhood import exchange_candidates, exchange_polish, pair_redraw, polish
from simulator.solvers.run import optimise, sicbl_warm_start, start_configuration
from tests.legacy import legacy, legacy_scenario

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _place(name: str, extra: str = ""):
    text = (SCENARIOS / name).read_text().replace('level = "sicbl"', 'level = "place"')
    return parse_scenario(legacy(text + extra), name)


def _connected(blocks: set[int], neighbours) -> bool:
    start = next(iter(blocks))
    seen, todo = {start}, [start]
    while todo:
        for v in neighbours[todo.pop()]:
            if int(v) in blocks and int(v) not in seen:
                seen.add(int(v))
                todo.append(int(v))
    return seen == blocks


def test_polish_reaches_the_proven_place_optimum_in_the_south_west(place_model):
    """From the sub-ICB optimum refined to places (2.7414), trading border places reaches the place optimum that
    the exact solver proves (2.7173)."""
    scenario = _place("region_south_west.toml")
    problem = Problem.from_scenario(scenario, place_model, start=start_configuration(scenario, place_model))
    warm = sicbl_warm_start(scenario, place_model, problem)
    proven = optimise(scenario, place_model)
    assert proven.name == "exact" and proven.status_ == "optimal"
    assert problem.objective(warm.assignment) > proven.objective_ + 0.01
    polished, stats = exchange_polish(problem, warm)
    assert stats["objective_after"] == pytest.approx(proven.objective_, abs=1e-9)
    assert problem.objective(polished.assignment) == pytest.approx(stats["objective_after"], abs=1e-12)
    assert problem.violations(polished) == [] and stats["exchange_optimal"]


@pytest.mark.parametrize("name", ["region_london.toml", "region_south_west.toml",
                                  "region_north_east_and_yorkshire.toml"])
def test_polish_reaches_the_proven_place_optimum_in_every_enumerable_region(name, place_model):
    """From the sub-ICB optimum refined to places, exchanges and pair re-draws reach the optimum that the exact
    solver proves over every connected place footprint (London 3.3408, South West 2.7173, North East and
    Yorkshire 3.2952), and report every pair checked."""
    scenario = _place(name)
    problem = Problem.from_scenario(scenario, place_model, start=start_configuration(scenario, place_model))
    warm = sicbl_warm_start(scenario, place_model, problem)
    proven = optimise(scenario, place_model)
    assert proven.name == "exact" and proven.status_ == "optimal"
    polished, stats = polish(problem, warm)
    assert stats["objective_before"] > proven.objective_ + 1e-3
    assert stats["objective_after"] == pytest.approx(proven.objective_, abs=1e-9)
    assert problem.violations(polished) == [] and stats["pair_optimal"] and stats["exchange_optimal"]


# The national fixtures take half a minute: their tests share one xdist worker (--dist loadgroup), so that they
# are built once per run rather than once per worker.
NATIONAL = pytest.mark.xdist_group("polish_national")


@pytest.fixture(scope="module")
def national_polished(place_model):
    scenario = _place("national_default_sicbl.toml")
    problem = Problem.from_scenario(scenario, place_model)
    warm = sicbl_warm_start(scenario, place_model, problem)
    start = LocalSearchSolver(problem, seed=2, start=warm, iterations=2000).solve().configuration
    return problem, start, *exchange_polish(problem, start)


@NATIONAL
def test_polish_never_worsens_and_meets_every_rule(national_polished):
    problem, start, polished, stats = national_polished
    before = problem.objective(start.assignment)
    assert stats["objective_before"] == pytest.approx(before, abs=1e-12)
    assert stats["objective_after"] < before  # on this start it finds trades the local search missed
    assert problem.objective(polished.assignment) == pytest.approx(stats["objective_after"], abs=1e-12)
    assert problem.violations(polished) == [] and stats["exchange_optimal"]
    m = problem.model
    pop = problem.population
    for f in np.unique(polished.assignment):
        blocks = set(np.flatnonzero(polished.assignment == f).tolist())
        assert _connected(blocks, m.neighbours)
    # Footprints keep the names of the footprints they came from.
    assert len(set(polished.names)) == len(polished.names)
    assert set(polished.names) <= set(start.names) | {n + "*" for n in start.names}
    icb = m.blocks.icb_code.to_numpy()
    for f in range(len(polished.names)):
        members = polished.assignment == f
        if pop[members].sum() > 2_500_000:  # only today's ICBs may stand alone above the ceiling
            assert len(set(icb[members])) == 1 and (icb == icb[members][0]).sum() == members.sum()


@NATIONAL
def test_polish_leaves_no_improving_single_block_move(national_polished):
    """Moving one block to a neighbouring footprint is one of the exchanges: none may improve the answer."""
    problem, _, polished, stats = national_polished
    m = problem.model
    a = polished.assignment
    best = stats["objective_after"]
    tried = 0
    for b in range(m.n_blocks):
        f = a[b]
        rest = set(np.flatnonzero(a == f).tolist()) - {b}
        if not rest or not _connected(rest, m.neighbours):
            continue
        for g in sorted({int(a[v]) for v in m.neighbours[b]} - {int(f)}):
            moved = a.copy()
            moved[b] = g
            candidate = Configuration(m, moved, polished.names, allow_noncontiguous=True)
            if problem.violations(candidate):
                continue
            tried += 1
            assert problem.objective(moved) >= best - 1e-9, f"moving block {b} to footprint {g} improves"
    assert tried > 100


@NATIONAL
def test_pool_holds_every_footprint_and_only_connected_variants_under_the_cap(national_polished, place_model):
    problem, start, _, _ = national_polished
    masks = exchange_candidates(problem, start, max_out=1, max_in=1)
    as_sets = [{i for i in range(place_model.n_blocks) if mask >> i & 1} for mask in masks]
    originals = [set(np.flatnonzero(start.assignment == f).tolist()) for f in range(len(start.names))]
    assert all(o in as_sets for o in originals)
    pop = problem.population
    for s in as_sets:
        if s in originals:
            continue
        assert _connected(s, place_model.neighbours)
        assert pop[list(s)].sum() <= 2_500_000 + 1e-6
        # One border block out and/or one neighbouring block in, relative to some footprint.
        assert any(len(s - o) <= 1 and len(o - s) <= 1 for o in originals)
    assert len(masks) == len(set(masks)) and len(masks) > 10 * len(originals)


def test_polish_leaves_max_moved_scenarios_alone(place_model):
    scenario = _place("region_london.toml", "max_moved = 3\n")
    problem = Problem.from_scenario(scenario, place_model)
    config, stats = exchange_polish(problem, problem.start)
    assert config is problem.start and stats["rounds"] == 0 and "max_moved" in stats["skipped"]


@pytest.fixture(scope="module")
def national_redrawn(national_polished):
    problem, _, start, _ = national_polished
    return problem, start, *pair_redraw(problem, start, max_splits=20_000)


@NATIONAL
def test_pair_redraw_never_worsens_and_meets_every_rule(national_redrawn):
    problem, start, redrawn, stats = national_redrawn
    assert stats["objective_after"] <= problem.objective(start.assignment)
    assert problem.objective(redrawn.assignment) == pytest.approx(stats["objective_after"], abs=1e-12)
    assert problem.violations(redrawn) == []
    assert stats["pairs_checked"] > 10 and stats["pairs_skipped"] > 0 and not stats["pair_optimal"]


@NATIONAL
def test_pair_redraw_leaves_no_improving_two_way_split(national_redrawn):
    """For the four smallest pairs of neighbouring footprints (all checked), every split of their places into two
    connected footprints under the ceiling is tried here: none may beat the answer."""
    problem, _, redrawn, stats = national_redrawn
    m, a = problem.model, redrawn.assignment
    pop = problem.population
    best = stats["objective_after"]
    pairs = sorted({(min(a[u], a[v]), max(a[u], a[v])) for u in range(m.n_blocks) for v in m.neighbours[u]
                    if a[u] != a[v]}, key=lambda p: ((a == p[0]) | (a == p[1])).sum())
    tried = 0
    for f, g in pairs[:4]:
        union = np.flatnonzero((a == f) | (a == g))
        assert len(union) <= 14
        first, rest = int(union[0]), [int(b) for b in union[1:]]
        for bits in range(1 << len(rest)):  # splits with the first place on side f
            side = {first} | {b for j, b in enumerate(rest) if bits >> j & 1}
            other = set(union.tolist()) - side
            if not other or not _connected(side, m.neighbours) or not _connected(other, m.neighbours):
                continue
            if pop[list(side)].sum() > 2_500_000 or pop[list(other)].sum() > 2_500_000:
                continue
            moved = a.copy()
            moved[list(side)], moved[list(other)] = f, g
            if problem.violations(Configuration(m, moved, redrawn.names, allow_noncontiguous=True)):
                continue
            tried += 1
            assert problem.objective(moved) >= best - 1e-9
    assert tried >= 10


def test_polish_is_deterministic_and_keeps_to_its_time_limit(place_model):
    scenario = _place("region_north_east_and_yorkshire.toml")
    problem = Problem.from_scenario(scenario, place_model, start=start_configuration(scenario, place_model))
    warm = sicbl_warm_start(scenario, place_model, problem)
    runs = [polish(problem, warm) for _ in range(2)]
    (a, sa), (b, sb) = runs
    assert np.array_equal(a.assignment, b.assignment) and a.names == b.names
    assert sa["objective_after"] == sb["objective_after"] < sa["objective_before"]
    short, st = polish(problem, warm, time_limit=0.5)
    assert st["seconds"] < sa["seconds"] and st["objective_after"] <= st["objective_before"]
    assert problem.violations(short) == []

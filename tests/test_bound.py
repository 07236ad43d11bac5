"""Exact pricing by enumeration and the bound it proves, on the real data: the walk visits exactly the exact solver's
candidates and costs them exactly as the scorer does; the bound matches the exact solver's proven optimum where
both run, is never above it when stopped early, and ``auto`` uses it at place level."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from simulator.metrics.score import scorer
from simulator.scenario import parse_scenario
from simulator.solvers import BoundMethod, ExactSolver, Problem
from simulator.solvers import run as run_module
from simulator.solvers.bound import enumerated_bound
from simulator.solvers.master import _cut_membership
from simulator.solvers.run import optimise, sicbl_warm_start
from simulator.solvers.scan import FootprintScan
from simulator.solvers.term_bound import term_bound
from tests.legacy import legacy, legacy_scenario

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _place(name: str, extra: str = ""):
    text = (SCENARIOS / name).read_text().replace('level = "sicbl"', 'level = "place"')
    return parse_scenario(legacy(text + extra), name)


def _rows(C) -> list[np.ndarray]:
    """Each row's column indices, as ``C[j].indices`` gives them, without making a sparse matrix per row (a walk's
    worth of rows one at a time took most of these tests' time)."""
    C = C.tocsr()
    return np.split(C.indices, C.indptr[1:-1])


def _matrix(footprints, n):
    rows = np.concatenate([np.full(len(f), i) for i, f in enumerate(footprints)])
    return sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(footprints))), shape=(len(footprints), n))


@pytest.fixture(scope="module")
def london(place_model):
    problem = Problem.from_scenario(_place("region_london.toml"), place_model)
    exact = ExactSolver(problem)
    C, costs = exact.candidates()
    return problem, exact, C, costs


def test_walk_visits_exactly_the_exact_solvers_candidates_at_their_costs(london):
    problem, exact, C, costs = london
    scan = FootprintScan(problem)
    res = scan.scan(threshold=np.inf, keep=10 ** 6)
    n = problem.model.n_blocks
    walked = {tuple(sorted(int(i) for i in f)): rc for f, rc in zip(res.footprints, res.reduced_costs)}
    # The exact solver also holds today's ICBs that stand alone (outside London, locked; or above the cap, like
    # North East London): the walk leaves those to the caller.
    free, pop = scan.free, problem.population
    enumerated = {tuple(r.tolist()): costs[j] for j, r in enumerate(_rows(C))
                  if free[r].all() and pop[r].sum() <= scan.cap}
    assert len(walked) == len(res.footprints) == res.visited == scan.count(10 ** 9)
    assert walked.keys() == enumerated.keys()
    diff = max(abs(walked[k] - enumerated[k]) for k in walked)
    assert diff < 1e-9
    assert res.min_reduced_cost == pytest.approx(min(walked.values()), abs=1e-12)
    assert n == C.shape[1]


def test_walk_charges_block_duals_and_subset_row_cuts_exactly(london):
    problem, exact, C, costs = london
    scan = FootprintScan(problem)
    rng = np.random.default_rng(3)
    n = problem.model.n_blocks
    free = np.flatnonzero(scan.free)
    duals = np.zeros(n)
    duals[free] = rng.uniform(0.0, 0.05, len(free))
    cuts = [tuple(sorted(rng.choice(free, 3, replace=False).tolist())) for _ in range(25)]
    cut_duals = -rng.uniform(0.0, 0.02, len(cuts))
    res = scan.scan(duals, constant=0.01, cuts=cuts, cut_duals=cut_duals, threshold=0.0, keep=500)
    # Brute force over the exact solver's candidates (London's blocks only).
    inside = np.array([scan.free[r].all() and problem.population[r].sum() <= scan.cap for r in _rows(C)])
    Cf, cf = C[inside], costs[inside]
    rc = cf - Cf @ duals + 0.01 - _cut_membership(Cf.tocsc(), cuts) @ cut_duals
    assert res.min_reduced_cost == pytest.approx(rc.min(), abs=1e-12)
    # The 500 kept are the 500 lowest (the threshold was lowered to make room), each priced right.
    assert len(res.footprints) == 500
    assert res.threshold < 0.0 and np.sort(res.reduced_costs)[-1] == pytest.approx(np.sort(rc)[499], abs=1e-12)
    row = {tuple(r.tolist()): j for j, r in enumerate(_rows(Cf))}
    got = np.sort(cf[[row[tuple(sorted(int(i) for i in f))] for f in res.footprints]]
                  - [duals[f].sum() for f in res.footprints]
                  + 0.01 - _cut_membership(_matrix(res.footprints, n).tocsc(), cuts) @ cut_duals)
    assert np.allclose(got, np.sort(res.reduced_costs), atol=1e-12)


@pytest.fixture(scope="module")
def south_west_duals(place_model):
    """The South West place problem and the duals of its set-partitioning LP over every candidate."""
    from scipy.optimize import linprog

    problem = Problem.from_scenario(_place("region_south_west.toml"), place_model)
    C, costs = ExactSolver(problem).candidates()
    lp = linprog(costs, A_eq=C.T.tocsr(), b_eq=np.ones(C.shape[1]), bounds=(0, None), method="highs")
    assert lp.status == 0
    return problem, lp.eqlin.marginals


def test_pruned_walk_keeps_every_footprint_below_the_cut_off_and_bounds_the_rest(south_west_duals):
    """Branch and bound in the walk: every footprint pricing below the cut-off is still found, branches are
    skipped, and the bound it reports is never above the lowest reduced cost of all (nor below the cut-off when
    nothing prices under it)."""
    problem, duals = south_west_duals
    scan = FootprintScan(problem)
    rng = np.random.default_rng(5)
    free = np.flatnonzero(scan.free)
    # Duals a little off the LP's, as in column generation's walks: some footprints price out.
    y = duals * rng.uniform(0.97, 1.06, len(duals))
    cuts = [tuple(sorted(rng.choice(free, 3, replace=False).tolist())) for _ in range(40)]
    cut_duals = -rng.uniform(0.0, 0.01, len(cuts))
    kw = dict(constant=-0.01, cuts=cuts, cut_duals=cut_duals)
    full = scan.scan(y, threshold=np.inf, keep=10 ** 6, **kw)
    assert full.visited == 199_560 and full.lower_bound == full.min_reduced_cost
    assert full.min_reduced_cost < -0.002

    def key(f):
        return tuple(sorted(int(i) for i in f))

    for cutoff in (full.min_reduced_cost / 2, -0.001, 0.0):
        pruned = scan.scan(y, threshold=cutoff, keep=10 ** 6, exact_below=cutoff, **kw)
        want = {key(f) for f, r in zip(full.footprints, full.reduced_costs) if r < cutoff}
        got = {key(f) for f, r in zip(pruned.footprints, pruned.reduced_costs) if r < cutoff}
        assert got == want and len(want) > 0
        assert pruned.pruned > 0 and pruned.visited < full.visited
        assert pruned.min_reduced_cost == pytest.approx(full.min_reduced_cost, abs=1e-12)
        assert min(full.min_reduced_cost, cutoff) - 1e-12 <= pruned.lower_bound <= full.min_reduced_cost + 1e-12
    # With no footprint below the cut-off, the bound still holds and may prove it.
    low = full.min_reduced_cost - 0.01
    none = scan.scan(y, threshold=low, keep=10, exact_below=low, **kw)
    assert none.footprints == [] and low <= none.lower_bound <= full.min_reduced_cost + 1e-12
    assert none.visited < full.visited / 2


def test_pruned_walk_keeps_every_footprint_below_the_cut_off_at_todays_prices(place_model):
    """Today's prices (people moved and ICBs split priced; the legacy list above prices neither): the branch and
    bound still skips no footprint pricing below the cut-off (the South West at place level, at its LP's duals, a
    little off)."""
    from scipy.optimize import linprog

    text = (SCENARIOS / "region_south_west.toml").read_text().replace('level = "sicbl"', 'level = "place"')
    problem = Problem.from_scenario(parse_scenario(text, "south_west"), place_model)
    weights = problem.params.weights
    assert weights["people_moved"] > 0 and weights["icbs_split"] > 0
    C, costs = ExactSolver(problem).candidates()
    lp = linprog(costs, A_eq=C.T.tocsr(), b_eq=np.ones(C.shape[1]), bounds=(0, None), method="highs")
    assert lp.status == 0
    y = lp.eqlin.marginals * np.random.default_rng(3).uniform(0.97, 1.06, C.shape[1])
    scan = FootprintScan(problem)
    full = scan.scan(y, threshold=np.inf, keep=10 ** 6)
    assert full.min_reduced_cost < -0.002

    def key(f):
        return tuple(sorted(int(i) for i in f))

    for cutoff in (full.min_reduced_cost / 2, -0.001):
        pruned = scan.scan(y, threshold=cutoff, keep=10 ** 6, exact_below=cutoff)
        want = {key(f) for f, r in zip(full.footprints, full.reduced_costs) if r < cutoff}
        assert {key(f) for f, r in zip(pruned.footprints, pruned.reduced_costs) if r < cutoff} == want
        assert pruned.visited < full.visited / 2
        assert min(full.min_reduced_cost, cutoff) - 1e-12 <= pruned.lower_bound <= full.min_reduced_cost + 1e-12


def test_walk_past_its_deadline_proves_nothing(london):
    import time

    problem = london[0]
    res = FootprintScan(problem).scan(threshold=0.0, deadline=time.perf_counter() - 1.0)
    assert not res.complete and res.visited == 0 and res.lower_bound == -np.inf


def test_walk_gives_the_same_answer_on_one_thread_and_on_two(place_model):
    problem = Problem.from_scenario(_place("region_south_west.toml"), place_model)
    rng = np.random.default_rng(0)
    duals = rng.uniform(0.0, 0.03, place_model.n_blocks)
    for per_root in (False, True):
        one = FootprintScan(problem, workers=1).scan(duals, threshold=0.0, keep=2_000, per_root=per_root)
        two = FootprintScan(problem, workers=2).scan(duals, threshold=0.0, keep=2_000, per_root=per_root)
        assert one.visited == two.visited == 199_560
        assert one.min_reduced_cost == two.min_reduced_cost
        assert one.threshold == two.threshold
        # The same footprints in the same order (the pool, and so the master's duals, do not depend on timing).
        assert [f.tolist() for f in one.footprints] == [f.tolist() for f in two.footprints]
        assert np.array_equal(one.reduced_costs, two.reduced_costs)
        assert 0 < len(one.footprints) <= 2_000


@pytest.mark.parametrize("name", ["region_south_west.toml", "region_north_east_and_yorkshire.toml"])
def test_bound_proves_the_exact_solvers_optimum_from_the_sub_icb_start(name, place_model):
    """From the sub-ICB answer refined to places (worse than the place optimum), the priced column generation
    converges, proves the exact solver's optimum and returns a configuration that scores it."""
    scenario = _place(name)
    problem = Problem.from_scenario(scenario, place_model)
    exact = ExactSolver(problem)
    exact.solve()
    start = sicbl_warm_start(scenario, place_model, problem)
    assert problem.objective(start.assignment) > exact.objective_ + 1e-6
    proof = enumerated_bound(problem, start)
    assert proof.converged and proof.proven_optimal
    assert proof.objective == pytest.approx(exact.objective_, abs=1e-9)
    assert proof.bound == pytest.approx(exact.objective_, abs=1e-9)
    assert problem.objective(proof.configuration.assignment) == pytest.approx(proof.objective, abs=1e-9)
    assert not problem.violations(proof.configuration)


def test_bound_stopped_early_is_still_below_the_optimum(place_model):
    problem = Problem.from_scenario(_place("region_london.toml"), place_model)
    exact = ExactSolver(problem)
    exact.solve()
    start = sicbl_warm_start(_place("region_london.toml"), place_model, problem)
    runs = [enumerated_bound(problem, start, max_walks=k) for k in range(1, 9)]
    # Searching walks prove nothing: a bound comes with the first proving walk, and only rises after it.
    bounds = [r.bound for r in runs if r.bound is not None]
    assert runs[0].bound is None and runs[0].stats["proving_walks"] == 0
    assert len(bounds) >= 2 and bounds[0] < exact.objective_ - 1e-6
    assert all(b <= exact.objective_ + 1e-9 for b in bounds)
    assert all(a <= b for a, b in zip(bounds, bounds[1:]))
    # Deterministic: the same walks, pool and bound again.
    again = enumerated_bound(problem, start, max_walks=8)
    assert again.bound == runs[-1].bound and again.stats["pool"] == runs[-1].stats["pool"]


def test_auto_at_place_level_proves_the_local_search_answer(place_model, monkeypatch):
    """With the exact solver out of the way, ``auto`` runs the local search, then proves (or improves) its answer:
    status optimal, gap 0, the exact optimum."""
    scenario = _place("region_south_west.toml")
    exact = ExactSolver(Problem.from_scenario(scenario, place_model))
    exact.solve()
    monkeypatch.setattr(run_module, "PLACE_EXACT_LIMIT", 1)
    s = optimise(scenario, place_model, seed=0, iterations=2_000)
    assert s.name == "local_search" and "exact_not_used" in s.stats_
    assert s.status_ == "optimal" and s.gap_ == 0.0
    assert s.objective_ == pytest.approx(exact.objective_, abs=1e-9)
    assert s.stats_["proof"]["candidates"] == 199_560
    written = json.loads(json.dumps(s.solution_dict()))  # what solution.json records
    assert written["status"] == "optimal" and written["gap"] == 0.0
    assert written["stats"]["proof"]["proven_optimal"] is True and written["stats"]["proof"]["walks"] >= 1


def test_auto_reports_why_there_is_no_bound_when_candidates_are_too_many(place_model, monkeypatch):
    scenario = _place("region_south_west.toml")
    monkeypatch.setattr(run_module, "PLACE_EXACT_LIMIT", 1)
    monkeypatch.setattr(run_module, "PLACE_PROOF_LIMIT", 1_000)
    s = optimise(scenario, place_model, seed=0, iterations=500)
    # The gap is then against the term-wise bound, which holds but is wide.
    assert s.status_ == "feasible" and s.bound_method_ is BoundMethod.TERM_WISE
    assert s.bound_ == pytest.approx(term_bound(s.problem).bound, abs=1e-12) and 0.0 < s.gap_ < 0.5
    assert "more than 1,000 candidate footprints" in s.stats_["proof_not_run"]


def test_scorer_and_walk_agree_on_national_footprints(place_model):
    """Costs on England's whole place graph (regions crossed, every authority and network): the walk's kept
    footprints priced by the scorer."""
    problem = Problem.from_scenario(_place("national_default.toml"), place_model)
    scan = FootprintScan(problem)
    scan.roots = scan.roots[-40:]  # the highest-numbered roots: a small, complete slice of the walk
    res = scan.scan(threshold=np.inf, keep=20_000)
    assert 0 < len(res.footprints) <= 20_000
    C = _matrix(res.footprints, place_model.n_blocks)
    costs = scorer(place_model, problem.params).costs(C)
    assert np.abs(costs - res.reduced_costs).max() < 1e-9


def test_auto_skips_the_proof_when_the_time_limit_leaves_too_little(place_model, monkeypatch):
    scenario = _place("region_south_west.toml")
    monkeypatch.setattr(run_module, "PLACE_EXACT_LIMIT", 1)
    s = optimise(scenario, place_model, seed=0, iterations=500, time_limit=10.0)
    assert s.status_ == "feasible" and s.configuration_ is not None
    assert s.bound_method_ is BoundMethod.TERM_WISE and "proof" not in s.stats_
    assert "too little to count and walk" in s.stats_["proof_not_run"]


@pytest.mark.parametrize("name", ["region_london.toml", "region_south_west.toml"])
def test_footprint_limit_holds_for_the_optimum_and_is_tighter_than_counting_blocks(name, place_model):
    """The Lagrangian bound multiplies the lowest reduced cost by the most footprints a configuration as good as
    the answer can have: the proven optimum (and today's map, which is worse) must fit under it."""
    from simulator.solvers.bound import max_free_footprints

    problem = Problem.from_scenario(_place(name), place_model)
    exact = ExactSolver(problem)
    exact.solve()
    free = FootprintScan(problem).free
    limit = max_free_footprints(problem, exact.objective_, free)
    a = exact.configuration_.assignment
    assert len(np.unique(a[free])) <= limit < free.sum()
    today = problem.start.assignment
    worse = problem.objective(today)
    assert len(np.unique(today[free])) <= max_free_footprints(problem, worse, free)

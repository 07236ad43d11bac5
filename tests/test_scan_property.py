"""The walk prices every footprint it visits as a fresh ``FootprintScorer`` does, on random models and weights."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from boundaries.finance import FIELDS
from boundaries.providers import Providers
from simulator.metrics.score import TERM_NAMES, FootprintScorer
from simulator.model import Model, load_model
from simulator.scenario import parse_scenario
from simulator.solvers import Problem
from simulator.solvers import scan as scan_module
from simulator.solvers.scan import WALK_TERMS, FootprintScan, Prices
from tests.synthetic import synthetic_inputs

# A nonzero weight for every term the walk prices, change from today included.
weights = st.fixed_dictionaries({t: st.floats(0.01, 5.0) for t in WALK_TERMS})
per_block = st.lists(st.floats(0.5, 2.0), min_size=6, max_size=6)  # a figure per block, as a factor
MAX_REAL = 200_000  # most candidates of a real example (the North West's pass that above 2.5 million people)


def _scenario(level: str, band: tuple[float, float], w: dict[str, float], constraints: str = "") -> str:
    lines = "\n".join(f"{t} = {v!r}" for t, v in w.items())
    return (f'level = "{level}"\npopulation_measure = "gp_registered"\nband = [{band[0]!r}, {band[1]!r}]\n'
            f"[weights]\n{lines}\n[constraints]\ncontiguity = true\n{constraints}")


def _walk_matches_scorer(problem: Problem) -> np.ndarray:
    """Walk every candidate (no duals, everything kept) and check each cost against a fresh scorer; returns the
    terms of the footprints visited (footprint x term)."""
    scan = FootprintScan(problem, workers=1)
    res = scan.scan(threshold=np.inf, keep=10 ** 6)
    assert res.complete and len(res.footprints) == res.visited
    fresh = FootprintScorer(problem.model, problem.params)  # not the model's cached one: built from scratch
    assert np.all(fresh.weights[[TERM_NAMES.index(t) for t in WALK_TERMS]] > 0)
    if not res.visited:
        return np.zeros((0, len(TERM_NAMES)))
    rows = np.concatenate([np.full(len(f), i) for i, f in enumerate(res.footprints)])
    C = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(res.footprints))),
                      shape=(len(res.footprints), problem.model.n_blocks))
    np.testing.assert_allclose(res.reduced_costs, fresh.costs(C), rtol=1e-9, atol=1e-9)
    assert res.min_reduced_cost == pytest.approx(res.reduced_costs.min(), abs=1e-12)
    return fresh.contributions(C)


def _synthetic(pops, per_head, target, flow_factor, moved) -> Model:
    """The synthetic layout (tests/synthetic.py) with these populations, allocation and target per head, primary
    care, prescribing and GP payments, and flows (factors per block); with ``moved``, block S4 is in ICB B on
    today's map (then today's ICBs have one, two and three blocks)."""
    inp = synthetic_inputs()
    fig = inp.figures.copy()
    pops = np.asarray(pops, dtype=float)
    # Each figure per head is the synthetic ICB's (A, B, C differ) times the factor: England's spreads and £ at
    # stake, the terms' denominators, stay well away from 0 even when every factor is 1.
    icb = np.array([1.0, 1.1, 0.95, 1.0, 1.1, 0.95])
    head, aim = icb * np.asarray(per_head), icb[[1, 2, 0, 4, 5, 3]] * np.asarray(target)
    fig["pop_gp_registered"] = pops
    fig["pop_allocation"] = pops * np.asarray(per_head)[::-1]  # not proportional to the band's measure
    fig["core_recurrent_gbp_k"] = fig["pop_allocation"] * 1.9 * head
    fig["core_total_gbp_k"] = fig["core_recurrent_gbp_k"]
    fig["core_target_gbp_k"] = fig["pop_allocation"] * 1.9 * aim
    fig["pmc_gbp_k"] = pops * 0.2 * aim
    fig["prescribing_nic_gbp"] = pops * 180.0 * head
    fig["gp_payments_gbp"] = pops * 170.0 * aim[::-1]
    inp.figures = fig[list(FIELDS)]
    pv = inp.providers
    inp.providers = Providers(pv.trusts, sp.csr_matrix(pv.flows.toarray() * np.asarray(flow_factor)[:, None]),
                              pv.networks)
    if moved:
        blocks = inp.geography.blocks
        for col, value in (("icb26_code", "B"), ("icb26_ods", "QB"), ("icb26_name", "ICB B")):
            blocks.loc[3, col] = value
    return Model.from_inputs(inp)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pops=st.lists(st.floats(100_000, 1_500_000), min_size=6, max_size=6), per_head=per_block, target=per_block,
       flows=per_block, moved=st.booleans(), floor=st.floats(200_000, 2_000_000), width=st.floats(1_000, 3_000_000),
       w=weights)
def test_walk_costs_synthetic_footprints_as_the_scorer(pops, per_head, target, flows, moved, floor, width, w):
    """Six blocks, random figures, band and weights: every connected footprint under the cap, costed alike."""
    model = _synthetic(pops, per_head, target, flows, moved)
    problem = Problem.from_scenario(parse_scenario(_scenario("sicbl", (floor, floor + width), w), "random"), model)
    _walk_matches_scorer(problem)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pops=st.lists(st.floats(100_000, 1_500_000), min_size=6, max_size=6), per_head=per_block, target=per_block,
       flows=per_block, moved=st.booleans(), floor=st.floats(200_000, 2_000_000), width=st.floats(1_000, 3_000_000),
       w=weights, duals=st.lists(st.floats(0.0, 5.0), min_size=6, max_size=6), cut=st.floats(-3.0, 3.0))
def test_pruned_walk_keeps_every_synthetic_footprint_below_the_cut_off(pops, per_head, target, flows, moved, floor,
                                                                       width, w, duals, cut):
    """With every term weighted (the alignment rewards of authorities and councils included) and random block
    duals, the branch and bound skips no footprint pricing below the cut-off, and its bound holds."""
    model = _synthetic(pops, per_head, target, flows, moved)
    problem = Problem.from_scenario(parse_scenario(_scenario("sicbl", (floor, floor + width), w), "random"), model)
    scan = FootprintScan(problem, workers=1)
    y = np.asarray(duals)
    full = scan.scan(y, threshold=np.inf, keep=10 ** 6)
    pruned = scan.scan(y, threshold=cut, keep=10 ** 6, exact_below=cut)
    below = {tuple(sorted(f.tolist())) for f, r in zip(full.footprints, full.reduced_costs) if r < cut}
    assert below <= {tuple(sorted(f.tolist())) for f in pruned.footprints}
    assert pruned.lower_bound <= full.min_reduced_cost + 1e-9
    if below:
        assert pruned.min_reduced_cost == pytest.approx(full.min_reduced_cost, abs=1e-9)


@pytest.fixture(scope="module")
def sicbl_today(data_dir):
    """Sub-ICB locations on today's map (April 2026), the default baseline."""
    return load_model("sicbl", data_dir)


@pytest.mark.integration
def test_walk_costs_real_sub_icb_footprints_as_the_scorer(sicbl_today):
    """One region's free blocks at a time, random band and weights: every candidate the walk visits is costed as
    the scorer costs it."""
    regions = sorted(set(sicbl_today.blocks.region_ods))
    visited = []

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(region=st.sampled_from(regions), floor=st.floats(500_000, 2_500_000), width=st.floats(1_000, 1_000_000),
           w=weights)
    @example(region="Y62", floor=1_500_000.0, width=1_000_000.0, w={t: 1.0 for t in WALK_TERMS})  # North West
    def check(region, floor, width, w):
        text = _scenario("sicbl", (floor, floor + width), w, f'within_region = true\nonly_regions = ["{region}"]\n')
        problem = Problem.from_scenario(parse_scenario(text, region), sicbl_today)
        assume(FootprintScan(problem).count(MAX_REAL) <= MAX_REAL)  # the North West's grow fast with the cap
        visited.append(len(_walk_matches_scorer(problem)))

    check()
    assert max(visited) > 100_000  # the North West's 127,160 at least, not only small regions


def test_the_synthetic_walk_exercises_every_term():
    """On one synthetic case, every term the walk prices is nonzero for some footprint it visits (so the random
    cases above test each term's price, change from today included)."""
    model = _synthetic([300_000, 500_000, 900_000, 400_000, 700_000, 300_000], [1.0, 1.2, 0.8, 1.1, 0.9, 1.0],
                       [1.0, 0.9, 1.1, 1.0, 1.2, 0.8], [1.0] * 6, True)
    w = {t: 1.0 for t in WALK_TERMS}
    parts = _walk_matches_scorer(Problem.from_scenario(parse_scenario(_scenario("sicbl", (8e5, 2e6), w), "all"), model))
    exercised = {t for j, t in enumerate(TERM_NAMES) if (np.abs(parts[:, j]) > 0).any()}
    assert exercised == set(WALK_TERMS)


def test_every_term_of_the_score_is_priced_by_the_walk():
    """``WALK_TERMS`` names real terms and real fields of ``Prices``, and today leaves no term out."""
    assert set(WALK_TERMS) == set(TERM_NAMES)
    assert set(WALK_TERMS.values()) <= set(Prices._fields)


def test_walk_refuses_a_weighted_term_it_does_not_price(monkeypatch):
    """A term with a nonzero weight that the walk does not list stops it with a clear error; at weight 0 it is
    fine to leave out."""
    model = _synthetic([500_000] * 6, [1.0] * 6, [1.0] * 6, [1.0] * 6, False)
    w = {t: 1.0 for t in TERM_NAMES}
    monkeypatch.setattr(scan_module, "WALK_TERMS", {t: f for t, f in WALK_TERMS.items() if t != "icbs_split"})
    priced = Problem.from_scenario(parse_scenario(_scenario("sicbl", (1e6, 2e6), w), "new term"), model)
    with pytest.raises(NotImplementedError, match="icbs_split"):
        FootprintScan(priced)
    w["icbs_split"] = 0.0
    FootprintScan(Problem.from_scenario(parse_scenario(_scenario("sicbl", (1e6, 2e6), w), "unpriced"), model))

"""Change from today and a band that binds: the two change terms by hand on the synthetic model, their properties
(an ICB already in band is left alone when only the band and change count), the walk pricing them as the scorer
does, and, on the real data, the national default's merged footprints all in band as with a hard floor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boundaries.finance import FIELDS
from simulator.configuration import Configuration
from simulator.metrics import evaluate
from simulator.metrics.evaluate import MetricParameters
from simulator.metrics.score import TERM_NAMES, TERM_UNITS, TERMS, scorer
from simulator.model import Model
from simulator.scenario import load_scenario, parse_scenario
from simulator.solvers import ExactSolver, Problem
from tests.synthetic import POP, synthetic_inputs, synthetic_model

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
ONLY_CHANGE = ("population_band", "people_moved", "icbs_split")


@pytest.fixture(scope="module")
def model():
    return synthetic_model()


def _config(model, mapping: dict[str, str]) -> Configuration:
    return Configuration.from_mapping(model, mapping)


# ------------------------------------------------------------------------------------------- by hand (synthetic)
def test_every_term_has_a_unit():
    assert set(TERM_UNITS) == set(TERMS) == set(TERM_NAMES)


def test_today_changes_nothing(model):
    e = evaluate(model, Configuration.baseline(model))
    assert e.terms["people_moved"] == 0 and e.terms["icbs_split"] == 0
    ch = e.overall["change_from_today"]
    assert ch["people_moved"] == 0 and ch["today_icbs_split"] == 0 and ch["footprints_unchanged"] == 3


def test_whole_merger_moves_the_smaller_partner_and_splits_nothing(model):
    # A = S1 + S4 (1.0m GP-registered x 1.01), B = S2 + S5 (1.2m): A's people change ICB.
    c = _config(model, {"S1": "AB", "S4": "AB", "S2": "AB", "S5": "AB", "S3": "C", "S6": "C"})
    e = evaluate(model, c)
    gp = POP * 1.01
    assert e.terms["people_moved"] == pytest.approx((gp[0] + gp[3]) / 100_000)
    assert e.terms["icbs_split"] == 0
    ch = e.overall["change_from_today"]
    assert ch["whole_icb_mergers"] == 1 and ch["today_icbs_split"] == 0
    row = e.footprints.set_index("footprint").loc["AB"]
    assert row.largest_today_icb == "ICB B" and row.today_icbs_split == []


def test_a_split_counts_its_extra_piece_and_the_people_who_leave(model):
    # S4 leaves A for B: A is cut in two (one extra piece); S4's 400k change ICB.
    c = _config(model, {"S1": "A", "S4": "B", "S2": "B", "S5": "B", "S3": "C", "S6": "C"})
    e = evaluate(model, c)
    assert e.terms["icbs_split"] == 1
    assert e.terms["people_moved"] == pytest.approx(POP[3] * 1.01 / 100_000)
    ch = e.overall["change_from_today"]
    assert ch["today_icbs_split_names"] == ["ICB A"] and ch["extra_pieces"] == 1


def test_change_terms_are_per_footprint_sums(model):
    """The scorer prices each footprint alone, and the sum over footprints is the evaluated term."""
    c = _config(model, {"S1": "A", "S4": "B", "S5": "B", "S2": "C", "S3": "C", "S6": "C"})
    sc = scorer(model, MetricParameters())
    C = np.zeros((c.n_footprints, model.n_blocks))
    C[c.assignment, np.arange(model.n_blocks)] = 1
    parts = sc.contributions(C)
    terms = evaluate(model, c).terms
    for t in ("people_moved", "icbs_split"):
        j = TERM_NAMES.index(t)
        assert sc.offsets[j] + parts[:, j].sum() == pytest.approx(terms[t])


# ------------------------------------------------------------------------------------------- properties
def _model_with(pops: list[float]) -> Model:
    """The synthetic layout with these GP-registered populations (blocks S1..S6)."""
    inp = synthetic_inputs()
    fig = inp.figures.copy()
    fig["pop_gp_registered"] = np.asarray(pops, dtype=float)
    inp.figures = fig[list(FIELDS)]
    return Model.from_inputs(inp)


def _only_change(model, band_w: float, moved_w: float, split_w: float) -> Problem:
    weights = {t: 0.0 for t in TERMS}
    weights.update(population_band=band_w, people_moved=moved_w, icbs_split=split_w)
    lines = "\n".join(f"{k} = {v!r}" for k, v in weights.items())
    text = f'level = "sicbl"\nband = [1_500_000, 2_500_000]\n[weights]\n{lines}\n[constraints]\ncontiguity = true\n'
    return Problem.from_scenario(parse_scenario(text, "only band and change"), model)


# Each ICB (two blocks) in band: 1.5-2.5m between its two blocks.
in_band_icbs = st.lists(st.tuples(st.integers(1_500_000, 2_500_000), st.floats(0.2, 0.8))
                        .map(lambda t: (int(t[0] * t[1]), t[0] - int(t[0] * t[1]))), min_size=3, max_size=3)
weights = st.tuples(st.floats(0.05, 20.0), st.floats(0.001, 5.0), st.floats(0.001, 5.0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(in_band_icbs, weights)
def test_icbs_in_band_are_neither_split_nor_merged(icbs, w):
    """With only the band and change from today, today's map is the optimum when every ICB is in band."""
    (a1, a2), (b1, b2), (c1, c2) = icbs
    model = _model_with([a1, b1, c1, a2, b2, c2])  # S1 S2 S3 / S4 S5 S6; ICB A = S1+S4, B = S2+S5, C = S3+S6
    problem = _only_change(model, *w)
    s = ExactSolver(problem)
    s.solve()
    assert s.status_ == "optimal"
    assert s.configuration_.same_partition(Configuration.baseline(model))


# ------------------------------------------------------------------------------------------- the walk prices them
@pytest.mark.integration
def test_walk_prices_change_from_today_as_the_scorer(place_model_2026):
    """At place level in London (today's map), with the default weights (change from today priced), every
    footprint the walk visits costs what the scorer says."""
    import scipy.sparse as sp

    from simulator.solvers.scan import FootprintScan

    text = (SCENARIOS / "region_london.toml").read_text().replace('level = "sicbl"', 'level = "place"')
    problem = Problem.from_scenario(parse_scenario(text, "london"), place_model_2026)
    sc = scorer(place_model_2026, problem.params)
    assert sc.weights[TERM_NAMES.index("people_moved")] > 0 and sc.weights[TERM_NAMES.index("icbs_split")] > 0
    res = FootprintScan(problem).scan(threshold=np.inf, keep=10 ** 6)
    assert res.visited > 1000 and len(res.footprints) == res.visited
    rows = np.concatenate([np.full(len(f), i) for i, f in enumerate(res.footprints)])
    C = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(res.footprints))),
                      shape=(len(res.footprints), place_model_2026.n_blocks))
    assert np.abs(sc.costs(C) - res.reduced_costs).max() < 1e-9
    # Some of them split one of today's ICBs or move people: the terms are really exercised.
    parts = sc.contributions(C)
    assert (parts[:, TERM_NAMES.index("people_moved")] > 0).any()


# ------------------------------------------------------------------------------------------- the band binds (real)
@pytest.mark.integration
def test_national_default_merges_only_into_the_band_as_a_hard_floor_would(today_model):
    """From today's 36 ICBs, the default weights' optimum has no merged footprint outside the band; solved again
    with the band's floor hard, it pays no less for the band: the soft band binds wherever an in-band
    configuration exists."""
    scenario = load_scenario(SCENARIOS / "national_default.toml")
    assert scenario.baseline == "2026" and scenario.level == "icb2026"
    soft = ExactSolver(Problem.from_scenario(scenario, today_model))
    soft.solve()
    assert soft.status_ == "optimal"
    hard_scenario = parse_scenario((SCENARIOS / "national_default.toml").read_text()
                                   + "population_floor = { value = 1_500_000, hard = true }\n", "hard floor")
    hard = ExactSolver(Problem.from_scenario(hard_scenario, today_model))
    hard.solve()
    assert hard.status_ == "optimal"
    ev = evaluate(today_model, soft.configuration_, scenario.params)
    fp = ev.footprints
    merged = fp[fp.today_icbs.map(len) > 1]
    assert len(merged) >= 5
    assert (merged.band_status == "in band").all(), merged[["footprint", "population"]]
    # Outside the band are only today's ICBs above the ceiling, standing alone (nothing can bring them in).
    outside = fp[fp.band_status != "in band"]
    assert (outside.today_icbs.map(len) == 1).all() and (outside.band_status == "above band").all()
    hard_ev = evaluate(today_model, hard.configuration_, scenario.params)
    assert ev.terms["population_band"] == pytest.approx(hard_ev.terms["population_band"])

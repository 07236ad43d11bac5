"""Unit tests on a six-block synthetic model whose metrics are worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from simulator import Configuration, ConfigurationError, MetricParameters, evaluate
from simulator.incremental import MoveEvaluator
from simulator.io import dissolve, footprint_features, outputs, write_outputs
from simulator.errors import OutputError
from tests.synthetic import FLOWS, PER_HEAD, POP, TARGET_PER_HEAD, synthetic_model


@pytest.fixture(scope="module")
def model():
    return synthetic_model()


def merged_ab(model) -> Configuration:
    return Configuration.from_mapping(model, {"S1": "AB", "S4": "AB", "S2": "AB", "S5": "AB", "S3": "C", "S6": "C"})


# --------------------------------------------------------------------------------------- configuration
def test_baseline_is_todays_icbs(model):
    c = Configuration.baseline(model)
    assert sorted(c.names) == ["ICB A", "ICB B", "ICB C"]
    assert c.mapping()["S4"] == "ICB A"


def test_codes_are_case_insensitive_and_accept_ods(model):
    c = Configuration.from_mapping(model, {"s1": "X", "S2": "X", "S3": "Y", "s4": "X", "S5": "X", "S6": "Y"})
    assert c.n_footprints == 2


@pytest.mark.parametrize("mapping, message", [
    ({"S1": "X", "S2": "X", "S3": "X", "S4": "X", "S5": "X"}, "1 sicbl block(s) are not assigned: S6"),
    ({"S1": "X", "S2": "X", "S3": "X", "S4": "X", "S5": "X", "S6": "X", "S9": "X"},
     ": 1 code is not a sicbl block: S9"),
    ({"S1": "X", "S2": "X", "S3": "X", "S4": "X", "S5": "X", "S6": "X", "S8": "X", "S9": "X"},
     ": 2 codes are not sicbl blocks: S8, S9"),
    ([("S1", "X"), ("S1", "Y"), ("S2", "X"), ("S3", "X"), ("S4", "X"), ("S5", "X"), ("S6", "X")],
     "more than once: S1"),
    ({"S1": "X", "S3": "X", "S2": "Y", "S4": "Y", "S5": "Y", "S6": "Y"}, "non-contiguous footprint(s): X (2 separate"),
    ({"S1": "X", "S2": " ", "S3": "X", "S4": "X", "S5": "X", "S6": "X"}, "empty footprint name"),
])
def test_bad_configurations_are_rejected(model, mapping, message):
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Configuration.from_mapping(model, mapping)


def test_noncontiguous_allowed_when_asked(model):
    c = Configuration.from_mapping(model, {"S1": "X", "S3": "X", "S2": "Y", "S4": "Y", "S5": "Y", "S6": "Y"},
                                   allow_noncontiguous=True)
    assert c.noncontiguous_footprints() == [("X", 2)]


def test_codes_of_another_level_get_a_hint(model):
    with pytest.raises(ConfigurationError, match="look like icb codes"):
        Configuration.from_mapping(model, {"E54000008": "X"})


# --------------------------------------------------------------------------------------- metrics by hand
def test_population_band(model):
    e = evaluate(model, merged_ab(model), MetricParameters(population_measure="allocation", band=(1.5e6, 2.5e6)))
    fp = e.footprints.set_index("footprint")
    assert fp.loc["AB", "population"] == POP[[0, 1, 3, 4]].sum() == 2_200_000
    assert fp.loc["C", "population"] == 1_200_000
    assert fp.loc["C", "band_status"] == "below band"
    assert fp.loc["C", "persons_outside_band"] == 300_000
    assert e.terms["population_band"] == pytest.approx(300_000 / 100_000)  # per 100,000 people outside


def test_at_stake_and_winners_by_hand(model):
    e = evaluate(model, merged_ab(model))
    fp = e.footprints.set_index("footprint")
    wa, wb = POP[[0, 3]].sum(), POP[[1, 4]].sum()
    aa, ab = wa * PER_HEAD["A"], wb * PER_HEAD["B"]
    mean = (aa + ab) / (wa + wb)
    assert fp.loc["AB", "allocation_per_head"] == pytest.approx(mean)
    # A (below the mean) gains; B loses the same amount.
    assert fp.loc["AB", "at_stake_gbp"] == pytest.approx(mean * wa - aa)
    ta, tb = wa * TARGET_PER_HEAD["A"], wb * TARGET_PER_HEAD["B"]
    need_a = (aa + ab) / (ta + tb) * ta - aa
    assert fp.loc["AB", "at_stake_need_adjusted_gbp"] == pytest.approx(abs(need_a))
    part = e.partners.set_index("icb_code")
    assert part.loc["A", "change_per_head_levelling_gbp"] == pytest.approx(mean * wa - aa)
    assert part.loc["B", "change_per_head_levelling_gbp"] == pytest.approx(aa - mean * wa)
    assert (fp.loc["AB", "winners"], fp.loc["AB", "losers"]) == (1, 1)
    sd = np.sqrt((wa * (PER_HEAD["A"] - mean) ** 2 + wb * (PER_HEAD["B"] - mean) ** 2) / (wa + wb))
    assert fp.loc["AB", "allocation_per_head_spread"] == pytest.approx(sd)
    assert fp.loc["C", "at_stake_gbp"] == 0


def test_localisation_by_hand(model):
    e = evaluate(model, merged_ab(model))
    fp = e.footprints.set_index("footprint")
    ab = [0, 1, 3, 4]
    # T1 (S1) and T2 (S5) are inside AB; T3 (S3) is in C.
    assert fp.loc["AB", "localisation_index"] == pytest.approx(FLOWS[ab][:, :2].sum() / FLOWS[ab].sum())
    assert fp.loc["C", "localisation_index"] == pytest.approx(FLOWS[[2, 5], 2].sum() / FLOWS[[2, 5]].sum())
    base = evaluate(model, Configuration.baseline(model)).footprints.set_index("footprint")
    assert base.loc["ICB A", "localisation_index"] == pytest.approx(FLOWS[[0, 3], 0].sum() / FLOWS[[0, 3]].sum())


def test_major_trust_sharing(model):
    base = evaluate(model, Configuration.baseline(model))
    # T1's catchment: A 800k, B 300k (27%): shared by two footprints today, not once A and B merge.
    assert base.overall["major_trusts_shared"] == 1
    assert evaluate(model, merged_ab(model)).overall["major_trusts_shared"] == 0


def test_pathology_and_authorities(model):
    base = evaluate(model, Configuration.baseline(model))
    net = base.networks.iloc[0]
    assert net.split and net.trust_share_in_one_footprint == 0.5 and net.n_inferred == 1
    auth = base.authorities.iloc[0]
    assert auth.share_in_one_footprint == pytest.approx(600 / 1100) and auth.split
    merged = evaluate(model, merged_ab(model))
    assert not merged.networks.iloc[0].split
    assert merged.authorities.iloc[0].share_in_one_footprint == 1.0
    assert merged.overall["footprints_crossing_authority_boundary"] == 0


def test_regions_and_bodies(model):
    c = Configuration.from_mapping(model, {"S1": "A", "S4": "A", "S2": "BC", "S5": "BC", "S3": "BC", "S6": "BC"})
    e = evaluate(model, c)
    assert e.overall["footprints_crossing_regions"] == 1
    assert e.terms["regions_crossed"] == pytest.approx(1.0)  # one extra region, counted in regions
    assert e.terms["statutory_bodies"] == pytest.approx(2.0)  # counted in footprints
    assert e.overall["statutory_bodies"] == 2


def test_score_is_weighted_sum(model):
    e = evaluate(model, merged_ab(model), MetricParameters(weights={"flow_leakage": 3.0}))
    assert e.score == pytest.approx(sum(e.weights[k] * v for k, v in e.terms.items()))
    assert e.weights["flow_leakage"] == 3.0
    assert all(v >= 0 for v in e.terms.values())


# --------------------------------------------------------------------------------------- incremental
def test_incremental_moves_match_full_evaluation(model):
    base = Configuration.baseline(model)
    ev = MoveEvaluator(model, base)
    assert ev.score == pytest.approx(evaluate(model, base).score)
    rng = np.random.default_rng(0)
    for _ in range(40):
        b = int(rng.integers(model.n_blocks))
        cands = ev.candidate_moves(b)
        if not cands:
            continue
        g = cands[int(rng.integers(len(cands)))]
        d = ev.delta(b, g)
        before = ev.score
        ev.apply(b, g)
        assert ev.score - before == pytest.approx(d)
        used = np.unique(ev.assignment)
        remap = np.full(ev.K, -1)
        remap[used] = np.arange(len(used))
        cfg = Configuration(model, remap[ev.assignment], [ev.names[i] for i in used])
        full = evaluate(model, cfg)
        assert ev.score == pytest.approx(full.score, rel=1e-9, abs=1e-12)


def test_candidate_moves_keep_contiguity(model):
    ev = MoveEvaluator(model, Configuration.baseline(model))
    # S2 cannot leave B... it can: B = {S2, S5} stays connected. S1 may join B (neighbour S2).
    assert ev.candidate_moves(0) == [ev.names.index("ICB B")]
    c = Configuration.from_mapping(model, {"S1": "X", "S2": "X", "S3": "X", "S4": "Y", "S5": "Y", "S6": "Y"})
    ev = MoveEvaluator(model, c)
    assert not ev.keeps_contiguity(1, 1)  # S2 leaving X would cut S1 from S3


# --------------------------------------------------------------------------------------- GeoJSON and output
def test_dissolve_is_one_oriented_polygon(model):
    geoms = dissolve(model, merged_ab(model))
    assert geoms[0].geom_type == "Polygon" and geoms[0].is_valid
    assert shapely.LinearRing(geoms[0].exterior.coords).is_ccw
    assert len(geoms[0].interiors) == 0
    assert geoms[0].area == pytest.approx(4 * 0.01)


def test_features_round_trip(model):
    c = merged_ab(model)
    fc = footprint_features(model, c, evaluate(model, c))
    doc = json.loads(json.dumps(fc))
    assert [f["properties"]["footprint"] for f in doc["features"]] == ["AB", "C"]
    assert sorted(doc["features"][0]["properties"]["members"]) == ["S1", "S2", "S4", "S5"]
    pairs = [(m, f["properties"]["footprint"]) for f in doc["features"] for m in f["properties"]["members"]]
    assert Configuration.from_mapping(model, pairs).same_partition(c)
    assert shape(doc["features"][1]["geometry"]).area == pytest.approx(0.02)


def test_write_outputs_is_all_or_nothing(model, tmp_path, monkeypatch):
    c = merged_ab(model)
    files = outputs(model, c, evaluate(model, c))
    out = tmp_path / "out"
    write_outputs(out, files)
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    # A failure while writing leaves nothing new behind.
    out2 = tmp_path / "out2"
    out2.mkdir()
    real = type(out2).write_text

    def failing(self, *a, **k):
        if self.name == "metrics.json":
            raise OSError(28, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(type(out2), "write_text", failing)
    with pytest.raises(OutputError, match="no output was kept"):
        write_outputs(out2, files)
    assert list(out2.iterdir()) == []


# --------------------------------------------------------------------------------------- solvers
def _problem(model, constraints: str = ""):
    from simulator.scenario import parse_scenario
    from simulator.solvers import Problem

    return Problem.from_scenario(parse_scenario(f'level = "sicbl"\n[constraints]\n{constraints}\n', "t"), model)


def test_explainer_names_the_two_conflicting_constraints(model):
    """Six footprints means every block alone; S1 and S2 must merge: relaxing either one fixes it, relaxing the
    unrelated must-not-merge pair does not."""
    from simulator.solvers import ExactSolver

    from simulator.solvers.explain import _deletion_filter

    problem = _problem(model, 'n_footprints = 6\nmust_merge = [["S1", "S2"]]\nmust_not_merge = [["S3", "S4"]]')
    s = ExactSolver(problem).solve()
    assert s.status == "infeasible"
    # The presolve sees it (five groups or blocks cannot make six footprints) and says so at once ...
    assert s.explanation == ["the number of footprints must be at least 6, but England (3.43m people) can make at "
                             "most 5 (one per group kept whole or block)"]
    # ... and the deletion filter, for conflicts the presolve cannot see, names the two rules.
    assert _deletion_filter(problem, ExactSolver) == ("the constraints conflict; relaxing any one of these makes the "
                                                      "scenario feasible: the number of footprints, keeping groups "
                                                      "whole (must-merge pair S1-S2)")


def test_local_search_bound_is_below_what_it_finds(model):
    from simulator.solvers import ExactSolver, LocalSearchSolver

    problem = _problem(model)
    best = ExactSolver(problem).solve().objective
    for iterations in (0, 2000):
        s = LocalSearchSolver(problem, bound=True, iterations=iterations)
        s.solve()
        assert s.bound_ is not None and np.isfinite(s.bound_)
        assert s.bound_ <= best + 1e-9 and s.bound_ <= s.objective_ + 1e-9
    # Contiguity off: the relaxation over connected footprints would not bound the search, so there is none.
    loose = LocalSearchSolver(_problem(model, "contiguity = false"), bound=True, iterations=100)
    loose.solve()
    assert loose.bound_ is None and loose.objective_ is not None

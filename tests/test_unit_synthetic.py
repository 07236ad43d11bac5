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


def test_upper_tier_councils_by_hand(model):
    """Today: every council whole but U3's sliver of 10,000 in ICB B (0.92%, within the 2% tolerance). S5 to ICB
    C: U2 is split (450,000 of its 1,070,000 left in B, no majority there), U3 whole."""
    base = evaluate(model, Configuration.baseline(model))
    u = base.councils.set_index("council_name")
    assert sorted(u.index) == ["County One", "Unitary Three", "Unitary Two"]
    assert u.loc["Unitary Three", "people_in_smaller_parts"] == 10_000
    assert u.loc["Unitary Three", "share_in_one_footprint"] == pytest.approx(1_080_000 / 1_090_000)
    assert u.loc["Unitary Three", "footprints"] == ["ICB C", "ICB B"] and not u.split.any()
    assert base.terms["upper_tier_split"] == pytest.approx(0.1)  # 10,000 people, per 100,000
    assert base.overall["upper_tier_councils_split"] == 0
    assert base.overall["upper_tier_people_in_smaller_parts"] == 10_000
    moved = Configuration.from_mapping(model, {"S1": "A", "S4": "A", "S2": "B", "S5": "C", "S3": "C", "S6": "C"})
    e = evaluate(model, moved, MetricParameters(weights={"upper_tier_split": 2.0}))
    u = e.councils.set_index("council_name")
    assert u.loc["Unitary Two", "split"] and u.loc["Unitary Two", "main_footprint"] == "C"
    assert u.loc["Unitary Two", "people_in_smaller_parts"] == 450_000
    assert u.loc["Unitary Three", "n_footprints"] == 1
    assert e.terms["upper_tier_split"] == pytest.approx(4.5)
    assert e.overall["upper_tier_councils_split_names"] == ["Unitary Two"]
    fp = e.footprints.set_index("footprint")
    assert fp.loc["B", "upper_tier_people_outside_majority"] == 450_000
    assert fp.loc["C", "upper_tier_people_outside_majority"] == 0
    assert fp.loc["B", "upper_tier_councils_split"] == ["Unitary Two"] == fp.loc["C", "upper_tier_councils_split"]
    # The term's weight prices it like any other: 2 per 100,000 people.
    unpriced = evaluate(model, moved, MetricParameters(weights={"upper_tier_split": 0.0}))
    assert e.score - unpriced.score == pytest.approx(2.0 * 4.5)
    # S4 alone: U1's 360,000 there are outside its majority footprint (S1's 540,000), as is U3's sliver.
    apart = evaluate(model, Configuration.from_mapping(model, {"S1": "A", "S4": "D", "S2": "B", "S5": "B", "S3": "C",
                                                               "S6": "C"}))
    county = apart.councils.set_index("council_name").loc["County One"]
    assert county.split and county.people_in_smaller_parts == 360_000
    assert apart.terms["upper_tier_split"] == pytest.approx(3.7)


def test_upper_tier_move_is_priced_incrementally(model):
    from simulator.metrics.score import TERMS

    params = MetricParameters(weights={**{t: 0.0 for t in TERMS}, "upper_tier_split": 1.0})
    ev = MoveEvaluator(model, Configuration.baseline(model), params)
    # S5 from B to C: U2's 620,000 there are a majority, its 450,000 in B are not (+4.5); U3's sliver joins
    # its majority (-0.1).
    assert ev.delta(4, ev.names.index("ICB C")) == pytest.approx(4.4)
    ev.apply(4, ev.names.index("ICB C"))
    assert ev.terms["upper_tier_split"] == pytest.approx(4.5)


def test_keep_upper_tier_councils_whole_within_the_tolerance(model):
    """U3's sliver in S5 (0.92%) is free at the default 2% tolerance; at 0.5% S5 joins U3's core, which chains U2
    and U3 together."""
    from simulator.constraints import build_constraints
    from simulator.errors import ScenarioError

    groups = {why: sorted(model.blocks.code[idx]) for idx, why in
              build_constraints(model, {"keep_whole": ["utla"]}).groups}
    assert groups == {"upper-tier council County One": ["S1", "S4"], "upper-tier council Unitary Two": ["S2", "S5"],
                      "upper-tier council Unitary Three": ["S3", "S6"]}
    tight = build_constraints(model, {"keep_whole": "utla", "upper_tier_tolerance": 0.005})
    assert sorted(model.blocks.code[tight.groups[2][0]]) == ["S3", "S5", "S6"]
    pop = model.population()
    today = Configuration.baseline(model).assignment
    assert build_constraints(model, {"keep_whole": ["utla"]}).violations(model, today, pop) == []
    assert tight.violations(model, today, pop) == ["upper-tier council Unitary Three is split"]
    for bad in (0.5, -0.01, "2%", True, float("nan")):
        with pytest.raises(ScenarioError, match="upper_tier_tolerance must be a share"):
            build_constraints(model, {"keep_whole": ["utla"], "upper_tier_tolerance": bad})


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


def test_a_unit_moves_as_its_blocks_one_at_a_time(model):
    """Moving a group at once re-prices the two footprints once, to the same score as moving its blocks in turn."""
    params = MetricParameters(weights={"upper_tier_split": 1.0})
    one, each = (MoveEvaluator(model, Configuration.baseline(model), params) for _ in range(2))
    to = one.names.index("ICB A")
    unit = np.array([1, 4])  # S2 and S5, all of ICB B
    one.apply_unit(unit, to)
    for b in unit:
        each.apply(int(b), to)
    assert one.score == each.score and one.terms == each.terms
    assert (one.assignment == each.assignment).all() and (one.size == each.size).all()
    with pytest.raises(ValueError, match="one footprint slot"):
        one.apply_unit(np.array([0, 2]), to)  # S1 and S3 are in different footprints


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


def test_solvers_keep_upper_tier_councils_whole(model):
    """At a 0.5% tolerance U2 and U3 share one footprint (S5 holds both): the exact solver and the local search,
    from a start that breaks the rule, both keep it."""
    from simulator.solvers import ExactSolver, LocalSearchSolver

    problem = _problem(model, 'keep_whole = ["utla"]\nupper_tier_tolerance = 0.005')
    for solver in (ExactSolver(problem), LocalSearchSolver(problem, iterations=500)):
        s = solver.solve()
        a = s.configuration.assignment
        assert problem.violations(s.configuration) == []
        assert len(set(a[[1, 2, 4, 5]])) == 1 and len(set(a[[0, 3]])) == 1


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


# --------------------------------------------------------------------------------------- the app's optimiser rules
def test_optimiser_toggles_add_to_a_scenarios_rules():
    from simulator.workspace import optimiser_rules

    rules = {"keep_whole": "icb", "n_footprints": 26, "contiguity": False}
    got = optimiser_rules(rules, keep_upper_tier=True, keep_districts=True, floor=1e6, min_acute_trusts=2)
    assert got == {"keep_whole": ["icb", "lad", "utla"], "n_footprints": 26, "contiguity": True,
                   "population_floor": {"value": 1e6, "hard": True}, "min_acute_trusts": 2}
    assert rules == {"keep_whole": "icb", "n_footprints": 26, "contiguity": False}  # the scenario's own is kept
    assert optimiser_rules({"keep_whole": ["utla"]})["keep_whole"] == ["utla"]  # a toggle off removes nothing
    assert optimiser_rules(None) == {"contiguity": True}

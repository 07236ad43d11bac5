"""Every metric family on the real data, checked against figures recomputed here from the raw CSVs.

The expected values are computed with pandas/numpy straight from the files in the data directory (see each
folder's SOURCES.md), never with the library's own helpers, so a bug in the library makes these fail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.configuration import Configuration
from simulator.metrics import MetricParameters, evaluate
from simulator.metrics.score import DEFAULT_WEIGHTS, TERMS

pytestmark = pytest.mark.integration

REL = 1e-6
CM, GM, LSC = "E54000008", "E54000057", "E54000048"  # Cheshire and Merseyside, Greater Manchester, Lancs & S Cumbria
STAFFS = "E54000010"  # Staffordshire and Stoke-on-Trent (Midlands region)
BSOL, BLACK_COUNTRY = "E54000055", "E54000062"
LEVELS = ("icb", "sicbl", "place")
LAD_SOURCE = "ohid_2020_release_cy2018_msoa_to_lad"
ICB_SOURCE = "ohid_2022_release_latest_year_icb"


# ============================================================================================= fixtures
@pytest.fixture(scope="module")
def raw(data_dir):
    d = Path(data_dir)
    rx = pd.read_csv(d / "finance/prescribing_pca_dispensed_icb_2023_24_2024_25.csv")
    wp = pd.read_csv(d / "finance/icb_weighted_population.csv")
    return {
        "alloc": pd.read_csv(d / "finance/icb_allocations_2025_26.csv").set_index("icb_code"),
        "pop": pd.read_csv(d / "finance/icb_population.csv").set_index("icb_code"),
        "sicbl_pop": pd.read_csv(d / "finance/sicbl_population.csv"),
        "rx": rx[rx.financial_year == "2024/25"].set_index("icb_code"),
        "wp": wp[wp.financial_year == "2025/26"].set_index("icb_code"),
        "gpp": pd.read_csv(d / "finance/icb_gp_payments_2022_23.csv").set_index("icb_code"),
        "ref": pd.read_csv(d / "finance/icb_reference.csv").set_index("icb_code"),
        "lsoa": pd.read_csv(d / "geo/lookup_lsoa21_sicbl24_icb24_lad24_population.csv"),
        "ca": pd.read_csv(d / "geo/lookup_lad25_cauth25_may2025.csv"),
        "sup": pd.read_csv(d / "geo/lookup_lad24_strategic_authority_supplement.csv"),
        "sa": pd.read_csv(d / "geo/strategic_authorities.csv"),
        "flows": pd.read_csv(d / "providers/flows_area_trust.csv"),
        "trusts": pd.read_csv(d / "providers/trusts.csv"),
        "networks": pd.read_csv(d / "providers/pathology_networks.csv"),
    }


def merged(model, groups: dict[str, list[str]]) -> Configuration:
    """Today's ICBs, except that the ICBs listed in each group form one footprint (at any level)."""
    mapping = Configuration.baseline(model).mapping()
    for name, icbs in groups.items():
        for code, icb in zip(model.blocks.code, model.blocks.icb_code):
            if icb in icbs:
                mapping[code] = name
    return Configuration.from_mapping(model, mapping)


def by_icb(ev) -> pd.DataFrame:
    """Baseline ICB-level footprint table indexed by ICB code."""
    fp = ev.footprints.copy()
    assert (fp.n_members == 1).all()
    fp.index = [m[0] for m in fp.members]
    return fp


@pytest.fixture(scope="module")
def icb_base(models):
    m = models["icb"]
    return evaluate(m, Configuration.baseline(m))


@pytest.fixture(scope="module")
def icb_flows(raw):
    """ICB x trust catchment persons rebuilt by hand: LAD rows split to ICBs by Census 2021 residents (LSOA)."""
    f = raw["flows"]
    lad = f[f.source_id == LAD_SOURCE]
    sh = raw["lsoa"].groupby(["lad_code", "icb_code"]).population.sum().reset_index()
    sh["share"] = sh.population / sh.groupby("lad_code").population.transform("sum")
    x = lad.merge(sh, left_on="area_code", right_on="lad_code")
    x["persons"] = x.catchment_persons * x.share
    out = x.groupby(["icb_code", "trust_ods_2026"]).persons.sum().reset_index()
    open_ = raw["trusts"][raw["trusts"].status == "open"]
    out["host"] = out.trust_ods_2026.map(dict(zip(open_.trust_ods, open_.host_icb_code)))
    assert out.host.notna().all()
    return out


def flow_matrix(icb_flows) -> pd.DataFrame:
    """Resident ICB (rows) x host ICB (columns) persons."""
    return icb_flows.pivot_table(index="icb_code", columns="host", values="persons", aggfunc="sum", fill_value=0.0)


# ============================================================================================= 1. population & band
def test_planners_count_nine_icbs_under_1m_and_nine_between_1m_and_1_2m(icb_base, raw):
    gp = raw["pop"].gp_registered_patients_2026_08
    assert (gp < 1_000_000).sum() == 9
    assert ((gp >= 1_000_000) & (gp < 1_200_000)).sum() == 9
    pop = icb_base.footprints.population
    assert (pop < 1_000_000).sum() == 9
    assert ((pop >= 1_000_000) & (pop < 1_200_000)).sum() == 9


def test_baseline_populations_are_the_published_gp_registered_counts(icb_base, raw):
    fp = by_icb(icb_base)
    want = raw["pop"].gp_registered_patients_2026_08.reindex(fp.index)
    assert (fp.population == want).all()
    assert (fp.population_gp_registered == want).all()
    assert (fp.population_census == raw["pop"].ons_census2021_usual_residents.reindex(fp.index)).all()
    assert np.allclose(fp.population_allocation, raw["alloc"].allocation_population_2025_26.reindex(fp.index))


def test_england_totals_of_each_measure(models, raw):
    m = models["icb"]
    ev = evaluate(m, Configuration.baseline(m), MetricParameters(population_measure="census"))
    fp = ev.footprints
    assert fp.population.sum() == 56_490_108
    assert fp.population_census.sum() == 56_490_108
    assert fp.population_gp_registered.sum() == 63_237_908
    assert fp.population_allocation.sum() == pytest.approx(raw["alloc"].allocation_population_2025_26.sum(), abs=1e-3)


def _band_counts(pop: pd.Series, band) -> tuple[int, int, int]:
    lo, hi = band
    return int((pop < lo).sum()), int(((pop >= lo) & (pop <= hi)).sum()), int((pop > hi).sum())


@pytest.mark.parametrize("measure, column", [("gp_registered", "gp_registered_patients_2026_08"),
                                             ("census", "ons_census2021_usual_residents"),
                                             ("allocation", "allocation_population_2025_26")])
@pytest.mark.parametrize("band", [(1_500_000.0, 2_500_000.0), (1e6, 3.5e6)])
def test_band_counts_by_measure_and_band(models, raw, measure, column, band):
    m = models["icb"]
    params = MetricParameters(population_measure=measure, band=band)
    ev = evaluate(m, Configuration.baseline(m), params)
    src = raw["alloc"] if measure == "allocation" else raw["pop"]
    below, inside, above = _band_counts(src[column], band)
    o = ev.overall
    assert (o["below_band"], o["in_band"], o["above_band"]) == (below, inside, above)
    assert o["footprints"] == below + inside + above == 42


def test_switching_to_census_changes_the_band_counts(models, raw):
    m = models["icb"]
    base = Configuration.baseline(m)
    gp = evaluate(m, base).overall
    census = evaluate(m, base, MetricParameters(population_measure="census")).overall
    want_gp = _band_counts(raw["pop"].gp_registered_patients_2026_08, (1.5e6, 2.5e6))
    want_census = _band_counts(raw["pop"].ons_census2021_usual_residents, (1.5e6, 2.5e6))
    assert want_gp != want_census
    assert (gp["below_band"], gp["in_band"], gp["above_band"]) == want_gp == (24, 13, 5)
    assert (census["below_band"], census["in_band"], census["above_band"]) == want_census == (28, 11, 3)


def test_custom_band(models, raw):
    m = models["icb"]
    ev = evaluate(m, Configuration.baseline(m), MetricParameters(band=(1e6, 3.5e6)))
    gp = raw["pop"].gp_registered_patients_2026_08
    assert ev.overall["below_band"] == (gp < 1e6).sum() == 9
    assert ev.overall["in_band"] == ((gp >= 1e6) & (gp <= 3.5e6)).sum() == 33
    assert ev.overall["above_band"] == 0
    fp = by_icb(ev)
    assert (fp.in_band == ((gp >= 1e6) & (gp <= 3.5e6)).reindex(fp.index)).all()


def test_persons_outside_band_by_hand(icb_base, raw, models):
    fp = by_icb(icb_base)
    gp = raw["pop"].gp_registered_patients_2026_08
    # Cheshire and Merseyside: 2,795,002 registered, 295,002 above the 2.5m ceiling.
    assert gp[CM] == 2_795_002
    assert fp.persons_outside_band[CM] == gp[CM] - 2_500_000 == 295_002
    assert fp.band_status[CM] == "above band"
    # The smallest ICB is below the 1.5m floor by the difference.
    small = gp.idxmin()
    assert fp.persons_outside_band[small] == 1_500_000 - gp[small]
    assert fp.band_status[small] == "below band"
    # Every footprint, and the merged Cheshire-Merseyside-Greater Manchester footprint.
    want = np.maximum(1.5e6 - gp, 0) + np.maximum(gp - 2.5e6, 0)
    assert np.allclose(fp.persons_outside_band, want.reindex(fp.index))
    ev = evaluate(models["icb"], merged(models["icb"], {"CMGM": [CM, GM]}))
    row = ev.footprints.set_index("footprint").loc["CMGM"]
    assert row.population == gp[CM] + gp[GM]
    assert row.persons_outside_band == gp[CM] + gp[GM] - 2_500_000


# ============================================================================================= 2. budget
def hand_budget(raw, icbs: list[str]) -> dict:
    """Budget figures of a footprint made of whole ICBs, from the allocation, prescribing and payment CSVs."""
    a = raw["alloc"].loc[icbs]
    A = a.core_recurrent_allocation_gbp_k * 1000.0
    W = a.allocation_population_2025_26
    T = a.core_fair_shares_target_2024_25_gbp_k * 1000.0
    B = a.core_baseline_2024_25_gbp_k * 1000.0
    per_head = A / W
    change = A.sum() / W.sum() * W - A
    need = A.sum() / T.sum() * T - A
    fph = A.sum() / W.sum()
    dft = (B / T - 1) * 100
    dft_f = (B.sum() / T.sum() - 1) * 100
    rx = raw["rx"].loc[icbs]
    pmc = a.pmc_revised_recurrent_allocation_gbp_k * 1000.0
    gpp = raw["gpp"].loc[icbs]

    def wsd(x, w):
        mean = (w * x).sum() / w.sum()
        return float(np.sqrt((w * (x - mean) ** 2).sum() / w.sum()))

    return {
        "allocation_per_head": fph,
        "allocation_per_head_spread": wsd(per_head, W),
        "at_stake_gbp": float(change[change > 0].sum()),
        "at_stake_need_adjusted_gbp": float(need[need > 0].sum()),
        "distance_from_target": dft_f,
        "distance_from_target_spread": wsd(dft, T),
        "prescribing_per_head": rx.nic_gbp.sum() / rx.allocation_population.sum(),
        "prescribing_per_head_spread": wsd(rx.nic_gbp / rx.allocation_population, rx.allocation_population),
        "primary_care_per_head": pmc.sum() / W.sum(),
        "primary_care_per_head_spread": wsd(pmc / W, W),
        "gp_payments_per_head": gpp.total_nhs_payments_gbp.sum() / gpp.registered_patients.sum(),
        "prescribing_need_index": raw["wp"].loc[icbs].wp_prescribing.sum() / W.sum(),
        "core_allocation_gbp": A.sum(),
        "winners": int((change > 0.5).sum()),
        "losers": int((change < -0.5).sum()),
        "change": change,
        "need": need,
        "per_head": per_head,
        "dft": dft,
    }


@pytest.fixture(scope="module")
def cm_gm(models):
    m = models["icb"]
    return evaluate(m, merged(m, {"CMGM": [CM, GM]}))


def test_two_way_merge_footprint_row(cm_gm, raw):
    want = hand_budget(raw, [CM, GM])
    row = cm_gm.footprints.set_index("footprint").loc["CMGM"]
    for key in ("allocation_per_head", "allocation_per_head_spread", "at_stake_gbp", "at_stake_need_adjusted_gbp",
                "distance_from_target", "distance_from_target_spread", "prescribing_per_head",
                "prescribing_per_head_spread", "primary_care_per_head", "primary_care_per_head_spread",
                "gp_payments_per_head", "prescribing_need_index", "core_allocation_gbp"):
        assert row[key] == pytest.approx(want[key], rel=REL), key
    assert (row.partners, row.winners, row.losers) == (2, want["winners"], want["losers"]) == (2, 1, 1)


def test_two_way_merge_closed_forms(cm_gm, raw):
    a = raw["alloc"]
    A1, A2 = a.core_recurrent_allocation_gbp_k[CM] * 1000, a.core_recurrent_allocation_gbp_k[GM] * 1000
    W1, W2 = a.allocation_population_2025_26[CM], a.allocation_population_2025_26[GM]
    row = cm_gm.footprints.set_index("footprint").loc["CMGM"]
    # Levelling two partners moves |A1/W1 - A2/W2| x W1 W2 / (W1 + W2).
    assert row.at_stake_gbp == pytest.approx(abs(A1 / W1 - A2 / W2) * W1 * W2 / (W1 + W2), rel=REL)
    # The weighted SD of two values is |x1 - x2| sqrt(w1 w2) / (w1 + w2).
    assert row.allocation_per_head_spread == pytest.approx(abs(A1 / W1 - A2 / W2) * np.sqrt(W1 * W2) / (W1 + W2),
                                                           rel=REL)
    # Per head matches the published figure for each partner (to the publication's rounding).
    p = cm_gm.partners.set_index("icb_code")
    assert p.allocation_per_head[CM] == pytest.approx(a.core_recurrent_allocation_per_head_gbp[CM], abs=1e-3)
    assert p.distance_from_target[CM] == pytest.approx(a.core_distance_from_target_2024_25_pct[CM], abs=1e-3)
    # Cheshire and Merseyside (higher per head) would lose, Greater Manchester gain.
    assert A1 / W1 > A2 / W2
    assert p.change_per_head_levelling_gbp[CM] < 0 < p.change_per_head_levelling_gbp[GM]
    assert p.change_per_head_levelling_gbp.sum() == pytest.approx(0, abs=1e-3)


def test_two_way_merge_partners_table(cm_gm, raw):
    want = hand_budget(raw, [CM, GM])
    p = cm_gm.partners[cm_gm.partners.footprint == "CMGM"].set_index("icb_code")
    assert set(p.index) == {CM, GM}
    for code in (CM, GM):
        assert p.change_per_head_levelling_gbp[code] == pytest.approx(want["change"][code], rel=REL)
        assert p.change_need_adjusted_gbp[code] == pytest.approx(want["need"][code], rel=REL)
        assert p.allocation_per_head[code] == pytest.approx(want["per_head"][code], rel=REL)
        assert p.distance_from_target[code] == pytest.approx(want["dft"][code], rel=REL)
        assert p.allocation_population[code] == raw["alloc"].allocation_population_2025_26[code]
        assert p.core_allocation_gbp[code] == pytest.approx(raw["alloc"].core_recurrent_allocation_gbp_k[code] * 1000)
        rx = raw["rx"].loc[code]
        assert p.prescribing_per_head[code] == pytest.approx(rx.nic_gbp / rx.allocation_population, rel=REL)
        a = raw["alloc"].loc[code]
        assert p.primary_care_per_head[code] == pytest.approx(
            a.pmc_revised_recurrent_allocation_gbp_k * 1000 / a.allocation_population_2025_26, rel=REL)
    # Every other partner is a whole footprint on its own, with nothing at stake.
    rest = cm_gm.partners[cm_gm.partners.footprint != "CMGM"]
    assert len(rest) == 40
    assert rest.change_per_head_levelling_gbp.abs().max() < 1e-3
    assert cm_gm.overall["at_stake_gbp"] == pytest.approx(want["at_stake_gbp"], rel=REL)
    assert cm_gm.overall["at_stake_need_adjusted_gbp"] == pytest.approx(want["at_stake_need_adjusted_gbp"], rel=REL)


def test_three_way_merge(models, raw):
    m = models["icb"]
    ev = evaluate(m, merged(m, {"North West": [CM, GM, LSC]}))
    want = hand_budget(raw, [CM, GM, LSC])
    row = ev.footprints.set_index("footprint").loc["North West"]
    for key in ("allocation_per_head", "allocation_per_head_spread", "at_stake_gbp", "at_stake_need_adjusted_gbp",
                "distance_from_target", "distance_from_target_spread", "prescribing_per_head",
                "primary_care_per_head", "primary_care_per_head_spread"):
        assert row[key] == pytest.approx(want[key], rel=REL), key
    assert row.partners == 3
    assert (row.winners, row.losers) == (want["winners"], want["losers"])
    assert row.winners + row.losers == 3
    p = ev.partners[ev.partners.footprint == "North West"].set_index("icb_code")
    for code in (CM, GM, LSC):
        assert p.change_per_head_levelling_gbp[code] == pytest.approx(want["change"][code], rel=REL)
        assert p.change_need_adjusted_gbp[code] == pytest.approx(want["need"][code], rel=REL)
    assert ev.overall["footprints"] == 40
    assert ev.overall["running_cost_saving_gbp"] == pytest.approx(2 * ev.overall["running_cost_fixed_per_body_gbp"],
                                                                  rel=1e-9)


@pytest.mark.parametrize("level", ["sicbl", "place"])
def test_same_merge_same_money_at_every_level(models, raw, cm_gm, level):
    m = models[level]
    ev = evaluate(m, merged(m, {"CMGM": [CM, GM]}))
    row = ev.footprints.set_index("footprint").loc["CMGM"]
    icb_row = cm_gm.footprints.set_index("footprint").loc["CMGM"]
    p = ev.partners[ev.partners.footprint == "CMGM"].set_index("icb_code")
    assert set(p.index) == {CM, GM}  # partners are today's ICB parts, whatever the level
    assert row.partners == 2
    # Money is apportioned from the ICBs, so the targets and allocations of the partners are the ICBs'.
    assert row.at_stake_need_adjusted_gbp == pytest.approx(icb_row.at_stake_need_adjusted_gbp, rel=1e-9)
    assert row.distance_from_target == pytest.approx(icb_row.distance_from_target, rel=1e-9)
    assert row.core_allocation_gbp == pytest.approx(icb_row.core_allocation_gbp, rel=1e-12)
    # The sub-ICB allocation populations (248 people short nationally: finance/SOURCES.md) are scaled to
    # their ICB's figure, so per-head levelling moves exactly the same money at every level.
    a = raw["alloc"]
    A = a.core_recurrent_allocation_gbp_k[[CM, GM]] * 1000
    W = a.allocation_population_2025_26[[CM, GM]]
    change = A.sum() / W.sum() * W - A
    assert row.at_stake_gbp == pytest.approx(change[change > 0].sum(), rel=1e-9)
    assert row.at_stake_gbp == pytest.approx(icb_row.at_stake_gbp, rel=1e-9)


def test_same_merge_identical_at_sicbl_and_place(models):
    rows = []
    for level in ("sicbl", "place"):
        m = models[level]
        ev = evaluate(m, merged(m, {"CMGM": [CM, GM]}))
        rows.append(ev.footprints.set_index("footprint").loc["CMGM"])
    for key in ("at_stake_gbp", "at_stake_need_adjusted_gbp", "allocation_per_head", "allocation_per_head_spread",
                "distance_from_target_spread", "primary_care_per_head"):
        assert rows[0][key] == pytest.approx(rows[1][key], rel=1e-9), key


@pytest.mark.parametrize("level", LEVELS)
def test_baseline_has_no_spread_and_nothing_at_stake(models, level):
    m = models[level]
    ev = evaluate(m, Configuration.baseline(m))
    fp = ev.footprints
    assert (fp.partners == 1).all()
    assert fp.at_stake_gbp.abs().max() < 0.01
    assert fp.at_stake_need_adjusted_gbp.abs().max() < 0.01
    for col in [c for c in fp.columns if c.endswith("_spread")]:
        assert fp[col].abs().max() < 1e-9, col
    assert (fp.winners == 0).all() and (fp.losers == 0).all()
    assert ev.partners.change_per_head_levelling_gbp.abs().max() < 0.01
    assert ev.partners.change_need_adjusted_gbp.abs().max() < 0.01


# ============================================================================================= 3. patient flows
def test_baseline_localisation_index_by_hand(icb_base, icb_flows):
    f = icb_flows
    internal = f[f.host == f.icb_code].groupby("icb_code").persons.sum()
    total = f.groupby("icb_code").persons.sum()
    want = (internal / total).fillna(0.0)
    fp = by_icb(icb_base)
    # One ICB spelt out: Bristol, North Somerset and South Gloucestershire.
    bnssg = "E54000039"
    assert fp.localisation_index[bnssg] == pytest.approx(want[bnssg], abs=1e-6)
    assert fp.flow_total[bnssg] == pytest.approx(total[bnssg], rel=1e-9)
    # And all 42.
    assert np.allclose(fp.localisation_index, want.reindex(fp.index), atol=1e-6, rtol=0)
    assert icb_base.overall["localisation_index"] == pytest.approx(internal.sum() / total.sum(), abs=1e-6)


@pytest.mark.parametrize("level", ["sicbl", "place"])
def test_baseline_localisation_is_the_same_at_every_level(models, icb_base, level):
    m = models[level]
    ev = evaluate(m, Configuration.baseline(m))
    a = icb_base.footprints.set_index("footprint")
    b = ev.footprints.set_index("footprint")
    assert np.allclose(b.localisation_index.reindex(a.index), a.localisation_index, atol=1e-9)
    assert ev.overall["localisation_index"] == pytest.approx(icb_base.overall["localisation_index"], abs=1e-9)


def test_localisation_rises_when_two_icbs_that_exchange_patients_merge(models, icb_base, icb_flows):
    fm = flow_matrix(icb_flows)
    total = fm.sum(axis=1)
    a, b = BSOL, BLACK_COUNTRY
    # These two exchange more patients than any other pair of neighbours.
    assert fm.loc[a, b] + fm.loc[b, a] > 300_000
    want = (fm.loc[a, a] + fm.loc[a, b] + fm.loc[b, a] + fm.loc[b, b]) / (total[a] + total[b])
    m = models["icb"]
    ev = evaluate(m, merged(m, {"Birmingham and Black Country": [a, b]}))
    got = ev.footprints.set_index("footprint").loc["Birmingham and Black Country"].localisation_index
    assert got == pytest.approx(want, abs=1e-6)
    before = by_icb(icb_base).localisation_index
    assert got > max(before[a], before[b])
    assert ev.overall["localisation_index"] > icb_base.overall["localisation_index"]
    inside_today = np.trace(fm.reindex(columns=fm.index, fill_value=0).to_numpy())
    want_overall = (inside_today + fm.loc[a, b] + fm.loc[b, a]) / fm.to_numpy().sum()
    assert ev.overall["localisation_index"] == pytest.approx(want_overall, abs=1e-6)


def test_lad_based_flows_agree_with_the_icb_level_source(models, raw):
    m = models["icb"]
    F = np.asarray(m.flows.todense())
    prop = pd.DataFrame(F / F.sum(axis=1, keepdims=True), index=m.blocks.code, columns=m.trusts.code).stack()
    src = raw["flows"]
    src = src[src.source_id == ICB_SOURCE].groupby(["area_code", "trust_ods_2026"]).proportion.sum()
    prop.index.names = src.index.names
    joined = pd.concat([prop.rename("lad"), src.rename("icb")], axis=1).fillna(0.0)
    joined = joined[(joined.lad > 0) | (joined.icb > 0)]
    assert np.corrcoef(joined.lad, joined.icb)[0, 1] > 0.98
    assert src.groupby(level=0).sum().between(0.999, 1.001).all()


def test_flows_total_is_the_lad_source_total(models, raw):
    f = raw["flows"]
    total = f[f.source_id == LAD_SOURCE].catchment_persons.sum()
    for m in models.values():
        assert m.flows.sum() == pytest.approx(total, rel=1e-9)


def _major_set(raw) -> set[str]:
    t = raw["trusts"]
    acute = t[(t.status == "open") & t.trust_type.isin(["acute_general", "acute_specialist"])]
    cut = acute.ga_beds_available_jul2025.quantile(0.75)
    return set(acute[acute.major_trauma_centre.notna() | (acute.ga_beds_available_jul2025 >= cut)].trust_ods)


def test_major_trusts_follow_the_rule(models, raw):
    want = _major_set(raw)
    assert len(want) == 42
    t = raw["trusts"]
    mtc = set(t[(t.status == "open") & t.major_trauma_centre.notna()].trust_ods)
    assert mtc <= want
    for m in models.values():
        assert set(m.trusts.code[m.trusts.major]) == want


def test_major_trusts_shared_at_baseline_by_hand(icb_base, icb_flows, raw):
    major = _major_set(raw)
    f = icb_flows[icb_flows.trust_ods_2026.isin(major)].copy()
    f["share"] = f.persons / f.groupby("trust_ods_2026").persons.transform("sum")
    served = f[f.share >= 0.10].groupby("trust_ods_2026").size()
    assert (served >= 1).all() and len(served) == len(major)
    assert icb_base.overall["major_trusts"] == len(major)
    assert icb_base.overall["major_trusts_shared"] == int((served >= 2).sum()) == 9
    mt = icb_base.major_trusts.set_index("trust")
    assert (mt.footprints_served == served.reindex(mt.index)).all()
    names = dict(zip(icb_base.footprints.footprint, [m[0] for m in icb_base.footprints.members]))
    host = dict(zip(raw["trusts"].trust_ods, raw["trusts"].host_icb_code))
    assert all(names[mt.host_footprint[t]] == host[t] for t in mt.index)


# ============================================================================================= 4. pathology
@pytest.fixture(scope="module")
def memberships(raw):
    t = raw["trusts"]
    host = dict(zip(t.trust_ods, t.host_icb_code))
    mem = raw["networks"].drop_duplicates(["network_id", "trust_ods_2026"]).copy()
    mem["icb"] = mem.trust_ods_2026.map(host)
    return mem


def test_pathology_networks_spanning_icbs_at_baseline(icb_base, memberships):
    g = memberships.groupby("network_id")
    span = g.icb.nunique()
    share = g.icb.agg(lambda s: s.value_counts().iloc[0] / len(s))
    nets = icb_base.networks.set_index("network_id")
    assert len(nets) == 29
    assert icb_base.overall["pathology_networks_split"] == int((span >= 2).sum()) == 7
    assert (nets.split == (span >= 2).reindex(nets.index)).all()
    assert np.allclose(nets.trust_share_in_one_footprint, share.reindex(nets.index), atol=1e-12)
    assert (nets.n_trusts == g.size().reindex(nets.index)).all()


def test_pathology_inferred_rows_per_network(models, raw):
    n = raw["networks"]
    inferred = n[n.evidence == "inferred"].groupby("network_id").size()
    assert inferred.sum() == 38 and (n.evidence == "listed").sum() == 80
    # Networks in which no two rows were merged into one 2026 trust: the model's count is the rows'.
    merged_rows = n[n.duplicated(["network_id", "trust_ods_2026"], keep=False)].network_id.unique()
    for m in models.values():
        got = m.networks.set_index("network_id").n_inferred
        for net in got.index.difference(merged_rows):
            assert got[net] == inferred.get(net, 0), net


def test_a_membership_confirmed_by_any_row_is_listed(models, raw):
    n = raw["networks"]
    listed = set(zip(n.network_id[n.evidence == "listed"], n.trust_ods_2026[n.evidence == "listed"]))
    distinct = n.drop_duplicates(["network_id", "trust_ods_2026"])
    unconfirmed = {k for k in zip(distinct.network_id, distinct.trust_ods_2026) if k not in listed}
    assert len(unconfirmed) == 37
    m = models["icb"]
    evidence = {}
    for u, v, k, d in m.graph.edges(keys=True, data=True):
        if k == "member":
            trust, net = (u, v) if u[0] == "trust" else (v, u)
            evidence[(net[1], trust[1])] = d["evidence"]
    assert evidence[("S3", "RA7")] == "listed"
    assert int(m.networks.n_inferred.sum()) == len(unconfirmed)


# ============================================================================================= 5. authorities
def _authority_shares(raw) -> tuple[pd.Series, pd.Series]:
    sa = raw["sa"]
    by_name = dict(zip(sa.sa_name, sa.sa_code))
    sup = raw["sup"]
    gla = sup[sup.sa_code == "E61000001"]
    assert len(gla) == 33
    mem = pd.concat([raw["ca"][["lad_code", "cauth_code"]].rename(columns={"cauth_code": "authority"}),
                     gla[["lad_code", "sa_code"]].rename(columns={"sa_code": "authority"})])
    x = raw["lsoa"].merge(mem, on="lad_code")
    g = x.groupby(["authority", "icb_code"]).population.sum()
    assert "E61000001" in by_name.values()
    return g.groupby(level=0).max() / g.groupby(level=0).sum(), g.groupby(level=0).sum()


def test_mayoral_authorities_share_in_largest_icb(icb_base, raw):
    sa = raw["sa"]
    mayoral = sa[sa.mayoral & sa.mayor_in_office_by_may2025]
    assert len(mayoral) == 14
    share, residents = _authority_shares(raw)
    au = icb_base.authorities.set_index("authority")
    assert set(au.index) == set(mayoral.sa_code)
    assert np.allclose(au.share_in_one_footprint, share.reindex(au.index), atol=1e-12)
    assert (au.residents == residents.reindex(au.index)).all()
    assert au.share_in_one_footprint["E47000001"] == pytest.approx(1.0)  # Greater Manchester
    assert au.share_in_one_footprint["E47000003"] == pytest.approx(1.0)  # West Yorkshire
    assert au.share_in_one_footprint["E47000012"] == pytest.approx(0.930433, abs=1e-6)  # York and North Yorkshire
    assert au.share_in_one_footprint["E61000001"] == pytest.approx(0.237850, abs=1e-6)  # Greater London
    assert au.split["E61000001"] and not au.split["E47000001"]
    assert icb_base.overall["authorities"] == 14
    assert icb_base.overall["authorities_split"] == int((share.reindex(au.index) < 0.99).sum()) == 6


@pytest.mark.parametrize("level", ["sicbl", "place"])
def test_mayoral_shares_do_not_depend_on_level_at_baseline(models, icb_base, level):
    m = models[level]
    ev = evaluate(m, Configuration.baseline(m))
    a = icb_base.authorities.set_index("authority").share_in_one_footprint
    b = ev.authorities.set_index("authority").share_in_one_footprint
    assert np.allclose(b.reindex(a.index), a, atol=1e-12)


def test_merging_the_london_icbs_puts_london_in_one_footprint(models):
    m = models["icb"]
    london = m.blocks.code[m.blocks.region_name == "London"].tolist()
    assert len(london) == 5
    ev = evaluate(m, merged(m, {"London": london}))
    au = ev.authorities.set_index("authority")
    assert au.share_in_one_footprint["E61000001"] == pytest.approx(1.0)
    assert not au.split["E61000001"]


# ========================================================================================== 6. regions, running costs
def test_merging_across_regions(models, raw):
    ref = raw["ref"]
    assert ref.region_name[CM] != ref.region_name[STAFFS]
    m = models["icb"]
    ev = evaluate(m, merged(m, {"Cheshire and Staffordshire": [CM, STAFFS]}))
    row = ev.footprints.set_index("footprint").loc["Cheshire and Staffordshire"]
    assert row.n_regions == 2
    assert sorted(row.regions) == sorted({ref.region_name[CM], ref.region_name[STAFFS]})
    assert ev.overall["footprints_crossing_regions"] == 1
    assert ev.overall["statutory_bodies"] == ev.overall["footprints"] == 41
    same = evaluate(m, merged(m, {"CMGM": [CM, GM]}))
    assert same.overall["footprints_crossing_regions"] == 0


def test_running_cost_model_by_hand(icb_base, raw):
    a = raw["alloc"]
    rca = a.running_cost_allowance_gbp_k * 1000.0
    X = np.column_stack([np.ones(len(a)), a.allocation_population_2025_26])
    coef, *_ = np.linalg.lstsq(X, rca.to_numpy(), rcond=None)
    fitted = X @ coef
    r2 = 1 - ((rca - fitted) ** 2).sum() / ((rca - rca.mean()) ** 2).sum()
    o = icb_base.overall
    assert o["running_cost_allowance_today_gbp"] == pytest.approx(rca.sum(), rel=1e-12)
    assert o["running_cost_allowance_today_gbp"] == pytest.approx(873_991_618, abs=1)
    assert o["running_cost_fixed_per_body_gbp"] == pytest.approx(coef[0], rel=REL)
    assert o["running_cost_per_head_gbp"] == pytest.approx(coef[1], rel=REL)
    assert o["running_cost_fit_r_squared"] == pytest.approx(r2, rel=REL)
    assert o["running_cost_target_gbp"] == pytest.approx(rca.sum() / 2, rel=1e-12)
    # With 42 bodies the fitted allowances add up to today's (least squares with an intercept).
    assert o["running_cost_saving_gbp"] == pytest.approx(0.0, abs=1.0)
    fp = by_icb(icb_base)
    want = pd.Series(fitted, index=a.index).reindex(fp.index)
    assert np.allclose(fp.running_cost_allowance_estimate_gbp, want, rtol=REL)


@pytest.mark.parametrize("level", LEVELS)
def test_running_cost_today_is_the_same_at_every_level(models, raw, level):
    m = models[level]
    ev = evaluate(m, Configuration.baseline(m))
    rca = raw["alloc"].running_cost_allowance_gbp_k.sum() * 1000.0
    assert ev.overall["running_cost_allowance_today_gbp"] == pytest.approx(rca, rel=1e-9)
    assert ev.overall["statutory_bodies"] == 42


def test_one_fewer_body_saves_the_fixed_element(cm_gm):
    o = cm_gm.overall
    assert o["statutory_bodies"] == 41
    assert o["running_cost_saving_gbp"] == pytest.approx(o["running_cost_fixed_per_body_gbp"], rel=1e-9)


# ============================================================================================= 7. score
def _configs(models):
    out = []
    for level in LEVELS:
        m = models[level]
        n = m.n_blocks
        out += [(level, "baseline", m, Configuration.baseline(m)),
                (level, "CMGM", m, merged(m, {"CMGM": [CM, GM]})),
                (level, "England", m, Configuration(m, np.zeros(n, dtype=int), ["England"])),
                (level, "every block", m, Configuration(m, np.arange(n), list(m.blocks.code)))]
    return out


def test_score_is_the_weighted_sum_of_non_negative_terms(models):
    for level, label, m, c in _configs(models):
        ev = evaluate(m, c)
        assert set(ev.terms) == set(TERMS), (level, label)
        assert ev.weights == DEFAULT_WEIGHTS
        assert min(ev.terms.values()) >= -1e-12, (level, label, ev.terms)
        assert ev.score == pytest.approx(sum(ev.weights[k] * v for k, v in ev.terms.items()), rel=1e-12, abs=1e-12)


def test_score_terms_by_hand(models, raw, cm_gm):
    terms = cm_gm.terms
    gp = raw["pop"].gp_registered_patients_2026_08
    fp = cm_gm.footprints
    outside = (np.maximum(1.5e6 - fp.population, 0) + np.maximum(fp.population - 2.5e6, 0)).sum()
    assert terms["population_band"] == pytest.approx(outside / 100_000, rel=1e-9)  # per 100,000 people
    assert terms["flow_leakage"] == pytest.approx(1 - cm_gm.overall["localisation_index"], rel=1e-9)
    assert terms["statutory_bodies"] == pytest.approx(41, rel=1e-12)
    assert terms["regions_crossed"] == pytest.approx(0.0, abs=1e-12)
    # At stake, as a share of the £ that would move if England were one footprint of today's 42 ICBs.
    a = raw["alloc"]
    A = a.core_recurrent_allocation_gbp_k * 1000
    W = a.allocation_population_2025_26
    T = a.core_fair_shares_target_2024_25_gbp_k * 1000
    england = A.sum() / W.sum() * W - A
    england_need = A.sum() / T.sum() * T - A
    want = hand_budget(raw, [CM, GM])
    assert terms["at_stake"] == pytest.approx(want["at_stake_gbp"] / england[england > 0].sum(), rel=REL)
    assert terms["at_stake_need_adjusted"] == pytest.approx(
        want["at_stake_need_adjusted_gbp"] / england_need[england_need > 0].sum(), rel=REL)
    # Allocation spread: within-footprint weighted sum of squares as a share of England's.
    x = A / W
    england_ss = (W * (x - A.sum() / W.sum()) ** 2).sum()
    cmgm_ss = want["allocation_per_head_spread"] ** 2 * W[[CM, GM]].sum()
    assert terms["allocation_spread"] == pytest.approx(cmgm_ss / england_ss, rel=REL)
    m = models["icb"]
    cross = evaluate(m, merged(m, {"X": [CM, STAFFS]}))
    assert cross.terms["regions_crossed"] == pytest.approx(1, rel=1e-12)


def test_england_as_one_footprint_scores_one_on_convergence_terms(models):
    m = models["icb"]
    ev = evaluate(m, Configuration(m, np.zeros(m.n_blocks, dtype=int), ["England"]))
    for term in ("allocation_spread", "distance_from_target_spread", "primary_care_spread", "at_stake",
                 "at_stake_need_adjusted"):
        assert ev.terms[term] == pytest.approx(1.0, rel=1e-9), term
    assert ev.terms["flow_leakage"] == pytest.approx(0.0, abs=1e-12)
    assert ev.terms["regions_crossed"] == pytest.approx(6, rel=1e-12)


def test_weights_from_parameters_override_the_defaults(models):
    m = models["icb"]
    c = merged(m, {"CMGM": [CM, GM]})
    base = evaluate(m, c)
    params = MetricParameters(weights={"flow_leakage": 7.0, "population_band": 0.0})
    ev = evaluate(m, c, params)
    assert ev.weights["flow_leakage"] == 7.0 and ev.weights["population_band"] == 0.0
    for k, v in DEFAULT_WEIGHTS.items():
        if k not in ("flow_leakage", "population_band"):
            assert ev.weights[k] == v
    assert ev.terms == pytest.approx(base.terms)
    delta = (7.0 - DEFAULT_WEIGHTS["flow_leakage"]) * base.terms["flow_leakage"] \
        - DEFAULT_WEIGHTS["population_band"] * base.terms["population_band"]
    assert ev.score - base.score == pytest.approx(delta, rel=1e-9)


@pytest.mark.parametrize("term", sorted(TERMS))
def test_setting_a_weight_changes_the_score_by_weight_times_term(models, term):
    m = models["icb"]
    c = merged(m, {"CMGM": [CM, GM]})
    zero = evaluate(m, c, MetricParameters(weights={term: 0.0}))
    three = evaluate(m, c, MetricParameters(weights={term: 3.0}))
    assert three.score - zero.score == pytest.approx(3.0 * zero.terms[term], rel=1e-9, abs=1e-12)

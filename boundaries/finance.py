"""Populations, allocations, spending and deprivation per building block, apportioned where only coarser data exist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from boundaries._tables import read_csv, require_count, require_known, require_unique
from boundaries.errors import DataError

ALLOC = "finance/icb_allocations_2025_26.csv"
ICB_POP = "finance/icb_population.csv"
SICBL_POP = "finance/sicbl_population.csv"
ICB_WP = "finance/icb_weighted_population.csv"
SICBL_WP = "finance/sicbl_weighted_population_2025_26.csv"
ICB_IMD = "finance/icb_imd2025.csv"
SICBL_IMD = "finance/sicbl_imd2025.csv"
LAD_IMD = "finance/lad_imd2025.csv"
ICB_GPP = "finance/icb_gp_payments_2022_23.csv"
SICBL_GPP = "finance/sicbl_gp_payments_2022_23.csv"
PRESCRIBING = "finance/prescribing_pca_dispensed_icb_2023_24_2024_25.csv"

POPULATION_MEASURES = {
    "gp_registered": "GP-registered patients, August 2026",
    "allocation": "allocation population 2025/26 (NHS England projected GP-registered)",
    "census": "Census 2021 usual residents",
}
"""Population measures a user can choose; GP-registered is the planning convention and the default."""

DEFAULT_MEASURE = "gp_registered"

# Block-level figures. Money in £ thousands (as published) unless the name says otherwise.
FIELDS = {
    "pop_allocation": "allocation population 2025/26 (persons)",
    "pop_gp_registered": "GP-registered patients August 2026 (persons)",
    "pop_census": "Census 2021 usual residents (persons)",
    "wp_core": "need-weighted population, core services 2025/26",
    "wp_pmc": "need-weighted population, primary medical care 2025/26",
    "wp_prescribing": "need-weighted population, prescribing component 2025/26",
    "core_baseline_gbp_k": "core services adjusted baseline 2024/25 (£000)",
    "core_target_gbp_k": "core services fair-shares target 2024/25 (£000)",
    "core_recurrent_gbp_k": "core services recurrent allocation 2025/26 (£000)",
    "core_total_gbp_k": "core services total allocation 2025/26 (£000)",
    "pmc_gbp_k": "primary medical care revised recurrent allocation 2025/26 (£000)",
    "spec_gbp_k": "delegated specialised services, physical health (excl. HCDD) + mental health 2025/26 (£000)",
    "pod_gbp_k": "pharmacy, optometry and dental 2025/26 (£000)",
    "rca_gbp_k": "running cost allowance 2025/26 (£000)",
    "total_gbp_k": "all streams 2025/26 (£000)",
    "prescribing_nic_gbp": "prescribing net ingredient cost dispensed 2024/25 (£, by dispensing ICB)",
    "prescribing_pop": "allocation population 2024/25 (denominator of prescribing per head)",
    "gp_payments_gbp": "NHS payments to general practice 2022/23 (£)",
    "gp_payments_patients": "registered patients 2022/23 (denominator of GP payments)",
    "imd_score": "IMD 2025 average score (higher = more deprived)",
}


def _icb_table(data_dir: Path, icb_codes: list[str]) -> pd.DataFrame:
    """All ICB-level figures, one row per ICB code, validated."""
    money = ["core_baseline_2024_25_gbp_k", "core_fair_shares_target_2024_25_gbp_k",
             "core_distance_from_target_2024_25_pct", "core_recurrent_allocation_gbp_k", "core_total_allocation_gbp_k",
             "pmc_revised_recurrent_allocation_gbp_k", "spec_physical_plus_mh_allocation_gbp_k",
             "pod_total_allocation_gbp_k", "running_cost_allowance_gbp_k", "total_allocation_all_streams_gbp_k",
             "allocation_population_2025_26"]
    a = _read_icb(data_dir, ALLOC, money, icb_codes)
    p = _read_icb(data_dir, ICB_POP, ["allocation_population_2025_26", "gp_registered_patients_2026_08",
                                      "ons_census2021_usual_residents"], icb_codes)
    wp = read_csv(data_dir, ICB_WP, ["icb_code", "financial_year"],
                  numeric=["population", "wp_core_overall", "wp_primary_medical_care_overall", "wp_prescribing"])
    wp = wp[wp.financial_year == "2025/26"]
    require_count(wp, len(icb_codes), ICB_WP, "ICB rows for 2025/26")
    require_known(wp, "icb_code", icb_codes, ICB_WP, "ICB code")
    wp = wp.set_index("icb_code")
    rx = read_csv(data_dir, PRESCRIBING, ["icb_code", "financial_year"], numeric=["nic_gbp", "allocation_population"])
    rx = rx[rx.financial_year == "2024/25"]
    require_count(rx, len(icb_codes), PRESCRIBING, "ICB rows for 2024/25")
    require_known(rx, "icb_code", icb_codes, PRESCRIBING, "ICB code")
    rx = rx.set_index("icb_code")
    gpp = _read_icb(data_dir, ICB_GPP, ["total_nhs_payments_gbp", "registered_patients"], icb_codes)
    imd = _read_icb(data_dir, ICB_IMD, ["imd2025_average_score"], icb_codes)
    out = pd.DataFrame(index=pd.Index(icb_codes, name="code"))
    out["pop_allocation"] = a.allocation_population_2025_26
    out["pop_gp_registered"] = p.gp_registered_patients_2026_08
    out["pop_census"] = p.ons_census2021_usual_residents
    out["wp_core"] = wp.wp_core_overall
    out["wp_pmc"] = wp.wp_primary_medical_care_overall
    out["wp_prescribing"] = wp.wp_prescribing
    out["core_baseline_gbp_k"] = a.core_baseline_2024_25_gbp_k
    out["core_target_gbp_k"] = a.core_fair_shares_target_2024_25_gbp_k
    out["core_recurrent_gbp_k"] = a.core_recurrent_allocation_gbp_k
    out["core_total_gbp_k"] = a.core_total_allocation_gbp_k
    out["pmc_gbp_k"] = a.pmc_revised_recurrent_allocation_gbp_k
    out["spec_gbp_k"] = a.spec_physical_plus_mh_allocation_gbp_k
    out["pod_gbp_k"] = a.pod_total_allocation_gbp_k
    out["rca_gbp_k"] = a.running_cost_allowance_gbp_k
    out["total_gbp_k"] = a.total_allocation_all_streams_gbp_k
    out["prescribing_nic_gbp"] = rx.nic_gbp
    out["prescribing_pop"] = rx.allocation_population
    out["gp_payments_gbp"] = gpp.total_nhs_payments_gbp
    out["gp_payments_patients"] = gpp.registered_patients
    out["imd_score"] = imd.imd2025_average_score
    # The published distance from target must agree with baseline and target: catches a shifted column.
    dft = out.core_baseline_gbp_k / out.core_target_gbp_k - 1
    off = np.abs(dft * 100 - a.core_distance_from_target_2024_25_pct) > 0.01
    if off.any():
        code = off[off].index[0]
        raise DataError(f"core distance from target for {code} does not match its baseline and target", ALLOC)
    return out


def _read_icb(data_dir: Path, rel: str, numeric: list[str], icb_codes: list[str]) -> pd.DataFrame:
    df = read_csv(data_dir, rel, ["icb_code"], numeric=numeric)
    require_count(df, len(icb_codes), rel, "ICBs")
    require_unique(df, "icb_code", rel)
    require_known(df, "icb_code", icb_codes, rel, "ICB code")
    return df.set_index("icb_code")


def _read_sicbl(data_dir: Path, rel: str, numeric: list[str], sicbl_codes: list[str],
                nullable: list[str] = ()) -> pd.DataFrame:
    df = read_csv(data_dir, rel, ["sicbl_code", "icb_code"], numeric=numeric, nullable=nullable)
    require_count(df, len(sicbl_codes), rel, "sub-ICB locations")
    require_unique(df, "sicbl_code", rel)
    require_known(df, "sicbl_code", sicbl_codes, rel, "sub-ICB location code")
    return df.set_index("sicbl_code")


def _share_within(values: pd.Series, groups: pd.Series) -> pd.Series:
    total = values.groupby(groups).transform("sum")
    return values / total


def _sicbl_table(data_dir: Path, blocks: pd.DataFrame, icb: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    codes = blocks.code.to_list()
    parent = pd.Series(blocks.icb_code.to_numpy(), index=blocks.code)
    pop = _read_sicbl(data_dir, SICBL_POP, ["allocation_population_2025_26", "gp_registered_patients_2026_08",
                                            "ons_census2021_usual_residents"], codes,
                      nullable=["gp_registered_patients_2026_08"]).reindex(codes)
    wp = _read_sicbl(data_dir, SICBL_WP, ["population", "wp_core_overall", "wp_primary_medical_care_overall",
                                          "wp_prescribing"], codes).reindex(codes)
    gpp = _read_sicbl(data_dir, SICBL_GPP, ["total_nhs_payments_gbp", "registered_patients"], codes).reindex(codes)
    imd = _read_sicbl(data_dir, SICBL_IMD, ["imd2025_pop_weighted_mean_score"], codes).reindex(codes)
    out = pd.DataFrame(index=pd.Index(codes, name="code"))
    est: dict[str, np.ndarray] = {}
    up = icb.reindex(parent.to_numpy()).set_index(pd.Index(codes))
    # The sub-ICB allocation populations miss 248 people of 8 unplaced practices; scaling them to their ICB's
    # published figure keeps every level's totals, and so the £ at stake, identical.
    raw_alloc = pop.allocation_population_2025_26
    out["pop_allocation"] = up.pop_allocation * _share_within(raw_alloc, parent)
    out["pop_census"] = pop.ons_census2021_usual_residents
    out["wp_core"] = wp.wp_core_overall
    out["wp_pmc"] = wp.wp_primary_medical_care_overall
    out["wp_prescribing"] = wp.wp_prescribing
    # GP-registered counts of August 2026 were mapped back to the 2024 sub-ICBs, but where ICBs were
    # reorganised in April 2026 (Frimley; Surrey Heartlands; Hampshire and Isle of Wight) the sub-ICB
    # figures no longer add up to their ICB. There we apportion the ICB figure by allocation population.
    gp = pop.gp_registered_patients_2026_08
    gp_sum = gp.groupby(parent).sum(min_count=1)
    n_missing = gp.isna().groupby(parent).sum()
    consistent = ((gp_sum - icb.pop_gp_registered.reindex(gp_sum.index)).abs()
                  <= 0.005 * icb.pop_gp_registered.reindex(gp_sum.index)) & (n_missing == 0)
    ok = parent.map(consistent).to_numpy(dtype=bool)
    share_alloc = _share_within(out.pop_allocation, parent)
    out["pop_gp_registered"] = np.where(ok, gp.fillna(0).to_numpy(), (up.pop_gp_registered * share_alloc).to_numpy())
    est["pop_gp_registered"] = ~ok
    # Allocations are published per ICB only; each sub-ICB takes the share its need-weighted population
    # drives in the formula, i.e. it is assumed to sit at its ICB's distance from target.
    share_core = _share_within(out.wp_core, parent)
    share_pmc = _share_within(out.wp_pmc, parent)
    share_rx = _share_within(out.wp_prescribing, parent)
    for f in ("core_baseline_gbp_k", "core_target_gbp_k", "core_recurrent_gbp_k", "core_total_gbp_k"):
        out[f] = up[f] * share_core
    out["pmc_gbp_k"] = up.pmc_gbp_k * share_pmc
    for f in ("spec_gbp_k", "pod_gbp_k", "rca_gbp_k"):
        out[f] = up[f] * share_alloc
    out["total_gbp_k"] = out[["core_total_gbp_k", "spec_gbp_k", "pmc_gbp_k", "pod_gbp_k", "rca_gbp_k"]].sum(axis=1)
    out["prescribing_nic_gbp"] = up.prescribing_nic_gbp * share_rx
    out["prescribing_pop"] = up.prescribing_pop * share_alloc
    out["gp_payments_gbp"] = gpp.total_nhs_payments_gbp
    out["gp_payments_patients"] = gpp.registered_patients
    out["imd_score"] = imd.imd2025_pop_weighted_mean_score
    multi = parent.map(parent.value_counts()).to_numpy() > 1
    for f in ("core_baseline_gbp_k", "core_target_gbp_k", "core_recurrent_gbp_k", "core_total_gbp_k", "pmc_gbp_k",
              "spec_gbp_k", "pod_gbp_k", "rca_gbp_k", "total_gbp_k", "prescribing_nic_gbp", "prescribing_pop"):
        est[f] = multi.copy()
    return out, est


def _place_table(data_dir: Path, blocks: pd.DataFrame, sicbl: pd.DataFrame, sicbl_est: dict) -> tuple[pd.DataFrame, dict]:
    census = blocks.census_population.to_numpy()
    sic = blocks.sicbl_code.to_numpy()
    sic_census = pd.Series(census).groupby(sic).transform("sum").to_numpy()
    share = np.divide(census, sic_census, out=np.zeros_like(census), where=sic_census > 0)
    up = sicbl.reindex(sic)
    out = pd.DataFrame(index=pd.Index(blocks.code, name="code"))
    whole = pd.Series(sic).map(pd.Series(sic).value_counts()).to_numpy() == 1
    est: dict[str, np.ndarray] = {}
    for f in FIELDS:
        if f in ("pop_census", "imd_score"):
            continue
        out[f] = up[f].to_numpy() * share
        est[f] = (~whole) | sicbl_est.get(f, np.zeros(len(sicbl), bool))[sicbl.index.get_indexer(sic)]
    out["pop_census"] = census
    lad = read_csv(data_dir, LAD_IMD, ["lad_code"], numeric=["imd2025_average_score", "n_icbs_overlapping"])
    require_unique(lad, "lad_code", LAD_IMD)
    require_known(blocks, "lad_code", lad.lad_code, "geo/lad24_sicbl24_population_shares.csv", "LAD in the IMD file")
    lad = lad.set_index("lad_code")
    out["imd_score"] = lad.imd2025_average_score.reindex(blocks.lad_code).to_numpy()
    lad_split = pd.Series(blocks.lad_code).map(pd.Series(blocks.lad_code).value_counts()).to_numpy() > 1
    est["imd_score"] = lad_split
    return out, est


def build_finance(data_dir: Path, level: str, blocks: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Return block-level figures (``FIELDS``) in the order of ``blocks`` and, per field, a flag of estimates.

    Figures that exist only at a coarser level are apportioned: sub-ICB allocations by need-weighted
    population within the ICB; place figures by the place's share of its sub-ICB's Census 2021 residents.
    """
    icb_codes = sorted(set(blocks.icb_code))
    icb = _icb_table(data_dir, icb_codes)
    if level == "icb2024":
        out, est = icb.reindex(blocks.code), {}
    else:
        sic_blocks = blocks.drop_duplicates("sicbl_code")[["sicbl_code", "icb_code"]].rename(columns={"sicbl_code": "code"})
        sic_blocks = sic_blocks.sort_values("code").reset_index(drop=True)
        sicbl, sest = _sicbl_table(data_dir, sic_blocks, icb)
        if level == "sicbl":
            out, est = sicbl.reindex(blocks.code), {k: v[sicbl.index.get_indexer(blocks.code)] for k, v in sest.items()}
        else:
            out, est = _place_table(data_dir, blocks, sicbl, sest)
    out = out[list(FIELDS)].reset_index(drop=True)
    flags = {f: np.asarray(est.get(f, np.zeros(len(out), bool)), dtype=bool) for f in FIELDS}
    if out.isna().any().any():
        col = out.columns[out.isna().any()][0]
        raise DataError(f"no {FIELDS[col]} for {blocks.code[int(np.flatnonzero(out[col].isna())[0])]}")
    return out, flags

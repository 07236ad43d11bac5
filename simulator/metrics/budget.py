"""Budget convergence between partners: spread of per-head allocations, distance from target and spending; £ at stake.

Allocations are published per ICB, so convergence is measured between *partners*: the parts of today's ICBs that
a footprint brings together. A footprint that is one of today's ICBs has no spread and nothing at stake, at every
level; below ICB level a partner's figures are the sum of its blocks' apportioned figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.metrics._common import safe_div

# Per-head measures: (label, numerator field, scale to £, denominator field). The denominator is also the
# weight of a partner in the footprint's spread.
PER_HEAD = {
    "allocation_per_head": ("core allocation per head 2025/26 (£)", "core_recurrent_gbp_k", 1000.0, "pop_allocation"),
    "primary_care_per_head": ("primary medical care allocation per head 2025/26 (£)", "pmc_gbp_k", 1000.0,
                              "pop_allocation"),
    "prescribing_per_head": ("prescribing NIC per head 2024/25, by dispensing ICB (£)", "prescribing_nic_gbp", 1.0,
                             "prescribing_pop"),
    "gp_payments_per_head": ("NHS payments to general practice per registered patient 2022/23 (£)",
                             "gp_payments_gbp", 1.0, "gp_payments_patients"),
    "prescribing_need_index": ("prescribing need index (formula weighted / unweighted population)",
                               "wp_prescribing", 1.0, "pop_allocation"),
}
DISTANCE = ("core distance from target 2024/25 (%)", "core_baseline_gbp_k", "core_target_gbp_k")
SPREADS = list(PER_HEAD) + ["distance_from_target"]

PRESCRIBING_CAVEAT = ("Prescribing per head counts items where they were dispensed, not where they were prescribed: "
                      "internet pharmacies inflate Cambridgeshire and Peterborough and Herefordshire and Worcestershire "
                      "(1.8-2.1x England per head). Read it beside the formula's prescribing need index.")

_SUMMED = sorted({f for _, f, _, d in PER_HEAD.values() for f in (f, d)} | {DISTANCE[1], DISTANCE[2]})


def icb_index(model) -> np.ndarray:
    """Index of each block's ICB today (0..41), cached on the model."""
    cached = model.__dict__.get("_icb_index")
    if cached is None:
        codes = model.blocks.icb_code.to_numpy()
        order = {c: i for i, c in enumerate(sorted(set(codes)))}
        cached = np.array([order[c] for c in codes], dtype=np.int64)
        model._icb_index = cached
    return cached


def block_sums(model) -> np.ndarray:
    """Block x field matrix of the summed figures behind every budget measure (columns in ``_SUMMED`` order)."""
    cached = model.__dict__.get("_budget_sums")
    if cached is None:
        cached = np.column_stack([model.figure(f) for f in _SUMMED])
        model._budget_sums = cached
    return cached


def col(name: str) -> int:
    """Column of a summed figure in ``block_sums``."""
    return _SUMMED.index(name)


def partner_values(sums: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{measure: (value, weight)}`` for partners (rows of summed figures)."""
    out = {}
    for key, (_, num, scale, den) in PER_HEAD.items():
        w = sums[:, col(den)]
        out[key] = (safe_div(sums[:, col(num)] * scale, w), w)
    t = sums[:, col(DISTANCE[2])]
    out["distance_from_target"] = ((safe_div(sums[:, col(DISTANCE[1])], t) - 1.0) * 100.0, t)
    return out


def weighted_ss(x: np.ndarray, w: np.ndarray) -> float:
    """Weighted sum of squares about the weighted mean."""
    W = w.sum()
    if W <= 0:
        return 0.0
    m = (w * x).sum() / W
    return float((w * (x - m) ** 2).sum())


def partner_sums(model, assignment: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partners of a configuration: (footprint of each, today's ICB index of each, partner x field sums)."""
    icb = icb_index(model)
    n_icb = int(icb.max()) + 1
    key = assignment.astype(np.int64) * n_icb + icb
    uniq, inv = np.unique(key, return_inverse=True)
    sums = np.zeros((len(uniq), len(_SUMMED)))
    np.add.at(sums, inv, block_sums(model))
    return uniq // n_icb, uniq % n_icb, sums


def levelling(sums: np.ndarray, fp: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """£ change per partner if levelled to its footprint.

    Returns
    -------
    per_head
        Partner moved to the footprint's core allocation per head: ``A_f / W_f * W_p - A_p``.
    need_adjusted
        Partner moved to the footprint's distance from target (allocation in proportion to fair-shares
        target): ``A_f / T_f * T_p - A_p``. Positive = winner.
    """
    A = sums[:, col("core_recurrent_gbp_k")] * 1000.0
    W = sums[:, col("pop_allocation")]
    T = sums[:, col("core_target_gbp_k")]
    Af, Wf, Tf = (np.bincount(fp, weights=v, minlength=k) for v in (A, W, T))
    return safe_div(Af, Wf)[fp] * W - A, safe_div(Af, Tf)[fp] * T - A


def footprint_budget(model, config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per footprint: level and spread of each measure, £ at stake, winners and losers; and one row per partner."""
    k = config.n_footprints
    fp, icb, sums = partner_sums(model, config.assignment)
    fsums = np.zeros((k, len(_SUMMED)))
    np.add.at(fsums, config.assignment, block_sums(model))
    fvals, pvals = partner_values(fsums), partner_values(sums)
    out: dict[str, object] = {}
    for key in SPREADS:
        out[key] = fvals[key][0]
        x, w = pvals[key]
        out[f"{key}_spread"] = [np.sqrt(safe_div(weighted_ss(x[fp == f], w[fp == f]), w[fp == f].sum()))
                                for f in range(k)]
    ch, need = levelling(sums, fp, k)
    out["at_stake_gbp"] = np.bincount(fp, weights=np.maximum(ch, 0), minlength=k)
    out["at_stake_need_adjusted_gbp"] = np.bincount(fp, weights=np.maximum(need, 0), minlength=k)
    out["partners"] = np.bincount(fp, minlength=k)
    out["winners"] = np.bincount(fp, weights=(ch > 0.5).astype(float), minlength=k).astype(int)
    out["losers"] = np.bincount(fp, weights=(ch < -0.5).astype(float), minlength=k).astype(int)
    icb_codes = np.array(sorted(set(model.blocks.icb_code)))
    name_of = dict(zip(model.blocks.icb_code, model.blocks.icb_name))
    part = pd.DataFrame({"footprint": np.array(config.names)[fp], "icb_code": icb_codes[icb],
                         "icb_name": [name_of[c] for c in icb_codes[icb]],
                         "allocation_population": sums[:, col("pop_allocation")],
                         "core_allocation_gbp": sums[:, col("core_recurrent_gbp_k")] * 1000.0})
    for key in SPREADS:
        part[key] = pvals[key][0]
    part["change_per_head_levelling_gbp"] = ch
    part["change_need_adjusted_gbp"] = need
    return pd.DataFrame(out), part

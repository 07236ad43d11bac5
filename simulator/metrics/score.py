"""The single weighted score: each term normalised to about 0 (ideal) .. 1, weights from the scenario."""

from __future__ import annotations

import numpy as np

from simulator.metrics.budget import levelling, partner_sums, partner_values, weighted_ss

TERMS: dict[str, str] = {
    "population_band": "persons outside the target band, as a share of England's population",
    "allocation_spread": "within-footprint variance of core allocation per head, as a share of England's "
                         "(0: every footprint uniform; 1: every footprint as varied as England)",
    "distance_from_target_spread": "the same for core distance from target (%)",
    "primary_care_spread": "the same for primary medical care allocation per head",
    "prescribing_spread": "the same for prescribing cost per head (dispensing-based: see its caveat)",
    "gp_payments_spread": "the same for NHS payments to general practice per registered patient",
    "at_stake": "£ that moves if members are levelled to the footprint's allocation per head, as a share of "
                "the £ that would move if England were one footprint",
    "at_stake_need_adjusted": "£ that moves if members are levelled to the footprint's distance from target, as a "
                              "share of the same for England as one footprint",
    "flow_leakage": "share of residents' hospital admissions at trusts outside their footprint (1 - localisation)",
    "major_trusts_shared": "share of major trusts with 10% or more of their catchment in each of 2+ footprints",
    "pathology_split": "mean over pathology networks of the share of member trusts outside the network's main "
                       "footprint",
    "mayoral_split": "share of the selected authorities' residents outside their authority's main footprint",
    "regions_crossed": "extra NHS regions spanned by footprints (sum of regions - 1), per today's 42 ICBs",
    "statutory_bodies": "number of footprints per today's 42 ICBs",
}

DEFAULT_WEIGHTS: dict[str, float] = {
    "population_band": 10.0, "allocation_spread": 1.0, "distance_from_target_spread": 1.0,
    "primary_care_spread": 0.5, "prescribing_spread": 0.0, "gp_payments_spread": 0.0, "at_stake": 0.5,
    "at_stake_need_adjusted": 1.0, "flow_leakage": 2.0, "major_trusts_shared": 1.0, "pathology_split": 1.0,
    "mayoral_split": 1.0, "regions_crossed": 0.5, "statutory_bodies": 0.0,
}
"""A starting point that makes the band dominant and weighs convergence and alignment about equally."""

SPREAD_TERMS = {"allocation_spread": "allocation_per_head", "distance_from_target_spread": "distance_from_target",
                "primary_care_spread": "primary_care_per_head", "prescribing_spread": "prescribing_per_head",
                "gp_payments_spread": "gp_payments_per_head"}


def national_reference(model, measure: str, authority_set: str) -> dict[str, float]:
    """Denominators of the score terms, for England as a whole (cached on the model)."""
    cache = model.__dict__.setdefault("_score_reference", {})
    key = (measure, authority_set)
    if key in cache:
        return cache[key]
    from simulator.metrics.authorities import selected

    n = model.n_blocks
    one = np.zeros(n, dtype=np.int64)
    ref: dict[str, float] = {"population": float(model.population(measure).sum())}
    fp, _, sums = partner_sums(model, one)  # England as one footprint: today's 42 ICBs are its partners
    values = partner_values(sums)
    for term, key2 in SPREAD_TERMS.items():
        ref[term] = weighted_ss(*values[key2])
    per_head, need = levelling(sums, fp, 1)
    ref["at_stake"] = float(np.maximum(per_head, 0).sum())
    ref["at_stake_need_adjusted"] = float(np.maximum(need, 0).sum())
    ref["flow_total"] = float(model.flows.sum())
    catch = np.asarray(model.flows.sum(axis=0)).ravel()
    ref["n_major"] = float(((model.trusts.major.to_numpy()) & (catch > 0)).sum())
    ref["n_networks"] = float(sum(1 for t in model.network_trusts if (model.trust_host[t] >= 0).any()))
    idx = selected(model, authority_set)
    ref["authority_residents"] = float(model.authority_overlap[:, idx].sum())
    cache[key] = ref
    return ref


def weighted_score(terms: dict[str, float], weights: dict[str, float]) -> float:
    """Sum of weight x term over the terms (lower is better)."""
    return float(sum(weights.get(k, 0.0) * v for k, v in terms.items()))


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else 0.0


def score_terms(model, config, parts: dict, measure: str, authority_set: str) -> dict[str, float]:
    """Normalised score terms from an evaluation's parts (see ``simulator.metrics.evaluate``)."""
    ref = national_reference(model, measure, authority_set)
    fp = parts["footprints"]
    terms = {"population_band": _ratio(fp.persons_outside_band.sum(), ref["population"])}
    k = config.n_footprints
    pf, _, sums = partner_sums(model, config.assignment)
    values = partner_values(sums)
    for term, key in SPREAD_TERMS.items():
        x, w = values[key]
        ss = sum(weighted_ss(x[pf == f], w[pf == f]) for f in range(k))
        terms[term] = _ratio(ss, ref[term])
    terms["at_stake"] = _ratio(fp.at_stake_gbp.sum(), ref["at_stake"])
    terms["at_stake_need_adjusted"] = _ratio(fp.at_stake_need_adjusted_gbp.sum(), ref["at_stake_need_adjusted"])
    terms["flow_leakage"] = 1.0 - _ratio(fp.flow_internal.sum(), ref["flow_total"])
    mt = parts["major_trusts"]
    terms["major_trusts_shared"] = _ratio(float(mt.shared.sum()) if len(mt) else 0.0, ref["n_major"])
    nets = parts["networks"]
    placed = nets.trust_share_in_one_footprint.dropna()
    terms["pathology_split"] = _ratio(float((1.0 - placed).sum()), ref["n_networks"])
    au = parts["authorities"]
    inside = float((au.share_in_one_footprint * au.residents).sum()) if len(au) else 0.0
    terms["mayoral_split"] = 1.0 - _ratio(inside, ref["authority_residents"]) if ref["authority_residents"] else 0.0
    terms["regions_crossed"] = float((fp.n_regions - 1).sum()) / 42.0
    terms["statutory_bodies"] = k / 42.0
    return terms

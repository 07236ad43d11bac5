"""Evaluate a configuration on every measure: per footprint, per member, per trust, network and authority, overall."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from boundaries.finance import DEFAULT_MEASURE, POPULATION_MEASURES
from simulator.errors import ScenarioError
from simulator.metrics import authorities as _auth
from simulator.metrics import budget as _budget
from simulator.metrics import change as _change
from simulator.metrics import cost as _cost
from simulator.metrics import councils as _councils
from simulator.metrics import flows as _flows
from simulator.metrics import pathology as _path
from simulator.metrics import population as _pop
from simulator.metrics.score import DEFAULT_WEIGHTS, TERMS, scorer, weighted_score

DEFAULT_BAND = (1_500_000.0, 2_500_000.0)


@dataclass
class MetricParameters:
    """What a scenario decides about measurement.

    Attributes
    ----------
    population_measure
        ``gp_registered`` (default, the planning convention), ``allocation`` or ``census``.
    band
        Target population band (floor, ceiling) in persons of that measure.
    weights
        Weight of each score term (``simulator.metrics.score.TERMS``); missing terms take the defaults.
    authority_set
        ``mayoral`` (authorities with a mayor in office) or ``strategic`` (all 22).
    """

    population_measure: str = DEFAULT_MEASURE
    band: tuple[float, float] = DEFAULT_BAND
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    authority_set: str = "mayoral"

    def __post_init__(self) -> None:
        if self.population_measure not in POPULATION_MEASURES:
            raise ScenarioError(f"population measure {self.population_measure!r} is not one of "
                                f"{', '.join(POPULATION_MEASURES)}")
        lo, hi = (float(x) for x in self.band)
        if not (0 <= lo < hi):
            raise ScenarioError(f"population band floor {lo:,.0f} must be below its ceiling {hi:,.0f}")
        self.band = (lo, hi)
        unknown = set(self.weights) - set(TERMS)
        if unknown:
            raise ScenarioError(f"unknown score term(s) {', '.join(sorted(unknown))}; known: {', '.join(TERMS)}")
        for k, v in self.weights.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v < 0:
                raise ScenarioError(f"weight of {k} must be a number >= 0, not {v!r}")
        self.weights = {**DEFAULT_WEIGHTS, **{k: float(v) for k, v in self.weights.items()}}
        if self.authority_set not in _auth.AUTHORITY_SETS:
            raise ScenarioError(f"authority set {self.authority_set!r} is not one of {', '.join(_auth.AUTHORITY_SETS)}")


@dataclass
class Evaluation:
    """Everything measured about one configuration.

    Attributes
    ----------
    footprints
        One row per footprint: members, population, band, budget convergence, flows, regions, running costs.
    members
        One row per block: its footprint, today's ICB and population.
    partners
        One row per partner (the part of one of today's ICBs inside a footprint): its per-head figures and the
        £ it gains (positive) or loses if levelled to its footprint: winners and losers.
    major_trusts, networks, authorities
        One row per major trust, pathology network, selected authority.
    councils
        One row per upper-tier council (county council or unitary): how whole it is
        (``simulator.metrics.councils.councils``).
    overall
        Headline figures for the whole configuration.
    terms, weights, score
        Normalised score terms, their weights, and the weighted sum (lower is better).
    notes
        Data caveats that apply to these figures.
    """

    level: str
    params: MetricParameters
    footprints: pd.DataFrame
    members: pd.DataFrame
    partners: pd.DataFrame
    major_trusts: pd.DataFrame
    networks: pd.DataFrame
    authorities: pd.DataFrame
    overall: dict[str, Any]
    terms: dict[str, float]
    weights: dict[str, float]
    score: float
    notes: list[str]
    councils: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready structure (as written to ``metrics.json``)."""
        return _jsonable({
            "level": self.level, "population_measure": self.params.population_measure,
            "population_measure_label": POPULATION_MEASURES[self.params.population_measure],
            "band": list(self.params.band), "authority_set": self.params.authority_set,
            "score": self.score, "terms": self.terms, "weights": self.weights,
            "term_definitions": TERMS, "overall": self.overall,
            "footprints": self.footprints.to_dict(orient="records"),
            "major_trusts": self.major_trusts.to_dict(orient="records"),
            "pathology_networks": self.networks.to_dict(orient="records"),
            "authorities": self.authorities.to_dict(orient="records"),
            "upper_tier_councils": self.councils.to_dict(orient="records"),
            "partners": self.partners.to_dict(orient="records"),
            "members": self.members.to_dict(orient="records"),
            "notes": self.notes,
        })


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_jsonable(v) for v in x.tolist()]
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not np.isfinite(x) else round(float(x), 6)
    return x


def evaluate(model, config, params: MetricParameters | None = None) -> Evaluation:
    """Measure ``config`` on every metric (see ``Evaluation``)."""
    params = params or MetricParameters()
    if config.model is not model and config.model.level != model.level:
        raise ScenarioError("configuration and model are of different levels")
    a, k = config.assignment, config.n_footprints
    blocks = model.blocks
    fp = pd.DataFrame({"footprint": config.names})
    fp["members"] = [blocks.code.to_numpy()[a == f].tolist() for f in range(k)]
    fp["member_names"] = [blocks.name.to_numpy()[a == f].tolist() for f in range(k)]
    fp["n_members"] = [len(m) for m in fp.members]
    fp = pd.concat([fp, _pop.population_table(model, config, params.population_measure, params.band)], axis=1)
    for m in ("gp_registered", "allocation", "census"):
        fp[f"population_{m}"] = np.bincount(a, weights=model.population(m), minlength=k)
    budget, partners = _budget.footprint_budget(model, config)
    fp = pd.concat([fp, budget], axis=1)
    FT = _flows.footprint_trust_flows(model, config)
    fp = pd.concat([fp, _flows.localisation(model, config, FT)], axis=1)
    reg = _cost.regions(model, config)
    fp = pd.concat([fp, reg], axis=1)
    change, change_overall = _change.change_from_today(model, config, model.population(params.population_measure))
    fp = pd.concat([fp, change], axis=1)
    rca, cost_overall = _cost.running_costs(model, config)
    fp["running_cost_allowance_estimate_gbp"] = rca
    fp["imd_score"] = np.bincount(a, weights=model.figure("imd_score") * model.figure("pop_census"), minlength=k) / \
        np.bincount(a, weights=model.figure("pop_census"), minlength=k)
    fp["core_allocation_gbp"] = np.bincount(a, weights=model.figure("core_recurrent_gbp_k") * 1000.0, minlength=k)
    mt = _flows.major_trusts(model, config, FT)
    nets = _path.pathology(model, config, FT)
    auth, crossing = _auth.authorities(model, config, params.authority_set)
    fp["crosses_authority_boundary"] = crossing
    councils, council_fp, council_overall = _councils.councils(model, config)
    fp = pd.concat([fp, council_fp], axis=1)
    hosted = _flows.trust_footprints(model, config)
    fp["n_acute_trusts"] = np.bincount(hosted[(hosted >= 0) & model.trusts.acute.to_numpy()], minlength=k)
    fp["n_major_trusts"] = np.bincount(hosted[(hosted >= 0) & model.trusts.major.to_numpy()], minlength=k)
    members = pd.DataFrame({"unit_code": blocks.code, "unit_name": blocks.name, "footprint": np.array(config.names)[a],
                            "today_icb": blocks.icb_name,
                            "population": model.population(params.population_measure),
                            "allocation_estimated": model.estimated["core_recurrent_gbp_k"]})
    terms = scorer(model, params).terms(a, k)
    overall = {
        "footprints": k, "in_band": int(fp.in_band.sum()), "below_band": int((fp.band_status == "below band").sum()),
        "above_band": int((fp.band_status == "above band").sum()),
        "smallest_population": float(fp.population.min()), "largest_population": float(fp.population.max()),
        "localisation_index": float(fp.flow_internal.sum() / fp.flow_total.sum()) if fp.flow_total.sum() else None,
        "major_trusts": int(len(mt)), "major_trusts_shared": int(mt.shared.sum()) if len(mt) else 0,
        "pathology_networks_split": int(nets.split.sum()), "pathology_networks": int(len(nets)),
        "mean_pathology_trust_share_in_one_footprint": float(nets.trust_share_in_one_footprint.dropna().mean()),
        "mean_pathology_catchment_share_in_one_footprint": float(nets.catchment_share_in_one_footprint.dropna().mean()),
        "authorities": int(len(auth)), "authorities_split": int(auth.split.sum()) if len(auth) else 0,
        "authority_residents_in_majority_footprint_share": 1.0 - terms["mayoral_split"],
        "footprints_crossing_authority_boundary": int(crossing.sum()),
        **council_overall,
        "footprints_crossing_regions": int((fp.n_regions > 1).sum()),
        "at_stake_gbp": float(fp.at_stake_gbp.sum()),
        "at_stake_need_adjusted_gbp": float(fp.at_stake_need_adjusted_gbp.sum()),
        **cost_overall,
        "change_from_today": change_overall,
    }
    notes = _notes(model, params) + model.map_notes(model.baseline)
    return Evaluation(model.level, params, fp, members, partners, mt, nets, auth, overall, terms, params.weights,
                      weighted_score(terms, params.weights), notes, councils)


def _notes(model, params: MetricParameters) -> list[str]:
    est = sorted(k for k, v in model.estimated.items() if v.any())
    notes = [f"Population measure: {POPULATION_MEASURES[params.population_measure]}; band "
             f"{params.band[0]:,.0f}-{params.band[1]:,.0f}.",
             _budget.PRESCRIBING_CAVEAT,
             "Patient flows: OHID trust catchments, catchment year 2018, by local authority, apportioned to blocks by "
             "Census 2021 residents; trust codes mapped to their July 2026 successors.",
             f"Pathology networks: {int(model.networks.n_inferred.sum())} memberships are inferred, not confirmed by "
             f"a source; {int((model.trusts.acute & ~model.trusts.code.isin(_network_trusts(model))).sum())} acute "
             "trusts are in no network.",
             "Running-cost allowance of a footprint is estimated from the 2025/26 allowances (fixed element per body "
             "plus per head, least-squares over the 42 ICBs that received them).",
             f"Today's map (change from today, partners in budget convergence): the "
             f"{'36 ICBs from 1 April 2026' if model.baseline == '2026' else '42 ICBs of 2024'}. Allocations are "
             "published for the 42 ICBs of 2025/26 only; 2026 ICBs' figures are the sums of their parts."]
    if est:
        notes.append(f"Apportioned from a coarser level (estimates) at {model.level} level: {', '.join(est)}.")
    return notes


def _network_trusts(model) -> set[str]:
    codes = model.trusts.code.to_numpy()
    return {codes[t] for ts in model.network_trusts for t in ts}

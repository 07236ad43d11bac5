"""The single weighted score: a sum over footprints of normalised contributions, with weights from the scenario.

Every term is written so that the score of a configuration is a constant plus a sum over its footprints of a
cost that depends on that footprint's blocks alone. That is what lets an exact solver price a candidate
footprint on its own (set partitioning) and an optimiser re-score a single-block move from two footprints.
Terms are 0 at their ideal and about 1 at their worst.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from simulator.metrics.authorities import selected
from simulator.metrics.budget import DISTANCE, PER_HEAD, block_sums, col, icb_index
from simulator.metrics.flows import MAJOR_SERVE_SHARE

PEOPLE_UNIT = 100_000.0
"""Terms counted in people are counted per 100,000 people."""

TERMS: dict[str, str] = {
    "population_band": "people outside the target band (below the floor or above the ceiling), per 100,000",
    "allocation_spread": "within-footprint variance of core allocation per head between partners, as a share of "
                         "England's (0: every footprint uniform; 1: every footprint as varied as England)",
    "distance_from_target_spread": "the same for core distance from target (%)",
    "primary_care_spread": "the same for primary medical care allocation per head",
    "prescribing_spread": "the same for prescribing cost per head (dispensing-based: see its caveat)",
    "gp_payments_spread": "the same for NHS payments to general practice per registered patient",
    "at_stake": "£ that moves if partners are levelled to the footprint's allocation per head, as a share of "
                "the £ that would move if England were one footprint",
    "at_stake_need_adjusted": "£ that moves if partners are levelled to the footprint's distance from target, as a "
                              "share of the same for England as one footprint",
    "flow_leakage": "share of residents' hospital admissions at trusts outside their footprint (1 - localisation)",
    "major_trust_sharing": "footprints served by each major trust (10% or more of its catchment) beyond the first, "
                           "averaged over major trusts",
    "pathology_split": "share of pathology networks' trusts outside a footprint holding a majority of their "
                       "network, averaged over networks",
    "mayoral_split": "share of the selected authorities' residents outside a footprint holding a majority of "
                     "their authority",
    "regions_crossed": "extra NHS regions spanned by footprints (sum over footprints of regions - 1), one per region",
    "statutory_bodies": "footprints (statutory bodies), one per footprint",
    "people_moved": "people whose ICB changes from today's map (in a footprint, everyone outside its largest part "
                    "of one of today's ICBs), per 100,000",
    "icbs_split": "extra pieces today's ICBs are cut into (an ICB kept whole, alone or merged whole, counts 0; one "
                  "cut in two counts 1)",
    "upper_tier_split": "people outside the footprint holding a majority of their upper-tier council (county council "
                        "or unitary), per 100,000",
}
TERM_NAMES = list(TERMS)

TERM_UNITS: dict[str, str] = {
    "population_band": "100,000 people", "allocation_spread": "England's spread", "distance_from_target_spread":
    "England's spread", "primary_care_spread": "England's spread", "prescribing_spread": "England's spread",
    "gp_payments_spread": "England's spread", "at_stake": "England's £ at stake", "at_stake_need_adjusted":
    "England's £ at stake", "flow_leakage": "all admissions", "major_trust_sharing": "one extra footprint per major "
    "trust", "pathology_split": "every network's trusts", "mayoral_split": "every authority resident",
    "regions_crossed": "one extra region", "statutory_bodies": "one footprint", "people_moved": "100,000 people",
    "icbs_split": "one extra piece", "upper_tier_split": "100,000 people",
}
"""What one unit of each term is: a weight is the score one unit costs."""

DEFAULT_WEIGHTS: dict[str, float] = {
    "population_band": 1.0, "allocation_spread": 1.0, "distance_from_target_spread": 1.0,
    "primary_care_spread": 0.5, "prescribing_spread": 0.0, "gp_payments_spread": 0.0, "at_stake": 0.5,
    "at_stake_need_adjusted": 1.0, "flow_leakage": 2.0, "major_trust_sharing": 1.0, "pathology_split": 1.0,
    "mayoral_split": 1.0, "regions_crossed": 0.01, "statutory_bodies": 0.0, "people_moved": 0.02,
    "icbs_split": 0.25, "upper_tier_split": 0.0,
}
"""The default price list (see docs/metrics.md for the reasoning). 100,000 people outside the band cost 1, about as
much as every footprint being as varied in allocation per head as England: the band binds. A change from today
costs 0.02 per 100,000 people who change ICB and 0.25 per extra piece an ICB is cut into, so a working ICB is cut
only for a clear gain. Convergence and alignment weigh about equally, as before. Upper-tier councils kept whole
are reported but not priced (0) until calibration against the decided maps learns their price."""

SPREAD_TERMS = {"allocation_spread": "allocation_per_head", "distance_from_target_spread": "distance_from_target",
                "primary_care_spread": "primary_care_per_head", "prescribing_spread": "prescribing_per_head",
                "gp_payments_spread": "gp_payments_per_head"}


class FootprintScorer:
    """Prices footprints: each term's contribution from a footprint's blocks alone.

    ``terms(config) = offsets + contributions(indicator).sum(axis=0)`` where ``indicator`` is the footprint x
    block 0/1 matrix of the configuration. Works on any number of footprints at once (rows of the indicator),
    so the same code prices a whole configuration, the two footprints a move touches, or thousands of candidate
    footprints for an exact solver.

    Parameters
    ----------
    model
        The model.
    params
        ``simulator.metrics.evaluate.MetricParameters`` (population measure, band, authority set).
    """

    def __init__(self, model, params):
        self.model = model
        self.band = params.band
        self.weights = np.array([params.weights.get(t, 0.0) for t in TERM_NAMES])
        n = model.n_blocks
        self.pop = model.population(params.population_measure)
        self.pop_total = float(self.pop.sum())
        # Budget: block x (ICB, field) matrix, so indicator @ it gives each partner's sums.
        icb = icb_index(model)
        self.n_icb = int(icb.max()) + 1
        bs = block_sums(model)
        self.n_fields = bs.shape[1]
        S = np.zeros((n, self.n_icb, self.n_fields))
        S[np.arange(n), icb, :] = bs
        self.partner_matrix = S.reshape(n, self.n_icb * self.n_fields)
        self._block_icb = icb
        self._block_sums = bs
        self.spreads = []
        for term, key in SPREAD_TERMS.items():
            if key == "distance_from_target":
                self.spreads.append((col(DISTANCE[1]), col(DISTANCE[2]), 1.0, True))
            else:
                _, num, scale, den = PER_HEAD[key]
                self.spreads.append((col(num), col(den), scale, False))
        self.cA, self.cW, self.cT = col("core_recurrent_gbp_k"), col("pop_allocation"), col("core_target_gbp_k")
        # Flows.
        self.flows = np.asarray(model.flows.todense())
        self.flow_total = float(self.flows.sum())
        host = model.trust_host
        self.placed_trusts = np.flatnonzero(host >= 0)
        self.placed_host = host[self.placed_trusts]
        catch = self.flows.sum(axis=0)
        self.major = np.flatnonzero(model.trusts.major.to_numpy() & (catch > 0))
        self.major_threshold = MAJOR_SERVE_SHARE * catch[self.major]
        # Pathology: block x network count of member trusts hosted; network sizes (placed trusts only).
        nets = model.network_trusts
        self.net_blocks = np.zeros((n, len(nets)))
        for k, ts in enumerate(nets):
            for t in ts:
                if host[t] >= 0:
                    self.net_blocks[host[t], k] += 1
        self.net_size = self.net_blocks.sum(axis=0)
        self.net_used = self.net_size > 0
        self.n_networks = int(self.net_used.sum())
        # Authorities.
        self.auth = model.authority_overlap[:, selected(model, params.authority_set)]
        self.auth_total = self.auth.sum(axis=0)
        self.auth_residents = float(self.auth_total.sum())
        # Upper-tier councils: block x council residents (dense for the walk and the bound, sparse for pricing
        # many footprints: a place lies in one council).
        self.council = np.asarray(model.council_overlap, dtype=float)
        self.council_total = self.council.sum(axis=0)
        self.council_residents = float(self.council_total.sum())
        self._council_sparse = sp.csr_matrix(self.council)
        # Regions.
        regions = model.blocks.region_ods.to_numpy()
        names = sorted(set(regions))
        self.region_matrix = np.zeros((n, len(names)))
        self.region_matrix[np.arange(n), [names.index(r) for r in regions]] = 1.0
        # Change from today: each block's people in its ICB on the baseline map (block x today's ICB), and the
        # number of today's ICBs (pieces beyond one per ICB are splits).
        self.today_matrix = sp.csr_matrix((self.pop, (np.arange(n), icb)), shape=(n, self.n_icb))
        self.reference = self._reference()
        self.offsets = np.zeros(len(TERM_NAMES))
        self.offsets[TERM_NAMES.index("icbs_split")] = -float(self.n_icb)
        self.offsets[TERM_NAMES.index("major_trust_sharing")] = -1.0 if len(self.major) else 0.0
        self.offsets[TERM_NAMES.index("pathology_split")] = 1.0 if self.n_networks else 0.0
        self.offsets[TERM_NAMES.index("mayoral_split")] = 1.0 if self.auth_residents else 0.0
        self.offsets[TERM_NAMES.index("upper_tier_split")] = self.council_residents / PEOPLE_UNIT

    def _reference(self) -> dict[str, float]:
        """Denominators for England as a whole (one footprint whose partners are today's 42 ICBs)."""
        everything = np.ones((1, self.model.n_blocks))
        raw = self._raw(everything)
        return {"ss": raw["ss"][0], "stake": raw["stake"][0], "need": raw["need"][0]}

    def _raw_sparse(self, C: sp.csr_matrix) -> dict[str, np.ndarray]:
        """``_raw`` for many footprints: work on the (footprint, ICB) partners that exist, not all 42 per row."""
        m = C.shape[0]
        coo = C.tocoo()
        key = coo.row.astype(np.int64) * self.n_icb + self._block_icb[coo.col]
        pairs, inv = np.unique(key, return_inverse=True)
        row = pairs // self.n_icb
        bs = self._block_sums
        P = np.column_stack([np.bincount(inv, weights=bs[coo.col, j] * coo.data, minlength=len(pairs))
                             for j in range(self.n_fields)])
        ss = np.empty((m, len(self.spreads)))
        for j, (cn, cd, scale, is_dft) in enumerate(self.spreads):
            w = P[:, cd]
            x = np.divide(P[:, cn] * scale, w, out=np.zeros_like(w), where=w != 0)
            if is_dft:
                x = np.where(w != 0, (x - 1.0) * 100.0, 0.0)
            W = np.bincount(row, weights=w, minlength=m)
            mean = np.divide(np.bincount(row, weights=w * x, minlength=m), W, out=np.zeros(m), where=W > 0)
            ss[:, j] = np.bincount(row, weights=w * (x - mean[row]) ** 2, minlength=m)
        A = P[:, self.cA] * 1000.0
        W = P[:, self.cW]
        T = P[:, self.cT]
        Af, Wf, Tf = (np.bincount(row, weights=v, minlength=m) for v in (A, W, T))
        per_head = np.divide(Af, Wf, out=np.zeros(m), where=Wf > 0)[row] * W - A
        need = np.divide(Af, Tf, out=np.zeros(m), where=Tf > 0)[row] * T - A
        return {"ss": ss, "stake": np.bincount(row, weights=np.maximum(per_head, 0), minlength=m),
                "need": np.bincount(row, weights=np.maximum(need, 0), minlength=m)}

    def _raw(self, C) -> dict[str, np.ndarray]:
        if sp.issparse(C):
            return self._raw_sparse(C)
        m = C.shape[0]
        P = (C @ self.partner_matrix).reshape(m, self.n_icb, self.n_fields)
        ss = np.empty((m, len(self.spreads)))
        for j, (cn, cd, scale, is_dft) in enumerate(self.spreads):
            w = P[:, :, cd]
            num = P[:, :, cn]
            x = np.divide(num * scale, w, out=np.zeros_like(w), where=w != 0)
            if is_dft:
                x = np.where(w != 0, (x - 1.0) * 100.0, 0.0)
            W = w.sum(axis=1)
            mean = np.divide((w * x).sum(axis=1), W, out=np.zeros_like(W), where=W > 0)
            ss[:, j] = (w * (x - mean[:, None]) ** 2).sum(axis=1)
        A = P[:, :, self.cA] * 1000.0
        W = P[:, :, self.cW]
        T = P[:, :, self.cT]
        Af, Wf, Tf = A.sum(axis=1), W.sum(axis=1), T.sum(axis=1)
        per_head = np.divide(Af, Wf, out=np.zeros_like(Af), where=Wf > 0)[:, None] * W - A
        need = np.divide(Af, Tf, out=np.zeros_like(Af), where=Tf > 0)[:, None] * T - A
        return {"ss": ss, "stake": np.maximum(per_head, 0).sum(axis=1), "need": np.maximum(need, 0).sum(axis=1)}

    def contributions(self, C) -> np.ndarray:
        """Each footprint's contribution to each term (rows: footprints of ``C``; columns: ``TERM_NAMES``).

        ``C`` is a footprint x block 0/1 matrix, dense or (for many candidate footprints) scipy sparse.
        """
        if sp.issparse(C):
            C = sp.csr_matrix(C, dtype=float)
        else:
            C = np.atleast_2d(np.asarray(C, dtype=float))
        m = C.shape[0]
        out = np.zeros((m, len(TERM_NAMES)))
        nonempty = np.asarray(C.sum(axis=1)).ravel() > 0
        lo, hi = self.band
        pop = C @ self.pop
        out[:, 0] = np.where(nonempty, np.maximum(lo - pop, 0) + np.maximum(pop - hi, 0), 0) / PEOPLE_UNIT
        raw = self._raw(C)
        ref = self.reference
        out[:, 1:6] = np.divide(raw["ss"], ref["ss"], out=np.zeros_like(raw["ss"]), where=ref["ss"] > 0)
        out[:, 6] = raw["stake"] / ref["stake"] if ref["stake"] > 0 else 0.0
        out[:, 7] = raw["need"] / ref["need"] if ref["need"] > 0 else 0.0
        FT = np.asarray(C @ self.flows)
        hosted = C[:, self.placed_host]
        if sp.issparse(hosted):
            internal = np.asarray(hosted.multiply(FT[:, self.placed_trusts]).sum(axis=1)).ravel()
        else:
            internal = (FT[:, self.placed_trusts] * hosted).sum(axis=1)
        out[:, 8] = (FT.sum(axis=1) - internal) / self.flow_total if self.flow_total else 0.0
        if len(self.major):
            out[:, 9] = (FT[:, self.major] >= self.major_threshold).sum(axis=1) / len(self.major)
        if self.n_networks:
            cnt = np.asarray(C @ self.net_blocks)[:, self.net_used]
            size = self.net_size[self.net_used]
            out[:, 10] = -(np.where(cnt > size / 2, cnt / size, 0.0)).sum(axis=1) / self.n_networks
        if self.auth_residents:
            O = np.asarray(C @ self.auth)
            out[:, 11] = -(np.where(O > self.auth_total / 2, O, 0.0)).sum(axis=1) / self.auth_residents
        nreg = (np.asarray(C @ self.region_matrix) > 0).sum(axis=1)
        out[:, 12] = np.where(nonempty, nreg - 1, 0)
        out[:, 13] = nonempty
        # Change from today: people outside the footprint's largest part of one of today's ICBs, and the number
        # of today's ICBs it holds part or all of (summed over footprints, that is the pieces ICBs are cut into).
        T = sp.csr_matrix(C @ self.today_matrix) if sp.issparse(C) else sp.csr_matrix(np.asarray(C @ self.today_matrix))
        biggest = np.asarray(T.max(axis=1).todense()).ravel()
        out[:, 14] = (pop - biggest) / PEOPLE_UNIT
        out[:, 15] = T.getnnz(axis=1)
        # Upper-tier councils: residents held by a footprint holding a majority of their council (a reward; the
        # offset counts every council resident).
        if self.council_residents and sp.issparse(C):
            U = sp.csr_matrix(C @ self._council_sparse)  # many candidates: a handful of councils each
            held = np.where(U.data > self.council_total[U.indices] / 2, U.data, 0.0)
            row = np.repeat(np.arange(m), np.diff(U.indptr))
            out[:, 16] = -np.bincount(row, weights=held, minlength=m) / PEOPLE_UNIT
        elif self.council_residents:
            U = C @ self.council
            out[:, 16] = -np.where(U > self.council_total / 2, U, 0.0).sum(axis=1) / PEOPLE_UNIT
        return out

    def costs(self, C: np.ndarray) -> np.ndarray:
        """Weighted cost of each footprint (the score is ``constant + costs.sum()``)."""
        return self.contributions(C) @ self.weights

    @property
    def band_per_person(self) -> float:
        """The score one person outside the band costs."""
        return float(self.weights[0]) / PEOPLE_UNIT

    @property
    def moved_per_person(self) -> float:
        """The score one person whose ICB changes costs."""
        return float(self.weights[TERM_NAMES.index("people_moved")]) / PEOPLE_UNIT

    @property
    def constant(self) -> float:
        """The part of the score that does not depend on the configuration."""
        return float(self.offsets @ self.weights)

    def terms(self, assignment: np.ndarray, k: int) -> dict[str, float]:
        """Normalised terms of a whole configuration."""
        C = np.zeros((k, len(assignment)))
        C[assignment, np.arange(len(assignment))] = 1.0
        return dict(zip(TERM_NAMES, (self.offsets + self.contributions(C).sum(axis=0)).tolist()))


def scorer(model, params) -> FootprintScorer:
    """The model's scorer for these parameters (cached on the model)."""
    cache = model.__dict__.setdefault("_scorers", {})
    key = (params.population_measure, tuple(params.band), params.authority_set,
           tuple(sorted(params.weights.items())))
    if key not in cache:
        cache[key] = FootprintScorer(model, params)
    return cache[key]


def weighted_score(terms: dict[str, float], weights: dict[str, float]) -> float:
    """Sum of weight x term over the terms (lower is better)."""
    return float(sum(weights.get(k, 0.0) * v for k, v in terms.items()))

"""Incremental scoring for optimisers: the score of a configuration updated in place by single-block moves."""

from __future__ import annotations

from collections import deque

import numpy as np

from simulator.metrics.authorities import SPLIT_TOLERANCE, selected  # noqa: F401  (tolerance documented there)
from simulator.metrics.budget import PER_HEAD, DISTANCE, block_sums, col, icb_index
from simulator.metrics.evaluate import MetricParameters
from simulator.metrics.flows import MAJOR_SERVE_SHARE
from simulator.metrics.score import SPREAD_TERMS, national_reference


class MoveEvaluator:
    """Keeps per-footprint aggregates so that moving one block re-scores only what the move touches.

    The score equals ``simulator.metrics.evaluate(model, configuration, params).score`` (to rounding) for
    the configuration the evaluator currently holds. Footprint slots are fixed at construction; a footprint
    emptied by moves stays as an empty slot and counts for nothing.

    Parameters
    ----------
    model, config, params
        The model, the starting configuration and the measurement parameters.

    Attributes
    ----------
    assignment
        Current footprint slot of each block (modified in place by ``apply``).
    score
        Current weighted score.
    terms
        Current normalised terms.
    """

    def __init__(self, model, config, params: MetricParameters | None = None):
        self.model = model
        self.params = params or MetricParameters()
        self.weights = self.params.weights
        self.names = list(config.names)
        self.assignment = config.assignment.astype(np.int64).copy()
        self.K = K = len(self.names)
        self.ref = national_reference(model, self.params.population_measure, self.params.authority_set)
        n = model.n_blocks
        self._pop = model.population(self.params.population_measure)
        self._lo, self._hi = self.params.band
        # Budget: per (footprint, today's ICB) partner sums of the figures behind each measure.
        self._icb = icb_index(model)
        self._bs = block_sums(model)
        self._spread_cols = []
        for term, key in SPREAD_TERMS.items():
            if key == "distance_from_target":
                self._spread_cols.append((term, col(DISTANCE[1]), col(DISTANCE[2]), 1.0, True))
            else:
                _, num, scale, den = PER_HEAD[key]
                self._spread_cols.append((term, col(num), col(den), scale, False))
        self._cA, self._cW, self._cT = col("core_recurrent_gbp_k"), col("pop_allocation"), col("core_target_gbp_k")
        n_icb = int(self._icb.max()) + 1
        self.PS = np.zeros((K, n_icb, self._bs.shape[1]))
        np.add.at(self.PS, (self.assignment, self._icb), self._bs)
        self.P = np.bincount(self.assignment, weights=self._pop, minlength=K)
        self.size = np.bincount(self.assignment, minlength=K)
        # Flows: footprint x trust catchment, trust hosts.
        flows = model.flows.tocsr()
        self._frow = [(flows.indices[flows.indptr[i]:flows.indptr[i + 1]], flows.data[flows.indptr[i]:flows.indptr[i + 1]])
                      for i in range(n)]
        self.FT = np.zeros((K, flows.shape[1]))
        for i in range(n):
            idx, val = self._frow[i]
            self.FT[self.assignment[i], idx] += val
        self._host = model.trust_host
        self._hosted = [np.flatnonzero(self._host == i) for i in range(n)]
        self.hfp = np.where(self._host >= 0, self.assignment[np.maximum(self._host, 0)], -1)
        self._major = np.flatnonzero(model.trusts.major.to_numpy())
        self._is_major = model.trusts.major.to_numpy()
        self._catch = self.FT.sum(axis=0)
        # Pathology networks containing each trust.
        self._net_trusts = model.network_trusts
        self._trust_nets = [[] for _ in range(flows.shape[1])]
        for k2, ts in enumerate(self._net_trusts):
            for t in ts:
                self._trust_nets[t].append(k2)
        # Authorities.
        self._aidx = selected(model, self.params.authority_set)
        ov = model.authority_overlap[:, self._aidx]
        self._arow = [(np.flatnonzero(ov[i]), ov[i][ov[i] > 0]) for i in range(n)]
        self.O = np.zeros((K, len(self._aidx)))
        np.add.at(self.O, self.assignment, ov)
        # Regions.
        regions = model.blocks.region_ods.to_numpy()
        rnames = sorted(set(regions))
        self._reg = np.array([rnames.index(r) for r in regions])
        self.RC = np.zeros((K, len(rnames)), dtype=np.int64)
        np.add.at(self.RC, (self.assignment, self._reg), 1)
        self._neighbours = model.neighbours
        self._recompute_all()

    # ------------------------------------------------------------------ per-footprint pieces
    def _fp_budget(self, f: int) -> tuple[np.ndarray, float, float]:
        """Spread sums of squares (one per spread term), £ at stake and need-adjusted £ at stake of footprint f."""
        ps = self.PS[f]
        ss = np.empty(len(self._spread_cols))
        for j, (_, cn, cd, scale, is_dft) in enumerate(self._spread_cols):
            w = ps[:, cd]
            num = ps[:, cn]
            if is_dft:
                x = np.divide(num, w, out=np.zeros_like(w), where=w != 0) - 1.0
                x *= 100.0
            else:
                x = np.divide(num * scale, w, out=np.zeros_like(w), where=w != 0)
            W = w.sum()
            if W > 0:
                m = (w * x).sum() / W
                ss[j] = (w * (x - m) ** 2).sum()
            else:
                ss[j] = 0.0
        A = ps[:, self._cA] * 1000.0
        W = ps[:, self._cW]
        T = ps[:, self._cT]
        Af, Wf, Tf = A.sum(), W.sum(), T.sum()
        ph = (Af / Wf if Wf else 0.0) * W - A
        nd = (Af / Tf if Tf else 0.0) * T - A
        return ss, float(np.maximum(ph, 0).sum()), float(np.maximum(nd, 0).sum())

    def _fp_internal(self, f: int) -> float:
        inside = self.hfp == f
        return float(self.FT[f, inside].sum())

    def _band(self, p: float) -> float:
        return max(self._lo - p, 0.0) + max(p - self._hi, 0.0) if p > 0 or self._lo > 0 else 0.0

    def _major_shared(self, trusts: np.ndarray) -> np.ndarray:
        c = self._catch[trusts]
        shares = np.divide(self.FT[:, trusts], c, out=np.zeros((self.K, len(trusts))), where=c > 0)
        return ((shares >= MAJOR_SERVE_SHARE).sum(axis=0) >= 2) & (c > 0)

    def _net_share(self, n: int) -> float:
        fps = self.hfp[self._net_trusts[n]]
        placed = fps[fps >= 0]
        if len(placed) == 0:
            return 1.0
        return float(np.bincount(placed).max() / len(placed))

    def _recompute_all(self) -> None:
        K = self.K
        self.band_f = np.array([self._band(p) if self.size[f] else 0.0 for f, p in enumerate(self.P)])
        bud = [self._fp_budget(f) for f in range(K)]
        self.ss_f = np.array([b[0] for b in bud]).reshape(K, len(self._spread_cols))
        self.stake_f = np.array([b[1] for b in bud])
        self.need_f = np.array([b[2] for b in bud])
        self.internal_f = np.array([self._fp_internal(f) for f in range(K)])
        self.shared = np.zeros(len(self._is_major), dtype=bool)
        self.shared[self._major] = self._major_shared(self._major)
        self.net_share = np.array([self._net_share(n) for n in range(len(self._net_trusts))])
        self._net_placed = np.array([(self.hfp[t] >= 0).any() for t in self._net_trusts])
        self.auth_max = self.O.max(axis=0) if K else np.zeros(len(self._aidx))
        self.nreg_f = (self.RC > 0).sum(axis=1)
        self._rescore()

    def _rescore(self) -> None:
        r = self.ref
        t = {"population_band": self.band_f.sum() / r["population"] if r["population"] else 0.0}
        tot = self.ss_f.sum(axis=0)
        for j, (term, *_rest) in enumerate(self._spread_cols):
            t[term] = tot[j] / r[term] if r[term] > 0 else 0.0
        t["at_stake"] = self.stake_f.sum() / r["at_stake"] if r["at_stake"] > 0 else 0.0
        t["at_stake_need_adjusted"] = (self.need_f.sum() / r["at_stake_need_adjusted"]
                                       if r["at_stake_need_adjusted"] > 0 else 0.0)
        t["flow_leakage"] = 1.0 - (self.internal_f.sum() / r["flow_total"] if r["flow_total"] else 0.0)
        t["major_trusts_shared"] = self.shared.sum() / r["n_major"] if r["n_major"] else 0.0
        t["pathology_split"] = ((1.0 - self.net_share[self._net_placed]).sum() / r["n_networks"]
                                if r["n_networks"] else 0.0)
        t["mayoral_split"] = (1.0 - self.auth_max.sum() / r["authority_residents"]
                              if r["authority_residents"] else 0.0)
        nonempty = self.size > 0
        t["regions_crossed"] = float((self.nreg_f[nonempty] - 1).sum()) / 42.0
        t["statutory_bodies"] = float(nonempty.sum()) / 42.0
        self.terms = {k: float(v) for k, v in t.items()}
        self.score = float(sum(self.weights.get(k, 0.0) * v for k, v in self.terms.items()))

    # ------------------------------------------------------------------ moves
    def apply(self, block: int, to: int) -> float:
        """Move ``block`` to footprint slot ``to`` and return the new score."""
        f = int(self.assignment[block])
        g = int(to)
        if f == g:
            return self.score
        self.assignment[block] = g
        ic = self._icb[block]
        bs = self._bs[block]
        self.PS[f, ic] -= bs
        self.PS[g, ic] += bs
        p = self._pop[block]
        self.P[f] -= p
        self.P[g] += p
        self.size[f] -= 1
        self.size[g] += 1
        idx, val = self._frow[block]
        self.FT[f, idx] -= val
        self.FT[g, idx] += val
        hosted = self._hosted[block]
        if len(hosted):
            self.hfp[hosted] = g
        r = self._reg[block]
        self.RC[f, r] -= 1
        self.RC[g, r] += 1
        aidx, aval = self._arow[block]
        if len(aidx):
            self.O[f, aidx] -= aval
            self.O[g, aidx] += aval
            self.auth_max[aidx] = self.O[:, aidx].max(axis=0)
        for h in (f, g):
            self.band_f[h] = self._band(self.P[h]) if self.size[h] else 0.0
            ss, st, nd = self._fp_budget(h)
            self.ss_f[h] = ss
            self.stake_f[h] = st
            self.need_f[h] = nd
            self.internal_f[h] = self._fp_internal(h)
            self.nreg_f[h] = int((self.RC[h] > 0).sum())
        maj = idx[self._is_major[idx]]
        if len(maj):
            self.shared[maj] = self._major_shared(maj)
        if len(hosted):
            for t in hosted:
                for n in self._trust_nets[t]:
                    self.net_share[n] = self._net_share(n)
        self._rescore()
        return self.score

    def delta(self, block: int, to: int) -> float:
        """Score change if ``block`` moved to ``to`` (the evaluator is left unchanged)."""
        f = int(self.assignment[block])
        before = self.score
        after = self.apply(block, to)
        self.apply(block, f)
        self.score = before
        return after - before

    def keeps_contiguity(self, block: int, to: int) -> bool:
        """True if the move leaves both footprints in one piece (``to`` must border ``block``)."""
        f = self.assignment[block]
        nb = self._neighbours[block]
        if not (self.assignment[nb] == to).any():
            return False
        same = [j for j in nb if self.assignment[j] == f]
        if not same:
            return self.size[f] == 1  # an isolated block leaving empties its footprint
        # Every same-footprint neighbour must still reach the others without passing through the block.
        target = set(same)
        seen = {same[0], block}
        queue = deque([same[0]])
        found = 1
        while queue and found < len(target):
            u = queue.popleft()
            for v in self._neighbours[u]:
                if v not in seen and self.assignment[v] == f:
                    seen.add(v)
                    if v in target:
                        found += 1
                    queue.append(v)
        return found == len(target)

    def candidate_moves(self, block: int) -> list[int]:
        """Footprint slots that ``block`` could move to without breaking contiguity."""
        f = self.assignment[block]
        out = sorted({int(self.assignment[j]) for j in self._neighbours[block]} - {int(f)})
        return [g for g in out if self.keeps_contiguity(block, g)]

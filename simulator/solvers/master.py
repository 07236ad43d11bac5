"""Lower bound for set partitioning: column generation over the candidate pool, strengthened by subset-row cuts.

The plain LP relaxation of footprint set partitioning is weak for this score (13.9% gap at sub-ICB level: the
LP covers awkward corners of the map with fractions of in-band footprints). Subset-row cuts (Jepsen, Petersen,
Spoorendonk and Pisinger, 2008) close most of it: for any three blocks, at most one chosen footprint can hold
two or more of them. The master LP starts from single blocks plus artificial columns, prices every enumerated
candidate with one sparse product per round, and adds the most violated cuts until none is left.

Whatever the state the loop stops in, the bound returned is a Lagrangian bound computed from sign-corrected
duals over *all* candidates, so it is valid even if the time limit cuts the column generation short.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

from simulator.errors import ScenarioError

_ARTIFICIAL_COST = 1_000.0  # far above any footprint's cost (terms are about 0-1 each, weights about 0-10)
_COLUMNS_PER_ROUND = 300
_CUTS_PER_ROUND = 60
_MIN_VIOLATION = 1e-3
_COVER_TOLERANCE = 1e-6  # well below _MIN_VIOLATION: LP solutions cover each block once, to about 1e-7


_banner_shown = False


def _highs():
    """A silent HiGHS instance (highspy prints a banner to standard output once per process: keep it off the
    CLI's output, which may be piped)."""
    global _banner_shown
    if _banner_shown:
        return highspy.Highs()
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    _banner_shown = True
    return h


class PartitionMaster:
    """The set-partitioning LP kept in HiGHS between rounds: a row per block (= 1), global rows (ranged, e.g. the
    number of footprints) and subset-row cuts (<= 1, appended as found); columns appended as found. Artificial
    columns (+1 on each row, -1 on each global row, at a prohibitive cost) keep every master feasible.

    Parameters
    ----------
    n
        Blocks.
    global_bounds
        ``(lower, upper)`` of each global row (``-inf`` / ``inf`` where open).
    """

    def __init__(self, n: int, global_bounds: list[tuple[float, float]]):
        self.n, self.global_bounds = n, list(global_bounds)
        self.inf = inf = highspy.kHighsInf
        self.h = h = _highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        lo = np.r_[np.ones(n), [a if np.isfinite(a) else -inf for a, _ in self.global_bounds]]
        hi = np.r_[np.ones(n), [b if np.isfinite(b) else inf for _, b in self.global_bounds]]
        h.addRows(len(lo), lo, hi, 0, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0))
        self.n_fixed = len(lo)
        art = sp.hstack([sp.identity(self.n_fixed, format="csc"),
                         -sp.identity(self.n_fixed, format="csc")[:, n:]], format="csc")
        h.addCols(art.shape[1], np.full(art.shape[1], _ARTIFICIAL_COST), np.zeros(art.shape[1]),
                  np.full(art.shape[1], inf), art.nnz, art.indptr[:-1].astype(np.int32),
                  art.indices.astype(np.int32), art.data)
        self.n_art = art.shape[1]

    def add_columns(self, C: sp.csr_matrix, costs: np.ndarray, global_coef: np.ndarray, G: sp.spmatrix) -> None:
        """Append columns: footprints ``C`` (column x block), their costs, coefficients on the global rows
        (column x global row) and cut membership ``G`` (column x cut)."""
        sub = sp.hstack([C, sp.csr_matrix(global_coef), G], format="csr").T.tocsc()
        k = C.shape[0]
        self.h.addCols(k, costs, np.zeros(k), np.full(k, self.inf), sub.nnz, sub.indptr[:-1].astype(np.int32),
                       sub.indices.astype(np.int32), sub.data)

    def add_cut(self, columns: np.ndarray) -> None:
        """Append a subset-row cut (<= 1) over these master columns (artificial columns counted)."""
        self.h.addRow(-self.inf, 1.0, len(columns), np.asarray(columns, dtype=np.int32), np.ones(len(columns)))

    def solve(self) -> bool:
        """Solve; False unless HiGHS reports an optimum."""
        self.h.run()
        return self.h.getModelStatus() == highspy.HighsModelStatus.kOptimal

    def status(self) -> str:
        return self.h.modelStatusToString(self.h.getModelStatus())

    def values(self) -> np.ndarray:
        """Each non-artificial column's value in the LP solution."""
        return np.array(self.h.getSolution().col_value)[self.n_art:]

    def artificial_in_use(self) -> bool:
        """True if the pool cannot cover the blocks without artificial columns."""
        return bool((np.array(self.h.getSolution().col_value)[:self.n_art] > 1e-7).any())

    def duals(self) -> np.ndarray:
        """Sign-correct duals: a <= row (a cut, or a global row's upper side) has y <= 0 and a >= side y >= 0, so
        that :meth:`dual_objective` plus the most the columns could take off is a bound for any y handed over."""
        n = self.n
        y = np.array(self.h.getSolution().row_dual)
        y[self.n_fixed:] = np.minimum(y[self.n_fixed:], 0.0)
        for k, (lo, hi) in enumerate(self.global_bounds):
            if not np.isfinite(lo):
                y[n + k] = min(y[n + k], 0.0)
            if not np.isfinite(hi):
                y[n + k] = max(y[n + k], 0.0)
        return y

    def dual_objective(self, y: np.ndarray) -> float:
        """Blocks (= 1), global rows at the side their dual pushes, cuts (<= 1): a bound once no column prices
        out below zero (and, with the lowest reduced cost, a Lagrangian bound before)."""
        n = self.n
        val = float(y[:n].sum())
        for k, (lo, hi) in enumerate(self.global_bounds):
            d = y[n + k]
            val += d * (lo if d > 0 else (hi if d < 0 else 0.0))
        return val + float(y[self.n_fixed:].sum())


@dataclass
class MasterBound:
    """Result of :func:`cut_strengthened_bound`.

    Attributes
    ----------
    bound
        Valid lower bound on the sum of chosen candidates' costs (without the score's constant).
    reduced_costs
        Each candidate's reduced cost (non-negative, up to rounding): any solution containing candidate ``j``
        costs at least ``bound + reduced_costs[j]``.
    plain_lp
        The LP bound before any cut (for reporting how much the cuts added).
    support
        Candidates used by the final LP solution.
    feasible
        False if even the LP relaxation has no solution (some block cannot be covered with the global rows).
    stats
        Rounds, cuts, columns priced into the master, seconds.
    """

    bound: float
    reduced_costs: np.ndarray
    plain_lp: float
    support: np.ndarray
    feasible: bool = True
    stats: dict = field(default_factory=dict)
    duals: np.ndarray | None = None
    triples: list = field(default_factory=list)

    def price(self, C: sp.csr_matrix, costs: np.ndarray, global_rows=()) -> np.ndarray:
        """Reduced costs of footprints outside the candidate pool, under the duals of the bound."""
        n = C.shape[1]
        y = self.duals
        rc = costs - C @ y[:n]
        for k, (r, _, _) in enumerate(global_rows):
            rc = rc - np.asarray(r, dtype=float) * y[n + k]
        if self.triples:
            rc = rc - _CutMembership(C.tocsc(), self.triples).charge(y[n + len(global_rows):])
        return rc


def _held(Ccsc: sp.csc_matrix) -> sp.csc_matrix:
    """``Ccsc`` with an entry exactly where a candidate holds a block (no repeated or stored zero entries), copied
    only if it has any."""
    if Ccsc.has_canonical_format and Ccsc.data.all():
        return Ccsc
    Ccsc = Ccsc.copy()
    Ccsc.sum_duplicates()
    Ccsc.eliminate_zeros()
    return Ccsc


class _CutMembership:
    """Which candidates each subset-row cut holds (those with at least two of its three blocks), grown a cut at a
    time: one array of candidates per cut, read from its blocks' columns. (A candidate x cut CSR matrix costs a
    pass over all of it to stack new cuts beside it or to read one cut's column.)

    Parameters
    ----------
    Ccsc
        Candidate footprints (candidate x block, 0/1), in columns.
    triples
        Cuts to start with.
    """

    def __init__(self, Ccsc: sp.csc_matrix, triples: list[tuple[int, int, int]] = ()):
        Ccsc = _held(Ccsc)
        self.N = Ccsc.shape[0]
        # Indices kept as intp here and in the members: narrower ones are cast at every use as an index.
        self._ptr, self._ind = Ccsc.indptr, Ccsc.indices.astype(np.intp)
        self.members: list[np.ndarray] = []
        for t in triples:
            self.add(t)

    def add(self, triple: tuple[int, int, int]) -> None:
        """Append a cut."""
        a, b, c = (self._holding(k) for k in triple)
        self.members.append(np.flatnonzero((a & b) | (a & c) | (b & c)))

    def _holding(self, block: int) -> np.ndarray:
        held = np.zeros(self.N, dtype=bool)
        held[self._ind[self._ptr[block]:self._ptr[block + 1]]] = True
        return held

    def charge(self, cut_duals: np.ndarray) -> np.ndarray:
        """Each candidate's total of the duals of the cuts holding it: the candidate x cut matrix times
        ``cut_duals``, summed in the same order (cut by cut, from zero), so equal to the last bit. Cuts whose dual
        is zero add nothing and are skipped."""
        total = np.zeros(self.N)
        for k in np.flatnonzero(cut_duals):
            total[self.members[k]] += cut_duals[k]
        return total

    def matrix(self) -> sp.csr_matrix:
        """The candidate x cut 0/1 matrix."""
        indptr = np.zeros(len(self.members) + 1, dtype=np.int64)
        np.cumsum([len(m) for m in self.members], out=indptr[1:])
        indices = np.concatenate(self.members) if self.members else np.zeros(0, dtype=np.intp)
        return sp.csc_matrix((np.ones(len(indices)), indices, indptr), shape=(self.N, len(self.members))).tocsr()


def _cut_membership(Ccsc: sp.csc_matrix, triples: list[tuple[int, int, int]]) -> sp.csr_matrix:
    """Candidate x cut 0/1 matrix: candidate holds at least two of the cut's three blocks."""
    return _CutMembership(Ccsc, triples).matrix()


def _dense_membership(A: np.ndarray, triples: list[tuple[int, int, int]]) -> np.ndarray:
    """Cut membership of a few candidates held densely (candidate x block): candidate x cut, 0/1."""
    if not triples:
        return np.zeros((A.shape[0], 0))
    return ((A[:, np.asarray(triples)] != 0).sum(axis=2) >= 2).astype(np.float64)


def violated_subset_rows(C: sp.csr_matrix, x: np.ndarray, known: set, limit: int = _CUTS_PER_ROUND
                         ) -> list[tuple[int, int, int]]:
    """Triples of blocks whose subset-row inequality the fractional solution ``x`` breaks, most violated first.

    ``C`` holds the candidates of the solution's support (rows) and ``x`` their values. For blocks a < b < c,
    the left-hand side is the total value of candidates holding at least two of them; a value above 1 is
    impossible for any partition.
    """
    if C.shape[0] == 0:
        return []
    A = C.toarray()
    n = A.shape[1]
    pair = (A * x[:, None]).T @ A  # value of candidates holding both a and b
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    first = A.any(axis=0)
    if (x @ A).max() <= 1.0 + _COVER_TOLERANCE:
        # Each block covered at most once (as in an LP solution): a block held by fewer than two candidates is in
        # no violated triple (the one candidate holding it, plus those holding the other two, take at most one
        # block's cover), so only blocks split between candidates need be first. The triples found are the same.
        first = (A > 0).sum(axis=0) >= 2
    found_a, found_b, found_c, found_v = [], [], [], []
    for a in np.flatnonzero(first):
        rows = A[:, a] > 0
        Aa = A[rows]
        both = (Aa * x[rows, None]).T @ Aa  # value of candidates holding a, b and c
        lhs = pair[a][:, None] + pair[a][None, :] + pair - 2.0 * both
        bb, cc = np.nonzero((lhs > 1.0 + _MIN_VIOLATION) & upper)
        keep = bb > a
        found_a.append(np.full(keep.sum(), a))
        found_b.append(bb[keep])
        found_c.append(cc[keep])
        found_v.append(lhs[bb[keep], cc[keep]])
    if not found_a:
        return []
    a, b, c, v = (np.concatenate(z) for z in (found_a, found_b, found_c, found_v))
    order = np.argsort(-v, kind="stable")
    out = []
    for i in order:
        t = (int(a[i]), int(b[i]), int(c[i]))
        if t not in known:
            out.append(t)
            if len(out) >= limit:
                break
    return out


def cut_strengthened_bound(C: sp.csr_matrix, costs: np.ndarray, global_rows=(), time_limit: float | None = None,
                           max_rounds: int = 50, progress=None) -> MasterBound:
    """Column generation with subset-row cuts over the candidates ``C`` (candidate x block, 0/1).

    Parameters
    ----------
    C, costs
        Candidate footprints and their costs; the problem is ``min costs @ x`` with each block covered once.
    global_rows
        Extra ``(row over candidates, lower, upper)`` constraints (e.g. the number of footprints).
    time_limit
        Seconds; the loop stops between rounds when it runs out (the bound stays valid).
    max_rounds
        Rounds of cut separation at most.
    """
    t0 = time.perf_counter()
    progress = progress or (lambda msg, frac: None)
    N, n = C.shape
    C = C.tocsr()
    rows = [(np.asarray(r, dtype=float), float(lo), float(hi)) for r, lo, hi in global_rows]
    master = PartitionMaster(n, [(lo, hi) for _, lo, hi in rows])
    n_fixed_rows = master.n_fixed
    pool: list[int] = [-1] * master.n_art  # master column -> candidate (-1: artificial)
    in_pool = np.zeros(N, dtype=bool)
    triples: list[tuple[int, int, int]] = []
    known: set = set()
    cuts = _CutMembership(C.tocsc())
    R = np.vstack([r[0] for r in rows]) if rows else np.zeros((0, N))

    def add_columns(idx: np.ndarray) -> None:
        Cidx = C[idx]
        master.add_columns(Cidx, costs[idx], R[:, idx].T, sp.csr_matrix(_dense_membership(Cidx.toarray(), triples)))
        pool.extend(int(i) for i in idx)
        in_pool[idx] = True

    def reduced(y: np.ndarray) -> np.ndarray:
        rc = costs - C @ y[:n]
        if rows:
            rc -= R.T @ y[n:n_fixed_rows]
        if triples:
            rc -= cuts.charge(y[n_fixed_rows:])
        return rc

    def lagrangian(y: np.ndarray, rc: np.ndarray) -> float:
        """A valid bound from any sign-correct duals: y·(row limits) + the most the columns could take off."""
        return master.dual_objective(y) + n * min(0.0, float(rc.min()))  # at most n candidates in a partition

    add_columns(np.flatnonzero(np.diff(C.indptr) == 1))  # single blocks

    def column_generation() -> tuple[np.ndarray, np.ndarray]:
        while True:
            if not master.solve():
                raise ScenarioError("the solver's LP relaxation stopped without an optimum "
                                    f"({master.status()}); try the local_search solver")
            y = master.duals()
            rc = reduced(y)
            priced = np.where(in_pool, np.inf, rc)
            neg = np.flatnonzero(priced < -1e-9)
            if len(neg) == 0 or (time_limit is not None and time.perf_counter() - t0 > time_limit):
                return y, rc
            add_columns(neg[np.argsort(priced[neg], kind="stable")[:_COLUMNS_PER_ROUND]])

    y, rc = column_generation()
    plain = lagrangian(y, rc)
    if master.artificial_in_use():
        return MasterBound(plain, rc, plain, np.zeros(0, dtype=int), feasible=False,
                           stats={"master_s": round(time.perf_counter() - t0, 3)})
    best, best_rc, best_y, best_k = plain, rc, y, 0
    rounds = 0
    for rounds in range(1, max_rounds + 1):
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
        x = np.r_[np.zeros(master.n_art), master.values()]
        P = np.array(pool)
        s = np.flatnonzero((x > 1e-9) & (P >= 0))
        new = violated_subset_rows(C[P[s]], x[s], known)
        if not new:
            break
        in_master = np.flatnonzero(P >= 0)
        held = _dense_membership(C[P[in_master]].toarray(), new) > 0  # master column x new cut
        for k, tri in enumerate(new):
            known.add(tri)
            triples.append(tri)
            cuts.add(tri)
            master.add_cut(in_master[held[:, k]])
        y, rc = column_generation()
        value = lagrangian(y, rc)
        if value > best:
            best, best_rc, best_y, best_k = value, rc, y, len(triples)
        progress(f"lower bound {best:.4f} after {len(triples)} cuts", min(0.6, 0.3 + 0.02 * rounds))
    x = np.r_[np.zeros(master.n_art), master.values()]
    P = np.array(pool)
    support = P[(x > 1e-9) & (P >= 0)]
    return MasterBound(best, np.maximum(best_rc, 0.0), plain, support,
                       duals=best_y[:n_fixed_rows + best_k], triples=triples[:best_k],
                       stats={"cut_rounds": rounds, "subset_row_cuts": len(triples),
                              "master_columns": int(in_pool.sum()), "master_s": round(time.perf_counter() - t0, 3)})

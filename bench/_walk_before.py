"""Frozen copy of ``simulator/solvers/scan.py`` at commit feedd93 (one ``_walk``), timed by ``bench_walk.py``."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from simulator.metrics.score import TERM_NAMES, scorer
from simulator.solvers.base import Problem
from simulator.solvers.exact import enumeration_rules, population_cap

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; the message says what to do
    numba = None


@dataclass
class ScanResult:
    """Result of :meth:`FootprintScan.scan`.

    Attributes
    ----------
    min_reduced_cost
        Lowest reduced cost over the candidate footprints visited (``inf`` if there is none): every candidate,
        unless ``exact_below`` let the walk skip branches or the deadline stopped it.
    footprints
        Block indices of the footprints kept (reduced cost at most ``threshold``), one array each.
    reduced_costs
        Their reduced costs.
    threshold
        The threshold in force at the end: lowered from the one asked for if more footprints qualified than
        could be kept (then the kept ones are the lowest).
    visited
        Candidate footprints visited.
    lower_bound
        A proven lower bound on every candidate's reduced cost: ``min_reduced_cost`` when the walk visited every
        candidate; with ``exact_below`` it may be lower (the least bound of a skipped branch), never above it.
    pruned
        Branches skipped because no footprint in them could price below ``exact_below``.
    complete
        False if the deadline passed before every root was walked: then nothing is proven
        (``lower_bound`` is ``-inf``) and only the footprints found are of use.
    """

    min_reduced_cost: float
    footprints: list[np.ndarray]
    reduced_costs: np.ndarray
    threshold: float
    visited: int
    lower_bound: float = -np.inf
    pruned: int = 0
    complete: bool = True


class FootprintScan:
    """Visits every connected candidate footprint of a problem (under its population cap, in its region).

    Parameters
    ----------
    problem
        The problem. Locked blocks take no part (the caller adds their fixed footprints); must-not-merge
        pairs are not checked here (footprints that break one are dropped by the caller, which can only lower
        the minimum found).
    workers
        Threads walking from different roots at once (default: one per core).
    """

    def __init__(self, problem: Problem, workers: int | None = None):
        if numba is None:  # pragma: no cover
            raise ImportError("the enumeration bound needs numba: pip install numba")
        self.problem = problem
        self.workers = workers or os.cpu_count() or 1
        m = problem.model
        n = m.n_blocks
        sc = scorer(m, problem.params)
        wt = dict(zip(TERM_NAMES, sc.weights))
        self.cap = population_cap(problem)
        self.free = problem.free_blocks
        locked = ~self.free
        self.nbptr, self.nbidx = free_neighbours(problem, self.free)
        pop = np.asarray(problem.population, dtype=np.float64)
        self.weight = np.where(locked, np.inf, pop)
        self.roots = np.flatnonzero(self.free & (pop <= self.cap)).astype(np.int64)
        free = np.flatnonzero(self.free)
        # Budget: partners are today's ICBs; spreads that carry weight, with their England-wide denominators.
        self.icb = sc._block_icb.astype(np.int64)
        self.n_icb = int(sc.n_icb)
        self.bs = np.ascontiguousarray(sc._block_sums, dtype=np.float64)
        spreads = [(cn, cd, scale, dft, wt[t] / sc.reference["ss"][j])
                   for j, (t, (cn, cd, scale, dft)) in enumerate(zip(TERM_NAMES[1:6], sc.spreads))
                   if wt[t] and sc.reference["ss"][j] > 0]
        self.sp_cn = np.array([s[0] for s in spreads], dtype=np.int64)
        self.sp_cd = np.array([s[1] for s in spreads], dtype=np.int64)
        self.sp_scale = np.array([s[2] for s in spreads], dtype=np.float64)
        self.sp_dft = np.array([s[3] for s in spreads], dtype=np.bool_)
        self.sp_wt = np.array([s[4] for s in spreads], dtype=np.float64)
        self.cols = np.array([sc.cA, sc.cW, sc.cT], dtype=np.int64)
        self.stake_wt = wt["at_stake"] / sc.reference["stake"] if sc.reference["stake"] > 0 else 0.0
        self.need_wt = wt["at_stake_need_adjusted"] / sc.reference["need"] if sc.reference["need"] > 0 else 0.0
        # Flows: block x block matrix of admissions from one block's residents to trusts hosted in another.
        flows = sc.flows
        host_of = np.zeros((flows.shape[1], n))
        host_of[sc.placed_trusts, sc.placed_host] = 1.0
        self.flow_in = np.ascontiguousarray(flows @ host_of)
        self.row_total = flows.sum(axis=1).astype(np.float64)
        self.leak_wt = wt["flow_leakage"] / sc.flow_total if sc.flow_total else 0.0
        # Counted terms, restricted to the columns the free blocks touch.
        major = sc.major if len(sc.major) else np.zeros(0, dtype=int)
        FM = flows[:, major] if len(major) else np.zeros((n, 0))
        use = FM[free].sum(axis=0) > 0
        self.major_flow = np.ascontiguousarray(FM[:, use])
        self.major_thr = np.asarray(sc.major_threshold[use] if len(major) else np.zeros(0), dtype=np.float64)
        self.major_wt = wt["major_trust_sharing"] / len(sc.major) if len(sc.major) else 0.0
        NB = sc.net_blocks[:, sc.net_used]
        use = NB[free].sum(axis=0) > 0
        self.net_blocks = np.ascontiguousarray(NB[:, use])
        self.net_size = np.asarray(sc.net_size[sc.net_used][use], dtype=np.float64)
        self.net_wt = wt["pathology_split"] / sc.n_networks if sc.n_networks else 0.0
        AU = np.asarray(sc.auth, dtype=np.float64)
        use = AU[free].sum(axis=0) > 0 if AU.shape[1] else np.zeros(0, dtype=bool)
        self.auth = np.ascontiguousarray(AU[:, use]) if AU.shape[1] else np.zeros((n, 0))
        self.auth_total = np.asarray(sc.auth_total[use] if AU.shape[1] else np.zeros(0), dtype=np.float64)
        self.auth_wt = wt["mayoral_split"] / sc.auth_residents if sc.auth_residents else 0.0
        self.region = np.argmax(sc.region_matrix, axis=1).astype(np.int64)
        self.n_regions = int(sc.region_matrix.shape[1])
        self.reg_wt = wt["regions_crossed"]
        self.band = (float(sc.band[0]), float(sc.band[1]), sc.band_per_person)
        self.body_wt = wt["statutory_bodies"]
        # Change from today: people outside the footprint's largest part of one of today's ICBs (partners are
        # today's ICBs, so the walk keeps each partner's people) and one unit per partner (pieces of ICBs).
        self.move_wt = sc.moved_per_person
        self.split_wt = wt["icbs_split"]
        self.pop = pop
        self.max_depth = int(self._max_depth())
        # For bounding a footprint's growth (scan's ``exact_below``): the most alignment reward each block can
        # bring, the range of each partner's budget values, and admissions at trusts in blocks numbered >= each root.
        self.potential = (self.net_wt * (self.net_blocks / np.where(self.net_size > 0, self.net_size, 1.0)).sum(axis=1)
                          + self.auth_wt * self.auth.sum(axis=1)).astype(np.float64)
        self.reward_blocks = np.flatnonzero(self.free & (self.potential > 0)).astype(np.int64)
        A, W, T = (self.bs[:, c] for c in self.cols)
        self.sp_lo = np.zeros((len(self.sp_cn), self.n_icb))
        self.sp_hi = np.zeros((len(self.sp_cn), self.n_icb))
        for j, (cn, cd, scale, dft) in enumerate(zip(self.sp_cn, self.sp_cd, self.sp_scale, self.sp_dft)):
            value = self.bs[:, cn] * scale / np.where(self.bs[:, cd] > 0, self.bs[:, cd], 1.0)
            self.sp_lo[j], self.sp_hi[j] = self._ranges((value - 1.0) * 100.0 if dft else value,
                                                        self.bs[:, cd], self.bs[:, cn])
        self.st_lo, self.st_hi = self._ranges(A * 1000.0 / np.where(W > 0, W, 1.0), W, A)
        self.nd_lo, self.nd_hi = self._ranges(A * 1000.0 / np.where(T > 0, T, 1.0), T, A)
        # Per node the bound takes each block's admissions at trusts in blocks that may still be in the footprint:
        # rows of flow_in over free host blocks, sparse (a place's residents use a handful of hosts).
        F = np.where(self.free[None, :], self.flow_in, 0.0)
        self.fl_ptr = np.r_[0, np.cumsum((F > 0).sum(axis=1))].astype(np.int64)
        self.fl_idx = np.ascontiguousarray(np.nonzero(F > 0)[1], dtype=np.int64)
        self.fl_val = np.ascontiguousarray(F[F > 0], dtype=np.float64)
        # Major trusts one block's residents alone make shared (their admissions reach the threshold).
        T = self.major_flow >= self.major_thr[None, :] if self.major_flow.shape[1] else np.zeros((n, 0), bool)
        T &= self.free[:, None]
        self.tr_ptr = np.r_[0, np.cumsum(T.sum(axis=1))].astype(np.int64)
        self.tr_idx = np.ascontiguousarray(np.nonzero(T)[1], dtype=np.int64)
        self.free_blocks = np.flatnonzero(self.free & np.isfinite(self.weight)).astype(np.int64)
        self.reach_pop = people_between(self.nbptr, self.nbidx, self.weight)
        taken = np.where(self.free[:, None], self.flow_in.T, 0.0)  # taken[b, c]: c's residents to b's trusts
        # Row v: each block's residents' admissions at trusts in free blocks numbered v and up (suffix sums).
        # A footprint grown from root v holds only such blocks: the rest of its residents' admissions leak.
        self._inside = np.ascontiguousarray(np.cumsum(taken[::-1], axis=0)[::-1])

    def _ranges(self, value: np.ndarray, weight: np.ndarray, numerator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest value among each ICB's blocks (a partner's value is a weighted mean of them)."""
        lo = np.zeros(self.n_icb)
        hi = np.zeros(self.n_icb)
        for c in range(self.n_icb):
            mine = self.icb == c
            ok = mine & (weight > 0)
            if (mine & (weight <= 0) & (numerator != 0)).any():
                lo[c], hi[c] = -1e30, 1e30  # a block with a figure but no weight: no range to rely on
            elif ok.any():
                lo[c], hi[c] = value[ok].min(), value[ok].max()
        return lo, hi

    def _max_depth(self) -> int:
        """Most blocks a candidate can hold: the smallest blocks that fit under the cap."""
        w = np.sort(self.weight[self.free])
        return max(1, int(np.searchsorted(np.cumsum(w), self.cap, side="right")))

    def count(self, limit: int) -> int:
        """Candidate footprints the walk visits, or ``limit + 1`` if there are more (counting stops there).

        Roots are counted in threads, each with what is left of the limit.
        """
        lock = threading.Lock()
        state = {"total": 0}

        def count_from(v: int) -> None:
            with lock:
                left = limit - state["total"]
            if left < 0:
                return
            c = _count(self.nbptr, self.nbidx, np.array([v], dtype=np.int64), self.weight, self.cap, self.max_depth,
                       int(left))
            with lock:
                state["total"] += int(c)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(count_from, [int(v) for v in self.roots]))
        return min(state["total"], int(limit) + 1)

    def _call(self, roots, u, constant, cptr, cidx, charge, tau, keep, exact_below=np.inf, trust=1.0):
        lo, hi, band_wt = self.band
        inside = self._inside[int(roots[0])] if np.isfinite(exact_below) else np.zeros(len(u))
        return _walk(self.nbptr, self.nbidx, roots, self.weight, self.cap, self.max_depth,
                     self.icb, self.n_icb, self.bs, self.sp_cn, self.sp_cd, self.sp_scale, self.sp_dft, self.sp_wt,
                     self.cols, self.stake_wt, self.need_wt, self.flow_in, self.row_total, self.leak_wt,
                     self.major_flow, self.major_thr, self.major_wt, self.net_blocks, self.net_size, self.net_wt,
                     self.auth, self.auth_total, self.auth_wt, self.region, self.n_regions, self.reg_wt,
                     lo, hi, band_wt, self.body_wt, u, constant, cptr, cidx, charge, tau, keep,
                     self.reward_blocks, self.potential, float(exact_below), trust,
                     self.sp_lo, self.sp_hi, self.st_lo, self.st_hi, self.nd_lo, self.nd_hi, inside,
                     self.free_blocks, self.fl_ptr, self.fl_idx, self.fl_val, self.tr_ptr, self.tr_idx,
                     self.reach_pop, self.pop, self.move_wt, self.split_wt)

    def scan(self, block_duals: np.ndarray | None = None, constant: float = 0.0,
             cuts: list[tuple[int, int, int]] = (), cut_duals: np.ndarray | None = None,
             threshold: float = 0.0, keep: int = 100_000, per_root: bool = False, progress=None,
             exact_below: float | None = None, deadline: float | None = None,
             trust: float = 1.0) -> ScanResult:
        """Walk every candidate once; reduced cost = cost - block duals + cut charges + ``constant``.

        Parameters
        ----------
        block_duals
            Dual of each block's "covered once" row (zeros: plain costs).
        constant
            Added to every reduced cost (minus the duals of rows every footprint is in, e.g. the count row).
        cuts, cut_duals
            Subset-row cuts (three blocks each) and their duals (<= 0): a footprint holding two or more of a
            cut's blocks is charged ``-dual``.
        threshold
            Keep footprints whose reduced cost is at most this.
        keep
            Keep at most this many (the lowest, by lowering the threshold as the buffer fills).
        per_root
            Share ``keep`` out between the roots (each keeps its own lowest): footprints from all over the map
            rather than the lowest overall, which may all crowd round one corner. The threshold is then not
            lowered (the result's ``threshold`` is the one asked for).
        progress
            Optional ``progress(roots_done, roots)``, called as each root's walk ends.
        exact_below
            Branch and bound: skip growing a footprint when no footprint grown from it can have a reduced cost
            below this (so every candidate below it is still visited and kept, if under ``threshold``). The bound
            keeps the terms that can only grow (major-trust sharing, regions, cuts; a cut the footprint holds one block of
            charges the blocks of it that may join a share each), gives the band and the
            alignment rewards their best case, lets each partner's budget value move anywhere within the range
            of its ICB's blocks, and lets the blocks that may still join (only those a path of few enough
            people reaches) bring their dual less what they surely cost (their residents' admissions at trusts
            out of reach; a share of each major trust that one of them alone would make shared, split among
            all that would), packed under the population cap by best gain per person; the alignment rewards
            are bounded both as each block's share and as the majorities in reach, and the larger bound is
            kept. ``None``: visit every candidate.
        deadline
            ``time.perf_counter()`` value after which no further root is started (a root's walk is not cut
            short); the result then says it is not ``complete``.
        trust
            Share of the joining blocks' gain the bound counts (1: a proof). Below 1 the walk skips more
            branches and may miss footprints below ``exact_below``: a fast search that proves nothing
            (``lower_bound`` is ``-inf``).
        """
        n = len(self.pop)
        u = np.zeros(n) if block_duals is None else np.asarray(block_duals, dtype=np.float64)
        charge = np.zeros(len(cuts)) if cut_duals is None else -np.minimum(np.asarray(cut_duals, float), 0.0)
        per_block = [[] for _ in range(n)]
        for k, tri in enumerate(cuts):
            for b in tri:
                per_block[b].append(k)
        cptr = np.zeros(n + 1, dtype=np.int64)
        cptr[1:] = np.cumsum([len(x) for x in per_block])
        cidx = np.array([k for x in per_block for k in x], dtype=np.int64)
        charge = np.asarray(charge, dtype=np.float64)
        lock = threading.Lock()
        root_keep = max(1, keep // max(1, len(self.roots))) if per_root else keep
        found: dict[int, tuple] = {}  # root -> (gmin, visited, footprints, reduced costs, threshold)
        state = {"tau": float(threshold), "done": 0}

        def walk_from(v: int) -> None:
            if deadline is not None and time.perf_counter() > deadline:
                return
            # Every root starts from the threshold asked for, so what it keeps does not depend on timing.
            gmin, visited, out_idx, out_ptr, out_rc, n_out, tau_out, lbmin, pruned = self._call(
                np.array([v], dtype=np.int64), u, float(constant), cptr, cidx, charge, float(threshold),
                int(root_keep), np.inf if exact_below is None else float(exact_below), float(trust))
            fps = [out_idx[out_ptr[i]:out_ptr[i + 1]].copy() for i in range(n_out)]
            rcs = out_rc[:n_out].copy()
            with lock:
                if not per_root:
                    # Footprints above another root's lowered threshold will not be kept: drop them now.
                    state["tau"] = min(state["tau"], tau_out)
                    ok = rcs <= state["tau"]
                    fps, rcs = [f for f, o in zip(fps, ok) if o], rcs[ok]
                found[v] = (gmin, visited, fps, rcs, tau_out, min(gmin, lbmin), pruned)
                state["done"] += 1
                if progress is not None:
                    progress(state["done"], len(self.roots))

        # Roots in order: the low-numbered ones carry the most candidates, so they start first.
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(walk_from, [int(v) for v in self.roots]))
        complete = len(found) == len(self.roots)
        roots = [int(v) for v in self.roots if int(v) in found]
        fps = [f for v in roots for f in found[v][2]]
        rcs = np.concatenate([found[v][3] for v in roots]) if roots else np.zeros(0)
        gmin = min((found[v][0] for v in roots), default=np.inf)
        visited = sum(found[v][1] for v in roots)
        tau = float(threshold)
        if not per_root:
            tau = min([tau] + [found[v][4] for v in roots])
            ok = np.flatnonzero(rcs <= tau)
            if len(ok) > keep:
                ok = np.sort(ok[np.argsort(rcs[ok], kind="stable")[:keep]])
                tau = float(rcs[ok].max())
            fps, rcs = [fps[i] for i in ok], rcs[ok]
        lower = min((found[v][5] for v in roots), default=np.inf) if complete and trust >= 1.0 else -np.inf
        pruned = sum(found[v][6] for v in roots)
        return ScanResult(float(gmin), fps, rcs, tau, int(visited), float(lower), int(pruned), complete)


def free_neighbours(problem: Problem, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The graph a footprint of ``free`` blocks grows through (the problem's neighbours, in the same NHS region
    where the scenario asks), as CSR arrays: block ``a``'s neighbours are ``idx[ptr[a]:ptr[a + 1]]``."""
    nb, _ = enumeration_rules(problem)
    nb = [np.asarray(x, dtype=np.int64)[free[np.asarray(x, dtype=np.int64)]] if free[i]
          else np.zeros(0, dtype=np.int64) for i, x in enumerate(nb)]
    ptr = np.r_[0, np.cumsum([len(x) for x in nb])].astype(np.int64)
    return ptr, np.concatenate(nb + [np.zeros(0, dtype=np.int64)]).astype(np.int64)


def people_between(nbptr: np.ndarray, nbidx: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``[a, b]``: fewest people a footprint holding ``a`` must add to hold ``b`` too: ``b`` and the blocks on the
    lightest path between them through the graph (neighbours ``nbidx[nbptr[a]:nbptr[a + 1]]``); ``inf`` if there
    is none, 0 on the diagonal."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    n = len(weight)
    w = np.where(np.isfinite(weight), weight, 0.0)
    # Edge a -> b weighs b's people (a block of nobody weighs a hair, as csgraph drops zero edges).
    G = csr_matrix((np.maximum(w[nbidx], 1e-9), nbidx, nbptr), shape=(n, n))
    return np.ascontiguousarray(dijkstra(G))


def _njit(f):
    # nogil: walks from different roots run in threads, one per core.
    return numba.njit(cache=True, nogil=True)(f) if numba is not None else f


def _step(f):
    # The walk's steps, inlined into both walks (a call per step would cost more than the step).
    return numba.njit(cache=True, nogil=True, inline="always")(f) if numba is not None else f


@_njit
def _walk(nbptr, nbidx, roots, weight, cap, max_depth,
          icb, n_icb, bs, sp_cn, sp_cd, sp_scale, sp_dft, sp_wt, cols, stake_wt, need_wt,
          flow_in, row_total, leak_wt, major_flow, major_thr, major_wt, net_blocks, net_size, net_wt,
          auth, auth_total, auth_wt, region, n_regions, reg_wt, lo, hi, band_wt, body_wt,
          u, constant, cptr, cidx, charge, tau, keep, reward_blocks, potential, prune_below, trust,
          sp_lo, sp_hi, st_lo, st_hi, nd_lo, nd_hi, inside, free_blocks, fl_ptr, fl_idx, fl_val, tr_ptr, tr_idx,
          reach_pop, people, move_wt, split_wt):
    n = len(weight)
    n_fields = bs.shape[1]
    n_major = major_flow.shape[1]
    n_net = net_blocks.shape[1]
    n_auth = auth.shape[1]
    n_sp = len(sp_cn)
    D = max_depth + 1
    # Running sums of the set being grown.
    partner = np.zeros((n_icb, n_fields))
    icb_count = np.zeros(n_icb, np.int64)
    part_pop = np.zeros(n_icb)  # each partner's people (change from today)
    active = np.zeros(n_icb, np.int64)
    n_active = 0
    fm = np.zeros(n_major)
    nc = np.zeros(n_net)
    ao = np.zeros(n_auth)
    reg_count = np.zeros(n_regions, np.int64)
    cut_count = np.zeros(len(charge), np.int64)
    members = np.zeros(D, np.int64)
    xs = np.zeros(n_icb)
    # Walk state per depth.
    ext = np.zeros((D, n), np.int64)
    ext_n = np.zeros(D, np.int64)
    ext_pos = np.zeros(D, np.int64)
    closed_at = np.full(n, -1, np.int64)
    closed_list = np.zeros((D, n), np.int64)  # blocks first closed at each depth, to reopen on the way back
    closed_n = np.zeros(D, np.int64)
    pop_d = np.zeros(D)
    internal_d = np.zeros(D)
    out_cap = keep if keep > 0 else 1
    out_idx = np.zeros(out_cap * D, np.int64)
    out_ptr = np.zeros(out_cap + 1, np.int64)
    out_rc = np.zeros(out_cap)
    n_out = 0
    gmin = np.inf
    visited = 0
    # rowsum, usum, cut charge, regions spanned, alignment shares, admissions within reach
    scalars = np.zeros(6)
    in_ext = np.full(n, -1, np.int64)  # in_ext[x] == node: x is an extension of that node
    nc_reach = np.zeros(n_net)
    ao_reach = np.zeros(n_auth)
    part_w = np.zeros(n_icb)
    part_lo = np.zeros(n_icb)
    part_hi = np.zeros(n_icb)
    ends = np.zeros(2 * n_icb)
    lbmin = np.inf
    pruned = 0
    # The bound's work arrays: blocks that may still join, their gains (with and without alignment shares) and
    # the order they are packed in; which blocks may be in the footprint; shared majors' would-be triggers.
    nf = len(free_blocks)
    cand = np.zeros(nf, np.int64)
    g_share = np.zeros(nf)
    g_apart = np.zeros(nf)
    order = np.zeros(nf, np.int64)
    ratio = np.zeros(nf)
    in_f = np.full(n, -1, np.int64)
    trig_n = np.zeros(n_major, np.int64)
    cut_n = np.zeros(len(charge), np.int64)

    for r in range(len(roots)):
        v = roots[r]
        _open_root(v, nbptr, nbidx, ext, ext_n, ext_pos, closed_at)
        add = v
        depth = 0
        pop_d[0] = 0.0
        internal_d[0] = 0.0
        entering = True
        while depth >= 0:
            if entering:
                # Add block `add` at `depth`: update the running sums, then cost the set.
                members[depth] = add
                prev_pop = pop_d[depth - 1] if depth > 0 else 0.0
                prev_int = internal_d[depth - 1] if depth > 0 else 0.0
                pop_d[depth] = prev_pop + weight[add]
                gain = flow_in[add, add]
                for i in range(depth):
                    q = members[i]
                    gain += flow_in[q, add] + flow_in[add, q]
                internal_d[depth] = prev_int + gain
                c = icb[add]
                if icb_count[c] == 0:
                    active[n_active] = c
                    n_active += 1
                icb_count[c] += 1
                part_pop[c] += people[add]
                for f in range(n_fields):
                    partner[c, f] += bs[add, f]
                for j in range(n_major):
                    fm[j] += major_flow[add, j]
                for j in range(n_net):
                    nc[j] += net_blocks[add, j]
                for j in range(n_auth):
                    ao[j] += auth[add, j]
                if reg_count[region[add]] == 0:
                    scalars[3] += 1.0
                reg_count[region[add]] += 1
                scalars[0] += row_total[add]
                scalars[1] += u[add]
                scalars[4] += potential[add]
                scalars[5] += inside[add]
                for a in range(cptr[add], cptr[add + 1]):
                    kk = cidx[a]
                    cut_count[kk] += 1
                    if cut_count[kk] == 2:
                        scalars[2] += charge[kk]
                # ---- cost of the current set
                pop = pop_d[depth]
                cost = band_wt * (max(lo - pop, 0.0) + max(pop - hi, 0.0)) + body_wt
                # Change from today can only grow as blocks join, so the bound below keeps it whole.
                if move_wt != 0.0 or split_wt != 0.0:
                    biggest = 0.0
                    held = 0.0
                    for ai in range(n_active):
                        held += part_pop[active[ai]]
                        if part_pop[active[ai]] > biggest:
                            biggest = part_pop[active[ai]]
                    cost += move_wt * (held - biggest) + split_wt * n_active
                budget = 0.0  # the spreads and £ at stake, which a bigger footprint can lower (bounded below)
                for s in range(n_sp):
                    cn = sp_cn[s]
                    cd = sp_cd[s]
                    W = 0.0
                    WX = 0.0
                    for ai in range(n_active):
                        ci = active[ai]
                        w = partner[ci, cd]
                        x = 0.0
                        if w != 0.0:
                            x = partner[ci, cn] * sp_scale[s] / w
                            if sp_dft[s]:
                                x = (x - 1.0) * 100.0
                        xs[ai] = x
                        W += w
                        WX += w * x
                    mean = WX / W if W > 0.0 else 0.0
                    ss = 0.0
                    for ai in range(n_active):
                        w = partner[active[ai], cd]
                        ss += w * (xs[ai] - mean) ** 2
                    budget += sp_wt[s] * ss
                if n_active > 1:
                    Af = 0.0
                    Wf = 0.0
                    Tf = 0.0
                    for ai in range(n_active):
                        ci = active[ai]
                        Af += partner[ci, cols[0]] * 1000.0
                        Wf += partner[ci, cols[1]]
                        Tf += partner[ci, cols[2]]
                    st = 0.0
                    nd = 0.0
                    for ai in range(n_active):
                        ci = active[ai]
                        A = partner[ci, cols[0]] * 1000.0
                        ph = (Af / Wf if Wf > 0.0 else 0.0) * partner[ci, cols[1]] - A
                        ne = (Af / Tf if Tf > 0.0 else 0.0) * partner[ci, cols[2]] - A
                        if ph > 0.0:
                            st += ph
                        if ne > 0.0:
                            nd += ne
                    budget += stake_wt * st + need_wt * nd
                cost += budget
                cost += leak_wt * (scalars[0] - internal_d[depth])
                cnt = 0
                for j in range(n_major):
                    if fm[j] >= major_thr[j]:
                        cnt += 1
                cost += major_wt * cnt
                ps = 0.0
                for j in range(n_net):
                    if nc[j] > net_size[j] / 2.0:
                        ps += nc[j] / net_size[j]
                cost -= net_wt * ps
                au = 0.0
                for j in range(n_auth):
                    if ao[j] > auth_total[j] / 2.0:
                        au += ao[j]
                cost -= auth_wt * au
                cost += reg_wt * (scalars[3] - 1.0)
                rc = cost - scalars[1] + scalars[2] + constant
                visited += 1
                # Cheap test first: even if nothing more could join, would the bound reach the cut-off? (Leakage:
                # only admissions at trusts out of the footprint's reach are sure to leak.)
                base = rc - band_wt * max(lo - pop, 0.0) - leak_wt * (scalars[5] - internal_d[depth])
                grows = False  # a footprint with no extension under the cap has nothing to prune
                if prune_below < np.inf and depth + 1 < D and base >= prune_below:
                    for j in range(ext_n[depth]):
                        if weight[ext[depth, j]] <= cap - pop:
                            grows = True
                            break
                if grows:
                    # Bound every footprint grown from this one (see FootprintScan.scan): the terms that only
                    # grow stay; the band and the alignment rewards take their best case; the blocks that may
                    # still join add at most their gain, greedily by gain per person (a fractional knapsack).
                    room = cap - pop
                    for j in range(ext_n[depth]):
                        in_ext[ext[depth, j]] = visited
                    # Alignment: a network or authority pays only to a footprint holding a majority of it, so
                    # count what the footprint holds plus what the blocks that may still join hold.
                    for j in range(n_net):
                        nc_reach[j] = nc[j]
                    for j in range(n_auth):
                        ao_reach[j] = ao[j]
                    # The blocks that may still join: numbered above the root, not shut out of this branch, small
                    # enough, and near enough (a path to them through other blocks must fit in the room left).
                    nk = 0
                    for j in range(nf):
                        x = free_blocks[j]
                        if x > v and weight[x] <= room and (closed_at[x] == -1 or in_ext[x] == visited):
                            near = np.inf
                            for i in range(depth + 1):
                                near = min(near, reach_pop[members[i], x])
                            if near <= room + 1e-6:
                                cand[nk] = x
                                nk += 1
                                in_f[x] = visited
                    for j in range(len(reward_blocks)):
                        x = reward_blocks[j]
                        if in_f[x] == visited:
                            for k in range(n_net):
                                nc_reach[k] += net_blocks[x, k]
                            for k in range(n_auth):
                                ao_reach[k] += auth[x, k]
                    reach = 0.0
                    for k in range(n_net):
                        if nc_reach[k] > net_size[k] / 2.0:
                            reach += net_wt * min(nc_reach[k], net_size[k]) / net_size[k]
                    for k in range(n_auth):
                        if ao_reach[k] > auth_total[k] / 2.0:
                            reach += auth_wt * min(ao_reach[k], auth_total[k])
                    # Two bounds on what joining blocks bring; either holds, so the larger is kept: alignment
                    # as each block's share (packed with its dual under the cap), or as the majorities in reach.
                    for i in range(depth + 1):
                        in_f[members[i]] = visited
                    # Leakage: only admissions at trusts outside every block that may still join are sure to leak.
                    kept = 0.0
                    for i in range(depth + 1):
                        a = members[i]
                        for t in range(fl_ptr[a], fl_ptr[a + 1]):
                            if in_f[fl_idx[t]] == visited:
                                kept += fl_val[t]
                    base -= leak_wt * (kept - scalars[5])
                    # A major trust that one joining block alone would make shared costs its weight once, whichever
                    # of the blocks that could trigger it joins: each is charged its share.
                    for i in range(nk):
                        x = cand[i]
                        for t in range(tr_ptr[x], tr_ptr[x + 1]):
                            if fm[tr_idx[t]] < major_thr[tr_idx[t]]:
                                trig_n[tr_idx[t]] += 1
                        # Likewise a subset-row cut the footprint holds one block of: it charges as soon as one
                        # of its other two joins.
                        for t in range(cptr[x], cptr[x + 1]):
                            if cut_count[cidx[t]] == 1:
                                cut_n[cidx[t]] += 1
                    for i in range(nk):
                        x = cand[i]
                        kept = 0.0
                        for t in range(fl_ptr[x], fl_ptr[x + 1]):
                            if in_f[fl_idx[t]] == visited:
                                kept += fl_val[t]
                        gx = u[x] - leak_wt * (row_total[x] - kept)
                        for t in range(tr_ptr[x], tr_ptr[x + 1]):
                            if fm[tr_idx[t]] < major_thr[tr_idx[t]]:
                                gx -= major_wt / trig_n[tr_idx[t]]
                        for t in range(cptr[x], cptr[x + 1]):
                            if cut_count[cidx[t]] == 1:
                                gx -= charge[cidx[t]] / cut_n[cidx[t]]
                        g_apart[i] = gx
                        g_share[i] = gx + potential[x]
                    for i in range(nk):
                        x = cand[i]
                        for t in range(tr_ptr[x], tr_ptr[x + 1]):
                            trig_n[tr_idx[t]] = 0
                        for t in range(cptr[x], cptr[x + 1]):
                            cut_n[cidx[t]] = 0
                    with_share = _knapsack(cand, g_share, nk, weight, room, order, ratio)
                    apart = _knapsack(cand, g_apart, nk, weight, room, order, ratio)
                    base += auth_wt * au + net_wt * ps
                    best = trust * min(with_share + scalars[4], apart + reach)
                    lb = base - best - budget
                    if lb + budget >= prune_below:
                        # Worth bounding the budget terms: each partner's weight only grows, and its value
                        # stays within the range of its blocks' values.
                        for s in range(n_sp):
                            lb += sp_wt[s] * _partners_least_spread(active, n_active, partner, sp_cd[s], sp_lo[s],
                                                                    sp_hi[s], part_w, part_lo, part_hi, ends, True)
                        if n_active > 1:
                            lb += stake_wt * 0.5 * _partners_least_spread(active, n_active, partner, cols[1], st_lo,
                                                                          st_hi, part_w, part_lo, part_hi, ends, False)
                            lb += need_wt * 0.5 * _partners_least_spread(active, n_active, partner, cols[2], nd_lo,
                                                                         nd_hi, part_w, part_lo, part_hi, ends, False)
                    if lb >= prune_below:
                        ext_pos[depth] = ext_n[depth]
                        pruned += 1
                        if lb < lbmin:
                            lbmin = lb
                if rc < gmin:
                    gmin = rc
                if rc <= tau:
                    if n_out == out_cap:
                        # Buffer full: keep the lower half and lower the threshold to their median.
                        med = np.median(out_rc[:n_out])
                        j2 = 0
                        pos = 0
                        for i in range(n_out):
                            if out_rc[i] < med:
                                ln = out_ptr[i + 1] - out_ptr[i]
                                for t in range(ln):
                                    out_idx[pos + t] = out_idx[out_ptr[i] + t]
                                out_rc[j2] = out_rc[i]
                                out_ptr[j2] = pos
                                pos += ln
                                j2 += 1
                        out_ptr[j2] = pos
                        n_out = j2
                        tau = med
                    if rc <= tau and n_out < out_cap:
                        pos = out_ptr[n_out]
                        for t in range(depth + 1):
                            out_idx[pos + t] = members[t]
                        out_ptr[n_out + 1] = pos + depth + 1
                        out_rc[n_out] = rc
                        n_out += 1
                entering = False
            # Next child of the set at `depth`, or back up.
            x = _next_extension(depth, ext, ext_n, ext_pos, pop_d, weight, cap, D)
            if x == -2:
                continue
            if x >= 0:
                _open_child(v, depth, x, nbptr, nbidx, ext, ext_n, ext_pos, closed_at, closed_list, closed_n)
                add = x
                depth += 1
                entering = True
                continue
            # Remove the block added at `depth` and go back up.
            b = members[depth]
            c = icb[b]
            icb_count[c] -= 1
            part_pop[c] -= people[b]
            for f in range(n_fields):
                partner[c, f] -= bs[b, f]
            if icb_count[c] == 0:
                n_active -= 1  # last in, first out: it is the top of the stack
                part_pop[c] = 0.0
                for f in range(n_fields):
                    partner[c, f] = 0.0
            for j in range(n_major):
                fm[j] -= major_flow[b, j]
            for j in range(n_net):
                nc[j] -= net_blocks[b, j]
            for j in range(n_auth):
                ao[j] -= auth[b, j]
            reg_count[region[b]] -= 1
            if reg_count[region[b]] == 0:
                scalars[3] -= 1.0
            scalars[0] -= row_total[b]
            scalars[1] -= u[b]
            scalars[4] -= potential[b]
            scalars[5] -= inside[b]
            for a in range(cptr[b], cptr[b + 1]):
                kk = cidx[a]
                if cut_count[kk] == 2:
                    scalars[2] -= charge[kk]
                cut_count[kk] -= 1
            _reopen(depth, closed_at, closed_list, closed_n)
            depth -= 1
        # Floating drift: reset the running sums between roots.
        fm[:] = 0.0
        nc[:] = 0.0
        ao[:] = 0.0
        scalars[:] = 0.0
    return gmin, visited, out_idx, out_ptr, out_rc, n_out, tau, lbmin, pruned



@_step
def _knapsack(cand, gain, k, weight, room, order, ratio):
    """Most gain the first ``k`` blocks of ``cand`` can bring under ``room`` people, taken greedily by gain per
    person with the last one split: the fractional knapsack, an upper bound."""
    total = 0.0
    people = 0.0
    m = 0
    for i in range(k):
        if gain[i] > 0.0:
            total += gain[i]
            people += weight[cand[i]]
            order[m] = i
            ratio[i] = gain[i] / max(weight[cand[i]], 1e-9)
            m += 1
    if people <= room:
        return total  # every block worth adding fits: no need to choose
    for a in range(1, m):  # insertion sort by gain per person, best first: a few dozen blocks at most
        i = order[a]
        r = ratio[i]
        j = a
        while j > 0 and ratio[order[j - 1]] < r:
            order[j] = order[j - 1]
            j -= 1
        order[j] = i
    best = 0.0
    for j in range(m):
        i = order[j]
        w = weight[cand[i]]
        if w <= room:
            best += gain[i]
            room -= w
        else:
            best += gain[i] * room / w
            break
    return best


@_step
def _partners_least_spread(active, k, partner, col, lo, hi, w, w_lo, w_hi, ends, squared):
    """:func:`_least_spread` of the footprint's ``k`` partners, weighted by column ``col`` of their sums, each
    within its ICB's range ``[lo, hi]``."""
    for ai in range(k):
        ci = active[ai]
        w[ai] = partner[ci, col]
        w_lo[ai] = lo[ci]
        w_hi[ai] = hi[ci]
    return _least_spread(w, w_lo, w_hi, k, ends, squared)


@_step
def _least_spread(w, lo, hi, k, ends, squared):
    """``min over c of sum_i w_i * d(c, [lo_i, hi_i])`` (squared distance if ``squared``) over the first ``k``
    partners: the least spread partners with these weights can have when each partner's value may be anywhere
    in its range.

    Between two consecutive range ends the partners outside their range do not change, so there the function is
    a quadratic (or linear) in ``c`` minimised at the weighted mean of the ends they are pulled to (or at an
    end): checking every piece gives the exact minimum.
    """
    if k < 2:
        return 0.0
    top_lo = lo[0]
    low_hi = hi[0]
    for i in range(1, k):
        top_lo = max(top_lo, lo[i])
        low_hi = min(low_hi, hi[i])
    if top_lo <= low_hi:
        return 0.0  # the ranges share a value: every partner can sit on it
    m = 0
    for i in range(k):
        for e in (lo[i], hi[i]):
            j = m
            while j > 0 and ends[j - 1] > e:  # insertion sort: a handful of partners
                ends[j] = ends[j - 1]
                j -= 1
            ends[j] = e
            m += 1
    best = np.inf
    for j in range(m):
        c = ends[j]
        if squared and j + 1 < m and ends[j + 1] > c:
            mid = 0.5 * (c + ends[j + 1])
            num = 0.0
            den = 0.0
            for i in range(k):
                if mid < lo[i]:
                    num += w[i] * lo[i]
                    den += w[i]
                elif mid > hi[i]:
                    num += w[i] * hi[i]
                    den += w[i]
            if den > 0.0:
                c = min(max(num / den, c), ends[j + 1])
        for t in range(2 if squared else 1):
            if t == 1:
                c = ends[j]
            f = 0.0
            for i in range(k):
                if c < lo[i]:
                    d = lo[i] - c
                    f += w[i] * (d * d if squared else d)
                elif c > hi[i]:
                    d = c - hi[i]
                    f += w[i] * (d * d if squared else d)
            if f < best:
                best = f
    return best


@_step
def _open_root(v, nbptr, nbidx, ext, ext_n, ext_pos, closed_at):
    """Start the walk from ``v``: its higher-numbered neighbours are the first extensions (ESU)."""
    closed_at[:] = -1
    closed_at[v] = 0
    k = 0
    for a in range(nbptr[v], nbptr[v + 1]):
        x = nbidx[a]
        if closed_at[x] == -1:
            closed_at[x] = 0
            if x > v:
                ext[0, k] = x
                k += 1
    ext_n[0] = k
    ext_pos[0] = 0


@_step
def _next_extension(depth, ext, ext_n, ext_pos, pop_d, weight, cap, D):
    """The next block that may grow the set at ``depth``: -1 when there is none left, -2 when it would take the
    set over the population cap (skipped)."""
    if ext_pos[depth] >= ext_n[depth] or depth + 1 >= D:
        return -1
    x = ext[depth, ext_pos[depth]]
    ext_pos[depth] += 1
    return -2 if pop_d[depth] + weight[x] > cap else x


@_step
def _open_child(v, depth, x, nbptr, nbidx, ext, ext_n, ext_pos, closed_at, closed_list, closed_n):
    """Grow the set at ``depth`` by ``x``: the remaining extensions plus ``x``'s neighbours not yet seen."""
    nd = depth + 1
    k = 0
    for j in range(ext_pos[depth], ext_n[depth]):
        ext[nd, k] = ext[depth, j]
        k += 1
    closed_n[nd] = 0
    for a in range(nbptr[x], nbptr[x + 1]):
        y = nbidx[a]
        if closed_at[y] == -1:
            closed_at[y] = nd
            closed_list[nd, closed_n[nd]] = y
            closed_n[nd] += 1
            if y > v:
                ext[nd, k] = y
                k += 1
    ext_n[nd] = k
    ext_pos[nd] = 0


@_step
def _reopen(depth, closed_at, closed_list, closed_n):
    """Going back up from ``depth``: the blocks first seen there are free again."""
    if depth > 0:
        for i in range(closed_n[depth]):
            closed_at[closed_list[depth, i]] = -1


@_njit
def _count(nbptr, nbidx, roots, weight, cap, max_depth, limit):
    """Candidates of the walk (connected, under the cap); counting stops past ``limit``."""
    n = len(weight)
    D = max_depth + 1
    ext = np.zeros((D, n), np.int64)
    ext_n = np.zeros(D, np.int64)
    ext_pos = np.zeros(D, np.int64)
    closed_at = np.full(n, -1, np.int64)
    closed_list = np.zeros((D, n), np.int64)
    closed_n = np.zeros(D, np.int64)
    pop_d = np.zeros(D)
    total = 0
    for r in range(len(roots)):
        v = roots[r]
        _open_root(v, nbptr, nbidx, ext, ext_n, ext_pos, closed_at)
        pop_d[0] = weight[v]
        depth = 0
        total += 1
        while depth >= 0:
            if total > limit:
                return total
            x = _next_extension(depth, ext, ext_n, ext_pos, pop_d, weight, cap, D)
            if x == -2:
                continue
            if x >= 0:
                _open_child(v, depth, x, nbptr, nbidx, ext, ext_n, ext_pos, closed_at, closed_list, closed_n)
                depth += 1
                pop_d[depth] = pop_d[depth - 1] + weight[x]
                total += 1
                continue
            _reopen(depth, closed_at, closed_list, closed_n)
            depth -= 1
    return total

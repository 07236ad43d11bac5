"""Exact pricing by enumeration: every connected footprint under the population cap, costed as it is grown.

Where candidate footprints are far too many to hold (place level: about 10^8 within the North West, more
elsewhere) they can still be *visited*: a depth-first walk (the ESU scheme of ``simulator.solvers.enumerate``)
adds one block at a time and keeps every sum the score needs (population, partners' budget figures, flows kept
inside, major-trust, pathology, authority and council counts), so each footprint's cost is finished in a few hundred
operations. Given the duals of a set-partitioning master, one walk returns the lowest reduced cost of *any*
candidate and the footprints whose reduced cost is under a threshold: that is exact pricing, which makes the
master's bound a proven one. The walk is compiled with numba (a Python loop would take hours).

With a cut-off (``exact_below``) the walk is a branch and bound: before growing a footprint it bounds the
reduced cost of every footprint that could grow from it and skips the branch if none could price below the
cut-off. In the North West that leaves about a tenth of the candidates to visit near the LP's optimum, at about
three times the work per visit.

The costs are the same as ``simulator.metrics.score.FootprintScorer.costs``: every price comes from the scorer
(:func:`walk_prices`), the walk refuses a weighted term it does not price (:data:`WALK_TERMS`), and the tests
check every footprint a walk visits against the scorer. Rules that the enumeration does not know (per-footprint
hard constraints, soft-limit penalties) are applied afterwards by the caller, which only ever makes the bound more
cautious.

The walk is a few steps on a few named tuples of arrays: its read-only :class:`Context` (:class:`Graph`,
:class:`Blocks`, :class:`Prices`, :class:`Bounds` and :class:`Duals`) and its mutable :class:`State`
(:class:`Footprint`, the set being grown and its running sums; :class:`Frontier`, the ESU walk's state;
:class:`Scratch`; :class:`Kept`).
``_walk`` enters a block (``_enter_block``), costs the set (``_cost``), bounds its branch (``_branch_bound``),
keeps it (``_keep``) and, on the way back, leaves the block (``_leave_block``).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from simulator.metrics.score import PEOPLE_UNIT, SPREAD_TERMS, TERM_NAMES, FootprintScorer, scorer
from simulator.solvers.base import Problem
from simulator.solvers.enumerate import enumeration_rules, population_cap

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


# ------------------------------------------------------------------------------------------ the kernel context
# The walk's inputs travel as a few named tuples of arrays and numbers (numba passes them to compiled functions as
# plain structs, and ``cache=True`` keeps working); its mutable state is a few more, made in Python by ``_new_state``
# and reused from root to root. Every price comes from the scorer through ``walk_prices``.

WALK_TERMS: dict[str, str] = {
    "population_band": "band",
    "allocation_spread": "spread",
    "distance_from_target_spread": "spread",
    "primary_care_spread": "spread",
    "prescribing_spread": "spread",
    "gp_payments_spread": "spread",
    "at_stake": "stake",
    "at_stake_need_adjusted": "need",
    "flow_leakage": "leakage",
    "major_trust_sharing": "major",
    "pathology_split": "pathology",
    "mayoral_split": "mayoral",
    "regions_crossed": "regions",
    "statutory_bodies": "bodies",
    "people_moved": "moved",
    "icbs_split": "split",
    "upper_tier_split": "upper_tier",
}
"""The score terms the walk prices, each with the field of :class:`Prices` that holds its price. A term is priced
in :func:`walk_prices`, costed in ``_cost`` and bounded in ``_branch_bound``; a term of the scorer with a nonzero
weight that is not listed here stops the walk (:func:`walk_prices` raises), so a new term cannot be ignored."""


class Prices(NamedTuple):
    """What one unit of each term the walk prices costs, in score units (built by :func:`walk_prices`)."""

    band_lo: float  # the band's floor and ceiling (people)
    band_hi: float
    band: float  # per person outside the band
    spread_num: np.ndarray  # per weighted spread: columns of the partners' sums holding its numerator...
    spread_den: np.ndarray  # ... and its denominator (a partner's weight in the spread)
    spread_scale: np.ndarray  # value = numerator * scale / denominator
    spread_dft: np.ndarray  # value as a distance from target in % ((value - 1) * 100)
    spread: np.ndarray  # per unit of within-footprint sum of squares
    budget_cols: np.ndarray  # columns of allocation (£000), allocation population and target (£000)
    stake: float  # per £ at stake (levelled to the footprint's allocation per head)
    need: float  # per £ at stake (levelled to the footprint's distance from target)
    leakage: float  # per admission at a trust outside the footprint
    major: float  # per major trust the footprint serves
    pathology: float  # per share of a network held by the footprint holding a majority of it (a reward)
    mayoral: float  # per authority resident in the footprint holding a majority of the authority (a reward)
    upper_tier: float  # per upper-tier council resident in the footprint holding a majority of the council (a reward)
    regions: float  # per NHS region spanned beyond the first
    bodies: float  # per footprint
    moved: float  # per person outside the footprint's largest part of one of today's ICBs
    split: float  # per one of today's ICBs the footprint holds part or all of


class Graph(NamedTuple):
    """The graph a footprint grows through, under the population cap."""

    nbptr: np.ndarray  # block a's neighbours are nbidx[nbptr[a]:nbptr[a + 1]]
    nbidx: np.ndarray
    weight: np.ndarray  # people per block (inf: locked, never joins)
    cap: float
    max_depth: int  # most blocks a candidate can hold
    free_blocks: np.ndarray  # the blocks that may join a footprint
    reach_pop: np.ndarray  # [a, b]: fewest people a footprint holding a must add to hold b (people_between)


class Blocks(NamedTuple):
    """Each block's figures, which the walk sums as blocks join."""

    icb: np.ndarray  # today's ICB (the partner the block belongs to)
    n_icb: int
    sums: np.ndarray  # budget figures (block x field), summed per partner
    people: np.ndarray  # people (change from today)
    row_total: np.ndarray  # residents' admissions
    flow_in: np.ndarray  # [a, b]: a's residents' admissions at trusts hosted in b
    major_flow: np.ndarray  # residents' admissions at each major trust (columns the free blocks use)
    major_thr: np.ndarray  # admissions that make a footprint one a major trust serves
    net_blocks: np.ndarray  # member trusts of each pathology network hosted (networks the free blocks touch)
    net_size: np.ndarray
    auth: np.ndarray  # residents in each priced authority, then each priced upper-tier council (columns the free
    auth_total: np.ndarray  # blocks touch), and all of each column's residents
    auth_price: np.ndarray  # per column, its reward per resident held by a footprint holding a majority of it
    region: np.ndarray  # NHS region
    n_regions: int


class Bounds(NamedTuple):
    """What the branch and bound knows of the blocks that may still join (see ``FootprintScan.__init__``)."""

    potential: np.ndarray  # most alignment reward each block can bring
    reward_blocks: np.ndarray  # free blocks with some
    sp_lo: np.ndarray  # per weighted spread and ICB, the range of its blocks' values
    sp_hi: np.ndarray
    st_lo: np.ndarray  # per ICB, the range of its blocks' allocation per head...
    st_hi: np.ndarray
    nd_lo: np.ndarray  # ... and of allocation per £ of target
    nd_hi: np.ndarray
    fl_ptr: np.ndarray  # per block, admissions at trusts in each free host block (sparse rows of flow_in)
    fl_idx: np.ndarray
    fl_val: np.ndarray
    tr_ptr: np.ndarray  # per block, the major trusts its residents alone make a footprint serve
    tr_idx: np.ndarray


class Duals(NamedTuple):
    """One walk's prices on top of the costs: reduced cost = cost - block duals + cut charges + constant."""

    u: np.ndarray  # dual of each block's "covered once" row
    constant: float
    cptr: np.ndarray  # block a is in the cuts cidx[cptr[a]:cptr[a + 1]]
    cidx: np.ndarray
    charge: np.ndarray  # per cut, charged to a footprint holding two or more of its blocks


# Running totals of the set being grown (Footprint.totals), by position.
ROW = 0  # residents' admissions
DUAL = 1  # block duals
CUT = 2  # cut charges
REGIONS = 3  # NHS regions spanned
SHARES = 4  # alignment potential of the blocks held
INSIDE = 5  # admissions at trusts the footprint may yet hold (for the bound)


class Footprint(NamedTuple):
    """The set being grown, one block per depth, and its running sums (mutable)."""

    members: np.ndarray  # block added at each depth
    pop_d: np.ndarray  # people, and admissions kept inside, up to each depth
    internal_d: np.ndarray
    partner: np.ndarray  # per today's ICB, the sums of its blocks held (its budget figures as a partner)
    icb_count: np.ndarray  # per ICB, its blocks held
    part_pop: np.ndarray  # per ICB, its people held
    active: np.ndarray  # the ICBs held, in order of joining (a stack)...
    n_active: np.ndarray  # ... and how many (one number)
    fm: np.ndarray  # admissions at each major trust
    nc: np.ndarray  # member trusts of each network
    ao: np.ndarray  # residents of each authority and upper-tier council (the columns of Blocks.auth)
    reg_count: np.ndarray  # blocks in each region
    cut_count: np.ndarray  # blocks of each cut
    totals: np.ndarray  # ROW, DUAL, CUT, REGIONS, SHARES, INSIDE


class Frontier(NamedTuple):
    """The ESU walk's state per depth: the blocks that may extend the set, and those it has seen (mutable)."""

    ext: np.ndarray  # ext[d, :ext_n[d]]: extensions of the set at depth d; ext_pos[d] the next to try
    ext_n: np.ndarray
    ext_pos: np.ndarray
    closed_at: np.ndarray  # depth at which each block was first seen (-1: not yet)
    closed_list: np.ndarray  # blocks first seen at each depth, to reopen on the way back
    closed_n: np.ndarray


class Scratch(NamedTuple):
    """Work arrays of the cost and the bound (mutable; ``in_ext`` and ``in_f`` are stamped with the visit)."""

    xs: np.ndarray  # each partner's value in one spread
    in_ext: np.ndarray  # in_ext[x] == stamp: x extends the set
    in_f: np.ndarray  # in_f[x] == stamp: x is or may be in the footprint
    nc_reach: np.ndarray  # network members and authority residents held or in reach
    ao_reach: np.ndarray
    part_w: np.ndarray  # partners' weights and value ranges for the least spread
    part_lo: np.ndarray
    part_hi: np.ndarray
    ends: np.ndarray
    cand: np.ndarray  # the blocks that may still join, their gains with and without alignment shares,
    g_share: np.ndarray  # and the order they are packed in
    g_apart: np.ndarray
    order: np.ndarray
    ratio: np.ndarray
    trig_n: np.ndarray  # per major trust, joining blocks that alone would make it served
    cut_n: np.ndarray  # per cut, joining blocks that would make it charge


class Kept(NamedTuple):
    """The footprints kept (reduced cost at most the threshold): footprint i is idx[ptr[i]:ptr[i + 1]]."""

    idx: np.ndarray
    ptr: np.ndarray
    rc: np.ndarray
    work: np.ndarray  # room to find the median reduced cost when the buffer is full


class Context(NamedTuple):
    """What a walk reads: the graph, the blocks' figures, the prices, the bound's tables and the duals."""

    g: Graph
    bl: Blocks
    pr: Prices
    bd: Bounds
    du: Duals


class State(NamedTuple):
    """What a walk writes: the set being grown, the ESU frontier, scratch room and the footprints kept."""

    fp: Footprint
    fr: Frontier
    sx: Scratch
    kept: Kept


def _new_frontier(g: Graph) -> Frontier:
    """An empty :class:`Frontier` for sets of up to ``g.max_depth`` blocks."""
    n, D = len(g.weight), g.max_depth + 1
    return Frontier(np.zeros((D, n), np.int64), np.zeros(D, np.int64), np.zeros(D, np.int64), np.full(n, -1, np.int64),
                    np.zeros((D, n), np.int64), np.zeros(D, np.int64))


def _new_state(g: Graph, bl: Blocks, n_cuts: int, keep: int) -> State:
    """The walk's mutable state, empty (the compiled walk allocates nothing: see ``_kernel``)."""
    n, D, nf = len(g.weight), g.max_depth + 1, len(g.free_blocks)
    n_major, n_net, n_auth = bl.major_flow.shape[1], bl.net_blocks.shape[1], bl.auth.shape[1]
    fp = Footprint(np.zeros(D, np.int64), np.zeros(D), np.zeros(D), np.zeros((bl.n_icb, bl.sums.shape[1])),
                   np.zeros(bl.n_icb, np.int64), np.zeros(bl.n_icb), np.zeros(bl.n_icb, np.int64),
                   np.zeros(1, np.int64), np.zeros(n_major), np.zeros(n_net), np.zeros(n_auth),
                   np.zeros(bl.n_regions, np.int64), np.zeros(n_cuts, np.int64), np.zeros(6))
    fr = _new_frontier(g)
    sx = Scratch(np.zeros(bl.n_icb), np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.zeros(n_net),
                 np.zeros(n_auth), np.zeros(bl.n_icb), np.zeros(bl.n_icb), np.zeros(bl.n_icb), np.zeros(2 * bl.n_icb),
                 np.zeros(nf, np.int64), np.zeros(nf), np.zeros(nf), np.zeros(nf, np.int64), np.zeros(nf),
                 np.zeros(n_major, np.int64), np.zeros(n_cuts, np.int64))
    out_cap = keep if keep > 0 else 1
    kept = Kept(np.zeros(out_cap * D, np.int64), np.zeros(out_cap + 1, np.int64), np.zeros(out_cap),
                np.zeros(out_cap))
    return State(fp, fr, sx, kept)


def walk_prices(sc: FootprintScorer) -> Prices:
    """The price of each term the walk prices, from the scorer alone: its weights over its normalisers.

    Raises
    ------
    NotImplementedError
        If the scorer weighs a term that :data:`WALK_TERMS` does not list (the walk would not price it).
    """
    unpriced = [t for t, w in zip(TERM_NAMES, sc.weights) if w != 0.0 and t not in WALK_TERMS]
    if unpriced:
        raise NotImplementedError(
            f"the walk (simulator/solvers/scan.py) does not price the score term(s) {', '.join(unpriced)}: add "
            "each to WALK_TERMS, walk_prices, _cost and _branch_bound, or give it weight 0")
    wt = dict(zip(TERM_NAMES, sc.weights))
    ss = sc.reference["ss"]
    # Only the spreads that carry weight, each per unit of England's spread.
    spreads = [(cn, cd, scale, dft, wt[t] / ss[j])
               for j, (t, (cn, cd, scale, dft)) in enumerate(zip(SPREAD_TERMS, sc.spreads)) if wt[t] and ss[j] > 0]
    stake, need = sc.reference["stake"], sc.reference["need"]
    return Prices(
        band_lo=float(sc.band[0]), band_hi=float(sc.band[1]), band=float(sc.band_per_person),
        spread_num=np.array([s[0] for s in spreads], dtype=np.int64),
        spread_den=np.array([s[1] for s in spreads], dtype=np.int64),
        spread_scale=np.array([s[2] for s in spreads], dtype=np.float64),
        spread_dft=np.array([s[3] for s in spreads], dtype=np.bool_),
        spread=np.array([s[4] for s in spreads], dtype=np.float64),
        budget_cols=np.array([sc.cA, sc.cW, sc.cT], dtype=np.int64),
        stake=float(wt["at_stake"] / stake) if stake > 0 else 0.0,
        need=float(wt["at_stake_need_adjusted"] / need) if need > 0 else 0.0,
        leakage=float(wt["flow_leakage"] / sc.flow_total) if sc.flow_total else 0.0,
        major=float(wt["major_trust_sharing"] / len(sc.major)) if len(sc.major) else 0.0,
        pathology=float(wt["pathology_split"] / sc.n_networks) if sc.n_networks else 0.0,
        mayoral=float(wt["mayoral_split"] / sc.auth_residents) if sc.auth_residents else 0.0,
        upper_tier=float(wt["upper_tier_split"] / PEOPLE_UNIT) if sc.council_residents else 0.0,
        regions=float(wt["regions_crossed"]), bodies=float(wt["statutory_bodies"]),
        moved=float(sc.moved_per_person), split=float(wt["icbs_split"]))


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
    cap
        The most people a footprint holds (default ``population_cap``; with a soft ceiling, the caller passes
        the cap an answer proves: ``simulator.solvers.exact.SoftCeiling``).

    Attributes
    ----------
    graph, blocks, prices, bounds
        The walk's read-only context (:class:`Graph`, :class:`Blocks`, :class:`Prices` from the scorer,
        :class:`Bounds`).
    """

    def __init__(self, problem: Problem, workers: int | None = None, cap: float | None = None):
        if numba is None:  # pragma: no cover
            raise ImportError("the enumeration bound needs numba: pip install numba")
        self.problem = problem
        self.workers = workers or os.cpu_count() or 1
        sc = scorer(problem.model, problem.params)
        self.prices = walk_prices(sc)
        self.cap = population_cap(problem) if cap is None else float(cap)
        self.free = problem.free_blocks
        free = np.flatnonzero(self.free)
        nbptr, nbidx = free_neighbours(problem, self.free)
        pop = np.asarray(problem.population, dtype=np.float64)
        self.pop = pop
        weight = np.where(~self.free, np.inf, pop)
        self.roots = np.flatnonzero(self.free & (pop <= self.cap)).astype(np.int64)
        self.graph = Graph(nbptr, nbidx, weight, float(self.cap), _max_depth(weight[self.free], self.cap),
                           np.flatnonzero(self.free & np.isfinite(weight)).astype(np.int64),
                           people_between(nbptr, nbidx, weight))
        self.blocks = _blocks(sc, free, self.prices)
        self.bounds = self._bounds(sc)
        b = self.blocks
        # Per root, each block's residents' admissions at trusts in free blocks numbered from the root up (suffix
        # sums): a footprint grown from root v holds only such blocks, so the rest of its admissions leak.
        taken = np.where(self.free[:, None], b.flow_in.T, 0.0)  # taken[b, c]: c's residents to b's trusts
        self._inside = np.ascontiguousarray(np.cumsum(taken[::-1], axis=0)[::-1])
        self.max_depth = self.graph.max_depth

    def _bounds(self, sc: FootprintScorer) -> Bounds:
        """What the branch and bound needs: the most alignment reward each block can bring, the range of each
        partner's budget values, and each block's admissions at trusts in free blocks."""
        b, p, n = self.blocks, self.prices, len(self.free)
        potential = (p.pathology * (b.net_blocks / np.where(b.net_size > 0, b.net_size, 1.0)).sum(axis=1)
                     + (b.auth * b.auth_price[None, :]).sum(axis=1)).astype(np.float64)
        reward_blocks = np.flatnonzero(self.free & (potential > 0)).astype(np.int64)
        bs = b.sums
        A, W, T = (bs[:, c] for c in p.budget_cols)
        sp_lo = np.zeros((len(p.spread_num), b.n_icb))
        sp_hi = np.zeros((len(p.spread_num), b.n_icb))
        for j, (cn, cd, scale, dft) in enumerate(zip(p.spread_num, p.spread_den, p.spread_scale, p.spread_dft)):
            value = bs[:, cn] * scale / np.where(bs[:, cd] > 0, bs[:, cd], 1.0)
            sp_lo[j], sp_hi[j] = self._ranges((value - 1.0) * 100.0 if dft else value, bs[:, cd], bs[:, cn])
        st_lo, st_hi = self._ranges(A * 1000.0 / np.where(W > 0, W, 1.0), W, A)
        nd_lo, nd_hi = self._ranges(A * 1000.0 / np.where(T > 0, T, 1.0), T, A)
        # Per node the bound takes each block's admissions at trusts in blocks that may still be in the footprint:
        # rows of flow_in over free host blocks, sparse (a place's residents use a handful of hosts).
        F = np.where(self.free[None, :], b.flow_in, 0.0)
        fl_ptr = np.r_[0, np.cumsum((F > 0).sum(axis=1))].astype(np.int64)
        fl_idx = np.ascontiguousarray(np.nonzero(F > 0)[1], dtype=np.int64)
        fl_val = np.ascontiguousarray(F[F > 0], dtype=np.float64)
        # Major trusts one block's residents alone make shared (their admissions reach the threshold).
        T = b.major_flow >= b.major_thr[None, :] if b.major_flow.shape[1] else np.zeros((n, 0), bool)
        T &= self.free[:, None]
        tr_ptr = np.r_[0, np.cumsum(T.sum(axis=1))].astype(np.int64)
        tr_idx = np.ascontiguousarray(np.nonzero(T)[1], dtype=np.int64)
        return Bounds(potential, reward_blocks, sp_lo, sp_hi, st_lo, st_hi, nd_lo, nd_hi, fl_ptr, fl_idx, fl_val,
                      tr_ptr, tr_idx)

    def _ranges(self, value: np.ndarray, weight: np.ndarray, numerator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest value among each ICB's blocks (a partner's value is a weighted mean of them)."""
        icb, n_icb = self.blocks.icb, self.blocks.n_icb
        lo = np.zeros(n_icb)
        hi = np.zeros(n_icb)
        for c in range(n_icb):
            mine = icb == c
            ok = mine & (weight > 0)
            if (mine & (weight <= 0) & (numerator != 0)).any():
                lo[c], hi[c] = -1e30, 1e30  # a block with a figure but no weight: no range to rely on
            elif ok.any():
                lo[c], hi[c] = value[ok].min(), value[ok].max()
        return lo, hi

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
            c = _count(self.graph, _new_frontier(self.graph), np.zeros(self.graph.max_depth + 1),
                       np.array([v], dtype=np.int64), int(left))
            with lock:
                state["total"] += int(c)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(count_from, [int(v) for v in self.roots]))
        return min(state["total"], int(limit) + 1)

    def _call(self, roots: np.ndarray, duals: Duals, state: State, tau: float,
              exact_below: float = np.inf, trust: float = 1.0) -> tuple:
        """One compiled walk from ``roots`` (in practice one root: then the bound knows which blocks may join), in
        ``state`` (from :func:`_new_state`; a walk leaves it ready for the next)."""
        inside = self._inside[int(roots[0])] if np.isfinite(exact_below) else np.zeros(len(self.free))
        cx = Context(self.graph, self.blocks, self.prices, self.bounds, duals)
        gmin, visited, n_out, tau, lbmin, pruned = _walk(cx, state, roots, inside, tau, float(exact_below), trust)
        kept = state.kept
        return gmin, visited, kept.idx, kept.ptr, kept.rc, n_out, tau, lbmin, pruned

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
        duals = Duals(u, float(constant), cptr, cidx, np.asarray(charge, dtype=np.float64))
        lock = threading.Lock()
        root_keep = max(1, keep // max(1, len(self.roots))) if per_root else keep
        found: dict[int, tuple] = {}  # root -> (gmin, visited, footprints, reduced costs, threshold)
        state = {"tau": float(threshold), "done": 0}
        local = threading.local()  # each thread's walk state, reused from root to root (it costs more than a walk)

        def walk_from(v: int) -> None:
            if deadline is not None and time.perf_counter() > deadline:
                return
            if not hasattr(local, "state"):
                local.state = _new_state(self.graph, self.blocks, len(cuts), int(root_keep))
            # Every root starts from the threshold asked for, so what it keeps does not depend on timing.
            gmin, visited, out_idx, out_ptr, out_rc, n_out, tau_out, lbmin, pruned = self._call(
                np.array([v], dtype=np.int64), duals, local.state, float(threshold),
                np.inf if exact_below is None else float(exact_below), float(trust))
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
    n = len(weight)
    w = np.where(np.isfinite(weight), weight, 0.0)
    # Edge a -> b weighs b's people (a block of nobody weighs a hair, as csgraph drops zero edges).
    G = csr_matrix((np.maximum(w[nbidx], 1e-9), nbidx, nbptr), shape=(n, n))
    return np.ascontiguousarray(dijkstra(G))


def _blocks(sc: FootprintScorer, free: np.ndarray, pr: Prices) -> Blocks:
    """Each block's figures, from the scorer; the counted terms keep only the columns the ``free`` blocks touch.

    Authorities and upper-tier councils pay the same kind of reward (residents held by a footprint holding a
    majority), so they share the columns of ``auth``, each with its own price; a group whose price is 0 is left
    out."""
    n = sc.model.n_blocks
    # Flows: block x block matrix of admissions from one block's residents to trusts hosted in another.
    flows = sc.flows
    host_of = np.zeros((flows.shape[1], n))
    host_of[sc.placed_trusts, sc.placed_host] = 1.0
    major = sc.major if len(sc.major) else np.zeros(0, dtype=int)
    FM = flows[:, major] if len(major) else np.zeros((n, 0))
    use_major = FM[free].sum(axis=0) > 0
    NB = sc.net_blocks[:, sc.net_used]
    use_net = NB[free].sum(axis=0) > 0
    groups = [(np.asarray(sc.auth, dtype=np.float64), sc.auth_total, pr.mayoral),
              (np.asarray(sc.council, dtype=np.float64), sc.council_total, pr.upper_tier)]
    groups = [(M, total, price) for M, total, price in groups if price != 0.0 and M.shape[1]]
    AU = np.hstack([np.zeros((n, 0))] + [M for M, _, _ in groups])
    AT = np.concatenate([np.zeros(0)] + [np.asarray(t, dtype=np.float64) for _, t, _ in groups])
    AP = np.concatenate([np.zeros(0)] + [np.full(M.shape[1], price) for M, _, price in groups])
    use_auth = AU[free].sum(axis=0) > 0
    return Blocks(
        icb=sc._block_icb.astype(np.int64), n_icb=int(sc.n_icb),
        sums=np.ascontiguousarray(sc._block_sums, dtype=np.float64),
        people=np.ascontiguousarray(sc.pop, dtype=np.float64),
        row_total=flows.sum(axis=1).astype(np.float64),
        flow_in=np.ascontiguousarray(flows @ host_of),
        major_flow=np.ascontiguousarray(FM[:, use_major]),
        major_thr=np.asarray(sc.major_threshold[use_major] if len(major) else np.zeros(0), dtype=np.float64),
        net_blocks=np.ascontiguousarray(NB[:, use_net]),
        net_size=np.asarray(sc.net_size[sc.net_used][use_net], dtype=np.float64),
        auth=np.ascontiguousarray(AU[:, use_auth]),
        auth_total=np.ascontiguousarray(AT[use_auth]),
        auth_price=np.ascontiguousarray(AP[use_auth]),
        region=np.argmax(sc.region_matrix, axis=1).astype(np.int64), n_regions=int(sc.region_matrix.shape[1]))


def _max_depth(weight: np.ndarray, cap: float) -> int:
    """Most blocks a candidate can hold: the smallest of these blocks that fit under the cap."""
    return max(1, int(np.searchsorted(np.cumsum(np.sort(weight)), cap, side="right")))


def count_connected(neighbours: list[np.ndarray], weight: np.ndarray, cap: float, limit: int) -> int:
    """Connected sets of total ``weight`` at most ``cap`` in a graph (of blocks, or of contracted groups: see
    ``simulator.solvers.enumerate.contract``), counted by the compiled walk: ``limit + 1`` if there are more.

    Must-not-merge pairs are not checked, so this is at least the count the exact solver's enumeration yields.
    """
    weight = np.asarray(weight, dtype=np.float64)
    ptr = np.r_[0, np.cumsum([len(x) for x in neighbours])].astype(np.int64)
    idx = np.concatenate([np.asarray(x, dtype=np.int64) for x in neighbours] + [np.zeros(0, dtype=np.int64)])
    ok = np.isfinite(weight) & (weight <= cap)
    if not ok.any():
        return 0
    g = Graph(ptr, idx, weight, float(cap), _max_depth(weight[ok], cap), np.flatnonzero(ok).astype(np.int64),
              np.zeros((0, 0)))
    roots = np.flatnonzero(ok).astype(np.int64)
    total = _count(g, _new_frontier(g), np.zeros(g.max_depth + 1), roots, int(limit))
    return min(int(total), int(limit) + 1)


# Reference counting off where numba allows it: the walks allocate nothing (their arrays come from Python, which
# keeps them alive), and with counting on numba counts a reference to every array of a context tuple each time an
# inlined step takes it, which can cost more than the step (measured: half the walk's speed).
_KERNEL = {"cache": True, "nogil": True}  # nogil: walks from different roots run in threads, one per core
if numba is not None and hasattr(getattr(getattr(numba, "core", None), "cpu", None), "CPUTargetOptions"):
    if hasattr(numba.core.cpu.CPUTargetOptions, "_nrt"):  # a private option: without it the walks are slower
        _KERNEL["_nrt"] = False


def _kernel(f):
    # A compiled walk: called from Python, with the context and its state as named tuples of arrays.
    return numba.njit(**_KERNEL)(f) if numba is not None else f


def _step(f):
    # The walk's steps, inlined into both walks (a call per step would cost more than the step).
    return numba.njit(cache=True, nogil=True, inline="always")(f) if numba is not None else f


# ------------------------------------------------------------------------------------------------- the walk
@_kernel
def _walk(cx, st, roots, inside, tau, prune_below, trust):
    """Walk every candidate grown from ``roots``: cost each, keep those at most ``tau`` in ``kept`` (lowering ``tau``
    when it is full) and, if ``prune_below`` is finite, skip the branches the bound rules out.

    Returns the lowest reduced cost, the candidates visited, the footprints kept, the threshold at the end, the
    least bound of a skipped branch and how many were skipped.
    """
    g, bl, pr, bd, du = cx
    fp, fr, sx, kept = st
    sx.in_ext[:] = -1  # stamps are this walk's visit numbers: forget an earlier walk's
    sx.in_f[:] = -1
    n_out = 0
    gmin = np.inf
    visited = 0
    lbmin = np.inf
    pruned = 0
    for r in range(len(roots)):
        v = roots[r]
        _open_root(v, g, fr)
        add = v
        depth = 0
        entering = True
        while depth >= 0:
            if entering:
                _enter_block(add, depth, g, bl, bd, du, inside, fp)
                rc, budget, reward = _cost(depth, bl, pr, du, fp, sx)
                visited += 1
                if prune_below < np.inf:
                    bounded, lb = _branch_bound(v, depth, rc, budget, reward, visited, prune_below, trust, cx, st)
                    if bounded and lb >= prune_below:
                        fr.ext_pos[depth] = fr.ext_n[depth]  # no child: skip the branch
                        pruned += 1
                        if lb < lbmin:
                            lbmin = lb
                if rc < gmin:
                    gmin = rc
                if rc <= tau:
                    if n_out == len(kept.rc):
                        # Buffer full: keep the lower half and lower the threshold to their median.
                        tau = _median(kept.rc, n_out, kept.work)
                        n_out = _halve(kept, n_out, tau)
                    n_out = _keep(rc, depth, fp.members, kept, n_out, tau)
                entering = False
            # Next child of the set at `depth`, or back up.
            x = _next_extension(depth, fp.pop_d, g, fr)
            if x == -2:
                continue
            if x >= 0:
                _open_child(v, depth, x, g, fr)
                add = x
                depth += 1
                entering = True
                continue
            _leave_block(depth, bl, bd, du, inside, fp)
            _reopen(depth, fr)
            depth -= 1
        # Floating drift: reset the running sums between roots.
        fp.fm[:] = 0.0
        fp.nc[:] = 0.0
        fp.ao[:] = 0.0
        fp.totals[:] = 0.0
    return gmin, visited, n_out, tau, lbmin, pruned


@_step
def _enter_block(add, depth, g, bl, bd, du, inside, fp):
    """Add block ``add`` at ``depth``: the running sums grow by its figures."""
    fp.members[depth] = add
    prev_pop = fp.pop_d[depth - 1] if depth > 0 else 0.0
    prev_int = fp.internal_d[depth - 1] if depth > 0 else 0.0
    fp.pop_d[depth] = prev_pop + g.weight[add]
    gain = bl.flow_in[add, add]
    for i in range(depth):
        q = fp.members[i]
        gain += bl.flow_in[q, add] + bl.flow_in[add, q]
    fp.internal_d[depth] = prev_int + gain
    c = bl.icb[add]
    if fp.icb_count[c] == 0:
        fp.active[fp.n_active[0]] = c
        fp.n_active[0] += 1
    fp.icb_count[c] += 1
    fp.part_pop[c] += bl.people[add]
    for f in range(bl.sums.shape[1]):
        fp.partner[c, f] += bl.sums[add, f]
    for j in range(len(fp.fm)):
        fp.fm[j] += bl.major_flow[add, j]
    for j in range(len(fp.nc)):
        fp.nc[j] += bl.net_blocks[add, j]
    for j in range(len(fp.ao)):
        fp.ao[j] += bl.auth[add, j]
    if fp.reg_count[bl.region[add]] == 0:
        fp.totals[REGIONS] += 1.0
    fp.reg_count[bl.region[add]] += 1
    fp.totals[ROW] += bl.row_total[add]
    fp.totals[DUAL] += du.u[add]
    fp.totals[SHARES] += bd.potential[add]
    fp.totals[INSIDE] += inside[add]
    for a in range(du.cptr[add], du.cptr[add + 1]):
        k = du.cidx[a]
        fp.cut_count[k] += 1
        if fp.cut_count[k] == 2:
            fp.totals[CUT] += du.charge[k]


@_step
def _leave_block(depth, bl, bd, du, inside, fp):
    """Remove the block added at ``depth``: the running sums lose its figures."""
    b = fp.members[depth]
    c = bl.icb[b]
    fp.icb_count[c] -= 1
    fp.part_pop[c] -= bl.people[b]
    for f in range(bl.sums.shape[1]):
        fp.partner[c, f] -= bl.sums[b, f]
    if fp.icb_count[c] == 0:
        fp.n_active[0] -= 1  # last in, first out: it is the top of the stack
        fp.part_pop[c] = 0.0  # and its sums are exactly 0 again
        for f in range(bl.sums.shape[1]):
            fp.partner[c, f] = 0.0
    for j in range(len(fp.fm)):
        fp.fm[j] -= bl.major_flow[b, j]
    for j in range(len(fp.nc)):
        fp.nc[j] -= bl.net_blocks[b, j]
    for j in range(len(fp.ao)):
        fp.ao[j] -= bl.auth[b, j]
    fp.reg_count[bl.region[b]] -= 1
    if fp.reg_count[bl.region[b]] == 0:
        fp.totals[REGIONS] -= 1.0
    fp.totals[ROW] -= bl.row_total[b]
    fp.totals[DUAL] -= du.u[b]
    fp.totals[SHARES] -= bd.potential[b]
    fp.totals[INSIDE] -= inside[b]
    for a in range(du.cptr[b], du.cptr[b + 1]):
        k = du.cidx[a]
        if fp.cut_count[k] == 2:
            fp.totals[CUT] -= du.charge[k]
        fp.cut_count[k] -= 1


@_step
def _cost(depth, bl, pr, du, fp, sx):
    """Reduced cost of the set at ``depth`` (``FootprintScorer.costs`` less its duals), with the two parts the
    bound relaxes: ``(reduced cost, budget terms, alignment rewards)``."""
    pop = fp.pop_d[depth]
    cost = pr.band * (max(pr.band_lo - pop, 0.0) + max(pop - pr.band_hi, 0.0)) + pr.bodies
    if pr.moved != 0.0 or pr.split != 0.0:
        cost += _change_cost(pr, fp)
    budget = _budget_cost(pr, fp, sx)
    cost += budget
    cost += pr.leakage * (fp.totals[ROW] - fp.internal_d[depth])
    cnt = 0
    for j in range(len(fp.fm)):
        if fp.fm[j] >= bl.major_thr[j]:
            cnt += 1
    cost += pr.major * cnt
    ps = 0.0
    for j in range(len(fp.nc)):
        if fp.nc[j] > bl.net_size[j] / 2.0:
            ps += fp.nc[j] / bl.net_size[j]
    cost -= pr.pathology * ps
    au = 0.0
    for j in range(len(fp.ao)):
        if fp.ao[j] > bl.auth_total[j] / 2.0:
            au += bl.auth_price[j] * fp.ao[j]
    cost -= au
    cost += pr.regions * (fp.totals[REGIONS] - 1.0)
    rc = cost - fp.totals[DUAL] + fp.totals[CUT] + du.constant
    return rc, budget, au + pr.pathology * ps


@_step
def _change_cost(pr, fp):
    """Change from today: people outside the largest part of one of today's ICBs, and the ICBs held. It only grows
    as blocks join, so the bound keeps it whole."""
    biggest = 0.0
    held = 0.0
    for ai in range(fp.n_active[0]):
        p = fp.part_pop[fp.active[ai]]
        held += p
        if p > biggest:
            biggest = p
    return pr.moved * (held - biggest) + pr.split * fp.n_active[0]


@_step
def _budget_cost(pr, fp, sx):
    """The spreads and £ at stake between the partners: the terms a bigger footprint can lower."""
    n_active = fp.n_active[0]
    budget = 0.0
    for s in range(len(pr.spread)):
        cn = pr.spread_num[s]
        cd = pr.spread_den[s]
        W = 0.0
        WX = 0.0
        for ai in range(n_active):
            ci = fp.active[ai]
            w = fp.partner[ci, cd]
            x = 0.0
            if w != 0.0:
                x = fp.partner[ci, cn] * pr.spread_scale[s] / w
                if pr.spread_dft[s]:
                    x = (x - 1.0) * 100.0
            sx.xs[ai] = x
            W += w
            WX += w * x
        mean = WX / W if W > 0.0 else 0.0
        ss = 0.0
        for ai in range(n_active):
            w = fp.partner[fp.active[ai], cd]
            ss += w * (sx.xs[ai] - mean) ** 2
        budget += pr.spread[s] * ss
    if n_active > 1:
        cA, cW, cT = pr.budget_cols[0], pr.budget_cols[1], pr.budget_cols[2]
        Af = 0.0
        Wf = 0.0
        Tf = 0.0
        for ai in range(n_active):
            ci = fp.active[ai]
            Af += fp.partner[ci, cA] * 1000.0
            Wf += fp.partner[ci, cW]
            Tf += fp.partner[ci, cT]
        st = 0.0
        nd = 0.0
        for ai in range(n_active):
            ci = fp.active[ai]
            A = fp.partner[ci, cA] * 1000.0
            ph = (Af / Wf if Wf > 0.0 else 0.0) * fp.partner[ci, cW] - A
            ne = (Af / Tf if Tf > 0.0 else 0.0) * fp.partner[ci, cT] - A
            if ph > 0.0:
                st += ph
            if ne > 0.0:
                nd += ne
        budget += pr.stake * st + pr.need * nd
    return budget


@_step
def _keep(rc, depth, members, kept, n_out, tau):
    """Keep the set at ``depth`` (reduced cost ``rc``) if at most ``tau`` and there is room; returns how many are
    kept."""
    if rc <= tau and n_out < len(kept.rc):
        pos = kept.ptr[n_out]
        for t in range(depth + 1):
            kept.idx[pos + t] = members[t]
        kept.ptr[n_out + 1] = pos + depth + 1
        kept.rc[n_out] = rc
        n_out += 1
    return n_out


@_step
def _halve(kept, n_out, med):
    """Keep only the footprints whose reduced cost is below ``med``; returns how many."""
    j2 = 0
    pos = 0
    for i in range(n_out):
        if kept.rc[i] < med:
            ln = kept.ptr[i + 1] - kept.ptr[i]
            for t in range(ln):
                kept.idx[pos + t] = kept.idx[kept.ptr[i] + t]
            kept.rc[j2] = kept.rc[i]
            kept.ptr[j2] = pos
            pos += ln
            j2 += 1
    kept.ptr[j2] = pos
    return j2


@_step
def _median(values, n, work):
    """The median of ``values[:n]`` (``n`` > 0) as ``np.median`` gives it, found in ``work`` (no allocation)."""
    for i in range(n):
        work[i] = values[i]
    half = n >> 1
    if n & 1:
        return _select(work, n, half)
    a = _select(work, n, half - 1)
    b = work[half]  # after the selection every value from half on is at least a: the next is their least
    for i in range(half + 1, n):
        b = min(b, work[i])
    return (a + b) / 2


@_step
def _select(a, n, k):
    """The ``k``-th smallest of ``a[:n]`` (from 0), partitioning ``a`` in place around it (quickselect)."""
    lo = 0
    hi = n - 1
    while lo < hi:
        pivot = a[(lo + hi) >> 1]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return a[k]


# ------------------------------------------------------------------------------------------ the branch's bound
@_step
def _branch_bound(v, depth, rc, budget, reward, stamp, prune_below, trust, cx, st):
    """``(True, lb)``: a lower bound on the reduced cost of every footprint grown from the set at ``depth`` (root
    ``v``); ``(False, -inf)`` when there is nothing to bound (see ``FootprintScan.scan``'s ``exact_below``).

    The terms that only grow stay; the band and the alignment rewards take their best case; the blocks that may
    still join add at most their gain, greedily by gain per person (a fractional knapsack); the budget terms are
    bounded last, and only if the rest does not already settle it.
    """
    g, bl, pr, bd, du = cx
    fp, fr, sx, _ = st
    pop = fp.pop_d[depth]
    # Cheap test first: even if nothing more could join, would the bound reach the cut-off? (Leakage: only
    # admissions at trusts out of the footprint's reach are sure to leak.)
    base = rc - pr.band * max(pr.band_lo - pop, 0.0) - pr.leakage * (fp.totals[INSIDE] - fp.internal_d[depth])
    if depth + 1 >= g.max_depth + 1 or not base >= prune_below:
        return False, -np.inf
    grows = False  # a footprint with no extension under the cap has nothing to prune
    for j in range(fr.ext_n[depth]):
        if g.weight[fr.ext[depth, j]] <= g.cap - pop:
            grows = True
            break
    if not grows:
        return False, -np.inf
    room = g.cap - pop
    nk = _may_join(v, depth, room, stamp, g, fp, fr, sx)
    reach = _rewards_in_reach(stamp, bl, pr, bd, fp, sx)
    for i in range(depth + 1):
        sx.in_f[fp.members[i]] = stamp
    # Leakage: only admissions at trusts outside every block that may still join are sure to leak.
    kept = 0.0
    for i in range(depth + 1):
        a = fp.members[i]
        for t in range(bd.fl_ptr[a], bd.fl_ptr[a + 1]):
            if sx.in_f[bd.fl_idx[t]] == stamp:
                kept += bd.fl_val[t]
    base -= pr.leakage * (kept - fp.totals[INSIDE])
    _joining_gains(nk, stamp, bl, pr, bd, du, fp, sx)
    # Two bounds on what joining blocks bring; either holds, so the larger is kept: alignment as each block's
    # share (packed with its dual under the cap), or as the majorities in reach.
    with_share = _knapsack(sx.cand, sx.g_share, nk, g.weight, room, sx.order, sx.ratio)
    apart = _knapsack(sx.cand, sx.g_apart, nk, g.weight, room, sx.order, sx.ratio)
    base += reward
    best = trust * min(with_share + fp.totals[SHARES], apart + reach)
    lb = base - best - budget
    if lb + budget >= prune_below:
        lb = _budget_floor(lb, pr, bd, fp, sx)
    return True, lb


@_step
def _may_join(v, depth, room, stamp, g, fp, fr, sx):
    """Collect in ``sx.cand`` the blocks that may still join the set at ``depth`` (marked in ``sx.in_f``):
    numbered above the root, not shut out of this branch, small enough, and near enough (a path to them through
    other blocks must fit in the room left). Returns how many."""
    for j in range(fr.ext_n[depth]):
        sx.in_ext[fr.ext[depth, j]] = stamp
    nk = 0
    for j in range(len(g.free_blocks)):
        x = g.free_blocks[j]
        if x > v and g.weight[x] <= room and (fr.closed_at[x] == -1 or sx.in_ext[x] == stamp):
            near = np.inf
            for i in range(depth + 1):
                near = min(near, g.reach_pop[fp.members[i], x])
            if near <= room + 1e-6:
                sx.cand[nk] = x
                nk += 1
                sx.in_f[x] = stamp
    return nk


@_step
def _rewards_in_reach(stamp, bl, pr, bd, fp, sx):
    """Most alignment reward the footprint can reach: a network, authority or council pays only to a footprint
    holding a majority of it, so count what the footprint holds plus what the blocks that may still join hold."""
    for j in range(len(fp.nc)):
        sx.nc_reach[j] = fp.nc[j]
    for j in range(len(fp.ao)):
        sx.ao_reach[j] = fp.ao[j]
    for j in range(len(bd.reward_blocks)):
        x = bd.reward_blocks[j]
        if sx.in_f[x] == stamp:
            for k in range(len(fp.nc)):
                sx.nc_reach[k] += bl.net_blocks[x, k]
            for k in range(len(fp.ao)):
                sx.ao_reach[k] += bl.auth[x, k]
    reach = 0.0
    for k in range(len(fp.nc)):
        if sx.nc_reach[k] > bl.net_size[k] / 2.0:
            reach += pr.pathology * min(sx.nc_reach[k], bl.net_size[k]) / bl.net_size[k]
    for k in range(len(fp.ao)):
        if sx.ao_reach[k] > bl.auth_total[k] / 2.0:
            reach += bl.auth_price[k] * min(sx.ao_reach[k], bl.auth_total[k])
    return reach


@_step
def _joining_gains(nk, stamp, bl, pr, bd, du, fp, sx):
    """Most each joining block can lower the reduced cost by (``sx.g_apart``; ``sx.g_share`` adds its alignment
    potential): its dual less what it surely costs, namely its residents' admissions that leak whatever joins,
    a share of each major trust that one joining block alone would make served (its weight once, whichever of
    them joins), and likewise a share of each cut the footprint holds one block of."""
    for i in range(nk):
        x = sx.cand[i]
        for t in range(bd.tr_ptr[x], bd.tr_ptr[x + 1]):
            if fp.fm[bd.tr_idx[t]] < bl.major_thr[bd.tr_idx[t]]:
                sx.trig_n[bd.tr_idx[t]] += 1
        for t in range(du.cptr[x], du.cptr[x + 1]):
            if fp.cut_count[du.cidx[t]] == 1:
                sx.cut_n[du.cidx[t]] += 1
    for i in range(nk):
        x = sx.cand[i]
        kept = 0.0
        for t in range(bd.fl_ptr[x], bd.fl_ptr[x + 1]):
            if sx.in_f[bd.fl_idx[t]] == stamp:
                kept += bd.fl_val[t]
        gx = du.u[x] - pr.leakage * (bl.row_total[x] - kept)
        for t in range(bd.tr_ptr[x], bd.tr_ptr[x + 1]):
            if fp.fm[bd.tr_idx[t]] < bl.major_thr[bd.tr_idx[t]]:
                gx -= pr.major / sx.trig_n[bd.tr_idx[t]]
        for t in range(du.cptr[x], du.cptr[x + 1]):
            if fp.cut_count[du.cidx[t]] == 1:
                gx -= du.charge[du.cidx[t]] / sx.cut_n[du.cidx[t]]
        sx.g_apart[i] = gx
        sx.g_share[i] = gx + bd.potential[x]
    for i in range(nk):
        x = sx.cand[i]
        for t in range(bd.tr_ptr[x], bd.tr_ptr[x + 1]):
            sx.trig_n[bd.tr_idx[t]] = 0
        for t in range(du.cptr[x], du.cptr[x + 1]):
            sx.cut_n[du.cidx[t]] = 0


@_step
def _budget_floor(lb, pr, bd, fp, sx):
    """``lb`` plus the least the budget terms can become: each partner's weight only grows, and its value stays
    within the range of its blocks' values."""
    n_active = fp.n_active[0]
    for s in range(len(pr.spread)):
        lb += pr.spread[s] * _partners_least_spread(fp.active, n_active, fp.partner, pr.spread_den[s], bd.sp_lo[s],
                                                    bd.sp_hi[s], sx.part_w, sx.part_lo, sx.part_hi, sx.ends, True)
    if n_active > 1:
        lb += pr.stake * 0.5 * _partners_least_spread(fp.active, n_active, fp.partner, pr.budget_cols[1], bd.st_lo,
                                                      bd.st_hi, sx.part_w, sx.part_lo, sx.part_hi, sx.ends, False)
        lb += pr.need * 0.5 * _partners_least_spread(fp.active, n_active, fp.partner, pr.budget_cols[2], bd.nd_lo,
                                                     bd.nd_hi, sx.part_w, sx.part_lo, sx.part_hi, sx.ends, False)
    return lb


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



# ---------------------------------------------------------------------------------- the ESU walk's own steps
@_step
def _open_root(v, g, fr):
    """Start the walk from ``v``: its higher-numbered neighbours are the first extensions (ESU)."""
    fr.closed_at[:] = -1
    fr.closed_at[v] = 0
    k = 0
    for a in range(g.nbptr[v], g.nbptr[v + 1]):
        x = g.nbidx[a]
        if fr.closed_at[x] == -1:
            fr.closed_at[x] = 0
            if x > v:
                fr.ext[0, k] = x
                k += 1
    fr.ext_n[0] = k
    fr.ext_pos[0] = 0


@_step
def _next_extension(depth, pop_d, g, fr):
    """The next block that may grow the set at ``depth`` (of ``pop_d[depth]`` people): -1 when there is none left,
    -2 when it would take the set over the population cap (skipped)."""
    if fr.ext_pos[depth] >= fr.ext_n[depth] or depth + 1 >= g.max_depth + 1:
        return -1
    x = fr.ext[depth, fr.ext_pos[depth]]
    fr.ext_pos[depth] += 1
    return -2 if pop_d[depth] + g.weight[x] > g.cap else x


@_step
def _open_child(v, depth, x, g, fr):
    """Grow the set at ``depth`` by ``x``: the remaining extensions plus ``x``'s neighbours not yet seen."""
    nd = depth + 1
    k = 0
    for j in range(fr.ext_pos[depth], fr.ext_n[depth]):
        fr.ext[nd, k] = fr.ext[depth, j]
        k += 1
    fr.closed_n[nd] = 0
    for a in range(g.nbptr[x], g.nbptr[x + 1]):
        y = g.nbidx[a]
        if fr.closed_at[y] == -1:
            fr.closed_at[y] = nd
            fr.closed_list[nd, fr.closed_n[nd]] = y
            fr.closed_n[nd] += 1
            if y > v:
                fr.ext[nd, k] = y
                k += 1
    fr.ext_n[nd] = k
    fr.ext_pos[nd] = 0


@_step
def _reopen(depth, fr):
    """Going back up from ``depth``: the blocks first seen there are free again."""
    if depth > 0:
        for i in range(fr.closed_n[depth]):
            fr.closed_at[fr.closed_list[depth, i]] = -1


@_kernel
def _count(g, fr, pop_d, roots, limit):
    """Candidates of the walk (connected, under the cap); counting stops past ``limit``."""
    total = 0
    for r in range(len(roots)):
        v = roots[r]
        _open_root(v, g, fr)
        pop_d[0] = g.weight[v]
        depth = 0
        total += 1
        while depth >= 0:
            if total > limit:
                return total
            x = _next_extension(depth, pop_d, g, fr)
            if x == -2:
                continue
            if x >= 0:
                _open_child(v, depth, x, g, fr)
                depth += 1
                pop_d[depth] = pop_d[depth - 1] + g.weight[x]
                total += 1
                continue
            _reopen(depth, fr)
            depth -= 1
    return total

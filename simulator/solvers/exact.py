"""Exact solver: enumerate connected candidate footprints, then solve the set-partitioning model with HiGHS.

Every configuration's score is a constant plus a sum of footprint costs (``FootprintScorer``), so the best
configuration is the cheapest set of candidate footprints that covers each block exactly once. Small models
go to the MILP directly. For large ones (about 244,000 candidates at sub-ICB level) the plain LP relaxation is
too weak to prune (12% below the optimum for the default weights), so ``simulator.solvers.master`` computes a stronger
bound: column generation over the candidates with subset-row cuts. Its reduced costs then prove that all but a
few hundred candidates cannot beat an incumbent found among the cheapest ones (reduced-cost fixing), and the
MILP over what is left is small; its optimum is the optimum of the whole problem.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from simulator.configuration import Configuration
from simulator.constraints import blocks_connected, group_labels, today_icb_sets
from simulator.errors import ScenarioError, TooManyCandidates
from simulator.metrics.score import scorer
from simulator.solvers.base import BoundMethod, Problem, Solver, SolverStatus
from simulator.solvers.enumerate import candidate_graph, enumeration_rules, population_cap, soft_threshold
from simulator.solvers.explain import explain_infeasible
from simulator.solvers.master import MasterBound, cut_strengthened_bound
from simulator.solvers.presolve import presolve
from simulator.solvers.scan import count_connected
from simulator.solvers.term_bound import SoftCeiling

_LIFTS = 3  # lifts of the cap past a soft ceiling, each to what the last answer proves
_CHUNK = 50_000
_RUNG = 1.5
"""With a soft ceiling, how much the cap rises each time the candidates under it cannot form a configuration."""


def masks_to_matrix(masks: list[int], n: int) -> sp.csr_matrix:
    """0/1 candidate x block matrix from bitmasks."""
    if not masks:
        return sp.csr_matrix((0, n))
    nbytes = (n + 7) // 8
    rows = []
    for i in range(0, len(masks), _CHUNK):
        buf = b"".join(x.to_bytes(nbytes, "little") for x in masks[i:i + _CHUNK])
        bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8).reshape(-1, nbytes), axis=1, bitorder="little")
        rows.append(sp.csr_matrix(bits[:, :n], dtype=np.float64))
    return sp.vstack(rows, format="csr")


class ExactSolver(Solver):
    """Proven-optimal footprints by set partitioning over enumerated connected candidates.

    Parameters
    ----------
    problem
        The problem; its level should be ``icb`` or ``sicbl`` (``place`` has too many candidates).
    max_candidates
        Give up (with a clear error) if enumeration would exceed this many candidate footprints.
    direct_limit
        Up to this many candidates, the MILP is solved directly; above it, cut-strengthened LP bound, incumbent and
        reduced-cost fixing (faster from about a thousand candidates, and never stuck in a large MILP).
    proof_limit
        If reduced-cost fixing leaves more candidates than this, the solver stops with its incumbent and the
        LP bound (status ``feasible``, gap reported) rather than attempt a MILP it cannot finish.
    max_moved_limit
        With ``max_moved`` (solved only as a direct MILP), give up above this many candidates.
    explain
        Explain an infeasible answer (False: a warm start needs no reasons).
    lift_limit
        With a soft ceiling, lift the cap to the one an answer proves only where that leaves at most this many
        candidates (or ``max_candidates``, if fewer): costing them takes about 16 s a million.
    contract_groups
        Enumerate candidates over the groups the rules keep together, each contracted to one node
        (:class:`simulator.solvers.enumerate.CandidateGraph`); False enumerates block by block, as a check (the
        candidates that keep every group whole are the same).
    """

    name = "exact"

    def __init__(self, problem: Problem, seed: int = 0, time_limit: float | None = None, progress=None,
                 max_candidates: int = 3_000_000, direct_limit: int = 2_000, proof_limit: int = 30_000,
                 max_moved_limit: int = 20_000, explain: bool = True, contract_groups: bool = True,
                 lift_limit: int = 1_000_000):
        super().__init__(problem, seed, time_limit, progress)
        self.contract_groups = contract_groups
        self.lift_limit = lift_limit
        self.explain = explain
        self.max_candidates = max_candidates
        self.direct_limit = direct_limit
        self.max_moved_limit = max_moved_limit
        self.proof_limit = proof_limit

    # ------------------------------------------------------------------ candidates
    lifts_soft_ceiling = True
    """Whether :meth:`_solve` lifts the cap past a soft ceiling as far as the answer needs (see
    :class:`SoftCeiling`); solvers over a given pool of footprints set it False."""

    def candidates(self, cap: float | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
        """Feasible candidate footprints (0/1 matrix) and their costs.

        Parameters
        ----------
        cap
            The most people a candidate may hold (default :func:`population_cap`). With a soft ceiling it counts
            *effective* people: each group the rules keep together counts at most the ceiling
            (:class:`SoftCeiling`); today's ICBs (and, with a soft ceiling, groups kept together) above the cap
            are candidates standing alone all the same.
        """
        p = self.problem
        m, cons = p.model, p.constraints
        if not cons.contiguity:
            raise ScenarioError("the exact solver builds footprints from connected blocks: with contiguity off, use "
                                "the local_search solver")
        pop = p.population
        cap = population_cap(p) if cap is None else float(cap)
        graph = candidate_graph(p, self.contract_groups)
        self.stats_["population_cap"] = cap
        counted = "people" if graph.threshold is None else "effective people (a group kept whole counts at most " \
            f"{graph.threshold:,.0f})"
        self.stats_["candidates_rule"] = (f"connected footprints of at most {cap:,.0f} {counted}, and today's ICBs "
                                          "(or groups the constraints keep together) standing alone above that")
        if graph.contraction.contracted:
            self.stats_["enumeration_nodes"] = int(np.isfinite(graph.weight).sum())
        t = time.perf_counter()
        masks = []
        for mask in graph.block_sets(cap, max_count=self.max_candidates + 1):
            masks.append(mask)
            if len(masks) % 100_000 == 0:
                self.progress(f"enumerated {len(masks):,} candidate footprints", 0.05)
        if graph.enumerated > self.max_candidates:
            raise TooManyCandidates(f"more than {self.max_candidates:,} candidate footprints at {m.level} level: use "
                                    "the local_search solver, a coarser level or a lower population ceiling")
        have = set(masks)
        for blocks in standing_alone_footprints(p, cap):
            mask = sum(1 << int(i) for i in blocks)
            if mask not in have:
                masks.append(mask)
                have.add(mask)
        self.stats_["enumeration_s"] = round(time.perf_counter() - t, 3)
        self.add_time("enumeration", time.perf_counter() - t)
        C = masks_to_matrix(masks, m.n_blocks)
        ok = cons.column_mask(m, C, pop)
        C = C[ok]
        self.stats_["candidates_enumerated"] = len(masks)
        self.stats_["candidates_feasible"] = int(C.shape[0])
        t = time.perf_counter()
        sc = scorer(m, p.params)
        costs = np.concatenate([sc.costs(C[i:i + _CHUNK]) for i in range(0, C.shape[0], _CHUNK)]) \
            if C.shape[0] else np.zeros(0)
        costs = costs + cons.penalty(C @ pop)
        self.stats_["costing_s"] = round(time.perf_counter() - t, 3)
        self.add_time("costing", time.perf_counter() - t)
        self.constant = sc.constant
        return C, costs

    # ------------------------------------------------------------------ global rows
    def global_rows(self, C: sp.csr_matrix) -> tuple[list, list, list]:
        """Rows over all candidates of ``C`` at once (the number of footprints, if the scenario fixes it): each
        row's coefficients per candidate, and its lower and upper limits."""
        cons = self.problem.constraints
        rows, lo, hi = [], [], []
        if cons.n_footprints:
            rows.append(np.ones(C.shape[0]))
            lo.append(cons.n_footprints[0])
            hi.append(cons.n_footprints[1])
        return rows, lo, hi

    def relaxation(self, C: sp.csr_matrix, costs: np.ndarray, time_limit: float | None = None,
                   max_rounds: int = 50) -> MasterBound:
        """Lower bound of the set-partitioning model over the candidates ``C`` (with the scenario's global rows).

        Parameters
        ----------
        C, costs
            Candidate footprints and their costs, as from :meth:`candidates`.
        time_limit
            Seconds for the column generation and cut rounds (the bound stays valid when cut short).
        max_rounds
            Rounds of subset-row cuts; 0 gives the plain LP relaxation (enough to test feasibility).

        Returns
        -------
        MasterBound
            ``feasible`` is False if even the LP relaxation has no solution. ``bound`` and ``plain_lp`` leave out
            the score's constant (``self.constant``, set by :meth:`candidates`). The relaxation ignores
            ``max_moved``, so its bound is valid but weaker for such scenarios.
        """
        rows, lo, hi = self.global_rows(C)
        return cut_strengthened_bound(C, costs, list(zip(rows, lo, hi)), time_limit=time_limit,
                                      max_rounds=max_rounds, progress=self.progress)

    def _keeper_pairs(self, C: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start footprint, candidate, overlap) for every candidate overlapping a starting footprint.

        ``max_moved`` counts blocks that leave the footprint holding most of their starting footprint. A binary
        ``y[s, c]`` marks candidate ``c`` as the keeper of start footprint ``s`` (at most one keeper per ``s``,
        only a chosen candidate); the blocks kept are ``sum y * overlap``, and at least ``n - max_moved`` must be.
        """
        start = self.problem.start.assignment
        S = sp.csr_matrix((np.ones(len(start)), (np.arange(len(start)), start)))
        ov = (C @ S).tocoo()
        return ov.col.astype(int), ov.row.astype(int), ov.data

    def partition_milp(self, C: sp.csr_matrix, costs: np.ndarray, time_limit: float | None, extra=()):
        """Set-partitioning MILP over the candidate rows of ``C`` with ``costs`` (and the scenario's global rows,
        moved-block limit); ``extra`` adds (row over candidates, lower, upper) constraints. Returns scipy's
        ``milp`` result."""
        n = self.problem.model.n_blocks
        m = C.shape[0]
        A = C.T.tocsr()
        rows, lo, hi = self.global_rows(C)
        for r, l, h in extra:
            rows.append(r)
            lo.append(l)
            hi.append(h)
        max_moved = self.problem.constraints.max_moved
        n_y = 0
        if max_moved is not None:
            s_of, c_of, overlap = self._keeper_pairs(C)
            n_y = len(s_of)
        pad = (lambda M: sp.hstack([M, sp.csr_matrix((M.shape[0], n_y))]).tocsr()) if n_y else (lambda M: M)
        cons = [LinearConstraint(pad(A), np.ones(n), np.ones(n))]
        if rows:
            cons.append(LinearConstraint(pad(sp.csr_matrix(np.vstack(rows))), lo, hi))
        if n_y:
            k = np.arange(n_y)
            n_start = int(s_of.max()) + 1
            one_keeper = sp.csr_matrix((np.ones(n_y), (s_of, m + k)), shape=(n_start, m + n_y))
            only_chosen = sp.csr_matrix((np.r_[np.ones(n_y), -np.ones(n_y)], (np.r_[k, k], np.r_[m + k, c_of])),
                                        shape=(n_y, m + n_y))
            kept = sp.csr_matrix((overlap, (np.zeros(n_y, dtype=int), m + k)), shape=(1, m + n_y))
            cons += [LinearConstraint(one_keeper, -np.inf, 1), LinearConstraint(only_chosen, -np.inf, 0),
                     LinearConstraint(kept, n - max_moved, np.inf)]
        opts = {"disp": False, "mip_rel_gap": 1e-9}
        if time_limit is not None:
            opts["time_limit"] = max(1.0, float(time_limit))
        c = np.r_[costs, np.zeros(n_y)]
        res = milp(c, integrality=np.ones(m + n_y), bounds=Bounds(0, 1), constraints=cons, options=opts)
        if res.x is not None and n_y:
            res.x = res.x[:m]
        return res

    # ------------------------------------------------------------------ solve
    def _deadline(self, start: float) -> float | None:
        if self.time_limit is None:
            return None
        return max(1.0, self.time_limit - (time.perf_counter() - start))

    def _solve(self) -> None:
        t0 = time.perf_counter()
        conflicts = presolve(self.problem)  # what cannot hold is said at once, before any enumeration
        self.add_time("presolve", time.perf_counter() - t0)
        if conflicts:
            self.status_, self.explanation_ = SolverStatus.INFEASIBLE, conflicts
            self.stats_["presolve"] = "infeasible"
            return
        self.progress("enumerating candidate footprints", 0.0)
        if self.lifts_soft_ceiling and soft_threshold(self.problem) is not None:
            self._solve_past_soft_ceiling(t0)
            return
        self._solve_over(*self.candidates(), t0)

    def _solve_past_soft_ceiling(self, t0: float) -> None:
        """Solve with a soft ceiling: footprints above it are candidates as far as an answer needs them.

        The cap starts at the band's ceiling and rises by half at a time until the candidates can form a
        configuration (or every connected footprint is a candidate, when nothing can). The answer then proves a
        cap (:meth:`SoftCeiling.cap_for`) beyond which no footprint is in a configuration as good; if the answer is
        proven optimal over the footprints searched, the candidates are enumerated up to that cap and solved again.
        If that cap has more candidates than ``lift_limit``, the largest of two lower ones that fits is searched. Where the cap
        searched falls short of the cap proven, the bound is lowered to what footprints above the cap searched
        could score (status ``feasible``): the answer is never called optimal over footprints not searched.
        """
        p = self.problem
        graph = candidate_graph(p, self.contract_groups)
        soft = SoftCeiling(p, graph)
        everything = soft.everything
        cap = min(population_cap(p), everything)
        base_stats, rungs, explain = dict(self.stats_), [], self.explain
        self.explain = False  # explained once, at the end, if nothing is feasible
        try:
            while True:
                self._reset(base_stats)
                try:
                    candidates = self.candidates(cap)
                except TooManyCandidates as e:
                    if not rungs:
                        raise
                    more = str(e)[0].lower() + str(e)[1:]
                    raise TooManyCandidates(
                        f"no configuration of footprints of at most {rungs[-1]['cap']:,} people meets the rules, and "
                        f"with the soft ceiling lifted to {cap:,.0f} there are {more}") from None
                self._solve_over(*candidates, t0)
                rungs.append({"cap": round(cap), "candidates": self.stats_.get("candidates_feasible", 0),
                              "status": SolverStatus(self.status_).value})
                if self.configuration_ is not None or self.status_ is SolverStatus.NO_SOLUTION or cap >= everything:
                    break
                cap = min(everything, cap * _RUNG)
                self.progress(f"no configuration under {rungs[-1]['cap']:,} people a footprint: the soft ceiling "
                              f"lets the cap rise to {cap:,.0f}", 0.1)
        finally:
            self.explain = explain
        if self.configuration_ is None:
            if self.status_ is SolverStatus.INFEASIBLE:
                self._infeasible(uncovered=self._uncovered)
            self.stats_["soft_ceiling"] = {"rungs": rungs, "cap_searched": round(cap)}
            return
        target = soft.cap_for(self.objective_)
        for _ in range(_LIFTS):
            # Lifting the cap can only prove an answer that is proven over the footprints searched so far. Each
            # lift may lower the answer's objective, and with it the cap it proves: lift again until the cap
            # searched covers it (London at place level with four footprints: 4.73m does not fit, half-way to it
            # 3.61m does, and its answer then proves 3.68m).
            if not (target > cap and self.status_ is SolverStatus.OPTIMAL):
                break
            most = min(self.max_candidates, self.lift_limit)
            fit = next((c for c in (target, cap + (target - cap) / 2, cap + (target - cap) / 4)
                        if count_connected(graph.contraction.neighbours, graph.weight, c, most) <= most), None)
            if fit is None:
                break
            kept = (self.configuration_, self.objective_, self.status_, self.bound_, self.bound_method_,
                    dict(self.stats_))
            self._reset(base_stats)
            self._solve_over(*self.candidates(fit), t0)
            rungs.append({"cap": round(fit), "candidates": self.stats_.get("candidates_feasible", 0),
                          "status": SolverStatus(self.status_).value})
            if self.configuration_ is None or self.objective_ > kept[1]:  # out of time: keep the answer found
                (self.configuration_, self.objective_, self.status_, self.bound_, self.bound_method_,
                 self.stats_) = kept
                break
            cap = fit
            target = min(target, soft.cap_for(self.objective_))
        self._cover(soft, cap, target, rungs)

    def _cover(self, soft: SoftCeiling, cap: float, target: float, rungs: list[dict]) -> None:
        """Make the answer's bound hold over every configuration, not only those whose footprints are under
        ``cap``: if the answer proves a cap (``target``) above the one searched, footprints above it could still
        do better, by as much as :meth:`SoftCeiling.bound_beyond` allows."""
        covered = target <= cap
        self.stats_["soft_ceiling"] = {
            "threshold": round(soft.threshold), "rate_per_person": soft.rate, "base_bound": soft.base,
            "cap_proven": None if not np.isfinite(target) else round(target), "cap_searched": round(cap),
            "covers_every_configuration": bool(covered), "rungs": rungs}
        if covered:
            return
        beyond = soft.bound_beyond(cap)
        if self.bound_ is None or beyond < self.bound_:
            self.status_ = SolverStatus.FEASIBLE
            self.set_bound(beyond, BoundMethod.TERM_WISE)
        proven = "no size" if not np.isfinite(target) else f"{target:,.0f}"
        why = (f"footprints above the soft ceiling were searched up to {cap:,.0f} effective people (the answer "
               f"proves that none above {proven} can be in a better configuration); the bound allows for those in "
               "between")
        self.stats_["unproven_reason"] = "; ".join(r for r in (self.stats_.get("unproven_reason"), why) if r)

    def _reset(self, stats: dict) -> None:
        """Forget an answer (before solving again over other candidates)."""
        self.configuration_, self.objective_, self.explanation_ = None, None, []
        self.status_ = SolverStatus.NOT_RUN
        self.set_bound(None, BoundMethod.NONE)
        self.stats_ = dict(stats)

    def _solve_over(self, C: sp.csr_matrix, costs: np.ndarray, t0: float) -> None:
        """Solve the set-partitioning model over the candidates ``C`` with their ``costs``."""
        uncovered = np.flatnonzero(np.asarray(C.sum(axis=0)).ravel() == 0)
        self._uncovered = uncovered if len(uncovered) else None
        if len(uncovered):
            self._infeasible(uncovered=uncovered)
            return
        self.progress(f"solving over {C.shape[0]:,} candidate footprints", 0.3)
        max_moved = self.problem.constraints.max_moved is not None
        if max_moved and C.shape[0] > self.max_moved_limit:
            raise TooManyCandidates(f"max_moved with {C.shape[0]:,} candidate footprints is beyond the exact solver: "
                                    "use the local_search solver (the auto solver does)")
        if C.shape[0] <= self.direct_limit or max_moved:  # max_moved needs keeper variables: direct MILP only
            t = time.perf_counter()
            res = self.partition_milp(C, costs, self._deadline(t0))
            self.add_time("milp", time.perf_counter() - t)
            self._finish(C, costs, res, lp_bound=None)
            return
        # Lower bound and reduced costs: column generation over the candidates, strengthened by subset-row cuts.
        deadline = self._deadline(t0)
        t = time.perf_counter()
        mb = self.relaxation(C, costs, time_limit=None if deadline is None else deadline / 2)
        self.add_time("relaxation", time.perf_counter() - t)
        self.stats_.update(mb.stats)
        if not mb.feasible:
            self._infeasible()
            return
        lp_bound, rc = mb.bound, mb.reduced_costs
        self.stats_["lp_bound"] = mb.plain_lp + self.constant
        self.stats_["cut_bound"] = lp_bound + self.constant
        # Incumbent: MILP over the candidates of smallest reduced cost (and the LP's support), widened until one
        # is found.
        order = np.argsort(rc, kind="stable")
        size = 500
        incumbent, inc_res, inc_pick = None, None, None
        while True:
            pick = np.union1d(order[:size], mb.support)
            res = self.partition_milp(C[pick], costs[pick], min(60.0, self._deadline(t0) or 60.0))
            if res.x is not None:
                incumbent, inc_res, inc_pick = float(res.fun), res, pick
            if incumbent is not None or size >= C.shape[0]:
                break
            size *= 4
        if incumbent is None:
            self._finish(C[pick], costs[pick], res, lp_bound=lp_bound)  # infeasible, or out of time
            return
        self.stats_["incumbent"] = incumbent + self.constant
        # Reduced-cost fixing: a candidate with bound + reduced cost above the incumbent is in no better solution.
        keep = np.flatnonzero(lp_bound + rc <= incumbent + 1e-9 * max(1.0, abs(incumbent)))
        self.stats_["candidates_after_fixing"] = int(len(keep))
        self.progress(f"reduced-cost fixing left {len(keep):,} candidates", 0.7)
        if len(keep) > self.proof_limit:
            # The bound is too weak for the fixing to bite: report the incumbent and the gap honestly.
            inc_res.status = 1
            self._finish(C[inc_pick], costs[inc_pick], inc_res, lp_bound=lp_bound, use_mip_bound=False)
            self.stats_["unproven_reason"] = (f"reduced-cost fixing left {len(keep):,} candidates (limit "
                                              f"{self.proof_limit:,}); the gap is against the cut-strengthened "
                                              "LP bound")
            return
        t = time.perf_counter()
        res = self.partition_milp(C[keep], costs[keep], self._deadline(t0))
        self.stats_["milp_s"] = round(time.perf_counter() - t, 3)
        self.add_time("milp", time.perf_counter() - t)
        if res.status != 0 and (res.x is None or res.fun > incumbent):
            # Out of time before the MILP beat the incumbent: keep the incumbent, with the MILP's bound.
            inc_res.status = 1
            inc_res.mip_dual_bound = getattr(res, "mip_dual_bound", None)
            self._finish(C[inc_pick], costs[inc_pick], inc_res, lp_bound=lp_bound)
            return
        self._finish(C[keep], costs[keep], res, lp_bound=lp_bound)

    def _finish(self, C: sp.csr_matrix, costs: np.ndarray, res, lp_bound: float | None,
                use_mip_bound: bool = True) -> None:
        if res.x is None:
            if res.status == 2:
                self._infeasible()
            else:
                self.status_ = SolverStatus.NO_SOLUTION
                self.explanation_ = [f"no feasible configuration found within the time limit ({res.message})"]
            return
        chosen = np.flatnonzero(res.x > 0.5)
        m = self.problem.model
        assignment = np.full(m.n_blocks, -1, dtype=np.int64)
        for k, j in enumerate(chosen):
            assignment[C[j].indices] = k
        self.configuration_ = _named(self.problem, assignment)
        self.objective_ = float(costs[chosen].sum()) + self.constant
        proven = res.status == 0
        bound = getattr(res, "mip_dual_bound", None) if use_mip_bound else None
        if proven:
            self.set_bound(self.objective_, BoundMethod.EXACT)
        else:
            # The better of the MILP's dual bound (when stopped in time) and the cut-strengthened LP's.
            bounds = [(b, m) for b, m in ((bound, BoundMethod.MILP_DUAL), (lp_bound, BoundMethod.LP_RELAXATION))
                      if b is not None and np.isfinite(b)]
            best = max(bounds, key=lambda bm: bm[0]) if bounds else None
            self.set_bound(best[0] + self.constant if best else None, best[1] if best else BoundMethod.NONE)
        self.status_ = SolverStatus.OPTIMAL if proven else SolverStatus.FEASIBLE
        self.stats_["milp_status"] = res.message

    def _infeasible(self, uncovered: np.ndarray | None = None) -> None:
        self.status_ = SolverStatus.INFEASIBLE
        self.explanation_ = (explain_infeasible(self.problem, uncovered=uncovered, exact_solver=ExactSolver)
                             if self.explain else ["not explained (explain=False)"])


def standing_alone_footprints(problem: Problem, cap: float | None = None) -> list[np.ndarray]:
    """Candidate footprints that enumeration under the cap cannot reach: today's ICBs above the cap (they may
    stand alone, reported as out of band), ICBs holding locked blocks, and groups that constraints keep together
    (London as one) unless the ceiling is hard. Each is in one piece, in one region and breaks no must-not-merge
    pair, like every enumerated candidate. ``cap``: the cap of the enumeration (default :func:`population_cap`)."""
    m, cons = problem.model, problem.constraints
    pop = problem.population
    cap = population_cap(problem) if cap is None else cap
    region_nb, forbid = enumeration_rules(problem)
    locked = np.zeros(m.n_blocks, dtype=bool)
    for idx, _ in cons.locked:
        locked[idx] = True
    alone = list(today_icb_sets(m))
    if not (cons.ceiling and cons.ceiling.hard):
        alone += forced_components(m.n_blocks, cons)
    out, seen = [], set()
    for blocks in alone:
        key = tuple(int(i) for i in blocks)
        if not (pop[blocks].sum() > cap or locked[blocks].any()) or key in seen:
            continue
        mask = sum(1 << int(i) for i in blocks)
        if not blocks_connected(blocks, region_nb) or any(mask & forbid[int(i)] for i in blocks):
            continue
        out.append(np.asarray(blocks, dtype=np.int64))
        seen.add(key)
    return out


def forced_components(n: int, cons) -> list[np.ndarray]:
    """Sets of blocks that the constraints' groups chain together (each of two or more blocks)."""
    labels = group_labels(n, cons.groups)
    return [np.flatnonzero(labels == r) for r in np.unique(labels) if (labels == r).sum() > 1]


def _named(problem: Problem, assignment: np.ndarray) -> Configuration:
    """Name footprints after the ICBs they are built from (largest partner first)."""
    m = problem.model
    names = []
    icb_name = m.blocks.icb_name.to_numpy()
    pop = problem.population
    for f in range(int(assignment.max()) + 1):
        idx = np.flatnonzero(assignment == f)
        by = {}
        for i in idx:
            by[icb_name[i]] = by.get(icb_name[i], 0.0) + pop[i]
        parts = sorted(by, key=lambda k: -by[k])
        name = " + ".join(parts) if len(parts) <= 3 else f"{' + '.join(parts[:3])} + {len(parts) - 3} more"
        if m.level not in ("icb2024", "icb2026") and any((m.blocks.icb_name.to_numpy() == part).sum() != sum(icb_name[idx] == part)
                                    for part in parts):
            name += " (part)"
        base, k = name, 2
        while name in names:
            name = f"{base} ({k})"
            k += 1
        names.append(name)
    return Configuration(m, assignment, names, allow_noncontiguous=not problem.constraints.contiguity)

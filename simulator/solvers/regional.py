"""Footprints kept within NHS regions: each region solved exactly for each number of footprints, the counts combined.

Where footprints may not cross NHS regions (``within_region``), the score of a configuration is today's map's
score plus, region by region, what that region's footprints change: the exact solver scores every footprint on
its own, and no footprint holds blocks of two regions. So England's best configuration with ``n`` footprints is
the best choice of one configuration per region whose counts add up to ``n``: a small knapsack over the
regions' best objectives for each count. The regions are solved lazily:

* every (region, count) starts with a bound: the term-wise bound of the region (``simulator.solvers.term_bound``)
  plus what the band alone must cost when the region's people are shared among that many footprints (and any
  soft limit's penalty, likewise), or the region's bound with the band (``simulator.solvers.band_bound``: cuts,
  people moved and the band together over today's ICBs) where that is higher;
* the knapsack over the bounds picks the counts that could be best; each of those not yet solved is solved
  exactly (``ExactSolver`` on the region alone, the rest of England as today), which replaces its bound by its
  objective, or by the solver's bound where it cannot prove one in time;
* when the knapsack's choice holds only solved entries, the knapsack over the objectives is England's best
  configuration, and the knapsack over the bounds is a proven bound on every configuration (so at place level,
  where England has too many candidate footprints to enumerate, the band is priced in the bound).

The same table gives each region's margin: how much more the best configuration that differs there scores,
whether it keeps the region's count (the runner-up of the region's own solve, by a no-good cut) or changes it
(the knapsack with that region's count excluded).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.configuration import Configuration
from simulator.errors import ScenarioError, TooManyCandidates
from simulator.metrics.score import scorer
from simulator.solvers.band_bound import band_bound
from simulator.solvers.base import BoundMethod, Problem, Solver, SolverStatus
from simulator.solvers.enumerate import candidate_graph, population_cap, soft_threshold
from simulator.solvers.exact import ExactSolver, _named
from simulator.solvers.scan import count_connected
from simulator.solvers.term_bound import SoftCeiling, term_bound

MARGIN_REACH = 1.0  # margins are searched this far (score units): beyond it, "at least 1"
_TOL = 1e-7  # objectives within this (relative) are equal: HiGHS solves to 1e-9 relative gap

OPTIMAL, FEASIBLE, INFEASIBLE, BOUNDED, UNSOLVED = "optimal", "feasible", "infeasible", "bounded", "unsolved"


@dataclass
class RegionCount:
    """One NHS region drawn with a given number of footprints (the rest of England as today).

    Attributes
    ----------
    state
        ``optimal`` (solved and proven), ``feasible`` (solved, not proven: ``bound`` from the solver), ``infeasible``
        (no configuration meets the rules), ``bounded`` (not solved: ``bound`` is the term-wise and band bound) or
        ``unsolved`` (tried, no answer: ``note`` says why; the bound stands).
    objective, bound
        The objective of England with this region drawn at its best (None where not solved), and a proven lower
        bound on it (``inf`` where infeasible).
    configuration
        The region's best configuration found (England, the rest as today), if any.
    cap
        With a soft ceiling, the most effective people its solve's candidates held (for the runner-up).
    """

    region: str
    count: int | None
    bound: float
    state: str = BOUNDED
    objective: float | None = None
    configuration: Configuration | None = None
    cap: float | None = None
    seconds: float = 0.0
    note: str = ""

    @property
    def settled(self) -> bool:
        """Whether solving it again would tell no more (proven, infeasible, or tried without proof)."""
        return self.state != BOUNDED

    def to_dict(self, today: float) -> dict[str, Any]:
        return {"region": self.region, "footprints": self.count, "state": self.state,
                "change": None if self.objective is None else self.objective - today,
                "bound_change": None if not np.isfinite(self.bound) else self.bound - today,
                "seconds": round(self.seconds, 3), "note": self.note}


def regional_reason(problem: Problem) -> str | None:
    """Why :class:`RegionalSolver` cannot solve ``problem`` (None if it can)."""
    c = problem.constraints
    if not c.within_region:
        return "footprints may cross NHS regions (within_region is off)"
    if not c.contiguity:
        return "contiguity is off: the exact solver builds footprints from connected blocks"
    if c.max_moved is not None:
        return "max_moved counts blocks moved across all regions at once"
    region = problem.model.blocks.region_ods.to_numpy()
    for idx, why in c.groups:
        if len(set(region[np.asarray(idx)])) > 1:
            return f"{why} must be kept whole across NHS regions"
    if not problem.free_blocks.any():
        return "no block is free to move"
    return None


class RegionalSolver(Solver):
    """England's best configuration where footprints stay within NHS regions (see the module's docstring).

    Parameters
    ----------
    scenario, model
        The parsed scenario and the model of its level; the scenario must keep footprints within regions.
    problem
        The scenario's problem, if built already (its start is kept).
    region_time_limit
        Seconds for each region's exact solve (less if the time limit leaves less).
    max_candidates
        Candidate footprints one region's solve may enumerate.

    Attributes
    ----------
    table_
        After ``solve()``: per (region, count) a :class:`RegionCount`.
    counts_
        The number of footprints the answer has in each region.
    today_
        The objective of today's map (the rest of England in every region's solve).
    """

    name = "regional"

    def __init__(self, scenario, model, problem: Problem | None = None, seed: int = 0,
                 time_limit: float | None = None, progress=None, region_time_limit: float = 120.0,
                 max_candidates: int = 3_000_000):
        problem = problem or Problem.from_scenario(scenario, model)
        reason = regional_reason(problem)
        if reason:
            raise ScenarioError(f"the regional solver needs footprints kept within NHS regions: {reason}")
        super().__init__(problem, seed, time_limit, progress)
        self.scenario, self.model = scenario, model
        self.region_time_limit, self.max_candidates = region_time_limit, max_candidates
        self.table_: dict[tuple[str, int | None], RegionCount] = {}
        self.counts_: dict[str, int | None] = {}
        self.today_ = 0.0
        self._t0 = 0.0

    # ------------------------------------------------------------------ the regions
    def regions(self) -> list[str]:
        """NHS regions with blocks free to move (ODS codes, sorted)."""
        region = self.model.blocks.region_ods.to_numpy()
        return sorted(set(region[self.problem.free_blocks]))

    def total(self) -> tuple[int, int] | None:
        """Least and most footprints in the freed regions together (None: any number)."""
        c = self.problem.constraints
        if not c.n_footprints:
            return None
        return c.n_footprints[0] - c.footprints_outside, c.n_footprints[1] - c.footprints_outside

    def region_problem(self, region: str, count: int | None) -> Problem:
        """The scenario with only ``region`` free (and ``count`` footprints there, if given)."""
        sc = copy.copy(self.scenario)
        sc.constraints = {**self.scenario.constraints, "only_regions": [region]}
        if count is None:
            sc.constraints.pop("n_footprints", None)
        else:
            sc.constraints["n_footprints"] = count
        return Problem.from_scenario(sc, self.model, start=self.problem.start)

    def _counts(self, region: str, free_people: float, nodes: int) -> list[int | None]:
        if self.total() is None:
            return [None]  # any number: one solve with the count free
        c = self.problem.constraints
        most = nodes
        if c.floor is not None and c.floor.hard and c.floor.value > 0:
            most = min(most, int(free_people // c.floor.value))
        return list(range(1, max(most, 1) + 1))

    def _band_floor(self, people: float, count: int | None) -> float:
        """What the band and the soft limits must cost when ``people`` are shared among ``count`` footprints: the
        people outside the band are at least the people beyond ``count`` full footprints (or short of ``count``
        footprints at the band's floor), however they are shared."""
        if count is None:
            return 0.0
        lo, hi = self.problem.params.band
        out = scorer(self.model, self.problem.params).band_per_person * max(0.0, people - count * hi,
                                                                            count * lo - people)
        c = self.problem.constraints
        if c.ceiling is not None and not c.ceiling.hard:
            out += c.ceiling.penalty_per_person * max(0.0, people - count * c.ceiling.value)
        if c.floor is not None and not c.floor.hard:
            out += c.floor.penalty_per_person * max(0.0, count * c.floor.value - people)
        return out

    def _build_table(self) -> None:
        region = self.model.blocks.region_ods.to_numpy()
        free = self.problem.free_blocks
        pop = self.problem.population
        for r in self.regions():
            base = self.region_problem(r, None)
            inside = free & (region == r)
            self.today_ = base.objective(today_assignment(self.model))  # the same in every region: England as today
            terms = term_bound(base)
            # The bound with the band (cuts, people moved and the band together over today's ICBs) holds at every
            # count; the band's floor at a given count adds to the term-wise bound alone.
            with_band = band_bound(base, terms=terms).bound
            people = float(pop[inside].sum())
            for k in self._counts(r, people, int(inside.sum())):
                self.table_[(r, k)] = RegionCount(r, k, max(terms.bound + self._band_floor(people, k), with_band))

    # ------------------------------------------------------------------ solving one entry
    def _left(self) -> float | None:
        if self.time_limit is None:
            return None
        return self.time_limit - (time.perf_counter() - self._t0)

    def solve_entry(self, entry: RegionCount) -> None:
        """Solve one region at one count exactly (within the time left); the entry takes the answer."""
        left = self._left()
        if left is not None and left < 1.0:
            entry.state, entry.note = UNSOLVED, "the time limit ran out before this region was solved"
            return
        limit = self.region_time_limit if left is None else min(self.region_time_limit, left)
        t = time.perf_counter()
        try:
            p = self.region_problem(entry.region, entry.count)
            # Count first (milliseconds, by the compiled walk): a region the exact solver cannot enumerate is
            # given up at once, not after enumerating millions of candidates.
            graph = candidate_graph(p)
            if count_connected(graph.contraction.neighbours, graph.weight, population_cap(p),
                               self.max_candidates) > self.max_candidates:
                raise TooManyCandidates(f"more than {self.max_candidates:,} candidate footprints in the region")
            s = ExactSolver(p, seed=self.seed, time_limit=limit, max_candidates=self.max_candidates, explain=False)
            s.solve()
        except (TooManyCandidates, ScenarioError) as e:
            entry.state, entry.note = UNSOLVED, str(e)
            entry.seconds = time.perf_counter() - t
            return
        entry.seconds = time.perf_counter() - t
        entry.cap = (s.stats_.get("soft_ceiling") or {}).get("cap_searched")
        if s.status_ is SolverStatus.INFEASIBLE:
            entry.state, entry.bound = INFEASIBLE, np.inf
        elif s.configuration_ is None:
            entry.state, entry.note = UNSOLVED, "; ".join(s.explanation_) or "no configuration found in time"
        else:
            entry.configuration, entry.objective = s.configuration_, float(s.objective_)
            entry.state = OPTIMAL if s.status_ is SolverStatus.OPTIMAL else FEASIBLE
            if entry.state == OPTIMAL:
                entry.bound = entry.objective
            elif s.bound_ is not None:
                entry.bound = max(entry.bound, float(s.bound_))
            entry.note = s.stats_.get("unproven_reason", "") if entry.state == FEASIBLE else ""

    # ------------------------------------------------------------------ combining the regions
    def combine(self, use: str, exclude: tuple[str, int | None] | None = None
                ) -> tuple[dict[str, int | None] | None, float]:
        """The counts, one per region, that add up to the scenario's number of footprints at the least total
        change from today: by the entries' bounds (``use="bound"``) or objectives (``"objective"``; unsolved
        entries left out). ``exclude`` leaves one (region, count) out. Returns (counts, total change), or
        (None, inf) where no choice adds up."""
        best: dict[int, tuple[float, dict]] = {0: (0.0, {})}
        for r in self.regions():
            nxt: dict[int, tuple[float, dict]] = {}
            for (rr, k), e in sorted(self.table_.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
                if rr != r or (rr, k) == exclude:
                    continue
                v = e.bound if use == "bound" else (e.objective if e.objective is not None else np.inf)
                if not np.isfinite(v):
                    continue
                for n, (tot, choice) in best.items():
                    key = n + (k or 0)
                    cand = tot + v - self.today_
                    if key not in nxt or cand < nxt[key][0] - 1e-12:
                        nxt[key] = (cand, {**choice, r: k})
            best = nxt
        total = self.total()
        ok = [(v, n, c) for n, (v, c) in best.items() if total is None or total[0] <= n <= total[1]]
        if not ok:
            return None, np.inf
        v, _, c = min(ok, key=lambda t: (t[0], t[1]))
        return c, v

    def settle(self, exclude: tuple[str, int | None] | None = None,
               enough: float | None = None) -> tuple[dict | None, float]:
        """Solve entries until the knapsack over the bounds (with ``exclude`` left out) chooses only settled
        ones, or (with ``enough``) until its bound reaches that objective; returns that choice and its bound (a
        change from today)."""
        while True:
            choice, value = self.combine("bound", exclude)
            if choice is None:
                return None, np.inf
            if enough is not None and self.today_ + value >= enough:
                return choice, value  # nothing left out can score below ``enough``: no need to solve on
            todo = [self.table_[(r, k)] for r, k in choice.items() if not self.table_[(r, k)].settled]
            if not todo:
                return choice, value
            for e in todo:
                what = f"{self._name(e.region)}" + ("" if e.count is None else f" with {e.count} footprint(s)")
                done = sum(x.settled for x in self.table_.values())
                self.progress(f"solving {what}", min(0.95, done / max(1, len(self.table_))))
                self.solve_entry(e)

    def _name(self, region: str) -> str:
        b = self.model.blocks
        return str(b.region_name[b.region_ods == region].iloc[0])

    # ------------------------------------------------------------------ solve
    def _solve(self) -> None:
        self._t0 = time.perf_counter()
        self._build_table()
        t = time.perf_counter()
        choice, bound = self.settle()
        self.add_time("regions", time.perf_counter() - t)
        if choice is None:
            self.status_ = SolverStatus.INFEASIBLE
            self.explanation_ = self._why_infeasible()
            return
        counts, change = self.combine("objective")
        self.stats_["regions"] = [e.to_dict(self.today_) for e in self.table_.values() if e.state != BOUNDED]
        self.stats_["region_solves"] = sum(e.state != BOUNDED for e in self.table_.values())
        if counts is None:
            self.status_ = SolverStatus.NO_SOLUTION
            self.explanation_ = [f"{self._name(e.region)}: {e.note}" for e in self.table_.values()
                                 if e.state == UNSOLVED] or ["no region's configuration was found in time"]
            return
        self.counts_ = counts
        self.configuration_ = self.assemble(counts)
        self.objective_ = self.today_ + change
        self.stats_["footprints_by_region"] = {self._name(r): k for r, k in counts.items()}
        proven = bound >= change - _TOL * max(1.0, abs(self.objective_))
        self.status_ = SolverStatus.OPTIMAL if proven else SolverStatus.FEASIBLE
        self.set_bound(self.objective_ if proven else min(self.today_ + bound, self.objective_),
                       BoundMethod.EXACT if proven else BoundMethod.REGIONAL)
        if not proven:
            self.stats_["unproven_reason"] = "; ".join(
                f"{self._name(e.region)} with {e.count} footprint(s): {e.note or e.state}"
                for e in (self.table_[(r, k)] for r, k in choice.items()) if e.state != OPTIMAL)

    def assemble(self, counts: dict[str, int | None]) -> Configuration:
        """England's configuration with each region drawn as its entry at ``counts`` (the rest as today)."""
        region = self.model.blocks.region_ods.to_numpy()
        labels = np.full(self.model.n_blocks, -1, dtype=np.int64)
        today = today_assignment(self.model)
        offset = 0
        for r, k in counts.items():
            a = self.table_[(r, k)].configuration.assignment
            inside = region == r
            labels[inside] = offset + a[inside]
            offset += int(a.max()) + 1
        rest = labels < 0
        labels[rest] = offset + today[rest]
        _, assignment = np.unique(labels, return_inverse=True)
        return _named(self.problem, assignment)

    def improve(self, configuration: Configuration) -> tuple[Configuration, list[str]]:
        """``configuration`` (another solver's answer) with each region replaced by the region's proven best at the
        same number of footprints, where that scores lower (regions are scored independently, so each swap
        lowers England's objective by what it gains). Solves such entries not yet solved, within the time limit.
        Returns the configuration and the names of the regions swapped."""
        region = self.model.blocks.region_ods.to_numpy()
        a = configuration.assignment
        labels, swapped = a.copy(), []
        for r in self.regions():
            inside = region == r
            entry = self.table_.get((r, len(set(a[inside].tolist())) if self.total() is not None else None))
            if entry is None:
                continue
            if entry.state == BOUNDED:
                self.solve_entry(entry)
            if entry.state != OPTIMAL:
                continue
            if entry.objective < self.problem.objective(today_outside(self.model, a, inside)) - _TOL * max(1.0, abs(entry.objective)):
                b = entry.configuration.assignment
                labels = np.where(inside, labels.max() + 1 + b, labels)
                swapped.append(self._name(r))
        if not swapped:
            return configuration, []
        return _named(self.problem, np.unique(labels, return_inverse=True)[1]), swapped

    def _why_infeasible(self) -> list[str]:
        total = self.total()
        out = []
        for r in self.regions():
            ks = [k for (rr, k), e in self.table_.items() if rr == r and e.state != INFEASIBLE]
            if not ks:
                out.append(f"{self._name(r)}: no number of footprints meets the rules there")
            elif total is not None:
                out.append(f"{self._name(r)}: {min(ks)}-{max(ks)} footprint(s) could meet the rules")
        if total is not None:
            out.insert(0, f"no choice of footprints per region adds up to {total[0]}"
                          + ("" if total[0] == total[1] else f"-{total[1]}"))
        return out

    # ------------------------------------------------------------------ margins
    def margins(self, time_limit: float = 60.0, reach: float | None = None) -> list["RegionMargin"]:
        """Per region, how much more the best configuration that differs there scores (see the module's
        docstring). Call after ``solve()`` proved the answer optimal (else each margin is against the answer).
        A runner-up at the same count is searched ``reach`` score units beyond the best (default
        ``MARGIN_REACH``); if none is that close, the margin is "at least ``reach``" (``exact`` False)."""
        reach = MARGIN_REACH if reach is None else float(reach)
        out = []
        for r, k in self.counts_.items():
            same, exact_same = self._runner_up(self.table_[(r, k)], time_limit, reach)
            # Another count need only be solved for as far as it could beat the runner-up at this count.
            other, v = self.settle(exclude=(r, k), enough=None if same is None else self.objective_ + same)
            other_count = None if other is None else v + self.today_ - self.objective_
            exact_other = other is not None and all(self.table_[(rr, kk)].state == OPTIMAL
                                                    for rr, kk in other.items())
            options = [(m, ex, kind) for m, ex, kind in ((same, exact_same, "same count"),
                                                         (other_count, exact_other, "another count"))
                       if m is not None]
            if not options:
                out.append(RegionMargin(r, self._name(r), k, None, "", False,
                                        "no other configuration of the region keeps the rules"))
                continue
            m, ex, kind = min(options, key=lambda o: o[0])
            note = "" if ex else "at least this much (the runner-up was bounded, not solved)"
            runner = other.get(r) if kind == "another count" and other else k
            out.append(RegionMargin(r, self._name(r), k, max(0.0, m), kind, ex, note, runner))
        return out

    def _runner_up(self, entry: RegionCount, time_limit: float, reach: float) -> tuple[float | None, bool]:
        """The margin of the region's best configuration at its count over the next best at the same count, and
        whether it is exact (else a proven lower bound: the runner-up scores at least ``reach`` more).

        Only configurations within ``reach`` of the best are searched: the candidates (past a soft
        ceiling, as large as such a configuration may hold) are reduced by their LP reduced costs to those that
        can be in one, and a MILP with a no-good cut on the best's footprints finds the runner-up among them."""
        if entry.state != OPTIMAL:
            return None, False
        p = self.region_problem(entry.region, entry.count)
        s = ExactSolver(p, max_candidates=self.max_candidates, explain=False)
        top = entry.objective + reach
        cap = SoftCeiling(p).cap_for(top) if soft_threshold(p) is not None else None
        try:
            C, costs = s.candidates(None if cap is None or not np.isfinite(cap) else cap)
        except TooManyCandidates:
            return None, False
        mb = s.relaxation(C, costs, time_limit=time_limit / 2)
        if not mb.feasible:
            return None, False
        keep = np.flatnonzero(mb.bound + mb.reduced_costs <= top - s.constant + 1e-9 * max(1.0, abs(top)))
        if len(keep) > s.proof_limit:
            return None, False
        a = entry.configuration.assignment
        region = self.model.blocks.region_ods.to_numpy()
        mine = {tuple(np.flatnonzero(a == f).tolist()) for f in set(a[region == entry.region].tolist())}
        Ck = C[keep]
        chosen = np.array([tuple(Ck[j].indices.tolist()) in mine for j in range(Ck.shape[0])], dtype=float)
        if chosen.sum() < len(mine):
            return None, False  # the best's footprints were not all among the candidates: no cut to place
        res = s.partition_milp(Ck, costs[keep], time_limit, extra=[(chosen, -np.inf, chosen.sum() - 1)])
        if res.status == 2 and (cap is None or not np.isfinite(cap)) and C.shape[0] <= s.proof_limit:
            # None within reach, and few enough candidates to search them all: is there any other?
            everyone = np.array([tuple(C[j].indices.tolist()) in mine for j in range(C.shape[0])], dtype=float)
            res = s.partition_milp(C, costs, time_limit, extra=[(everyone, -np.inf, everyone.sum() - 1)])
            if res.status == 2:
                return None, True  # no other configuration at this count
            keep = np.arange(C.shape[0])
        if res.status == 2:
            return reach, False  # none within reach: the runner-up scores at least that much more
        if res.x is None or res.status != 0:
            return None, False
        second = float(costs[keep] @ (res.x > 0.5)) + s.constant
        if len(keep) == C.shape[0] and (cap is None or not np.isfinite(cap)):
            return second - entry.objective, True  # every candidate searched
        return min(second, top) - entry.objective, second <= top


@dataclass
class RegionMargin:
    """How firmly the answer holds in one NHS region.

    Attributes
    ----------
    margin
        How much more the best configuration that differs in this region scores (None: none differs, or none
        could be priced).
    kind
        Whether that runner-up keeps the region's number of footprints (``same count``) or changes it (``another
        count``, the other regions' counts changing to keep England's total).
    exact
        Whether ``margin`` is the runner-up's (else a proven lower bound on it).
    runner_up_count
        The region's number of footprints in the runner-up.
    """

    region: str
    region_name: str
    count: int | None
    margin: float | None
    kind: str
    exact: bool
    note: str = ""
    runner_up_count: int | None = None


def today_assignment(model) -> np.ndarray:
    """Today's ICBs as an assignment (the map outside the freed regions)."""
    _, a = np.unique(model.blocks.icb_code.to_numpy(), return_inverse=True)
    return a


def today_outside(model, assignment: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``assignment`` inside the region ``inside`` (a block mask), today's ICBs elsewhere: the region's change
    from today priced on its own."""
    return np.unique(np.where(inside, assignment, assignment.max() + 1 + today_assignment(model)),
                     return_inverse=True)[1]

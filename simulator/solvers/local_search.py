"""Heuristic solver: simulated annealing over contiguity-keeping single-block moves, deterministic for a seed."""

from __future__ import annotations

import math
import time

import numpy as np

from simulator.configuration import Configuration
from simulator.constraints import acute_per_block, blocks_connected, group_labels, moved_blocks
from simulator.errors import ScenarioError
from simulator.incremental import MoveEvaluator
from simulator.solvers.base import BoundMethod, Problem, Solver, SolverStatus
from simulator.solvers.enumerate import soft_threshold
from simulator.solvers.exact import ExactSolver, _named
from simulator.solvers.term_bound import SoftCeiling
from simulator.solvers.tree_start import tree_start

DEFAULT_TEMPERATURE = (0.02, 0.0002)
"""Start and end temperatures in score units (terms run 0..1, so these suit every level)."""


class LocalSearchSolver(Solver):
    """Simulated annealing from a feasible start, one block (or one group that must stay whole) at a time.

    Deterministic for a given seed and number of iterations; ``time_limit`` stops it early (then the result
    depends on the machine's speed, and ``stats_['stopped_by']`` says so).

    Parameters
    ----------
    problem
        The problem.
    start
        Configuration to start from (default: the problem's start). It must meet the hard constraints.
    iterations
        Moves to try.
    temperature
        (start, end) temperatures of the geometric cooling schedule, in score units (default
        ``DEFAULT_TEMPERATURE``).
    bound
        Compute a lower bound with the exact solver's cut-strengthened LP relaxation (ICB and sub-ICB levels;
        none with contiguity off).
    """

    name = "local_search"

    def __init__(self, problem: Problem, seed: int = 0, time_limit: float | None = None, progress=None,
                 start: Configuration | None = None, iterations: int = 20_000,
                 temperature: tuple[float, float] | None = None, bound: bool = False):
        super().__init__(problem, seed, time_limit, progress)
        self.start = start or problem.start
        self.iterations = int(iterations)
        self.temperature = temperature
        self.want_bound = bound

    # ------------------------------------------------------------------ hard constraints per move
    def _setup(self) -> None:
        p = self.problem
        m, cons = p.model, p.constraints
        n = m.n_blocks
        # Units: blocks that must stay together move together.
        roots = group_labels(n, cons.groups).tolist()
        units: dict[int, list[int]] = {}
        for i, r in enumerate(roots):
            units.setdefault(r, []).append(i)
        self.units = [np.array(u) for u in units.values()]
        self.unit_of = np.empty(n, dtype=int)
        for k, u in enumerate(self.units):
            self.unit_of[u] = k
        self.locked = np.zeros(n, dtype=bool)
        for idx, _ in cons.locked:
            self.locked[idx] = True
        self.forbid = [[] for _ in range(n)]
        for a, b in cons.must_not_merge:
            self.forbid[a].append(b)
            self.forbid[b].append(a)
        self.region = m.blocks.region_ods.to_numpy()
        self.icb_code = m.blocks.icb_code.to_numpy()
        self.icb_size = m.blocks.icb_code.value_counts().to_dict()
        self.acute = acute_per_block(m)
        self.pop = p.population

    def _feasible_move(self, ev: MoveEvaluator, unit: np.ndarray, g: int) -> bool:
        cons = self.problem.constraints
        a = ev.assignment
        f = int(a[unit[0]])
        if self.locked[unit].any() or (self.locked & (a == g)).any():
            return False
        if cons.within_region and self.region[unit[0]] != self.region[np.flatnonzero(a == g)[0]]:
            return False
        for b in unit:
            for other in self.forbid[b]:
                if a[other] == g:
                    return False
        left = ev.size[f] - len(unit)
        if left == 0 and cons.n_footprints and (ev.size > 0).sum() - 1 < cons.n_footprints[0]:
            return False
        pop_u = self.pop[unit].sum()
        pop_f = ev.indicator[f] @ self.pop - pop_u
        pop_g = ev.indicator[g] @ self.pop + pop_u
        if cons.ceiling and cons.ceiling.hard:
            # Above the ceiling only today's ICBs may stand alone: check both footprints as they would be.
            if pop_g > cons.ceiling.value and not self._is_today_icb(np.r_[np.flatnonzero(a == g), unit]):
                return False
            if left > 0 and pop_f > cons.ceiling.value:
                rest_f = np.flatnonzero(a == f)
                if not self._is_today_icb(rest_f[~np.isin(rest_f, unit)]):
                    return False
        if cons.floor and cons.floor.hard and left > 0 and pop_f < cons.floor.value:
            return False
        if cons.min_acute_trusts and left > 0:
            if ev.indicator[f] @ self.acute - self.acute[unit].sum() < cons.min_acute_trusts:
                return False
        if len(unit) == 1:
            return ev.keeps_contiguity(int(unit[0]), g) if cons.contiguity else True
        if cons.contiguity:
            rest = np.flatnonzero((a == f))
            rest = rest[~np.isin(rest, unit)]
            joined = np.r_[np.flatnonzero(a == g), unit]
            nb = self.problem.model.neighbours
            return blocks_connected(rest, nb) and blocks_connected(joined, nb)
        return True

    def _is_today_icb(self, blocks: np.ndarray) -> bool:
        icb = self.icb_code[blocks]
        return len(blocks) > 0 and (icb == icb[0]).all() and len(blocks) == self.icb_size[icb[0]]

    # ------------------------------------------------------------------ search
    def _solve(self) -> None:
        p = self.problem
        m = p.model
        self._setup()
        t0 = time.perf_counter()
        broken = p.violations(self.start)
        if broken:
            repaired = repair_start(p, self.start)
            how = "merged"
            if repaired is None and p.constraints.contiguity:
                # Merging cannot fix it (a fixed count under a hard ceiling leaves each footprint a narrow window):
                # draw a start by random spanning-tree cuts instead.
                repaired, how = tree_start(p, seed=self.seed), "drawn by spanning-tree cuts"
            if repaired is None:
                raise ScenarioError("the local search needs a starting configuration that meets the hard "
                                    f"constraints; this one does not, and neither merging footprints nor random "
                                    f"spanning-tree cuts found one: {'; '.join(broken[:3])}")
            self.stats_["start_repaired"] = (f"{self.start.n_footprints} -> {repaired.n_footprints} footprints "
                                             f"({how})")
            self.start = repaired
        ev = MoveEvaluator(m, self.start, p.params)
        pen = self._penalties(ev)
        rng = np.random.default_rng(self.seed)
        current = ev.score + pen.sum()
        best, best_assign = current, ev.assignment.copy()
        T0, T1 = self.temperature or DEFAULT_TEMPERATURE
        self.stats_["temperature"] = [T0, T1]
        accepted = tried = 0
        stopped = "iterations"
        it = -1
        for it in range(self.iterations):
            if self.time_limit is not None and (it & 255) == 0 and time.perf_counter() - t0 > self.time_limit:
                stopped = "time limit"
                break
            if (it % 2000) == 0:
                self.progress(f"local search: iteration {it:,}, best {best:.5f}", it / self.iterations)
            T = T0 * (T1 / T0) ** (it / max(1, self.iterations - 1))
            b = int(rng.integers(m.n_blocks))
            unit = self.units[self.unit_of[b]]
            f = int(ev.assignment[b])
            nb = np.unique(np.concatenate([m.neighbours[i] for i in unit]))
            targets = sorted(set(ev.assignment[nb].tolist()) - {f})
            if not targets:
                continue
            g = targets[int(rng.integers(len(targets)))]
            if not self._feasible_move(ev, unit, g):
                continue
            tried += 1
            before = ev.score
            ev.apply_unit(unit, g)  # the unit is in one footprint (groups stay whole); re-priced once
            new_pen = self._pen_for(ev, [f, g])
            delta = (ev.score - before) + (new_pen - pen[[f, g]]).sum()
            if self.problem.constraints.max_moved is not None and \
                    moved_blocks(ev.assignment, p.start.assignment) > self.problem.constraints.max_moved:
                delta = math.inf
            if delta <= 0 or rng.random() < math.exp(-delta / T):
                accepted += 1
                pen[[f, g]] = new_pen
                current += delta
                if current < best - 1e-12:
                    best, best_assign = current, ev.assignment.copy()
            else:
                ev.apply_unit(unit, f)
        used = np.unique(best_assign)
        remap = np.full(ev.K, -1)
        remap[used] = np.arange(len(used))
        self.configuration_ = _named(p, remap[best_assign])
        self.objective_ = p.objective(self.configuration_.assignment)
        self.status_ = SolverStatus.FEASIBLE
        self.stats_.update({"iterations": it + 1, "moves_tried": tried, "moves_accepted": accepted,
                            "stopped_by": stopped, "start_objective": p.objective(self.start.assignment)})
        self.add_time("local_search", time.perf_counter() - t0)
        if self.want_bound and m.level in ("icb2026", "icb2024", "sicbl"):
            t = time.perf_counter()
            self.set_bound(lp_bound(p), BoundMethod.LP_RELAXATION)
            self.add_time("relaxation", time.perf_counter() - t)
            if self.bound_ is not None and self.bound_ >= self.objective_ - 1e-9:
                self.status_ = SolverStatus.OPTIMAL

    def _penalties(self, ev: MoveEvaluator) -> np.ndarray:
        return self.problem.constraints.penalty(ev.indicator @ self.pop) * (ev.size > 0)

    def _pen_for(self, ev: MoveEvaluator, fps: list[int]) -> np.ndarray:
        return self.problem.constraints.penalty(ev.indicator[fps] @ self.pop) * (ev.size[fps] > 0)


def repair_start(problem: Problem, config: Configuration, max_merges: int = 500) -> Configuration | None:
    """Make a start meet the hard constraints by merging whole footprints, or return None.

    Footprints sharing a group that must stay whole are merged; then each footprint below a hard floor or with
    too few acute trusts joins its smallest neighbouring footprint (same region and no must-not-merge pair,
    where those apply, never a footprint locked to today), and while there are more footprints than the scenario
    allows the smallest does the same, until nothing is left to fix.
    """
    m, cons = problem.model, problem.constraints
    a = config.assignment.copy()
    for idx, _ in cons.groups:
        fps = np.unique(a[idx])
        if len(fps) > 1:
            a[np.isin(a, fps)] = fps[0]
    pop = problem.population
    acute = acute_per_block(m)
    region = m.blocks.region_ods.to_numpy()
    ea, eb = m.edges.a.to_numpy(), m.edges.b.to_numpy()
    forbid = {(x, y) for x, y in cons.must_not_merge} | {(y, x) for x, y in cons.must_not_merge}
    locked = np.zeros(m.n_blocks, dtype=bool)
    for idx, _ in cons.locked:
        locked[idx] = True
    most = cons.n_footprints[1] if cons.n_footprints else None
    for _ in range(max_merges):
        fps = np.unique(a)
        P = {f: pop[a == f].sum() for f in fps}
        free = [f for f in fps if not locked[a == f].any()]
        need = [f for f in free if (cons.floor and cons.floor.hard and P[f] < cons.floor.value)
                or (cons.min_acute_trusts and acute[a == f].sum() < cons.min_acute_trusts)]
        if not need and most is not None and len(fps) > most:
            need = free  # too many footprints: the smallest joins a neighbour
        if not need:
            break
        f = min(need, key=lambda x: P[x])
        inside = a[ea] == f
        nbrs = set(a[eb[inside]].tolist()) | set(a[ea[a[eb] == f]].tolist())
        nbrs.discard(f)
        members = np.flatnonzero(a == f)
        ok = []
        for g in nbrs:
            other = np.flatnonzero(a == g)
            if locked[other].any():
                continue
            if cons.within_region and region[members[0]] != region[other[0]]:
                continue
            if any((x, y) in forbid for x in members for y in other):
                continue
            ok.append(g)
        if not ok:
            return None
        g = min(ok, key=lambda x: P[x])
        a[a == f] = g
    _, dense = np.unique(a, return_inverse=True)
    repaired = _named(problem, dense)
    return None if problem.violations(repaired) else repaired


def lp_bound(problem: Problem, time_limit: float | None = None) -> float | None:
    """Lower bound on the objective from the exact solver's cut-strengthened LP relaxation.

    Parameters
    ----------
    problem
        The problem (ICB or sub-ICB level: the relaxation enumerates every feasible connected footprint).
    time_limit
        Seconds for the relaxation; a relaxation cut short still gives a valid, weaker bound.

    Returns
    -------
    float or None
        The bound, or None if there is none: contiguity is off (the candidates are connected footprints, so
        their relaxation would not bound a search that may leave them), or even the relaxation is infeasible.
        With a soft ceiling the candidates stop at the band's ceiling, and the bound is lowered to what a
        configuration with a footprint above it could score (``SoftCeiling.bound_beyond``).
    """
    if not problem.constraints.contiguity:
        return None
    s = ExactSolver(problem)
    C, costs = s.candidates()
    mb = s.relaxation(C, costs, time_limit=time_limit)
    bound = float(mb.bound) + s.constant if mb.feasible else None
    if soft_threshold(problem) is not None:
        beyond = SoftCeiling(problem).bound_beyond(s.stats_["population_cap"])
        bound = beyond if bound is None else min(bound, beyond)
    return bound

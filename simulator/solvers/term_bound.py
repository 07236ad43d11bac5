"""A lower bound on any configuration's score from each term's least possible total: instant, no enumeration.

Where exact pricing cannot be afforded (the East of England, the Midlands, the South East and England at place
level have billions of candidate footprints), the answer still needs a proven gap, however wide. Each term of
the score is bounded on its own, over every configuration that the hard rules allow:

* locked blocks form their fixed footprints, whose cost is known exactly;
* spreads, money at stake, the band, regions crossed and soft-limit penalties are never below zero;
* admissions at trusts hosted outside the free blocks (or in another NHS region, when footprints must stay
  inside one) leak whatever the footprints are; a trust's admissions stay inside only from its host block's
  footprint, which holds no more people than the ceiling: at most what the residents of the blocks that can join
  the host, packed by admissions per person under the ceiling, send to the trusts there (a knapsack per host);
* a major trust that one free block's residents alone use enough to count is counted by that block's footprint;
* a pathology network, mayoral authority or upper-tier council pays its reward to one footprint at most, and
  only if the free blocks hold more than half of it; so the rewards are at most what the free blocks hold of
  those;
* there are at least as many footprints as the free blocks have connected pieces, and as many as the hard
  ceiling needs (today's ICBs above it may stand alone).

The bound is far from tight (the terms pull against one another, and this ignores it), but it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.constraints import today_icb_sets
from simulator.metrics.score import PEOPLE_UNIT, TERM_NAMES, scorer
from simulator.solvers.base import Problem
from simulator.solvers.enumerate import CandidateGraph, candidate_graph, soft_threshold
from simulator.solvers.presolve import fewest_footprints
from simulator.solvers.scan import free_neighbours, people_between


FIXED_PART = "fixed footprints"
"""The part of a :class:`TermBound` that no configuration changes: the score's constant and the locked footprints."""


@dataclass
class TermBound:
    """Result of :func:`term_bound`.

    Attributes
    ----------
    bound
        Lower bound on the objective (score plus penalties) of every configuration meeting the hard rules.
    parts
        What makes it up: ``fixed footprints`` (the constant and the locked blocks' footprints) and each weighted
        term's least total over the free blocks' footprints (terms bounded by zero are left out).
    """

    bound: float
    parts: dict[str, float] = field(default_factory=dict)


def term_bound(problem: Problem, cap: float | None = None) -> TermBound:
    """Bound ``problem``'s objective below, term by term (see the module's docstring).

    Parameters
    ----------
    problem
        The problem: its weights, locked blocks, hard ceiling, contiguity and region rules are used.
    cap
        The most people a footprint holds, if less than the hard ceiling (or than anything, with a soft one):
        the bound then holds over the configurations whose footprints keep to it (today's ICBs above it may
        still stand alone). With a soft ceiling, ``simulator.solvers.exact.SoftCeiling`` gives a cap that every
        configuration as good as an answer keeps to.

    Returns
    -------
    TermBound
    """
    m, cons = problem.model, problem.constraints
    sc = scorer(m, problem.params)
    w = dict(zip(TERM_NAMES, sc.weights))
    n = m.n_blocks
    free = problem.free_blocks
    fixed = sc.constant
    if cons.locked:
        groups = [np.asarray(g, dtype=np.int64) for g, _ in cons.locked]
        L = np.zeros((len(groups), n))
        for i, g in enumerate(groups):
            L[i, g] = 1.0
        fixed += float(sc.costs(L).sum() + cons.penalty(L @ problem.population).sum())
    parts = {FIXED_PART: fixed}
    if not free.any():
        return TermBound(fixed, parts)
    pop = problem.population
    largest = _largest_footprint(problem, cap)
    share = _can_share(problem, free, largest)
    if w["flow_leakage"] and sc.flow_total:
        parts["flow_leakage"] = w["flow_leakage"] * _sure_leakage(sc, free, share, pop, largest) / sc.flow_total
    if w["major_trust_sharing"] and len(sc.major):
        counted = 0
        for j, major in enumerate(sc.major):
            alone = np.flatnonzero(free & (sc.flows[:, major] >= sc.major_threshold[j]))
            counted += _apart(alone, share)
        parts["major_trust_sharing"] = w["major_trust_sharing"] * counted / len(sc.major)
    if w["pathology_split"] and sc.n_networks:
        reward = 0.0
        for k in np.flatnonzero(sc.net_used):
            held = _most_together(np.flatnonzero(free & (sc.net_blocks[:, k] > 0)), sc.net_blocks[:, k], pop,
                                  share, largest)
            if held > sc.net_size[k] / 2:
                reward += held / sc.net_size[k]
        parts["pathology_split"] = -w["pathology_split"] * reward / sc.n_networks
    if w["mayoral_split"] and sc.auth_residents:
        reward = _majority_residents(np.asarray(sc.auth), sc.auth_total, free, pop, largest)
        parts["mayoral_split"] = -w["mayoral_split"] * reward / sc.auth_residents
    if w["upper_tier_split"] and sc.council_residents:
        reward = _majority_residents(sc.council, sc.council_total, free, pop, largest)
        parts["upper_tier_split"] = -w["upper_tier_split"] * reward / PEOPLE_UNIT
    if w["icbs_split"]:
        # Every one of today's ICBs with a free block is in at least one footprint (the offset takes one each).
        parts["icbs_split"] = w["icbs_split"] * len(set(sc._block_icb[free].tolist()))
    if w["statutory_bodies"]:
        parts["statutory_bodies"] = w["statutory_bodies"] * fewest_footprints(problem, largest[0])
    return TermBound(float(fixed + sum(v for k, v in parts.items() if k != FIXED_PART)), parts)


class SoftCeiling:
    """How far past a soft ceiling a footprint can be and still be in a configuration as good as a given one.

    Above the ``threshold`` (:func:`soft_threshold`) a footprint costs at least ``rate`` per person: the band
    term's weight per 100,000 people plus the ceiling's penalty per person. That cost is a convex function of the
    footprint's people that is 0 at 0, so it is superadditive: a footprint costs at least what its parts would cost
    apart. Every configuration keeps each group the rules keep together (a node of :class:`CandidateGraph`) in one
    footprint, and every other part of the objective is at least the term-wise bound
    (``simulator.solvers.term_bound``). So a configuration holding a footprint ``F`` scores at least

        ``base + rate * (effective(F) - threshold)``,

    where ``base`` is the term-wise bound plus what each node costs above the threshold on its own, and
    ``effective(F)`` sums ``F``'s nodes' people, each counted at most up to the threshold. No footprint of more
    effective people than :meth:`cap_for` gives can be in a configuration scoring no more than the objective.
    """

    def __init__(self, problem: Problem, graph: CandidateGraph | None = None):
        self.problem = problem
        graph = graph or candidate_graph(problem)
        self.threshold = soft_threshold(problem)
        if self.threshold is None:
            raise ValueError("SoftCeiling needs a problem whose ceiling is soft")
        c = problem.constraints.ceiling
        sc = scorer(problem.model, problem.params)
        self.rate = float(sc.band_per_person + c.penalty_per_person)
        free = np.isfinite(graph.people)
        self.excess_people = float(np.maximum(graph.people[free] - self.threshold, 0.0).sum())
        self.everything = float(graph.weight[free].sum())
        self.base = float(term_bound(problem).bound + self.rate * self.excess_people)

    def cap_for(self, objective: float) -> float:
        """The most effective people a footprint in a configuration scoring no more than ``objective`` can hold
        (``inf`` if the ceiling costs nothing to pass). The term-wise bound is taken again over the footprints
        this first allows (fewer blocks can then share one), which can only lower the cap."""
        if self.rate <= 0:
            return np.inf
        cap = self._cap(objective, self.base)
        # Every configuration as good as ``objective`` has footprints of at most ``cap`` effective people, hence
        # at most ``real_cap(cap)`` people: the term-wise bound over such footprints holds for all of them.
        base = float(term_bound(self.problem, cap=self.real_cap(cap)).bound + self.rate * self.excess_people)
        return min(cap, self._cap(objective, base))

    def _cap(self, objective: float, base: float) -> float:
        slack = max(0.0, objective - base)
        return (self.threshold + slack / self.rate) * (1 + 1e-9) + 1.0  # a person's room for rounding

    def real_cap(self, cap: float) -> float:
        """The most people a footprint of at most ``cap`` effective people can hold."""
        return cap + self.excess_people

    def bound_beyond(self, cap: float) -> float:
        """A bound below every configuration holding a footprint of more than ``cap`` effective people."""
        return self.base + self.rate * max(0.0, cap - self.threshold)


def _largest_footprint(problem: Problem, cap: float | None = None) -> tuple[float, np.ndarray]:
    """The most people a footprint may hold (the hard ceiling, or ``cap`` if lower; ``inf`` without either), and
    each block's today's ICB's people where that ICB is above it (it may stand alone) or 0."""
    m, cons = problem.model, problem.constraints
    pop = problem.population
    ceiling = cons.ceiling.value if (cons.ceiling and cons.ceiling.hard) else np.inf
    if cap is not None:
        ceiling = min(ceiling, float(cap))
    big = np.zeros(m.n_blocks)
    for g in today_icb_sets(m):
        if pop[g].sum() > ceiling:
            big[g] = pop[g].sum()
    return ceiling, big


def _can_share(problem: Problem, free: np.ndarray, largest: tuple[float, np.ndarray]) -> np.ndarray:
    """``[a, b]``: whether free blocks ``a`` and ``b`` can be in one footprint: joined through free blocks (in one
    region, where footprints must stay inside one) with no more people than the hard ceiling, or both in one of
    today's ICBs above it (which may stand alone)."""
    m, cons = problem.model, problem.constraints
    n = m.n_blocks
    pop = problem.population
    ceiling, big = largest
    region = m.blocks.region_ods.to_numpy()
    same_region = region[:, None] == region[None, :] if cons.within_region else np.ones((n, n), dtype=bool)
    if cons.contiguity:
        between = people_between(*free_neighbours(problem, free), np.where(free, pop, np.inf))
    else:
        between = np.broadcast_to(pop[None, :], (n, n)) + 0.0
        np.fill_diagonal(between, 0.0)
    icb = np.full(n, -1)
    for k, g in enumerate(today_icb_sets(m)):
        icb[g] = k
    standing_alone = (big[:, None] > 0) & (icb[:, None] == icb[None, :])
    share = ((pop[:, None] + between <= ceiling + 1e-6) & same_region) | standing_alone
    return share & free[:, None] & free[None, :]


def _apart(blocks: np.ndarray, share: np.ndarray) -> int:
    """How many footprints at least hold ``blocks``: a set of them no two of which can share one (greedy), or 1."""
    if len(blocks) == 0:
        return 0
    chosen: list[int] = []
    # Blocks that can share with the fewest others first: they are the likeliest to be apart from the rest.
    for b in blocks[np.argsort(share[np.ix_(blocks, blocks)].sum(axis=1), kind="stable")]:
        if not any(share[b, c] for c in chosen):
            chosen.append(int(b))
    return len(chosen)


def _most_together(blocks: np.ndarray, count: np.ndarray, pop: np.ndarray, share: np.ndarray,
                   largest: tuple[float, np.ndarray], limit: int = 16) -> float:
    """Most of ``count`` that one footprint can hold from ``blocks``: the best set of them that can pairwise
    share a footprint and fit under the ceiling (or lie in one of today's ICBs above it). Every subset is tried
    when there are at most ``limit`` blocks; beyond that, all of them."""
    if len(blocks) > limit:
        return float(count[blocks].sum())
    ceiling, big = largest
    best = 0.0
    k = len(blocks)
    for mask in range(1, 1 << k):
        pick = blocks[[i for i in range(k) if mask >> i & 1]]
        held = float(count[pick].sum())
        if held <= best:
            continue
        if not share[np.ix_(pick, pick)].all():
            continue
        if pop[pick].sum() > ceiling + 1e-6 and not (big[pick[0]] > 0 and (big[pick] == big[pick[0]]).all()):
            continue
        best = held
    return best


def _majority_residents(A: np.ndarray, total: np.ndarray, free: np.ndarray, pop: np.ndarray,
                        largest: tuple[float, np.ndarray]) -> float:
    """Most residents (``A``: block x authority or council) that footprints of free blocks can hold in
    authorities or councils of which they hold a majority (``total``: each one's residents): per column, the most
    one footprint can hold, if that is a majority."""
    reward = 0.0
    for k in np.flatnonzero(A[free].sum(axis=0) > 0):
        held = _most_residents(np.flatnonzero(free & (A[:, k] > 0)), A[:, k], pop, largest)
        if held > total[k] / 2:
            reward += held
    return reward


def _most_residents(blocks: np.ndarray, residents: np.ndarray, pop: np.ndarray,
                    largest: tuple[float, np.ndarray]) -> float:
    """Most of an authority's residents (``residents`` per block) one footprint can hold: blocks packed by
    residents per person under the largest footprint allowed (the fractional knapsack, an upper bound)."""
    ceiling, big = largest
    room = max([ceiling] + [float(big[b]) for b in blocks])
    return _most_within(residents[blocks], pop[blocks], room)


def _sure_leakage(sc, free: np.ndarray, share: np.ndarray, pop: np.ndarray,
                  largest: tuple[float, np.ndarray]) -> float:
    """Free blocks' residents' admissions that no configuration of free blocks can keep inside.

    Admissions at a trust stay inside only in the footprint of the block hosting it. That footprint holds its host
    and blocks that can share a footprint with it, under the ceiling (or as one of today's ICBs above it), so the
    admissions it keeps at the host's trusts are at most a fractional knapsack of those blocks' admissions there,
    packed by admissions per person. Admissions at trusts hosted outside the free blocks all leak.
    """
    ceiling, big = largest
    flows = np.where(free[:, None], sc.flows, 0.0)
    kept = 0.0
    for h in np.unique(sc.placed_host):
        if not free[h]:
            continue
        there = flows[:, sc.placed_trusts[sc.placed_host == h]].sum(axis=1)
        room = max(ceiling, float(big[h])) - pop[h]
        join = np.flatnonzero(share[h] & (there > 0))
        join = join[join != h]
        kept += float(there[h]) + _most_within(there[join], pop[join], room)
    return float(flows.sum() - kept)


def _most_within(value: np.ndarray, people: np.ndarray, room: float) -> float:
    """Most ``value`` a set of items of these ``people`` holds within ``room`` people, an item splittable (the
    fractional knapsack: an upper bound on the whole-item one)."""
    if not np.isfinite(room):
        return float(value.sum())
    held = 0.0
    for i in np.argsort(-value / np.maximum(people, 1e-9), kind="stable"):
        if people[i] <= room:
            held += value[i]
            room -= people[i]
        else:
            held += value[i] * max(room, 0.0) / people[i]
            break
    return held

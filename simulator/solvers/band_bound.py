"""A lower bound that prices the band: what it forces on today's ICBs (cuts, people moved, people outside it).

The term-wise bound (``simulator.solvers.term_bound``) takes each term's least total on its own, and each of the
band, people moved and ICBs split can be nothing on its own: today's map moves nobody and cuts no ICB; cutting
every ICB into footprints in band costs nothing in the band term. The three pull against each other, and this
module bounds them *together*, over today's ICBs rather than blocks.

In every footprint, call its largest part of one of today's ICBs its *main* part and the rest its *guests*. Then,
exactly, the footprint's people moved are its guests' people, and it holds one ICB per part. So a configuration
gives each ICB ``c`` with free blocks:

* ``m_c`` footprints in which it is the main part, holding ``P_c`` of its people, and ``h_c`` guest pieces
  holding the rest, ``G_c``; every ICB is held somewhere (``m_c + h_c >= 1``);
* ``R_c`` guests' people in its ``m_c`` footprints; guests given equal guests received (in each NHS region, where
  footprints must stay inside one);
* ICBs split cost ``sum (m_c + h_c)`` (the score's offset takes one each), people moved ``sum G_c``, statutory
  bodies ``sum m_c``;
* the band is convex in a footprint's people, so ``c``'s footprints together fall short of the floor by at least
  ``m_c * floor - (P_c + R_c)`` and pass the ceiling by at least ``P_c + R_c - m_c * ceiling``;
* under a hard ceiling (or the cap a soft ceiling's answer proves), each footprint holds at most the ceiling
  unless it is one of today's ICBs above it standing alone; a guest piece is no bigger than its footprint's main
  part, so at most half the ceiling; under a hard floor each footprint holds at least the floor;
* the number of footprints keeps to the scenario's count, and is at least the free blocks' connected pieces.

The least total over these (a small MILP: a handful of variables per ICB, solved by HiGHS in well under a second
for England's 36) bounds band + people moved + ICBs split + statutory bodies below over every configuration the
rules allow; the other terms keep their term-wise bounds. Geography beyond the count of pieces is ignored, so the
bound is still below the best answer (the spreads, flows and rewards that merging partners cost are not in it).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from simulator.metrics.score import PEOPLE_UNIT, TERM_NAMES, scorer
from simulator.solvers.base import Problem
from simulator.solvers.presolve import fewest_footprints
from simulator.solvers.term_bound import TermBound, _largest_footprint, term_bound

JOINT_TERMS = ("population_band", "people_moved", "icbs_split", "statutory_bodies")
"""The terms bounded together here; the bound's ``parts`` name them jointly (:data:`JOINT_PART`)."""
JOINT_PART = "band, people moved, ICBs split and bodies"
_TIME_LIMIT = 10.0  # seconds; the MILP's proven dual bound is used if it stops there (England's takes 0.3 s)


def band_bound(problem: Problem, cap: float | None = None, terms: TermBound | None = None) -> TermBound:
    """Bound ``problem``'s objective below, with the band, people moved, ICBs split and statutory bodies bounded
    together over today's ICBs (see the module's docstring) and every other term as :func:`term_bound` does.

    Parameters
    ----------
    problem
        The problem: its weights, locked blocks, ceiling, floor, count, contiguity and region rules are used.
    cap
        As for :func:`term_bound`: the most people a footprint of a configuration as good as an answer holds,
        where the ceiling is soft.
    terms
        :func:`term_bound`'s result for the same problem and cap, if the caller has it.

    Returns
    -------
    TermBound
        Never below the term-wise bound: where the joint part is not higher than the term-wise parts it replaces,
        the term-wise bound is returned as it is.
    """
    terms = terms or term_bound(problem, cap=cap)
    joint = _joint_least(problem, cap)
    if joint is None:
        return terms
    replaced = sum(v for k, v in terms.parts.items() if k in JOINT_TERMS)
    if joint <= replaced:
        return terms
    parts = {k: v for k, v in terms.parts.items() if k not in JOINT_TERMS}
    parts[JOINT_PART] = joint
    return TermBound(float(terms.bound - replaced + joint), parts)


def _joint_least(problem: Problem, cap: float | None) -> float | None:
    """The least weighted band + people moved + ICBs split + statutory bodies over the free blocks' footprints,
    or None when none of them carries weight or there is no free block."""
    m, cons = problem.model, problem.constraints
    sc = scorer(m, problem.params)
    w = dict(zip(TERM_NAMES, sc.weights))
    if not any(w[t] for t in JOINT_TERMS):
        return None
    free = problem.free_blocks
    if not free.any():
        return None
    icb = sc._block_icb
    unit = float(PEOPLE_UNIT)  # people in hundreds of thousands: the MILP's numbers stay near 1
    people = np.bincount(icb[free], weights=problem.population[free], minlength=sc.n_icb) / unit
    whole = np.bincount(icb, weights=problem.population, minlength=sc.n_icb) / unit
    held = np.flatnonzero(people > 0)
    k = len(held)
    floor_, top = sc.band[0] / unit, sc.band[1] / unit
    # The most people a footprint holds (today's ICBs above it standing alone aside): the hard ceiling (the band's
    # by default), or ``cap`` if lower; ``inf`` under a soft ceiling without a cap.
    largest = _largest_footprint(problem, cap)
    ceiling = largest[0] / unit
    hard_floor = cons.floor.value / unit if (cons.floor and cons.floor.hard) else 0.0
    everyone = float(people.sum())
    # Variables, k of each: m, h (integers), a (1: stands alone whole, above the ceiling), P, G, R, short, excess.
    names = ("m", "h", "a", "P", "G", "R", "short", "excess")
    at = {v: i * k for i, v in enumerate(names)}
    nv = len(names) * k
    cost = np.zeros(nv)
    cost[at["m"]:at["m"] + k] = w["icbs_split"] + w["statutory_bodies"]
    cost[at["h"]:at["h"] + k] = w["icbs_split"]
    cost[at["G"]:at["G"] + k] = sc.moved_per_person * unit
    cost[at["short"]:at["short"] + k] = sc.band_per_person * unit
    cost[at["excess"]:at["excess"] + k] = sc.band_per_person * unit
    rows, cols, vals, lo, hi = [], [], [], [], []

    def row(entries: list[tuple[str, int, float]], low: float, high: float) -> None:
        r = len(lo)
        for v, i, x in entries:
            rows.append(r)
            cols.append(at[v] + i)
            vals.append(x)
        lo.append(low)
        hi.append(high)

    upper = np.full(nv, np.inf)
    upper[at["a"]:at["a"] + k] = 0.0
    guest_piece = min(ceiling / 2.0, everyone)  # a guest is no bigger than its footprint's main part
    for i, c in enumerate(held):
        pc = float(people[c])
        stands_alone = np.isfinite(ceiling) and whole[c] > ceiling and pc >= whole[c] - 1e-9
        if stands_alone:
            upper[at["a"] + i] = 1.0
        row([("P", i, 1.0), ("G", i, 1.0)], pc, pc)
        row([("m", i, 1.0), ("h", i, 1.0)], 1.0, np.inf)
        row([("P", i, 1.0), ("m", i, -pc)], -np.inf, 0.0)
        row([("G", i, 1.0), ("h", i, -min(pc, guest_piece))], -np.inf, 0.0)
        row([("R", i, 1.0), ("m", i, -everyone)], -np.inf, 0.0)
        row([("short", i, 1.0), ("m", i, -floor_), ("P", i, 1.0), ("R", i, 1.0)], 0.0, np.inf)
        row([("excess", i, 1.0), ("m", i, top), ("P", i, -1.0), ("R", i, -1.0)], 0.0, np.inf)
        if np.isfinite(ceiling):
            above = max(0.0, pc - ceiling) if stands_alone else 0.0
            row([("P", i, 1.0), ("R", i, 1.0), ("m", i, -ceiling), ("a", i, -above)], -np.inf, 0.0)
        if hard_floor > 0:
            row([("P", i, 1.0), ("R", i, 1.0), ("m", i, -hard_floor)], 0.0, np.inf)
    for group in _balance_groups(problem, icb, held):
        row([("R", i, 1.0) for i in group] + [("G", i, -1.0) for i in group], 0.0, 0.0)
    fewest = fewest_footprints(problem, largest[0])
    least, most = float(fewest), np.inf
    if cons.n_footprints:
        least = max(least, cons.n_footprints[0] - len(cons.locked))
        most = cons.n_footprints[1] - len(cons.locked)
    row([("m", i, 1.0) for i in range(k)], least, most)
    A = sp.csr_matrix((vals, (rows, cols)), shape=(len(lo), nv))
    integrality = np.zeros(nv)
    integrality[:3 * k] = 1
    res = milp(cost, constraints=LinearConstraint(A, lo, hi), integrality=integrality, bounds=Bounds(0.0, upper),
               options={"time_limit": _TIME_LIMIT})
    if res.status == 2:  # infeasible: no configuration keeps the rules (the presolve says why); nothing to bound
        return None
    bound = getattr(res, "mip_dual_bound", None)
    if bound is None or not np.isfinite(bound):
        return None
    return float(bound)


def _balance_groups(problem: Problem, icb: np.ndarray, held: np.ndarray) -> list[list[int]]:
    """Positions (in ``held``) of the ICBs among which guests given equal guests received: every ICB, or each NHS
    region's where footprints must stay inside one (and every ICB lies in one region). ``icb``: each block's."""
    if not problem.constraints.within_region:
        return [list(range(len(held)))]
    region = problem.model.blocks.region_ods.to_numpy()
    of: dict[int, set] = {}
    for b in np.flatnonzero(problem.free_blocks):
        of.setdefault(int(icb[b]), set()).add(region[b])
    if any(len(r) > 1 for r in of.values()):
        return [list(range(len(held)))]
    groups: dict = {}
    for i, c in enumerate(held):
        groups.setdefault(next(iter(of[int(c)])), []).append(i)
    return list(groups.values())

"""Explain an infeasible scenario: which constraint binds, in plain words, never a solver trace."""

from __future__ import annotations

import copy

import numpy as np

from simulator.constraints import acute_per_block, blocks_connected, group_labels, today_icb_sets
from simulator.errors import TooManyCandidates
from simulator.solvers.enumerate import candidate_graph, population_cap
from simulator.solvers.presolve import presolve
from simulator.solvers.scan import count_connected


def _fmt(x: float) -> str:
    return f"{x / 1e6:.2f}m"


def explain_infeasible(problem, uncovered: np.ndarray | None = None, *, exact_solver: type) -> list[str]:
    """Reasons a scenario has no feasible configuration (most specific first).

    Parameters
    ----------
    problem
        The infeasible ``simulator.solvers.base.Problem``.
    uncovered
        Blocks that no candidate footprint can contain, if known.
    exact_solver
        The exact solver's class (``simulator.solvers.exact.ExactSolver``, which calls this): the deletion filter
        re-solves relaxed copies of the problem with it. Passed in so that this module does not import the
        solver that imports it.
    """
    found = presolve(problem)
    if found:  # what the presolve sees, it says plainly; the checks below are for the rest
        return found
    m, cons = problem.model, problem.constraints
    pop = problem.population
    names = m.blocks.name.to_numpy()
    out: list[str] = []
    # Blocks forced together by "keep whole", must-merge, authorities and networks.
    labels = group_labels(m.n_blocks, cons.groups)

    def find(i: int) -> int:
        return int(labels[i])

    why_of: dict[int, list[str]] = {}
    for idx, why in cons.groups:
        why_of.setdefault(find(int(idx[0])), []).append(why)
    comps: dict[int, list[int]] = {}
    for i in range(m.n_blocks):
        comps.setdefault(find(i), []).append(i)
    standalone = {frozenset(s.tolist()) for s in today_icb_sets(m)}
    cap = cons.ceiling.value if (cons.ceiling and cons.ceiling.hard) else None
    region = m.blocks.region_name.to_numpy()
    for root, blocks in comps.items():
        if len(blocks) == 1:
            continue
        reasons = "; ".join(why_of.get(root, [])[:3])
        total = pop[blocks].sum()
        if cap is not None and total > cap and frozenset(blocks) not in standalone:
            out.append(f"{reasons} must stay together ({len(blocks)} blocks, {_fmt(total)} people), above the "
                       f"population ceiling of {_fmt(cap)}")
        if not blocks_connected(blocks, m.neighbours):
            out.append(f"{reasons} must stay together but are not next to each other, and footprints must be "
                       "contiguous")
        if cons.within_region and len(set(region[blocks])) > 1:
            out.append(f"{reasons} must stay together but spans NHS regions "
                       f"{', '.join(sorted(set(region[blocks])))} while footprints must stay within a region")
        for a, b in cons.must_not_merge:
            if find(a) == root and find(b) == root:
                out.append(f"{names[a]} and {names[b]} must not merge, but {reasons} keeps them together")
    for idx, why in cons.locked:
        for j, (g, gwhy) in enumerate(cons.groups):
            inside = np.isin(g, idx)
            if inside.any() and not inside.all():
                out.append(f"{why} is locked to today, but {gwhy} reaches outside it")
    if cons.min_acute_trusts:
        acute = acute_per_block(m)
        if acute.sum() < cons.min_acute_trusts:
            out.append(f"England has fewer acute trusts than {cons.min_acute_trusts} per footprint allows")
    if uncovered is not None and len(uncovered):
        shown = ", ".join(names[i] for i in uncovered[:5])
        more = f" and {len(uncovered) - 5} more" if len(uncovered) > 5 else ""
        out.append(f"no footprint that meets every constraint can contain {shown}{more}")
    if cons.n_footprints:
        lo, hi = cons.n_footprints
        total = pop.sum()
        if cap is not None and total / hi > cap * 1.0001:
            out.append(f"{hi} footprints of at most {_fmt(cap)} cannot hold England's {_fmt(total)} people")
        if cons.floor and cons.floor.hard and total / lo < cons.floor.value:
            out.append(f"{lo} footprints of at least {_fmt(cons.floor.value)} need more than England's {_fmt(total)}")
    if not out:
        out.append(_deletion_filter(problem, exact_solver))
    return out


def _some(items: list[tuple[np.ndarray, str]], k: int = 3) -> str:
    """The reasons of the first ``k`` (blocks, reason) items, so a family is named with its members."""
    more = f" and {len(items) - k} more" if len(items) > k else ""
    return "; ".join(why for _, why in items[:k]) + more


_CONFIRM_LIMIT = 20_000
"""The most candidates over which the deletion filter confirms a relaxed scenario by a MILP on all of them."""


def _deletion_filter(problem, exact_solver: type, time_limit: float = 10.0) -> str:
    """Relax one family of constraints at a time and report those whose removal makes the scenario feasible.

    A relaxed scenario counts as feasible when a configuration meeting its constraints is found: the plain LP
    relaxation rules most out cheaply, then a MILP with no objective (the first feasible point ends it) must
    find one within ``time_limit`` seconds (each relaxed problem solved by ``exact_solver``). A family whose test
    cannot finish in time is left out.
    """
    cons = problem.constraints
    families = {
        "the population floor": lambda c: setattr(c, "floor", None),
        "the population ceiling": lambda c: setattr(c, "ceiling", None),
        "staying within NHS regions": lambda c: setattr(c, "within_region", False),
        "the number of footprints": lambda c: setattr(c, "n_footprints", None),
        "the limit on blocks moved": lambda c: setattr(c, "max_moved", None),
        f"keeping groups whole ({_some(cons.groups)})": lambda c: setattr(c, "groups", []),
        "must-not-merge pairs": lambda c: setattr(c, "must_not_merge", []),
        f"locked ICBs ({_some(cons.locked)})": lambda c: setattr(c, "locked", []),
        "the minimum of acute trusts": lambda c: setattr(c, "min_acute_trusts", 0),
    }
    binding = []
    for label, relax in families.items():
        trial = copy.copy(cons)
        relax(trial)
        if trial.__dict__ == cons.__dict__:
            continue
        p2 = copy.copy(problem)
        p2.constraints = trial
        s = exact_solver(p2, max_candidates=500_000)
        graph = candidate_graph(p2)
        if count_connected(graph.contraction.neighbours, graph.weight, population_cap(p2), 500_000) > 500_000:
            continue  # counted by the compiled walk in milliseconds: enumerating would take minutes to give up
        try:
            C, costs = s.candidates()
        except TooManyCandidates:  # relaxing this family (e.g. the ceiling) lets enumeration explode: untested
            continue
        if (np.asarray(C.sum(axis=0)).ravel() == 0).any():
            continue  # some block is in no candidate footprint: still infeasible
        lp = s.relaxation(C, costs, time_limit=time_limit, max_rounds=0)
        if not lp.feasible:
            continue
        # The LP relaxation (which also ignores max_moved) can be feasible when no partition is: confirm, first
        # over the LP's support (a partition found there is one), then over every candidate where they are few
        # enough (HiGHS may overrun its time limit by minutes on 100,000 or more).
        res = s.partition_milp(C[lp.support], np.zeros(len(lp.support)), time_limit)
        if res.x is None and C.shape[0] <= _CONFIRM_LIMIT:
            res = s.partition_milp(C, np.zeros(C.shape[0]), time_limit)
        if res.x is not None:
            binding.append(label)
    if binding:
        return "the constraints conflict; relaxing any one of these makes the scenario feasible: " + \
            ", ".join(binding)
    return "the constraints conflict in combination (no single family of constraints is to blame)"

"""Explain an infeasible scenario: which constraint binds, in plain words, never a solver trace."""

from __future__ import annotations

import numpy as np

from simulator.constraints import acute_per_block, blocks_connected, group_labels, today_icb_sets


def _fmt(x: float) -> str:
    return f"{x / 1e6:.2f}m"


def explain_infeasible(problem, uncovered: np.ndarray | None = None) -> list[str]:
    """Reasons a scenario has no feasible configuration (most specific first)."""
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
        out.append(_deletion_filter(problem))
    return out


def _deletion_filter(problem) -> str:
    """Relax one family of constraints at a time and report those whose removal makes the scenario feasible."""
    import copy

    from simulator.solvers.exact import ExactSolver

    cons = problem.constraints
    families = {
        "the population floor": lambda c: setattr(c, "floor", None),
        "the population ceiling": lambda c: setattr(c, "ceiling", None),
        "staying within NHS regions": lambda c: setattr(c, "within_region", False),
        "the number of footprints": lambda c: setattr(c, "n_footprints", None),
        "the limit on blocks moved": lambda c: setattr(c, "max_moved", None),
        "keeping groups whole": lambda c: setattr(c, "groups", []),
        "must-not-merge pairs": lambda c: setattr(c, "must_not_merge", []),
        "locked ICBs": lambda c: setattr(c, "locked", []),
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
        try:
            s = ExactSolver(p2, time_limit=30, max_candidates=500_000)
            C, costs = s.candidates()
            if (np.asarray(C.sum(axis=0)).ravel() == 0).any():
                continue
            res, _ = s._lp(C, costs)
            if res.status == 0:
                binding.append(label)
        except Exception:  # a family we cannot test quickly is left out of the verdict
            continue
    if binding:
        return "the constraints conflict; relaxing any one of these makes the scenario feasible: " + \
            ", ".join(binding)
    return "the constraints conflict in combination (no single family of constraints is to blame)"

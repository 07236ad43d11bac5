"""Presolve: what cannot hold at a scenario's level, found from its rules and the map before any search."""

from __future__ import annotations

import math
import re

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra

from simulator.constraints import acute_per_block, group_labels, today_icb_sets
from simulator.solvers.base import Problem


def presolve(problem: Problem) -> list[str]:
    """Conflicts that make the scenario infeasible at its level, in plain words, shortest first (empty if none
    is found; an empty list does not prove the scenario feasible).

    Every check is necessary for feasibility and runs in well under a second at place level: groups kept whole
    that touch a locked ICB and free blocks, span NHS regions under ``within_region``, hold a must-not-merge
    pair, cannot be joined up through the blocks a footprint may grow through, or hold more people than a hard
    ceiling allows; parts of the map that a footprint cannot cross (the free blocks' pieces under the regional
    rules) with fewer people than a hard floor or fewer acute trusts than ``min_acute_trusts``; and a number of
    footprints that those parts cannot make. Soft limits are never a conflict.
    """
    return sorted(dict.fromkeys(_Presolve(problem).run()), key=len)


def map_graph(problem: Problem) -> sp.csr_matrix:
    """The graph footprints grow through: free blocks and their neighbours (in the same NHS region, where
    footprints must stay inside one), as a symmetric block x block matrix."""
    m, cons = problem.model, problem.constraints
    free = problem.free_blocks
    region = m.blocks.region_name.to_numpy()
    a, b = m.edges.a.to_numpy(), m.edges.b.to_numpy()
    keep = free[a] & free[b]
    if cons.within_region:
        keep &= region[a] == region[b]
    n = m.n_blocks
    graph = sp.csr_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(n, n))
    return graph + graph.T


def least_footprints(problem: Problem, blocks: np.ndarray, ceiling: float | None) -> int:
    """Fewest footprints ``blocks`` can be cut into when each holds at most ``ceiling`` people or is one of
    today's ICBs above it standing alone (``None`` or ``inf``: no ceiling, one).

    Letting every ICB above the ceiling that lies within ``blocks`` stand alone needs fewest (one footprint for
    more than a ceiling's worth of people); the rest need their people over the ceiling.
    """
    if ceiling is None or not np.isfinite(ceiling) or ceiling <= 0 or not len(blocks):
        return 1 if len(blocks) else 0
    pop = problem.population
    big = [float(pop[s].sum()) for s in today_icb_sets(problem.model)
           if np.isin(s, blocks).all() and float(pop[s].sum()) > ceiling]
    return max(1, len(big) + math.ceil(max(0.0, float(pop[blocks].sum()) - sum(big)) / ceiling - 1e-9))


def fewest_footprints(problem: Problem, ceiling: float | None) -> int:
    """Fewest footprints the free blocks can form: :func:`least_footprints` in each piece of the map that no
    footprint crosses (with contiguity; otherwise the free blocks are one piece)."""
    free = np.flatnonzero(problem.free_blocks)
    if not len(free):
        return 0
    if not problem.constraints.contiguity:
        return least_footprints(problem, free, ceiling)
    _, part = connected_components(map_graph(problem), directed=False)
    return sum(least_footprints(problem, free[part[free] == k], ceiling) for k in np.unique(part[free]))


def _fmt(people: float) -> str:
    return f"{people / 1e6:.2f}m"


class _Presolve:
    """The checks, over one problem's map and rules."""

    def __init__(self, problem: Problem):
        self.p = problem
        self.m = m = problem.model
        self.cons = problem.constraints
        self.pop = problem.population
        self.free = problem.free_blocks
        self.region = m.blocks.region_name.to_numpy()
        self.icb = m.blocks.icb_name.to_numpy()
        self.names = m.blocks.name.to_numpy()
        self.labels = group_labels(m.n_blocks, self.cons.groups)
        self.why: dict[int, list[str]] = {}
        for idx, why in self.cons.groups:
            self.why.setdefault(int(self.labels[int(idx[0])]), []).append(self._council_names(why))
        c = self.cons.ceiling
        self.cap = c.value if (c and c.hard) else None
        f = self.cons.floor
        self.floor = f.value if (f and f.hard) else None
        self.graph = map_graph(problem)
        _, self.part = connected_components(self.graph, directed=False)

    # ------------------------------------------------------------------ naming
    def _council_names(self, why: str) -> str:
        """A group's reason with council codes named where the model knows the names (place level)."""
        b = self.m.blocks
        known = dict(zip(b.lad_code, b.lad_name)) if "lad_name" in b else {}
        return re.sub(r"local authority (E0\d{7})",
                      lambda mt: f"{known[mt.group(1)]} council" if known.get(mt.group(1)) else mt.group(0), why)

    def _reasons(self, root: int) -> str:
        whys = self.why.get(root, [])
        more = f" and {len(whys) - 3} more rule(s)" if len(whys) > 3 else ""
        return "; ".join(whys[:3]) + more

    def _where(self, blocks: np.ndarray) -> str:
        """Blocks as a planner knows them: England, a region, whole ICBs, or parts of ICBs."""
        blocks = np.asarray(blocks)
        if len(blocks) == self.m.n_blocks:
            return "England"
        if len(blocks) == int(self.free.sum()) and not self.cons.within_region:
            return "England outside the ICBs locked to today"
        regions = sorted(set(self.region[blocks]))
        if len(regions) == 1 and (self.free & (self.region == regions[0])).sum() == len(blocks):
            return regions[0]
        icbs = sorted(set(self.icb[blocks]))
        whole = all((self.icb == i).sum() == (self.icb[blocks] == i).sum() for i in icbs)
        shown = ", ".join(icbs[:3]) + (f" and {len(icbs) - 3} more" if len(icbs) > 3 else "")
        if whole:
            return f"{shown} ICB{'s' if len(icbs) > 1 else ''}"
        if len(blocks) <= 3 and self.m.level != "icb2024" and self.m.level != "icb2026":
            return f"{', '.join(self.names[blocks])} (in {shown} ICB{'s' if len(icbs) > 1 else ''})"
        return f"{len(blocks)} blocks of {shown} ICB{'s' if len(icbs) > 1 else ''}"

    # ------------------------------------------------------------------ checks
    def run(self) -> list[str]:
        out = self._groups()
        out += self._parts()
        return out

    def _groups(self) -> list[str]:
        """Groups kept whole (chained): locks, regions, must-not-merge pairs, joining up, the hard ceiling."""
        out = []
        locked_of = np.full(self.m.n_blocks, -1)
        for k, (idx, _) in enumerate(self.cons.locked):
            locked_of[idx] = k
        standalone = [frozenset(s.tolist()) for s in today_icb_sets(self.m)]
        roots, counts = np.unique(self.labels, return_counts=True)
        for root in roots[counts > 1]:
            blocks = np.flatnonzero(self.labels == root)
            reasons, total = self._reasons(int(root)), float(self.pop[blocks].sum())
            locks = set(locked_of[blocks].tolist()) - {-1}
            if locks and (len(locks) > 1 or (locked_of[blocks] < 0).any()):
                # A locked ICB is a footprint as it is today: a group may lie within one, never reach out of it.
                names = sorted(self.cons.locked[k][1] for k in locks)
                out.append(f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} locked to today, but {reasons} "
                           f"must stay together across {'it' if len(names) == 1 else 'them'}"
                           + (" and free blocks" if (locked_of[blocks] < 0).any() else ""))
                continue
            if locks:
                continue  # within one locked ICB: it stays whole as it is
            regions = sorted(set(self.region[blocks]))
            if self.cons.within_region and len(regions) > 1:
                out.append(f"{reasons} must stay together but spans NHS regions {', '.join(regions)}, while "
                           "footprints must stay within a region")
                continue
            for a, b in self.cons.must_not_merge:
                if self.labels[a] == root and self.labels[b] == root:
                    out.append(f"{self.names[a]} and {self.names[b]} must not merge, but {reasons} keeps them "
                               "together")
                    break
            if self.cons.contiguity and len(set(self.part[blocks].tolist())) > 1:
                out.append(f"{reasons} must stay together, but {self._where(blocks)} cannot be joined up into one "
                           "footprint through neighbouring blocks" + (" within the region" if self.cons.within_region
                                                                     else ""))
                continue
            if self.cap is not None:
                need = total + (self._joining(blocks) if self.cons.contiguity else 0.0)
                in_one_icb = any(set(blocks.tolist()) <= s for s in standalone)
                if need > self.cap and not in_one_icb:
                    joined = "" if need == total else f", {_fmt(need)} with the fewest people that join it up"
                    out.append(f"{reasons} must stay together ({self._where(blocks)}: {_fmt(total)} people"
                               f"{joined}), above the population ceiling of {_fmt(self.cap)}")
        return out

    def _joining(self, blocks: np.ndarray) -> float:
        """The fewest people a footprint holding ``blocks`` must add to join them up: for each piece of the
        group, the lightest path (counting each block's people once) to another piece; the most of these."""
        inside = np.zeros(self.m.n_blocks, dtype=bool)
        inside[blocks] = True
        sub = self.graph[blocks][:, blocks]
        k, piece = connected_components(sub, directed=False)
        if k <= 1:
            return 0.0
        # Entering a block costs its people; blocks of the group cost nothing (they are counted already). Other
        # groups kept whole come along whole: entering one of their blocks costs the whole group, a lower bound
        # kept simple by charging the block's own people (still a valid lower bound).
        cost = np.where(inside, 0.0, self.pop)
        g = self.graph.tocoo()
        w = sp.csr_matrix((cost[g.col] + 1e-9, (g.row, g.col)), shape=g.shape)
        worst = 0.0
        for j in range(k):
            src = blocks[piece == j]
            others = blocks[piece != j]
            dist = dijkstra(w, indices=src, min_only=True)
            worst = max(worst, float(dist[others].min()))
        return worst

    def _parts(self) -> list[str]:
        """Parts of the map no footprint crosses: floor, acute trusts, and the number of footprints."""
        out = []
        if not self.cons.contiguity:
            return out
        acute = acute_per_block(self.m) if self.cons.min_acute_trusts else None
        least_total, most_total, rows = len(self.cons.locked), len(self.cons.locked), []
        for part in np.unique(self.part[self.free]):
            blocks = np.flatnonzero((self.part == part) & self.free)
            total = float(self.pop[blocks].sum())
            where = self._where(blocks)
            if self.floor is not None and total < self.floor:
                out.append(f"{where} has {_fmt(total)} people and no footprint can reach beyond it"
                           f"{' (footprints stay within a region)' if self.cons.within_region else ''}, so it "
                           f"cannot meet the population floor of {_fmt(self.floor)}")
            if acute is not None and acute[blocks].sum() < self.cons.min_acute_trusts:
                out.append(f"{where} hosts {int(acute[blocks].sum())} acute trust(s) and no footprint can reach "
                           f"beyond it, so it cannot have {self.cons.min_acute_trusts} per footprint")
            least = least_footprints(self.p, blocks, self.cap)
            # Most footprints: one per group kept whole (or block), each at least the floor, each with enough
            # acute trusts.
            most = len(np.unique(self.labels[blocks]))
            if self.floor is not None and self.floor > 0:
                most = min(most, int(total // self.floor))
            if acute is not None:
                most = min(most, int(acute[blocks].sum() // self.cons.min_acute_trusts))
            least_total += least
            most_total += most
            rows.append((where, total, least, most))
        if self.cons.n_footprints and rows:
            lo, hi = self.cons.n_footprints
            raw = self.cons.raw.get("n_footprints")
            raw = [raw, raw] if isinstance(raw, int) else raw
            # With only_regions the scenario counts footprints in its regions: the ICBs outside, locked, are added.
            offset = lo - raw[0] if (raw and self.cons.raw.get("only_regions") is not None) else 0
            extra = len(self.cons.locked) - offset
            locked = f" and {extra} ICB(s) locked to today" if extra > 0 else ""
            if least_total > hi:
                out.append(f"the number of footprints must be at most {hi - offset}, but {self._breakdown(rows, 2)}"
                           f"{locked} need at least {least_total - offset} footprints of at most {_fmt(self.cap)} "
                           "(today's ICBs above it standing alone)")
            if most_total < lo:
                limits = ["one per group kept whole or block"]
                if self.floor is not None:
                    limits.append(f"each of at least {_fmt(self.floor)} people")
                if acute is not None:
                    limits.append(f"each hosting {self.cons.min_acute_trusts} acute trusts")
                out.append(f"the number of footprints must be at least {lo - offset}, but {self._breakdown(rows, 3)}"
                           f"{locked} can make at most {most_total - offset} ({', '.join(limits)})")
        return out

    def _breakdown(self, rows: list[tuple], col: int) -> str:
        """The parts, with people and each one's least (col 2) or most (col 3) footprints."""
        if len(rows) == 1:
            where, total, *_ = rows[0]
            return f"{where} ({_fmt(total)} people)"
        shown = sorted(rows, key=lambda r: -r[1])
        listed = "; ".join(f"{r[0]} ({_fmt(r[1])}: {r[col]})" for r in shown[:4])
        more = f"; and {len(rows) - 4} more" if len(rows) > 4 else ""
        return f"the {len(rows)} parts of the map that footprints cannot cross ({listed}{more})"

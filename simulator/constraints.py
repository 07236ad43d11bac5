"""Scenario constraints: parsed against a model, checked on configurations, and priced on candidate footprints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from simulator.configuration import Configuration
from simulator.errors import ScenarioError
from simulator.metrics.authorities import SPLIT_TOLERANCE, selected
from simulator.metrics.councils import UPPER_TIER_TOLERANCE

KEEP_WHOLE_UNITS = ("icb", "sicbl", "lad", "utla")
"""Units ``constraints.keep_whole`` can keep in one footprint: today's ICBs, sub-ICB locations, local authority
districts, and upper-tier councils (county councils and unitaries; at least ``1 - upper_tier_tolerance`` of each
council's residents in one footprint)."""


@dataclass
class PopulationLimit:
    """A population floor or ceiling: hard (never crossed) or soft (a penalty per person beyond it)."""

    value: float
    hard: bool = True
    penalty_per_person: float = 0.0


@dataclass
class Constraints:
    """Constraints of a scenario, resolved to block indices of one model.

    Attributes
    ----------
    groups
        Sets of blocks that must share one footprint, each with the reason (keep whole, must merge, authority,
        pathology network).
    must_not_merge
        Pairs of blocks that must be in different footprints.
    locked
        Today's ICBs (as block-index arrays) that must stay exactly as they are.
    n_footprints
        (least, most) number of footprints, or None.
    max_moved
        Most blocks that may leave the footprint holding most of their starting footprint, or None.
    footprints_outside
        With ``only_regions``: today's ICBs outside the freed regions, which ``n_footprints`` includes.
    """

    contiguity: bool = True
    within_region: bool = False
    groups: list[tuple[np.ndarray, str]] = field(default_factory=list)
    must_not_merge: list[tuple[int, int]] = field(default_factory=list)
    locked: list[tuple[np.ndarray, str]] = field(default_factory=list)
    n_footprints: tuple[int, int] | None = None
    max_moved: int | None = None
    min_acute_trusts: int = 0
    floor: PopulationLimit | None = None
    ceiling: PopulationLimit | None = None
    ceiling_from_band: bool = False
    footprints_outside: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ checks of a whole configuration
    def violations(self, model, assignment: np.ndarray, population: np.ndarray, start: np.ndarray | None = None,
                   names: list[str] | None = None) -> list[str]:
        """Plain-words list of the hard constraints a configuration breaks (empty if none)."""
        k = int(assignment.max()) + 1
        names = names or [f"footprint {i + 1}" for i in range(k)]
        out = []
        pop = np.bincount(assignment, weights=population, minlength=k)
        standalone = _standing_alone(model, assignment, k)
        # Footprints locked to today stay as they are: the per-footprint rules bind the others.
        as_locked = np.zeros(k, dtype=bool)
        for idx, _ in self.locked:
            f = assignment[idx[0]]
            as_locked[f] |= bool((assignment[idx] == f).all() and (assignment == f).sum() == len(idx))
        for f in range(k):
            if as_locked[f]:
                continue
            if self.ceiling and self.ceiling.hard and pop[f] > self.ceiling.value and not standalone[f]:
                out.append(f"{names[f]} has {pop[f]:,.0f} people, above the ceiling of {self.ceiling.value:,.0f}")
            if self.floor and self.floor.hard and pop[f] < self.floor.value:
                out.append(f"{names[f]} has {pop[f]:,.0f} people, below the floor of {self.floor.value:,.0f}")
        if self.within_region:
            reg = model.blocks.region_name.to_numpy()
            for f in range(k):
                if len(set(reg[assignment == f])) > 1:
                    out.append(f"{names[f]} spans NHS regions {', '.join(sorted(set(reg[assignment == f])))}")
        for idx, why in self.groups:
            if len(set(assignment[idx])) > 1:
                out.append(f"{why} is split")
        codes = model.blocks.code.to_numpy()
        for a, b in self.must_not_merge:
            if assignment[a] == assignment[b]:
                out.append(f"{codes[a]} and {codes[b]} must not merge but share {names[assignment[a]]}")
        for idx, why in self.locked:
            f = assignment[idx[0]]
            if len(set(assignment[idx])) > 1 or (assignment == f).sum() != len(idx):
                out.append(f"{why} is locked to today but changed")
        if self.min_acute_trusts:
            acute = acute_per_block(model)
            cnt = np.bincount(assignment, weights=acute, minlength=k)
            for f in np.flatnonzero((cnt < self.min_acute_trusts) & ~as_locked):
                out.append(f"{names[f]} hosts {int(cnt[f])} acute trust(s), fewer than {self.min_acute_trusts}")
        if self.n_footprints and not (self.n_footprints[0] <= k <= self.n_footprints[1]):
            # With only_regions the scenario counts the freed regions' footprints: say it in those terms.
            lo, hi, n = (x - self.footprints_outside for x in (*self.n_footprints, k))
            where = " in the freed regions" if self.footprints_outside else ""
            out.append(f"{n} footprints{where}, not {lo if lo == hi else f'{lo}-{hi}'}")
        if self.max_moved is not None and start is not None:
            moved = moved_blocks(assignment, start)
            if moved > self.max_moved:
                out.append(f"{moved} blocks moved, more than {self.max_moved}")
        if self.contiguity:
            cfg = Configuration(model, assignment, names, allow_noncontiguous=True)
            out += [f"{n} is in {p} pieces" for n, p in cfg.noncontiguous_footprints()]
        return out

    # ------------------------------------------------------------------ candidate footprints (exact solver)
    def column_mask(self, model, C: sp.csr_matrix, population: np.ndarray) -> np.ndarray:
        """Which candidate footprints (rows of the 0/1 matrix ``C``) satisfy every per-footprint hard constraint.

        Contiguity, region and must-not-merge are enforced while enumerating; this checks the rest.
        """
        m = C.shape[0]
        ok = np.ones(m, dtype=bool)
        pop = C @ population
        size = np.asarray(C.sum(axis=1)).ravel()
        if self.floor and self.floor.hard:
            ok &= pop >= self.floor.value
        if self.groups:
            G = _indicator([g for g, _ in self.groups], model.n_blocks)
            cnt = np.asarray((C @ G).todense())
            sizes = np.array([len(g) for g, _ in self.groups])
            ok &= ((cnt == 0) | (cnt == sizes)).all(axis=1)
        if self.locked:
            L = _indicator([g for g, _ in self.locked], model.n_blocks)
            cnt = np.asarray((C @ L).todense())
            sizes = np.array([len(g) for g, _ in self.locked])
            touches = cnt > 0
            exact = (cnt == sizes) & (size[:, None] == sizes)
            ok &= (~touches | exact).all(axis=1)
        if self.min_acute_trusts:
            ok &= (C @ acute_per_block(model)) >= self.min_acute_trusts
        if self.ceiling and self.ceiling.hard:
            ok &= (pop <= self.ceiling.value) | standing_alone_columns(model, C)
        if self.locked:
            # A footprint locked to today stays as it is: the rules bind what the scenario may change.
            ok |= exact.any(axis=1)
        return ok

    def penalty(self, population: np.ndarray) -> np.ndarray:
        """Soft-limit penalty of footprints with these populations (0 for hard limits)."""
        pen = np.zeros_like(np.asarray(population, dtype=float))
        if self.floor and not self.floor.hard:
            pen += self.floor.penalty_per_person * np.maximum(self.floor.value - population, 0)
        if self.ceiling and not self.ceiling.hard:
            pen += self.ceiling.penalty_per_person * np.maximum(population - self.ceiling.value, 0)
        return pen


def group_labels(n: int, groups: list[tuple[np.ndarray, str]]) -> np.ndarray:
    """Label of each block such that blocks the groups chain together share a label (union-find)."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for idx, _ in groups:
        for j in idx[1:]:
            parent[find(int(j))] = find(int(idx[0]))
    return np.array([find(i) for i in range(n)], dtype=int)


def blocks_connected(blocks, neighbours: list[np.ndarray]) -> bool:
    """True if the blocks form one piece through ``neighbours`` (an empty or single set is connected)."""
    inside = set(int(b) for b in blocks)
    if len(inside) <= 1:
        return True
    first = next(iter(inside))
    seen, stack = {first}, [first]
    while stack:
        u = stack.pop()
        for v in neighbours[u]:
            v = int(v)
            if v in inside and v not in seen:
                seen.add(v)
                stack.append(v)
    return len(seen) == len(inside)


def _indicator(groups: list[np.ndarray], n: int) -> sp.csr_matrix:
    rows = np.concatenate([np.asarray(g) for g in groups])
    cols = np.concatenate([np.full(len(g), j) for j, g in enumerate(groups)])
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(groups)))


def acute_per_block(model) -> np.ndarray:
    """Number of open acute trusts hosted by each block."""
    host = model.trust_host
    acute = model.trusts.acute.to_numpy() & (host >= 0)
    return np.bincount(host[acute], minlength=model.n_blocks).astype(float)


def today_icb_sets(model) -> list[np.ndarray]:
    """Blocks of each of today's ICBs."""
    codes = model.blocks.icb_code.to_numpy()
    return [np.flatnonzero(codes == c) for c in sorted(set(codes))]


def standing_alone_columns(model, C: sp.csr_matrix) -> np.ndarray:
    """Rows of ``C`` that are exactly one of today's ICBs (allowed above the ceiling: it can stand alone)."""
    sets = today_icb_sets(model)
    L = _indicator(sets, model.n_blocks)
    cnt = np.asarray((C @ L).todense())
    size = np.asarray(C.sum(axis=1)).ravel()
    sizes = np.array([len(s) for s in sets])
    return ((cnt == sizes) & (size[:, None] == sizes)).any(axis=1)


def _standing_alone(model, assignment: np.ndarray, k: int) -> np.ndarray:
    C = sp.csr_matrix((np.ones(len(assignment)), (assignment, np.arange(len(assignment)))), shape=(k, len(assignment)))
    return standing_alone_columns(model, C)


def moved_blocks(assignment: np.ndarray, start: np.ndarray) -> int:
    """Blocks not in the footprint that holds most of their starting footprint."""
    moved = 0
    for s in np.unique(start):
        idx = np.flatnonzero(start == s)
        counts = np.bincount(assignment[idx])
        moved += len(idx) - int(counts.max())
    return moved


# ---------------------------------------------------------------------------------------------- parsing
def _codes_to_blocks(model, codes, what: str, source: str) -> list[np.ndarray]:
    """Each code is a block of the model, or an ICB (all its blocks) at a finer level."""
    out = []
    icb_codes = model.blocks.icb_code.str.upper().to_numpy()
    icb_ods = model.blocks.icb_ods.str.upper().to_numpy()
    other = "icb24" if model.baseline == "2026" else "icb26"
    old_codes = model.blocks[f"{other}_code"].str.upper().to_numpy()
    old_ods = model.blocks[f"{other}_ods"].str.upper().to_numpy()
    for c in codes:
        if not isinstance(c, str):
            raise ScenarioError(f"{source}: {what} must list block codes (strings), not {c!r}")
        i = model.lookup(c)
        if i is not None:
            out.append(np.array([i]))
            continue
        hit = np.flatnonzero((icb_codes == c.strip().upper()) | (icb_ods == c.strip().upper()))
        if not len(hit) and model.level != "icb2026":
            # An ICB of the other official map (QRV, abolished in April 2026, is still a group of blocks).
            hit = np.flatnonzero((old_codes == c.strip().upper()) | (old_ods == c.strip().upper()))
        if len(hit):
            out.append(hit)
            continue
        raise ScenarioError(f"{source}: {what} names {c!r}, which is neither a {model.level} block nor an ICB")
    return out


def _limit(value, what: str, source: str) -> PopulationLimit | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return PopulationLimit(float(value))
    if not isinstance(value, dict) or "value" not in value:
        raise ScenarioError(f"{source}: {what} must be a number or {{ value = N, hard = true|false, "
                            "penalty_per_person = X }")
    bad = set(value) - {"value", "hard", "penalty_per_person"}
    if bad:
        raise ScenarioError(f"{source}: {what} has unknown key(s) {', '.join(sorted(bad))}")
    v, hard, pen = value["value"], value.get("hard", True), value.get("penalty_per_person", 0.0)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
        raise ScenarioError(f"{source}: {what}.value must be a number of people >= 0")
    if not isinstance(hard, bool):
        raise ScenarioError(f"{source}: {what}.hard must be true or false")
    if not isinstance(pen, (int, float)) or isinstance(pen, bool) or pen < 0:
        raise ScenarioError(f"{source}: {what}.penalty_per_person must be a number >= 0")
    return PopulationLimit(float(v), hard, float(pen))


def build_constraints(model, raw: dict[str, Any], source: str = "scenario",
                      authority_set: str = "mayoral") -> Constraints:
    """Resolve a scenario's ``[constraints]`` table against ``model``.

    Raises
    ------
    ScenarioError
        A value of the wrong type, or a code that is not in the model.
    """
    c = Constraints(raw=dict(raw))
    c.contiguity = _flag(raw, "contiguity", True, source)
    c.within_region = _flag(raw, "within_region", False, source)
    _pairs(c, model, raw, source)
    outside = _locks(c, model, raw, source)
    _count(c, raw, source, outside)
    mm = raw.get("max_moved")
    if mm is not None:
        if not isinstance(mm, int) or isinstance(mm, bool) or mm < 0:
            raise ScenarioError(f"{source}: constraints.max_moved must be a whole number >= 0")
        c.max_moved = mm
    _keep_whole(c, model, raw, source)
    if _flag(raw, "authorities_whole", False, source):
        c.groups += _authority_groups(model, authority_set)
    if _flag(raw, "pathology_networks_whole", False, source):
        for n, ts in enumerate(model.network_trusts):
            hosts = np.unique(model.trust_host[ts][model.trust_host[ts] >= 0])
            if len(hosts) > 1:
                c.groups.append((hosts, f"pathology network {model.networks.network_name.iloc[n]}"))
    mat = raw.get("min_acute_trusts", 0)
    if not isinstance(mat, int) or isinstance(mat, bool) or mat < 0:
        raise ScenarioError(f"{source}: constraints.min_acute_trusts must be a whole number >= 0")
    c.min_acute_trusts = mat
    c.floor = _limit(raw.get("population_floor"), "population_floor", source)
    c.ceiling = _limit(raw.get("population_ceiling"), "population_ceiling", source)
    if c.floor and c.ceiling and c.floor.value > c.ceiling.value:
        raise ScenarioError(f"{source}: population_floor {c.floor.value:,.0f} is above population_ceiling "
                            f"{c.ceiling.value:,.0f}")
    return c


def _flag(raw: dict[str, Any], key: str, default: bool, source: str) -> bool:
    v = raw.get(key, default)
    if not isinstance(v, bool):
        raise ScenarioError(f"{source}: constraints.{key} must be true or false, not {v!r}")
    return v


def _pairs(c: Constraints, model, raw: dict[str, Any], source: str) -> None:
    """``must_merge`` pairs as groups, ``must_not_merge`` pairs as block pairs."""
    for key in ("must_merge", "must_not_merge"):
        pairs = raw.get(key, [])
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ScenarioError(f"{source}: constraints.{key} must be a list of [code, code] pairs")
        for p in pairs:
            a, b = _codes_to_blocks(model, p, f"constraints.{key}", source)
            if key == "must_merge":
                c.groups.append((np.unique(np.concatenate([a, b])), f"must-merge pair {p[0]}-{p[1]}"))
            else:
                c.must_not_merge += [(int(x), int(y)) for x in a for y in b]


def _locks(c: Constraints, model, raw: dict[str, Any], source: str) -> list[str] | None:
    """Today's ICBs locked (``locked_to_today``, and every ICB outside ``only_regions``); returns the ICBs outside
    the freed regions (None without ``only_regions``)."""
    locked = raw.get("locked_to_today", [])
    if not isinstance(locked, list):
        raise ScenarioError(f"{source}: constraints.locked_to_today must be a list of codes")
    only = raw.get("only_regions")
    outside = None
    if only is not None:
        # Only these NHS regions change: every ICB elsewhere is locked to today.
        if not isinstance(only, list) or not only or not all(isinstance(r, str) for r in only):
            raise ScenarioError(f"{source}: constraints.only_regions must list NHS regions (ODS code or name)")
        b = model.blocks
        known = {r.upper(): r for r in b.region_ods} | {n.upper(): o for n, o in zip(b.region_name, b.region_ods)}
        bad = [r for r in only if r.strip().upper() not in known]
        if bad:
            raise ScenarioError(f"{source}: constraints.only_regions names {bad[0]!r}, not an NHS region; known: "
                                f"{', '.join(sorted(set(b.region_name)))}")
        keep = {known[r.strip().upper()] for r in only}
        outside = sorted(set(b.icb_code[~b.region_ods.isin(keep)]))
        locked = list(locked) + outside
    codes = model.blocks.icb_code.to_numpy()
    names = dict(zip(model.blocks.icb_code, model.blocks.icb_name))
    seen = set()
    for blocks in _codes_to_blocks(model, locked, "constraints.locked_to_today", source):
        icb = codes[blocks[0]]
        if icb not in seen:
            seen.add(icb)
            c.locked.append((np.flatnonzero(codes == icb), f"{names[icb]} ICB"))
    return outside


def _count(c: Constraints, raw: dict[str, Any], source: str, outside: list[str] | None) -> None:
    """``n_footprints``, a number or [least, most]."""
    nf = raw.get("n_footprints")
    if nf is None:
        return
    if isinstance(nf, int) and not isinstance(nf, bool):
        nf = [nf, nf]
    if (not isinstance(nf, list) or len(nf) != 2 or not all(isinstance(x, int) and not isinstance(x, bool)
                                                           for x in nf) or not 1 <= nf[0] <= nf[1]):
        raise ScenarioError(f"{source}: constraints.n_footprints must be a whole number or [least, most]")
    # With only_regions, the count is of footprints in those regions: the ICBs outside stand as they are.
    fixed = len(outside) if outside is not None else 0
    c.n_footprints = (nf[0] + fixed, nf[1] + fixed)
    c.footprints_outside = fixed


def _keep_whole(c: Constraints, model, raw: dict[str, Any], source: str) -> None:
    """The groups of ``keep_whole`` (and ``upper_tier_tolerance``): each unit's free blocks, within each NHS region
    under ``within_region``."""
    keep = raw.get("keep_whole", [])
    if isinstance(keep, str):
        keep = [keep]
    if not isinstance(keep, list) or any(k not in KEEP_WHOLE_UNITS for k in keep):
        raise ScenarioError(f"{source}: constraints.keep_whole must list some of {', '.join(KEEP_WHOLE_UNITS)}")
    tolerance = raw.get("upper_tier_tolerance", UPPER_TIER_TOLERANCE)
    if (not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or not np.isfinite(tolerance)
            or not 0 <= tolerance < 0.5):
        raise ScenarioError(f"{source}: constraints.upper_tier_tolerance must be a share from 0 up to (not "
                            f"including) 0.5, not {tolerance!r}")
    b = model.blocks
    # Keeping a unit whole binds only the blocks the scenario may move: a council straddling an ICB locked to today
    # keeps its free part together, and the locked part stays where it is.
    locked_blocks = np.zeros(model.n_blocks, dtype=bool)
    for idx, _ in c.locked:
        locked_blocks[idx] = True
    first = len(c.groups)
    for unit in keep:
        if unit == "utla":
            c.groups += _council_groups(model, float(tolerance))
            continue
        col = {"icb": "icb_code", "sicbl": "sicbl_code", "lad": "lad_code"}[unit]
        if unit != "icb" and (b[col] == "").all():
            # At ICB level a sub-ICB location or a council lies within one ICB, or straddles ICBs: keep the
            # ICBs it touches together.
            if unit == "sicbl":
                continue
            c.groups += _lad_groups_at_coarse_level(model)
            continue
        label = {"icb": "ICB", "sicbl": "sub-ICB location", "lad": "local authority"}[unit]
        names = _unit_names(model, unit)
        for value, idx in b.groupby(col).groups.items():
            if len(idx) > 1:
                named = f"{names[value]} ({value})" if names.get(value) else value
                c.groups.append((np.asarray(idx), f"{label} {named}"))
    kept = [(np.asarray(idx)[~locked_blocks[np.asarray(idx)]], why) for idx, why in c.groups[first:]]
    if c.within_region:
        # Footprints are drawn region by region: a unit straddling NHS regions (six councils do, along ICB lines
        # that are also region lines) is kept whole within each region's part, since no footprint may hold both.
        region = b.region_ods.to_numpy()
        kept = [(idx[region[idx] == r], f"{why} ({r} part)" if len(set(region[idx])) > 1 else why)
                for idx, why in kept for r in sorted(set(region[idx]))]
    c.groups = c.groups[:first] + [(idx, why) for idx, why in kept if len(idx) > 1]


def _unit_names(model, unit: str) -> dict[str, str]:
    """Names planners know for the codes of a keep-whole unit, where the model has them (else none)."""
    b = model.blocks
    col, name = {"icb": ("icb_code", "icb_name"), "sicbl": ("sicbl_code", None), "lad": ("lad_code", "lad_name")}[unit]
    if name is None:
        return {}
    out = {str(k): str(v) for k, v in zip(b[col], b[name]) if k and v}
    if unit == "lad" and getattr(model, "councils", None) is not None:
        # Unitary authorities, metropolitan districts and London boroughs are their own upper-tier council.
        out = {**dict(zip(model.councils.code.astype(str), model.councils.name.astype(str))), **out}
    return out


def _lad_groups_at_coarse_level(model) -> list[tuple[np.ndarray, str]]:
    """At ICB or sub-ICB level: blocks sharing a local authority's residents (1% or more of them) go together."""
    share = getattr(model, "lad_block_share", None)
    if share is None:
        return []
    names = _unit_names(model, "lad")
    out = []
    for lad, row in share.items():
        idx = np.flatnonzero(row >= SPLIT_TOLERANCE)
        if len(idx) > 1:
            out.append((idx, f"local authority {names[lad]} ({lad})" if names.get(lad) else f"local authority {lad}"))
    return out


def _council_groups(model, tolerance: float) -> list[tuple[np.ndarray, str]]:
    """Each upper-tier council's *core* blocks, which must share a footprint: all the blocks holding its residents
    but the smallest parts, dropped while together they hold at most ``tolerance`` of its residents (best-fit
    slivers; those blocks are free). The core then holds at least ``1 - tolerance`` of the council's residents.

    At place level a block lies in one council; at sub-ICB and ICB level a block may hold parts of several, and the
    councils it shares chain their cores into one footprint."""
    O = model.council_overlap
    names = model.councils.name.to_numpy()
    out = []
    for k in range(O.shape[1]):
        col = O[:, k]
        total = col.sum()
        held = np.flatnonzero(col > 0)
        if total <= 0 or len(held) < 2:
            continue
        # Smallest parts first (ties by block, so the rule does not depend on the order of the data).
        order = held[np.lexsort((held, col[held]))]
        dropped = np.searchsorted(np.cumsum(col[order]), tolerance * total * (1 + 1e-12), side="right")
        core = np.sort(order[dropped:])
        if len(core) > 1:
            out.append((core, f"upper-tier council {names[k]}"))
    return out


def _authority_groups(model, authority_set: str) -> list[tuple[np.ndarray, str]]:
    out = []
    for a in selected(model, authority_set):
        col = model.authority_overlap[:, a]
        total = col.sum()
        if total <= 0:
            continue
        idx = np.flatnonzero(col >= SPLIT_TOLERANCE * total)
        if len(idx) > 1:
            out.append((idx, f"{model.authorities.name.iloc[a]}"))
    return out

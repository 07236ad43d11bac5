"""A start that keeps the hard rules, drawn by recursive spanning-tree cuts, for a local search whose start cannot
be repaired by merging footprints.

The local search moves blocks one at a time and keeps every hard rule after each move, so it needs a start that
keeps them. Where today's map breaks them and merging whole footprints cannot fix it (a fixed number of
footprints under a hard ceiling leaves each footprint a narrow window of people: three footprints of at most 2.5
million in 7.3 million people must each hold 2.3-2.5 million), a start is drawn as GerryChain's
``recursive_tree_part`` draws districts: a random spanning tree of the free blocks (each group the rules keep
whole one node; the minimum tree under random edge weights), cut at an edge that leaves a part inside the window,
and the rest split the same way. The draw is repeated, with the seed's random stream, until the whole
configuration keeps every hard rule.
"""

from __future__ import annotations

import math
import time

import networkx as nx
import numpy as np

from simulator.configuration import Configuration
from simulator.constraints import acute_per_block
from simulator.solvers.base import Problem
from simulator.solvers.enumerate import candidate_graph
from simulator.solvers.exact import _named

_TREES = 30  # spanning trees tried for one cut before the draw starts again
_MOST_TREES = 1_000  # spanning trees in all, and seconds, before giving up: a scenario no configuration meets
_MOST_SECONDS = 3.0  # must fail fast (each draw is one path down the cuts, never a search over them)


def tree_start(problem: Problem, seed: int = 0, attempts: int = 100) -> Configuration | None:
    """A configuration keeping every hard rule, drawn by recursive spanning-tree cuts, or None if ``attempts``
    draws find none. Deterministic for a seed.

    Each connected piece of the free blocks (each NHS region's, under ``within_region``) gets the fewest
    footprints its people need under the hard ceiling (or the band's ceiling), and more where the scenario's
    number of footprints asks for them, shared to the pieces with the most people per footprint first.
    """
    cons = problem.constraints
    graph = candidate_graph(problem)
    free = np.flatnonzero(np.isfinite(graph.people))
    if not len(free):
        return None
    g = nx.Graph()
    for u in free.tolist():
        g.add_node(u, people=float(graph.people[u]))
    for u in free.tolist():
        for v in graph.contraction.neighbours[u].tolist():
            if v in g and v != u:
                g.add_edge(u, v)
    pieces = [sorted(p) for p in nx.connected_components(g)]
    lo = cons.floor.value if cons.floor is not None and cons.floor.hard else 0.0
    hi = cons.ceiling.value if cons.ceiling is not None and cons.ceiling.hard else float(problem.params.band[1])
    counts = _counts(problem, [sum(graph.people[p]) for p in pieces], lo, hi)
    if counts is None:
        return None
    if cons.min_acute_trusts:
        # Each footprint needs its acute trusts: a piece without enough for its footprints can never be drawn.
        acute = acute_per_block(problem.model)
        held = [sum(float(acute[graph.contraction.members[u]].sum()) for u in p) for p in pieces]
        if any(h < k * cons.min_acute_trusts for h, k in zip(held, counts)):
            return None
    rng = np.random.default_rng(seed)
    budget = _Budget()
    for _ in range(attempts):
        if budget.spent():
            return None
        parts = []
        for piece, k in zip(pieces, counts):
            drawn = _split(g.subgraph(piece), k, lo, hi, rng, budget)
            if drawn is None:
                break
            parts += drawn
        else:
            config = _configuration(problem, graph, parts)
            if not problem.violations(config):
                return config
    return None


def _counts(problem: Problem, people: list[float], lo: float, hi: float) -> list[int] | None:
    """Footprints per piece: the fewest each needs, raised toward the scenario's number where it sets one."""
    least = [max(1, math.ceil(q / hi - 1e-9)) for q in people]
    most = [max(1, int(q // lo)) if lo > 0 else 10 ** 6 for q in people]
    if any(a > b for a, b in zip(least, most)):
        return None
    counts = list(least)
    cons = problem.constraints
    if cons.n_footprints:
        want = cons.n_footprints[0] - len(cons.locked)
        while sum(counts) < want:
            room = [i for i in range(len(counts)) if counts[i] < most[i]]
            if not room:
                return None
            i = max(room, key=lambda j: people[j] / counts[j])
            counts[i] += 1
        if sum(counts) > cons.n_footprints[1] - len(cons.locked):
            return None
    return counts


class _Budget:
    """Spanning trees drawn and seconds spent, against ``_MOST_TREES`` and ``_MOST_SECONDS``."""

    def __init__(self):
        self.trees, self.start = 0, time.perf_counter()

    def spent(self) -> bool:
        return self.trees >= _MOST_TREES or time.perf_counter() - self.start > _MOST_SECONDS


def _split(h: nx.Graph, k: int, lo: float, hi: float, rng: np.random.Generator,
           budget: _Budget) -> list[list[int]] | None:
    """``h``'s nodes in ``k`` connected parts of ``lo``-``hi`` people each, or None. One path down: the first cut
    found is kept, and if the rest cannot be split the draw fails (the caller draws again)."""
    total = sum(d for _, d in h.nodes(data="people"))
    if k == 1:
        return [list(h.nodes)] if lo <= total <= hi else None
    low, high = max(lo, total - (k - 1) * hi), min(hi, total - (k - 1) * lo)
    if low > high:
        return None
    for _ in range(_TREES):
        if budget.spent():
            return None
        budget.trees += 1
        tree = _random_spanning_tree(h, rng)
        rooted = nx.dfs_tree(tree, min(tree.nodes))
        order = list(nx.dfs_preorder_nodes(rooted))
        below = {u: h.nodes[u]["people"] for u in order}
        for u in reversed(order):  # people in each node's subtree, leaves first
            for v in rooted.successors(u):
                below[u] += below[v]
        cuts = [u for u in order[1:] if low <= below[u] <= high]  # cutting above u: both sides stay connected
        if not cuts:
            continue
        u = cuts[int(rng.integers(len(cuts)))]
        part = [u, *sorted(nx.descendants(rooted, u))]
        rest = h.subgraph(set(h.nodes) - set(part))
        others = _split(rest, k - 1, lo, hi, rng, budget)
        return None if others is None else [part] + others
    return None


def _random_spanning_tree(h: nx.Graph, rng: np.random.Generator) -> nx.Graph:
    """A spanning tree of ``h``: the minimum one under random edge weights, as GerryChain draws them (not uniform
    over trees, which a start does not need, and far faster than networkx's uniform sampler)."""
    weighted = nx.Graph()
    weighted.add_nodes_from(h.nodes)
    edges = sorted(h.edges)  # a fixed order, so the weights (and the tree) follow the seed alone
    weighted.add_weighted_edges_from((u, v, w) for (u, v), w in zip(edges, rng.random(len(edges))))
    return nx.minimum_spanning_tree(weighted)


def _configuration(problem: Problem, graph, parts: list[list[int]]) -> Configuration:
    """Footprints from the parts (node lists), each locked ICB its own footprint as today."""
    n = problem.model.n_blocks
    a = np.full(n, -1, dtype=np.int64)
    for f, nodes in enumerate(parts):
        for u in nodes:
            a[graph.contraction.members[u]] = f
    k = len(parts)
    for idx, _ in problem.constraints.locked:
        a[np.asarray(idx)] = k
        k += 1
    if (a < 0).any():  # a free block no node holds (cannot happen: every free block is in a node)
        raise ValueError("tree_start: a block was left out")
    return _named(problem, a)

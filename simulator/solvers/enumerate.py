"""Candidate footprints: every connected set of blocks within a population cap, once each (ESU); groups contracted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from simulator.constraints import blocks_connected, group_labels
from simulator.solvers.base import Problem


def _bits(mask: int) -> list[int]:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def connected_sets(neighbours: list[np.ndarray], weight: np.ndarray, cap: float,
                   allowed: Callable[[int, int], bool] | None = None, max_count: int | None = None) -> Iterator[int]:
    """Yield each connected block set (as a bitmask) whose total ``weight`` is at most ``cap``.

    Uses the ESU scheme (Wernicke 2006): every connected set is grown from its lowest-numbered block by adding
    only exclusive neighbours, so each set is produced exactly once. Sets over the cap are pruned: weights are
    positive, so no superset can come back under it.

    Parameters
    ----------
    neighbours
        Neighbour indices of each block.
    weight
        Non-negative weight (population) of each block.
    cap
        Largest total weight of a set.
    allowed
        Optional ``allowed(set_mask, block)``: may ``block`` join ``set_mask``? Must be monotone (once refused,
        refused for every superset), like "same NHS region" or "never with block X".
    max_count
        Stop after this many sets (a guard against runaway enumeration).
    """
    n = len(neighbours)
    nb = [sum(1 << int(j) for j in neighbours[i]) for i in range(n)]
    w = [float(x) for x in weight]
    count = 0
    for v in range(n):
        if w[v] > cap:
            continue
        above = ~((1 << (v + 1)) - 1)  # blocks numbered above v
        stack = [(1 << v, nb[v] & above, nb[v] | (1 << v), w[v])]
        while stack:
            sub, ext, closed, tot = stack.pop()
            yield sub
            count += 1
            if max_count is not None and count >= max_count:
                return
            while ext:
                low = ext & -ext
                ext ^= low
                u = low.bit_length() - 1
                t = tot + w[u]
                if t > cap or (allowed is not None and not allowed(sub, u)):
                    continue
                new_ext = ext | (nb[u] & above & ~closed)
                stack.append((sub | low, new_ext, closed | nb[u], t))


def members(mask: int) -> list[int]:
    """Block indices of a bitmask."""
    return _bits(mask)


@dataclass
class Contraction:
    """A block graph with each group of blocks that must share a footprint contracted to one node.

    Attributes
    ----------
    members
        The blocks of each node; nodes are numbered in the order of their lowest block, so that with no groups
        node ``i`` is block ``i``.
    node_of
        The node of each block.
    neighbours
        Neighbour nodes of each node (a node neighbours another when one of its blocks neighbours one of the
        other's).
    masks
        Each node's blocks as a bitmask.
    split
        Nodes whose blocks are not in one piece by themselves (through the block neighbours): a set holding one
        is connected only if the other nodes of the set join its pieces, which :func:`expanded_sets` checks.
    """

    members: list[np.ndarray]
    node_of: np.ndarray
    neighbours: list[np.ndarray]
    masks: list[int]
    split: np.ndarray

    @property
    def n_nodes(self) -> int:
        """How many nodes there are."""
        return len(self.members)

    @property
    def contracted(self) -> bool:
        """Whether some node holds more than one block."""
        return self.n_nodes < len(self.node_of)

    def node_sums(self, values: np.ndarray) -> np.ndarray:
        """Each node's total of a per-block figure."""
        return np.bincount(self.node_of, weights=np.asarray(values, dtype=float), minlength=self.n_nodes)


def contract(neighbours: list[np.ndarray], labels: np.ndarray) -> Contraction:
    """Contract the blocks sharing a label (``simulator.constraints.group_labels``) to one node each.

    Parameters
    ----------
    neighbours
        Neighbour indices of each block (the graph candidate footprints grow through).
    labels
        A label per block: blocks with the same label become one node.
    """
    labels = np.asarray(labels)
    n = len(labels)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # nodes in the order of their lowest block
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    node_of = rank[inverse.ravel()]
    members = [np.flatnonzero(node_of == k) for k in range(len(order))] if len(order) < n else \
        [np.array([i]) for i in range(n)]
    node_nb = []
    for k, blocks in enumerate(members):
        around = np.concatenate([node_of[np.asarray(neighbours[b], dtype=np.int64)] for b in blocks]) \
            if len(blocks) else np.zeros(0, dtype=np.int64)
        node_nb.append(np.setdiff1d(np.unique(around), [k]).astype(np.int64))
    masks = [sum(1 << int(b) for b in blocks) for blocks in members]
    split = np.array([len(blocks) > 1 and not blocks_connected(blocks, neighbours) for blocks in members], dtype=bool)
    return Contraction(members, node_of, node_nb, masks, split)


def expanded_sets(contraction: Contraction, node_sets: Iterator[int], block_neighbours: list[np.ndarray]) \
        -> Iterator[int]:
    """Each set of nodes (a bitmask) as its set of blocks (a bitmask). A set holding a node in pieces is yielded
    only if its blocks are in one piece through ``block_neighbours``."""
    masks, split = contraction.masks, contraction.split
    any_split = bool(split.any())
    split_mask = sum(1 << int(k) for k in np.flatnonzero(split))
    for sub in node_sets:
        blocks = 0
        rest = sub
        while rest:
            low = rest & -rest
            blocks |= masks[low.bit_length() - 1]
            rest ^= low
        if any_split and sub & split_mask and not blocks_connected(_bits(blocks), block_neighbours):
            continue
        yield blocks


# ------------------------------------------------------------------------------------ a problem's candidates
def population_cap(problem: Problem) -> float:
    """Largest candidate footprint: the hard ceiling if the scenario has one, else the band's ceiling (with a soft
    ceiling, the first cap the exact solver tries: see :class:`SoftCeiling`)."""
    cons = problem.constraints
    return cons.ceiling.value if (cons.ceiling and cons.ceiling.hard) else problem.params.band[1]


def soft_threshold(problem: Problem) -> float | None:
    """With a soft ceiling, the people above which every person costs the band term and the ceiling's penalty
    (the higher of the band's ceiling and the soft ceiling); None with a hard ceiling."""
    c = problem.constraints.ceiling
    if c is None or c.hard:
        return None
    return float(max(problem.params.band[1], c.value))


@dataclass
class CandidateGraph:
    """The graph candidate footprints grow through: the free blocks, with each set of blocks that the rules keep
    together (the groups of ``Constraints.groups``, chained) contracted to one node.

    A feasible footprint holds all or none of each group, so it is a connected set of nodes: enumerating those
    (and expanding each to its blocks) finds every feasible candidate in far fewer steps where groups are large,
    and never one that breaks a group. Contiguity, NHS regions and must-not-merge pairs hold as before.

    Attributes
    ----------
    contraction
        The nodes (``simulator.solvers.enumerate.Contraction``).
    block_neighbours
        Each block's neighbours a footprint may grow through (same region where asked; none for locked blocks).
    people
        Each node's people; ``inf`` for a node no enumerated footprint may hold (it holds a locked block, or two
        blocks that must not merge).
    weight
        What a node counts against the cap: its people, or with a soft ceiling at most ``threshold``.
    threshold
        :func:`soft_threshold` (None with a hard ceiling).
    forbid
        Per node, a bitmask of the nodes it must not share a footprint with (None without must-not-merge pairs).
    enumerated
        Node sets yielded by the last :meth:`block_sets` (before a node in pieces is checked).
    """

    contraction: Contraction
    block_neighbours: list[np.ndarray]
    people: np.ndarray
    weight: np.ndarray
    threshold: float | None
    forbid: list[int] | None
    enumerated: int = 0

    def node_sets(self, cap: float, max_count: int | None = None) -> Iterator[int]:
        """Every connected set of nodes (a bitmask) weighing at most ``cap``, each once."""
        forbid = self.forbid
        allowed = (lambda sub, u: not (sub & forbid[u])) if forbid is not None else None
        self.enumerated = 0
        for sub in connected_sets(self.contraction.neighbours, self.weight, cap, allowed, max_count=max_count):
            self.enumerated += 1
            yield sub

    def block_sets(self, cap: float, max_count: int | None = None) -> Iterator[int]:
        """:meth:`node_sets` as sets of blocks (bitmasks), each in one piece; ``enumerated`` counts the node
        sets (stopping past ``max_count``)."""
        sets = self.node_sets(cap, max_count)
        if not self.contraction.contracted:
            return sets  # each node is one block
        return expanded_sets(self.contraction, sets, self.block_neighbours)


def candidate_graph(problem: Problem, contract_groups: bool = True) -> CandidateGraph:
    """The problem's :class:`CandidateGraph` (``contract_groups=False``: one node per block, as a check)."""
    m, cons = problem.model, problem.constraints
    region_nb, forbid = enumeration_rules(problem)
    locked = ~problem.free_blocks
    neighbours = [np.array([], dtype=np.int64) if locked[i] else np.asarray(nb, dtype=np.int64)[~locked[nb]]
                  for i, nb in enumerate(region_nb)]
    labels = group_labels(m.n_blocks, cons.groups) if contract_groups else np.arange(m.n_blocks)
    c = contract(neighbours, labels)
    people = c.node_sums(problem.population)
    people[np.unique(c.node_of[locked])] = np.inf
    node_forbid = None
    if cons.must_not_merge:
        node_forbid = [0] * c.n_nodes
        for a, b in cons.must_not_merge:
            na, nb_ = int(c.node_of[a]), int(c.node_of[b])
            if na == nb_:
                people[na] = np.inf  # the rules keep together two blocks that must not merge: no footprint can
            node_forbid[na] |= 1 << nb_
            node_forbid[nb_] |= 1 << na
    threshold = soft_threshold(problem)
    weight = people if threshold is None else np.minimum(people, threshold)
    weight = np.where(np.isfinite(people), weight, np.inf)
    return CandidateGraph(c, neighbours, people, weight, threshold, node_forbid)


def enumeration_rules(problem: Problem) -> tuple[list[np.ndarray], list[int]]:
    """Neighbours a candidate footprint may grow through (same NHS region when the scenario asks) and, per
    block, the bitmask of blocks it must not share a footprint with (must-not-merge pairs)."""
    m, cons = problem.model, problem.constraints
    neighbours = m.neighbours
    if cons.within_region:
        region = m.blocks.region_ods.to_numpy()
        neighbours = [nb[region[nb] == region[i]] for i, nb in enumerate(neighbours)]
    forbid = [0] * m.n_blocks
    for a, b in cons.must_not_merge:
        forbid[a] |= 1 << int(b)
        forbid[b] |= 1 << int(a)
    return neighbours, forbid

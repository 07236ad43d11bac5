"""Candidate footprints: every connected set of blocks within a population cap, enumerated once each (ESU)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


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

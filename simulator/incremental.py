"""Incremental scoring for optimisers: the score of a configuration updated in place by single-block moves."""

from __future__ import annotations

from collections import deque

import numpy as np

from simulator.metrics.evaluate import MetricParameters
from simulator.metrics.score import TERM_NAMES, scorer


class MoveEvaluator:
    """Keeps each footprint's score contributions so that a single-block move re-prices two footprints only.

    The score equals ``simulator.metrics.evaluate(model, configuration, params).score`` (to rounding) for
    the configuration the evaluator holds, because the score is a sum over footprints
    (``simulator.metrics.score.FootprintScorer``). Footprint slots are fixed at construction; a footprint
    emptied by moves stays as an empty slot and counts for nothing.

    Parameters
    ----------
    model, config, params
        The model, the starting configuration and the measurement parameters.

    Attributes
    ----------
    assignment
        Current footprint slot of each block (changed in place by ``apply``).
    score, terms
        Current weighted score and normalised terms.
    """

    def __init__(self, model, config, params: MetricParameters | None = None):
        self.model = model
        self.params = params or MetricParameters()
        self.scorer = scorer(model, self.params)
        self.names = list(config.names)
        self.assignment = config.assignment.astype(np.int64).copy()
        self.K = len(self.names)
        n = model.n_blocks
        self.indicator = np.zeros((self.K, n))
        self.indicator[self.assignment, np.arange(n)] = 1.0
        self.size = np.bincount(self.assignment, minlength=self.K)
        self.rows = self.scorer.contributions(self.indicator)
        self._neighbours = model.neighbours
        self._rescore()

    def _rescore(self) -> None:
        totals = self.scorer.offsets + self.rows.sum(axis=0)
        self.terms = dict(zip(TERM_NAMES, totals.tolist()))
        self.score = float(totals @ self.scorer.weights)

    def apply(self, block: int, to: int) -> float:
        """Move ``block`` to footprint slot ``to`` and return the new score."""
        f = int(self.assignment[block])
        g = int(to)
        if f == g:
            return self.score
        self.assignment[block] = g
        self.indicator[f, block] = 0.0
        self.indicator[g, block] = 1.0
        self.size[f] -= 1
        self.size[g] += 1
        self.rows[[f, g]] = self.scorer.contributions(self.indicator[[f, g]])
        self._rescore()
        return self.score

    def apply_unit(self, blocks: np.ndarray, to: int) -> float:
        """Move ``blocks``, all in one footprint slot, to slot ``to`` together and return the new score.

        The same as moving them one at a time with :meth:`apply` (the two footprints are re-priced from the blocks
        they end with), at the cost of one move: a group that must stay whole moves as one.
        """
        blocks = np.asarray(blocks, dtype=np.int64)
        f = int(self.assignment[blocks[0]])
        g = int(to)
        if (self.assignment[blocks] != f).any():
            raise ValueError("apply_unit moves blocks of one footprint slot only")
        if f == g:
            return self.score
        self.assignment[blocks] = g
        self.indicator[f, blocks] = 0.0
        self.indicator[g, blocks] = 1.0
        self.size[f] -= len(blocks)
        self.size[g] += len(blocks)
        self.rows[[f, g]] = self.scorer.contributions(self.indicator[[f, g]])
        self._rescore()
        return self.score

    def delta(self, block: int, to: int) -> float:
        """Score change if ``block`` moved to ``to`` (the evaluator is left unchanged)."""
        f = int(self.assignment[block])
        g = int(to)
        if f == g:
            return 0.0
        trial = self.indicator[[f, g]].copy()
        trial[0, block] = 0.0
        trial[1, block] = 1.0
        new = self.scorer.contributions(trial)
        return float(((new - self.rows[[f, g]]).sum(axis=0)) @ self.scorer.weights)

    def keeps_contiguity(self, block: int, to: int) -> bool:
        """True if the move leaves both footprints in one piece (``to`` must border ``block``)."""
        f = self.assignment[block]
        nb = self._neighbours[block]
        if not (self.assignment[nb] == to).any():
            return False
        same = [j for j in nb if self.assignment[j] == f]
        if not same:
            return self.size[f] == 1  # an isolated block leaving empties its footprint
        # Every same-footprint neighbour must still reach the others without passing through the block.
        target = set(same)
        seen = {same[0], block}
        queue = deque([same[0]])
        found = 1
        while queue and found < len(target):
            u = queue.popleft()
            for v in self._neighbours[u]:
                if v not in seen and self.assignment[v] == f:
                    seen.add(v)
                    if v in target:
                        found += 1
                    queue.append(v)
        return found == len(target)

    def candidate_moves(self, block: int) -> list[int]:
        """Footprint slots that ``block`` could move to without breaking contiguity."""
        f = self.assignment[block]
        out = sorted({int(self.assignment[j]) for j in self._neighbours[block]} - {int(f)})
        return [g for g in out if self.keeps_contiguity(block, g)]

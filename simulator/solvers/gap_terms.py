"""Where a bound's gap lies: what each score term costs in an answer against the least the bound allows it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.metrics.score import TERM_NAMES, scorer
from simulator.solvers.band_bound import JOINT_PART, JOINT_TERMS
from simulator.solvers.base import Problem
from simulator.solvers.term_bound import FIXED_PART


@dataclass(frozen=True)
class TermGap:
    """One term (or group of terms bounded together) of the score: the answer's cost and the bound's least.

    Attributes
    ----------
    term
        The term as planners read it ("flow leakage"), or the group bounded together.
    answer
        What the term costs in the answer, in score points (weight times term, as the score adds them).
    least
        The least it can cost in any configuration the rules allow, as the bound counts it.
    """

    term: str
    answer: float
    least: float

    @property
    def gap(self) -> float:
        """How much of the answer's gap this term may hold (the answer's cost less the least)."""
        return self.answer - self.least


def gap_by_term(problem: Problem, assignment: np.ndarray, parts: dict[str, float]) -> list[TermGap]:
    """Split an answer's objective and a term-wise bound (with the band or not) into the terms they are made of.

    The rows add up to the answer's objective and to the bound; each row's ``least`` is never above its
    ``answer``, so the rows with the largest ``gap`` say which terms the bound cannot vouch for.

    Parameters
    ----------
    problem
        The problem the answer and the bound belong to.
    assignment
        The answer: each block's footprint.
    parts
        The bound's ``parts`` (``simulator.solvers.term_bound.TermBound.parts``).

    Returns
    -------
    list of TermGap
        Largest gap first; terms that cost nothing in the answer and in the bound are left out.
    """
    sc = scorer(problem.model, problem.params)
    assignment = np.asarray(assignment)
    labels = np.unique(assignment)
    C = (assignment[None, :] == labels[:, None]).astype(float)
    weighted = sc.contributions(C) * sc.weights
    locked = (C.astype(bool) & ~problem.free_blocks[None, :]).any(axis=1)  # locked ICBs' footprints, as today
    # Each term over the whole map, as the score counts it; the locked footprints cost the same on both sides.
    offsets = sc.weights * sc.offsets
    answer = weighted.sum(axis=0) + offsets
    as_locked = weighted[locked].sum(axis=0)
    least = np.array([parts.get(t, 0.0) for t in TERM_NAMES]) + offsets + as_locked
    rows: list[TermGap] = []
    joint = JOINT_PART in parts
    if joint:
        held = [TERM_NAMES.index(t) for t in JOINT_TERMS]
        rows.append(TermGap(JOINT_PART, float(answer[held].sum()),
                            float(parts[JOINT_PART] + (offsets + as_locked)[held].sum())))
    rows += [TermGap(t.replace("_", " "), float(answer[i]), float(least[i])) for i, t in enumerate(TERM_NAMES)
             if not (joint and t in JOINT_TERMS)]
    # Soft-limit penalties: the answer's, against the locked footprints' (in the bound's fixed part).
    fixed = parts.get(FIXED_PART, sc.constant) - sc.constant - float(as_locked.sum())
    penalties = problem.objective(assignment) - sum(r.answer for r in rows)
    if penalties > 1e-9 or fixed > 1e-9:
        rows.append(TermGap("soft-limit penalties", float(penalties), float(fixed)))
    rows = [r for r in rows if abs(r.answer) > 1e-12 or abs(r.least) > 1e-12]
    return sorted(rows, key=lambda r: -r.gap)

"""Helpers shared by the metric families: footprint sums and weighted spreads."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def footprint_sum(assignment: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Sum of block ``values`` per footprint."""
    return np.bincount(assignment, weights=values, minlength=k)


def one_hot(assignment: np.ndarray, k: int) -> sp.csr_matrix:
    """Footprint x block indicator matrix."""
    n = len(assignment)
    return sp.csr_matrix((np.ones(n), (assignment, np.arange(n))), shape=(k, n))


def safe_div(a, b):
    """a / b with 0 where b is 0."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def within_sum_of_squares(x: np.ndarray, w: np.ndarray, assignment: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted within-footprint sum of squares of ``x`` and the footprint weights.

    ``SS_f = sum_i w_i (x_i - mean_f)^2``; the weighted standard deviation is ``sqrt(SS_f / W_f)``.
    """
    W = footprint_sum(assignment, w, k)
    S1 = footprint_sum(assignment, w * x, k)
    S2 = footprint_sum(assignment, w * x * x, k)
    ss = np.maximum(S2 - safe_div(S1 * S1, W), 0.0)
    return ss, W

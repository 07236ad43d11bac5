"""Unit tests of the set-partitioning master (no real data): subset-row cut separation and bound validity."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from simulator.solvers.master import (_cut_membership, _CutMembership, cut_strengthened_bound,
                                      violated_subset_rows)


def _matrix(sets: list[set[int]], n: int) -> sp.csr_matrix:
    rows = [i for i, s in enumerate(sets) for _ in s]
    cols = [j for s in sets for j in sorted(s)]
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(sets), n))


def _best_partition(sets: list[set[int]], costs: np.ndarray, n: int) -> float:
    """Cheapest exact cover by brute force: branch on the lowest uncovered block."""
    def go(covered: frozenset) -> float:
        if len(covered) == n:
            return 0.0
        b = min(set(range(n)) - covered)
        return min((costs[j] + go(covered | s) for j, s in enumerate(sets) if b in s and not (s & covered)),
                   default=np.inf)
    return go(frozenset())


def test_odd_cycle_of_pairs_is_cut():
    # Three pairs over three blocks at 1/2 each: every block covered once, yet no partition uses them.
    C = _matrix([{0, 1}, {1, 2}, {0, 2}], 3)
    assert violated_subset_rows(C, np.full(3, 0.5), set()) == [(0, 1, 2)]
    assert violated_subset_rows(C, np.full(3, 0.5), {(0, 1, 2)}) == []  # known cuts are not repeated


def test_integral_partition_breaks_no_cut():
    C = _matrix([{0, 1}, {2, 3, 4}, {5}], 6)
    assert violated_subset_rows(C, np.ones(3), set()) == []


def _violated_by_definition(sets: list[set[int]], x: np.ndarray, n: int) -> set:
    """Every triple a < b < c whose candidates holding two or more of them sum above 1 (with the margin)."""
    return {(a, b, c) for a in range(n) for b in range(a + 1, n) for c in range(b + 1, n)
            if sum(v for s, v in zip(sets, x) if len(s & {a, b, c}) >= 2) > 1.0 + 1e-3}


@pytest.mark.parametrize("seed", range(4))
def test_separation_finds_every_violated_triple(seed):
    # Values scaled so that no block is covered more than once, as in an LP solution (separation then starts only
    # from blocks split between candidates), and values that cover some block more than once (it starts from all).
    rng = np.random.default_rng(seed)
    n = 9  # blocks 6, 7 and 8 are held by one candidate each
    sets = [set(rng.choice(6, size=rng.integers(2, 4), replace=False).tolist()) for _ in range(10)] + [{6, 7}, {0, 8}]
    C = _matrix(sets, n)
    x = rng.uniform(0.2, 1.0, len(sets))
    for values in (x / (x @ C.toarray()).max(), 1.2 * x / (x @ C.toarray()).max()):
        found = violated_subset_rows(C, values, set(), limit=10_000)
        assert found and set(found) == _violated_by_definition(sets, values, n)
    # A candidate over-covering its blocks breaks the cut of every triple holding two of them.
    assert set(violated_subset_rows(_matrix([{0, 1}], 3), np.array([1.2]), set())) == {(0, 1, 2)}


def test_cut_membership_is_the_candidates_holding_two_of_three_blocks():
    rng = np.random.default_rng(3)
    n = 9
    sets = [set(rng.choice(n, size=rng.integers(1, 5), replace=False).tolist()) for _ in range(40)]
    C = _matrix(sets, n)
    C.data[::7] = 0.0  # stored zeros: a candidate does not hold those blocks
    held = [{j for j, v in zip(C.indices[C.indptr[i]:C.indptr[i + 1]], C.data[C.indptr[i]:C.indptr[i + 1]]) if v}
            for i in range(len(sets))]
    triples = [tuple(sorted(rng.choice(n, size=3, replace=False).tolist())) for _ in range(15)]
    G = _cut_membership(C.tocsc(), triples)
    assert G.toarray().tolist() == [[float(len(h & set(t)) >= 2) for t in triples] for h in held]
    # The reduced costs charge the cuts' duals as the matrix product does, to the last bit (zero duals skipped).
    y = -rng.uniform(0.0, 1.0, len(triples)) * (rng.uniform(size=len(triples)) < 0.6)
    assert np.array_equal(_CutMembership(C.tocsc(), triples).charge(y), G @ y)


def test_cuts_close_the_odd_cycle_gap():
    # Pairs are cheap, singles dear: the plain LP takes half of each pair (cost 1.5); the best partition is a
    # pair plus a single (cost 1 + 3 = 4). One subset-row cut closes the gap.
    sets = [{0, 1}, {1, 2}, {0, 2}, {0}, {1}, {2}]
    costs = np.array([1.0, 1.0, 1.0, 3.0, 3.0, 3.0])
    mb = cut_strengthened_bound(_matrix(sets, 3), costs)
    assert mb.plain_lp == pytest.approx(1.5)
    assert mb.bound == pytest.approx(_best_partition(sets, costs, 3)) == pytest.approx(4.0)
    assert mb.stats["subset_row_cuts"] == 1
    # Reduced-cost fixing is valid: any partition containing j costs at least bound + reduced cost.
    for j, s in enumerate(sets):
        rest = [i for i in range(len(sets)) if not (sets[i] & s)]
        others = [sets[i] for i in rest]
        left = sorted(set(range(3)) - s)
        if not left:
            best_with_j = costs[j]
        else:
            sub = [{left.index(b) for b in o} for o in others if o <= set(left)]
            sub_costs = np.array([costs[i] for i, o in zip(rest, others) if o <= set(left)])
            best_with_j = costs[j] + _best_partition(sub, sub_costs, len(left))
        assert mb.bound + mb.reduced_costs[j] <= best_with_j + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_bound_never_exceeds_the_optimum_on_random_instances(seed):
    rng = np.random.default_rng(seed)
    n = 7
    sets = [{i} for i in range(n)]
    while len(sets) < 30:
        s = set(rng.choice(n, size=rng.integers(2, 4), replace=False).tolist())
        if s not in sets:
            sets.append(s)
    costs = rng.uniform(0.5, 2.0, len(sets)) * np.array([len(s) ** 0.7 for s in sets])
    best = _best_partition(sets, costs, n)
    mb = cut_strengthened_bound(_matrix(sets, n), costs)
    assert mb.plain_lp <= mb.bound + 1e-12 <= best + 1e-9
    # Cut short before any column generation round finishes: still a valid (weaker) bound.
    early = cut_strengthened_bound(_matrix(sets, n), costs, time_limit=0.0)
    assert early.bound <= best + 1e-9


def test_global_row_on_the_number_of_footprints():
    sets = [{0}, {1}, {2}, {3}, {0, 1}, {2, 3}]
    costs = np.array([1.0, 1.0, 1.0, 1.0, 1.5, 1.5])
    ones = np.ones(len(sets))
    free = cut_strengthened_bound(_matrix(sets, 4), costs)
    assert free.bound == pytest.approx(3.0)  # two pairs
    four = cut_strengthened_bound(_matrix(sets, 4), costs, global_rows=[(ones, 4, 4)])
    assert four.bound == pytest.approx(4.0)  # four singles
    none = cut_strengthened_bound(_matrix(sets, 4), costs, global_rows=[(ones, 1, 1)])
    assert not none.feasible


def test_pricing_outside_the_pool_agrees_with_the_reduced_costs():
    rng = np.random.default_rng(7)
    n = 6
    sets = [{i} for i in range(n)] + [set(rng.choice(n, size=3, replace=False).tolist()) for _ in range(15)]
    costs = rng.uniform(0.5, 3.0, len(sets))
    C = _matrix(sets, n)
    ones = np.ones(len(sets))
    mb = cut_strengthened_bound(C, costs, global_rows=[(ones, 2, 4)])
    assert mb.triples  # the duals of cuts take part in the pricing
    priced = mb.price(C, costs, global_rows=[(ones, 2, 4)])
    assert np.allclose(np.maximum(priced, 0.0), mb.reduced_costs)

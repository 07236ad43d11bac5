"""Groups kept whole, contracted to one node before candidate footprints are enumerated: the same candidates and
the same optimum as block by block, in fewer steps.

The synthetic model (``tests.synthetic``, two rows S1 S2 S3 / S4 S5 S6) is solved with random groups, must-not-merge
pairs, ceilings and footprint counts, contracted and not, and against brute force; the real data at sub-ICB level
in one region, where councils kept whole chain sub-ICB locations together.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.scenario import parse_scenario
from simulator.solvers import ExactSolver, Problem
from simulator.solvers.enumerate import candidate_graph, contract, expanded_sets
from tests.synthetic import CODES, feasible_partitions, synthetic_model


@pytest.fixture(scope="module")
def model():
    return synthetic_model()


def _problem(model, constraints: str, band: str = "band = [500_000, 1_500_000]\n") -> Problem:
    return Problem.from_scenario(parse_scenario(f'level = "sicbl"\n{band}[constraints]\n{constraints}\n', "t"), model)


def _best(problem: Problem) -> float | None:
    """The least objective over every partition keeping the hard rules (brute force), or None."""
    return min((o for o, _ in feasible_partitions(problem)), default=None)


def test_a_group_in_pieces_yields_only_connected_footprints():
    """Path 0-1-2-3 with group {0, 2}: the node {0, 2} with 3 alone is in pieces, and is never yielded."""
    nb = [np.array([1]), np.array([0, 2]), np.array([1, 3]), np.array([2])]
    c = contract(nb, np.array([0, 1, 0, 3]))
    assert c.n_nodes == 3 and [b.tolist() for b in c.members] == [[0, 2], [1], [3]]
    assert c.split.tolist() == [True, False, False]
    assert [x.tolist() for x in c.neighbours] == [[1, 2], [0], [0]]
    connected = [0b001, 0b010, 0b100, 0b011, 0b101, 0b111]  # every connected set of nodes
    got = sorted(expanded_sets(c, iter(connected), nb))
    # {1}, {3}, {0, 1, 2} and all four; {0, 2} and {0, 2, 3} are in pieces (block 0 reaches the rest through 1)
    assert got == [0b0010, 0b0111, 0b1000, 0b1111]


def test_contracted_candidates_are_the_block_by_block_ones_that_keep_groups_whole(model):
    problem = _problem(model, 'must_merge = [["S1", "S3"], ["S5", "S6"]]')
    both = []
    for flag in (True, False):
        s = ExactSolver(problem, contract_groups=flag)
        C, _ = s.candidates()
        both.append({tuple(row.indices.tolist()) for row in C})
    assert both[0] == both[1]
    graph = candidate_graph(problem)
    assert graph.contraction.n_nodes == 4 and graph.contraction.split.sum() == 1  # {S1, S3} joins through S2


@pytest.mark.parametrize("seed", range(8))
def test_contraction_gives_the_same_optimum_as_enumerating_block_by_block(model, seed):
    """Random groups (adjacent or not), must-not-merge pairs, ceilings (hard or soft) and footprint counts."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(6, size=(int(rng.integers(1, 4)), 2), replace=True)
    merge = [[CODES[a], CODES[b]] for a, b in pairs if a != b]
    rules = [f"must_merge = {merge}".replace("'", '"')] if merge else []
    if rng.random() < 0.4:
        a, b = rng.choice(6, size=2, replace=False)
        rules.append(f'must_not_merge = [["{CODES[a]}", "{CODES[b]}"]]')
    ceiling = int(rng.choice([1_000_000, 1_500_000, 2_000_000]))
    rules.append(f"population_ceiling = {{ value = {ceiling}, hard = {str(rng.random() < 0.5).lower()} }}")
    if rng.random() < 0.5:
        lo = int(rng.integers(1, 4))
        rules.append(f"n_footprints = [{lo}, {lo + int(rng.integers(0, 2))}]")
    problem = _problem(model, "\n".join(rules), band=f"band = [500_000, {ceiling}]\n")
    results = [ExactSolver(problem, contract_groups=flag).solve() for flag in (True, False)]
    assert results[0].status == results[1].status
    best = _best(problem)
    if best is None:
        assert results[0].status == "infeasible"
        return
    for r in results:
        assert r.status == "optimal" and r.objective == pytest.approx(best, abs=1e-9)
        assert problem.violations(r.configuration) == []


@pytest.mark.integration
def test_contraction_matches_block_by_block_on_a_sub_icb_region(sicbl_model):
    """The North East and Yorkshire at sub-ICB level with councils kept whole (those straddling sub-ICB locations
    chain them together) and a soft ceiling: fewer nodes, fewer steps, the same optimum."""
    text = ('level = "sicbl"\nbaseline = "2024"\n[constraints]\nkeep_whole = ["lad"]\nonly_regions = ["Y63"]\n'
            "population_ceiling = { value = 2_500_000, hard = false, penalty_per_person = 0 }\n")
    problem = Problem.from_scenario(parse_scenario(text, "t"), sicbl_model)
    with_groups = ExactSolver(problem).solve()
    blockwise = ExactSolver(problem, contract_groups=False).solve()
    assert with_groups.status == blockwise.status == "optimal"
    assert with_groups.objective == pytest.approx(blockwise.objective, abs=1e-9)
    free = problem.free_blocks.sum()
    assert with_groups.stats["enumeration_nodes"] < free

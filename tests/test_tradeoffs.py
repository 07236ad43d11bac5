"""Trade-offs on real data: top-k, Pareto fronts and weight sensitivity, checked against brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.cli import main
from simulator.errors import ScenarioError
from simulator.metrics.score import scorer
from simulator.scenario import parse_scenario
from simulator.solvers import ExactSolver, Problem
from simulator.solvers.tradeoffs import pareto, sensitivity, top_k
from tests.legacy import legacy, legacy_scenario
from tests.synthetic import set_partitions

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SOUTH_WEST = """
name = "South West at ICB level"
level = "icb"
band = [1_500_000, 2_500_000]
[constraints]
within_region = true
only_regions = ["Y58"]
"""


def _brute_force(problem):
    """Every feasible configuration of the South West (the rest as today): (objective, terms, assignment)."""
    m = problem.model
    base = m.baseline_assignment()[0]
    sw = [i for i in range(m.n_blocks) if m.blocks.region_ods[i] == "Y58"]
    pop = problem.population
    sc = scorer(m, problem.params)
    out = []
    for part in set_partitions(sw):
        ok = True
        for p in part:
            if len(p) > 1 and pop[p].sum() > 2.5e6:
                ok = False
                break
            inside, seen, stack = set(p), {p[0]}, [p[0]]
            while stack:
                u = stack.pop()
                for v in m.neighbours[u]:
                    if v in inside and v not in seen:
                        seen.add(v)
                        stack.append(v)
            if len(seen) != len(p):
                ok = False
                break
        if not ok:
            continue
        a = base.copy()
        nxt = base.max() + 1
        for p in part:
            a[p] = nxt
            nxt += 1
        _, a = np.unique(a, return_inverse=True)
        out.append((problem.objective(a), sc.terms(a, a.max() + 1), a))
    return out


@pytest.fixture(scope="module")
def sw_problem(icb_model):
    return Problem.from_scenario(parse_scenario(legacy(SOUTH_WEST), "sw"), icb_model)


def _key(a):
    """Partition of blocks, independent of footprint numbering."""
    return frozenset(frozenset(np.flatnonzero(a == f).tolist()) for f in np.unique(a))


def test_top_k_matches_brute_force(sw_problem):
    brute = sorted(_brute_force(sw_problem), key=lambda r: r[0])
    best = top_k(sw_problem, 4)
    assert [round(o, 9) for o, _ in best] == [round(r[0], 9) for r in brute[:4]]
    assert len({_key(c.assignment) for _, c in best}) == 4
    assert best[0][0] == pytest.approx(ExactSolver(sw_problem).solve().objective)


def test_pareto_front_is_the_brute_force_front(sw_problem):
    x_t, y_t = "population_band", "at_stake_need_adjusted"
    brute = _brute_force(sw_problem)
    pts = [(r[1][x_t], r[1][y_t]) for r in brute]
    nondominated = sorted({p for p in pts if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in pts)})
    front = pareto(sw_problem, x_t, y_t, points=12)
    got = [(p.x, p.y) for p in front]
    # With enough points the walk returns the whole front, in order.
    assert len(got) == len(nondominated)
    for (x, y), (a, b) in zip(got, nondominated):
        assert x == pytest.approx(a, abs=1e-9) and y == pytest.approx(b, abs=1e-9)
    # With fewer points, every point is still on the front and both ends are there.
    short = [(p.x, p.y) for p in pareto(sw_problem, x_t, y_t, points=3)]
    assert len(short) == 3 and short[0] == pytest.approx(nondominated[0]) and short[-1] == pytest.approx(nondominated[-1])
    for x, y in short:
        assert any(abs(x - a) < 1e-9 and abs(y - b) < 1e-9 for a, b in nondominated)


def test_pareto_rejects_bad_terms(sw_problem):
    with pytest.raises(ScenarioError, match="unknown term"):
        pareto(sw_problem, "population_band", "nonsense")
    with pytest.raises(ScenarioError, match="two different"):
        pareto(sw_problem, "population_band", "population_band")


def test_sensitivity_is_deterministic_and_consistent(icb_model):
    problem = Problem.from_scenario(legacy_scenario(SCENARIOS / "national_default.toml"), icb_model)
    a = sensitivity(problem, runs=6, seed=3)
    b = sensitivity(problem, runs=6, seed=3)
    assert np.array_equal(a.together, b.together) and a.robust_pairs == b.robust_pairs
    assert np.allclose(a.together, a.together.T) and np.allclose(np.diag(a.together), 1.0)
    # No perturbation: every run is the optimum, so robust pairs are exactly its cross-ICB merges.
    still = sensitivity(problem, runs=3, spread=0.0)
    opt = ExactSolver(problem).solve().configuration.assignment
    expected = {(x, y) for x, y in zip(icb_model.edges.a, icb_model.edges.b) if opt[x] == opt[y]}
    codes = list(icb_model.blocks.code)
    assert {(codes.index(p), codes.index(q)) for p, q, _ in still.robust_pairs} == expected
    assert set(np.unique(still.together)) <= {0.0, 1.0}


def test_cli_tradeoffs(tmp_path, capsys):
    out = tmp_path / "t"
    code = main(["tradeoffs", str(SCENARIOS / "national_default.toml"), "--out", str(out), "--top-k", "2",
                 "--pareto", "flow_leakage", "at_stake", "--points", "4", "--sensitivity", "3"])
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {"top_k.csv", "top_k_1.csv", "top_k_2.csv", "pareto.csv", "pareto.png", "robust_pairs.csv",
            "coassignment.csv", "sensitivity.json"} <= names
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "top configurations" in capsys.readouterr().out
    code = main(["tradeoffs", str(SCENARIOS / "national_default.toml"), "--out", str(tmp_path / "u")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("icbsim: error:") and not (tmp_path / "u").exists()

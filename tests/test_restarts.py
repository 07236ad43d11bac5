"""Restarted local search at place level, on the real data: ``auto`` keeps the best of several seeded runs where
no proof will follow, runs once where one will, and the result depends only on the seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.scenario import parse_scenario
from simulator.solvers import Problem
from simulator.solvers import run as run_module
from simulator.solvers.run import default_restarts, optimise, restart_seeds
from tests.legacy import legacy, legacy_scenario

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _place(name: str):
    text = (SCENARIOS / name).read_text()
    for level in ("icb", "sicbl"):
        text = text.replace(f'level = "{level}"', 'level = "place"')
    return parse_scenario(legacy(text), name)


def test_restart_seeds_start_from_the_seed_and_differ():
    assert restart_seeds(7, 1) == [7]
    seeds = restart_seeds(7, 4)
    assert seeds[0] == 7 and len(set(seeds)) == 4
    assert restart_seeds(7, 4) == seeds  # drawn from the seed, not from the clock
    assert not set(restart_seeds(8, 4)[1:]) & set(seeds[1:])  # neighbouring seeds share no restart


@pytest.mark.parametrize("name, expected", [("region_east_of_england.toml", 4), ("region_midlands.toml", 4),
                                            ("national_default.toml", 1)])
def test_default_restarts_count_free_places(name, expected, place_model):
    problem = Problem.from_scenario(_place(name), place_model)
    assert default_restarts(problem) == expected


def test_default_restarts_is_one_above_place_level(sicbl_model):
    text = (SCENARIOS / "region_east_of_england.toml").read_text()
    problem = Problem.from_scenario(parse_scenario(legacy(text), "eoe"), sicbl_model)
    assert default_restarts(problem) == 1


@pytest.fixture(scope="module")
def south_west_runs(place_model):
    """The South West at place level through the local search alone (``solver="local_search"``: no exact solver,
    polish or proof): one run, and three restarts twice. The restarts are ``auto``'s own (the same code); without
    the polish their seeds end in different local optima (3.0781-3.1531), so the best of them is not a tie. (Under
    ``auto`` every seed's answer is polished to the proven optimum, 2.7173, and the polish is 90% of each run.)"""
    scenario = _place("region_south_west.toml")
    once = optimise(scenario, place_model, solver="local_search", seed=3, iterations=1_500, restarts=1)
    thrice = [optimise(scenario, place_model, solver="local_search", seed=3, iterations=1_500, restarts=3)
              for _ in range(2)]
    return once, thrice


def test_restarts_keep_the_best_run_and_record_every_one(south_west_runs):
    once, (best, _) = south_west_runs
    runs = best.stats_["restarts"]
    assert [r["seed"] for r in runs] == restart_seeds(3, 3)
    # The first restart is the single run; the answer is the best of the three, and says which seed found it.
    assert runs[0]["objective"] == pytest.approx(once.objective_, abs=1e-12)
    assert len({r["objective"] for r in runs}) > 1  # else keeping the best could not be told from keeping the first
    assert best.objective_ == pytest.approx(min(r["objective"] for r in runs), abs=1e-12)
    first_best = next(r for r in runs if r["objective"] <= best.objective_ + 1e-12)  # ties go to the earlier seed
    assert best.stats_["best_seed"] == first_best["seed"]
    assert best.seed == 3 and best.problem.objective(best.configuration_.assignment) == pytest.approx(
        best.objective_, abs=1e-9)
    assert not best.problem.violations(best.configuration_)
    assert "restarts" not in once.stats_


def test_restarts_are_deterministic_for_a_seed(south_west_runs):
    _, (a, b) = south_west_runs
    assert a.objective_ == b.objective_
    assert np.array_equal(a.configuration_.assignment, b.configuration_.assignment)
    assert [r["objective"] for r in a.stats_["restarts"]] == [r["objective"] for r in b.stats_["restarts"]]


def test_auto_restarts_only_where_no_proof_follows(place_model, monkeypatch):
    """``auto`` counts the candidates first: under the proof's limit the proof finds the best answer anyway, so
    the local search runs once and the proof reuses the count; above it, the local search restarts."""
    scenario = _place("region_south_west.toml")
    monkeypatch.setattr(run_module, "PLACE_EXACT_LIMIT", 1)
    seen = []
    monkeypatch.setattr(run_module, "_prove", lambda problem, s, left, progress, counted=None: seen.append(counted))
    monkeypatch.setattr(run_module, "_count", lambda problem, cap=None: ("scan", 10, 0.0))
    s = optimise(scenario, place_model, seed=0, iterations=300)
    assert "restarts" not in s.stats_ and seen == [("scan", 10, 0.0)]
    monkeypatch.setattr(run_module, "_count", lambda problem, cap=None: ("scan", run_module.PLACE_PROOF_LIMIT + 1, 0.0))
    s = optimise(scenario, place_model, seed=0, iterations=300)
    assert len(s.stats_["restarts"]) == 4 and seen[-1][1] == run_module.PLACE_PROOF_LIMIT + 1


def test_bad_restarts_are_refused(place_model):
    from simulator.errors import ScenarioError

    with pytest.raises(ScenarioError, match="restarts must be 1 or more"):
        optimise(_place("region_south_west.toml"), place_model, restarts=0)


def test_a_time_limit_is_shared_between_restarts(place_model, monkeypatch):
    """Each local search gets an even share of what is left of the time limit, so restarts never stretch it."""
    scenario = _place("region_south_west.toml")
    monkeypatch.setattr(run_module, "PLACE_EXACT_LIMIT", 1)
    given = []
    real = run_module.LocalSearchSolver

    class Recording(real):
        def __init__(self, *args, **kwargs):
            given.append(kwargs["time_limit"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(run_module, "LocalSearchSolver", Recording)
    s = optimise(scenario, place_model, seed=0, iterations=300, restarts=3, time_limit=60.0)
    runs = s.stats_["restarts"]
    assert len(given) == 3 and len(runs) == 3 and all(g > 0 for g in given)
    # Run r may use an even share of what the runs before it left (time they did not use carries over).
    for r, budget in enumerate(given):
        spent = sum(run["seconds"] for run in runs[:r])
        assert budget <= (60.0 - spent) / (3 - r) + 0.01, (r, budget, spent)
    assert sum(run["seconds"] for run in runs) <= 60.0

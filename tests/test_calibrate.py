"""Calibration (inverse optimisation) on the synthetic model: recovery, contradiction, ranges, errors, files."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from simulator.calibrate import (Oracle, _learnable, agreement, calibrate, calibration_files, decided_map,
                                 leave_one_out, scenario_text, select_pull)
from simulator.configuration import Configuration
from simulator.errors import ConfigurationError, ScenarioError
from simulator.metrics.score import TERM_NAMES
from simulator.scenario import parse_scenario
from simulator.solvers.run import optimise
from tests.synthetic import synthetic_model

ZERO = {t: 0.0 for t in TERM_NAMES}


def _text(weights: dict[str, float] | None = None, n: int = 2, extra: str = "") -> str:
    lines = "\n".join(f"{t} = {v!r}" for t, v in (weights or {}).items())
    return (f'name = "synthetic"\nlevel = "sicbl"\nbaseline = "2026"\nband = [500000, 3000000]\n'
            f"[weights]\n{lines}\n[constraints]\ncontiguity = true\nn_footprints = {n}\n{extra}")


def _scenario(weights: dict[str, float] | None = None, n: int = 2, extra: str = ""):
    return parse_scenario(_text(weights, n, extra), "synthetic")


@pytest.fixture(scope="module")
def model():
    return synthetic_model()


def _best_under(model, weights, n=2):
    """An independent exact solve (not the calibration's oracle) under ``weights``."""
    s = optimise(_scenario(weights, n), model, solver="exact")
    assert s.status_ == "optimal"
    return s


def _regret(case, weights, model) -> float:
    """How much more the decided map scores than the proven optimum under ``weights``, computed afresh."""
    problem = replace(case.problem, params=replace(case.problem.params, weights=dict(weights)))
    return problem.objective(case.decided.assignment) - _best_under(model, weights).objective_


def test_recovers_prices_that_make_a_hidden_optimum_optimal(model):
    hidden = {**ZERO, "allocation_spread": 3.0, "flow_leakage": 0.1}
    decided = _best_under(model, hidden).configuration_
    case = decided_map(_scenario(), model, decided, "hidden")
    # Under the default prices the hidden optimum is not optimal: there is something to learn.
    assert _regret(case, case.problem.params.weights, model) > 1e-3
    cal = calibrate([case], pull=0.3)
    assert cal.converged
    assert cal.regrets["hidden"] == pytest.approx(0.0, abs=1e-9)
    assert _regret(case, cal.weights, model) <= 1e-9
    assert cal.agreement["hidden"]["f1"] == 1.0
    assert all(v >= 0 for v in cal.weights.values())


def test_contradictory_decisions_report_their_regret(model):
    flows = _best_under(model, {**ZERO, "flow_leakage": 1.0}).configuration_
    alloc = _best_under(model, {**ZERO, "allocation_spread": 1.0}).configuration_
    assert not flows.same_partition(alloc)
    a = decided_map(_scenario(), model, flows, "flows")
    b = decided_map(_scenario(), model, alloc, "allocation")
    cal = calibrate([a, b], pull=0.3)
    # No price list made both optimal here, and the regret is what an independent solve says, not hidden.
    assert sum(cal.regrets.values()) > 1e-3
    for case in (a, b):
        assert cal.regrets[case.label] == pytest.approx(_regret(case, cal.weights, model), abs=1e-9)


def test_prices_are_normalised_and_ranges_hold_the_learned_price(model):
    hidden = {**ZERO, "allocation_spread": 3.0, "flow_leakage": 0.1}
    case = decided_map(_scenario(), model, _best_under(model, hidden).configuration_, "hidden")
    cal = calibrate([case], pull=0.3)
    learned, _, scale_t = _learnable([case], cal.defaults, None)
    w = np.array([cal.weights[t] for t in learned])
    w0 = np.array([cal.defaults[t] for t in learned])
    # A typical change scores what it scores under the defaults: the prices cannot all be 0.
    assert scale_t @ w == pytest.approx(scale_t @ w0, rel=1e-9)
    for t in learned:
        lo, hi = cal.ranges[t]
        assert lo - 1e-9 <= cal.weights[t] <= hi + 1e-9
    # Terms the decision does not move are held, with the reason.
    assert cal.fixed["population_band"] == "no decided map differs from today's map on it"


def test_deterministic(model):
    hidden = {**ZERO, "mayoral_split": 1.0}
    decided = _best_under(model, hidden).configuration_
    runs = [calibrate([decided_map(_scenario(), model, decided, "d")], pull=0.1).weights for _ in range(2)]
    assert runs[0] == runs[1]


def test_decided_map_errors_name_the_fault(model):
    today = Configuration.baseline(model)
    with pytest.raises(ConfigurationError, match="today's map in the regions the scenario frees"):
        decided_map(_scenario(n=3), model, today, "same")
    three = _best_under(model, {**ZERO, "flow_leakage": 1.0}, n=3).configuration_
    with pytest.raises(ConfigurationError, match="breaks the scenario's hard rule.*3 footprints, not 2"):
        decided_map(_scenario(n=2), model, three, "count")
    # Only region R2 (blocks S3, S6: ICB C) is free; a decided map merging S2 with S3 reaches outside it.
    assignment = np.array([0, 1, 1, 0, 2, 1])
    outside = Configuration(model, assignment, ["a", "b", "c"], allow_noncontiguous=True)
    with pytest.raises(ConfigurationError, match="inside and outside the regions"):
        decided_map(_scenario(n=1, extra='only_regions = ["R2"]\n'), model, outside, "outside")


def test_leave_one_out_and_pull_choice(model):
    decided = {name: _best_under(model, {**ZERO, term: 1.0}).configuration_
               for name, term in (("flows", "flow_leakage"), ("allocation", "allocation_spread"),
                                  ("authority", "mayoral_split"))}
    cases = [decided_map(_scenario(), model, c, name) for name, c in decided.items()]
    oracle = Oracle()
    pull, scores = select_pull(cases, pulls=(0.1, 1.0), oracle=oracle)
    assert pull in (0.1, 1.0) and set(scores) == {0.1, 1.0}
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    held = leave_one_out(cases, pulls=(0.1, 1.0), oracle=oracle)
    assert [h.label for h in held] == list(decided)
    for h, case in zip(held, cases):
        # The figure reported is the agreement of the answer under the prices learned without this map.
        assert h.learned == agreement(case, h.answer)
        assert h.answer.same_partition(oracle.best(case, h.weights)[0])
        assert 0.0 <= h.learned["f1"] <= 1.0 and 0.0 <= h.default["f1"] <= 1.0
    with pytest.raises(ScenarioError, match="at least two"):
        select_pull(cases[:1])


def test_files_and_scenario_round_trip(model):
    hidden = {**ZERO, "allocation_spread": 3.0, "flow_leakage": 0.1}
    case = decided_map(_scenario(), model, _best_under(model, hidden).configuration_, "hidden map")
    cal = calibrate([case], pull=0.3)
    text = scenario_text(_text(), cal, "Calibrated", "learned", drop=["n_footprints"])
    sc = parse_scenario(text, "calibrated")
    assert sc.params.weights == pytest.approx({t: float(f"{cal.weights[t]:.6g}") for t in TERM_NAMES})
    assert "n_footprints" not in sc.constraints and sc.name == "Calibrated"
    files = calibration_files(cal, [case], scenario=text)
    assert set(files) == {"prices.csv", "decided_maps.csv", "answer_hidden_map.csv", "calibrated.toml",
                          "calibration.json"}
    doc = json.loads(files["calibration.json"])
    assert doc["weights"] == pytest.approx(cal.weights) and doc["regrets"]["hidden map"] == pytest.approx(0.0, abs=1e-9)
    assert files["prices.csv"].splitlines()[0] == "term,unit,default,learned,least,most,status"

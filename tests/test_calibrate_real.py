"""Calibration on the decisions of April 2026 (real data): the East of England and South East backtests, each
predicted from prices learned on the other, at a fixed pull. The figures pinned are those reached (a guard against
regressions, not a target); docs/backtest.md reports the three-region figures, London included."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from simulator.calibrate import Oracle, agreement, calibrate, decided_map, predict
from simulator.model import load_model
from simulator.scenario import load_scenario

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("calibrate_real")]

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
PULL = 1.0
# Out-of-sample F1 (place pairs) reached at this pull, beside the default prices' answer.
PINNED = {"east_of_england": 0.603, "south_east": 0.704}
DEFAULT = {"east_of_england": 0.405, "south_east": 0.704}


@pytest.fixture(scope="module")
def cases(data_dir):
    out = {}
    for region in PINNED:
        sc = load_scenario(SCENARIOS / f"backtest_2026_{region}.toml")
        out[region] = decided_map(sc, load_model(sc.level, data_dir, baseline=sc.baseline), "2026", region)
    return out


@pytest.fixture(scope="module")
def oracle():
    return Oracle()


def test_joint_calibration_reports_true_regrets(cases, oracle):
    cal = calibrate(list(cases.values()), pull=PULL, oracle=oracle)
    assert set(cal.learned) >= {"population_band", "flow_leakage"}
    for region, case in cases.items():
        # The regret reported is the decided map's objective minus the proven best under the learned prices.
        problem = replace(case.problem, params=replace(case.problem.params, weights=cal.weights))
        best, proven = oracle.best(case, cal.weights)
        assert proven
        assert cal.regrets[region] == pytest.approx(
            max(0.0, problem.objective(case.decided.assignment) - problem.objective(best.assignment)), abs=1e-7)
        assert cal.agreement[region] == agreement(case, best)
    # Under the defaults the decided maps lose by several points (the band term); learning closes most of it.
    default_regret = {r: c.problem.objective(c.decided.assignment)
                      - c.problem.objective(oracle.best(c, c.problem.params.weights)[0].assignment)
                      for r, c in cases.items()}
    assert sum(cal.regrets.values()) < 0.5 * sum(default_regret.values())


@pytest.mark.parametrize("held", list(PINNED))
def test_each_region_predicted_from_the_other(cases, oracle, held):
    train = [c for r, c in cases.items() if r != held]
    cal = calibrate(train, pull=PULL, oracle=oracle, ranges=False)
    _, learned = predict(cases[held], cal.weights, oracle)
    _, default = predict(cases[held], cases[held].problem.params.weights, oracle)
    assert default["f1"] == pytest.approx(DEFAULT[held], abs=1e-3)
    assert learned["f1"] >= PINNED[held] - 1e-3, f"{held}: F1 {learned['f1']:.3f} fell below {PINNED[held]}"


# Leave-one-region-out over the three regions decided in April 2026, at the pull leave-one-out chose inside each
# fold (docs/backtest.md): the out-of-sample figures reported there, pinned as reached.
LORO = {"east_of_england": (0.3, 0.405), "london": (1.0, 0.233), "south_east": (0.3, 0.327)}


@pytest.fixture(scope="module")
def three(data_dir, cases):
    sc = load_scenario(SCENARIOS / "backtest_2026_london.toml")
    london = decided_map(sc, load_model(sc.level, data_dir, baseline=sc.baseline), "2026", "london")
    return {"east_of_england": cases["east_of_england"], "london": london, "south_east": cases["south_east"]}


@pytest.mark.parametrize("held", list(LORO))
def test_leave_one_region_out_figures(three, oracle, held):
    pull, pinned = LORO[held]
    cal = calibrate([c for r, c in three.items() if r != held], pull=pull, oracle=oracle, ranges=False)
    _, learned = predict(three[held], cal.weights, oracle)
    assert learned["f1"] == pytest.approx(pinned, abs=1e-3), f"{held}: F1 {learned['f1']:.3f}, pinned {pinned}"

"""Every shipped scenario's answer, as recorded (tests/data/recorded_results.json): a refactor of the solvers or the
score must change none of them. Re-record with ``python -m tests.record_results`` only when a change is meant to
change results, and say so in its commit."""

from __future__ import annotations

import json

import pytest

from tests.record_results import RECORD, SCENARIOS, solve

pytestmark = pytest.mark.integration

RECORDED = json.loads(RECORD.read_text(encoding="utf-8"))


def test_every_shipped_scenario_is_recorded():
    assert sorted(RECORDED) == sorted(p.name for p in SCENARIOS.glob("*.toml"))


def test_every_shipped_scenario_solves():
    """A shipped scenario is an example to follow: each has an answer on today's map (an infeasible example
    belongs in tests/data). Recorded answers are checked against a fresh solve below."""
    assert {name: r["status"] for name, r in RECORDED.items() if r["status"] not in ("optimal", "feasible")} == {}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_answer_is_as_recorded(name):
    got, want = solve(name), RECORDED[name]
    assert got["status"] == want["status"]
    assert got["footprints"] == want["footprints"]
    if want["objective"] is not None:
        assert got["objective"] == pytest.approx(want["objective"], abs=1e-5)
    assert got["partition"] == want["partition"]

"""Runner-up margins per NHS region on the synthetic model, checked against the k best configurations."""

from __future__ import annotations

import pytest

from simulator.scenario import parse_scenario
from simulator.solvers.base import Problem
from simulator.solvers.tradeoffs import runner_up_margins, top_k
from tests.synthetic import synthetic_model

TEXT = ('level = "sicbl"\nbaseline = "2026"\nband = [500000, 3000000]\n[constraints]\ncontiguity = true\n'
        'within_region = true\nn_footprints = {n}\n')


def test_margin_is_the_gap_to_the_best_configuration_that_differs_in_the_region():
    m = synthetic_model()
    p = Problem.from_scenario(parse_scenario(TEXT.format(n=3), "syn"), m)
    objective, best, margins = runner_up_margins(p)
    ranked = top_k(p, 12)
    assert objective == pytest.approx(ranked[0][0]) and best.same_partition(ranked[0][1])
    region = m.blocks.region_ods.to_numpy()
    by_region = {r.region: r for r in margins}
    # Region R1 (four blocks, two footprints) has other ways to split; R2 (two blocks, one footprint) does not
    # with three footprints in all, since R1 then needs two.
    assert by_region["R1"].margin > 0
    def within(cfg, r):
        """The configuration's footprints cut to region ``r``'s blocks."""
        idx = [i for i in range(m.n_blocks) if region[i] == r]
        return frozenset(frozenset(i for i in idx if cfg.assignment[i] == f) for f in {cfg.assignment[i] for i in idx})

    differing = [obj for obj, cfg in ranked[1:] if within(cfg, "R1") != within(best, "R1")]
    assert by_region["R1"].margin == pytest.approx(min(differing) - objective)
    assert by_region["R1"].runner_up is not None and not by_region["R1"].runner_up.same_partition(best)


def test_forecast_names_merges_and_margins_per_region():
    from simulator.forecast import forecast
    from simulator.solvers.run import optimise

    m = synthetic_model()
    sc = parse_scenario(TEXT.format(n=2), "syn")
    answer = optimise(sc, m, solver="exact").configuration_
    regions = {r.region: r for r in forecast(sc, m, answer)}
    assert set(regions) == {"R1", "R2"}
    # Two footprints in all under within_region: R1 (ICBs A and B) becomes one, R2 (ICB C) stays as it is.
    assert regions["R1"].merges == [["ICB A", "ICB B"]] and regions["R1"].icbs_today == 2
    assert regions["R2"].merges == [] and regions["R2"].margin is None and regions["R2"].note
    assert regions["R1"].improves == 0.0

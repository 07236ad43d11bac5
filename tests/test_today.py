"""The April 2026 map on the real data: today's 36 ICBs as blocks, the map drawn at every level, and the backtests
of the published design rules against what was decided (the agreement is pinned so that a change lowering it is
seen; the figures are reported as they are, in docs/backtest.md)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from simulator.compare import coassignment
from simulator.configuration import Configuration
from simulator.metrics.councils import councils
from simulator.model import load_model
from simulator.scenario import load_scenario
from simulator.solvers.run import optimise

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
WNL, NWL, NCL = "E54000071", "E54000027", "E54000028"


def _rows(data_dir, rel: str) -> list[dict]:
    with (Path(data_dir) / rel).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------------------------------- today's ICBs
def test_todays_icbs_are_the_36_of_april_2026(data_dir, today_model):
    m = today_model
    gp = {r["icb_code_2026"]: float(r["gp_registered_patients"])
          for r in _rows(data_dir, "finance/icb26_gp_registered_patients_2026_08.csv")}
    assert m.n_blocks == 36 and set(m.blocks.code) == set(gp)
    assert dict(zip(m.blocks.code, m.population("gp_registered"))) == pytest.approx(gp)
    assert not m.estimated["pop_gp_registered"].any()
    assert m.blocks.set_index("code").loc[WNL, "name"] == "West and North London"
    # Every block has a neighbour; West and North London touches North East London.
    assert all(len(nb) > 0 for nb in m.neighbours)
    i, j = m.lookup(WNL), m.lookup("QMF")
    assert j in m.neighbours[i]


def test_todays_icbs_sum_their_2024_parts(today_model, icb_model):
    """A whole merger's figures are its 2024 ICBs' (exact); where a 2024 ICB was split, the sum is flagged."""
    m, old = today_model, icb_model
    for field in ("core_recurrent_gbp_k", "pop_allocation", "pmc_gbp_k"):
        assert m.figure(field).sum() == pytest.approx(old.figure(field).sum(), rel=1e-9)
        parts = old.figure(field)[[old.lookup(NWL), old.lookup(NCL)]].sum()
        assert m.figure(field)[m.lookup(WNL)] == pytest.approx(parts, rel=1e-9)
    est = dict(zip(m.blocks.name, m.estimated["core_recurrent_gbp_k"]))
    assert not est["West and North London"] and not est["Greater Manchester"]
    assert est["Central East"] and est["Thames Valley"]  # parts of Hertfordshire and West Essex, and of Frimley


def test_the_2026_map_at_every_level(data_dir, models, today_model):
    lookup = {(r["sicbl_code"], r["lad_code"]): r["icb_code_2026"]
              for r in _rows(data_dir, "geo/lookup_place_icb26.csv")}
    place = models["place"]
    a, names = place.map_assignment("2026")
    assert len(names) == 36 and place.map_notes("2026") == []  # exact at place level
    codes = place.blocks.icb26_code.to_numpy()
    for (s, l), want in lookup.items():
        assert codes[place.lookup(f"{s}:{l}")] == want
    # At sub-ICB level Frimley's sub-ICB location goes whole to the ICB holding most of its people, and says so.
    notes = models["sicbl"].map_notes("2026")
    assert len(notes) == 1 and "Frimley" in notes[0] and "Thames Valley" in notes[0]
    assert len(models["sicbl"].map_assignment("2026")[1]) == 36
    # The 2024 map cannot be drawn with today's ICBs as blocks.
    with pytest.raises(Exception, match="cannot be drawn"):
        today_model.map_assignment("2024")
    with pytest.raises(Exception, match="cannot be drawn"):
        load_model("icb2026", data_dir, baseline="2024")


def test_the_default_baseline_is_today(place_model_2026):
    assert place_model_2026.baseline == "2026"
    assert Configuration.baseline(place_model_2026).n_footprints == 36


# ------------------------------------------------------------------------------------------- backtests
BACKTESTS = {"east_of_england": ("Y61", 3), "london": ("Y56", 4), "south_east": ("Y59", 4)}
# Region F1 of pairwise co-assignment with the 2026 map (block pairs in different 2024 ICBs), from the run below
# (seed 0, one local search). A change that lowers one is seen here; raise them when a change improves them.
# With upper-tier councils whole (December 2026); with districts whole they were 0.368, 0.232 and 0.522.
PINNED_F1 = {"east_of_england": 0.405, "london": 0.222, "south_east": 0.704}
# Councils in two or three ICBs in 2024, each inside one ICB from April 2026: the rules keep them whole too.
SPLIT_IN_2024 = {"east_of_england": ["Essex", "Hertfordshire", "Suffolk"], "london": [],
                 "south_east": ["Hampshire", "Surrey"]}


def _keys(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+) = (.+)$", text, flags=re.M))


@pytest.mark.parametrize("region", BACKTESTS)
def test_backtest_takes_only_the_number_of_icbs_from_the_outcome(region):
    """The backtest is the published rules as written, from the 2024 map, for one region, with its 2026 count."""
    rules = _keys((SCENARIOS / "published_design_rules.toml").read_text())
    test = _keys((SCENARIOS / f"backtest_2026_{region}.toml").read_text())
    differ = {k for k in set(rules) | set(test) if rules.get(k) != test.get(k)}
    assert differ == {"name", "description", "baseline", "only_regions", "n_footprints"}
    code, n = BACKTESTS[region]
    assert test["baseline"] == '"2024"' and test["only_regions"] == f'["{code}"]' and test["n_footprints"] == str(n)
    assert "[weights]" not in (SCENARIOS / f"backtest_2026_{region}.toml").read_text()  # default weights, no tuning


@pytest.mark.parametrize("region", BACKTESTS)
def test_backtest_agreement_with_the_2026_map(region, place_model):
    code, n = BACKTESTS[region]
    scenario = load_scenario(SCENARIOS / f"backtest_2026_{region}.toml")
    solver = optimise(scenario, place_model, seed=0, restarts=1)
    cfg = solver.configuration_
    assert solver.problem.violations(cfg) == []
    inside = place_model.blocks.region_ods.to_numpy() == code
    assert len(set(cfg.assignment[inside])) == n
    older, _ = place_model.map_assignment("2024")
    official = Configuration(place_model, *place_model.map_assignment("2026"))
    co = coassignment(place_model, cfg, official, older, place_model.population("gp_registered"))
    f1 = float(co.set_index("region_ods").loc[code, "f1"])
    assert f1 >= PINNED_F1[region] - 1e-3, f"{region}: F1 {f1:.3f} fell below {PINNED_F1[region]}"
    table = councils(place_model, cfg)[0].set_index("council_name")
    assert (table.loc[SPLIT_IN_2024[region], "share_in_one_footprint"] >= 0.98).all()
    # Outside the region nothing moved.
    today = Configuration.baseline(place_model)
    assert len(set(zip(cfg.assignment[~inside], today.assignment[~inside]))) == len(set(today.assignment[~inside]))

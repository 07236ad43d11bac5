"""``simulator.compare`` and ``icbsim compare``: worked by hand on the synthetic model, then on the real data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator import Configuration, MetricParameters
from simulator.compare import coassignment, compare, correspondence, differences
from simulator.metrics.score import TERM_NAMES, scorer
from tests.synthetic import POP, synthetic_model

GP = POP * 1.01  # the synthetic model's GP-registered patients, the default population measure

# ICB A = S1, S4; ICB B = S2, S5; ICB C = S3, S6 (region R1 = A, B; R2 = C). Across those ICBs there are 12
# pairs of blocks: 4 inside R1 (S1/S4 with S2/S5), none inside R2 (S3 and S6 share ICB C), 8 across regions.
TODAY = {"S1": "A", "S4": "A", "S2": "B", "S5": "B", "S3": "C", "S6": "C"}
AB = {"S1": "AB", "S4": "AB", "S2": "AB", "S5": "AB", "S3": "C", "S6": "C"}
ALL = {c: "England" for c in TODAY}
S2_TO_A = {"S1": "X", "S4": "X", "S2": "X", "S5": "Y", "S3": "C", "S6": "C"}  # S2 moves from ICB B to ICB A


@pytest.fixture(scope="module")
def model():
    return synthetic_model()


@pytest.fixture(scope="module")
def reference(model):
    return model.map_assignment("2024")[0]


def config(model, mapping) -> Configuration:
    return Configuration.from_mapping(model, mapping)


def row(table: pd.DataFrame, region: str) -> pd.Series:
    return table.set_index("region_ods").loc[region]


# --------------------------------------------------------------------------------------- co-assignment
def test_identical_configurations_agree_perfectly(model, reference):
    c = config(model, AB)
    co = coassignment(model, c, c, reference)
    assert list(co.region_ods) == ["R1", "R2", "overall"]
    o = row(co, "overall")
    assert (o.pairs, o.tp, o.fp, o.fn) == (12, 4, 0, 0)
    assert o.precision == o.recall == o.f1 == 1.0
    assert o.precision_persons == o.recall_persons == o.f1_persons == 1.0
    assert row(co, "R1").f1 == 1.0
    r2 = row(co, "R2")  # no pair of R2 is in two ICBs: nothing to divide by, said rather than divided by 0
    assert r2.pairs == 0 and r2.precision is None and r2.recall is None and r2.f1 is None
    assert "A puts no such pair together" in r2.note and "B puts no such pair together" in r2.note


def test_a_merger_b_does_not_make(model, reference):
    merged, today = config(model, AB), config(model, TODAY)
    o = row(coassignment(model, merged, today, reference), "overall")
    assert (o.tp, o.fp, o.fn) == (0, 4, 0)
    assert o.precision == 0.0 and o.recall is None and o.f1 == 0.0
    assert o.note == "recall: B puts no such pair together"
    o = row(coassignment(model, today, merged, reference), "overall")  # the other way round
    assert (o.tp, o.fp, o.fn) == (0, 0, 4)
    assert o.precision is None and o.recall == 0.0 and o.f1 == 0.0


def test_counts_and_person_weights_by_hand(model, reference):
    # A merges all three ICBs (12 pairs together), B only A with B (4 pairs, all in R1).
    co = coassignment(model, config(model, ALL), config(model, AB), reference)
    o = row(co, "overall")
    assert (o.tp, o.fp, o.fn) == (4, 8, 0)
    assert o.precision == pytest.approx(4 / 12) and o.recall == 1.0 and o.f1 == pytest.approx(2 * 4 / (2 * 4 + 8))
    r1 = row(co, "R1")  # cross-region pairs count only overall
    assert (r1.pairs, r1.tp, r1.fp, r1.fn, r1.f1) == (4, 4, 0, 0, 1.0)
    # Person-weighted: a pair weighs pop_i * pop_j.
    a, b, c = GP[[0, 3]].sum(), GP[[1, 4]].sum(), GP[[2, 5]].sum()
    tp, fp = a * b, c * (a + b)
    assert o.tp_persons == pytest.approx(tp) and o.fp_persons == pytest.approx(fp) and o.fn_persons == 0
    assert o.precision_persons == pytest.approx(tp / (tp + fp))  # 1.2 / (1.2 + 1.2 * 2.2) = 0.3125
    assert o.precision_persons == pytest.approx(0.3125)
    assert o.f1_persons == pytest.approx(2 * tp / (2 * tp + fp))


# --------------------------------------------------------------------------------------- correspondence
def test_correspondence_and_best_match(model):
    pairs, matches = correspondence(model, config(model, AB), config(model, TODAY), GP)
    got = {(r.a_footprint, r.b_footprint): r for r in pairs.itertuples()}
    assert set(got) == {("AB", "B"), ("AB", "A"), ("C", "C")}
    assert list(pairs.b_footprint[pairs.a_footprint == "AB"]) == ["B", "A"]  # most people first
    ab_b = got["AB", "B"]
    assert ab_b.people == pytest.approx(GP[[1, 4]].sum())
    assert ab_b.share_of_a == pytest.approx(1.2 / 2.2) and ab_b.share_of_b == pytest.approx(1.0)
    assert ab_b.best_match and not got["AB", "A"].best_match
    m = matches.set_index("a_footprint")
    assert m.loc["AB", "b_footprint"] == "B" and not m.loc["AB", "identical"]
    assert m.loc["C", "b_footprint"] == "C" and m.loc["C", "identical"]


# --------------------------------------------------------------------------------------- differences
def test_differences_name_the_band_when_a_move_breaks_it(model):
    # Band 1.0m-1.3m: today's three ICBs are all in it; moving S2 to ICB A puts X above (1.515m) and Y below (0.707m).
    params = MetricParameters(band=(1_000_000, 1_300_000))
    today, moved = config(model, TODAY), config(model, S2_TO_A)
    table, terms = differences(model, today, moved, params)
    assert list(table.code) == ["S2"]  # B's footprint of S2 (X) is not the best match (Y) of its A footprint (B)
    r = table.iloc[0]
    assert (r.a_footprint, r.b_footprint, r.a_target, r.b_target) == ("B", "X", "A", "Y")
    outside = (GP[[0, 1, 3]].sum() - 1_300_000) + (1_000_000 - GP[4])
    assert r.d_population_band == pytest.approx(outside / 100_000)  # weight 1: moving costs A, moving back gains B
    assert r.favour_a.split(";")[0] == "population_band" and r.favours == "A" and r.delta > 0
    t = terms.set_index("term")
    assert (t.loc["population_band", "favours_a"], t.loc["population_band", "favours_b"]) == (1, 0)
    # With one block moved the two moves are the two whole configurations: the deltas are exact score changes.
    sc = scorer(model, params)
    whole = np.array([sc.terms(c.assignment, c.n_footprints)[k] for c in (moved, today) for k in TERM_NAMES])
    change = (whole[:len(TERM_NAMES)] - whole[len(TERM_NAMES):]) * sc.weights
    assert r[[f"d_{k}" for k in TERM_NAMES]].to_numpy(dtype=float) == pytest.approx(change)
    # The other way round, the band favours B.
    back, _ = differences(model, moved, today, params)
    assert list(back.code) == ["S2"] and back.iloc[0].favour_b.split(";")[0] == "population_band"


def test_differences_name_upper_tier_councils_when_priced(model):
    """B moves S5 to ICB C, which then best matches today's ICB B (S5 is its larger part): S2 is the block placed
    differently. Moving it in B to join S5 puts Unitary Two's 450,000 in S2 back with its majority: priced, the
    term favours A's placement by 4.5 x its weight."""
    params = MetricParameters(weights={"upper_tier_split": 1.0})
    moved = {**TODAY, "S5": "C"}
    table, terms = differences(model, config(model, TODAY), config(model, moved), params)
    assert list(table.code) == ["S2"]
    r = table.iloc[0]
    assert r.d_upper_tier_split == pytest.approx(4.5) and "upper_tier_split" in r.favour_a.split(";")
    assert terms.set_index("term").loc["upper_tier_split", "favours_a"] == 1
    unpriced, _ = differences(model, config(model, TODAY), config(model, moved), MetricParameters())
    assert unpriced.iloc[0].d_upper_tier_split == 0.0  # default weight 0


def test_a_split_off_block_is_priced_from_b_alone(model):
    # AB's best match in B is B (1.2m against 1.0m), so S1 and S4 differ; B's footprint A has no counterpart in
    # A but AB itself, so only B's move (into B) is priced.
    table, _ = differences(model, config(model, AB), config(model, TODAY), MetricParameters())
    assert set(table.code) == {"S1", "S4"}
    assert set(table.a_target) == {""} and set(table.b_target) == {"B"}


def test_identical_configurations_have_no_differences(model):
    c = config(model, AB)
    cmp = compare(model, c, c, MetricParameters())
    assert cmp.differences.empty and (cmp.term_summary[["favours_a", "favours_b"]] == 0).all().all()
    assert cmp.overall["identical"] and cmp.overall["f1"] == 1.0 and cmp.overall["blocks_differing"] == 0
    doc = json.loads(json.dumps(cmp.to_dict()))
    assert doc["coassignment"][1]["f1"] is None  # R2: JSON null, not NaN


def test_configurations_of_different_models_are_refused(model):
    from simulator.errors import ConfigurationError

    other = synthetic_model()
    other.blocks = other.blocks.assign(code=[f"T{i}" for i in range(6)])
    with pytest.raises(ConfigurationError, match="not drawn on"):
        coassignment(model, config(model, AB), Configuration(other, np.zeros(6, int), ["all"]), np.arange(6))


# --------------------------------------------------------------------------------------- CLI options
def test_evaluate_and_compare_share_one_level_and_baseline_option():
    """``--level`` and ``--baseline`` mean the same in both commands: the same choices, default and help."""
    import argparse

    from simulator.cli import _parser

    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices

    def option(command: str, flag: str) -> tuple:
        action = next(a for a in commands[command]._actions if flag in a.option_strings)
        return action.dest, tuple(action.choices), action.default, action.help

    for flag in ("--level", "--baseline"):
        assert option("evaluate", flag) == option("compare", flag)
    assert "icb2026" in option("compare", "--level")[1] and option("compare", "--baseline")[1] == ("2026", "2024")
    ev = _parser().parse_args(["evaluate", "--config", "baseline", "--level", "sicbl", "--baseline", "2024"])
    cp = _parser().parse_args(["compare", "2024", "2026", "--level", "sicbl", "--baseline", "2024"])
    assert (ev.level, ev.baseline) == (cp.level, cp.baseline) == ("sicbl", "2024")


# --------------------------------------------------------------------------------------- real data, CLI
@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    """``ICBSIM_DEBUG`` would turn internal errors into tracebacks; the tests check what users see."""
    monkeypatch.delenv("ICBSIM_DEBUG", raising=False)


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    from simulator.cli import main

    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.integration
def test_2024_against_2026_at_place_level(capsys, tmp_path, data_dir):
    out = tmp_path / "cmp"
    rc, text, _ = _run(capsys, ["compare", "2024", "2026", "--level", "place", "--data-dir", str(data_dir),
                                "--out", str(out)])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["coassignment.csv", "comparison.json", "correspondence.csv",
                                                     "differences.csv"]
    doc = json.loads((out / "comparison.json").read_text())
    o = doc["overall"]
    # The 2024 map merges no pair of blocks from different 2024 ICBs; the 2026 map merges 605 place pairs.
    assert (o["tp"], o["fp"], o["fn"]) == (0, 0, 605)
    assert o["precision"] is None and o["recall"] == 0.0 and o["f1"] == 0.0
    assert o["a_footprints"] == 42 and o["b_footprints"] == 36 and o["footprints_identical"] == 29
    co = pd.read_csv(out / "coassignment.csv").set_index("region_name")
    merged = {"London", "South East", "East of England"}  # the regions whose ICBs merged in April 2026
    assert set(co.index[co.fn > 0]) == merged | {"England"}
    assert (co.loc[sorted(merged), "recall"] == 0).all()
    assert co.drop(index=sorted(merged | {"England"})).recall.isna().all()
    # The blocks placed differently are the parts of the three ICBs split in April 2026.
    diff = pd.read_csv(out / "differences.csv")
    assert set(diff.a_footprint) == {"Frimley", "Hertfordshire and West Essex", "Suffolk and North East Essex"}
    assert len(diff) == o["blocks_differing"] == 11
    assert "England (overall)" in text and "Epping Forest" in text


@pytest.mark.integration
def test_2026_against_itself(capsys, data_dir):
    rc, text, _ = _run(capsys, ["compare", "2026", "2026", "--data-dir", str(data_dir), "--region", "east of england"])
    assert rc == 0
    assert "A and B group the blocks identically" in text
    overall = next(line for line in text.splitlines() if "England (overall)" in line)
    assert overall.split()[2:9] == ["52,164", "605", "0", "0", "1.000", "1.000", "1.000"]
    assert "0 block(s) placed differently" in text
    assert "London" not in text  # restricted to the East of England


@pytest.mark.integration
def test_output_folder_and_geojson_sides(capsys, tmp_path, data_dir, place_model_2026):
    m = place_model_2026
    assignment, names = m.map_assignment("2026")
    folder = tmp_path / "run"
    folder.mkdir()
    rows = ["unit_code,footprint"] + [f'{c},"{names[f]}"' for c, f in zip(m.blocks.code, assignment)]
    (folder / "assignment.csv").write_text("\n".join(rows) + "\n")
    feats = [{"type": "Feature", "geometry": None,
              "properties": {"footprint": n, "level": "place", "members": list(m.blocks.code[assignment == f])}}
             for f, n in enumerate(names)]
    gj = tmp_path / "map.geojson"
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    rc, text, _ = _run(capsys, ["compare", str(folder), str(gj), "--data-dir", str(data_dir)])
    assert rc == 0 and "A and B group the blocks identically" in text
    rc, text, _ = _run(capsys, ["compare", str(folder), "2024", "--data-dir", str(data_dir)])  # named map: place
    assert rc == 0 and "level place" in text


def _bad_cases(tmp_path: Path, data_dir: Path) -> dict[str, tuple[list[str], str]]:
    sicbl = tmp_path / "sicbl.csv"
    sicbl.write_text("unit_code,footprint\nE38000001,X\n")
    place = tmp_path / "place.csv"
    place.write_text("unit_code,footprint\nE38000001:E06000001,X\n")
    empty = tmp_path / "not-an-output"
    empty.mkdir()
    return {
        "missing-file": ([str(tmp_path / "missing.csv"), "2026"], "missing.csv: no such file"),
        "levels-differ": ([str(sicbl), str(place)], "the two sides are at different levels"),
        "level-against-file": ([str(sicbl), "2026", "--level", "place"], "holds sicbl codes, not place codes"),
        "unknown-named-map": (["2025", "2026"], "2025: unknown named map"),
        "2024-at-icb2026": (["2024", "2026", "--level", "icb2026"], "the 2024 map cannot be drawn"),
        "folder-without-assignment": ([str(empty), "2026"], "a folder without assignment.csv"),
    }


@pytest.mark.integration
@pytest.mark.parametrize("case", ["missing-file", "levels-differ", "level-against-file", "unknown-named-map",
                                  "2024-at-icb2026", "folder-without-assignment"])
def test_bad_inputs_are_one_line_and_write_nothing(case, capsys, tmp_path, data_dir):
    args, fragment = _bad_cases(tmp_path, data_dir)[case]
    out = tmp_path / "out"
    rc, text, err = _run(capsys, ["compare", *args, "--data-dir", str(data_dir), "--out", str(out)])
    assert rc == 2 and text == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("icbsim: error: ") and fragment in lines[0], err
    assert not out.exists()


@pytest.mark.integration
def test_unknown_region_is_one_line(capsys, tmp_path, data_dir):
    rc, text, err = _run(capsys, ["compare", "2024", "2026", "--data-dir", str(data_dir), "--region", "Atlantis",
                                  "--out", str(tmp_path / "out")])
    assert rc == 2 and text == "" and err.strip().splitlines()[-1].startswith("icbsim: error: unknown region")
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_subprocess_shows_no_traceback(tmp_path, data_dir):
    env = {k: v for k, v in os.environ.items() if k != "ICBSIM_DEBUG"}
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "compare", "2024", "2026", "--level", "icb2026",
                           "--data-dir", str(data_dir), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("icbsim: error: the 2024 map cannot be drawn")
    assert not (tmp_path / "out").exists()

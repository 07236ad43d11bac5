"""``icbsim calibrate`` at the command line, on the real data: bad inputs end in one line, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cli import main
from simulator.model import load_model

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
LONDON = str(SCENARIOS / "backtest_2026_london.toml")


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("ICBSIM_DEBUG", raising=False)


def _fails(capsys, tmp_path, argv: list[str], *fragments: str) -> str:
    out = tmp_path / "out"
    rc = main(["calibrate", *argv, "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 2 and cap.out == ""
    line = cap.err.strip().splitlines()[-1]
    assert line.startswith("icbsim: error: ") and "Traceback" not in cap.err
    for f in fragments:
        assert f in line, line
    assert not out.exists()
    return line


def test_decided_map_at_another_level(capsys, tmp_path, data_dir):
    sicbl = load_model("sicbl", data_dir, baseline="2024")
    csv = tmp_path / "sicbl.csv"
    csv.write_text("unit_code,footprint\n" + "".join(f"{c},{i}\n" for c, i in zip(sicbl.blocks.code, sicbl.blocks.icb_code)))
    _fails(capsys, tmp_path, [LONDON, "--decided", str(csv)], "holds sicbl codes", "scenario's level is place")


def test_decided_map_that_changes_nothing_in_the_freed_region(capsys, tmp_path, data_dir):
    _fails(capsys, tmp_path, [LONDON, "--decided", "2024"], "today's map in the regions the scenario frees")


def test_decided_map_breaking_a_hard_rule(capsys, tmp_path, data_dir):
    # London had 5 ICBs in 2024 and 4 from April 2026; a scenario asking for 3 cannot have the 2026 map optimal.
    three = tmp_path / "london3.toml"
    three.write_text(Path(LONDON).read_text().replace("n_footprints = 4", "n_footprints = 3"))
    _fails(capsys, tmp_path, [str(three), "--decided", "2026"], "breaks the scenario's hard rule", "4 footprints in the freed regions, not 3")


@pytest.mark.parametrize("argv, fragment", [
    (["--decided", "2026", "2026"], "--decided names 2 maps for 1 scenarios"),
    (["--pull", "strong"], "--pull must be 'auto' or a number >= 0"),
    (["--pull", "-1"], "--pull must be 'auto' or a number >= 0"),
    (["--terms", "band_term"], "unknown score term(s) band_term"),
    (["--decided", "2025"], "unknown named map"),
])
def test_bad_options(capsys, tmp_path, data_dir, argv, fragment):
    _fails(capsys, tmp_path, [LONDON, *argv], fragment)


def test_drop_names_a_constraint_of_the_base(capsys, tmp_path, data_dir):
    _fails(capsys, tmp_path, [LONDON, "--pull", "1", "--drop", "max_moved"], "--drop max_moved", "no such constraint")

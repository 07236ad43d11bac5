"""Bad inputs at the command line, on the real data.

Every bad input must end with exit status 2, nothing on stdout and exactly one line on stderr starting
``icbsim: error:``. The only other stderr line allowed is the progress line ``loading the <level>-level model ...``,
which ``evaluate`` prints once it has read the configuration file and knows the level; errors found while reading
the file itself come before it. Nothing may be left in ``--out``: the folder is not created, or stays empty if it
existed empty before.

Most cases call ``simulator.cli.main`` in-process; a few run ``python -m simulator.cli`` as a user would, to
prove that no traceback reaches the terminal.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.configuration import Configuration
from simulator.io import outputs
from simulator.metrics import evaluate

pytestmark = pytest.mark.integration

CORNWALL, KENT = "E54000036", "E54000032"
OUTPUT_FILES = ["assignment.csv", "footprints.csv", "footprints.geojson", "metrics.json"]


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    """``ICBSIM_DEBUG`` would turn internal errors into tracebacks; the tests check what users see."""
    monkeypatch.delenv("ICBSIM_DEBUG", raising=False)


# --------------------------------------------------------------------------------------------- helpers
def check_error(rc: int, out: str, err: str, fragments: list[str], level: str | None) -> str:
    """Assert the one-line failure and return the error line.

    ``level`` is the level whose progress line must precede the error, or None when the error comes first.
    """
    assert rc == 2, f"exit status {rc}; stderr: {err!r}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert out == "", f"nothing goes to stdout on failure, got {out!r}"
    lines = [line for line in err.splitlines() if line.strip()]
    # "icb" stands for either ICB level: files of ICB codes name the 2024 or the April 2026 ICBs.
    levels = ["icb2024", "icb2026"] if level == "icb" else [level]
    allowed = [[]] if level is None else [[f"loading the {lv}-level model ..."] for lv in levels]
    assert lines[:-1] in allowed, f"stderr was {err!r}"
    error = lines[-1]
    assert error.startswith("icbsim: error: "), error
    for fragment in fragments:
        assert fragment in error, f"{fragment!r} not in {error!r}"
    return error


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def run_bad(capsys, tmp_path: Path, args: list[str], fragments: list[str], level: str | None) -> str:
    """Run ``evaluate`` with ``args`` twice: ``--out`` absent, then ``--out`` an existing empty folder."""
    absent = tmp_path / "out-absent"
    error = check_error(*run(capsys, ["evaluate", *args, "--out", str(absent)]), fragments, level)
    assert not absent.exists(), "a failed run must not create the output folder"
    empty = tmp_path / "out-empty"
    empty.mkdir()
    check_error(*run(capsys, ["evaluate", *args, "--out", str(empty)]), fragments, level)
    assert list(empty.iterdir()) == [], "a failed run must leave an existing folder as it was (no staging left)"
    return error


def csv_text(pairs: list[tuple[str, str]], header: str | None = "unit_code,footprint") -> str:
    rows = [f'{code},"{footprint}"' for code, footprint in pairs]
    return "\n".join(([header] if header else []) + rows) + "\n"


@pytest.fixture(scope="module")
def icb_pairs(icb_model) -> list[tuple[str, str]]:
    """Today's 42 ICBs as (code, footprint) rows."""
    return list(zip(icb_model.blocks.code, icb_model.blocks.name))


@pytest.fixture(scope="module")
def icb_export(icb_model) -> dict:
    """The baseline FeatureCollection as ``evaluate --out`` writes it."""
    config = Configuration.baseline(icb_model)
    return json.loads(outputs(icb_model, config, evaluate(icb_model, config))["footprints.geojson"])


def merged(pairs, codes, name) -> list[tuple[str, str]]:
    return [(c, name if c in codes else f) for c, f in pairs]


# --------------------------------------------------------------------------------------------- CSV
def _csv_cases(pairs, sicbl_codes) -> dict[str, tuple[str, str, list[str], str | None]]:
    """id -> (file name, content, message fragments, level of the progress line or None)."""
    dropped = pairs[-1][0]
    unknown = pairs[:5] + [("E54999999", "Nowhere")] + pairs[5:]
    truncated = csv_text(pairs[:10]) + pairs[10][0] + "\n" + csv_text(pairs[11:], header=None)
    no_footprint = csv_text(pairs).replace(f'{pairs[2][0]},"{pairs[2][1]}"', f"{pairs[2][0]}, ")
    return {
        "unknown-code": ("unknown.csv", csv_text(unknown),
                         ["unknown.csv: 1 code is not an icb2024 block: E54999999"], "icb"),
        "listed-twice": ("twice.csv", csv_text(pairs + [(pairs[3][0], "Again")]),
                         [f"twice.csv: block(s) assigned more than once: {pairs[3][0]}"], "icb"),
        "41-of-42": ("missing.csv", csv_text(pairs[:-1]),
                     [f"missing.csv: 1 icb2024 block(s) are not assigned: {dropped}"], "icb"),
        "mixed-levels": ("mixed.csv", csv_text(pairs[:-1] + [(sicbl_codes[0], "X")]),
                         ["mixed.csv: mixes levels: 41 codes are icb2024 blocks, 1 is a sicbl block "
                          f"({sicbl_codes[0]}); use one level throughout"], None),
        "no-header": ("noheader.csv", csv_text(pairs, header=None),
                      ["noheader.csv: the header must name the columns unit_code and footprint",
                       f"found: {pairs[0][0]}"], None),
        "wrong-header": ("header.csv", csv_text(pairs, header="code,icb"),
                         ["header.csv: the header must name the columns unit_code and footprint (found: code, icb)"],
                         None),
        "empty": ("empty.csv", "", ["empty.csv: the file is empty"], None),
        "blank-lines-only": ("blank.csv", "\n \n\n", ["blank.csv: no rows"], None),
        "header-only": ("headeronly.csv", "unit_code,footprint\n", ["headeronly.csv: a header but no rows"], None),
        "truncated-row": ("truncated.csv", truncated,
                          ["truncated.csv, line 12: expected at least 2 columns, found 1"], None),
        "empty-footprint": ("nofootprint.csv", no_footprint,
                            [f"nofootprint.csv, line 4: footprint is empty for {pairs[2][0]}"], None),
        "noncontiguous": ("noncontig.csv", csv_text(merged(pairs, {CORNWALL, KENT}, "Cornwall and Kent")),
                          ["non-contiguous footprint(s): Cornwall and Kent (2 separate pieces)",
                           "--allow-noncontiguous"], "icb"),
        # A quoted line break inside a footprint name must not split the message over two lines.
        "line-break-in-name": ("linebreak.csv", csv_text(merged(pairs, {CORNWALL, KENT}, "Cornwall\nand Kent")),
                               ["non-contiguous footprint(s): Cornwall and Kent (2 separate pieces)"], "icb"),
    }


@pytest.mark.parametrize("case", ["unknown-code", "listed-twice", "41-of-42", "mixed-levels", "no-header",
                                  "wrong-header", "empty", "blank-lines-only", "header-only", "truncated-row",
                                  "empty-footprint", "noncontiguous", "line-break-in-name"])
def test_bad_csv(case, capsys, tmp_path, icb_pairs, sicbl_model):
    name, text, fragments, level = _csv_cases(icb_pairs, list(sicbl_model.blocks.code))[case]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    run_bad(capsys, tmp_path, ["--config", str(path)], [str(tmp_path)] + fragments, level)


def test_non_utf8_csv(capsys, tmp_path, icb_pairs):
    path = tmp_path / "latin1.csv"
    path.write_bytes(csv_text(merged(icb_pairs, {CORNWALL}, "Cornouailles et Sc\xeflly")).encode("latin-1"))
    run_bad(capsys, tmp_path, ["--config", str(path)], [f"{path}: not UTF-8 text"], None)


def test_csv_level_contradicts_level_option(capsys, tmp_path, icb_pairs):
    path = tmp_path / "icb.csv"
    path.write_text(csv_text(icb_pairs))
    run_bad(capsys, tmp_path, ["--config", str(path), "--level", "sicbl"],
            [f"{path}: holds icb2024 codes, not sicbl codes"], None)


def test_noncontiguous_accepted_when_allowed(capsys, tmp_path, icb_pairs):
    path = tmp_path / "noncontig.csv"
    path.write_text(csv_text(merged(icb_pairs, {CORNWALL, KENT}, "Cornwall and Kent")))
    out = tmp_path / "out"
    rc, stdout, err = run(capsys, ["evaluate", "--config", str(path), "--allow-noncontiguous", "--out", str(out)])
    assert rc == 0, err
    assert err.splitlines() == ["loading the icb2024-level model ...",
                                "wrote " + ", ".join(str(out / n) for n in
                                                     ["footprints.geojson", "footprints.csv", "assignment.csv",
                                                      "metrics.json"])]
    assert "41 footprints" in stdout
    assert sorted(p.name for p in out.iterdir()) == OUTPUT_FILES
    doc = json.loads((out / "footprints.geojson").read_text())
    (feature,) = [f for f in doc["features"] if f["properties"]["footprint"] == "Cornwall and Kent"]
    assert sorted(feature["properties"]["members"]) == sorted([CORNWALL, KENT])
    assert feature["geometry"]["type"] == "MultiPolygon"


# --------------------------------------------------------------------------------------------- GeoJSON
def test_truncated_geojson(capsys, tmp_path, icb_export):
    text = json.dumps(icb_export)
    path = tmp_path / "truncated.geojson"
    path.write_text(text[: len(text) // 2])
    run_bad(capsys, tmp_path, ["--config", str(path)], [f"{path}: not valid JSON (line 1: "], None)


@pytest.mark.parametrize("what", ["feature", "list", "geometry", "features-not-list"])
def test_geojson_not_a_feature_collection(what, capsys, tmp_path, icb_export):
    doc = {"feature": icb_export["features"][0], "list": icb_export["features"],
           "geometry": icb_export["features"][0]["geometry"],
           "features-not-list": {"type": "FeatureCollection", "features": icb_export["features"][0]}}[what]
    path = tmp_path / "notfc.geojson"
    path.write_text(json.dumps(doc))
    run_bad(capsys, tmp_path, ["--config", str(path)], [f"{path}: not a GeoJSON FeatureCollection"], None)


def test_geojson_feature_without_members(capsys, tmp_path, icb_export):
    doc = json.loads(json.dumps(icb_export))
    name = doc["features"][2]["properties"]["footprint"]
    del doc["features"][2]["properties"]["members"]
    path = tmp_path / "nomembers.geojson"
    path.write_text(json.dumps(doc))
    run_bad(capsys, tmp_path, ["--config", str(path)],
            [f"{path}: feature 3 ({name}) has no 'members' list of block codes"], None)


def test_geojson_with_a_feature_missing(capsys, tmp_path, icb_export):
    doc = json.loads(json.dumps(icb_export))
    gone = doc["features"].pop()["properties"]["members"]
    path = tmp_path / "short.geojson"
    path.write_text(json.dumps(doc))
    run_bad(capsys, tmp_path, ["--config", str(path)], [f"{path}: 1 icb2024 block(s) are not assigned: {gone[0]}"], "icb")


# --------------------------------------------------------------------------------------------- scenarios
_TOML_CASES = {
    "malformed": ('name = "unterminated\nlevel = "icb"\n', ["not valid TOML"], None),
    "unknown-key": ('name = "x"\nlevell = "icb"\n', ["unknown key(s) levell; known: allow_noncontiguous"], None),
    "unknown-weight": ('name = "x"\n[weights]\npopulation_bandd = 1.0\n',
                       ["unknown weight(s) population_bandd; known: population_band"], None),
    "negative-weight": ('name = "x"\n[weights]\nflow_leakage = -1.0\n',
                        ["weight of flow_leakage must be a number >= 0, not -1.0"], None),
    "floor-above-ceiling": ('name = "x"\nband = [3_000_000, 1_500_000]\n',
                            ["population band floor 3,000,000 must be below its ceiling 1,500,000"], None),
    "bad-level": ('name = "x"\nlevel = "region"\n', ["level 'region' is not one of icb2026, icb2024, sicbl, place"], None),
    "unknown-constraint": ('name = "x"\n[constraints]\ncontiguous = true\n', ["unknown constraint(s) contiguous"], None),
}


@pytest.mark.parametrize("case", list(_TOML_CASES))
def test_bad_scenario(case, capsys, tmp_path):
    text, fragments, level = _TOML_CASES[case]
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    run_bad(capsys, tmp_path, ["--config", str(path)], [f"{path}: "] + fragments, level)


def test_scenario_whose_start_file_is_missing(capsys, tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text('name = "x"\nlevel = "icb"\n[start]\nfile = "nowhere.csv"\n')
    # The start file is resolved beside the scenario, whatever the working directory.
    run_bad(capsys, tmp_path, ["--config", str(path)], [f"{tmp_path / 'nowhere.csv'}: no such file"], None)


def test_scenario_start_file_of_another_level(capsys, tmp_path, icb_pairs):
    (tmp_path / "start.csv").write_text(csv_text(icb_pairs))
    path = tmp_path / "scenario.toml"
    path.write_text('name = "x"\nlevel = "sicbl"\n[start]\nfile = "start.csv"\n')
    run_bad(capsys, tmp_path, ["--config", str(path)],
            [f"{tmp_path / 'start.csv'}: holds icb2024 codes but the scenario's level is sicbl"], None)


# --------------------------------------------------------------------------------------------- the --config file itself
@pytest.mark.parametrize("name, message", [
    ("nowhere.csv", "no such file"),
    ("nowhere.geojson", "no such file"),
    ("nowhere.toml", "no such scenario file"),
])
def test_missing_config_file(name, message, capsys, tmp_path):
    path = tmp_path / name
    run_bad(capsys, tmp_path, ["--config", str(path)], [f"{path}: {message}"], None)


def test_unknown_extension(capsys, tmp_path, icb_pairs):
    path = tmp_path / "footprints.xlsx"
    path.write_text(csv_text(icb_pairs))
    run_bad(capsys, tmp_path, ["--config", str(path)],
            [f"{path}: unknown file type .xlsx; use .csv, .geojson or .toml"], None)


def test_config_is_a_folder(capsys, tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    run_bad(capsys, tmp_path, ["--config", str(folder)], [f"{folder}: not a file"], None)


# --------------------------------------------------------------------------------------------- files evaluate writes
@pytest.fixture(scope="module")
def today_assignment(tmp_path_factory) -> list[list[str]]:
    """The rows of assignment.csv as ``icbsim evaluate --config baseline --out DIR`` writes it (a level column
    saying icb2026), header first."""
    out = tmp_path_factory.mktemp("today") / "out"
    assert main(["evaluate", "--config", "baseline", "--out", str(out)]) == 0
    with open(out / "assignment.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["unit_code", "footprint", "unit_name", "level"] and {r[3] for r in rows[1:]} == {"icb2026"}
    return rows


def csv_rows(rows: list[list[str]], level_column: bool = True) -> str:
    """CSV text of ``rows`` (all their columns, or the first two: unit_code and footprint)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(r if level_column else r[:2] for r in rows)
    return buf.getvalue()


def edited(rows: list[list[str]], code: str, level_column: bool = True) -> str:
    """The file with its first block's code changed to ``code`` (with or without the level column)."""
    return csv_rows([rows[0], [code, *rows[1][1:]], *rows[2:]], level_column)


@pytest.mark.parametrize("code", ["E54099999", "XXX"])
@pytest.mark.parametrize("level_column", [True, False], ids=["level-column", "no-level-column"])
def test_an_unknown_code_in_evaluate_s_own_file_is_named_alone(code, level_column, capsys, tmp_path,
                                                              today_assignment):
    """One code of today's ICBs changed to an unknown GSS or ODS code: the file is still read as today's ICBs
    (from its level column, or as the level most of its codes match), and the one bad code is named."""
    path = tmp_path / "assignment.csv"
    path.write_text(edited(today_assignment, code, level_column), encoding="utf-8")
    error = run_bad(capsys, tmp_path, ["--config", str(path)], [], "icb2026")
    assert error == f"icbsim: error: {path}: 1 code is not an icb2026 block: {code}"


def test_an_unknown_code_is_named_alone_by_compare_and_in_a_scenario_start_file(capsys, tmp_path,
                                                                                 today_assignment):
    path = tmp_path / "start.csv"
    path.write_text(edited(today_assignment, "E54099999"), encoding="utf-8")
    error = check_error(*run(capsys, ["compare", str(path), "2026"]), [], "icb2026")
    assert error.endswith(f"{path}: 1 code is not an icb2026 block: E54099999")
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('name = "x"\nlevel = "icb2026"\n[start]\nfile = "start.csv"\n')
    error = run_bad(capsys, tmp_path, ["--config", str(scenario)], [], "icb2026")
    assert error.endswith(": 1 code is not an icb2026 block: E54099999")


def test_a_file_s_level_column_decides_its_level(capsys, tmp_path, today_assignment):
    """The same codes said to be the 2024 ICBs: the codes that are not are named as today's ICBs' codes."""
    rows = [today_assignment[0]] + [[*r[:3], "icb2024"] for r in today_assignment[1:]]
    path = tmp_path / "declared.csv"
    path.write_text(csv_rows(rows), encoding="utf-8")
    error = run_bad(capsys, tmp_path, ["--config", str(path)], [], None)
    assert error.startswith(f"icbsim: error: {path}: declares level icb2024, but 7 codes are icb2026 blocks (")
    assert error.endswith("and 2 more); use one level throughout")


# --------------------------------------------------------------------------------------------- the data directory
def data_copy(src: Path, dst: Path, copy: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> Path:
    """A data directory at ``dst`` linking to ``src``; files in ``copy`` are real copies, files in ``drop`` absent.

    Only the top-level folders holding those files are real folders (of symlinks); the others are one symlink.
    """
    touched = {Path(p).parts[0] for p in (*copy, *drop)}
    dst.mkdir()
    for sub in sorted(src.iterdir()):
        if sub.name not in touched:
            (dst / sub.name).symlink_to(sub, target_is_directory=sub.is_dir())
            continue
        (dst / sub.name).mkdir()
        for f in sorted(sub.iterdir()):
            rel = f"{sub.name}/{f.name}"
            if rel in drop:
                continue
            if rel in copy:
                shutil.copyfile(f, dst / rel)
            else:
                (dst / rel).symlink_to(f)
    return dst


def truncate_mid_row(path: Path) -> int:
    """Cut ``path`` to about half its bytes, inside a row; return the 1-based number of the cut row."""
    data = path.read_bytes()
    cut = len(data) // 2
    while data[cut - 1:cut] in (b"\n", b"\r", b","):  # make sure the last row is cut inside a value
        cut -= 1
    path.write_bytes(data[:cut])
    return data[:cut].count(b"\n") + 1


@pytest.mark.parametrize("position", ["global", "subcommand", "both"])
def test_data_directory_lacking_a_file(position, capsys, tmp_path, data_dir):
    """``--data-dir`` before the command or after it (after wins); the error names a command that works."""
    dd = data_copy(data_dir, tmp_path / "data", drop=("finance/icb_population.csv",))
    data_arg = ["--data-dir", str(dd)]
    argv = {"global": data_arg + ["evaluate", "--config", "baseline"],
            "subcommand": ["evaluate", "--config", "baseline"] + data_arg,
            "both": ["--data-dir", str(data_dir), "evaluate", "--config", "baseline"] + data_arg}[position]
    out = tmp_path / "out"
    lacking = f"data directory {dd} (from --data-dir) lacks 1 required file(s), first finance/icb_population.csv"
    error = check_error(*run(capsys, argv + ["--out", str(out)]), [lacking], "icb")
    command = f"icbsim --data-dir {dd} data check"
    assert f"run '{command}' for the list" in error
    assert not out.exists()
    assert (data_dir / "finance/icb_population.csv").is_file()
    if position == "global":  # the command the error suggests runs (and reports the same gap)
        check_error(*run(capsys, shlex.split(command)[1:]), [lacking], None)


def test_data_directory_missing(capsys, tmp_path):
    run_bad(capsys, tmp_path, ["--config", "baseline", "--data-dir", str(tmp_path / "nodata")],
            [f"data directory {tmp_path / 'nodata'} (from --data-dir) does not exist"], "icb")


def test_data_csv_truncated_mid_row(capsys, tmp_path, data_dir):
    rel = "finance/icb_population.csv"
    size = (data_dir / rel).stat().st_size
    dd = data_copy(data_dir, tmp_path / "data", copy=(rel,))
    line = truncate_mid_row(dd / rel)
    error = run_bad(capsys, tmp_path, ["--config", "baseline", "--data-dir", str(dd)], [f"{rel}, line {line}: "],
                    "icb")
    assert "not a number" in error
    assert (data_dir / rel).stat().st_size == size, "the shared data must not change"


def test_data_csv_truncated_inside_quotes(capsys, tmp_path, data_dir):
    """A cut inside a quoted field: pandas cannot tokenise the file; the error still names it."""
    rel = "geo/lookup_icb24_nhser24.csv"
    dd = data_copy(data_dir, tmp_path / "data", copy=(rel,))
    text = (dd / rel).read_text(encoding="utf-8")
    quote = next(i for i in range(len(text) // 2, len(text))
                 if text[i] == '"' and text[:i].count('"') % 2 == 0)  # an opening quote
    (dd / rel).write_text(text[: quote + 3], encoding="utf-8")
    run_bad(capsys, tmp_path, ["--config", "baseline", "--data-dir", str(dd)], [f"{rel}: cannot be read as CSV"],
            "icb")


# --------------------------------------------------------------------------------------------- unwritable output
def test_out_is_an_existing_file(capsys, tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("keep me\n")
    check_error(*run(capsys, ["evaluate", "--config", "baseline", "--out", str(target)]),
                [f"{target}: exists and is not a folder"], None)  # checked before the model is loaded
    assert target.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_out_below_a_regular_file(capsys, tmp_path):
    parent = tmp_path / "results.csv"
    parent.write_text("keep me\n")
    check_error(*run(capsys, ["evaluate", "--config", "baseline", "--out", str(parent / "out")]),
                [f"{parent / 'out'}: cannot create the output folder (Not a directory)"], "icb")
    assert parent.read_text() == "keep me\n"


def test_out_under_proc(capsys):
    """Unwritable even for root: /proc accepts no new folders."""
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this system")
    target = Path(f"/proc/icbsim-test-{os.getpid()}/out")
    check_error(*run(capsys, ["evaluate", "--config", "baseline", "--out", str(target)]),
                [f"{target}: cannot create the output folder"], "icb")
    assert not target.parent.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: permission bits do not stop root from writing "
                                               "(test_out_under_proc covers an unwritable target instead)")
@pytest.mark.parametrize("where", ["inside", "itself"])
def test_out_in_a_read_only_folder(where, capsys, tmp_path):
    ro = tmp_path / "readonly"
    ro.mkdir()
    target, message = (ro / "out", "cannot create the output folder") if where == "inside" else \
        (ro, "the output folder is not writable")
    ro.chmod(0o555)
    try:
        check_error(*run(capsys, ["evaluate", "--config", "baseline", "--out", str(target)]),
                    [f"{target}: {message}"], "icb")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_out_holding_a_folder_named_like_an_output(capsys, tmp_path):
    """All or nothing: a folder in the way of metrics.json must not leave the other three files written."""
    out = tmp_path / "out"
    (out / "metrics.json").mkdir(parents=True)
    check_error(*run(capsys, ["evaluate", "--config", "baseline", "--out", str(out)]),
                [f"{out / 'metrics.json'}: is a folder"], "icb")
    assert [p.name for p in out.iterdir()] == ["metrics.json"]
    assert list((out / "metrics.json").iterdir()) == []


# --------------------------------------------------------------------------------------------- as a user runs it
def _subprocess_cases(tmp_path: Path, data_dir: Path, pairs) -> dict[str, tuple[list[str], list[str], str | None]]:
    bad_csv = tmp_path / "unknown.csv"
    bad_csv.write_text(csv_text(pairs[:-1] + [("E54999999", "Nowhere")]))
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("name = [\n")
    rel = "finance/icb_population.csv"
    dd = data_copy(data_dir, tmp_path / "data", copy=(rel,))
    line = truncate_mid_row(dd / rel)
    return {
        "unknown-code": (["--config", str(bad_csv)], [f"{bad_csv}: 1 code is not an icb2024 block: E54999999"], "icb"),
        "malformed-toml": (["--config", str(bad_toml)], [f"{bad_toml}: not valid TOML"], None),
        "truncated-data": (["--config", "baseline", "--level", "sicbl", "--data-dir", str(dd)],
                           [f"{rel}, line {line}: "], "sicbl"),
    }


@pytest.mark.parametrize("case", ["unknown-code", "malformed-toml", "truncated-data"])
def test_subprocess_shows_no_traceback(case, tmp_path, data_dir, icb_pairs):
    args, fragments, level = _subprocess_cases(tmp_path, data_dir, icb_pairs)[case]
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "ICBSIM_DEBUG"}
    work = tmp_path / "elsewhere"  # not the project folder: the command must work from anywhere
    work.mkdir()
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "evaluate", *args, "--out", str(out)],
                          capture_output=True, text=True, cwd=work, env=env, timeout=120)
    check_error(proc.returncode, proc.stdout, proc.stderr, fragments, level)
    assert not out.exists()
    assert list(work.iterdir()) == []


def test_unknown_gss_code_is_named_not_called_a_mix_of_levels(tmp_path, capsys):
    from simulator.cli import main

    bad = tmp_path / "typo.csv"
    bad.write_text("unit_code,footprint\nE54000008,A\nE99999999,B\n", encoding="utf-8")
    assert main(["evaluate", "--config", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("icbsim: error:") and "E99999999" in err and "mixes levels" not in err
    assert not (tmp_path / "out").exists()

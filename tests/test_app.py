"""The Streamlit app driven as a user would, headless (``streamlit.testing.v1.AppTest``), on the real data.

Each test gets its own scenario store (``$ICBSIM_STORE`` in a temporary folder) and a cleared resource cache, so
saved scenarios never leak between tests. Uploads go through the app's file uploader and, for the full set of bad
inputs, through ``simulator.workspace.parse_upload`` directly; downloads are read back from the media files the
download buttons serve.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("streamlit", reason="the app's tests need streamlit (a dependency): pip install -e '.[test]'")
pytest.importorskip("pydeck", reason="the app's tests need pydeck (installed with streamlit)")

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402
import streamlit.testing.v1.app_test as app_test_module  # noqa: E402
from streamlit import dataframe_util  # noqa: E402
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402
from streamlit.testing.v1.element_tree import Block, Column, Metric  # noqa: E402

from simulator.configuration import Configuration  # noqa: E402
from simulator.errors import InputFileError  # noqa: E402
from simulator.metrics.evaluate import evaluate  # noqa: E402
from simulator.model import load_model  # noqa: E402
from simulator.workspace import MAX_UPLOAD_BYTES, STORE_ENV_VAR, parse_upload  # noqa: E402

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 180
MOVE = "FormSubmitter:edit-Move blocks"  # the form's submit button ("Move blocks")
CORNWALL, DEVON, KENT = "E54000036", "E54000037", "E54000032"
CHESHIRE_MERSEYSIDE, GREATER_MANCHESTER = "E54000008", "E54000057"


# ---------------------------------------------------------------------------------------------- helpers
@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh scenario store for this test; the app's cached store (st.cache_resource) is dropped too."""
    path = tmp_path / "store" / "scenarios.sqlite"
    monkeypatch.setenv(STORE_ENV_VAR, str(path))
    st.cache_resource.clear()
    yield path
    st.cache_resource.clear()


def start_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert_ok(at)
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric(at: AppTest, prefix: str):
    found = [m for m in at.metric if m.label.startswith(prefix)]
    assert len(found) == 1, [m.label for m in at.metric]
    return found[0]


def _metric_rows(node) -> list[int]:
    """How many cards each row of columns holding cards (``st.metric``) has, top to bottom."""
    kids = list(getattr(node, "children", {}).values())
    out = []
    if kids and all(isinstance(k, Column) for k in kids):
        n = sum(any(isinstance(c, Metric) for c in k.children.values()) for k in kids)
        out += [n] if n else []
    for k in kids:
        if isinstance(k, Block):
            out += _metric_rows(k)
    return out


def footprints(at: AppTest) -> int:
    return int(metric(at, "Footprints").value)


def pounds_m(value: str) -> float:
    """'£1,234.5m' -> 1234.5, '£1.25bn' -> 1250.0"""
    scale = 1000 if value.endswith("bn") else 1
    return float(value.replace("£", "").replace("bn", "").replace("m", "").replace(",", "")) * scale


def shown(table) -> pd.DataFrame:
    """A table as the browser shows it: the styler's display values where it has one, else the values."""
    arrow = table.proto.arrow_data
    if arrow.HasField("styler") and arrow.styler.display_values:
        return dataframe_util.convert_arrow_bytes_to_pandas_df(arrow.styler.display_values)
    return table.value.astype(str)


def assert_figures_readable(at: AppTest) -> None:
    """Every figure in every table is written for people: no long float, no run of digits without separators,
    no negative zero."""
    for table in at.dataframe:
        values, cells = table.value, shown(table)
        for col in values.columns:
            if not pd.api.types.is_numeric_dtype(values[col]) or pd.api.types.is_bool_dtype(values[col]):
                continue
            for cell in cells[col]:
                assert not re.search(r"\.\d{3,}|\d{5,}|-£?0(\.0+)?(?![\d.])|£-", cell), (col, cell)


def messages(at: AppTest) -> list[str]:
    return [m.value for m in (*at.info, *at.success, *at.warning, *at.error)]


def move(at: AppTest, codes: list[str], new_name: str | None = None, target: str | None = None) -> AppTest:
    at.multiselect(key="pick_blocks").set_value(codes)
    if target is not None:
        at.selectbox(key="target_fp").set_value(target)
    if new_name is not None:
        at.text_input(key="new_fp_name").input(new_name)
    at.button(key=MOVE).click().run()
    assert_ok(at)
    return at


# ---------------------------------------------------------------------------------------------- 1. opening
def test_opens_on_todays_36_icbs(store):
    at = start_app()
    assert at.title[0].value == "ICB merger scenario simulator"
    assert footprints(at) == 36
    assert metric(at, "In band").label == "In band (1.5-2.5m)"
    assert 0 <= int(metric(at, "In band").value) <= 36
    assert pounds_m(metric(at, "£ at stake").value) == 0  # today's map brings no partners together
    score = float(metric(at, "Score").value)
    assert score > 0
    assert not at.warning  # today's ICBs are all contiguous
    assert [t.label for t in at.tabs][-1] == "Save, open, download"
    assert len(at.multiselect(key="pick_blocks").options) == 36
    assert at.radio(key="level").value == "icb2026"
    # Compared with the official map (the same 36), co-assignment has nothing to measure: said in words.
    assert len(at.tabs[6].dataframe) == 1
    assert any(i.value.startswith("Co-assignment cannot be measured here: neither map puts together")
               for i in at.tabs[6].info)
    assert metric(at, "Running-cost saving").value == "£0.0m"  # not "£-0.0m" (a -1e-7 remainder)
    # The eight cards in two rows of four, so no label is cut short; the figures that need it say what they are.
    assert len(at.metric) == 8 and _metric_rows(at.main) == [4, 4]
    # Today's map brings no partners together: the budget tab says so rather than showing an empty table.
    assert not at.tabs[2].dataframe and at.tabs[2].info[0].value.startswith("No footprint brings parts of two")
    for label, says in (("£ at stake", "levelled"), ("Localisation", "admissions"),
                        ("Running-cost saving", "statutory body")):
        assert says in metric(at, label).proto.help, label


# ---------------------------------------------------------------------------------------------- 2. move, undo, redo
def test_move_blocks_by_list_then_undo_and_redo(store):
    at = start_app()
    assert at.button(key="undo").disabled and at.button(key="redo").disabled
    move(at, [CHESHIRE_MERSEYSIDE, GREATER_MANCHESTER], new_name="North West Coast and Manchester")
    assert footprints(at) == 35
    assert pounds_m(metric(at, "£ at stake").value) > 0
    assert any(m.startswith("Moved 2 block(s)") and "North West Coast and Manchester" in m for m in messages(at))
    assert "North West Coast and Manchester" in at.selectbox(key="target_fp").options
    assert not at.button(key="undo").disabled

    at.button(key="undo").click().run()
    assert_ok(at)
    assert footprints(at) == 36
    assert pounds_m(metric(at, "£ at stake").value) == 0
    assert not at.button(key="redo").disabled

    at.button(key="redo").click().run()
    assert_ok(at)
    assert footprints(at) == 35
    assert at.button(key="redo").disabled


def test_move_without_blocks_or_name_says_what_is_missing(store):
    at = start_app()
    at.button(key=MOVE).click().run()
    assert_ok(at)
    assert "Pick at least one block to move." in messages(at)
    move(at, [CORNWALL], new_name="   ")
    assert "Name the footprint to move the blocks to." in messages(at)
    assert footprints(at) == 36
    assert at.button(key="undo").disabled  # nothing happened, nothing to undo


def test_blocks_clicked_on_the_map_fill_the_move_list(store, monkeypatch):
    """AppTest cannot click a pydeck map: the map's selection event is given as the browser would send it."""
    real = st.pydeck_chart
    clicked: list[str] = []

    def pydeck_chart(deck, *args, **kwargs):
        event = real(deck, *args, **kwargs)
        if kwargs.get("key") == "map" and clicked:
            return SimpleNamespace(selection=SimpleNamespace(objects={"blocks": [{"code": c} for c in clicked]}))
        return event

    monkeypatch.setattr(st, "pydeck_chart", pydeck_chart)
    at = start_app()
    clicked[:] = [DEVON, CORNWALL]
    at.run()
    assert_ok(at)
    assert at.multiselect(key="pick_blocks").value == [CORNWALL, DEVON]
    move(at, [CORNWALL, DEVON], new_name="Peninsula")  # the same list, as the user would submit it
    assert footprints(at) == 35
    assert any(m.startswith("Moved 2 block(s) to Peninsula") for m in messages(at))


# ---------------------------------------------------------------------------------------------- 3. merge
def test_merge_footprints(store):
    at = start_app()
    names = at.multiselect(key="merge_fps").options
    cm, gm = "Cheshire and Merseyside", "Greater Manchester"
    assert cm in names and gm in names
    at.multiselect(key="merge_fps").set_value([cm, gm])
    at.button(key="merge_btn").click().run()
    assert_ok(at)
    assert footprints(at) == 35
    assert any(m.startswith("Moved ") and m.endswith(f"to {cm}.") for m in messages(at))
    assert gm not in at.multiselect(key="merge_fps").options
    ws = at.session_state["ws_icb2026_2026"]
    mapping = ws.configuration.mapping()
    assert mapping[CHESHIRE_MERSEYSIDE] == mapping[GREATER_MANCHESTER] == cm

    at.multiselect(key="merge_fps").set_value([cm])  # one footprint: nothing to merge
    at.button(key="merge_btn").click().run()
    assert_ok(at)
    assert "Pick two or more footprints to merge." in messages(at)
    assert footprints(at) == 35


# ---------------------------------------------------------------------------------------------- 4. contiguity
def test_non_contiguous_footprint_is_flagged_in_plain_words(store):
    at = start_app()
    assert not at.warning
    move(at, [CORNWALL], target="Kent and Medway")
    assert footprints(at) == 35
    warnings = [w.value for w in at.warning]
    assert warnings == ["Kent and Medway is in 2 separate pieces: its blocks must share borders"]
    at.button(key="undo").click().run()
    assert_ok(at)
    assert not at.warning


# ---------------------------------------------------------------------------------------------- 5. levels
def test_switch_level_to_sicbl_and_place_and_move_places(store):
    at = start_app()
    at.radio(key="level").set_value("sicbl").run()
    assert_ok(at)
    assert footprints(at) == 36
    assert len(at.multiselect(key="pick_blocks").options) == 106
    assert "Sub-ICB location" in at.caption[0].value

    at.radio(key="level").set_value("place").run()
    assert_ok(at)
    assert footprints(at) == 36
    options = at.multiselect(key="pick_blocks").options
    assert len(options) == 328
    assert "Place" in at.caption[0].value

    # Two places of a sub-ICB location that has more: their footprint keeps its other places.
    model = load_model("place")
    by_sicbl = model.blocks.groupby("sicbl_code").code.apply(list)
    places = next(v for v in by_sicbl if len(v) >= 3)[:2]
    move(at, places, new_name="Place test footprint")
    assert footprints(at) == 37
    assert any(m.startswith("Moved 2 block(s) to Place test footprint") for m in messages(at))
    mapping = at.session_state["ws_place_2026"].configuration.mapping()
    assert [mapping[c] for c in places] == ["Place test footprint"] * 2

    # Each level keeps its own map: back at ICB level, today's 36 are untouched.
    at.radio(key="level").set_value("icb2026").run()
    assert_ok(at)
    assert footprints(at) == 36
    at.radio(key="level").set_value("place").run()
    assert footprints(at) == 37


# ---------------------------------------------------------------------------------------------- 6. measure and band
def test_population_measure_and_band_change_the_in_band_metric(store):
    at = start_app()
    first = metric(at, "In band")
    assert first.label == "In band (1.5-2.5m)"
    values = {"gp_registered": first.value}
    for measure in ("census", "allocation"):
        at.selectbox(key="measure").set_value(measure).run()
        assert_ok(at)
        values[measure] = metric(at, "In band").value
        assert measure.split("_")[0].capitalize() in at.caption[0].value
    # The measures differ by millions of people across England: the count in band must move with at least one.
    assert len(set(values.values())) > 1, values

    at.slider(key="band").set_value((0.5, 4.0)).run()
    assert_ok(at)
    wide = metric(at, "In band")
    assert wide.label == "In band (0.5-4.0m)"
    assert int(wide.value) == 35  # every ICB but West and North London (4.7m) has between 0.5 and 4 million
    at.slider(key="band").set_value((3.5, 4.0)).run()
    assert metric(at, "In band").label == "In band (3.5-4.0m)"
    assert int(metric(at, "In band").value) < int(wide.value)


# ---------------------------------------------------------------------------------------------- 7. optimiser
def test_optimiser_at_icb_level_then_undo(store):
    at = start_app()
    before = float(metric(at, "Score").value)
    at.button(key="run_optimiser").click().run()
    assert_ok(at)
    done = [s.value for s in at.success]
    assert len(done) == 1 and done[0].startswith("Optimiser (exact): "), messages(at)
    assert "Undo returns to your map." in done[0]
    assert footprints(at) < 36
    assert float(metric(at, "Score").value) < before
    assert not at.warning  # the optimiser keeps footprints contiguous
    # The Compare tab shows the result beside the starting map.
    compare = at.tabs[6]
    table = compare.dataframe[0].value.set_index("measure")
    assert list(table.columns) == ["starting map", "optimised", "change"]
    assert table.loc["footprints", "starting map"] == 36 and table.loc["footprints", "optimised"] < 36
    assert len(compare.get("deck_gl_json_chart")) == 4  # the result beside the start, and the two maps compared
    at.button(key="undo").click().run()
    assert_ok(at)
    assert footprints(at) == 36
    assert float(metric(at, "Score").value) == before


def test_where_the_gap_may_lie_is_shown_under_the_optimisers_message(store, place_model_2026):
    """A place-level answer the proof cannot walk comes with a wide gap; under its message the app says which terms
    the bound cannot vouch for (here London at place level, today's map against the bound with the band), once."""
    from simulator.scenario import parse_scenario
    from simulator.solvers import Problem
    from simulator.solvers.band_bound import band_bound
    from simulator.solvers.gap_terms import gap_by_term

    text = (Path(APP).parent / "scenarios" / "region_london.toml").read_text().replace('level = "sicbl"',
                                                                                     'level = "place"')
    problem = Problem.from_scenario(parse_scenario(text, "London at place level"), place_model_2026)
    rows = gap_by_term(problem, problem.start.assignment, band_bound(problem).parts)
    at = start_app()
    at.session_state["flash"] = ("success", "Optimiser (local_search): feasible, score 130.0000, gap 1.50% (against "
                                            "a term-wise bound with the band: wide, as the exact proof was not run)")
    at.session_state["gap_by_term"] = [{"term": r.term, "answer": r.answer, "least": r.least} for r in rows]
    at.run()
    assert_ok(at)
    found = [e for e in at.expander if e.label == "Where the gap may lie"]
    assert len(found) == 1
    table = found[0].dataframe[0].value
    assert list(table.columns) == ["term", "score in the answer", "least the bound allows", "may be saved at most"]
    wide = [r for r in rows if r.gap > 5e-4]
    assert list(table["term"]) == [r.term for r in wide] and len(wide) >= 2
    assert list(table["may be saved at most"]) == [f"{r.gap:.3f}" for r in wide]
    at.run()  # the next run, with nothing new to say, shows neither the message nor the table
    assert_ok(at)
    assert not [e for e in at.expander if e.label == "Where the gap may lie"]


def test_margins_region_by_region_after_an_optimiser_run_within_regions(store):
    at = start_app()
    at.checkbox(key="opt_region").check().run()
    at.button(key="run_optimiser").click().run()
    assert_ok(at)
    at.button(key="margins").click().run()
    assert_ok(at)
    tables = [d.value for d in at.tabs[6].dataframe if "margin over the runner-up" in d.value.columns]
    assert len(tables) == 1
    firm = tables[0].set_index("NHS region")
    assert len(firm) == 7 and firm.loc["London", "today's ICBs -> footprints"].startswith("4 -> ")
    margins = [m for m in firm["margin over the runner-up"] if not m.startswith("none")]
    assert margins and all(float(m.removeprefix("at least ")) >= 0 for m in margins)
    assert not any("e-" in m or "nan" in m for m in firm["margin over the runner-up"])  # written for people


def test_optimiser_keeps_upper_tier_councils_whole_when_asked(store):
    """Today's map splits Cumberland, Westmorland and Furness and North Yorkshire between ICBs (the authorities tab
    lists them). With the toggle on, the optimiser must keep them whole: with today's ICBs as blocks that means
    merging ICBs above the band's ceiling, so it says why it cannot, naming the councils."""
    at = start_app()
    assert "split: **3** of 153" in at.tabs[4].markdown[0].value
    councils = at.tabs[4].dataframe[1].value.set_index("Council")
    assert set(councils.index[councils.Split]) == {"Cumberland", "Westmorland and Furness", "North Yorkshire"}
    at.checkbox(key="opt_upper_tier").check().run()
    at.button(key="run_optimiser").click().run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("No configuration meets these constraints")
    assert "upper-tier council Westmorland and Furness must stay together" in at.error[0].value
    assert "upper-tier council North Yorkshire must stay together" in at.error[0].value
    assert footprints(at) == 36  # the map is kept


def test_map_layers_switch_on(store):
    at = start_app()
    for key in ("show_trusts", "show_networks", "show_authorities"):
        at.checkbox(key=key).check().run()
        assert_ok(at)
    import json as _json

    spec = _json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    ids = [layer.get("id") for layer in spec["layers"]]
    assert ids == ["context", "blocks", "trusts", "networks", "authorities"]  # council and region outlines under
    outlines = next(layer for layer in spec["layers"] if layer["id"] == "authorities")["data"]
    assert {row["tip"] for row in outlines} >= {"Greater Manchester", "Greater London Authority"}


# ---------------------------------------------------------------------------------------------- 8. save, restart, open, compare
def test_save_then_open_after_restart_and_compare(store):
    at = start_app()
    assert not [s for s in at.selectbox if s.key == "open_name"]  # nothing saved yet
    # The Compare tab offers this map, the official maps and (once saved) scenarios.
    # (not the 2024 map: it cannot be drawn with today's ICBs as blocks).
    assert at.selectbox(key="cmp_b").options == ["This map", "Official map: April 2026: 36 ICBs (today)"]
    move(at, [CHESHIRE_MERSEYSIDE, GREATER_MANCHESTER], new_name="North West merged")
    assert footprints(at) == 35
    at.selectbox(key="measure").set_value("census").run()  # the scenario's parameters are saved too
    at.slider(key="band").set_value((1.0, 3.0)).run()
    assert metric(at, "In band").label == "In band (1.0-3.0m)"
    saved_score = metric(at, "Score").value
    at.text_input(key="save_name").input("NW merger")
    at.button(key="save_btn").click().run()
    assert_ok(at)
    assert "Saved NW merger." in messages(at)
    assert store.exists()

    # A restart: a new session, the resource cache (store, models) dropped; only the SQLite file remains.
    st.cache_resource.clear()
    at2 = start_app()
    assert footprints(at2) == 36
    assert metric(at2, "In band").label == "In band (1.5-2.5m)"  # a new session starts from the defaults
    assert at2.selectbox(key="open_name").options == ["NW merger"]
    at2.selectbox(key="open_name").set_value("NW merger")
    at2.button(key="open_btn").click().run()
    assert_ok(at2)
    assert "Opened NW merger." in messages(at2)
    assert footprints(at2) == 35
    # Its parameters come back with it, in the sidebar too (which would otherwise put its own back on the rerun).
    assert metric(at2, "In band").label == "In band (1.0-3.0m)"
    assert at2.selectbox(key="measure").value == "census" and "Census" in at2.caption[0].value
    assert at2.slider(key="band").value == (1.0, 3.0)
    assert metric(at2, "Score").value == saved_score
    at2.run()  # and they stay on the next run
    assert metric(at2, "In band").label == "In band (1.0-3.0m)"
    mapping = at2.session_state["ws_icb2026_2026"].configuration.mapping()
    assert mapping[CHESHIRE_MERSEYSIDE] == mapping[GREATER_MANCHESTER] == "North West merged"

    # Compare: the saved scenario against the current map, which goes back to today's 36 with Undo.
    at2.button(key="undo").click().run()
    assert_ok(at2)
    assert footprints(at2) == 36
    at2.selectbox(key="cmp_a").set_value("NW merger")
    at2.selectbox(key="cmp_b").set_value("This map").run()
    assert_ok(at2)
    compare = at2.tabs[6]
    tables = compare.dataframe
    assert len(tables) == 2  # the headline figures, and the co-assignment agreement per region
    df = tables[0].value
    assert list(df.columns) == ["measure", "NW merger", "This map", "change"]
    row = df.set_index("measure").loc["footprints"]
    assert (row["NW merger"], row["This map"], row["change"]) == (35, 36, 1)
    assert len(compare.get("deck_gl_json_chart")) == 2  # the two maps side by side


def test_save_without_a_name_is_refused(store):
    at = start_app()
    at.button(key="save_btn").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["give the scenario a name"]
    assert not [s for s in at.selectbox if s.key == "open_name"]


# ---------------------------------------------------------------------------------------------- 9. uploads
@pytest.fixture(scope="module")
def icb():
    return load_model("icb2026")


def assignment_csv(model, mapping: dict[str, str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["unit_code", "footprint"])
    for code, name in zip(model.blocks.code, model.blocks.name):
        w.writerow([code, mapping.get(code, name)])
    return buf.getvalue().encode()


def merged_nw(model) -> dict[str, str]:
    return {CHESHIRE_MERSEYSIDE: "North West merged", GREATER_MANCHESTER: "North West merged"}


def test_upload_through_the_app(store, icb):
    at = start_app()
    uploader = at.file_uploader(key="upload")
    assert set(uploader.allowed_type) == {".csv", ".geojson", ".json", ".toml"}
    assert not [b for b in at.button if b.key == "use_upload"]  # nothing to use until a file is chosen

    uploader.set_value(("nw.csv", assignment_csv(icb, merged_nw(icb)), "text/csv"))
    at.run()
    assert_ok(at)
    at.button(key="use_upload").click().run()
    assert_ok(at)
    assert "Opened nw.csv: 35 footprints." in messages(at)
    assert footprints(at) == 35

    # A scenario TOML brings its parameters, shown in the sidebar.
    toml = b'level = "icb2026"\npopulation_measure = "allocation"\nband = [1_000_000, 3_500_000]\n[start]\nfrom = "baseline"\n'
    at.file_uploader(key="upload").set_value(("today.toml", toml, "application/toml"))
    at.run()
    at.button(key="use_upload").click().run()
    assert_ok(at)
    assert "Opened today.toml: 36 footprints." in messages(at)
    assert footprints(at) == 36
    assert metric(at, "In band").label == "In band (1.0-3.5m)"
    assert at.selectbox(key="measure").value == "allocation"

    # A bad file is one clear error line; the map is unchanged.
    at.file_uploader(key="upload").set_value(("bad.csv", b"code,name\nE54000036,x\n", "text/csv"))
    at.run()
    at.button(key="use_upload").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("bad.csv: the header must name the columns unit_code")
    assert "\n" not in errors[0]
    assert footprints(at) == 36


def upload_error(name: str, data: bytes, model) -> str:
    with pytest.raises(InputFileError) as info:
        parse_upload(name, data, model)
    message = str(info.value)
    assert message and "\n" not in message.strip(), message  # one line
    assert "Traceback" not in message
    return message


def test_parse_upload_accepts_csv_geojson_and_toml(icb, tmp_path):
    from simulator.io import outputs

    mapping = merged_nw(icb)
    cfg, params = parse_upload("nw.csv", assignment_csv(icb, mapping), icb)
    assert cfg.n_footprints == 35 and params is None
    assert cfg.mapping()[CHESHIRE_MERSEYSIDE] == "North West merged"

    exported = outputs(icb, cfg, evaluate(icb, cfg))
    cfg2, params2 = parse_upload("footprints.geojson", exported["footprints.geojson"].encode(), icb)
    assert cfg2.same_partition(cfg) and params2 is None
    cfg3, _ = parse_upload("assignment.csv", exported["assignment.csv"].encode(), icb)  # the CSV export too
    assert cfg3.same_partition(cfg)

    members = {}
    for code, name in cfg.mapping().items():
        members.setdefault(name, []).append(code)
    toml = ['name = "Uploaded"', 'level = "icb2026"', 'population_measure = "census"', "band = [1_000_000, 3_000_000]",
            "", "[start.footprints]"] + [f"{json.dumps(n)} = {json.dumps(c)}" for n, c in members.items()]
    cfg4, params4 = parse_upload("scenario.toml", "\n".join(toml).encode(), icb)
    assert cfg4.same_partition(cfg)
    assert params4.population_measure == "census" and tuple(params4.band) == (1_000_000, 3_000_000)

    baseline, _ = parse_upload("today.toml", b'level = "icb2026"\n[start]\nfrom = "baseline"\n', icb)
    assert baseline.n_footprints == 36
    bom, _ = parse_upload("bom.csv", b"\xef\xbb\xbf" + assignment_csv(icb, {}), icb)  # Excel's UTF-8 BOM
    assert bom.n_footprints == 36
    assert not list(tmp_path.iterdir())


def test_parse_upload_rejects_bad_files_with_one_clear_message(icb):
    from simulator.io import outputs

    good = assignment_csv(icb, {})
    too_big = good + b"#" * (MAX_UPLOAD_BYTES + 1 - len(good))
    assert "larger than the 5 MB allowed" in upload_error("big.csv", too_big, icb)
    assert upload_error("latin.csv", "unit_code,footprint\nE54000036,Cornouailles é\n".encode("latin-1"),
                        icb) == "latin.csv: not UTF-8 text"
    assert upload_error("bytes.geojson", b"\xff\xfe\x00\x01garbage", icb) == "bytes.geojson: not UTF-8 text"
    assert upload_error("empty.csv", b"  \n", icb) == "empty.csv: the file is empty"

    # Malformed CSV, GeoJSON and TOML.
    assert upload_error("cols.csv", b"code,name\nE54000036,x\n", icb).startswith(
        "cols.csv: the header must name the columns unit_code and footprint")
    assert upload_error("short.csv", b"unit_code,footprint\nE54000036\n", icb).startswith("short.csv, line 2:")
    assert upload_error("x.geojson", b'{"type": "FeatureCollection", "features": [', icb).startswith(
        "x.geojson: not valid JSON")
    assert upload_error("x.json", b'{"type": "Feature"}', icb) == "x.json: not a GeoJSON FeatureCollection"
    assert upload_error("x.geojson", b'{"type": "FeatureCollection", "features": [{"properties": {}}]}',
                        icb) == "x.geojson: feature 1 has no 'footprint' name"
    assert upload_error("x.toml", b'level = "icb\n', icb).startswith("x.toml: not valid TOML")
    assert upload_error("x.toml", b'levels = "icb"\n', icb).startswith("x.toml: unknown key(s) levels")
    assert upload_error("x.toml", b'[start]\nfile = "/etc/passwd"\n', icb) == (
        "x.toml: its start refers to a file; upload that file instead")
    assert upload_error("x.txt", good, icb) == "x.txt: use a .csv, .geojson or .toml file"

    # Not a whole configuration of this model.
    missing = upload_error("part.csv", b"unit_code,footprint\nE54000036,Cornwall\n", icb)
    assert missing.startswith("part.csv: 35 icb2026 block(s) are not assigned")
    unknown = good.replace(b"E54000036", b"E54999999")
    assert upload_error("unknown.csv", unknown, icb).startswith("unknown.csv: 1 code is not an icb2026 block: E54999999")

    # Codes of another level: switch the level first.
    sicbl = load_model("sicbl")
    cfg = Configuration.baseline(sicbl)
    sicbl_csv = assignment_csv(sicbl, {})
    assert upload_error("sicbl.csv", sicbl_csv, icb) == "sicbl.csv: holds sicbl codes; switch the level to sicbl first"
    geo = outputs(sicbl, cfg, evaluate(sicbl, cfg))["footprints.geojson"].encode()
    assert upload_error("sicbl.geojson", geo, icb) == (
        "sicbl.geojson: holds sicbl codes; switch the level to sicbl first")
    assert upload_error("place.toml", b'level = "place"\n', icb) == (
        "place.toml: a place-level scenario; switch the level to place first")
    mixed = b"unit_code,footprint\nE54000036,A\nE38000256,B\n"
    assert upload_error("mixed.csv", mixed, icb) == (
        "mixed.csv: mixes levels: 1 code is an icb2026 block, 1 is a sicbl block (E38000256); use one level "
        "throughout")


def test_upload_reads_a_file_as_the_command_line_does(icb):
    """evaluate's own assignment.csv (level column: icb2026) with one code unknown: the code is named alone, as
    the command line names it, whether the file is on today's map or the app is on the 2024 one."""
    from simulator.io import outputs

    config = Configuration.baseline(icb)
    text = outputs(icb, config, evaluate(icb, config))["assignment.csv"]
    first = text.splitlines()[1].split(",")[0]
    for code in ("E54099999", "XXX"):
        bad = text.replace(f"\n{first},", f"\n{code},", 1).encode()
        assert upload_error("assignment.csv", bad, icb) == f"assignment.csv: 1 code is not an icb2026 block: {code}"
    assert upload_error("assignment.csv", text.encode(), load_model("icb2024")) == (
        "assignment.csv: holds icb2026 codes; switch the level to icb2026 first")


def test_upload_name_is_never_a_path(icb, tmp_path, monkeypatch):
    """The name only picks the format: nothing is opened or created, and messages show only its last part."""
    monkeypatch.chdir(tmp_path)
    real = tmp_path / "real.csv"  # a valid file on disk under the name given: it must not be read
    real.write_bytes(assignment_csv(icb, merged_nw(icb)))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    opened: list[str] = []
    watching = [True]

    def audit(event, args):
        if watching[0] and event in ("open", "os.listdir", "os.scandir") and args and args[0] is not None:
            opened.append(str(args[0]))

    sys.addaudithook(audit)  # audit hooks cannot be removed: the flag turns this one off after the test
    try:
        for name, label in (("../../etc/passwd.csv", "passwd.csv"), ("/etc/passwd.csv", "passwd.csv"),
                            ("../../../secrets/key.toml", "key.toml"), (str(real), "real.csv")):
            message = upload_error(name, b"not,a,configuration\n", icb)
            assert message.startswith(f"{label}: "), message
            for part in ("../", "/etc", "secrets/", str(tmp_path)):
                assert part not in message, message
        # Valid bytes under a hostile name are read from the bytes, not from the name.
        cfg, _ = parse_upload("../../etc/passwd.csv", assignment_csv(icb, {}), icb)
        assert cfg.n_footprints == 36
        cfg, _ = parse_upload(str(real), assignment_csv(icb, {}), icb)
        assert cfg.n_footprints == 36  # not the 35 of the file on disk
    finally:
        watching[0] = False
    assert not [p for p in opened if "passwd" in p or "secrets" in p or "key.toml" in p or str(tmp_path) in p or "real.csv" in p], opened
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


# ---------------------------------------------------------------------------------------------- 10. downloads
@pytest.fixture
def media(monkeypatch):
    """The in-memory media stores AppTest's runs use, so download buttons' files can be read back."""
    stores: list[MemoryMediaFileStorage] = []

    class Recording(MemoryMediaFileStorage):
        def __init__(self, endpoint: str) -> None:
            super().__init__(endpoint)
            stores.append(self)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", Recording)
    return stores


def downloaded(media, button) -> bytes:
    name = button.proto.url.rsplit("/", 1)[-1]
    return media[-1].get_file(name).content


def test_prepare_downloads_and_read_them(store, media, icb):
    at = start_app()
    assert not at.get("download_button")
    at.button(key="prep_dl").click().run()
    assert_ok(at)
    buttons = {b.label: b for b in at.get("download_button")}
    assert list(buttons) == ["Download footprints (GeoJSON)", "Download footprint table (CSV)",
                             "Download configuration (CSV)", "Download all metrics (JSON)",
                             "Download as a scenario file (TOML)"]

    geo = json.loads(downloaded(media, buttons["Download footprints (GeoJSON)"]))
    assert geo["type"] == "FeatureCollection"
    assert len(geo["features"]) == 36
    assert {f["properties"]["footprint"] for f in geo["features"]} == set(Configuration.baseline(icb).names)
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in geo["features"])
    table = list(csv.DictReader(io.StringIO(downloaded(media, buttons["Download footprint table (CSV)"]).decode())))
    assert len(table) == 36
    rows = list(csv.DictReader(io.StringIO(downloaded(media, buttons["Download configuration (CSV)"]).decode())))
    assert len(rows) == 36 and {"unit_code", "footprint"} <= set(rows[0])
    metrics = json.loads(downloaded(media, buttons["Download all metrics (JSON)"]))
    assert metrics["overall"]["footprints"] == 36

    # The downloads follow the map: after a move they are prepared again and hold 35 footprints.
    move(at, [CHESHIRE_MERSEYSIDE, GREATER_MANCHESTER], new_name="North West merged")
    assert not at.get("download_button")  # stale downloads are not offered
    at.button(key="prep_dl").click().run()
    assert_ok(at)
    geo = json.loads(downloaded(media, at.get("download_button")[0]))
    assert len(geo["features"]) == 35
    back, _ = parse_upload("footprints.geojson", json.dumps(geo).encode(), icb)  # and the export opens again
    assert back.n_footprints == 35
    toml_button = next(b for b in at.get("download_button") if b.label == "Download as a scenario file (TOML)")
    again, params = parse_upload("scenario.toml", downloaded(media, toml_button), icb)  # so does the scenario
    assert again.n_footprints == 35 and "North West merged" in again.names and params.population_measure == "gp_registered"


def test_compare_two_saved_scenarios(store):
    at = start_app()
    at.text_input(key="save_name").set_value("Today")
    at.button(key="save_btn").click().run()
    move(at, [CHESHIRE_MERSEYSIDE, GREATER_MANCHESTER], new_name="North West merged")
    at.text_input(key="save_name").set_value("Merged")
    at.button(key="save_btn").click().run()
    assert_ok(at)
    at.selectbox(key="cmp_a").set_value("Today").run()
    at.selectbox(key="cmp_b").set_value("Merged").run()
    assert_ok(at)
    df = at.tabs[6].dataframe[0].value.set_index("measure")
    assert list(df.columns) == ["Today", "Merged", "change"]
    assert (df.loc["footprints", "Today"], df.loc["footprints", "Merged"]) == (36, 35)
    assert df.loc["£ at stake", "Merged"] > 0 == df.loc["£ at stake", "Today"]


def test_colour_by_every_option(store):
    import json as _json

    at = start_app()
    fills = {}
    for option in ("footprint", "band", "allocation_per_head", "localisation_index"):
        at.selectbox(key="colour_by").set_value(option).run()
        assert_ok(at)
        spec = _json.loads(at.get("deck_gl_json_chart")[0].proto.json)
        data = next(layer for layer in spec["layers"] if layer["id"] == "blocks")["data"]
        fills[option] = {tuple(row["fill"]) for row in data}
    # By band there are at most three colours (below, in, above); by footprint one per footprint.
    assert fills["band"] <= {(214, 96, 77), (77, 172, 38), (67, 147, 195)} and len(fills["band"]) == 3
    assert len(fills["footprint"]) > 30
    assert len(fills["allocation_per_head"]) > 10 and len(fills["localisation_index"]) > 10


# ---------------------------------------------------------------------------------------------- 11. today's map
def test_change_from_today_baseline_switch_and_a_shipped_scenario(store):
    at = start_app()
    assert at.radio(key="baseline").value == "2026"
    assert metric(at, "Moving ICB").value == "0" and metric(at, "Today's ICBs split").value == "0"
    move(at, [CHESHIRE_MERSEYSIDE, GREATER_MANCHESTER], new_name="North West merged")
    assert metric(at, "Moving ICB").value == "2.80m"  # Cheshire and Merseyside's people join Greater Manchester's
    table = at.tabs[0].dataframe[0].value.set_index("Footprint")
    assert table.loc["North West merged", "People changing ICB"] == pytest.approx(2_795_002)
    assert (shown(at.tabs[0].dataframe[0]).set_index("Footprint").loc["North West merged", "People changing ICB"]
            == "2.80m")
    partners = at.tabs[2].dataframe[0].value  # the budget tab: the merged footprint's two partners, headed in words
    assert len(partners["Partner (today's ICB)"]) == 2 and set(partners.Footprint) == {"North West merged"}
    assert_figures_readable(at)
    co = shown(at.tabs[6].dataframe[1]).set_index("region")  # this map merges two ICBs, today's map none
    assert (co.loc["England (overall)", "precision"], co.loc["England (overall)", "recall"]) == ("0.00", "n/a")
    assert "recall: B puts no such pair together" in co.loc["England (overall)", "why a figure is n/a"]

    # The 2024 map as today: the level follows (today's 36 cannot draw it), 42 footprints.
    at.radio(key="baseline").set_value("2024").run()
    assert_ok(at)
    assert at.radio(key="level").value == "icb2024" and footprints(at) == 42
    assert "icb2026" not in at.radio(key="level").options

    # A scenario from scenarios/: its level, map, start and rules come with it.
    at.selectbox(key="scenario_pick").set_value("Backtest 2026: London").run()
    at.button(key="open_scenario").click().run()
    assert_ok(at)
    assert at.radio(key="level").value == "place" and at.radio(key="baseline").value == "2024"
    assert footprints(at) == 42
    assert any(m.startswith("Opened the scenario Backtest 2026: London") for m in messages(at))
    assert any("rules of the scenario Backtest 2026: London" in c.value for c in at.caption)
    assert at.slider(key="band").value == (1.0, 2.5)

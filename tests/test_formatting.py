"""Figures written for people (``simulator.formatting``) and the map's offline context (``context_outlines``), on
the synthetic model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator import Configuration, MetricParameters, evaluate
from simulator.compare import coassignment
from simulator.formatting import (MISSING, coassignment_view, column_formatter, count, header, measure_formatter,
                                  money, people, per_head, percent, plain, ratio, score, share, styled, styled_diff)
from simulator.mapdata import COUNCIL_LINE, REGION_LINE, context_outlines
from simulator.model import Model
from simulator.workspace import diff
from tests.synthetic import POP, synthetic_inputs, synthetic_model

FORMATTERS = [money, per_head, people, share, percent, ratio, count, score, plain]


def shown(styler) -> list[list[str]]:
    """The cells as the styler writes them (rows of strings, no index, no header)."""
    text = styler.hide(axis="index").to_string(delimiter="\t")
    return [line.split("\t") for line in text.splitlines()[1:]]


@pytest.fixture(scope="module")
def model():
    return synthetic_model()


@pytest.fixture(scope="module")
def merged(model):
    return Configuration.from_mapping(model, {"S1": "AB", "S4": "AB", "S2": "AB", "S5": "AB", "S3": "C", "S6": "C"})


# ---------------------------------------------------------------------------------------------- single figures
@pytest.mark.parametrize("value, text", [
    (367451106.9305, "£367.5m"), (0.0, "£0.0m"), (-2_100_000, "-£2.1m"), (1_250_000_000, "£1.25bn"),
    (999_960_000, "£1.00bn"), (999_940_000, "£999.9m"), (12_345_678_901, "£12.35bn"), (None, MISSING),
    (float("nan"), MISSING)])
def test_money_in_millions_or_billions(value, text):
    assert money(value) == text


def test_money_change_carries_its_sign():
    assert money(3_200_000, sign=True) == "+£3.2m"
    assert money(-3_200_000, sign=True) == "-£3.2m"
    assert money(0, sign=True) == "£0.0m"


# For each way of writing: a negative value too small to show (e.g. the -1.2e-7 of a running-cost saving).
TINY_NEGATIVES = [(money, -49_999.0), (money, -1.1920928955078125e-07), (per_head, -0.4), (people, -0.4),
                  (share, -0.0004), (percent, -0.04), (ratio, -0.004), (count, -0.4), (score, -0.004),
                  (plain, -2.384185791015625e-07), (money, -0.0)]


@pytest.mark.parametrize("f, value", TINY_NEGATIVES)
def test_no_negative_zero(f, value):
    """A value that rounds to zero is written without a sign: never "£-0.0m", "-£0.0m" or "+0.0 pts"."""
    for sign in (False, True):
        text = f(value, sign=sign)
        assert text[0] not in "+-" and "-0" not in text, (f.__name__, sign, text)
        assert not any(ch in "123456789" for ch in text), text


@pytest.mark.parametrize("value, text", [
    (2_795_002, "2.80m"), (8_649_324_315_306, "8,649,324.32m"), (456_789, "457k"), (999_400, "999k"),
    (999_600, "1.00m"), (12_345, "12k"), (3_456, "3.5k"), (850, "850"), (0.2, "0"), (-45_000, "-45k")])
def test_people_in_millions_or_thousands(value, text):
    assert people(value) == text


def test_shares_ratios_and_per_head():
    assert share(0.8615451059663178) == "86.2%"
    assert share(0.003, sign=True) == "+0.3 pts" and share(-0.0123, sign=True) == "-1.2 pts"
    assert share(2e-7, sign=True) == "0.0 pts"
    assert ratio(0.8571428) == "0.86" and ratio(1) == "1.00" and ratio(None) == MISSING
    assert per_head(1715.655384) == "£1,716" and per_head(-12.4, sign=True) == "-£12"
    assert percent(-4.949038, sign=True) == "-4.9%" and percent(1.881363, sign=True) == "+1.9%"
    assert count(1234.0) == "1,234" and score(149.6027) == "149.60"
    assert plain(np.int64(36)) == "36" and plain(2.384185791015625e-07) == "0.00" and plain("x") == "x"


# ---------------------------------------------------------------------------------------------- tables
def test_every_figure_column_of_the_app_tables_is_written_for_people(model, merged):
    """No float column of the tables the app shows is left as a raw number, and the numbers underneath stay."""
    ev = evaluate(model, merged, MetricParameters())
    for table in (ev.footprints.drop(columns=["members", "member_names", "regions", "today_icbs",
                                             "today_icbs_split"]),
                  ev.partners, ev.major_trusts.drop(columns=["footprints_served_names"]), ev.networks,
                  ev.authorities.drop(columns=["footprints"])):
        styler = styled(table)
        cells = shown(styler)
        assert len(cells) == len(table)
        floats = [i for i, c in enumerate(table.columns) if pd.api.types.is_float_dtype(table[c])]
        for row in cells:
            for i in floats:
                digits = sum(ch.isdigit() for ch in row[i].split(".")[-1]) if "." in row[i] else 0
                assert digits <= 2, (table.columns[i], row[i])
        for c in table.columns:
            if pd.api.types.is_bool_dtype(table[c]):  # shown as ticks, never as a share or a number
                assert {row[list(table.columns).index(c)] for row in cells} <= {"True", "False"}, c
        # Headers in words (no snake_case); sorting and downloads keep the numbers.
        assert list(styler.data.columns) == [header(c) for c in table.columns]
        assert not any("_" in h for h in styler.data.columns), list(styler.data.columns)
        assert styler.data.set_axis(table.columns, axis=1).equals(table)
    columns = ["footprint", "population", "at_stake_gbp", "allocation_per_head", "localisation_index",
               "distance_from_target"]
    fp = dict(zip(columns, shown(styled(ev.footprints[columns]))[0]))
    ab = ev.footprints.iloc[0]
    assert fp["population"] == people(ab.population) and fp["population"].endswith("m")
    assert fp["at_stake_gbp"] == money(ab.at_stake_gbp) and fp["at_stake_gbp"].startswith("£")
    assert fp["allocation_per_head"] == per_head(ab.allocation_per_head)
    assert fp["localisation_index"].endswith("%") and fp["distance_from_target"][0] in "+-"


def test_headers_in_planners_words():
    assert header("change_per_head_levelling_gbp") == "Change if levelled per head"
    assert header("icb_name") == "Partner (today's ICB)"
    assert header("upper_tier_people_outside_majority") == "Upper tier people outside majority"
    assert header("n_icbs_gbp") == "Number of ICBs (£)"


def test_column_kinds_by_name():
    assert column_formatter("running_cost_allowance_estimate_gbp") is money
    assert column_formatter("primary_care_per_head_spread") is per_head
    assert column_formatter("catchment_persons") is people and column_formatter("population_census") is people
    assert column_formatter("share_in_host_footprint") is share
    assert column_formatter("f1_persons") is ratio
    assert column_formatter("n_members") is None and column_formatter("footprint") is None
    assert column_formatter("shared") is None  # a yes/no column, not a share


def test_headline_table_row_by_row(model, merged):
    today = evaluate(model, Configuration.baseline(model), MetricParameters())
    ev = evaluate(model, merged, MetricParameters())
    rows = pd.DataFrame(diff(today, ev)).rename(columns={"A": "today", "B": "this map"})
    cells = {r[0]: r[1:] for r in shown(styled_diff(rows))}
    assert set(cells) == set(rows.measure)
    assert cells["footprints"] == ["3", "2", "-1"]
    assert cells["£ at stake"][0] == "£0.0m" and cells["£ at stake"][2].startswith("+£")
    assert cells["localisation index"][0].endswith("%") and cells["localisation index"][2].endswith(" pts")
    assert cells["people changing ICB"][1] == people(ev.overall["change_from_today"]["people_moved"])
    same = {r[0]: r[1:] for r in shown(styled_diff(pd.DataFrame(diff(today, today))))}
    assert same["running-cost saving £"] == ["£0.0m", "£0.0m", "£0.0m"]
    assert measure_formatter("a measure added later") is plain  # written as a count or two decimals
    # Every headline counted in people or pounds is written as such (1.26m, not 1,260,449).
    for label in rows.measure:
        if "people" in label:
            assert measure_formatter(label) is people, label
        if "£" in label:
            assert measure_formatter(label) is money, label


# ---------------------------------------------------------------------------------------------- co-assignment
def test_coassignment_nothing_to_measure_is_said_in_words(model, merged):
    today = Configuration.baseline(model)
    reference = model.map_assignment("2024")[0]
    why, table = coassignment_view(coassignment(model, today, today, reference), "blocks of different ICBs")
    assert table is None and "neither map puts together any pair of blocks of different ICBs" in why
    one_icb = np.zeros(model.n_blocks, dtype=int)  # a reference with every block in one ICB: no pair counts
    why, table = coassignment_view(coassignment(model, merged, today, one_icb), "blocks of different ICBs")
    assert table is None and "there is no pair of blocks of different ICBs" in why


def test_coassignment_table_is_readable(model, merged):
    today = Configuration.baseline(model)
    co = coassignment(model, merged, today, model.map_assignment("2024")[0], POP)
    why, table = coassignment_view(co, "blocks of different ICBs")
    assert why is None
    assert list(table.region) == ["Region R1", "Region R2", "England (overall)"]
    overall = table.iloc[-1]
    # A merges A with B (4 pairs across them), B (today) merges nothing: 4 false positives, precision 0.
    assert (overall["pairs"], overall["together in A only"], overall["precision"], overall["F1"]) == \
        ("12", "4", "0.00", "0.00")
    assert overall["recall"] == MISSING and "recall: B puts no such pair together" in overall["why a figure is n/a"]
    r2 = table.iloc[1]
    assert r2["pairs"] == "0" and r2["why a figure is n/a"] == "no pair of blocks of different ICBs in this region"
    assert not any("persons" in c for c in table.columns)  # products of populations mean nothing to a reader


# ---------------------------------------------------------------------------------------------- map context
def test_context_outlines_draw_regions_and_councils():
    inputs = synthetic_inputs()
    inputs.geography.blocks["lad_code"] = ["L1", "L1", "L2", "L3", "L3", "L2"]
    inputs.geography.blocks["lad_name"] = ["Left", "Left", "Right", "Low", "Low", "Right"]
    rows = context_outlines(Model.from_inputs(inputs), tolerance=0.0)
    tips = [r["tip"] for r in rows]
    assert tips == ["Council: Left", "Council: Right", "Council: Low", "NHS region: Region R1", "NHS region: Region R2"]
    # Region R1 is the 0.2 x 0.2 degree square of S1, S2, S4, S5: one closed ring round its four corners.
    r1 = rows[3]
    assert {tuple(p) for p in r1["path"]} == {(-1.0, 52.0), (-0.8, 52.0), (-0.8, 51.8), (-1.0, 51.8)}
    assert r1["path"][0] == r1["path"][-1]
    assert (r1["colour"], r1["width"]) == (REGION_LINE["colour"], REGION_LINE["width"])
    assert (rows[0]["colour"], rows[0]["width"]) == (COUNCIL_LINE["colour"], COUNCIL_LINE["width"])


def test_context_outlines_skip_blocks_without_a_council(model):
    """The synthetic blocks have no council code: only the two regions are drawn."""
    assert [r["tip"] for r in context_outlines(model)] == ["NHS region: Region R1", "NHS region: Region R2"]


def test_conflicts_are_a_bulleted_list_shortest_first():
    from simulator.formatting import bulleted

    text = bulleted("No configuration meets these constraints:", ["a longer conflict\nover two lines", "short"])
    assert text == "No configuration meets these constraints:\n\n- short\n- a longer conflict over two lines"

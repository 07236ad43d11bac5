"""Upper-tier councils on the real data: the lookup, the block x council residents at every level, which councils
the official maps split, and the rule that keeps each council whole (within the 2% tolerance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from boundaries.councils import UTLA_LOOKUP, load_councils
from boundaries.errors import DataError
from boundaries.geography import LAD_SUMMARY
from simulator.configuration import Configuration
from simulator.constraints import build_constraints
from simulator.metrics.councils import councils
from simulator.metrics.evaluate import MetricParameters
from simulator.metrics.score import scorer

pytestmark = pytest.mark.integration

SPLIT_2024 = {"Essex", "Hampshire", "Hertfordshire", "Suffolk", "Surrey"}  # each in one ICB from April 2026
CUMBRIA_AND_YORKSHIRE = {"Cumberland", "Westmorland and Furness", "North Yorkshire"}
SLIVERS = {"Buckinghamshire", "Oxfordshire"}  # best-fit slivers of the LSOA to sub-ICB lookup


def _split(model, config) -> tuple[pd.DataFrame, dict]:
    table, _, overall = councils(model, config)
    return table.set_index("council_name"), overall


def test_lookup_gives_every_district_one_upper_tier_council(data_dir):
    lads = pd.read_csv(Path(data_dir) / LAD_SUMMARY, dtype=str)
    table, members = load_councils(Path(data_dir), lads)
    assert len(members) == 296 and members.lad_code.is_unique
    assert table.type.value_counts().to_dict() == {"county council": 21, "unitary authority": 63,
                                                   "metropolitan district": 36, "London borough": 33}
    essex = table.code[table.name == "Essex"].item()
    assert (members.council == essex).sum() == 12  # Thurrock and Southend-on-Sea are unitaries


def test_a_bad_lookup_row_is_one_line_naming_file_and_row(data_dir, tmp_path):
    lads = pd.read_csv(Path(data_dir) / LAD_SUMMARY, dtype=str)
    df = pd.read_csv(Path(data_dir) / UTLA_LOOKUP, dtype=str)
    row = int(np.flatnonzero(df.lad_code == "E09000002")[0])  # Barking and Dagenham, its own upper tier
    df.loc[row, "utla_code"] = "E09000003"
    (tmp_path / "geo").mkdir()
    df.to_csv(tmp_path / UTLA_LOOKUP, index=False)
    with pytest.raises(DataError) as exc:
        load_councils(tmp_path, lads)
    assert exc.value.file == UTLA_LOOKUP and f"line {row + 2}:" in str(exc.value) and "\n" not in str(exc.value)


def test_every_level_holds_the_same_council_residents(models, today_model):
    """A place lies in one council; coarser blocks hold the sums of their places' residents."""
    place = models["place"]
    assert ((place.council_overlap > 0).sum(axis=1) == 1).all()
    by_council = place.council_overlap.sum(axis=0)
    assert by_council.sum() == pytest.approx(place.blocks.census_population.sum())
    for m in (models["sicbl"], models["icb"], today_model):
        assert m.council_overlap.sum(axis=0) == pytest.approx(by_council)
        assert m.council_overlap.sum(axis=1) == pytest.approx(m.blocks.census_population.to_numpy())
    assert sum(1 for node in today_model.graph if node[0] == "council") == 153


def test_todays_map_splits_councils_in_cumbria_and_north_yorkshire(place_model_2026):
    """The April 2026 map: five councils have residents in two or more ICBs. Cumberland (3%), Westmorland and
    Furness (24%) and North Yorkshire (9%) count as split; Buckinghamshire's and Oxfordshire's best-fit slivers
    (about 1.2%) do not, at the 2% tolerance."""
    m = place_model_2026
    table, overall = _split(m, Configuration.baseline(m))
    assert set(table.index[table.n_footprints > 1]) == CUMBRIA_AND_YORKSHIRE | SLIVERS
    assert set(overall["upper_tier_councils_split_names"]) == CUMBRIA_AND_YORKSHIRE
    assert table.loc["Westmorland and Furness", "share_in_one_footprint"] == pytest.approx(0.758, abs=1e-3)
    assert table.loc[sorted(SLIVERS), "share_in_one_footprint"].min() > 0.98
    assert not table.loc[sorted(SPLIT_2024), "split"].any()
    # The score term counts the same people, per 100,000 (every split council has a majority footprint).
    terms = scorer(m, MetricParameters()).terms(Configuration.baseline(m).assignment, 36)
    assert terms["upper_tier_split"] == pytest.approx(overall["upper_tier_people_in_smaller_parts"] / 1e5, abs=1e-9)


def test_the_2024_map_split_the_councils_the_2026_changes_made_whole(place_model):
    """In 2024 Essex, Hampshire, Hertfordshire, Suffolk and Surrey each had residents in two or three ICBs. At the
    2% tolerance Hertfordshire does not count as split: 1.7% of its residents (a North Hertfordshire sliver) were
    in Cambridgeshire and Peterborough."""
    table, _ = _split(place_model, Configuration(place_model, *place_model.map_assignment("2024")))
    assert (table.loc[sorted(SPLIT_2024), "n_footprints"] >= 2).all()
    assert table.loc["Essex", "n_footprints"] == 3
    assert set(table.index[table.split]) == (SPLIT_2024 - {"Hertfordshire"}) | CUMBRIA_AND_YORKSHIRE
    assert table.loc["Hertfordshire", "share_in_one_footprint"] == pytest.approx(0.983, abs=1e-3)
    today, _ = _split(place_model, Configuration(place_model, *place_model.map_assignment("2026")))
    assert (today.loc[sorted(SPLIT_2024), "n_footprints"] == 1).all()


def test_keeping_councils_whole_at_place_level(place_model):
    """The hard rule at place level: the 2024 map breaks it for Essex, Hampshire, Suffolk and Surrey (and in Cumbria
    and North Yorkshire), the 2026 map only in Cumbria and North Yorkshire; every rule's core holds at least 98% of
    its council; a council straddling NHS regions is kept whole within each region's part only."""
    m = place_model
    cons = build_constraints(m, {"keep_whole": ["utla"]})
    names = {why.removeprefix("upper-tier council "): idx for idx, why in cons.groups}
    O = m.council_overlap
    for name, idx in names.items():
        k = m.councils.index[m.councils.name == name].item()
        assert O[idx, k].sum() >= 0.98 * O[:, k].sum()
    essex = m.councils.index[m.councils.name == "Essex"].item()
    assert set(names["Essex"]) == set(np.flatnonzero(O[:, essex] > 0))  # no Essex place is a sliver
    pop = m.population()
    broken = {v.removeprefix("upper-tier council ").removesuffix(" is split")
              for v in cons.violations(m, m.map_assignment("2024")[0], pop)}
    assert broken == (SPLIT_2024 - {"Hertfordshire"}) | CUMBRIA_AND_YORKSHIRE
    broken = {v.removeprefix("upper-tier council ").removesuffix(" is split")
              for v in cons.violations(m, m.map_assignment("2026")[0], pop)}
    assert broken == CUMBRIA_AND_YORKSHIRE
    by_region = build_constraints(m, {"keep_whole": ["utla"], "within_region": True})
    region = m.blocks.region_ods.to_numpy()
    assert all(len(set(region[idx])) == 1 for idx, _ in by_region.groups)
    # Cumberland and Westmorland and Furness straddle the North West and North East and Yorkshire with one place
    # in each: within regions nothing is left to keep together.
    whole = {why for _, why in cons.groups}
    assert {"upper-tier council Cumberland", "upper-tier council Westmorland and Furness"} <= whole
    assert not any("Cumberland" in why or "Westmorland" in why for _, why in by_region.groups)


def test_districts_kept_whole_are_named_as_planners_know_them(sicbl_model, place_model):
    """A local authority kept whole is named, with its code: by the place model's district names, and at sub-ICB
    level (where blocks hold parts of several) by the upper-tier councils' names where it is one of them."""
    from simulator.constraints import build_constraints

    place = [why for _, why in build_constraints(place_model, {"keep_whole": ["lad"]}, "t").groups]
    assert "local authority North Hertfordshire (E07000099)" in place
    assert all(why.endswith(")") for why in place)
    coarse = [why for _, why in build_constraints(sicbl_model, {"keep_whole": ["lad"]}, "t").groups]
    unitaries = set(sicbl_model.councils.name)
    named = [why for why in coarse if why.split(" (")[0].removeprefix("local authority ") in unitaries]
    assert named and len(named) < len(coarse)  # shire districts are not upper-tier councils: their codes alone

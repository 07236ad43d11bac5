"""Reading configuration files: the level a file declares decides, else the level that matches most of its codes;
unknown codes are left to be named alone, codes of another level make a mix of levels."""

from __future__ import annotations

import json

import pytest

from simulator.errors import InputFileError
from simulator.io import configuration_level, level_blocks, parse_csv, parse_geojson, read_configuration

# Each level's block codes, as level_blocks gives them (GSS and ODS, upper case): two ICBs kept their codes in
# April 2026 (Cornwall, Kent), one 2026 ICB is new (West and North London, with a five-character ODS code) and
# replaced two of 2024.
BLOCKS = {
    "icb2026": {"E54000036", "QT6", "E54000032", "QKS", "E54000071", "D7T5G"},
    "icb2024": {"E54000036", "QT6", "E54000032", "QKS", "E54000027", "QRV", "E54000028", "QMJ"},
    "sicbl": {"E38000068", "01F", "E38000256", "M1J4Y"},
    "place": {"E38000068:E08000012", "01F:E08000012"},
}
TODAY = ["E54000036", "E54000032", "E54000071"]
OF_2024 = ["E54000036", "E54000032", "E54000027", "E54000028"]


def test_the_level_that_matches_most_codes_decides():
    assert configuration_level(TODAY, "a.csv", BLOCKS) == "icb2026"
    assert configuration_level(OF_2024, "a.csv", BLOCKS) == "icb2024"
    assert configuration_level(["qt6", " qks ", "d7t5g"], "a.csv", BLOCKS) == "icb2026"  # ODS codes, any case
    assert configuration_level(["E38000068", "01F"], "a.csv", BLOCKS) == "sicbl"
    assert configuration_level(["E38000068:E08000012"], "a.csv", BLOCKS) == "place"


def test_a_typo_leaves_the_level_to_the_other_codes():
    """Today's ICBs with one code mistyped: still today's ICBs (all of them no longer had to match), so the typo
    is named alone against them rather than the valid codes against the 2024 map."""
    assert configuration_level(TODAY[:-1] + ["E54099999"] + TODAY[-1:], "a.csv", BLOCKS) == "icb2026"
    # An unknown ODS code is unknown, not a sub-ICB location's code that makes a mix of levels.
    assert configuration_level(TODAY + ["XXX"], "a.csv", BLOCKS) == "icb2026"
    assert configuration_level(TODAY + ["XXXXX", "X:Y"], "a.csv", BLOCKS) == "icb2026"


def test_ties_go_to_the_level_expected_then_to_today_s_icbs():
    both = ["E54000036", "E54000032"]  # ICBs on both maps
    assert configuration_level(both, "a.csv", BLOCKS) == "icb2026"
    assert configuration_level(both, "a.csv", BLOCKS, prefer="icb2024") == "icb2024"
    # Nothing matches: the level expected, which then names every code as unknown.
    assert configuration_level(["E99999999"], "a.csv", BLOCKS, prefer="sicbl") == "sicbl"
    # Expecting a level does not outvote the codes.
    assert configuration_level(TODAY, "a.csv", BLOCKS, prefer="icb2024") == "icb2026"


def test_a_declared_level_decides():
    assert configuration_level(["E54000036", "E54000032"], "a.csv", BLOCKS, declared="icb2024") == "icb2024"
    # Unknown codes under a declared level are left to be named.
    assert configuration_level(TODAY + ["E54099999"], "a.csv", BLOCKS, declared="icb2026") == "icb2026"
    with pytest.raises(InputFileError) as info:
        configuration_level(TODAY, "a.csv", BLOCKS, declared="icb2024")
    assert str(info.value) == ("a.csv: declares level icb2024, but 1 code is an icb2026 block (E54000071); use one "
                               "level throughout")
    with pytest.raises(InputFileError) as info:
        configuration_level(TODAY, "a.csv", BLOCKS, declared="sicbl")
    assert str(info.value) == ("a.csv: declares level sicbl, but 3 codes are icb2026 blocks (E54000036, E54000032, "
                               "E54000071); use one level throughout")


def test_codes_of_another_level_are_a_mix_of_levels_named_by_level():
    with pytest.raises(InputFileError) as info:
        configuration_level(TODAY + ["E38000068", "01f:E08000012", "E54099999"], "mixed.csv", BLOCKS)
    assert str(info.value) == ("mixed.csv: mixes levels: 3 codes are icb2026 blocks, 1 is a sicbl block (E38000068), "
                               "1 is a place block (01f:E08000012); use one level throughout")
    # The two ICB maps mixed: each other's codes are named (a tie, broken as above).
    both = ["E54000036", "E54000071", "E54000027"]
    with pytest.raises(InputFileError) as info:
        configuration_level(both, "maps.csv", BLOCKS)
    assert str(info.value) == ("maps.csv: mixes levels: 2 codes are icb2026 blocks, 1 is an icb2024 block "
                               "(E54000027); use one level throughout")
    with pytest.raises(InputFileError) as info:
        configuration_level(both, "maps.csv", BLOCKS, prefer="icb2024")
    assert "2 codes are icb2024 blocks, 1 is an icb2026 block (E54000071)" in str(info.value)


def test_without_the_blocks_codes_are_told_apart_by_shape():
    """A caller with no data at hand gets the family of the codes (ICB codes name either map) or the declared
    level, and nothing is called a mix of levels."""
    assert configuration_level(TODAY + ["XXX"], "a.csv") == "icb"
    assert configuration_level(["QT6", "QKS", "D7T5G"], "a.csv") == "icb"
    assert configuration_level(["E38000068", "01F", "00L", "M1J4Y", "E54000036"], "a.csv") == "sicbl"
    assert configuration_level(["E38000068:E08000012", "01F:E06000001", "E38000068"], "a.csv") == "place"
    assert configuration_level(TODAY, "a.csv", declared="icb2026") == "icb2026"


def test_csv_level_column():
    text = "unit_code,footprint,unit_name,level\nE54000036,A,Cornwall,icb2026\nE54000032,B,Kent,icb2026\n"
    assert parse_csv(text, "a.csv") == ([("E54000036", "A"), ("E54000032", "B")], "icb2026")
    assert parse_csv("level,footprint,unit_code\nicb,A,E54000036\n,B,E54000032\n", "a.csv")[1] == "icb2024"
    assert parse_csv("unit_code,footprint\nE54000036,A\n", "a.csv")[1] is None
    assert parse_csv("unit_code,footprint,level\nE54000036,A\n", "a.csv")[1] is None  # a short row: not named
    with pytest.raises(InputFileError) as info:
        parse_csv("unit_code,footprint,level\nE54000036,A,icb2026\nE54000032,B,region\n", "a.csv")
    assert str(info.value) == "a.csv, line 3: unknown level 'region'; the levels are icb2026, icb2024, sicbl, place"
    with pytest.raises(InputFileError) as info:
        parse_csv("unit_code,footprint,level\nE54000036,A,icb2026\nE38000068,B,sicbl\n", "a.csv")
    assert str(info.value) == ("a.csv: its level column names more than one level (icb2026, sicbl); use one level "
                               "throughout")


def test_geojson_level_property():
    def doc(*levels):
        return json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": None,
             "properties": {"footprint": f"F{i}", "members": [code], **({"level": lv} if lv else {})}}
            for i, (code, lv) in enumerate(zip(TODAY, levels))]})

    assert parse_geojson(doc("icb2026", "icb2026", "icb2026"), "a.geojson")[1] == "icb2026"
    assert parse_geojson(doc(None, None, None), "a.geojson")[1] is None
    with pytest.raises(InputFileError) as info:
        parse_geojson(doc("icb2026", "place", None), "a.geojson")
    assert "a.geojson: its features' level property names more than one level (icb2026, place)" in str(info.value)
    with pytest.raises(InputFileError) as info:
        parse_geojson(doc("icb2026", "ICB2027", None), "a.geojson")
    assert str(info.value).startswith("a.geojson: feature 2: unknown level 'ICB2027'")


def test_read_configuration_uses_the_declared_level_and_the_codes():
    declared = "unit_code,footprint,level\nE54000036,A,icb2024\nE54000032,B,icb2024\n"
    assert read_configuration(declared, "a.csv", ".CSV", BLOCKS) == (
        [("E54000036", "A"), ("E54000032", "B")], "icb2024")
    typo = "unit_code,footprint\nE54000036,A\nE54099999,B\nE54000071,C\n"
    assert read_configuration(typo, "a.csv", ".csv", BLOCKS)[1] == "icb2026"
    with pytest.raises(InputFileError) as info:
        read_configuration(typo, "a.xlsx", ".xlsx", BLOCKS)
    assert str(info.value) == "a.xlsx: unknown file type .xlsx; use .csv, .geojson or .toml"


@pytest.mark.integration
def test_every_level_s_own_codes_read_as_that_level(today_model, icb_model, sicbl_model, place_model):
    """On the real data: each level's GSS codes, and its ODS codes, read as that level; by shape alone (no data),
    as its family; and only place codes hold a colon, so reading other codes never loads the place model."""
    models = (today_model, icb_model, sicbl_model, place_model)
    blocks = level_blocks(models=models)
    for m in models:
        family = "icb" if m.level.startswith("icb") else m.level
        for codes in (list(m.blocks.code), list(m.blocks.ods)):
            assert configuration_level(codes, "x", blocks) == m.level
            assert configuration_level(codes, "x") == family
        assert all((":" in code) == (m.level == "place") for code in m.alias_index)

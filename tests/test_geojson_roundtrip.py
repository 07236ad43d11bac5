"""Exports read back: ``evaluate --out`` then ``evaluate --config <export>`` gives the same configuration and score.

Also checks that ``footprints.geojson`` is valid RFC 7946 GeoJSON whose dissolved footprints tile England without
overlaps or slivers, at every level, on the real data.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import LinearRing, Polygon, shape

from simulator.cli import main
from simulator.configuration import Configuration
from simulator.io import level_blocks, read_configuration_file

pytestmark = pytest.mark.integration

LEVELS = ("icb", "sicbl", "place")
OUTPUT_FILES = ["assignment.csv", "footprints.csv", "footprints.geojson", "metrics.json"]
CHESHIRE_MERSEYSIDE, GREATER_MANCHESTER = "E54000008", "E54000057"
MERGED = "Cheshire, Merseyside and Greater Manchester"

LON, LAT = (-7.0, 2.0), (49.0, 56.0)  # England, generously
SLIVER_DEG2 = 1e-6  # about 0.7 ha at England's latitudes
OVERLAP_DEG2 = {
    "icb": 1e-7,
    "sicbl": 1e-7,
    # Places are cut from the sub-ICB polygons against separately generalised LAD polygons in British National
    # Grid and projected back; neighbouring ICBs then overlap by up to ~1.1e-7 deg2 (under 0.1 ha) on the
    # 2023/2024 boundary files.
    "place": 2e-7,
}
METRIC_PROPERTIES = ["population", "band_status", "in_band", "allocation_per_head", "at_stake_gbp",
                     "localisation_index", "n_regions", "running_cost_allowance_estimate_gbp", "imd_score"]


def export(argv: list[str], out: Path) -> dict:
    """Run ``icbsim evaluate ... --out out`` in-process on the 2024 map (as the fixtures' models); return the
    parsed GeoJSON and metrics."""
    assert main(["evaluate", *argv, "--baseline", "2024", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == OUTPUT_FILES
    return {"geojson": json.loads((out / "footprints.geojson").read_text(encoding="utf-8")),
            "metrics": json.loads((out / "metrics.json").read_text(encoding="utf-8")), "out": out}


@pytest.fixture(scope="module")
def exports(icb_model, sicbl_model, place_model, tmp_path_factory):
    """kind -> (level, model, configuration, export), made once per module on first use.

    Kinds: each level's baseline, and ``merger``: Cheshire and Merseyside with Greater Manchester at sub-ICB level,
    from a CSV.
    """
    models = {"icb": icb_model, "sicbl": sicbl_model, "place": place_model}
    cache: dict[str, tuple] = {}

    def get(kind: str) -> tuple:
        if kind in cache:
            return cache[kind]
        folder = tmp_path_factory.mktemp(kind)
        if kind in LEVELS:
            model = models[kind]
            cache[kind] = (model.level, model, Configuration.baseline(model),
                           export(["--config", "baseline", "--level", kind], folder / "out"))
            return cache[kind]
        assert kind == "merger"
        b = sicbl_model.blocks
        rows = [(code, MERGED if icb in (CHESHIRE_MERSEYSIDE, GREATER_MANCHESTER) else name)
                for code, icb, name in zip(b.code, b.icb_code, b.icb_name)]
        path = folder / "merger.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["unit_code", "footprint"])
            w.writerows(rows)
        config = Configuration.from_mapping(sicbl_model, rows)
        assert config.n_footprints == 41
        cache[kind] = ("sicbl", sicbl_model, config, export(["--config", str(path)], folder / "out"))
        return cache[kind]

    return get


@pytest.fixture(params=LEVELS)
def baseline(request, exports):
    return exports(request.param)


@pytest.fixture
def merger(exports):
    return exports("merger")


@pytest.fixture(params=[*LEVELS, "merger"])
def exported(request, exports):
    """Every export, for the validity checks."""
    return exports(request.param)


def reimport(model, path: Path) -> Configuration:
    pairs, level = read_configuration_file(path, level_blocks(model.data_dir, [model]))
    assert level == model.level
    return Configuration.from_mapping(model, pairs, source=str(path))


def assert_same_configuration(a: Configuration, b: Configuration) -> None:
    assert a.same_partition(b)
    assert b.same_partition(a)
    assert sorted(a.names) == sorted(b.names)
    assert a.mapping() == b.mapping()


# --------------------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("name", ["footprints.geojson", "assignment.csv"])
def test_baseline_round_trip_configuration(baseline, name):
    level, model, config, exp = baseline
    assert_same_configuration(reimport(model, exp["out"] / name), config)


@pytest.mark.parametrize("name", ["footprints.geojson", "assignment.csv"])
def test_baseline_round_trip_score(baseline, name, tmp_path):
    level, model, config, exp = baseline
    again = export(["--config", str(exp["out"] / name)], tmp_path / "again")
    assert_round_trip_metrics(exp["metrics"], again["metrics"], level)


@pytest.mark.parametrize("name", ["footprints.geojson", "assignment.csv"])
def test_merger_round_trip(merger, name, tmp_path):
    level, model, config, exp = merger
    back = reimport(model, exp["out"] / name)
    assert_same_configuration(back, config)
    assert not back.same_partition(Configuration.baseline(model))
    again = export(["--config", str(exp["out"] / name)], tmp_path / "again")
    assert_round_trip_metrics(exp["metrics"], again["metrics"], level)


def assert_round_trip_metrics(first: dict, second: dict, level: str) -> None:
    assert first["level"] == second["level"] == level
    assert second["score"] == pytest.approx(first["score"], abs=1e-6)
    assert second["terms"] == pytest.approx(first["terms"], abs=1e-6)
    numeric = {k: v for k, v in first["overall"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert {k: second["overall"][k] for k in numeric} == pytest.approx(numeric, rel=1e-9, abs=1e-6)
    by_name = {f["footprint"]: f for f in second["footprints"]}
    assert sorted(by_name) == sorted(f["footprint"] for f in first["footprints"])
    for f in first["footprints"]:
        assert sorted(by_name[f["footprint"]]["members"]) == sorted(f["members"])
        assert by_name[f["footprint"]]["population"] == pytest.approx(f["population"])


def test_merger_footprint(merger):
    level, model, config, exp = merger
    features = {f["properties"]["footprint"]: f for f in exp["geojson"]["features"]}
    assert len(features) == 41
    members = features[MERGED]["properties"]["members"]
    expected = model.blocks.code[model.blocks.icb_code.isin([CHESHIRE_MERSEYSIDE, GREATER_MANCHESTER])]
    assert sorted(members) == sorted(expected)
    assert len(members) > 2
    # One piece of land (islands aside): the two ICBs share a border, so the dissolve leaves no seam between them.
    geom = shape(features[MERGED]["geometry"])
    largest = max(shapely.get_parts(geom), key=lambda p: p.area)
    assert largest.area > 0.95 * geom.area


# --------------------------------------------------------------------------------------------- RFC 7946
def test_feature_collection_and_properties(exported):
    level, model, config, exp = exported
    doc = exp["geojson"]
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc, "RFC 7946 has no crs member"
    features = doc["features"]
    assert len(features) == config.n_footprints == exp["metrics"]["overall"]["footprints"]
    names = [f["properties"]["footprint"] for f in features]
    assert sorted(names) == sorted(config.names)
    measure = exp["metrics"]["population_measure"]
    population = model.population(measure)
    mapping = config.mapping()
    for f in features:
        assert f["type"] == "Feature" and "crs" not in f
        props = f["properties"]
        assert props["level"] == level
        assert props["members"], props["footprint"]
        assert all(mapping[m] == props["footprint"] for m in props["members"])
        assert len(props["members"]) == len(props["member_names"]) == (
            sum(1 for v in mapping.values() if v == props["footprint"]))
        for key in METRIC_PROPERTIES:
            assert key in props, key
        assert props["population_measure"] == measure
        assert props["population"] == pytest.approx(sum(population[model.lookup(m)] for m in props["members"]),
                                                    abs=1.0)
        assert props["band_status"] in ("below band", "in band", "above band")


def _rings(geometry: dict):
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    for polygon in polygons:
        yield True, polygon[0]
        for hole in polygon[1:]:
            yield False, hole


def test_geometries_valid_oriented_rounded(exported):
    level, model, config, exp = exported
    for f in exp["geojson"]["features"]:
        name, geometry = f["properties"]["footprint"], f["geometry"]
        assert geometry["type"] in ("Polygon", "MultiPolygon"), name
        assert set(geometry) == {"type", "coordinates"}
        geom = shape(geometry)
        assert geom.is_valid, f"{name}: {shapely.is_valid_reason(geom)}"
        assert not geom.is_empty
        for exterior, ring in _rings(geometry):
            assert len(ring) >= 4 and ring[0] == ring[-1], f"{name}: not a closed linear ring"
            # RFC 7946 section 3.1.6: exterior rings counter-clockwise, holes clockwise.
            assert LinearRing(ring).is_ccw == exterior, f"{name}: {'exterior' if exterior else 'hole'} wound wrongly"
            for lon, lat in ring:
                assert LON[0] <= lon <= LON[1] and LAT[0] <= lat <= LAT[1], f"{name}: ({lon}, {lat}) outside England"
                assert round(lon, 6) == lon and round(lat, 6) == lat, f"{name}: ({lon}, {lat}) has over 6 decimals"


def test_footprints_tile_without_overlaps_or_slivers(exported):
    level, model, config, exp = exported
    features = exp["geojson"]["features"]
    geoms = [shape(f["geometry"]) for f in features]
    tree = shapely.STRtree(geoms)
    for i, g in enumerate(geoms):
        for j in tree.query(g):
            if j > i:
                overlap = g.intersection(geoms[j]).area
                assert overlap < OVERLAP_DEG2[{"icb2024": "icb"}.get(level, level)], (
                    f"{features[i]['properties']['footprint']} and {features[j]['properties']['footprint']} "
                    f"overlap by {overlap:.2e} deg2")
    union = shapely.union_all(geoms)
    holes = [Polygon(r).area for p in shapely.get_parts(union) for r in p.interiors]
    assert max(holes, default=0.0) < SLIVER_DEG2, f"{sum(h >= SLIVER_DEG2 for h in holes)} gaps between footprints"
    # Everything is covered: England's area is the sum of the blocks'.
    total = sum(g.area for g in model.geometry)
    assert union.area == pytest.approx(total, rel=1e-3)


def test_footprint_area_is_the_sum_of_its_members(exported):
    level, model, config, exp = exported
    for f in exp["geojson"]["features"]:
        members = sum(model.geometry[model.lookup(m)].area for m in f["properties"]["members"])
        assert shape(f["geometry"]).area == pytest.approx(members, rel=1e-3), f["properties"]["footprint"]

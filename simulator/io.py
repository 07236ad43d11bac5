"""Configurations in and out: CSV and GeoJSON readers, dissolved RFC 7946 GeoJSON and tables, atomic writes."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.polygon import orient

from simulator.errors import InputFileError, OutputError
from simulator.metrics.evaluate import _jsonable

MAX_INPUT_BYTES = 50 * 1024 * 1024
"""Largest configuration file accepted (a place-level GeoJSON export is about 3 MB)."""

SLIVER_DEG2 = 1e-6
"""Holes smaller than this (about 0.7 ha) left by dissolving blocks from separately generalised files are slivers."""

_COORD_DECIMALS = 6  # about 0.1 m


# ---------------------------------------------------------------------------------------------- reading
def guess_level(codes: list[str]) -> set[str]:
    """Levels that the codes look like (GSS prefix, ODS shape or ``SICBL:LAD``).

    Codes that look like none (another GSS type, a typo) are left out here: the configuration then names
    them as unknown codes rather than calling the file a mix of levels.
    """
    levels = set()
    for c in codes:
        c = c.strip().upper()
        if ":" in c:
            levels.add("place")
        elif c.startswith("E54") or (len(c) == 3 and c.startswith("Q")):
            levels.add("icb")
        elif c.startswith("E38") or (not c.startswith("E") and 3 <= len(c) <= 5 and c.isalnum()):
            levels.add("sicbl")
    return levels


def _read_text(path: Path) -> str:
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if not path.is_file():
        raise InputFileError(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise InputFileError(f"{path}: the file is empty")
    if size > MAX_INPUT_BYTES:
        raise InputFileError(f"{path}: {size / 1e6:.0f} MB is larger than the {MAX_INPUT_BYTES / 1e6:.0f} MB allowed")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror})") from None


def parse_csv(text: str, source: str) -> list[tuple[str, str]]:
    """``unit_code,footprint`` rows (extra columns ignored) as (code, footprint) pairs."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InputFileError(f"{source}: not valid CSV ({exc})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise InputFileError(f"{source}: no rows")
    header = [h.strip().lower() for h in rows[0]]
    if "unit_code" not in header or "footprint" not in header:
        raise InputFileError(f"{source}: the header must name the columns unit_code and footprint "
                             f"(found: {', '.join(rows[0])[:120]})")
    ci, fi = header.index("unit_code"), header.index("footprint")
    out = []
    for n, r in enumerate(rows[1:], start=2):
        if len(r) <= max(ci, fi):
            raise InputFileError(f"{source}, line {n}: expected at least {max(ci, fi) + 1} columns, found {len(r)}")
        code, fp = r[ci].strip(), r[fi].strip()
        if not code:
            raise InputFileError(f"{source}, line {n}: unit_code is empty")
        if not fp:
            raise InputFileError(f"{source}, line {n}: footprint is empty for {code}")
        out.append((code, fp))
    if not out:
        raise InputFileError(f"{source}: a header but no rows")
    return out


def parse_geojson(text: str, source: str) -> tuple[list[tuple[str, str]], str | None]:
    """Pairs from a GeoJSON FeatureCollection with ``footprint`` and ``members`` properties (as ``export`` writes)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InputFileError(f"{source}: not a GeoJSON FeatureCollection")
    pairs: list[tuple[str, str]] = []
    level = None
    for n, feat in enumerate(doc["features"], start=1):
        props = feat.get("properties") if isinstance(feat, dict) else None
        if not isinstance(props, dict):
            raise InputFileError(f"{source}: feature {n} has no properties")
        fp, members = props.get("footprint"), props.get("members")
        if not isinstance(fp, str) or not fp.strip():
            raise InputFileError(f"{source}: feature {n} has no 'footprint' name")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise InputFileError(f"{source}: feature {n} ({fp}) has no 'members' list of block codes")
        if isinstance(props.get("level"), str):
            level = props["level"]
        pairs.extend((m, fp) for m in members)
    if not pairs:
        raise InputFileError(f"{source}: no features")
    return pairs, level


def read_configuration_file(path: str | os.PathLike) -> tuple[list[tuple[str, str]], str]:
    """Read (code, footprint) pairs and their level from a CSV or GeoJSON file.

    Raises
    ------
    InputFileError
        Unreadable or malformed file, or codes of more than one level.
    """
    p = Path(path)
    text = _read_text(p)
    suffix = p.suffix.lower()
    level = None
    if suffix == ".csv":
        pairs = parse_csv(text, str(p))
    elif suffix in (".geojson", ".json"):
        pairs, level = parse_geojson(text, str(p))
    else:
        raise InputFileError(f"{p}: unknown file type {suffix or '(none)'}; use .csv, .geojson or .toml")
    return pairs, _level_of(pairs, str(p), level)


def _level_of(pairs: list[tuple[str, str]], source: str, declared: str | None) -> str:
    levels = guess_level([c for c, _ in pairs]) or {"icb"}  # none recognisable: the ICB model names them
    if len(levels) > 1:
        raise InputFileError(f"{source}: mixes levels ({', '.join(sorted(levels))}); use one level throughout")
    level = levels.pop()
    family = "icb" if declared in ("icb2024", "icb2026") else declared
    if declared and family != level:
        raise InputFileError(f"{source}: declares level {declared} but its codes are {level} codes")
    # ICB codes name either map's ICBs; an export that says which is taken at its word.
    return declared or level


# ---------------------------------------------------------------------------------------------- geometry
def _oriented(geom):
    """RFC 7946: exterior rings counter-clockwise, holes clockwise; slivers removed."""
    polys = []
    for p in shapely.get_parts(geom):
        if not isinstance(p, Polygon) or p.is_empty:
            continue
        holes = [r for r in p.interiors if Polygon(r).area >= SLIVER_DEG2]
        polys.append(orient(Polygon(p.exterior, holes), sign=1.0))
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def dissolve(model, config) -> list:
    """One valid, oriented (Multi)Polygon per footprint, in WGS84."""
    out = []
    for f in range(config.n_footprints):
        u = shapely.union_all([model.geometry[i] for i in config.members(f)], grid_size=10 ** -_COORD_DECIMALS)
        if not u.is_valid:
            u = shapely.make_valid(u)
        out.append(_oriented(u))
    return out


def _geometry_json(geom) -> dict[str, Any]:
    def rnd(c):
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], (int, float)):
            return [round(float(c[0]), _COORD_DECIMALS), round(float(c[1]), _COORD_DECIMALS)]
        return [rnd(x) for x in c]

    g = mapping(geom)
    return {"type": g["type"], "coordinates": rnd(g["coordinates"])}


_SCALARS = ("population", "band_status", "in_band", "persons_outside_band", "population_gp_registered",
            "population_allocation", "population_census", "allocation_per_head", "allocation_per_head_spread",
            "distance_from_target", "distance_from_target_spread", "primary_care_per_head",
            "primary_care_per_head_spread", "prescribing_per_head", "prescribing_per_head_spread",
            "prescribing_need_index", "gp_payments_per_head", "at_stake_gbp", "at_stake_need_adjusted_gbp",
            "partners", "winners", "losers", "localisation_index", "n_regions", "n_acute_trusts", "n_major_trusts",
            "crosses_authority_boundary", "upper_tier_people_outside_majority", "running_cost_allowance_estimate_gbp",
            "imd_score", "core_allocation_gbp")


def footprint_features(model, config, evaluation) -> dict[str, Any]:
    """The RFC 7946 FeatureCollection of dissolved footprints with their members and metrics."""
    geoms = dissolve(model, config)
    fp = evaluation.footprints
    feats = []
    for f in range(config.n_footprints):
        row = fp.iloc[f]
        props = {"footprint": config.names[f], "level": model.level, "members": list(row.members),
                 "member_names": list(row.member_names),
                 "population_measure": evaluation.params.population_measure,
                 "regions": list(row.regions), "upper_tier_councils_split": list(row.upper_tier_councils_split)}
        props.update({k: _jsonable(row[k]) for k in _SCALARS})
        feats.append({"type": "Feature", "properties": props, "geometry": _geometry_json(geoms[f])})
    return {"type": "FeatureCollection", "features": feats}


# ---------------------------------------------------------------------------------------------- writing
def _csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()})
    return buf.getvalue()


def outputs(model, config, evaluation) -> dict[str, str]:
    """File name -> content of everything ``evaluate`` writes (computed in memory first)."""
    fp_rows = _jsonable(evaluation.footprints.to_dict(orient="records"))
    cols = ["footprint", "n_members", *_SCALARS, "regions", "upper_tier_councils_split", "members", "member_names"]
    assignment = [{"unit_code": c, "footprint": config.names[f], "unit_name": n, "level": model.level}
                  for c, n, f in zip(model.blocks.code, model.blocks.name, config.assignment)]
    return {
        "footprints.geojson": json.dumps(footprint_features(model, config, evaluation), separators=(",", ":")),
        "footprints.csv": _csv_text(fp_rows, cols),
        "assignment.csv": _csv_text(assignment, ["unit_code", "footprint", "unit_name", "level"]),
        "metrics.json": json.dumps(evaluation.to_dict(), indent=1),
    }


def write_outputs(out_dir: str | os.PathLike, files: dict[str, str | bytes]) -> list[Path]:
    """Write ``files`` into ``out_dir`` all or nothing: staged in a temporary folder, then moved in.

    Raises
    ------
    OutputError
        The folder cannot be created or written; nothing is left behind.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise OutputError(f"{out}: the output folder is not writable")
    clash = [name for name in files if (out / name).is_dir()]  # os.replace would fail after earlier moves
    if clash:
        raise OutputError(f"{out / clash[0]}: is a folder; nothing was written")
    try:
        stage = Path(tempfile.mkdtemp(prefix=".icbsim-", dir=out))
    except OSError as exc:
        raise OutputError(f"{out}: cannot write there ({exc.strerror})") from None
    try:
        for name, text in files.items():
            if isinstance(text, bytes):
                (stage / name).write_bytes(text)
            else:
                (stage / name).write_text(text, encoding="utf-8")
        written = []
        for name in files:
            os.replace(stage / name, out / name)
            written.append(out / name)
        return written
    except OSError as exc:
        raise OutputError(f"{out}: writing failed ({exc.strerror}); no output was kept") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)

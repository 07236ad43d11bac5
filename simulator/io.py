"""Configurations in and out: CSV and GeoJSON readers, dissolved RFC 7946 GeoJSON and tables, atomic writes."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.polygon import orient

from boundaries.geography import LEVEL_ALIASES, LEVELS
from simulator.configuration import _listing
from simulator.errors import InputFileError, OutputError
from simulator.metrics.evaluate import _jsonable
from simulator.model import Model, load_model

MAX_INPUT_BYTES = 50 * 1024 * 1024
"""Largest configuration file accepted (a place-level GeoJSON export is about 3 MB)."""

SLIVER_DEG2 = 1e-6
"""Holes smaller than this (about 0.7 ha) left by dissolving blocks from separately generalised files are slivers."""

_COORD_DECIMALS = 6  # about 0.1 m


# ---------------------------------------------------------------------------------------------- reading
class _LevelBlocks(Mapping):
    """Level -> its block codes (GSS and ODS, upper case), each level's model loaded when first asked for."""

    def __init__(self, data_dir: str | os.PathLike | None, models: Iterable[Model]):
        self._data_dir = data_dir
        self._codes: dict[str, Container[str]] = {m.level: m.alias_index for m in models}

    def __getitem__(self, level: str) -> Container[str]:
        if level not in LEVELS:
            raise KeyError(level)
        if level not in self._codes:
            self._codes[level] = load_model(level, self._data_dir).alias_index
        return self._codes[level]

    def __iter__(self) -> Iterator[str]:
        return iter(LEVELS)

    def __len__(self) -> int:
        return len(LEVELS)


def level_blocks(data_dir: str | os.PathLike | None = None,
                 models: Iterable[Model] = ()) -> Mapping[str, Container[str]]:
    """Every level's block codes, which :func:`configuration_level` matches a file's codes against.

    A level's codes (GSS and ODS, upper case) come from its model among ``models`` if there is one, else from its
    model in ``data_dir`` (by default the usual data directory), loaded from the disk cache when first needed.
    """
    return _LevelBlocks(data_dir, models)


class _Shape:
    """The codes of one family, told by their shape alone."""

    def __init__(self, test: Callable[[str], bool]):
        self._test = test

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self._test(code)


def _ods(code: str, length: int) -> bool:
    return len(code) == length and code.isalnum() and not code.startswith("E")


_SHAPES: dict[str, Container[str]] = {
    # GSS E54; ODS Q and two characters (the 42 ICBs of 2024, most of today's) or five (those new in April 2026).
    "icb": _Shape(lambda c: c.startswith("E54") or (_ods(c, 3) and c[0] == "Q") or _ods(c, 5)),
    # GSS E38; ODS three characters not starting with Q, or five.
    "sicbl": _Shape(lambda c: c.startswith("E38") or (_ods(c, 3) and c[0] != "Q") or _ods(c, 5)),
    "place": _Shape(lambda c: ":" in c),
}
"""Families of codes by shape, for a caller with no data at hand: which of the ICB maps, and whether a code is a
block at all, cannot be told this way."""


def _could_hold(level: str, code: str) -> bool:
    # Place codes are SICBL:LAD pairs, and no other level's code holds a colon: a level that cannot hold a code
    # is never asked about it (nor its model loaded).
    return (":" in code) == (level == "place")


def _family(level: str) -> str:
    """``icb`` for either ICB map's level, else the level."""
    return "icb" if level.startswith("icb") else level


def _blocks_phrase(n: int, level: str, first: bool) -> str:
    """``7 codes are icb2026 blocks`` (``7 are ...`` after the first), ``1 code is a sicbl block``."""
    noun = ("code " if n == 1 else "codes ") if first else ""
    if n == 1:
        return f"1 {noun}is {'an' if level.startswith('icb') else 'a'} {level} block"
    return f"{n} {noun}are {level} blocks"


def configuration_level(codes: list[str], source: str, blocks: Mapping[str, Container[str]] | None = None,
                        declared: str | None = None, prefer: str | None = None) -> str:
    """The level a configuration's block codes are drawn at.

    The level the file declares (a ``level`` column or property) decides where it is given; otherwise the level
    at which most of the codes are blocks, a tie going to ``prefer``, then to the level the codes look like (GSS
    prefix, ODS shape), then to the first level in ``blocks`` (today's ICBs first). Codes that are blocks of no
    level are left for :meth:`simulator.configuration.Configuration.from_mapping` to name as unknown: a typo is
    not a mix of levels.

    Parameters
    ----------
    codes
        The file's block codes as written (GSS or ODS, any case).
    source
        The file's name, for messages.
    blocks
        Each level's block codes (:func:`level_blocks`). Without them (a caller with no data at hand) codes are
        told apart by their shape alone, nothing is called a mix of levels, and undeclared ICB codes give the
        family ``icb`` (either ICB map).
    declared
        The level the file names, if it names one.
    prefer
        The level the caller expects (``--level``, the scenario's, the app's): it wins a tie.

    Raises
    ------
    InputFileError
        Some codes are blocks of another level than the one decided: the file mixes levels.
    """
    keys = [str(c).strip().upper() for c in codes]
    table = _SHAPES if blocks is None else blocks
    candidates = [lv for lv in table if any(_could_hold(lv, k) for k in keys)]
    if declared:
        level = declared
    else:
        counts = {lv: sum(_could_hold(lv, k) and k in table[lv] for k in keys) for lv in candidates}
        shaped = {fam: sum(_could_hold(fam, k) and k in shape for k in keys) for fam, shape in _SHAPES.items()}
        # A tie (most often: no code matches at all) goes to the level expected, then to the level the codes look
        # like; max() keeps the first of equals, so the order of ``table`` breaks what is left.
        level = max(candidates, key=lambda lv: (counts[lv], lv == prefer, shaped.get(_family(lv), 0)),
                    default=prefer or next(iter(table)))
    if blocks is None:
        return level
    own = table[level]
    others: dict[str, list[str]] = {}
    for code, key in zip(codes, keys):
        if key in own:
            continue
        found = next((lv for lv in candidates if lv != level and _could_hold(lv, key) and key in table[lv]), None)
        if found:
            others.setdefault(found, []).append(str(code).strip())
    if not others:
        return level
    listed = [f"{_blocks_phrase(len(c), lv, first=declared is not None and not k)} ({_listing(c)})"
              for k, (lv, c) in enumerate(others.items())]
    if declared:
        head = f"declares level {level}, but {', '.join(listed)}"
    else:
        head = f"mixes levels: {_blocks_phrase(sum(k in own for k in keys), level, first=True)}, {', '.join(listed)}"
    raise InputFileError(f"{source}: {head}; use one level throughout")


def _level_named(value: str, where: str) -> str:
    """The level a file's ``level`` cell names (``icb``, as files written before April 2026 say, is the 42)."""
    name = value.strip().lower()
    name = LEVEL_ALIASES.get(name, name)
    if name not in LEVELS:
        raise InputFileError(f"{where}: unknown level {value.strip()!r}; the levels are {', '.join(LEVELS)}")
    return name


def _one_level(named: list[str], source: str, where: str) -> str | None:
    """The one level a file's cells name, or None if none does."""
    distinct = list(dict.fromkeys(named))
    if len(distinct) > 1:
        raise InputFileError(f"{source}: {where} names more than one level ({', '.join(distinct)}); use one level "
                             "throughout")
    return distinct[0] if distinct else None


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


def parse_csv(text: str, source: str) -> tuple[list[tuple[str, str]], str | None]:
    """``unit_code,footprint`` rows as (code, footprint) pairs, and the level their ``level`` column names, if it has
    one (as ``evaluate``'s assignment.csv does); other columns are ignored."""
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
    li = header.index("level") if "level" in header else None
    out, named = [], []
    for n, r in enumerate(rows[1:], start=2):
        if len(r) <= max(ci, fi):
            raise InputFileError(f"{source}, line {n}: expected at least {max(ci, fi) + 1} columns, found {len(r)}")
        code, fp = r[ci].strip(), r[fi].strip()
        if not code:
            raise InputFileError(f"{source}, line {n}: unit_code is empty")
        if not fp:
            raise InputFileError(f"{source}, line {n}: footprint is empty for {code}")
        if li is not None and li < len(r) and r[li].strip():
            named.append(_level_named(r[li], f"{source}, line {n}"))
        out.append((code, fp))
    if not out:
        raise InputFileError(f"{source}: a header but no rows")
    return out, _one_level(named, source, "its level column")


def parse_geojson(text: str, source: str) -> tuple[list[tuple[str, str]], str | None]:
    """Pairs from a GeoJSON FeatureCollection with ``footprint`` and ``members`` properties (as ``evaluate``
    writes), and the level their ``level`` property names, if they have one."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InputFileError(f"{source}: not a GeoJSON FeatureCollection")
    pairs: list[tuple[str, str]] = []
    named = []
    for n, feat in enumerate(doc["features"], start=1):
        props = feat.get("properties") if isinstance(feat, dict) else None
        if not isinstance(props, dict):
            raise InputFileError(f"{source}: feature {n} has no properties")
        fp, members = props.get("footprint"), props.get("members")
        if not isinstance(fp, str) or not fp.strip():
            raise InputFileError(f"{source}: feature {n} has no 'footprint' name")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise InputFileError(f"{source}: feature {n} ({fp}) has no 'members' list of block codes")
        if isinstance(props.get("level"), str) and props["level"].strip():
            named.append(_level_named(props["level"], f"{source}: feature {n}"))
        pairs.extend((m, fp) for m in members)
    if not pairs:
        raise InputFileError(f"{source}: no features")
    return pairs, _one_level(named, source, "its features' level property")


def read_configuration(text: str, source: str, suffix: str, blocks: Mapping[str, Container[str]] | None = None,
                       prefer: str | None = None) -> tuple[list[tuple[str, str]], str]:
    """(code, footprint) pairs and their level from the text of a CSV or GeoJSON configuration file.

    The one reading of configuration files, wherever they come from (the command line's files, scenarios' start
    files, the app's uploads): the level is decided by :func:`configuration_level`, with ``blocks`` and
    ``prefer`` as it takes them.

    Raises
    ------
    InputFileError
        A malformed file, an unknown file type, or codes of more than one level.
    """
    kind = suffix.lower()
    if kind == ".csv":
        pairs, declared = parse_csv(text, source)
    elif kind in (".geojson", ".json"):
        pairs, declared = parse_geojson(text, source)
    else:
        raise InputFileError(f"{source}: unknown file type {kind or '(none)'}; use .csv, .geojson or .toml")
    return pairs, configuration_level([c for c, _ in pairs], source, blocks, declared, prefer)


def read_configuration_file(path: str | os.PathLike, blocks: Mapping[str, Container[str]] | None = None,
                            prefer: str | None = None) -> tuple[list[tuple[str, str]], str]:
    """Read (code, footprint) pairs and their level from a CSV or GeoJSON file (:func:`read_configuration`).

    Raises
    ------
    InputFileError
        Unreadable or malformed file, or codes of more than one level.
    """
    p = Path(path)
    return read_configuration(_read_text(p), str(p), p.suffix, blocks, prefer)

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

"""Scenarios: TOML files naming the level, population measure, band, score weights, start and constraints."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from boundaries.finance import DEFAULT_MEASURE, POPULATION_MEASURES
from boundaries.errors import DataError
from boundaries.geography import BASELINES, DEFAULT_BASELINE, LEVELS, canonical_level
from simulator.errors import ScenarioError
from simulator.metrics.evaluate import DEFAULT_BAND, MetricParameters
from simulator.metrics.score import TERMS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError
"""Raised by :func:`loads_toml` on text that is not valid TOML."""

_TOP_KEYS = {"name", "description", "baseline", "level", "population_measure", "band", "authority_set", "estuary_links",
             "allow_noncontiguous", "weights", "start", "constraints"}
_START_KEYS = {"from", "file", "footprints"}
CONSTRAINT_KEYS = {
    "contiguity", "within_region", "must_merge", "must_not_merge", "locked_to_today", "n_footprints",
    "max_moved", "keep_whole", "authorities_whole", "pathology_networks_whole", "min_acute_trusts",
    "population_floor", "population_ceiling", "only_regions", "upper_tier_tolerance",
}
"""Constraint names the optimisers understand (see docs/scenarios.md)."""


@dataclass
class Scenario:
    """A parsed scenario file.

    Attributes
    ----------
    start
        ``("baseline", None)``, ``("file", path)`` or ``("footprints", [(code, footprint), ...])``.
    baseline
        The map that is today, which configurations start from and change is measured against: ``2026`` (the 36
        ICBs from 1 April 2026, the default) or ``2024`` (the 42 ICBs of 2024).
    """

    name: str
    level: str = "icb2026"
    description: str = ""
    baseline: str = DEFAULT_BASELINE
    params: MetricParameters = field(default_factory=MetricParameters)
    estuary_links: bool = False
    allow_noncontiguous: bool = False
    start: tuple[str, Any] = ("baseline", None)
    constraints: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def loads_toml(text: str) -> dict[str, Any]:
    """Parse TOML text with ``tomllib`` (Python 3.11+) or its backport ``tomli`` (Python 3.10).

    Raises
    ------
    TOMLDecodeError
        If the text is not valid TOML.
    """
    return tomllib.loads(text)


def dumps_scenario(doc: Mapping[str, Any]) -> str:
    """A scenario document (as :func:`loads_toml` reads it) as TOML text that reads back to the same document.

    Key order is kept: top-level values first, then one ``[table]`` per table. Arrays are written one item per
    line (``tomli-w``'s layout).

    Parameters
    ----------
    doc
        Tables, lists, strings, numbers and booleans. TOML has no null: a key whose value is None is left out
        (a scenario reads an absent key as its default). NumPy scalars are written as the Python numbers they
        hold.

    Raises
    ------
    TypeError
        For a value TOML cannot hold (None inside a list, or an object of another type).
    """
    return tomli_w.dumps(_plain(doc, "doc"))


def _plain(value: Any, where: str) -> Any:
    """``value`` with Nones dropped from tables and NumPy scalars made Python numbers (see dumps_scenario)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        if any(v is None for v in value):
            raise TypeError(f"{where}: TOML cannot hold None inside a list")
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _type(value, types, what: str, source: str):
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise ScenarioError(f"{source}: {what} must be a {names}, not {value!r}")
    return value


def parse_scenario(text: str, source: str = "scenario", base_dir: Path | None = None) -> Scenario:
    """Parse and validate scenario TOML text.

    Raises
    ------
    ScenarioError
        With the file and the key at fault.
    """
    try:
        doc = loads_toml(text)
    except TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML ({exc})") from None
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise ScenarioError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_TOP_KEYS))}")
    name = _type(doc.get("name", Path(source).stem), str, "name", source)
    baseline = str(_type(doc.get("baseline", DEFAULT_BASELINE), (str, int), "baseline", source))
    if baseline not in BASELINES:
        raise ScenarioError(f"{source}: baseline {baseline!r} is not one of {', '.join(BASELINES)} (the 36 ICBs from "
                            "1 April 2026, or the 42 ICBs of 2024)")
    level = _type(doc.get("level", "icb2026" if baseline == "2026" else "icb2024"), str, "level", source)
    try:
        level = canonical_level(level)
    except DataError:
        raise ScenarioError(f"{source}: level {level!r} is not one of {', '.join(LEVELS)}") from None
    if level == "icb2026" and baseline == "2024":
        raise ScenarioError(f"{source}: the 2024 map cannot be drawn with today's ICBs (level icb2026) as building "
                            "blocks; use level icb2024, sicbl or place")
    measure = _type(doc.get("population_measure", DEFAULT_MEASURE), str, "population_measure", source)
    if measure not in POPULATION_MEASURES:
        raise ScenarioError(f"{source}: population_measure {measure!r} is not one of {', '.join(POPULATION_MEASURES)}")
    band = doc.get("band", list(DEFAULT_BAND))
    if (not isinstance(band, list) or len(band) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in band)):
        raise ScenarioError(f"{source}: band must be [floor, ceiling] in persons, not {band!r}")
    weights = _type(doc.get("weights", {}), dict, "weights", source)
    bad = set(weights) - set(TERMS)
    if bad:
        raise ScenarioError(f"{source}: unknown weight(s) {', '.join(sorted(bad))}; known: {', '.join(TERMS)}")
    try:
        params = MetricParameters(population_measure=measure, band=(band[0], band[1]), weights=dict(weights),
                                  authority_set=_type(doc.get("authority_set", "mayoral"), str, "authority_set", source))
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    start = _parse_start(doc.get("start", {"from": "baseline"}), source, base_dir)
    constraints = _type(doc.get("constraints", {}), dict, "constraints", source)
    bad = set(constraints) - CONSTRAINT_KEYS
    if bad:
        raise ScenarioError(f"{source}: unknown constraint(s) {', '.join(sorted(bad))}; "
                            f"known: {', '.join(sorted(CONSTRAINT_KEYS))}")
    return Scenario(name=name, level=level, baseline=baseline,
                    description=_type(doc.get("description", ""), str, "description", source),
                    params=params, estuary_links=_type(doc.get("estuary_links", False), bool, "estuary_links", source),
                    allow_noncontiguous=_type(doc.get("allow_noncontiguous", False), bool, "allow_noncontiguous",
                                              source),
                    start=start, constraints=constraints)


def _parse_start(start, source: str, base_dir: Path | None) -> tuple[str, Any]:
    start = _type(start, dict, "start", source)
    bad = set(start) - _START_KEYS
    if bad:
        raise ScenarioError(f"{source}: unknown key(s) in [start]: {', '.join(sorted(bad))}")
    if len(start) != 1:
        raise ScenarioError(f"{source}: [start] takes exactly one of from = \"baseline\", file = \"...\" or "
                            "[start.footprints]")
    if "from" in start:
        if start["from"] != "baseline":
            raise ScenarioError(f"{source}: start.from must be \"baseline\", not {start['from']!r}")
        return ("baseline", None)
    if "file" in start:
        rel = _type(start["file"], str, "start.file", source)
        path = Path(rel)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return ("file", path)
    fps = _type(start["footprints"], dict, "start.footprints", source)
    pairs = []
    for fp, members in fps.items():
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise ScenarioError(f"{source}: start.footprints.{fp} must be a non-empty list of block codes")
        pairs.extend((m, fp) for m in members)
    if not pairs:
        raise ScenarioError(f"{source}: start.footprints is empty")
    return ("footprints", pairs)


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"{p}: no such scenario file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{p}: cannot be read ({exc})") from None
    sc = parse_scenario(text, str(p), p.parent)
    sc.path = p
    return sc

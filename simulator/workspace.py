"""A user's working scenario for the app: edits with undo/redo, plain-words problems, saved scenarios in SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from simulator.configuration import Configuration
from simulator.constraints import moved_blocks
from simulator.errors import ConfigurationError, IcbSimError, InputFileError, ScenarioError
from simulator.io import configuration_level, level_blocks, read_configuration
from simulator.metrics.evaluate import Evaluation, MetricParameters, evaluate
from simulator.scenario import dumps_scenario, parse_scenario

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""Largest configuration a user may upload (a place-level GeoJSON export is about 3 MB)."""

STORE_ENV_VAR = "ICBSIM_STORE"


class Workspace:
    """The configuration being edited, its history and its evaluation.

    Edits never raise for a bad footprint: a non-contiguous footprint is allowed while editing and reported by
    ``problems()`` in plain words, so a user can fix it with the next move.
    """

    def __init__(self, model, params: MetricParameters | None = None, config: Configuration | None = None):
        self.model = model
        self.params = params or MetricParameters()
        base = config or Configuration.baseline(model)
        self.assignment = base.assignment.copy()
        self.names = list(base.names)
        self.undo_stack: list[tuple[np.ndarray, list[str]]] = []
        self.redo_stack: list[tuple[np.ndarray, list[str]]] = []
        self._cache: dict[bytes, Evaluation] = {}
        self.today = Configuration.baseline(model).assignment

    # ------------------------------------------------------------------ views
    @property
    def configuration(self) -> Configuration:
        """The current configuration (footprints numbered densely)."""
        used = np.unique(self.assignment)
        remap = np.full(len(self.names), -1)
        remap[used] = np.arange(len(used))
        return Configuration(self.model, remap[self.assignment], [self.names[i] for i in used],
                             allow_noncontiguous=True)

    def evaluation(self) -> Evaluation:
        """Evaluation of the current configuration (memoised by assignment and parameters)."""
        cfg = self.configuration
        key = cfg.assignment.tobytes() + json.dumps([cfg.names, asdict(self.params)], default=str).encode()
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = evaluate(self.model, cfg, self.params)
        return self._cache[key]

    def problems(self) -> list[str]:
        """Plain-words list of what is wrong with the current configuration (empty if nothing)."""
        out = []
        for name, pieces in self.configuration.noncontiguous_footprints():
            out.append(f"{name} is in {pieces} separate pieces: its blocks must share borders")
        return out

    def blocks_moved(self) -> int:
        """Blocks not in the footprint that holds most of their ICB today."""
        return moved_blocks(self.configuration.assignment, self.today)

    # ------------------------------------------------------------------ edits
    def _push(self) -> None:
        self.undo_stack.append((self.assignment.copy(), list(self.names)))
        self.redo_stack.clear()
        del self.undo_stack[:-100]  # keep the last 100 edits

    def reassign(self, codes: list[str], footprint: str) -> str:
        """Move blocks to a footprint (an existing one, or a new one by a new name). Returns what happened."""
        footprint = str(footprint).strip()
        if not codes:
            return "Pick at least one block to move."
        if not footprint:
            return "Name the footprint to move the blocks to."
        idx = []
        for c in codes:
            i = self.model.lookup(c)
            if i is None:
                return f"{c} is not a {self.model.level} block."
            idx.append(i)
        self._push()
        if footprint not in self.names:
            self.names.append(footprint)
        target = self.names.index(footprint)
        self.assignment[idx] = target
        return f"Moved {len(idx)} block(s) to {footprint}."

    def merge(self, footprints: list[str], name: str | None = None) -> str:
        """Merge whole footprints into one (named after the first unless ``name`` is given)."""
        present = [f for f in footprints if f in self.configuration.names]
        if len(present) < 2:
            return "Pick two or more footprints to merge."
        codes = [c for c, f in self.configuration.mapping().items() if f in present]
        return self.reassign(codes, name or present[0])

    def rename(self, old: str, new: str) -> str:
        """Rename a footprint."""
        new = new.strip()
        if old not in self.names or not new:
            return "Pick a footprint and give it a name."
        if new in self.names:
            return f"A footprint is already called {new}."
        self._push()
        self.names[self.names.index(old)] = new
        return f"Renamed {old} to {new}."

    def undo(self) -> bool:
        """Undo the last edit (False if there is none)."""
        if not self.undo_stack:
            return False
        self.redo_stack.append((self.assignment.copy(), list(self.names)))
        self.assignment, self.names = self.undo_stack.pop()
        return True

    def redo(self) -> bool:
        """Redo the last undone edit (False if there is none)."""
        if not self.redo_stack:
            return False
        self.undo_stack.append((self.assignment.copy(), list(self.names)))
        self.assignment, self.names = self.redo_stack.pop()
        return True

    def load(self, config: Configuration) -> None:
        """Replace the configuration (an edit that can be undone)."""
        self._push()
        self.assignment = config.assignment.copy()
        self.names = list(config.names)


def scenario_toml(workspace: "Workspace", name: str = "Scenario from the app") -> str:
    """The workspace as a scenario file (level, measure, band, weights and its footprints as the start)."""
    cfg = workspace.configuration
    p = workspace.params
    footprints = {f: [c for c, g in cfg.mapping().items() if g == f] for f in cfg.names}
    doc = {"name": name, "baseline": workspace.model.baseline, "level": workspace.model.level,
           "population_measure": p.population_measure,
           "band": [float(p.band[0]), float(p.band[1])], "authority_set": p.authority_set,
           "weights": dict(p.weights), "start": {"footprints": footprints}}
    return dumps_scenario(doc)


# ---------------------------------------------------------------------------------------------- uploads
def optimiser_rules(scenario_rules: dict[str, Any] | None, *, within_region: bool = False,
                    floor: float | None = None, keep_districts: bool = False, keep_upper_tier: bool = False,
                    keep_authorities: bool = False, min_acute_trusts: int = 0) -> dict[str, Any]:
    """The ``[constraints]`` the app's optimiser runs with: an opened scenario's own rules, with the sidebar's
    toggles on top where they say more (a toggle adds a rule, never removes one).

    Parameters
    ----------
    scenario_rules
        The opened scenario's constraints, or None.
    within_region, floor, keep_districts, keep_upper_tier, keep_authorities, min_acute_trusts
        The toggles: stay within NHS regions; the band's floor (people) as a hard limit; keep each local
        authority district whole (``lad``); keep each upper-tier council whole (``utla``); keep each authority
        whole; at least this many acute trusts per footprint.
    """
    rules = dict(scenario_rules or {})
    rules["contiguity"] = True
    if within_region:
        rules["within_region"] = True
    if floor is not None:
        rules["population_floor"] = {"value": float(floor), "hard": True}
    keep = rules.get("keep_whole", [])
    keep = [keep] if isinstance(keep, str) else list(keep)
    for unit, wanted in (("lad", keep_districts), ("utla", keep_upper_tier)):
        if wanted and unit not in keep:
            keep.append(unit)
    if keep:
        rules["keep_whole"] = keep
    if keep_authorities:
        rules["authorities_whole"] = True
    if min_acute_trusts:
        rules["min_acute_trusts"] = int(min_acute_trusts)
    return rules


def parse_upload(filename: str, data: bytes, model) -> tuple[Configuration, MetricParameters | None]:
    """A configuration from an uploaded file's bytes. The name only picks the format; it is never a path.

    Raises
    ------
    InputFileError
        Too large, not UTF-8, malformed, or of another level than ``model``.
    """
    label = Path(str(filename)).name or "upload"
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputFileError(f"{label}: {len(data) / 1e6:.1f} MB is larger than the "
                             f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB allowed")
    if not data.strip():
        raise InputFileError(f"{label}: the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(f"{label}: not UTF-8 text") from None
    suffix = Path(label).suffix.lower()
    params = None
    # Other levels' codes are matched too, to tell a file of another level (or a mix) from unknown codes.
    blocks = level_blocks(model.data_dir or None, [model])
    if suffix in (".csv", ".geojson", ".json"):
        pairs, level = read_configuration(text, label, suffix, blocks, prefer=model.level)
    elif suffix == ".toml":
        try:
            sc = parse_scenario(text, label, base_dir=None)
        except ScenarioError as exc:
            raise InputFileError(str(exc)) from None
        params = sc.params
        if sc.level != model.level:
            raise InputFileError(f"{label}: a {sc.level}-level scenario; switch the level to {sc.level} first")
        if sc.baseline != model.baseline:
            raise InputFileError(f"{label}: starts from the {sc.baseline} map; switch today's map to {sc.baseline} "
                                 "first")
        if sc.start[0] == "footprints":
            pairs = sc.start[1]
            level = configuration_level([c for c, _ in pairs], label, blocks, declared=sc.level)
        elif sc.start[0] == "baseline":
            return Configuration.baseline(model), params
        else:
            raise InputFileError(f"{label}: its start refers to a file; upload that file instead")
    else:
        raise InputFileError(f"{label}: use a .csv, .geojson or .toml file")
    if level != model.level:
        raise InputFileError(f"{label}: holds {level} codes; switch the level to {level} first")
    try:
        return Configuration.from_mapping(model, pairs, allow_noncontiguous=True, source=label), params
    except ConfigurationError as exc:  # unknown, repeated or missing blocks: the file is at fault
        raise InputFileError(str(exc)) from None


# ---------------------------------------------------------------------------------------------- saved scenarios
def default_store_path() -> Path:
    """Where saved scenarios live: ``$ICBSIM_STORE`` or ``~/.local/share/icbsim/scenarios.sqlite``."""
    env = os.environ.get(STORE_ENV_VAR)
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "icbsim" / "scenarios.sqlite"


class ScenarioStore:
    """Named scenarios kept on disk (SQLite), so they survive an app restart."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("CREATE TABLE IF NOT EXISTS scenarios (name TEXT PRIMARY KEY, level TEXT NOT NULL, "
                           "params TEXT NOT NULL, mapping TEXT NOT NULL, saved_at REAL NOT NULL)")
        except (OSError, sqlite3.Error) as exc:
            raise IcbSimError(f"cannot open the scenario store {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def save(self, name: str, workspace: Workspace) -> str:
        """Save (or overwrite) a scenario by name."""
        name = name.strip()
        if not name:
            raise IcbSimError("give the scenario a name")
        if len(name) > 120:
            raise IcbSimError("a scenario name has at most 120 characters")
        cfg = workspace.configuration
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO scenarios VALUES (?, ?, ?, ?, ?)",
                       (name, workspace.model.level, json.dumps(asdict(workspace.params)),
                        json.dumps(cfg.mapping()), time.time()))
        return name

    def names(self, level: str | None = None) -> list[str]:
        """Saved scenario names (of one level, if given), newest first."""
        with self._connect() as db:
            if level:
                # Scenarios saved before the April 2026 map was known call the 42 ICBs' level "icb".
                rows = db.execute("SELECT name FROM scenarios WHERE level IN (?, ?) ORDER BY saved_at DESC",
                                  (level, "icb" if level == "icb2024" else level))
            else:
                rows = db.execute("SELECT name FROM scenarios ORDER BY saved_at DESC")
            return [r[0] for r in rows]

    def load(self, name: str, model) -> tuple[Configuration, MetricParameters]:
        """A saved scenario's configuration and parameters on ``model`` (which must be of its level)."""
        with self._connect() as db:
            row = db.execute("SELECT level, params, mapping FROM scenarios WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise IcbSimError(f"no saved scenario called {name!r}")
        level, params, mapping = row
        level = "icb2024" if level == "icb" else level
        if level != model.level:
            raise IcbSimError(f"{name} is a {level}-level scenario")
        p = json.loads(params)
        p["band"] = tuple(p["band"])
        return (Configuration.from_mapping(model, json.loads(mapping), allow_noncontiguous=True, source=name),
                MetricParameters(**p))

    def delete(self, name: str) -> None:
        """Forget a saved scenario."""
        with self._connect() as db:
            db.execute("DELETE FROM scenarios WHERE name = ?", (name,))


def diff(a: Evaluation, b: Evaluation) -> list[dict[str, Any]]:
    """Headline figures of two evaluations side by side, with the change."""
    keys = [("footprints", "footprints"), ("in_band", "footprints in band"), ("below_band", "below band"),
            ("above_band", "above band"), ("at_stake_gbp", "£ at stake"),
            ("at_stake_need_adjusted_gbp", "£ at stake (need-adjusted)"), ("localisation_index", "localisation index"),
            ("major_trusts_shared", "major trusts shared"), ("pathology_networks_split", "pathology networks split"),
            ("authorities_split", "authorities split"), ("upper_tier_councils_split", "upper-tier councils split"),
            ("upper_tier_people_in_smaller_parts", "people in split-off parts of upper-tier councils"),
            ("footprints_crossing_regions", "footprints crossing regions"),
            ("running_cost_saving_gbp", "running-cost saving £")]
    rows = [{"measure": label, "A": a.overall[k], "B": b.overall[k],
             "change": (b.overall[k] - a.overall[k]) if a.overall[k] is not None and b.overall[k] is not None else None}
            for k, label in keys]
    for k, label in (("people_moved", "people changing ICB"), ("today_icbs_split", "today's ICBs split")):
        x, y = a.overall["change_from_today"][k], b.overall["change_from_today"][k]
        rows.append({"measure": label, "A": x, "B": y, "change": y - x})
    rows.append({"measure": "score (lower is better)", "A": a.score, "B": b.score, "change": b.score - a.score})
    return rows

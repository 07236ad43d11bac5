"""Read the data directory's CSV and GeoJSON files with errors that name the file and row."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd

from boundaries.errors import DataError


def read_csv(data_dir: Path, rel: str, columns: Iterable[str], numeric: Iterable[str] = (),
             nullable: Iterable[str] = ()) -> pd.DataFrame:
    """Read ``rel`` from ``data_dir``, checking that ``columns`` exist and ``numeric`` ones parse.

    Parameters
    ----------
    numeric
        Columns that must hold numbers; a blank is an error unless the column is also in ``nullable``.
    """
    path = data_dir / rel
    if not path.is_file():
        raise DataError("required data file is missing", rel)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot be read as CSV ({str(exc).splitlines()[0]})", rel) from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", rel)
    nullable = set(nullable)
    for col in numeric:
        if col not in df.columns:
            raise DataError(f"missing column {col}", rel)
        raw = df[col].str.strip()
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & (raw != "")
        if col not in nullable:
            bad |= raw == ""
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"column {col} holds {df[col].iloc[i]!r}, not a number", rel, row=i + 2)
        df[col] = values.astype(float)
    return df


def require_unique(df: pd.DataFrame, col: str, rel: str) -> None:
    """Raise if ``col`` repeats a value."""
    dup = df[col].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"{col} {df[col].iloc[i]} appears twice", rel, row=i + 2)


def require_known(df: pd.DataFrame, col: str, known: Iterable[str], rel: str, what: str) -> None:
    """Raise if ``col`` holds a code outside ``known``."""
    known = set(known)
    bad = ~df[col].isin(known)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{col} {df[col].iloc[i]!r} is not a known {what}", rel, row=i + 2)


def require_count(df: pd.DataFrame, n: int, rel: str, what: str) -> None:
    """Raise unless ``df`` has ``n`` rows."""
    if len(df) != n:
        raise DataError(f"expected {n} {what}, found {len(df)}", rel)


def read_geojson(data_dir: Path, rel: str, code_col: str):
    """Read a GeoJSON of polygons keyed by ``code_col`` as a GeoDataFrame in WGS84."""
    path = data_dir / rel
    if not path.is_file():
        raise DataError("required data file is missing", rel)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for broken files
        raise DataError(f"cannot be read as GeoJSON ({str(exc).splitlines()[0]})", rel) from None
    if code_col not in gdf.columns:
        raise DataError(f"features lack the property {code_col}", rel)
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:
        gdf = gdf.set_crs(4326, allow_override=True) if gdf.crs is None else gdf.to_crs(4326)
    empty = gdf.geometry.is_empty | gdf.geometry.isna()
    if empty.any():
        raise DataError(f"feature {gdf[code_col].iloc[int(np.flatnonzero(empty)[0])]} has no geometry", rel)
    return gdf


def read_json(path: Path) -> dict:
    """Read a JSON file (used for small metadata)."""
    return json.loads(path.read_text(encoding="utf-8"))

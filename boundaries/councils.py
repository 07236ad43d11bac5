"""Upper-tier councils (county councils and unitaries) and their overlap with building blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from boundaries._tables import read_csv, require_count, require_known, require_unique
from boundaries.errors import DataError

UTLA_LOOKUP = "geo/lookup_lad24_utla24.csv"

N_UTLA = 153
"""Upper-tier councils in England (2024): 21 county councils and 132 districts that are their own upper tier (63
unitary authorities, Isles of Scilly included, 36 metropolitan districts and 33 London boroughs, City of London
included). ``geo/SOURCES.md`` says 152; the file itself holds 153, and the check follows the file."""

COUNCIL_TYPES = {"county council": "E10", "unitary authority": "E06", "metropolitan district": "E08",
                 "London borough": "E09"}
"""Each type of upper-tier council and the prefix of its GSS code."""


def load_councils(data_dir: Path, lads: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The upper-tier councils and the council of every local authority district.

    Parameters
    ----------
    lads
        The 296 districts (``lad_code``, ``lad_name``), from ``geo/lad24_summary.csv``.

    Returns
    -------
    councils
        One row per upper-tier council, by code: ``code``, ``name``, ``type`` (one of ``COUNCIL_TYPES``).
    members
        ``lad_code``, ``council`` (code): the upper-tier council of each district.

    Raises
    ------
    DataError
        A district missing, repeated or unknown; a council with two names or types; a code that does not match
        its type; a district that is its own upper tier under another code; or not ``N_UTLA`` councils.
    """
    df = read_csv(data_dir, UTLA_LOOKUP, ["lad_code", "lad_name", "utla_code", "utla_name", "utla_type"])
    require_count(df, len(lads), UTLA_LOOKUP, "local authority districts")
    require_unique(df, "lad_code", UTLA_LOOKUP)
    require_known(df, "lad_code", lads.lad_code, UTLA_LOOKUP, "LAD24 code")
    require_known(df, "utla_type", COUNCIL_TYPES, UTLA_LOOKUP, "upper-tier council type")
    names = dict(zip(lads.lad_code, lads.lad_name))
    for r, (lad, name, code, kind) in enumerate(zip(df.lad_code, df.lad_name, df.utla_code, df.utla_type), start=2):
        if name != names[lad]:
            raise DataError(f"district {lad} is {name!r} here but {names[lad]!r} in the district summary",
                            UTLA_LOOKUP, row=r)
        if not code.startswith(COUNCIL_TYPES[kind]):
            raise DataError(f"upper-tier council {code} is a {kind}, whose codes start {COUNCIL_TYPES[kind]}",
                            UTLA_LOOKUP, row=r)
        # Every district outside a county (a unitary, metropolitan district or London borough) is its own upper
        # tier; a county's districts are non-metropolitan districts (E07).
        if kind == "county council" and not lad.startswith("E07"):
            raise DataError(f"district {lad} is not a non-metropolitan district (E07) but lies in county {code}",
                            UTLA_LOOKUP, row=r)
        if kind != "county council" and code != lad:
            raise DataError(f"district {lad} is a {kind}, its own upper tier, but is given council {code}",
                            UTLA_LOOKUP, row=r)
    per = df.groupby("utla_code")[["utla_name", "utla_type"]].nunique()
    if (per > 1).any().any():
        code = per.index[(per > 1).any(axis=1)][0]
        raise DataError(f"upper-tier council {code} has more than one name or type", UTLA_LOOKUP)
    councils = (df.drop_duplicates("utla_code").sort_values("utla_code")
                .rename(columns={"utla_code": "code", "utla_name": "name", "utla_type": "type"})
                [["code", "name", "type"]].reset_index(drop=True))
    if len(councils) != N_UTLA:
        raise DataError(f"expected {N_UTLA} upper-tier councils, found {len(councils)}", UTLA_LOOKUP)
    return councils, pd.DataFrame({"lad_code": df.lad_code, "council": df.utla_code})


def council_overlap(councils: pd.DataFrame, members: pd.DataFrame, lad_block_pop: pd.DataFrame,
                    n_blocks: int) -> np.ndarray:
    """Block x upper-tier council matrix of Census 2021 residents living in both (from each district's residents
    in each block: a place lies in one district, hence in one council)."""
    ci = {c: i for i, c in enumerate(councils.code)}
    m = lad_block_pop.merge(members, on="lad_code", how="left")
    if m.council.isna().any():
        lad = m.lad_code[m.council.isna()].iloc[0]
        raise DataError(f"district {lad} has residents but no upper-tier council", UTLA_LOOKUP)
    out = np.zeros((n_blocks, len(councils)))
    np.add.at(out, (m.block.to_numpy(dtype=int), m.council.map(ci).to_numpy(dtype=int)), m.population.to_numpy())
    return out

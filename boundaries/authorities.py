"""Combined, mayoral and strategic authorities and their overlap with building blocks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from boundaries._tables import read_csv, require_known

AUTHORITIES = "geo/strategic_authorities.csv"
CA_LOOKUP = "geo/lookup_lad25_cauth25_may2025.csv"
SUPPLEMENT = "geo/lookup_lad24_strategic_authority_supplement.csv"


def _slug(name: str) -> str:
    return "SA:" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def load_authorities(data_dir: Path, lad_codes: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Authorities and LAD memberships.

    Returns
    -------
    authorities
        ``code`` (GSS code, or ``SA:<name>`` for Devolution Priority Programme areas without one), ``name``,
        ``type``, ``mayoral``, ``mayor_in_office``, ``status``.
    members
        ``lad_code``, ``authority`` (code).
    """
    sa = read_csv(data_dir, AUTHORITIES, ["sa_code", "sa_name", "sa_type", "mayoral", "mayor_in_office_by_may2025",
                                          "status"])
    codes = [c if c else _slug(n) for c, n in zip(sa.sa_code, sa.sa_name)]
    auth = pd.DataFrame({"code": codes, "name": sa.sa_name, "type": sa.sa_type, "mayoral": sa.mayoral == "True",
                         "mayor_in_office": sa.mayor_in_office_by_may2025 == "True", "status": sa.status})
    by_name = dict(zip(auth.name, auth.code))
    ca = read_csv(data_dir, CA_LOOKUP, ["lad_code", "cauth_code"])
    require_known(ca, "cauth_code", auth.code, CA_LOOKUP, "authority code")
    require_known(ca, "lad_code", lad_codes, CA_LOOKUP, "LAD24 code")
    sup = read_csv(data_dir, SUPPLEMENT, ["lad_code", "sa_code", "sa_name"])
    require_known(sup, "lad_code", lad_codes, SUPPLEMENT, "LAD24 code")
    require_known(sup, "sa_name", by_name, SUPPLEMENT, "authority name")
    members = pd.concat([pd.DataFrame({"lad_code": ca.lad_code, "authority": ca.cauth_code}),
                         pd.DataFrame({"lad_code": sup.lad_code, "authority": sup.sa_name.map(by_name)})],
                        ignore_index=True).drop_duplicates()
    return auth, members


def authority_overlap(auth: pd.DataFrame, members: pd.DataFrame, lad_block_pop: pd.DataFrame,
                      n_blocks: int) -> np.ndarray:
    """Block x authority matrix of Census 2021 residents living in both."""
    ai = {c: i for i, c in enumerate(auth.code)}
    m = lad_block_pop.merge(members, on="lad_code")
    out = np.zeros((n_blocks, len(auth)))
    np.add.at(out, (m.block.to_numpy(), m.authority.map(ai).to_numpy()), m.population.to_numpy())
    return out

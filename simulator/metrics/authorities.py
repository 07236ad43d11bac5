"""Mayoral and strategic authority coterminosity: each authority's residents in a single footprint."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.metrics._common import one_hot, safe_div

AUTHORITY_SETS = ("mayoral", "strategic")
"""``mayoral``: the 14 authorities with a mayor in office (13 combined authorities and Greater London);
``strategic``: all 22, adding the non-mayoral combined county authorities and the Devolution Priority Programme."""

SPLIT_TOLERANCE = 0.01
"""An authority counts as split when less than 99% of its residents share one footprint (best-fit lookups put
slivers of under 1% of a council across ICB lines)."""


def selected(model, authority_set: str) -> np.ndarray:
    """Indices of the authorities in ``authority_set``."""
    a = model.authorities
    if authority_set == "mayoral":
        return np.flatnonzero((a.mayoral & a.mayor_in_office).to_numpy())
    return np.arange(len(a))


def footprint_authority(model, config) -> np.ndarray:
    """Footprint x authority matrix of Census 2021 residents."""
    return np.asarray(one_hot(config.assignment, config.n_footprints) @ model.authority_overlap)


def authorities(model, config, authority_set: str = "mayoral") -> tuple[pd.DataFrame, np.ndarray]:
    """Per authority: residents, share in the footprint holding most, split flag, footprints touched.

    Also returns, per footprint, whether it crosses the boundary of a split authority.
    """
    O = footprint_authority(model, config)
    idx = selected(model, authority_set)
    rows = []
    crossing = np.zeros(config.n_footprints, dtype=bool)
    for a in idx:
        col = O[:, a]
        total = col.sum()
        share = col.max() / total if total > 0 else 1.0
        touched = np.flatnonzero(safe_div(col, total) >= SPLIT_TOLERANCE)
        split = share < 1.0 - SPLIT_TOLERANCE
        if split:
            crossing[touched] = True
        rows.append({"authority": model.authorities.code.iloc[a], "authority_name": model.authorities.name.iloc[a],
                     "mayoral": bool(model.authorities.mayoral.iloc[a]), "residents": float(total),
                     "share_in_one_footprint": float(share),
                     "main_footprint": config.names[int(np.argmax(col))],
                     "footprints": [config.names[f] for f in touched], "split": bool(split)})
    return pd.DataFrame(rows), crossing

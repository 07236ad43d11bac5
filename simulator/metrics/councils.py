"""Upper-tier councils (county councils and unitaries): each council's residents in a single footprint."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.metrics._common import one_hot

UPPER_TIER_TOLERANCE = 0.02
"""An upper-tier council counts as split when more than 2% of its residents live outside the footprint holding
most of them. The official lookups are best-fit (each LSOA to one sub-ICB location), so even on the April 2026
map, whose every change kept councils whole, slivers of up to 1.2% of a council (Buckinghamshire, Oxfordshire)
lie across ICB lines: a tolerance below that would call them split."""


def footprint_council(model, config) -> np.ndarray:
    """Footprint x upper-tier council matrix of Census 2021 residents."""
    return np.asarray(one_hot(config.assignment, config.n_footprints) @ model.council_overlap)


def councils(model, config, tolerance: float = UPPER_TIER_TOLERANCE) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per upper-tier council: how whole it is; per footprint: the split councils it holds part of; overall.

    Parameters
    ----------
    tolerance
        A council is split when more than this share of its residents lives outside its main footprint.

    Returns
    -------
    table
        One row per council: ``council``, ``council_name``, ``council_type``, ``residents``,
        ``main_footprint`` (holding most of its residents), ``share_in_one_footprint`` (the share it holds),
        ``people_in_smaller_parts`` (residents outside it), ``n_footprints`` and ``footprints`` (every footprint
        holding any of its residents, most first), ``split``.
    per_footprint
        One row per footprint: ``upper_tier_councils_split`` (names of the split councils it holds part of) and
        ``upper_tier_people_outside_majority`` (its residents whose council has a majority in another footprint,
        or in none: the footprint's part of the ``upper_tier_split`` term).
    overall
        ``upper_tier_councils``, ``upper_tier_councils_split``, ``upper_tier_councils_split_names``,
        ``upper_tier_people_in_smaller_parts``, ``upper_tier_people_outside_majority`` and
        ``upper_tier_tolerance``.
    """
    O = footprint_council(model, config)
    total = O.sum(axis=0)
    rows = []
    split_in = [[] for _ in range(config.n_footprints)]
    for c in np.flatnonzero(total > 0):
        col = O[:, c]
        held = np.flatnonzero(col > 0)
        held = held[np.argsort(-col[held], kind="stable")]
        main = int(held[0])
        outside = float(total[c] - col[main])
        split = outside > tolerance * total[c]
        name = model.councils.name.iloc[c]
        if split:
            for f in held:
                split_in[f].append(name)
        rows.append({"council": model.councils.code.iloc[c], "council_name": name,
                     "council_type": model.councils.type.iloc[c], "residents": float(total[c]),
                     "main_footprint": config.names[main], "share_in_one_footprint": float(col[main] / total[c]),
                     "people_in_smaller_parts": outside, "n_footprints": len(held),
                     "footprints": [config.names[f] for f in held], "split": bool(split)})
    table = pd.DataFrame(rows, columns=["council", "council_name", "council_type", "residents", "main_footprint",
                                        "share_in_one_footprint", "people_in_smaller_parts", "n_footprints",
                                        "footprints", "split"])
    minority = np.where(O > total / 2, 0.0, O).sum(axis=1)
    per_footprint = pd.DataFrame({"upper_tier_councils_split": split_in,
                                  "upper_tier_people_outside_majority": minority})
    overall = {"upper_tier_councils": int(len(table)), "upper_tier_councils_split": int(table.split.sum()),
               "upper_tier_councils_split_names": table.council_name[table.split].tolist(),
               "upper_tier_people_in_smaller_parts": float(table.people_in_smaller_parts.sum()),
               "upper_tier_people_outside_majority": float(minority.sum()), "upper_tier_tolerance": tolerance}
    return table, per_footprint, overall

"""Load-time checks against published England totals, regions and the adjacency graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from boundaries._tables import read_csv
from boundaries.errors import DataError
from boundaries.finance import ALLOC

TOLERANCE = 0.001  # 0.1%
"""Relative tolerance for populations and money against the published England totals."""

# England totals as published (see each folder's SOURCES.md).
PUBLISHED_TOTALS = {
    "pop_gp_registered": (63_237_908, "GP-registered patients, 1 August 2026 (NHS England)", "finance/icb_population.csv"),
    "pop_allocation": (63_849_324, "allocation population 2025/26 (NHS England)", "finance/icb_allocations_2025_26.csv"),
    "pop_census": (56_490_108, "Census 2021 usual residents (ONS)", "geo/lookup_lsoa21_sicbl24_icb24_lad24_population.csv"),
    "core_recurrent_gbp_k": (116_700_000, "core recurrent allocations 2025/26, £116.7bn", "finance/icb_allocations_2025_26.csv"),
    "total_gbp_k": (160_200_000, "all allocation streams 2025/26, £160.2bn", "finance/icb_allocations_2025_26.csv"),
}


def check_totals(figures: pd.DataFrame, level: str) -> dict[str, float]:
    """Raise unless block figures sum to the published England totals within ``TOLERANCE``.

    Returns the sums, keyed like ``PUBLISHED_TOTALS``.
    """
    sums = {}
    for field, (published, what, rel) in PUBLISHED_TOTALS.items():
        total = float(figures[field].sum())
        sums[field] = total
        if abs(total - published) > TOLERANCE * published:
            raise DataError(f"{what}: the {level} blocks sum to {total:,.0f}, not the published {published:,} "
                            f"(tolerance {TOLERANCE:.1%})", rel)
    return sums


def check_regions(data_dir: Path, icb_lookup: pd.DataFrame) -> None:
    """Raise unless the finance files' regions agree with the geography's.

    ``region_code`` means an ODS code (Y56-Y63) in finance/ but an ONS code (E40...) in geo/; the two are
    compared through the geography lookup's ``region_ods``.
    """
    alloc = read_csv(data_dir, ALLOC, ["icb_code", "region_code"])
    ods = dict(zip(icb_lookup.icb_code, icb_lookup.region_ods))
    for n, (icb, region) in enumerate(zip(alloc.icb_code, alloc.region_code), start=2):
        if not region.startswith("Y"):
            raise DataError(f"region_code {region!r} is not an NHS ODS region code (Y56-Y63)", ALLOC, row=n)
        if ods.get(icb) != region:
            raise DataError(f"ICB {icb} is in region {region} here but in {ods.get(icb)} in the geography lookup",
                            ALLOC, row=n)


def check_graph(n_blocks: int, edges: pd.DataFrame, level: str) -> None:
    """Raise if adjacency is not a simple undirected graph over the blocks."""
    a, b = edges.a.to_numpy(), edges.b.to_numpy()
    if len(a) and (a.min() < 0 or b.max() >= n_blocks):
        raise DataError(f"{level} adjacency names a block that does not exist")
    if np.any(a == b):
        raise DataError(f"{level} adjacency has a block next to itself")
    pairs = set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist()))
    if len(pairs) != len(a):
        raise DataError(f"{level} adjacency lists a pair twice")

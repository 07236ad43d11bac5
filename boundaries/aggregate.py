"""Today's ICBs as building blocks: the place-level inputs summed to the 36 ICBs in force from 1 April 2026."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from boundaries._tables import read_csv, require_count, require_known, require_unique
from boundaries.errors import DataError
from boundaries.finance import FIELDS
from boundaries.geography import BlockGeography, _blocks_table, _polygonal
from boundaries.providers import Providers

ICB26_GP = "finance/icb26_gp_registered_patients_2026_08.csv"

_EDGE_RANK = {"land": 0, "estuary": 1, "sea": 2}
"""Two ICBs touching on land and across water are land neighbours; estuary beats a sea link."""


def group_matrix(groups: np.ndarray, n_groups: int) -> sp.csr_matrix:
    """Group x place 0/1 matrix (``groups[i]`` is place ``i``'s group)."""
    n = len(groups)
    return sp.csr_matrix((np.ones(n), (groups, np.arange(n))), shape=(n_groups, n))


def icb2026_blocks(place_blocks: pd.DataFrame, lookups: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray]:
    """The 36 blocks (one per April 2026 ICB) and, per place, the index of the block it belongs to."""
    blocks = _blocks_table("icb2026", lookups)
    index = {c: i for i, c in enumerate(blocks.code)}
    return blocks, place_blocks.icb26_code.map(index).to_numpy(dtype=np.int64)


def aggregate_geography(place: BlockGeography, blocks: pd.DataFrame, groups: np.ndarray) -> BlockGeography:
    """Dissolve places into their 2026 ICBs; two ICBs are neighbours where any of their places are."""
    geometry = []
    for k in range(len(blocks)):
        parts = [place.geometry[i] for i in np.flatnonzero(groups == k)]
        g = shapely.union_all(parts)
        geometry.append(_polygonal(shapely.make_valid(g)) if not g.is_valid else g)
    e = place.edges
    a, b = groups[e.a.to_numpy(dtype=int)], groups[e.b.to_numpy(dtype=int)]
    df = pd.DataFrame({"a": np.minimum(a, b), "b": np.maximum(a, b), "rank": e.kind.map(_EDGE_RANK).to_numpy(),
                       "km": e.shared_border_km.to_numpy(dtype=float)})
    df = df[df.a != df.b]
    agg = df.groupby(["a", "b"], as_index=False).agg(rank=("rank", "min"), km=("km", "sum"))
    kind = {v: k for k, v in _EDGE_RANK.items()}
    edges = pd.DataFrame({"a": agg.a.astype(int), "b": agg.b.astype(int), "kind": agg["rank"].map(kind),
                          "shared_border_km": agg.km.round(3)})
    return BlockGeography("icb2026", blocks, geometry, edges.reset_index(drop=True))


def aggregate_figures(data_dir: Path, place_blocks: pd.DataFrame, figures: pd.DataFrame,
                      estimated: dict[str, np.ndarray], blocks: pd.DataFrame,
                      groups: np.ndarray) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Sum place figures to the 2026 ICBs; GP-registered patients are the August 2026 by-ICB figures.

    A sum is exact where the 2026 ICB is a union of whole 2024 ICBs (the apportioned place shares of each 2024
    ICB add back to its published figure); elsewhere it keeps the places' estimate flags.
    """
    G = group_matrix(groups, len(blocks))
    out = pd.DataFrame({f: G @ figures[f].to_numpy(dtype=float) for f in FIELDS})
    census = figures.pop_census.to_numpy(dtype=float)
    out["imd_score"] = (G @ (figures.imd_score.to_numpy(dtype=float) * census)) / (G @ census)
    gp = read_csv(data_dir, ICB26_GP, ["icb_code_2026"], numeric=["gp_registered_patients"])
    require_count(gp, len(blocks), ICB26_GP, "ICBs of April 2026")
    require_unique(gp, "icb_code_2026", ICB26_GP)
    require_known(gp, "icb_code_2026", blocks.code, ICB26_GP, "ICB code of April 2026 (geo/lookup_place_icb26.csv)")
    out["pop_gp_registered"] = gp.set_index("icb_code_2026").gp_registered_patients.reindex(blocks.code).to_numpy()
    if out.isna().any().any():
        raise DataError("a 2026 ICB has no figure after summing its places", ICB26_GP)
    # Whole 2024 ICBs: every place of each 2024 ICB the 2026 ICB touches lies inside it.
    icb24 = place_blocks.icb_code.to_numpy()
    whole = np.ones(len(blocks), dtype=bool)
    for k in range(len(blocks)):
        touched = set(icb24[groups == k])
        whole[k] = bool(np.all(groups[np.isin(icb24, list(touched))] == k))
    est = {}
    for f in FIELDS:
        flag = np.asarray(G @ estimated.get(f, np.zeros(len(groups), bool)).astype(float) > 0)
        est[f] = flag & ~whole
    est["pop_gp_registered"] = np.zeros(len(blocks), dtype=bool)
    est["pop_census"] = np.zeros(len(blocks), dtype=bool)
    return out[list(FIELDS)], est


def aggregate_providers(providers: Providers, groups: np.ndarray, n_groups: int) -> Providers:
    """Trusts hosted by the 2026 ICB holding their host place; flows summed over places."""
    t = providers.trusts.copy()
    host = t.host_block.to_numpy(dtype=int)
    t["host_block"] = np.where(host >= 0, groups[np.maximum(host, 0)], -1)
    flows = (group_matrix(groups, n_groups) @ providers.flows).tocsr()
    return Providers(t, flows, providers.networks)


def aggregate_lad_population(lad_block_pop: pd.DataFrame, groups: np.ndarray) -> pd.DataFrame:
    """Residents of each local authority in each 2026 ICB (columns ``lad_code``, ``block``, ``population``)."""
    g = lad_block_pop.assign(block=groups[lad_block_pop.block.to_numpy(dtype=int)])
    return g.groupby(["lad_code", "block"], as_index=False).population.sum()

"""Assemble everything the model needs for one level, validated, from the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from boundaries import aggregate
from boundaries.authorities import authority_overlap, load_authorities
from boundaries.councils import council_overlap, load_councils
from boundaries.finance import build_finance
from boundaries.geography import BlockGeography, build_geography, canonical_level, load_lookups
from boundaries.providers import Providers, build_providers
from boundaries.validate import check_graph, check_regions, check_totals


@dataclass
class ModelInputs:
    """Validated inputs of one level (see ``simulator.model.Model``)."""

    level: str
    geography: BlockGeography
    figures: pd.DataFrame
    estimated: dict[str, np.ndarray]
    providers: Providers
    authorities: pd.DataFrame
    authority_overlap: np.ndarray
    totals: dict[str, float]
    lad_block_population: pd.DataFrame | None = None
    councils: pd.DataFrame | None = None  # upper-tier councils: code, name, type
    council_overlap: np.ndarray | None = None  # block x upper-tier council, Census 2021 residents


def _lad_block_population(lsoa: pd.DataFrame, blocks: pd.DataFrame, level: str) -> pd.DataFrame:
    key = {"icb2024": "icb_code", "sicbl": "sicbl_code"}.get(level)
    if key is None:
        codes = lsoa.sicbl_code + ":" + lsoa.lad_code
    else:
        codes = lsoa[key]
    index = pd.Series(np.arange(len(blocks)), index=blocks.code)
    g = pd.DataFrame({"lad_code": lsoa.lad_code, "block": codes.map(index), "population": lsoa.population})
    return g.groupby(["lad_code", "block"], as_index=False).population.sum()


def build_inputs(data_dir: Path, level: str, estuary_links: bool = False) -> ModelInputs:
    """Read, check and shape the data of ``level`` (``icb2026``, ``icb2024``, ``sicbl`` or ``place``)."""
    level = canonical_level(level)
    if level == "icb2026":
        return _icb2026_inputs(data_dir, estuary_links)
    lookups = load_lookups(data_dir)
    geo = build_geography(data_dir, level, estuary_links=estuary_links, lookups=lookups)
    check_graph(len(geo.blocks), geo.edges, level)
    figures, estimated = build_finance(data_dir, level, geo.blocks)
    check_regions(data_dir, lookups["icb"])
    totals = check_totals(figures, level)
    lbp = _lad_block_population(lookups["lsoa"], geo.blocks, level)
    providers = build_providers(data_dir, level, geo.blocks, geo.geometry, lbp)
    auth, members = load_authorities(data_dir, set(lookups["lad"].lad_code))
    overlap = authority_overlap(auth, members, lbp, len(geo.blocks))
    councils, districts = load_councils(data_dir, lookups["lad"])
    return ModelInputs(level, geo, figures, estimated, providers, auth, overlap, totals, lbp, councils,
                       council_overlap(councils, districts, lbp, len(geo.blocks)))


def _icb2026_inputs(data_dir: Path, estuary_links: bool) -> ModelInputs:
    """Today's 36 ICBs, each the sum of its places (the one level whose blocks are whole 2026 ICBs)."""
    place = build_inputs(data_dir, "place", estuary_links)
    lookups = load_lookups(data_dir)
    blocks, groups = aggregate.icb2026_blocks(place.geography.blocks, lookups)
    geo = aggregate.aggregate_geography(place.geography, blocks, groups)
    check_graph(len(blocks), geo.edges, "icb2026")
    figures, estimated = aggregate.aggregate_figures(data_dir, place.geography.blocks, place.figures, place.estimated,
                                                     blocks, groups)
    totals = check_totals(figures, "icb2026")
    providers = aggregate.aggregate_providers(place.providers, groups, len(blocks))
    overlap = aggregate.group_matrix(groups, len(blocks)) @ place.authority_overlap
    lbp = aggregate.aggregate_lad_population(place.lad_block_population, groups)
    councils = np.asarray(aggregate.group_matrix(groups, len(blocks)) @ place.council_overlap)
    return ModelInputs("icb2026", geo, figures, estimated, providers, place.authorities, np.asarray(overlap), totals,
                       lbp, place.councils, councils)

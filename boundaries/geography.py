"""Building blocks at ICB, sub-ICB location and place level: codes, names, region, geometry and neighbours."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon

from boundaries._tables import read_csv, read_geojson, require_count, require_known, require_unique
from boundaries.errors import DataError

LEVELS = ("icb2026", "icb2024", "sicbl", "place")
"""Building-block levels: today's 36 ICBs (from 1 April 2026), the 42 ICBs of April 2024 to March 2026, the 106
sub-ICB locations (2024) and the 328 places (2024 sub-ICB location x 2024 local authority)."""

LEVEL_ALIASES = {"icb": "icb2024"}
"""Older level names still accepted (``icb`` meant the 42 ICBs before the April 2026 map existed)."""

LEVEL_LABELS = {"icb2026": "ICBs from April 2026 (36)", "icb2024": "ICBs of 2024 (42)",
                "sicbl": "sub-ICB locations (106)", "place": "places (sub-ICB location x council, 328)"}

BASELINES = ("2026", "2024")
"""The official maps a scenario can start from: ``2026`` (36 ICBs from 1 April 2026, today) and ``2024``."""

DEFAULT_BASELINE = "2026"

N_ICB, N_ICB26, N_SICBL, N_LAD, N_PLACE = 42, 36, 106, 296, 328


def canonical_level(level: str) -> str:
    """The level's current name (``icb`` is read as ``icb2024``); raises DataError for an unknown level."""
    name = LEVEL_ALIASES.get(str(level).strip().lower(), str(level).strip().lower())
    if name not in LEVELS:
        raise DataError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    return name


def check_baseline(baseline: str) -> str:
    """The baseline map's name as a string (``2026`` or ``2024``); raises DataError otherwise."""
    name = str(baseline).strip()
    if name not in BASELINES:
        raise DataError(f"unknown baseline map {baseline!r}; use 2026 (the 36 ICBs from 1 April 2026) or 2024 "
                        "(the 42 ICBs of 2024)")
    return name

LSOA_LOOKUP = "geo/lookup_lsoa21_sicbl24_icb24_lad24_population.csv"
SICBL_LOOKUP = "geo/lookup_sicbl24_icb24_nhser24.csv"
ICB_LOOKUP = "geo/lookup_icb24_nhser24.csv"
LAD_SICBL_SHARES = "geo/lad24_sicbl24_population_shares.csv"
LAD_SUMMARY = "geo/lad24_summary.csv"
ICB_ADJ = "geo/icb_adjacency.csv"
SICBL_ADJ = "geo/sicbl_adjacency.csv"
LAD_ADJ = "geo/lad_adjacency.csv"
ICB_GEO = "geo/icb_boundaries_apr2023_bsc.geojson"
SICBL_GEO = "geo/sicbl_boundaries_apr2023_bsc.geojson"
LAD_GEO = "geo/lad_boundaries_may2024_bsc.geojson"
PLACE_ICB26 = "geo/lookup_place_icb26.csv"

BNG = 27700  # British National Grid: metres, for lengths, areas and overlays
_MIN_SHARED_BORDER_M = 10.0  # a shared point or a few metres of generalisation noise is not a border


@dataclass
class BlockGeography:
    """Blocks of one level with their geometry and neighbour pairs.

    Attributes
    ----------
    blocks
        One row per block, in model order: ``code``, ``ods``, ``name``, ``icb_code``, ``icb_ods``, ``icb_name``,
        ``sicbl_code``, ``sicbl_ods``, ``lad_code``, ``lad_name``, ``region_code`` (ONS E40),
        ``region_ods`` (Y56-Y63), ``region_name``, ``census_population``.
    geometry
        Shapely geometries in WGS84, one per block, same order.
    edges
        DataFrame ``a, b, kind, shared_border_km`` with ``a < b`` block indices; ``kind`` is ``land``,
        ``estuary`` (touching only across tidal water) or ``sea`` (an island's link to the nearest mainland block).
    """

    level: str
    blocks: pd.DataFrame
    geometry: list
    edges: pd.DataFrame


def load_lookups(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Read and cross-check the ONS code lookups (ICB, sub-ICB, LAD, LSOA)."""
    icb = read_csv(data_dir, ICB_LOOKUP, ["icb_code", "icb_ods", "icb_name", "icb_short_name", "region_code",
                                          "region_ods", "region_name"], numeric=["population"])
    require_count(icb, N_ICB, ICB_LOOKUP, "ICBs")
    require_unique(icb, "icb_code", ICB_LOOKUP)
    sicbl = read_csv(data_dir, SICBL_LOOKUP, ["sicbl_code", "sicbl_ods", "sicbl_name", "icb_code"],
                     numeric=["population"])
    require_count(sicbl, N_SICBL, SICBL_LOOKUP, "sub-ICB locations")
    require_unique(sicbl, "sicbl_code", SICBL_LOOKUP)
    require_known(sicbl, "icb_code", icb.icb_code, SICBL_LOOKUP, "ICB code")
    lsoa = read_csv(data_dir, LSOA_LOOKUP, ["lsoa_code", "sicbl_code", "icb_code", "lad_code", "lad_name"],
                    numeric=["population"])
    require_unique(lsoa, "lsoa_code", LSOA_LOOKUP)
    require_known(lsoa, "sicbl_code", sicbl.sicbl_code, LSOA_LOOKUP, "sub-ICB location code")
    parent = dict(zip(sicbl.sicbl_code, sicbl.icb_code))
    wrong = lsoa.icb_code.to_numpy() != lsoa.sicbl_code.map(parent).to_numpy()
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise DataError(f"LSOA {lsoa.lsoa_code.iloc[i]} is in ICB {lsoa.icb_code.iloc[i]} but its sub-ICB location "
                        f"belongs to {parent[lsoa.sicbl_code.iloc[i]]}", LSOA_LOOKUP, row=i + 2)
    lads = read_csv(data_dir, LAD_SUMMARY, ["lad_code", "lad_name", "rgn_code"], numeric=["population"])
    require_count(lads, N_LAD, LAD_SUMMARY, "local authority districts")
    require_unique(lads, "lad_code", LAD_SUMMARY)
    require_known(lsoa, "lad_code", lads.lad_code, LSOA_LOOKUP, "LAD24 code")
    icb26 = _load_icb26(data_dir, lsoa, parent)
    return {"icb": icb, "sicbl": sicbl, "lsoa": lsoa, "lad": lads, "icb26": icb26}


def _load_icb26(data_dir: Path, lsoa: pd.DataFrame, parent: dict[str, str]) -> pd.DataFrame:
    """The April 2026 ICB of every place, checked against the 2024 lookups (one row per place)."""
    df = read_csv(data_dir, PLACE_ICB26, ["sicbl_code", "lad_code", "icb_code_2024", "icb_code_2026", "icb_ods_2026",
                                          "icb_name_2026"], numeric=["census2021_population"])
    require_count(df, N_PLACE, PLACE_ICB26, "places")
    df["place"] = df.sicbl_code + ":" + df.lad_code
    require_unique(df, "place", PLACE_ICB26)
    places = set(lsoa.sicbl_code + ":" + lsoa.lad_code)
    require_known(df, "place", places, PLACE_ICB26, "place (sub-ICB location x local authority)")
    wrong = df.icb_code_2024.to_numpy() != df.sicbl_code.map(parent).to_numpy()
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise DataError(f"place {df.place.iloc[i]} is in 2024 ICB {df.icb_code_2024.iloc[i]} here but in "
                        f"{parent.get(df.sicbl_code.iloc[i])} in {SICBL_LOOKUP}", PLACE_ICB26, row=i + 2)
    names = df.groupby("icb_code_2026")[["icb_ods_2026", "icb_name_2026"]].nunique()
    if (names > 1).any().any():
        code = names.index[(names > 1).any(axis=1)][0]
        raise DataError(f"2026 ICB {code} has more than one ODS code or name", PLACE_ICB26)
    if df.icb_code_2026.nunique() != N_ICB26:
        raise DataError(f"{df.icb_code_2026.nunique()} ICBs of April 2026, expected {N_ICB26}", PLACE_ICB26)
    df["icb_short_name_2026"] = df.icb_name_2026.map(short_icb_name)
    return df.drop(columns="place")


def short_icb_name(name: str) -> str:
    """``NHS Central East Integrated Care Board`` -> ``Central East`` (the planners' short form)."""
    name = name.strip()
    if name.startswith("NHS "):
        name = name[4:]
    return name.removesuffix(" Integrated Care Board").strip()


def _with_icb26(df: pd.DataFrame, level: str, lk: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Add each block's April 2026 ICB: exact for places; for coarser 2024 blocks, the 2026 ICB holding most of
    the block's Census 2021 residents (``icb26_share`` says how much: below 1 only for Frimley's sub-ICB
    location at sub-ICB level, and Frimley, Hertfordshire and West Essex, and Suffolk and North East Essex at
    2024-ICB level, the ones split in April 2026)."""
    i26 = lk["icb26"]
    lsoa = lk["lsoa"]
    pop = lsoa.groupby(["sicbl_code", "lad_code"]).population.sum()
    place = pd.DataFrame({"code26": i26.icb_code_2026.to_numpy(), "key": {
        "place": i26.sicbl_code + ":" + i26.lad_code, "sicbl": i26.sicbl_code,
        "icb2024": i26.icb_code_2024, "icb2026": i26.icb_code_2026}[level].to_numpy(),
        "population": pop.reindex(list(zip(i26.sicbl_code, i26.lad_code))).to_numpy()})
    by = place.groupby(["key", "code26"]).population.sum().reset_index()
    by["share"] = by.population / by.groupby("key").population.transform("sum")
    main = by.sort_values(["key", "share"], ascending=[True, False]).drop_duplicates("key").set_index("key")
    meta = i26.drop_duplicates("icb_code_2026").set_index("icb_code_2026")
    df["icb26_code"] = df.code.map(main.code26) if level != "icb2026" else df.code
    df["icb26_ods"] = df.icb26_code.map(meta.icb_ods_2026)
    df["icb26_name"] = df.icb26_code.map(meta.icb_short_name_2026)
    df["icb26_share"] = df.code.map(main.share).fillna(1.0).to_numpy() if level != "icb2026" else 1.0
    return df


def _blocks_table(level: str, lk: dict[str, pd.DataFrame]) -> pd.DataFrame:
    icb = lk["icb"].set_index("icb_code")
    sicbl = lk["sicbl"].set_index("sicbl_code")
    lsoa = lk["lsoa"]
    if level == "icb2024":
        pop = lsoa.groupby("icb_code").population.sum()
        df = pd.DataFrame({"code": icb.index, "ods": icb.icb_ods.to_numpy(), "name": icb.icb_short_name.to_numpy(),
                           "icb_code": icb.index, "sicbl_code": "", "sicbl_ods": "", "lad_code": "", "lad_name": ""})
    elif level == "icb2026":
        i26 = lk["icb26"].copy()
        i26["population"] = lsoa.groupby(["sicbl_code", "lad_code"]).population.sum().reindex(
            list(zip(i26.sicbl_code, i26.lad_code))).to_numpy()
        pop = i26.groupby("icb_code_2026").population.sum()
        # The 2024 ICB holding most of each 2026 ICB's residents stands for it where a 2024 parent is needed
        # (its NHS region); the figures themselves are summed from places.
        main24 = (i26.groupby(["icb_code_2026", "icb_code_2024"]).population.sum().reset_index()
                  .sort_values(["icb_code_2026", "population"], ascending=[True, False])
                  .drop_duplicates("icb_code_2026").set_index("icb_code_2026").icb_code_2024)
        meta = i26.drop_duplicates("icb_code_2026").set_index("icb_code_2026").sort_index()
        df = pd.DataFrame({"code": meta.index, "ods": meta.icb_ods_2026.to_numpy(),
                           "name": meta.icb_short_name_2026.to_numpy(), "icb_code": main24.reindex(meta.index).to_numpy(),
                           "sicbl_code": "", "sicbl_ods": "", "lad_code": "", "lad_name": ""})
    elif level == "sicbl":
        pop = lsoa.groupby("sicbl_code").population.sum()
        df = pd.DataFrame({"code": sicbl.index, "ods": sicbl.sicbl_ods.to_numpy(),
                           "name": [_sicbl_label(n, o) for n, o in zip(sicbl.sicbl_name, sicbl.sicbl_ods)],
                           "icb_code": sicbl.icb_code.to_numpy(), "sicbl_code": sicbl.index,
                           "sicbl_ods": sicbl.sicbl_ods.to_numpy(), "lad_code": "", "lad_name": ""})
    elif level == "place":
        grp = lsoa.groupby(["sicbl_code", "lad_code"], sort=True).agg(population=("population", "sum"),
                                                                       lad_name=("lad_name", "first")).reset_index()
        pop = pd.Series(grp.population.to_numpy(), index=grp.sicbl_code + ":" + grp.lad_code)
        df = pd.DataFrame({"code": pop.index, "ods": (grp.sicbl_code.map(sicbl.sicbl_ods) + ":" + grp.lad_code).to_numpy(),
                           "name": (grp.lad_name + " (" + grp.sicbl_code.map(sicbl.sicbl_ods) + ")").to_numpy(),
                           "icb_code": grp.sicbl_code.map(sicbl.icb_code).to_numpy(),
                           "sicbl_code": grp.sicbl_code.to_numpy(),
                           "sicbl_ods": grp.sicbl_code.map(sicbl.sicbl_ods).to_numpy(),
                           "lad_code": grp.lad_code.to_numpy(), "lad_name": grp.lad_name.to_numpy()})
    else:
        raise ValueError(level)
    df["icb_ods"] = df.icb_code.map(icb.icb_ods)
    df["icb_name"] = df.icb_code.map(icb.icb_short_name)
    df["region_code"] = df.icb_code.map(icb.region_code)
    df["region_ods"] = df.icb_code.map(icb.region_ods)
    df["region_name"] = df.icb_code.map(icb.region_name)
    df["census_population"] = df.code.map(pop).fillna(0.0).to_numpy()
    df = _with_icb26(df, level, lk)
    df = df.sort_values(["region_ods", "icb_code", "sicbl_code", "code"]).reset_index(drop=True)
    return df


def _sicbl_label(name: str, ods: str) -> str:
    # ONS names sub-ICB locations "NHS <ICB> ICB - <ODS>"; planners say "<ICB> <ODS>".
    short = name.replace("NHS ", "", 1).replace(" ICB - ", " ")
    return short if ods in short else f"{short} {ods}"


def build_geography(data_dir: Path, level: str, estuary_links: bool = False,
                    lookups: dict[str, pd.DataFrame] | None = None) -> BlockGeography:
    """Build the blocks of ``level`` with geometry and neighbours.

    Parameters
    ----------
    estuary_links
        Count blocks that touch only across tidal water (the Thames in London) as neighbours.
    """
    level = canonical_level(level)
    if level == "icb2026":
        raise ValueError("today's ICBs are built from places: use boundaries.build.build_inputs(data_dir, 'icb2026')")
    lk = lookups or load_lookups(data_dir)
    blocks = _blocks_table(level, lk)
    index = {c: i for i, c in enumerate(blocks.code)}
    if level == "icb2024":
        geo = read_geojson(data_dir, ICB_GEO, "icb_code")
        geom = _geometry_by_code(geo, "icb_code", blocks.code, ICB_GEO)
        adj = read_csv(data_dir, ICB_ADJ, ["icb_code_a", "icb_code_b", "land_border"], numeric=["shared_border_km"],
                       nullable=["shared_border_km"])
        edges = _edges_from_table(adj, "icb_code_a", "icb_code_b", adj.land_border == "True", index, ICB_ADJ)
    elif level == "sicbl":
        geo = read_geojson(data_dir, SICBL_GEO, "sicbl_code")
        geom = _geometry_by_code(geo, "sicbl_code", blocks.code, SICBL_GEO)
        adj = read_csv(data_dir, SICBL_ADJ, ["sicbl_code_a", "sicbl_code_b", "in_lsoa_bsc"],
                       numeric=["shared_border_km"])
        edges = _edges_from_table(adj, "sicbl_code_a", "sicbl_code_b", adj.in_lsoa_bsc == "True", index, SICBL_ADJ)
    else:
        geom, edges = _place_geometry_and_edges(data_dir, blocks)
    if not estuary_links:
        edges = edges[edges.kind != "estuary"]
    edges = _add_sea_links(edges, geom)
    return BlockGeography(level, blocks, geom, edges.reset_index(drop=True))


def _geometry_by_code(geo, col: str, codes: pd.Series, rel: str) -> list:
    require_unique(geo, col, rel)
    by = dict(zip(geo[col], geo.geometry))
    missing = [c for c in codes if c not in by]
    if missing:
        raise DataError(f"no boundary for {missing[0]} ({len(missing)} missing)", rel)
    extra = set(by) - set(codes)
    if extra:
        raise DataError(f"boundary for unknown code {sorted(extra)[0]}", rel)
    return [by[c] for c in codes]


def _edges_from_table(adj: pd.DataFrame, ca: str, cb: str, land: pd.Series, index: dict[str, int],
                      rel: str) -> pd.DataFrame:
    rows = []
    seen = set()
    for r, (a, b, is_land, km) in enumerate(zip(adj[ca], adj[cb], land, adj.shared_border_km)):
        if a not in index or b not in index:
            raise DataError(f"unknown code {a if a not in index else b}", rel, row=r + 2)
        if a == b:
            raise DataError(f"{a} is listed as its own neighbour", rel, row=r + 2)
        i, j = sorted((index[a], index[b]))
        if (i, j) in seen:
            raise DataError(f"pair {a}-{b} is listed twice (adjacency must be symmetric and listed once)", rel, row=r + 2)
        seen.add((i, j))
        rows.append((i, j, "land" if is_land else "estuary", 0.0 if np.isnan(km) else float(km)))
    return pd.DataFrame(rows, columns=["a", "b", "kind", "shared_border_km"])


def _add_sea_links(edges: pd.DataFrame, geom: list) -> pd.DataFrame:
    """Link each block with no land neighbour (the Isle of Wight, the Isles of Scilly) to its nearest block."""
    n = len(geom)
    deg = np.zeros(n, dtype=int)
    np.add.at(deg, edges.a.to_numpy(dtype=int), 1)
    np.add.at(deg, edges.b.to_numpy(dtype=int), 1)
    lonely = np.flatnonzero(deg == 0)
    if len(lonely) == 0:
        return edges
    tr = Transformer.from_crs(4326, BNG, always_xy=True)
    proj = [shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))) for g in geom]
    tree = shapely.STRtree(proj)
    rows = []
    for i in lonely:
        order = [j for j in tree.query_nearest(proj[i], exclusive=True, all_matches=True)]
        if not order:
            continue
        j = int(order[0])
        rows.append((min(i, j), max(i, j), "sea", 0.0))
    return pd.concat([edges, pd.DataFrame(rows, columns=edges.columns)], ignore_index=True)


def _to_bng(geoms: list) -> list:
    tr = Transformer.from_crs(4326, BNG, always_xy=True)
    return [shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))) for g in geoms]


def _to_wgs84(geoms: list) -> list:
    tr = Transformer.from_crs(BNG, 4326, always_xy=True)
    return [shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))) for g in geoms]


def _polygonal(g):
    if g is None or g.is_empty:
        return None
    if isinstance(g, (Polygon, MultiPolygon)):
        return g
    parts = [p for p in shapely.get_parts(g) if isinstance(p, (Polygon, MultiPolygon)) and not p.is_empty]
    return shapely.union_all(parts) if parts else None


def _place_geometry_and_edges(data_dir: Path, blocks: pd.DataFrame) -> tuple[list, pd.DataFrame]:
    """Split each sub-ICB polygon among its places so that places tile their sub-ICB exactly.

    The ONS sub-ICB and LAD files are generalised separately, so a plain overlay leaves slivers. Each place
    takes the part of its sub-ICB polygon inside its LAD polygon; what is left of the sub-ICB (slivers, and
    parts under other LADs' generalised edges) goes to the place it shares most border with. Dissolving
    places therefore gives back the sub-ICB boundary, with no gaps between neighbours.
    """
    sgeo = read_geojson(data_dir, SICBL_GEO, "sicbl_code")
    lgeo = read_geojson(data_dir, LAD_GEO, "lad_code")
    sic_codes = sorted(set(blocks.sicbl_code))
    s_geom = dict(zip(sic_codes, _to_bng(_geometry_by_code(sgeo, "sicbl_code", pd.Series(sic_codes), SICBL_GEO))))
    lad_codes = sorted(set(lgeo.lad_code))
    l_geom = dict(zip(lad_codes, _to_bng(_geometry_by_code(lgeo, "lad_code", pd.Series(lad_codes), LAD_GEO))))
    missing = set(blocks.lad_code) - set(l_geom)
    if missing:
        raise DataError(f"no boundary for LAD {sorted(missing)[0]}", LAD_GEO)
    out: list = [None] * len(blocks)
    for s, grp in blocks.groupby("sicbl_code"):
        idx = grp.index.to_list()
        sg = s_geom[s]
        if len(idx) == 1:
            out[idx[0]] = sg
            continue
        pieces = {i: _polygonal(shapely.intersection(sg, l_geom[blocks.lad_code[i]])) for i in idx}
        covered = shapely.union_all([p for p in pieces.values() if p is not None])
        rest = _polygonal(shapely.difference(sg, covered))
        extra: dict[int, list] = {i: [] for i in idx}
        if rest is not None:
            for frag in shapely.get_parts(rest):
                grown = frag.buffer(1.0)
                best, best_len = None, -1.0
                for i, p in pieces.items():
                    if p is None:
                        continue
                    shared = grown.intersection(p).area
                    if shared > best_len:
                        best, best_len = i, shared
                if best_len <= 0:  # touches no piece: give it to the nearest
                    best = min((i for i in pieces if pieces[i] is not None), key=lambda i: pieces[i].distance(frag))
                extra[best].append(frag)
        for i in idx:
            parts = ([pieces[i]] if pieces[i] is not None else []) + extra[i]
            out[i] = _polygonal(shapely.union_all(parts)) if parts else None
    empty = [blocks.code[i] for i, g in enumerate(out) if g is None or g.area < 1.0]
    if empty:
        raise DataError(f"place {empty[0]} has no area in the boundary files ({len(empty)} such places)", LAD_GEO)
    edges = _touching_pairs(out, blocks)
    # Places inherit the verdicts of the sub-ICB and LAD adjacency files: two places are land neighbours only
    # if their local authorities are the same or share a land border, and their sub-ICB locations are the
    # same or share one. Geometry alone would link places across rivers, because the sub-ICB polygons cover
    # tidal water that the LAD polygons leave out. Across the tidal Thames is an estuary, not land.
    adj = read_csv(data_dir, SICBL_ADJ, ["sicbl_code_a", "sicbl_code_b", "in_lsoa_bsc"])
    estuary = {frozenset(p) for p, ok in zip(zip(adj.sicbl_code_a, adj.sicbl_code_b), adj.in_lsoa_bsc) if ok != "True"}
    sic_land = {frozenset(p) for p, ok in zip(zip(adj.sicbl_code_a, adj.sicbl_code_b), adj.in_lsoa_bsc) if ok == "True"}
    ladj = read_csv(data_dir, LAD_ADJ, ["lad_code_a", "lad_code_b", "in_lsoa_bsc"])
    lad_land = {frozenset(p) for p, ok in zip(zip(ladj.lad_code_a, ladj.lad_code_b), ladj.in_lsoa_bsc) if ok == "True"}
    sic = blocks.sicbl_code.to_numpy()
    lad = blocks.lad_code.to_numpy()
    kinds = []
    for a, b in zip(edges.a, edges.b):
        s_pair, l_pair = frozenset((sic[a], sic[b])), frozenset((lad[a], lad[b]))
        lads_ok = lad[a] == lad[b] or l_pair in lad_land
        if s_pair in estuary:
            kinds.append("estuary")
        elif lads_ok and (sic[a] == sic[b] or s_pair in sic_land):
            kinds.append("land")
        else:
            kinds.append("")
    edges["kind"] = kinds
    edges = edges[edges.kind != ""].reset_index(drop=True)
    # Projecting back can leave self-touching rings; repair so that footprints dissolve cleanly.
    wgs = [_polygonal(shapely.make_valid(g)) if not g.is_valid else g for g in _to_wgs84(out)]
    return wgs, edges


def _touching_pairs(geoms: list, blocks: pd.DataFrame) -> pd.DataFrame:
    """Pairs of places sharing a border of positive length, in British National Grid."""
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    rows = []
    boundaries = [g.boundary for g in geoms]
    for i, j in zip(left.tolist(), right.tolist()):
        if i >= j:
            continue
        length = boundaries[i].intersection(boundaries[j]).length
        if length < _MIN_SHARED_BORDER_M:
            # Boundaries built from different files may meet along a line that is not exactly shared.
            length = geoms[i].buffer(1.0).intersection(geoms[j].buffer(1.0)).area / 2.0
        if length >= _MIN_SHARED_BORDER_M:
            rows.append((i, j, "land", round(length / 1000.0, 3)))
    return pd.DataFrame(rows, columns=["a", "b", "kind", "shared_border_km"])

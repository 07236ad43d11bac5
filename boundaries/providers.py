"""NHS trusts, OHID patient flows and pathology networks, placed on the building blocks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from boundaries._tables import read_csv, require_known, require_unique
from boundaries.errors import DataError

TRUSTS = "providers/trusts.csv"
FLOWS = "providers/flows_area_trust.csv"
NETWORKS = "providers/pathology_networks.csv"

ACUTE_TYPES = ("acute_general", "acute_specialist")
MAJOR_BEDS_QUANTILE = 0.75
"""A major trust is an open acute trust with a major trauma centre, or with general and acute beds
(July 2025) in the top quartile of open acute trusts."""

FLOW_SOURCE_LAD = "ohid_2020_release_cy2018_msoa_to_lad"
FLOW_SOURCE_ICB = "ohid_2022_release_latest_year_icb"


@dataclass
class Providers:
    """Trusts, flows and networks on one level's blocks.

    Attributes
    ----------
    trusts
        Open trusts (July 2026): ``code`` (ODS), ``name``, ``type``, ``acute``, ``major``, ``major_reason``,
        ``host_icb_code``, ``lat``, ``lon``, ``ga_beds``, ``major_trauma_centre``, ``host_block`` (index, -1 if
        the trust has no location to place it below ICB level), ``host_estimated``.
    flows
        Sparse block x trust matrix of estimated residents in each trust's catchment (OHID 2018 catchment
        year, LAD level, apportioned to blocks by Census 2021 residents).
    networks
        Pathology network memberships: ``network_id``, ``network_name``, ``trust``, ``role``, ``evidence``.
    """

    trusts: pd.DataFrame
    flows: sp.csr_matrix
    networks: pd.DataFrame


def load_trusts(data_dir: Path, icb_codes: set[str]) -> pd.DataFrame:
    """Open trusts with their type, host ICB, location and the major-trust flag."""
    t = read_csv(data_dir, TRUSTS, ["trust_ods", "trust_name", "trust_type", "status", "trust_ods_2026",
                                    "host_icb_code", "major_trauma_centre"],
                 numeric=["lat", "lon", "ga_beds_available_jul2025"], nullable=["lat", "lon", "ga_beds_available_jul2025"])
    require_unique(t, "trust_ods", TRUSTS)
    # Closed trusts with no identified successor (RNK, RY2) have a blank trust_ods_2026.
    require_known(t[t.trust_ods_2026 != ""], "trust_ods_2026", t.trust_ods, TRUSTS, "trust code (successor)")
    t = t[t.status == "open"].reset_index(drop=True)
    require_known(t, "host_icb_code", icb_codes, TRUSTS, "ICB code")
    acute = t.trust_type.isin(ACUTE_TYPES).to_numpy()
    beds = t.ga_beds_available_jul2025.to_numpy()
    cut = float(np.nanquantile(beds[acute], MAJOR_BEDS_QUANTILE))
    mtc = (t.major_trauma_centre.str.strip() != "").to_numpy()
    big = np.nan_to_num(beds, nan=0.0) >= cut
    major = acute & (mtc | big)
    reason = np.where(~major, "", np.where(mtc & big, "major trauma centre; top-quartile beds",
                                           np.where(mtc, "major trauma centre", f"top-quartile beds (>= {cut:.0f})")))
    return pd.DataFrame({"code": t.trust_ods, "name": t.trust_name.map(_trust_name), "type": t.trust_type,
                         "acute": acute, "major": major, "major_reason": reason, "host_icb_code": t.host_icb_code,
                         "lat": t.lat, "lon": t.lon, "ga_beds": t.ga_beds_available_jul2025,
                         "major_trauma_centre": t.major_trauma_centre})


_SMALL_WORDS = {"and", "of", "for", "the", "upon", "on", "in", "at"}  # lower case inside a name


def _trust_name(name: str) -> str:
    """A trust's name as people write it, from the register's capitals: ``THE QUEEN ELIZABETH HOSPITAL, KING'S LYNN,
    NHS FOUNDATION TRUST`` -> ``The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust`` (NHS in capitals,
    joining words in lower case, an apostrophe's ``s`` too)."""
    words = []
    for i, word in enumerate(str(name).split()):
        low = word.lower()
        if low == "nhs":
            words.append("NHS")
        elif i > 0 and low in _SMALL_WORDS:
            words.append(low)
        else:
            words.append(low[:1].upper() + low[1:])
    return " ".join(words)


def _host_blocks(trusts: pd.DataFrame, blocks: pd.DataFrame, geometry: list, level: str) -> tuple[np.ndarray, np.ndarray]:
    """Block hosting each trust: its ICB at ICB level; below, the block of its ICB containing its HQ."""
    index = {c: i for i, c in enumerate(blocks.code)}
    host = np.full(len(trusts), -1, dtype=int)
    estimated = np.zeros(len(trusts), dtype=bool)
    if level == "icb2024":
        host[:] = [index[c] for c in trusts.host_icb_code]
        return host, estimated
    by_icb = blocks.groupby("icb_code").groups
    for k, (icb, lat, lon) in enumerate(zip(trusts.host_icb_code, trusts.lat, trusts.lon)):
        if np.isnan(lat) or np.isnan(lon):
            continue  # no location (The Online NHS Trust): cannot be placed below ICB level
        pt = shapely.Point(lon, lat)
        cands = list(by_icb[icb])
        inside = [i for i in cands if geometry[i].covers(pt)]
        if inside:
            host[k] = inside[0]
        else:  # generalised boundaries can put a headquarters just over the line: take the nearest block of its ICB
            host[k] = min(cands, key=lambda i: geometry[i].distance(pt))
            estimated[k] = True
    return host, estimated


def load_flows(data_dir: Path, trusts: pd.DataFrame, lad_block_pop: pd.DataFrame, n_blocks: int) -> sp.csr_matrix:
    """Block x trust catchment persons from the OHID LAD table, apportioned by Census 2021 residents.

    ``lad_block_pop`` has columns ``lad_code``, ``block`` (index), ``population``.
    """
    f = read_csv(data_dir, FLOWS, ["area_type", "area_code", "trust_ods_2026", "source_id"],
                 numeric=["proportion", "catchment_persons"], nullable=["catchment_persons"])
    require_known(f, "trust_ods_2026", trusts.code, FLOWS, "open trust code (trust_ods_2026)")
    lad = f[f.source_id == FLOW_SOURCE_LAD]
    if lad.empty:
        raise DataError(f"no rows with source_id {FLOW_SOURCE_LAD}", FLOWS)
    if lad.catchment_persons.isna().any():
        raise DataError("a LAD flow row has no catchment_persons", FLOWS)
    lads = sorted(set(lad_block_pop.lad_code))
    require_known(lad, "area_code", lads, FLOWS, "LAD24 code")
    li = {c: i for i, c in enumerate(lads)}
    ti = {c: i for i, c in enumerate(trusts.code)}
    lad_trust = sp.coo_matrix((lad.catchment_persons.to_numpy(),
                               (lad.area_code.map(li).to_numpy(), lad.trust_ods_2026.map(ti).to_numpy())),
                              shape=(len(lads), len(trusts))).tocsr()  # duplicates (merged trusts) are summed
    tot = lad_block_pop.groupby("lad_code").population.transform("sum").to_numpy()
    share = sp.coo_matrix((lad_block_pop.population.to_numpy() / tot,
                           (lad_block_pop.block.to_numpy(), lad_block_pop.lad_code.map(li).to_numpy())),
                          shape=(n_blocks, len(lads))).tocsr()
    return (share @ lad_trust).tocsr()


def icb_flow_proportions(data_dir: Path, trusts: pd.DataFrame, icb_codes: list[str]) -> np.ndarray:
    """ICB x trust proportions from the OHID 2022 release (catchment year 2020), for cross-checks."""
    f = read_csv(data_dir, FLOWS, ["area_code", "trust_ods_2026", "source_id"], numeric=["proportion"])
    f = f[f.source_id == FLOW_SOURCE_ICB]
    ii = {c: i for i, c in enumerate(icb_codes)}
    ti = {c: i for i, c in enumerate(trusts.code)}
    m = np.zeros((len(icb_codes), len(trusts)))
    np.add.at(m, (f.area_code.map(ii).to_numpy(), f.trust_ods_2026.map(ti).to_numpy()), f.proportion.to_numpy())
    return m


def load_networks(data_dir: Path, trusts: pd.DataFrame) -> pd.DataFrame:
    """Pathology network memberships; rows marked ``inferred`` in the source stay marked."""
    n = read_csv(data_dir, NETWORKS, ["network_id", "network_name", "trust_ods_2026", "role", "evidence"])
    require_known(n, "trust_ods_2026", trusts.code, NETWORKS, "open trust code (trust_ods_2026)")
    bad = ~n.evidence.isin(["listed", "inferred"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"evidence {n.evidence.iloc[i]!r} is neither 'listed' nor 'inferred'", NETWORKS, row=i + 2)
    # Trusts that merged can appear twice in one network (RVJ and its successor RA7): the membership is
    # confirmed if any of its rows is, and keeps the strongest role.
    rank = {"hub": 0, "spoke": 1, "member": 2}
    n = n.assign(_listed=n.evidence == "listed", _role=n.role.map(rank).fillna(3))
    n = n.sort_values(["network_id", "trust_ods_2026", "_role"], kind="stable")
    listed = n.groupby(["network_id", "trust_ods_2026"])._listed.transform("any")
    n = n.assign(evidence=np.where(listed, "listed", "inferred")).drop_duplicates(["network_id", "trust_ods_2026"])
    n = n.sort_index()
    return pd.DataFrame({"network_id": n.network_id, "network_name": n.network_name, "trust": n.trust_ods_2026,
                         "role": n.role, "evidence": n.evidence}).reset_index(drop=True)


def build_providers(data_dir: Path, level: str, blocks: pd.DataFrame, geometry: list,
                    lad_block_pop: pd.DataFrame) -> Providers:
    """Trusts placed on blocks, the block x trust flow matrix and the pathology networks."""
    trusts = load_trusts(data_dir, set(blocks.icb_code))
    host, est = _host_blocks(trusts, blocks, geometry, level)
    trusts["host_block"] = host
    trusts["host_estimated"] = est
    flows = load_flows(data_dir, trusts, lad_block_pop, len(blocks))
    networks = load_networks(data_dir, trusts)
    return Providers(trusts, flows, networks)

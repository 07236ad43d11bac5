"""The Model built from the real data: counts, totals, geography, graph and validation errors.

Expectations are recomputed here from the raw CSVs with pandas, not with the library's helpers.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from boundaries.build import build_inputs
from boundaries.errors import DataError
from simulator.configuration import Configuration
from simulator.model import load_model

pytestmark = pytest.mark.integration

LEVELS = ("icb", "sicbl", "place")
GP_REGISTERED_ENGLAND = 63_237_908
CENSUS_ENGLAND = 56_490_108
ISLE_OF_WIGHT, ISLES_OF_SCILLY = "E06000046", "E06000053"
NWL, NEL, SEL = "E54000027", "E54000029", "E54000030"


# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def raw(data_dir):
    d = Path(data_dir)
    alloc = pd.read_csv(d / "finance/icb_allocations_2025_26.csv")
    return {
        "alloc": alloc,
        "icb_pop": pd.read_csv(d / "finance/icb_population.csv"),
        "sicbl_pop": pd.read_csv(d / "finance/sicbl_population.csv"),
        "sicbl_ref": pd.read_csv(d / "finance/sicbl_reference.csv"),
        "lsoa": pd.read_csv(d / "geo/lookup_lsoa21_sicbl24_icb24_lad24_population.csv"),
        "lad_icb": pd.read_csv(d / "geo/lad24_icb24_population_shares.csv"),
        "icb_adj": pd.read_csv(d / "geo/icb_adjacency.csv"),
        "sicbl_adj": pd.read_csv(d / "geo/sicbl_adjacency.csv"),
        "lad_adj": pd.read_csv(d / "geo/lad_adjacency.csv"),
        "trusts": pd.read_csv(d / "providers/trusts.csv"),
        "networks": pd.read_csv(d / "providers/pathology_networks.csv"),
        "authorities": pd.read_csv(d / "geo/strategic_authorities.csv"),
    }


# --------------------------------------------------------------------------------------------- counts
def test_block_counts(models, raw):
    assert models["icb"].n_blocks == 42
    assert models["sicbl"].n_blocks == 106
    place = models["place"]
    assert 300 <= place.n_blocks <= 340
    # One place per (sub-ICB, LAD) pair that shares at least one LSOA.
    pairs = raw["lsoa"].drop_duplicates(["sicbl_code", "lad_code"])
    assert place.n_blocks == len(pairs)
    expected = set(pairs.sicbl_code + ":" + pairs.lad_code)
    assert set(place.blocks.code) == expected
    assert place.blocks.code.str.fullmatch(r"E38\d{6}:E0[6-9]\d{6}").all()
    assert set(models["icb"].blocks.code) == set(raw["alloc"].icb_code)
    assert set(models["sicbl"].blocks.code) == set(raw["sicbl_pop"].sicbl_code)


@pytest.mark.parametrize("level", LEVELS)
def test_parent_icb_of_every_block(models, raw, level):
    m = models[level]
    if level == "icb":
        assert (m.blocks.code == m.blocks.icb_code).all()
        return
    parent = dict(zip(raw["sicbl_ref"].sicbl_code, raw["sicbl_ref"].icb_code))
    assert (m.blocks.sicbl_code.map(parent) == m.blocks.icb_code).all()


# --------------------------------------------------------------------------------------------- totals
@pytest.mark.parametrize("level", LEVELS)
def test_gp_registered_total_is_exact_at_every_level(models, raw, level):
    assert raw["icb_pop"].gp_registered_patients_2026_08.sum() == GP_REGISTERED_ENGLAND
    total = models[level].population("gp_registered").sum()
    assert total == pytest.approx(GP_REGISTERED_ENGLAND, abs=1e-3)


@pytest.mark.parametrize("level", LEVELS)
def test_population_and_money_totals_match_icb_level(models, raw, level):
    m = models[level]
    a, p = raw["alloc"], raw["icb_pop"]
    assert p.ons_census2021_usual_residents.sum() == CENSUS_ENGLAND
    expected = {
        "pop_allocation": a.allocation_population_2025_26.sum(),
        "pop_census": CENSUS_ENGLAND,
        "core_recurrent_gbp_k": a.core_recurrent_allocation_gbp_k.sum(),
        "core_baseline_gbp_k": a.core_baseline_2024_25_gbp_k.sum(),
        "core_target_gbp_k": a.core_fair_shares_target_2024_25_gbp_k.sum(),
        "pmc_gbp_k": a.pmc_revised_recurrent_allocation_gbp_k.sum(),
        "rca_gbp_k": a.running_cost_allowance_gbp_k.sum(),
        "total_gbp_k": a.total_allocation_all_streams_gbp_k.sum(),
    }
    for field, want in expected.items():
        assert m.figure(field).sum() == pytest.approx(want, rel=1e-3), field
    # Money apportioned from ICBs is preserved exactly (not just within 0.1%), ICB by ICB.
    by_icb = pd.Series(m.figure("core_recurrent_gbp_k")).groupby(m.blocks.icb_code.to_numpy()).sum()
    want = a.set_index("icb_code").core_recurrent_allocation_gbp_k
    assert np.allclose(by_icb.reindex(want.index), want, rtol=1e-12)


def test_icb_figures_are_the_published_ones(models, raw):
    m = models["icb"]
    b = m.blocks.set_index("code")
    p = raw["icb_pop"].set_index("icb_code")
    a = raw["alloc"].set_index("icb_code")
    assert (b.pop_gp_registered == p.gp_registered_patients_2026_08.reindex(b.index)).all()
    assert (b.pop_census == p.ons_census2021_usual_residents.reindex(b.index)).all()
    assert (b.pop_allocation == a.allocation_population_2025_26.reindex(b.index)).all()
    assert (b.core_recurrent_gbp_k == a.core_recurrent_allocation_gbp_k.reindex(b.index)).all()
    # Census residents from the LSOA lookup (banded sum) are 500 below the unbanded total.
    assert m.blocks.census_population.sum() == raw["lsoa"].population.sum() == CENSUS_ENGLAND - 500


# --------------------------------------------------------------------------------------------- geography
def test_the_13_straddling_lads_are_split_into_places_in_different_icbs(models, raw):
    sh = raw["lad_icb"]
    n_icb = sh.groupby("lad_code").icb_code.nunique()
    straddling = set(n_icb[n_icb > 1].index)
    assert len(straddling) == 13
    place = models["place"].blocks
    for lad in straddling:
        parts = place[place.lad_code == lad]
        assert len(parts) >= 2, lad
        assert set(parts.icb_code) == set(sh[sh.lad_code == lad].icb_code), lad
    # North Yorkshire spans three ICBs.
    assert place[place.lad_code == "E06000065"].icb_code.nunique() == 3
    # Every other LAD lies in exactly one ICB at place level.
    others = place[~place.lad_code.isin(straddling)]
    assert (others.groupby("lad_code").icb_code.nunique() == 1).all()


@pytest.mark.parametrize("level", LEVELS)
def test_adjacency_is_a_simple_symmetric_graph(models, level):
    m = models[level]
    A = m.adjacency
    assert (A != A.T).nnz == 0
    assert A.diagonal().sum() == 0
    e = m.edges
    assert (e.a < e.b).all()
    assert not e.duplicated(["a", "b"]).any()
    assert A.nnz == 2 * len(e)
    for i in range(m.n_blocks):
        assert set(m.neighbours[i]) == set(e.b[e.a == i]) | set(e.a[e.b == i])


def test_icb_and_sicbl_edges_are_the_published_land_borders(models, raw):
    icb = models["icb"]
    c = icb.blocks.code.to_numpy()
    got = {frozenset((c[a], c[b])) for a, b in zip(icb.edges.a, icb.edges.b)}
    adj = raw["icb_adj"][raw["icb_adj"].land_border]
    assert len(adj) == 99
    assert got == {frozenset(p) for p in zip(adj.icb_code_a, adj.icb_code_b)}
    sic = models["sicbl"]
    c = sic.blocks.code.to_numpy()
    got = {frozenset((c[a], c[b])) for a, b in zip(sic.edges.a, sic.edges.b)}
    adj = raw["sicbl_adj"][raw["sicbl_adj"].in_lsoa_bsc]
    assert len(adj) == 259
    assert got == {frozenset(p) for p in zip(adj.sicbl_code_a, adj.sicbl_code_b)}


@pytest.mark.parametrize("level", LEVELS)
def test_every_icb_is_contiguous(models, level):
    m = models[level]
    g = nx.Graph()
    g.add_nodes_from(range(m.n_blocks))
    g.add_edges_from(zip(m.edges.a.tolist(), m.edges.b.tolist()))
    for icb, idx in m.blocks.groupby("icb_code").groups.items():
        assert nx.is_connected(g.subgraph(list(idx))), icb
    assert Configuration.baseline(m).noncontiguous_footprints() == []


def test_islands_are_linked_by_sea_at_place_level(models, raw):
    # Neither island has a neighbour in the LAD adjacency file.
    la = raw["lad_adj"]
    for island in (ISLE_OF_WIGHT, ISLES_OF_SCILLY):
        assert not ((la.lad_code_a == island) | (la.lad_code_b == island)).any()
    m = models["place"]
    b = m.blocks
    sea = m.edges[m.edges.kind == "sea"]
    sea_pairs = {frozenset((b.lad_code[a], b.lad_code[c])) for a, c in zip(sea.a, sea.b)}
    assert len(sea) == 2
    assert frozenset(("E06000052", ISLES_OF_SCILLY)) in sea_pairs  # Scilly - Cornwall
    for island in (ISLE_OF_WIGHT, ISLES_OF_SCILLY):
        (i,) = np.flatnonzero(b.lad_code.to_numpy() == island)
        touching = m.edges[(m.edges.a == i) | (m.edges.b == i)]
        assert list(touching.kind) == ["sea"], island
        other = int(touching.b.iloc[0] if touching.a.iloc[0] == i else touching.a.iloc[0])
        assert b.icb_code[other] == b.icb_code[i]  # linked to the mainland of its own ICB


def test_place_land_neighbours_are_neighbouring_lads(models, raw):
    m = models["place"]
    b = m.blocks
    la = raw["lad_adj"]
    lad_pairs = {frozenset(p) for p in zip(la.lad_code_a, la.lad_code_b)}
    # geo/SOURCES.md: the LSOA boundaries show a 72 m contact between North and South Tyneside.
    lad_pairs.add(frozenset(("E08000022", "E08000023")))
    bad = []
    for a, c, kind in zip(m.edges.a, m.edges.b, m.edges.kind):
        if kind != "land":
            continue
        la_, lb = b.lad_code[a], b.lad_code[c]
        if la_ != lb and frozenset((la_, lb)) not in lad_pairs:
            bad.append(f"{b.name[a]} - {b.name[c]}")
    assert bad == []


@pytest.mark.parametrize("level", LEVELS)
def test_cross_thames_pairs_only_with_estuary_links(data_dir, models, level):
    plain = models[level]
    assert (plain.edges.kind != "estuary").all()
    linked = load_model(level, data_dir, estuary_links=True, baseline="2024")
    est = linked.edges[linked.edges.kind == "estuary"]
    icb_of = linked.blocks.icb_code.to_numpy()
    pairs = {frozenset((icb_of[a], icb_of[b])) for a, b in zip(est.a, est.b)}
    assert pairs == {frozenset((NWL, SEL)), frozenset((NEL, SEL))}
    # Besides the estuary edges, the two graphs are the same.
    key = ["a", "b", "kind"]
    rest = linked.edges[linked.edges.kind != "estuary"][key].reset_index(drop=True)
    assert rest.equals(plain.edges[key].reset_index(drop=True))
    if level != "place":
        assert len(est) == 2
    # The published source marks exactly those two ICB pairs as touching across the Thames only.
    adj = pd.read_csv(Path(data_dir) / "geo/icb_adjacency.csv")
    off = adj[~adj.land_border]
    assert {frozenset(p) for p in zip(off.icb_code_a, off.icb_code_b)} == pairs


# --------------------------------------------------------------------------------------------- graph
@pytest.mark.parametrize("level", LEVELS)
def test_graph_nodes_and_compiled_arrays_agree(models, raw, level):
    m = models[level]
    g = m.graph
    kinds = pd.Series([n[0] for n in g.nodes]).value_counts().to_dict()
    assert set(kinds) == {"block", "trust", "network", "authority", "council"}
    assert kinds["block"] == m.n_blocks
    n_open = int((raw["trusts"].status == "open").sum())
    assert kinds["trust"] == len(m.trusts) == n_open == 202
    assert kinds["network"] == len(m.networks) == raw["networks"].network_id.nunique() == 29
    assert kinds["authority"] == len(m.authorities) == len(raw["authorities"]) == 22
    assert kinds["council"] == len(m.councils) == 153

    by_kind: dict[str, list] = {}
    for u, v, k, d in g.edges(keys=True, data=True):
        assert d["kind"] == k
        by_kind.setdefault(k, []).append((u, v, d))
    # Flows.
    flows = by_kind["flow"]
    assert sum(d["persons"] for _, _, d in flows) == pytest.approx(m.flows.sum(), rel=1e-12)
    assert len(flows) == int((m.flows.data > 0).sum())
    # Adjacency.
    assert len(by_kind["adjacent"]) == len(m.edges)
    # Hosts.
    placed = int((m.trust_host >= 0).sum())
    assert len(by_kind["hosts"]) == placed
    bidx = {c: i for i, c in enumerate(m.blocks.code)}
    tidx = {c: i for i, c in enumerate(m.trusts.code)}
    for u, v, _ in by_kind["hosts"]:
        blk, tr = (u, v) if u[0] == "block" else (v, u)
        assert m.trust_host[tidx[tr[1]]] == bidx[blk[1]]
    # Authority overlap.
    ov = by_kind["overlap"]
    assert sum(d["population"] for _, _, d in ov) == pytest.approx(m.authority_overlap.sum(), rel=1e-12)
    assert len(ov) == int((m.authority_overlap > 0).sum())
    # Upper-tier councils: every resident of every block in one.
    co = by_kind["council"]
    assert sum(d["population"] for _, _, d in co) == pytest.approx(m.blocks.census_population.sum(), rel=1e-12)
    assert len(co) == int((m.council_overlap > 0).sum())
    # Network memberships: one edge per distinct (network, 2026 trust).
    distinct = raw["networks"].drop_duplicates(["network_id", "trust_ods_2026"])
    assert len(by_kind["member"]) == len(distinct) == sum(len(t) for t in m.network_trusts) == 116
    assert set(by_kind) == {"flow", "adjacent", "hosts", "overlap", "member", "council"}


def test_trust_hosts_at_icb_level_are_the_published_host_icbs(models, raw):
    m = models["icb"]
    o = raw["trusts"][raw["trusts"].status == "open"]
    want = dict(zip(o.trust_ods, o.host_icb_code))
    got = {t: m.blocks.code[h] for t, h in zip(m.trusts.code, m.trust_host)}
    assert got == want


def test_trust_names_read_as_people_write_them(models, raw):
    """The register writes names in capitals; the model writes them as people do (NHS in capitals, joining words
    and an apostrophe's s in lower case), one for one."""
    names = dict(zip(models["icb"].trusts.code, models["icb"].trusts.name))
    o = raw["trusts"][raw["trusts"].status == "open"]
    assert all(names[c].upper() == n.upper() for c, n in zip(o.trust_ods, o.trust_name))
    assert not [n for n in names.values() if "Nhs" in n or "'S" in n or " And " in n or " Of " in n]
    assert names["R0A"] == "Manchester University NHS Foundation Trust"
    assert "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust" in names.values()


@pytest.mark.parametrize("level", ["sicbl", "place"])
def test_trust_hosts_below_icb_stay_in_their_icb(models, raw, level):
    m = models[level]
    o = raw["trusts"][raw["trusts"].status == "open"].set_index("trust_ods")
    for t, h in zip(m.trusts.code, m.trust_host):
        if h < 0:
            assert np.isnan(o.lat[t])  # only a trust with no location is left unplaced (K0N6A)
            continue
        assert m.blocks.icb_code[h] == o.host_icb_code[t]
    assert int((m.trust_host < 0).sum()) == int(o.lat.isna().sum()) == 1


# --------------------------------------------------------------------------------------------- estimates
def test_nothing_is_estimated_at_icb_level(models):
    assert not any(v.any() for v in models["icb"].estimated.values())


def test_frimley_gp_registered_is_an_estimate_at_sicbl_level(models, raw):
    m = models["sicbl"]
    sp = raw["sicbl_pop"]
    frimley_rows = sp[sp.icb_code == "E54000034"]
    assert len(frimley_rows) == 1 and frimley_rows.gp_registered_patients_2026_08.isna().all()
    i = m.lookup("E38000252")
    assert m.estimated["pop_gp_registered"][i]
    # Frimley is a single sub-ICB: the estimate is its ICB's figure.
    icb_gp = raw["icb_pop"].set_index("icb_code").gp_registered_patients_2026_08["E54000034"]
    assert m.population("gp_registered")[i] == pytest.approx(icb_gp)
    # Sub-ICBs whose published figure is used as is are not flagged.
    given = sp.set_index("sicbl_code").gp_registered_patients_2026_08
    for j, code in enumerate(m.blocks.code):
        if not m.estimated["pop_gp_registered"][j]:
            assert m.population("gp_registered")[j] == given[code]


def test_sicbl_allocations_are_estimates_exactly_where_the_icb_has_several_sub_icbs(models, raw):
    m = models["sicbl"]
    n_sub = raw["sicbl_ref"].groupby("icb_code").sicbl_code.nunique()
    multi = (m.blocks.icb_code.map(n_sub) > 1).to_numpy()
    assert multi.sum() == 80
    for f in ("core_recurrent_gbp_k", "core_target_gbp_k", "pmc_gbp_k", "rca_gbp_k"):
        assert (m.estimated[f] == multi).all(), f
    # Populations come from the sub-ICB file: not estimates.
    assert not m.estimated["pop_allocation"].any()
    assert not m.estimated["pop_census"].any()


def test_place_figures_are_estimates_where_a_sub_icb_has_several_places(models, raw):
    m = models["place"]
    n_places = m.blocks.groupby("sicbl_code").code.transform("count").to_numpy()
    assert (m.estimated["pop_allocation"] == (n_places > 1)).all()
    assert not m.estimated["pop_census"].any()
    # Allocations: apportioned from the sub-ICB (several places) or already apportioned to the sub-ICB
    # (an ICB with several sub-ICBs).
    n_sub = raw["sicbl_ref"].groupby("icb_code").sicbl_code.nunique()
    multi_sub = (m.blocks.icb_code.map(n_sub) > 1).to_numpy()
    assert (m.estimated["core_recurrent_gbp_k"] == ((n_places > 1) | multi_sub)).all()
    # IMD comes from the LAD file: an estimate only where the LAD is split between places.
    n_lad = m.blocks.groupby("lad_code").code.transform("count").to_numpy()
    assert (m.estimated["imd_score"] == (n_lad > 1)).all()


# --------------------------------------------------------------------------------------------- validation errors
def _tmp_data(src: Path, dst: Path, replace: dict[str, str]) -> Path:
    """A copy of the data directory: every file symlinked except those in ``replace`` (rel -> new text)."""
    for path in src.rglob("*"):
        if path.is_dir():
            continue
        rel = path.relative_to(src).as_posix()
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if rel in replace:
            out.write_text(replace[rel], encoding="utf-8")
        else:
            out.symlink_to(path)
    return dst


def test_symlinked_copy_builds(data_dir, tmp_path):
    d = _tmp_data(Path(data_dir), tmp_path / "data", {})
    inp = build_inputs(d, "icb")
    assert len(inp.geography.blocks) == 42


def test_missing_icb_row_names_the_file(data_dir, tmp_path):
    rel = "finance/icb_population.csv"
    lines = (Path(data_dir) / rel).read_text(encoding="utf-8").splitlines(keepends=True)
    d = _tmp_data(Path(data_dir), tmp_path / "data", {rel: "".join(lines[:5] + lines[6:])})
    with pytest.raises(DataError) as exc:
        build_inputs(d, "icb")
    assert exc.value.file == rel
    assert rel in str(exc.value)


def test_population_off_by_one_percent_names_the_file(data_dir, tmp_path):
    rel = "finance/icb_population.csv"
    df = pd.read_csv(Path(data_dir) / rel, dtype=str, keep_default_na=False)
    col = "gp_registered_patients_2026_08"
    extra = 0.01 * GP_REGISTERED_ENGLAND
    df.loc[0, col] = str(float(df.loc[0, col]) + extra)
    d = _tmp_data(Path(data_dir), tmp_path / "data", {rel: df.to_csv(index=False)})
    with pytest.raises(DataError) as exc:
        build_inputs(d, "icb")
    assert exc.value.file == rel
    assert rel in str(exc.value)


@pytest.mark.parametrize("swap", [False, True], ids=["same order", "reversed"])
def test_duplicated_adjacency_row_is_an_error(data_dir, tmp_path, swap):
    rel = "geo/icb_adjacency.csv"
    df = pd.read_csv(Path(data_dir) / rel, dtype=str, keep_default_na=False)
    row = df.iloc[[3]].copy()
    if swap:
        row[["icb_code_a", "icb_code_b"]] = row[["icb_code_b", "icb_code_a"]].to_numpy()
    df = pd.concat([df, row], ignore_index=True)
    d = _tmp_data(Path(data_dir), tmp_path / "data", {rel: df.to_csv(index=False)})
    with pytest.raises(DataError) as exc:
        build_inputs(d, "icb")
    assert exc.value.file == rel
    assert rel in str(exc.value)

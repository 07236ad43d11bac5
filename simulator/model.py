"""The Model: one level's building blocks, trusts, networks and authorities as a graph, compiled to arrays."""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from boundaries.build import ModelInputs, build_inputs
from boundaries.finance import DEFAULT_MEASURE, FIELDS, POPULATION_MEASURES
from boundaries.geography import DEFAULT_BASELINE, canonical_level, check_baseline
from boundaries.sources import REQUIRED_FILES, cache_dir, resolve_data_dir
from simulator.errors import DataError

_CACHE_VERSION = "2"  # 2: upper-tier councils


@dataclass
class Model:
    """Everything the metrics read for one level, built once and shared read-only.

    The graph ``graph`` is the model's source of truth. Its nodes are ``("block", code)``,
    ``("trust", ods)``, ``("network", id)`` and ``("authority", code)``; its edges carry a ``kind``:
    ``adjacent`` (block-block; ``border`` is ``land``, ``estuary`` or ``sea``), ``hosts`` (block-trust),
    ``flow`` (block-trust; ``persons`` and ``proportion`` of the block's residents' admissions),
    ``member`` (trust-network; ``role``, ``evidence``), ``overlap`` (block-authority; ``population``) and
    ``council`` (block-upper-tier council, node ``("council", code)``; ``population``).
    The arrays below are compiled from it for speed.

    Attributes
    ----------
    level
        ``icb2026``, ``icb2024``, ``sicbl`` or ``place``.
    blocks
        One row per block: codes, names, sub-ICB location, region, every figure in ``boundaries.finance.FIELDS``,
        and its ICB on both official maps: ``icb24_code/ods/name`` (2024, 42 ICBs) and ``icb26_code/ods/name``
        (from 1 April 2026, 36 ICBs; ``icb26_share`` is the share of the block's residents in that ICB, below 1
        only where a coarse block was split in 2026). ``icb_code/ods/name`` is *today's* ICB: the one on the
        ``baseline`` map.
    baseline
        The map configurations start from and change is measured against: ``2026`` or ``2024``.
    estimated
        Per figure, a boolean array marking blocks whose value was apportioned from a coarser level.
    edges
        Neighbour pairs ``a, b, kind, shared_border_km`` (block indices).
    flows
        Sparse block x trust matrix of residents in each trust's catchment.
    trust_host
        Block index hosting each trust (-1 if it cannot be placed at this level).
    authority_overlap
        Block x authority matrix of Census 2021 residents in both.
    councils
        The upper-tier councils (county councils and unitaries): ``code``, ``name``, ``type``.
    council_overlap
        Block x upper-tier council matrix of Census 2021 residents in both (at place level, one council per block).
    """

    level: str
    blocks: pd.DataFrame
    geometry: list
    estimated: dict[str, np.ndarray]
    trusts: pd.DataFrame
    networks: pd.DataFrame
    authorities: pd.DataFrame
    graph: nx.MultiGraph
    edges: pd.DataFrame = field(init=False)
    flows: sp.csr_matrix = field(init=False)
    trust_host: np.ndarray = field(init=False)
    authority_overlap: np.ndarray = field(init=False)
    network_trusts: list[np.ndarray] = field(init=False)
    estuary_links: bool = False
    data_dir: str = ""
    lad_block_share: dict[str, np.ndarray] = field(default_factory=dict)
    baseline: str = DEFAULT_BASELINE
    councils: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["code", "name", "type"]))
    council_overlap: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self._compile()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_inputs(cls, inp: ModelInputs, estuary_links: bool = False, data_dir: str = "",
                    baseline: str = DEFAULT_BASELINE) -> "Model":
        """Build the graph from validated inputs, then compile it (``baseline``: the map that is today)."""
        baseline = check_baseline(baseline)
        geo = inp.geography
        blocks = pd.concat([geo.blocks.reset_index(drop=True), inp.figures.reset_index(drop=True)], axis=1)
        for part in ("code", "ods", "name"):
            blocks[f"icb24_{part}"] = blocks[f"icb_{part}"]
            if f"icb26_{part}" not in blocks:  # hand-built inputs with one map: it is both
                blocks[f"icb26_{part}"] = blocks[f"icb_{part}"]
        if "icb26_share" not in blocks:
            blocks["icb26_share"] = 1.0
        if baseline == "2026":
            for part in ("code", "ods", "name"):
                blocks[f"icb_{part}"] = blocks[f"icb26_{part}"]
        elif inp.level == "icb2026":
            raise DataError("the 2024 map cannot be drawn with today's ICBs as building blocks (Frimley, "
                            "Hertfordshire and West Essex, and Suffolk and North East Essex were split in April "
                            "2026): use level icb2024, sicbl or place with baseline 2024")
        blocks["core_distance_from_target_pct"] = (blocks.core_baseline_gbp_k / blocks.core_target_gbp_k - 1) * 100
        # Authority membership in the planners' terms: every authority a block's residents live in.
        ov = inp.authority_overlap
        names = inp.authorities.name.to_numpy()
        blocks["authorities"] = ["; ".join(names[np.flatnonzero(ov[i] > 0)]) for i in range(len(blocks))]
        main = np.where(ov.max(axis=1) >= 0.5 * blocks.census_population.to_numpy(), ov.argmax(axis=1), -1)
        blocks["main_authority"] = [names[a] if a >= 0 else "" for a in main]
        g = nx.MultiGraph(level=inp.level)
        for i, row in enumerate(blocks.itertuples(index=False)):
            g.add_node(("block", row.code), index=i, name=row.name, icb_code=row.icb_code, region=row.region_ods)
        codes = blocks.code.to_numpy()
        for a, b, kind, km in geo.edges.itertuples(index=False):
            g.add_edge(("block", codes[a]), ("block", codes[b]), key="adjacent", kind="adjacent", border=kind,
                       shared_border_km=float(km))
        t = inp.providers.trusts
        for row in t.itertuples(index=False):
            g.add_node(("trust", row.code), name=row.name, type=row.type, acute=bool(row.acute), major=bool(row.major))
            if row.host_block >= 0:
                g.add_edge(("block", codes[row.host_block]), ("trust", row.code), key="hosts", kind="hosts",
                           estimated=bool(row.host_estimated))
        f = inp.providers.flows.tocoo()
        totals = np.asarray(inp.providers.flows.sum(axis=1)).ravel()
        tcodes = t.code.to_numpy()
        for b, k, v in zip(f.row.tolist(), f.col.tolist(), f.data.tolist()):
            if v > 0:
                g.add_edge(("block", codes[b]), ("trust", tcodes[k]), key="flow", kind="flow", persons=v,
                           proportion=v / totals[b])
        nets = inp.providers.networks
        for nid, name in nets.drop_duplicates("network_id")[["network_id", "network_name"]].itertuples(index=False):
            g.add_node(("network", nid), name=name)
        for row in nets.itertuples(index=False):
            g.add_edge(("trust", row.trust), ("network", row.network_id), key="member", kind="member", role=row.role,
                       evidence=row.evidence)
        auth = inp.authorities
        for row in auth.itertuples(index=False):
            g.add_node(("authority", row.code), name=row.name, mayoral=bool(row.mayoral),
                       mayor_in_office=bool(row.mayor_in_office))
        bi, ai = np.nonzero(inp.authority_overlap)
        for b, a in zip(bi.tolist(), ai.tolist()):
            g.add_edge(("block", codes[b]), ("authority", auth.code.iloc[a]), key="overlap", kind="overlap",
                       population=float(inp.authority_overlap[b, a]))
        councils = inp.councils if inp.councils is not None else pd.DataFrame(columns=["code", "name", "type"])
        for row in councils.itertuples(index=False):
            g.add_node(("council", row.code), name=row.name, type=row.type)
        if inp.council_overlap is not None:
            bi, ci = np.nonzero(inp.council_overlap)
            for b, c in zip(bi.tolist(), ci.tolist()):
                g.add_edge(("block", codes[b]), ("council", councils.code.iloc[c]), key="council", kind="council",
                           population=float(inp.council_overlap[b, c]))
        trusts = t.drop(columns=["host_block", "host_estimated"]).copy()
        trusts["host_estimated"] = t.host_estimated.to_numpy()
        networks = nets.drop_duplicates("network_id")[["network_id", "network_name"]].reset_index(drop=True)
        # Share of each local authority's residents in each block (for "keep each council whole").
        lad_share: dict[str, np.ndarray] = {}
        if inp.lad_block_population is not None:
            for lad, grp in inp.lad_block_population.groupby("lad_code"):
                row = np.zeros(len(blocks))
                row[grp.block.to_numpy(dtype=int)] = grp.population.to_numpy()
                lad_share[lad] = row / row.sum() if row.sum() > 0 else row
        return cls(level=inp.level, blocks=blocks, geometry=list(geo.geometry), estimated=inp.estimated,
                   trusts=trusts, networks=networks, authorities=auth.reset_index(drop=True), graph=g,
                   estuary_links=estuary_links, data_dir=data_dir, lad_block_share=lad_share, baseline=baseline,
                   councils=councils.reset_index(drop=True))

    def _compile(self) -> None:
        """Turn the graph into the arrays the metrics read."""
        g = self.graph
        bidx = {c: i for i, c in enumerate(self.blocks.code)}
        tidx = {c: i for i, c in enumerate(self.trusts.code)}
        aidx = {c: i for i, c in enumerate(self.authorities.code)}
        nidx = {c: i for i, c in enumerate(self.networks.network_id)}
        cidx = {c: i for i, c in enumerate(self.councils.code)}
        edges, fr, fc, fv = [], [], [], []
        host = np.full(len(self.trusts), -1, dtype=int)
        overlap = np.zeros((len(self.blocks), len(self.authorities)))
        council = np.zeros((len(self.blocks), len(self.councils)))
        net_trusts: list[list[int]] = [[] for _ in nidx]
        net_inferred: list[int] = [0] * len(nidx)
        for u, v, key, d in g.edges(keys=True, data=True):
            if u[0] != "block" and v[0] == "block":
                u, v = v, u
            if key == "adjacent":
                a, b = sorted((bidx[u[1]], bidx[v[1]]))
                edges.append((a, b, d["border"], d["shared_border_km"]))
            elif key == "hosts":
                host[tidx[v[1]]] = bidx[u[1]]
            elif key == "flow":
                fr.append(bidx[u[1]]), fc.append(tidx[v[1]]), fv.append(d["persons"])
            elif key == "overlap":
                overlap[bidx[u[1]], aidx[v[1]]] = d["population"]
            elif key == "council":
                council[bidx[u[1]], cidx[v[1]]] = d["population"]
            elif key == "member":
                trust, net = (u, v) if u[0] == "trust" else (v, u)
                net_trusts[nidx[net[1]]].append(tidx[trust[1]])
                net_inferred[nidx[net[1]]] += d["evidence"] == "inferred"
        self.edges = pd.DataFrame(sorted(edges), columns=["a", "b", "kind", "shared_border_km"])
        self.flows = sp.csr_matrix((fv, (fr, fc)), shape=(len(self.blocks), len(self.trusts)))
        self.trust_host = host
        self.authority_overlap = overlap
        self.council_overlap = council
        self.network_trusts = [np.array(sorted(x), dtype=int) for x in net_trusts]
        self.networks["n_trusts"] = [len(x) for x in net_trusts]
        self.networks["n_inferred"] = net_inferred
        n = len(self.blocks)
        a, b = self.edges.a.to_numpy(), self.edges.b.to_numpy()
        self.adjacency = sp.csr_matrix((np.ones(2 * len(a)), (np.r_[a, b], np.r_[b, a])), shape=(n, n))
        self.neighbours = [self.adjacency.indices[self.adjacency.indptr[i]:self.adjacency.indptr[i + 1]]
                           for i in range(n)]
        self.code_index = bidx
        # Codes users may type: GSS and ODS codes (case-insensitive).
        alias = {}
        for i, (c, o) in enumerate(zip(self.blocks.code, self.blocks.ods)):
            alias[c.upper()] = i
            if o:
                alias[o.upper()] = i
        self.alias_index = alias

    # ------------------------------------------------------------------ accessors
    @property
    def n_blocks(self) -> int:
        """Number of building blocks."""
        return len(self.blocks)

    def population(self, measure: str = DEFAULT_MEASURE) -> np.ndarray:
        """Block populations by ``measure`` (``gp_registered``, ``allocation`` or ``census``)."""
        if measure not in POPULATION_MEASURES:
            raise DataError(f"unknown population measure {measure!r}; use one of {', '.join(POPULATION_MEASURES)}")
        return self.blocks[f"pop_{measure}"].to_numpy(dtype=float)

    def figure(self, name: str) -> np.ndarray:
        """Block values of one figure in ``boundaries.finance.FIELDS``."""
        if name not in FIELDS:
            raise KeyError(name)
        return self.blocks[name].to_numpy(dtype=float)

    def lookup(self, code: str) -> int | None:
        """Block index of a GSS or ODS code (or ``SICBL:LAD`` place code), else None."""
        return self.alias_index.get(str(code).strip().upper())

    def baseline_assignment(self) -> tuple[np.ndarray, list[str]]:
        """Today's ICBs (the ``baseline`` map) as (block -> footprint index, footprint names)."""
        return self.map_assignment(self.baseline)

    def map_assignment(self, vintage: str) -> tuple[np.ndarray, list[str]]:
        """An official map as (block -> footprint index, footprint names, ordered by name).

        ``vintage`` is ``2026`` (36 ICBs from 1 April 2026) or ``2024`` (42 ICBs). A block split between ICBs on
        that map (see :meth:`map_notes`) goes to the ICB holding most of its residents.
        """
        vintage = check_baseline(vintage)
        if vintage == "2024" and self.level == "icb2026":
            raise DataError("the 2024 map cannot be drawn with today's ICBs as building blocks; use level icb2024, "
                            "sicbl or place")
        prefix = "icb26" if vintage == "2026" else "icb24"
        codes = self.blocks[f"{prefix}_code"].to_numpy()
        name_of = dict(zip(codes, self.blocks[f"{prefix}_name"]))
        icbs = sorted(set(codes), key=lambda c: name_of[c])
        pos = {c: i for i, c in enumerate(icbs)}
        return np.array([pos[c] for c in codes], dtype=int), [name_of[c] for c in icbs]

    def map_notes(self, vintage: str) -> list[str]:
        """How an official map is drawn at this level: blocks the map splits, each given to its main ICB."""
        if check_baseline(vintage) == "2024" or self.level in ("place", "icb2026"):
            return []
        b = self.blocks
        split = b[b.icb26_share < 0.999]
        return [f"{r.name} is split between ICBs on the April 2026 map; at this level it is drawn whole in "
                f"{r.icb26_name}, which holds {r.icb26_share:.0%} of its residents (place level is exact)"
                for r in split.itertuples(index=False)]

# ---------------------------------------------------------------------- loading with a disk cache
@lru_cache(maxsize=1)
def _code_hash() -> str:
    """Hash of the code that builds models: a change to it invalidates cached models."""
    h = hashlib.sha256(_CACHE_VERSION.encode())
    for src in sorted(Path(__file__).resolve().parent.parent.joinpath("boundaries").glob("*.py")) + [Path(__file__)]:
        h.update(src.read_bytes())
    return h.hexdigest()


def _fingerprint(data_dir: Path, level: str, estuary_links: bool, baseline: str) -> str:
    h = hashlib.sha256(f"{_code_hash()}|{level}|{estuary_links}|{baseline}".encode())
    for rel in sorted(REQUIRED_FILES):
        try:
            st = (data_dir / rel).stat()
        except OSError:
            raise DataError("required data file is missing", rel) from None
        h.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def _say_nothing(_: str) -> None:
    return None


@lru_cache(maxsize=8)
def _load_cached(data_dir: str, level: str, estuary_links: bool, baseline: str, key: str,
                 progress=_say_nothing) -> Model:
    # ``key`` (the data files' sizes and times, and the code) is part of the memo key, so a data file changed
    # while a process runs is read again rather than served stale.
    path = Path(data_dir)
    cdir = cache_dir().parent / "models"
    cfile = cdir / f"{level}-{baseline}-{key}.pkl"
    if cfile.is_file():
        try:
            with cfile.open("rb") as fh:
                return pickle.load(fh)
        except Exception:  # a stale or truncated cache is rebuilt, never trusted
            pass
    progress(f"building the {level}-level model from {path} (cached for next time) ...")
    model = Model.from_inputs(build_inputs(path, level, estuary_links), estuary_links, str(path), baseline)
    try:
        cdir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cdir, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cfile)
    except OSError:
        pass  # the cache is an optimisation; a read-only home directory is fine
    return model


def load_model(level: str = "icb2026", data_dir: str | os.PathLike | None = None, estuary_links: bool = False,
               progress=None, baseline: str = DEFAULT_BASELINE) -> Model:
    """Load (or build and cache) the model of ``level`` from the data directory.

    Parameters
    ----------
    level
        ``icb2026`` (today's 36 ICBs), ``icb2024`` (the 42 ICBs of 2024; ``icb`` is read as this), ``sicbl``
        (106 sub-ICB locations) or ``place`` (each sub-ICB location x local authority part).
    data_dir
        Data directory; by default resolved as described in ``boundaries.sources.resolve_data_dir``.
    estuary_links
        Treat blocks that touch only across the tidal Thames as neighbours.
    progress
        Called with a message when the model has to be built rather than read from the cache.
    baseline
        The map that is today: ``2026`` (36 ICBs from 1 April 2026, the default) or ``2024`` (42 ICBs).
    """
    level = canonical_level(level)
    baseline = check_baseline(baseline)
    path = resolve_data_dir(data_dir)
    key = _fingerprint(path, level, bool(estuary_links), baseline)
    return _load_cached(str(path), level, bool(estuary_links), baseline, key, progress or _say_nothing)

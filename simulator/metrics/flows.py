"""Patient-flow alignment: localisation index and major (tertiary) trusts shared between footprints."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.metrics._common import one_hot, safe_div

MAJOR_SERVE_SHARE = 0.10
"""A footprint is served by a major trust when it holds at least 10% of the trust's catchment."""


def footprint_trust_flows(model, config) -> np.ndarray:
    """Footprint x trust matrix of residents in each trust's catchment."""
    return np.asarray((one_hot(config.assignment, config.n_footprints) @ model.flows).todense())


def trust_footprints(model, config) -> np.ndarray:
    """Footprint hosting each trust (-1 where the trust cannot be placed at this level)."""
    host = model.trust_host
    return np.where(host >= 0, config.assignment[np.maximum(host, 0)], -1)


def localisation(model, config, FT: np.ndarray | None = None) -> pd.DataFrame:
    """Per footprint: residents' admissions at trusts hosted inside it (``internal``), all admissions, and the index."""
    FT = footprint_trust_flows(model, config) if FT is None else FT
    host_fp = trust_footprints(model, config)
    k = config.n_footprints
    inside = host_fp[None, :] == np.arange(k)[:, None]
    internal = (FT * inside).sum(axis=1)
    total = FT.sum(axis=1)
    return pd.DataFrame({"flow_internal": internal, "flow_total": total,
                         "localisation_index": safe_div(internal, total)})


def major_trusts(model, config, FT: np.ndarray | None = None, threshold: float = MAJOR_SERVE_SHARE) -> pd.DataFrame:
    """Per major trust: host footprint and the footprints holding at least ``threshold`` of its catchment."""
    FT = footprint_trust_flows(model, config) if FT is None else FT
    host_fp = trust_footprints(model, config)
    rows = []
    for t in np.flatnonzero(model.trusts.major.to_numpy()):
        col = FT[:, t]
        total = col.sum()
        shares = safe_div(col, total)
        served = np.flatnonzero(shares >= threshold) if total > 0 else np.array([], dtype=int)
        rows.append({"trust": model.trusts.code.iloc[t], "trust_name": model.trusts.name.iloc[t],
                     "major_reason": model.trusts.major_reason.iloc[t],
                     "host_footprint": config.names[host_fp[t]] if host_fp[t] >= 0 else None,
                     "catchment_persons": float(total),
                     "share_in_host_footprint": float(shares[host_fp[t]]) if host_fp[t] >= 0 and total > 0 else None,
                     "footprints_served": int(len(served)),
                     "footprints_served_names": [config.names[f] for f in served],
                     "shared": bool(len(served) >= 2)})
    return pd.DataFrame(rows)

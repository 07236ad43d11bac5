"""Pathology network alignment: how much of each network's trusts and catchment sits in one footprint."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.metrics.flows import footprint_trust_flows, trust_footprints


def pathology(model, config, FT: np.ndarray | None = None) -> pd.DataFrame:
    """Per network: trusts placed, share of them in the footprint holding most, catchment share, split flag."""
    FT = footprint_trust_flows(model, config) if FT is None else FT
    host_fp = trust_footprints(model, config)
    rows = []
    for n, trusts in enumerate(model.network_trusts):
        fps = host_fp[trusts]
        placed = fps[fps >= 0]
        counts = np.bincount(placed, minlength=config.n_footprints) if len(placed) else np.zeros(1)
        catch = FT[:, trusts].sum(axis=1)
        main = int(np.argmax(counts)) if len(placed) else -1
        rows.append({"network_id": model.networks.network_id.iloc[n],
                     "network_name": model.networks.network_name.iloc[n],
                     "n_trusts": int(len(trusts)), "n_inferred": int(model.networks.n_inferred.iloc[n]),
                     "main_footprint": config.names[main] if main >= 0 else None,
                     "trust_share_in_one_footprint": float(counts.max() / len(placed)) if len(placed) else None,
                     "catchment_share_in_one_footprint": float(catch.max() / catch.sum()) if catch.sum() > 0 else None,
                     "footprints": int(len(np.unique(placed))),
                     "split": bool(len(np.unique(placed)) > 1)})
    return pd.DataFrame(rows)

"""Statutory bodies, NHS regions crossed, and running-cost allowance against today."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.metrics._common import footprint_sum

RUNNING_COST_CUT = 0.5
"""Running costs must fall by half (the policy that drives the mergers)."""


def regions(model, config) -> pd.DataFrame:
    """Per footprint: number of NHS regions its blocks belong to, and their names."""
    reg = model.blocks.region_name.to_numpy()
    rows = []
    for f in range(config.n_footprints):
        names = sorted(set(reg[config.assignment == f]))
        rows.append({"n_regions": len(names), "regions": names})
    return pd.DataFrame(rows)


def running_cost_model(model) -> dict[str, float]:
    """Fit the 2025/26 running-cost allowances to ``fixed + per_head x allocation population`` over the bodies
    that received them (the 42 ICBs of 2024; at the 2026-ICB level, where 2024 ICBs are not blocks, over the
    36 ICBs' summed allowances).

    The fixed element is what the allowances imply each statutory body costs regardless of size.
    """
    body = model.blocks.icb24_code if model.level != "icb2026" else model.blocks.code
    rca = pd.Series(model.figure("rca_gbp_k") * 1000.0).groupby(body.to_numpy()).sum()
    pop = pd.Series(model.figure("pop_allocation")).groupby(body.to_numpy()).sum()
    X = np.column_stack([np.ones(len(pop)), pop.to_numpy()])
    coef, *_ = np.linalg.lstsq(X, rca.to_numpy(), rcond=None)
    fitted = X @ coef
    r2 = 1 - ((rca.to_numpy() - fitted) ** 2).sum() / ((rca.to_numpy() - rca.mean()) ** 2).sum()
    return {"fixed_per_body_gbp": float(coef[0]), "per_head_gbp": float(coef[1]), "r_squared": float(r2),
            "today_gbp": float(rca.sum())}


def running_costs(model, config) -> tuple[np.ndarray, dict[str, float]]:
    """Estimated running-cost allowance per footprint and the overall saving against today."""
    fit = getattr(model, "_rca_fit", None)
    if fit is None:
        fit = running_cost_model(model)
        model._rca_fit = fit
    pop = footprint_sum(config.assignment, model.figure("pop_allocation"), config.n_footprints)
    est = fit["fixed_per_body_gbp"] + fit["per_head_gbp"] * pop
    total = float(est.sum())
    return est, {
        "statutory_bodies": config.n_footprints, "statutory_bodies_today": int(model.blocks.icb_code.nunique()),
        "running_cost_allowance_today_gbp": fit["today_gbp"], "running_cost_allowance_estimate_gbp": total,
        "running_cost_saving_gbp": fit["today_gbp"] - total,
        "running_cost_target_gbp": fit["today_gbp"] * (1 - RUNNING_COST_CUT),
        "running_cost_fixed_per_body_gbp": fit["fixed_per_body_gbp"],
        "running_cost_per_head_gbp": fit["per_head_gbp"], "running_cost_fit_r_squared": fit["r_squared"],
    }

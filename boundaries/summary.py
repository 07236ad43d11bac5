"""The summary behind ``icbsim data check``: every level loaded and checked, and what was found."""

from __future__ import annotations

from pathlib import Path

from boundaries.build import build_inputs
from boundaries.validate import PUBLISHED_TOTALS


def data_summary(data_dir: Path) -> list[str]:
    """Load every level, run every check, and describe what was found (for ``icbsim data check``)."""
    lines = [f"data directory: {data_dir}"]
    for level in ("icb2026", "icb2024", "sicbl", "place"):
        inp = build_inputs(data_dir, level)
        kinds = inp.geography.edges.kind.value_counts().to_dict()
        est = sorted(k for k, v in inp.estimated.items() if v.any())
        lines.append(f"{level}: {len(inp.geography.blocks)} blocks, {len(inp.geography.edges)} neighbour pairs "
                     f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}); "
                     f"apportioned estimates in: {', '.join(est) if est else 'none'}")
        if level == "icb2024":
            sums = inp.totals
            lines.append("England totals: " + "; ".join(
                f"{PUBLISHED_TOTALS[k][1]} = {v:,.0f}" for k, v in sums.items()))
            t = inp.providers.trusts
            lines.append(f"trusts: {len(t)} open, {int(t.acute.sum())} acute, {int(t.major.sum())} major; "
                         f"{inp.providers.flows.nnz} ICB x trust flow pairs")
            nets = inp.providers.networks
            lines.append(f"pathology networks: {nets.network_id.nunique()} networks, {len(nets)} memberships "
                         f"({int((nets.evidence == 'inferred').sum())} inferred); acute trusts in no network: "
                         f"{int((t.acute & ~t.code.isin(nets.trust)).sum())}")
            lines.append(f"authorities: {len(inp.authorities)} ({int(inp.authorities.mayoral.sum())} mayoral)")
            plural = {"county council": "county councils", "unitary authority": "unitary authorities",
                      "metropolitan district": "metropolitan districts", "London borough": "London boroughs"}
            types = inp.councils.type.value_counts()
            lines.append(f"upper-tier councils: {len(inp.councils)} ("
                         + ", ".join(f"{n} {plural.get(k, k)}" for k, n in types.items()) + ")")
    lines.append("all checks passed")
    return lines

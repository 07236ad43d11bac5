"""Files and charts for trade-off runs: top-k tables, Pareto fronts and co-assignment, ready to write."""

from __future__ import annotations

import csv
import io
import json


from simulator.metrics.score import TERMS
from simulator.solvers.base import Problem
from simulator.solvers.tradeoffs import pareto, sensitivity, top_k


def _csv(rows: list[dict], cols: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _assignment(config) -> str:
    rows = [{"unit_code": c, "footprint": config.names[f]} for c, f in zip(config.model.blocks.code, config.assignment)]
    return _csv(rows, ["unit_code", "footprint"])


def _pareto_png(front, x_term: str, y_term: str) -> bytes | None:
    try:
        import matplotlib  # local: pyplot takes about a second to import, and only a Pareto chart needs it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # local: as above, and only after matplotlib.use("Agg")
    except ImportError:  # the chart is a convenience; the CSV has the numbers
        return None
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    ax.plot([p.x for p in front], [p.y for p in front], "o-", color="#005eb8")
    for i, p in enumerate(front, start=1):
        ax.annotate(f"{i}: {p.configuration.n_footprints} footprints", (p.x, p.y), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    ax.set_xlabel(f"{x_term} (lower is better)")
    ax.set_ylabel(f"{y_term} (lower is better)")
    ax.set_title("Pareto front: no configuration improves one without worsening the other", fontsize=10)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def tradeoff_files(scenario, model, top: int = 0, pareto_terms=None, points: int = 8, runs: int = 0,
                   spread: float = 0.25, seed: int = 0) -> tuple[dict[str, str | bytes], list[str]]:
    """Run the requested trade-off analyses; return (file name -> content, summary lines)."""
    problem = Problem.from_scenario(scenario, model)
    files: dict[str, str | bytes] = {}
    lines: list[str] = []
    if top:
        best = top_k(problem, top)
        files["top_k.csv"] = _csv([{"rank": i, "objective": obj, "footprints": cfg.n_footprints,
                                    "file": f"top_k_{i}.csv"} for i, (obj, cfg) in enumerate(best, start=1)],
                                  ["rank", "objective", "footprints", "file"])
        for i, (_, cfg) in enumerate(best, start=1):
            files[f"top_k_{i}.csv"] = _assignment(cfg)
        lines.append("top configurations: " + ", ".join(f"#{i} {obj:.4f} ({cfg.n_footprints} footprints)"
                                                       for i, (obj, cfg) in enumerate(best, start=1)))
    if pareto_terms:
        x_term, y_term = pareto_terms
        front = pareto(problem, x_term, y_term, points=points)
        files["pareto.csv"] = _csv([{"point": i, x_term: p.x, y_term: p.y, "objective": p.objective,
                                     "footprints": p.configuration.n_footprints, "file": f"pareto_{i}.csv"}
                                    for i, p in enumerate(front, start=1)],
                                   ["point", x_term, y_term, "objective", "footprints", "file"])
        for i, p in enumerate(front, start=1):
            files[f"pareto_{i}.csv"] = _assignment(p.configuration)
        png = _pareto_png(front, x_term, y_term)
        if png is not None:
            files["pareto.png"] = png
        lines.append(f"Pareto front of {x_term} ({TERMS[x_term]}) and {y_term}: {len(front)} points")
        lines += [f"  {i}: {x_term} {p.x:.4f}, {y_term} {p.y:.4f}, {p.configuration.n_footprints} footprints"
                  for i, p in enumerate(front, start=1)]
    if runs:
        res = sensitivity(problem, runs=runs, spread=spread, seed=seed)
        codes = res.codes
        names = dict(zip(model.blocks.code, model.blocks.name))
        files["robust_pairs.csv"] = _csv([{"block_a": a, "name_a": names[a], "block_b": b, "name_b": names[b],
                                           "share_of_runs_together": s} for a, b, s in res.robust_pairs],
                                         ["block_a", "name_a", "block_b", "name_b", "share_of_runs_together"])
        rows = [{"unit_code": codes[i], **{codes[j]: round(float(res.together[i, j]), 4) for j in range(len(codes))}}
                for i in range(len(codes))]
        files["coassignment.csv"] = _csv(rows, ["unit_code", *codes])
        files["sensitivity.json"] = json.dumps({"runs": runs, "spread": spread, "seed": seed,
                                                "threshold": res.threshold, "objectives": res.objectives,
                                                "robust_pairs": res.robust_pairs}, indent=1)
        lines.append(f"sensitivity: {runs} runs, weights x exp(N(0, {spread}^2)); {len(res.robust_pairs)} merges of "
                     f"neighbouring ICB parts hold in at least {res.threshold:.0%} of runs:")
        lines += [f"  {names[a]} + {names[b]}: {s:.0%}" for a, b, s in res.robust_pairs]
    return files, lines

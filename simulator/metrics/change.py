"""Change from today: people whose ICB changes and today's ICBs that are split, against the baseline map."""

from __future__ import annotations

import numpy as np
import pandas as pd


def change_from_today(model, config, population: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """Per footprint and overall: how far a configuration is from today's map (the model's ``baseline``).

    Per footprint: ``today_icbs`` (today's ICBs it holds part or all of), ``largest_today_icb`` (the one holding
    most of its people), ``people_moved`` (people outside that ICB: their ICB changes) and ``today_icbs_split``
    (today's ICBs it holds only part of). Overall: people moved, today's ICBs split and the extra pieces they are
    cut into, footprints unchanged (exactly one of today's ICBs), and whole-ICB mergers.
    """
    a, k = config.assignment, config.n_footprints
    today = model.blocks.icb_code.to_numpy()
    names = dict(zip(today, model.blocks.icb_name))
    df = pd.DataFrame({"fp": a, "icb": today, "pop": population})
    held = df.groupby(["fp", "icb"]).pop.sum()
    icb_total = df.groupby("icb").pop.sum()
    icb_pieces = held.reset_index().groupby("icb").fp.nunique()
    rows = []
    for f in range(k):
        part = held.loc[f] if f in held.index.get_level_values(0) else pd.Series(dtype=float)
        part = part.sort_values(ascending=False)
        split = [names[c] for c in part.index if icb_pieces[c] > 1]
        rows.append({"today_icbs": [names[c] for c in part.index],
                     "largest_today_icb": names[part.index[0]] if len(part) else "",
                     "people_moved": float(part.sum() - (part.iloc[0] if len(part) else 0.0)),
                     "today_icbs_split": split})
    fp = pd.DataFrame(rows)
    split_icbs = sorted(names[c] for c in icb_pieces.index if icb_pieces[c] > 1)
    whole = [f for f in range(k) if not fp.today_icbs_split[f]]
    overall = {
        "baseline": model.baseline,
        "today_icbs": int(len(icb_total)),
        "people_moved": float(fp.people_moved.sum()),
        "people_moved_share": float(fp.people_moved.sum() / population.sum()) if population.sum() else 0.0,
        "today_icbs_split": len(split_icbs),
        "today_icbs_split_names": split_icbs,
        "extra_pieces": int((icb_pieces - 1).sum()),
        "footprints_unchanged": int(sum(1 for f in whole if len(fp.today_icbs[f]) == 1)),
        "whole_icb_mergers": int(sum(1 for f in whole if len(fp.today_icbs[f]) > 1)),
    }
    return fp, overall

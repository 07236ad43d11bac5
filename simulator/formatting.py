"""Figures written for people: money in £m or £bn, people in millions or thousands, shares as %, F1 to 2 decimals."""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import pandas as pd

MISSING = "n/a"  # how a missing figure (None or NaN) is written

Formatter = Callable[[Any], str]


def _missing(x: Any) -> bool:
    if x is None or x is pd.NA:
        return True
    try:
        return math.isnan(x)
    except TypeError:
        return False


def _signed(text: str, negative: bool, sign: bool) -> str:
    """``text`` (the magnitude, written) with its sign; no sign where the written magnitude is zero, so a tiny
    negative remainder of floating-point arithmetic never shows as "-0.0" ("£0.0m", never "£-0.0m")."""
    if not any(ch in "123456789" for ch in text):
        return text  # rounds to zero: never "-0.0"
    if negative:
        return "-" + text
    return "+" + text if sign else text


def money(x: Any, sign: bool = False) -> str:
    """Pounds in £m (one decimal) or, from £1bn, in £bn (two decimals): ``£367.5m``, ``-£2.1m``, ``£1.25bn``.

    Parameters
    ----------
    x
        An amount in pounds.
    sign
        Write a ``+`` before a positive amount (for changes).
    """
    if _missing(x):
        return MISSING
    v = abs(float(x))
    text = f"£{v / 1e9:,.2f}bn" if round(v / 1e6, 1) >= 1000 else f"£{v / 1e6:,.1f}m"
    return _signed(text, float(x) < 0, sign)


def per_head(x: Any, sign: bool = False) -> str:
    """Pounds per head, whole pounds: ``£1,716``."""
    if _missing(x):
        return MISSING
    return _signed(f"£{abs(float(x)):,.0f}", float(x) < 0, sign)


def people(x: Any, sign: bool = False) -> str:
    """People in millions (two decimals) or, below a million, thousands: ``2.80m``, ``456k``, ``3.5k``, ``850``."""
    if _missing(x):
        return MISSING
    v = abs(float(x))
    if round(v / 1e3) >= 1000:
        text = f"{v / 1e6:,.2f}m"
    elif round(v / 1e3, 1) >= 10:
        text = f"{v / 1e3:,.0f}k"
    elif round(v) >= 1000:
        text = f"{v / 1e3:,.1f}k"
    else:
        text = f"{v:,.0f}"
    return _signed(text, float(x) < 0, sign)


def share(x: Any, sign: bool = False) -> str:
    """A share (0 to 1) as a percentage, one decimal: ``86.2%``; with ``sign``, a change in points (``+0.3 pts``)."""
    if _missing(x):
        return MISSING
    text = f"{abs(float(x)) * 100:,.1f}"
    return _signed(text, float(x) < 0, sign) + (" pts" if sign else "%")


def percent(x: Any, sign: bool = False) -> str:
    """A figure already in per cent (e.g. distance from target), one decimal: ``+1.9%`` with ``sign``."""
    if _missing(x):
        return MISSING
    return _signed(f"{abs(float(x)):,.1f}", float(x) < 0, sign) + "%"


def ratio(x: Any, sign: bool = False) -> str:
    """A ratio between 0 and 1 (precision, recall, F1) to two decimals: ``0.85``."""
    if _missing(x):
        return MISSING
    return _signed(f"{abs(float(x)):,.2f}", float(x) < 0, sign)


def count(x: Any, sign: bool = False) -> str:
    """A whole number with thousands separators: ``1,234``."""
    if _missing(x):
        return MISSING
    return _signed(f"{abs(float(x)):,.0f}", float(x) < 0, sign)


def score(x: Any, sign: bool = False) -> str:
    """A score (lower is better), two decimals."""
    if _missing(x):
        return MISSING
    return _signed(f"{abs(float(x)):,.2f}", float(x) < 0, sign)


def plain(x: Any, sign: bool = False) -> str:
    """A figure of no known kind: a whole number as a count, any other to two decimals (never a long float)."""
    if _missing(x):
        return MISSING
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return str(x)
    return count(x, sign) if float(x) == round(float(x)) else score(x, sign)


# ---------------------------------------------------------------------------------------------- table columns
# Columns of an evaluation's tables whose name alone does not say their kind (the rules below do the rest).
_COLUMNS: dict[str, Formatter] = {
    "distance_from_target": lambda x: percent(x, sign=True), "distance_from_target_spread": percent,
    "localisation_index": share,
    "change_per_head_levelling_gbp": lambda x: money(x, sign=True),
    "change_need_adjusted_gbp": lambda x: money(x, sign=True),
    "people_moved": people, "residents": people,
}


def column_formatter(name: str) -> Formatter | None:
    """How a column of an evaluation's tables is written, by its name (None: as it is, e.g. counts and names).

    Rules: ``*per_head*`` £ per head; ``*_gbp`` money; ``*share_*``, ``*_share`` a percentage; ``population*``,
    ``persons*`` and ``*_persons`` people; ``precision*``, ``recall*``, ``f1*`` two decimals.
    """
    if name in _COLUMNS:
        return _COLUMNS[name]
    if "per_head" in name:
        return per_head
    if name.endswith("_gbp"):
        return money
    if "share_" in name or name.endswith("_share"):
        return share
    if name.split("_")[0] in ("precision", "recall", "f1"):
        return ratio
    if name.startswith(("population", "persons")) or name.endswith(("_persons", "_population")):
        return people
    return None


# Headers of an evaluation's tables in planners' words (any other: :func:`header`'s rule).
_HEADERS: dict[str, str] = {
    "footprint": "Footprint", "n_members": "Blocks", "population": "People", "band_status": "Band",
    "people_moved": "People changing ICB", "today_icbs_split": "Today's ICBs split",
    "allocation_per_head": "Allocation per head", "allocation_per_head_spread": "Spread of allocation per head",
    "distance_from_target": "Distance from target", "at_stake_gbp": "£ at stake",
    "at_stake_need_adjusted_gbp": "£ at stake (need-adjusted)", "localisation_index": "Localisation",
    "n_regions": "NHS regions", "n_acute_trusts": "Acute trusts", "n_major_trusts": "Major trusts",
    "running_cost_allowance_estimate_gbp": "Running-cost allowance (estimate)",
    "icb_code": "ICB code", "icb_name": "Partner (today's ICB)", "allocation_population": "Allocation population",
    "core_allocation_gbp": "Core allocation",
    "change_per_head_levelling_gbp": "Change if levelled per head",
    "change_need_adjusted_gbp": "Change if levelled to distance from target",
    "trust": "Trust code", "trust_name": "Trust", "major_reason": "Why major", "host_footprint": "Host footprint",
    "catchment_persons": "Catchment", "share_in_host_footprint": "Catchment in host footprint",
    "footprints_served": "Footprints served", "footprints_served_names": "Footprints served (names)",
    "shared": "Shared", "network_id": "Network code", "network_name": "Pathology network", "n_trusts": "Trusts",
    "n_inferred": "Memberships inferred", "main_footprint": "Main footprint",
    "trust_share_in_one_footprint": "Trusts in main footprint",
    "catchment_share_in_one_footprint": "Catchment in main footprint", "footprints": "Footprints", "split": "Split",
    "authority": "Authority code", "authority_name": "Authority", "mayoral": "Mayoral", "residents": "Residents",
    "share_in_one_footprint": "Residents in main footprint", "council": "Council code", "council_name": "Council",
    "council_type": "Type", "people_in_smaller_parts": "People in smaller parts", "n_footprints": "Footprints (number)",
}


def header(name: str) -> str:
    """A table column's header for people: ``change_per_head_levelling_gbp`` -> ``Change if levelled per head``;
    a column not named in the list gets its words spaced out, with ICB and £ written as such."""
    if name in _HEADERS:
        return _HEADERS[name]
    words = [{"icb": "ICB", "icbs": "ICBs", "gbp": "(£)", "n": "number of"}.get(w, w) for w in name.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def styled(table: pd.DataFrame) -> "pd.io.formats.style.Styler":
    """The table for display: headers and figures written for people (:func:`header`; each figure column by its
    kind), the numbers underneath kept (so sorting still works). Float columns of no known kind get two
    decimals."""
    formats: dict[str, Formatter] = {}
    for col in table.columns:
        if not pd.api.types.is_numeric_dtype(table[col]) or pd.api.types.is_bool_dtype(table[col]):
            continue  # names, lists and yes/no columns are shown as they are
        f = column_formatter(str(col))
        if f is None and pd.api.types.is_float_dtype(table[col]):
            f = score
        if f is not None:
            formats[header(str(col))] = f
    return table.rename(columns=lambda c: header(str(c))).style.format(formats, na_rep=MISSING)


# ---------------------------------------------------------------------------------------------- headline figures
# The measures of ``simulator.workspace.diff`` by their label (any other is written by :func:`plain`).
_MEASURES: dict[str, Callable[..., str]] = {
    "£ at stake": money, "£ at stake (need-adjusted)": money, "running-cost saving £": money,
    "localisation index": share, "people changing ICB": people, "score (lower is better)": score,
    "people in split-off parts of upper-tier councils": people,
}


def measure_formatter(label: str) -> Callable[..., str]:
    """How a headline measure (a row of ``diff``) is written; called with ``sign=True`` for its change."""
    return _MEASURES.get(label, plain)


def styled_diff(rows: pd.DataFrame) -> "pd.io.formats.style.Styler":
    """A ``diff`` table (``measure``, a value column per map, then ``change``) written row by row for people; the
    change carries its sign (a share's change in percentage points). The numbers underneath are kept."""
    values = [c for c in rows.columns if c not in ("measure", "change")]
    styler = rows.style
    for i, label in zip(rows.index, rows["measure"]):
        f = measure_formatter(label)
        styler = styler.format(f, subset=pd.IndexSlice[[i], values], na_rep=MISSING)
        if "change" in rows.columns:
            styler = styler.format(lambda x, f=f: f(x, sign=True), subset=pd.IndexSlice[[i], ["change"]],
                                   na_rep=MISSING)
    return styler


# ---------------------------------------------------------------------------------------------- co-assignment
def coassignment_view(co: pd.DataFrame, scope: str) -> tuple[str | None, pd.DataFrame | None]:
    """A co-assignment table (``simulator.compare.coassignment``) for people: a sentence where the agreement
    cannot be measured, else a table of pair counts, precision, recall and F1 (two decimals) that says in words
    why any figure is missing.

    Parameters
    ----------
    co
        The table: one row per NHS region and a last ``overall`` row.
    scope
        The pairs counted, in words (e.g. "blocks that were in different ICBs in 2024").

    Returns
    -------
    (message, table)
        ``message`` is None when there is a table to show; ``table`` is None when there is not.
    """
    overall = co[co.region_ods == "overall"].iloc[0]
    if int(overall.pairs) == 0:
        return (f"Co-assignment cannot be measured here: at this level there is no pair of {scope}, so there is "
                "nothing for the two maps to agree or disagree on.", None)
    if _missing(overall.f1):
        return (f"Co-assignment cannot be measured here: neither map puts together any pair of {scope} (both "
                "keep them all apart), so there is no agreement to measure.", None)
    rows = []
    for r in co.itertuples(index=False):
        if int(r.pairs) == 0:
            why = f"no pair of {scope} in this region"
        else:
            why = str(r.note or "").replace("f1:", "F1:")
        rows.append({"region": f"{r.region_name} (overall)" if r.region_ods == "overall" else r.region_name,
                     "pairs": count(r.pairs), "together in both": count(r.tp), "together in A only": count(r.fp),
                     "together in B only": count(r.fn), "precision": ratio(r.precision), "recall": ratio(r.recall),
                     "F1": ratio(r.f1), "F1 (person-weighted)": ratio(r.f1_persons), "why a figure is n/a": why})
    return None, pd.DataFrame(rows)


def bulleted(head: str, items: list[str]) -> str:
    """``head`` and then ``items`` as a Markdown bulleted list, shortest first (the app's infeasibility
    message: one conflict a line)."""
    lines = [f"- {' '.join(str(i).split())}" for i in sorted(items, key=len)]
    return head + "\n\n" + "\n".join(lines)

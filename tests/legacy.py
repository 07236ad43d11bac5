"""The 2024 instances the solver tests were written on: a scenario on the 2024 map, priced as before April 2026.

Solver tests check how solvers behave on fixed instances (a proof matches the exact optimum, the polish reaches it
from a given start); the price list they were measured with is kept here, in today's units, so that they keep
testing the same instances. Default weights are tested elsewhere (tests/test_change.py, tests/test_backtest.py).
"""

from __future__ import annotations

import re

GP_REGISTERED_ENGLAND = 63_237_908
"""England's GP-registered patients (August 2026), the band's old denominator."""

LEGACY_WEIGHTS = {
    # 10 per England's population outside the band, in 100,000s of people.
    "population_band": 10.0 * 100_000 / GP_REGISTERED_ENGLAND,
    # 0.5 per 42 ICBs, per extra region and per footprint.
    "regions_crossed": 0.5 / 42,
    "statutory_bodies": 0.0,
    # Change from today was not priced.
    "people_moved": 0.0,
    "icbs_split": 0.0,
}


def legacy(text: str) -> str:
    """Scenario TOML on the 2024 map, with the weights above in place of the file's."""
    text = re.sub(r'^baseline = "2026"$', 'baseline = "2024"', text, flags=re.M)
    if not re.search(r"^baseline = ", text, flags=re.M):
        text = 'baseline = "2024"\n' + text
    text = text.replace('level = "icb2026"', 'level = "icb2024"')
    for term, value in LEGACY_WEIGHTS.items():
        text = re.sub(rf"^{term} = .*$", f"{term} = {value!r}", text, flags=re.M)
    if "[weights]" in text:
        for term, value in LEGACY_WEIGHTS.items():
            if not re.search(rf"^{term} = ", text, flags=re.M):
                text = text.replace("[weights]\n", f"[weights]\n{term} = {value!r}\n", 1)
    else:
        lines = "".join(f"{t} = {v!r}\n" for t, v in LEGACY_WEIGHTS.items())
        # Top-level keys must come before the first table.
        head, sep, rest = text.partition("\n[")
        text = head + "\n\n[weights]\n" + lines + (sep + rest if sep else "")
    return text


def legacy_scenario(path):
    """``load_scenario`` of a shipped scenario file, as a 2024 instance (see :func:`legacy`)."""
    from pathlib import Path

    from simulator.scenario import parse_scenario

    p = Path(path)
    sc = parse_scenario(legacy(p.read_text(encoding="utf-8")), str(p), p.parent)
    sc.path = p
    return sc

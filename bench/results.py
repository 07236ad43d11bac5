"""Writing a benchmark's results as JSON (``--json FILE``), the same way for every script in ``bench/``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def _plain(value: Any) -> Any:
    """What ``json`` cannot write itself: numpy numbers and arrays as numbers and lists, anything else as text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_json(path: str | os.PathLike, results: Any) -> None:
    """Write ``results`` (rows, or a dict of them) to ``path`` as indented UTF-8 JSON."""
    Path(path).write_text(json.dumps(results, indent=1, default=_plain) + "\n", encoding="utf-8")

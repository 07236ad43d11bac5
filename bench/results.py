"""What the benchmarks share: writing results as JSON (``--json FILE``) the same way for every script in ``bench/``,
and importing a module as it was at an earlier commit (to time it against today's in one run)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
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


def module_at(rev: str, path: str, name: str):
    """The project's file ``path`` (e.g. ``simulator/solvers/scan.py``) as it was at commit ``rev``, imported as a
    module called ``name``: read with ``git show`` into a temporary folder, so no old copy is kept."""
    root = Path(__file__).resolve().parent.parent
    text = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, check=True, capture_output=True,
                          text=True).stdout
    file = Path(tempfile.mkdtemp(prefix=f"icbsim-{name}-")) / f"{name}.py"
    file.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

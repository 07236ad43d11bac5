"""Without the real data: every integration test is skipped with one reason, and the unit tests still pass."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import NO_DATA

ROOT = Path(__file__).resolve().parent.parent
FILES = ["tests/test_fetch.py", "tests/test_compare.py"]
"""Two small files that hold both unit and integration tests."""


def _pytest(cwd: Path, env: dict[str, str]) -> tuple[dict[str, int], list[str], str]:
    """Run ``FILES`` under pytest in a subprocess; return the outcome counts, the skip reasons and the output."""
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *FILES], cwd=cwd,
                       env=env, capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    last = out.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|skipped|failed|errors?|deselected)", last)}
    reasons = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("SKIPPED [")]
    return counts, reasons, out


def _environment(tmp_path: Path, pythonpath: Path) -> dict[str, str]:
    """This environment with an empty cache, no ``ICBSIM_DATA`` and ``pythonpath`` first on the path."""
    env = {k: v for k, v in os.environ.items() if k != "ICBSIM_DATA"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # neither a data cache nor a model cache
    env["PYTHONPATH"] = str(pythonpath) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _check(counts: dict[str, int], reasons: list[str], out: str, reason: str) -> None:
    assert counts.get("passed", 0) >= 4 and counts.get("skipped", 0) >= 10, out
    assert not counts.get("failed") and not counts.get("error") and not counts.get("errors"), out
    assert set(reasons) == {reason}, out


def test_icbsim_data_naming_an_empty_folder(tmp_path):
    """$ICBSIM_DATA wins over ../shared/data: an empty folder there skips the integration tests, and the reason
    also says what is wrong with it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**_environment(tmp_path, ROOT), "ICBSIM_DATA": str(empty)}
    counts, reasons, out = _pytest(ROOT, env)
    detail = re.escape(f"{NO_DATA}; data directory {empty} (from ICBSIM_DATA) lacks ")
    assert reasons and all(re.match(detail, r) for r in reasons), out
    _check(counts, reasons, out, reasons[0])


def test_a_copy_of_the_project_with_no_data_beside_it(tmp_path):
    """A project folder with no ../shared/data beside it, no $ICBSIM_DATA and an empty cache: one plain reason."""
    proj = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("simulator", "boundaries", "tests", "scenarios"):
        shutil.copytree(ROOT / folder, proj / folder, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", proj / "pyproject.toml")  # the marker's registration
    assert not (proj.parent / "shared" / "data").exists()
    counts, reasons, out = _pytest(proj, _environment(tmp_path, proj))
    _check(counts, reasons, out, NO_DATA)

"""nox sessions: the unit tests on the oldest Python that ``requires-python`` admits (``.ci/run`` runs it)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True  # a session that cannot run is a failure, never a skip

OLDEST = "3.10"
"""The oldest Python in ``requires-python``; the full suite runs on the newest installed one (the README's)."""


@nox.session(python=OLDEST)
def unit_oldest(session: nox.Session) -> None:
    """The unit tests (no real data, no optional cluster or browser extras) on the oldest supported Python.

    nox looks for ``python3.10`` on the PATH; ``.ci/run`` puts pyenv's there (``pyenv prefix 3.10``).
    """
    session.install("-q", "-e", ".", "pytest>=7", "hypothesis>=6")
    session.run("python", "-m", "pytest", "-q", "-m", "not integration", *session.posargs)

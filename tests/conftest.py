"""Shared fixtures: the real data directory and the models built from it (session-scoped, cached on disk)."""

from __future__ import annotations

import warnings

import pytest

from boundaries.errors import DataError
from boundaries.sources import resolve_data_dir
from simulator.model import load_model

NO_DATA = "no data directory: set ICBSIM_DATA or put the data in ../shared/data (see README, Data)"
"""The one reason every integration test is skipped for when the real data cannot be found."""

_DATA_FIXTURE = "data_dir"
"""The fixture every real-data fixture grows from: a test that depends on it must be marked integration."""


def _no_data_reason() -> str | None:
    """Why the real data cannot be used (``NO_DATA``, with the resolver's detail if it says more), or None."""
    try:
        resolve_data_dir()
    except DataError as exc:
        detail = str(exc)
        return NO_DATA if detail.startswith("no data directory found") else f"{NO_DATA}; {detail}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a test that uses the real data without ``@pytest.mark.integration``; without the data, skip every
    integration test with one reason (``.ci/run`` fails first if ../shared/data is missing)."""
    unmarked = [item.nodeid for item in items
                if _DATA_FIXTURE in getattr(item, "fixturenames", ()) and item.get_closest_marker("integration") is None]
    if unmarked:
        raise pytest.UsageError("these tests use the real data (fixture data_dir) but lack @pytest.mark.integration: "
                                + ", ".join(unmarked))
    integration = [item for item in items if item.get_closest_marker("integration") is not None]
    reason = _no_data_reason() if integration else None
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in integration:
        item.add_marker(skip)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under ``--dist loadgroup`` (the README's test command), warn if xdist did not group the tests marked
    ``xdist_group``: they would still pass, but rebuild their shared fixtures on both workers (with pytest 9.2,
    pytest-xdist 3.8 stops grouping without a word: pytest-dev/pytest-xdist#1386)."""
    if not getattr(session.config.option, "loadgroup", False):  # set on xdist's workers only
        return
    apart = [item for item in session.items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if apart:
        warnings.warn(pytest.PytestWarning(
            f"--dist loadgroup did not group the {len(apart)} tests marked xdist_group (pytest {pytest.__version__}; "
            "see pytest-dev/pytest-xdist#1386): their shared fixtures are built on each worker"))


@pytest.fixture(scope="session")
def data_dir():
    """The real data directory (../shared/data, $ICBSIM_DATA, or the cache). Integration tests need it."""
    try:
        return resolve_data_dir()
    except DataError:
        pytest.skip(_no_data_reason() or NO_DATA)


# The 2024 ICBs, sub-ICB locations and places measured against the 2024 map (42 ICBs): the figures these
# fixtures' tests check were published on that map.
@pytest.fixture(scope="session")
def icb_model(data_dir):
    return load_model("icb2024", data_dir, baseline="2024")


@pytest.fixture(scope="session")
def sicbl_model(data_dir):
    return load_model("sicbl", data_dir, baseline="2024")


@pytest.fixture(scope="session")
def place_model(data_dir):
    return load_model("place", data_dir, baseline="2024")


@pytest.fixture(scope="session")
def models(icb_model, sicbl_model, place_model):
    """The three 2024 levels' models by name, on the 2024 map."""
    return {"icb": icb_model, "sicbl": sicbl_model, "place": place_model}


@pytest.fixture(scope="session")
def today_model(data_dir):
    """Today's 36 ICBs (from 1 April 2026) as building blocks, on the 2026 map."""
    return load_model("icb2026", data_dir)


@pytest.fixture(scope="session")
def place_model_2026(data_dir):
    """Places on the April 2026 map (the default baseline)."""
    return load_model("place", data_dir)

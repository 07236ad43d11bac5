"""Shared fixtures: the real data directory and the models built from it (session-scoped, cached on disk)."""

from __future__ import annotations

import pytest

from boundaries.sources import resolve_data_dir
from simulator.model import load_model


@pytest.fixture(scope="session")
def data_dir():
    """The real data directory (../shared/data, $ICBSIM_DATA, or the cache). Integration tests need it."""
    return resolve_data_dir()


@pytest.fixture(scope="session")
def icb_model(data_dir):
    return load_model("icb", data_dir)


@pytest.fixture(scope="session")
def sicbl_model(data_dir):
    return load_model("sicbl", data_dir)


@pytest.fixture(scope="session")
def place_model(data_dir):
    return load_model("place", data_dir)


@pytest.fixture(scope="session")
def models(icb_model, sicbl_model, place_model):
    """The three levels' models by name."""
    return {"icb": icb_model, "sicbl": sicbl_model, "place": place_model}

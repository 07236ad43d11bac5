"""Shared fixtures: the real data directory and the models built from it (session-scoped, cached on disk)."""

from __future__ import annotations

import pytest

from boundaries.sources import resolve_data_dir
from simulator.model import load_model


@pytest.fixture(scope="session")
def data_dir():
    """The real data directory (../shared/data, $ICBSIM_DATA, or the cache). Integration tests need it."""
    return resolve_data_dir()


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

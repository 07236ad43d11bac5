"""Data layer: find, read, validate and shape the official open data behind the simulator."""

from boundaries.errors import DataError, IcbSimError
from boundaries.sources import DATA_ENV_VAR, REQUIRED_FILES, resolve_data_dir

__all__ = ["DataError", "IcbSimError", "DATA_ENV_VAR", "REQUIRED_FILES", "resolve_data_dir"]

"""Exception types of the simulator; each becomes one clear line at the command line and in the app."""

from __future__ import annotations

from boundaries.errors import DataError, IcbSimError


class ConfigurationError(IcbSimError):
    """A configuration misses, repeats or mixes blocks, names unknown codes, or breaks contiguity."""


class ScenarioError(IcbSimError):
    """A scenario file is malformed or holds an invalid value."""


class TooManyCandidates(ScenarioError):
    """The exact solver would need more candidate footprints than its limit allows (the local search does not)."""


class InputFileError(IcbSimError):
    """A configuration file (CSV, GeoJSON, TOML) cannot be read."""


class OutputError(IcbSimError):
    """Outputs cannot be written where asked."""


__all__ = ["IcbSimError", "DataError", "ConfigurationError", "ScenarioError", "TooManyCandidates", "InputFileError", "OutputError"]

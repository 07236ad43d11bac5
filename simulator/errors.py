"""Exception types of the simulator; each becomes one clear line at the command line and in the app."""

from __future__ import annotations

from boundaries.errors import DataError, IcbSimError


class ConfigurationError(IcbSimError):
    """A configuration misses, repeats or mixes blocks, names unknown codes, or breaks contiguity."""


class ScenarioError(IcbSimError):
    """A scenario file is malformed or holds an invalid value."""


class TooManyCandidates(ScenarioError):
    """The exact solver would need more candidate footprints than its limit allows (the local search does not)."""


class NoFeasibleConfiguration(IcbSimError):
    """No configuration keeps every hard rule of a scenario; ``conflicts`` says why, one plain-words line each.

    The one error of more than one line: the command line prints its first line and then each conflict on a line
    of its own (``str()`` joins them with ``; `` where one line is needed).
    """

    def __init__(self, head: str, conflicts: list[str]):
        self.head, self.conflicts = head, sorted(conflicts, key=len)
        super().__init__(f"{head}: {'; '.join(self.conflicts)}")


class InputFileError(IcbSimError):
    """A configuration file (CSV, GeoJSON, TOML) cannot be read."""


class OutputError(IcbSimError):
    """Outputs cannot be written where asked."""


__all__ = ["IcbSimError", "DataError", "ConfigurationError", "ScenarioError", "TooManyCandidates", "NoFeasibleConfiguration", "InputFileError", "OutputError"]

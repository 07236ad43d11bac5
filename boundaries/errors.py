"""Exception types shared by the data layer and the simulator."""

from __future__ import annotations


class IcbSimError(Exception):
    """Base class of every error the tool reports to a user in one line."""


class DataError(IcbSimError):
    """A data file is missing, malformed or inconsistent.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    file
        The data file concerned, relative to the data directory.
    row
        1-based line number in the file (header = line 1), if one row is at fault.
    """

    def __init__(self, message: str, file: str | None = None, row: int | None = None):
        self.file = file
        self.row = row
        where = ""
        if file:
            where = f"{file}"
            if row is not None:
                where += f", line {row}"
            where += ": "
        super().__init__(f"{where}{message}")

"""Configuration: the assignment of every building block of one level to a named footprint."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from simulator.errors import ConfigurationError
from simulator.model import Model

_SHOW = 5  # how many offending codes an error message lists


def _listing(items: list[str]) -> str:
    head = ", ".join(items[:_SHOW])
    return head + (f" and {len(items) - _SHOW} more" if len(items) > _SHOW else "")


class Configuration:
    """A merger configuration: block -> footprint.

    Parameters
    ----------
    model
        The model whose blocks are assigned.
    assignment
        Integer array, one footprint index per block (``0 .. len(names) - 1``).
    names
        Footprint names, in index order; every footprint must have at least one block.
    allow_noncontiguous
        Accept footprints whose blocks do not form one connected piece.
    """

    def __init__(self, model: Model, assignment, names: list[str], allow_noncontiguous: bool = False):
        self.model = model
        self.assignment = np.asarray(assignment, dtype=np.int64).copy()
        self.names = [str(n) for n in names]
        self.allow_noncontiguous = allow_noncontiguous
        self._validate()

    # ------------------------------------------------------------------ constructors
    @classmethod
    def baseline(cls, model: Model) -> "Configuration":
        """Today's 42 ICBs."""
        assignment, names = model.baseline_assignment()
        return cls(model, assignment, names)

    @classmethod
    def from_mapping(cls, model: Model, mapping: Mapping[str, str] | list[tuple[str, str]],
                     allow_noncontiguous: bool = False, source: str = "configuration") -> "Configuration":
        """Build from ``{block code: footprint name}`` pairs (GSS or ODS codes, any case).

        Raises
        ------
        ConfigurationError
            Unknown codes, codes of another level, a block listed twice, or blocks left out.
        """
        pairs = list(mapping.items()) if isinstance(mapping, Mapping) else list(mapping)
        if not pairs:
            raise ConfigurationError(f"{source} assigns no blocks")
        seen: dict[int, str] = {}
        unknown, repeated = [], []
        names: list[str] = []
        index: dict[str, int] = {}
        assignment = np.full(model.n_blocks, -1, dtype=np.int64)
        for code, footprint in pairs:
            footprint = str(footprint).strip()
            if not footprint:
                raise ConfigurationError(f"{source}: block {code} has an empty footprint name")
            i = model.lookup(code)
            if i is None:
                unknown.append(str(code))
                continue
            if i in seen:
                repeated.append(str(code))
                continue
            seen[i] = code
            if footprint not in index:
                index[footprint] = len(names)
                names.append(footprint)
            assignment[i] = index[footprint]
        if unknown:
            what = (f"1 code is not {'an' if model.level.startswith('icb') else 'a'} {model.level} block"
                    if len(unknown) == 1 else f"{len(unknown)} codes are not {model.level} blocks")
            raise ConfigurationError(f"{source}: {what}: {_listing(unknown)}{_level_hint(unknown, model.level)}")
        if repeated:
            raise ConfigurationError(f"{source}: block(s) assigned more than once: {_listing(repeated)}")
        missing = np.flatnonzero(assignment < 0)
        if len(missing):
            raise ConfigurationError(f"{source}: {len(missing)} {model.level} block(s) are not assigned: "
                                     f"{_listing([model.blocks.code[i] for i in missing])}")
        try:
            return cls(model, assignment, names, allow_noncontiguous=allow_noncontiguous)
        except ConfigurationError as exc:  # e.g. non-contiguity: say which file, like the errors above
            raise ConfigurationError(f"{source}: {exc}") from None

    # ------------------------------------------------------------------ checks
    def _validate(self) -> None:
        m = self.model
        if self.assignment.shape != (m.n_blocks,):
            raise ConfigurationError(f"assignment has {self.assignment.size} entries for {m.n_blocks} blocks")
        if len(set(self.names)) != len(self.names):
            raise ConfigurationError("two footprints share a name")
        k = len(self.names)
        if self.assignment.min() < 0 or self.assignment.max() >= k:
            raise ConfigurationError("assignment refers to a footprint that has no name")
        empty = np.flatnonzero(np.bincount(self.assignment, minlength=k) == 0)
        if len(empty):
            raise ConfigurationError(f"footprint(s) with no blocks: {_listing([self.names[i] for i in empty])}")
        if not self.allow_noncontiguous:
            broken = self.noncontiguous_footprints()
            if broken:
                parts = [f"{name} ({n} separate pieces)" for name, n in broken]
                raise ConfigurationError(f"non-contiguous footprint(s): {_listing(parts)}; blocks of a footprint "
                                         "must share a border (allow it explicitly with --allow-noncontiguous)")

    def noncontiguous_footprints(self) -> list[tuple[str, int]]:
        """Footprints whose blocks are not connected, with their number of pieces."""
        m = self.model
        a, b = m.edges.a.to_numpy(), m.edges.b.to_numpy()
        same = self.assignment[a] == self.assignment[b]
        n = m.n_blocks
        g = sp.csr_matrix((np.ones(int(same.sum())), (a[same], b[same])), shape=(n, n))
        _, labels = connected_components(g, directed=False)
        pieces = np.zeros(len(self.names), dtype=int)
        for f in range(len(self.names)):
            pieces[f] = len(np.unique(labels[self.assignment == f]))
        return [(self.names[f], int(pieces[f])) for f in np.flatnonzero(pieces > 1)]

    # ------------------------------------------------------------------ views
    @property
    def n_footprints(self) -> int:
        """Number of footprints (statutory bodies)."""
        return len(self.names)

    def members(self, footprint: int) -> np.ndarray:
        """Block indices of one footprint."""
        return np.flatnonzero(self.assignment == footprint)

    def mapping(self) -> dict[str, str]:
        """``{block code: footprint name}``."""
        return {c: self.names[f] for c, f in zip(self.model.blocks.code, self.assignment)}

    def with_move(self, block: int, footprint: int) -> "Configuration":
        """A copy with one block moved (footprint may be ``n_footprints`` for a new one)."""
        a = self.assignment.copy()
        names = list(self.names)
        if footprint == len(names):
            names.append(f"Footprint {len(names) + 1}")
        a[block] = footprint
        used = np.unique(a)
        remap = np.full(len(names), -1)
        remap[used] = np.arange(len(used))
        return Configuration(self.model, remap[a], [names[i] for i in used], self.allow_noncontiguous)

    def same_partition(self, other: "Configuration") -> bool:
        """True if both group the blocks identically (names aside)."""
        if self.model.level != other.model.level:
            return False
        pairs = set(zip(self.assignment.tolist(), other.assignment.tolist()))
        return len(pairs) == self.n_footprints == other.n_footprints

    def __repr__(self) -> str:
        return f"Configuration({self.model.level}, {self.n_footprints} footprints)"


def _level_hint(codes: list[str], level: str) -> str:
    prefixes = {"E54": "icb", "E38": "sicbl"}
    seen = {prefixes.get(c.strip().upper()[:3]) for c in codes}
    if ":" in "".join(codes):
        seen.add("place")
    seen.discard(None)
    seen.discard("icb" if level in ("icb2024", "icb2026") else level)
    if seen:
        return f" (they look like {'/'.join(sorted(seen))} codes: a configuration must use one level throughout)"
    return ""

"""Fill a data directory (by default the local cache) from a mirror of the official files, all or nothing."""

from __future__ import annotations

import csv
import http.client
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable

from tqdm import tqdm

from boundaries.errors import DataError
from boundaries.sources import DATA_ENV_VAR, REQUIRED_FILES, cache_dir

_TIMEOUT_S = 60
_CHUNK = 1 << 16
_URL_SCHEMES = ("http", "https", "file")
_OPTIONAL_NAME = "SOURCES.md"

Progress = Callable[[str], None]


def fetch(mirror: str | None, dest: str | os.PathLike | None = None, progress: Progress | None = None) -> Path:
    """Download the data directory from a mirror into ``dest``.

    Every file of :data:`boundaries.sources.REQUIRED_FILES` (and each folder's ``SOURCES.md`` where the
    mirror has one) is downloaded into a staging folder beside ``dest``, checked, and only then moved into
    ``dest``. On any failure ``dest`` is left exactly as it was.

    Parameters
    ----------
    mirror
        A URL (``http://``, ``https://`` or ``file://``) or a local folder laid out like the data
        directory (``geo/``, ``finance/``, ``providers/``). ``None`` is refused: deriving the files from
        the publishers' raw downloads is not implemented yet.
    dest
        Folder to fill; created if needed. Default: :func:`boundaries.sources.cache_dir`.
    progress
        Called with one line per file, ``"[i/N] path (size)"``.

    Returns
    -------
    Path
        The filled ``dest``.

    Raises
    ------
    DataError
        If there is no mirror, a download fails, or a downloaded file is malformed.
    """
    if not mirror:
        raise DataError(_no_mirror_message())
    say = progress or (lambda _msg: None)
    dest_path = Path(dest).expanduser() if dest is not None else cache_dir()
    if dest_path.exists() and not dest_path.is_dir():
        raise DataError(f"destination {dest_path} exists and is not a folder")
    opener = _mirror_opener(mirror)

    created = _make_parents(dest_path.parent)
    staging: Path | None = None
    ok = False
    try:
        try:
            # beside dest so that the final moves are renames on one file system
            staging = Path(tempfile.mkdtemp(prefix=f".{dest_path.name}.fetch-", dir=dest_path.parent))
        except OSError as exc:
            raise DataError(f"cannot create a staging folder in {dest_path.parent}: {exc.strerror or exc}") from None
        new = staging / "new"
        fetched = _download_all(opener, new, say)
        for rel in fetched:
            _validate(new / rel, rel)
        _install(new, staging / "old", fetched, dest_path)
        ok = True
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if not ok:
            _remove_empty(created)
    return dest_path


# --- the mirror -------------------------------------------------------------------------------------------

_Opener = Callable[[str], tuple[BinaryIO, int | None, str]]
"""Opens a file of the mirror by its path in the data directory: (stream, size if known, where, for messages)."""


def _mirror_opener(mirror: str) -> _Opener:
    """An opener for ``mirror``, a URL or a local folder; raises :class:`_Failure` for a file it cannot open."""
    scheme = urllib.parse.urlsplit(mirror).scheme.lower()
    if scheme in _URL_SCHEMES:
        base = mirror if mirror.endswith("/") else mirror + "/"

        def open_url(rel: str) -> tuple[BinaryIO, int | None, str]:
            url = base + urllib.parse.quote(rel)
            try:
                resp = urllib.request.urlopen(url, timeout=_TIMEOUT_S)
            except urllib.error.HTTPError as exc:
                exc.close()
                raise _Failure(f"HTTP {exc.code} {exc.reason} at {url}") from None
            except urllib.error.URLError as exc:
                raise _Failure(f"{getattr(exc.reason, 'strerror', None) or exc.reason} at {url}") from None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise _Failure(f"{exc} at {url}") from None
            length = resp.headers.get("Content-Length")
            return resp, int(length) if length and length.isdigit() else None, url

        return open_url

    root = Path(mirror).expanduser()
    if not root.is_dir():
        raise DataError(f"mirror {mirror} is neither an http(s):// or file:// URL nor an existing folder")

    def open_file(rel: str) -> tuple[BinaryIO, int | None, str]:
        path = root / rel
        try:
            fh = open(path, "rb")
            return fh, os.fstat(fh.fileno()).st_size, str(path)
        except FileNotFoundError:
            raise _Failure(f"not found in mirror folder {root}") from None
        except OSError as exc:
            raise _Failure(f"{exc.strerror or exc} at {path}") from None

    return open_file


class _Failure(Exception):
    """A file could not be had from the mirror (the message says why and where)."""


# --- downloading ------------------------------------------------------------------------------------------

def _download_all(opener: _Opener, staging: Path, say: Progress) -> list[str]:
    """Download the required files, then the optional ``SOURCES.md`` files, into ``staging``.

    Returns the paths fetched, relative to the data directory.
    """
    required = list(REQUIRED_FILES)
    optional = [f"{folder}/{_OPTIONAL_NAME}" for folder in dict.fromkeys(p.split("/", 1)[0] for p in required)]
    total = len(required) + len(optional)
    fetched: list[str] = []
    for i, rel in enumerate(required + optional, start=1):
        is_optional = i > len(required)
        try:
            _download_one(opener, rel, staging / rel, f"[{i}/{total}] {rel}", say)
        except _Failure as exc:
            if is_optional:  # provenance notes are welcome but not needed to run
                say(f"[{i}/{total}] {rel} (not available from the mirror, skipped)")
                continue
            raise DataError(f"cannot fetch: {exc}", file=rel) from None
        fetched.append(rel)
    return fetched


def _download_one(opener: _Opener, rel: str, target: Path, label: str, say: Progress) -> None:
    """Copy one file of the mirror to ``target``, checking the length when the mirror states it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _Failure(f"cannot create staging folder {target.parent}: {exc.strerror or exc}") from None
    src, size, where = opener(rel)
    say(f"{label} ({_human(size)})")
    bar = _bar(size, rel)
    received = 0
    try:
        with src, open(target, "wb") as out:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        if size is not None and received != size:
            raise _Failure(f"transfer cut short: got {received} of {size} bytes from {where}")
    except (OSError, http.client.HTTPException, _Failure) as exc:
        target.unlink(missing_ok=True)  # a skipped optional file must not travel on half-written
        if isinstance(exc, _Failure):
            raise
        raise _Failure(f"transfer failed after {received} bytes from {where}: {exc}") from None
    finally:
        if bar is not None:
            bar.close()


def _bar(size: int | None, rel: str):
    """A tqdm bar on an interactive terminal, else ``None``."""
    if not sys.stderr.isatty():
        return None
    return tqdm(total=size, desc=rel.rsplit("/", 1)[-1], unit="B", unit_scale=True, leave=False, file=sys.stderr)


def _human(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


# --- checking ---------------------------------------------------------------------------------------------

def _validate(path: Path, rel: str) -> None:
    """Light check that a downloaded file is whole; ``icbsim data check`` does the full validation."""
    if rel.endswith(".csv"):
        _validate_csv(path, rel)
    elif rel.endswith(".geojson"):
        _validate_geojson(path, rel)


def _validate_csv(path: Path, rel: str) -> None:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                raise DataError("downloaded file has no header row", file=rel)
            rows = 0
            for row in reader:
                if not row:
                    continue
                rows += 1
                # a short last row is the usual sign of a cut-off transfer
                if len(row) != len(header):
                    raise DataError(f"downloaded file is malformed: {len(row)} fields where the header has "
                                    f"{len(header)} (truncated?)", file=rel, row=reader.line_num)
    except UnicodeDecodeError:
        raise DataError("downloaded file is not UTF-8 text", file=rel) from None
    except csv.Error as exc:
        raise DataError(f"downloaded file is not valid CSV: {exc}", file=rel) from None
    if rows == 0:
        raise DataError("downloaded file has a header but no rows", file=rel)


def _validate_geojson(path: Path, rel: str) -> None:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"downloaded file is not valid JSON (truncated?): {exc}", file=rel) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise DataError("downloaded file is not a GeoJSON FeatureCollection", file=rel)
    if not isinstance(doc.get("features"), list) or not doc["features"]:
        raise DataError("downloaded GeoJSON has no features", file=rel)


# --- installing -------------------------------------------------------------------------------------------

def _install(new: Path, backup: Path, files: list[str], dest: Path) -> None:
    """Move the checked files from ``new`` into ``dest``, undoing every move if one fails."""
    if not dest.exists():
        try:
            os.rename(new, dest)  # one atomic step when dest is new
            return
        except OSError:
            pass  # dest appeared meanwhile or rename refused: fall back to file by file
    done: list[tuple[Path, Path | None]] = []  # (installed file, its backup if it replaced one)
    made = _make_parents(dest)  # in case dest vanished meanwhile
    try:
        for rel in files:
            target = dest / rel
            made += _make_parents(target.parent)
            saved = None
            if target.exists() or target.is_symlink():
                saved = backup / rel
                saved.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, saved)
            try:
                os.replace(new / rel, target)
            except OSError:
                if saved is not None:
                    os.replace(saved, target)
                raise
            done.append((target, saved))
    except BaseException as exc:  # an interrupt too must not leave dest half-updated
        for target, saved in reversed(done):
            try:
                if saved is not None:
                    os.replace(saved, target)
                else:
                    target.unlink()
            except OSError:
                pass
        _remove_empty(made)
        if not isinstance(exc, OSError):
            raise
        raise DataError(f"cannot move the downloaded files into {dest}: {exc.strerror or exc}; "
                        f"{dest} is unchanged") from None


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing ancestors; return those created, outermost first."""
    missing: list[Path] = []
    p = folder
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    missing.reverse()
    for p in missing:
        try:
            p.mkdir()
        except FileExistsError:
            pass
        except OSError as exc:
            _remove_empty(missing[:missing.index(p)])
            raise DataError(f"cannot create folder {p}: {exc.strerror or exc}") from None
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders created by :func:`_make_parents`, innermost first, where still empty."""
    for p in reversed(folders):
        try:
            p.rmdir()
        except OSError:
            pass


# --- no mirror --------------------------------------------------------------------------------------------

def _no_mirror_message() -> str:
    pages = ", ".join(dict.fromkeys(f.url for f in REQUIRED_FILES.values()))
    return ("no mirror given, and deriving the data directory from the publishers' raw downloads is not "
            f"implemented yet; either point {DATA_ENV_VAR} or --data-dir at a copy of the data directory, or "
            "run 'icbsim data fetch --mirror URL_OR_DIR' with a URL or folder holding a copy laid out like it "
            f"(geo/, finance/, providers/); the publishers' pages are {pages}")

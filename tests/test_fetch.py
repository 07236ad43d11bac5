"""Tests of ``icbsim data fetch``: filling a data directory from a folder or HTTP mirror, all or nothing."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from boundaries.errors import DataError
from boundaries.fetch import fetch
from boundaries.sources import DATA_ENV_VAR, REQUIRED_FILES, missing_files
from simulator.cli import main

_GEOJSON = "geo/icb_boundaries_apr2023_bsc.geojson"
_CSV = "finance/icb_allocations_2025_26.csv"
_FOLDERS = sorted({p.split("/", 1)[0] for p in REQUIRED_FILES})


# --- fixtures and helpers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mirror_master(tmp_path_factory, data_dir) -> Path:
    """A mirror folder holding the required files and SOURCES.md files, copied from the real data."""
    root = tmp_path_factory.mktemp("mirror_master")
    wanted = list(REQUIRED_FILES) + [f"{d}/SOURCES.md" for d in _FOLDERS]
    for rel in wanted:
        src = data_dir / rel
        if src.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / rel)  # copyfile, not copy: the originals are read-only
    return root


@pytest.fixture
def mirror(tmp_path, mirror_master) -> Path:
    """A private, writable copy of the mirror that a test may damage."""
    return Path(shutil.copytree(mirror_master, tmp_path / "mirror"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep request logs out of captured stderr
        pass


class _TruncatingHandler(_QuietHandler):
    """Announces the full length of ``_GEOJSON`` but sends only half of it, then hangs up."""

    def do_GET(self):
        if self.path.lstrip("/") != _GEOJSON:
            return super().do_GET()
        body = (Path(self.directory) / _GEOJSON).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True


@contextlib.contextmanager
def _serve(directory: Path, handler=_QuietHandler):
    """Serve ``directory`` on a loopback port; yield its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes); ``{}`` if it does not exist."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_identical(dest: Path, mirror: Path) -> None:
    for rel in REQUIRED_FILES:
        assert (dest / rel).read_bytes() == (mirror / rel).read_bytes(), rel
    assert missing_files(dest) == []


def _prefilled_dest(tmp_path: Path) -> Path:
    """A destination that already holds a marker and an old version of one data file."""
    dest = tmp_path / "dest"
    (dest / "geo").mkdir(parents=True)
    (dest / "MARKER").write_text("keep me\n")
    (dest / _GEOJSON).write_text('{"type": "FeatureCollection", "features": []}')
    return dest


def _run_failing(mirror: str, dest: Path) -> DataError:
    """Fetch expecting a DataError; check dest and its surroundings are untouched."""
    before = _snapshot(dest)
    siblings = sorted(p.name for p in dest.parent.iterdir())
    with pytest.raises(DataError) as info:
        fetch(mirror, dest)
    assert _snapshot(dest) == before
    assert sorted(p.name for p in dest.parent.iterdir()) == siblings  # no staging folder left behind
    assert "\n" not in str(info.value)
    return info.value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- success ----------------------------------------------------------------------------------------------

@pytest.mark.integration
def test_fetch_from_folder_mirror(tmp_path, mirror_master):
    dest = tmp_path / "new" / "dest"  # parent missing too
    lines: list[str] = []
    got = fetch(str(mirror_master), dest, progress=lines.append)
    assert got == dest
    _assert_identical(dest, mirror_master)
    for d in _FOLDERS:
        if (mirror_master / d / "SOURCES.md").is_file():
            assert (dest / d / "SOURCES.md").read_bytes() == (mirror_master / d / "SOURCES.md").read_bytes()
    total = len(REQUIRED_FILES) + len(_FOLDERS)
    assert len(lines) == total
    assert lines[0].startswith(f"[1/{total}] {next(iter(REQUIRED_FILES))} (")
    assert sorted(p.name for p in dest.parent.iterdir()) == ["dest"]


@pytest.mark.integration
def test_fetch_over_http(tmp_path, mirror_master):
    dest = tmp_path / "dest"
    with _serve(mirror_master) as url:
        assert fetch(url, dest) == dest
    _assert_identical(dest, mirror_master)


@pytest.mark.integration
def test_fetch_from_file_url(tmp_path, mirror_master):
    dest = tmp_path / "dest"
    fetch(mirror_master.as_uri(), dest)
    _assert_identical(dest, mirror_master)


@pytest.mark.integration
def test_fetch_into_existing_dest_replaces_files_and_keeps_others(tmp_path, mirror_master):
    dest = _prefilled_dest(tmp_path)
    fetch(str(mirror_master), dest)
    _assert_identical(dest, mirror_master)
    assert (dest / "MARKER").read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]


@pytest.mark.integration
def test_missing_sources_md_is_optional(tmp_path, mirror):
    for d in _FOLDERS:
        (mirror / d / "SOURCES.md").unlink(missing_ok=True)
    dest = tmp_path / "dest"
    lines: list[str] = []
    with _serve(mirror) as url:
        fetch(url, dest, progress=lines.append)
    _assert_identical(dest, mirror)
    assert not any((dest / d / "SOURCES.md").exists() for d in _FOLDERS)
    assert sum("skipped" in line for line in lines) == len(_FOLDERS)


@pytest.mark.integration
def test_default_dest_is_the_cache(tmp_path, mirror_master, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    dest = fetch(str(mirror_master))
    assert dest == tmp_path / "cache" / "icbsim" / "data"
    _assert_identical(dest, mirror_master)


# --- failure leaves dest unchanged ------------------------------------------------------------------------

@pytest.mark.integration
@pytest.mark.parametrize("via", ["folder", "http"])
@pytest.mark.parametrize("prefilled", [False, True])
def test_mirror_lacking_a_file(tmp_path, mirror, via, prefilled):
    (mirror / _CSV).unlink()
    dest = _prefilled_dest(tmp_path) if prefilled else tmp_path / "dest"
    if via == "folder":
        err = _run_failing(str(mirror), dest)
    else:
        with _serve(mirror) as url:
            err = _run_failing(url, dest)
    assert _CSV in str(err)
    assert prefilled or not dest.exists()


@pytest.mark.integration
@pytest.mark.parametrize("via", ["folder", "http"])
def test_corrupt_geojson(tmp_path, mirror, via):
    data = (mirror / _GEOJSON).read_bytes()
    (mirror / _GEOJSON).write_bytes(data[: len(data) // 2])
    dest = _prefilled_dest(tmp_path)
    if via == "folder":
        err = _run_failing(str(mirror), dest)
    else:
        with _serve(mirror) as url:
            err = _run_failing(url, dest)
    assert _GEOJSON in str(err)


@pytest.mark.integration
def test_geojson_that_is_not_a_feature_collection(tmp_path, mirror):
    (mirror / _GEOJSON).write_text('{"type": "Feature", "geometry": null, "properties": {}}')
    err = _run_failing(str(mirror), _prefilled_dest(tmp_path))
    assert _GEOJSON in str(err) and "FeatureCollection" in str(err)


@pytest.mark.integration
def test_truncated_csv(tmp_path, mirror):
    text = (mirror / _CSV).read_text(encoding="utf-8")
    (mirror / _CSV).write_text(text[: len(text) // 2].rsplit(",", 1)[0] + "\n", encoding="utf-8")
    err = _run_failing(str(mirror), tmp_path / "dest")
    assert _CSV in str(err)


@pytest.mark.integration
def test_empty_csv(tmp_path, mirror):
    header = (mirror / _CSV).read_text(encoding="utf-8").splitlines()[0]
    (mirror / _CSV).write_text(header + "\n", encoding="utf-8")
    err = _run_failing(str(mirror), tmp_path / "dest")
    assert _CSV in str(err) and "no rows" in str(err)


@pytest.mark.integration
def test_transfer_cut_short(tmp_path, mirror_master):
    dest = _prefilled_dest(tmp_path)
    with _serve(mirror_master, _TruncatingHandler) as url:
        err = _run_failing(url, dest)
    assert _GEOJSON in str(err)


def test_connection_refused(tmp_path):
    err = _run_failing(f"http://127.0.0.1:{_free_port()}/", _prefilled_dest(tmp_path))
    assert next(iter(REQUIRED_FILES)) in str(err)


def test_mirror_folder_that_does_not_exist(tmp_path):
    err = _run_failing(str(tmp_path / "nowhere"), tmp_path / "dest")
    assert "nowhere" in str(err)


@pytest.mark.integration
def test_dest_that_is_a_file(tmp_path, mirror_master):
    dest = tmp_path / "dest"
    dest.write_text("not a folder")
    with pytest.raises(DataError, match="not a folder"):
        fetch(str(mirror_master), dest)
    assert dest.read_text() == "not a folder"


@pytest.mark.integration
def test_failure_while_moving_in_is_undone(tmp_path, mirror_master, monkeypatch):
    dest = _prefilled_dest(tmp_path)
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 9:  # part-way through moving the staged files into dest
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    err = _run_failing(str(mirror_master), dest)
    assert "unchanged" in str(err) and len(calls) > 9


def test_no_mirror_explains_how_to_proceed():
    with pytest.raises(DataError) as info:
        fetch(None)
    msg = str(info.value)
    assert DATA_ENV_VAR in msg and "--data-dir" in msg and "--mirror" in msg
    assert "not implemented" in msg
    assert "\n" not in msg
    pages = msg.split("publishers' pages are ", 1)[1].split(", ")
    assert sorted(pages) == sorted({f.url for f in REQUIRED_FILES.values()})  # each page once


# --- command line -----------------------------------------------------------------------------------------

@pytest.mark.integration
def test_cli_fetch(tmp_path, mirror_master, capsys):
    dest = tmp_path / "dest"
    assert main(["data", "fetch", "--mirror", str(mirror_master), "--dest", str(dest)]) == 0
    out, err = capsys.readouterr()
    assert "data ready" in out and str(dest) in out
    assert f"[1/{len(REQUIRED_FILES) + len(_FOLDERS)}]" in err
    _assert_identical(dest, mirror_master)


@pytest.mark.integration
def test_cli_fetch_bad_mirror(tmp_path, mirror, capsys):
    (mirror / _CSV).unlink()
    dest = tmp_path / "dest"
    assert main(["data", "fetch", "--mirror", str(mirror), "--dest", str(dest)]) == 2
    out, err = capsys.readouterr()
    assert "data ready" not in out
    error_lines = [line for line in err.splitlines() if line.startswith("icbsim:")]
    assert len(error_lines) == 1 and error_lines[0].startswith("icbsim: error:") and _CSV in error_lines[0]
    assert err.endswith(error_lines[0] + "\n")  # the error is the last thing said, on one line
    assert "Traceback" not in err
    assert not dest.exists()


def test_cli_fetch_without_mirror(capsys):
    assert main(["data", "fetch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("icbsim: error:") and err.count("\n") == 1 and DATA_ENV_VAR in err

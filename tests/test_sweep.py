"""Sweeps: the grid, resume, identical results whatever --jobs or backend, clear errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulator.cli import main
from simulator.errors import ScenarioError
from simulator.scenario import dumps_scenario, loads_toml, parse_scenario
from simulator.sweep import apply_values, grid, parse_vary, sweep

SCENARIO = str(Path(__file__).resolve().parent.parent / "scenarios" / "region_south_west.toml")
VARY = ["weights.flow_leakage=0,5", "band.1=2000000,2500000"]


def _answers(folder: Path) -> dict[str, tuple[str, float]]:
    out = {}
    for run in sorted(p for p in folder.iterdir() if p.is_dir()):
        sol = json.loads((run / "solution.json").read_text())
        out[run.name] = ((run / "assignment.csv").read_text(), sol["objective"])
    return out


def test_grid_is_the_cartesian_product_in_a_fixed_order():
    runs = grid(parse_vary(VARY))
    assert [r.folder for r in runs] == [
        "0000_weights.flow_leakage=0_band.1=2000000", "0001_weights.flow_leakage=0_band.1=2500000",
        "0002_weights.flow_leakage=5_band.1=2000000", "0003_weights.flow_leakage=5_band.1=2500000"]
    doc = apply_values({"band": [1, 2], "weights": {}}, runs[3].values)
    assert doc == {"band": [1, 2500000], "weights": {"flow_leakage": 5}}


@pytest.mark.parametrize("path", sorted((Path(SCENARIO).parent).glob("*.toml")), ids=lambda p: p.name)
def test_written_scenario_reads_back_the_same(path):
    """Every shipped scenario, and a variant of it, survives the writer the sweep uses: same document, same order."""
    doc = loads_toml(path.read_text(encoding="utf-8"))
    for d in (doc, apply_values(doc, (("weights.flow_leakage", 2.5), ("band", [1_000_000, 3_000_000])))):
        text = dumps_scenario(d)
        back = loads_toml(text)
        assert back == d and list(back) == list(d)
        parse_scenario(text, "variant.toml", path.parent)


def test_dumps_scenario_awkward_values():
    """Names with quotes, backslashes, newlines and accents, NumPy numbers, and None (TOML has no null)."""
    names = {'Bath "and" Wiltshire': ["QOX"], "back\\slash\nnew line": ["QR1"], "Tyne & Wear – Nord": ["QHM"]}
    doc = {"name": "Awkward", "description": None, "level": "icb", "band": [np.float64(1e6), np.int64(3_000_000)],
           "weights": {"flow_leakage": np.float32(0.5), "at_stake": None}, "start": {"footprints": names}}
    text = dumps_scenario(doc)
    back = loads_toml(text)
    assert list(back) == ["name", "level", "band", "weights", "start"]
    assert back["band"] == [1e6, 3_000_000] and type(back["band"][1]) is int
    assert back["weights"] == {"flow_leakage": 0.5} and back["start"]["footprints"] == names
    with pytest.raises(TypeError, match="None inside a list"):
        dumps_scenario({"band": [1.0, None]})


@pytest.mark.parametrize("spec, message", [
    ("flow_leakage", "expected KEY=V1,V2"), ("weights.flow_leakage=", "no values"), ("9x=1,2", "not a scenario key"),
])
def test_bad_vary(spec, message):
    with pytest.raises(ScenarioError, match=message):
        parse_vary([spec])


def test_bad_variant_is_rejected_before_any_work(tmp_path):
    with pytest.raises(ScenarioError, match="unknown weight"):
        sweep(SCENARIO, ["weights.no_such_term=1,2"], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_sweep_summary_resume_and_jobs_do_not_change_results(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    sweep(SCENARIO, VARY, str(one), jobs=1)
    sweep(SCENARIO, VARY, str(two), jobs=2)
    assert _answers(one) == _answers(two)
    summary = (one / "summary.csv").read_text().splitlines()
    assert len(summary) == 5 and summary[0].startswith("run,folder,weights.flow_leakage,band.1,status")
    assert all(",optimal," in line for line in summary[1:])
    # The flow weight changes the objective: the grid really varies the scenario.
    objectives = {name: obj for name, (_, obj) in _answers(one).items()}
    assert objectives["0000_weights.flow_leakage=0_band.1=2000000"] != objectives[
        "0002_weights.flow_leakage=5_band.1=2000000"]
    # Resume: finished runs are skipped; a missing one is redone.
    keep = one / "0001_weights.flow_leakage=0_band.1=2500000" / "solution.json"
    before = keep.stat().st_mtime_ns
    redo = one / "0002_weights.flow_leakage=5_band.1=2000000"
    for f in redo.iterdir():
        f.unlink()
    redo.rmdir()
    seen = []
    sweep(SCENARIO, VARY, str(one), jobs=1, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (3, 4) and seen[-1] == (4, 4)
    assert keep.stat().st_mtime_ns == before
    assert _answers(one) == _answers(two)


@pytest.mark.integration
def test_dask_backend_matches_process_backend(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        sweep(SCENARIO, VARY, str(tmp_path / "dask"), backend="dask", scheduler=cluster.scheduler_address)
    finally:
        cluster.close()
    sweep(SCENARIO, VARY, str(tmp_path / "proc"), jobs=2)
    assert _answers(tmp_path / "dask") == _answers(tmp_path / "proc")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    """A one-node Ray cluster started the way an operator would (``ray start --head``), stopped afterwards."""
    pytest.importorskip("ray")
    ray_cli = str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    started = subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                              "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                              "--object-store-memory=200000000"],
                             capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=180)


@pytest.mark.integration
def test_ray_backend_matches_process_backend(tmp_path, ray_head):
    seen = []
    sweep(SCENARIO, VARY, str(tmp_path / "ray"), backend="ray", scheduler=ray_head,
          progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    sweep(SCENARIO, VARY, str(tmp_path / "proc"), jobs=2)
    assert _answers(tmp_path / "ray") == _answers(tmp_path / "proc")
    # Resume on the cluster too: nothing left to do.
    seen.clear()
    sweep(SCENARIO, VARY, str(tmp_path / "ray"), backend="ray", scheduler=ray_head,
          progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 4)]


def test_ray_backend_unreachable_cluster_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("ray")
    code = main(["sweep", SCENARIO, "--vary", "weights.flow_leakage=0", "--out", str(tmp_path / "o"),
                 "--backend", "ray", "--scheduler", f"127.0.0.1:{_free_port()}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("icbsim: error:") and "ray cluster" in err[-1]
    assert not (tmp_path / "o" / "summary.csv").exists()


@pytest.mark.integration
def test_cli_sweep(tmp_path, capsys):
    code = main(["sweep", SCENARIO, "--vary", "weights.flow_leakage=0,5", "--out", str(tmp_path / "o"), "--jobs", "2"])
    assert code == 0
    assert "summary:" in capsys.readouterr().out


def test_cli_sweep_on_dask_needs_a_scheduler(tmp_path, capsys):
    pytest.importorskip("dask.distributed")  # without it, the error is that dask is missing
    code = main(["sweep", SCENARIO, "--vary", "weights.flow_leakage=0", "--out", str(tmp_path / "p"),
                 "--backend", "dask"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("icbsim: error:") and "--scheduler" in err[-1]

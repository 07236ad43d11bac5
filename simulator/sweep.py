"""Batch runs: a grid of scenario variants solved in parallel, one folder per run, resumable, with a summary."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import socket
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from simulator.errors import IcbSimError, ScenarioError
from simulator.io import outputs, write_outputs
from simulator.metrics.evaluate import evaluate
from simulator.model import load_model
from simulator.scenario import TOMLDecodeError, dumps_scenario, loads_toml, parse_scenario
from simulator.solvers.run import optimise

BACKENDS = ("process", "dask", "ray")
SUMMARY_COLUMNS = ["run", "folder", "status", "objective", "bound", "gap", "bound_method", "score", "footprints",
                   "in_band", "at_stake_gbp", "at_stake_need_adjusted_gbp", "localisation_index", "runtime_s",
                   "explanation"]


@dataclass(frozen=True)
class Run:
    """One point of the grid: its index, folder name and the scenario values it sets."""

    index: int
    folder: str
    values: tuple[tuple[str, Any], ...]


def parse_vary(specs: list[str]) -> list[tuple[str, list[Any]]]:
    """``KEY=V1,V2,...`` -> (dotted key, values); values are read as TOML literals, else as plain text."""
    out = []
    for spec in specs:
        if "=" not in spec:
            raise ScenarioError(f"--vary {spec!r}: expected KEY=V1,V2,...")
        key, _, raw = spec.partition("=")
        key = key.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*", key):
            raise ScenarioError(f"--vary {spec!r}: {key!r} is not a scenario key (e.g. weights.flow_leakage)")
        values = [_literal(v.strip()) for v in raw.split(",") if v.strip() != ""]
        if not values:
            raise ScenarioError(f"--vary {spec!r}: no values")
        if key in (k for k, _ in out):
            raise ScenarioError(f"--vary {key} is given twice")
        out.append((key, values))
    return out


def _literal(text: str) -> Any:
    try:
        return loads_toml(f"v = {text}")["v"]
    except TOMLDecodeError:
        return text


def _slug(values: tuple[tuple[str, Any], ...]) -> str:
    parts = [f"{k}={v}" for k, v in values]
    return re.sub(r"[^A-Za-z0-9=._-]+", "_", "_".join(parts))[:80]


def grid(vary: list[tuple[str, list[Any]]]) -> list[Run]:
    """Every combination, in a fixed order (so run folders do not depend on --jobs)."""
    keys = [k for k, _ in vary]
    runs = []
    for i, combo in enumerate(itertools.product(*[v for _, v in vary])):
        values = tuple(zip(keys, combo))
        runs.append(Run(i, f"{i:04d}_{_slug(values)}", values))
    return runs


def apply_values(doc: dict, values: tuple[tuple[str, Any], ...]) -> dict:
    """A copy of the scenario document with dotted keys set (``band.0`` indexes a list)."""
    doc = json.loads(json.dumps(doc))
    for key, value in values:
        parts = key.split(".")
        node = doc
        for p in parts[:-1]:
            if isinstance(node, list):
                node = node[int(p)]
            else:
                node = node.setdefault(p, {})
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ScenarioError(f"--vary {key}: no element {last} in that list")
            node[int(last)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ScenarioError(f"--vary {key}: {'.'.join(parts[:-1])} is not a table")
    return doc


def run_one(scenario_text: str, scenario_dir: str, folder: str, seed: int, iterations: int | None,
            time_limit: float | None, data_dir: str | None, restarts: int | None = None) -> dict[str, Any]:
    """Solve one run and write its folder (all or nothing). Returns its summary row."""
    out = Path(folder)
    row: dict[str, Any] = {"run": out.name, "folder": str(out)}
    try:
        scenario = parse_scenario(scenario_text, f"{out.name}/scenario.toml", Path(scenario_dir))
        model = load_model(scenario.level, data_dir, estuary_links=scenario.estuary_links, baseline=scenario.baseline)
        solver = optimise(scenario, model, seed=seed, time_limit=time_limit, iterations=iterations,
                          data_dir=data_dir, restarts=restarts)
        solution = solver.solution_dict()
        files = {"scenario.toml": scenario_text}
        if solver.configuration_ is not None:
            ev = evaluate(model, solver.configuration_, scenario.params)
            files.update(outputs(model, solver.configuration_, ev))
            solution.update({"score": ev.score, "violations": solver.problem.violations(solver.configuration_)})
            row.update({"score": ev.score, "footprints": ev.overall["footprints"], "in_band": ev.overall["in_band"],
                        "at_stake_gbp": ev.overall["at_stake_gbp"],
                        "at_stake_need_adjusted_gbp": ev.overall["at_stake_need_adjusted_gbp"],
                        "localisation_index": ev.overall["localisation_index"]})
        result = solver.result_
        row.update({"status": result.status.value, "objective": result.objective, "bound": result.bound,
                    "gap": result.gap, "bound_method": result.bound_method.value,
                    "runtime_s": solution["runtime_s"]})
        row["explanation"] = "; ".join(result.explanation)
    except IcbSimError as exc:
        files = {"scenario.toml": scenario_text}
        solution = {"status": "error", "explanation": [str(exc)]}
        row.update({"status": "error", "explanation": str(exc)})
    solution["run"] = out.name
    # solution.json is the run's completion mark: written with the rest, all or nothing.
    files["solution.json"] = json.dumps(solution, indent=1, default=str)
    write_outputs(out, files)
    return row


def _row_from_folder(folder: Path) -> dict[str, Any]:
    sol = json.loads((folder / "solution.json").read_text(encoding="utf-8"))
    row = {"run": folder.name, "folder": str(folder), **{k: sol.get(k) for k in ("status", "objective", "bound", "gap",
                                                                                  "bound_method", "runtime_s",
                                                                                  "score")}}
    row["explanation"] = "; ".join(sol.get("explanation") or [])
    metrics = folder / "metrics.json"
    if metrics.is_file():
        o = json.loads(metrics.read_text(encoding="utf-8"))["overall"]
        row.update({k: o.get(k) for k in ("footprints", "in_band", "at_stake_gbp", "at_stake_need_adjusted_gbp",
                                          "localisation_index")})
    return row


def sweep(scenario_path: str, vary_specs: list[str], out_dir: str, jobs: int = 1, seed: int = 0,
          iterations: int | None = None, time_limit: float | None = None, data_dir: str | None = None,
          backend: str = "process", scheduler: str | None = None,
          progress: Callable[[int, int], None] | None = None, restarts: int | None = None) -> Path:
    """Run the grid and write ``out_dir/summary.csv``; finished runs (with a solution.json) are skipped.

    Every run uses the same ``seed``, so results do not depend on ``jobs`` or the backend.
    """
    path = Path(scenario_path)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such scenario file")
    text = path.read_text(encoding="utf-8")
    parse_scenario(text, str(path), path.parent)  # fail early on a bad base scenario
    doc = loads_toml(text)
    vary = parse_vary(vary_specs)
    runs = grid(vary)
    texts = {}
    for r in runs:  # validate every variant before starting any work
        t = dumps_scenario(apply_values(doc, r.values))
        parse_scenario(t, f"{r.folder}/scenario.toml", path.parent)
        texts[r.index] = t
    if jobs < 1:
        raise ScenarioError("--jobs must be at least 1")
    if iterations is not None and iterations < 0:
        raise ScenarioError(f"--iterations must be 0 or more (got {iterations})")
    if time_limit is not None and not time_limit > 0:
        raise ScenarioError(f"--time-limit must be a positive number of seconds (got {time_limit})")
    if restarts is not None and restarts < 1:
        raise ScenarioError(f"--restarts must be 1 or more (got {restarts})")
    if backend not in BACKENDS:
        raise ScenarioError(f"--backend must be one of {', '.join(BACKENDS)}")
    out = Path(out_dir)
    todo = [r for r in runs if not (out / r.folder / "solution.json").is_file()]
    done = len(runs) - len(todo)
    if progress:
        progress(done, len(runs))
    args = [(texts[r.index], str(path.parent.resolve()), str(out / r.folder), seed, iterations, time_limit,
             str(data_dir) if data_dir else None, restarts) for r in todo]
    if backend == "dask":
        _run_dask(args, scheduler, progress, done, len(runs))
    elif backend == "ray":
        _run_ray(args, scheduler, progress, done, len(runs))
    elif jobs == 1:
        for a in args:
            run_one(*a)
            done += 1
            if progress:
                progress(done, len(runs))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_one, *a) for a in args]
            for fut in as_completed(futures):
                fut.result()
                done += 1
                if progress:
                    progress(done, len(runs))
    rows = [_row_from_folder(out / r.folder) | {k: v for k, v in r.values} for r in runs]
    cols = SUMMARY_COLUMNS[:2] + [k for k, _ in vary] + SUMMARY_COLUMNS[2:]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_outputs(out, {"summary.csv": buf.getvalue()})
    return out / "summary.csv"


def _run_dask(args: list[tuple], scheduler: str | None, progress, done: int, total: int) -> None:
    """Run on an existing dask.distributed cluster (the optional ``dask`` extra)."""
    try:
        from dask.distributed import Client, as_completed as dask_completed  # local: optional extra icbsim[dask]
    except ImportError:
        raise ScenarioError("--backend dask needs dask.distributed: pip install 'icbsim[dask]'") from None
    if not scheduler:
        raise ScenarioError("--backend dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
    try:
        client = Client(scheduler, timeout=30)
    except (OSError, TimeoutError) as exc:
        raise ScenarioError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
    try:
        futures = [client.submit(run_one, *a, pure=False) for a in args]
        for fut in dask_completed(futures):
            fut.result()
            done += 1
            if progress:
                progress(done, total)
    finally:
        client.close()


def _run_ray(args: list[tuple], address: str | None, progress, done: int, total: int) -> None:
    """Run on an existing Ray cluster (the optional ``ray`` extra)."""
    try:
        import ray  # local: optional extra icbsim[ray], slow to import
    except ImportError:
        raise ScenarioError("--backend ray needs ray: pip install 'icbsim[ray]'") from None
    if not address:
        raise ScenarioError("--backend ray needs --scheduler ADDRESS (the head node, e.g. 10.0.0.5:6379, or a Ray "
                            "client address such as ray://10.0.0.5:10001)")
    _check_reachable(address)
    if ray.is_initialized():  # e.g. a second sweep in the same process: connect afresh to the address given
        ray.shutdown()
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR", configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        raise ScenarioError(f"cannot reach the ray cluster at {address}: {str(exc).splitlines()[0]}") from None
    try:
        task = ray.remote(run_one)
        pending = [task.remote(*a) for a in args]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            ray.get(ready[0])
            done += 1
            if progress:
                progress(done, total)
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast if nothing listens at ``host:port`` (Ray itself retries an unreachable head for minutes)."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ScenarioError(f"--scheduler {address!r}: expected HOST:PORT (or ray://HOST:PORT)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ScenarioError(f"cannot reach the ray cluster at {address}: {exc.strerror or exc}") from None

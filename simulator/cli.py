"""The ``icbsim`` command line: evaluate, optimise, sweep, compare and calibrate configurations; manage the data."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
from pathlib import Path

from tqdm import tqdm

from boundaries.fetch import fetch
from boundaries.finance import POPULATION_MEASURES
from boundaries.geography import BASELINES, DEFAULT_BASELINE, LEVEL_ALIASES, LEVELS, canonical_level
from boundaries.sources import resolve_data_dir
from boundaries.summary import data_summary
from simulator.calibrate import (PULLS, Oracle, calibrate, calibration_files, decided_map, leave_one_out,
                                 scenario_text, select_pull, summary_lines)
from simulator.compare import compare
from simulator.configuration import Configuration
from simulator.errors import IcbSimError, InputFileError, NoFeasibleConfiguration
from simulator.forecast import forecast
from simulator.solvers.regional import RegionalSolver
from simulator.formatting import money
from simulator.io import level_blocks, outputs, read_configuration_file, write_outputs
from simulator.metrics.evaluate import MetricParameters, evaluate
from simulator.model import load_model
from simulator.report import tradeoff_files
from simulator.scenario import load_scenario
from simulator.solvers import BoundMethod
from simulator.solvers.run import optimise
from simulator.sweep import sweep

_PROG = "icbsim"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, like every other error of the tool."""

    def error(self, message: str):
        self.exit(2, f"{_PROG}: error: {message} (see '{self.prog} --help')\n")


def _data_dir_option() -> argparse.ArgumentParser:
    """The one ``--data-dir`` option, shared (as an argparse parent) by the main parser and the commands that
    read data, so ``icbsim --data-dir DIR evaluate ...`` and ``icbsim evaluate ... --data-dir DIR`` both work.

    Its default is ``SUPPRESS``: a command's parser then sets ``data_dir`` only when the option follows the
    command, and never overwrites one given before it.
    """
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--data-dir", default=argparse.SUPPRESS, metavar="DIR",
                   help="data directory (default: $ICBSIM_DATA, ../shared/data, or the local cache)")
    return p


def _map_options() -> argparse.ArgumentParser:
    """The one ``--level`` and ``--baseline``, shared (as an argparse parent) by ``evaluate`` and ``compare``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--level", choices=list(LEVELS) + list(LEVEL_ALIASES),
                   help="level of the official maps named on the command line (evaluate's 'baseline', compare's "
                        "2024 and 2026): icb2026 (today's 36 ICBs), icb2024 (the 42 of 2024), sicbl or place; "
                        "default: a file's level, else icb2026 for evaluate (icb2024 with --baseline 2024) and "
                        "place for compare; a file must be of this level")
    p.add_argument("--baseline", choices=BASELINES,
                   help="today's map, which change from today is measured against: 2026 (the 36 ICBs from 1 April "
                        "2026) or 2024 (the 42 ICBs of 2024); default: the scenario's, else 2026")
    return p


def _parser() -> argparse.ArgumentParser:
    data_dir = [_data_dir_option()]
    maps = _map_options()
    p = _Parser(prog=_PROG, description="ICB merger scenario simulator.", parents=data_dir)
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    _add_evaluate(sub, data_dir, maps)
    _add_optimise(sub, data_dir)
    _add_sweep(sub, data_dir)
    _add_tradeoffs(sub, data_dir)
    _add_compare(sub, data_dir, maps)
    _add_calibrate(sub, data_dir)
    _add_data(sub, data_dir)
    return p


def _add_evaluate(sub, data_dir: list, maps) -> None:
    """The ``evaluate`` command and its options."""
    ev = sub.add_parser("evaluate", help="measure a configuration and write footprints and metrics",
                        parents=data_dir + [maps])
    ev.add_argument("--config", required=True,
                    help="'baseline', a CSV (unit_code,footprint), a GeoJSON from an export, or a scenario TOML")
    ev.add_argument("--out", help="folder for footprints.geojson, footprints.csv, assignment.csv, metrics.json")
    ev.add_argument("--measure", choices=list(POPULATION_MEASURES),
                    help="population measure for the band (default gp_registered)")
    ev.add_argument("--band", nargs=2, type=float, metavar=("FLOOR", "CEILING"),
                    help="target population band in persons (default 1500000 2500000)")
    ev.add_argument("--allow-noncontiguous", action="store_true", help="accept footprints in separate pieces")
    ev.add_argument("--estuary-links", action="store_true",
                    help="count blocks touching only across the tidal Thames as neighbours")


def _add_optimise(sub, data_dir: list) -> None:
    """The ``optimise`` command and its options."""
    op = sub.add_parser("optimise", aliases=["optimize"], help="find the best configuration for a scenario",
                        parents=data_dir)
    op.add_argument("scenario", help="scenario TOML file (see scenarios/)")
    op.add_argument("--out", required=True, help="folder for the outputs of evaluate plus solution.json")
    op.add_argument("--solver", choices=["auto", "exact", "local_search", "regional"], default="auto",
                    help="auto: exact at icb level, exact within the time limit at sicbl; at place level, region by "
                         "region where footprints stay within NHS regions, else exact up to 500,000 candidate "
                         "footprints, else local search. regional: each NHS region solved exactly per number of "
                         "footprints, the counts combined (needs within_region)")
    op.add_argument("--seed", type=int, default=0, help="random seed of the local search (default 0)")
    op.add_argument("--time-limit", type=float, help="stop after this many seconds and report the gap")
    op.add_argument("--iterations", type=int, help="local-search moves to try (default 200000 at place level, "
                    "20000 otherwise)")
    op.add_argument("--restarts", type=int, help="local searches with different seeds drawn from --seed, the best "
                    "kept (default under auto: 4 for a region at place level, else 1)")
    op.add_argument("--margins", action="store_true",
                    help="also say, per NHS region, which of today's ICBs the answer merges and by how much it beats "
                         "the best configuration that differs there (writes regions.csv; exact solves region by "
                         "region)")


def _add_sweep(sub, data_dir: list) -> None:
    """The ``sweep`` command and its options."""
    sw = sub.add_parser("sweep", help="run a grid of scenario variants in parallel (resumable)", parents=data_dir)
    sw.add_argument("scenario", help="base scenario TOML file")
    sw.add_argument("--vary", action="append", required=True, metavar="KEY=V1,V2,...",
                    help="a scenario key and its values, e.g. weights.flow_leakage=0,1,2 or band.1=2000000,2500000")
    sw.add_argument("--out", required=True, help="folder: one sub-folder per run and summary.csv")
    sw.add_argument("--jobs", type=int, default=1, help="parallel processes (default 1)")
    sw.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    sw.add_argument("--iterations", type=int, help="local-search moves per run (default 200000 at place level, "
                    "20000 otherwise)")
    sw.add_argument("--time-limit", type=float, help="seconds per run")
    sw.add_argument("--restarts", type=int, help="local searches per run (default under auto: 4 for a region at "
                    "place level, else 1)")
    sw.add_argument("--backend", choices=["process", "dask", "ray"], default="process",
                    help="process (this machine), dask (an existing dask.distributed cluster) or ray (an existing "
                         "Ray cluster)")
    sw.add_argument("--scheduler", help="address of the cluster: the dask scheduler (tcp://10.0.0.5:8786) or the "
                                        "Ray head node (10.0.0.5:6379, or ray://10.0.0.5:10001)")


def _add_tradeoffs(sub, data_dir: list) -> None:
    """The ``tradeoffs`` command and its options."""
    tr = sub.add_parser("tradeoffs", help="top-k configurations, a Pareto front of two terms, weight sensitivity",
                        parents=data_dir)
    tr.add_argument("scenario", help="scenario TOML file (ICB level, or a regional scenario)")
    tr.add_argument("--out", required=True, help="folder for the tables, charts and configurations")
    tr.add_argument("--top-k", type=int, default=0, metavar="K", help="the K best distinct configurations")
    tr.add_argument("--pareto", nargs=2, metavar=("X_TERM", "Y_TERM"), help="Pareto front of two score terms")
    tr.add_argument("--points", type=int, default=8, help="points on the Pareto front (default 8)")
    tr.add_argument("--sensitivity", type=int, default=0, metavar="RUNS",
                    help="re-solve RUNS times with perturbed weights and report co-assignment")
    tr.add_argument("--spread", type=float, default=0.25, help="log-normal sd of the weight perturbation (0.25)")
    tr.add_argument("--seed", type=int, default=0, help="seed of the perturbations")


def _add_compare(sub, data_dir: list, maps) -> None:
    """The ``compare`` command and its options."""
    cp = sub.add_parser("compare", help="compare two configurations: corresponding footprints, co-assignment "
                                        "agreement, and the score terms favouring each where they differ",
                        parents=data_dir + [maps])
    cp.add_argument("a", metavar="A", help="'2024' or '2026' (an official map), a CSV (unit_code,footprint), a "
                                           "GeoJSON from an export, or an evaluate/optimise output folder")
    cp.add_argument("b", metavar="B", help="the same kinds; B is taken as the truth")
    cp.add_argument("--scenario", help="scenario TOML whose population measure, band and weights price the "
                                       "differences (default weights otherwise)")
    cp.add_argument("--region", help="print only this NHS region (ODS code such as Y56, or name); the files hold "
                                     "everything")
    cp.add_argument("--out", help="folder for comparison.json, correspondence.csv, coassignment.csv, differences.csv")


def _add_calibrate(sub, data_dir: list) -> None:
    """The ``calibrate`` command and its options."""
    ca = sub.add_parser("calibrate", help="learn the price list (score weights) under which decided maps are "
                                          "optimal: inverse optimisation, checked out of sample", parents=data_dir)
    ca.add_argument("scenarios", nargs="+", metavar="SCENARIO",
                    help="scenario TOML files: the rules, level and freed regions (only_regions) of each decision")
    ca.add_argument("--decided", nargs="+", default=["2026"], metavar="MAP",
                    help="the decided map: '2026' (the official April 2026 map; the default), '2024', a CSV, a "
                         "GeoJSON export or an output folder; one for every scenario, or one per scenario in order")
    ca.add_argument("--out", required=True, help="folder for calibration.json, prices.csv, decided_maps.csv, the "
                                                 "answers and calibrated.toml")
    ca.add_argument("--pull", default="auto",
                    help="pull toward the default prices: a number >= 0, or 'auto' (chosen by leave-one-out among "
                         "the decided maps; the default)")
    ca.add_argument("--terms", help="comma-separated score terms to learn (default: every term with a default "
                                    "price above 0, and upper_tier_split)")
    ca.add_argument("--margin", type=float, default=None,
                    help="margin by which a competitor that shares no merged pair with a decided map must lose, as "
                         "a share of a typical change's score (default 0.1)")
    ca.add_argument("--rounds", type=int, default=None, help="rounds of cutting planes at most (default 15)")
    ca.add_argument("--leave-one-out", action="store_true",
                    help="also predict each decided map from prices learned on the others, beside the defaults")
    ca.add_argument("--seed", type=int, default=0, help="seed of any local search (default 0)")
    ca.add_argument("--scenario-out", metavar="BASE.toml",
                    help="write calibrated.toml from this scenario (default: the first SCENARIO) with the learned "
                         "prices")
    ca.add_argument("--name", help="name of the scenario in calibrated.toml (default 'Calibrated: BASE')")
    ca.add_argument("--description", help="its description (default: the base scenario's, and where the prices "
                                          "come from)")
    ca.add_argument("--drop", action="append", default=[], metavar="CONSTRAINT",
                    help="leave this constraint of the base scenario out of calibrated.toml (e.g. n_footprints); "
                         "repeatable")


def _add_data(sub, data_dir: list) -> None:
    """The ``data`` command and its options."""
    data = sub.add_parser("data", help="check, locate or fetch the data directory")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.add_parser("check", help="validate the data directory and print a summary", parents=data_dir)
    dsub.add_parser("where", help="print the data directory in use", parents=data_dir)
    fetch = dsub.add_parser("fetch", help="fill the local cache from a mirror of the official files")
    fetch.add_argument("--mirror", help="URL or folder laid out like the data directory (geo/, finance/, providers/)")
    fetch.add_argument("--dest", help="where to put the files (default: the local cache)")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _resolve_configuration(args, data_dir):
    """(model, configuration, parameters) from ``--config`` and the overrides."""
    spec = args.config
    params = MetricParameters()
    allow = args.allow_noncontiguous
    estuary = args.estuary_links
    baseline = args.baseline
    wanted = canonical_level(args.level) if args.level else None
    pairs = None
    blocks = level_blocks(data_dir)
    if spec == "baseline":
        baseline = baseline or DEFAULT_BASELINE
        level = wanted or ("icb2026" if baseline == "2026" else "icb2024")
    elif spec.lower().endswith(".toml"):
        sc = load_scenario(spec)
        level, params = sc.level, sc.params
        baseline = baseline or sc.baseline
        allow, estuary = allow or sc.allow_noncontiguous, estuary or sc.estuary_links
        kind, value = sc.start
        if kind == "file":
            pairs, file_level = read_configuration_file(value, blocks, prefer=level)
            if file_level != level:
                raise InputFileError(f"{value}: holds {file_level} codes but the scenario's level is {level}")
        elif kind == "footprints":
            pairs = value
        if wanted and wanted != level:
            raise InputFileError(f"{spec}: the scenario's level is {level}, not {wanted}")
    else:
        pairs, level = read_configuration_file(spec, blocks, prefer=wanted)
        if wanted and wanted != level:
            raise InputFileError(f"{spec}: holds {level} codes, not {wanted} codes")
    baseline = baseline or DEFAULT_BASELINE
    if level == "icb2026" and baseline == "2024":
        raise InputFileError("the 2024 map cannot be drawn with today's ICBs (level icb2026) as building blocks: "
                             "use --baseline 2026, or a configuration of 2024 ICBs, sub-ICB locations or places")
    if args.measure or args.band:
        params = MetricParameters(population_measure=args.measure or params.population_measure,
                                  band=tuple(args.band) if args.band else params.band, weights=params.weights,
                                  authority_set=params.authority_set)
    _say(f"loading the {level}-level model ...")
    model = load_model(level, data_dir, estuary_links=estuary, baseline=baseline)
    if pairs is None:
        config = Configuration.baseline(model)
    else:
        config = Configuration.from_mapping(model, pairs, allow_noncontiguous=allow, source=spec)
    return model, config, params


def _fmt_money(x: float) -> str:
    return money(x)  # £m or £bn, never "£-0.0m"


def _summary(evaluation) -> str:
    fp = evaluation.footprints.sort_values("population", ascending=False)
    measure = evaluation.params.population_measure
    lines = [f"{'footprint':<44} {'population':>11} {'band':<10} {'£/head':>7} {'at stake':>10} {'local':>6} "
             f"{'moved':>9}",
             f"{'':<44} {'(' + measure + ')':>11}"]
    for r in fp.itertuples():
        lines.append(f"{r.footprint[:44]:<44} {r.population:>11,.0f} {r.band_status:<10} "
                     f"{r.allocation_per_head:>7,.0f} {_fmt_money(r.at_stake_gbp):>10} {r.localisation_index:>6.1%} "
                     f"{r.people_moved:>9,.0f}")
    o = evaluation.overall
    ch = o["change_from_today"]
    lines += ["",
              f"change from today ({ch['today_icbs']} ICBs of the {ch['baseline']} map): {ch['people_moved']:,.0f} "
              f"people change ICB ({ch['people_moved_share']:.1%}); {ch['today_icbs_split']} of today's ICBs split"
              + (f" ({', '.join(ch['today_icbs_split_names'])})" if ch['today_icbs_split'] else "")
              + f"; {ch['footprints_unchanged']} footprints unchanged, {ch['whole_icb_mergers']} whole-ICB mergers",
              f"{o['footprints']} footprints: {o['in_band']} in band, {o['below_band']} below, {o['above_band']} above "
              f"({measure}, {evaluation.params.band[0]:,.0f}-{evaluation.params.band[1]:,.0f})",
              f"at stake {_fmt_money(o['at_stake_gbp'])} (need-adjusted {_fmt_money(o['at_stake_need_adjusted_gbp'])}); "
              f"localisation {o['localisation_index']:.1%}; major trusts shared {o['major_trusts_shared']}/{o['major_trusts']}",
              f"pathology networks split {o['pathology_networks_split']}/{o['pathology_networks']}; "
              f"authorities split {o['authorities_split']}/{o['authorities']}; footprints crossing regions "
              f"{o['footprints_crossing_regions']}",
              f"upper-tier councils split {o['upper_tier_councils_split']}/{o['upper_tier_councils']} (more than "
              f"{o['upper_tier_tolerance']:.0%} of residents outside the main footprint"
              + (f": {', '.join(o['upper_tier_councils_split_names'])}" if o['upper_tier_councils_split'] else "")
              + f"); {o['upper_tier_people_in_smaller_parts']:,.0f} people in the smaller parts of councils",
              f"running-cost allowance {_fmt_money(o['running_cost_allowance_estimate_gbp'])} "
              f"(today {_fmt_money(o['running_cost_allowance_today_gbp'])}, saving "
              f"{_fmt_money(o['running_cost_saving_gbp'])}; a 50% cut means {_fmt_money(o['running_cost_target_gbp'])})",
              f"score {evaluation.score:.4f} (lower is better)"]
    return "\n".join(lines)


def _check_out_folder(out: str | None) -> None:
    """Fail on an unusable output folder before the work, not after."""
    if out and Path(out).exists() and not Path(out).is_dir():
        raise InputFileError(f"{out}: exists and is not a folder")


def _cmd_evaluate(args, data_dir) -> int:
    _check_out_folder(args.out)
    model, config, params = _resolve_configuration(args, data_dir)
    evaluation = evaluate(model, config, params)
    if args.out:
        files = outputs(model, config, evaluation)
        written = write_outputs(args.out, files)
        _say("wrote " + ", ".join(str(w) for w in written))
    print(_summary(evaluation))
    return 0


def _cmd_optimise(args, data_dir) -> int:
    _check_out_folder(args.out)
    scenario = load_scenario(args.scenario)
    model = load_model(scenario.level, data_dir, estuary_links=scenario.estuary_links, progress=_say,
                       baseline=scenario.baseline)
    solver = optimise(scenario, model, solver=args.solver, seed=args.seed, time_limit=args.time_limit,
                      iterations=args.iterations, data_dir=data_dir, progress=_progress_printer(),
                      restarts=args.restarts)
    if solver.configuration_ is None:
        raise NoFeasibleConfiguration(f"{args.scenario}: no feasible configuration", solver.explanation_)
    evaluation = evaluate(model, solver.configuration_, scenario.params)
    files = outputs(model, solver.configuration_, evaluation)
    solution = solver.solution_dict()
    solution.update({"scenario": scenario.name, "scenario_file": str(args.scenario),
                     "score": evaluation.score, "violations": solver.problem.violations(solver.configuration_)})
    files["solution.json"] = json.dumps(solution, indent=1, default=str)
    regions = []
    if args.margins:
        _say("margins region by region ...")
        regions = forecast(scenario, model, solver.configuration_,
                           solver=solver if isinstance(solver, RegionalSolver) else None)
        files["regions.csv"] = _regions_csv(regions)
    written = write_outputs(args.out, files)
    _say("wrote " + ", ".join(str(w) for w in written))
    print(_summary(evaluation))
    result = solver.result_
    gap = "n/a (no bound)" if result.gap is None else f"{result.gap:.2%}"
    if result.gap is not None and result.bound_method in (BoundMethod.TERM_WISE, BoundMethod.BAND):
        which = "term-wise bound" + (" with the band" if result.bound_method is BoundMethod.BAND else "")
        gap += f" (against the {which}: the proof was not run, see stats.proof_not_run)"
    runs = result.restarts
    best = f" (best of {len(runs)} local searches, found from seed {result.best_seed})" if runs else ""
    print(f"solver {result.solver}: {result.status.value}, objective {result.objective:.5f}, gap {gap}, "
          f"{result.timings['total']:.1f}s, seed {result.seed}{best}")
    where = _gap_by_term_line(result.stats.get("gap_by_term"))
    if where:
        print(where)
    for r in regions:
        merges = "; ".join(" + ".join(f) for f in r.merges) or "no change"
        margin = "n/a" if r.margin is None else ("" if r.margin_exact else "at least ") + f"{r.margin:.4f}"
        if r.margin is not None and r.margin_kind == "another count":
            margin += f" (the runner-up has {r.runner_up_footprints} footprint(s) here)"
        print(f"{r.region_name}: {r.icbs_today} ICBs today -> {len(r.footprints)}: {merges}; margin over the "
              f"runner-up {margin}{f' ({r.note})' if r.note else ''}")
    return 0


_NAMED_MAPS = {"2024": "the 42 ICBs of 2024", "2026": "the 36 ICBs from 1 April 2026"}


def _compare_side(spec: str, blocks, wanted: str | None) -> tuple[str | None, list | None, str | None]:
    """One side of ``compare``: (named map or None, (code, footprint) pairs or None, level of the file or None).

    ``2024`` and ``2026`` are the official maps (a folder of that name is read as ``./2024``); a folder is an
    evaluate/optimise output folder, read through its assignment.csv (``blocks`` and ``wanted``, the ``--level``,
    as :func:`simulator.io.read_configuration_file` takes them).
    """
    if spec in _NAMED_MAPS:
        return spec, None, None
    path = Path(spec)
    if not path.exists() and re.fullmatch(r"\d{4}", spec.strip()):
        raise InputFileError(f"{spec}: unknown named map; the named maps are 2024 ({_NAMED_MAPS['2024']}) and 2026 "
                             f"({_NAMED_MAPS['2026']})")
    if path.is_dir():
        path = path / "assignment.csv"
        if not path.is_file():
            raise InputFileError(f"{spec}: a folder without assignment.csv (an evaluate or optimise output folder "
                                 "holds one)")
    pairs, level = read_configuration_file(path, blocks, prefer=wanted)
    return None, pairs, level


def _compare_level(args, sides, wanted: str | None) -> str:
    """The level both sides are drawn at: the files', which must agree, else ``--level`` (``wanted``), else place."""
    levels = {}
    for spec, (_, pairs, level) in zip((args.a, args.b), sides):
        if pairs is None:
            continue
        if wanted and wanted != level:
            raise InputFileError(f"{spec}: holds {level} codes, not {wanted} codes")
        levels[spec] = level
    if len(set(levels.values())) > 1:
        (sa, la), (sb, lb) = levels.items()
        raise InputFileError(f"the two sides are at different levels: {sa} holds {la} codes, {sb} holds {lb} codes; "
                             "compare configurations of one level")
    level = next(iter(levels.values()), None) or wanted or "place"
    if level == "icb2026" and "2024" in (args.a, args.b):
        raise InputFileError("the 2024 map cannot be drawn with today's ICBs (level icb2026) as building blocks: "
                             "compare at level icb2024, sicbl or place")
    return level


def _pct(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def _region_of(model, wanted: str) -> str:
    """The region ODS code named by an ODS code or a name (any case)."""
    b = model.blocks.drop_duplicates("region_ods")
    key = wanted.strip().lower()
    for ods, name in zip(b.region_ods, b.region_name):
        if key in (str(ods).lower(), str(name).lower()):
            return ods
    known = ", ".join(f"{o} ({n})" for o, n in sorted(zip(b.region_ods, b.region_name)))
    raise InputFileError(f"unknown region {wanted!r}; the NHS regions are {known}")


def _compare_summary(cmp, a, region: str | None = None, top: int = 15) -> str:
    """The readable summary of a comparison of ``a`` with another configuration (``region``: an ODS code to
    restrict it to: A's footprints with a block there, its co-assignment row, its differing blocks)."""
    model = a.model
    o = cmp.overall
    lines = [f"A: {o['a']} ({o['a_footprints']} footprints); B: {o['b']} ({o['b_footprints']} footprints); level "
             f"{o['level']} ({o['blocks']} blocks); people: {o['population_measure']}"]
    lines += [f"note: {n}" for n in o["notes"]]
    if o["identical"]:
        lines.append("A and B group the blocks identically")
    else:
        lines.append(f"{o['footprints_identical']} of A's {o['a_footprints']} footprints are identical to one of B's")
    pairs = cmp.correspondence
    if region is not None:
        inside = (model.blocks.region_ods == region).to_numpy()
        pairs = pairs[pairs.a_footprint.isin({a.names[f] for f in set(a.assignment[inside].tolist())})]
        lines.append(f"restricted to {region} ({model.blocks.region_name[model.blocks.region_ods == region].iloc[0]})")
    lines += ["", "correspondence (A footprint -> B footprint: people in common, share of A, share of B; * best match)"]
    previous = None
    for r in pairs.itertuples(index=False):
        left = r.a_footprint[:44] if r.a_footprint != previous else ""
        previous = r.a_footprint
        lines.append(f"  {left:<44} -> {r.b_footprint[:44]:<44} {r.people:>11,.0f} {r.share_of_a:>7.1%} "
                     f"{r.share_of_b:>7.1%}{' *' if r.best_match else ''}")
    co = cmp.coassignment
    if region is not None:
        co = co[co.region_ods.isin([region, "overall"])]
    scope = (f"block pairs in different ICBs of the {o['reference']} map" if o["reference"] in ("2024", "2026")
             else f"block pairs ({o['reference']})")
    lines += ["", f"co-assignment of {scope} (B as the truth; both: together in A and B; A only, B only: together "
                  "in one)",
              f"  {'region':<26} {'pairs':>7} {'both':>6} {'A only':>7} {'B only':>7} {'precision':>9} {'recall':>7} "
              f"{'F1':>6} | person-weighted {'precision':>9} {'recall':>7} {'F1':>6}"]
    for r in co.itertuples(index=False):
        name = f"{r.region_name} (overall)" if r.region_ods == "overall" else r.region_name
        lines.append(f"  {name[:26]:<26} {r.pairs:>7,} {r.tp:>6,} {r.fp:>7,} {r.fn:>7,} {_pct(r.precision):>9} "
                     f"{_pct(r.recall):>7} {_pct(r.f1):>6} | {'':15} {_pct(r.precision_persons):>9} "
                     f"{_pct(r.recall_persons):>7} {_pct(r.f1_persons):>6}")
    if co.precision.isna().any() or co.recall.isna().any():
        lines.append("  n/a: nothing to divide by (precision: A puts no such pair together; recall: B puts none "
                     "together)")
    diff = cmp.differences
    if region is not None:
        diff = diff[diff.region_ods == region]
    lines += ["", f"{len(diff)} block(s) placed differently (not in the best match of their A footprint), "
                  f"{diff.people.sum():,.0f} people: {(diff.favours == 'A').sum()} favour A's placement, "
                  f"{(diff.favours == 'B').sum()} B's (net weighted score change of moving them; + favours A)"]
    for r in diff.head(top).itertuples(index=False):
        side = {"A": "favours A", "B": "favours B", "neither": "favours neither"}[r.favours]
        lines.append(f"  {r.name} [{r.code}], {r.people:,.0f} people: A {r.a_footprint}, B {r.b_footprint}; "
                     f"net {r.delta:+.4f} ({side})")
        terms = []
        for label, names in (("favour A", r.favour_a), ("favour B", r.favour_b)):
            shown = ", ".join(f"{t} {getattr(r, 'd_' + t):+.4f}" for t in names.split(";") if t) or "none"
            terms.append(f"{label}: {shown}")
        lines.append("      " + " | ".join(terms))
    if len(diff) > top:
        lines.append(f"  ... and {len(diff) - top} more (see differences.csv with --out)")
    if len(diff):
        ts = cmp.term_summary
        if region is not None:
            net = diff[[f"d_{t}" for t in ts.term]].to_numpy()
            ts = ts.assign(favours_a=(net > 0).sum(axis=0), favours_b=(net < 0).sum(axis=0), delta=net.sum(axis=0))
        ts = ts[(ts.favours_a > 0) | (ts.favours_b > 0)]
        lines += ["", "terms over the differing blocks (blocks it favours A on / B on, summed net weighted change)"]
        lines += [f"  {r.term:<28} {r.favours_a:>4} / {r.favours_b:<4} {r.delta:+.4f}" for r in ts.itertuples()]
    return "\n".join(lines)


def _cmd_compare(args, data_dir) -> int:
    _check_out_folder(args.out)
    wanted = canonical_level(args.level) if args.level else None
    blocks = level_blocks(data_dir)
    sides = [_compare_side(args.a, blocks, wanted), _compare_side(args.b, blocks, wanted)]
    scenario = load_scenario(args.scenario) if args.scenario else None
    params = scenario.params if scenario else MetricParameters()
    level = _compare_level(args, sides, wanted)
    baseline = args.baseline or (scenario.baseline if scenario else DEFAULT_BASELINE)
    if level == "icb2026" and baseline == "2024":
        raise InputFileError("the 2024 map cannot be drawn with today's ICBs (level icb2026) as building blocks: "
                             "use --baseline 2026, or compare at level icb2024, sicbl or place")
    _say(f"loading the {level}-level model ...")
    model = load_model(level, data_dir, baseline=baseline)
    region = _region_of(model, args.region) if args.region else None
    configs, labels, notes = [], [], []
    for spec, (named, pairs, _) in zip((args.a, args.b), sides):
        if named:
            # Official maps and files alike are compared as partitions: contiguity is not the question here.
            configs.append(Configuration(model, *model.map_assignment(named), allow_noncontiguous=True))
            labels.append(f"{named} map")
            notes += [n for n in model.map_notes(named) if n not in notes]
        else:
            configs.append(Configuration.from_mapping(model, pairs, allow_noncontiguous=True, source=spec))
            labels.append(spec)
    if level == "icb2026":
        reference, ref_label = None, "every block on its own"
        notes.append("at level icb2026 the 2024 map cannot be drawn: co-assignment counts every pair of today's ICBs")
    else:
        reference, ref_label = model.map_assignment("2024")[0], "2024"
    cmp = compare(model, configs[0], configs[1], params, reference, labels[0], labels[1], ref_label, notes)
    if args.out:
        csv = dict(index=False, lineterminator="\n")
        files = {"comparison.json": json.dumps(cmp.to_dict(), indent=1),
                 "correspondence.csv": cmp.correspondence.to_csv(**csv),
                 "coassignment.csv": cmp.coassignment.to_csv(**csv),
                 "differences.csv": cmp.differences.to_csv(**csv)}
        written = write_outputs(args.out, files)
        _say("wrote " + ", ".join(str(w) for w in written))
    print(_compare_summary(cmp, configs[0], region))
    return 0


def _progress_printer():
    """Progress for long solves: a tqdm bar on a terminal, nothing in logs."""
    if not sys.stderr.isatty():
        return None
    bar = tqdm(total=100, file=sys.stderr, leave=False, bar_format="{l_bar}{bar}| {desc}")

    def update(message: str, fraction: float) -> None:
        bar.n = int(100 * max(0.0, min(1.0, fraction)))
        bar.set_description_str(message[:60])
        bar.refresh()

    return update


def _cmd_sweep(args, data_dir) -> int:
    bar = None
    if sys.stderr.isatty():
        bar = tqdm(total=0, file=sys.stderr, unit="run", desc="sweep")

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()
        else:
            _say(f"sweep: {done}/{total} runs done")

    try:
        summary = sweep(args.scenario, args.vary, args.out, jobs=args.jobs, seed=args.seed,
                        iterations=args.iterations, time_limit=args.time_limit, data_dir=data_dir,
                        backend=args.backend, scheduler=args.scheduler, progress=progress, restarts=args.restarts)
    finally:
        if bar is not None:
            bar.close()
    print(f"summary: {summary}")
    return 0


def _cmd_tradeoffs(args, data_dir) -> int:
    if not (args.top_k or args.pareto or args.sensitivity):
        raise InputFileError("ask for at least one of --top-k K, --pareto X Y, --sensitivity RUNS")
    scenario = load_scenario(args.scenario)
    model = load_model(scenario.level, data_dir, estuary_links=scenario.estuary_links, progress=_say,
                       baseline=scenario.baseline)
    files, lines = tradeoff_files(scenario, model, top=args.top_k, pareto_terms=args.pareto, points=args.points,
                                  runs=args.sensitivity, spread=args.spread, seed=args.seed)
    written = write_outputs(args.out, files)
    _say(f"wrote {len(written)} files in {args.out}")
    print("\n".join(lines))
    return 0


def _cmd_calibrate(args, data_dir) -> int:
    _check_out_folder(args.out)
    if len(args.decided) not in (1, len(args.scenarios)):
        raise InputFileError(f"--decided names {len(args.decided)} maps for {len(args.scenarios)} scenarios: give one "
                             "map for all, or one per scenario")
    pull = None
    if args.pull != "auto":
        try:
            pull = float(args.pull)
        except ValueError:
            pull = -1.0
        if not pull >= 0:
            raise InputFileError(f"--pull must be 'auto' or a number >= 0, not {args.pull!r}")
    if args.rounds is not None and args.rounds < 1:
        raise InputFileError("--rounds must be 1 or more")
    if args.margin is not None and args.margin < 0:
        raise InputFileError("--margin must be 0 or more")
    terms = [t.strip() for t in args.terms.split(",") if t.strip()] if args.terms else None
    base = args.scenario_out or args.scenarios[0]
    base_text = _read_scenario_text(base)
    base_scenario = load_scenario(base)
    unknown = [k for k in args.drop if k not in base_scenario.constraints]
    if unknown:
        raise InputFileError(f"--drop {unknown[0]}: {base} has no such constraint")
    cases = []
    for i, path in enumerate(args.scenarios):
        scenario = load_scenario(path)
        model = load_model(scenario.level, data_dir, estuary_links=scenario.estuary_links, progress=_say,
                           baseline=scenario.baseline)
        spec = args.decided[i if len(args.decided) > 1 else 0]
        cases.append(decided_map(scenario, model, _decided_configuration(spec, model, data_dir), scenario.name))
    kwargs = {"terms": terms, "oracle": Oracle(seed=args.seed)}
    if args.margin is not None:
        kwargs["margin"] = args.margin
    if args.rounds is not None:
        kwargs["max_rounds"] = args.rounds
    progress = _progress_printer()
    pull_scores = None
    if pull is None:
        if len(cases) >= 2:
            _say("choosing the pull toward the default prices by leave-one-out ...")
            pull, pull_scores = select_pull(cases, progress=progress, **kwargs)
        else:
            pull = float(PULLS[len(PULLS) // 2])
            _say(f"one decided map: the pull cannot be chosen by leave-one-out; using {pull:g}")
    cal = calibrate(cases, pull=pull, progress=progress, **kwargs)
    held = leave_one_out(cases, progress=progress, **kwargs) if args.leave_one_out else ()
    name = args.name or f"Calibrated: {base_scenario.name}"
    description = args.description or (f"{base_scenario.description} Prices learned by icbsim calibrate from "
                                       f"{len(cases)} decided map(s).")
    text = scenario_text(base_text, cal, name, description, drop=args.drop, base_name=str(base))
    files = calibration_files(cal, cases, held, pull_scores, text)
    written = write_outputs(args.out, files)
    _say(f"wrote {len(written)} files in {args.out}")
    print("\n".join(summary_lines(cal, held)))
    return 0


def _gap_by_term_line(rows: list[dict] | None, shown: int = 4) -> str:
    """One line saying where a term-wise bound's gap may lie: the terms whose cost in the answer is furthest above
    the least the bound allows them, then the rest together ("" if there is nothing to say)."""
    rows = [r for r in rows or [] if r["answer"] - r["least"] > 5e-4]
    if not rows:
        return ""
    parts = [f"{r['term']} {r['answer']:.3f} / {r['least']:.3f}" for r in rows[:shown]]
    rest = rows[shown:]
    if rest:
        parts.append(f"{len(rest)} more term{'s' if len(rest) > 1 else ''} "
                     f"{sum(r['answer'] for r in rest):.3f} / {sum(r['least'] for r in rest):.3f}")
    return "where the gap may lie (score in the answer / least the bound allows): " + "; ".join(parts)


def _regions_csv(regions) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, ["region", "region_name", "icbs_today", "footprints", "merges", "margin", "margin_exact",
                             "margin_kind", "runner_up_footprints", "improves", "note"], lineterminator="\n")
    w.writeheader()
    for r in regions:
        d = r.to_dict()
        d["merges"] = "; ".join(d["merges"])
        w.writerow({k: ("" if v is None else v) for k, v in d.items()})
    return buf.getvalue()


def _read_scenario_text(path: str) -> str:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{p}: cannot be read ({exc})") from None


def _decided_configuration(spec: str, model, data_dir) -> Configuration | str:
    """A decided map for ``calibrate``: a named official map, or a file or output folder at the model's level."""
    named, pairs, level = _compare_side(spec, level_blocks(data_dir, [model]), model.level)
    if named is not None:
        return named
    if level != model.level:
        raise InputFileError(f"{spec}: the decided map holds {level} codes, but the scenario's level is {model.level}")
    return Configuration.from_mapping(model, pairs, allow_noncontiguous=True, source=spec)


def _cmd_data(args, data_dir) -> int:
    if args.data_command == "where":
        print(resolve_data_dir(data_dir))
        return 0
    if args.data_command == "check":
        path = resolve_data_dir(data_dir)
        _say(f"checking {path} ...")
        for line in data_summary(path):
            print(line)
        return 0
    if args.data_command == "fetch":
        dest = fetch(args.mirror, args.dest, progress=_say)
        print(f"data ready in {dest}")
        return 0
    _parser().parse_args(["data", "--help"])
    return 2


def _one_line(exc: BaseException) -> str:
    """The message on one line: names read from files (footprints, codes) may hold line breaks."""
    return " ".join(str(exc).splitlines())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``icbsim`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    data_dir = getattr(args, "data_dir", None)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "evaluate":
            return _cmd_evaluate(args, data_dir)
        if args.command in ("optimise", "optimize"):
            return _cmd_optimise(args, data_dir)
        if args.command == "sweep":
            return _cmd_sweep(args, data_dir)
        if args.command == "tradeoffs":
            return _cmd_tradeoffs(args, data_dir)
        if args.command == "compare":
            return _cmd_compare(args, data_dir)
        if args.command == "calibrate":
            return _cmd_calibrate(args, data_dir)
        return _cmd_data(args, data_dir)
    except NoFeasibleConfiguration as exc:  # one conflict a line: several hundred characters on one are unread
        print(f"{_PROG}: error: {_one_line(exc.head)}:", file=sys.stderr)
        for conflict in exc.conflicts:
            print(f"  {_one_line(conflict)}", file=sys.stderr)
        return 2
    except IcbSimError as exc:
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for a user; --debug shows one
        if args.debug or os.environ.get("ICBSIM_DEBUG"):
            raise
        print(f"{_PROG}: internal error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

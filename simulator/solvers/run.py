"""Choose and run the solvers for a scenario (``AutoSolver``): exact where it proves optimality, else local search."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from simulator.configuration import Configuration
from simulator.errors import InputFileError, ScenarioError, TooManyCandidates
from simulator.io import read_configuration_file
from simulator.model import load_model
from simulator.solvers.base import BoundMethod, Problem, Solver, SolverResult, SolverStatus
from simulator.solvers.band_bound import band_bound
from simulator.solvers.bound import enumerated_bound
from simulator.solvers.enumerate import candidate_graph, soft_threshold
from simulator.solvers.exact import ExactSolver, population_cap
from simulator.solvers.gap_terms import gap_by_term
from simulator.solvers.local_search import LocalSearchSolver
from simulator.solvers.neighbourhood import polish
from simulator.solvers.presolve import presolve
from simulator.solvers.regional import RegionalSolver, regional_reason
from simulator.solvers.scan import FootprintScan, count_connected
from simulator.solvers.term_bound import SoftCeiling, term_bound
from simulator.solvers.tree_start import tree_start


def refine(config: Configuration, model, allow_noncontiguous: bool | None = None) -> Configuration:
    """The same footprints on a finer model (each fine block follows its sub-ICB location or ICB).

    Place neighbours are stricter than sub-ICB neighbours (two places must also lie in neighbouring councils),
    so a refined footprint can fall into pieces: pass ``allow_noncontiguous=True`` to get it anyway (and
    ``mend_pieces`` to join the pieces to their neighbours).
    """
    coarse = config.model
    key = {"sicbl": "sicbl_code", "icb2024": "icb24_code", "icb2026": "icb26_code"}[coarse.level]
    of = dict(zip(coarse.blocks.code, config.assignment))
    assignment = np.array([of[c] for c in model.blocks[key]], dtype=np.int64)
    allow = config.allow_noncontiguous if allow_noncontiguous is None else allow_noncontiguous
    return Configuration(model, assignment, list(config.names), allow_noncontiguous=allow)


def mend_pieces(config: Configuration) -> Configuration:
    """Hand each detached piece of a footprint to the neighbouring footprint it shares most borders with.

    The largest piece (by blocks) keeps the footprint's name; footprints left empty disappear. The result may
    still break other rules (a ceiling, say): callers check it.
    """
    m = config.model
    a_e, b_e = m.edges.a.to_numpy(), m.edges.b.to_numpy()
    assignment = config.assignment.copy()
    for _ in range(20):
        same = assignment[a_e] == assignment[b_e]
        g = sp.csr_matrix((np.ones(int(same.sum())), (a_e[same], b_e[same])), shape=(m.n_blocks, m.n_blocks))
        _, piece = connected_components(g, directed=False)
        changed = False
        for f in np.unique(assignment):
            members = np.flatnonzero(assignment == f)
            labels, sizes = np.unique(piece[members], return_counts=True)
            for lab in labels[np.argsort(-sizes, kind="stable")][1:]:
                blocks = set(np.flatnonzero(piece == lab).tolist())
                border = [assignment[v] for u in blocks for v in m.neighbours[u] if v not in blocks]
                border = [x for x in border if x != f]
                if border:
                    target = np.bincount(border).argmax()
                    assignment[list(blocks)] = target
                    changed = True
        if not changed:
            break
    used = np.unique(assignment)
    renumber = np.full(int(assignment.max()) + 1, -1)
    renumber[used] = np.arange(len(used))
    return Configuration(m, renumber[assignment], [config.names[f] for f in used], allow_noncontiguous=True)


def start_configuration(scenario, model) -> Configuration:
    """The scenario's ``[start]``: today's ICBs, a file, or footprints listed in the scenario."""
    kind, value = scenario.start
    if kind == "baseline":
        return Configuration.baseline(model)
    if kind == "file":
        pairs, level = read_configuration_file(value)
        if level == "icb" and model.level in ("icb2024", "icb2026"):
            level = model.level  # ICB codes name either map's ICBs: unknown ones are named below
        if level != model.level:
            raise InputFileError(f"{value}: holds {level} codes but the scenario's level is {model.level}")
    else:
        pairs = value
    return Configuration.from_mapping(model, pairs, allow_noncontiguous=scenario.allow_noncontiguous,
                                      source=f"{scenario.name} [start]")


def default_iterations(level: str) -> int:
    """Local-search moves when not given: 200,000 at place level (about a minute, and the answer is about 3%
    better than after 20,000 once polished), 20,000 elsewhere (where the local search only polishes)."""
    return 200_000 if level == "place" else 20_000


RESTART_BLOCKS = 120
"""``auto`` restarts the local search where a problem has at most this many free blocks (a region at place
level: 52-74 places), and runs it once above (England: 328 places, about two minutes a run)."""


def default_restarts(problem: Problem) -> int:
    """Local searches ``auto`` runs: 4 where there are at most ``RESTART_BLOCKS`` free blocks, else 1.

    The place-level local search ends in a different local optimum for each seed. Measured on the regional
    place scenarios, seeds 0-3: the East of England's answers span 3.0974-3.1041, the South East's 3.2486-3.2517
    and the Midlands' 2.6824-2.6993, at 11-25 s a run; the best of four beat seed 0 in all three.
    """
    return 4 if problem.model.level == "place" and int(problem.free_blocks.sum()) <= RESTART_BLOCKS else 1


def restart_seeds(seed: int, restarts: int) -> list[int]:
    """The seeds of ``restarts`` local searches: ``seed`` itself first (one run is the same as before), then
    seeds drawn from it (so that runs with neighbouring seeds do not share restarts)."""
    extra = np.random.SeedSequence(seed).generate_state(max(0, restarts - 1), dtype=np.uint32)
    return [int(seed)] + [int(x) for x in extra]


def _restarted_local_search(problem: Problem, start: Configuration, seed: int, time_limit: float | None,
                            iterations: int, restarts: int, polished: bool, progress) -> Solver:
    """The best of ``restarts`` local searches from ``start`` (each polished if ``polished``); ties go to the
    earlier seed. The time limit is shared out evenly between the runs still to go."""
    report = progress or (lambda msg, frac: None)
    seeds = restart_seeds(seed, restarts)
    best, runs, spent = None, [], 0.0
    stages = {"local_search": 0.0, "polish": 0.0} if polished else {"local_search": 0.0}
    # One block at a time cannot cut a footprint above a hard ceiling that stands alone as one of today's ICBs
    # (every move leaves the rest above the ceiling, which only a whole ICB may be): where the band prices it,
    # every other restart starts from a draw of recursive spanning-tree cuts instead, whose footprints keep under
    # the ceiling.
    drawn = restarts > 1 and _above_the_ceiling_alone(problem, start)
    for r, run_seed in enumerate(seeds):
        left = None if time_limit is None else (time_limit - spent) / (restarts - r)
        if left is not None and left <= 0:
            break

        def prog(msg: str, frac: float, r: int = r) -> None:
            report(msg if restarts == 1 else f"run {r + 1} of {restarts}: {msg}", (r + frac) / restarts)

        run_start, how = start, "the start"
        if drawn and r % 2 == 1:
            tree = tree_start(problem, seed=run_seed)
            if tree is not None:
                run_start, how = tree, "spanning-tree cuts"
        s = LocalSearchSolver(problem, seed=run_seed, time_limit=left, start=run_start, iterations=iterations,
                              progress=prog)
        s.solve()
        stages["local_search"] += s.runtime_
        if polished and s.configuration_ is not None:
            # Moves of one block miss improvements that need several places to move at once.
            rest = None if left is None else max(0.0, left - s.runtime_)
            better, stats = polish(problem, s.configuration_, time_limit=rest, progress=prog)
            s.stats_["polish"] = stats
            s.runtime_ += stats.get("seconds", 0.0)
            stages["polish"] += stats.get("seconds", 0.0)
            if stats["objective_after"] < s.objective_:
                s.configuration_, s.objective_ = better, stats["objective_after"]
        spent += s.runtime_
        runs.append({"seed": run_seed, "objective": s.objective_, "seconds": round(s.runtime_, 3)}
                    | ({"start": how} if drawn else {}))
        if best is None or (s.objective_ is not None and (best.objective_ is None
                                                          or s.objective_ < best.objective_ - 1e-12)):
            best = s
    best.runtime_ = spent
    best.timings_ = stages  # every run's stages: together they took the runtime
    if restarts > 1:
        best.stats_["restarts"] = runs
        best.stats_["best_seed"] = best.seed
        best.seed = int(seed)  # the run's seed, from which every restart's is drawn
    return best


def _above_the_ceiling_alone(problem: Problem, config: Configuration) -> bool:
    """Whether ``config`` has a footprint of free blocks above a hard ceiling (one of today's ICBs standing alone)
    that the band prices."""
    c = problem.constraints.ceiling
    if c is None or not c.hard or not problem.params.weights.get("population_band", 0.0):
        return False
    people = np.bincount(config.assignment, weights=problem.population)
    free = problem.free_blocks
    return any(people[k] > c.value and free[config.assignment == k].all() for k in np.flatnonzero(people > c.value))


PLACE_EXACT_SOFT_LIMIT = 50_000
"""Under a soft ceiling, ``auto`` at place level tries the exact solver only up to this many candidates under the
band's ceiling (the London backtest has 15,422; England 77,923)."""
PLACE_EXACT_LIMIT = 500_000
"""``auto`` at place level tries the exact solver when there are at most this many candidate footprints.

Regional place scenarios in London, the South West and North East and Yorkshire have about 15,000-200,000
connected place footprints under 2.5m and are proven optimal in seconds; the other regions, and England, have
more than 100 million (tiny places make the count explode), so ``auto`` stops counting here (about half a second)
and uses the local search.
"""


PLACE_PROOF_LIMIT = 150_000_000
"""``auto`` at place level proves the local search's answer (or improves it) by exactly priced column generation
(``simulator.solvers.bound``) when there are at most this many candidate footprints to walk: the North West's
116 million take about 11 s a walk on two cores. The East of England, the Midlands, the South East and England
have billions; counting stops here (about 4-8 s on two cores, before the local search, which then restarts:
:func:`default_restarts`) and the answer is reported with the term-wise bound.
"""


_PROOF_MIN_S = 15.0  # counting alone can take 10 s, and a walk of the North West about as long


class AutoSolver(Solver):
    """Solve a scenario with the solvers that suit it (``icbsim optimise --solver auto``).

    ``auto``: the exact solver at ICB and sub-ICB level (within ``time_limit``, reporting the gap if it cannot
    prove optimality in time); at place level, the exact solver too when there are at most ``PLACE_EXACT_LIMIT``
    candidate footprints, otherwise a local search warm-started from the sub-ICB answer and polished by exact
    exchanges and pair re-draws (``simulator.solvers.neighbourhood``), restarted where no proof follows, then
    bounded: the walked proof where the candidates can be walked, else the term-wise bound.

    Parameters
    ----------
    scenario
        The parsed scenario (its start, and its sub-ICB version for the place-level warm start).
    model
        The model of the scenario's level.
    solver
        ``auto``; or ``exact`` or ``local_search`` to run that solver alone (with ``restarts``, if given).
    seed, time_limit, progress
        As for every solver; the time limit is one budget for every stage.
    iterations
        Local-search moves; defaults to ``default_iterations(model.level)``.
    data_dir
        Data directory of the sub-ICB model (for the warm start); defaults to the model's.
    restarts
        Local searches from the same start with different seeds (derived from ``seed``), the best kept;
        defaults to :func:`default_restarts` under ``auto`` and 1 otherwise. A time limit is shared between them.

    Attributes
    ----------
    solver_
        After ``solve()``: the solver whose answer was kept (an ``ExactSolver`` or ``LocalSearchSolver``, refined
        by the later stages). Its attributes, mirrored on this object, and ``solution_dict()`` describe the run.
    """

    name = "auto"

    def __init__(self, scenario, model, solver: str = "auto", seed: int = 0, time_limit: float | None = None,
                 iterations: int | None = None, data_dir=None, progress=None, restarts: int | None = None):
        if iterations is None:
            iterations = default_iterations(model.level)
        if iterations < 0:
            raise ScenarioError(f"iterations must be 0 or more (got {iterations})")
        if time_limit is not None and not time_limit > 0:
            raise ScenarioError(f"the time limit must be a positive number of seconds (got {time_limit})")
        if restarts is not None and restarts < 1:
            raise ScenarioError(f"restarts must be 1 or more (got {restarts})")
        problem = Problem.from_scenario(scenario, model, start=start_configuration(scenario, model))
        super().__init__(problem, seed, time_limit, progress)
        self.scenario, self.model, self.solver = scenario, model, solver
        self.iterations, self.data_dir, self.restarts = iterations, data_dir, restarts
        self._report = progress  # handed on as given: the stages tell None from a callback themselves
        self.solver_: Solver | None = None

    def solve(self) -> SolverResult:
        """Run the stages; the result is the kept solver's (``solver_.result_``)."""
        s = self._run()
        result = s.finish()
        self.solver_ = s
        for attr in ("configuration_", "objective_", "bound_", "bound_method_", "gap_", "status_",
                     "explanation_", "runtime_", "timings_", "stats_", "seed"):
            setattr(self, attr, getattr(s, attr))
        self.result_ = result
        return result

    def solution_dict(self) -> dict:
        """What ``solution.json`` records: the kept solver's (``solver`` names it)."""
        return self.solver_.solution_dict() if self.solver_ is not None else super().solution_dict()

    def _run(self) -> Solver:
        """The stages, as chosen for the problem; returns the solver holding the answer."""
        problem, model, solver, seed = self.problem, self.model, self.solver, self.seed
        time_limit, iterations, progress = self.time_limit, self.iterations, self._report
        t = time.perf_counter()
        conflicts = presolve(problem)
        if conflicts:  # infeasible at this level whatever the search: say why at once
            s = (LocalSearchSolver if solver == "local_search" else ExactSolver)(problem, seed=seed)
            s.status_, s.explanation_, s.stats_["presolve"] = SolverStatus.INFEASIBLE, conflicts, "infeasible"
            s.runtime_ = time.perf_counter() - t
            s.add_time("presolve", s.runtime_)
            return s
        big_max_moved = problem.constraints.max_moved is not None and model.level not in ("icb2024", "icb2026")
        if solver == "exact" or (solver == "auto" and model.level in ("icb2026", "icb2024", "sicbl")
                                 and not big_max_moved):
            return _exact(problem, solver, seed, time_limit, iterations, progress)
        skipped, regional = {}, None
        began = time.perf_counter()
        if solver == "regional" or (solver == "auto" and model.level == "place" and _regions_decouple(problem)):
            # Footprints stay within NHS regions: each region solved exactly per number of footprints and the
            # counts combined give England's best (and a bound that prices the band) in seconds, where England's
            # candidates at place level are too many for one exact solve.
            s = RegionalSolver(self.scenario, model, problem=problem, seed=seed, time_limit=time_limit,
                               progress=progress)
            s.solve()
            if s.configuration_ is not None or s.status_ is SolverStatus.INFEASIBLE or solver == "regional":
                return s
            skipped = {"regional_not_used": f"the regional solve found no configuration "
                                            f"({'; '.join(s.explanation_)})",
                       "exact_attempt_s": round(time.perf_counter() - began, 3)}
            regional = s

        def left() -> float | None:
            """What is left of the time limit (at least a second, so that every stage runs)."""
            return None if time_limit is None else max(1.0, time_limit - (time.perf_counter() - began))

        if solver == "auto" and model.level == "place" and problem.constraints.contiguity and not skipped:
            # Count first, by the compiled walk over the graph the exact solver enumerates (each group kept whole
            # one node): a few milliseconds, where enumerating up to the limit in Python takes seconds.
            graph = candidate_graph(problem)
            cap = population_cap(problem)
            counted_nodes = count_connected(graph.contraction.neighbours, graph.weight, cap, PLACE_EXACT_LIMIT)
            try:
                if counted_nodes > PLACE_EXACT_LIMIT:
                    raise TooManyCandidates(
                        f"more than {PLACE_EXACT_LIMIT:,} candidate footprints at place level (of at most "
                        f"{cap:,.0f} people, each group kept whole taken as one block)")
                if soft_threshold(problem) is not None and counted_nodes > PLACE_EXACT_SOFT_LIMIT:
                    # Past a soft ceiling the candidates multiply (England: 78,000 under 2.5m, 2.7 million under
                    # 3.75m) and the set partitioning finds no first answer in minutes: the local search does.
                    raise TooManyCandidates(
                        f"{counted_nodes:,} candidate footprints under the band's ceiling at place level, and the "
                        f"ceiling is soft: above {PLACE_EXACT_SOFT_LIMIT:,} the local search is used")
                # With a soft ceiling the exact solver lifts its cap as far as the answer needs (or reports how
                # far its proof reaches), so its answer stands whatever the ceiling.
                s = _exact(problem, solver, seed, time_limit, iterations, progress, max_candidates=PLACE_EXACT_LIMIT)
                if s.configuration_ is not None or s.status_ is SolverStatus.INFEASIBLE:
                    return s
                # The set partitioning found no configuration in its time (nor proved there is none): the local
                # search below finds one.
                skipped = {"exact_not_used": f"the exact solver found no configuration in time "
                                             f"({'; '.join(s.explanation_)})",
                           "exact_attempt_s": round(time.perf_counter() - began, 3)}
            except TooManyCandidates as e:
                skipped = {"exact_not_used": str(e), "exact_attempt_s": round(time.perf_counter() - began, 3)}
        start = problem.start
        warm_s = 0.0
        if solver == "auto" and model.level == "place":
            t = time.perf_counter()
            start = sicbl_warm_start(self.scenario, model, problem, seed, left(), progress, self.data_dir) or start
            warm_s = time.perf_counter() - t
        counted = None
        restarts = self.restarts
        if restarts is None:
            restarts = default_restarts(problem) if solver == "auto" else 1
            if restarts > 1 and _proof_may_run(problem, solver, left()):
                # Where the candidates can be walked, the proof finds the best answer whatever the local
                # search's: count them first, and restart the local search only where the proof cannot follow.
                # (With a soft ceiling the start's objective sets the walk's cap: the answer's can only be lower.)
                counted = _count(problem, _walk_cap(problem, problem.objective(start.assignment)))
                if counted[1] <= PLACE_PROOF_LIMIT:
                    restarts = 1
        s = _restarted_local_search(problem, start, seed, left(), iterations, restarts,
                                    polished=solver == "auto" and model.level == "place", progress=progress)
        s.stats_.update(skipped)
        s.runtime_ += skipped.get("exact_attempt_s", 0.0) + (counted[2] if counted else 0.0) + warm_s
        for stage, seconds in (("exact_attempt", skipped.get("exact_attempt_s", 0.0)), ("warm_start", warm_s),
                               ("count", counted[2] if counted else 0.0)):
            if seconds:
                s.add_time(stage, seconds)
        if model.level == "place" and s.configuration_ is not None:
            _term_bound(problem, s)
            if regional is not None:
                _by_regions(regional, s)
            if _proof_may_run(problem, solver, None):
                _prove(problem, s, None if time_limit is None else max(0.0, time_limit - (time.perf_counter() - began)),
                       progress, counted)
            if s.bound_method_ in (BoundMethod.TERM_WISE, BoundMethod.BAND):
                _gap_by_term(problem, s)
        return s


def optimise(scenario, model, solver: str = "auto", seed: int = 0, time_limit: float | None = None,
             iterations: int | None = None, data_dir=None, progress=None, restarts: int | None = None) -> Solver:
    """Solve ``scenario`` on ``model`` with :class:`AutoSolver` and return the solver that holds the answer.

    The parameters are :class:`AutoSolver`'s. The solver returned is an ``ExactSolver`` or ``LocalSearchSolver``
    (``name`` says which) with its attributes and ``result_`` (the :class:`SolverResult`) final.
    """
    auto = AutoSolver(scenario, model, solver=solver, seed=seed, time_limit=time_limit, iterations=iterations,
                      data_dir=data_dir, progress=progress, restarts=restarts)
    auto.solve()
    return auto.solver_


def _term_bound(problem: Problem, s: Solver) -> None:
    """Give a place-level answer the term-wise bound (``simulator.solvers.term_bound``), with the band, people
    moved and ICBs split bounded together where that is higher (``simulator.solvers.band_bound``): under a second
    and always valid, if wide; the exact proof replaces it when it does better. With a soft ceiling it is taken
    over the footprints a configuration as good as the answer can hold (:class:`SoftCeiling`): any other scores
    more than the answer, which is above the bound anyway."""
    t = time.perf_counter()
    cap = None if _ceiling_is_hard(problem) else _walk_cap(problem, s.objective_)
    tb = term_bound(problem, cap=cap)
    bb = band_bound(problem, cap=cap, terms=tb)
    s.runtime_ += time.perf_counter() - t
    s.add_time("term_bound", time.perf_counter() - t)
    _set_bound(s, bb.bound, BoundMethod.BAND if bb.bound > tb.bound else BoundMethod.TERM_WISE)
    s.stats_["term_bound"] = {k: round(v, 6) for k, v in tb.parts.items()}
    if bb.bound > tb.bound:
        s.stats_["band_bound"] = {k: round(v, 6) for k, v in bb.parts.items()}


def _gap_by_term(problem: Problem, s: Solver) -> None:
    """Where the answer's gap may lie, term by term (``simulator.solvers.gap_terms``), when its bound is the
    term-wise one (with the band or not): ``stats.gap_by_term``, largest first."""
    parts = s.stats_["band_bound" if s.bound_method_ is BoundMethod.BAND else "term_bound"]
    s.stats_["gap_by_term"] = [{"term": r.term, "answer": round(r.answer, 6), "least": round(r.least, 6)}
                               for r in gap_by_term(problem, s.configuration_.assignment, parts)]


def _by_regions(regional: RegionalSolver, s: Solver) -> None:
    """Where the regions decouple but not every region could be solved exactly: swap into the answer each region's
    proven best at the answer's count there (where it scores lower), and bound the answer by the regions' table
    (each region's proven best, or its term-wise and band bound, combined over the counts that add up)."""
    t = time.perf_counter()
    config, swapped = regional.improve(s.configuration_)
    if swapped:
        s.configuration_, s.objective_ = config, regional.problem.objective(config.assignment)
        s.stats_["regions_swapped_for_their_proven_best"] = swapped
    _, change = regional.combine("bound")
    if np.isfinite(change):
        if s.bound_ is not None:
            s.set_bound(min(s.bound_, s.objective_), s.bound_method_)  # against the better answer
        _set_bound(s, regional.today_ + change, BoundMethod.REGIONAL)
    s.runtime_ += time.perf_counter() - t
    s.add_time("regions", time.perf_counter() - t)


def _set_bound(s: Solver, bound: float, method: BoundMethod) -> None:
    """Keep ``bound`` if it beats the solver's (never above its objective), with the gap and how it was proven."""
    if s.bound_ is not None and bound <= s.bound_:
        return
    s.set_bound(min(bound, s.objective_), method)


def _walk_cap(problem: Problem, objective: float) -> float:
    """The most people a footprint walked for a proof may hold: the population cap; with a soft ceiling, as many
    as a footprint of a configuration scoring no more than ``objective`` can hold (:class:`SoftCeiling`)."""
    if _ceiling_is_hard(problem):
        return population_cap(problem)
    soft = SoftCeiling(problem)
    return soft.real_cap(soft.cap_for(objective))


def _cap_can_hold(problem: Problem) -> bool:
    """Whether footprints under the band's ceiling could hold the free blocks in as many footprints as the
    scenario allows (if not, only a soft ceiling's excess makes it feasible, and the exact solver, whose
    candidates stop at the ceiling, would spend its time proving that it is not)."""
    c = problem.constraints
    if _ceiling_is_hard(problem) or not c.n_footprints:
        return True
    most = c.n_footprints[1] - len(c.locked)
    return most > 0 and float(problem.population[problem.free_blocks].sum()) <= most * population_cap(problem)


def _regions_decouple(problem: Problem) -> bool:
    """Whether the regional solver applies (footprints within NHS regions, see
    ``simulator.solvers.regional``) and more than one region is free (with one, the exact solver is the same)."""
    if regional_reason(problem) is not None:
        return False
    region = problem.model.blocks.region_ods.to_numpy()
    return len(set(region[problem.free_blocks])) > 1


def _ceiling_is_hard(problem: Problem) -> bool:
    """Whether no footprint may pass the population ceiling (today's ICBs standing alone aside): then the
    candidates under it are every candidate."""
    c = problem.constraints.ceiling
    return c is None or c.hard


def _proof_may_run(problem: Problem, solver: str, time_limit: float | None) -> bool:
    """Whether ``auto`` will try to prove a place-level answer (contiguity on, and time enough to count)."""
    return (solver == "auto" and problem.model.level == "place" and problem.constraints.contiguity
            and (time_limit is None or time_limit >= _PROOF_MIN_S))


def _count(problem: Problem, cap: float | None = None) -> tuple["FootprintScan", int, float]:
    """The problem's walk of candidate footprints (under ``cap`` people, default the population cap), how many
    there are (counting stops past ``PLACE_PROOF_LIMIT``), and the seconds the count took."""
    t = time.perf_counter()
    scan = FootprintScan(problem, cap=cap)
    count = scan.count(PLACE_PROOF_LIMIT)
    return scan, count, time.perf_counter() - t


def _prove(problem: Problem, s: Solver, time_limit: float | None, progress,
           counted: tuple["FootprintScan", int, float] | None = None) -> None:
    """Bound the local search's answer by exactly priced column generation, where the candidates can be walked;
    a proven optimum replaces the answer (status ``optimal``), otherwise the bound gives the gap. ``counted``:
    :func:`_count`'s result, if the candidates were counted already."""
    if time_limit is not None and time_limit < _PROOF_MIN_S:
        s.stats_["proof_not_run"] = (f"the time limit left {time_limit:.0f} s, too little to count and walk the "
                                     "candidate footprints for a proof")
        return
    t = time.perf_counter()
    cap = _walk_cap(problem, s.objective_)
    if counted is not None and counted[0].cap != cap:
        counted = None  # counted under a soft ceiling for the start's objective: the answer's cap is lower
    scan, count, _ = counted or _count(problem, cap)
    if not _ceiling_is_hard(problem):
        s.stats_["proof_population_cap"] = round(scan.cap)
    if count > PLACE_PROOF_LIMIT:
        s.stats_["proof_not_run"] = (f"more than {PLACE_PROOF_LIMIT:,} candidate footprints: too many to price "
                                     "exactly; the bound is the term-wise one, or the regions' where they "
                                     "decouple (see docs/solvers.md)")
        s.runtime_ += time.perf_counter() - t
        s.add_time("count", time.perf_counter() - t)
        return
    report = progress or (lambda msg, frac: None)
    left = None if time_limit is None else time_limit - (time.perf_counter() - t)
    proof = enumerated_bound(problem, s.configuration_, time_limit=left, candidates=count, scan=scan,
                             progress=report)
    s.runtime_ += time.perf_counter() - t
    s.add_time("proof", time.perf_counter() - t)
    s.stats_["proof"] = {**proof.stats, "candidates": count, "converged": proof.converged,
                         "proven_optimal": proof.proven_optimal}
    if proof.objective < s.objective_:
        s.configuration_, s.objective_ = proof.configuration, proof.objective
        if s.bound_ is not None:  # the term-wise bound's gap, against the better answer
            s.set_bound(min(s.bound_, s.objective_), s.bound_method_)
    if proof.bound is not None:
        _set_bound(s, proof.bound, BoundMethod.WALKED_PROOF)
    if proof.proven_optimal:
        s.status_ = SolverStatus.OPTIMAL


def _exact(problem: Problem, solver: str, seed: int, time_limit: float | None, iterations: int, progress,
           **options) -> Solver:
    """The exact solver; under ``auto``, an answer it cannot prove in time is polished by the local search."""
    s = ExactSolver(problem, seed=seed, time_limit=time_limit, progress=progress, **options)
    s.solve()
    if s.configuration_ is not None and s.status_ is not SolverStatus.OPTIMAL and solver == "auto":
        # Polish an unproven answer with the local search, keeping the exact solver's bound, which holds over
        # every configuration (with a soft ceiling too: see ExactSolver._cover).
        ls = LocalSearchSolver(problem, seed=seed, start=s.configuration_, iterations=iterations,
                               progress=progress)
        ls.solve()
        s.runtime_ += ls.runtime_
        s.add_time("local_search", ls.runtime_)
        s.stats_["local_search_s"] = round(ls.runtime_, 3)
        if ls.objective_ < s.objective_:
            s.configuration_, s.objective_ = ls.configuration_, ls.objective_
            s.stats_["polished_by_local_search"] = True
            s.set_bound(s.bound_, s.bound_method_)  # the exact solver's bound, against the better answer
    return s


def sicbl_warm_start(scenario, model, problem: Problem, seed: int = 0, time_limit: float | None = None,
                     progress=None, data_dir=None) -> Configuration | None:
    """The sub-ICB answer refined to places (detached pieces mended), if it breaks no hard rule."""
    coarse = load_model("sicbl", data_dir or model.data_dir, estuary_links=model.estuary_links,
                        baseline=model.baseline)
    coarse_problem = Problem.from_scenario(scenario, coarse, start=Configuration.baseline(coarse))
    if not _cap_can_hold(coarse_problem):
        return None  # no configuration under the ceiling: a start is not worth lifting a soft one for
    try:
        warm = ExactSolver(coarse_problem, seed=seed, time_limit=time_limit and time_limit / 2,
                           progress=progress, explain=False)
        warm.lifts_soft_ceiling = False  # a start, not an answer: footprints under the band's ceiling will do
        warm = warm.solve()
    except ScenarioError:  # e.g. max_moved on too many candidates: start from the scenario's start instead
        return None
    if warm.configuration is None:
        return None
    candidate = refine(warm.configuration, model, allow_noncontiguous=True)
    if candidate.noncontiguous_footprints() and problem.constraints.contiguity:
        candidate = mend_pieces(candidate)
    if problem.violations(candidate):
        return None
    return Configuration(model, candidate.assignment, candidate.names,
                         allow_noncontiguous=not problem.constraints.contiguity)

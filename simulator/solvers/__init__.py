"""Optimisers behind one interface: configure, ``solve()`` for a ``SolverResult``, or read the attributes."""

from simulator.solvers.base import BoundMethod, Problem, RestartRun, Solver, SolverResult, SolverStatus, gap
from simulator.solvers.exact import ExactSolver
from simulator.solvers.local_search import LocalSearchSolver

SOLVERS = {"exact": ExactSolver, "local_search": LocalSearchSolver}

__all__ = ["Problem", "Solver", "SolverResult", "SolverStatus", "BoundMethod", "RestartRun", "gap", "ExactSolver",
           "LocalSearchSolver", "SOLVERS"]

"""Optimisers behind one interface: configure, ``solve()``, read results from attributes."""

from simulator.solvers.base import Problem, Solver
from simulator.solvers.exact import ExactSolver
from simulator.solvers.local_search import LocalSearchSolver

SOLVERS = {"exact": ExactSolver, "local_search": LocalSearchSolver}

__all__ = ["Problem", "Solver", "ExactSolver", "LocalSearchSolver", "SOLVERS"]

"""Imports: every module imports on its own, module imports form no cycle, and imports live at the module top."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("simulator", "boundaries")

LOCAL_REASON = "# local:"
"""What a function-local import's comment starts with (on its line or the line above): why it is not at the top."""


def _modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


# Third-party libraries loaded once by the parent before it forks a child per module: each child still imports
# every project module afresh, which is what shows a cycle, without paying for numpy and friends 51 times.
_RUNNER = textwrap.dedent("""
    import importlib, os, sys, traceback
    for lib in ("numpy", "pandas", "scipy.sparse", "scipy.sparse.csgraph", "scipy.optimize", "networkx", "shapely",
                "pyproj", "geopandas", "highspy", "numba", "tqdm", "tomli_w"):
        try:
            importlib.import_module(lib)
        except ImportError:
            pass
    assert not any(m.split(".")[0] in ("simulator", "boundaries") for m in sys.modules)
    failed = []
    for name in sys.argv[1:]:
        pid = os.fork()
        if pid == 0:
            try:
                importlib.import_module(name)
            except BaseException:
                sys.stderr.write(f"--- import {name} failed:\\n{traceback.format_exc()}")
                sys.stderr.flush()
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            failed.append(name)
    print("failed:", " ".join(failed))
    sys.exit(1 if failed else 0)
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the runner forks a fresh process per module (POSIX only)")
def test_every_module_imports_first_in_a_fresh_process():
    """Each module imported first, in a process of its own where no project module is loaded yet: a module that
    only imports when another one happens to be loaded first (the sign of an import cycle) fails here."""
    names = sorted(_modules())
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", _RUNNER, *names], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def _imported_modules(node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> set[str]:
    """The project modules an import statement names (``from a import b`` names ``a``, and ``a.b`` if a module)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in known}
    if node.level or node.module is None:
        raise AssertionError(f"relative import at line {node.lineno}: the project uses absolute imports")
    # ``from package import submodule`` depends on the submodule (the package is its parent, loaded anyway).
    out = {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known}
    if node.module in known and any(f"{node.module}.{a.name}" not in known for a in node.names):
        out.add(node.module)
    return out


def test_module_imports_form_no_cycle():
    """The graph of every import statement between project modules, local ones included, has no cycle."""
    known = _modules()
    graph = {name: set() for name in known}
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[name] |= _imported_modules(node, known) - {name}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def _nested_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports not at the module's top level: in a function, or under a module-level ``if``, ``with`` or loop.

    A module-level ``try: import x / except ImportError`` (an optional module) counts as top level; so do
    ``if sys.version_info ...:`` and ``if TYPE_CHECKING:`` at module level.
    """
    out = []

    def conditional_top(node: ast.AST) -> bool:
        if isinstance(node, ast.Try):
            return True
        return isinstance(node, ast.If) and any(word in ast.unparse(node.test)
                                                for word in ("version_info", "TYPE_CHECKING"))

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                if nested:
                    out.append(child)
            elif not nested and conditional_top(child):
                visit(child, False)
            else:
                visit(child, nested or isinstance(child, ast.stmt))

    visit(tree, False)
    return out


def test_local_imports_say_why():
    """Every import below the module top carries a ``# local: why`` comment (a heavy optional dependency, say),
    on its line or the line above; everything else is imported at the top, where cycles and costs show."""
    files = [p for p in _modules().values()] + [ROOT / "app.py"]
    unexplained = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in _nested_imports(ast.parse(text)):
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if LOCAL_REASON not in here and not above.startswith(LOCAL_REASON):
                unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}: {here.strip()}")
    assert not unexplained, ("imports below the module top without a '# local: why' comment (move them to the "
                             "top, or say why they stay):\n" + "\n".join(unexplained))

"""No import cycle inside ``jaxsnn``: every module's imports of the package form a DAG.

Function-level (deferred) imports count: a cycle hidden inside a function still ties two modules
together, and it is what let the optimizer registry sit below the optimizers it registers.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jaxsnn"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str, modules: set[str]) -> bool:
    """A source module of the package, or a compiled one (the FFI kernels' extension, which an
    editable install keeps outside the source tree)."""
    if name in modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def imported(tree: ast.AST, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The ``jaxsnn`` modules a module imports (``from a import b`` counts ``a.b`` where that is a
    module, else ``a``; compiled modules import nothing back)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}", modules) else base)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported(ast.parse(p.read_text()), module_name(p), p.name == "__init__.py", modules)
            for p in paths}  # fmt: skip


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one (depth-first search)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_package_has_no_import_cycle():
    found = cycles(import_graph())
    assert found == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = import_graph()
    graph["jaxsnn.hpo.space"] = {*graph["jaxsnn.hpo.space"], "jaxsnn.hpo.study"}  # study imports space
    assert any({"jaxsnn.hpo.space", "jaxsnn.hpo.study"} <= set(c) for c in cycles(graph))


def test_a_worker_imports_its_objective_and_the_study_without_jax():
    """A process-pool worker or a driver imports the executor, the study, the loop and the user's
    objective module; none of them may pull in JAX, NumPyro or SciPy through a package ``__init__``
    (eager re-exports there cost every worker process about 2.6 s of imports). The lazy names
    still resolve."""
    probe = ("import sys, jaxsnn.hpo.executors, jaxsnn.hpo.study, jaxsnn.hpo.loop, jaxsnn.record, tests.hpo_workers; "
             "print(sorted(m for m in ('jax', 'numpyro', 'scipy') if m in sys.modules)); "
             "from jaxsnn.hpo import make_optimizer; from jaxsnn import lif_scan; print(callable(make_optimizer), 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         cwd=PACKAGE.parent, check=True).stdout.split("\n")
    assert out[:2] == ["[]", "True True"], out

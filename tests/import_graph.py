"""rftlib's import graph, read from the source with ``ast`` (nothing is imported), and its cycles.

An edge A -> B means that running module A can import module B:

- every ``import`` / ``from ... import`` statement in A, at module level or inside a function (a lazy
  import is still a dependency of A's layer); ``from pkg import name`` points at the module
  ``pkg.name`` when there is one, else at ``pkg`` (its ``__init__``, also from one of its own modules);
- importing ``a.b.c`` from outside the package ``a.b`` first runs ``a/b/__init__.py``: an edge to
  each package entered that way (``rftlib.runs.config`` importing ``rftlib.training.objectives`` depends on
  ``rftlib/training/__init__.py`` too). A module inside a package does not get an edge to it: the
  package is already being imported when its modules are.

Not edges: imports under ``if TYPE_CHECKING:`` (never run), and names a package exports lazily by
``importlib.import_module`` in a PEP 562 ``__getattr__`` (loaded when the name is looked up, never when
the package is imported; ``rftlib/__init__.py`` exports its public API that way).
"""
from __future__ import annotations

import ast
from collections import deque
from pathlib import Path


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``package_dir`` (a package's name is
    its ``__init__.py``'s)."""
    package_dir = Path(package_dir)
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules) -> list[str]:
    """The dotted names an import statement loads: ``from pkg import a`` loads the submodule ``pkg.a``
    when there is one, else ``pkg``; ``import a.b`` loads ``a.b``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: level 1 is the module's own package
        package = (module if is_package else module.rpartition(".")[0]).split(".")
        source = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    return [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names]


def import_graph(package_dir: Path) -> dict[str, dict[str, int]]:
    """module -> {imported module of the same package: line of an import that makes the edge}."""
    modules = module_files(package_dir)
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skipped = _type_checking_only(tree)
        edges: dict[str, int] = {}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in skipped:
                continue
            for name in _imported(module, path.name == "__init__.py", node, modules):
                while name not in modules and "." in name:  # `import pkg.mod.attr`: the module pkg.mod
                    name = name.rpartition(".")[0]
                if name not in modules:
                    continue  # outside the package
                parts = name.split(".")
                entered = [".".join(parts[:i]) for i in range(1, len(parts))]
                entered = [p for p in entered if p in modules and not module.startswith(p + ".")]
                for target in [*entered, name]:
                    if target != module:
                        edges.setdefault(target, node.lineno)
        graph[module] = edges
    return graph


def _components(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or of one that imports itself (Tarjan,
    iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(sorted(component))
    return found


def _shortest_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module, as [m0, m1, ..., m0]."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child not in members:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def import_cycles(package_dir: Path) -> list[list[str]]:
    """One shortest cycle per strongly connected component of the package's import graph."""
    graph = import_graph(package_dir)
    return [_shortest_cycle(graph, component) for component in _components(graph)]


def describe_cycle(cycle: list[str], package_dir: Path) -> str:
    """"a (a.py:3) -> b (b/__init__.py:7) -> a": each module with the line of its import of the next."""
    graph = import_graph(package_dir)
    files = module_files(package_dir)
    steps = [f"{m} ({files[m].relative_to(Path(package_dir).parent)}:{graph[m][n]})"
             for m, n in zip(cycle, cycle[1:])]
    return " -> ".join([*steps, cycle[-1]])

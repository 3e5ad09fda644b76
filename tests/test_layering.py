"""Layering (issue 24): rftlib's rooms and the order they stand in, kept by a test.

A room is a subpackage of rftlib, or a module at its top level. ``LAYERS`` lists them bottom to top: an
import (at module level or inside a function; ``TYPE_CHECKING`` imports aside; see tests/import_graph.py)
may point to its own room or to a room below it, never up. So there is no circle between rooms, and no
import cycle inside rftlib either.
"""
import ast
import textwrap
from pathlib import Path

import pytest

import rftlib
from import_graph import describe_cycle, import_cycles, import_graph, module_files

PACKAGE = Path(rftlib.__file__).parent

# Bottom to top. Each room's __init__ docstring says what it holds and which rooms it may use.
LAYERS = ["core", "stats", "models", "strategies", "data", "attacks", "remedies", "runs", "tracking", "training",
          "posthoc", "analysis", "figures", "sweep", "bench", "strategies_command", "cli"]
PLOTTING = ("matplotlib", "seaborn")


def room(module: str) -> str:
    """rftlib.runs.config -> runs; rftlib.cli -> cli; rftlib -> rftlib (the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def upward_imports(package: Path, layers: list[str]) -> list[str]:
    """Each import that points from a room to a room above it (or to a room LAYERS does not know), as
    "file:line: a -> b"."""
    files = module_files(package)
    rank = {name: i for i, name in enumerate(layers)}
    found = []
    for module, edges in sorted(import_graph(package).items()):
        source = room(module)
        for target, line in sorted(edges.items()):
            to = room(target)
            if to in (source, package.name):
                continue
            if source not in rank or to not in rank or rank[to] > rank[source]:
                found.append(f"{files[module].relative_to(package.parent)}:{line}: {source} -> {to} ({target})")
    return found


def _imports(path: Path):
    """(line, module, imported name) for every import statement of a file, absolute names only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                yield node.lineno, node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None


def private_imports_across_rooms(package: Path) -> list[str]:
    """``from rftlib.x.y import _name`` (or a ``_module``) where x is not the importing file's room."""
    found = []
    for module, path in module_files(package).items():
        for line, source, name in _imports(path):
            if not source.startswith(package.name + "."):
                continue
            parts = source.split(".")[1:] + ([name] if name else [])
            private = [p for p in parts if p.startswith("_") and not p.startswith("__")]
            if private and room(source) != room(module):
                found.append(f"{path.relative_to(package.parent)}:{line}: {source} import {name}")
    return found


def plotting_outside_figures(package: Path) -> list[str]:
    found = []
    for module, path in module_files(package).items():
        if room(module) == "figures":
            continue
        for line, source, _ in _imports(path):
            if source.split(".")[0] in PLOTTING:
                found.append(f"{path.relative_to(package.parent)}:{line}: imports {source}")
    return found


def test_every_import_points_down_the_layers():
    rooms = {room(m) for m in module_files(PACKAGE)} - {PACKAGE.name}
    assert rooms == set(LAYERS), f"rooms LAYERS does not place: {sorted(rooms - set(LAYERS))}; " \
                                 f"gone: {sorted(set(LAYERS) - rooms)}"
    upward = upward_imports(PACKAGE, LAYERS)
    assert not upward, "imports that point up the layers (LAYERS in this file):\n  " + "\n  ".join(upward)


def test_rftlib_has_no_import_cycle():
    cycles = import_cycles(PACKAGE)
    assert not cycles, "import cycles inside rftlib (each module with the line that imports the next):\n" + "\n".join(
        "  " + describe_cycle(cycle, PACKAGE) for cycle in cycles)


def test_no_private_name_is_imported_from_another_room():
    found = private_imports_across_rooms(PACKAGE)
    assert not found, "private names imported across rooms:\n  " + "\n  ".join(found)


def test_figures_alone_import_matplotlib_and_seaborn():
    found = plotting_outside_figures(PACKAGE)
    assert not found, "plotting imports outside rftlib/figures:\n  " + "\n  ".join(found)


def test_the_top_level_holds_at_most_four_modules():
    modules = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(modules) <= 4, f"top-level modules of rftlib: {modules}; move them into a room"


def test_every_room_says_what_it_holds_and_what_it_may_use():
    for name in LAYERS:
        path = PACKAGE / name / "__init__.py"
        if path.exists():
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            assert "May use:" in doc, f"{path.relative_to(PACKAGE.parent)}: its docstring should say 'May use: ...'"


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "pkg"


def test_the_check_finds_lazy_and_package_cycles_and_names_them(tmp_path):
    """The detector itself: a cycle closed by a function-level import, one closed by a package's
    ``__init__`` (entered by importing one of its modules), a ``from . import name`` of the package, and no
    false alarm from TYPE_CHECKING imports or from a package's own modules."""
    package = _package(tmp_path, {
        "__init__.py": "",
        "config.py": "def check():\n    from .training.objectives import options\n",
        "training/__init__.py": "from .loop import run\n",
        "training/objectives.py": "from ..errors import RftError\n",
        "training/loop.py": "from ..config import check\nfrom . import objectives\n",
        "errors.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .config import check\n",
        "results.py": "from .calibration import columns\n",
        "calibration.py": "def table():\n    from .results import load\n",
        "families/__init__.py": "from . import vit\n",
        "families/vit.py": "from . import Family\n",
    })
    graph = import_graph(package)
    assert graph["pkg.config"] == {"pkg.training": 2, "pkg.training.objectives": 2}
    assert "pkg.config" not in graph["pkg.errors"]  # TYPE_CHECKING only
    assert "pkg.training" not in graph["pkg.training.loop"]  # its own package
    cycles = import_cycles(package)
    assert sorted(cycles) == [["pkg.calibration", "pkg.results", "pkg.calibration"],
                              ["pkg.config", "pkg.training", "pkg.training.loop", "pkg.config"],
                              ["pkg.families", "pkg.families.vit", "pkg.families"]]
    text = describe_cycle(["pkg.config", "pkg.training", "pkg.training.loop", "pkg.config"], package)
    assert text == ("pkg.config (pkg/config.py:2) -> pkg.training (pkg/training/__init__.py:1) -> "
                    "pkg.training.loop (pkg/training/loop.py:1) -> pkg.config")


@pytest.mark.slow  # imports every subpackage (torch, timm, Ray, papermill): shared with other tests, but slow alone
def test_public_names_still_resolve():
    """What the layering moves left importable: rftlib's public API and the names' old homes."""
    for name in rftlib.__all__ + list(rftlib._SUBMODULES):
        assert getattr(rftlib, name) is not None
    from rftlib.analysis import calibration
    from rftlib import sweep, training
    from rftlib.strategies import families
    from rftlib.training import final_autoattack

    assert calibration.summary_fields and calibration.AUTOATTACK_COLUMNS
    assert final_autoattack.check_final_autoattack and final_autoattack.DEFAULT_SIZE == 500
    assert training.finetune.__module__ == "rftlib.training.loop" and sweep.load_sweep and sweep.run_sweep
    assert families.Family and families.family_of and set(families.FAMILIES) >= {"vit", "swin", "convnext", "resnet"}


def test_the_layer_checks_name_the_file_and_line_of_each_violation(tmp_path):
    """The checks themselves, on a package made for them: an upward function-level import, a private
    name taken from another room, and seaborn outside figures; a TYPE_CHECKING import is no violation."""
    package = _package(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/errors.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.runs.config import C\n",
        "runs/__init__.py": "",
        "runs/config.py": "import seaborn\n\ndef load():\n    from pkg.analysis.results import _rows\n",
        "analysis/__init__.py": "",
        "analysis/results.py": "from pkg.core.errors import E\n\ndef _rows():\n    pass\n",
        "figures/__init__.py": "",
        "figures/plots.py": "import seaborn as sns\nfrom pkg.analysis.results import _rows\n",
    })
    assert upward_imports(package, ["core", "runs", "analysis", "figures"]) == [
        "pkg/runs/config.py:4: runs -> analysis (pkg.analysis)",  # the package's __init__ runs first
        "pkg/runs/config.py:4: runs -> analysis (pkg.analysis.results)"]
    assert private_imports_across_rooms(package) == [
        "pkg/figures/plots.py:2: pkg.analysis.results import _rows",
        "pkg/runs/config.py:4: pkg.analysis.results import _rows"]
    assert plotting_outside_figures(package) == ["pkg/runs/config.py:1: imports seaborn"]

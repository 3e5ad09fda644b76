"""Layering: no import cycle inside rftlib (function-level imports count; see tests/import_graph.py)."""
import textwrap
from pathlib import Path

import pytest

import rftlib
from import_graph import describe_cycle, import_cycles, import_graph

PACKAGE = Path(rftlib.__file__).parent


def test_rftlib_has_no_import_cycle():
    cycles = import_cycles(PACKAGE)
    assert not cycles, "import cycles inside rftlib (each module with the line that imports the next):\n" + "\n".join(
        "  " + describe_cycle(cycle, PACKAGE) for cycle in cycles)


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
    from rftlib import calibration, sweep, training
    from rftlib.strategies import families
    from rftlib.training import final_autoattack

    assert calibration.summary_fields and calibration.AUTOATTACK_COLUMNS
    assert final_autoattack.check_final_autoattack and final_autoattack.DEFAULT_SIZE == 500
    assert training.finetune.__module__ == "rftlib.training.loop" and sweep.load_sweep and sweep.run_sweep
    assert families.Family and families.family_of and set(families.FAMILIES) >= {"vit", "swin", "convnext", "resnet"}

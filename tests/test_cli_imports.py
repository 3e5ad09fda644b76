"""First contact stays fast: `rft <subcommand> --help` and the refusals that need no model import no
heavy library. Asserts the import graph (sys.modules in a fresh interpreter), not a time."""
import json
import subprocess
import sys

from rftlib.cli import SUBCOMMANDS

# Each costs from ~0.5 s (pandas) to several seconds (torch + timm) of CPU at import on the test machine.
HEAVY = ("torch", "pandas", "timm", "ray", "mlflow", "numpy", "papermill", "nbformat", "jsonschema")


def _in_fresh_interpreter(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_building_each_subcommands_parser_imports_nothing_heavy():
    # One interpreter for all subcommands, checked after each: a heavy import shows under the first
    # subcommand that pulls it in.
    code = f"""
import json, sys
from rftlib.cli import build_parser
found = {{}}
for name in {list(SUBCOMMANDS)!r}:
    build_parser([name])  # imports the subcommand's module and builds its parser
    found[name] = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps(found))
"""
    found = _in_fresh_interpreter(code)
    assert set(found) == set(SUBCOMMANDS)
    assert found == {name: [] for name in SUBCOMMANDS}


def test_help_of_each_subcommand_lists_its_options():
    # The lazy imports must not lose a subcommand's options: --help prints them (exit status 0).
    for name, option in (("run", "--force-resume"), ("sweep", "--launcher"), ("strategies", "--num-classes"),
                         ("bench", "--quick"), ("complexity", "--dataset")):
        done = subprocess.run([sys.executable, "-m", "rftlib.cli", name, "--help"], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert option in done.stdout


def test_skipping_the_iri_grammar_keeps_notebooks_valid(tmp_path):
    # rftlib.core.fast_imports keeps jsonschema from compiling rfc3987_syntax's grammar in rftlib's processes;
    # nbformat still reads and validates notebooks (its schemas use no "format"), and rejects a broken one.
    code = """
import json, sys
from rftlib.core.fast_imports import skip_slow_optional_imports
skip_slow_optional_imports()
import nbformat
notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
nbformat.validate(notebook)
notebook.cells[0]["cell_type"] = "not a cell type"
try:
    nbformat.validate(notebook)
    rejected = False
except nbformat.ValidationError:
    rejected = True
print(json.dumps({"grammar_loaded": sys.modules.get("rfc3987_syntax") is not None,
                  "jsonschema": "jsonschema" in sys.modules, "rejected": rejected}))
"""
    assert _in_fresh_interpreter(code) == {"grammar_loaded": False, "jsonschema": True, "rejected": True}


def test_rft_and_sweep_workers_skip_the_iri_grammar():
    # The two entry points rftlib owns call the skip before anything imports jsonschema.
    code = """
import json, sys
import rftlib.cli, rftlib.sweep.execute
skipped = {}
for main, argv in ((rftlib.cli.main, ["sweep", "--help"]), (rftlib.sweep.execute.main, ["not json"])):
    sys.modules.pop("rfc3987_syntax", None)
    try:
        main(argv)
    except (SystemExit, ValueError):  # --help exits; the worker refuses the bad spec after the skip
        pass
    skipped[main.__module__] = "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is None
print(json.dumps(skipped))
"""
    assert _in_fresh_interpreter(code) == {"rftlib.cli": True, "rftlib.sweep.execute": True}

"""Import-time costs rftlib's own processes need not pay.

``jsonschema`` (imported by nbformat, hence papermill and nbconvert, and by Ray) imports the optional
``rfc3987_syntax`` 1.1.0 when it is installed (it is: jupyter-events asks for
``jsonschema[format-nongpl]``), and that package compiles an Earley grammar at import: about 2 s of
CPU in every process, more than the rest of papermill's import (python-jsonschema/jsonschema issues
#1392 and #1521). The grammar only serves the ``iri`` / ``iri-reference`` format checks; the notebook
schemas of nbformat use no ``format`` at all. So the processes rftlib starts itself (the ``rft``
command and the sweep's workers) mark the module absent before anything imports jsonschema, and
jsonschema skips those two checks as it does wherever the package is not installed.
"""
from __future__ import annotations

import sys

SKIPPED = ("rfc3987_syntax",)


def skip_slow_optional_imports() -> None:
    """Make ``import rfc3987_syntax`` raise ImportError in this process, unless it is already imported
    (then nothing changes). Call it only in processes rftlib owns, before jsonschema is imported."""
    for name in SKIPPED:
        sys.modules.setdefault(name, None)  # None in sys.modules: the import system raises ImportError

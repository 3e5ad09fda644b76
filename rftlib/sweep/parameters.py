"""A notebook's declared parameters (its cell tagged ``parameters``) and the check of given values.

papermill only warns about a parameter the notebook does not declare and injects any value as is;
a sweep must refuse both before anything runs. papermill's own inspector is a regular expression
that skips annotated lines such as ``domain: str | None = None``, so the cell is parsed with ``ast``.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from rftlib.core.errors import RftError
from rftlib.core.options import check_keys, coerce

# Names an annotation in a parameters cell may use; anything else is not type-checked.
_ANNOTATION_NAMES = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict, "list": list,
                     "None": None}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its name, default (None when not a literal) and type (Any: unchecked)."""

    name: str
    default: Any
    type: Any


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:  # an expression such as Path("x"): declared, but no literal default
        return None


def _annotation(node: ast.AST | None, default: Any) -> Any:
    """The type to check values against: the annotation when it evaluates to one of the simple
    types, else the default's type, else Any (a default of None says nothing about the type)."""
    if node is not None:
        try:
            return eval(ast.unparse(node), {"__builtins__": {}}, dict(_ANNOTATION_NAMES))  # noqa: S307
        except Exception:  # an annotation we cannot evaluate (a class): leave the value unchecked
            return Any
    if default is None:
        return Any
    # int defaults accept floats too: `lr = 1` should not refuse 0.5.
    return float | int if type(default) is int else type(default)


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The notebook at ``path``; an RftError with one line when it is missing or not a notebook."""
    path = Path(path)
    if not path.is_file():
        raise RftError(f"notebook not found: {path}")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:  # JSON or schema errors: one line, not a traceback
        raise RftError(f"cannot read notebook {path}: {error}".splitlines()[0]) from None


def declared_parameters(path: str | Path) -> dict[str, Parameter]:
    """The parameters a notebook declares, in cell order."""
    notebook = read_notebook(path)
    cells = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise RftError(f"notebook {path} has no cell tagged 'parameters'")
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as error:
        raise RftError(f"parameters cell of {path} is not valid Python: {error}") from None
    declared: dict[str, Parameter] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            default = _literal(node.value)
            declared[node.target.id] = Parameter(node.target.id, default, _annotation(node.annotation, default))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            default = _literal(node.value)
            declared[node.targets[0].id] = Parameter(node.targets[0].id, default, _annotation(None, default))
    return declared


def check_parameters(path: str | Path, given: Mapping[str, Any],
                     declared: Mapping[str, Parameter] | None = None) -> dict[str, Any]:
    """``given`` checked against the notebook's declared parameters: an unknown name or a value of
    the wrong type is an RftError naming the notebook; ints are turned into floats where declared."""
    declared = declared_parameters(path) if declared is None else declared
    check_keys(given, list(declared), f"parameter of {Path(path).name}")
    checked = {}
    for name, value in given.items():
        tp = declared[name].type
        value = coerce(value, tp, f"parameter {name!r} of {Path(path).name}")
        # coerce turns lists into tuples for tuple annotations; papermill writes lists only.
        checked[name] = list(value) if isinstance(value, tuple) else value
    return checked


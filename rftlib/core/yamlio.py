"""Reading YAML the way users write it: files and ``key=value`` strings, one clear line when malformed.

PyYAML implements YAML 1.1, where ``1.0e6`` and ``1e-3`` without a signed exponent or a dot are
strings; users (and YAML 1.2) mean numbers. ``Loader`` reads every YAML 1.2 float as a float.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from rftlib.core.errors import RftError


class Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads YAML 1.2 floats (``1e6``, ``1.0e6``, ``2E-5``) as floats."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
               r"|[0-9][0-9_]*[eE][-+]?[0-9]+|\.(?:inf|Inf|INF)|[-+]\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def _first_line(error: yaml.YAMLError) -> str:
    return " ".join(str(error).split("\n")[0].split())


def parse_yaml(text: str, what: str) -> Any:
    """``text`` read as YAML; RftError naming ``what`` when it is malformed."""
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or _first_line(error)
        raise RftError(f"{what} is not valid YAML: {problem}{where}") from None


def load_yaml(path: str | Path, what: str) -> dict[str, Any]:
    """A YAML file holding a mapping (an empty file: {}); RftError naming ``what`` otherwise."""
    path = Path(path)
    if path.is_dir():
        raise RftError(f"{what} {path} is a directory; give the YAML file itself")
    if not path.is_file():
        raise RftError(f"{what} not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RftError(f"cannot read {what} {path}: {error}") from None
    data = parse_yaml(text, f"{what} {path}")
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise RftError(f"{what} {path} must hold a mapping, got {type(data).__name__}")
    return dict(data)

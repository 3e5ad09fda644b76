"""Lazy package exports (PEP 562): a package's public names, each loaded from its module on first use.

Packages whose modules import torch (training, sweep, complexity) export this way so that importing one
light module of theirs, or building a CLI parser, does not load the rest, and so that a module low in
the layers can import a sibling without running the package's whole ``__init__`` (no import cycle)."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, where ``exports`` maps each public name to the submodule
    (relative to the package) that defines it. A loaded name is cached in the package's namespace."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        if name in exports:
            where = exports[name]
            module = where if where.startswith("rftlib.") else f"{package}.{where}"
            value = getattr(importlib.import_module(module), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__


__all__ = ["lazy_exports"]

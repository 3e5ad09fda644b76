"""A name -> object registry filled by a decorator, in the manner of timm's model registry.

Lookups of unknown names fail loudly with the list of valid names.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from rftlib.core.errors import RftError, unknown_choice

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (functions, classes, specs) of one kind, e.g. strategies or datasets."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@STRATEGIES.register("lora")`` above the object to register."""

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise RftError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name`` without a decorator."""
        return self.register(name)(obj)

    def get(self, name: str) -> T:
        """The object registered as ``name``; an RftError listing the valid names otherwise."""
        if not isinstance(name, str) or name not in self._entries:
            raise unknown_choice(self.kind, name, self._entries)
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

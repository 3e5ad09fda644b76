"""How many classes a configured dataset has, known without loading it (None where it is not).

Used to refuse a run configuration whose attacks the classes cannot support (APGD-T with more
targets than classes - 1, say) before any data or model loads.
"""
from __future__ import annotations

from typing import Any

from rftlib.data.memory_options import SyntheticOptions

# The class counts of the datasets whose size is fixed (Caltech-256's hub copy is left out: whether it
# keeps the clutter class is the copy's choice, so the run finds out when it loads).
KNOWN_CLASSES = {"cifar10": 10, "cifar100": 100, "cub200": 200, "stanford_dogs": 120, "domainnet": 345,
                 "digits": 10}


def known_num_classes(dataset: str, options: dict[str, Any] | None = None) -> int | None:
    """The number of classes of ``dataset`` with ``options``, or None when only loading it would tell."""
    if dataset == "synthetic":
        value = (options or {}).get("num_classes", SyntheticOptions.num_classes)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return KNOWN_CLASSES.get(dataset)


__all__ = ["KNOWN_CLASSES", "known_num_classes"]

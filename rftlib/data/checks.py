"""Every dataset's check, without torch: what ``RunConfig.validated()`` and ``rft sweep --dry-run`` ask
of a dataset before anything loads (its options, ``path`` and ``domain``). :data:`DATASET_CHECKS` holds
one check per dataset name, in the order :data:`rftlib.data.DATASETS` registers the loaders, which call
the same checks when they load (hub datasets: :mod:`rftlib.data.hub`; the in-memory ones:
:mod:`rftlib.data.memory_options`)."""
from __future__ import annotations

from rftlib.core.registry import Registry
from rftlib.data.hub import HUB_SPECS
from rftlib.data.memory_options import check_digits, check_feature_model, check_synthetic

#: Dataset name -> ``check(name=, domain=, path=, options=)``: hub datasets, then the in-memory ones.
DATASET_CHECKS: Registry = Registry("dataset")
for _name, _spec in HUB_SPECS.items():
    DATASET_CHECKS.add(_name, _spec.check)
DATASET_CHECKS.add("digits", check_digits)
DATASET_CHECKS.add("synthetic", check_synthetic)
DATASET_CHECKS.add("feature_model", check_feature_model)


__all__ = ["DATASET_CHECKS"]

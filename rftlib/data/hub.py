"""The paper's Hugging Face datasets: where each lives, which columns hold what, how to load it.

A dataset loads from its hub id (online, or offline from the ``datasets`` cache) or from ``path``:
a folder written by ``DatasetDict.save_to_disk`` or a copy of the hub repository (parquet files).
Column names are tried in order, so a copy whose columns differ slightly still loads; the options
``image_column``, ``label_column``, ``domain_column``, ``train_split`` and ``test_split`` override them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rftlib.core.errors import RftError, unknown_choice
from rftlib.core.hub import hub_offline, unreachable_host
from rftlib.core.options import build_dataclass
from rftlib.data.catalog import DATASETS

if TYPE_CHECKING:
    from rftlib.data.task import Task

# The torch datasets (.base, .task) are imported where a dataset loads: this module's checks run
# before torch loads (rftlib.data.checks).

DOMAINNET_DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")


@dataclass(frozen=True)
class HubOptions:
    """Per-call overrides, for a local copy whose schema differs from the hub's."""

    image_column: str | None = None
    label_column: str | None = None
    domain_column: str | None = None
    train_split: str | None = None
    test_split: str | None = None


@dataclass(frozen=True)
class HubSpec:
    """Where a dataset lives on the hub and which of its columns and splits to use."""

    hub_id: str
    image_columns: tuple[str, ...] = ("image", "img")
    label_columns: tuple[str, ...] = ("label", "labels")
    train_split: str = "train"
    test_splits: tuple[str, ...] = ("test",)
    # A text column naming each label, used for class names when the label is a plain integer.
    class_name_column: str | None = None
    domains: tuple[str, ...] | None = None
    domain_column: str = "domain"

    def __call__(self, *, name: str, image_size: int, seed: int, val_fraction: float,
                 domain: str | None, path, cache_dir, options: dict) -> Task:
        from rftlib.data.base import HubImageDataset
        from rftlib.data.task import make_task

        opts = self.check(name=name, domain=domain, path=path, options=options)
        splits = load_splits(name, self.hub_id, path, cache_dir)
        train, test = self._pick_splits(name, splits, opts)
        image_col = pick_column(name, train, [opts.image_column] if opts.image_column else self.image_columns, "image")
        label_col = pick_column(name, train, [opts.label_column] if opts.label_column else self.label_columns, "label")
        for col in (image_col, label_col):
            if col not in test.column_names:
                raise RftError(f"{name}: the test split has no column {col!r}; it has {', '.join(test.column_names)}")
        check_image_feature(name, train, image_col)
        class_names, label_map = label_space(name, train, test, label_col, self.class_name_column)

        ood = None
        if self.domains is not None:
            domain_col = pick_column(name, train, [opts.domain_column or self.domain_column], "domain")
            train_domains = domain_values(train, domain_col)
            test_domains = domain_values(test, domain_col)
            if not (train_domains == domain).any():
                present = sorted(set(train_domains.tolist()))
                raise RftError(f"{name}: no training examples in domain {domain!r}; the data has: {', '.join(present)}")
            ood = test.select(np.flatnonzero(test_domains != domain), keep_in_memory=True)
            train = train.select(np.flatnonzero(train_domains == domain), keep_in_memory=True)
            test = test.select(np.flatnonzero(test_domains == domain), keep_in_memory=True)

        def wrap(rows):
            return HubImageDataset(rows, image_col, label_col, image_size, label_map)

        return make_task(
            name, class_names, wrap(train), wrap(test), seed=seed, val_fraction=val_fraction,
            ood=wrap(ood) if ood is not None else None,
            domain=domain if self.domains else None, domains=self.domains,
        )

    def check(self, *, name: str, domain: str | None, path, options: dict, **_) -> HubOptions:
        """The options, the domain and the path, checked before anything loads (also by
        ``RunConfig.validated()``, before a run directory is written)."""
        opts = build_dataclass(HubOptions, options, f"{name} option")
        self._check_domain(name, domain)
        if path is not None:
            check_local_copy(name, self.hub_id, Path(path).expanduser())
        return opts

    def _check_domain(self, name: str, domain: str | None) -> None:
        # Checked before any loading, so a typo costs nothing.
        if self.domains is None:
            if domain is not None:
                raise RftError(f"{name} has no domains; domain= applies to: domainnet, synthetic (with domains=N)")
            return
        if domain is None:
            raise RftError(f"{name} needs domain= (the training domain); valid: {', '.join(self.domains)}")
        if domain not in self.domains:
            raise unknown_choice(f"{name} domain", domain, self.domains)

    def _pick_splits(self, name: str, splits, opts: HubOptions):
        available = list(splits)
        train_name = opts.train_split or self.train_split
        if train_name not in splits:
            raise RftError(f"{name}: no split {train_name!r}; available: {', '.join(available)} "
                           f"(choose with train_split=)")
        test_names = [opts.test_split] if opts.test_split else list(self.test_splits)
        for test_name in test_names:
            if test_name in splits:
                return splits[train_name], splits[test_name]
        wanted = " or ".join(repr(t) for t in test_names)
        raise RftError(f"{name}: no split {wanted}; available: {', '.join(available)} (choose with test_split=)")


def check_local_copy(name: str, hub_id: str, root: Path) -> None:
    """A local copy (``path=``) that exists, is a folder and holds files; RftError otherwise."""
    advice = f"pass a DatasetDict.save_to_disk folder or a copy of the hub repository {hub_id}"
    if not root.exists():
        raise RftError(f"{name}: path {str(root)!r} does not exist; {advice}")
    if not root.is_dir():
        raise RftError(f"{name}: path {str(root)!r} is a file, not a folder; {advice}")
    if not any(p.is_file() for p in root.rglob("*")):
        raise RftError(f"{name}: path {str(root)!r} holds no files; {advice}")


def load_splits(name: str, hub_id: str, path, cache_dir):
    """The ``DatasetDict`` of ``name``: from ``path`` when given, otherwise from the hub (or its cache)."""
    import datasets  # imported here: it is slow to import and only hub datasets need it

    cache = str(cache_dir) if cache_dir is not None else None
    if path is not None:
        root = Path(path).expanduser()
        check_local_copy(name, hub_id, root)
        if (root / "state.json").is_file():
            raise RftError(f"{name}: {str(root)!r} holds a single split; save a DatasetDict with train and test splits")
        if (root / "dataset_dict.json").is_file():
            def load():
                return datasets.load_from_disk(str(root))
        else:
            def load():
                return datasets.load_dataset(str(root), cache_dir=cache)
        where = str(root)
    else:
        if not hub_offline(datasets=True) and (host := unreachable_host()) is not None:
            raise RftError(f"cannot load {name} ({hub_id}): cannot reach {host}; pass path= to a local copy, "
                           f"or set HF_HUB_OFFLINE=1 to use a cached one")

        def load():
            return datasets.load_dataset(hub_id, cache_dir=cache)
        where = hub_id
    try:
        splits = load()
    except RftError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loading failure gets the same one-line advice
        if path is None and hub_offline(datasets=True):
            raise RftError(f"cannot load {name} ({hub_id}): offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE) and no "
                           f"cached copy{' in ' + cache if cache else ''}; pass path= to a local copy") from exc
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        advice = "; pass path= to a local copy" if path is None else ""
        raise RftError(f"cannot load {name} from {where}: {type(exc).__name__}: {detail}{advice}") from exc
    if not isinstance(splits, datasets.DatasetDict):
        raise RftError(f"{name}: {where} did not load as a set of named splits (train, test)")
    return splits


def pick_column(name: str, hf, candidates, what: str) -> str:
    """The first of ``candidates`` that ``hf`` has; an RftError naming the columns it does have."""
    for col in candidates:
        if col in hf.column_names:
            return col
    tried = " or ".join(repr(c) for c in candidates)
    raise RftError(f"{name}: no {what} column {tried}; columns: {', '.join(hf.column_names)} "
                   f"(choose with {what}_column=)")


def check_image_feature(name: str, hf, column: str) -> None:
    import datasets

    feature = hf.features[column]
    if not isinstance(feature, datasets.Image):
        raise RftError(f"{name}: column {column!r} is {type(feature).__name__}, not an Image feature "
                       f"(choose another with image_column=)")


def label_space(name: str, train, test, column: str, name_column: str | None):
    """Class names and the stored label -> class index map (None when labels are already 0..K-1).

    ClassLabel columns give their names. Integer labels are indexed in sorted order and named by
    ``name_column`` where the data has it. String labels are indexed in sorted order.
    """
    import datasets

    from rftlib.data.base import column_values

    feature = train.features[column]
    if isinstance(feature, datasets.ClassLabel):
        for split, hf in (("train", train), ("test", test)):
            refuse_labels_outside(name, split, column, column_values(hf, column), feature.num_classes)
        return list(feature.names), None
    dtype = getattr(feature, "dtype", None)
    if dtype in ("string", "large_string"):
        values = np.concatenate([column_values(train, column), column_values(test, column)])
        names = sorted(set(values.tolist()))
        return names, {n: i for i, n in enumerate(names)}
    if dtype is None or not str(dtype).startswith(("int", "uint")):
        raise RftError(f"{name}: label column {column!r} has type {dtype or type(feature).__name__}; "
                       f"expected ClassLabel, integer or string (choose another with label_column=)")
    # Plain integers: the label space is 0..K-1 where the dataset's class count K is known (cifar10:
    # 10); elsewhere any labels >= 0, renumbered below. A negative label is never a class.
    from rftlib.data.classes import KNOWN_CLASSES  # here: importing it at the top would register synthetic before the hub datasets

    known = KNOWN_CLASSES.get(name)
    for split, hf in (("train", train), ("test", test)):
        refuse_labels_outside(name, split, column, column_values(hf, column), known)
    values = np.concatenate([column_values(train, column), column_values(test, column)])
    present = sorted(int(v) for v in set(values.tolist()))
    # Labels 0..K-1 stay as they are; any other set of integers (1-based, gaps) is renumbered densely.
    label_map = None if present == list(range(len(present))) else {v: i for i, v in enumerate(present)}
    names = [str(v) for v in present]
    if name_column and name_column in train.column_names:
        rows = train.select_columns([column, name_column]).with_format("numpy")[:]
        for label, text in zip(rows[column].tolist(), rows[name_column].tolist()):
            names[label_map[label] if label_map else label] = str(text)
    return names, label_map


def refuse_labels_outside(name: str, split: str, column: str, values: np.ndarray, num_classes: int | None,
                          shown: int = 5) -> None:
    """RftError naming the rows of ``split`` whose label lies outside 0..num_classes-1 (below 0 when
    the class count is unknown): a label outside the label space would become a class of its own."""
    outside = (values < 0) if num_classes is None else (values < 0) | (values >= num_classes)
    rows = np.flatnonzero(outside)
    if not len(rows):
        return
    space = f"0..{num_classes - 1}" if num_classes is not None else "of labels >= 0"
    listed = ", ".join(str(r) for r in rows[:shown]) + (f", ... ({len(rows)} in all)" if len(rows) > shown else "")
    # -1 is the hub's "no label" (unlabelled test sets, e.g. competition splits); anything else is damage.
    unlabelled = (" (-1 marks an unlabelled example by the hub's convention: this split is not labelled)"
                  if (values[rows] == -1).any() else "")
    raise RftError(f"{name}: {len(rows)} {split} label(s) outside the label space {space} of column {column!r} "
                   f"(e.g. {int(values[rows[0]])}) at row(s) {listed}{unlabelled}; use a labelled split "
                   f"(train_split=, test_split=) or remove those rows")


def domain_values(hf, column: str) -> np.ndarray:
    """The domain of every row as a string array (the column may be a string or a ClassLabel)."""
    import datasets

    from rftlib.data.base import column_values

    values = column_values(hf, column)
    feature = hf.features[column]
    if isinstance(feature, datasets.ClassLabel):
        return np.asarray(feature.names, dtype=object)[values.astype(np.int64)]
    return values.astype(str).astype(object)


# Column names: cifar10 and cifar100 as given; caltech256 (image, int64 label, text), domainnet
# (image, ClassLabel label, domain) and every split name read from the hub dataset cards; cub200 and
# stanford_dogs columns not confirmed, hence the fallbacks.
HUB_SPECS = {
    "cifar10": HubSpec("cifar10", image_columns=("img", "image"), label_columns=("label",)),
    "cifar100": HubSpec("uoft-cs/cifar100", image_columns=("img", "image"), label_columns=("fine_label",)),
    "caltech256": HubSpec("ilee0022/Caltech-256", class_name_column="text"),
    "cub200": HubSpec("efekankavalci/CUB_200_2011"),
    "stanford_dogs": HubSpec("amaye15/stanford-dogs", image_columns=("image", "img", "pixel_values")),
    "domainnet": HubSpec("wltjr1007/DomainNet", domains=DOMAINNET_DOMAINS),
}

for _name, _spec in HUB_SPECS.items():
    DATASETS.add(_name, _spec)

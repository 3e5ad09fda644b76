"""The Task: everything a fine-tuning run needs to know about its data, in one object."""
from __future__ import annotations

from dataclasses import dataclass

from rftlib.core.errors import RftError
from rftlib.data.base import ImageDataset
from rftlib.data.splits import holdout_split


@dataclass(frozen=True, repr=False)
class Task:
    """A classification task: named splits of ``(image, label)`` datasets plus the label space.

    ``train`` and ``val`` come from the source's training split (``val`` is the seeded hold-out);
    ``test`` is the source's test split. ``ood`` is set for tasks with domains: the test splits of
    every domain except ``domain``, pooled.
    """

    name: str
    num_classes: int
    class_names: tuple[str, ...]
    train: ImageDataset
    val: ImageDataset
    test: ImageDataset
    ood: ImageDataset | None = None
    domain: str | None = None
    domains: tuple[str, ...] | None = None

    def __post_init__(self):
        if len(self.class_names) != self.num_classes:
            raise RftError(
                f"task {self.name!r}: {len(self.class_names)} class names for {self.num_classes} classes"
            )

    def __repr__(self) -> str:
        sizes = f"train={len(self.train)}, val={len(self.val)}, test={len(self.test)}"
        if self.ood is not None:
            sizes += f", ood={len(self.ood)}"
        where = f", domain={self.domain!r}" if self.domain is not None else ""
        return f"Task({self.name!r}, classes={self.num_classes}{where}, {sizes})"


def make_task(
    name: str,
    class_names: list[str] | tuple[str, ...],
    train_full: ImageDataset,
    test: ImageDataset,
    *,
    seed: int,
    val_fraction: float,
    ood: ImageDataset | None = None,
    domain: str | None = None,
    domains: tuple[str, ...] | None = None,
) -> Task:
    """Hold out ``val_fraction`` of ``train_full`` (seeded) and assemble the Task. Data with fewer
    than two classes, or an empty split, is refused: accuracy on it would be 1.0 (or undefined)
    whatever the model does."""
    if len(class_names) < 2:
        found = f"one class ({class_names[0]!r})" if class_names else "no class"
        raise RftError(f"{name}: the data holds {found}; a classification task needs at least 2 classes")
    for split, data in (("train", train_full), ("test", test)):
        if len(data) == 0:
            raise RftError(f"{name}: the {split} split holds no examples")
    train_idx, val_idx = holdout_split(len(train_full), val_fraction, seed)
    return Task(
        name=name,
        num_classes=len(class_names),
        class_names=tuple(str(c) for c in class_names),
        train=train_full.subset(train_idx),
        val=train_full.subset(val_idx),
        test=test,
        ood=ood,
        domain=domain,
        domains=tuple(domains) if domains is not None else None,
    )

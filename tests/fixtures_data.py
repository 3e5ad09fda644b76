"""Tiny on-disk datasets in the schema of the paper's Hugging Face datasets, for tests.

``write_hub_dataset(root, "cifar10")`` writes a few images per split with the same column names
and feature types as the hub dataset (``Image`` and ``ClassLabel`` columns, DomainNet's ``domain``
column, Caltech-256's integer label and text name), either as ``DatasetDict.save_to_disk`` output
(``layout="disk"``) or as the hub repository's parquet files (``layout="parquet"``). The result
loads with ``rftlib.data.load_task(name, path=...)``.

Images are coloured by class (plus noise), so a tiny model can learn them; sizes and PIL modes vary
so that resizing and RGB conversion are exercised.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# The hub schemas as read from the dataset cards (cub200 and stanford_dogs: assumed image/label).
HUB_SCHEMAS = {
    "cifar10": {"image": "img", "label": "label", "label_kind": "classlabel"},
    "cifar100": {"image": "img", "label": "fine_label", "label_kind": "classlabel", "coarse": True},
    "caltech256": {"image": "image", "label": "label", "label_kind": "int", "text": "text"},
    "cub200": {"image": "image", "label": "label", "label_kind": "classlabel"},
    "stanford_dogs": {"image": "image", "label": "label", "label_kind": "classlabel"},
    "domainnet": {"image": "image", "label": "label", "label_kind": "classlabel", "domain": "domain"},
}
DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                    [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]])
MODES = ("RGB", "L", "RGBA", "P")
SIZES = ((20, 24), (31, 17), (12, 12), (40, 33))


def class_names_for(name: str, num_classes: int) -> list[str]:
    return [f"{name}_class{k}" for k in range(num_classes)]


def make_image(label: int, index: int, rng: np.random.Generator) -> Image.Image:
    """A small image of the class colour plus noise, in a PIL mode and size that vary with index."""
    w, h = SIZES[index % len(SIZES)]
    base = PALETTE[label % len(PALETTE)].astype(np.float64)
    pixels = np.clip(base + rng.normal(0, 20, size=(h, w, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    mode = MODES[index % len(MODES)]
    return image.convert(mode) if mode != "RGB" else image


def build_hub_dataset_dict(name: str, *, n_per_split: int = 8, num_classes: int = 4,
                           splits=("train", "test"), domain_dtype: str = "string", seed: int = 0):
    """The tiny ``DatasetDict`` that ``write_hub_dataset`` writes (see the module docstring).

    For DomainNet, ``n_per_split`` examples per domain and split; ``domain_dtype`` "string" or
    "classlabel" picks the domain column's type.
    """
    import datasets

    schema = HUB_SCHEMAS[name]
    names = class_names_for(name, num_classes)
    features = {schema["image"]: datasets.Image()}
    if schema["label_kind"] == "classlabel":
        features[schema["label"]] = datasets.ClassLabel(names=names)
    else:
        features[schema["label"]] = datasets.Value("int64")
    if "text" in schema:
        features[schema["text"]] = datasets.Value("string")
    if schema.get("coarse"):
        features["coarse_label"] = datasets.ClassLabel(names=["coarse0", "coarse1"])
    domains = DOMAINS if "domain" in schema else (None,)
    if "domain" in schema:
        features[schema["domain"]] = (datasets.ClassLabel(names=list(DOMAINS)) if domain_dtype == "classlabel"
                                      else datasets.Value("string"))
    features = datasets.Features(features)

    rng = np.random.default_rng(seed)
    out = {}
    for split in splits:
        columns = {key: [] for key in features}
        for domain in domains:
            for i in range(n_per_split):
                label = i % num_classes
                columns[schema["image"]].append(make_image(label, i, rng))
                columns[schema["label"]].append(label)
                if "text" in schema:
                    columns[schema["text"]].append(names[label])
                if schema.get("coarse"):
                    columns["coarse_label"].append(label % 2)
                if domain is not None:
                    columns[schema["domain"]].append(domain if domain_dtype == "string" else DOMAINS.index(domain))
        out[split] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(out)


def write_hub_dataset(root, name: str, *, layout: str = "disk", n_per_split: int = 8, num_classes: int = 4,
                      splits=("train", "test"), domain_dtype: str = "string", seed: int = 0) -> Path:
    """Write a tiny copy of hub dataset ``name`` under ``root`` and return its folder.

    ``layout="disk"``: ``DatasetDict.save_to_disk``; ``layout="parquet"``: the hub repository's
    ``data/{split}-00000-of-00001.parquet`` files.
    """
    import datasets

    datasets.disable_progress_bars()
    dd = build_hub_dataset_dict(name, n_per_split=n_per_split, num_classes=num_classes, splits=splits,
                                domain_dtype=domain_dtype, seed=seed)
    folder = Path(root) / f"{name}-{layout}"
    if layout == "disk":
        dd.save_to_disk(str(folder))
    elif layout == "parquet":
        (folder / "data").mkdir(parents=True, exist_ok=True)
        for split, ds in dd.items():
            ds.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    else:
        raise ValueError(f"layout must be 'disk' or 'parquet', got {layout!r}")
    return folder

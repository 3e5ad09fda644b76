"""rftlib.data: real loading code on tiny on-disk copies of the hub datasets, digits, synthetic."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures_data import DOMAINS, HUB_SCHEMAS, build_hub_dataset_dict, class_names_for, write_hub_dataset
from rftlib.data import DATASETS, DOMAINNET_DOMAINS, eval_subset, holdout_split, load_task
from rftlib.core.errors import RftError

HUB = ["cifar10", "cifar100", "caltech256", "cub200", "stanford_dogs", "domainnet"]
N = 10  # examples per split (per domain for DomainNet)


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory):
    """Every hub dataset written once in both layouts."""
    root = tmp_path_factory.mktemp("hub")
    paths = {(name, layout): write_hub_dataset(root, name, layout=layout, n_per_split=N)
             for name in HUB for layout in ("disk", "parquet")}
    return root, paths


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("hf-cache")


def load_hub(hub_root, cache, name, layout="disk", **kwargs):
    kwargs.setdefault("image_size", 16)
    if name == "domainnet":
        kwargs.setdefault("domain", "real")
    return load_task(name, path=hub_root[1][(name, layout)], cache_dir=cache, **kwargs)


def test_registry_lists_every_dataset():
    assert DATASETS.names() == HUB + ["digits", "synthetic", "feature_model"]
    assert DOMAINNET_DOMAINS == DOMAINS


@pytest.mark.parametrize("layout", ["disk", "parquet"])
@pytest.mark.parametrize("name", HUB)
def test_hub_dataset_loads_in_paper_preprocessing(hub_root, cache, name, layout):
    task = load_hub(hub_root, cache, name, layout, image_size=16)
    assert task.name == name
    # Class names come from the ClassLabel feature (Caltech-256: from its text column).
    assert task.num_classes == 4
    assert task.class_names == tuple(class_names_for(name, 4))
    assert len(task.train) + len(task.val) == N and len(task.val) == 1 and len(task.test) == N
    for ds in (task.train, task.val, task.test):
        image, label = ds[0]
        assert image.shape == (3, 16, 16) and image.dtype == torch.float32
        assert 0.0 <= image.min() and image.max() <= 1.0 and image.max() > image.min()
        assert isinstance(label, int) and 0 <= label < 4
    assert sorted(set(task.test.labels.tolist())) == [0, 1, 2, 3]
    assert [task.test[i][1] for i in range(len(task.test))] == task.test.labels.tolist()
    if name == "domainnet":
        assert task.domain == "real" and task.domains == DOMAINS and len(task.ood) == 5 * N
    else:
        assert task.ood is None and task.domain is None and task.domains is None


def test_resize_follows_image_size_and_matches_pil_bilinear(hub_root, cache):
    raw = build_hub_dataset_dict("cifar10", n_per_split=N)["test"]
    for size in (8, 24):
        task = load_hub(hub_root, cache, "cifar10", image_size=size)
        image, label = task.test[1]  # a greyscale ("L") source image, 31x17
        assert image.shape == (3, size, size)
        expected = raw[1]["img"].convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        expected = torch.from_numpy(np.array(expected)).permute(2, 0, 1).float() / 255
        assert torch.equal(image, expected)
        assert torch.equal(image[0], image[1])  # greyscale replicated to three channels
        assert label == raw[1]["label"]


def test_batched_fetch_and_dataloader(hub_root, cache):
    task = load_hub(hub_root, cache, "cifar100")
    batch = task.test.__getitems__([3, 0, 5])
    for (image, label), i in zip(batch, [3, 0, 5]):
        single_image, single_label = task.test[i]
        assert torch.equal(image, single_image) and label == single_label
    loader = torch.utils.data.DataLoader(task.train, batch_size=4, shuffle=False)
    images, labels = next(iter(loader))
    assert images.shape == (4, 3, 16, 16) and labels.dtype == torch.int64
    assert labels.tolist() == task.train.labels[:4].tolist()
    clone = pickle.loads(pickle.dumps(task.train))  # DataLoader workers pickle the dataset
    assert torch.equal(clone[2][0], task.train[2][0])


def test_cifar100_uses_fine_labels(hub_root, cache):
    task = load_hub(hub_root, cache, "cifar100")
    assert task.num_classes == 4 and "coarse0" not in task.class_names


def test_split_is_seeded_disjoint_and_sized():
    a_train, a_val = holdout_split(1000, 0.1, seed=3)
    b_train, b_val = holdout_split(1000, 0.1, seed=3)
    c_train, c_val = holdout_split(1000, 0.1, seed=4)
    assert np.array_equal(a_val, b_val) and np.array_equal(a_train, b_train)
    assert not np.array_equal(a_val, c_val)
    assert len(a_val) == 100 and len(a_train) == 900
    assert not set(a_val) & set(a_train) and set(a_val) | set(a_train) == set(range(1000))
    assert len(holdout_split(10, 0.0, 0)[1]) == 0


def test_hub_val_split_follows_seed(hub_root, cache):
    def val_images(seed):
        task = load_hub(hub_root, cache, "cub200", seed=seed, val_fraction=0.3)
        assert len(task.val) == 3 and len(task.train) == 7
        return torch.stack([task.val[i][0] for i in range(len(task.val))])

    assert torch.equal(val_images(0), val_images(0))
    assert not torch.equal(val_images(0), val_images(1))


@pytest.mark.parametrize("domain_dtype", ["string", "classlabel"])
def test_domainnet_ood_pools_the_other_domains_test_splits(tmp_path, cache, domain_dtype):
    path = write_hub_dataset(tmp_path, "domainnet", n_per_split=6, domain_dtype=domain_dtype)
    task = load_task("domainnet", domain="sketch", path=path, image_size=8, cache_dir=cache)

    def domains_of(ds):
        values = ds.hf["domain"]
        return [DOMAINS[v] if domain_dtype == "classlabel" else v for v in values]

    assert set(domains_of(task.train)) == set(domains_of(task.val)) == set(domains_of(task.test)) == {"sketch"}
    assert len(task.train) + len(task.val) == 6 and len(task.test) == 6
    ood_domains = domains_of(task.ood)
    assert len(ood_domains) == 5 * 6 and "sketch" not in ood_domains
    assert {d: ood_domains.count(d) for d in set(ood_domains)} == {d: 6 for d in DOMAINS if d != "sketch"}
    assert task.ood[0][0].shape == (3, 8, 8)


def test_domainnet_domain_errors(hub_root, cache):
    with pytest.raises(RftError, match="needs domain=.*clipart, infograph, painting, quickdraw, real, sketch"):
        load_hub(hub_root, cache, "domainnet", domain=None)
    with pytest.raises(RftError, match="did you mean 'sketch'.*valid: clipart"):
        load_hub(hub_root, cache, "domainnet", domain="skecth")
    with pytest.raises(RftError, match="cifar10 has no domains"):
        load_hub(hub_root, cache, "cifar10", domain="real")


def test_integer_and_string_labels(tmp_path, cache):
    import datasets

    dd = build_hub_dataset_dict("cifar10", n_per_split=6, num_classes=3)
    names = class_names_for("cifar10", 3)

    def relabel(fn, feature):
        return datasets.DatasetDict({
            split: ds.cast_column("label", datasets.Value("int64")).map(lambda row: {"label": fn(row["label"])})
            .cast_column("label", feature) for split, ds in dd.items()})

    # Labels stored 1-based as plain integers: renumbered densely.
    relabel(lambda v: v + 1, datasets.Value("int64")).save_to_disk(str(tmp_path / "ints"))
    task = load_task("cifar10", path=tmp_path / "ints", image_size=8)
    assert task.num_classes == 3 and task.class_names == ("1", "2", "3")
    assert task.test.labels.tolist() == [0, 1, 2, 0, 1, 2] and task.test[1][1] == 1
    # Labels stored as strings: indexed in sorted order.
    relabel(lambda v: names[v], datasets.Value("string")).save_to_disk(str(tmp_path / "strings"))
    task = load_task("cifar10", path=tmp_path / "strings", image_size=8)
    assert task.class_names == tuple(names) and task.test.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert task.test[2][1] == 2


def test_column_and_split_overrides(tmp_path, cache):
    dd = build_hub_dataset_dict("cifar10", n_per_split=4)
    dd = dd.rename_column("img", "picture")
    dd["validation"] = dd.pop("test")
    dd.save_to_disk(str(tmp_path / "odd"))
    with pytest.raises(RftError, match="no split 'test'; available: train, validation"):
        load_task("cifar10", path=tmp_path / "odd")
    with pytest.raises(RftError, match="no image column 'img' or 'image'; columns: picture, label"):
        load_task("cifar10", path=tmp_path / "odd", test_split="validation")
    task = load_task("cifar10", path=tmp_path / "odd", image_column="picture", test_split="validation", image_size=8)
    assert len(task.test) == 4 and task.test[0][0].shape == (3, 8, 8)


def test_digits_task():
    task = load_task("digits", image_size=12, seed=0)
    assert task.num_classes == 10 and task.class_names == tuple("0123456789")
    assert len(task.train) + len(task.val) + len(task.test) == 1797
    assert len(task.test) == 360 and len(task.val) == round(0.1 * (1797 - 360))
    assert np.bincount(task.test.labels).min() >= 35  # stratified: every digit about 36 times
    image, label = task.train[0]
    assert image.shape == (3, 12, 12) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1 and torch.equal(image[0], image[2])
    same, other = load_task("digits", image_size=12, seed=0), load_task("digits", image_size=12, seed=1)
    assert torch.equal(same.test.images, task.test.images) and torch.equal(same.val.images, task.val.images)
    assert not torch.equal(other.val.images, task.val.images)
    pinned = load_task("digits", image_size=12, seed=1, data_seed=0)  # test split pinned, val follows seed
    assert torch.equal(pinned.test.images, task.test.images)


def small_synthetic(**kwargs):
    kwargs = {"image_size": 16, "train_size": 200, "test_size": 100, "native_size": 16, **kwargs}
    return load_task("synthetic", **kwargs)


def test_synthetic_shapes_classes_and_determinism():
    task = small_synthetic(num_classes=5, seed=3)
    assert task.num_classes == 5 and len(task.train) == 180 and len(task.val) == 20 and len(task.test) == 100
    full = np.concatenate([task.train.labels, task.val.labels])
    assert np.bincount(full).tolist() == [40] * 5 and np.bincount(task.test.labels).tolist() == [20] * 5
    image, label = task.train[0]
    assert image.shape == (3, 16, 16) and 0 < image.min() and image.max() < 1
    assert task.train.images.shape[-1] == 16
    again, other = small_synthetic(num_classes=5, seed=3), small_synthetic(num_classes=5, seed=4)
    assert torch.equal(again.train.images, task.train.images) and torch.equal(again.test.images, task.test.images)
    assert not torch.equal(other.test.images, task.test.images)
    assert small_synthetic(image_size=32).train[0][0].shape == (3, 32, 32)


def nearest_mean_accuracy(train, test, num_classes):
    x_train, x_test = train.images.flatten(1), test.images.flatten(1)
    means = torch.stack([x_train[torch.from_numpy(train.labels == k)].mean(0) for k in range(num_classes)])
    predictions = torch.cdist(x_test, means).argmin(1).numpy()
    return float((predictions == test.labels).mean())


def test_synthetic_separability_makes_the_task_easier():
    accuracies = []
    for separability in (0.0, 1.0, 2.5, 5.0):
        task = small_synthetic(separability=separability, train_size=600, test_size=300)
        accuracies.append(nearest_mean_accuracy(task.train, task.test, 10))
    assert accuracies == sorted(accuracies) and accuracies[0] < 0.2 and accuracies[-1] > 0.95, accuracies


def test_synthetic_domains_shift_pixels_but_keep_labels():
    tasks = {d: small_synthetic(domains=3, domain=d, train_size=400, test_size=150, separability=3.0, shift=1.0)
             for d in ("d0", "d1", "d2")}
    d0, d1 = tasks["d0"], tasks["d1"]
    assert d1.domain == "d1" and d1.domains == ("d0", "d1", "d2") and len(d1.ood) == 300
    # The same label space, balanced in every domain; only the style of the images differs.
    for task in tasks.values():
        assert np.bincount(task.test.labels).tolist() == [15] * 10
        assert np.bincount(task.ood.labels).tolist() == [30] * 10
    means = [t.test.images.mean(dim=(0, 2, 3)) for t in tasks.values()]
    assert (means[0] - means[1]).abs().max() > 0.03 and (means[0] - means[2]).abs().max() > 0.03
    # Labels stay meaningful within each domain, and the shift costs accuracy across domains.
    for task in tasks.values():
        in_domain = nearest_mean_accuracy(task.train, task.test, 10)
        assert in_domain > 0.8
        assert nearest_mean_accuracy(task.train, task.ood, 10) < in_domain - 0.1
    # Without shift the domains are one distribution.
    same = small_synthetic(domains=3, domain="d1", train_size=400, test_size=150, separability=3.0, shift=0.0)
    assert nearest_mean_accuracy(same.train, same.ood, 10) > 0.8
    # Domain d0 carries no style: it is the task without domains.
    plain = small_synthetic(train_size=400, test_size=150, separability=3.0)
    assert torch.equal(plain.test.images, d0.test.images)


def test_synthetic_domain_errors():
    with pytest.raises(RftError, match="needs domain=.*valid: d0, d1"):
        small_synthetic(domains=2)
    with pytest.raises(RftError, match="unknown synthetic domain 'd7'"):
        small_synthetic(domains=2, domain="d7")
    with pytest.raises(RftError, match="synthetic has no domains"):
        small_synthetic(domain="d0")
    with pytest.raises(RftError, match="'domains' must be None or at least 2"):
        small_synthetic(domains=1, domain="d0")


def test_eval_subset_is_fixed_by_seed():
    task = small_synthetic()
    a, b, c = (eval_subset(task.test, 30, seed=s) for s in (0, 0, 1))
    assert len(a) == 30 and torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert eval_subset(task.test, "all", 0) is task.test and eval_subset(task.test, None, 0) is task.test
    assert eval_subset(task.test, 10_000, 0) is task.test
    plain = torch.utils.data.TensorDataset(torch.arange(50))
    assert [x for (x,) in eval_subset(plain, 5, 2)] == [x for (x,) in eval_subset(plain, 5, 2)]
    for bad in (0, -3, "most", 2.5):
        with pytest.raises(RftError, match="positive integer or 'all'"):
            eval_subset(task.test, bad, 0)


def test_bad_input_errors(tmp_path, hub_root, cache):
    with pytest.raises(RftError, match="unknown dataset 'cifar' .*valid: caltech256, cifar10"):
        load_task("cifar")
    with pytest.raises(RftError, match="unknown synthetic option 'num_class' \\(did you mean 'num_classes'"):
        load_task("synthetic", num_class=3)
    with pytest.raises(RftError, match="unknown cifar10 option 'foo'; valid: domain_column, image_column"):
        load_hub(hub_root, cache, "cifar10", foo=1)
    with pytest.raises(RftError, match="unknown digits option"):
        load_task("digits", separability=2)
    with pytest.raises(RftError, match="does not exist"):
        load_task("cifar10", path=tmp_path / "nowhere")
    with pytest.raises(RftError, match="takes no path="):
        load_task("digits", path=tmp_path)
    with pytest.raises(RftError, match="val_fraction must be in"):
        load_task("digits", val_fraction=1.0)
    with pytest.raises(RftError, match="image_size must be a positive"):
        load_task("digits", image_size=0)
    with pytest.raises(RftError, match="seed must be an integer"):
        load_task("digits", seed="zero")
    single = build_hub_dataset_dict("cifar10", n_per_split=2)["train"]
    single.save_to_disk(str(tmp_path / "single"))
    with pytest.raises(RftError, match="single split"):
        load_task("cifar10", path=tmp_path / "single")


def test_offline_without_path_or_cache_says_pass_path(tmp_path):
    import datasets

    if not datasets.config.HF_HUB_OFFLINE:
        pytest.skip("needs HF_HUB_OFFLINE=1 (set by conftest): this test must not touch the network")
    with pytest.raises(RftError, match="offline .* no cached copy.*pass path="):
        load_task("cifar10", cache_dir=tmp_path)


def test_unreachable_hub_dataset_fails_fast_with_advice(monkeypatch):
    import time

    import datasets
    from huggingface_hub import constants as hub_constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "ENDPOINT", "http://127.0.0.1:9")  # refused at once, no network
    start = time.monotonic()
    with pytest.raises(RftError, match=r"cannot reach 127.0.0.1.*path="):
        load_task("cifar10", image_size=8)
    assert time.monotonic() - start < 10

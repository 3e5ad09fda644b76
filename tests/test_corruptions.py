"""Common corruptions: imagecorruptions reproduced under our seed, the cache key, bad input, and the
corrupted subset identical across a resume."""
import numpy as np
import pytest
import torch

from rftlib import RunConfig, finetune
from rftlib.data import TensorImageDataset
from rftlib.data import corruptions as corruptions_module
from rftlib.data.corruptions import (COMMON_CORRUPTIONS, cache_key, corrupt_images, corrupted_sets,
                                     corruption_options)
from rftlib.core.errors import RftError
from training_helpers import die_after_steps, tiny_config, without_timing


def images(n=2, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def dataset(n=6, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return TensorImageDataset(torch.rand(n, 3, size, size, generator=generator), np.arange(n) % 3, size)


def test_the_fifteen_are_imagecorruptions_common_set():
    from imagecorruptions import get_corruption_names

    assert list(COMMON_CORRUPTIONS) == get_corruption_names("common")


@pytest.mark.slow  # glass_blur compiles a numba function (~2 s)
def test_every_corruption_is_reproducible_under_our_seed_and_leaves_numpy_alone():
    batch = images()
    np.random.seed(42)
    state = np.random.get_state()
    changed_by_seed = set()
    for name in COMMON_CORRUPTIONS:
        first = corrupt_images(batch, name, 3, seed=0)
        np.random.seed(7)  # numpy's global stream must not matter...
        assert np.array_equal(first, corrupt_images(batch, name, 3, seed=0)), name
        np.random.set_state(state)
        assert first.shape == batch.shape and first.dtype == np.uint8
        if not np.array_equal(first, corrupt_images(batch, name, 3, seed=1)):
            changed_by_seed.add(name)
    # ...and is left as it was.
    assert np.random.get_state()[1].tolist() == state[1].tolist()
    # The random ones depend on the seed, including the two with their own generators.
    assert {"gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "snow", "frost",
            "fog", "elastic_transform"} <= changed_by_seed


def test_deterministic_corruptions_are_the_library_s_own():
    from imagecorruptions import corrupt

    batch = images()
    for name in ("contrast", "pixelate", "jpeg_compression", "defocus_blur"):
        ours = corrupt_images(batch, name, 4, seed=0)
        assert all(np.array_equal(ours[i], corrupt(batch[i], severity=4, corruption_name=name))
                   for i in range(len(batch))), name


def test_cache_is_written_once_and_read_back(tmp_path, monkeypatch):
    options = {"names": ["impulse_noise", "fog"], "severities": [1, 5]}
    sets = corrupted_sets(dataset(), options, seed=0, cache_dir=tmp_path, progress=False)
    assert list(sets) == ["corruption_impulse_noise", "corruption_fog"]
    assert len(sets["corruption_fog"]) == 12  # 6 images x 2 severities
    image, label = sets["corruption_fog"][7]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 1

    def fail(*args, **kwargs):
        raise AssertionError("recomputed instead of read from the cache")

    monkeypatch.setattr(corruptions_module, "corrupt_images", fail)
    again = corrupted_sets(dataset(), options, seed=0, cache_dir=tmp_path, progress=False)
    assert all(torch.equal(sets[k].images, again[k].images) for k in sets)
    assert len(list(tmp_path.iterdir())) == 1


def test_cache_key_covers_every_setting():
    clean = np.ascontiguousarray(images(4).transpose(0, 3, 1, 2))
    labels = np.array([0, 1, 2, 0])
    base = corruption_options({"names": ["fog"], "severities": [3]})
    key = cache_key(clean, labels, base, seed=0)
    other_pixels = clean.copy()
    other_pixels[0, 0, 0, 0] ^= 1
    variants = [
        cache_key(clean, labels, base, seed=1),
        cache_key(clean, labels, corruption_options({"names": ["snow"], "severities": [3]}), seed=0),
        cache_key(clean, labels, corruption_options({"names": ["fog"], "severities": [2]}), seed=0),
        cache_key(clean, labels, corruption_options({"names": ["fog"], "size": 3}), seed=0),
        cache_key(other_pixels, labels, base, seed=0),  # another dataset, split, subset or image size
        cache_key(clean, labels[::-1].copy(), base, seed=0),
    ]
    assert len({key, *variants}) == len(variants) + 1
    # The order in which corruptions are listed does not change what is computed.
    assert cache_key(clean, labels, corruption_options({"names": ["fog", "snow"]}), seed=0) == \
        cache_key(clean, labels, corruption_options({"names": ["snow", "fog"]}), seed=0)


def test_changed_settings_are_never_served_stale(tmp_path):
    one = corrupted_sets(dataset(), {"names": ["gaussian_noise"], "severities": [1]}, seed=0, cache_dir=tmp_path,
                         progress=False)
    five = corrupted_sets(dataset(), {"names": ["gaussian_noise"], "severities": [5]}, seed=0, cache_dir=tmp_path,
                          progress=False)
    other = corrupted_sets(dataset(seed=1), {"names": ["gaussian_noise"], "severities": [1]}, seed=0,
                           cache_dir=tmp_path, progress=False)
    a, b, c = (s["corruption_gaussian_noise"].images for s in (one, five, other))
    assert not torch.equal(a, b) and not torch.equal(a, c)
    assert len(list(tmp_path.iterdir())) == 3


@pytest.mark.parametrize("values, message", [
    ({"names": ["gausian_noise"]}, r"unknown corruption 'gausian_noise' \(did you mean 'gaussian_noise'\?\); "
                                   r"valid: brightness, contrast, defocus_blur, elastic_transform, fog, frost, "),
    ({"severities": [0]}, r"corruption severities are distinct integers from 1 to 5, got \[0\]"),
    ({"severities": [3, 6]}, r"corruption severities are distinct integers from 1 to 5, got \[3, 6\]"),
    ({"size": 0}, "'size' must be at least 1"),
    ({"severity": 3}, r"unknown corruptions option 'severity' \(did you mean 'severities'\?\)"),
])
def test_bad_corruption_settings_are_one_line(tmp_path, values, message):
    with pytest.raises(RftError, match=message) as error:
        corruption_options(values)
    assert "\n" not in str(error.value)
    config = tiny_config(output_dir=str(tmp_path), model_kwargs={"img_size": 32, "patch_size": 8}, corruptions=values)
    with pytest.raises(RftError, match=message):
        finetune(config, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_small_images_are_refused_in_one_line(tmp_path):
    with pytest.raises(RftError, match="need images of at least 32 px .* this run's are 16 px"):
        RunConfig.from_dict(tiny_config(corruptions={}))  # tiny_config: 16 px
    with pytest.raises(RftError, match="at least 32 px"):
        corrupted_sets(dataset(size=16), {}, seed=0, cache_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def corruption_run(**overrides):
    return tiny_config(model_kwargs={"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2},
                       max_steps=8, schedule=[[None, 4]],
                       corruptions={"names": ["impulse_noise", "glass_blur", "contrast"], "size": 12},
                       **overrides)


@pytest.mark.slow
def test_corrupted_subset_is_identical_across_resume(tmp_path, monkeypatch):
    reference = finetune(corruption_run(), run_dir=tmp_path / "reference", progress=False)
    records = reference.records
    assert {"corruption_acc", "corruption_impulse_noise_acc", "corruption_glass_blur_acc",
            "corruption_contrast_acc"} <= set(records.columns)
    means = records[["corruption_impulse_noise_acc", "corruption_glass_blur_acc", "corruption_contrast_acc"]]
    assert np.allclose(records["corruption_acc"], means.mean(axis=1))

    # A run that dies after its second evaluation resumes from the checkpoint...
    die_after_steps(monkeypatch, 6)
    with pytest.raises(KeyboardInterrupt):
        finetune(corruption_run(), run_dir=tmp_path / "resumed", progress=False)
    monkeypatch.undo()
    cache = tmp_path / "resumed" / "corruptions"
    (key,) = [p.name for p in cache.iterdir()]
    # ...with its corrupted images read from the cache, not made again...
    monkeypatch.setattr(corruptions_module, "corrupt_images", lambda *a, **k: pytest.fail("recomputed"))
    resumed = finetune(corruption_run(), run_dir=tmp_path / "resumed", progress=False)
    assert without_timing(resumed.records) == without_timing(reference.records)
    # ...and the reference run, which made its own, made the same bytes under the same key.
    paths = sorted((tmp_path / "reference" / "corruptions" / key).glob("*.npy"))
    assert len(paths) == 3
    for path in paths:
        assert np.array_equal(np.load(path), np.load(cache / key / path.name)), path.name

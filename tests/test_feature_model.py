"""The feature_model dataset: robust patterns as accurate as asked, non-robust codes at the asked
amplitude, deterministic by seed, one task across data seeds, domains and bad options."""
import numpy as np
import pytest
import torch

from rftlib.data import load_task
from rftlib.data.feature_model import FeatureModelOptions, nonrobust_codes
from rftlib.core.errors import RftError
from rftlib.stats import wilson_interval


def task(**kwargs):
    return load_task("feature_model", **{"image_size": 16, "train_size": 400, "test_size": 600, **kwargs})


def nearest_pattern_accuracy(train, test):
    """Nearest class mean of the images: reads the robust patterns (the codes average out)."""
    x_train, x_test = train.images.flatten(1), test.images.flatten(1)
    means = torch.stack([x_train[torch.from_numpy(train.labels == k)].mean(0) for k in range(10)])
    return int((torch.cdist(x_test, means).argmin(1).numpy() == test.labels).sum())


def test_shapes_determinism_and_one_task_across_data_seeds():
    a, b, c = task(seed=0), task(seed=0), task(seed=1)
    assert a.num_classes == 10 and a.train.images.shape[1:] == (3, 16, 16) and len(a.test) == 600
    assert torch.equal(a.test.images, b.test.images) and not torch.equal(a.test.images, c.test.images)
    assert 0 <= a.test.images.min() and a.test.images.max() <= 1
    # Another data seed draws other examples of the same task: same class patterns and codes.
    assert nearest_pattern_accuracy(a.train, c.test) > 0.7 * 600
    other_task = task(seed=1, pattern_seed=5)
    assert nearest_pattern_accuracy(a.train, other_task.test) < 0.3 * 600


@pytest.mark.parametrize("robust_accuracy", [0.7, 0.85])
def test_robust_patterns_alone_give_the_chosen_accuracy(robust_accuracy):
    t = task(robust_accuracy=robust_accuracy, nonrobust_strength=0)
    correct = nearest_pattern_accuracy(t.train, t.test)
    low, high = wilson_interval(correct, 600, confidence=0.999)
    assert low <= robust_accuracy <= high, (correct / 600, robust_accuracy)


def test_nonrobust_codes_sit_at_the_asked_amplitude_and_predict_the_label():
    strength, eta = 2.0, 1.5
    with_codes, without = task(nonrobust_strength=strength, eta=eta, nonrobust_features=500), task(nonrobust_strength=0)
    residual = (with_codes.test.images - without.test.images).flatten(1).double().numpy()
    where, codes = nonrobust_codes(FeatureModelOptions(nonrobust_strength=strength, eta=eta, nonrobust_features=500))
    assert len(where) == 500 and np.abs(np.delete(residual, where, axis=1)).max() == 0  # d = 500 of 768 carry codes
    signed = residual[:, where] * codes[with_codes.test.labels]  # + strength / 255 on average, noise std strength / (255 eta)
    assert signed.mean() == pytest.approx(strength / 255, rel=0.02)
    assert signed.std() == pytest.approx(strength / 255 / eta, rel=0.05)
    # Strongly correlated with the label: reading the codes off the residual is nearly always right.
    assert ((residual[:, where] @ codes.T).argmax(1) == with_codes.test.labels).mean() > 0.99
    assert len(nonrobust_codes(FeatureModelOptions())[0]) == 3 * 16 * 16  # None: every coordinate


def test_domains_restyle_the_robust_part_and_pool_the_others_as_ood():
    d0, d1 = task(domains=3, domain="d0", shift=1.0), task(domains=3, domain="d1", shift=1.0)
    assert d1.domains == ("d0", "d1", "d2") and len(d1.ood) == 1200
    assert (d0.test.images.mean(dim=(0, 2, 3)) - d1.test.images.mean(dim=(0, 2, 3))).abs().max() > 0.03
    assert torch.equal(d0.test.images, task(seed=0).test.images)  # d0 carries no style
    assert nearest_pattern_accuracy(d1.train, d1.test) > nearest_pattern_accuracy(d1.train, d0.test)


@pytest.mark.parametrize(("options", "message"), [
    ({"robust_accuracy": 1.5}, "'robust_accuracy' must lie in \\[0, 1\\]"),
    ({"nonrobust_strength": -1}, "'nonrobust_strength' must be >= 0"),
    ({"eta": 0}, "'eta' must be > 0"),
    ({"nonrobust_features": 769}, "'nonrobust_features' must be None or in \\[1, 768\\]"),
    ({"nonrobust_period": 0}, "'nonrobust_period' must lie in"),
    ({"separability": 0}, "'separability' must be > 0"),
    ({"non_robust_strength": 1}, "unknown feature_model option 'non_robust_strength' \\(did you mean 'nonrobust_strength'"),
])
def test_bad_options_fail_in_one_line(options, message):
    with pytest.raises(RftError, match=message):
        task(**options)

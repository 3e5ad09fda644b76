"""RQ3's correlations of shifted accuracy with clean accuracy (rftlib.analysis.shift)."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rftlib.core.errors import RftError
from rftlib.analysis.shift import clean_correlations, pearson


def test_pearson_and_its_interval_match_scipy():
    rng = np.random.default_rng(0)
    x = rng.random(40)
    y = x + rng.normal(0, 0.2, 40)
    r, low, high = pearson(x, y)
    reference = stats.pearsonr(x, y)
    interval = reference.confidence_interval(0.95)  # Fisher's z, as here
    assert r == pytest.approx(reference.statistic)
    assert (low, high) == pytest.approx((interval.low, interval.high))
    assert all(math.isnan(v) for v in pearson([0.1, 0.2], [0.3, 0.4]))  # too few points


def test_clean_correlations_per_measure_and_level():
    rows = []
    for run, (offset, strategy) in enumerate([(0.0, "lora"), (0.1, "full"), (0.2, "bitfit")]):
        for step, clean in enumerate([0.2, 0.5, 0.7, 0.8]):
            rows.append(dict(run=f"r{run}", strategy=strategy, step=step, clean_acc=clean + offset,
                             ood_acc=None, corruption_acc=0.8 * (clean + offset) - 0.05))
    records = pd.DataFrame(rows)
    table = clean_correlations(records)
    assert list(table["measure"]) == ["corruption_acc", "corruption_acc"]  # no OOD values: left out
    assert list(table["level"]) == ["evaluations", "final per run"] and list(table["n"]) == [12, 3]
    assert table["r"].iloc[0] == pytest.approx(1.0)
    with pytest.raises(RftError, match="needs clean_acc and one of ood_acc, corruption_acc"):
        clean_correlations(records.drop(columns=["corruption_acc"]))

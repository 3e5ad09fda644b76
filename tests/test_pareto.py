"""Pareto frontier, its area and "% above average" (STUDY.md, "Pareto frontier and AUC")."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rftlib.core.errors import RftError
from rftlib.stats.pareto import pareto_auc, pareto_front, percent_above_average

# The paper's AUC table (STUDY.md), strategies x datasets.
PAPER_AUC = pd.DataFrame(
    {
        "cifar10": [0.21, 0.09, 0.14, 0.12, 0.08, 0.06, 0.11],
        "cifar100": [0.10, 0.06, 0.07, 0.05, 0.05, 0.03, 0.04],
        "caltech256": [0.33, 0.34, 0.23, 0.21, 0.31, 0.24, 0.26],
        "cub200": [0.14, 0.15, 0.12, 0.07, 0.13, 0.08, 0.09],
        "stanford_dogs": [0.08, 0.09, 0.06, 0.05, 0.05, 0.02, 0.05],
    },
    index=["bitfit", "compacter", "lora", "adapter", "ia3", "linear_probe", "full"],
)

unit = st.floats(0.0, 1.0, allow_nan=False)
point_sets = st.lists(st.tuples(unit, unit), min_size=1, max_size=12)


# --- pareto_front -------------------------------------------------------------------------------

def test_front_of_a_small_set():
    pts = [(0.9, 0.1), (0.5, 0.3), (0.4, 0.2), (0.9, 0.05), (0.5, 0.3), (0.2, 0.3), (0.1, 0.5)]
    front = pareto_front(pts)
    np.testing.assert_array_equal(front, [[0.1, 0.5], [0.5, 0.3], [0.9, 0.1]])


def test_front_ties_and_empty():
    # Same clean accuracy: only the more robust survives; same robustness: only the more accurate.
    np.testing.assert_array_equal(pareto_front([(0.5, 0.2), (0.5, 0.4)]), [[0.5, 0.4]])
    np.testing.assert_array_equal(pareto_front([(0.3, 0.4), (0.5, 0.4)]), [[0.5, 0.4]])
    np.testing.assert_array_equal(pareto_front(np.array([[0.5, 0.4]] * 3)), [[0.5, 0.4]])
    assert pareto_front([]).shape == (0, 2)


@settings(max_examples=60, deadline=None)
@given(point_sets)
def test_front_is_non_dominated_and_covers_every_point(pts):
    front = pareto_front(pts)
    assert np.all(np.diff(front[:, 0]) > 0) and np.all(np.diff(front[:, 1]) < 0)
    for i, f in enumerate(front):
        others = np.delete(front, i, axis=0)
        assert not np.any(np.all(others >= f, axis=1) & np.any(others > f, axis=1))
    for p in pts:
        assert np.any(np.all(front >= np.array(p), axis=1))


# --- pareto_auc ---------------------------------------------------------------------------------

def test_auc_known_values():
    assert pareto_auc([(0.8, 0.5)]) == pytest.approx(0.4)
    # Rectangles [0,.2]x[0,.6] and [0,.8]x[0,.1] overlap in [0,.2]x[0,.1]: .12 + .08 - .02.
    assert pareto_auc([(0.2, 0.6), (0.8, 0.1)]) == pytest.approx(0.18)
    assert pareto_auc([(0.2, 0.6), (0.8, 0.1)], method="trapezoid") == pytest.approx(0.12 + 0.6 * 0.35)
    assert pareto_auc([(0.0, 1.0), (1.0, 0.0)], method="trapezoid") == pytest.approx(0.5)
    assert pareto_auc([(0.0, 1.0), (1.0, 0.0)]) == 0.0
    assert pareto_auc([(1.0, 1.0)]) == 1.0
    assert pareto_auc([]) == 0.0


def test_auc_rejects_bad_input():
    with pytest.raises(RftError, match=r"\[0, 1\]"):
        pareto_auc([(95.0, 20.0)])
    with pytest.raises(RftError, match="NaN"):
        pareto_auc([(0.5, float("nan"))])
    with pytest.raises(RftError, match="shape"):
        pareto_auc([0.1, 0.2, 0.3])
    with pytest.raises(RftError, match="valid: staircase, trapezoid"):
        pareto_auc([(0.5, 0.5)], method="trapz")


def _lattice_area(points, n):
    """Exact dominated area for points on the 1/n lattice: count the dominated grid cells."""
    centres = (np.arange(n) + 0.5) / n
    cx, cy = np.meshgrid(centres, centres, indexing="ij")
    covered = np.zeros_like(cx, dtype=bool)
    for x, y in points:
        covered |= (cx <= x) & (cy <= y)
    return covered.mean()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=10))
def test_auc_equals_brute_force_on_a_lattice(ints):
    pts = [(a / 20, b / 20) for a, b in ints]
    assert pareto_auc(pts) == pytest.approx(_lattice_area(pts, 20), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(point_sets)
def test_auc_matches_a_fine_grid_count(pts):
    # A monotone staircase boundary crosses at most 2n + 1 cells of an n x n grid.
    n = 300
    assert pareto_auc(pts) == pytest.approx(_lattice_area(pts, n), abs=(2 * n + 1) / n**2)


@settings(max_examples=60, deadline=None)
@given(point_sets, st.data())
def test_dominated_points_leave_the_auc_unchanged(pts, data):
    anchor = pts[data.draw(st.integers(0, len(pts) - 1))]
    shrink = data.draw(st.tuples(st.floats(0, 1), st.floats(0, 1)))
    dominated = (anchor[0] * shrink[0], anchor[1] * shrink[1])
    for method in ("staircase", "trapezoid"):
        assert pareto_auc(pts + [dominated], method) == pareto_auc(pts, method)
    assert pareto_auc(pts, "trapezoid") >= pareto_auc(pts) - 1e-12


# --- percent above average ----------------------------------------------------------------------

def _rounding_interval(table, strategy, dataset, half_step=0.005):
    """The range of "% above average" that entries rounded to two decimals allow: the strategy's
    AUC anywhere in +-half_step of its printed value, each other strategy's too."""
    own = table.loc[strategy, dataset]
    rest = table[dataset].drop(strategy).sum()
    n, m = len(table), len(table) - 1
    low = 100 * (n * (own - half_step) / (own - half_step + rest + m * half_step) - 1)
    high = 100 * (n * (own + half_step) / (own + half_step + rest - m * half_step) - 1)
    return low, high


def test_percent_above_average_of_the_paper_table():
    pct = percent_above_average(PAPER_AUC)
    assert pct.shape == PAPER_AUC.shape
    assert pct.mean().abs().max() < 1e-9  # deviations from the mean cancel
    # Exact values of the printed table: BitFit 81.48 (CIFAR-10) and 75.00 (CIFAR-100); Compacter
    # 23.96 (Caltech-256), 34.62 (CUB-200) and 57.50 (Stanford Dogs).
    assert pct.loc["bitfit", "cifar10"] == pytest.approx(100 * (0.21 * 7 / 0.81 - 1))
    assert pct.loc["bitfit", "cifar100"] == pytest.approx(75.0)
    assert pct.loc["compacter", "caltech256"] == pytest.approx(100 * (0.34 * 7 / 1.92 - 1))
    assert pct.loc["compacter", "cub200"] == pytest.approx(100 * (0.15 * 7 / 0.78 - 1))
    assert pct.loc["compacter", "stanford_dogs"] == pytest.approx(57.5)
    # The paper's text quotes BitFit 75% / 81.5% on CIFAR-10 / CIFAR-100 and Compacter 57.5% /
    # 34.6% on Caltech-256 / CUB-200. Three of these lie within what the table's rounding allows:
    for strategy, dataset, quoted in [("bitfit", "cifar10", 75.0), ("bitfit", "cifar100", 81.5),
                                      ("compacter", "cub200", 34.6)]:
        low, high = _rounding_interval(PAPER_AUC, strategy, dataset)
        assert low <= quoted <= high
    assert abs(pct.loc["compacter", "cub200"] - 34.6) < 0.1
    # but the printed table gives the CIFAR pair exactly the other way round, and 57.5% is
    # Compacter on Stanford Dogs: on Caltech-256 no rounding of the entries gets beyond ~27%
    # (Compacter would need an AUC of about 0.45). The quoted figures are labelling slips.
    assert abs(pct.loc["bitfit", "cifar100"] - 75.0) < 0.1 and abs(pct.loc["bitfit", "cifar10"] - 81.5) < 0.1
    assert abs(pct.loc["compacter", "stanford_dogs"] - 57.5) < 0.1
    assert _rounding_interval(PAPER_AUC, "compacter", "caltech256")[1] < 30.0
    # The paper's qualitative claim holds: BitFit best on CIFAR, Compacter on Caltech and CUB.
    assert pct["cifar10"].idxmax() == pct["cifar100"].idxmax() == "bitfit"
    assert pct["caltech256"].idxmax() == pct["cub200"].idxmax() == "compacter"


def test_percent_above_average_containers():
    out = percent_above_average({"a": 0.3, "b": 0.1})
    assert out == pytest.approx({"a": 50.0, "b": -50.0}) and isinstance(out, dict)
    series = percent_above_average(pd.Series({"a": 0.3, "b": 0.1}))
    assert isinstance(series, pd.Series) and series["a"] == pytest.approx(50.0)
    frame = percent_above_average(pd.DataFrame({"x": [0.3, 0.1, np.nan]}, index=["a", "b", "c"]))
    assert frame.loc["a", "x"] == pytest.approx(50.0) and np.isnan(frame.loc["c", "x"])
    with pytest.raises(RftError):
        percent_above_average({})
    with pytest.raises(RftError, match="positive mean"):
        percent_above_average({"a": 0.0})
    with pytest.raises(RftError, match="numbers"):
        percent_above_average({"a": "high"})
    with pytest.raises(RftError):
        percent_above_average([0.1, 0.2])

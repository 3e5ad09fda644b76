"""The feature model behind the paper's bound eta >= Phi^-1(0.99) / sqrt(k + d) (STUDY.md, Theory)."""
import math

import numpy as np
import pytest
from scipy.stats import norm

from rftlib.analysis import theory
from rftlib.core.errors import RftError


def test_sample_shapes_and_determinism():
    X, y = theory.sample(500, 4, 0.3, rng=np.random.default_rng(1), k=2)
    assert X.shape == (500, 7) and y.shape == (500,)
    assert set(np.unique(y)) == {-1.0, 1.0} and set(np.unique(X[:, 0])) <= {-1.0, 1.0}
    X2, y2 = theory.sample(500, 4, 0.3, rng=np.random.default_rng(1), k=2)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = theory.sample(500, 4, 0.3, rng=np.random.default_rng(2), k=2)
    assert not np.array_equal(X, X3)
    # Same seed, another eta: the same noise shifted by (eta' - eta) * y.
    X4, _ = theory.sample(500, 4, 0.5, rng=np.random.default_rng(1), k=2)
    np.testing.assert_allclose(X4[:, 1:] - X[:, 1:], np.broadcast_to(0.2 * y[:, None], (500, 6)))


def test_sample_statistics():
    X, y = theory.sample(40_000, 3, 0.25, p=0.9, rng=np.random.default_rng(0))
    assert np.mean(X[:, 0] == y) == pytest.approx(0.9, abs=0.01)
    assert np.mean(X[:, 1:] * y[:, None]) == pytest.approx(0.25, abs=0.01)
    assert np.std(X[:, 1:] - 0.25 * y[:, None]) == pytest.approx(1.0, abs=0.01)


def test_weights():
    w0 = theory.pretrained_weights(3, 2, robust_weight=0.5)
    dw = theory.weight_update(3, 2)
    np.testing.assert_array_equal(w0, [0.5, 1, 1, 1, 0, 0])
    assert np.count_nonzero(dw) == 2 and not np.any(w0 * dw)  # ||dw||_0 = k, disjoint supports
    np.testing.assert_array_equal(theory.finetuned_weights(3, 2, 0.5), w0 + dw)
    assert len(theory.finetuned_weights(3, 0)) == 4


def test_bad_input():
    with pytest.raises(RftError, match="full fine-tuning"):
        theory.finetuned_weights(3, 4)
    with pytest.raises(RftError, match="d"):
        theory.sample(10, 0, 0.1)
    with pytest.raises(RftError, match="same d and k"):
        X, y = theory.sample(10, 3, 0.1, rng=0)
        theory.accuracy(theory.finetuned_weights(3, 1), X, y)
    with pytest.raises(RftError, match="eps"):
        X, y = theory.sample(10, 3, 0.1, rng=0)
        theory.linf_robust_accuracy(theory.finetuned_weights(3, 0), X, y, -0.1)
    with pytest.raises(RftError):
        theory.eta_bound(3, 1, target=1.0)
    with pytest.raises(RftError, match="rng"):
        theory.sample(10, 3, 0.1, rng="seed")


def test_linf_attack_is_exact_for_a_linear_model():
    rng = np.random.default_rng(3)
    X, y = theory.sample(300, 5, 0.4, rng=rng, k=3)
    w = theory.finetuned_weights(5, 3, robust_weight=2.0)
    eps = 0.3
    attacked = X - eps * y[:, None] * np.sign(w)[None, :]  # every coordinate pushed against the label
    assert theory.linf_robust_accuracy(w, X, y, eps) == theory.accuracy(w, attacked, y)
    curve = theory.linf_robust_accuracy(w, X, y, np.array([0.0, 0.1, 0.3]))
    assert curve.shape == (3,) and curve[0] == theory.accuracy(w, X, y) and curve[2] == pytest.approx(
        theory.accuracy(w, attacked, y))


def test_eta_bound_values():
    assert theory.eta_bound(10, 0) == pytest.approx(norm.ppf(0.99) / math.sqrt(10))
    assert theory.eta_bound(50, 50) == pytest.approx(2.326 / 10, abs=1e-3)  # full FT: 2.33 / sqrt(2d)
    assert theory.eta_bound(10, 10) < theory.eta_bound(10, 2) < theory.eta_bound(10, 0)
    assert theory.eta_bound(5, 0) > theory.eta_bound(50, 0)  # a simpler task (smaller d) needs stronger features


@pytest.mark.parametrize("d,k", [(4, 0), (10, 5), (20, 20)])
def test_simulated_threshold_matches_the_paper_bound(d, k):
    n = 100_000
    simulated = theory.accuracy_threshold_eta(d, k, n=n, seed=d + k)
    bound = theory.eta_bound(d, k)
    # Standard error of the empirical 99% threshold (delta method through Phi(eta * sqrt(d + k))).
    se = math.sqrt(0.99 * 0.01 / n) / (norm.pdf(norm.ppf(0.99)) * math.sqrt(d + k))
    assert abs(simulated - bound) < 4 * se
    # At the simulated threshold the simulated accuracy has (just) reached the target.
    assert theory.simulated_accuracy(d, k, simulated + 1e-9, n=n, seed=d + k) >= 0.99
    assert theory.simulated_accuracy(d, k, simulated - 1e-6, n=n, seed=d + k) < 0.99


def test_simulated_accuracy_agrees_with_the_closed_form():
    for eps in (0.0, 0.15):
        sim = theory.simulated_accuracy(8, 4, 0.1, eps, n=50_000, robust_weight=1.5, seed=2)
        assert sim == pytest.approx(theory.analytic_accuracy(8, 4, 0.1, eps, robust_weight=1.5), abs=0.01)


def test_threshold_with_a_robust_feature():
    # A robust feature that alone gives p = 0.95 lowers the eta needed for 99%, but not to 0.
    with_robust = theory.accuracy_threshold_eta(10, 0, n=20_000, robust_weight=1.0)
    assert 0 < with_robust < theory.eta_bound(10, 0)
    assert theory.accuracy_threshold_eta(10, 0, target=0.9, n=20_000, robust_weight=100.0) == 0.0


def test_accuracy_rises_with_eta_and_k():
    frame = theory.sweep([10], [0, 5, 10], etas=[0.05, 0.1, 0.2], n=20_000)
    acc = frame.pivot(index="eta", columns="k", values="accuracy")
    assert (acc.diff().dropna() > 0).all().all()  # down the etas
    assert (acc.T.diff().dropna() > 0).all().all()  # across the ks
    assert np.allclose(frame["accuracy"], frame["analytic_accuracy"], atol=0.01)


def test_robust_accuracy_falls_with_eps_and_with_k():
    # eps > eta: the attack reverses every non-robust feature, so reading more of them hurts.
    eta = 0.1
    frame = theory.sweep([10], [0, 5, 10], etas=[eta], epss=[0.0, 0.15, 0.2, 0.3], n=20_000)
    rob = frame.pivot(index="eps", columns="k", values="robust_accuracy")
    assert (rob.diff().dropna() < 0).all().all()  # down the epss
    attacked = rob.loc[[0.15, 0.2, 0.3]]
    assert (attacked.T.diff().dropna() < 0).all().all()  # full FT (k = d) the most attackable
    assert np.allclose(frame["robust_accuracy"], frame["analytic_robust_accuracy"], atol=0.01)


def test_at_the_bound_more_updates_mean_less_robustness():
    # Each k at its own 99% threshold: equal accuracy, robustness falling with k for any eps > 0.
    frame = theory.sweep([10], [0, 2, 5, 10], epss=[0.05], n=20_000)
    assert np.allclose(frame["accuracy"], 0.99, atol=0.005)
    assert (np.diff(frame["robust_accuracy"].to_numpy()) < 0).all()
    assert list(frame.columns[:6]) == ["d", "k", "eta", "eps", "accuracy", "robust_accuracy"]


def test_sweep_is_tidy_and_deterministic():
    a = theory.sweep([3, 6], [0, 3, 6], etas=[0.2, 0.4], epss=[0.0, 0.1], n=2_000, seed=5)
    b = theory.sweep([3, 6], [0, 3, 6], etas=[0.2, 0.4], epss=[0.0, 0.1], n=2_000, seed=5)
    assert a.equals(b)
    # (d=3: k in 0, 3; d=6: k in 0, 3, 6) x 2 etas x 2 epss; k > d is skipped.
    assert len(a) == 5 * 2 * 2
    assert not a.duplicated(["d", "k", "eta", "eps"]).any()


def test_robust_accuracy_at_the_threshold_falls_with_k_and_matches_the_closed_form():
    table = theory.threshold_robustness(50, [0, 10, 25, 50, 80], eps=0.15, n=50_000)
    assert list(table["k"]) == [0, 10, 25, 50]  # k > d skipped
    assert np.allclose(table["eta"], table["eta_bound"], atol=0.01)
    assert np.allclose(table["robust_accuracy"], table["analytic_robust_accuracy"], atol=0.02)
    assert (np.diff(table["analytic_robust_accuracy"]) < 0).all()
    assert table["robust_accuracy"].iloc[0] - table["robust_accuracy"].iloc[-1] > 0.08  # 0.897 -> 0.796 closed form


def test_the_claim_in_numbers_and_words():
    c = theory.claim_numbers(50, [50, 0, 25], eps=0.15)
    assert (c["k_low"], c["k_high"]) == (0, 50) and c["crossing"] == pytest.approx(0.5)
    assert c["eta_above"] == pytest.approx(norm.ppf(0.99) / 10)  # the largest k's threshold
    assert c["above_high"] > c["above_low"] > 0.5  # above the crossing, more updates are more robust
    assert c["threshold_low"] > c["threshold_high"]  # at each one's own threshold, less
    assert c["threshold_high"] == pytest.approx(c["above_high"])
    sentence = theory.claim_sentence(c)
    assert "eta = eps (50.0%)" in sentence and "falls from 89.7% (k = 0) to 79.6% (k = 50)" in sentence
    with pytest.raises(RftError, match="must exceed eps"):
        theory.claim_numbers(50, [0, 50], eps=0.15, eta_above=0.1)
    with pytest.raises(RftError, match="at least two values of k"):
        theory.claim_numbers(50, [10], eps=0.15)


def test_the_claim_figure_draws_the_crossing_and_the_threshold_points():
    from rftlib import figures

    curves = theory.sweep([20], [0, 20], etas=np.linspace(0, 0.6, 7), epss=[0.2], n=2_000)
    thresholds = theory.threshold_robustness(20, [0, 20], eps=0.2, n=2_000)
    fig = figures.theory_claim(curves, thresholds)
    left, right = fig.axes
    assert len(left.get_lines()) == 3  # one curve per k and the eta = eps line
    assert left.get_lines()[-1].get_xdata()[0] == pytest.approx(0.2)
    assert len(right.collections[0].get_offsets()) == 2

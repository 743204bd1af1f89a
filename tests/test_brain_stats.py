"""gnnkit.brain.stats against scipy with the same data and seed, an exact sign-flip enumeration, and Holm by hand."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from gnnkit.brain import stats

X = np.array([0.31, 0.35, 0.29, 0.40, 0.33, 0.37, 0.30, 0.36, 0.34, 0.38])
Y = np.array([0.30, 0.31, 0.30, 0.35, 0.31, 0.33, 0.31, 0.32, 0.30, 0.36])


@pytest.mark.parametrize("method", ["BCa", "percentile", "basic"])
def test_bootstrap_ci_equals_scipy(method):
    ci = stats.bootstrap_ci(X, method=method, n_resamples=2000, seed=7)
    ref = sps.bootstrap((X,), np.mean, method=method, n_resamples=2000, rng=np.random.default_rng(7))
    assert ci.low == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert ci.high == pytest.approx(ref.confidence_interval.high, rel=1e-12)
    assert ci.estimate == pytest.approx(X.mean()) and ci.n == 10 and ci.method == method
    assert ci.low < ci.estimate < ci.high


def test_bootstrap_ci_seeded_is_reproducible_and_seed_matters():
    a, b = stats.bootstrap_ci(X, seed=3), stats.bootstrap_ci(X, seed=3)
    assert a == b
    assert stats.bootstrap_ci(X, seed=4).low != a.low


def test_bootstrap_ci_custom_statistic_and_level():
    ci = stats.bootstrap_ci(X, np.median, confidence_level=0.9, method="percentile", n_resamples=1000, seed=1)
    ref = sps.bootstrap((X,), np.median, confidence_level=0.9, method="percentile", n_resamples=1000,
                        rng=np.random.default_rng(1))
    assert (ci.low, ci.high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert ci.estimate == pytest.approx(np.median(X))


def test_bootstrap_ci_constant_data_is_a_point():
    ci = stats.bootstrap_ci([0.5] * 6)
    assert (ci.low, ci.estimate, ci.high) == (0.5, 0.5, 0.5)


def test_compare_paired_pvalue_equals_scipy_and_exact_enumeration():
    res = stats.compare(X, Y, paired=True, alternative="greater", seed=0)
    ref = sps.permutation_test((X, Y), lambda a, b, axis: np.mean(a - b, axis=axis), permutation_type="samples",
                               vectorized=True, alternative="greater", rng=np.random.default_rng(0))
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    d = X - Y  # all 2^10 sign flips by hand: the exact one-sided p-value
    flips = np.array(list(itertools.product([1.0, -1.0], repeat=d.size)))
    exact = np.mean((flips * d).mean(1) >= d.mean() - 1e-12)
    assert res.pvalue == pytest.approx(exact)
    assert res.difference == pytest.approx(d.mean())
    assert res.effect_size == pytest.approx(d.mean() / d.std(ddof=1)) and res.effect_size_name == "cohen_dz"
    boot = sps.bootstrap((d,), np.mean, n_resamples=9999, rng=np.random.default_rng(0))
    assert (res.ci.low, res.ci.high) == pytest.approx((boot.confidence_interval.low, boot.confidence_interval.high))
    assert res.pvalue_holm is None and res.significant()


def test_compare_two_sample_equals_scipy_and_cohen_d():
    res = stats.compare(X, Y[:8], paired=False, alternative="two-sided", n_resamples=3000, seed=5)
    ref = sps.permutation_test((X, Y[:8]), lambda a, b, axis: np.mean(a, axis=axis) - np.mean(b, axis=axis),
                               vectorized=True, n_resamples=3000, rng=np.random.default_rng(5))
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    b = Y[:8]
    pooled = math.sqrt((9 * X.var(ddof=1) + 7 * b.var(ddof=1)) / 16)
    assert res.effect_size == pytest.approx((X.mean() - b.mean()) / pooled) and res.effect_size_name == "cohen_d"
    boot = sps.bootstrap((X, b), lambda a, c, axis: np.mean(a, axis=axis) - np.mean(c, axis=axis), n_resamples=3000,
                         rng=np.random.default_rng(5))
    assert (res.ci.low, res.ci.high) == pytest.approx((boot.confidence_interval.low, boot.confidence_interval.high))
    assert (res.n_x, res.n_y) == (10, 8)


def test_compare_alternative_direction():
    up = stats.compare(X, Y, paired=True, alternative="greater")
    down = stats.compare(X, Y, paired=True, alternative="less")
    assert up.pvalue < 0.05 < down.pvalue


def test_holm_adjust_hand_computed():
    # m = 4: sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (monotone), 0.5
    adjusted = stats.holm_adjust([0.03, 0.01, 0.5, 0.02])
    np.testing.assert_allclose(adjusted, [0.06, 0.04, 0.5, 0.06])
    np.testing.assert_allclose(stats.holm_adjust([0.4, 0.9]), [0.8, 0.9])
    np.testing.assert_allclose(stats.holm_adjust([0.7, 0.8]), [1.0, 1.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12))
def test_holm_adjust_properties(pvalues):
    p = np.array(pvalues)
    adj = stats.holm_adjust(p)
    assert (adj >= p - 1e-15).all() and (adj <= 1.0).all()
    order = np.argsort(p, kind="stable")
    assert (np.diff(adj[order]) >= -1e-15).all()  # the step-down order is kept
    assert adj.min() == pytest.approx(min(1.0, p.size * p.min()))


def test_holm_sets_adjusted_pvalues_on_comparisons():
    comps = [stats.compare(X, Y, paired=True, alternative="greater", label="a"),
             stats.compare(Y, X, paired=True, alternative="greater", label="b")]
    out = stats.holm(comps)
    np.testing.assert_allclose([c.pvalue_holm for c in out], stats.holm_adjust([c.pvalue for c in comps]))
    assert [c.label for c in out] == ["a", "b"] and comps[0].pvalue_holm is None


@pytest.mark.parametrize("bad, match", [
    ([1.0], "at least 2"),
    ([[1.0, 2.0]], "1-D"),
    ([1.0, float("nan")], "finite"),
])
def test_bootstrap_ci_rejects_bad_data(bad, match):
    with pytest.raises(ValueError, match=match):
        stats.bootstrap_ci(bad)


def test_bootstrap_ci_rejects_non_numeric_and_bad_options():
    with pytest.raises(TypeError, match="data must be a 1-D sequence"):
        stats.bootstrap_ci(["a", "b"])
    with pytest.raises(ValueError, match="confidence_level"):
        stats.bootstrap_ci(X, confidence_level=1.5)
    with pytest.raises(ValueError, match="method must be one of"):
        stats.bootstrap_ci(X, method="bca")
    with pytest.raises(ValueError, match="n_resamples"):
        stats.bootstrap_ci(X, n_resamples=0)


def test_compare_rejects_bad_input():
    with pytest.raises(ValueError, match="equal lengths"):
        stats.compare(X, Y[:5], paired=True)
    with pytest.raises(ValueError, match="alternative must be one of"):
        stats.compare(X, Y, paired=True, alternative="bigger")
    with pytest.raises(TypeError, match="paired must be a bool"):
        stats.compare(X, Y, paired="yes")
    with pytest.raises(ValueError, match="y needs at least 2"):
        stats.compare(X, [1.0], paired=False)


def test_holm_rejects_bad_input():
    with pytest.raises(ValueError, match=r"pvalues must lie in \[0, 1\]"):
        stats.holm_adjust([0.2, 1.5])
    with pytest.raises(ValueError, match="at least 1"):
        stats.holm_adjust([])
    with pytest.raises(ValueError, match="must not be empty"):
        stats.holm([])
    with pytest.raises(TypeError, match=r"comparisons\[0\] must be a Comparison"):
        stats.holm([0.1])


def test_results_format_as_estimate_and_interval():
    ci = stats.ConfidenceInterval(0.5, 0.25, 0.75, 0.95, "BCa", 10)
    assert f"{ci:.2f}" == "0.50 [0.25, 0.75]" and str(ci) == "0.5 [0.25, 0.75]"
    c = stats.Comparison(-0.5, ci, 0.01, 1.0, "cohen_dz", "greater", "t", 10, 10)
    assert f"{c:.1f}" == "-0.5 [+0.2, +0.8]"


def test_summary_rows_long_format():
    ci = stats.bootstrap_ci(X, n_resamples=500)
    comps = stats.holm([stats.compare(X, Y, paired=True, alternative="greater", n_resamples=500, label="x vs y: m")])
    rows = stats.summary_rows({"x": {"m": ci}}, comps)
    assert [tuple(r) for r in rows] == [stats.SUMMARY_COLUMNS] * 2
    assert rows[0]["kind"] == "mean" and rows[0]["estimate"] == ci.estimate and rows[0]["pvalue"] == ""
    assert (rows[1]["kind"], rows[1]["name"], rows[1]["metric"]) == ("difference", "x vs y", "m")
    assert rows[1]["pvalue_holm"] == comps[0].pvalue_holm and rows[1]["n"] == 10

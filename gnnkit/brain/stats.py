"""Statistics for claims over seeds: bootstrap confidence intervals, two-condition tests, Holm correction.

Thin, typed wrappers over :func:`scipy.stats.bootstrap` and :func:`scipy.stats.permutation_test`
that return one result type each, so an example script can report
``difference [low, high], p (Holm), effect size`` without re-deriving any of it. Nothing here
re-implements a resampling scheme; the numbers are scipy's for the same data and seed.

- :func:`bootstrap_ci` — a seeded bootstrap interval of a statistic (BCa by default).
- :func:`compare` — condition ``x`` against condition ``y`` over seeds: a paired (sign-flip)
  or two-sample (label-shuffle) permutation test of the mean difference, its bootstrap
  interval and a standardised effect size (Cohen's ``d_z`` paired, Cohen's ``d`` with the
  pooled standard deviation otherwise).
- :func:`holm` / :func:`holm_adjust` — Holm's step-down correction when one script makes several
  comparisons (Holm 1979; it controls the family-wise error rate under any dependence).

With few seeds a paired permutation test is exact: for ``n`` pairs scipy enumerates all
``2**n`` sign flips when ``n_resamples`` is at least that many (``n <= 13`` at the default).
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = ["ConfidenceInterval", "Comparison", "bootstrap_ci", "compare", "holm", "holm_adjust", "summary_rows"]

ALTERNATIVES = ("two-sided", "greater", "less")
CI_METHODS = ("BCa", "percentile", "basic")


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its bootstrap interval.

    Attributes:
        estimate: the statistic of the observed data.
        low: lower bound; equal to ``estimate`` when every sample is the same value (the
            bootstrap distribution is a point there and BCa is undefined).
        high: upper bound; likewise.
        confidence_level: e.g. 0.95.
        method: scipy's ``method`` (``"BCa"``, ``"percentile"`` or ``"basic"``).
        n: number of observations (pairs for a paired difference).
    """

    estimate: float
    low: float
    high: float
    confidence_level: float
    method: str
    n: int

    def __format__(self, spec: str) -> str:
        """``f"{ci:.3f}"`` -> ``"0.123 [0.101, 0.145]"``; the spec applies to all three numbers (default ``.3g``)."""
        spec = spec or ".3g"
        return f"{self.estimate:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"

    def __str__(self) -> str:
        return format(self)


@dataclass(frozen=True)
class Comparison:
    """Condition ``x`` against condition ``y``: mean difference, interval, test and effect size.

    Attributes:
        difference: ``mean(x - y)`` (paired) or ``mean(x) - mean(y)``.
        ci: bootstrap interval of ``difference``.
        pvalue: permutation-test p-value for ``alternative``.
        pvalue_holm: Holm-adjusted p-value within the family it was corrected in
            (:func:`holm`); ``None`` until then.
        effect_size: Cohen's ``d_z = mean(d) / sd(d)`` (paired) or Cohen's ``d`` with the pooled
            standard deviation (two-sample); ``ddof=1``; ``nan`` when the spread is 0.
        effect_size_name: ``"cohen_dz"`` or ``"cohen_d"``.
        alternative: ``"greater"`` tests ``x > y``, ``"less"`` ``x < y``, or ``"two-sided"``.
        test: a one-line description of the test, e.g. for a table caption.
        n_x: size of ``x``.
        n_y: size of ``y``.
        label: free text naming the comparison (e.g. ``"decreasing vs constant: efficiency"``).
    """

    difference: float
    ci: ConfidenceInterval
    pvalue: float
    effect_size: float
    effect_size_name: str
    alternative: str
    test: str
    n_x: int
    n_y: int
    pvalue_holm: float | None = None
    label: str = ""

    def __format__(self, spec: str) -> str:
        """``f"{c:.3f}"`` -> ``"+0.012 [+0.004, +0.020]"``: the signed difference and its interval."""
        spec = "+" + (spec or ".3g")
        return f"{self.difference:{spec}} [{self.ci.low:{spec}}, {self.ci.high:{spec}}]"

    def __str__(self) -> str:
        return format(self)

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the Holm-adjusted p-value (the raw one if never adjusted) is below ``alpha``."""
        p = self.pvalue if self.pvalue_holm is None else self.pvalue_holm
        return p < alpha


def _sample(values: Any, name: str, minimum: int = 2) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a 1-D sequence of numbers, got {type(values).__name__}") from err
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(a.shape)}")
    if a.size < minimum:
        raise ValueError(f"{name} needs at least {minimum} values, got {a.size}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(a)).sum())} non-finite value(s)")
    return a


def _check_options(confidence_level: float, method: str, n_resamples: int) -> None:
    if not isinstance(confidence_level, (int, float)) or not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level!r}")
    if method not in CI_METHODS:
        raise ValueError(f"method must be one of {CI_METHODS}, got {method!r}")
    if not isinstance(n_resamples, int) or isinstance(n_resamples, bool) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive int, got {n_resamples!r}")


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _paired_mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def _rng_kwargs(fn: Callable[..., Any], seed: int) -> dict[str, Any]:
    """scipy >= 1.15 takes ``rng``; older releases (the package allows >= 1.9) take ``random_state``."""
    name = "rng" if "rng" in inspect.signature(fn).parameters else "random_state"
    return {name: np.random.default_rng(seed)}


def _interval(samples: tuple[np.ndarray, ...], statistic: Callable[..., Any], confidence_level: float, method: str,
              n_resamples: int, seed: int) -> ConfidenceInterval:
    from scipy import stats

    estimate = float(statistic(*samples, axis=-1))
    n = samples[0].size
    if all(np.ptp(s) == 0 for s in samples):  # every resample equals the data: a point, and BCa divides by 0
        return ConfidenceInterval(estimate, estimate, estimate, confidence_level, method, n)
    res = stats.bootstrap(samples, statistic, vectorized=True, confidence_level=confidence_level, method=method,
                          n_resamples=n_resamples, **_rng_kwargs(stats.bootstrap, seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return ConfidenceInterval(estimate, low, high, confidence_level, method, n)


def bootstrap_ci(
    data: Sequence[float] | np.ndarray,
    statistic: Callable[..., Any] = _mean,
    *,
    confidence_level: float = 0.95,
    method: str = "BCa",
    n_resamples: int = 9999,
    seed: int = 0,
) -> ConfidenceInterval:
    """Bootstrap confidence interval of ``statistic(data)`` (:func:`scipy.stats.bootstrap`, seeded).

    Args:
        data: ``[n]`` observations, one per seed; at least 2, all finite.
        statistic: a vectorised statistic taking ``(sample, axis)``; default the mean.
        confidence_level: coverage, in (0, 1).
        method: ``"BCa"`` (bias-corrected and accelerated), ``"percentile"`` or ``"basic"``.
        n_resamples: bootstrap resamples.
        seed: seeds ``numpy.random.default_rng`` for the resampling, so a rerun gives the same bounds.

    Returns:
        A :class:`ConfidenceInterval`; a zero-width one when all values are equal.

    Raises:
        TypeError: ``data`` is not numeric.
        ValueError: ``data`` not 1-D, fewer than 2 values or non-finite; a bad option.
    """
    x = _sample(data, "data")
    _check_options(confidence_level, method, n_resamples)
    return _interval((x,), statistic, confidence_level, method, n_resamples, seed)


def compare(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    paired: bool,
    alternative: str = "two-sided",
    confidence_level: float = 0.95,
    method: str = "BCa",
    n_resamples: int = 9999,
    seed: int = 0,
    label: str = "",
) -> Comparison:
    r"""Test the mean difference between conditions ``x`` and ``y`` (:func:`scipy.stats.permutation_test`).

    Paired (``x[i]``, ``y[i]`` from the same seed: same start network, data and initialisation)
    flips the sign of each difference; otherwise the condition labels are shuffled. The test
    statistic is the mean difference in both cases, and its interval comes from
    :func:`bootstrap_ci` of the differences (paired) or a two-sample bootstrap.

    .. math:: d_z = \frac{\bar d}{s_d}, \qquad d = \frac{\bar x - \bar y}{\sqrt{((n_x-1)s_x^2 + (n_y-1)s_y^2)/(n_x+n_y-2)}}

    Args:
        x, y: ``[n]`` per-seed values of the two conditions (at least 2 each; equal lengths if paired).
        paired: whether ``x[i]`` and ``y[i]`` belong together.
        alternative: ``"greater"`` (``x > y``), ``"less"`` or ``"two-sided"``.
        confidence_level, method, n_resamples, seed: as in :func:`bootstrap_ci`; ``n_resamples``
            and ``seed`` also drive the permutation test (exact when all permutations fit).
        label: stored on the result.

    Returns:
        A :class:`Comparison` (``pvalue_holm`` is None; see :func:`holm`).

    Raises:
        TypeError: non-numeric samples.
        ValueError: samples not 1-D, too short, non-finite, of different lengths when paired; a bad option.
    """
    from scipy import stats

    a, b = _sample(x, "x"), _sample(y, "y")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if not isinstance(paired, bool):
        raise TypeError(f"paired must be a bool, got {type(paired).__name__}")
    _check_options(confidence_level, method, n_resamples)
    if paired:
        if a.size != b.size:
            raise ValueError(f"paired samples need equal lengths, got x: {a.size} and y: {b.size}")
        d = a - b
        statistic, permutation_type = _paired_mean_difference, "samples"
        ci = _interval((d,), _mean, confidence_level, method, n_resamples, seed)
        sd = float(np.std(d, ddof=1))
        effect, effect_name = (float(d.mean()) / sd if sd > 0 else math.nan), "cohen_dz"
        test = f"paired permutation test (sign flips) of the mean difference, {alternative}, n={a.size} pairs"
    else:
        statistic, permutation_type = _mean_difference, "independent"
        ci = _interval((a, b), _mean_difference, confidence_level, method, n_resamples, seed)
        pooled = math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
        effect, effect_name = (float(a.mean() - b.mean()) / pooled if pooled > 0 else math.nan), "cohen_d"
        test = f"two-sample permutation test of the mean difference, {alternative}, n={a.size}+{b.size}"
    res = stats.permutation_test((a, b), statistic, permutation_type=permutation_type, vectorized=True,
                                 n_resamples=n_resamples, alternative=alternative,
                                 **_rng_kwargs(stats.permutation_test, seed))
    return Comparison(difference=float(statistic(a, b)), ci=ci, pvalue=float(res.pvalue), effect_size=effect,
                      effect_size_name=effect_name, alternative=alternative, test=test, n_x=int(a.size),
                      n_y=int(b.size), label=label)


def holm_adjust(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    r"""Holm's step-down adjusted p-values, in the input order.

    With the ``m`` p-values sorted, :math:`\tilde p_{(i)} = \max_{j \le i} \min(1, (m - j + 1)\, p_{(j)})`;
    rejecting where :math:`\tilde p < \alpha` controls the family-wise error rate at ``alpha``.

    Args:
        pvalues: ``[m]`` p-values in [0, 1].

    Returns:
        ``[m]`` float64 adjusted p-values.

    Raises:
        ValueError: empty, not 1-D, or values outside [0, 1].
    """
    p = _sample(pvalues, "pvalues", minimum=1)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"pvalues must lie in [0, 1], got min {p.min():g} and max {p.max():g}")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])  # [m]: (m - j + 1) p_(j), j from 1
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)  # monotone: a larger p never gets a smaller adjusted one
    return adjusted


def holm(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The same comparisons with ``pvalue_holm`` set, corrected as one family (:func:`holm_adjust`).

    Raises:
        TypeError: an element is not a :class:`Comparison`.
        ValueError: no comparisons.
    """
    items = list(comparisons)
    for i, c in enumerate(items):
        if not isinstance(c, Comparison):
            raise TypeError(f"comparisons[{i}] must be a Comparison, got {type(c).__name__}")
    if not items:
        raise ValueError("comparisons must not be empty")
    adjusted = holm_adjust([c.pvalue for c in items])
    return [replace(c, pvalue_holm=float(p)) for c, p in zip(items, adjusted)]


SUMMARY_COLUMNS = ("kind", "name", "metric", "estimate", "ci_low", "ci_high", "pvalue", "pvalue_holm", "effect_size", "n")


def summary_rows(
    means: dict[str, dict[str, ConfidenceInterval]], comparisons: Sequence[Comparison]
) -> list[dict[str, Any]]:
    """Long-format table rows (keys ``SUMMARY_COLUMNS``) for a CSV of a claim's statistics.

    Args:
        means: ``{condition: {metric: interval}}``; each becomes a ``kind="mean"`` row.
        comparisons: each becomes a ``kind="difference"`` row; a label ``"name: metric"`` is split
            into the two columns (otherwise the whole label is the name).

    Returns:
        One dict per row; absent values (p-values of a mean, an unadjusted Holm p) are ``""``.
    """
    rows: list[dict[str, Any]] = []
    for name, metrics in means.items():
        for metric, ci in metrics.items():
            rows.append(dict(zip(SUMMARY_COLUMNS, ("mean", name, metric, ci.estimate, ci.low, ci.high, "", "", "", ci.n))))
    for c in comparisons:
        name, _, metric = c.label.partition(": ")
        rows.append(dict(zip(SUMMARY_COLUMNS, ("difference", name, metric, c.difference, c.ci.low, c.ci.high, c.pvalue,
                                               "" if c.pvalue_holm is None else c.pvalue_holm, c.effect_size, c.n_x))))
    return rows

"""Confidence intervals of benchmark figures: the percentile bootstrap over photos.

:func:`bootstrap_ci` resamples photos with replacement (chunked, so memory
stays bounded at any test-set size); :func:`paired_gain` resamples the same
photos for two methods, the interval of their accuracy difference that says
whether one beats the other beyond noise.

References
----------
.. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
   Chapman & Hall, 1993, ch. 13 (percentile intervals).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from im2gps.metrics import THRESHOLDS_KM, accuracy

__all__ = ["bootstrap_ci", "paired_gain"]

# Resampled elements per bootstrap chunk: bounds memory at any test-set size.
_CHUNK_ELEMENTS = 1 << 22


def bootstrap_ci(
    errors,
    statistic: Callable[[np.ndarray], np.ndarray],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap confidence interval of a statistic over photos.

    Photos (the last axis of ``errors``) are resampled with replacement; all
    resamples of a chunk are drawn at once as an ``(n_boot, n)`` index array.

    Parameters
    ----------
    errors : array_like
        Errors in km, shape ``(..., n)``; leading axes (e.g. seeds of a chance
        row) are resampled together, photo by photo.
    statistic : callable
        Maps a ``(b, ..., n)`` array of ``b`` resamples to a ``(b, ...)``
        array, e.g. :func:`accuracy` or :func:`median_error` for 1-D errors.
    n_boot : int, optional
        Number of resamples.
    seed : int, optional
        Seed of the resampling generator; the same seed gives the same interval.
    level : float, optional
        Coverage of the interval.

    Returns
    -------
    (lo, hi) : tuple of numpy.ndarray
        The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the
        resampled statistic, each of the statistic's shape (NaN when empty).

    Notes
    -----
    The quantiles are order statistics of the resamples (numpy's
    ``inverted_cdf``), not interpolations, so an infinite median (half the
    photos failed) gives an infinite bound instead of NaN.
    """
    errors = np.asarray(errors, dtype=np.float64)
    n = errors.shape[-1]
    rng = np.random.default_rng(seed)
    if n == 0:
        shape = np.shape(statistic(np.moveaxis(errors[..., None, :], -2, 0)))[1:]
        return np.full(shape, np.nan), np.full(shape, np.nan)
    per_resample = max(1, errors.size)
    chunk = max(1, _CHUNK_ELEMENTS // per_resample)
    stats = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        stats.append(np.asarray(statistic(np.moveaxis(errors[..., idx], -2, 0))))
    values = np.concatenate(stats, axis=0)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha], axis=0, method="inverted_cdf")
    return lo, hi


def paired_gain(
    errors,
    reference_errors,
    thresholds: Sequence[float] = THRESHOLDS_KM,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy gain of a method over a reference row on the same photos, with a paired CI.

    Photos are resampled once for both methods, so the interval is that of
    the difference (much narrower than comparing two separate intervals).

    Parameters
    ----------
    errors, reference_errors : array_like
        ``(n,)`` errors in km of the method and of the reference (e.g. prior).
    thresholds : sequence of float, optional
        Radii in km.
    n_boot, seed, level : optional
        As in :func:`bootstrap_ci`.

    Returns
    -------
    gain, lo, hi : numpy.ndarray
        ``(len(thresholds),)`` accuracy difference (fractions) and its interval;
        the method clears the reference at a radius where ``lo > 0``.
    """
    both = np.stack([np.asarray(errors, np.float64), np.asarray(reference_errors, np.float64)])

    def gain(resampled: np.ndarray) -> np.ndarray:  # (b, 2, n) -> (b, T)
        return accuracy(resampled[:, 0], thresholds) - accuracy(resampled[:, 1], thresholds)

    point = gain(both[None])[0]
    lo, hi = bootstrap_ci(both, gain, n_boot=n_boot, seed=seed, level=level)
    return point, lo, hi

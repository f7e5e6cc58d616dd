"""Scoring geolocation results: accuracy at the standard distances, and honest reference rows.

A prediction is scored by its great-circle error to the photo's geotag
(:func:`im2gps.geo.haversine_km`). The benchmark tables of IM2GPS and its
successors report the fraction of photos located within

======  =========  ===========
level   radius     column
======  =========  ===========
street  1 km       Street 1 km
city    25 km      City 25 km
region  200 km     Region 200 km
country 750 km     Country 750 km
contin. 2500 km    Continent 2500 km
======  =========  ===========

plus the median error. Here every number also carries a percentile bootstrap
confidence interval over photos, and a photo that failed (no prediction,
``NaN``) counts as a miss at every distance, with an infinite error in the
median. :func:`evaluate` puts it together into a :class:`Report`, with
per-scene sub-reports, and :func:`format_table` renders reports side by side.

Reference rows make a table honest: :func:`chance_report` (a random database
photo's location, averaged over seeds), :func:`prior_location` (always answer
the densest place of the database) and :func:`oracle_predictions` (the
database photo nearest to the truth: the ceiling of any method that answers
with a database location).

References
----------
.. [1] J. Hays and A. A. Efros, "IM2GPS: estimating geographic information
   from a single image", CVPR 2008.
.. [2] T. Weyand, I. Kostrikov and J. Philbin, "PlaNet - Photo geolocation
   with convolutional neural networks", ECCV 2016.
.. [3] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
   Chapman & Hall, 1993, ch. 13 (percentile intervals).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.neighbors import BallTree

from im2gps.geo import (
    EARTH_RADIUS_KM,
    _vmf_density,
    _vmf_kernel,
    haversine_km,
    kernel_density,
    to_latlon,
    to_unit_vectors,
)

__all__ = [
    "THRESHOLDS_KM",
    "THRESHOLD_NAMES",
    "adaptive_thresholds",
    "format_distance",
    "parse_distance",
    "parse_thresholds",
    "GEOGUESSR_SCALE_KM",
    "Report",
    "errors_km",
    "accuracy",
    "median_error",
    "geoguessr_score",
    "country_accuracy",
    "bootstrap_ci",
    "paired_gain",
    "evaluate",
    "format_table",
    "chance_predictions",
    "chance_report",
    "kernel_density",
    "prior_location",
    "oracle_predictions",
]

#: The standard radii (km) of the im2gps benchmark tables.
THRESHOLDS_KM: tuple[float, ...] = (1, 25, 200, 750, 2500)

#: Names of the standard radii, in the same order.
THRESHOLD_NAMES: tuple[str, ...] = ("street", "city", "region", "country", "continent")

#: Length scale (km) of the GeoGuessr score, 5000 * exp(-d / 1492.7).
GEOGUESSR_SCALE_KM = 1492.7

# Resampled elements per bootstrap chunk: bounds memory at any test-set size.
_CHUNK_ELEMENTS = 1 << 22


# -- per-photo errors and summary statistics ---------------------------------
def errors_km(pred_lat, pred_lon, true_lat, true_lon) -> np.ndarray:
    """Great-circle error of each prediction; a failure (NaN prediction) is ``inf``.

    Parameters
    ----------
    pred_lat, pred_lon : array_like
        Predicted coordinates in degrees; NaN where the method gave no answer.
    true_lat, true_lon : array_like
        The photos' geotags in degrees (must be finite).

    Returns
    -------
    numpy.ndarray or float
        Errors in km (a float for scalar input), ``inf`` for failures, so
        they miss at every radius.

    Raises
    ------
    ValueError
        If a ground-truth coordinate is not finite.
    """
    pred_lat, pred_lon, true_lat, true_lon = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (pred_lat, pred_lon, true_lat, true_lon))
    )
    bad_truth = ~(np.isfinite(true_lat) & np.isfinite(true_lon))
    if bad_truth.any():
        raise ValueError(f"{int(bad_truth.sum())} ground-truth coordinate(s) are not finite")
    errors = np.array(haversine_km(pred_lat, pred_lon, true_lat, true_lon), dtype=np.float64)
    errors[~(np.isfinite(pred_lat) & np.isfinite(pred_lon))] = np.inf
    return errors[()]


def accuracy(errors, thresholds: Sequence[float] = THRESHOLDS_KM) -> np.ndarray:
    """Fraction of photos whose error is at most each radius.

    Parameters
    ----------
    errors : array_like
        Errors in km along the last axis (``inf`` for failures); leading axes
        (bootstrap resamples, seeds) are kept.
    thresholds : sequence of float, optional
        Radii in km.

    Returns
    -------
    numpy.ndarray
        Shape ``errors.shape[:-1] + (len(thresholds),)``, fractions in [0, 1]
        (NaN for an empty set).
    """
    errors = np.asarray(errors, dtype=np.float64)
    radii = np.asarray(thresholds, dtype=np.float64)
    if errors.shape[-1] == 0:
        return np.full(errors.shape[:-1] + radii.shape, np.nan)
    return (errors[..., None] <= radii).mean(axis=-2)


def median_error(errors) -> np.ndarray | float:
    """Median error in km along the last axis (``inf`` when half or more failed).

    Parameters
    ----------
    errors : array_like
        Errors in km, ``inf`` for failures.

    Returns
    -------
    float or numpy.ndarray
        The median over the last axis (NaN for an empty set).
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.shape[-1] == 0:
        return np.full(errors.shape[:-1], np.nan)[()]
    return np.median(errors, axis=-1)[()]


def geoguessr_score(errors) -> np.ndarray:
    """GeoGuessr points per photo: ``5000 * exp(-d / 1492.7)``, 0 for a failure.

    Parameters
    ----------
    errors : array_like
        Errors in km, ``inf`` for failures.

    Returns
    -------
    numpy.ndarray
        Points in [0, 5000], one per photo.
    """
    return 5000.0 * np.exp(-np.asarray(errors, dtype=np.float64) / GEOGUESSR_SCALE_KM)


def _country_hits(pred_lat, pred_lon, true_lat, true_lon) -> np.ndarray:
    """Per-photo country agreement through the gazetteer; a failure is a miss."""
    from im2gps.gazetteer import country_code

    pred = country_code(pred_lat, pred_lon)
    true = country_code(true_lat, true_lon)
    return (pred == true) & (pred != "")


def country_accuracy(pred_lat, pred_lon, true_lat, true_lon) -> float:
    """Fraction of photos placed in the right country.

    A point's country is its nearest populated place's
    (:func:`im2gps.gazetteer.country_code`).

    Parameters
    ----------
    pred_lat, pred_lon : array_like
        Predicted coordinates in degrees; NaN (a failure) is a miss.
    true_lat, true_lon : array_like
        The photos' geotags in degrees.

    Returns
    -------
    float
        Fraction in [0, 1] (NaN for an empty set).
    """
    hits = _country_hits(pred_lat, pred_lon, true_lat, true_lon)
    return float(hits.mean()) if hits.size else float("nan")


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


# -- reports ------------------------------------------------------------------
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


def _key(radius: float) -> str:
    """JSON key of a radius: ``1`` -> ``"1"``, ``0.5`` -> ``"0.5"``."""
    return f"{radius:g}"


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


@dataclass
class Report:
    """The scores of one method on one test set.

    Attributes
    ----------
    n : int
        Number of photos.
    failed : int
        Photos without a prediction (counted as misses).
    thresholds_km : tuple of float
        The radii of :attr:`acc`.
    acc : numpy.ndarray
        Fraction of photos within each radius, in [0, 1].
    acc_ci : numpy.ndarray
        ``(len(thresholds_km), 2)`` bootstrap interval (lo, hi) of each.
    median_km : float
        Median error (``inf`` when half or more failed).
    median_km_ci : numpy.ndarray
        ``(2,)`` bootstrap interval of the median.
    geoguessr : float
        Mean GeoGuessr score per photo, in [0, 5000].
    country_acc : float
        Fraction placed in the right country (NaN when not computed).
    scenes : dict of str to Report
        Per-scene sub-reports, when a scene column was given.
    level : float
        Coverage of the intervals.
    n_seeds : int
        Number of seeds averaged (1 except for a chance row).
    """

    n: int
    failed: int
    thresholds_km: tuple[float, ...]
    acc: np.ndarray
    acc_ci: np.ndarray
    median_km: float
    median_km_ci: np.ndarray
    geoguessr: float
    country_acc: float = float("nan")
    scenes: dict[str, Report] = field(default_factory=dict)
    level: float = 0.95
    n_seeds: int = 1

    def acc_at(self, radius: float) -> float:
        """Accuracy at one of :attr:`thresholds_km`."""
        return float(self.acc[list(self.thresholds_km).index(radius)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary; non-finite numbers become None.

        Keys: ``n, failed, acc, acc_ci, median_km, median_km_ci, geoguessr,
        country_acc, level, n_seeds, scenes``; ``acc`` and ``acc_ci`` are
        keyed by radius (``"1"``, ``"25"``, ...), accuracies are fractions.
        A ``None`` median means infinite (half or more photos failed).
        """
        keys = [_key(t) for t in self.thresholds_km]
        return {
            "n": int(self.n),
            "failed": int(self.failed),
            "acc": {k: _finite_or_none(a) for k, a in zip(keys, self.acc, strict=True)},
            "acc_ci": {
                k: [_finite_or_none(lo), _finite_or_none(hi)]
                for k, (lo, hi) in zip(keys, self.acc_ci, strict=True)
            },
            "median_km": _finite_or_none(self.median_km),
            "median_km_ci": [_finite_or_none(v) for v in self.median_km_ci],
            "geoguessr": _finite_or_none(self.geoguessr),
            "country_acc": _finite_or_none(self.country_acc),
            "level": float(self.level),
            "n_seeds": int(self.n_seeds),
            "scenes": {name: sub.to_dict() for name, sub in self.scenes.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """Rebuild a report from :meth:`to_dict` output (e.g. a recorded JSON)."""
        keys = list(data["acc"])

        def num(value: float | None, missing: float) -> float:
            return missing if value is None else float(value)

        return cls(
            n=int(data["n"]),
            failed=int(data["failed"]),
            thresholds_km=tuple(float(k) for k in keys),
            acc=np.array([num(data["acc"][k], np.nan) for k in keys]),
            acc_ci=np.array([[num(v, np.nan) for v in data["acc_ci"][k]] for k in keys]),
            median_km=num(data["median_km"], np.inf),
            median_km_ci=np.array([num(v, np.inf) for v in data["median_km_ci"]]),
            geoguessr=num(data["geoguessr"], np.nan),
            country_acc=num(data.get("country_acc"), np.nan),
            scenes={k: cls.from_dict(v) for k, v in data.get("scenes", {}).items()},
            level=float(data.get("level", 0.95)),
            n_seeds=int(data.get("n_seeds", 1)),
        )


def _summarise(
    errors: np.ndarray,
    country_hits: np.ndarray | None,
    failed: np.ndarray,
    scene: np.ndarray | None,
    thresholds: tuple[float, ...],
    n_boot: int,
    seed: int,
    level: float,
) -> Report:
    """A report from ``(n_seeds, n)`` errors; statistics are averaged over seeds."""
    n_seeds, n = errors.shape

    def acc_stat(resampled: np.ndarray) -> np.ndarray:  # (b, seeds, n) -> (b, T)
        return accuracy(resampled, thresholds).mean(axis=1)

    def median_stat(resampled: np.ndarray) -> np.ndarray:  # (b, seeds, n) -> (b,)
        return np.asarray(median_error(resampled)).mean(axis=1)

    acc_lo, acc_hi = bootstrap_ci(errors, acc_stat, n_boot=n_boot, seed=seed, level=level)
    med_lo, med_hi = bootstrap_ci(errors, median_stat, n_boot=n_boot, seed=seed, level=level)
    scenes: dict[str, Report] = {}
    if scene is not None:
        for name in sorted(set(scene.tolist())):
            rows = scene == name
            scenes[name] = _summarise(
                errors[:, rows],
                None if country_hits is None else country_hits[:, rows],
                failed[rows], None, thresholds, n_boot, seed, level,
            )
    return Report(
        n=n,
        failed=int(failed.sum()),
        thresholds_km=thresholds,
        acc=accuracy(errors, thresholds).mean(axis=0),
        acc_ci=np.stack([acc_lo, acc_hi], axis=-1),
        median_km=float(np.mean(median_error(errors))),
        median_km_ci=np.array([med_lo, med_hi], dtype=np.float64),
        geoguessr=float(geoguessr_score(errors).mean()) if n else float("nan"),
        country_acc=(float(country_hits.mean()) if country_hits is not None and n
                     else float("nan")),
        scenes=scenes,
        level=level,
        n_seeds=n_seeds,
    )


def _scene_labels(scene, n: int) -> np.ndarray | None:
    """Scene column as str labels; missing labels become ``"unlabelled"``."""
    if scene is None:
        return None
    column = pd.Series(np.asarray(scene, dtype=object).ravel())
    labels = column.where(column.notna() & (column.astype(str) != ""), "unlabelled")
    labels = labels.astype(str).to_numpy(object)
    if labels.size != n:
        raise ValueError(f"scene has {labels.size} labels for {n} photos")
    return labels


def evaluate(
    pred_lat,
    pred_lon,
    true_lat,
    true_lon,
    scene=None,
    failed=None,
    thresholds: Sequence[float] = THRESHOLDS_KM,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    country: bool = True,
) -> Report:
    """Score predictions against geotags.

    Parameters
    ----------
    pred_lat, pred_lon : array_like
        Predicted coordinates in degrees, NaN where the method failed.
    true_lat, true_lon : array_like
        The photos' geotags in degrees.
    scene : array_like of str, optional
        A label per photo (e.g. indoor / natural / urban) for per-scene
        sub-reports.
    failed : array_like of bool, optional
        Photos the method failed on, whatever coordinates it gave; they count
        as misses (errors ``inf``) like NaN predictions do.
    thresholds : sequence of float, optional
        Radii in km (default :data:`THRESHOLDS_KM`).
    n_boot, seed, level : optional
        Bootstrap resamples, seed and interval coverage.
    country : bool, optional
        Compute country accuracy through the gazetteer.

    Returns
    -------
    Report
    """
    pred_lat, pred_lon, true_lat, true_lon = (np.ravel(a) for a in np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (pred_lat, pred_lon, true_lat, true_lon))
    ))
    errors = np.atleast_1d(errors_km(pred_lat, pred_lon, true_lat, true_lon))
    n = errors.size
    failed_mask = ~np.isfinite(errors)
    if failed is not None:
        extra = np.asarray(failed, dtype=bool).ravel()
        if extra.size != n:
            raise ValueError(f"failed has {extra.size} entries for {n} photos")
        failed_mask |= extra
    errors[failed_mask] = np.inf
    hits = None
    if country:
        plat = np.where(failed_mask, np.nan, pred_lat)
        hits = _country_hits(plat, pred_lon, true_lat, true_lon)[None, :]
    return _summarise(
        errors[None, :], hits, failed_mask, _scene_labels(scene, n),
        tuple(float(t) for t in thresholds), n_boot, seed, level,
    )


# -- distances and thresholds ---------------------------------------------------
_UNITS_KM = {"m": 1e-3, "km": 1.0, "mi": 1.609344, "ft": 0.0003048}


def parse_distance(text: str) -> float:
    """A distance with its unit, in km: ``"50m"``, ``"2.5 km"``, ``"1mi"``; bare numbers are km.

    Raises
    ------
    ValueError
        Naming the text, when it is not a positive finite distance.
    """
    raw = str(text).strip().lower()
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
    unit = raw[len(number):].strip() or "km"
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a distance (e.g. 50m, 1km, 2500)") from None
    if unit not in _UNITS_KM:
        raise ValueError(f"{text!r}: unknown unit {unit!r} (use m, km, mi or ft)")
    km = value * _UNITS_KM[unit]
    if not np.isfinite(km) or km <= 0:
        raise ValueError(f"{text!r} is not a positive distance")
    if km > np.pi * EARTH_RADIUS_KM:
        raise ValueError(f"{text!r} is more than half the Earth's circumference "
                         f"({np.pi * EARTH_RADIUS_KM:,.0f} km), the longest possible error")
    return km


def parse_thresholds(text: str) -> tuple[float, ...]:
    """Comma-separated distances (``"50m,100m,250m,1km"``) as sorted radii in km."""
    parts = [p for p in str(text).split(",") if p.strip()]
    if not parts:
        raise ValueError("no distance given")
    return tuple(sorted({parse_distance(p) for p in parts}))


def format_distance(km: float) -> str:
    """``0.05`` -> ``"50 m"``, ``25`` -> ``"25 km"``: metres below 1 km."""
    if not np.isfinite(km):
        return "inf" if km > 0 else "n/a"
    if km < 1:
        metres = km * 1000
        return f"{metres:.0f} m" if metres >= 10 else f"{metres:.3g} m"
    return f"{km:g} km"


def _nice(km: float) -> float:
    """The largest of 1, 2, 2.5, 5 x 10^k not above ``km`` (readable column radii)."""
    exponent = np.floor(np.log10(km))
    for step in (5, 2.5, 2, 1):
        value = step * 10**exponent
        if value <= km * (1 + 1e-9):
            return float(round(value, 6))
    return float(10**exponent)


def adaptive_thresholds(db_lat, db_lon, sample: int = 2000, seed: int = 0
                        ) -> tuple[float, ...]:
    """The radii of a table: the standard ones, or scaled to a small database's extent.

    The rule: let D be the 95th percentile of great-circle distances between
    database photos (over a seeded sample of up to ``sample`` photos). A
    world or continent-wide database (D >= 2500 km) is scored at the
    standard :data:`THRESHOLDS_KM`. A smaller one, where a random database
    photo would already be "within" the larger standard radii (on a 2.5 x 2
    km street-level set, within 1 km two times in three), is scored at
    D x (1/100, 1/30, 1/10, 1/3, 1), each rounded down to 1, 2, 2.5 or 5
    times a power of ten: 25 m, 100 m, 250 m, 1 km, 2.5 km for D = 3 km.

    Parameters
    ----------
    db_lat, db_lon : array_like
        Database coordinates in degrees.

    Returns
    -------
    tuple of float
        Radii in km, increasing.
    """
    lat = np.asarray(db_lat, dtype=np.float64).ravel()
    lon = np.asarray(db_lon, dtype=np.float64).ravel()
    if lat.size < 2:
        return THRESHOLDS_KM
    rng = np.random.default_rng(seed)
    rows = rng.choice(lat.size, min(sample, lat.size), replace=False)
    distances = haversine_km(lat[rows, None], lon[rows, None], lat[None, rows], lon[None, rows])
    extent = float(np.percentile(distances[np.triu_indices(rows.size, k=1)], 95))
    if extent >= THRESHOLDS_KM[-1] or extent <= 0:
        return THRESHOLDS_KM
    return tuple(sorted({_nice(extent * f) for f in (0.01, 1 / 30, 0.1, 1 / 3, 1.0)}))


# -- tables -------------------------------------------------------------------
def _column(radius: float) -> str:
    if radius in THRESHOLDS_KM:
        return f"{THRESHOLD_NAMES[THRESHOLDS_KM.index(radius)].capitalize()} {radius:g} km"
    return format_distance(radius)


def _pct(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{100.0 * value:.1f}"


def _km(value: float) -> str:
    """A median error in the table: km, or metres below 1 km (``850 m``)."""
    if np.isnan(value):
        return "n/a"
    if np.isinf(value):
        return "inf"
    if value < 1:
        return f"{1000 * value:.0f} m"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def format_table(
    reports: Mapping[str, Report], ci: bool = True, scenes: bool = False,
    scores: bool = False,
) -> str:
    """Reports side by side as a markdown table, one row per method.

    Parameters
    ----------
    reports : mapping of str to Report
        Method name to its report, in the order of the rows; all reports
        should share the same radii (the first report's give the columns).
    ci : bool, optional
        Append each number's bootstrap interval, ``12.2 [8.0, 16.5]``.
    scenes : bool, optional
        Add a row per scene under each method (``method / urban``).
    scores : bool, optional
        Add the mean GeoGuessr score (0-5000 per photo) and the country
        accuracy (%), as the OSV-5M benchmark reports them.

    Returns
    -------
    str
        A markdown table: accuracies in percent, median error in km (metres
        below 1 km), and the failures out of the number of photos.
    """
    if not reports:
        raise ValueError("no reports to tabulate")
    radii = next(iter(reports.values())).thresholds_km
    header = ["Method", *(_column(r) for r in radii), "Median km",
              *(["GeoGuessr", "Country %"] if scores else []), "Failed"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|",
    ]

    def row(name: str, rep: Report) -> str:
        cells = [name]
        for r in radii:
            i = list(rep.thresholds_km).index(r)
            cell = _pct(rep.acc[i])
            if ci:
                cell += f" [{_pct(rep.acc_ci[i, 0])}, {_pct(rep.acc_ci[i, 1])}]"
            cells.append(cell)
        values = [rep.median_km, *(rep.median_km_ci if ci else [])]
        if any(np.isfinite(v) and v < 1 for v in values):  # one unit each, metres or km
            shown = [_km(v) if (not np.isfinite(v) or v < 1) else f"{_km(v)} km"
                     for v in values]
        else:
            shown = [_km(v) for v in values]
        median = shown[0] + (f" [{shown[1]}, {shown[2]}]" if ci else "")
        cells.append(median)
        if scores:
            cells += ["n/a" if not np.isfinite(rep.geoguessr) else f"{rep.geoguessr:.0f}",
                      _pct(rep.country_acc)]
        cells.append(f"{rep.failed}/{rep.n}")
        return "| " + " | ".join(cells) + " |"

    for name, rep in reports.items():
        lines.append(row(name, rep))
        if scenes:
            lines += [row(f"{name} / {s}", sub) for s, sub in rep.scenes.items()]
    return "\n".join(lines)


# -- reference rows -------------------------------------------------------------
def chance_predictions(db_lat, db_lon, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Chance: the location of a database photo drawn at random, per test photo.

    Parameters
    ----------
    db_lat, db_lon : array_like
        Database coordinates in degrees.
    n : int
        Number of test photos.
    seed : int, optional
        Seed of the draw.

    Returns
    -------
    (lat, lon) : tuple of numpy.ndarray
        ``(n,)`` predicted coordinates.
    """
    db_lat = np.asarray(db_lat, dtype=np.float64).ravel()
    db_lon = np.asarray(db_lon, dtype=np.float64).ravel()
    if db_lat.size == 0:
        raise ValueError("empty database")
    pick = np.random.default_rng(seed).integers(0, db_lat.size, size=n)
    return db_lat[pick], db_lon[pick]


def chance_report(
    db_lat,
    db_lon,
    true_lat,
    true_lon,
    scene=None,
    n_seeds: int = 10,
    seed: int = 0,
    thresholds: Sequence[float] = THRESHOLDS_KM,
    n_boot: int = 1000,
    level: float = 0.95,
    country: bool = True,
) -> Report:
    """The chance row: :func:`chance_predictions` scored and averaged over seeds.

    Seeds ``seed, seed + 1, ..., seed + n_seeds - 1`` each draw one random
    database photo per test photo. Every statistic (accuracy at each radius,
    median error, GeoGuessr score, country accuracy) is computed per seed and
    averaged over the seeds; the interval bootstraps photos, each resample
    taking a photo's errors under all seeds together.

    Parameters
    ----------
    db_lat, db_lon : array_like
        Database coordinates in degrees.
    true_lat, true_lon : array_like
        The test photos' geotags.
    scene : array_like of str, optional
        Per-photo labels for per-scene sub-reports.
    n_seeds, seed : int, optional
        How many seeds, and the first.
    thresholds, n_boot, level, country : optional
        As in :func:`evaluate`.

    Returns
    -------
    Report
        With ``n_seeds`` set and ``failed == 0``.
    """
    true_lat = np.asarray(true_lat, dtype=np.float64).ravel()
    true_lon = np.asarray(true_lon, dtype=np.float64).ravel()
    n = true_lat.size
    preds = [chance_predictions(db_lat, db_lon, n, seed + s) for s in range(n_seeds)]
    plat = np.stack([p[0] for p in preds])
    plon = np.stack([p[1] for p in preds])
    errors = errors_km(plat, plon, true_lat, true_lon)
    hits = None
    if country:
        tlat = np.broadcast_to(true_lat, plat.shape)
        tlon = np.broadcast_to(true_lon, plat.shape)
        hits = _country_hits(plat.ravel(), plon.ravel(), tlat.ravel(), tlon.ravel())
        hits = hits.reshape(plat.shape)
    return _summarise(
        errors, hits, np.zeros(n, dtype=bool), _scene_labels(scene, n),
        tuple(float(t) for t in thresholds), n_boot, seed, level,
    )


def prior_location(
    db_lat,
    db_lon,
    bandwidth_km: float = 25.0,
    max_candidates: int = 2048,
    max_screen: int = 16384,
    n_starts: int = 8,
    n_iter: int = 100,
    seed: int = 0,
) -> tuple[float, float]:
    """The densest place of the database: the mode of its kernel density on the sphere.

    The density is a sum of spherical Gaussian (von Mises-Fisher) kernels,
    one per database photo, of width ``bandwidth_km``. It is screened at
    every database photo, the ``n_starts`` densest are refined by mean-shift
    over all photos, and the densest converged point is returned.

    Parameters
    ----------
    db_lat, db_lon : array_like
        Database coordinates in degrees (non-finite entries are ignored).
    bandwidth_km : float, optional
        Kernel width: roughly, the radius over which photos are pooled. The
        default, 25 km, finds the most photographed city.
    max_candidates : int, optional
        Screen the density at every database photo up to this many, else at
        a seeded random sample of this size.
    max_screen : int, optional
        Screen with the kernels of at most this many photos (a seeded random
        sample above it); refinement and the final choice use all photos.
    n_starts : int, optional
        Densest candidates refined by mean-shift.
    n_iter : int, optional
        Maximum mean-shift iterations.
    seed : int, optional
        Seed of the samples (used only above ``max_candidates`` or
        ``max_screen`` photos).

    Returns
    -------
    (lat, lon) : tuple of float
        The prior's answer, degrees.

    Notes
    -----
    Written here rather than with scikit-learn's ``MeanShift`` or
    ``KernelDensity``: those work on flat coordinates (the haversine
    ``KernelDensity`` has no mean-shift and scores point by point), while this
    is a few chunked products of unit vectors. The kernel is
    ``exp(kappa * (cos(d / R) - 1))`` with ``kappa = (R / bandwidth_km)**2``:
    a Gaussian in the chord length, equal to a Gaussian in great-circle
    distance ``d`` to within 1 % for ``d`` below a quarter of the Earth's
    radius, and the kernel whose mean-shift step is the normalised weighted
    mean of unit vectors.

    Up to 2,048 photos the screening is exact. Above, it is a Monte Carlo
    estimate (2,048 candidate places x 16,384 photos' kernels, about 0.5 s
    at any size): the densest region holds the most photos, so candidates
    land in it with near certainty, and the final choice among the refined
    starts uses the exact density over all photos.
    """
    lat = np.asarray(db_lat, dtype=np.float64).ravel()
    lon = np.asarray(db_lon, dtype=np.float64).ravel()
    keep = np.isfinite(lat) & np.isfinite(lon)
    if not keep.any():
        raise ValueError("no finite database coordinates")
    data = to_unit_vectors(lat[keep], lon[keep])
    kappa = (EARTH_RADIUS_KM / float(bandwidth_km)) ** 2
    rng = np.random.default_rng(seed)

    def sample(size: int) -> np.ndarray:
        if len(data) <= size:
            return data
        return data[rng.choice(len(data), size, replace=False)]

    candidates = sample(max_candidates)
    density = _vmf_density(candidates, sample(max_screen), kappa)
    points = candidates[np.argsort(density)[::-1][:n_starts]]
    for _ in range(n_iter):  # mean-shift: each step is one (starts x n) product
        weights = _vmf_kernel(points @ data.T, kappa)
        moved = weights @ data
        moved /= np.linalg.norm(moved, axis=1, keepdims=True)
        shift = np.max(np.linalg.norm(moved - points, axis=1))
        points = moved
        if shift < 1e-9:  # about 6 m
            break
    best = points[np.argmax(_vmf_density(points, data, kappa))]
    plat, plon = to_latlon(best)
    return float(plat), float(plon)


def oracle_predictions(
    db_lat, db_lon, true_lat, true_lon, return_index: bool = False
) -> tuple[np.ndarray, ...]:
    """The oracle: the database photo nearest to each test photo's geotag.

    No method that answers with a database photo's location can do better,
    so this row is the ceiling a database allows.

    Parameters
    ----------
    db_lat, db_lon : array_like
        Database coordinates in degrees.
    true_lat, true_lon : array_like
        The test photos' geotags.
    return_index : bool, optional
        Also return the index of the chosen database photo.

    Returns
    -------
    (lat, lon) or (lat, lon, index) : tuple of numpy.ndarray
        The nearest database photo's coordinates for each test photo.
    """
    db = np.radians(np.column_stack([np.ravel(db_lat), np.ravel(db_lon)]).astype(np.float64))
    query = np.radians(
        np.column_stack([np.ravel(true_lat), np.ravel(true_lon)]).astype(np.float64)
    )
    if len(db) == 0:
        raise ValueError("empty database")
    index = BallTree(db, metric="haversine").query(query, k=1, return_distance=False)[:, 0]
    lat = np.asarray(db_lat, dtype=np.float64).ravel()[index]
    lon = np.asarray(db_lon, dtype=np.float64).ravel()[index]
    return (lat, lon, index) if return_index else (lat, lon)

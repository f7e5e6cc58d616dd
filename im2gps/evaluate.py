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

The pieces live in one module per concept and are importable from here:
:mod:`im2gps.metrics` (errors, accuracy at radii, GeoGuessr score),
:mod:`im2gps.intervals` (bootstrap intervals, paired gains),
:mod:`im2gps.tables` (markdown tables) and :mod:`im2gps.reference` (the
reference rows, as functions and as locators).

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# The concepts a benchmark scores with, each in its own module, all importable
# from here: errors and radii (metrics), intervals, tables, reference rows.
from im2gps.geo import kernel_density
from im2gps.intervals import bootstrap_ci, paired_gain
from im2gps.metrics import (
    GEOGUESSR_SCALE_KM,
    THRESHOLD_NAMES,
    THRESHOLDS_KM,
    _country_hits,
    accuracy,
    adaptive_thresholds,
    country_accuracy,
    errors_km,
    format_distance,
    geoguessr_score,
    median_error,
    parse_distance,
    parse_thresholds,
)
from im2gps.reference import chance_predictions, oracle_predictions, prior_location
from im2gps.tables import format_table

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

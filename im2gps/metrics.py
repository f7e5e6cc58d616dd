"""Scoring a prediction: great-circle errors, accuracy at radii, the GeoGuessr score.

The im2gps tables report the fraction of photos located within 1 / 25 / 200 /
750 / 2500 km (:data:`THRESHOLDS_KM`) and the median error; OSV-5M adds the
GeoGuessr score and country accuracy. A failed photo (NaN prediction) has an
infinite error: a miss at every radius. Radii can be read from text in any
unit (:func:`parse_thresholds`) and adapted to a small database's extent
(:func:`adaptive_thresholds`). Summaries with intervals are in
:mod:`im2gps.evaluate`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from im2gps.geo import EARTH_RADIUS_KM, haversine_km

__all__ = [
    "GEOGUESSR_SCALE_KM",
    "THRESHOLDS_KM",
    "THRESHOLD_NAMES",
    "accuracy",
    "adaptive_thresholds",
    "country_accuracy",
    "errors_km",
    "format_distance",
    "geoguessr_score",
    "median_error",
    "parse_distance",
    "parse_thresholds",
]

#: The standard radii (km) of the im2gps benchmark tables.
THRESHOLDS_KM: tuple[float, ...] = (1, 25, 200, 750, 2500)

#: Names of the standard radii, in the same order.
THRESHOLD_NAMES: tuple[str, ...] = ("street", "city", "region", "country", "continent")

#: Length scale (km) of the GeoGuessr score, 5000 * exp(-d / 1492.7).
GEOGUESSR_SCALE_KM = 1492.7


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

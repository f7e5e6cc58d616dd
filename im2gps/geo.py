"""Geometry on the sphere: great-circle distances and 3-D unit vectors.

All distances are great-circle distances on a sphere of radius
:data:`EARTH_RADIUS_KM` = 6371 km (haversine formula). Averaging and voting
work on 3-D unit vectors, never on raw latitude/longitude, so they are correct
across the antimeridian and near the poles.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "EARTH_RADIUS_KM",
    "haversine_km",
    "km_to_chord",
    "chord_to_km",
    "to_unit_vectors",
    "to_latlon",
    "kernel_density",
    "check_degrees",
]

# Rows of a chunk of kernel evaluations: about 32 MiB of float64 at a time.
_CHUNK_ELEMENTS = 1 << 22

#: Mean Earth radius used for every distance in the package.
EARTH_RADIUS_KM = 6371.0


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (broadcasts).

    Parameters
    ----------
    lat1, lon1, lat2, lon2 : array_like
        Latitudes and longitudes in degrees; shapes must broadcast.

    Returns
    -------
    numpy.ndarray
        Distances in kilometres.
    """
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in
                              (lat1, lon1, lat2, lon2))
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def to_unit_vectors(lat, lon) -> np.ndarray:
    """Points in degrees to unit vectors on the sphere, shape ``(..., 3)``."""
    lat = np.radians(np.asarray(lat, dtype=np.float64))
    lon = np.radians(np.asarray(lon, dtype=np.float64))
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def to_latlon(xyz) -> tuple[np.ndarray, np.ndarray]:
    """Vectors ``(..., 3)`` (any non-zero length) back to (lat, lon) degrees."""
    xyz = np.asarray(xyz, dtype=np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    lat = np.degrees(np.arctan2(z, np.hypot(x, y)))
    lon = np.degrees(np.arctan2(y, x))
    return lat, lon


def km_to_chord(km) -> np.ndarray:
    """Great-circle distance (km) to the straight-line chord between unit vectors."""
    return 2.0 * np.sin(np.asarray(km, dtype=np.float64) / (2.0 * EARTH_RADIUS_KM))


def chord_to_km(chord) -> np.ndarray:
    """Chord length between unit vectors to great-circle distance (km)."""
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0))


def _vmf_kernel(cos: np.ndarray, kappa: float) -> np.ndarray:
    """``exp(kappa * (cos - 1))``, with the exponent clipped to [-60, 0].

    Far points would underflow to subnormal numbers, which libm computes an
    order of magnitude slower; exp(-60) ~ 1e-26 is as good as zero here.
    """
    out = np.subtract(cos, 1.0)
    out *= kappa
    np.clip(out, -60.0, 0.0, out=out)
    return np.exp(out, out=out)


def _vmf_density(points: np.ndarray, data: np.ndarray, kappa: float) -> np.ndarray:
    """Unnormalised von Mises-Fisher kernel density of ``data`` at ``points`` (chunked)."""
    density = np.empty(len(points))
    rows = max(1, _CHUNK_ELEMENTS // max(len(data), 1))
    for start in range(0, len(points), rows):
        cos = points[start:start + rows] @ data.T
        density[start:start + rows] = _vmf_kernel(cos, kappa).sum(axis=1)
    return density


def kernel_density(lat, lon, db_lat, db_lon, bandwidth_km: float) -> np.ndarray:
    """Photo density of a database at given points (unnormalised kernel sum).

    ``sum_j exp(kappa * (cos(d_j / R) - 1))`` with ``kappa = (R / bandwidth_km)**2``,
    a Gaussian of great-circle distance ``d_j`` for nearby photos; computed in
    chunks of unit-vector dot products.

    Parameters
    ----------
    lat, lon : array_like
        Points in degrees.
    db_lat, db_lon : array_like
        Database coordinates in degrees.
    bandwidth_km : float
        Kernel bandwidth.

    Returns
    -------
    numpy.ndarray
        Density at each point (1 per database photo at distance 0).
    """
    kappa = (EARTH_RADIUS_KM / float(bandwidth_km)) ** 2
    points = to_unit_vectors(np.ravel(lat), np.ravel(lon))
    data = to_unit_vectors(np.ravel(db_lat), np.ravel(db_lon))
    return _vmf_density(points, data, kappa)


def check_degrees(lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """``lat``, ``lon`` as flat float64 arrays, once checked to be finite WGS84 degrees.

    Raises
    ------
    ValueError
        If the lengths differ, or naming the first rows that are not finite or
        out of range (lat in [-90, 90], lon in [-180, 180]).
    """
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64)).ravel()
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64)).ravel()
    if lat.shape != lon.shape:
        raise ValueError(f"lat and lon differ in length: {lat.size} != {lon.size}")
    bad = ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(f"{r} ({lat[r]}, {lon[r]})" for r in rows[:5])
        raise ValueError(f"{rows.size} point(s) are not finite WGS84 degrees (lat in [-90, 90], "
                         f"lon in [-180, 180]), e.g. row {shown}")
    return lat, lon

"""The reference rows as locators: chance, prior and oracle, with the common contract.

Every benchmark table carries them (see :mod:`im2gps.evaluate`), and as
locators they can be saved, loaded, located with and scored like any other:

* :class:`Chance`: the location of a database photo drawn at random (seeded),
  what a method that ignores the pixels scores by luck;
* :class:`Prior`: one constant answer, the densest place of the database
  (the mode of its kernel density, :func:`im2gps.evaluate.prior_location`);
* :class:`Oracle`: the database photo nearest to the truth, the ceiling of
  any method that answers with a database location. It needs the truth, so
  its ``predict`` takes ``truth=``; it is a reference, not a locator that sees
  pixels only.

A saved reference row is a directory with ``reference.json`` (its kind and
parameters) and ``coords.npy`` (the database coordinates it learned).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.geo import (
    EARTH_RADIUS_KM,
    _vmf_density,
    _vmf_kernel,
    check_degrees,
    to_latlon,
    to_unit_vectors,
)
from im2gps.locators import LocatorMixin
from im2gps.photos import PhotoCollection
from im2gps.predictions import Predictions

__all__ = ["Chance", "Oracle", "Prior", "chance_predictions", "load_reference",
           "oracle_predictions", "prior_location"]

FORMAT = "im2gps-reference"
FORMAT_VERSION = 1


def _coords_of(photos: Any) -> np.ndarray:
    """``(n, 2)`` database coordinates of a collection, a folder / CSV, or an array."""
    if isinstance(photos, PhotoCollection):
        return photos.coords
    if isinstance(photos, str | os.PathLike):
        from im2gps.locators import locator_kind

        if locator_kind(photos) == "im2gps":
            from im2gps.index import GeoIndex

            return GeoIndex.load(photos, verify=False).coords
        return PhotoCollection.open(photos).coords
    coords = getattr(photos, "coords", None)  # a GeoIndex
    coords = np.asarray(photos if coords is None else coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"expected (n, 2) lat/lon degrees, got an array of shape {coords.shape}")
    check_degrees(coords[:, 0], coords[:, 1])
    return coords


def _count(images: Any) -> int:
    return 1 if isinstance(images, str | os.PathLike) else len(images)


def _unusable(images: Any) -> tuple[np.ndarray, list[str | None]]:
    """Which images cannot be used (missing, not an image, too small), and why.

    A reference row ignores the pixels, but a photo that does not exist is not
    answered: it fails, as it does for every other locator. Only the header of
    each file is read.
    """
    from im2gps.photos import PhotoError, check_image_array, check_photo

    items = [images] if isinstance(images, str | os.PathLike) else list(images)
    failed, errors = np.zeros(len(items), bool), [None] * len(items)
    for i, item in enumerate(items):
        try:
            if isinstance(item, str | os.PathLike):
                check_photo(item)
            else:
                check_image_array(item, where=f"image {i}")
        except PhotoError as err:
            failed[i], errors[i] = True, str(err)
    return failed, errors


def _answers(lat: np.ndarray, lon: np.ndarray, images: Any) -> Predictions:
    failed, errors = _unusable(images)
    lat = np.where(failed, np.nan, lat)
    lon = np.where(failed, np.nan, lon)
    return Predictions(lat, lon, failed, errors)


class _Reference(LocatorMixin):
    kind = ""
    needs_truth = False

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def set_params(self, **params: Any) -> _Reference:
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"unknown parameter {key!r} of {type(self).__name__}")
            setattr(self, key, value)
        return self

    def fit(self, photos: Any) -> _Reference:
        """Learn the database's coordinates (a collection, folder, CSV, index or array)."""
        self.coords_ = _coords_of(photos)
        if len(self.coords_) == 0:
            raise ValueError("no database photos to learn from")
        return self

    def _fitted(self) -> np.ndarray:
        if not hasattr(self, "coords_"):
            raise RuntimeError(f"this {type(self).__name__} locator is not fitted: call fit()")
        return self.coords_

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write ``reference.json`` and ``coords.npy`` to a new directory (atomically)."""
        from im2gps.atomic import atomic_directory

        coords = self._fitted()
        with atomic_directory(path, overwrite=overwrite) as tmp:
            np.save(tmp / "coords.npy", coords, allow_pickle=False)
            (tmp / "reference.json").write_text(json.dumps(
                {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.kind,
                 "params": self.get_params()}, indent=2))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> _Reference:
        """Read a reference row written by :meth:`save` (of this kind).

        Raises
        ------
        ValueError
            If the directory holds another kind of reference row.
        """
        locator = load_reference(path)
        if cls is not _Reference and not isinstance(locator, cls):
            raise ValueError(f"{path}: holds a {type(locator).__name__} reference row, not a "
                             f"{cls.__name__}; use im2gps.load() for any kind")
        return locator


class Chance(_Reference):
    """Chance: each photo placed at a database photo drawn at random (seeded).

    Parameters
    ----------
    seed : int, optional
        Seed of the draws: the same photos in the same order get the same answers.
    """

    kind = "chance"

    def predict(self, images: Sequence[Any], truth: Any = None) -> Predictions:
        """``(n,)`` answers, one random database location per image (pixels unused)."""
        coords = self._fitted()
        lat, lon = chance_predictions(coords[:, 0], coords[:, 1], _count(images), int(self.seed))
        return _answers(lat, lon, images)


class Prior(_Reference):
    """Prior: one constant answer, the densest place of the database.

    Parameters
    ----------
    bandwidth_km : float, optional
        Kernel width of the density (25 km: the most photographed city).
    seed : int, optional
        Seed of the density's screening sample (large databases).
    """

    kind = "prior"

    def __init__(self, bandwidth_km: float = 25.0, seed: int = 0) -> None:
        self.bandwidth_km = bandwidth_km
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {"bandwidth_km": self.bandwidth_km, "seed": self.seed}

    def fit(self, photos: Any) -> Prior:
        if not float(self.bandwidth_km) > 0:
            raise ValueError(f"bandwidth_km must be positive, not {self.bandwidth_km!r}")
        super().fit(photos)
        self.location_ = prior_location(self.coords_[:, 0], self.coords_[:, 1],
                                        bandwidth_km=float(self.bandwidth_km),
                                        seed=int(self.seed))
        return self

    def predict(self, images: Sequence[Any], truth: Any = None) -> Predictions:
        """The same answer, the database's densest place, for every image."""
        self._fitted()
        n = _count(images)
        return _answers(np.full(n, self.location_[0]), np.full(n, self.location_[1]), images)


class Oracle(_Reference):
    """Oracle: the database photo nearest to the truth (needs ``truth``; a ceiling)."""

    kind = "oracle"
    needs_truth = True

    def predict(self, images: Sequence[Any], truth: Any = None) -> Predictions:
        """The database location nearest to each photo's ``truth`` (``(n, 2)`` degrees).

        Raises
        ------
        ValueError
            Without ``truth``: the oracle is a reference row, not a locator.
        """
        coords = self._fitted()
        if truth is None:
            raise ValueError("the oracle answers with the database photo nearest to the "
                             "truth: pass truth=(n, 2) lat/lon; it cannot locate from pixels")
        truth = np.asarray(truth, dtype=np.float64).reshape(-1, 2)
        if len(truth) != _count(images):
            raise ValueError(f"{len(truth)} true locations for {_count(images)} images")
        lat, lon = oracle_predictions(coords[:, 0], coords[:, 1], truth[:, 0], truth[:, 1])
        return _answers(lat, lon, images)


_KINDS: dict[str, type[_Reference]] = {"chance": Chance, "prior": Prior, "oracle": Oracle}


def load_reference(path: str | os.PathLike) -> _Reference:
    """Read a saved reference row (``reference.json`` + ``coords.npy``).

    Raises
    ------
    ValueError
        On another format, version or kind, naming the file.
    """
    path = Path(path)
    try:
        record = json.loads((path / "reference.json").read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path / 'reference.json'}: unreadable ({err})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT or \
            record.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path / 'reference.json'}: not a reference row of format version "
                         f"{FORMAT_VERSION}; save it again with this im2gps")
    if record.get("kind") not in _KINDS:
        raise ValueError(f"{path / 'reference.json'}: unknown kind {record.get('kind')!r}")
    locator = _KINDS[record["kind"]](**record.get("params", {}))
    return locator.fit(np.load(path / "coords.npy", allow_pickle=False))


# -- the reference rows as functions over coordinates -------------------------------
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
    from sklearn.neighbors import BallTree  # imported when an oracle is asked for

    index = BallTree(db, metric="haversine").query(query, k=1, return_distance=False)[:, 0]
    lat = np.asarray(db_lat, dtype=np.float64).ravel()[index]
    lon = np.asarray(db_lon, dtype=np.float64).ravel()[index]
    return (lat, lon, index) if return_index else (lat, lon)

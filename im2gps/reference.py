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
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.locators import LocatorMixin
from im2gps.photos import PhotoCollection
from im2gps.predictions import Predictions

__all__ = ["Chance", "Oracle", "Prior", "load_reference"]

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
    return coords


def _count(images: Any) -> int:
    return 1 if isinstance(images, str | os.PathLike) else len(images)


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
        coords = self._fitted()
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path}: already exists")
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "coords.npy", coords, allow_pickle=False)
        (tmp / "reference.json").write_text(json.dumps(
            {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.kind,
             "params": self.get_params()}, indent=2))
        if path.exists():
            shutil.rmtree(path)
        os.rename(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> _Reference:
        """Read a reference row written by :meth:`save`."""
        return load_reference(path)


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
        from im2gps.evaluate import chance_predictions

        coords = self._fitted()
        lat, lon = chance_predictions(coords[:, 0], coords[:, 1], _count(images), int(self.seed))
        return Predictions(lat, lon, np.zeros(len(lat), bool))


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
        from im2gps.evaluate import prior_location

        super().fit(photos)
        self.location_ = prior_location(self.coords_[:, 0], self.coords_[:, 1],
                                        bandwidth_km=float(self.bandwidth_km),
                                        seed=int(self.seed))
        return self

    def predict(self, images: Sequence[Any], truth: Any = None) -> Predictions:
        """The same answer, the database's densest place, for every image."""
        self._fitted()
        return Predictions.constant(*self.location_, _count(images))


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
        from im2gps.evaluate import oracle_predictions

        coords = self._fitted()
        if truth is None:
            raise ValueError("the oracle answers with the database photo nearest to the "
                             "truth: pass truth=(n, 2) lat/lon; it cannot locate from pixels")
        truth = np.asarray(truth, dtype=np.float64).reshape(-1, 2)
        if len(truth) != _count(images):
            raise ValueError(f"{len(truth)} true locations for {_count(images)} images")
        lat, lon = oracle_predictions(coords[:, 0], coords[:, 1], truth[:, 0], truth[:, 1])
        return Predictions(lat, lon, np.zeros(len(lat), bool))


_KINDS: dict[str, type[_Reference]] = {"chance": Chance, "prior": Prior, "oracle": Oracle}


def load_reference(path: str | os.PathLike) -> _Reference:
    """Read a saved reference row (``reference.json`` + ``coords.npy``).

    Raises
    ------
    ValueError
        On another format, version or kind, naming the file.
    """
    path = Path(path)
    record = json.loads((path / "reference.json").read_text())
    if record.get("format") != FORMAT or record.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path / 'reference.json'}: not a reference row of format version "
                         f"{FORMAT_VERSION}; save it again with this im2gps")
    if record.get("kind") not in _KINDS:
        raise ValueError(f"{path / 'reference.json'}: unknown kind {record.get('kind')!r}")
    locator = _KINDS[record["kind"]](**record.get("params", {}))
    return locator.fit(np.load(path / "coords.npy", allow_pickle=False))

"""One idea of "a locator": what every locator shares, and loading any saved one.

Every locator (:class:`~im2gps.locator.Im2GPS`, :class:`~im2gps.planet.PlaNet`,
and the reference rows :class:`~im2gps.reference.Chance`,
:class:`~im2gps.reference.Prior`, :class:`~im2gps.reference.Oracle`) follows
one contract, the scikit-learn estimator's: ``__init__`` stores parameters
only, ``fit(photos)`` returns ``self``, learned attributes end in ``_``,
``predict(images)`` returns :class:`~im2gps.predictions.Predictions`,
``get_params()`` / ``set_params()``, ``score(images, lat, lon)``, and
``save(dir)`` / ``load(dir)``. A saved directory says what it is, and
:func:`load` (also ``im2gps.load``) returns the right object, so every
command takes any saved locator.

=============================  ==========================================
file in the directory          locator
=============================  ==========================================
``planet.json``                :class:`~im2gps.planet.PlaNet`
``reference.json``             a reference row (chance, prior, oracle)
``album.json``                 an album locator (pooled votes, HMM)
``album_lstm.json``            PlaNet's album LSTM
``manifest.json`` (an index)   :class:`~im2gps.locator.Im2GPS`
=============================  ==========================================
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.kinds import directory_kind as locator_kind  # what a saved directory is

__all__ = ["LocatorMixin", "load", "locator_kind"]


def load(path: str | os.PathLike, **kwargs: Any) -> Any:
    """Load any saved locator: an index directory, a PlaNet model or a reference row.

    Parameters
    ----------
    path : str or Path
        A directory written by a locator's ``save`` (or ``im2gps index build``,
        ``im2gps planet train``).
    **kwargs
        Passed to :meth:`Im2GPS.load <im2gps.locator.Im2GPS.load>` for an index
        (``verify=False``, ``warm_up=True``); the other kinds take none.

    Returns
    -------
    Im2GPS, PlaNet, Chance, Prior or Oracle
        The fitted locator.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a saved locator (the message says what each kind holds).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such locator directory")
    kind = locator_kind(path)
    if kind is None:
        raise ValueError(f"{path}: not a saved locator (an im2gps index holds manifest.json, a "
                         "PlaNet model planet.json, a reference row reference.json)")
    try:
        if kind == "planet":
            from im2gps.planet import PlaNet

            return PlaNet.load(path)
        if kind == "reference":
            from im2gps.reference import load_reference

            return load_reference(path)
        if kind == "album":
            from im2gps.album_locators import load_album_locator

            return load_album_locator(path)
        if kind == "album_lstm":
            from im2gps.planet.album import AlbumLSTM

            return AlbumLSTM.load(path)
        from im2gps.locator import Im2GPS

        return Im2GPS.load(path, **kwargs)
    except (KeyError, TypeError, AttributeError, IndexError) as err:
        # a damaged or hand-edited file: say which model and what, never a traceback
        raise ValueError(f"{path}: damaged {kind} model ({type(err).__name__}: {err}); save or "
                         "build it again") from None


class LocatorMixin:
    """What every locator adds to its own fit / predict / save: repr and score."""

    def get_params(self) -> dict[str, Any]:  # pragma: no cover - each locator defines it
        raise NotImplementedError

    def predict(self, images: Any) -> Any:  # pragma: no cover - each locator defines it
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def score(self, images: Sequence[Any], lat: Any, lon: Any,
              threshold_km: float | str = 25.0) -> float:
        """How well the locator places ``images``, whose true coordinates are ``lat, lon``.

        Parameters
        ----------
        images : sequence of str, Path or numpy.ndarray
            Photos, as for ``predict``.
        lat, lon : array_like
            ``(n,)`` true coordinates in degrees.
        threshold_km : float or "geoguessr", optional
            A distance in km: the fraction of photos placed within it (25 km,
            the im2gps "city" level, by default); ``"geoguessr"``: the mean
            GeoGuessr score per photo, ``5000 exp(-d / 1492.7 km)`` (in
            [0, 5000], as OSV-5M reports it). Failed photos count as misses
            (score 0).

        Returns
        -------
        float
            Higher is better, as scikit-learn's ``score``.
        """
        from im2gps.geo import haversine_km

        geoguessr = isinstance(threshold_km, str) and threshold_km.lower() == "geoguessr"
        if not geoguessr:
            try:
                radius = float(threshold_km)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ValueError(f"threshold_km must be a distance in km or 'geoguessr', not "
                                 f"{threshold_km!r}") from None
            if not np.isfinite(radius) or radius <= 0:
                raise ValueError(f"threshold_km must be a positive distance, not {threshold_km!r}")
        lat = np.asarray(lat, dtype=np.float64).ravel()
        lon = np.asarray(lon, dtype=np.float64).ravel()
        n = 1 if isinstance(images, str | os.PathLike) else len(images)
        if not lat.size == lon.size == n:
            raise ValueError(f"{n} images but {lat.size} latitudes and {lon.size} longitudes")
        predictions = self.predict(images, **({"truth": np.stack([lat, lon], axis=1)}
                                              if getattr(self, "needs_truth", False) else {}))
        errors = haversine_km(predictions.lat, predictions.lon, lat, lon)
        errors = np.where(predictions.failed | ~np.isfinite(errors), np.inf, errors)
        if geoguessr:
            return float(np.mean(5000.0 * np.exp(-errors / 1492.7)))
        return float(np.mean(errors <= radius))

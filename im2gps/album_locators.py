"""Album locators over single-photo answers: pooled votes and the travel-prior HMM.

Both wrap a fitted single-photo locator (:class:`~im2gps.locator.Im2GPS` or
:class:`~im2gps.planet.PlaNet`), the *base*, and turn its answers for an
album's photos into joint answers:

:class:`PooledVotes`
    the album's photos vote together: an Im2GPS base's neighbours of all the
    photos (each photo's votes normalised to one) go into one mean-shift, a
    PlaNet base's cell probabilities are averaged (``combine="mean"``) or
    multiplied (``combine="product"``, a geometric mean). One answer for the
    album, given to each of its photos.
:class:`TravelHMM`
    Kalogerakis et al.'s hidden Markov model: states are places, each
    photo's single-photo distribution is its emission, transitions come from
    a :class:`~im2gps.travel.TravelPrior` fitted on the database's author
    sequences. With an Im2GPS base the states are the candidate modes of the
    photos' own votes (the ``modes`` heaviest mean-shift clusters of each
    photo, a few dozen places) and a photo's emission at a mode is the kernel
    density of its neighbours there; with a PlaNet base the states are the
    partition's cells (those among the ``max_cells`` most probable of some
    photo) and the emissions the cell probabilities divided by the cells'
    training frequency (``prior_power``). Viterbi gives the joint answer
    (each photo's place on the most probable path, ``decode="viterbi"``),
    forward-backward each photo's posterior (``decode="posterior"`` answers
    with its mode); the album's answer is the place of the Viterbi path that
    holds the most photos (ties: the largest posterior mass summed over the
    photos), or with ``decode="posterior"`` the place of largest summed
    posterior mass.

Both follow the locator contract: ``__init__`` stores parameters, ``fit``
returns ``self``, learned attributes end in ``_``, ``predict(images, times)``
returns :class:`~im2gps.predictions.Predictions` (per photo, with the
album's answer in ``extra["album_lat"]`` / ``extra["album_lon"]``), and
``save`` / :func:`load_album_locator` write and read a directory of plain
files (``album.json``, the travel prior as JSON, the base locator in
``base/``).

References
----------
.. [1] E. Kalogerakis, O. Vesselova, J. Hays, A. A. Efros and A. Hertzmann,
   "Image sequence geolocation with human travel priors", ICCV 2009.
.. [2] T. Weyand, I. Kostrikov and J. Philbin, "PlaNet - Photo geolocation
   with convolutional neural networks", ECCV 2016 (averaging the photos'
   cell probabilities, the album baseline PlaNet's LSTM is compared with).
.. [3] J. Hays and A. A. Efros, "IM2GPS: estimating geographic information
   from a single image", CVPR 2008.

Notes
-----
Departures from Kalogerakis et al.:

* Their states are a fixed grid of the globe's populated places and their
  emissions im2gps's kNN density on it; here the states of an Im2GPS base are
  the album's own candidate modes (a small state set) and those of PlaNet the
  partition's cells, pruned to the cells that some photo finds probable.
* Emissions of a mode state mix the photo's kernel density with ``floor``
  times its largest value, so that one photo whose neighbours miss a place
  cannot forbid it.
* A photo that failed (unreadable) keeps no emission and stays a failure
  (a miss), although the HMM could place it from its neighbours in time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from im2gps.albums import Album, albums_from_table
from im2gps.geo import EARTH_RADIUS_KM, haversine_km, to_unit_vectors
from im2gps.hmm import forward_backward, viterbi
from im2gps.predictions import Predictions
from im2gps.travel import TravelPrior
from im2gps.voting import Votes, meanshift

__all__ = ["PooledVotes", "TravelHMM", "load_album_locator", "take"]

CONFIG_FILE = "album.json"
PRIOR_FILE = "travel_prior.json"
BASE_DIR = "base"
FORMAT_VERSION = 1


def take(predictions: Predictions, rows: Sequence[int] | np.ndarray) -> Predictions:
    """The rows ``rows`` of a batch of predictions (neighbours, votes, probabilities)."""
    rows = np.asarray(rows, np.int64)
    votes = None
    if predictions.votes is not None:
        v = predictions.votes
        votes = Votes(v.lat[rows], v.lon[rows], v.labels[rows], v.cluster_lat[rows],
                      v.cluster_lon[rows], v.cluster_weight[rows], v.cluster_size[rows],
                      v.n_clusters[rows], v.n_iter, dict(v.params))

    def pick(a):
        return None if a is None else np.asarray(a)[rows]

    extra = {k: np.asarray(a)[rows] for k, a in predictions.extra.items()
             if isinstance(a, np.ndarray) and a.ndim >= 1 and len(a) == len(predictions)}
    return Predictions(predictions.lat[rows], predictions.lon[rows], predictions.failed[rows],
                       [predictions.errors[i] for i in rows], votes=votes,
                       neighbor_ids=pick(predictions.neighbor_ids),
                       neighbor_distances=pick(predictions.neighbor_distances),
                       cell_probs=pick(predictions.cell_probs), extra=extra)


def _is_planet(base: Any) -> bool:
    return hasattr(base, "cells_") or type(base).__name__ == "PlaNet"


def _base_kind(base: Any) -> str:
    return "planet" if _is_planet(base) else "im2gps"


def _answer(single: Predictions, lat: np.ndarray, lon: np.ndarray, album_lat: float,
            album_lon: float, extra: dict[str, Any] | None = None) -> Predictions:
    """Per-photo answers of an album locator (photos the base failed on stay failed)."""
    failed = single.failed.copy()
    lat = np.where(failed, np.nan, lat)
    lon = np.where(failed, np.nan, lon)
    n = len(single)
    extra = dict(extra or {})
    extra["album_lat"] = np.full(n, album_lat)
    extra["album_lon"] = np.full(n, album_lon)
    return Predictions(lat, lon, failed, list(single.errors), extra=extra)


class _AlbumLocator:
    """Shared plumbing: fitting the base, predicting albums, saving and loading."""

    kind = ""

    def __init__(self, base: Any = None) -> None:
        self.base = base

    def get_params(self) -> dict[str, Any]:
        raise NotImplementedError

    def set_params(self, **params: Any) -> _AlbumLocator:
        """Change parameters."""
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"unknown parameter {key!r} of {type(self).__name__}")
            setattr(self, key, value)
        return self

    def _fit_base(self, photos: Any) -> None:
        if self.base is None:
            from im2gps.locator import Im2GPS

            self.base = Im2GPS()
        fitted = hasattr(self.base, "index_") or hasattr(self.base, "model_")
        if not fitted:
            if _is_planet(self.base):
                self.base.fit_photos(photos)
            else:
                self.base.fit(photos)

    def fit(self, photos: Any = None) -> _AlbumLocator:
        """Fit the base locator on ``photos`` unless it is fitted already.

        Returns
        -------
        self
        """
        self._check_params()
        self._fit_base(photos)
        return self

    def _check_params(self) -> None:
        pass

    def locate_album(self, single: Predictions, gaps_hours) -> Predictions:
        """Joint answers for one album from its photos' single-photo predictions.

        Parameters
        ----------
        single : Predictions
            The base's predictions for the album's photos, in capture order.
        gaps_hours : array_like
            ``(n - 1,)`` hours between consecutive photos (NaN: unknown).

        Returns
        -------
        Predictions
            Per photo; ``extra["album_lat"]``, ``extra["album_lon"]`` hold the
            album's answer (repeated per photo).
        """
        raise NotImplementedError

    def locate_albums(self, single: Predictions, albums: Sequence[Album]) -> Predictions:
        """Joint answers for many albums from one batch of single-photo predictions.

        ``single`` holds one row per photo of a table; each album's ``rows``
        index into it. Photos in no album keep their single-photo answer.
        """
        lat, lon = single.lat.copy(), single.lon.copy()
        failed = single.failed.copy()
        album_lat, album_lon = lat.copy(), lon.copy()
        for album in albums:
            answer = self.locate_album(take(single, album.rows), album.gaps_hours())
            lat[album.rows], lon[album.rows] = answer.lat, answer.lon
            failed[album.rows] = answer.failed
            album_lat[album.rows] = answer.extra["album_lat"]
            album_lon[album.rows] = answer.extra["album_lon"]
        return Predictions(lat, lon, failed, list(single.errors),
                           extra={"album_lat": album_lat, "album_lon": album_lon})

    def predict(self, images: Sequence[Any], times: Sequence[float] | np.ndarray | None = None
                ) -> Predictions:
        """Locate one album given as images in capture order.

        Parameters
        ----------
        images : sequence of str, Path or numpy.ndarray
            The album's photos in capture order.
        times : array_like, optional
            ``(n,)`` capture times in seconds (NaN: unknown; default: all unknown).
        """
        single = self.base.predict(images)
        n = len(single)
        times = np.full(n, np.nan) if times is None else np.asarray(times, np.float64)
        return self.locate_album(single, np.diff(times) / 3600.0)

    def predict_album(self, album: Album) -> Predictions:
        """Locate an :class:`~im2gps.albums.Album` (its images, order and times)."""
        return self.predict(album.images, album.times)

    # -- persistence ---------------------------------------------------------
    def _extra_files(self, path: Path) -> dict[str, Any]:
        return {}

    @classmethod
    def load(cls, path: str | os.PathLike) -> _AlbumLocator:
        """Read a locator of this kind written by :meth:`save` (see :func:`load_album_locator`).

        Raises
        ------
        ValueError
            If ``path`` holds another kind of album locator.
        """
        locator = load_album_locator(path)
        if not isinstance(locator, cls):
            raise ValueError(f"{path}: a saved {locator.kind} album locator, not {cls.kind}")
        return locator

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``album.json``, the base locator (``base/``) and the locator's own files."""
        from im2gps.atomic import atomic_directory

        with atomic_directory(path) as tmp:
            self.base.save(tmp / BASE_DIR)
            config = {"format_version": FORMAT_VERSION, "kind": self.kind,
                      "base": _base_kind(self.base), "params": self.get_params()}
            config.update(self._extra_files(tmp))
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        return Path(path)


class PooledVotes(_AlbumLocator):
    """The album's photos vote together; one answer for the album and each photo.

    Parameters
    ----------
    base : Im2GPS or PlaNet, optional
        The single-photo locator (default: an unfitted :class:`Im2GPS`).
    combine : {"mean", "product"}, optional
        PlaNet base: average the photos' cell probabilities, or multiply them
        (sum of log-probabilities). An Im2GPS base always pools neighbours.
    """

    kind = "pooled"

    def __init__(self, base: Any = None, combine: str = "mean") -> None:
        super().__init__(base)
        self.combine = combine

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters other than the base (JSON-ready)."""
        return {"combine": self.combine}

    def _check_params(self) -> None:
        if self.combine not in ("mean", "product"):
            raise ValueError(f"combine must be 'mean' or 'product', not {self.combine!r}")

    def locate_album(self, single: Predictions, gaps_hours=None) -> Predictions:
        """Pooled answer for one album (``gaps_hours`` is not used)."""
        self._check_params()
        ok = ~single.failed
        n = len(single)
        if not ok.any():
            return _answer(single, np.full(n, np.nan), np.full(n, np.nan), np.nan, np.nan)
        if _is_planet(self.base):
            probs = np.asarray(single.cell_probs, np.float64)[ok]
            if self.combine == "mean":
                score = probs.mean(axis=0)
            else:
                score = np.log(np.maximum(probs, 1e-30)).sum(axis=0)
            best = int(np.argmax(score))
            prefix = "mean" if self.base.coordinate == "mean" else "center"
            a_lat = float(self.base.cells_[f"{prefix}_lat"].iloc[best])
            a_lon = float(self.base.cells_[f"{prefix}_lon"].iloc[best])
            return _answer(single, np.full(n, a_lat), np.full(n, a_lon), a_lat, a_lon,
                           {"album_cell": np.full(n, best)})
        lat, lon, weights = _neighbour_votes(self.base, single)
        w = weights[ok] / np.maximum(weights[ok].sum(axis=1, keepdims=True), 1e-300)
        votes = meanshift(lat[ok].reshape(1, -1), lon[ok].reshape(1, -1),
                          bandwidth_km=float(self.base.bandwidth_km),
                          weights=w.reshape(1, -1), kernel=self.base.kernel)
        a_lat, a_lon = float(votes.lat[0]), float(votes.lon[0])
        return _answer(single, np.full(n, a_lat), np.full(n, a_lon), a_lat, a_lon)


def _neighbour_votes(base: Any, single: Predictions) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """Neighbour coordinates and vote weights of an Im2GPS base's predictions."""
    from im2gps.locator import similarity_weights

    ids = np.asarray(single.neighbor_ids)
    valid = ids >= 0
    coords = base.index_.coords
    lat = np.where(valid, coords[np.maximum(ids, 0), 0], np.nan)
    lon = np.where(valid, coords[np.maximum(ids, 0), 1], np.nan)
    if base.vote_weights == "similarity":
        weights = similarity_weights(single.neighbor_distances)
    elif base.vote_weights == "density":
        weights = 1.0 / base._database_density()[np.maximum(ids, 0)]
    else:
        weights = np.ones(ids.shape)
    return lat, lon, np.where(valid, weights, 0.0)


class TravelHMM(_AlbumLocator):
    """Kalogerakis et al.'s travel-prior HMM over places.

    Parameters
    ----------
    base : Im2GPS or PlaNet, optional
        The single-photo locator (default: an unfitted :class:`Im2GPS`).
    prior : TravelPrior, optional
        A fitted travel prior; by default :meth:`fit` fits one on the
        database's author sequences.
    decode : {"viterbi", "posterior"}, optional
        Each photo's answer: its place on the Viterbi path, or the mode of
        its forward-backward posterior.
    modes : int, optional
        Im2GPS base: heaviest mean-shift clusters of each photo taken as states.
    floor : float, optional
        Im2GPS base: emission floor, as a fraction of the photo's largest one.
    max_cells : int or None, optional
        PlaNet base: keep the cells among each photo's ``max_cells`` most
        probable (None: all cells).
    prior_power : float, optional
        PlaNet base: emissions are ``P(cell | photo) / P(cell) ** prior_power``
        with ``P(cell)`` the training frequency, which is also the initial
        distribution (1: Bayes' rule, one prior for the album; 0: the photos'
        posteriors as they are).
    album_column : str, optional
        Column of the database that groups photos into sequences for the prior.
    time_column : str, optional
        Column of the database's capture times.

    Attributes
    ----------
    prior_ : TravelPrior
        The travel prior in use.
    """

    kind = "hmm"

    def __init__(self, base: Any = None, prior: TravelPrior | None = None,
                 decode: str = "viterbi", modes: int = 5, floor: float = 0.01,
                 max_cells: int | None = 50, prior_power: float = 1.0,
                 album_column: str = "author", time_column: str = "taken") -> None:
        super().__init__(base)
        self.prior = prior
        self.decode = decode
        self.modes = modes
        self.floor = floor
        self.max_cells = max_cells
        self.prior_power = prior_power
        self.album_column = album_column
        self.time_column = time_column

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters other than the base and the prior (JSON-ready)."""
        return {"decode": self.decode, "modes": int(self.modes), "floor": float(self.floor),
                "max_cells": None if self.max_cells is None else int(self.max_cells),
                "prior_power": float(self.prior_power), "album_column": self.album_column,
                "time_column": self.time_column}

    def _check_params(self) -> None:
        if self.decode not in ("viterbi", "posterior"):
            raise ValueError(f"decode must be 'viterbi' or 'posterior', not {self.decode!r}")
        if int(self.modes) < 1:
            raise ValueError(f"modes must be at least 1, not {self.modes}")
        if not 0 <= float(self.floor) < 1:
            raise ValueError(f"floor must be in [0, 1), not {self.floor}")
        if self.max_cells is not None and int(self.max_cells) < 1:
            raise ValueError(f"max_cells must be at least 1 or None, not {self.max_cells}")

    def fit(self, photos: Any = None, table: pd.DataFrame | None = None) -> TravelHMM:
        """Fit the base (unless fitted) and the travel prior (unless given).

        Parameters
        ----------
        photos : PhotoCollection, GeoIndex, str or Path, optional
            The database; its photo table's ``album_column`` and
            ``time_column`` give the sequences the prior is fitted on.
        table : pandas.DataFrame, optional
            A photo table (``lat``, ``lon``, the album and time columns) to
            fit the prior on instead of the database's.

        Returns
        -------
        TravelHMM
            ``self``.

        Raises
        ------
        ValueError
            If no prior is given and the table has too few sequences.
        """
        super().fit(photos)
        if self.prior is not None:
            self.prior_ = self.prior
            return self
        if table is None:
            table = _photo_table(self.base, photos)
        for column in (self.album_column, self.time_column):
            if column not in table:
                raise ValueError(f"the database has no {column!r} column to fit the travel "
                                 f"prior on; give a prior or a table")
        albums = albums_from_table(table, self.album_column, time_column=self.time_column)
        times = np.full(len(table), np.nan)
        for album in albums:
            times[album.rows] = album.times
        self.prior_ = TravelPrior().fit_sequences(table["lat"], table["lon"], times,
                                                  table[self.album_column])
        return self

    def _prior(self) -> TravelPrior:
        prior = getattr(self, "prior_", None) or self.prior
        if prior is None:
            raise RuntimeError("this TravelHMM has no travel prior: call fit() or give one")
        return prior

    def states(self, single: Predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray, np.ndarray]:
        """Places, radii, log emissions and log initial probabilities for an album.

        Returns
        -------
        lat, lon, radius_km : numpy.ndarray
            ``(S,)`` the states.
        log_emissions : numpy.ndarray
            ``(n, S)`` (rows of failed photos are zeros: no information).
        log_initial : numpy.ndarray
            ``(S,)``.
        """
        if _is_planet(self.base):
            return self._cell_states(single)
        return self._mode_states(single)

    def _mode_states(self, single: Predictions):
        base = self.base
        h = float(base.bandwidth_km)
        ok = ~single.failed
        v = single.votes
        m = int(self.modes)
        k = v.cluster_lat.shape[1]
        take_n = np.minimum(v.n_clusters, min(m, k))
        mask = np.arange(min(m, k))[None, :] < take_n[:, None]
        mask &= ok[:, None]
        s_lat = v.cluster_lat[:, :min(m, k)][mask]
        s_lon = v.cluster_lon[:, :min(m, k)][mask]
        n = len(single)
        if s_lat.size == 0:
            return (np.zeros(1), np.zeros(1), np.full(1, h), np.zeros((n, 1)), np.zeros(1))
        # merge modes closer than a tenth of the bandwidth (the same place found twice)
        xyz = to_unit_vectors(s_lat, s_lon)
        keys = np.round(xyz / (h / 10 / EARTH_RADIUS_KM)).astype(np.int64)
        _, first = np.unique(keys, axis=0, return_index=True)
        first = np.sort(first)
        s_lat, s_lon = s_lat[first], s_lon[first]
        lat, lon, weights = _neighbour_votes(base, single)
        d = haversine_km(lat[:, :, None], lon[:, :, None], s_lat[None, None, :],
                         s_lon[None, None, :])  # (n, k, S)
        kernel = np.exp(-0.5 * (np.nan_to_num(d, nan=np.inf) / h) ** 2)
        density = np.einsum("nk,nks->ns", weights, kernel)
        density /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
        top = density.max(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            log_e = np.log(density + float(self.floor) * top)
        log_e[~ok | ~np.isfinite(log_e).any(axis=1)] = 0.0  # no information
        return s_lat, s_lon, np.full(s_lat.size, h), log_e, np.zeros(s_lat.size)

    def _cell_states(self, single: Predictions):
        base = self.base
        probs = np.asarray(single.cell_probs, np.float64)
        ok = ~single.failed
        n, n_cells = probs.shape
        if self.max_cells is None or int(self.max_cells) >= n_cells or not ok.any():
            keep = np.arange(n_cells)
        else:
            top = np.argsort(-probs[ok], axis=1)[:, : int(self.max_cells)]
            keep = np.unique(top)
        cells = base.cells_
        prefix = "mean" if base.coordinate == "mean" else "center"
        s_lat = cells[f"{prefix}_lat"].to_numpy(np.float64)[keep]
        s_lon = cells[f"{prefix}_lon"].to_numpy(np.float64)[keep]
        level = cells["level"].to_numpy(np.float64)[keep]
        # mean area of an S2 cell of that level: the sphere's area / (6 * 4**level)
        radius = np.sqrt(4 * EARTH_RADIUS_KM**2 / (6 * 4.0**level))
        count = cells["count"].to_numpy(np.float64)[keep]
        log_freq = np.log(count) - np.log(cells["count"].sum())
        with np.errstate(divide="ignore"):
            log_e = np.log(probs[:, keep]) - float(self.prior_power) * log_freq[None, :]
        log_e[~ok] = 0.0
        log_init = float(self.prior_power) * log_freq
        return s_lat, s_lon, radius, log_e, log_init - logsumexp(log_init)

    def locate_album(self, single: Predictions, gaps_hours) -> Predictions:
        """HMM answers for one album (see the class docstring)."""
        self._check_params()
        n = len(single)
        gaps = np.asarray(gaps_hours, np.float64).reshape(-1)
        if gaps.size != max(n - 1, 0):
            raise ValueError(f"{gaps.size} gaps for an album of {n} photos")
        if not (~single.failed).any():
            return _answer(single, np.full(n, np.nan), np.full(n, np.nan), np.nan, np.nan)
        s_lat, s_lon, radius, log_e, log_init = self.states(single)
        matrices = self._prior().transitions(s_lat, s_lon, radius, gaps)
        posterior, _ = forward_backward(log_e, matrices, log_init)
        if self.decode == "viterbi":
            path, _ = viterbi(log_e, matrices, log_init)
        else:
            path = np.argmax(posterior, axis=1)
        mass = posterior[~single.failed].sum(axis=0)
        if self.decode == "viterbi":  # the path's place holding most photos (then most mass)
            on_path = path[~single.failed]
            counts = np.bincount(on_path, minlength=s_lat.size)
            album_state = int(np.lexsort((-mass, -counts))[0])
        else:
            album_state = int(np.argmax(mass))
        extra = {"state": path, "posterior_max": posterior.max(axis=1),
                 "marginal_lat": s_lat[np.argmax(posterior, axis=1)],
                 "marginal_lon": s_lon[np.argmax(posterior, axis=1)],
                 "n_states": np.full(n, s_lat.size)}
        return _answer(single, s_lat[path], s_lon[path], float(s_lat[album_state]),
                       float(s_lon[album_state]), extra)

    def _extra_files(self, path: Path) -> dict[str, Any]:
        self._prior().save(path / PRIOR_FILE)
        return {"prior": PRIOR_FILE}


def _photo_table(base: Any, photos: Any) -> pd.DataFrame:
    """The database photo table of ``photos`` (or of an Im2GPS base's index)."""
    from im2gps.photos import PhotoCollection

    if isinstance(photos, pd.DataFrame):
        return photos
    if isinstance(photos, PhotoCollection):
        return photos.table
    if photos is not None and hasattr(photos, "photos"):
        return photos.photos
    if isinstance(photos, (str, os.PathLike)):
        path = Path(photos)
        if (path / "manifest.json").is_file():
            from im2gps.index import GeoIndex

            return GeoIndex.load(path, verify=False).photos
        return PhotoCollection.open(path).table
    if hasattr(base, "index_"):
        return base.index_.photos
    raise ValueError("no database photo table to fit the travel prior on")


def load_album_locator(path: str | os.PathLike) -> PooledVotes | TravelHMM:
    """Read an album locator written by ``save`` (its base included).

    Raises
    ------
    FileNotFoundError
        If ``album.json`` is missing.
    ValueError
        If the format version or kind is unknown.
    """
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{path / CONFIG_FILE}: missing; not a saved album locator")
    config = json.loads((path / CONFIG_FILE).read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path / CONFIG_FILE}: format version {config.get('format_version')}, "
                         f"this im2gps reads {FORMAT_VERSION}")
    base = load_base(path / BASE_DIR)
    if config["kind"] == "pooled":
        return PooledVotes(base, **config["params"]).fit()
    if config["kind"] == "hmm":
        prior = TravelPrior.load(path / config["prior"])
        return TravelHMM(base, prior=prior, **config["params"]).fit()
    raise ValueError(f"{path / CONFIG_FILE}: unknown album locator kind {config['kind']!r}")


def load_base(path: str | os.PathLike) -> Any:
    """A saved single-photo locator: PlaNet (``planet.json``) or Im2GPS (an index)."""
    path = Path(path)
    if (path / "planet.json").is_file():
        from im2gps.planet import PlaNet

        return PlaNet.load(path)
    from im2gps.locator import Im2GPS

    return Im2GPS.load(path)

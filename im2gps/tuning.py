"""Choosing im2gps settings by cross-validation on the database only.

Test photos must never choose settings. :func:`cross_validate` splits the
*database* into folds grouped by photographer (photos by one person are often
of one place, so a random split would leak), locates every held-out database
photo with an index of the other folds, and scores each setting of the voting
rule. Neighbours are searched once per fold at the largest ``k`` of the grid;
every setting then votes on a prefix of those neighbour lists, so a grid of
dozens of settings costs little more than one.

The score is the mean accuracy at 25, 200, 750 and 2500 km (the city to
continent scales; 1 km is too rare on a database of this size to rank
settings).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from im2gps.evaluate import accuracy, errors_km
from im2gps.index import GeoIndex
from im2gps.locator import Im2GPS, quiet

__all__ = ["SCORE_THRESHOLDS_KM", "VERIFICATION_GRID", "cross_validate",
           "cross_validate_planet", "cross_validate_verification", "grid", "neighbours_by_fold",
           "verified_neighbours_by_fold"]

#: Thresholds whose mean accuracy is the cross-validation score.
SCORE_THRESHOLDS_KM = (25, 200, 750, 2500)


def grid(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    """All combinations of parameter values, e.g. ``grid(k=[5, 20], vote=["1nn"])``."""
    keys = list(axes)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(list(axes[k]) for k in keys))]


def neighbours_by_fold(
    index: GeoIndex,
    groups: Sequence[Any],
    k: int,
    features: Sequence[str] | None = None,
    n_splits: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Each database photo's ``k`` nearest photos among the other folds.

    Parameters
    ----------
    index : GeoIndex
        The database.
    groups : sequence
        Photographer of every database photo (rows of ``index.photos``).
    k : int
        Neighbours per photo.
    features : sequence of str, optional
        Features to search with (default: all of the index).
    n_splits : int, optional
        Folds (grouped, so no photographer is on both sides).

    Returns
    -------
    ids : numpy.ndarray
        ``(n, k)`` database rows (of the full index) of the neighbours.
    dist : numpy.ndarray
        ``(n, k)`` feature distances.
    """
    names = list(features) if features is not None else index.feature_names
    n = len(index)
    ids = np.full((n, k), -1, np.int64)
    dist = np.full((n, k), np.nan, np.float32)
    for train, held_out in GroupKFold(n_splits=n_splits).split(np.zeros(n), groups=groups):
        view = index.view(features=names, rows=train)
        queries = {name: np.asarray(index.features(name))[held_out] for name in names}
        d, i = view.search(queries, k)
        ids[held_out, : i.shape[1]] = train[i]
        dist[held_out, : d.shape[1]] = d
    return ids, dist


def cross_validate(
    index: GeoIndex,
    groups: Sequence[Any],
    settings: Sequence[Mapping[str, Any]],
    features: Sequence[str] | None = None,
    n_splits: int = 5,
    score_thresholds: Sequence[float] = SCORE_THRESHOLDS_KM,
    progress: bool = False,
) -> pd.DataFrame:
    """Score voting settings of :class:`Im2GPS` by grouped cross-validation.

    Parameters
    ----------
    index : GeoIndex
        The database (never the test set).
    groups : sequence
        Photographer of each database photo.
    settings : sequence of dict
        Parameters of :class:`Im2GPS` (``k``, ``vote``, ``bandwidth_km``,
        ``kernel``, ``vote_weights``) to compare.
    features : sequence of str, optional
        Features to search with.
    n_splits : int, optional
        Folds.
    score_thresholds : sequence of float, optional
        Radii (km) whose mean accuracy is the score: 25/200/750/2500 km by
        default; a benchmark on a city-scale database passes its own radii.
    progress : bool, optional
        A progress bar over the settings, on stderr.

    Returns
    -------
    pandas.DataFrame
        One row per setting: its parameters, accuracy at each threshold,
        median error and ``score`` (mean accuracy at ``score_thresholds``),
        best first.
    """
    k_max = max(int(s.get("k", 120)) for s in settings)
    ids, dist = neighbours_by_fold(index, groups, k_max, features, n_splits)
    truth = index.coords
    rows = []
    from tqdm.auto import tqdm

    for setting in tqdm(settings, desc="cross-validation", unit="setting", disable=not progress):
        k = int(setting.get("k", 120))
        with quiet():
            locator = Im2GPS(**setting).fit(index)
        predictions = locator.vote_on(ids[:, :k], dist[:, :k])
        rows.append(_score(setting, predictions.lat, predictions.lon, truth[:, 0], truth[:, 1],
                           score_thresholds))
    return _ranked(rows)


def _score(setting: Mapping[str, Any], lat, lon, true_lat, true_lon,
           score_thresholds: Sequence[float] = SCORE_THRESHOLDS_KM) -> dict[str, Any]:
    """One row of a CV table: the setting, accuracies, median error and score."""
    errors = errors_km(lat, lon, true_lat, true_lon)
    scored = tuple(float(t) for t in score_thresholds)
    radii = tuple(sorted({1.0, *scored}))
    acc = accuracy(errors, radii)
    row = dict(setting)
    row.update({f"acc_{t:g}km": float(a) for t, a in zip(radii, acc, strict=True)})
    row["median_km"] = float(np.median(errors))
    row["score"] = float(np.mean([a for t, a in zip(radii, acc, strict=True) if t in scored]))
    return row


def _ranked(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """CV rows as a table, best score first (ties keep the grid's order)."""
    return pd.DataFrame(rows).sort_values("score", ascending=False, kind="stable").reset_index(
        drop=True)


def cross_validate_planet(
    embeddings: np.ndarray,
    lat,
    lon,
    groups: Sequence[Any],
    settings: Sequence[Mapping[str, Any]],
    n_splits: int = 3,
    progress: bool = False,
) -> pd.DataFrame:
    """Score :class:`~im2gps.planet.PlaNet` settings by grouped cross-validation.

    Each fold trains a PlaNet (partition, classifier head, its own inner
    photographer-disjoint validation split for early stopping) on the other
    folds' photos and locates the held-out ones.

    Parameters
    ----------
    embeddings : numpy.ndarray
        ``(n, d)`` database embeddings.
    lat, lon : array_like
        Database coordinates.
    groups : sequence
        Photographer of each photo.
    settings : sequence of dict
        :class:`PlaNet` parameters to compare (``t_max``, ``t_min``,
        ``weight_decay``, ``hidden``, ``dropout``, ...).
    n_splits : int, optional
        Folds.
    progress : bool, optional
        A progress bar over the settings, on stderr.

    Returns
    -------
    pandas.DataFrame
        One row per setting, best ``score`` first (as :func:`cross_validate`).
    """
    from im2gps.planet import PlaNet

    lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
    groups = np.asarray(groups)
    rows = []
    from tqdm.auto import tqdm

    for setting in tqdm(settings, desc="PlaNet cross-validation", unit="setting",
                        disable=not progress):
        pred_lat = np.full(len(lat), np.nan)
        pred_lon = np.full(len(lat), np.nan)
        for train, held_out in GroupKFold(n_splits=n_splits).split(embeddings, groups=groups):
            model = PlaNet(**setting).fit(embeddings[train], lat[train], lon[train],
                                          groups=groups[train])
            predictions = model.predict_embeddings(embeddings[held_out])
            pred_lat[held_out], pred_lon[held_out] = predictions.lat, predictions.lon
        rows.append(_score(setting, pred_lat, pred_lon, lat, lon))
    return _ranked(rows)


#: How verified neighbours join the vote, compared by :func:`cross_validate_verification`.
VERIFICATION_GRID: list[dict[str, Any]] = (
    [{"verification": "off"}, {"verification": "best"}]
    + grid(verification=["weight"], verify_alpha=[0.1, 1.0, 10.0])
)


def verified_neighbours_by_fold(
    index: GeoIndex,
    groups: Sequence[Any],
    k: int,
    local: Any,
    short_list: int = 20,
    features: Sequence[str] | None = None,
    n_splits: int = 5,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """:func:`neighbours_by_fold`, plus geometric verification of each short list.

    Parameters
    ----------
    index, groups, k, features, n_splits
        As for :func:`neighbours_by_fold`.
    local : LocalFeatureSet
        Local features of the database photos (rows of ``index``).
    short_list : int, optional
        Nearest neighbours verified per photo.

    Returns
    -------
    ids, dist : numpy.ndarray
        ``(n, k)`` neighbours among the other folds and their distances.
    scores : dict of str to numpy.ndarray
        ``(n, short_list)`` verification scores (:func:`im2gps.verify.verify_short_lists`).
    """
    from im2gps.verify import verify_short_lists

    ids, dist = neighbours_by_fold(index, groups, k, features, n_splits)
    scores = verify_short_lists(local, local, ids[:, :short_list])
    return ids, dist, scores


def cross_validate_verification(
    index: GeoIndex,
    ids: np.ndarray,
    dist: np.ndarray,
    scores: Mapping[str, np.ndarray],
    voting: Mapping[str, Any],
    verifier: Mapping[str, float] | None = None,
    settings: Sequence[Mapping[str, Any]] = VERIFICATION_GRID,
) -> pd.DataFrame:
    """Score ways of combining verified neighbours with the vote, on the database.

    Parameters
    ----------
    index : GeoIndex
        The database (never the test set).
    ids, dist, scores
        What :func:`verified_neighbours_by_fold` returned.
    voting : mapping
        The voting setting of :class:`Im2GPS` (``vote``, ``k``, ...), itself
        chosen by :func:`cross_validate`.
    verifier : mapping, optional
        Thresholds of :class:`im2gps.verify.Verifier`.
    settings : sequence of dict
        ``verification`` (and ``verify_alpha``) settings to compare.

    Returns
    -------
    pandas.DataFrame
        One row per setting, best first: ``score`` as in
        :func:`cross_validate`, ties broken by accuracy at 1 km (where
        landmark matches show).
    """
    truth = index.coords
    k = int(voting.get("k", 120))
    short_list = next(iter(scores.values())).shape[1]
    rows = []
    for setting in settings:
        locator = Im2GPS(**{**voting, **setting}, short_list=short_list,
                         verifier=dict(verifier) if verifier else None).fit(index)
        boost = None
        if locator.verification != "off":
            boost = locator.verification_boost(dict(scores), min(k, ids.shape[1]))
        predictions = locator.vote_on(ids[:, :k], dist[:, :k], boost=boost)
        rows.append(_score({**setting}, predictions.lat, predictions.lon, truth[:, 0],
                           truth[:, 1]))
    table = pd.DataFrame(rows)
    return table.sort_values(["score", "acc_1km"], ascending=False, kind="stable").reset_index(
        drop=True)

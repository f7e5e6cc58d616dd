"""Album benchmark: album locators against single-photo ones on the same photos.

:func:`run_album_benchmark` scores every photo of the albums of a database
(photos grouped by a column, e.g. ``author``: the im2gps2k author sequences,
in capture order) with each single-photo row (``im2gps``, ``im2gps-cnn``,
``planet``) and each album row built on it (``<row>-pooled``, ``<row>-hmm``
and ``planet-lstm``), by cross-validation on the database:

* folds keep albums whole (scikit-learn's ``GroupKFold`` over albums), and a
  fold's training photos exclude every photo by a photographer of that fold's
  albums, so no photographer is on both sides;
* in each fold the Im2GPS rows search the training photos only, PlaNet, the
  travel prior (from the training photos' author sequences) and the album
  LSTM are trained on the training photos only;
* each photo's own geotag is its truth; the capture order and times are
  album input, never truth. A photo that fails counts as a miss.

Every album row is compared with its single-photo row on the same photos by
a paired bootstrap of the accuracy difference that resamples whole albums
(:func:`album_paired_gain`: the photos of an album are not independent), and
album rows are also scored per album (the album's answer against the
spherical mean of its photos' geotags, intervals over albums).

:func:`place_albums` builds albums of photos that share a place (real
database photos within ``radius_km`` of each other, by DBSCAN on the sphere).

References
----------
.. [1] E. Kalogerakis, O. Vesselova, J. Hays, A. A. Efros and A. Hertzmann,
   "Image sequence geolocation with human travel priors", ICCV 2009.
.. [2] T. Weyand, I. Kostrikov and J. Philbin, "PlaNet - Photo geolocation
   with convolutional neural networks", ECCV 2016.

Notes
-----
* The HMM settings (Im2GPS: candidate modes per photo and emission floor;
  PlaNet: the power of the cell frequency the probabilities are divided by)
  are chosen in each fold from ``HMM_GRID`` by an inner author-grouped
  cross-validation on the fold's training author sequences (the
  locator's default on ties). The pooled and LSTM settings are fixed defaults.
* The single-photo voting settings and PlaNet's partition are the ones the
  main benchmark chooses by photographer-grouped cross-validation over the
  whole database (:func:`~im2gps.benchmark.tuned_settings`,
  :func:`~im2gps.benchmark.tuned_planet`); the album photos take part in
  that choice as held-out queries. Single and album rows share the settings,
  so their paired comparison is unaffected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from im2gps import datasets
from im2gps.album_locators import PooledVotes, TravelHMM
from im2gps.albums import Album, albums_from_table
from im2gps.evaluate import THRESHOLDS_KM, Report, errors_km, evaluate, format_table
from im2gps.features import CLASSICAL
from im2gps.geo import to_latlon, to_unit_vectors
from im2gps.index import GeoIndex
from im2gps.locator import Im2GPS, quiet
from im2gps.predictions import Predictions
from im2gps.travel import TravelPrior

__all__ = ["AlbumBenchmarkResult", "ALBUM_ROWS", "album_paired_gain", "place_albums",
           "run_album_benchmark", "write_album_results"]

#: Single-photo rows and the album rows built on each.
ALBUM_ROWS: dict[str, list[str]] = {
    "im2gps": ["im2gps-pooled", "im2gps-hmm"],
    "im2gps-cnn": ["im2gps-cnn-pooled", "im2gps-cnn-hmm"],
    "planet": ["planet-pooled", "planet-hmm", "planet-lstm"],
}


def single_row(row: str) -> str:
    """The single-photo row an album row is built on (``planet-hmm`` -> ``planet``)."""
    for single, album_rows in ALBUM_ROWS.items():
        if row == single or row in album_rows:
            return single
    raise ValueError(f"unknown album benchmark row {row!r}; choose from "
                     f"{', '.join(r for s, a in ALBUM_ROWS.items() for r in (s, *a))}")


@dataclass
class AlbumBenchmarkResult:
    """What an album benchmark measured.

    Attributes
    ----------
    database, albums : str
        The database and the album column.
    n_photos, n_albums : int
        Photos (in albums of at least ``min_size``) and albums scored.
    reports : dict of str to Report
        Per-photo scores of each row.
    album_reports : dict of str to Report
        Per-album scores of each album row (album answer against the album's centre).
    gains : dict
        Album row -> radius -> gain over its single-photo row with the paired interval.
    predictions : dict of str to pandas.DataFrame
        Per-photo answers and errors.
    settings, timings : dict
    """

    database: str
    albums: str
    n_photos: int
    n_albums: int
    reports: dict[str, Report]
    album_reports: dict[str, Report]
    gains: dict[str, dict[str, dict[str, float | bool]]]
    predictions: dict[str, pd.DataFrame]
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def table(self, ci: bool = True) -> str:
        """Per-photo markdown table of every row."""
        return format_table(self.reports, ci=ci)

    def album_table(self, ci: bool = True) -> str:
        """Per-album markdown table of the album rows."""
        return format_table(self.album_reports, ci=ci)

    def gains_table(self) -> str:
        """Accuracy gain (points) of each album row over its single-photo row, paired 95 % CI."""
        radii = [f"{r:g}" for r in THRESHOLDS_KM]
        lines = ["| Album row | over | " + " | ".join(f"{r} km" for r in radii) + " |",
                 "|:---|:---|" + "---:|" * len(radii)]
        for row, by_radius in self.gains.items():
            cells = []
            for r in radii:
                g = by_radius[r]
                mark = " **+**" if g["clears"] else (" **-**" if g["hi"] < 0 else "")
                cells.append(f"{100 * g['gain']:+.1f} [{100 * g['lo']:+.1f}, "
                             f"{100 * g['hi']:+.1f}]{mark}")
            lines.append(f"| {row} | {single_row(row)} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready document."""
        return {"database": self.database, "albums": self.albums, "n_photos": self.n_photos,
                "n_albums": self.n_albums,
                "results": {k: r.to_dict() for k, r in self.reports.items()},
                "album_results": {k: r.to_dict() for k, r in self.album_reports.items()},
                "gains": self.gains, "settings": self.settings, "timings_s": self.timings}


def place_albums(lat, lon, radius_km: float = 25.0, max_size: int = 6, min_size: int = 2,
                 seed: int = 0) -> np.ndarray:
    """Albums of photos that share a place: DBSCAN clusters on the sphere, cut into pieces.

    Parameters
    ----------
    lat, lon : array_like
        ``(n,)`` the photos' geotags in degrees.
    radius_km : float, optional
        DBSCAN's neighbourhood radius (great-circle km); a place is a chain of
        photos each within ``radius_km`` of another.
    max_size : int, optional
        Places with more photos are cut into albums of at most this many (in
        a seeded random order), so one city does not make one huge album.
    min_size : int, optional
        Smallest album kept (photos left over are in no album).
    seed : int, optional
        Seed of the cutting order.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` object array: an album name per photo, or None.
    """
    from sklearn.cluster import DBSCAN

    from im2gps.geo import EARTH_RADIUS_KM

    coords = np.radians(np.c_[np.asarray(lat, np.float64), np.asarray(lon, np.float64)])
    labels = DBSCAN(eps=radius_km / EARTH_RADIUS_KM, min_samples=min_size,
                    metric="haversine", algorithm="ball_tree").fit_predict(coords)
    rng = np.random.default_rng(seed)
    names = np.full(len(labels), None, dtype=object)
    for label in np.unique(labels[labels >= 0]):
        members = rng.permutation(np.flatnonzero(labels == label))
        pieces = int(np.ceil(len(members) / max_size))
        for piece, rows in enumerate(np.array_split(members, pieces)):
            if len(rows) >= min_size:
                names[rows] = f"place{label}-{piece}"
    return names


def _find_index(db, features: Sequence[str], cache: Path, jobs: int, progress: bool
                ) -> GeoIndex:
    """The database index of the main benchmark's cache, found by content under any name."""
    from im2gps.benchmark import _fingerprint, database_index

    key = _fingerprint(db.paths, db.coords.round(7).tolist(), list(features))
    for path in sorted((cache / "indexes").glob(f"*-{key}")):
        if (path / "manifest.json").is_file():
            return GeoIndex.load(path)
    return database_index(db, features, cache, jobs, progress)


def _folds(albums: list[Album], table: pd.DataFrame, n_splits: int
           ) -> list[tuple[np.ndarray, list[Album]]]:
    """(training rows, held-out albums) per fold; photographers never on both sides."""
    names = np.arange(len(albums))
    n_splits = min(n_splits, len(albums))
    author = (table["author"].astype(str).to_numpy() if "author" in table
              else np.arange(len(table)).astype(str))
    folds = []
    for _, held in GroupKFold(n_splits=n_splits).split(names, groups=names):
        held_albums = [albums[i] for i in held]
        held_rows = np.concatenate([a.rows for a in held_albums])
        blocked = np.isin(author, author[held_rows])
        blocked[held_rows] = True
        folds.append((np.flatnonzero(~blocked), held_albums))
    return folds


def _reindex(albums: list[Album]) -> tuple[np.ndarray, list[Album]]:
    """The albums' rows stacked, and the albums with rows into that stack."""
    rows = np.concatenate([a.rows for a in albums])
    out, start = [], 0
    for a in albums:
        out.append(Album(a.name, a.ids, a.images, a.times, np.arange(start, start + len(a)),
                         a.untimed))
        start += len(a)
    return rows, out


def run_album_benchmark(
    database: str | Any = "im2gps2k",
    albums: str = "author",
    locators: Sequence[str] | None = None,
    data_dir: str | None = None,
    cache_dir: str = ".cache",
    table_albums: np.ndarray | None = None,
    n_splits: int = 5,
    min_size: int = 2,
    jobs: int = 2,
    n_boot: int = 1000,
    features: Sequence[str] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> AlbumBenchmarkResult:
    """Album rows against single-photo rows by grouped cross-validation on a database.

    Parameters
    ----------
    database : str or Path
        Data set name, folder or CSV manifest (see :mod:`im2gps.datasets`).
    albums : str
        Column of the database grouping photos into albums (``author``: the
        photographers' sequences).
    locators : sequence of str, optional
        Rows (default: every row of :data:`ALBUM_ROWS`); a single-photo row
        is added for each album row.
    data_dir, cache_dir : str, optional
        As in :func:`~im2gps.benchmark.run_benchmark`.
    table_albums : numpy.ndarray, optional
        ``(n,)`` album names per database photo (None: in no album), used
        instead of a column (e.g. from :func:`place_albums`); ``albums`` then
        only names them.
    n_splits : int, optional
        Folds.
    min_size : int, optional
        Albums with fewer photos are not scored (their photos stay in the
        database).
    jobs : int, optional
        Processes for feature extraction (when the index is not cached).
    n_boot : int, optional
        Bootstrap resamples.
    features : sequence of str, optional
        Features of the database index (default: the main benchmark's, all
        classical features and ``cnn``, so that its cached index serves); the
        ``im2gps`` row uses its classical ones.
    progress : bool, optional
        Progress bars.
    log : callable, optional
        Receives one line per stage.

    Returns
    -------
    AlbumBenchmarkResult

    Raises
    ------
    ValueError
        If the database has no such column or no album of ``min_size`` photos.
    """
    from im2gps.benchmark import tuned_planet, tuned_settings

    say = log or (lambda message: None)
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    rows = list(locators) if locators else [r for s, a in ALBUM_ROWS.items() for r in (s, *a)]
    for row in list(rows):
        if single_row(row) not in rows:
            rows.insert(0, single_row(row))
    db = datasets.load(database, data_dir)
    table = db.table.copy()
    if table_albums is not None:
        table[albums] = pd.Series(np.asarray(table_albums, dtype=object)).to_numpy()
    elif albums not in table:
        raise ValueError(f"{db.source}: no album column {albums!r} (columns: "
                         f"{', '.join(table.columns)})")
    keyed = table[table[albums].notna()]
    groups = [a for a in albums_from_table(keyed, albums) if len(a) >= min_size]
    for a in groups:  # rows of the full table
        a.rows = keyed.index.to_numpy()[a.rows]
    if not groups:
        raise ValueError(f"{db.source}: no album of {min_size} or more photos in column "
                         f"{albums!r}")
    # the main benchmark's index (every feature), so that its cache serves both
    features = list(features) if features is not None else [*CLASSICAL, "cnn"]
    index = _find_index(db, features, Path(cache_dir), jobs, progress)
    classical = [f for f in index.feature_names if f in CLASSICAL]
    if len(index) != len(table):
        raise ValueError(f"{db.source}: the index holds {len(index)} of {len(table)} photos")
    say(f"{db.source}: {len(groups)} albums of {min_size}+ photos "
        f"({sum(len(a) for a in groups)} photos) by {albums!r}")
    timings["features_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    settings: dict[str, Any] = {"albums": albums, "min_size": min_size, "n_splits": n_splits}
    cache = Path(cache_dir)
    if "im2gps" in rows:
        settings["im2gps"], _ = tuned_settings(index, classical, cache)
    if "im2gps-cnn" in rows:
        settings["im2gps-cnn"], _ = tuned_settings(index, ["cnn"], cache)
    if "planet" in rows:
        settings["planet"], _ = tuned_planet(index, cache)
    timings["tuning_s"] = time.perf_counter() - clock
    clock = time.perf_counter()

    coords = index.coords
    album_rows_all, _ = _reindex(groups)
    n = len(table)
    answers = {row: (np.full(n, np.nan), np.full(n, np.nan), np.ones(n, bool)) for row in rows}
    album_answers = {row: (np.full(n, np.nan), np.full(n, np.nan)) for row in rows}
    priors = []
    hmm_settings: list[dict[str, dict[str, Any]]] = []
    author = table["author"].astype(str).to_numpy() if "author" in table else None
    for fold, (train, held_albums) in enumerate(_folds(groups, table, n_splits)):
        held_rows, local = _reindex(held_albums)
        fold_table = table.iloc[train].reset_index(drop=True)
        prior = TravelPrior().fit_sequences(
            fold_table["lat"], fold_table["lon"], _times(fold_table),
            fold_table["author"] if "author" in fold_table else np.arange(len(fold_table)))
        priors.append(prior.get_params())
        singles = {base_row: _single(base_row, index, settings, classical, train, held_rows,
                                     author)
                   for base_row in ALBUM_ROWS if base_row in rows}
        X = np.asarray(index.features("cnn")) if "planet" in rows else None
        chosen = {base_row: _choose_hmm(base_row, index, settings, classical, train, table,
                                        author, prior)
                  for base_row in ALBUM_ROWS if f"{base_row}-hmm" in rows}
        hmm_settings.append(chosen)
        for row in rows:
            base_row = single_row(row)
            base, single = singles[base_row]
            if row == base_row:
                out = single
                a_lat, a_lon = single.lat, single.lon
            elif row == "planet-lstm":
                out = _lstm_fold(base, X, train, table, held_rows, local, settings)
                a_lat, a_lon = out.extra["album_lat"], out.extra["album_lon"]
            else:
                locator = (PooledVotes(base) if row.endswith("-pooled")
                           else TravelHMM(base, prior=prior, **chosen[base_row])).fit()
                out = locator.locate_albums(single, local)
                a_lat, a_lon = out.extra["album_lat"], out.extra["album_lon"]
            answers[row][0][held_rows] = out.lat
            answers[row][1][held_rows] = out.lon
            answers[row][2][held_rows] = out.failed
            album_answers[row][0][held_rows] = a_lat
            album_answers[row][1][held_rows] = a_lon
        say(f"fold {fold + 1}: {len(held_albums)} albums, {len(train)} training photos")
    settings["travel_prior_per_fold"] = priors
    settings["hmm_per_fold"] = hmm_settings
    timings["locate_s"] = time.perf_counter() - clock

    scored = album_rows_all
    truth = coords[scored]
    reports, frames, album_reports = {}, {}, {}
    errors = {}
    centre = np.zeros((len(groups), 2))
    for g, a in enumerate(groups):
        centre[g] = np.ravel(to_latlon(to_unit_vectors(coords[a.rows, 0],
                                                       coords[a.rows, 1]).sum(axis=0)))
    first = np.array([a.rows[0] for a in groups])
    for row in rows:
        lat, lon, failed = (x[scored] for x in answers[row])
        reports[row] = evaluate(lat, lon, truth[:, 0], truth[:, 1], failed=failed,
                                n_boot=n_boot)
        errors[row] = np.where(failed, np.inf, errors_km(lat, lon, truth[:, 0], truth[:, 1]))
        frames[row] = pd.DataFrame({"id": table["id"].to_numpy()[scored],
                                    "album": table[albums].astype(str).to_numpy()[scored],
                                    "true_lat": truth[:, 0], "true_lon": truth[:, 1],
                                    "lat": lat, "lon": lon, "failed": failed,
                                    "error_km": errors[row]})
        if row != single_row(row):
            a_lat, a_lon = (x[first] for x in album_answers[row])
            album_reports[row] = evaluate(a_lat, a_lon, centre[:, 0], centre[:, 1],
                                          n_boot=n_boot)
    gains = {}
    album_of = np.repeat(np.arange(len(groups)), [len(a) for a in groups])
    for row in rows:
        if row == single_row(row):
            continue
        gain, lo, hi = album_paired_gain(errors[row], errors[single_row(row)], album_of,
                                         THRESHOLDS_KM, n_boot=n_boot)
        gains[row] = {f"{r:g}": {"gain": float(g), "lo": float(a), "hi": float(b),
                                 "clears": bool(a > 0)}
                      for r, g, a, b in zip(THRESHOLDS_KM, gain, lo, hi, strict=True)}
    timings["score_s"] = time.perf_counter() - clock
    return AlbumBenchmarkResult(str(database), albums, len(scored), len(groups), reports,
                                album_reports, gains, frames, settings, timings)


def album_paired_gain(errors, reference_errors, album, thresholds=THRESHOLDS_KM,
                      n_boot: int = 1000, seed: int = 0, level: float = 0.95
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy gain over a reference on the same photos, with an album-cluster paired CI.

    Like :func:`~im2gps.evaluate.paired_gain`, but the bootstrap resamples
    whole albums (the photos of one album are not independent: album rows
    give them related answers), both methods with the same draw.

    Parameters
    ----------
    errors, reference_errors : array_like
        ``(n,)`` errors in km of the method and the reference.
    album : array_like
        ``(n,)`` int album of each photo (0 .. n_albums - 1).
    thresholds : sequence of float, optional
        Radii in km.
    n_boot, seed, level : optional
        Resamples, seed, coverage.

    Returns
    -------
    gain, lo, hi : numpy.ndarray
        ``(len(thresholds),)`` difference of accuracies (fractions) and its interval.
    """
    radii = np.asarray(thresholds, np.float64)
    album = np.asarray(album, np.int64)
    n_albums = int(album.max()) + 1
    hits = (np.asarray(errors, np.float64)[:, None] <= radii).astype(np.float64) \
        - (np.asarray(reference_errors, np.float64)[:, None] <= radii)
    per_album = np.zeros((n_albums, radii.size))
    np.add.at(per_album, album, hits)
    sizes = np.bincount(album, minlength=n_albums).astype(np.float64)
    point = per_album.sum(axis=0) / sizes.sum()
    draw = np.random.default_rng(seed).integers(0, n_albums, size=(n_boot, n_albums))
    boot = per_album[draw].sum(axis=1) / sizes[draw].sum(axis=1)[:, None]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=0, method="inverted_cdf")
    return point, lo, hi


def _single(base_row: str, index: GeoIndex, settings: dict[str, Any], classical: list[str],
            train: np.ndarray, held: np.ndarray, author: np.ndarray | None
            ) -> tuple[Any, Predictions]:
    """A single-photo locator fitted on ``train`` and its predictions for ``held``."""
    coords = index.coords
    if base_row == "planet":
        from im2gps.planet import PlaNet

        X = np.asarray(index.features("cnn"))
        planet = PlaNet(**settings["planet"]).fit(
            X[train], coords[train, 0], coords[train, 1],
            groups=author[train] if author is not None else None)
        return planet, planet.predict_embeddings(X[held])
    names = classical if base_row == "im2gps" else ["cnn"]
    view = index.view(features=names, rows=train)
    with quiet():  # benchmark rows compare settings on purpose
        base = Im2GPS(**settings[base_row]).fit(index.view(features=names))
    k = min(int(base.k), len(train))
    d, i = view.search({f: np.asarray(index.features(f))[held] for f in names}, k)
    return base, base.vote_on(train[i], d)


#: HMM settings compared by inner cross-validation on each fold's training sequences.
#: The locator's defaults come first, so that they win ties.
HMM_GRID: dict[str, list[dict[str, Any]]] = {
    "im2gps": [{"modes": m, "floor": f} for m in (5, 3, 10) for f in (0.01, 0.1)],
    "im2gps-cnn": [{"modes": m, "floor": f} for m in (5, 3, 10) for f in (0.01, 0.1)],
    "planet": [{"prior_power": p} for p in (1.0, 0.5, 0.0)],
}


def _choose_hmm(base_row: str, index: GeoIndex, settings: dict[str, Any],
                classical: list[str], train: np.ndarray, table: pd.DataFrame,
                author: np.ndarray | None, prior: TravelPrior, n_inner: int = 2
                ) -> dict[str, Any]:
    """HMM setting of ``HMM_GRID`` with the best CV score on the training author sequences.

    The training photos' author sequences are split in ``n_inner`` author-grouped
    folds; each inner fold's base is fitted on the other training photos.
    The score is the mean accuracy at 25/200/750/2500 km (as in
    :mod:`im2gps.tuning`). Without two sequences, the first setting.
    """
    grid = HMM_GRID[base_row]
    if author is None:
        return dict(grid[0])
    fold_table = table.iloc[train].reset_index(drop=True)
    sequences = [a for a in albums_from_table(fold_table, "author") if len(a) >= 2]
    if len(sequences) < n_inner:
        return dict(grid[0])
    for a in sequences:
        a.rows = train[a.rows]
    errors = np.zeros((len(grid), 0))
    names = np.arange(len(sequences))
    for _, held in GroupKFold(n_splits=n_inner).split(names, groups=names):
        inner_albums = [sequences[i] for i in held]
        held_rows, local = _reindex(inner_albums)
        blocked = np.isin(author[train], author[held_rows])
        inner_train = train[~blocked]
        base, single = _single(base_row, index, settings, classical, inner_train, held_rows,
                               author)
        truth = index.coords[held_rows]
        fold_errors = []
        for setting in grid:
            out = TravelHMM(base, prior=prior, **setting).fit().locate_albums(single, local)
            e = errors_km(out.lat, out.lon, truth[:, 0], truth[:, 1])
            fold_errors.append(np.where(out.failed, np.inf, e))
        errors = np.concatenate([errors, np.array(fold_errors)], axis=1)
    radii = np.array([25.0, 200.0, 750.0, 2500.0])
    scores = (errors[:, :, None] <= radii).mean(axis=(1, 2))
    return dict(grid[int(np.argmax(scores))])


def _times(table: pd.DataFrame) -> np.ndarray:
    from im2gps.albums import parse_time

    if "taken" not in table:
        return np.full(len(table), np.nan)
    return np.array([parse_time(v)[0] for v in table["taken"].tolist()])


def _lstm_fold(planet: Any, X: np.ndarray, train: np.ndarray, table: pd.DataFrame,
               held_rows: np.ndarray, local: list[Album], settings: dict[str, Any]
               ) -> Predictions:
    """Train the album LSTM on the fold's training sequences and locate its albums."""
    from im2gps.planet.album import AlbumLSTM

    fold_table = table.iloc[train].reset_index(drop=True)
    groups = (fold_table["author"] if "author" in fold_table
              else pd.Series(np.arange(len(fold_table))))
    model = AlbumLSTM(**settings.get("planet-lstm", {})).fit(
        X[train], fold_table["lat"], fold_table["lon"], groups=groups,
        times=_times(fold_table), cells=planet.cells_)
    return model.locate_albums_embeddings(X[held_rows], local)


def write_album_results(result: AlbumBenchmarkResult, out: str | Path) -> list[Path]:
    """Write ``results.json``, ``results.md`` and per-row prediction CSVs into ``out``."""
    import json

    from im2gps.jsonable import json_default

    out = Path(out)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    written = [out / "results.json", out / "results.md"]
    written[0].write_text(json.dumps(result.to_dict(), indent=2, default=json_default))
    lines = [
        f"# Albums of {result.database} by {result.albums!r}: {result.n_photos} photos in "
        f"{result.n_albums} albums",
        "",
        f"{result.settings.get('n_splits')}-fold cross-validation on the database, folds "
        "grouped by album, training photos",
        "photographer-disjoint from each fold's albums. Per photo, each photo's own geotag is",
        "its truth; accuracy (%) with 95 % bootstrap intervals, failures count as misses.",
        "",
        result.table(),
        "",
        "Accuracy gain (points) of each album row over its single-photo row on the same",
        "photos, with a paired bootstrap 95 % interval resampling whole albums (**+**:",
        "clears it, **-**: loses beyond it). The intervals of the table above resample",
        "photos, which understates them for album rows (an album's photos share answers).",
        "",
        result.gains_table(),
        "",
        "Per album: the album's answer against the spherical mean of its photos' geotags:",
        "",
        result.album_table(),
        "",
    ]
    written[1].write_text("\n".join(lines))
    for name, frame in result.predictions.items():
        path = out / "predictions" / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    return written

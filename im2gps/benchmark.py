"""Head-to-head benchmark: geolocation methods on a real test set, honestly scored.

:func:`run_benchmark` locates every photo of a test set (default
``im2gps237``) against a database (default ``im2gps2k``) with each method and
scores them with :mod:`im2gps.evaluate`: accuracy at 1 / 25 / 200 / 750 /
2500 km with 95 % bootstrap intervals, median error, GeoGuessr score, country
accuracy, per-scene rows. Every table carries three reference rows:

``chance``
    the location of a random database photo (averaged over seeds);
``prior``
    one constant answer, the densest place of the database;
``oracle``
    the database photo nearest to the truth: the ceiling of any method
    that answers with a database photo's location.

A method shows signal only where it clears ``prior`` by more than the
interval. Voting settings of the im2gps rows (k, bandwidth, vote weights) are
chosen by photographer-grouped cross-validation on the database
(:mod:`im2gps.tuning`), never on the test set. A photo a method fails on is a
miss, and the table says how many failed.

Features of each photo set are cached under ``cache_dir`` (the database index
and the test set's descriptors), so a second run extracts nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from im2gps import datasets
from im2gps.benchmark_rows import (
    EXTRA_ROWS,
    PAPER_SETTING,
    REFERENCE_ROWS,
    _row_confs,
    row_conf,
    rows_help,
)
from im2gps.evaluate import (
    THRESHOLDS_KM,
    Report,
    adaptive_thresholds,
    chance_predictions,
    chance_report,
    errors_km,
    evaluate,
    format_distance,
    format_table,
    oracle_predictions,
    paired_gain,
    prior_location,
)
from im2gps.features import CLASSICAL
from im2gps.index import GeoIndex, IndexFormatError, build_index, extract_features
from im2gps.index.cache import FeatureCache, default_cache_dir
from im2gps.jsonable import json_safe
from im2gps.locator import Im2GPS, quiet
from im2gps.photos import PhotoCollection
from im2gps.published import published_table
from im2gps.tuning import cross_validate, grid

__all__ = ["EXTRA_ROWS", "BenchmarkResult", "default_locators", "main_method", "row_conf",
           "rows_help", "run_benchmark", "TUNING_GRID"]

#: Voting settings compared by cross-validation on the database.
TUNING_GRID: list[dict[str, Any]] = (
    [{"vote": "1nn", "k": 1}]
    + grid(vote=["meanshift"], k=[5, 10, 20, 40, 120], bandwidth_km=[25, 100, 400],
           vote_weights=["uniform", "similarity", "density"])
    + grid(vote=["kde"], k=[10, 40, 120], bandwidth_km=[25, 100, 400],
           vote_weights=["uniform", "density"])
)

#: PlaNet settings compared by cross-validation on the database (partition and
#: regularisation; 1,685 photos support cells of tens of photos, not PlaNet's thousands).
PLANET_GRID: list[dict[str, Any]] = grid(t_max=[50, 100, 200], t_min=[5, 20],
                                         weight_decay=[1e-4, 1e-1])





def _torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def default_locators(features: Sequence[str] = CLASSICAL, cnn: bool | None = None
                     ) -> list[str]:
    """The rows of the default table.

    References, each classical feature alone, all classical features (1-NN,
    the paper's k = 120, and CV-chosen voting), and where torch is installed
    the CNN rows: 1-NN and CV-chosen voting on CNN embeddings, and PlaNet.
    """
    rows = [*REFERENCE_ROWS]
    rows += [f"im2gps-{name}" for name in features]
    rows += ["im2gps-1nn", "im2gps-paper", "im2gps"]
    if cnn if cnn is not None else _torch_available():
        rows += ["im2gps-cnn-1nn", "im2gps-cnn", "planet"]
    return rows


@dataclass
class BenchmarkResult:
    """Everything a benchmark run measured.

    Attributes
    ----------
    test, database : str
        Names or paths of the two photo sets.
    reports : dict of str to Report
        One report per method, in row order.
    predictions : dict of str to pandas.DataFrame
        Per-photo predictions and errors per method.
    settings : dict
        Voting settings chosen by cross-validation, and the CV table.
    timings : dict of str to float
        Seconds per stage.
    """

    test: str
    database: str
    n: int
    reports: dict[str, Report]
    predictions: dict[str, pd.DataFrame]
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    failed_photos: list[dict[str, str]] = field(default_factory=list)
    #: method -> reference ("prior", "chance") -> radius -> gain with its paired interval.
    gains: dict[str, dict[str, dict[str, dict[str, float | bool]]]] = field(
        default_factory=dict)
    #: Radii (km) of the table: the standard ones or the database-adapted ones.
    thresholds: tuple[float, ...] = THRESHOLDS_KM
    #: What the table was computed on: database and test set (name, photos,
    #: checksum), software version and date, so that two tables compare knowingly.
    provenance: dict[str, Any] = field(default_factory=dict)
    #: The papers' own figures on this test set (:mod:`im2gps.published`), when asked.
    published: list[dict[str, Any]] = field(default_factory=list)

    def clears(self, reference: str = "prior") -> dict[str, list[str]]:
        """Radii (km) where each method beats ``reference`` beyond the paired interval."""
        return {method: [radius for radius, g in by_ref.get(reference, {}).items()
                         if g["clears"]]
                for method, by_ref in self.gains.items()}

    def clears_table(self) -> str:
        """A markdown table: where each method clears chance and prior (paired 95 % CI)."""
        standard = tuple(self.thresholds) == THRESHOLDS_KM
        unit = " (km)" if standard else ""
        lines = [f"| Method | clears chance at{unit} | clears prior at{unit} |",
                 "|:---|:---|:---|"]
        chance, prior = self.clears("chance"), self.clears("prior")

        def radii(keys: list[str]) -> str:
            shown = keys if standard else [format_distance(float(k)) for k in keys]
            return ", ".join(shown) or "-"

        for method in self.gains:
            lines.append(f"| {method} | {radii(chance.get(method, []))} | "
                         f"{radii(prior.get(method, []))} |")
        return "\n".join(lines)

    def table(self, ci: bool = True, scenes: bool = False, scores: bool = True) -> str:
        """The head-to-head markdown table (with GeoGuessr score and country accuracy)."""
        return format_table(self.reports, ci=ci, scenes=scenes, scores=scores)

    def provenance_line(self) -> str:
        """One line naming the database, test set and software of this table."""
        p = self.provenance
        if not p:
            return ""
        db, test = p["database"], p["test"]
        return (f"Database {db['name']} ({db['photos']:,} photos, sha256 "
                f"{db['sha256'][:12]}); test {test['name']} ({test['photos']:,} photos, sha256 "
                f"{test['sha256'][:12]}); im2gps {p['im2gps_version']}, {p['date']}.")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``{"test", "database", "n", "results": {METHOD: ...}, ...}``."""
        return {
            "test": self.test,
            "database": self.database,
            "n": self.n,
            "results": {name: report.to_dict() for name, report in self.reports.items()},
            "settings": self.settings,
            "failed_photos": self.failed_photos,
            "gains": self.gains,
            "thresholds_km": list(self.thresholds),
            "provenance": self.provenance,
            "published": self.published,
            "timings_s": self.timings,
        }


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def database_index(db: PhotoCollection, features: Sequence[str], cache: Path, jobs: int,
                   progress: bool) -> GeoIndex:
    """The database's index with ``features``, built once and cached under ``cache``."""
    key = _fingerprint(db.paths, db.coords.round(7).tolist(), list(features))
    path = cache / "indexes" / f"{Path(db.source).parent.name or 'db'}-{key}"
    if (path / "manifest.json").is_file():
        try:
            return GeoIndex.load(path)
        except IndexFormatError:  # an older format or a damaged cache: build it again
            pass
    return build_index(db, path, features=list(features), jobs=jobs, progress=progress,
                       overwrite=True, cache=FeatureCache(cache))


def query_features(test: PhotoCollection, index: GeoIndex, cache: Path, jobs: int,
                   progress: bool) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """Raw descriptors of the test photos, NaN rows for photos that failed (cached)."""
    key = _fingerprint(test.paths, sorted(index.manifest["files"].items()))
    work = cache / "features" / f"{Path(test.source).parent.name or 'test'}-{key}"
    feature_set = extract_features(test, index.extractors, work, jobs=jobs, progress=progress,
                                   cache=FeatureCache(cache), desc="test features")
    matrices = {}
    for name, matrix in feature_set.matrices.items():
        full = np.full((len(test), matrix.shape[1]), np.nan, np.float32)
        full[feature_set.ok] = matrix
        matrices[name] = full
    failed = [{"path": s.path, "reason": s.reason} for s in feature_set.skipped]
    return matrices, failed


def tuned_settings(index: GeoIndex, features: Sequence[str], cache: Path,
                    n_splits: int = 5, thresholds: Sequence[float] = THRESHOLDS_KM,
                    progress: bool = False) -> tuple[dict[str, Any], pd.DataFrame]:
    """Best voting setting by photographer-grouped CV on the database (cached).

    Settings are scored at the table's radii without the smallest (as the
    standard score leaves out 1 km, too rare on a small database to rank).
    """
    score_radii = tuple(thresholds[1:]) if len(thresholds) > 1 else tuple(thresholds)
    key = _fingerprint(sorted(index.manifest["files"].items()), list(features), TUNING_GRID,
                       n_splits, *(() if tuple(thresholds) == THRESHOLDS_KM else score_radii))
    path = cache / "tuning" / f"cv-{key}.csv"
    if path.is_file():
        table = pd.read_csv(path)
    else:
        groups = index.photos["author"] if "author" in index.photos else np.arange(len(index))
        table = cross_validate(index, groups, TUNING_GRID, features=features, n_splits=n_splits,
                               score_thresholds=score_radii, progress=progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
    best = table.iloc[0]
    setting = {key: best[key] for key in ("vote", "k", "bandwidth_km", "vote_weights")
               if key in best and pd.notna(best[key])}
    setting["k"] = int(setting["k"])
    if "bandwidth_km" in setting:
        setting["bandwidth_km"] = float(setting["bandwidth_km"])
    return setting, table


def _frame(test: PhotoCollection, lat, lon, failed) -> pd.DataFrame:
    truth = test.coords
    errors = errors_km(lat, lon, truth[:, 0], truth[:, 1])
    errors[np.asarray(failed, bool)] = np.inf
    frame = pd.DataFrame({"id": test.ids, "true_lat": truth[:, 0], "true_lon": truth[:, 1],
                          "lat": lat, "lon": lon, "failed": failed, "error_km": errors})
    if "scene" in test.table:
        frame["scene"] = test.table["scene"].to_numpy()
    return frame


def run_benchmark(
    database: str | os.PathLike = "im2gps2k",
    test: str | os.PathLike = "im2gps237",
    locators: Sequence[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    jobs: int = 2,
    size_curve: bool = True,
    n_boot: int = 1000,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    thresholds: Sequence[float] | None = None,
) -> BenchmarkResult:
    """Run methods head to head on a test set against a database.

    Parameters
    ----------
    database, test : str or Path
        Data set names (see :mod:`im2gps.datasets`) or folders / CSV manifests.
    locators : sequence of str, optional
        Rows to run: ``chance``, ``prior``, ``oracle``, ``im2gps`` (all
        features, CV-chosen voting), ``im2gps-1nn``, ``im2gps-paper`` (k=120),
        ``im2gps-<feature>`` (one feature, CV-chosen voting),
        ``im2gps-<feature>-1nn``, ``planet`` (PlaNet over CNN embeddings, its
        partition and regularisation CV-chosen). Default: :func:`default_locators`.
    data_dir : str or Path, optional
        Where named data sets live.
    cache_dir : str or Path, optional
        Cache of indexes, descriptors (by photo content and extractor, so
        any later run on the same photos extracts nothing again) and CV
        tables; default :func:`im2gps.index.cache.default_cache_dir`, a user
        cache folder (``$IM2GPS_CACHE`` overrides it).
    jobs : int, optional
        Processes for feature extraction.
    size_curve : bool, optional
        Also measure accuracy against database size (10 % ... 100 %).
    n_boot : int, optional
        Bootstrap resamples of the intervals.
    progress : bool, optional
        Progress bars.
    log : callable, optional
        Receives one line per stage.
    thresholds : sequence of float, optional
        Radii of the table in km. Default: the standard 1 / 25 / 200 / 750 /
        2500 km for a world-wide database, radii scaled to the database's
        extent for a small one (:func:`im2gps.evaluate.adaptive_thresholds`).

    Returns
    -------
    BenchmarkResult
    """
    say = log or (lambda message: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    db, query = _load_sets(database, test, data_dir, say)
    radii = tuple(sorted(float(t) for t in thresholds)) if thresholds else \
        adaptive_thresholds(db.coords[:, 0], db.coords[:, 1])
    if radii != THRESHOLDS_KM:
        say(f"table radii: {', '.join(format_distance(r) for r in radii)}")
    rows = _rows_of(locators)
    saved = {}  # saved locators given as rows: loaded before any work, so a bad one fails now
    for row in rows:
        if row_conf(row)["kind"] == "saved":
            from im2gps.locators import load

            saved[row] = load(row)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    say(f"database {db.source}: {len(db)} photos; test {query.source}: {len(query)} photos")

    # 1. features: the database's index and the test photos' descriptors
    needed = needed_features(rows)
    index = database_index(db, needed, cache, jobs, progress) if needed else None
    timings["database_features_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    matrices, failed_photos = _test_features(query, index, cache, jobs, progress, say)
    timings["test_features_s"] = time.perf_counter() - clock
    clock = time.perf_counter()

    # 2. settings, chosen on the database only
    settings, query_local = _tune(index, rows, query, cache, radii, jobs, progress, say)
    timings["tuning_s"] = time.perf_counter() - clock
    clock = time.perf_counter()

    # 3. every row answers every test photo, and is scored
    truth = query.coords
    scene = query.column("scene")
    db_coords = index.coords if index is not None else db.coords
    reports: dict[str, Report] = {}
    frames: dict[str, pd.DataFrame] = {}
    for row in rows:
        if row == "chance":  # averaged over seeds, not one draw
            reports[row] = chance_report(db_coords[:, 0], db_coords[:, 1], truth[:, 0],
                                         truth[:, 1], scene=scene, n_boot=n_boot,
                                         thresholds=radii)
            lat, lon = chance_predictions(db_coords[:, 0], db_coords[:, 1], len(query))
            frames[row] = _frame(query, lat, lon, np.zeros(len(query), bool))
            continue
        lat, lon, failed = _answer(row, query, index, db_coords, matrices, settings, saved,
                                   query_local, say)
        reports[row] = evaluate(lat, lon, truth[:, 0], truth[:, 1], scene=scene, failed=failed,
                                n_boot=n_boot, thresholds=radii)
        frames[row] = _frame(query, lat, lon, failed)
        shown = radii[len(radii) // 2]
        say(f"{row}: {100 * reports[row].acc_at(shown):.1f} % within "
            f"{format_distance(shown)}")
    timings["locate_and_score_s"] = time.perf_counter() - clock

    result = BenchmarkResult(str(test), str(database), len(query), reports, frames, settings,
                             timings, failed_photos, thresholds=radii,
                             provenance=provenance(database, db, test, query, index))
    result.gains = gains_over_references(frames, n_boot=n_boot, thresholds=radii)
    classical = [f for f in index.feature_names if f in CLASSICAL] if index else []
    if size_curve and classical and "im2gps" in settings:
        clock = time.perf_counter()
        result.settings["size_curve"] = _size_curve(index, matrices, query, settings)
        timings["size_curve_s"] = time.perf_counter() - clock
    return result


def _load_sets(database: Any, test: Any, data_dir: Any, say: Callable[[str], None]
               ) -> tuple[PhotoCollection, PhotoCollection]:
    """The database and the test set; test photos whose file is missing are kept.

    Such a photo fails at extraction and counts as a miss, instead of shrinking
    the test set unseen; a test row without a valid location cannot be scored
    and is reported.
    """
    db = datasets.load(database, data_dir)
    query = datasets.load(test, data_dir, check_files=False)
    if len(query) == 0:
        raise ValueError(f"{query.source}: no test photo with a valid location "
                         f"({len(query.skipped)} row(s) skipped)")
    for entry in query.skipped:
        say(f"test row not scored (no valid truth): {entry.path}: {entry.reason}")
    return db, query


def _rows_of(locators: Sequence[str] | None) -> list[str]:
    """The rows asked for (in order, once each), or the default ones; usage errors named."""
    from im2gps.errors import UsageError

    if locators is not None and not [r for r in locators if str(r).strip()]:
        raise UsageError("--locators names no row")
    rows = list(dict.fromkeys(str(r).strip() for r in locators if str(r).strip())) \
        if locators else default_locators()
    unknown = [r for r in rows if not _known(r)]
    if unknown:
        raise UsageError(f"unknown locator(s) {unknown}; choose from "
                         f"{', '.join(_row_confs())}, or give a saved locator's directory")
    return rows


def _test_features(query: PhotoCollection, index: GeoIndex | None, cache: Path, jobs: int,
                   progress: bool, say: Callable[[str], None]
                   ) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """The test photos' descriptors; refuses a test set none of whose photos can be read."""
    if index is None:
        return {}, []
    matrices, failed_photos = query_features(query, index, cache, jobs, progress)
    if len(failed_photos) == len(query):
        reasons = "; ".join(f"{f['path']}: {f['reason']}" for f in failed_photos[:3])
        raise ValueError(f"{query.source}: none of the {len(query)} test photos could be "
                         f"read (e.g. {reasons})")
    for failure in failed_photos:
        say(f"test photo failed (counts as a miss): {failure['path']}: {failure['reason']}")
    return matrices, failed_photos


def _tune(index: GeoIndex | None, rows: Sequence[str], query: PhotoCollection, cache: Path,
          radii: tuple[float, ...], jobs: int, progress: bool, say: Callable[[str], None]
          ) -> tuple[dict[str, Any], Any]:
    """Every setting the rows need, chosen on the database (never the test photos).

    Each CV-voted row is cross-validated on its own features, so a row's result
    does not depend on which other rows run; the classical set's choice is also
    the ``"im2gps"`` setting (size curve, landmark rows, the README).

    Returns
    -------
    settings : dict
    query_local : list or None
        The test photos' local features, for verified landmark rows.
    """
    settings: dict[str, Any] = {"paper": PAPER_SETTING,
                                "cv_score": "mean accuracy at 25/200/750/2500 km over "
                                            "photographer-grouped folds of the database"}
    classical = [f for f in index.feature_names if f in CLASSICAL] if index else []
    cv_sets = [tuple(classical)] if classical and (
        any((row_conf(r) or {}).get("vote") in ("cv", "cv-cnn") for r in rows)
        or any(_landmark_row(r) for r in rows)) else []
    for r in rows:
        conf = row_conf(r) or {}
        if conf.get("vote") in ("cv", "cv-cnn") and tuple(conf["features"]) not in cv_sets:
            cv_sets.append(tuple(conf["features"]))
    for features in cv_sets:
        best, cv_table = tuned_settings(index, list(features), cache, thresholds=radii,
                                        progress=progress)
        key = "+".join(features)
        settings[f"cv:{key}"] = best
        settings.setdefault("cv_top_by_features", {})[key] = cv_table.head(10).to_dict(
            orient="records")
        say(f"cross-validated voting on the database ({key}): {best}")
    if classical and f"cv:{'+'.join(classical)}" in settings:
        settings.update({"im2gps": settings[f"cv:{'+'.join(classical)}"],
                         "cv_features": classical,
                         "cv_top": settings["cv_top_by_features"]["+".join(classical)]})
    if "cv:cnn" in settings:
        settings["im2gps-cnn"] = settings["cv:cnn"]
    if "planet" in rows:
        best, cv_table = tuned_planet(index, cache, progress=progress)
        settings.update({"planet": best,
                         "cv_top_planet": cv_table.head(10).to_dict(orient="records")})
        say(f"cross-validated PlaNet on the database: {best}")
    query_local = None
    landmarks = [r for r in rows if _landmark_row(r)]
    if landmarks:  # bag of words and geometric verification (im2gps.landmarks)
        from im2gps.landmarks import landmark_settings, query_local_features

        settings["landmarks"] = landmark_settings(index, landmarks, settings, cache,
                                                  tuned_settings, jobs, progress, say)
        if any(r.endswith("-verified") for r in landmarks):
            query_local = query_local_features(query, index, cache, jobs, progress)
    return settings, query_local


def _answer(row: str, query: PhotoCollection, index: GeoIndex | None, db_coords: np.ndarray,
            matrices: dict[str, np.ndarray], settings: dict[str, Any], saved: dict[str, Any],
            query_local: Any, say: Callable[[str], None]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row's answers for the test photos: ``(lat, lon, failed)``."""
    truth = query.coords
    n = len(query)
    if row == "prior":
        plat, plon = prior_location(db_coords[:, 0], db_coords[:, 1])
        return np.full(n, plat), np.full(n, plon), np.zeros(n, bool)
    if row == "oracle":
        lat, lon = oracle_predictions(db_coords[:, 0], db_coords[:, 1], truth[:, 0],
                                      truth[:, 1])
        return lat, lon, np.zeros(n, bool)
    if row_conf(row)["kind"] == "saved":
        say(f"{row}: {saved[row]!r}")
        predictions = saved[row].predict(query.paths, **(
            {"truth": truth} if getattr(saved[row], "needs_truth", False) else {}))
    elif row == "planet":
        from im2gps.planet import PlaNet

        groups = index.photos["author"] if "author" in index.photos else None
        model = PlaNet(**settings["planet"]).fit(
            np.asarray(index.features("cnn")), db_coords[:, 0], db_coords[:, 1],
            groups=groups)
        predictions = model.predict_embeddings(matrices["cnn"])
    elif _landmark_row(row):
        from im2gps.landmarks import predict_landmark_row

        predictions = predict_landmark_row(
            row, index, settings["landmarks"], matrices,
            query_local if row.endswith("-verified") else None)
    else:
        locator = im2gps_locator(row, index, settings)
        predictions = locator.predict_features(
            {name: matrices[name] for name in locator.index_.feature_names})
    return predictions.lat, predictions.lon, predictions.failed


def provenance(database: Any, db: PhotoCollection, test: Any, query: PhotoCollection,
               index: GeoIndex | None) -> dict[str, Any]:
    """Names, sizes and checksums of a run's database and test set, with the software.

    Each set's checksum is the sha256 of its photo table (ids and coordinates),
    whatever rows ran; the database's index (which depends on the features the
    rows needed) is recorded apart, by the sha256 of its ``manifest.json``.
    """
    import datetime

    import im2gps

    def table_sha(collection: PhotoCollection) -> str:
        frame = collection.table[["id", "lat", "lon"]]
        return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()

    return {
        "database": {"name": str(database), "source": db.source, "photos": len(db),
                     "sha256": table_sha(db), "sha256_of": "photo table (id, lat, lon)",
                     "index_manifest_sha256": None if index is None else hashlib.sha256(
                         (index.path / "manifest.json").read_bytes()).hexdigest()},
        "test": {"name": str(test), "source": query.source, "photos": len(query),
                 "sha256": table_sha(query), "sha256_of": "photo table (id, lat, lon)"},
        "im2gps_version": im2gps.__version__,
        "date": datetime.date.today().isoformat(),
    }


def gains_over_references(frames: dict[str, pd.DataFrame], n_boot: int = 1000,
                          references: Sequence[str] = ("chance", "prior"),
                          thresholds: Sequence[float] = THRESHOLDS_KM,
                          ) -> dict[str, dict[str, dict[str, dict[str, float | bool]]]]:
    """Paired-bootstrap accuracy gain of every method over each reference row."""
    gains: dict[str, dict[str, dict[str, dict[str, float | bool]]]] = {}
    for method, frame in frames.items():
        if method in REFERENCE_ROWS:
            continue
        gains[method] = {}
        for reference in references:
            if reference not in frames:
                continue
            gain, lo, hi = paired_gain(frame["error_km"], frames[reference]["error_km"],
                                       tuple(thresholds), n_boot=n_boot)
            gains[method][reference] = {
                f"{r:g}": {"gain": float(g), "lo": float(a), "hi": float(b),
                           "clears": bool(a > 0)}
                for r, g, a, b in zip(thresholds, gain, lo, hi, strict=True)}
    return gains


def _landmark_row(row: str) -> bool:
    return (row_conf(row) or {}).get("kind") == "landmark"


def _row_features(row: str) -> list[str]:
    """Features a row needs from the database index (empty for reference and saved rows)."""
    conf = row_conf(row)
    return list(conf["features"]) if conf else []


def _known(row: str) -> bool:
    return row_conf(row) is not None


def needed_features(rows: Sequence[str]) -> list[str]:
    """Features the given rows need, in the index's block order."""
    needed: list[str] = []
    for row in rows:
        needed += [n for n in _row_features(row) if n not in needed]
    order = [*CLASSICAL, "cnn", "bow"]
    return sorted(needed, key=lambda n: order.index(n) if n in order else len(order))


def im2gps_locator(row: str, index: GeoIndex, settings: dict[str, Any]) -> Im2GPS:
    """The fitted :class:`Im2GPS` of an ``im2gps*`` row, with the run's chosen settings."""
    conf = row_conf(row)
    if conf is None or conf["kind"] != "im2gps":
        raise ValueError(f"{row!r} is not an im2gps row")
    vote = conf["vote"]
    setting = settings[f"cv:{'+'.join(conf['features'])}"] if vote in ("cv", "cv-cnn") \
        else vote
    with quiet():
        return Im2GPS(**setting).fit(index.view(features=conf["features"]))


def tuned_planet(index: GeoIndex, cache: Path, n_splits: int = 3, progress: bool = False
                  ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Best PlaNet partition and regularisation by grouped CV on the database (cached)."""
    from im2gps.tuning import cross_validate_planet

    key = _fingerprint(sorted(index.manifest["files"].items()), PLANET_GRID, n_splits)
    path = cache / "tuning" / f"planet-{key}.csv"
    if path.is_file():
        table = pd.read_csv(path)
    else:
        groups = index.photos["author"] if "author" in index.photos else np.arange(len(index))
        coords = index.coords
        table = cross_validate_planet(np.asarray(index.features("cnn")), coords[:, 0],
                                      coords[:, 1], groups, PLANET_GRID, n_splits=n_splits,
                                      progress=progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
    best = table.iloc[0]
    # back to the grid's own types (a CSV round trip makes every number a float)
    setting = {key: type(value)(best[key]) for key, value in PLANET_GRID[0].items()}
    return setting, table


def _size_curve(index: GeoIndex, matrices: dict[str, np.ndarray], query: PhotoCollection,
                settings: dict[str, Any], fractions=(0.1, 0.2, 0.4, 0.6, 0.8, 1.0),
                seed: int = 0) -> list[dict[str, Any]]:
    """Accuracy against database size, as in the im2gps paper (seeded subsets)."""
    classical = [f for f in index.feature_names if f in CLASSICAL]
    truth = query.coords
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(index))
    records = []
    for fraction in fractions:
        rows = np.sort(order[: max(1, round(fraction * len(index)))])
        view = index.view(features=classical, rows=rows)
        coords = view.coords
        answers = {}
        for name, setting in (("im2gps", settings["im2gps"]), ("im2gps-1nn", {"vote": "1nn",
                                                                               "k": 1})):
            with quiet():
                fitted = Im2GPS(**setting).fit(view)
            p = fitted.predict_features(
                {f: matrices[f] for f in classical})
            answers[name] = (p.lat, p.lon)
        answers["oracle"] = oracle_predictions(coords[:, 0], coords[:, 1], truth[:, 0],
                                               truth[:, 1])
        answers["chance"] = chance_predictions(coords[:, 0], coords[:, 1], len(query), seed)
        for name, (lat, lon) in answers.items():
            errors = errors_km(lat, lon, truth[:, 0], truth[:, 1])
            record = {"method": name, "fraction": fraction, "photos": len(rows)}
            record.update({f"acc_{r}km": float(np.mean(errors <= r)) for r in THRESHOLDS_KM})
            records.append(record)
    return records


def main_method(rows: Any) -> str:
    """The row a run's single-method figures show (the error map).

    ``im2gps`` when it ran, else the first row that is not a reference row
    (:data:`REFERENCE_ROWS`: chance, prior, oracle), else the first row.
    """
    names = list(rows)
    if not names:
        raise ValueError("no rows")
    methods = [m for m in names if m not in REFERENCE_ROWS]
    return "im2gps" if "im2gps" in methods else (methods or names)[0]


def write_results(result: BenchmarkResult, out: str | os.PathLike,
                  published: bool = False) -> list[Path]:
    """Write results.json/.csv/.md, per-method prediction CSVs and the plots.

    With ``published``, ``results.md`` ends with the papers' own figures on
    the test set (:mod:`im2gps.published`), in a separate table.
    """
    from im2gps.plots import plot_error_cdf, plot_error_map, plot_size_curve

    out = Path(out)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    written = []
    document = result.to_dict()
    path = out / "results.json"
    path.write_text(json.dumps(json_safe(document), indent=2, allow_nan=False))
    written.append(path)
    records = []
    for name, report in result.reports.items():
        data = report.to_dict()
        record = {"method": name, "n": data["n"], "failed": data["failed"]}
        for radius, value in data["acc"].items():
            record[f"acc_{radius}km"] = value
            lo, hi = data["acc_ci"][radius]
            record[f"acc_{radius}km_lo"], record[f"acc_{radius}km_hi"] = lo, hi
        record.update(median_km=data["median_km"], geoguessr=data["geoguessr"],
                      country_acc=data["country_acc"])
        records.append(record)
    pd.DataFrame(records).to_csv(out / "results.csv", index=False)
    written.append(out / "results.csv")
    markdown = [
        f"# {result.test} against the {result.database} database ({result.n} test photos)",
        "",
        "Accuracy (%) within each distance with 95 % bootstrap intervals; median error in km;",
        "mean GeoGuessr score (0-5000) and country accuracy (%) as OSV-5M reports them;",
        "failed photos count as misses. Voting settings chosen by photographer-grouped",
        f"cross-validation on the database: `{result.settings.get('im2gps')}`.",
        "",
        result.provenance_line(),
        "",
        result.table(ci=True),
        "",
        "Where each method beats the chance and prior rows beyond a paired bootstrap",
        "95 % interval of the accuracy difference (same photos resampled for both):",
        "",
        result.clears_table(),
        "",
        "## Per scene",
        "",
        result.table(ci=False, scenes=True, scores=False),
        "",
    ]
    section = published_table(result.test, result.n) if published else ""
    if section:
        markdown += [section, ""]
    (out / "results.md").write_text("\n".join(markdown))
    written.append(out / "results.md")
    for name, frame in result.predictions.items():
        frame.to_csv(out / "predictions" / f"{name}.csv", index=False)
        written.append(out / "predictions" / f"{name}.csv")
    errors = {name: frame["error_km"].to_numpy() for name, frame in result.predictions.items()}
    written.append(plot_error_cdf(errors, out / "error_cdf.png"))
    main = main_method(result.predictions)
    frame = result.predictions[main]
    written.append(plot_error_map(frame["true_lat"], frame["true_lon"], frame["lat"],
                                  frame["lon"], out / "error_map.png",
                                  title=f"{main}: test photos, truth to estimate"))
    if result.settings.get("size_curve"):
        table = pd.DataFrame(result.settings["size_curve"])
        table.to_csv(out / "database_size.csv", index=False)
        written.append(out / "database_size.csv")
        written.append(plot_size_curve(table, out / "database_size.png"))
    return written

"""Landmark-level rows of the benchmark: bag of words and geometric verification.

The scene features find photos that look alike; the later im2gps (Hays &
Efros, 2015) adds a bag of SIFT words, and landmark retrieval verifies the
geometry of local-feature matches. Three named rows run that here:

``im2gps-bow``
    kNN over the tf-idf bag of RootSIFT words alone (:mod:`im2gps.features.bow`),
    voting setting chosen by grouped cross-validation on the database;
``im2gps-sift-verified``
    the scene kNN of ``im2gps`` (five classical features, its CV-chosen
    voting) with its short list geometrically verified (:mod:`im2gps.verify`);
``im2gps-scene-bow-verified``
    the im2gps-2015 style: scene features and the bag of words in one
    combined distance, CV-chosen voting, short list verified;
``im2gps-<feature>-verified``
    the same for one feature's kNN (e.g. ``im2gps-cnn-verified``).

Everything they choose is chosen on the database, never on the test photos:
the verifier's thresholds by :func:`im2gps.verify.calibrate` on the short
lists of database photos against the other folds (photographer-grouped),
labelled same place (within 1 km) or different (beyond 25 km); how verified
neighbours join the vote by :func:`im2gps.tuning.cross_validate_verification`.
Local features of both photo sets are extracted once and cached (the
database's inside its index directory, :mod:`im2gps.index.local`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from im2gps.features import CLASSICAL
from im2gps.geo import haversine_km
from im2gps.index import GeoIndex
from im2gps.index.local import add_local_features, extract_local_features
from im2gps.jsonable import json_default
from im2gps.locator import Im2GPS
from im2gps.photos import PhotoCollection
from im2gps.predictions import Predictions
from im2gps.tuning import cross_validate_verification, verified_neighbours_by_fold
from im2gps.verify import calibrate, pair_frame

__all__ = ["LANDMARK_ROWS", "SHORT_LIST", "landmark_features", "landmark_locator",
           "landmark_settings",
           "predict_landmark_row", "query_local_features"]

#: Landmark rows and the features each needs.
LANDMARK_ROWS: dict[str, list[str]] = {
    "im2gps-bow": ["bow"],
    "im2gps-sift-verified": list(CLASSICAL),
    "im2gps-scene-bow-verified": [*CLASSICAL, "bow"],
}
#: Nearest neighbours verified per query.
SHORT_LIST = 20


def landmark_features(row: str) -> list[str] | None:
    """Features of a landmark row (None: not a landmark row)."""
    from im2gps.features import available

    if row in LANDMARK_ROWS:
        return list(LANDMARK_ROWS[row])
    name = row.removeprefix("im2gps-").removesuffix("-verified")
    if row.startswith("im2gps-") and row.endswith("-verified") and name in available():
        return [name]
    return None


def _key(*parts: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def query_local_features(test: PhotoCollection, index: GeoIndex, cache: Path, jobs: int = 1,
                         progress: bool = False) -> list:
    """Local features of the test photos with the index's RootSIFT settings (cached)."""
    database = add_local_features(index, jobs=jobs, progress=progress)
    sift = database.extractor()
    key = _key(test.paths, sift.config())
    local, failed = extract_local_features(
        test.paths, cache / "local" / f"{Path(test.source).parent.name or 'test'}-{key}", sift,
        jobs=jobs, progress=progress)
    bad = {f["path"] for f in failed}
    return [None if path in bad else local[i] for i, path in enumerate(test.paths)]


def landmark_settings(
    index: GeoIndex,
    rows: Sequence[str],
    settings: dict[str, Any],
    cache: Path,
    tuned: Callable[[GeoIndex, Sequence[str], Path], tuple[dict[str, Any], pd.DataFrame]],
    jobs: int = 1,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Choose everything the landmark rows need, on the database only (cached).

    Parameters
    ----------
    index : GeoIndex
        The database index (with every feature the rows need).
    rows : sequence of str
        The benchmark's rows; only those in :data:`LANDMARK_ROWS` matter.
    settings : dict
        The run's settings so far (``settings["im2gps"]``: the scene voting).
    cache : Path
        Cache folder.
    tuned : callable
        ``tuned(index, features, cache) -> (voting setting, CV table)``, the
        benchmark's cached voting cross-validation.
    jobs, progress, log : optional
        Worker processes, progress bars, a line per stage.

    Returns
    -------
    dict
        ``{row: {"voting": ..., "verification": ..., "cv_top": ...}}`` per
        landmark row, and ``"verifier"`` with its calibration report.
    """
    say = log or (lambda message: None)
    wanted = [row for row in rows if landmark_features(row)]
    out: dict[str, Any] = {}
    if not wanted:
        return out
    local = add_local_features(index, jobs=jobs, progress=progress)
    groups = index.photos["author"].to_numpy() if "author" in index.photos else \
        np.arange(len(index))
    coords = index.coords
    per_row: dict[str, tuple[dict[str, Any], np.ndarray, np.ndarray, dict[str, np.ndarray]]] = {}
    folder = cache / "tuning"
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(index.manifest["files"].items())
    for row in wanted:
        features = landmark_features(row) or []
        if features == list(CLASSICAL) and "im2gps" in settings:
            voting = dict(settings["im2gps"])
        else:
            voting, table = tuned(index, features, cache)
            out.setdefault(row, {})["cv_top_voting"] = table.head(5).to_dict(orient="records")
        out.setdefault(row, {})["voting"] = voting
        if not row.endswith("-verified"):
            continue
        path = folder / f"verified-{_key(files, features, SHORT_LIST, local.config)}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as stored:
                ids, dist = stored["ids"], stored["dist"]
                scores = {k: stored[k] for k in ("matches", "inliers", "inlier_ratio", "spread")}
        else:
            say(f"{row}: verifying the short lists of {len(index)} database photos")
            ids, dist, scores = verified_neighbours_by_fold(
                index, groups, max(120, int(voting["k"])), local, SHORT_LIST, features)
            np.savez(path, ids=ids, dist=dist, **scores)
        per_row[row] = (voting, ids, dist, scores)

    if not per_row:
        return out
    # one verifier for every row: calibrated on all rows' database short lists
    pairs = pd.concat([pair_frame(ids[:, :SHORT_LIST], scores, lambda q, d: haversine_km(
        coords[q, 0], coords[q, 1], coords[d, 0], coords[d, 1]), groups)
        for _, ids, _, scores in per_row.values()], ignore_index=True)
    pairs = pairs.drop_duplicates(["query", "database"]).reset_index(drop=True)
    verifier, report = calibrate(pairs)
    out["verifier"] = {"thresholds": verifier.to_dict(), "calibration": report}
    say(f"verifier calibrated on {len(pairs)} database pairs: {verifier.to_dict()}, "
        f"CV precision {report['cv_precision']}, recall {report['cv_recall']}")
    for row, (voting, ids, dist, scores) in per_row.items():
        table = cross_validate_verification(index, ids, dist, scores, voting,
                                            verifier.to_dict())
        best = table.iloc[0]
        choice = {"verification": str(best["verification"])}
        if choice["verification"] == "weight":
            choice["verify_alpha"] = float(best["verify_alpha"])
        out[row]["verification"] = choice
        out[row]["cv_top"] = json.loads(json.dumps(table.to_dict(orient="records"),
                                                   default=json_default))
        say(f"{row}: CV-chosen combination {choice}")
    return out


def landmark_locator(row: str, index: GeoIndex, chosen: dict[str, Any]) -> Im2GPS:
    """The fitted locator of a landmark row with the settings :func:`landmark_settings` chose."""
    record = chosen[row]
    params = dict(record["voting"])
    if row.endswith("-verified"):
        params.update(record["verification"], short_list=SHORT_LIST,
                      verifier=chosen["verifier"]["thresholds"])
    view = index.view(features=landmark_features(row))
    return Im2GPS(**params).fit(view)


def predict_landmark_row(row: str, index: GeoIndex, chosen: dict[str, Any],
                         matrices: dict[str, np.ndarray], local: list | None) -> Predictions:
    """Predictions of a landmark row for the test photos' descriptors and local features."""
    locator = landmark_locator(row, index, chosen)
    inputs = {name: matrices[name] for name in locator.index_.feature_names}
    if locator.verification == "off":
        return locator.predict_features(inputs)
    return locator.predict_features(inputs, local=local)


"""Geometric verification: do two photos show the same place?

Two photos of the same building share many local features (RootSIFT,
:mod:`im2gps.features.sift`) whose positions agree on one transformation;
two photos of different places share a few chance matches that agree on
nothing. :func:`verify_pair` measures that:

1. **matches**: each query descriptor's two nearest database descriptors
   (OpenCV brute force, L2 on RootSIFT); kept when the nearest is closer
   than ``ratio`` times the second (Lowe's ratio test) and no other query
   descriptor claims the same database descriptor more closely;
2. **geometry**: a homography fitted to the matches by OpenCV's
   ``findHomography`` with ``USAC_MAGSAC`` (Barath et al., 2020), with
   ``threshold_px`` the largest reprojection error of an inlier;
3. **scores**: the number of inliers (counted once per distinct keypoint
   position, so repeated keypoints do not inflate it), the inlier ratio
   (inliers over ratio-test matches) and the spatial *spread* of the
   inliers (area of their convex hull over the photo's area, the smaller
   of the two photos'), plus a sanity check of the homography (finite,
   orientation-preserving, area change within ``max_scale_change``).

A :class:`Verifier` holds thresholds on the three scores; a pair is
*verified* when it passes all three. :func:`calibrate` chooses them by
photographer-grouped cross-validation on database pairs labelled by their
coordinates (same place: within ``same_km``; different: beyond
``different_km``) and reports the held-out precision. Anything degenerate
(too few matches, collinear or repeated points, a failed fit, an OpenCV
error) gives a pair that is *not verified*, with the reason; it never
raises.

References
----------
.. [1] D. G. Lowe, "Distinctive image features from scale-invariant
   keypoints", IJCV 60(2), 2004 (ratio test).
.. [2] J. Philbin, O. Chum, M. Isard, J. Sivic and A. Zisserman, "Object
   retrieval with large vocabularies and fast spatial matching", CVPR 2007
   (spatial verification of a short list).
.. [3] D. Barath, J. Noskova, M. Ivashechkin and J. Matas, "MAGSAC++, a fast,
   reliable and accurate robust estimator", CVPR 2020.
.. [4] J. Hays and A. A. Efros, "Large-scale image geolocalization", 2015.

Notes
-----
Departures from the papers:

* A homography, not a fundamental matrix: an epipolar fit accepts
  unrelated photos (a trial on im2gps237 "verified" 91 photos with 30 or
  more inliers, none of them within 25 km of the truth), so the stricter
  model is used and the thresholds are calibrated on database pairs.
  Non-planar scenes seen from far apart verify less often (lower recall).
* Philbin et al. fit affine transformations from single correspondences
  (fast spatial matching); OpenCV's MAGSAC++ homography on a short list of
  20 takes a few milliseconds per pair here, so the full model is fitted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from im2gps.features.sift import LocalFeatures, LocalFeatureSet

if TYPE_CHECKING:  # pandas only for calibration tables: not on a one-photo locate
    import pandas as pd

__all__ = ["Geometry", "Verifier", "calibrate", "label_pairs", "match", "spread",
           "verification_weights", "verify_pair", "verify_short_lists", "CALIBRATION_GRID"]

#: Fewest ratio-test matches worth fitting a homography to.
MIN_MATCHES = 8


@dataclass
class Geometry:
    """What verifying one pair of photos found.

    Attributes
    ----------
    matches : int
        Ratio-test matches.
    inliers : int
        Inliers of the homography, distinct keypoint positions.
    inlier_ratio : float
        ``inliers / matches`` (0 without matches).
    spread : float
        Area of the inliers' convex hull over the photo's area, the smaller
        of the two photos' (0..1).
    homography : numpy.ndarray or None
        ``(3, 3)`` map from the first photo's pixels to the second's.
    pairs : numpy.ndarray
        ``(inliers, 2)`` keypoint rows (first photo, second photo) of the inliers.
    reason : str or None
        Why no usable homography was found (None when one was).
    """

    matches: int = 0
    inliers: int = 0
    inlier_ratio: float = 0.0
    spread: float = 0.0
    homography: np.ndarray | None = None
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    reason: str | None = None

    def scores(self) -> dict[str, float]:
        """The three scores a :class:`Verifier` thresholds."""
        return {"inliers": float(self.inliers), "inlier_ratio": self.inlier_ratio,
                "spread": self.spread}


def match(a: LocalFeatures, b: LocalFeatures, ratio: float = 0.8) -> np.ndarray:
    """One-to-one ratio-test matches between the descriptors of two photos.

    Parameters
    ----------
    a, b : LocalFeatures
        The two photos' features.
    ratio : float, optional
        Keep a match when its distance is below ``ratio`` times the distance
        to the second-nearest descriptor of ``b``.

    Returns
    -------
    numpy.ndarray
        ``(m, 2)`` int64 rows ``(keypoint of a, keypoint of b)``; where several
        keypoints of ``a`` match one of ``b``, only the closest is kept.
    """
    if len(a) < 2 or len(b) < 2:
        return np.zeros((0, 2), np.int64)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    knn = matcher.knnMatch(a.float_descriptors(), b.float_descriptors(), k=2)
    rows = np.array([(m[0].queryIdx, m[0].trainIdx, m[0].distance, m[1].distance)
                     for m in knn if len(m) == 2], np.float64).reshape(-1, 4)
    keep = rows[:, 2] < ratio * rows[:, 3]
    rows = rows[keep]
    # one-to-one: the closest claim on each keypoint of b wins
    order = np.lexsort((rows[:, 2], rows[:, 1]))
    rows = rows[order]
    first = np.ones(len(rows), bool)
    first[1:] = rows[1:, 1] != rows[:-1, 1]
    return rows[first][:, :2].astype(np.int64)


def spread(xy: np.ndarray, shape: tuple[int, int]) -> float:
    """Area of the convex hull of points over the area of the photo (0..1).

    Parameters
    ----------
    xy : numpy.ndarray
        ``(m, 2)`` pixel positions.
    shape : tuple of int
        ``(height, width)`` of the photo.
    """
    if len(xy) < 3:
        return 0.0
    hull = cv2.convexHull(np.ascontiguousarray(xy, dtype=np.float32))
    return float(cv2.contourArea(hull)) / float(max(shape[0] * shape[1], 1))


def verify_pair(a: LocalFeatures, b: LocalFeatures, ratio: float = 0.8,
                threshold_px: float = 5.0, max_scale_change: float = 20.0,
                max_iters: int = 2000, confidence: float = 0.999, seed: int = 0) -> Geometry:
    """Match two photos and fit a homography to the matches.

    Parameters
    ----------
    a, b : LocalFeatures
        The photos' local features (the query first).
    ratio : float, optional
        Lowe's ratio test threshold.
    threshold_px : float, optional
        Largest reprojection error of an inlier, pixels (in ``b``).
    max_scale_change : float, optional
        Refuse a homography that scales areas by more than this factor
        (or less than its inverse) at the centre of ``a``: no real pair of
        photos of one place looks like that.
    max_iters, confidence : optional
        MAGSAC++ iterations and confidence.
    seed : int, optional
        Seed of OpenCV's random generator, for repeatable fits.

    Returns
    -------
    Geometry
        Never raises for degenerate input: the reason is in ``reason``
        and the pair has no inliers.
    """
    pairs = match(a, b, ratio)
    geometry = Geometry(matches=len(pairs))
    if len(pairs) < MIN_MATCHES:
        geometry.reason = f"{len(pairs)} matches (fewer than {MIN_MATCHES})"
        return geometry
    src = a.xy[pairs[:, 0]]
    dst = b.xy[pairs[:, 1]]
    if len(np.unique(np.round(src), axis=0)) < 4 or len(np.unique(np.round(dst), axis=0)) < 4:
        geometry.reason = "matches at fewer than 4 distinct positions"
        return geometry
    try:
        cv2.setRNGSeed(seed)
        homography, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, threshold_px,
                                              maxIters=max_iters, confidence=confidence)
    except cv2.error as err:  # degenerate configurations make the estimator raise
        geometry.reason = f"homography fit failed: {str(err).strip().splitlines()[-1]}"
        return geometry
    if homography is None or mask is None or not np.all(np.isfinite(homography)):
        geometry.reason = "no homography found"
        return geometry
    problem = _implausible(homography, a.shape, max_scale_change)
    if problem:
        geometry.reason = problem
        return geometry
    inlier = mask.ravel().astype(bool)
    # count distinct positions: repeated keypoints (several orientations) count once
    inlier_pairs = pairs[inlier]
    _, first = np.unique(np.round(src[inlier]), axis=0, return_index=True)
    inlier_pairs = inlier_pairs[np.sort(first)]
    geometry.homography = homography
    geometry.pairs = inlier_pairs
    geometry.inliers = len(inlier_pairs)
    geometry.inlier_ratio = geometry.inliers / max(len(pairs), 1)
    geometry.spread = min(spread(a.xy[inlier_pairs[:, 0]], a.shape),
                          spread(b.xy[inlier_pairs[:, 1]], b.shape))
    return geometry


def _implausible(homography: np.ndarray, shape: tuple[int, int], max_scale: float) -> str | None:
    """Why a homography cannot relate two real photos (None when it can)."""
    h = homography / homography[2, 2] if abs(homography[2, 2]) > 1e-12 else homography
    y, x = shape[0] / 2.0, shape[1] / 2.0
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    if abs(w) < 1e-9:
        return "homography sends the photo centre to infinity"
    # local area scale (Jacobian determinant) at the photo centre
    jac = np.linalg.det(h) / w**3
    if not math.isfinite(jac) or jac <= 0:
        return "homography flips or collapses the photo"
    if jac > max_scale or jac < 1.0 / max_scale:
        return f"homography changes areas by {jac:.3g}x"
    return None


@dataclass
class Verifier:
    """Thresholds that make a pair *verified* (all three must pass).

    The defaults are a starting point above the chance inliers of unrelated
    photos (at most about 7 among 16,850 short-listed im2gps2k pairs); a
    benchmark calibrates them with :func:`calibrate`.

    Parameters
    ----------
    min_inliers : int, optional
        Fewest homography inliers.
    min_inlier_ratio : float, optional
        Smallest share of ratio-test matches that are inliers.
    min_spread : float, optional
        Smallest convex-hull area of the inliers over the photo area.
    """

    min_inliers: int = 15
    min_inlier_ratio: float = 0.25
    min_spread: float = 0.03

    def verified(self, inliers: Any, inlier_ratio: Any, spread: Any) -> np.ndarray:
        """Boolean array: which pairs (scores broadcast alike) pass."""
        return ((np.asarray(inliers) >= self.min_inliers)
                & (np.asarray(inlier_ratio) >= self.min_inlier_ratio)
                & (np.asarray(spread) >= self.min_spread))

    def to_dict(self) -> dict[str, float]:
        """JSON-ready thresholds."""
        return asdict(self)


def verify_short_lists(queries: Sequence[LocalFeatures | None] | LocalFeatureSet,
                       database: LocalFeatureSet, ids: np.ndarray, **options: Any
                       ) -> dict[str, np.ndarray]:
    """Verify every query against its short list of database photos.

    Parameters
    ----------
    queries : sequence of LocalFeatures (None for a failed photo) or LocalFeatureSet
        Local features of ``q`` query photos.
    database : LocalFeatureSet
        Local features of the database photos (rows as in the index).
    ids : numpy.ndarray
        ``(q, s)`` database rows of each query's short list (-1: none).
    **options
        Passed to :func:`verify_pair`.

    Returns
    -------
    dict of str to numpy.ndarray
        ``(q, s)`` arrays ``matches``, ``inliers`` (int32), ``inlier_ratio``
        and ``spread`` (float32); zeros where there is nothing to verify.
    """
    ids = np.asarray(ids, dtype=np.int64)
    out = {"matches": np.zeros(ids.shape, np.int32), "inliers": np.zeros(ids.shape, np.int32),
           "inlier_ratio": np.zeros(ids.shape, np.float32),
           "spread": np.zeros(ids.shape, np.float32)}
    for i in range(ids.shape[0]):
        query = queries[i]
        if query is None or len(query) == 0:
            continue
        for j, row in enumerate(ids[i]):
            if row < 0:
                continue
            g = verify_pair(query, database[int(row)], **options)
            out["matches"][i, j] = g.matches
            out["inliers"][i, j] = g.inliers
            out["inlier_ratio"][i, j] = g.inlier_ratio
            out["spread"][i, j] = g.spread
    return out


def verification_weights(inliers: np.ndarray, verified: np.ndarray, mode: str,
                         alpha: float = 1.0) -> np.ndarray:
    """Vote weights of short-listed neighbours given their verification.

    Parameters
    ----------
    inliers : numpy.ndarray
        ``(q, s)`` inlier counts.
    verified : numpy.ndarray
        ``(q, s)`` bool, which pairs the :class:`Verifier` accepts.
    mode : {"off", "weight", "best"}
        ``"off"``: every neighbour weighs 1. ``"weight"``: a verified
        neighbour weighs ``1 + alpha * inliers``. ``"best"``: where a query
        has a verified neighbour, only the one with the most inliers votes
        (weight 1, the others 0).
    alpha : float, optional
        Weight per inlier for ``"weight"``.

    Returns
    -------
    numpy.ndarray
        ``(q, s)`` float64 non-negative weights.
    """
    inliers = np.asarray(inliers, dtype=np.float64)
    verified = np.asarray(verified, bool)
    weights = np.ones(inliers.shape)
    if mode == "off":
        return weights
    if mode == "weight":
        return weights + np.where(verified, alpha * inliers, 0.0)
    if mode == "best":
        scored = np.where(verified, inliers, -1.0)
        best = np.argmax(scored, axis=1)
        has = verified.any(axis=1)
        weights[has] = 0.0
        weights[np.flatnonzero(has), best[has]] = 1.0
        return weights
    raise ValueError(f"verification mode must be 'off', 'weight' or 'best', not {mode!r}")


# -- calibration --------------------------------------------------------------
#: Thresholds compared by :func:`calibrate`.
CALIBRATION_GRID: list[dict[str, float]] = [
    {"min_inliers": i, "min_inlier_ratio": r, "min_spread": s}
    for i in (8, 10, 12, 15, 20, 25, 30, 40, 60)
    for r in (0.0, 0.1, 0.2, 0.3, 0.5)
    for s in (0.0, 0.01, 0.03, 0.1)
]


def label_pairs(distance_km: np.ndarray, same_km: float = 1.0,
                different_km: float = 25.0) -> np.ndarray:
    """Labels of photo pairs by the distance of their geotags.

    Returns
    -------
    numpy.ndarray
        int8: 1 same place (within ``same_km``), 0 different (beyond
        ``different_km``), -1 in between (left out of calibration).
    """
    d = np.asarray(distance_km, dtype=np.float64)
    return np.where(d <= same_km, 1, np.where(d > different_km, 0, -1)).astype(np.int8)


def _counts(table: pd.DataFrame, setting: dict[str, float]) -> tuple[int, int, int]:
    ok = Verifier(**setting).verified(table["inliers"], table["inlier_ratio"], table["spread"])
    same = table["label"].to_numpy() == 1
    return int((ok & same).sum()), int((ok & ~same).sum()), int((~ok & same).sum())


def _choose(table: pd.DataFrame, grid: Sequence[dict[str, float]], target: float,
            min_support: int) -> dict[str, float]:
    """Highest recall with precision >= target (and some support).

    Where no setting reaches the target, the most precise one, and among
    equally precise ones (e.g. none verifies a same-place pair) the one that
    verifies fewest pairs: with no evidence that verification is right, it
    should say "verified" as rarely as possible.
    """
    best, best_key = grid[-1], None
    for setting in grid:
        tp, fp, fn = _counts(table, setting)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        meets = precision >= target and tp >= min_support
        strictness = (setting["min_inliers"], setting["min_spread"], setting["min_inlier_ratio"])
        key = ((1.0, recall, precision, *strictness) if meets else
               (0.0, precision, -float(tp + fp), *strictness))
        if best_key is None or key > best_key:
            best, best_key = setting, key
    return dict(best)


def calibrate(pairs: pd.DataFrame, grid: Sequence[dict[str, float]] = CALIBRATION_GRID,
              target_precision: float = 0.9, n_splits: int = 5, min_support: int = 3,
              ) -> tuple[Verifier, dict[str, Any]]:
    """Choose verification thresholds on labelled database pairs, grouped CV.

    Parameters
    ----------
    pairs : pandas.DataFrame
        One row per database pair: ``inliers``, ``inlier_ratio``, ``spread``,
        ``label`` (1 same place, 0 different, -1 ignored; see
        :func:`label_pairs`) and ``group`` (the query photo's photographer:
        folds never split a photographer).
    grid : sequence of dict, optional
        :class:`Verifier` settings to compare.
    target_precision : float, optional
        The chosen setting is the one of highest recall among those whose
        precision on the training folds reaches this (else the most precise).
    n_splits : int, optional
        Folds.
    min_support : int, optional
        A setting must verify at least this many same-place pairs to count
        as reaching the precision target.

    Returns
    -------
    verifier : Verifier
        The setting chosen on all labelled pairs.
    report : dict
        ``cv_precision`` and ``cv_recall`` (pooled over held-out folds, each
        fold judged by the setting chosen on the others), ``cv_verified``,
        ``cv_true``, the counts of labelled pairs, the chosen setting's
        precision and recall on all pairs (``fit_*``, optimistic), and the
        most inliers of a same-place and of a different-place pair.

    Notes
    -----
    Without same-place pairs (or with too few photographers to fold) there
    is no evidence for any threshold: the strictest setting of the grid is
    returned (see ``_choose``) and the precision is NaN.
    """
    from sklearn.model_selection import GroupKFold

    table = pairs[pairs["label"] >= 0].reset_index(drop=True)
    tp = fp = fn = 0
    groups = table["group"].to_numpy()
    splits = min(n_splits, len(np.unique(groups)))
    if splits >= 2:
        for train, held in GroupKFold(n_splits=splits).split(table, groups=groups):
            setting = _choose(table.iloc[train], grid, target_precision, min_support)
            a, b, c = _counts(table.iloc[held], setting)
            tp, fp, fn = tp + a, fp + b, fn + c
    chosen = _choose(table, grid, target_precision, min_support)
    ftp, ffp, ffn = _counts(table, chosen)
    inliers, labels = table["inliers"].to_numpy(), table["label"].to_numpy()
    report = {
        "pairs_same": int((table["label"] == 1).sum()),
        "pairs_different": int((table["label"] == 0).sum()),
        "cv_verified": tp + fp, "cv_true": tp, "cv_false_positives": fp,
        "fit_verified": ftp + ffp, "fit_false_positives": ffp,
        "cv_precision": tp / (tp + fp) if tp + fp else float("nan"),
        "cv_recall": tp / (tp + fn) if tp + fn else float("nan"),
        "fit_precision": ftp / (ftp + ffp) if ftp + ffp else float("nan"),
        "fit_recall": ftp / (ftp + ffn) if ftp + ffn else float("nan"),
        "target_precision": target_precision,
        "setting": chosen,
        "max_inliers_same": int(np.max(inliers[labels == 1], initial=0)),
        "max_inliers_different": int(np.max(inliers[labels == 0], initial=0)),
        "p99_inliers_different": (float(np.percentile(inliers[labels == 0], 99))
                                  if (labels == 0).any() else float("nan")),
    }
    verifier = Verifier(min_inliers=int(chosen["min_inliers"]),
                        min_inlier_ratio=float(chosen["min_inlier_ratio"]),
                        min_spread=float(chosen["min_spread"]))
    return verifier, report


def pair_frame(ids: np.ndarray, scores: dict[str, np.ndarray],
               distance_km: Callable[[np.ndarray, np.ndarray], np.ndarray],
               groups: Sequence[Any], same_km: float = 1.0, different_km: float = 25.0
               ) -> pd.DataFrame:
    """Flatten short-list verification scores of database queries into labelled pairs.

    Parameters
    ----------
    ids : numpy.ndarray
        ``(n, s)`` database rows short-listed for each database photo (-1: none).
    scores : dict of str to numpy.ndarray
        What :func:`verify_short_lists` returned for them.
    distance_km : callable
        ``distance_km(query_rows, database_rows)`` great-circle km between photos.
    groups : sequence
        Photographer of each database photo (query side).
    same_km, different_km : float, optional
        See :func:`label_pairs`.
    """
    q, s = np.nonzero(ids >= 0)
    d = ids[q, s]
    km = distance_km(q, d)
    import pandas as pd

    return pd.DataFrame({
        "query": q, "database": d, "rank": s, "distance_km": km,
        "label": label_pairs(km, same_km, different_km), "group": np.asarray(groups)[q],
        **{name: np.asarray(value)[q, s] for name, value in scores.items()}})

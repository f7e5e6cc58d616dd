"""im2gps.verify: matching, homography verification, degenerate cases, calibration."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from im2gps import load_image
from im2gps.features.sift import LocalFeatures, LocalFeatureSet, RootSIFT
from im2gps.geo import haversine_km
from im2gps.verify import (
    Verifier,
    calibrate,
    label_pairs,
    match,
    verification_weights,
    verify_pair,
    verify_short_lists,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DB = DATA / "im2gps2k"
#: Two im2gps2k photos by one photographer, 4.5 km apart, of different scenes
#: (a night street, a row of dolls) that carry the same watermark in the same
#: corner: found by verifying every same-photographer pair of the database.
WATERMARKED = ("images/383927102.jpg", "images/931256728.jpg")


def warped_view(image: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Another view of a real photo: perspective change, zoom, exposure, JPEG re-encoding."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = corners + rng.uniform(-0.12, 0.12, (4, 2)).astype(np.float32) * [w, h]
    homography = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    out = cv2.warpPerspective(image, homography, (w, h), borderMode=cv2.BORDER_REFLECT)
    out = cv2.convertScaleAbs(out, alpha=0.85, beta=25)
    _, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED), homography


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    path = DB / "photos.csv"
    if not path.is_file():
        pytest.fail(f"{path}: the shared real-photo data must sit beside the checkout")
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def sift() -> RootSIFT:
    return RootSIFT()


@pytest.fixture(scope="module")
def unrelated(table, sift) -> list[tuple[LocalFeatures, LocalFeatures]]:
    """12 seeded pairs of database photos more than 1,000 km apart."""
    rng = np.random.default_rng(1)
    pairs = []
    while len(pairs) < 12:
        i, j = rng.choice(len(table), 2, replace=False)
        if haversine_km(table.lat[i], table.lon[i], table.lat[j], table.lon[j]) > 1000:
            pairs.append((sift(load_image(DB / table.image[i])),
                          sift(load_image(DB / table.image[j]))))
    return pairs


@pytest.fixture(scope="module")
def views(table, sift) -> list[tuple[LocalFeatures, LocalFeatures, np.ndarray]]:
    """Four database photos, each with another view of it (warped, re-exposed, re-encoded)."""
    out = []
    for seed, row in enumerate((10, 400, 800, 1200)):
        image = load_image(DB / table.image[row])
        other, homography = warped_view(image, seed)
        out.append((sift(image), sift(other), homography))
    return out


def test_another_view_verifies_with_many_inliers(views):
    for a, b, homography in views:
        g = verify_pair(a, b)
        assert g.reason is None
        assert g.inliers >= 60 and g.inlier_ratio > 0.5 and g.spread > 0.2
        assert Verifier().verified(g.inliers, g.inlier_ratio, g.spread)
        # the fitted homography is the applied one: corners land within a few pixels
        h, w = a.shape
        corners = np.float32([[[0, 0]], [[w, 0]], [[w, h]], [[0, h]]])
        fitted = cv2.perspectiveTransform(corners, g.homography)
        truth = cv2.perspectiveTransform(corners, homography)
        assert np.abs(fitted - truth).max() < 6
        assert len(g.pairs) == g.inliers and g.pairs.max(axis=0)[0] < len(a)


def test_unrelated_photos_have_few_inliers(unrelated):
    inliers = []
    for a, b in unrelated:
        g = verify_pair(a, b)
        inliers.append(g.inliers)
        assert not Verifier().verified(g.inliers, g.inlier_ratio, g.spread)
    assert max(inliers) < 10


def test_shared_watermark_is_not_a_shared_place(sift):
    a, b = (sift(load_image(DB / name)) for name in WATERMARKED)
    g = verify_pair(a, b)
    # enough inliers to pass a count threshold, all in one corner: the spread says no
    assert g.inliers >= 15
    assert g.spread < 0.03
    assert not Verifier().verified(g.inliers, g.inlier_ratio, g.spread)


def test_degenerate_pairs_are_not_verified(views):
    a = views[0][0]
    empty = LocalFeatures(np.zeros((0, 4), np.float16), np.zeros((0, 128), np.uint8), a.shape)
    assert verify_pair(a, empty).inliers == 0 and match(a, empty).shape == (0, 2)
    # one keypoint repeated: every match at one position
    repeated = LocalFeatures(np.repeat(a.keypoints[:1], 50, axis=0),
                             np.repeat(a.descriptors[:1], 50, axis=0), a.shape)
    g = verify_pair(repeated, a)
    assert g.inliers == 0 and g.reason is not None
    # all keypoints on one line: no homography may be claimed
    line = a.keypoints.copy()
    line[:, 1] = 100.0
    line[:, 0] = np.linspace(10, 600, len(line))
    g = verify_pair(LocalFeatures(line, a.descriptors, a.shape), a)
    assert not Verifier().verified(g.inliers, g.inlier_ratio, g.spread)
    # a photo against itself mirrored: matches exist, the orientation flip is refused
    mirrored = a.keypoints.copy().astype(np.float32)
    mirrored[:, 0] = a.shape[1] - mirrored[:, 0]
    g = verify_pair(LocalFeatures(mirrored.astype(np.float16), a.descriptors, a.shape), a)
    assert g.inliers == 0 and g.reason is not None


def test_short_lists_and_vote_weights(views, unrelated):
    database = LocalFeatureSet.from_list([views[0][0], unrelated[0][0], unrelated[1][1]])
    scores = verify_short_lists([views[0][1], None], database, np.array([[1, 0, -1],
                                                                         [0, 1, 2]]))
    assert scores["inliers"][0, 1] >= 60 and scores["inliers"][0, 0] < 10
    assert scores["inliers"][0, 2] == 0 and not scores["inliers"][1].any()
    verified = Verifier().verified(scores["inliers"], scores["inlier_ratio"], scores["spread"])
    assert verified.tolist() == [[False, True, False], [False, False, False]]
    w = verification_weights(scores["inliers"], verified, "weight", alpha=0.5)
    assert w[0, 1] == 1 + 0.5 * scores["inliers"][0, 1] and w[0, 0] == 1 and (w[1] == 1).all()
    best = verification_weights(scores["inliers"], verified, "best")
    assert best[0].tolist() == [0, 1, 0] and (best[1] == 1).all()
    assert (verification_weights(scores["inliers"], verified, "off") == 1).all()
    with pytest.raises(ValueError, match="mode"):
        verification_weights(scores["inliers"], verified, "vote")


def test_calibration_separates_same_place_from_different(views, unrelated):
    rows = []
    for k, (a, b, _) in enumerate(views):
        rows.append({**verify_pair(a, b).scores(), "label": 1, "group": f"p{k}"})
    for k, (a, b) in enumerate(unrelated):
        rows.append({**verify_pair(a, b).scores(), "label": 0, "group": f"p{k % 4}"})
    verifier, report = calibrate(pd.DataFrame(rows), n_splits=4, min_support=1)
    assert report["cv_precision"] == 1.0 and report["cv_recall"] == 1.0
    assert report["pairs_same"] == 4 and report["pairs_different"] == 12
    assert isinstance(verifier, Verifier) and verifier.min_inliers >= 8
    # without a verifiable same-place pair, the strictest setting is kept
    strict, report = calibrate(pd.DataFrame(rows[4:] + [dict(rows[4], label=1)]), n_splits=2)
    assert report["fit_verified"] == 0
    assert label_pairs(np.array([0.5, 10, 30])).tolist() == [1, -1, 0]

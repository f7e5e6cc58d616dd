"""im2gps.features.sift: RootSIFT keypoints and descriptors, compact storage."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from im2gps import load_image
from im2gps.features.sift import (
    BYTES_PER_KEYPOINT,
    DESCRIPTOR_SCALE,
    LocalFeatureSet,
    RootSIFT,
    rootsift,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IMAGES = DATA / "im2gps2k" / "images"


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    paths = sorted(IMAGES.glob("*.jpg"))
    if len(paths) < 6:
        pytest.fail(f"{IMAGES}: the shared real-photo data must sit beside the checkout")
    return [load_image(p) for p in paths[:: len(paths) // 6][:6]]


def test_rootsift_is_hellinger_of_sift():
    rng = np.random.default_rng(0)
    sift = rng.random((5, 128)).astype(np.float32) * 100
    root = rootsift(sift)
    np.testing.assert_allclose(np.linalg.norm(root, axis=1), 1.0, rtol=1e-5)
    h = sift / sift.sum(axis=1, keepdims=True)
    hellinger = np.sqrt(np.sum((np.sqrt(h[0]) - np.sqrt(h[1])) ** 2))
    assert np.linalg.norm(root[0] - root[1]) == pytest.approx(hellinger, rel=1e-5)


def test_detect_real_photo(photos):
    sift = RootSIFT(max_keypoints=300)
    for image in photos:
        f = sift(image)
        assert 0 < len(f) <= 300
        assert f.descriptors.dtype == np.uint8 and f.descriptors.shape == (len(f), 128)
        assert f.keypoints.dtype == np.float16 and f.keypoints.shape == (len(f), 4)
        assert f.shape == image.shape[:2]
        xy = f.xy
        assert (xy >= -1).all() and (xy[:, 0] <= image.shape[1] + 1).all()
        assert (xy[:, 1] <= image.shape[0] + 1).all()
        # dequantised descriptors are RootSIFT: unit norm up to the uint8 rounding
        norms = np.linalg.norm(f.float_descriptors(), axis=1)
        assert np.abs(norms - 1).max() < 0.05
        assert f.descriptors.max() < 255  # the 512 scale clips nothing in practice
        assert f.nbytes == len(f) * BYTES_PER_KEYPOINT <= 64 * 1024


def test_quantisation_matches_opencv_sift(photos):
    image = photos[0]
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    keypoints, descriptors = cv2.SIFT_create(nfeatures=200).detectAndCompute(grey, None)
    f = RootSIFT(max_keypoints=200)(image)
    # same detector: the strongest keypoint of OpenCV is ours too, its descriptor quantised
    strongest = int(np.argmax([k.response for k in keypoints]))
    expected = np.clip(np.rint(rootsift(descriptors[strongest:strongest + 1]) * DESCRIPTOR_SCALE),
                       0, 255)
    assert np.abs(f.descriptors[0].astype(int) - expected[0].astype(int)).max() <= 1
    np.testing.assert_allclose(f.xy[0], keypoints[strongest].pt, atol=0.5)


def test_large_photo_is_resized_but_positions_stay_in_its_pixels(photos):
    image = photos[1]
    big = cv2.resize(image, (image.shape[1] * 2, image.shape[0] * 2),
                     interpolation=cv2.INTER_CUBIC)
    small = RootSIFT(max_keypoints=100, max_side=640)
    f_big, f = small(big), small(image)
    assert f_big.shape == big.shape[:2]
    assert f_big.xy[:, 0].max() > image.shape[1]  # in the big photo's pixels
    # the same scene structure: positions halve back onto the original's
    a = f_big.xy / 2
    d = np.linalg.norm(a[:, None] - f.xy[None], axis=2).min(axis=1)
    assert np.median(d) < 2.0


def test_flat_photo_has_no_keypoints():
    f = RootSIFT()(np.full((64, 64, 3), 128, np.uint8))
    assert len(f) == 0 and f.descriptors.shape == (0, 128)


def test_bad_input_and_parameters():
    with pytest.raises(ValueError, match="uint8"):
        RootSIFT()(np.zeros((64, 64), np.float32))
    with pytest.raises(ValueError, match="max_keypoints"):
        RootSIFT(max_keypoints=0)


def test_feature_set_round_trip(photos, tmp_path):
    sift = RootSIFT(max_keypoints=150)
    features = sift.detect_many(photos)
    assert len(features) == len(photos)
    assert features.bytes_per_photo() <= 150 * BYTES_PER_KEYPOINT
    features.save(tmp_path / "local")
    loaded = LocalFeatureSet.load(tmp_path / "local")
    assert loaded.config == sift.config()
    assert loaded.extractor().get_params() == sift.get_params()
    for i in range(len(photos)):
        a, b = features[i], loaded[i]
        np.testing.assert_array_equal(a.descriptors, b.descriptors)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        assert a.shape == b.shape
    joined = LocalFeatureSet.concatenate([features.subset([0, 1]), features.subset([2])])
    np.testing.assert_array_equal(joined[2].descriptors, features[2].descriptors)
    (tmp_path / "local" / "offsets.npy").unlink()
    with pytest.raises(FileNotFoundError, match="offsets"):
        LocalFeatureSet.load(tmp_path / "local")

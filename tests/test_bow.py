"""im2gps.features.bow: visual vocabulary, tf-idf vectors, save and load."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from im2gps import load_image
from im2gps.features import create, load_extractor
from im2gps.features.bow import BagOfWords

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IMAGES = DATA / "im2gps2k" / "images"
SMALL = {"n_words": 64, "max_keypoints": 200, "n_iter": 10}


@pytest.fixture(scope="module", autouse=True)
def one_faiss_thread():
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """16 real photos of im2gps2k: 12 to fit on, 4 held out."""
    paths = sorted(IMAGES.glob("*.jpg"))
    if len(paths) < 16:
        pytest.fail(f"{IMAGES}: the shared real-photo data must sit beside the checkout")
    return [load_image(p) for p in paths[:: len(paths) // 16][:16]]


@pytest.fixture(scope="module")
def fitted(photos) -> BagOfWords:
    return create("bow", **SMALL).fit(photos[:12])


def test_vectors_are_unit_tfidf(fitted, photos):
    vectors = fitted.transform(photos[12:])
    assert vectors.shape == (4, 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert (vectors >= 0).all()
    # by hand for one photo: word counts / descriptors * idf, normalised
    local = fitted.sift.detect(photos[12])
    words = fitted.assign(local.descriptors)
    tf = np.bincount(words, minlength=64) / len(words)
    expected = tf * fitted.idf
    np.testing.assert_allclose(vectors[0], expected / np.linalg.norm(expected), atol=1e-6)
    # a photo is its own nearest neighbour among the fitting photos
    own = fitted.transform(photos[:12])
    assert (np.argmax(own @ own.T, axis=1) == np.arange(12)).all()


def test_idf_counts_photos_holding_each_word(fitted, photos):
    local = fitted.sift.detect_many(photos[:12])
    holding = np.zeros(64)
    for i in range(12):
        holding[np.unique(fitted.assign(local[i].descriptors))] += 1
    np.testing.assert_allclose(fitted.idf, np.log(12 / np.maximum(holding, 1)), rtol=1e-6)


def test_encode_from_stored_local_features_equals_transform(fitted, photos):
    local = fitted.sift.detect_many(photos[12:])
    np.testing.assert_allclose(fitted.encode(local), fitted.transform(photos[12:]), atol=1e-7)


def test_save_load_round_trip(fitted, photos, tmp_path):
    fitted.save(tmp_path)
    loaded = load_extractor(tmp_path, "bow")
    assert isinstance(loaded, BagOfWords) and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.vocabulary, fitted.vocabulary)
    np.testing.assert_array_equal(loaded.idf, fitted.idf)
    np.testing.assert_array_equal(loaded.transform(photos[12:]), fitted.transform(photos[12:]))


def test_flat_photo_and_unfitted_errors(fitted):
    flat = np.full((64, 64, 3), 90, np.uint8)
    assert not fitted(flat).any()  # no keypoints: a zero vector, not NaN
    with pytest.raises(RuntimeError, match="not fitted"):
        BagOfWords(**SMALL)(flat + np.arange(64, dtype=np.uint8)[:, None, None])
    with pytest.raises(ValueError, match="visual words"):
        BagOfWords(n_words=10_000).fit([flat])

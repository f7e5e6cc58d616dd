"""im2gps.features.tiny: 16 x 16 tiny images, zero mean and unit norm."""

from __future__ import annotations

import numpy as np
import pytest

from im2gps import load_image
from im2gps.features import create, load_extractor
from im2gps.features.tiny import TinyImage


@pytest.fixture(scope="module")
def photos(data_dir, test_table, db_table) -> list[np.ndarray]:
    """A few real photos from both sets, portrait and landscape."""
    paths = [data_dir / "im2gps237" / p for p in test_table["image"][:4]]
    paths += [data_dir / "im2gps2k" / p for p in db_table["image"][:4]]
    return [load_image(p) for p in paths]


def test_create_and_dims(photos):
    tiny = create("tiny")
    assert isinstance(tiny, TinyImage)
    assert tiny.dim == 768 and tiny.distance == "l2"
    vectors = tiny.transform(photos)
    assert vectors.shape == (len(photos), 768) and vectors.dtype == np.float32
    assert create("tiny", size=8)(photos[0]).shape == (8 * 8 * 3,)


def test_zero_mean_unit_norm_on_real_photos(photos):
    vectors = TinyImage().transform(photos)
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(vectors.mean(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Different photos give different thumbnails.
    gaps = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)[
        np.triu_indices(len(photos), 1)
    ]
    assert gaps.min() > 0.1


@pytest.mark.parametrize("value", [0, 128, 255])
def test_constant_image_maps_to_zeros(value):
    vector = TinyImage()(np.full((60, 80, 3), value, np.uint8))
    assert vector.dtype == np.float32
    assert np.all(np.isfinite(vector)) and not vector.any()


def test_brightness_and_contrast_are_normalised_away(photos):
    tiny = TinyImage()
    image = photos[0]
    dimmed = (image // 2 + 60).astype(np.uint8)  # half the contrast, brighter
    assert np.linalg.norm(tiny(image) - tiny(dimmed)) < 0.05
    assert np.linalg.norm(tiny(image) - tiny(photos[1])) > 0.3


def test_aspect_ratio_is_squashed_not_cropped():
    # Wide image: the left quarter red, the rest blue. Squashing keeps the red
    # quarter (the 4 left columns of the 16 x 16 thumbnail); a centre crop
    # would see only blue.
    image = np.zeros((64, 256, 3), np.uint8)
    image[:, :64] = (255, 0, 0)
    image[:, 64:] = (0, 0, 255)
    thumb = TinyImage()(image).reshape(16, 16, 3)
    red_minus_blue = thumb[..., 0] - thumb[..., 2]
    assert np.all(red_minus_blue[:, :4] > 0)
    assert np.all(red_minus_blue[:, 4:] < 0)


def test_row_major_rgb_layout():
    # Top half black, bottom half white: the first 8 rows are below the mean.
    image = np.zeros((32, 32, 3), np.uint8)
    image[16:] = 255
    thumb = TinyImage()(image).reshape(16, 16, 3)
    assert np.all(thumb[:8] < 0) and np.all(thumb[8:] > 0)


def test_deterministic_and_l2_mapping_is_identity(photos):
    tiny = TinyImage()
    first = tiny.transform(photos)
    np.testing.assert_array_equal(first, tiny.transform(photos))
    np.testing.assert_array_equal(tiny.to_l2(first), first)


def test_save_and_load_round_trip(tmp_path, photos):
    tiny = TinyImage(size=12)
    tiny.save(tmp_path)
    loaded = load_extractor(tmp_path, "tiny")
    assert loaded.get_params() == {"size": 12} and loaded.dim == 432
    np.testing.assert_array_equal(loaded(photos[0]), tiny(photos[0]))


@pytest.mark.parametrize("size", [0, -3, 2.5])
def test_bad_size_is_refused(size):
    with pytest.raises(ValueError, match="size"):
        TinyImage(size=size)

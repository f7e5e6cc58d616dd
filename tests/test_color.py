"""im2gps.features.color: joint L*a*b* histograms of 4 x 14 x 14 bins."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2lab

from im2gps import load_image
from im2gps.features import create, load_extractor
from im2gps.features.color import ColorHistogram

# The documented edges, written out here independently of the module.
L_EDGES = np.array([55.0, 70.0, 90.0])
AB_EDGES = np.array([-30.0, -25, -20, -15, -10, -5, 0, 5, 10, 15, 20, 25, 30])


@pytest.fixture(scope="module")
def photos(data_dir, test_table, db_table) -> list[np.ndarray]:
    paths = [data_dir / "im2gps237" / p for p in test_table["image"][10:14]]
    paths += [data_dir / "im2gps2k" / p for p in db_table["image"][10:14]]
    return [load_image(p) for p in paths]


def _expected_bin(rgb: tuple[int, int, int]) -> int:
    """Bin of a colour from scikit-image's L*a*b* and the documented edges."""
    lab = rgb2lab(np.array([[rgb]], np.uint8))[0, 0]
    margins = [np.abs(lab[0] - L_EDGES).min(), np.abs(lab[1:, None] - AB_EDGES).min()]
    assert min(margins) > 0.5, f"{rgb} lies too close to a bin edge for a fair test: {lab}"
    index = (
        np.digitize(lab[0], L_EDGES),
        np.digitize(lab[1], AB_EDGES),
        np.digitize(lab[2], AB_EDGES),
    )
    return int(np.ravel_multi_index(index, (4, 14, 14)))


def test_create_and_dims(photos):
    color = create("color")
    assert isinstance(color, ColorHistogram)
    assert color.dim == 784 and color.shape == (4, 14, 14) and color.distance == "chi2"
    hists = color.transform(photos)
    assert hists.shape == (len(photos), 784) and hists.dtype == np.float32


def test_histograms_of_real_photos_are_distributions(photos):
    hists = ColorHistogram().transform(photos)
    assert np.all(hists >= 0)
    np.testing.assert_allclose(hists.sum(axis=1), 1.0, atol=1e-5)
    # Real photos spread over several bins, and differ from one another.
    assert np.all((hists > 0).sum(axis=1) >= 5)
    gaps = np.abs(hists[:, None] - hists[None]).sum(-1)[np.triu_indices(len(photos), 1)]
    assert gaps.min() > 0.05


@pytest.mark.parametrize(
    "rgb",
    [
        (255, 0, 0),  # L 53, a 80, b 67: (0, 13, 13)
        (0, 255, 0),
        (0, 0, 255),
        (255, 255, 0),
        (200, 120, 50),
        (40, 90, 160),
        (120, 180, 90),
        (230, 200, 230),
    ],
)
def test_pure_colour_lands_in_its_bin(rgb):
    hist = ColorHistogram()(np.full((40, 50, 3), rgb, np.uint8))
    expected = _expected_bin(rgb)
    assert hist[expected] == pytest.approx(1.0)
    assert hist.sum() == pytest.approx(1.0)


def test_pure_red_is_dark_with_saturated_a_and_b():
    assert _expected_bin((255, 0, 0)) == np.ravel_multi_index((0, 13, 13), (4, 14, 14))


def test_two_colours_split_the_mass():
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :16] = (255, 0, 0)
    image[:, 16:] = (0, 0, 255)
    hist = ColorHistogram()(image)
    assert hist[_expected_bin((255, 0, 0))] == pytest.approx(0.25)
    assert hist[_expected_bin((0, 0, 255))] == pytest.approx(0.75)


def test_darkening_moves_mass_to_lower_lightness_bins(photos):
    color = ColorHistogram()
    image = photos[0]
    dark = (image.astype(np.float32) * 0.4).astype(np.uint8)

    def mean_lightness_bin(hist: np.ndarray) -> float:
        return float((hist.reshape(4, 14, 14).sum(axis=(1, 2)) * np.arange(4)).sum())

    assert mean_lightness_bin(color(dark)) < mean_lightness_bin(color(image))
    assert color(dark).reshape(4, 196)[0].sum() > 0.9  # almost all below L* = 55


def test_subsampling_approximates_the_full_histogram(photos):
    fast, full = ColorHistogram(), ColorHistogram(max_side=None)
    for image in photos:
        assert max(image.shape[:2]) > fast.max_side  # 640-px photos are subsampled
        assert np.abs(fast(image) - full(image)).sum() < 0.1
    # And it is not a no-op: some bins differ.
    assert any(not np.array_equal(fast(im), full(im)) for im in photos)


def test_custom_edges():
    color = ColorHistogram(l_edges=[50.0], a_edges=[0.0], b_edges=[0.0])
    assert color.shape == (2, 2, 2) and color.dim == 8
    hist = color(np.full((20, 20, 3), (255, 0, 0), np.uint8))  # L* 53, a* > 0, b* > 0: (1, 1, 1)
    assert hist[7] == pytest.approx(1.0)
    hist = color(np.full((20, 20, 3), (0, 0, 255), np.uint8))  # L 32, a > 0, b < 0
    assert hist[np.ravel_multi_index((0, 1, 0), (2, 2, 2))] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"l_edges": [70.0, 55.0]}, {"a_edges": []}, {"b_edges": [0.0, np.nan]}, {"max_side": 0}],
)
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        ColorHistogram(**kwargs)


def test_to_l2_is_the_square_root(photos):
    color = ColorHistogram()
    hists = color.transform(photos)
    np.testing.assert_allclose(color.to_l2(hists), np.sqrt(hists), rtol=1e-6)


def test_deterministic_and_round_trip(tmp_path, photos):
    color = ColorHistogram(max_side=200)
    first = color.transform(photos[:3])
    np.testing.assert_array_equal(first, color.transform(photos[:3]))
    color.save(tmp_path)
    loaded = load_extractor(tmp_path, "color")
    assert loaded.get_params() == color.get_params()
    np.testing.assert_array_equal(loaded.transform(photos[:3]), first)

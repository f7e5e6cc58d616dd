"""im2gps.features.lines: histograms of LSD line orientations and lengths."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from im2gps import load_image
from im2gps.features import create, load_extractor
from im2gps.features.lines import LineHistogram, detect_segments

N = 17
WIDTH = 180.0 / N
# The documented length edges, written out independently: 0.01 * 2^(k/3), k = 0..15.
LENGTH_EDGES = 0.01 * 2.0 ** (np.arange(16) / 3.0)


@pytest.fixture(scope="module")
def urban_photos(data_dir, test_table) -> list[np.ndarray]:
    rows = test_table[test_table["scene"] == "urban"]["image"][:6]
    return [load_image(data_dir / "im2gps237" / p) for p in rows]


def _canvas(height: int = 240, width: int = 320) -> np.ndarray:
    return np.full((height, width, 3), 60, np.uint8)


def _draw(image: np.ndarray, lines: list[tuple[int, int, int, int]], thickness: int = 3):
    for x1, y1, x2, y2 in lines:
        cv2.line(image, (x1, y1), (x2, y2), (230, 230, 230), thickness)
    return image


def _orientations(hist: np.ndarray) -> np.ndarray:
    return hist[:N]


def _lengths(hist: np.ndarray) -> np.ndarray:
    return hist[N:]


def test_create_and_dims(urban_photos):
    lines = create("lines")
    assert isinstance(lines, LineHistogram)
    assert lines.dim == 34 and lines.distance == "l1"
    hists = lines.transform(urban_photos)
    assert hists.shape == (len(urban_photos), 34) and hists.dtype == np.float32


def test_real_photos_have_lines_and_normalised_halves(urban_photos):
    hists = LineHistogram().transform(urban_photos)
    assert np.all(hists >= 0)
    np.testing.assert_allclose(hists[:, :N].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(hists[:, N:].sum(axis=1), 1.0, atol=1e-5)
    assert len(detect_segments(cv2.cvtColor(urban_photos[0], cv2.COLOR_RGB2GRAY))) > 20
    # Upright urban photos: vertical lines (bin 8) are a local peak on average.
    mean = hists[:, :N].mean(axis=0)
    assert mean[8] > mean[6] and mean[8] > mean[10]


def test_horizontal_lines_peak_in_bin_0():
    image = _draw(_canvas(), [(20, y, 300, y) for y in range(30, 220, 30)])
    orient = _orientations(LineHistogram()(image))
    assert orient.argmax() == 0 and orient[0] > 0.95


def test_vertical_lines_peak_in_bin_8():
    image = _draw(_canvas(), [(x, 20, x, 220) for x in range(30, 300, 30)])
    orient = _orientations(LineHistogram()(image))
    assert orient.argmax() == 8 and orient[8] > 0.95


@pytest.mark.parametrize(
    ("lines", "degrees"),
    [
        # Rising to the right on screen (y grows downwards): +45 degrees.
        ([(c + 20, 230, c + 230, 20) for c in range(-150, 150, 30)], 45.0),
        # Falling to the right, 30 degrees below horizontal: 150 degrees.
        ([(20, y, 300, y + 162) for y in range(-120, 200, 30)], 150.0),
    ],
)
def test_oblique_lines_land_in_their_bin(lines, degrees):
    image = _draw(_canvas(), lines)
    expected = int(np.floor((degrees + WIDTH / 4) / WIDTH))  # the documented edges
    orient = _orientations(LineHistogram()(image))
    assert orient.argmax() == expected and orient[expected] > 0.9


def test_orientation_bins_are_offset_by_a_quarter_bin():
    lines = LineHistogram()
    degrees = np.array([0.0, 180.0, -1.0, -3.0, 90.0, 84.0, 93.0, 45.0, 179.9, -1e-12])
    # edges at k * w - w / 4 = -2.65, 7.94, ...; 82.06, 92.65, ...
    np.testing.assert_array_equal(lines.orientation_bin(degrees), [0, 0, 0, 16, 8, 8, 9, 4, 0, 0])


def test_blank_and_smooth_images_give_zeros():
    lines = LineHistogram()
    blank = lines(_canvas())
    assert blank.dtype == np.float32 and blank.shape == (34,) and not blank.any()
    ramp = np.tile(np.linspace(0, 255, 320).astype(np.uint8), (240, 1))
    assert not lines(np.dstack([ramp] * 3)).any()


def test_longer_lines_fill_longer_bins():
    lines = LineHistogram()
    diagonal = np.hypot(240, 320)  # 400 px, below max_side: no resizing
    histograms = {}
    for length in (12, 60, 300):
        segments = [
            (x, y, x + length, y)
            for y in range(20, 230, 20)
            for x in range(10, 311 - length, length + 20)
        ]
        histograms[length] = _lengths(lines(_draw(_canvas(), segments, thickness=2)))
        expected = int(np.searchsorted(LENGTH_EDGES, length / diagonal, side="right"))
        assert histograms[length].argmax() == expected, length
    means = [(h * np.arange(N)).sum() for h in histograms.values()]
    assert means[0] < means[1] < means[2]
    assert histograms[300][-1] > 0.9  # 0.75 of the diagonal: the open last bin


def test_lengths_are_relative_to_the_diagonal():
    # The same drawing made at twice the size gives the same length histogram.
    small = _draw(_canvas(), [(20, y, 140, y) for y in range(30, 220, 30)])
    large = _draw(_canvas(480, 640), [(40, 2 * y, 280, 2 * y) for y in range(30, 220, 30)])
    full_resolution = LineHistogram(max_side=None)
    np.testing.assert_array_equal(full_resolution(small), full_resolution(large))
    assert _lengths(full_resolution(small)).argmax() == np.searchsorted(
        LENGTH_EDGES, 120 / 400, side="right"
    )


def test_enlarged_photo_gives_nearly_the_same_features(urban_photos):
    # Both the photo and its 2x enlargement are analysed at max_side = 400 px.
    lines = LineHistogram()
    for image in urban_photos[:3]:
        enlarged = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        assert np.abs(lines(image) - lines(enlarged)).sum() < 0.4


def test_length_weighting_of_orientations():
    # One long horizontal line against six short vertical dashes.
    segments = [(10, 120, 310, 120)] + [(x, 20, x, 40) for x in range(40, 300, 45)]
    image = _draw(_canvas(), segments)
    weighted = _orientations(LineHistogram()(image))
    counted = _orientations(LineHistogram(weight_by_length=False)(image))
    assert weighted.argmax() == 0 and counted.argmax() == 8
    # Lengths are counted, not weighted, either way.
    np.testing.assert_array_equal(
        _lengths(LineHistogram()(image)), _lengths(LineHistogram(weight_by_length=False)(image))
    )


def test_to_l2_is_the_square_root(urban_photos):
    lines = LineHistogram()
    hists = lines.transform(urban_photos)
    np.testing.assert_allclose(lines.to_l2(hists), np.sqrt(hists), rtol=1e-6)


def test_deterministic_and_round_trip(tmp_path, urban_photos):
    lines = LineHistogram(n_length_bins=9, length_range=(0.02, 0.5), max_side=300)
    first = lines.transform(urban_photos[:3])
    assert first.shape == (3, 26)
    np.testing.assert_array_equal(first, lines.transform(urban_photos[:3]))
    lines.save(tmp_path)
    loaded = load_extractor(tmp_path, "lines")
    assert loaded.get_params() == lines.get_params()
    np.testing.assert_array_equal(loaded.transform(urban_photos[:3]), first)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_orientation_bins": 0},
        {"n_length_bins": 1},
        {"length_range": (0.3, 0.1)},
        {"length_range": (0.0, 0.1)},
        {"max_side": 4},
    ],
)
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        LineHistogram(**kwargs)

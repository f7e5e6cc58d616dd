"""im2gps.features.gist: parity with lear_gist, layout, presets, extractor contract."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from im2gps import load_image
from im2gps.features import create, load_extractor
from im2gps.features.gist import PRESETS, Gist, gabor_bank, gist, square_crop

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REF = DATA / "reference" / "gist"
IDS = (REF / "files.txt").read_text().split()
# The reference values are float32 from lear_gist; see REF / "README.md".
ATOL, RTOL = 1e-5, 1e-4


def _png(image_id: str, kind: str) -> np.ndarray:
    with Image.open(REF / "inputs" / f"{image_id}_{kind}256.png") as image:
        return np.asarray(image)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return {
        "gray": np.load(REF / "gist_gray_4x8888.npy", allow_pickle=False),
        "color": np.load(REF / "gist_color_4x884.npy", allow_pickle=False),
    }


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Three real, non-square test photos (640 px wide)."""
    names = ["1004463976.jpg", "1022905709.jpg", "1030772840.jpg"]
    return [load_image(DATA / "im2gps237" / "images" / name) for name in names]


# -- parity with lear_gist ----------------------------------------------------


@pytest.mark.parametrize("row", range(len(IDS)))
def test_gray_parity_with_lear_gist(reference, row):
    gray = _png(IDS[row], "gray")
    assert gray.shape == (256, 256) and gray.dtype == np.uint8
    descriptor = gist(gray, (8, 8, 8, 8), 4)
    assert descriptor.dtype == np.float32 and descriptor.shape == (512,)
    np.testing.assert_allclose(descriptor, reference["gray"][row], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("row", range(len(IDS)))
def test_color_parity_with_lear_gist(reference, row):
    rgb = _png(IDS[row], "rgb")
    descriptor = gist(rgb, (8, 8, 4), 4)
    assert descriptor.dtype == np.float32 and descriptor.shape == (960,)
    np.testing.assert_allclose(descriptor, reference["color"][row], atol=ATOL, rtol=RTOL)


def test_float_input_gives_the_same_descriptor():
    rgb = _png(IDS[0], "rgb")
    np.testing.assert_array_equal(gist(rgb, (8, 8, 4)), gist(rgb.astype(np.float64), (8, 8, 4)))


def test_extractor_on_reference_inputs_matches_lear_gist(reference):
    """The extractor's gray conversion and pass-through of 256 px squares are exact."""
    lear = Gist("lear")
    gray = Gist("lear", color=False, orientations_per_scale=(8, 8, 8, 8))
    for row in (0, 5, 11):
        rgb = _png(IDS[row], "rgb")
        np.testing.assert_allclose(lear(rgb), reference["color"][row], atol=ATOL, rtol=RTOL)
        np.testing.assert_allclose(gray(rgb), reference["gray"][row], atol=ATOL, rtol=RTOL)


def test_square_crop_reproduces_reference_inputs():
    """Resize + centre crop of the original JPEGs gives the reference PNG pixels.

    The reference inputs were made with Pillow 13's bilinear resize; a different
    JPEG decoder or resampler changes pixels (and this test says so).
    """
    for image_id in IDS[:4]:
        photo = load_image(DATA / "im2gps237" / "images" / f"{image_id}.jpg")
        assert photo.shape[0] != photo.shape[1]
        square = square_crop(photo, 256)
        np.testing.assert_array_equal(square, _png(image_id, "rgb"))


# -- layout -------------------------------------------------------------------


def _mirror_map(descriptor, channels, orientations, n_blocks, flip_axis):
    """Relabel blocks and orientations as a horizontal mirror should (README)."""
    d = descriptor.reshape(channels, sum(orientations), n_blocks, n_blocks)  # (c, f, xb, yb)
    order, start = [], 0
    for n in orientations:  # k -> (n - k) % n within each scale
        order += [start + (n - k) % n for k in range(n)]
        start += n
    return np.flip(d[:, order], axis=flip_axis)


@pytest.mark.parametrize(
    ("kind", "size", "channels", "orientations", "n_blocks"),
    [
        ("gray", 256, 1, (8, 8, 8, 8), 4),
        ("rgb", 256, 3, (8, 8, 4), 4),
        # 250 = 5 x 50 px blocks; on 256 px lear_gist's last block is wider.
        ("gray", 250, 1, (6, 6, 6, 6), 5),
    ],
)
def test_mirror_maps_column_blocks_and_orientations(kind, size, channels, orientations, n_blocks):
    for image_id in IDS[:3]:
        image = _png(image_id, kind)[:size, :size]
        d = gist(image, orientations, n_blocks).reshape(
            channels, sum(orientations), n_blocks, n_blocks
        )
        mirrored = gist(image[:, ::-1], orientations, n_blocks)
        right = _mirror_map(mirrored, channels, orientations, n_blocks, flip_axis=2)
        wrong = _mirror_map(mirrored, channels, orientations, n_blocks, flip_axis=3)
        # Exact up to the one-pixel shift a mirror makes on the circular grid.
        assert np.abs(right - d).max() < 5e-4
        assert np.abs(wrong - d).max() > 2e-2  # xb is the column block, yb the row
        assert np.abs(mirrored.reshape(d.shape) - d).max() > 2e-2  # GIST is not mirror-invariant


def test_gabor_bank_peaks_where_lear_gist_puts_them():
    size, orientations = 256, (6, 6, 6, 6)
    bank = gabor_bank(size, orientations)
    assert bank.shape == (24, size, size) and bank.dtype == np.float32
    assert not bank.flags.writeable and gabor_bank(size, orientations) is bank  # cached
    freq = np.fft.fftfreq(size, 1.0 / size)
    for index, filt in enumerate(bank):
        scale, k = divmod(index, 6)
        fy, fx = np.unravel_index(np.argmax(filt), filt.shape)
        radius = np.hypot(freq[fx], freq[fy])
        angle = np.arctan2(freq[fy], freq[fx])
        # Centre frequency 0.3 / 1.85**s cycles per pixel, at angle -pi k / n.
        assert abs(radius - size * 0.3 / 1.85**scale) <= 1.5
        assert abs(np.angle(np.exp(1j * (angle + np.pi * k / 6)))) < 0.1


# -- extractor ----------------------------------------------------------------


def test_presets_dims_and_values(photos):
    im2gps = Gist()
    lear = Gist("lear")
    assert im2gps.get_params()["preset"] == "im2gps"
    assert im2gps.dim == 6 * 4 * 25 + 75 == 675
    assert lear.dim == 3 * 20 * 16 == 960
    for extractor in (im2gps, lear):
        vectors = extractor.transform(photos)
        assert vectors.shape == (len(photos), extractor.dim) and vectors.dtype == np.float32
        assert np.isfinite(vectors).all()
        np.testing.assert_array_equal(extractor.transform(photos), vectors)  # deterministic
        assert len({row.tobytes() for row in vectors}) == len(photos)
        gist_part = vectors[:, : 600 if extractor is im2gps else 960]
        assert (gist_part > 0).all()


def test_im2gps_preset_is_gray_gist_plus_lab_tiny_image(photos):
    extractor = Gist()
    weight = extractor.color_weight
    for photo in photos:
        vector = extractor(photo)
        square = square_crop(photo, 256)
        gray = np.round(square.astype(np.float64).mean(axis=2)).astype(np.uint8)
        np.testing.assert_array_equal(vector[:600], gist(gray, (6, 6, 6, 6), 5))
        # Independent check of the tiny image: exact area weights of a 5 x 5
        # grid over the 256 px square, and scikit-image's L*a*b*.
        lo, hi = np.arange(5)[:, None] * 256 / 5, np.arange(1, 6)[:, None] * 256 / 5
        pixel = np.arange(256)[None]
        inside = np.minimum(pixel + 1, hi) - np.maximum(pixel, lo)
        overlap = np.clip(inside, 0, None) / (256 / 5)
        mean_rgb = np.einsum("ay,bx,yxc->abc", overlap, overlap, square / 255.0)
        lab = vector[600:].reshape(5, 5, 3) * 100 / weight
        np.testing.assert_allclose(lab, rgb2lab(mean_rgb), atol=1e-3)
        # and OpenCV's (table-based, to about 0.3) L*a*b* agrees
        opencv = cv2.cvtColor(mean_rgb.astype(np.float32), cv2.COLOR_RGB2Lab)
        np.testing.assert_allclose(lab, opencv, atol=0.5)


def test_color_weight_scales_only_the_lab_block(photos):
    base = Gist()(photos[0])
    doubled = Gist(color_weight=2 * PRESETS["im2gps"]["color_weight"])(photos[0])
    np.testing.assert_array_equal(doubled[:600], base[:600])
    np.testing.assert_allclose(doubled[600:], 2 * base[600:], rtol=1e-6, atol=1e-7)


def test_create_and_params_round_trip(photos, tmp_path):
    default = create("gist")
    assert isinstance(default, Gist) and default.name == "gist" and default.distance == "l2"
    assert default.dim == 675
    custom = Gist("lear", image_size=128, n_blocks=3, color=False, lab_size=4, color_weight=1.5)
    assert custom.dim == 20 * 9 + 48
    for extractor in (default, Gist("lear"), custom):
        params = json.loads(json.dumps(extractor.get_params()))
        rebuilt = create("gist", **params)
        assert rebuilt.get_params() == extractor.get_params()
        vectors = extractor.transform(photos[:2])
        np.testing.assert_array_equal(rebuilt.transform(photos[:2]), vectors)
    custom.save(tmp_path)
    loaded = load_extractor(tmp_path, "gist")
    np.testing.assert_array_equal(loaded(photos[0]), custom(photos[0]))


# -- bad input ----------------------------------------------------------------


def test_non_square_input_is_a_clear_error(photos):
    with pytest.raises(ValueError, match="square"):
        gist(photos[0])
    with pytest.raises(ValueError, match="square"):
        gist(_png(IDS[0], "gray")[:, :200])


@pytest.mark.parametrize(
    ("image", "kwargs", "match"),
    [
        (np.zeros((64, 64, 4)), {}, "N x N"),
        (np.full((64, 64), -1.0), {}, "0..255"),
        (np.full((64, 64), np.nan), {}, "0..255"),
        (np.zeros((64, 64)), {"orientations_per_scale": ()}, "orientations"),
        (np.zeros((64, 64)), {"orientations_per_scale": (8, 0)}, "orientations"),
        (np.zeros((64, 64)), {"n_blocks": 0}, "n_blocks"),
        (np.zeros((3, 3)), {"n_blocks": 4}, "too small"),
    ],
)
def test_invalid_gist_input(image, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gist(image, **kwargs)


def test_invalid_extractor_parameters():
    with pytest.raises(ValueError, match="preset"):
        Gist("lmgist")
    with pytest.raises(ValueError, match="lab_size"):
        Gist(lab_size=-1)
    with pytest.raises(ValueError, match="image_size"):
        Gist(image_size=4)


def test_lab_conversion_is_scikit_images(data_dir):
    """GIST's tiny L*a*b* image converts exactly as skimage.color.rgb2lab does."""
    from skimage.color import rgb2lab

    from im2gps.features.gist import srgb_to_lab
    from im2gps.photos import load_image

    image = load_image(data_dir / "im2gps237" / "images" / "104123223.jpg")
    rgb = image[::8, ::8].astype(np.float64) / 255.0
    rgb = np.concatenate([rgb.reshape(-1, 3), [[0, 0, 0], [1, 1, 1], [0.04045, 0.5, 0.01]]])
    assert np.array_equal(srgb_to_lab(rgb), rgb2lab(rgb))

"""im2gps.features.texton: filter bank, FFT responses, dictionary, histograms."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import faiss
import numpy as np
import pytest

from im2gps import load_image
from im2gps.features import FeatureExtractor, create, load_extractor
from im2gps.features.texton import (
    TextonHistogram,
    bank_spectra,
    canvas_size,
    contrast_normalise,
    filter_bank,
    filter_responses,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IMAGES = DATA / "im2gps2k" / "images"

# A small dictionary keeps most tests fast; the default 512 is tested once.
SMALL = {"n_textons": 32, "samples_per_image": 400, "n_iter": 10}


def chi2(h: np.ndarray, g: np.ndarray) -> float:
    total = h + g
    mask = total > 0
    return float(0.5 * np.sum((h[mask] - g[mask]) ** 2 / total[mask]))


@pytest.fixture(scope="module", autouse=True)
def one_faiss_thread():
    # FAISS's OpenMP threads spin-wait; on a small, busy test machine that makes
    # these tests several times slower. Results do not depend on it.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """40 real photos of the im2gps2k database: 20 to fit on, 20 held out."""
    paths = sorted(IMAGES.glob("*.jpg"))
    if len(paths) < 40:
        pytest.fail(f"{IMAGES}: the shared real-photo data must sit beside the checkout")
    step = len(paths) // 40
    return [load_image(path) for path in paths[::step][:40]]


@pytest.fixture(scope="module")
def fitted(photos) -> TextonHistogram:
    return TextonHistogram(**SMALL).fit(photos[:20])


# -- filter bank ------------------------------------------------------------------
def test_filter_bank_shape_and_normalisation():
    bank = filter_bank()
    # 8 orientations x 2 scales x 2 elongations x (even, odd) + 2 centre-surround.
    assert bank.shape == (66, 27, 27)
    assert bank.dtype == np.float32
    np.testing.assert_allclose(bank.sum(axis=(1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.abs(bank).sum(axis=(1, 2)), 1.0, rtol=1e-5)
    assert filter_bank(4, (1.0,), (3.0,)).shape[0] == 2 * 4 + 1


def test_filter_bank_symmetries():
    bank = filter_bank().astype(np.float64)
    oriented = bank[:64]
    even, odd, dog = oriented[0::2], oriented[1::2], bank[64:]
    point = (slice(None), slice(None, None, -1), slice(None, None, -1))
    # Even and centre-surround filters are point-symmetric, odd ones antisymmetric.
    np.testing.assert_allclose(even[point], even, atol=1e-9)
    np.testing.assert_allclose(dog[point], dog, atol=1e-9)
    np.testing.assert_allclose(odd[point], -odd, atol=1e-9)
    assert np.abs(odd).max() > 0.01
    # Centre-surround filters are isotropic: unchanged by a quarter turn.
    np.testing.assert_allclose(np.rot90(dog, axes=(1, 2)), dog, atol=1e-9)


def test_filter_bank_orientations_and_elongations():
    bank = filter_bank().astype(np.float64)
    # Filter order: elongation, scale, orientation, (even, odd).
    even = bank[:64:2].reshape(2, 2, 8, 27, 27)
    odd = bank[1:64:2].reshape(2, 2, 8, 27, 27)
    for e in range(2):
        for s in range(2):
            for group in (even[e, s], odd[e, s]):
                # All 8 orientations differ...
                flat = group.reshape(8, -1)
                gaps = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
                assert gaps[~np.eye(8, dtype=bool)].min() > 0.01
                # ... and orientation k + 4 (a quarter turn later) is orientation k rotated.
                turned = np.rot90(group[:4], axes=(1, 2))
                quarter = group[4:]
                err = np.minimum(
                    np.abs(turned - quarter).max(axis=(1, 2)),
                    np.abs(turned + quarter).max(axis=(1, 2)),
                )
                err_other = np.minimum(
                    np.abs(np.rot90(group[:4], -1, axes=(1, 2)) - quarter).max(axis=(1, 2)),
                    np.abs(np.rot90(group[:4], -1, axes=(1, 2)) + quarter).max(axis=(1, 2)),
                )
                assert np.minimum(err, err_other).max() < 1e-9

    # At theta = 0 the filters are elongated along x, more so at elongation 3 than 2.
    y, x = np.mgrid[-13:14, -13:14]

    def aspect(kernel: np.ndarray) -> float:
        weight = np.abs(kernel)
        return float(np.sqrt((weight * x**2).sum() / (weight * y**2).sum()))

    for s in range(2):
        assert aspect(even[0, s, 0]) > aspect(even[1, s, 0]) > 1.1
        assert aspect(even[0, s, 4]) < 1 / 1.1  # theta = pi / 2: elongated along y


# -- FFT responses ----------------------------------------------------------------
@pytest.mark.parametrize(
    "n_orientations, sigmas, elongations", [(8, (1.0, 2**0.5), (3.0, 2.0)), (4, (1.5,), (3.0,))]
)
def test_filter_responses_equal_direct_convolution(photos, n_orientations, sigmas, elongations):
    bank = filter_bank(n_orientations, sigmas, elongations)
    gray = cv2.cvtColor(photos[3], cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    gray = cv2.resize(gray, (gray.shape[1] // 3, gray.shape[0] // 3), interpolation=cv2.INTER_AREA)
    direct = np.stack(
        [
            cv2.filter2D(gray, -1, k[::-1, ::-1].copy(), borderType=cv2.BORDER_REFLECT_101)
            for k in bank
        ],
        axis=-1,
    )
    scale = np.abs(direct).max()
    for stride in (1, 2, 3):
        fast = filter_responses(gray, bank, stride)
        assert fast.shape == direct[::stride, ::stride].shape
        np.testing.assert_allclose(fast, direct[::stride, ::stride], atol=1e-5 * scale)
    # Precomputed spectra on a larger canvas give the same responses.
    radius = bank.shape[-1] // 2
    spectra = bank_spectra(bank, canvas_size(300, 300, radius, 2), 2)
    np.testing.assert_allclose(
        filter_responses(gray, bank, 2, spectra), direct[::2, ::2], atol=1e-5 * scale
    )
    with pytest.raises(ValueError, match="do not fit"):
        filter_responses(gray, bank, 2, bank_spectra(bank, 64, 2))


def test_contrast_normalisation(fitted, photos):
    raw = TextonHistogram(**SMALL, contrast_norm=False).responses(photos[0])
    norm = fitted.responses(photos[0])
    np.testing.assert_allclose(contrast_normalise(raw), norm, rtol=1e-5, atol=1e-7)
    # ||F'|| = log(1 + ||F|| / 0.03), direction unchanged.
    length = np.linalg.norm(raw, axis=-1)
    np.testing.assert_allclose(
        np.linalg.norm(norm, axis=-1), np.log1p(length / 0.03), rtol=1e-4, atol=1e-6
    )


def test_responses_grid_follows_resize(fitted, photos):
    for image in photos[:6]:
        h, w = image.shape[:2]
        scale = 256 / max(h, w)
        rows, cols = round(h * scale), round(w * scale)
        got = fitted.responses(image)
        assert got.shape == (-(-rows // 2), -(-cols // 2), 66)
        assert got.dtype == np.float32 and np.isfinite(got).all()
    # A small photo is enlarged to the same scale.
    small = cv2.resize(photos[0], (160, 120), interpolation=cv2.INTER_AREA)
    assert fitted.responses(small).shape == (96, 128, 66)


# -- dictionary and histograms ----------------------------------------------------
def test_dictionary_shape(fitted):
    assert fitted.is_fitted
    textons = fitted.state()["textons"]
    assert textons.shape == (32, 66) and textons.dtype == np.float32
    assert np.isfinite(textons).all()
    assert len(np.unique(textons.round(6), axis=0)) == 32


def test_histogram_properties(fitted, photos):
    held_out = photos[20:30]
    vectors = fitted.transform(held_out)
    assert vectors.shape == (10, 32) and vectors.dtype == np.float32
    assert (vectors >= 0).all()
    np.testing.assert_allclose(vectors.sum(axis=1), 1.0, atol=1e-5)
    # Real photos use many textons, and different photos use them differently.
    assert ((vectors > 0).sum(axis=1) >= 8).all()
    assert np.linalg.norm(vectors - vectors.mean(0), axis=1).min() > 0
    single = fitted(held_out[0])
    assert single.shape == (32,)
    np.testing.assert_array_equal(single, vectors[0])
    # Counts are over the pixel grid: a multiple of 1 / number of grid pixels.
    labels = fitted.texton_map(held_out[0])
    counts = np.bincount(labels.ravel(), minlength=32)
    np.testing.assert_allclose(single, counts / labels.size, rtol=1e-6)


def test_crops_of_one_photo_are_closer_than_other_photos(fitted, photos):
    held_out = photos[20:40]
    left = fitted.transform([p[:, : p.shape[1] * 7 // 10] for p in held_out])
    right = fitted.transform([p[:, p.shape[1] * 3 // 10 :] for p in held_out])
    n = len(held_out)
    dist = np.array([[chi2(left[i], right[j]) for j in range(n)] for i in range(n)])
    same = np.diag(dist)
    other = dist[~np.eye(n, dtype=bool)]
    assert same.mean() < 0.3 * other.mean()
    # Mostly, the nearest right crop of a left crop is its own (chance: 1 in 20).
    assert (dist.argmin(axis=1) == np.arange(n)).mean() >= 0.7


def test_default_dictionary_of_512(photos):
    extractor = create("texton")
    assert extractor.dim == 512 and extractor.n_filters == 66
    extractor.fit(photos[:10])  # 10 x 2000 pixels, 39 per texton
    assert extractor.state()["textons"].shape == (512, 66)
    vector = extractor(photos[25])
    assert vector.shape == (512,) and vector.dtype == np.float32
    assert abs(float(vector.sum()) - 1.0) < 1e-5 and (vector >= 0).all()


def test_fit_is_deterministic(photos):
    first = TextonHistogram(**SMALL, seed=7).fit(photos[:8]).state()["textons"]
    again = TextonHistogram(**SMALL, seed=7).fit(iter(photos[:8])).state()["textons"]
    other = TextonHistogram(**SMALL, seed=8).fit(photos[:8]).state()["textons"]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_save_load_round_trip(fitted, photos, tmp_path):
    path = fitted.save(tmp_path)
    assert path == tmp_path / "texton.json"
    config = json.loads(path.read_text())
    assert config["name"] == "texton" and config["dim"] == 32 and config["distance"] == "chi2"
    assert config["state"] == ["textons"]
    stored = np.load(tmp_path / "texton.textons.npy", allow_pickle=False)
    np.testing.assert_array_equal(stored, fitted.state()["textons"])

    loaded = load_extractor(tmp_path, "texton")
    assert isinstance(loaded, TextonHistogram)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.transform(photos[20:24]), fitted.transform(photos[20:24]))


def test_unfitted_extractor_says_to_fit(photos, tmp_path):
    extractor = TextonHistogram(n_textons=16)
    assert not extractor.is_fitted and extractor.state() == {}
    with pytest.raises(RuntimeError, match=r"call fit\(images\)"):
        extractor(photos[0])
    with pytest.raises(RuntimeError, match="load_extractor"):
        extractor.transform(photos[:2])
    extractor.save(tmp_path)
    with pytest.raises(RuntimeError, match="no texton dictionary"):
        load_extractor(tmp_path, "texton")(photos[0])


def test_bad_state_and_bad_fits_are_clear_errors(fitted, photos):
    extractor = TextonHistogram(**SMALL)
    with pytest.raises(ValueError, match="does not match"):
        extractor.set_state({"textons": np.zeros((16, 66), np.float32)})
    with pytest.raises(ValueError, match="NaN"):
        extractor.set_state({"textons": np.full((32, 66), np.nan, np.float32)})
    with pytest.raises(ValueError, match="at least one photo"):
        extractor.fit([])
    with pytest.raises(ValueError, match="cannot make 32 textons"):
        TextonHistogram(n_textons=32, samples_per_image=10).fit(photos[:2])
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        fitted(photos[0][..., 0])


def test_create_by_name():
    extractor = create("texton", n_textons=64, max_side=128, stride=1)
    assert isinstance(extractor, TextonHistogram) and isinstance(extractor, FeatureExtractor)
    assert extractor.name == "texton" and extractor.distance == "chi2"
    assert extractor.needs_fit and extractor.dim == 64
    assert extractor.get_params()["max_side"] == 128
    assert json.loads(json.dumps(extractor.config()))["params"]["sigmas"] == [1.0, 2**0.5]


def test_hilbert_transform_matches_scipy():
    """The filter bank's odd profiles use SciPy's own FFT construction of the Hilbert
    transform, without importing scipy.signal (a second of start-up)."""
    import scipy.signal

    from im2gps.features.texton import _hilbert_imag

    for n in (100, 101, 1301):
        x = np.random.default_rng(n).normal(size=n)
        # numpy.fft and SciPy's are the same pocketfft, up to the order of rounding
        np.testing.assert_allclose(_hilbert_imag(x), scipy.signal.hilbert(x).imag,
                                   rtol=0, atol=1e-12)


def test_opencv_transforms_match_scipy():
    """features.dft (OpenCV's DFT, no scipy.fft import) against scipy.fft, on stacks of
    real and complex planes at texton's and GIST's sizes; the canvas sizes it picks."""
    import scipy.fft

    from im2gps.features import dft

    rng = np.random.default_rng(0)
    for shape in ((288, 288), (3, 256, 256), (2, 5, 144, 150)):
        real = rng.normal(size=shape).astype(np.float32)
        cplx = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
        for got, want in ((dft.fft2(real), scipy.fft.fft2(real)),
                          (dft.fft2(cplx), scipy.fft.fft2(cplx)),
                          (dft.ifft2(cplx), scipy.fft.ifft2(cplx))):
            assert got.dtype == np.complex64 and got.shape == shape
            assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max()
    assert [dft.optimal_size(n) for n in (1, 141, 143, 257)] == [1, 144, 144, 270]
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="positive integer"):
            dft.optimal_size(bad)
    with pytest.raises(ValueError, match="planes"):
        dft.fft2(np.zeros(8))


def test_warm_up_beside_extraction_changes_nothing(fitted, photos):
    """warm_up (the filter bank and its spectra, as GeoIndex.load(warm_up=True) runs it on
    a background thread) fills the caches that extraction would; run at the same time as
    the first extractions, every histogram is what a cold extractor gives."""
    import threading

    want = fitted.transform(photos[20:24])
    cold = TextonHistogram(**SMALL)
    cold.set_state(fitted.state())
    assert "bank" not in vars(cold) and cold._spectra is None  # nothing made yet
    assert cold.n_filters == fitted.bank.shape[0]  # known without the bank
    thread = threading.Thread(target=cold.warm_up)
    thread.start()
    got = cold.transform(photos[20:24])
    thread.join()
    np.testing.assert_array_equal(got, want)
    assert cold._spectra is not None and np.array_equal(cold.bank, fitted.bank)
    # an extractor that is not fitted has nothing to warm up
    TextonHistogram(**SMALL).warm_up()

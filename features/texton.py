"""Texton histogram: the texture feature of IM2GPS.

Hays & Efros describe every photo by a histogram over a universal dictionary
of 512 *textons* (Malik et al., 2001): each pixel's vector of responses to a
bank of oriented filters is assigned to its nearest texton, and the photo is
the normalised count of pixels per texton, compared with the chi-square
distance. The filter bank follows Martin, Fowlkes & Malik (2004) and their
``segbench`` code: even-symmetric Gaussian second-derivative filters, their
Hilbert transforms as odd-symmetric partners, and centre-surround filters.

The filter bank
---------------
``filter_bank()`` with the defaults gives 66 kernels of 27 x 27 pixels:

* for each elongation ``e`` in ``(3, 2)``, each scale ``sigma`` in
  ``(1, sqrt(2))`` and each of 8 orientations ``theta = k * pi / 8``, an
  **even** filter ``G(u; e * sigma) * G''(v; sigma)`` (a Gaussian of standard
  deviation ``e * sigma`` along the orientation ``u`` times the second
  derivative of a Gaussian of standard deviation ``sigma`` across it, ``v``)
  followed by its **odd** partner, the same with ``G''`` replaced by its
  Hilbert transform -- 2 x 2 x 8 x 2 = 64 filters;
* then a **centre-surround** difference of Gaussians
  ``G(r; sigma) - G(r; 2 * sigma)`` for each scale -- 2 filters.

As in ``segbench``'s ``oeFilter``, each kernel is cut to a square of half-size
``ceil(3 * largest standard deviation)``, integrated over each pixel (by
supersampling), made zero-mean and scaled to unit L1 norm. The two
elongations of Hays & Efros are taken as 3:1, the aspect ratio of the oriented
filters of Malik et al. (2001), and 2:1, the ``elong`` default of
``segbench``'s ``fbCreate``.

The pipeline
------------
photo -> grey level in [0, 1] (ITU-R BT.601 luma) -> resized so that its
longer side is ``max_side`` -> 66 filter responses per pixel (FFT
convolution, reflected borders) -> Malik et al.'s contrast normalisation
``F <- F * log(1 + |F| / 0.03) / |F|`` -> nearest texton (exact L2, FAISS)
-> 512-bin histogram, L1-normalised. :meth:`TextonHistogram.fit` learns the
textons by k-means over the (normalised) responses of random pixels from
sample photos, so fit and extract see the same responses.

References
----------
.. [1] J. Hays and A. A. Efros, "IM2GPS: estimating geographic information
   from a single image", CVPR 2008.
.. [2] D. R. Martin, C. C. Fowlkes and J. Malik, "Learning to detect natural
   image boundaries using local brightness, color, and texture cues", IEEE
   TPAMI 26(5), 2004.
.. [3] J. Malik, S. Belongie, T. Leung and J. Shi, "Contour and texture
   analysis for image segmentation", IJCV 43(1), 2001.

Notes
-----
Departures from the original:

* **Resize.** The photo is resized so that its longer side is ``max_side``
  (256 by default; area interpolation when shrinking, bilinear when
  enlarging) before filtering, for speed and so that the filter scales mean
  the same fraction of every photo. Hays & Efros filter the photo at the
  size they stored it, which the paper does not give.
* **Pixel grid.** The histogram counts the pixels of a regular grid with
  step ``stride`` (2 by default: every fourth pixel) instead of every pixel.
  Responses at those pixels are exact -- the convolution is computed in the
  Fourier domain and sampled by folding the spectrum, not approximated --
  and neighbouring pixels share almost all of their filter support, so the
  histogram barely changes while the texton assignment, the dominant cost,
  takes a quarter of the time. ``stride=1`` counts every pixel.
* **Filter bank details** that the papers leave open are ours: the two
  elongations 3:1 and 2:1, the scales 1 and sqrt(2) pixels (``segbench``'s
  defaults, at ``max_side`` resolution), the surround-to-centre ratio 2 of
  the difference-of-Gaussians, and grey levels in [0, 1].
* **Contrast normalisation** of Malik et al. (2001) (constant 0.03) is
  applied to the responses in both fit and extract; Hays & Efros do not say
  whether they normalise. ``contrast_norm=False`` switches it off.
* **Dictionary.** Textons are learned by FAISS k-means (``n_iter``
  iterations, seeded) over ``samples_per_image`` random grid pixels per fit
  photo, rather than the (unpublished) set of photos and pixels of the
  original universal dictionary. FAISS keeps at most 256 points per centre.
* Borders are handled by reflection (OpenCV's ``BORDER_REFLECT_101``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import cv2
import faiss
import numpy as np

from im2gps.features import dft
from im2gps.features.base import FeatureExtractor, _check_image

__all__ = [
    "TextonHistogram",
    "bank_spectra",
    "canvas_size",
    "contrast_normalise",
    "filter_bank",
    "filter_responses",
]

#: Half-width of the kernels, in standard deviations (``segbench``'s ``support``).
SUPPORT = 3.0
#: Constant of Malik et al.'s contrast normalisation, for grey levels in [0, 1].
CONTRAST_CONSTANT = 0.03
# Supersampling of the kernels: each pixel integrates OVERSAMPLE^2 samples.
_OVERSAMPLE = 7


def _gauss(x: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-(x**2) / (2.0 * sigma**2))


def _second_derivative(x: np.ndarray, sigma: float) -> np.ndarray:
    # segbench's profile (x^2 / sigma^2 - 1) exp(-x^2 / 2 sigma^2); the scale is
    # irrelevant because every kernel is L1-normalised afterwards.
    return (x**2 / sigma**2 - 1.0) * _gauss(x, sigma)


def _hilbert_imag(x: np.ndarray) -> np.ndarray:
    """Imaginary part of the analytic signal of ``x``: ``scipy.signal.hilbert(x).imag``.

    The same FFT construction as SciPy's (positive frequencies doubled, negative ones
    zeroed), written here because importing ``scipy.signal`` costs about a second,
    more than everything else a one-photo ``im2gps locate`` does.
    """
    n = len(x)
    h = np.zeros(n)
    h[0] = 1.0
    if n % 2 == 0:
        h[n // 2] = 1.0
        h[1:n // 2] = 2.0
    else:
        h[1:(n + 1) // 2] = 2.0
    return np.fft.ifft(np.fft.fft(x) * h).imag  # float64, at filter design only


@functools.lru_cache(maxsize=32)
def _hilbert_profile(sigma: float, half: float) -> tuple[np.ndarray, np.ndarray]:
    # Like segbench: the Hilbert transform of the 1-D profile, computed by FFT on
    # a fine grid wider than the kernel's diagonal (once per scale: every
    # orientation interpolates the same profile).
    fine = np.linspace(-half, half, int(2 * half * 50) | 1)
    return fine, _hilbert_imag(_second_derivative(fine, sigma))


def _hilbert_second_derivative(x: np.ndarray, sigma: float, half: float) -> np.ndarray:
    fine, odd = _hilbert_profile(float(sigma), float(half))
    return np.interp(x, fine, odd)


def filter_bank(
    n_orientations: int = 8,
    sigmas: Sequence[float] = (1.0, math.sqrt(2.0)),
    elongations: Sequence[float] = (3.0, 2.0),
    surround_ratio: float = 2.0,
) -> np.ndarray:
    """The oriented and centre-surround filter bank of Martin et al. (2004).

    Parameters
    ----------
    n_orientations : int, optional
        Orientations ``theta = k * pi / n_orientations``.
    sigmas : sequence of float, optional
        Standard deviation (pixels) across the orientation, one per scale.
    elongations : sequence of float, optional
        Ratio of the standard deviation along the orientation to ``sigma``.
    surround_ratio : float, optional
        Standard deviation of the surround Gaussian over that of the centre in
        the difference-of-Gaussians filters.

    Returns
    -------
    numpy.ndarray
        ``(n, k, k)`` float32 kernels, ``n = 2 * len(elongations) * len(sigmas)
        * n_orientations + len(sigmas)``, all the same odd size ``k``; ordered
        elongation, scale, orientation, then (even, odd), and the
        centre-surround filters, one per scale, last. Every kernel has zero
        mean and unit L1 norm.
    """
    sigmas = [float(s) for s in sigmas]
    elongations = [float(e) for e in elongations]
    if n_orientations < 1 or not sigmas or not elongations:
        raise ValueError("need at least one orientation, one scale and one elongation")
    if min(sigmas) <= 0 or min(elongations) <= 0 or surround_ratio <= 0:
        raise ValueError("sigmas, elongations and surround_ratio must be positive")
    widest = max(sigmas) * max(max(elongations), surround_ratio, 1.0)
    radius = math.ceil(SUPPORT * widest)
    size = 2 * radius + 1
    # Supersampled grid: OVERSAMPLE x OVERSAMPLE points per pixel, averaged below.
    q = _OVERSAMPLE
    axis = np.arange(-radius, radius + 1)[:, None] + (np.arange(q) - (q - 1) / 2) / q
    axis = axis.ravel()
    y, x = np.meshgrid(axis, axis, indexing="ij")

    def finish(fine: np.ndarray, half: int) -> np.ndarray:
        # Integrate over pixels, cut to the kernel's own square, zero mean, unit L1.
        kernel = fine.reshape(size, q, size, q).mean(axis=(1, 3))
        mask = np.zeros((size, size), bool)
        mask[radius - half : radius + half + 1, radius - half : radius + half + 1] = True
        kernel = np.where(mask, kernel - kernel[mask].mean(), 0.0)
        return kernel / np.abs(kernel).sum()

    kernels = []
    thetas = np.arange(n_orientations) * np.pi / n_orientations
    for elongation in elongations:
        for sigma in sigmas:
            half = math.ceil(SUPPORT * sigma * max(elongation, 1.0))
            for theta in thetas:
                u = x * np.cos(theta) + y * np.sin(theta)  # along the orientation
                v = -x * np.sin(theta) + y * np.cos(theta)  # across it
                along = _gauss(u, elongation * sigma)
                kernels.append(finish(along * _second_derivative(v, sigma), half))
                odd = _hilbert_second_derivative(v, sigma, half=2.0 * size)
                kernels.append(finish(along * odd, half))
    r2 = x**2 + y**2
    for sigma in sigmas:
        half = math.ceil(SUPPORT * sigma * max(surround_ratio, 1.0))
        centre = np.exp(-r2 / (2 * sigma**2)) / sigma**2
        surround = np.exp(-r2 / (2 * (surround_ratio * sigma) ** 2)) / (surround_ratio * sigma) ** 2
        kernels.append(finish(centre - surround, half))
    return np.stack(kernels).astype(np.float32)


def canvas_size(height: int, width: int, radius: int, stride: int = 1) -> int:
    """Side of the square FFT canvas for an image, a kernel radius and a stride.

    At least ``max(height, width) + 2 * radius`` (so that circular convolution
    never wraps into the image), a multiple of ``stride`` and FFT-friendly
    (:func:`im2gps.features.dft.optimal_size`).
    """
    need = max(height, width) + 2 * radius
    return stride * dft.optimal_size(-(-need // stride))


def bank_spectra(bank: np.ndarray, size: int, stride: int = 1) -> np.ndarray:
    """2-D spectra of a filter bank on a ``size x size`` canvas, ready for
    :func:`filter_responses`.

    Kernels go in quadrature pairs: kernel ``2i`` is the real part and kernel
    ``2i + 1`` the imaginary part of complex kernel ``i`` (a zero kernel
    completes an odd count), so one complex inverse FFT yields two real
    responses. The spectra are stored as ``stride x stride`` blocks of
    ``size / stride`` frequencies, the blocks that fold onto each other when
    the responses are sampled every ``stride`` pixels, with the folding's
    ``1 / stride^2`` factor included.

    Parameters
    ----------
    bank : numpy.ndarray
        ``(n, k, k)`` kernels, ``k`` odd, as from :func:`filter_bank`.
    size : int
        Canvas side, a multiple of ``stride``; see :func:`canvas_size`.
    stride : int, optional
        Grid step of the responses.

    Returns
    -------
    numpy.ndarray
        ``(stride, stride, ceil(n / 2), size / stride, size / stride)`` complex64.
    """
    n, k, _ = bank.shape
    if size % stride or size < k:
        raise ValueError(f"canvas side {size} must be a multiple of {stride} and >= {k}")
    if n % 2:
        bank = np.concatenate([bank, np.zeros((1, k, k), bank.dtype)])
    pairs = bank[0::2].astype(np.complex64) + 1j * bank[1::2].astype(np.complex64)
    canvas = np.zeros((len(pairs), size, size), np.complex64)
    canvas[:, :k, :k] = pairs
    # Centre each kernel on the origin of the (circular) canvas.
    canvas = np.roll(canvas, (-(k // 2), -(k // 2)), axis=(1, 2))
    spectra = dft.fft2(canvas) * np.float32(1.0 / stride**2)
    m = size // stride
    blocks = spectra.reshape(len(pairs), stride, m, stride, m).transpose(1, 3, 0, 2, 4)
    return np.ascontiguousarray(blocks, dtype=np.complex64)


def filter_responses(
    gray: np.ndarray,
    bank: np.ndarray,
    stride: int = 1,
    spectra: np.ndarray | None = None,
) -> np.ndarray:
    """Responses of every kernel at the pixels of a grid, by FFT convolution.

    Equal to ``cv2.filter2D(gray, -1, kernel[::-1, ::-1],
    borderType=cv2.BORDER_REFLECT_101)[::stride, ::stride]`` for each kernel
    (a true convolution with reflected borders), but computed at once: one
    forward FFT of the image, one product per quadrature pair, and inverse
    FFTs of ``1 / stride^2`` of the canvas after folding the spectrum
    (sampling every ``s``-th pixel sums the spectrum's ``s x s`` aliases).

    Parameters
    ----------
    gray : numpy.ndarray
        ``(h, w)`` float grey-level image.
    bank : numpy.ndarray
        ``(n, k, k)`` kernels.
    stride : int, optional
        Grid step: responses at pixels ``(stride * i, stride * j)``.
    spectra : numpy.ndarray, optional
        ``bank_spectra(bank, size, stride)`` for a canvas large enough for
        ``gray`` (:func:`canvas_size`); computed here when not given.

    Returns
    -------
    numpy.ndarray
        ``(ceil(h / stride), ceil(w / stride), n)`` float32.
    """
    gray = np.asarray(gray, np.float32)
    h, w = gray.shape
    n, k, _ = bank.shape
    radius = k // 2
    if spectra is None:
        spectra = bank_spectra(bank, canvas_size(h, w, radius, stride), stride)
    m = spectra.shape[-1]
    size = m * stride
    if spectra.shape != (stride, stride, (n + 1) // 2, m, m) or size < max(h, w) + 2 * radius:
        raise ValueError(
            f"spectra of shape {spectra.shape} do not fit a {w}x{h} image, {n} kernels of "
            f"radius {radius} and stride {stride}; use bank_spectra(bank, canvas_size(...), stride)"
        )
    # Reflected borders, laid out circularly: the image starts at the canvas
    # origin and its top/left borders wrap around to the far end.
    padded = cv2.copyMakeBorder(gray, radius, radius, radius, radius, cv2.BORDER_REFLECT_101)
    canvas = np.zeros((size, size), np.float32)
    canvas[: h + 2 * radius, : w + 2 * radius] = padded
    canvas = np.roll(canvas, (-radius, -radius), axis=(0, 1))
    image = dft.fft2(canvas)
    image = image.reshape(stride, m, stride, m).transpose(0, 2, 1, 3)
    # Multiply and fold block by block into preallocated buffers: about twice as
    # fast as numpy's reduction over a (pairs, s, m, s, m) product.
    folded = np.multiply(image[0, 0], spectra[0, 0])
    product = np.empty_like(folded)
    for a in range(stride):
        for b in range(stride):
            if a or b:
                np.multiply(image[a, b], spectra[a, b], out=product)
                folded += product
    out = dft.ifft2(folded)
    rows, cols = -(-h // stride), -(-w // stride)
    # complex64 viewed as float32 interleaves (real, imaginary) = (kernel 2i, 2i + 1).
    out = np.ascontiguousarray(out[:, :rows, :cols].transpose(1, 2, 0)).view(np.float32)
    return out[..., :n]


def contrast_normalise(responses: np.ndarray, constant: float = CONTRAST_CONSTANT) -> np.ndarray:
    """Malik et al.'s (2001) contrast normalisation of filter-response vectors.

    ``F <- F * log(1 + ||F|| / constant) / ||F||`` along the last axis: strong
    responses are compressed, weak ones kept, as in Weber's law.

    Parameters
    ----------
    responses : numpy.ndarray
        ``(..., n_filters)`` float responses.
    constant : float, optional
        The constant (0.03 for grey levels in [0, 1]).

    Returns
    -------
    numpy.ndarray
        Same shape, float32.
    """
    responses = np.asarray(responses, np.float32)
    norm = np.sqrt(np.einsum("...i,...i->...", responses, responses))[..., None]
    scale = np.log1p(norm / constant) / np.maximum(norm, np.float32(1e-12))
    return (responses * scale).astype(np.float32, copy=False)


class TextonHistogram(FeatureExtractor):
    """Histogram of textons, the texture feature of Hays & Efros (2008).

    See the module documentation for the filter bank, the pipeline and every
    departure from the papers.

    Parameters
    ----------
    n_textons : int, optional
        Size of the texton dictionary and of the histogram (512 in IM2GPS).
    max_side : int, optional
        Photos are resized so that their longer side has this many pixels.
    stride : int, optional
        Step of the pixel grid whose textons are counted (1: every pixel).
    n_orientations, sigmas, elongations, surround_ratio
        The filter bank, see :func:`filter_bank`.
    contrast_norm : bool, optional
        Apply Malik et al.'s contrast normalisation to the responses.
    samples_per_image : int, optional
        Random grid pixels taken from each photo by :meth:`fit`.
    n_iter : int, optional
        k-means iterations.
    seed : int, optional
        Seed of the pixel sampling and of k-means.

    Examples
    --------
    >>> from im2gps.features import create
    >>> texton = create("texton").fit(photos)      # doctest: +SKIP
    >>> texton(image).shape                       # doctest: +SKIP
    (512,)
    """

    name: ClassVar[str] = "texton"
    distance: ClassVar[str] = "chi2"
    needs_fit: ClassVar[bool] = True

    def __init__(
        self,
        n_textons: int = 512,
        max_side: int = 256,
        stride: int = 2,
        n_orientations: int = 8,
        sigmas: Sequence[float] = (1.0, math.sqrt(2.0)),
        elongations: Sequence[float] = (3.0, 2.0),
        surround_ratio: float = 2.0,
        contrast_norm: bool = True,
        samples_per_image: int = 2000,
        n_iter: int = 20,
        seed: int = 0,
    ) -> None:
        if n_textons < 2:
            raise ValueError(f"n_textons must be at least 2, got {n_textons}")
        if max_side < 8 or stride < 1 or samples_per_image < 1 or n_iter < 1:
            raise ValueError("need max_side >= 8, stride >= 1, samples_per_image >= 1, n_iter >= 1")
        self.n_textons = int(n_textons)
        self.max_side = int(max_side)
        self.stride = int(stride)
        self.n_orientations = int(n_orientations)
        self.sigmas = tuple(float(s) for s in sigmas)
        self.elongations = tuple(float(e) for e in elongations)
        self.surround_ratio = float(surround_ratio)
        self.contrast_norm = bool(contrast_norm)
        self.samples_per_image = int(samples_per_image)
        self.n_iter = int(n_iter)
        self.seed = int(seed)
        self._spectra: np.ndarray | None = None  # computed on first use (about 20 MB)
        self._textons: np.ndarray | None = None
        self._index: faiss.IndexFlatL2 | None = None

    # -- interface -------------------------------------------------------------
    @functools.cached_property
    def bank(self) -> np.ndarray:
        """The ``(n, k, k)`` filter bank (:func:`filter_bank` of the parameters),
        made on first use (20 ms: :meth:`warm_up` makes it beside an index load)."""
        return filter_bank(self.n_orientations, self.sigmas, self.elongations,
                           self.surround_ratio)

    @property
    def dim(self) -> int:
        return self.n_textons

    @property
    def n_filters(self) -> int:
        """Number of filters in the bank (66 by default), without making it."""
        return 2 * len(self.elongations) * len(self.sigmas) * self.n_orientations \
            + len(self.sigmas)

    def get_params(self) -> dict[str, Any]:
        return {
            "n_textons": self.n_textons,
            "max_side": self.max_side,
            "stride": self.stride,
            "n_orientations": self.n_orientations,
            "sigmas": list(self.sigmas),
            "elongations": list(self.elongations),
            "surround_ratio": self.surround_ratio,
            "contrast_norm": self.contrast_norm,
            "samples_per_image": self.samples_per_image,
            "n_iter": self.n_iter,
            "seed": self.seed,
        }

    def state(self) -> dict[str, np.ndarray]:
        return {} if self._textons is None else {"textons": self._textons}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        if "textons" not in arrays:
            raise ValueError("texton state needs a 'textons' array")
        textons = np.ascontiguousarray(arrays["textons"], dtype=np.float32)
        expected = (self.n_textons, self.n_filters)
        if textons.shape != expected:
            raise ValueError(
                f"texton dictionary of shape {textons.shape} does not match this extractor "
                f"(n_textons={self.n_textons}, {self.n_filters} filters): expected {expected}"
            )
        if not np.isfinite(textons).all():
            raise ValueError("texton dictionary contains NaN or infinite values")
        index = faiss.IndexFlatL2(self.n_filters)
        index.add(textons)
        self._textons, self._index = textons, index

    # -- filter responses ------------------------------------------------------
    def _gray(self, image: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        gray = np.asarray(gray, np.float32) * np.float32(1.0 / 255.0)
        h, w = gray.shape
        scale = self.max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if size != (w, h):
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            gray = cv2.resize(gray, size, interpolation=interpolation)
        return gray

    def responses(self, image: np.ndarray) -> np.ndarray:
        """Normalised filter responses at the grid pixels of a photo.

        Parameters
        ----------
        image : numpy.ndarray
            ``H x W x 3`` uint8 RGB photo.

        Returns
        -------
        numpy.ndarray
            ``(rows, cols, n_filters)`` float32, one vector per pixel of the
            ``stride`` grid of the resized photo: what :meth:`fit` clusters and
            :meth:`extract` assigns.
        """
        gray = self._gray(_check_image(image))
        if self._spectra is None:
            radius = self.bank.shape[-1] // 2
            size = canvas_size(self.max_side, self.max_side, radius, self.stride)
            self._spectra = bank_spectra(self.bank, size, self.stride)
        out = filter_responses(gray, self.bank, self.stride, self._spectra)
        return contrast_normalise(out) if self.contrast_norm else out

    # -- learning --------------------------------------------------------------
    def fit(self, images: Iterable[np.ndarray]) -> TextonHistogram:
        """Learn the texton dictionary by k-means over sampled filter responses.

        Parameters
        ----------
        images : iterable of numpy.ndarray
            ``H x W x 3`` uint8 RGB photos (e.g. ``collection.images()``).
            ``samples_per_image`` random grid pixels are taken from each.

        Returns
        -------
        TextonHistogram
            ``self``, fitted. Deterministic for a given ``seed`` (and FAISS
            thread count).
        """
        rng = np.random.default_rng(self.seed)
        samples = []
        for image in images:
            vectors = self.responses(image).reshape(-1, self.n_filters)
            take = min(self.samples_per_image, len(vectors))
            samples.append(vectors[rng.choice(len(vectors), take, replace=False)])
        if not samples:
            raise ValueError("fit needs at least one photo")
        data = np.ascontiguousarray(np.concatenate(samples), dtype=np.float32)
        if len(data) < self.n_textons:
            raise ValueError(
                f"{len(data)} sampled pixels cannot make {self.n_textons} textons: give more "
                "photos, raise samples_per_image or lower n_textons"
            )
        kmeans = faiss.Kmeans(
            self.n_filters, self.n_textons, niter=self.n_iter, seed=self.seed, verbose=False
        )
        kmeans.train(data)
        self.set_state({"textons": kmeans.centroids.reshape(self.n_textons, self.n_filters)})
        return self

    # -- extraction ------------------------------------------------------------
    def _require_fit(self) -> faiss.IndexFlatL2:
        if self._index is None:
            raise RuntimeError(
                "TextonHistogram has no texton dictionary: call fit(images) first, or load "
                "a fitted one with im2gps.features.load_extractor(directory, 'texton')"
            )
        return self._index

    def texton_map(self, image: np.ndarray) -> np.ndarray:
        """Index of the nearest texton at each grid pixel, ``(rows, cols)`` int64."""
        index = self._require_fit()
        vectors = self.responses(image)
        _, labels = index.search(vectors.reshape(-1, self.n_filters), 1)
        return labels.reshape(vectors.shape[:2])

    def extract(self, image: np.ndarray) -> np.ndarray:
        """Texton histogram of one photo: ``(n_textons,)`` float32 summing to 1."""
        counts = np.bincount(self.texton_map(image).ravel(), minlength=self.n_textons)
        return (counts / counts.sum()).astype(np.float32)

"""GIST scene descriptor (Oliva & Torralba), computed the way lear_gist computes it.

The GIST of a square image is the spatially pooled energy of a bank of Gabor
filters at several scales and orientations, after a local contrast
normalisation ("prefilter"). :func:`gist` reproduces LEAR's C implementation
(lear_gist, Douze et al. 2009) step by step, and is checked value by value
against that implementation's own output (``shared/data/reference/gist``):

1. prefilter (``fc = 4``): ``x = log(1 + pixel)``, 5-pixel symmetric padding,
   whitening ``w = x - lowpass(x)``, division by the local contrast
   ``sqrt(lowpass(m^2))`` (``m = w``, or the channel mean of ``w`` for colour),
   padding cropped away again;
2. Gabor bank on the unpadded ``N x N`` frequency grid: for scale ``s`` (0 is
   the finest) and orientation ``k`` of ``n_s``,
   ``G = exp(-3.5 (f/N/p1 - 1)^2 - 2 pi p2 (angle + pi k/n_s)^2)`` with
   ``p1 = 0.3 / 1.85^s`` and ``p2 = 16 n_s^2 / 32^2``;
3. ``|ifft2(fft2(prefiltered) * G)|`` (circular filtering), per channel;
4. the mean of each response over an ``n_blocks x n_blocks`` grid of blocks
   with edges ``k * N // n_blocks``.

Descriptor layout (lear_gist's): channel-major, then filter (scale-major,
orientation-minor), then the block grid flattened column-major, i.e. index
``((c * n_filters + f) * n_blocks + xb) * n_blocks + yb`` with ``xb`` the
column block (0 = left) and ``yb`` the row block (0 = top).

:class:`Gist` is the feature extractor: it resizes the photo's shorter side to
``image_size`` (Pillow bilinear), crops the centre square, and calls
:func:`gist`. Two presets:

``"im2gps"`` (default, 675-d)
    Hays & Efros (2008): grayscale GIST, 6 orientations x 4 scales on a 5 x 5
    grid (600-d), followed by a 5 x 5 L*a*b* colour image of the same square
    (75-d, row-major cells, each ``L, a, b``), as in their "gist descriptor
    ... combined with a 5x5 color image".
    The colour image is appended as ``color_weight * Lab / 100``; the default
    ``color_weight = 0.6`` makes the two parts count about equally under L2:
    on 400 photos of ``im2gps2k`` the median distance between two photos'
    colour blocks (1.07) is close to that between their GIST blocks (1.10).
    Hays & Efros do not state how they weight the two parts;
    ``color_weight`` is that missing constant, as a named parameter.
``"lear"`` (960-d)
    lear_gist's default: colour GIST, orientations (8, 8, 4), 4 x 4 grid,
    256-px images.

References
----------
.. [1] A. Oliva and A. Torralba, "Modeling the shape of the scene: a holistic
   representation of the spatial envelope", IJCV 42(3), 145-175, 2001.
.. [2] M. Douze, H. Jegou, H. Sandhawalia, L. Amsaleg and C. Schmid,
   "Evaluation of GIST descriptors for web-scale image search", CIVR 2009
   (the lear_gist C implementation, (c) INRIA 2009).
.. [3] J. Hays and A. A. Efros, "IM2GPS: estimating geographic information
   from a single image", CVPR 2008.

Notes
-----
Departures from the papers and from Torralba's Matlab LMgist:

* :func:`gist` follows lear_gist, not LMgist: no min/max rescaling of the
  image to [0, 255] before the prefilter, no ``boundaryExtension = 32``
  padding before Gabor filtering (filtering is circular on the unpadded grid),
  and no resizing inside the function.
* lear_gist only handles square images correctly; :func:`gist` refuses
  non-square input, and :class:`Gist` makes every photo square by a centre
  crop after resizing its shorter side (LMgist's ``imresizecrop`` crops too;
  the crop loses the sides of wide photos).
* Resizing is Pillow's antialiased bilinear, not Matlab's ``imresize``; the
  grayscale image is the rounded mean of R, G and B, not Matlab's
  ``rgb2gray`` luma weights.
* Arithmetic is float32 throughout, as in lear_gist (single-precision FFTW),
  but with the prefilter as small matrix products (scipy's pocketfft for odd
  sizes) and OpenCV's DFT for the FFTs (:mod:`im2gps.features.dft`); results
  agree with lear_gist's to < 1e-6.
* The im2gps preset's image size (256 px) and its colour-image weight are our
  choices; Hays & Efros do not state them. The 5 x 5 colour image is the
  area average of the square crop in sRGB, then converted to L*a*b* (D65).
* With 5 blocks on 256 px, lear_gist's integer block edges make the last row
  and column of blocks 52 px instead of 51; kept as lear_gist has it.
* For odd image sizes lear_gist's frequency grid (``i - N / 2.0``, then
  ``fftshift``) is off by half a bin; :func:`gist` reproduces that too.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image

from im2gps.features import dft
from im2gps.features.base import FeatureExtractor

__all__ = ["Gist", "PRESETS", "gist", "gabor_bank", "square_crop"]

#: Named parameter sets of :class:`Gist`.
PRESETS: dict[str, dict[str, Any]] = {
    "im2gps": {
        "image_size": 256,
        "orientations_per_scale": (6, 6, 6, 6),
        "n_blocks": 5,
        "color": False,
        "lab_size": 5,
        "color_weight": 0.6,
    },
    "lear": {
        "image_size": 256,
        "orientations_per_scale": (8, 8, 4),
        "n_blocks": 4,
        "color": True,
        "lab_size": 0,
        "color_weight": 0.6,
    },
}

_PAD = 5  # lear_gist's prefilter padding (pixels per side)
_FC = 4.0  # lear_gist's prefilter cut-off, hard-coded there too


def _c_fftshift_grid(n: int) -> np.ndarray:
    """lear_gist's frequency coordinate ``fftshift(i - n / 2)``, ``i < n``.

    For even ``n`` these are the usual FFT frequencies; for odd ``n`` lear_gist's
    grid is off by half a bin, and is kept as it is.
    """
    return np.fft.fftshift(np.arange(n, dtype=np.float64) - n / 2.0)


@functools.lru_cache(maxsize=8)
def _lowpass(n: int) -> np.ndarray:
    """Prefilter Gaussian ``exp(-(fx^2 + fy^2) / s1^2)`` on the padded grid, rfft half."""
    f = _c_fftshift_grid(n)
    s1 = _FC / np.sqrt(np.log(2.0))
    g = np.exp(-(f[:, None] ** 2 + f[None, :] ** 2) / s1**2).astype(np.float32)
    # Used for odd n only: lear_gist's grid is then shifted by half a bin and
    # not symmetric, and _prefilter keeps lear_gist's complex FFTs. For even n
    # the filter is real, even and separable (see _lowpass_basis).
    g.setflags(write=False)
    return g


@functools.lru_cache(maxsize=16)
def gabor_bank(size: int, orientations_per_scale: tuple[int, ...]) -> np.ndarray:
    """lear_gist's Gabor transfer functions on the ``size x size`` FFT grid.

    Parameters
    ----------
    size : int
        Side of the (square) image.
    orientations_per_scale : tuple of int
        Orientations at each scale, finest scale first.

    Returns
    -------
    numpy.ndarray
        ``(n_filters, size, size)`` float32, read-only, in FFT order (zero
        frequency at ``[0, 0]``), scale-major and orientation-minor.
    """
    f = np.arange(size, dtype=np.float64) - size / 2.0
    fx, fy = f[None, :], f[:, None]  # x = column, y = row
    fr = np.fft.fftshift(np.sqrt(fx**2 + fy**2))
    angle = np.fft.fftshift(np.arctan2(fy, fx))
    filters = []
    for scale, n_orient in enumerate(orientations_per_scale):  # a few scales, not pixels
        p1 = 0.3 / 1.85**scale
        p2 = 16.0 * n_orient**2 / 32.0**2
        theta = np.pi * np.arange(n_orient) / n_orient
        t = angle[None] + theta[:, None, None]
        t = np.where(t > np.pi, t - 2 * np.pi, np.where(t < -np.pi, t + 2 * np.pi, t))
        radial = -10.0 * 0.35 * (fr / size / p1 - 1.0) ** 2
        filters.append(np.exp(radial[None] - 2.0 * p2 * np.pi * t**2))
    bank = np.concatenate(filters).astype(np.float32)
    bank.setflags(write=False)
    return bank


@functools.lru_cache(maxsize=16)
def _pooling(size: int, n_blocks: int) -> np.ndarray:
    """``(n_blocks, size)`` float32 matrix whose rows average lear_gist's blocks."""
    edges = np.arange(n_blocks + 1) * size // n_blocks
    index = np.arange(size)
    member = (index[None, :] >= edges[:-1, None]) & (index[None, :] < edges[1:, None])
    pool = (member / np.diff(edges)[:, None]).astype(np.float32)
    pool.setflags(write=False)
    return pool


@functools.lru_cache(maxsize=8)
def _lowpass_basis(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The prefilter's low-pass on an even ``n`` grid as ``Q diag(w) Q^T`` per axis.

    The Gaussian ``exp(-(fx^2 + fy^2) / s1^2)`` is separable, and on an even
    grid each factor is real and even, so the 2-D circular filter is ``P a P``
    with ``P`` the ``n x n`` circulant of ``exp(-f^2 / s1^2)``. Its frequencies
    above ``K = ceil(s1 sqrt(ln 1e10))`` (24 for ``fc = 4``) have gains under
    1e-10, so ``P = Q diag(w) Q^T`` with ``Q`` the ``2K + 1`` columns ``1``,
    ``cos(2 pi u y / n)``, ``sin(2 pi u y / n)`` (``u = 1..K``): four small
    matrix products instead of an ``rfft2`` and an ``irfft2`` of the padded
    image (``benchmarks/gist_floor.py``: about 3x faster at 266 x 266).

    Returns ``Q`` (``n x (2K + 1)`` float32) and ``w w^T`` (float32).
    """
    s1 = _FC / np.sqrt(np.log(2.0))
    k = int(np.ceil(s1 * np.sqrt(np.log(1e10))))
    u = np.arange(1, k + 1)
    y = np.arange(n)
    phase = 2.0 * np.pi * np.outer(y, u) / n
    q = np.concatenate([np.ones((n, 1)), np.cos(phase), np.sin(phase)], axis=1)
    gain = np.exp(-(u / s1) ** 2)
    w = np.concatenate([[1.0], 2.0 * gain, 2.0 * gain]) / n
    q32, ww = q.astype(np.float32), np.outer(w, w).astype(np.float32)
    q32.setflags(write=False)
    ww.setflags(write=False)
    return q32, ww


def _prefilter(channels: np.ndarray, workers: int | None) -> np.ndarray:
    """lear_gist's ``prefilt`` / ``color_prefilt`` on ``(C, N, N)`` float32 pixels."""
    x = np.log1p(channels)
    x = np.pad(x, ((0, 0), (_PAD, _PAD), (_PAD, _PAD)), mode="symmetric")
    n = x.shape[-1]
    if n % 2 == 0:
        q, ww = _lowpass_basis(n)

        def lowpass(a: np.ndarray) -> np.ndarray:
            # The filter keeps the mean exactly; filtering a - mean keeps the
            # float32 sums small.
            mean = a.mean(axis=(-2, -1), keepdims=True, dtype=np.float64).astype(np.float32)
            b = q.T @ (a - mean) @ q
            b *= ww
            return q @ b @ q.T + mean

        whitened = x - lowpass(x)
        m = whitened.mean(axis=0)
        contrast = np.sqrt(np.abs(lowpass(m * m)))
    else:  # an odd padded side (an odd image side): the FFT form (rare)
        import scipy.fft as sfft

        g = _lowpass(n)
        whitened = x - sfft.ifft2(sfft.fft2(x, workers=workers) * g, workers=workers).real
        m = whitened.mean(axis=0)
        smooth = sfft.ifft2(sfft.fft2(m * m, workers=workers) * g, workers=workers)
        contrast = np.sqrt(np.abs(smooth))
    out = whitened / (0.2 + contrast)
    return out[:, _PAD:-_PAD, _PAD:-_PAD]


def gist(
    image: np.ndarray,
    orientations_per_scale: Sequence[int] = (8, 8, 8, 8),
    n_blocks: int = 4,
    *,
    workers: int | None = None,
) -> np.ndarray:
    """GIST descriptor of a square image, as lear_gist computes it.

    Parameters
    ----------
    image : numpy.ndarray
        ``N x N`` (grayscale) or ``N x N x 3`` (colour) array of pixel values
        in 0..255 (uint8 or float).
    orientations_per_scale : sequence of int, optional
        Number of Gabor orientations at each scale, finest scale first.
        lear_gist uses (8, 8, 8, 8) for gray and (8, 8, 4) for colour.
    n_blocks : int, optional
        The responses are averaged over an ``n_blocks x n_blocks`` grid.
    workers : int, optional
        Threads for ``scipy.fft``, used only by the prefilter of an odd padded
        side (default: scipy's, i.e. 1 unless set with ``scipy.fft.set_workers``);
        every other transform is OpenCV's (:mod:`im2gps.features.dft`), on
        :func:`cv2.setNumThreads` threads.

    Returns
    -------
    numpy.ndarray
        ``(C * sum(orientations_per_scale) * n_blocks**2,)`` float32, with C = 1
        or 3, in lear_gist's layout (see the module docstring).

    Raises
    ------
    ValueError
        If the image is not square, not 2-D or 3-channel, too small for the
        grid, or has negative or non-finite values; or if the parameters are
        invalid.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        channels = image[None]
    elif image.ndim == 3 and image.shape[2] == 3:
        channels = np.moveaxis(image, -1, 0)
    else:
        raise ValueError(f"gist expects an N x N or N x N x 3 image, got shape {image.shape}")
    height, width = channels.shape[1:]
    if height != width:
        raise ValueError(
            f"gist needs a square image (lear_gist is only correct for square input), "
            f"got {width}x{height}; crop it first, e.g. with square_crop()"
        )
    orientations = _check_orientations(orientations_per_scale)
    n_blocks = _check_blocks(n_blocks)
    if width < max(n_blocks, 2):
        raise ValueError(f"image of {width}x{height} pixels is too small for {n_blocks} blocks")
    channels = channels.astype(np.float32)
    if not np.isfinite(channels).all() or channels.min() < 0:
        raise ValueError("gist expects finite pixel values in 0..255")

    size = width
    prefiltered = _prefilter(channels, workers)
    spectrum = dft.fft2(prefiltered)  # (C, N, N) complex64
    blocks = _gabor_blocks(spectrum, _planar_bank(size, orientations),
                           _pooling(size, n_blocks))  # (C, F, yb, xb) block means
    return np.ascontiguousarray(np.swapaxes(blocks, -1, -2), np.float32).reshape(-1)


@functools.lru_cache(maxsize=16)
def _planar_bank(size: int, orientations_per_scale: tuple[int, ...]) -> np.ndarray:
    """:func:`gabor_bank` with each gain twice, ``(F, N, N, 2)``: one for re, one for im.

    Multiplying a complex64 spectrum viewed as float32 pairs by this is a
    plain float32 product, about 1.5x faster than numpy's complex64-by-float32
    one (which casts the filter to complex first).
    """
    bank = np.repeat(gabor_bank(size, orientations_per_scale)[..., None], 2, axis=-1)
    bank.setflags(write=False)
    return bank


def _gabor_blocks(spectrum: np.ndarray, bank: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Block means of ``|ifft2(spectrum[c] * G_f)|``, ``(C, F, yb, xb)``.

    ``bank`` is :func:`_planar_bank`'s. One filter at a time, so that the
    product, the response, its modulus and its block means stay in cache; the
    inverse FFTs are OpenCV's DFT (Intel IPP in OpenCV's wheels), at 256 x 256
    complex64 about half the time of scipy's pocketfft on one thread
    (``benchmarks/gist_floor.py``). Their threads are OpenCV's
    (:func:`cv2.setNumThreads`; :mod:`im2gps.threads` sets them).
    """
    channels, size = spectrum.shape[0], spectrum.shape[-1]
    blocks = np.empty((channels, len(bank), len(pool), len(pool)), np.float32)
    planar_spectrum = spectrum.view(np.float32).reshape(channels, size, size, 2)
    product = np.empty((size, size, 2), np.float32)
    response = np.empty((size, size, 2), np.float32)
    energy = np.empty((size, size), np.float32)
    rows = np.empty((len(pool), size), np.float32)
    as_complex = response.view(np.complex64)[..., 0]
    pool_t = np.ascontiguousarray(pool.T)
    flags = cv2.DFT_INVERSE | cv2.DFT_SCALE | cv2.DFT_COMPLEX_OUTPUT
    for c in range(channels):  # 1 or 3 channels x a few dozen filters, not pixels
        for f in range(len(bank)):
            np.multiply(planar_spectrum[c], bank[f], out=product)
            cv2.dft(product, response, flags=flags)
            np.abs(as_complex, out=energy)
            np.matmul(pool, energy, out=rows)
            np.matmul(rows, pool_t, out=blocks[c, f])
    return blocks


def _check_orientations(orientations: Sequence[int]) -> tuple[int, ...]:
    values = tuple(int(o) for o in orientations)
    exact = all(o == v for o, v in zip(values, orientations, strict=True))
    if not values or not exact or min(values) < 1:
        raise ValueError(
            f"orientations_per_scale must be positive integers, one per scale, "
            f"got {orientations!r}"
        )
    return values


def _check_blocks(n_blocks: int) -> int:
    if int(n_blocks) != n_blocks or n_blocks < 1:
        raise ValueError(f"n_blocks must be a positive integer, got {n_blocks!r}")
    return int(n_blocks)


def square_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (Pillow bilinear) and crop the centre square.

    This is exactly how the inputs of the lear_gist reference data were made.

    Parameters
    ----------
    image : numpy.ndarray
        ``H x W x 3`` uint8 RGB image.
    size : int
        Side of the output square.

    Returns
    -------
    numpy.ndarray
        ``(size, size, 3)`` uint8.
    """
    height, width = image.shape[:2]
    scale = float(size) / min(width, height)
    new_w = max(size, int(round(width * scale)))
    new_h = max(size, int(round(height * scale)))
    pil = Image.fromarray(image)
    if (new_w, new_h) != (width, height):
        pil = pil.resize((new_w, new_h), Image.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.asarray(pil.crop((left, top, left + size, top + size)), dtype=np.uint8)


# sRGB (D65) to CIE XYZ, and the D65 / 2-degree white point, as scikit-image has them.
_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_D65 = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65, 2-degree observer) of sRGB values in ``[0, 1]``, float64.

    The formula and constants of :func:`skimage.color.rgb2lab` step by step
    (``tests/test_gist.py`` checks they agree exactly), written here because
    importing ``skimage.color`` takes a third of a second, longer than the rest
    of a one-photo GIST.
    """
    arr = np.array(rgb, dtype=np.float64)
    mask = arr > 0.04045
    arr[mask] = np.power((arr[mask] + 0.055) / 1.055, 2.4)
    arr[~mask] /= 12.92
    arr = (arr @ _XYZ_FROM_RGB.T) / _D65
    mask = arr > 0.008856
    arr[mask] = np.cbrt(arr[mask])
    arr[~mask] = 7.787 * arr[~mask] + 16.0 / 116.0
    x, y, z = arr[..., 0], arr[..., 1], arr[..., 2]
    return np.stack([116.0 * y - 16.0, 500.0 * (x - y), 200.0 * (y - z)], axis=-1)


def _lab_tiny(rgb: np.ndarray, size: int) -> np.ndarray:
    """``size x size x 3`` L*a*b* image: area average in sRGB, then L*a*b* (D65).

    The conversion is scikit-image's (:func:`srgb_to_lab`), exact; OpenCV's
    float one goes through tables and is off by up to ~0.3.
    """
    small = cv2.resize(rgb.astype(np.float32) / 255.0, (size, size), interpolation=cv2.INTER_AREA)
    return srgb_to_lab(small).astype(np.float32)  # L 0..100, a, b ~ -128..127


class Gist(FeatureExtractor):
    """GIST of the centre square of a photo, with an optional tiny L*a*b* image.

    Parameters
    ----------
    preset : {"im2gps", "lear"}, optional
        Base parameter set (see the module docstring); the other parameters,
        where given, override it.
    image_size : int, optional
        Side of the square the photo is resized and cropped to.
    orientations_per_scale : sequence of int, optional
        Gabor orientations per scale, finest first.
    n_blocks : int, optional
        Side of the pooling grid.
    color : bool, optional
        GIST of the R, G and B channels (True) or of the gray image (False).
    lab_size : int, optional
        Side of the L*a*b* tiny image appended to the GIST; 0 for none.
    color_weight : float, optional
        The tiny image is appended as ``color_weight * Lab / 100``.
    workers : int, optional
        Threads for ``scipy.fft`` in the prefilter of odd sizes (see :func:`gist`;
        not a feature parameter: it does not change the vectors and is not
        part of :meth:`get_params`).
    """

    name = "gist"
    distance = "l2"

    def __init__(
        self,
        preset: str = "im2gps",
        *,
        image_size: int | None = None,
        orientations_per_scale: Sequence[int] | None = None,
        n_blocks: int | None = None,
        color: bool | None = None,
        lab_size: int | None = None,
        color_weight: float | None = None,
        workers: int | None = None,
    ) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown GIST preset {preset!r}; choose from {', '.join(PRESETS)}")
        base = PRESETS[preset]
        self.preset = preset
        self.image_size = int(base["image_size"] if image_size is None else image_size)
        self.orientations_per_scale = _check_orientations(
            base["orientations_per_scale"] if orientations_per_scale is None
            else orientations_per_scale
        )
        self.n_blocks = _check_blocks(base["n_blocks"] if n_blocks is None else n_blocks)
        self.color = bool(base["color"] if color is None else color)
        self.lab_size = int(base["lab_size"] if lab_size is None else lab_size)
        self.color_weight = float(base["color_weight"] if color_weight is None else color_weight)
        self.workers = workers
        if self.image_size < max(8, self.n_blocks):
            raise ValueError(f"image_size {self.image_size} is too small")
        if not 0 <= self.lab_size <= self.image_size:
            raise ValueError(f"lab_size must be in 0..image_size, got {self.lab_size}")

    @property
    def dim(self) -> int:
        channels = 3 if self.color else 1
        gist_dim = channels * sum(self.orientations_per_scale) * self.n_blocks**2
        return gist_dim + 3 * self.lab_size**2

    def get_params(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "image_size": self.image_size,
            "orientations_per_scale": list(self.orientations_per_scale),
            "n_blocks": self.n_blocks,
            "color": self.color,
            "lab_size": self.lab_size,
            "color_weight": self.color_weight,
        }

    def extract(self, image: np.ndarray) -> np.ndarray:
        rgb = square_crop(image, self.image_size)
        if self.color:
            pixels = rgb
        else:
            pixels = np.round(rgb.astype(np.float64).mean(axis=2)).astype(np.uint8)
        descriptor = gist(pixels, self.orientations_per_scale, self.n_blocks,
                          workers=self.workers)
        if not self.lab_size:
            return descriptor
        lab = _lab_tiny(rgb, self.lab_size) * np.float32(self.color_weight / 100.0)
        return np.concatenate([descriptor, lab.reshape(-1)]).astype(np.float32, copy=False)

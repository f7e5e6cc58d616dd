"""2-D discrete Fourier transforms of stacks of planes, through OpenCV's DFT.

The texton and GIST features filter photos in the frequency domain. Their
transforms run here, on :func:`cv2.dft` (Intel IPP in OpenCV's wheels), and
not on ``scipy.fft``, for two measured reasons:

* importing ``scipy.fft`` costs about 0.1 s, a third of the start-up budget of
  a one-photo ``im2gps locate`` (issue 13; ``benchmarks/startup.py``), while
  OpenCV is imported by every feature anyway;
* OpenCV's DFT is as fast or faster on these sizes (at 256 x 256 complex64
  about half the time of scipy's pocketfft on one thread,
  ``benchmarks/gist_floor.py``; 33 planes of 288 x 288 in 13 ms against 18 ms).
  ``numpy.fft`` (the same pocketfft) was 2.5x slower on texton's stacks.

Conventions are numpy's ``fft2`` / ``ifft2`` over the last two axes: the
forward transform is unscaled with ``exp(-2 pi i (u y / H + v x / W))``, the
inverse is scaled by ``1 / (H W)``; results are complex64 and agree with
``scipy.fft`` to float32 rounding (``tests/test_texton.py``). Threads are
OpenCV's (:func:`cv2.setNumThreads`, set by :mod:`im2gps.threads`).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["fft2", "ifft2", "optimal_size"]


def _transform(a: np.ndarray, flags: int) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim < 2:
        raise ValueError(f"expected (..., H, W) planes, got shape {a.shape}")
    complex_in = np.iscomplexobj(a)
    a = np.ascontiguousarray(a, np.complex64 if complex_in else np.float32)
    h, w = a.shape[-2:]
    out = np.empty(a.shape, np.complex64)
    planes, results = a.reshape(-1, h, w), out.reshape(-1, h, w)
    for plane, result in zip(planes, results, strict=True):  # a few dozen planes at most
        source = plane.view(np.float32).reshape(h, w, 2) if complex_in else plane
        cv2.dft(source, result.view(np.float32).reshape(h, w, 2),
                flags=flags | cv2.DFT_COMPLEX_OUTPUT)
    return out


def fft2(a: np.ndarray) -> np.ndarray:
    """Forward 2-D DFT of every ``(H, W)`` plane of ``a``.

    Parameters
    ----------
    a : numpy.ndarray
        ``(..., H, W)`` real (computed as float32) or complex (as complex64) values.

    Returns
    -------
    numpy.ndarray
        ``(..., H, W)`` complex64, ``numpy.fft.fft2(a)`` up to float32 rounding.

    Raises
    ------
    ValueError
        If ``a`` has fewer than two dimensions.
    """
    return _transform(a, 0)


def ifft2(a: np.ndarray) -> np.ndarray:
    """Inverse 2-D DFT (scaled by ``1 / (H W)``) of every ``(H, W)`` plane of ``a``.

    Parameters
    ----------
    a : numpy.ndarray
        ``(..., H, W)`` complex values (computed as complex64).

    Returns
    -------
    numpy.ndarray
        ``(..., H, W)`` complex64, ``numpy.fft.ifft2(a)`` up to float32 rounding.

    Raises
    ------
    ValueError
        If ``a`` has fewer than two dimensions.
    """
    return _transform(np.asarray(a, np.complex64), cv2.DFT_INVERSE | cv2.DFT_SCALE)


def optimal_size(n: int) -> int:
    """Smallest size ``>= n`` whose DFT is fast: a product of 2, 3 and 5.

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"a transform size must be a positive integer, got {n!r}")
    return int(cv2.getOptimalDFTSize(int(n)))

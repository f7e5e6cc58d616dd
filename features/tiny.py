"""Tiny images: the photo shrunk to 16 x 16 colour pixels.

The simplest scene descriptor of IM2GPS (Hays & Efros, 2008): reduce the photo
to a 16 x 16 colour thumbnail and compare thumbnails by Euclidean distance, as
Torralba, Fergus & Freeman (2008) do with their 80 million 32 x 32 "tiny
images". Each thumbnail is normalised to zero mean and unit L2 norm, so the
feature ignores overall brightness and contrast and the squared L2 distance
between two of them is ``2 - 2 * correlation``.

The whole photo is resized to ``size x size`` without cropping: the aspect
ratio is squashed, not kept, the way Torralba et al.'s tiny images are made, so
every part of the scene is in the thumbnail. Resizing uses OpenCV's
``INTER_AREA`` (pixel-area averaging), which low-pass filters as it shrinks and
so does not alias.

The vector is the thumbnail in row-major ``(row, column, channel)`` order with
RGB channels: ``size * size * 3`` float32 values (768 for the default).

References
----------
.. [1] J. Hays and A. A. Efros, "IM2GPS: estimating geographic information from
   a single image", CVPR 2008.
.. [2] A. Torralba, R. Fergus and W. T. Freeman, "80 million tiny images: a
   large data set for nonparametric object and scene recognition", IEEE PAMI
   30(11), 2008.

Notes
-----
Departures from the paper:

* Hays & Efros do not say how the thumbnail is made or normalised. We follow
  Torralba et al.: the aspect ratio is squashed, and each image is normalised
  to zero mean and unit norm (one mean over all 768 values, not per channel).
* Resampling is OpenCV's ``INTER_AREA``; the original code's filter is not
  published.
* A constant image (zero variance) has no direction to normalise; it maps to
  the all-zero vector rather than NaN, so it is at distance 1 from every
  normalised thumbnail.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from im2gps.features.base import FeatureExtractor

__all__ = ["TinyImage"]

# Thumbnails whose norm after centring is below this are treated as constant.
_EPS = 1e-6


class TinyImage(FeatureExtractor):
    """16 x 16 colour thumbnail, zero mean and unit L2 norm (``"tiny"``).

    Parameters
    ----------
    size : int, optional
        Side of the square thumbnail in pixels (16 in IM2GPS, 32 in Torralba
        et al.). The descriptor has ``size * size * 3`` values.

    Examples
    --------
    >>> import numpy as np
    >>> tiny = TinyImage()
    >>> v = tiny(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    >>> v.shape, round(float(np.linalg.norm(v)), 3)
    ((768,), 1.0)
    """

    name = "tiny"
    distance = "l2"

    def __init__(self, size: int = 16) -> None:
        if int(size) != size or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        self.size = int(size)

    @property
    def dim(self) -> int:
        """Length of the descriptor, ``size * size * 3``."""
        return self.size * self.size * 3

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {"size": self.size}

    def extract(self, image: np.ndarray) -> np.ndarray:
        """Tiny image of one photo.

        Parameters
        ----------
        image : numpy.ndarray
            ``(H, W, 3)`` uint8 RGB photo.

        Returns
        -------
        numpy.ndarray
            ``(size * size * 3,)`` float32, zero mean and unit L2 norm (all
            zeros for a constant image).
        """
        thumb = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        vector = thumb.reshape(-1).astype(np.float32)
        vector -= vector.mean()
        norm = float(np.linalg.norm(vector))
        if norm < _EPS:
            return np.zeros(self.dim, np.float32)
        return vector / np.float32(norm)

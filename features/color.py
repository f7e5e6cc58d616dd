"""Colour histograms: a joint CIE L*a*b* histogram of 4 x 14 x 14 bins.

IM2GPS (Hays & Efros, 2008) describes the colours of a photo with a joint
histogram in CIE L*a*b* space with 4 bins of lightness and 14 bins each of a*
and b* (784 bins; fewer lightness bins because other features already measure
intensity) and compares histograms with the chi-square distance.

Pixels are converted with OpenCV (``cv2.cvtColor(..., COLOR_RGB2Lab)`` on
float32 RGB in [0, 1]: sRGB gamma removed, D65 white, L* in 0..100 and a*, b*
in their real units, roughly -128..127). Each channel is binned by its inner
edges, with open outer bins:

* L*: edges ``(55, 70, 90)`` -> 4 bins ``(<55, 55-70, 70-90, >=90)``;
* a* and b*: edges ``-30, -25, ..., 30`` (13 edges) -> 14 bins, the first
  holding everything below -30 and the last everything from 30 up.

A value equal to an edge falls in the bin above it (``np.digitize``'s
convention). The bin of a pixel is ``(iL * n_a + ia) * n_b + ib``, i.e. the
``(n_L, n_a, n_b)`` histogram flattened in C order, and the histogram is
normalised to sum to one.

References
----------
.. [1] J. Hays and A. A. Efros, "IM2GPS: estimating geographic information from
   a single image", CVPR 2008.

Notes
-----
Departures from the paper:

* The paper gives the bin counts (4 x 14 x 14) but not the bin edges; the
  edges above are our choice. a* and b* bins are 5 units wide over -30..30
  where the colours of natural photos concentrate, with open outer bins so
  that saturated colours are counted rather than dropped.
* Photos whose longer side exceeds ``max_side`` (320 px by default) are
  subsampled by keeping every ``k``-th pixel in each direction (``k`` =
  ``ceil(longer side / max_side)``, so 2 for a 640-px photo) before the
  conversion, for speed. Striding keeps real pixel colours (area averaging
  would invent mixed colours at edges), so the histogram is an unbiased
  estimate of the full-resolution one: on 40 photos of im2gps2k it differs
  from the full-resolution histogram by L1 0.02 on average (the median L1
  between two different photos is 1.7), and takes about 3 ms instead of
  14 ms. ``max_side=None`` uses every pixel.
* The original conversion code is not published; OpenCV's sRGB/D65 L*a*b*
  conversion is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from im2gps.features.base import FeatureExtractor

__all__ = ["ColorHistogram", "DEFAULT_L_EDGES", "DEFAULT_AB_EDGES"]

#: Inner bin edges of L* (0..100): 4 bins.
DEFAULT_L_EDGES: tuple[float, ...] = (55.0, 70.0, 90.0)
#: Inner bin edges of a* and b*: -30..30 in steps of 5, 14 bins.
DEFAULT_AB_EDGES: tuple[float, ...] = tuple(float(v) for v in range(-30, 31, 5))


def _edges(values: Sequence[float], what: str) -> tuple[float, ...]:
    edges = tuple(float(v) for v in values)
    if not edges or any(not math.isfinite(v) for v in edges):
        raise ValueError(f"{what} must be a non-empty sequence of finite numbers, got {values!r}")
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"{what} must be strictly increasing, got {values!r}")
    return edges


class ColorHistogram(FeatureExtractor):
    """Joint L*a*b* colour histogram, L1-normalised (``"color"``).

    Parameters
    ----------
    l_edges : sequence of float, optional
        Inner bin edges of L* (0..100); ``len(l_edges) + 1`` bins.
    a_edges : sequence of float, optional
        Inner bin edges of a*; ``len(a_edges) + 1`` bins.
    b_edges : sequence of float, optional
        Inner bin edges of b*; ``len(b_edges) + 1`` bins.
    max_side : int or None, optional
        Subsample photos whose longer side exceeds this by pixel striding
        (see Notes of the module); ``None`` keeps every pixel.

    Examples
    --------
    >>> import numpy as np
    >>> color = ColorHistogram()
    >>> h = color(np.full((32, 32, 3), (255, 0, 0), np.uint8))   # pure red
    >>> color.dim, float(h.sum()), int(h.argmax())
    (784, 1.0, 195)
    """

    name = "color"
    distance = "chi2"

    def __init__(
        self,
        l_edges: Sequence[float] = DEFAULT_L_EDGES,
        a_edges: Sequence[float] = DEFAULT_AB_EDGES,
        b_edges: Sequence[float] = DEFAULT_AB_EDGES,
        max_side: int | None = 320,
    ) -> None:
        self.l_edges = _edges(l_edges, "l_edges")
        self.a_edges = _edges(a_edges, "a_edges")
        self.b_edges = _edges(b_edges, "b_edges")
        if max_side is not None and (int(max_side) != max_side or max_side < 1):
            raise ValueError(f"max_side must be a positive integer or None, got {max_side!r}")
        self.max_side = None if max_side is None else int(max_side)
        self._edge_arrays = tuple(
            np.asarray(e, np.float32) for e in (self.l_edges, self.a_edges, self.b_edges)
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of bins of L*, a* and b*."""
        return (len(self.l_edges) + 1, len(self.a_edges) + 1, len(self.b_edges) + 1)

    @property
    def dim(self) -> int:
        """Length of the descriptor, the product of :attr:`shape`."""
        n_l, n_a, n_b = self.shape
        return n_l * n_a * n_b

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {
            "l_edges": list(self.l_edges),
            "a_edges": list(self.a_edges),
            "b_edges": list(self.b_edges),
            "max_side": self.max_side,
        }

    def extract(self, image: np.ndarray) -> np.ndarray:
        """Colour histogram of one photo.

        Parameters
        ----------
        image : numpy.ndarray
            ``(H, W, 3)`` uint8 RGB photo.

        Returns
        -------
        numpy.ndarray
            ``(dim,)`` float32, non-negative, summing to one.
        """
        if self.max_side is not None:
            step = math.ceil(max(image.shape[:2]) / self.max_side)
            if step > 1:
                image = image[::step, ::step]
        rgb = image.astype(np.float32)
        rgb *= np.float32(1.0 / 255.0)
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3)
        l_edges, a_edges, b_edges = self._edge_arrays
        _, n_a, n_b = self.shape
        # searchsorted(side="right") == np.digitize: a value on an edge goes to the bin above.
        index = np.searchsorted(l_edges, lab[:, 0], side="right")
        index = index * n_a + np.searchsorted(a_edges, lab[:, 1], side="right")
        index = index * n_b + np.searchsorted(b_edges, lab[:, 2], side="right")
        hist = np.bincount(index, minlength=self.dim).astype(np.float32)
        return hist / np.float32(index.size)

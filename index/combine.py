"""The combined distance: every feature mapped to L2, scaled, weighted, concatenated.

Hays & Efros (2008) compare each scene feature with its own distance (L2 for
tiny images and GIST, chi-square for the colour and texton histograms, L1 for
line histograms) and add the distances after normalising each feature so that
all contribute alike. To search all features with one FAISS L2 index we

1. map each feature so that L2 between mapped vectors stands in for its native
   distance (:meth:`FeatureExtractor.to_l2`: the square root of histograms);
2. divide each mapped block by its *scale*, the median nearest-neighbour L2
   distance between database photos in that block, so each feature's typical
   neighbour distance is 1;
3. multiply by an optional per-feature weight, and concatenate.

The squared L2 distance between combined vectors is then
``sum_f (w_f / s_f)^2 * d_f^2``: a weighted sum of the features' squared
(mapped) distances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import faiss
import numpy as np

from im2gps.features.base import FeatureExtractor

__all__ = ["median_nn_distance", "combine", "block_offsets"]


def median_nn_distance(vectors: np.ndarray, max_queries: int = 20_000, seed: int = 0) -> float:
    """Median distance from a database vector to its nearest other database vector.

    Parameters
    ----------
    vectors : numpy.ndarray
        ``(n, d)`` float32 mapped descriptors of the database.
    max_queries : int, optional
        At most this many (random, seeded) rows are used as queries.
    seed : int, optional
        Seed for that sample.

    Returns
    -------
    float
        The median L2 distance (1.0 where it is zero or undefined, so that a
        degenerate feature is left unscaled rather than blown up).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n < 2:
        return 1.0
    rows = np.arange(n)
    if n > max_queries:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_queries, replace=False))
    index = faiss.IndexFlatL2(vectors.shape[1])
    index.add(vectors)
    dist2, ids = index.search(vectors[rows], 2)
    # the nearest hit is normally the row itself; take the first hit that is not
    self_first = ids[:, 0] == rows
    nn = np.where(self_first, dist2[:, 1], dist2[:, 0])
    median = float(np.sqrt(max(np.median(nn), 0.0)))
    return median if median > 1e-12 else 1.0


def block_offsets(dims: Sequence[int]) -> np.ndarray:
    """Start column of each feature block in the combined vector (plus the end)."""
    return np.concatenate([[0], np.cumsum(dims)]).astype(np.int64)


def combine(
    matrices: Mapping[str, np.ndarray],
    extractors: Mapping[str, FeatureExtractor],
    scales: Mapping[str, float],
    weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Concatenate mapped, scaled and weighted feature blocks.

    Parameters
    ----------
    matrices : mapping of str to numpy.ndarray
        Raw descriptors per feature, ``(n, dim_f)``; the order of
        ``extractors`` sets the block order.
    extractors : mapping of str to FeatureExtractor
        The extractors, for their :meth:`~FeatureExtractor.to_l2` mapping.
    scales : mapping of str to float
        Per-feature scale (median nearest-neighbour distance).
    weights : mapping of str to float, optional
        Per-feature weight; 1 where absent.

    Returns
    -------
    numpy.ndarray
        ``(n, sum dim_f)`` float32, C-contiguous.
    """
    weights = weights or {}
    blocks = []
    for name, extractor in extractors.items():
        factor = float(weights.get(name, 1.0)) / float(scales[name])
        blocks.append(extractor.to_l2(matrices[name]) * np.float32(factor))
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)

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

Both steps also run out of core: :func:`median_nn_distance` streams a
(memory-mapped) matrix through FAISS in row chunks, and
:func:`combined_chunks` yields the combined vectors chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import faiss
import numpy as np

from im2gps.features.base import FeatureExtractor

__all__ = ["median_nn_distance", "combine", "combined_chunks", "block_offsets", "chunk_rows_for"]

#: Bytes of float32 rows a chunk of an out-of-core pass holds at most, by default.
CHUNK_BYTES = 256 << 20


def chunk_rows_for(dim: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Rows of ``dim`` float32 values that fit in ``chunk_bytes`` (at least 1024)."""
    return max(1024, chunk_bytes // (4 * max(int(dim), 1)))


def median_nn_distance(
    vectors: np.ndarray,
    max_queries: int = 20_000,
    seed: int = 0,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    chunk_rows: int | None = None,
) -> float:
    """Median distance from a database vector to its nearest other database vector.

    Parameters
    ----------
    vectors : numpy.ndarray
        ``(n, d)`` float32 mapped descriptors of the database (or raw ones,
        with ``transform``); may be memory-mapped.
    max_queries : int, optional
        At most this many (random, seeded) rows are used as queries.
    seed : int, optional
        Seed for that sample.
    transform : callable, optional
        Maps rows of ``vectors`` to the space measured (e.g.
        :meth:`FeatureExtractor.to_l2`), applied chunk by chunk.
    chunk_rows : int, optional
        Rows held in memory at once (default: about 256 MiB). A matrix with
        more rows is streamed through FAISS chunk by chunk, keeping each
        query's two nearest rows so far; the result is the same.

    Returns
    -------
    float
        The median L2 distance (1.0 where it is zero or undefined, so that a
        degenerate feature is left unscaled rather than blown up).
    """
    transform = transform or (lambda block: block)
    n = len(vectors)
    if n < 2:
        return 1.0
    rows = np.arange(n)
    if n > max_queries:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_queries, replace=False))
    chunk_rows = chunk_rows or chunk_rows_for(vectors.shape[1])
    if n <= chunk_rows:
        data = np.ascontiguousarray(transform(np.asarray(vectors)), dtype=np.float32)
        index = faiss.IndexFlatL2(data.shape[1])
        index.add(data)
        dist2, ids = index.search(data[rows], 2)
    else:
        queries = np.ascontiguousarray(transform(np.asarray(vectors[rows])), dtype=np.float32)
        dist2 = np.full((len(rows), 2), np.inf, np.float32)
        ids = np.full((len(rows), 2), -1, np.int64)
        for start in range(0, n, chunk_rows):
            block = np.ascontiguousarray(transform(np.asarray(vectors[start:start + chunk_rows])),
                                         dtype=np.float32)
            d2, i = faiss.knn(queries, block, min(2, len(block)))
            both_d = np.concatenate([dist2, d2], axis=1)
            both_i = np.concatenate([ids, np.where(i >= 0, i + start, -1)], axis=1)
            order = np.argsort(both_d, axis=1, kind="stable")[:, :2]
            dist2 = np.take_along_axis(both_d, order, axis=1)
            ids = np.take_along_axis(both_i, order, axis=1)
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


def combined_chunks(
    matrices: Mapping[str, np.ndarray],
    extractors: Mapping[str, FeatureExtractor],
    scales: Mapping[str, float],
    weights: Mapping[str, float] | None = None,
    chunk_rows: int | None = None,
) -> Iterator[np.ndarray]:
    """:func:`combine` over (memory-mapped) matrices, one chunk of rows at a time.

    Parameters
    ----------
    matrices, extractors, scales, weights
        As for :func:`combine`; the matrices may be memory-mapped.
    chunk_rows : int, optional
        Rows per chunk (default: about 256 MiB of combined vectors).

    Yields
    ------
    numpy.ndarray
        ``(rows, sum dim_f)`` float32 combined vectors, in row order.
    """
    n = len(next(iter(matrices.values())))
    dim = sum(int(m.shape[1]) for m in matrices.values())
    chunk_rows = chunk_rows or chunk_rows_for(dim)
    for start in range(0, n, chunk_rows):
        yield combine({name: np.asarray(m[start:start + chunk_rows])
                       for name, m in matrices.items()}, extractors, scales, weights)

"""FAISS indexes at scale: any factory string, trained on a sample, filled chunk by chunk.

The exact index (``"Flat"``) holds every combined vector in memory: 11 kB per
photo for the five classical features. Beyond a few million photos a
compressed index is needed; any FAISS factory string works, e.g.
``"IVF4096,PQ64"`` (inverted lists of product-quantised codes),
``"OPQ64,IVF4096,PQ64"`` (with a learned rotation), ``"PCA256,IVF4096,PQ64"``
(with PCA reduction first) or ``"HNSW32"`` (a graph). This module

* trains an index on a seeded sample of the database (:func:`train_faiss_index`)
  and adds the vectors chunk by chunk (:func:`add_chunks`), so the database
  never has to sit in memory twice, or at all;
* passes the query settings ``nprobe`` (inverted lists visited) and
  ``efSearch`` (HNSW beam width) to FAISS wherever they sit in the index, per
  search call, without changing the index (:func:`search_parameters`);
* re-ranks a short list of candidates with exact distances
  (:func:`rerank`), computed from vectors the caller reads, e.g. from the
  memory-mapped feature files of an index directory, which is how a
  compressed index recovers the exact top-k;
* measures memory: the fixed bytes of the trained, empty index (PCA matrix,
  codebooks, coarse centroids) and the bytes each added photo costs
  (:func:`index_bytes`).

References
----------
.. [1] H. Jegou, M. Douze and C. Schmid, "Product quantization for nearest
   neighbor search", IEEE TPAMI 33(1), 2011.
.. [2] T. Ge, K. He, Q. Ke and J. Sun, "Optimized product quantization",
   IEEE TPAMI 36(4), 2014.
.. [3] Y. A. Malkov and D. A. Yashunin, "Efficient and robust approximate
   nearest neighbor search using hierarchical navigable small world graphs",
   IEEE TPAMI 42(4), 2020.
.. [4] J. Johnson, M. Douze and H. Jegou, "Billion-scale similarity search
   with GPUs", IEEE Trans. Big Data, 2019 (FAISS).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faiss
import numpy as np

from im2gps.errors import UsageError

__all__ = [
    "SEARCH_PARAMS",
    "FactoryError",
    "add_chunks",
    "check_factory",
    "default_search",
    "index_bytes",
    "make_faiss_index",
    "rerank",
    "search",
    "search_parameters",
    "search_settings",
    "train_faiss_index",
    "training_rows",
]

#: Query settings this package passes to FAISS, by our name -> FAISS's name.
SEARCH_PARAMS = {"nprobe": "nprobe", "ef_search": "efSearch"}


class FactoryError(UsageError):
    """A FAISS factory string that cannot index vectors of the given dimension (usage error)."""


def _divisors_near(dim: int, m: int, count: int = 3) -> list[int]:
    """Divisors of ``dim`` closest to ``m`` (sub-quantizer counts that would fit)."""
    divisors = [d for d in range(1, min(dim, 4 * m) + 1) if dim % d == 0 and d > 1]
    return sorted(sorted(divisors, key=lambda d: (abs(d - m), d))[:count])


def _check_parts(factory: str, tokens: list[str], dim: int, n_train: int | None) -> None:
    """Refuse sizes FAISS would fail on (or, worse, accept and answer wrongly with)."""
    for token in tokens:
        if re.fullmatch(r"IDMap2?", token):
            raise FactoryError(f"index type {factory!r}: {token} is not supported (im2gps "
                               "numbers the photos itself); leave it out")
        for kind, number in re.findall(r"(PCAW?R?|RR|OPQ|PQ|IVF|IMI2x|HNSW|NSG|LSH|RQ|SQ)(\d+)",
                                       token):
            if int(number) == 0 or (kind == "HNSW" and int(number) < 2):
                raise FactoryError(f"index type {factory!r}: {kind}{number} in {token!r}: the "
                                   f"number after {kind} must be at least "
                                   f"{2 if kind == 'HNSW' else 1}")
    if n_train is None:
        return
    d = dim
    for token in tokens:
        pca = re.fullmatch(r"PCAW?R?(\d+)", token)
        if pca:
            out = int(pca[1])
            if out > d:
                raise FactoryError(f"index type {factory!r}: {token} cannot output {out} "
                                   f"dimensions from {d}; use PCA{min(d, 256)} or less")
            if out > n_train:
                raise FactoryError(
                    f"index type {factory!r}: {token} is learned from {n_train} training "
                    f"photos, which give at most {n_train} dimensions; use PCA{n_train} or "
                    "less, or index more photos")
            d = out
            continue
        ivf = re.match(r"IVF(\d+)", token)
        if ivf and int(ivf[1]) > n_train:
            raise FactoryError(
                f"index type {factory!r}: {token} learns {ivf[1]} cluster centres from "
                f"{n_train} training photos, but needs at least one photo per centre (FAISS "
                f"advises {TRAIN_PER_CENTROID}); use IVF{max(1, n_train // TRAIN_PER_CENTROID)} "
                "or fewer lists")
        for bits_token in re.findall(r"(?:^|_|,)O?PQ\d+(?:x(\d+))?", token):
            bits = int(bits_token) if bits_token else 8
            if 2 ** bits > n_train:
                raise FactoryError(
                    f"index type {factory!r}: {token} learns {2 ** bits} centroids per "
                    f"sub-quantizer from {n_train} training photos, but needs at least "
                    f"{2 ** bits}; use a Flat index or SQ8 for so few photos, or index more")


def check_factory(factory: str, dim: int, what: str = "the vectors",
                  n_train: int | None = None) -> None:
    """Check a FAISS factory string against the vector dimension, before any work.

    A product quantizer ``PQ<M>`` (or a rotation ``OPQ<M>``) splits each
    vector into ``M`` equal sub-vectors, so the dimension reaching it must be
    a multiple of ``M``; FAISS finds out only when it builds the index, and a
    build would find out after extracting every photo's features. The
    dimension is followed through dimension-changing prefixes (``PCA<d>``,
    ``PCAW<d>``, ``PCAR<d>``, ``RR<d>``, ``OPQ<M>_<d>``).

    Parameters
    ----------
    factory : str
        FAISS factory string.
    dim : int
        Dimension of the vectors to index.
    what : str, optional
        What the vectors are, for the message.
    n_train : int, optional
        Training vectors available (known before extraction from the number of
        photos): IVF lists, PQ centroids and PCA outputs that need more are
        refused too.

    Raises
    ------
    FactoryError
        The string does not fit ``dim`` (the message offers fixes: an OPQ or
        PCA prefix to a multiple of ``M``, or an ``M`` that divides the
        dimension), or FAISS cannot make an index from it at all.
    """
    d = int(dim)
    tokens = [t.strip() for t in factory.split(",")]
    _check_parts(factory, tokens, d, n_train)
    last = -1  # position of the last dimension-changing transform seen
    for position, token in enumerate(tokens):
        match = re.fullmatch(r"(?:PCAW?R?|RR)(\d+)", token)
        if match:
            d, last = int(match[1]), position
            continue
        opq = re.fullmatch(r"OPQ(\d+)(?:_(\d+))?", token)
        pq = re.search(r"(?:^|_)PQ(\d+)", token) if not opq else None
        if not (opq or pq):
            continue
        m = int((opq or pq)[1])
        reaching = int(opq[2]) if opq and opq[2] else d
        if reaching % m == 0:
            d, last = reaching, (position if opq else last)
            continue
        target = max(m, (reaching // m) * m)

        def spell(replace: dict[int, str], insert: str | None = None, at: int = last + 1
                  ) -> str:
            out = [replace.get(i, t) for i, t in enumerate(tokens)]
            if insert is not None:
                out.insert(at, insert)
            return "'" + ",".join(out) + "'"

        if opq:
            fixes = [spell({position: f"OPQ{m}_{target}"})
                     + f" (rotate and reduce to {target} dimensions)"]
        else:
            fixes = [spell({}, f"OPQ{m}_{target}")
                     + f" (a learned rotation to {target} dimensions first)"]
            if last >= 0 and tokens[last].startswith("PCA"):
                fixes.append(spell({last: re.sub(r"\d+$", str(target), tokens[last])}))
            else:
                fixes.append(spell({}, f"PCA{target}") + f" (PCA to {target} dimensions first)")
            fits = [spell({position: token.replace(f"PQ{m}", f"PQ{n}", 1)})
                    for n in _divisors_near(d, m)]
            if fits:
                fixes.append(f"a number of sub-quantizers that divides {d}: "
                             + " or ".join(fits))
        raise FactoryError(
            f"index type {factory!r}: {token} splits each vector into {m} sub-vectors, so "
            f"the dimension reaching it must be a multiple of {m}, but {what} have "
            f"{reaching} dimensions there. Use instead " + "; or ".join(fixes))
    try:
        faiss.index_factory(int(dim), factory, faiss.METRIC_L2)
    except RuntimeError as err:
        raise FactoryError(f"index type {factory!r}: FAISS cannot make this index "
                           f"({_faiss_message(err)})") from None


def training_rows(n: int, max_train: int, seed: int = 0) -> np.ndarray:
    """Sorted row numbers of the seeded training sample (all rows if ``n <= max_train``)."""
    if n <= max_train:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_train, replace=False))


def train_faiss_index(factory: str, dim: int,
                      sample: np.ndarray | Callable[[], np.ndarray] | None = None) -> Any:
    """An empty FAISS L2 index from a factory string, trained on ``sample`` if it needs it.

    Parameters
    ----------
    factory : str
        FAISS index factory string (``"Flat"``, ``"IVF4096,PQ64"``, ``"HNSW32"``, ...).
    dim : int
        Dimension of the vectors.
    sample : numpy.ndarray or callable, optional
        ``(m, dim)`` float32 training vectors, or a function returning them
        (called only if the index needs training); needed unless it needs none.

    Returns
    -------
    faiss.Index

    Raises
    ------
    FactoryError
        A factory string FAISS does not understand or that does not fit ``dim``
        (see :func:`check_factory`).
    ValueError
        A sample too small to train it.
    """
    check_factory(factory, dim)
    index = faiss.index_factory(int(dim), factory, faiss.METRIC_L2)
    _no_polysemous_training(index)
    if not index.is_trained:
        if callable(sample):
            sample = sample()
        if sample is None or len(sample) == 0:
            raise ValueError(f"index {factory!r} must be trained, and no training sample given")
        keep, wanted = _quiet_clustering(index)
        if len(sample) < wanted:
            print(f"im2gps: training {factory} on {len(sample):,} photos; its clusterings would "
                  f"like at least {wanted:,} ({TRAIN_PER_CENTROID} per centroid) for their "
                  "best quality", file=sys.stderr)
        try:
            index.train(np.ascontiguousarray(sample, dtype=np.float32))
        except RuntimeError as err:
            raise ValueError(f"cannot train {factory!r} on {len(sample)} vectors: "
                             f"{_faiss_message(err)}") from None
        finally:
            for transform, _ in keep:  # OPQ's training quantizer is not part of the index
                transform.pq = None
    return index


#: Training points per centroid FAISS asks for (``ClusteringParameters.min_points_per_centroid``).
TRAIN_PER_CENTROID = 39


def _quiet_clustering(index: Any) -> tuple[list[tuple[Any, Any]], int]:
    """Stop FAISS's clusterings warning (from C++) about small samples; what they would like.

    FAISS prints ``WARNING clustering N points to K centroids: please provide
    at least ...`` for every clustering (each PQ sub-quantizer, each OPQ
    iteration, the IVF lists) trained on fewer than ``min_points_per_centroid
    * K`` points: 65 lines for one small ``OPQ,IVF,PQ`` build. That minimum is
    lowered to 1 on every clustering of the index (the training itself is
    unchanged: FAISS only warns), and the caller says it once instead.

    Returns
    -------
    keep : list of (OPQMatrix, ProductQuantizer)
        Quantizers lent to OPQ transforms for their training; keep them alive
        until it ends, then unset them.
    wanted : int
        Training points the largest clustering would like
        (``TRAIN_PER_CENTROID`` per centroid).
    """
    keep: list[tuple[Any, Any]] = []
    wanted = 0

    def quiet(pq: Any) -> None:
        nonlocal wanted
        pq.cp.min_points_per_centroid = 1
        wanted = max(wanted, TRAIN_PER_CENTROID * int(pq.ksub))

    level = faiss.downcast_index(index)
    while level is not None:
        if isinstance(level, faiss.IndexPreTransform):
            for i in range(level.chain.size()):
                transform = faiss.downcast_VectorTransform(level.chain.at(i))
                if isinstance(transform, faiss.OPQMatrix) and transform.pq is None:
                    pq = faiss.ProductQuantizer(transform.d_out, transform.M, 8)
                    quiet(pq)
                    transform.pq = pq
                    keep.append((transform, pq))
        if isinstance(level, faiss.IndexIVF):
            level.cp.min_points_per_centroid = 1
            wanted = max(wanted, TRAIN_PER_CENTROID * int(level.nlist))
        if isinstance(getattr(level, "pq", None), faiss.ProductQuantizer):
            quiet(level.pq)
        inner = getattr(level, "index", None) if isinstance(level, faiss.IndexPreTransform) \
            else None
        level = faiss.downcast_index(inner) if inner is not None else None
    return keep, wanted


def _no_polysemous_training(index: Any) -> None:
    """Skip FAISS's polysemous training of PQ codes, on by default in factory strings.

    It only reorders each sub-quantizer's centroids so that Hamming distances
    between codes mimic real ones, which helps only a polysemous search
    (``polysemous_ht``), never used here; the distances, hence the results,
    are the same. It is costly: 47 s of the 48 s it takes to train ``PQ59`` on
    1,721 vectors of 2,773 dimensions (the im2gps2k database before its 2026-11-30
    correction).
    """
    level = faiss.downcast_index(index)
    while level is not None:
        if hasattr(level, "do_polysemous_training"):
            level.do_polysemous_training = False
        inner = None
        for name in ("index", "base_index", "storage"):
            inner = getattr(level, name, None)
            if inner is not None:
                break
        level = faiss.downcast_index(inner) if inner is not None else None


def add_chunks(index: Any, chunks: Iterable[np.ndarray]) -> Any:
    """Add vectors to ``index`` one chunk at a time (ids follow the order of the chunks)."""
    for chunk in chunks:
        if len(chunk):
            index.add(np.ascontiguousarray(chunk, dtype=np.float32))
    return index


def make_faiss_index(vectors: np.ndarray, factory: str = "Flat", seed: int = 0,
                     max_train: int = 200_000) -> Any:
    """A FAISS L2 index over in-memory ``vectors``, trained on a seeded sample.

    Parameters
    ----------
    vectors : numpy.ndarray
        ``(n, d)`` float32 combined vectors.
    factory : str, optional
        FAISS index factory string (``"Flat"`` is exact; e.g. ``"IVF256,PQ32"``,
        ``"HNSW32"``, ``"PCA128,IVF1024,PQ32"`` compress).
    seed : int, optional
        Seed of the training sample.
    max_train : int, optional
        At most this many vectors train the index.
    """
    index = train_faiss_index(factory, vectors.shape[1],
                              lambda: vectors[training_rows(len(vectors), max_train, seed)])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def search_parameters(index: Any, nprobe: int | None = None, ef_search: int | None = None
                      ) -> tuple[Any, list[Any]]:
    """FAISS per-call search parameters carrying ``nprobe`` / ``efSearch`` to where they apply.

    Parameters
    ----------
    index : faiss.Index
        Any index; the IVF or HNSW level is found inside pre-transforms (PCA,
        OPQ) and refinement wrappers.
    nprobe : int, optional
        Inverted lists visited per query (IVF indexes).
    ef_search : int, optional
        Beam width of the graph search (HNSW indexes).

    Returns
    -------
    params : faiss.SearchParameters or None
        To pass as ``index.search(x, k, params=params)``; None where no setting is given.
    keep : list
        The nested parameter objects; keep it alive while ``params`` is used
        (FAISS holds bare pointers to them).

    Raises
    ------
    ValueError
        A setting that this kind of index does not have, or a value below 1.
    """
    given = {name: value for name, value in (("nprobe", nprobe), ("ef_search", ef_search))
             if value is not None}
    for name, value in given.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")
    if not given:
        return None, []
    keep: list[Any] = []
    used: set[str] = set()

    def build(level: Any) -> Any:
        level = faiss.downcast_index(level)
        inner = None
        if isinstance(level, faiss.IndexPreTransform):
            inner = build(level.index)
            params = inner and faiss.SearchParametersPreTransform(index_params=inner)
        elif isinstance(level, faiss.IndexRefine):
            inner = build(level.base_index)
            params = inner and faiss.IndexRefineSearchParameters(
                base_index_params=inner, k_factor=level.k_factor)
        elif isinstance(level, faiss.IndexIVF) and "nprobe" in given:
            used.add("nprobe")
            params = faiss.SearchParametersIVF(nprobe=int(given["nprobe"]))
        elif isinstance(level, faiss.IndexHNSW) and "ef_search" in given:
            used.add("ef_search")
            params = faiss.SearchParametersHNSW(efSearch=int(given["ef_search"]))
        else:
            params = None
        keep.extend(p for p in (inner, params) if p is not None)
        return params

    params = build(index)
    unused = sorted(set(given) - used)
    if unused:
        raise ValueError(
            f"{' and '.join(unused)} does not apply to this index ({_describe(index)}): "
            "nprobe applies to IVF indexes, ef_search to HNSW ones")
    return params, keep


def rerank(queries: np.ndarray, ids: np.ndarray, vectors_of: Callable[[np.ndarray], np.ndarray],
           k: int, max_rows: int = 1 << 14, threads: int | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Exact squared L2 distances to a short list of candidates, best ``k`` first.

    Parameters
    ----------
    queries : numpy.ndarray
        ``(q, d)`` float32 query vectors.
    ids : numpy.ndarray
        ``(q, s)`` candidate rows per query from an approximate search (``-1``: none).
    vectors_of : callable
        Maps sorted unique row numbers ``(u,)`` to their ``(u, d)`` float32
        exact vectors (e.g. read from memory-mapped feature files).
    k : int
        Neighbours to keep per query.
    max_rows : int, optional
        At most about this many candidate vectors are read at once (queries
        are processed in blocks), which bounds the memory of a batch.
    threads : int, optional
        Threads reading candidate vectors (default: FAISS's thread count);
        ``vectors_of`` must be safe to call from several threads, as reading
        memory-mapped files is.

    Returns
    -------
    dist2 : numpy.ndarray
        ``(q, k)`` float32 exact squared distances, ascending (``inf`` where
        the short list was shorter than ``k``).
    ids : numpy.ndarray
        ``(q, k)`` int64 rows (``-1`` there).
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    ids = np.asarray(ids, dtype=np.int64)
    q, s = ids.shape
    k = int(k)
    out_d = np.full((q, k), np.inf, np.float32)
    out_i = np.full((q, k), -1, np.int64)
    block = max(1, max_rows // max(s, 1))
    threads = threads or faiss.omp_get_max_threads()
    # threads pay off only for many rows (see _rerank_block): no pool for a short list
    pool = ThreadPoolExecutor(threads) if threads > 1 and ids.size >= 1024 else None
    try:
        for start in range(0, q, block):
            _rerank_block(queries[start:start + block], ids[start:start + block], vectors_of,
                          out_d[start:start + block], out_i[start:start + block], pool, threads)
    finally:
        if pool is not None:
            pool.shutdown()
    return out_d, out_i


def _rerank_block(queries: np.ndarray, part: np.ndarray, vectors_of: Callable, out_d: np.ndarray,
                  out_i: np.ndarray, pool: ThreadPoolExecutor | None, threads: int) -> None:
    """Re-rank one block of queries into ``out_d`` / ``out_i`` (views of the results)."""
    k, s = out_d.shape[1], part.shape[1]
    valid = part >= 0
    unique, local = np.unique(part[valid], return_inverse=True)
    if not len(unique):
        return
    if pool is not None and len(unique) >= 1024:
        # reading rows is memory-bound and releases the GIL: split it over threads
        vectors = np.concatenate(list(pool.map(vectors_of, np.array_split(unique, threads))))
    else:
        vectors = vectors_of(unique)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    subset = np.full(part.shape, -1, np.int64)
    subset[valid] = local
    # FAISS computes only the listed pairs (threaded, no (q, s, d) gather in numpy).
    dist2 = np.empty(part.shape, np.float32)
    queries = np.ascontiguousarray(queries)
    faiss.fvec_L2sqr_by_idx(faiss.swig_ptr(dist2), faiss.swig_ptr(queries),
                            faiss.swig_ptr(vectors), faiss.swig_ptr(subset),
                            vectors.shape[1], len(part), s)
    dist2[~valid] = np.inf
    keep = min(k, s)
    order = np.argsort(dist2, axis=1, kind="stable")[:, :keep]
    out_d[:, :keep] = np.take_along_axis(dist2, order, axis=1)
    chosen = np.take_along_axis(part, order, axis=1)
    chosen[~np.isfinite(out_d[:, :keep])] = -1
    out_i[:, :keep] = chosen


def search(index: Any, queries: np.ndarray, k: int, nprobe: int | None = None,
           ef_search: int | None = None, rerank_size: int | None = None,
           vectors_of: Callable[[np.ndarray], np.ndarray] | None = None,
           ) -> tuple[np.ndarray, np.ndarray]:
    """Search ``index`` with query settings and optional exact re-ranking.

    Parameters
    ----------
    index : faiss.Index
        The index.
    queries : numpy.ndarray
        ``(q, d)`` float32 queries.
    k : int
        Neighbours per query.
    nprobe, ef_search : int, optional
        Query settings (see :func:`search_parameters`); None keeps the index's own.
    rerank_size : int, optional
        Length of the short list re-ranked with exact distances (at least
        ``k``; None or 0: no re-ranking).
    vectors_of : callable, optional
        Exact vectors of given rows, needed for re-ranking (see :func:`rerank`).

    Returns
    -------
    dist2, ids : numpy.ndarray
        ``(q, k)`` squared distances (exact where re-ranked) and rows.
    """
    params, _keep = search_parameters(index, nprobe=nprobe, ef_search=ef_search)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if not rerank_size:
        return index.search(queries, k, params=params)
    if vectors_of is None:
        raise ValueError("re-ranking needs the exact vectors (vectors_of)")
    shortlist = min(max(int(rerank_size), k), index.ntotal)
    _, candidates = index.search(queries, shortlist, params=params)
    return rerank(queries, candidates, vectors_of, k)


def index_bytes(index: Any, trained_bytes: int | None = None) -> dict[str, float]:
    """Memory of ``index`` as FAISS serialises it: fixed part and per photo.

    Parameters
    ----------
    index : faiss.Index
        A filled index.
    trained_bytes : int, optional
        Serialised size of the same index trained but empty (measured by
        the caller before adding; computed here from a reset copy otherwise).

    Returns
    -------
    dict
        ``total`` bytes, ``trained`` bytes (fixed: transforms, codebooks,
        centroids), ``per_photo`` = (total - trained) / ntotal (what each
        photo adds: codes, ids, graph links) and ``total_per_photo``.
    """
    total = int(faiss.serialize_index(index).size)
    if trained_bytes is None:
        empty = faiss.clone_index(index)
        empty.reset()
        trained_bytes = int(faiss.serialize_index(empty).size)
    n = max(int(index.ntotal), 1)
    return {"total": total, "trained": int(trained_bytes),
            "per_photo": (total - trained_bytes) / n, "total_per_photo": total / n}


def _describe(index: Any) -> str:
    names = []
    level = faiss.downcast_index(index)
    while level is not None:
        names.append(type(level).__name__)
        inner = getattr(level, "index", None) or getattr(level, "base_index", None)
        level = faiss.downcast_index(inner) if inner is not None else None
    return " > ".join(names)


def _faiss_message(err: RuntimeError) -> str:
    """The useful line of a FAISS C++ exception."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    line = next((line for line in lines if line.startswith("Error")), lines[-1] if lines
                else str(err))
    # "Error in <C++ signature> at <source file>:<line>: <what>" -> "<what>"
    match = re.search(r"\.(?:cpp|h):\d+:\s*(.*)$", line)
    return match.group(1) if match else line


#: Neighbours a query asks for by default (``Im2GPS(k=...)``, ``locate --k``).
DEFAULT_K = 120
#: Default short list re-ranked by a compressed index, in neighbours asked for: 4 x 120 = 480,
#: the setting measured at 1M photos (benchmarks/results/scale.md, benchmarks/locate_scale.py).
RERANK_FACTOR = 4
#: Default share of an IVF index's lists visited: 1/16 (nprobe 64 of IVF1024 at 100k photos
#: kept 0.90 of the exact top-10 in benchmarks/results/scale.md).
NPROBE_SHARE = 16


def default_search(index: Any, k: int = DEFAULT_K) -> dict[str, int]:
    """Query settings for a compressed index built without any (stored in its manifest).

    ``rerank``: a short list of ``RERANK_FACTOR * k`` candidates re-ranked with
    the re-ranking vectors. ``nprobe`` (IVF): enough inverted lists to hold that
    short list on average, and at least one list in ``NPROBE_SHARE``, capped at
    the number of lists -- FAISS's own default (1 list) returns fewer than ``k``
    neighbours whenever a list holds fewer than ``k`` photos.

    Parameters
    ----------
    index : faiss.Index
        The trained, filled index.
    k : int, optional
        Neighbours a query is expected to ask for.

    Returns
    -------
    dict of str to int
        ``{}`` for an exact (``Flat``) index.
    """
    if isinstance(faiss.downcast_index(index), faiss.IndexFlat):
        return {}
    rerank_size = RERANK_FACTOR * int(k)
    settings = {"rerank": rerank_size}
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:  # no inverted lists (PQ, HNSW, ...)
        return settings
    nlist = int(ivf.nlist)
    per_list = max(int(index.ntotal), 1) / nlist
    wanted = max(int(np.ceil(rerank_size / per_list)), int(np.ceil(nlist / NPROBE_SHARE)), 1)
    settings["nprobe"] = min(nlist, wanted)
    return settings


def search_settings(params: Mapping[str, Any] | None) -> dict[str, int]:
    """Keep the known, set query settings of a mapping (``nprobe``, ``ef_search``, ``rerank``)."""
    keys = (*SEARCH_PARAMS, "rerank")
    return {key: int(value) for key, value in (params or {}).items()
            if key in keys and value is not None}

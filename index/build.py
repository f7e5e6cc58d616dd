"""Building an index directory from a photo collection, atomically and resumably.

:func:`build_index` runs the pipeline photos -> features -> combined vectors ->
FAISS, checkpointing the extraction in ``<out>.partial/`` so that running the
same build again after an interruption resumes it, and writing the final
directory under a temporary name that is renamed to ``out`` only when
complete: there is never a half-written index under the final name.

Nothing needs the whole database in memory: the features are assembled from
the checkpoints into memory-mapped ``.npy`` files inside the unfinished
directory, the per-feature scales are measured by streaming them through
FAISS, a compressed FAISS index is trained on a seeded sample, and the
combined vectors are computed and added chunk by chunk. Only an exact
(``Flat``) index keeps every vector in memory, by definition; a compressed
one (``--index-type "OPQ64_256,IVF4096,PQ64"``, see :mod:`im2gps.index.ann`)
holds a few dozen bytes per photo. The feature extraction itself runs in
local processes or, with ``scheduler``, on a Dask cluster
(:mod:`im2gps.index.cluster`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

import im2gps
from im2gps.atomic import swap_into_place
from im2gps.errors import UsageError
from im2gps.features import CLASSICAL, FeatureExtractor, create, load_extractor
from im2gps.index import ann
from im2gps.index.ann import make_faiss_index
from im2gps.index.combine import combine, combined_chunks, median_nn_distance
from im2gps.index.extract import extract_features, fit_extractors
from im2gps.index.rerank import CompactWriter, train_sq8
from im2gps.index.store import (
    FORMAT,
    FORMAT_VERSION,
    GeoIndex,
    is_index_dir,
    manifest_digest,
    sha256_file,
)
from im2gps.photos import MAX_PIXELS, PhotoCollection, skipped_table

__all__ = ["build_index", "faiss_over_features", "make_extractors", "make_faiss_index"]

#: Photos (a seeded sample) whose combined vectors set the range of 8-bit re-ranking codes.
SQ8_SAMPLE = 65_536


def make_extractors(
    features: Sequence[str] | Mapping[str, Mapping[str, Any]] = CLASSICAL,
) -> dict[str, FeatureExtractor]:
    """Extractors by name: a list of names, or a mapping of name to parameters."""
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    if not isinstance(features, Mapping):
        features = {name: {} for name in features}
    if not features:
        raise ValueError("no features chosen")
    return {name: create(name, **dict(params)) for name, params in features.items()}


def _resumed_extractors(extractors: dict[str, FeatureExtractor], work: Path) -> None:
    """Reuse what an interrupted build already fitted (e.g. the texton dictionary)."""
    for name, extractor in list(extractors.items()):
        saved = work / "extractors" / f"{name}.json"
        if extractor.needs_fit and saved.is_file():
            previous = load_extractor(work / "extractors", name)
            if previous.config() == extractor.config() and previous.is_fitted:
                extractors[name] = previous


def build_index(
    photos: PhotoCollection | str | os.PathLike,
    out: str | os.PathLike,
    features: Sequence[str] | Mapping[str, Mapping[str, Any]] = CLASSICAL,
    weights: Mapping[str, float] | None = None,
    index_type: str = "Flat",
    jobs: int = 1,
    fit_sample: int = 200,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    scheduler: Any = None,
    search: Mapping[str, int] | None = None,
    max_train: int = 200_000,
    chunk_rows: int | None = None,
    max_pixels: int = MAX_PIXELS,
    coords: str | os.PathLike | None = None,
    cache: Any = None,
    rerank_dtype: str = "sq8",
) -> GeoIndex:
    """Build an index directory of geotagged photos.

    Parameters
    ----------
    photos : PhotoCollection or str or Path
        A collection, or a folder (GPS from EXIF), a CSV manifest, or
        containers (msgpack / WebDataset tar shards, zip archives; see
        :meth:`~im2gps.photos.PhotoCollection.from_containers`) to read.
    out : str or Path
        The index directory to create.
    features : sequence of str or mapping, optional
        Feature names (default: the five IM2GPS scene features), or a mapping
        of name to extractor parameters.
    weights : mapping of str to float, optional
        Per-feature weights of the combined distance (default 1 each).
    index_type : str, optional
        FAISS factory string; ``"Flat"`` (exact) by default, or a compressed
        index such as ``"OPQ64_256,IVF4096,PQ64"``, ``"IVF1024,PQ59"`` or
        ``"HNSW32"`` (see :mod:`im2gps.index.ann`), trained on a seeded sample.
    jobs : int, optional
        Worker processes for feature extraction (ignored with ``scheduler``).
    fit_sample : int, optional
        Photos sampled (seeded) to fit learned features such as textons.
    seed : int, optional
        Seed for every random choice of the build.
    overwrite : bool, optional
        Replace an existing index at ``out``.
    progress : bool, optional
        Show progress bars.
    scheduler : str or distributed.Client, optional
        Extract features on this Dask cluster (address or client) instead
        of local processes; the index is the same.
    search : mapping of str to int, optional
        Default query settings stored with the index: ``nprobe``,
        ``ef_search``, ``rerank`` (short-list length re-ranked exactly).
        Those not given get :func:`im2gps.index.ann.default_search`'s for a
        compressed index (a 480-photo short list re-ranked; IVF: enough lists
        for it and at least 1/16 of them).
    max_train : int, optional
        At most this many photos (a seeded sample) train a compressed index.
    chunk_rows : int, optional
        Photos per chunk when measuring scales and adding vectors (default:
        about 256 MiB per chunk).
    max_pixels : int, optional
        Pixel limit of a photo (:data:`im2gps.photos.MAX_PIXELS` by default);
        larger photos are skipped as possible decompression bombs.
    coords : str or Path, optional
        CSV of coordinates by photo id for containers that keep them apart
        (MP-16 msgpack shards, OSV-5M zips).
    cache : FeatureCache or str or Path, optional
        A feature cache (:mod:`im2gps.index.cache`): descriptors of photos
        already extracted with the same extractors are read from it, new ones
        added to it, and a texton dictionary fitted on the same sample reused.
    rerank_dtype : {"sq8", "float16", "float32"}, optional
        Storage of the re-ranking vectors written beside a compressed index
        (see :mod:`im2gps.index.rerank`; an exact index needs none).

    Returns
    -------
    GeoIndex
        The loaded new index. Photos that could not be used (unreadable, no
        GPS position, copies of another photo of the collection, ...) are
        listed in its ``skipped.csv`` with their reason.

    Raises
    ------
    FileExistsError
        If ``out`` exists and ``overwrite`` is false.
    ValueError
        If the FAISS factory string or a feature name is wrong (checked before
        any photo is read), or no photo could be used.
    """
    out = Path(out).resolve()
    _check_out(out, photos, overwrite)
    search = ann.search_settings(search)
    extractors = make_extractors(features)
    _check_factory(index_type, extractors, search)
    collection = photos if isinstance(photos, PhotoCollection) else PhotoCollection.open(
        photos, max_pixels=max_pixels, coords=coords)
    collection = collection.deduplicated()
    if len(collection) == 0:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in collection.skipped[:3])
        raise ValueError(f"{collection.source}: no usable photos " + (
            f"({len(collection.skipped)} skipped, e.g. {reasons})" if reasons else
            "(it lists none)"))
    # what the index can learn from this many photos (at most: some may fail to decode),
    # still before any extraction
    dim = sum(ex.dim for ex in extractors.values())
    try:
        ann.check_factory(index_type, dim, n_train=min(len(collection), max_train))
    except ann.FactoryError as err:
        raise ann.FactoryError(f"{err} ({len(collection)} photos listed)") from None
    work = out.with_name(out.name + ".partial")
    weights = {name: float((weights or {}).get(name, 1.0)) for name in extractors}
    _resumed_extractors(extractors, work)
    fit_extractors(extractors, collection, sample_size=fit_sample, seed=seed,
                   max_pixels=max_pixels, cache=cache)
    # The unfinished directory lives in the work folder and is renamed to `out` when
    # complete; whatever an interrupted run left of it is redone.
    tmp = work / "index"
    shutil.rmtree(tmp, ignore_errors=True)
    feature_set = extract_features(collection, extractors, work, jobs=jobs, progress=progress,
                                   scheduler=scheduler, into=tmp / "features",
                                   max_pixels=max_pixels, cache=cache,
                                   desc="database features")
    if not feature_set.ok.any():
        raise ValueError(f"{collection.source}: no photo could be decoded")
    table = collection.table[feature_set.ok].reset_index(drop=True)
    matrices = feature_set.matrices  # memory-mapped from tmp/features

    scales = {name: median_nn_distance(matrices[name], seed=seed, transform=ex.to_l2,
                                       chunk_rows=chunk_rows)
              for name, ex in extractors.items()}
    writer = None
    if not _exact(index_type, extractors):
        dim = sum(ex.dim for ex in extractors.values())
        trained = None
        if rerank_dtype == "sq8":  # per-dimension range from a seeded sample
            rows = ann.training_rows(len(table), SQ8_SAMPLE, seed)
            trained = train_sq8(combine({name: m[rows] for name, m in matrices.items()},
                                        extractors, scales, weights))
        writer = CompactWriter(tmp / "rerank", len(table), dim, rerank_dtype, trained)
    faiss_index, trained_bytes = faiss_over_features(
        matrices, extractors, scales, weights, index_type, seed=seed, max_train=max_train,
        chunk_rows=chunk_rows, each_chunk=writer.add if writer else None)
    rerank_record = writer.close() if writer else None
    skipped = collection.skipped + feature_set.skipped
    # settings not given: ours, not FAISS's (nprobe 1, no re-ranking)
    search = {**ann.default_search(faiss_index), **search}
    if not writer:
        search.pop("rerank", None)

    for extractor in extractors.values():
        extractor.save(tmp / "extractors")
    table.to_parquet(tmp / "photos.parquet", index=False)
    faiss.write_index(faiss_index, str(tmp / "faiss.index"))
    skipped_table(skipped).to_csv(tmp / "skipped.csv", index=False)

    offset = 0
    feature_records = []
    for name, extractor in extractors.items():
        record = extractor.config()
        record.update(scale=scales[name], weight=weights[name], offset=offset)
        offset += extractor.dim
        feature_records.append(record)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "im2gps_version": im2gps.__version__,
        "source": collection.source,
        "counts": {"photos": len(table), "skipped": len(skipped)},
        "features": feature_records,
        "combined_dim": offset,
        "index": {"factory": index_type, "metric": "L2", "ntotal": int(faiss_index.ntotal),
                  "trained_bytes": trained_bytes, "search": search},
        "seed": seed,
    }
    if rerank_record:
        manifest["rerank"] = rerank_record
    write_manifest(tmp, manifest)
    swap_into_place(tmp, out)
    shutil.rmtree(work, ignore_errors=True)
    return GeoIndex.load(out, verify=False)


def _check_out(out: Path, photos: Any, overwrite: bool) -> None:
    """Refuse an output that would destroy something other than an older index."""
    if not isinstance(photos, PhotoCollection):
        source = Path(photos).resolve()
        if out == source or out in source.parents:
            raise UsageError(f"--out {out}: is (or holds) the photos being indexed; choose "
                             "another folder")
    if not out.exists():
        return
    if not overwrite:
        raise FileExistsError(f"{out}: already exists (--overwrite replaces it; "
                              "overwrite=True from Python)")
    if not is_index_dir(out):
        raise FileExistsError(f"{out}: exists and is not an im2gps index; --overwrite only "
                              "replaces an index (choose another --out, or remove it yourself)")


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` with the sha256 and size of every other file of ``directory``.

    The manifest also records the sha256 of its own content (``manifest_sha256``).
    """
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = dict(manifest, files={
        p.relative_to(directory).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in files})
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))


def faiss_over_features(
    matrices: Mapping[str, Any],
    extractors: Mapping[str, FeatureExtractor],
    scales: Mapping[str, float],
    weights: Mapping[str, float],
    index_type: str = "Flat",
    seed: int = 0,
    max_train: int = 200_000,
    chunk_rows: int | None = None,
    each_chunk: Callable[[np.ndarray], None] | None = None,
) -> tuple[Any, int]:
    """A FAISS index over the combined vectors of (memory-mapped) feature matrices.

    The index is trained on the combined vectors of a seeded sample of rows,
    then filled chunk by chunk: at most one chunk of combined vectors (plus
    the training sample) is in memory at a time.

    Parameters
    ----------
    matrices : mapping of str to numpy.ndarray
        Raw ``(n, dim_f)`` descriptors per feature, e.g. memory-mapped ``.npy`` files.
    extractors, scales, weights
        As for :func:`im2gps.index.combine.combine`.
    index_type : str, optional
        FAISS factory string.
    seed : int, optional
        Seed of the training sample.
    max_train : int, optional
        At most this many rows train the index.
    chunk_rows : int, optional
        Rows per chunk added (default: about 256 MiB of combined vectors).
    each_chunk : callable, optional
        Also called with each chunk of combined vectors, in row order (e.g.
        to write the compact re-ranking vectors in the same pass).

    Returns
    -------
    index : faiss.Index
        The filled index (row ``i`` is FAISS id ``i``).
    trained_bytes : int
        Serialised size of the trained, still empty index (the fixed part of
        its memory).
    """
    n = len(next(iter(matrices.values())))
    dim = sum(ex.dim for ex in extractors.values())
    rows = ann.training_rows(n, max_train, seed)
    index = ann.train_faiss_index(index_type, dim, lambda: combine(
        {name: m[rows] for name, m in matrices.items()}, extractors, scales, weights))
    trained_bytes = int(faiss.serialize_index(index).size)
    chunks = combined_chunks(matrices, extractors, scales, weights, chunk_rows=chunk_rows)
    if each_chunk is not None:
        chunks = _calling(each_chunk, chunks)
    ann.add_chunks(index, chunks)
    return index, trained_bytes


def _calling(function: Callable[[np.ndarray], None], chunks: Iterable[np.ndarray]
             ) -> Iterator[np.ndarray]:
    for chunk in chunks:
        function(chunk)
        yield chunk


def _exact(factory: str, extractors: Mapping[str, FeatureExtractor]) -> bool:
    """Whether the factory string makes an exact (flat) index, which needs no re-ranking."""
    dim = sum(ex.dim for ex in extractors.values())
    return isinstance(faiss.downcast_index(faiss.index_factory(int(dim), factory)),
                      faiss.IndexFlat)


def _check_factory(factory: str, extractors: Mapping[str, FeatureExtractor],
                   search: Mapping[str, int]) -> None:
    """Refuse a bad factory string or query setting before any photo is read."""
    dims = " + ".join(f"{name} {ex.dim}" for name, ex in extractors.items())
    dim = sum(ex.dim for ex in extractors.values())
    ann.check_factory(factory, dim, what=f"the combined descriptors ({dims})")
    probe = faiss.index_factory(int(dim), factory, faiss.METRIC_L2)
    try:
        ann.search_parameters(probe, nprobe=search.get("nprobe"),
                              ef_search=search.get("ef_search"))
    except ValueError as err:
        raise UsageError(str(err)) from None

"""Building an index directory from a photo collection, atomically and resumably.

:func:`build_index` runs the pipeline photos -> features -> combined vectors ->
FAISS, checkpointing the extraction in ``<out>.partial/`` so that running the
same build again after an interruption resumes it, and writing the final
directory under a temporary name that is renamed to ``out`` only when
complete: there is never a half-written index under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd

import im2gps
from im2gps.features import CLASSICAL, FeatureExtractor, create, load_extractor
from im2gps.index.combine import combine, median_nn_distance
from im2gps.index.extract import extract_features, fit_extractors
from im2gps.index.store import FORMAT, FORMAT_VERSION, GeoIndex, sha256_file
from im2gps.photos import PhotoCollection

__all__ = ["build_index", "make_extractors", "make_faiss_index"]


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


def make_faiss_index(vectors: np.ndarray, factory: str = "Flat", seed: int = 0,
                     max_train: int = 200_000):
    """A FAISS L2 index over ``vectors`` from a factory string, trained on a sample.

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
    index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_L2)
    if not index.is_trained:
        sample = vectors
        if len(vectors) > max_train:
            rows = np.random.default_rng(seed).choice(len(vectors), max_train, replace=False)
            sample = vectors[np.sort(rows)]
        index.train(np.ascontiguousarray(sample))
    index.add(vectors)
    return index


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
) -> GeoIndex:
    """Build an index directory of geotagged photos.

    Parameters
    ----------
    photos : PhotoCollection or str or Path
        A collection, or a folder (GPS from EXIF) or CSV manifest to read.
    out : str or Path
        The index directory to create.
    features : sequence of str or mapping, optional
        Feature names (default: the five IM2GPS scene features), or a mapping
        of name to extractor parameters.
    weights : mapping of str to float, optional
        Per-feature weights of the combined distance (default 1 each).
    index_type : str, optional
        FAISS factory string; ``"Flat"`` (exact) by default.
    jobs : int, optional
        Worker processes for feature extraction.
    fit_sample : int, optional
        Photos sampled (seeded) to fit learned features such as textons.
    seed : int, optional
        Seed for every random choice of the build.
    overwrite : bool, optional
        Replace an existing index at ``out``.
    progress : bool, optional
        Show progress bars.

    Returns
    -------
    GeoIndex
        The loaded new index.
    """
    collection = photos if isinstance(photos, PhotoCollection) else PhotoCollection.open(photos)
    out = Path(out).resolve()
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists (pass overwrite=True / --overwrite)")
    if len(collection) == 0:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in collection.skipped[:3])
        raise ValueError(f"{collection.source}: no usable photos "
                         f"({len(collection.skipped)} skipped, e.g. {reasons})")
    work = out.with_name(out.name + ".partial")
    extractors = make_extractors(features)
    weights = {name: float((weights or {}).get(name, 1.0)) for name in extractors}
    _resumed_extractors(extractors, work)
    fit_extractors(extractors, collection, sample_size=fit_sample, seed=seed)
    feature_set = extract_features(collection, extractors, work, jobs=jobs, progress=progress)
    if not feature_set.ok.any():
        raise ValueError(f"{collection.source}: no photo could be decoded")
    table = collection.table[feature_set.ok].reset_index(drop=True)
    matrices = feature_set.matrices

    scales = {name: median_nn_distance(ex.to_l2(matrices[name]), seed=seed)
              for name, ex in extractors.items()}
    vectors = combine(matrices, extractors, scales, weights)
    faiss_index = make_faiss_index(vectors, index_type, seed=seed)

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "features").mkdir(parents=True)
    for name, extractor in extractors.items():
        extractor.save(tmp / "extractors")
        np.save(tmp / "features" / f"{name}.npy", matrices[name], allow_pickle=False)
    table.to_parquet(tmp / "photos.parquet", index=False)
    faiss.write_index(faiss_index, str(tmp / "faiss.index"))
    skipped = collection.skipped + feature_set.skipped
    pd.DataFrame([vars(s) for s in skipped], columns=["path", "reason"]).to_csv(
        tmp / "skipped.csv", index=False)

    offset = 0
    feature_records = []
    for name, extractor in extractors.items():
        record = extractor.config()
        record.update(scale=scales[name], weight=weights[name], offset=offset)
        offset += extractor.dim
        feature_records.append(record)
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "im2gps_version": im2gps.__version__,
        "source": collection.source,
        "counts": {"photos": len(table), "skipped": len(skipped)},
        "features": feature_records,
        "combined_dim": offset,
        "index": {"factory": index_type, "metric": "L2", "ntotal": int(faiss_index.ntotal)},
        "seed": seed,
        "files": {p.relative_to(tmp).as_posix(): {"sha256": sha256_file(p),
                                                  "bytes": p.stat().st_size} for p in files},
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))

    if out.exists():  # overwrite: move the old one aside first, then swap
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old)
    else:
        os.rename(tmp, out)
    shutil.rmtree(work, ignore_errors=True)
    return GeoIndex.load(out, verify=False)

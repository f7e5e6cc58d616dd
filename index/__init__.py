"""Index directories of geotagged photos and their search (installed as ``im2gps.index``).

* :func:`build_index` -- photos -> features -> combined vectors -> FAISS, as a
  directory of plain files, resumable, written atomically and out of core
  (:mod:`im2gps.index.build`, :mod:`im2gps.index.extract`);
* :class:`GeoIndex` -- load (format version and checksums checked), search
  with query settings and exact re-ranking, info (:mod:`im2gps.index.store`);
* the combined distance over features (:mod:`im2gps.index.combine`);
* compressed FAISS indexes: factory strings, training on a sample, query
  settings, re-ranking, memory per photo (:mod:`im2gps.index.ann`);
* feature extraction on a Dask cluster (:mod:`im2gps.index.cluster`);
* :func:`add_photos` -- grow an index with new photos (:mod:`im2gps.index.add`).
"""

from __future__ import annotations

import importlib
from typing import Any

# `combine` and `rerank` are also submodule names: a lazy attribute would be
# shadowed by the submodule once it is imported, so these light modules
# (numpy and FAISS only) are imported now.
import im2gps.index.combine
import im2gps.index.rerank  # noqa: F401  (imported before the function that takes its name)
from im2gps.index.ann import index_bytes, rerank, search_parameters, train_faiss_index
from im2gps.index.combine import combine, combined_chunks, median_nn_distance

# name -> module that defines it, imported on first access (PEP 562), so that
# loading an index for a one-photo `locate` (im2gps.index.store) does not import
# the build and add machinery (and pandas with them).
_LAZY = {
    "NothingToAdd": "im2gps.index.add",
    "add_photos": "im2gps.index.add",
    "build_index": "im2gps.index.build",
    "faiss_over_features": "im2gps.index.build",
    "make_extractors": "im2gps.index.build",
    "make_faiss_index": "im2gps.index.build",
    "FeatureSet": "im2gps.index.extract",
    "extract_features": "im2gps.index.extract",
    "FORMAT_VERSION": "im2gps.index.store",
    "GeoIndex": "im2gps.index.store",
    "IndexFormatError": "im2gps.index.store",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'im2gps.index' has no attribute {name!r}")


__all__ = [
    "FORMAT_VERSION",
    "NothingToAdd",
    "add_photos",
    "FeatureSet",
    "GeoIndex",
    "IndexFormatError",
    "build_index",
    "combine",
    "combined_chunks",
    "extract_features",
    "faiss_over_features",
    "index_bytes",
    "make_extractors",
    "make_faiss_index",
    "median_nn_distance",
    "rerank",
    "search_parameters",
    "train_faiss_index",
]

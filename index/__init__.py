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

from im2gps.index.add import NothingToAdd, add_photos
from im2gps.index.ann import index_bytes, rerank, search_parameters, train_faiss_index
from im2gps.index.build import build_index, faiss_over_features, make_extractors, make_faiss_index
from im2gps.index.combine import combine, combined_chunks, median_nn_distance
from im2gps.index.extract import FeatureSet, extract_features
from im2gps.index.store import FORMAT_VERSION, GeoIndex, IndexFormatError

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

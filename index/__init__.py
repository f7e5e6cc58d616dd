"""Index directories of geotagged photos and their search (installed as ``im2gps.index``).

* :func:`build_index` -- photos -> features -> combined vectors -> FAISS, as a
  directory of plain files, resumable and written atomically
  (:mod:`im2gps.index.build`, :mod:`im2gps.index.extract`);
* :class:`GeoIndex` -- load (format version and checksums checked), search,
  info (:mod:`im2gps.index.store`);
* the combined distance over features (:mod:`im2gps.index.combine`).
"""

from im2gps.index.build import build_index, make_extractors, make_faiss_index
from im2gps.index.combine import combine, median_nn_distance
from im2gps.index.extract import FeatureSet, extract_features
from im2gps.index.store import FORMAT_VERSION, GeoIndex, IndexFormatError

__all__ = [
    "FORMAT_VERSION",
    "FeatureSet",
    "GeoIndex",
    "IndexFormatError",
    "build_index",
    "combine",
    "extract_features",
    "make_extractors",
    "make_faiss_index",
    "median_nn_distance",
]

"""The index directory: plain files, a manifest with checksums, and search.

An index directory holds::

    manifest.json        format version, feature configuration, scales, counts, sha256s
    photos.parquet       one row per indexed photo: id, image, lat, lon, extra columns
    features/<name>.npy  raw float32 descriptors, one matrix per feature
    extractors/          each extractor's parameters (.json) and learned arrays (.npy)
    faiss.index          the FAISS index over the combined vectors (FAISS's own format)
    rerank/              compact re-ranking vectors of a compressed index
                         (see :mod:`im2gps.index.rerank`)
    skipped.csv          photos left out, with the reason

Nothing is pickled: an index someone else built loads without running their
code.

Integrity. The manifest records every file's size and sha256 (computed at
build and add) and the sha256 of its own content. What is checked when:

* at every load (:meth:`GeoIndex.load`), at a cost that does not grow with
  the feature files: the format version, the manifest's own hash, every
  file's presence and size, the ``.npy`` headers (shape and type) of the
  feature and re-ranking matrices, and the full sha256 of every file the
  load reads whole anyway (``faiss.index``, ``photos.parquet``, the
  extractors, ``skipped.csv``, the re-ranking quantizer and page hashes);
* when rows are read: each re-ranking row against its CRC-32 (see
  :mod:`im2gps.index.rerank`); a feature matrix, the first time
  :meth:`GeoIndex.features` is used (explanations, tuning, views, ``add``),
  against its full sha256;
* everything, with :func:`verify_index` (``im2gps index verify``).

A query (``im2gps locate``) reads only the FAISS index and photo table
(hashed at load) and, for a compressed index, re-ranking rows (checked as
read): a modified file is refused before it can change an answer. The
feature files are not read by a query; their damage is caught by ``im2gps
index verify`` or by the first use of :meth:`GeoIndex.features`.

The FAISS index may be exact (``Flat``) or compressed (any factory string,
see :mod:`im2gps.index.ann`); :meth:`GeoIndex.search` takes the query
settings ``nprobe`` and ``ef_search`` and can re-rank a short list of
candidates with exact distances computed from the memory-mapped feature
files. Default query settings chosen at build time are kept in the manifest
(``index.search``).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import tokenize
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from im2gps.features import FeatureExtractor, load_extractor
from im2gps.index import ann
from im2gps.index.combine import combine
from im2gps.index.rerank import CompactVectors

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMAT", "FORMAT_VERSION", "GeoIndex", "IndexDamagedError", "IndexFormatError",
           "is_index_dir", "problem_of",
           "manifest_digest", "sha256_file", "verify_index"]

FORMAT = "im2gps-index"
#: Version of the directory layout written by this code; older ones are refused.
#: 2: manifest hash, compact re-ranking vectors with row checksums (``rerank/``).
FORMAT_VERSION = 2


class IndexFormatError(ValueError):
    """An index directory that cannot be used, naming the file and what to do."""


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class GeoIndex:
    """A loaded index directory.

    Attributes
    ----------
    path : Path
        The directory.
    manifest : dict
        The parsed ``manifest.json``.
    photos : pandas.DataFrame
        The photo table (row ``i`` is FAISS id ``i``). A loaded index keeps
        the table as read (a ``pyarrow.Table``) until this is first used, so
        that a one-photo ``locate``, which needs only :meth:`column` and
        :attr:`coords`, does not import pandas (a quarter of a second).
    extractors : dict of str to FeatureExtractor
        The fitted extractors, in block order.
    faiss_index : faiss.Index
        The search structure over combined vectors.
    """

    path: Path
    manifest: dict[str, Any]
    #: The photo table: a pandas.DataFrame, or the pyarrow.Table read from
    #: photos.parquet until :attr:`photos` is first used.
    _photo_table: Any
    extractors: dict[str, FeatureExtractor]
    faiss_index: Any
    #: In-memory feature matrices of a :meth:`view` (None: read from ``path``).
    _matrices: dict[str, np.ndarray] | None = field(default=None, repr=False)
    #: Memory maps of the feature files, opened once (re-ranking reads them often).
    _mmaps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    #: The compact re-ranking vectors (compressed indexes written by this version).
    _compact: CompactVectors | None = field(default=None, repr=False)
    #: Check a feature file's full sha256 on its first use (off for a trusted load).
    _verify: bool = field(default=True, repr=False)
    #: Feature files whose sha256 has been checked.
    _verified: set[str] = field(default_factory=set, repr=False)
    #: Whether a search already warned that it found fewer than k neighbours.
    _warned_short: bool = field(default=False, repr=False)

    # -- loading -------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True,
             warm_up: bool = False) -> GeoIndex:
        """Open an index directory.

        Parameters
        ----------
        path : str or Path
            The directory written by :func:`im2gps.index.build_index`.
        verify : bool, optional
            Run the load-time checks (format, manifest hash, sizes, headers,
            sha256 of the files read whole; see the module docstring), and
            check each feature file's sha256 on its first use. Their cost does
            not grow with the feature files. Off: trust the directory (e.g.
            one this process has just written).
        warm_up : bool, optional
            Run each extractor's :meth:`~im2gps.features.FeatureExtractor.warm_up`
            on a background thread while the rest loads, so that the first
            photo does not wait for it (a one-photo ``im2gps locate``).

        Raises
        ------
        IndexFormatError
            Missing, unreadable or modified manifest, another format version,
            a missing, truncated or modified file.
        """
        path = Path(path)
        manifest = read_manifest(path, verify=verify)
        if verify:
            check_files(path, manifest)
            for name in manifest["files"]:
                if name.startswith("extractors/") or name in ("skipped.csv", "rerank/sq8.npy",
                                                                "rerank/pages.npy"):
                    _check_sha256(path / name, manifest["files"][name])
        extractors = {f["name"]: load_extractor(path / "extractors", f["name"])
                      for f in manifest["features"]}
        if warm_up:
            # Not a daemon: the interpreter waits for it at exit instead of tearing it
            # down inside OpenCV (which aborts the process).
            threading.Thread(target=_warm_up, args=(list(extractors.values()),),
                             name="im2gps-warm-up").start()
        import pyarrow.parquet  # not pandas: see the class docstring

        # ParquetFile, not read_table: the latter's dataset layer imports pandas.
        photos = pyarrow.parquet.ParquetFile(
            pyarrow.BufferReader(_read(path, "photos.parquet", manifest, verify))
        ).read(use_threads=False)  # a threaded read left pyarrow pool threads that
        # sometimes aborted the process at exit ("terminate called without an active
        # exception", 1 run in 4 of a small index build); one column of numbers a photo
        data = _read(path, "faiss.index", manifest, verify)
        try:
            faiss_index = faiss.deserialize_index(np.frombuffer(data, np.uint8))
        except RuntimeError as err:
            raise IndexFormatError(
                f"{path / 'faiss.index'}: unreadable FAISS index ({err}); rebuild the index"
            ) from None
        del data
        if faiss_index.ntotal != len(photos):
            raise IndexFormatError(
                f"{path}: the FAISS index holds {faiss_index.ntotal} vectors but the photo "
                f"table {len(photos)} rows; rebuild the index"
            )
        compact = None
        if manifest.get("rerank"):
            compact = CompactVectors(path / "rerank", manifest["rerank"], IndexFormatError)
        return cls(path, manifest, photos, extractors, faiss_index, _compact=compact,
                   _verify=verify)

    def verify(self) -> dict[str, Any]:
        """Check every file of the directory in full (see :func:`verify_index`)."""
        return verify_index(self.path)

    # -- properties ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self._photo_table)

    @property
    def photos(self) -> pd.DataFrame:
        """The photo table (row ``i`` is FAISS id ``i``)."""
        if not hasattr(self._photo_table, "iloc"):  # still the pyarrow.Table as read
            self._photo_table = self._photo_table.to_pandas()
        return self._photo_table

    def column(self, name: str, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """One column of the photo table as numpy values, without pandas.

        Parameters
        ----------
        name : str
            Column name (``id``, ``image``, ``lat``, ``lon``, ...).
        rows : sequence of int, optional
            Rows to read (default: all).

        Returns
        -------
        numpy.ndarray
            ``(n,)`` or ``(len(rows),)``: numbers as their numpy type, text as objects.

        Raises
        ------
        KeyError
            If the table has no column ``name``.
        """
        table = self._photo_table
        names = list(table.columns) if hasattr(table, "iloc") else table.column_names
        if name not in names:
            raise KeyError(f"{self.path}: the photo table has no column {name!r} "
                           f"(it has {', '.join(map(str, names))})")
        if hasattr(table, "iloc"):
            values = table[name].to_numpy()
            return values if rows is None else values[np.asarray(rows, dtype=np.int64)]
        return _arrow_values(table.column(name), rows)

    @property
    def feature_names(self) -> list[str]:
        """Features in block order."""
        return [f["name"] for f in self.manifest["features"]]

    @property
    def scales(self) -> dict[str, float]:
        """Per-feature scale (median nearest-neighbour distance on the database)."""
        return {f["name"]: f["scale"] for f in self.manifest["features"]}

    @property
    def weights(self) -> dict[str, float]:
        """Per-feature weight."""
        return {f["name"]: f["weight"] for f in self.manifest["features"]}

    @property
    def coords(self) -> np.ndarray:
        """``(n, 2)`` (lat, lon) of the indexed photos."""
        return np.stack([self.column("lat"), self.column("lon")], axis=1).astype(np.float64)

    @property
    def search_params(self) -> dict[str, int]:
        """Default query settings of this index (``nprobe``, ``ef_search``, ``rerank``)."""
        return ann.search_settings(self.manifest["index"].get("search"))

    def features(self, name: str, mmap: bool = True) -> np.ndarray:
        """The raw descriptor matrix of one feature (memory-mapped by default).

        The first use of a feature file of a loaded directory checks its full
        sha256 (unless loaded with ``verify=False``): its callers (explanations,
        tuning, views, ``add``) read most of it anyway.
        """
        if self._matrices is not None:
            return self._matrices[name]
        if self._verify and name not in self._verified:
            file = f"features/{name}.npy"
            _check_sha256(self.path / file, self.manifest["files"][file])
            self._verified.add(name)
        if not mmap:
            return np.load(self.path / "features" / f"{name}.npy", allow_pickle=False)
        if name not in self._mmaps:
            self._mmaps[name] = np.load(self.path / "features" / f"{name}.npy", mmap_mode="r",
                                        allow_pickle=False)
        return self._mmaps[name]

    @property
    def exact(self) -> bool:
        """Whether the FAISS index is exact (``Flat``): its distances need no re-ranking."""
        return isinstance(faiss.downcast_index(self.faiss_index), faiss.IndexFlat)

    def rerank_vectors(self, rows: np.ndarray) -> np.ndarray:
        """Vectors of sorted database rows for re-ranking: compact ones if stored.

        Rows of the compact store are checked against their checksums first;
        without one (in-memory views), the exact combined vectors.
        """
        if self._compact is not None:
            return self._compact.rows(rows)
        return self.combined(rows)

    def combined(self, rows: np.ndarray) -> np.ndarray:
        """Exact combined vectors of database rows, read from the feature matrices.

        Reads only those rows of the memory-mapped feature files (sorted rows
        read fastest); used to re-rank the candidates of a compressed index.
        """
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.manifest["combined_dim"]), np.float32)
        start = 0
        for name, extractor in self.extractors.items():
            # np.take reads memory-mapped rows about 1.5x faster than fancy indexing;
            # each block is written straight into its columns (what combine() does, in place)
            block = extractor.to_l2(np.take(self.features(name), rows, axis=0))
            factor = np.float32(self.weights[name] / self.scales[name])
            np.multiply(block, factor, out=out[:, start:start + block.shape[1]])
            start += block.shape[1]
        return out

    # -- search --------------------------------------------------------------
    def embed(self, matrices: dict[str, np.ndarray]) -> np.ndarray:
        """Combined query vectors from raw per-feature descriptors."""
        missing = set(self.extractors) - set(matrices)
        if missing:
            raise ValueError(f"query descriptors lack feature(s) {sorted(missing)}")
        return combine(matrices, self.extractors, self.scales, self.weights)

    def extract(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Raw descriptors of query images with this index's extractors."""
        return {name: ex.transform(images) for name, ex in self.extractors.items()}

    def search(self, matrices: dict[str, np.ndarray], k: int, nprobe: int | None = None,
               ef_search: int | None = None, rerank: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest database photos of each query.

        Parameters
        ----------
        matrices : dict of str to numpy.ndarray
            Raw query descriptors per feature (``(q, dim_f)``).
        k : int
            Neighbours per query (capped at the database size).
        nprobe : int, optional
            Inverted lists visited per query (IVF indexes; default: the
            index's setting from the build, else FAISS's, 1).
        ef_search : int, optional
            Beam width of the graph search (HNSW indexes; default likewise).
        rerank : int, optional
            Re-rank a short list of this many candidates (at least ``k``) with
            distances to the compact re-ranking vectors (see
            :mod:`im2gps.index.rerank`; exact float32 vectors for an in-memory
            view); 0 turns it off (default: the index's setting, else off).
            Ignored by an exact (``Flat``) index.

        Returns
        -------
        distances : numpy.ndarray
            ``(q, k)`` combined L2 distances (not squared), ascending;
            approximate for a compressed index unless re-ranked.
        ids : numpy.ndarray
            ``(q, k)`` row numbers into :attr:`photos` (``-1`` where a
            compressed index found fewer than ``k``).
        """
        k = min(int(k), len(self))
        settings = self.search_params
        settings.update(ann.search_settings({"nprobe": nprobe, "ef_search": ef_search,
                                             "rerank": rerank}))
        if self.exact:
            settings.pop("rerank", None)  # the distances are exact already
        dist2, ids = ann.search(self.faiss_index, self.embed(matrices), k,
                                nprobe=settings.get("nprobe"),
                                ef_search=settings.get("ef_search"),
                                rerank_size=settings.get("rerank"),
                                vectors_of=self.rerank_vectors)
        short = (ids < 0).any(axis=1)
        if short.any() and not self._warned_short:
            self._warned_short = True
            warnings.warn(
                f"{self.path}: the search found fewer than k={k} neighbours for "
                f"{int(short.sum())} of {len(ids)} queries (as few as "
                f"{int((ids >= 0).sum(axis=1).min())}; nprobe {settings.get('nprobe')}); "
                "visit more inverted lists (--nprobe) or search a larger short list (--rerank)",
                RuntimeWarning, stacklevel=2)
        return np.sqrt(np.maximum(dist2, 0.0)), ids

    def view(
        self,
        features: Sequence[str] | None = None,
        rows: Sequence[int] | np.ndarray | None = None,
        weights: dict[str, float] | None = None,
        index_type: str = "Flat",
        search: dict[str, int] | None = None,
        seed: int = 0,
    ) -> GeoIndex:
        """An in-memory index over some features and/or some photos.

        Used for ablations (one feature at a time), cross-validation (leave a
        fold out), the database-size curve, and to compare a compressed index
        with the exact one on the same vectors. Each feature keeps the scale
        measured on the whole database, so distances stay comparable.

        Parameters
        ----------
        features : sequence of str, optional
            Features to keep, in block order (default: all).
        rows : array_like of int, optional
            Photo rows to keep (default: all).
        weights : dict of str to float, optional
            New per-feature weights (default: the index's).
        index_type : str, optional
            FAISS factory string of the view's index (default exact, ``"Flat"``),
            trained on a seeded sample of the view's vectors.
        search : dict of str to int, optional
            Default query settings of the view (``nprobe``, ``ef_search``, ``rerank``).
        seed : int, optional
            Seed of the training sample.
        """
        names = list(features) if features is not None else self.feature_names
        unknown = set(names) - set(self.feature_names)
        if unknown:
            raise ValueError(f"{self.path}: no feature(s) {sorted(unknown)} in this index "
                             f"(it has {', '.join(self.feature_names)})")
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        manifest = json.loads(json.dumps(self.manifest))
        records = {f["name"]: f for f in manifest["features"]}
        manifest["features"] = [records[name] for name in names]
        for record in manifest["features"]:
            if weights and record["name"] in weights:
                record["weight"] = float(weights[record["name"]])
        manifest["combined_dim"] = sum(f["dim"] for f in manifest["features"])
        manifest["index"] = {"factory": index_type, "metric": "L2", "ntotal": len(rows),
                             "search": ann.search_settings(search)}
        manifest["counts"] = dict(manifest["counts"], photos=len(rows))
        extractors = {name: self.extractors[name] for name in names}
        matrices = {name: np.asarray(self.features(name))[rows] for name in names}
        view = GeoIndex(self.path, manifest, self.photos.iloc[rows].reset_index(drop=True),
                        extractors, None, matrices)
        vectors = view.embed(matrices)
        if index_type == "Flat":
            view.faiss_index = faiss.IndexFlatL2(vectors.shape[1])
            view.faiss_index.add(vectors)
        else:
            view.faiss_index = ann.make_faiss_index(vectors, index_type, seed=seed)
        return view

    def info(self) -> dict[str, Any]:
        """Counts, features, index type and size on disk, as a JSON-ready dict.

        ``index_bytes_per_photo`` is the FAISS file over the photo count;
        ``index_code_bytes_per_photo`` what each photo adds to it (codes, ids,
        links), without the fixed ``index_trained_bytes`` (PCA or OPQ matrix,
        codebooks, centroids): the figure that scales to millions of photos.
        ``exact_bytes_per_photo`` is what the exact index would need.
        """
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        record = self.manifest["index"]
        index_file = (self.path / "faiss.index").stat().st_size
        trained = record.get("trained_bytes")
        return {
            "path": str(self.path),
            "format_version": self.manifest["format_version"],
            "photos": len(self),
            "skipped": self.manifest["counts"]["skipped"],
            "features": {f["name"]: f["dim"] for f in self.manifest["features"]},
            "combined_dim": self.manifest["combined_dim"],
            "index_type": self.manifest["index"]["factory"],
            "index_bytes": (self.path / "faiss.index").stat().st_size,
            "size_bytes": size,
            "bytes_per_photo": size / max(len(self), 1),
            "index_bytes_per_photo": index_file / max(len(self), 1),
            "index_trained_bytes": trained,
            "index_code_bytes_per_photo": (None if trained is None else
                                           (index_file - trained) / max(len(self), 1)),
            "exact_bytes_per_photo": 4 * self.manifest["combined_dim"],
            "rerank_dtype": (self.manifest.get("rerank") or {}).get("dtype"),
            "rerank_bytes_per_photo": (None if self._compact is None
                                       else self._compact.bytes_per_photo),
            "search": self.search_params,
        }


def is_index_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an im2gps index directory (see :mod:`im2gps.kinds`)."""
    from im2gps.kinds import directory_kind

    return directory_kind(path) == "im2gps"


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of a manifest's content, without its own ``manifest_sha256`` entry."""
    content = {key: value for key, value in manifest.items() if key != "manifest_sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def _warm_up(extractors: list[FeatureExtractor]) -> None:
    """Each extractor's one-time set-up, on a background thread (see ``GeoIndex.load``)."""
    for extractor in extractors:
        try:
            extractor.warm_up()
        except Exception:  # noqa: BLE001 - a cache not filled now is filled by the first photo
            pass


def _arrow_values(column: Any, rows: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """Values of a ``pyarrow.ChunkedArray`` (all, or ``rows``) as numpy.

    Written here because pyarrow's own ``to_numpy``, ``take`` and compute
    functions import pandas (a quarter of a second of a one-photo ``locate``):
    numbers without missing values are read from their buffers, anything else
    through ``to_pylist`` of zero-copy slices.
    """
    import pyarrow as pa

    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(column)):
            raise IndexError(f"rows out of range for a table of {len(column)} photos")
        return np.array([column.slice(int(r), 1).to_pylist()[0] for r in rows],
                        dtype=_arrow_values(column.slice(0, 0), None).dtype)
    if (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)) \
            and column.null_count == 0:
        dtype = np.dtype(column.type.to_pandas_dtype())
        parts = [np.frombuffer(chunk.buffers()[1], dtype=dtype, count=len(chunk),
                               offset=chunk.offset * dtype.itemsize)
                 for chunk in column.chunks if len(chunk)]
        return np.concatenate(parts) if parts else np.empty(0, dtype)
    values = column.to_pylist()
    if pa.types.is_floating(column.type):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(values, dtype=object)


def read_manifest(path: Path, verify: bool = True) -> dict[str, Any]:
    """Read and check ``manifest.json`` of an index directory (format, version, own hash)."""
    if not path.is_dir():
        raise IndexFormatError(f"{path}: no such index directory")
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise IndexFormatError(
            f"{manifest_path}: missing; {path} is not an im2gps index "
            "(build one with `im2gps index build`)"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise IndexFormatError(
            f"{manifest_path}: not valid JSON ({err}); rebuild the index"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{manifest_path}: not an im2gps index manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{manifest_path}: index format version {version}, but this im2gps "
            f"(reads version {FORMAT_VERSION}) cannot read it; rebuild it with "
            f"`im2gps index build` from the same photos, or use the im2gps release "
            f"that wrote it"
        )
    if verify and manifest.get("manifest_sha256") != manifest_digest(manifest):
        raise IndexFormatError(
            f"{manifest_path}: its content does not match its own sha256 (the manifest was "
            "edited or damaged); rebuild the index or restore the manifest"
        )
    return manifest


def _npy_header(file: Path) -> tuple[tuple[int, ...], np.dtype, bool]:
    """Shape, dtype and Fortran order from a ``.npy`` header (reads only the header)."""
    with open(file, "rb") as handle:
        try:
            major, _ = np.lib.format.read_magic(handle)
            read = (np.lib.format.read_array_header_1_0 if major == 1
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(handle)
            return shape, dtype, fortran
        # a damaged header's text can fail numpy's parsing with any of these
        except (ValueError, SyntaxError, tokenize.TokenError) as err:
            raise IndexFormatError(f"{file}: not a .npy file ({err}); rebuild the index "
                                   "or restore the file") from None


def _expected_headers(manifest: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Shape and dtype each matrix file of a manifest must have."""
    n = int(manifest["counts"]["photos"])
    expected = {f"features/{f['name']}.npy": ((n, int(f["dim"])), "float32")
                for f in manifest["features"]}
    record = manifest.get("rerank")
    if record:
        code = "uint8" if record["dtype"] == "sq8" else record["dtype"]
        expected["rerank/vectors.npy"] = ((n, int(record["dim"])), code)
        expected["rerank/crc32.npy"] = ((n,), "uint32")
    return expected


def check_files(path: Path, manifest: dict[str, Any]) -> None:
    """The load-time checks: every file present with its size, matrix headers as expected."""
    for name, record in manifest["files"].items():
        _check_size(path / name, record)
    for name, (shape, dtype) in _expected_headers(manifest).items():
        file = path / name
        if name not in manifest["files"]:
            raise IndexFormatError(f"{file}: not listed in the manifest; rebuild the index")
        _check_header(file, shape, dtype)


def _check_size(file: Path, record: dict[str, Any]) -> None:
    """Refuse a missing file, or one whose size is not the manifest's."""
    if not file.is_file():
        raise IndexFormatError(f"{file}: missing from the index; rebuild the index")
    size = file.stat().st_size
    if size != record["bytes"]:
        raise IndexFormatError(
            f"{file}: {size} bytes, the manifest says {record['bytes']} (truncated or "
            "modified); rebuild the index or restore the file"
        )


def _check_header(file: Path, shape: tuple[int, ...], dtype: str) -> None:
    """Refuse a ``.npy`` file whose header is not ``shape`` and ``dtype`` (C order)."""
    got_shape, got_dtype, fortran = _npy_header(file)
    if tuple(got_shape) != shape or got_dtype != np.dtype(dtype) or fortran:
        article = "an" if str(got_dtype)[0] in "aeiou" else "a"
        raise IndexFormatError(
            f"{file}: {article} {got_dtype} matrix of shape {tuple(got_shape)}, the manifest "
            f"says {dtype} {shape}; rebuild the index or restore the file"
        )


def _check_sha256(file: Path, record: dict[str, Any], data: bytes | None = None) -> None:
    digest = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(file)
    if digest != record["sha256"]:
        raise IndexFormatError(
            f"{file}: sha256 does not match the manifest (the file was modified or "
            "damaged); rebuild the index or restore the file"
        )


def _read(path: Path, name: str, manifest: dict[str, Any], verify: bool) -> bytes:
    """The bytes of a file read whole at load, checked against its sha256."""
    file = path / name
    if not file.is_file():
        raise IndexFormatError(f"{file}: missing from the index; rebuild the index")
    data = file.read_bytes()
    if verify:
        _check_sha256(file, manifest["files"][name], data)
    return data


class IndexDamagedError(IndexFormatError):
    """Every problem :func:`verify_index` found in an index directory.

    Attributes
    ----------
    problems : list of dict
        ``{"file": path, "reason": text}`` per damaged file.
    report : dict
        What was checked (``path``, ``files``, ``bytes``, ``seconds``).
    """

    def __init__(self, path: Path, problems: list[dict[str, str]], report: dict[str, Any]):
        self.problems = problems
        self.report = report
        listed = "; ".join(f"{p['file']}: {p['reason']}" for p in problems)
        super().__init__(f"{path}: {len(problems)} damaged file(s): {listed}")


def _problem(file: Path, check: Any) -> dict[str, str] | None:
    """Run ``check()``; the IndexFormatError it raises as ``{"file", "reason"}`` (else None).

    The file is the one the error names (``"<file>: <reason>"``), else ``file``.
    """
    try:
        check()
    except IndexFormatError as err:
        return problem_of(err, file)
    return None


def problem_of(err: Exception, file: str | os.PathLike) -> dict[str, str]:
    """``{"file", "reason"}`` of an error message ``"<file>: <reason>"`` (else ``file``)."""
    text = str(err)
    named, sep, reason = text.partition(": ")
    if sep and named.startswith(str(Path(file).parent.parent)):
        return {"file": named, "reason": reason}
    return {"file": str(file), "reason": text}


def verify_index(path: str | os.PathLike) -> dict[str, Any]:
    """Check an index directory in full: every byte of every file.

    The manifest (format, version, own hash), every file's size and sha256,
    the matrix headers, and every re-ranking row against its checksum. Every
    file is checked, also after a damaged one.

    Parameters
    ----------
    path : str or Path
        The index directory.

    Returns
    -------
    dict
        ``files`` checked, ``bytes`` read, ``seconds`` taken.

    Raises
    ------
    IndexFormatError
        An unreadable or modified manifest (nothing else can then be checked).
    IndexDamagedError
        Listing every file that does not match, with the reason (in
        :attr:`IndexDamagedError.problems`), and what to do.
    """
    start = time.perf_counter()
    path = Path(path)
    manifest = read_manifest(path)
    problems: list[dict[str, str]] = []
    expected = _expected_headers(manifest)
    for name, record in manifest["files"].items():
        file = path / name

        def check(file: Path = file, name: str = name, record: dict = record) -> None:
            _check_size(file, record)
            if name in expected:
                _check_header(file, *expected[name])
            _check_sha256(file, record)

        if (problem := _problem(file, check)) is not None:
            problems.append(problem)
    for name in expected:
        if name not in manifest["files"]:
            problems.append({"file": str(path / name),
                             "reason": "not listed in the manifest; rebuild the index"})
    damaged = {p["file"] for p in problems}
    if manifest.get("rerank") and not any(f.startswith(str(path / "rerank")) for f in damaged):
        problem = _problem(path / "rerank" / "vectors.npy", lambda: CompactVectors(
            path / "rerank", manifest["rerank"], IndexFormatError).check_all())
        if problem is not None:
            problems.append(problem)
    report = {"path": str(path), "files": len(manifest["files"]),
              "bytes": sum(r["bytes"] for r in manifest["files"].values()),
              "seconds": time.perf_counter() - start}
    if problems:
        raise IndexDamagedError(path, problems, report)
    return report

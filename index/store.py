"""The index directory: plain files, a manifest with checksums, and search.

An index directory holds::

    manifest.json        format version, feature configuration, scales, counts, sha256s
    photos.parquet       one row per indexed photo: id, image, lat, lon, extra columns
    features/<name>.npy  raw float32 descriptors, one matrix per feature
    extractors/          each extractor's parameters (.json) and learned arrays (.npy)
    faiss.index          the FAISS index over the combined vectors (FAISS's own format)
    skipped.csv          photos left out, with the reason

Nothing is pickled: an index someone else built loads without running their
code. :meth:`GeoIndex.load` checks the format version and every file's sha256
and says what is wrong and what to do.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd

from im2gps.features import FeatureExtractor, load_extractor
from im2gps.index import ann
from im2gps.index.combine import combine

__all__ = ["FORMAT", "FORMAT_VERSION", "GeoIndex", "IndexFormatError", "is_index_dir",
           "sha256_file"]

FORMAT = "im2gps-index"
#: Version of the directory layout written by this code; older ones are refused.
FORMAT_VERSION = 1


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
        The photo table (row ``i`` is FAISS id ``i``).
    extractors : dict of str to FeatureExtractor
        The fitted extractors, in block order.
    faiss_index : faiss.Index
        The search structure over combined vectors.
    """

    path: Path
    manifest: dict[str, Any]
    photos: pd.DataFrame
    extractors: dict[str, FeatureExtractor]
    faiss_index: Any
    #: In-memory feature matrices of a :meth:`view` (None: read from ``path``).
    _matrices: dict[str, np.ndarray] | None = field(default=None, repr=False)
    #: Memory maps of the feature files, opened once (re-ranking reads them often).
    _mmaps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    # -- loading -------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True) -> GeoIndex:
        """Open an index directory.

        Parameters
        ----------
        path : str or Path
            The directory written by :func:`im2gps.index.build_index`.
        verify : bool, optional
            Check every file's sha256 against the manifest (reads every byte;
            turn off for very large indexes you trust).

        Raises
        ------
        IndexFormatError
            Missing or unreadable manifest, another format version, a missing,
            truncated or modified file.
        """
        path = Path(path)
        manifest = read_manifest(path)
        if verify:
            verify_files(path, manifest)
        extractors = {f["name"]: load_extractor(path / "extractors", f["name"])
                      for f in manifest["features"]}
        photos = pd.read_parquet(path / "photos.parquet")
        try:
            faiss_index = faiss.read_index(str(path / "faiss.index"))
        except RuntimeError as err:
            raise IndexFormatError(
                f"{path / 'faiss.index'}: unreadable FAISS index ({err}); rebuild the index"
            ) from None
        if faiss_index.ntotal != len(photos):
            raise IndexFormatError(
                f"{path}: the FAISS index holds {faiss_index.ntotal} vectors but the photo "
                f"table {len(photos)} rows; rebuild the index"
            )
        return cls(path, manifest, photos, extractors, faiss_index)

    # -- properties ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.photos)

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
        return self.photos[["lat", "lon"]].to_numpy(np.float64)

    @property
    def search_params(self) -> dict[str, int]:
        """Default query settings of this index (``nprobe``, ``ef_search``, ``rerank``)."""
        return ann.search_settings(self.manifest["index"].get("search"))

    def features(self, name: str, mmap: bool = True) -> np.ndarray:
        """The raw descriptor matrix of one feature (memory-mapped by default)."""
        if self._matrices is not None:
            return self._matrices[name]
        if not mmap:
            return np.load(self.path / "features" / f"{name}.npy", allow_pickle=False)
        if name not in self._mmaps:
            self._mmaps[name] = np.load(self.path / "features" / f"{name}.npy", mmap_mode="r",
                                        allow_pickle=False)
        return self._mmaps[name]

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
            exact distances read from the feature files; 0 turns it off
            (default: the index's setting, else off).

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
        dist2, ids = ann.search(self.faiss_index, self.embed(matrices), k,
                                nprobe=settings.get("nprobe"),
                                ef_search=settings.get("ef_search"),
                                rerank_size=settings.get("rerank"), vectors_of=self.combined)
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
            "search": self.search_params,
        }


def is_index_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an im2gps index directory (its manifest says so), readable or not."""
    manifest_path = Path(path) / "manifest.json"
    try:
        return json.loads(manifest_path.read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and check ``manifest.json`` of an index directory."""
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
    if manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{manifest_path}: not an im2gps index manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{manifest_path}: index format version {version}, but this im2gps "
            f"(reads version {FORMAT_VERSION}) cannot read it; rebuild it with "
            f"`im2gps index build` from the same photos, or use the im2gps release "
            f"that wrote it"
        )
    return manifest


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Check that every file listed in the manifest exists with its sha256 and size."""
    for name, record in manifest["files"].items():
        file = path / name
        if not file.is_file():
            raise IndexFormatError(f"{file}: missing from the index; rebuild the index")
        size = file.stat().st_size
        if size != record["bytes"]:
            raise IndexFormatError(
                f"{file}: {size} bytes, the manifest says {record['bytes']} (truncated or "
                "modified); rebuild the index or restore the file"
            )
        if sha256_file(file) != record["sha256"]:
            raise IndexFormatError(
                f"{file}: sha256 does not match the manifest (the file was modified or "
                "damaged); rebuild the index or restore the file"
            )

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
from im2gps.index.combine import combine

__all__ = ["FORMAT", "FORMAT_VERSION", "GeoIndex", "IndexFormatError", "sha256_file"]

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

    def features(self, name: str, mmap: bool = True) -> np.ndarray:
        """The raw descriptor matrix of one feature (memory-mapped by default)."""
        if self._matrices is not None:
            return self._matrices[name]
        return np.load(self.path / "features" / f"{name}.npy",
                       mmap_mode="r" if mmap else None, allow_pickle=False)

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

    def search(self, matrices: dict[str, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest database photos of each query.

        Parameters
        ----------
        matrices : dict of str to numpy.ndarray
            Raw query descriptors per feature (``(q, dim_f)``).
        k : int
            Neighbours per query (capped at the database size).

        Returns
        -------
        distances : numpy.ndarray
            ``(q, k)`` combined L2 distances (not squared), ascending.
        ids : numpy.ndarray
            ``(q, k)`` row numbers into :attr:`photos`.
        """
        k = min(int(k), len(self))
        dist2, ids = self.faiss_index.search(self.embed(matrices), k)
        return np.sqrt(np.maximum(dist2, 0.0)), ids

    def view(
        self,
        features: Sequence[str] | None = None,
        rows: Sequence[int] | np.ndarray | None = None,
        weights: dict[str, float] | None = None,
    ) -> GeoIndex:
        """An in-memory exact index over some features and/or some photos.

        Used for ablations (one feature at a time), cross-validation (leave a
        fold out) and the database-size curve. Each feature keeps the scale
        measured on the whole database, so distances stay comparable.

        Parameters
        ----------
        features : sequence of str, optional
            Features to keep, in block order (default: all).
        rows : array_like of int, optional
            Photo rows to keep (default: all).
        weights : dict of str to float, optional
            New per-feature weights (default: the index's).
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
        manifest["index"] = {"factory": "Flat", "metric": "L2", "ntotal": len(rows)}
        manifest["counts"] = dict(manifest["counts"], photos=len(rows))
        extractors = {name: self.extractors[name] for name in names}
        matrices = {name: np.asarray(self.features(name))[rows] for name in names}
        view = GeoIndex(self.path, manifest, self.photos.iloc[rows].reset_index(drop=True),
                        extractors, None, matrices)
        vectors = view.embed(matrices)
        view.faiss_index = faiss.IndexFlatL2(vectors.shape[1])
        view.faiss_index.add(vectors)
        return view

    def info(self) -> dict[str, Any]:
        """Counts, features, index type and size on disk, as a JSON-ready dict."""
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
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
            "index_bytes_per_photo": (self.path / "faiss.index").stat().st_size / max(len(self), 1),
        }


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

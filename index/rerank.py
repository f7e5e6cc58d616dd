"""Compact re-ranking vectors: the combined vectors of a compressed index, 8-bit or 16-bit.

A compressed FAISS index returns a short list of candidates whose distances
are approximate; :meth:`GeoIndex.search` re-ranks it with exact distances.
Reading the float32 feature files for that costs 4 bytes per dimension and
photo (11 kB per photo for the five classical features, 87-89 % of a
1M-photo query's time). This module stores the *combined* vectors (mapped,
scaled and weighted, ready for L2) once more, compactly, in ``rerank/``::

    rerank/vectors.npy    (n, d) codes: uint8 (``sq8``) or float16
    rerank/sq8.npy        (2, d) float32 per-dimension minimum and range (sq8 only)
    rerank/crc32.npy      (n,) uint32 CRC-32 of each row of codes
    rerank/pages.npy      (p, 32) uint8 sha256 of each page of 4096 row checksums

``sq8`` is FAISS's 8-bit scalar quantizer (``ScalarQuantizer.QT_8bit``, per
dimension minimum and range learned on the training sample): a quarter of
the float32 bytes. ``float16`` halves them. Which one is the default was
decided by the accuracy it costs on the real database
(``benchmarks/rerank_dtype.py``, results in ``benchmarks/results/``).

Integrity where the rows are read: every row read for re-ranking is checked
against its CRC-32, whose page of checksums is checked against the page's
sha256 the first time the page is used; ``pages.npy`` itself is small
(32 bytes per 4096 photos) and its sha256 is checked at load with the
manifest. A damaged or modified row is therefore refused
(:class:`~im2gps.index.store.IndexFormatError`) before its distance is used,
at a cost that does not grow with the database (CRC-32 of the rows read,
sha256 of at most one 16 kB page per row). CRC-32 catches damage and edits
not made to fool it; an unsigned manifest cannot stop someone who rewrites
the checksums as well, and no check here claims to.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

__all__ = ["DTYPES", "PAGE_ROWS", "CompactVectors", "CompactWriter", "train_sq8",
           "write_compact"]

#: Storage types of the re-ranking vectors and their bytes per dimension.
DTYPES = {"sq8": 1, "float16": 2, "float32": 4}
#: Row checksums per sha256-checked page.
PAGE_ROWS = 4096


def _sq8(dim: int, trained: np.ndarray | None = None) -> Any:
    quantizer = faiss.ScalarQuantizer(int(dim), faiss.ScalarQuantizer.QT_8bit)
    if trained is not None:
        faiss.copy_array_to_vector(np.ascontiguousarray(trained, np.float32).ravel(),
                                   quantizer.trained)
    return quantizer


def encode(vectors: np.ndarray, dtype: str, trained: np.ndarray | None = None) -> np.ndarray:
    """Codes of float32 ``vectors`` (``trained``: the sq8 parameters)."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    if dtype == "sq8":
        return _sq8(vectors.shape[1], trained).compute_codes(vectors)
    return vectors.astype(dtype)


def decode(codes: np.ndarray, dtype: str, trained: np.ndarray | None = None) -> np.ndarray:
    """float32 vectors from codes."""
    if dtype == "sq8":
        return _sq8(codes.shape[1], trained).decode(np.ascontiguousarray(codes))
    return np.asarray(codes, np.float32)


def train_sq8(sample: np.ndarray) -> np.ndarray:
    """``(2, d)`` per-dimension minimum and range of FAISS's 8-bit quantizer, from a sample."""
    sample = np.ascontiguousarray(sample, np.float32)
    quantizer = _sq8(sample.shape[1])
    quantizer.train(sample)
    return faiss.vector_to_array(quantizer.trained).reshape(2, sample.shape[1])


def row_crc32(codes: np.ndarray) -> np.ndarray:
    """CRC-32 of each row of a code matrix, ``(n,)`` uint32."""
    codes = np.ascontiguousarray(codes)
    return np.fromiter((zlib.crc32(row) for row in codes.view(np.uint8).reshape(len(codes), -1)),
                       dtype=np.uint32, count=len(codes))


def page_hashes(crc: np.ndarray) -> np.ndarray:
    """``(p, 32)`` uint8 sha256 of each page of :data:`PAGE_ROWS` row checksums."""
    crc = np.ascontiguousarray(crc, np.uint32)
    pages = [hashlib.sha256(crc[start:start + PAGE_ROWS].tobytes()).digest()
             for start in range(0, len(crc), PAGE_ROWS)]
    return np.frombuffer(b"".join(pages), np.uint8).reshape(len(pages), 32).copy()


class CompactWriter:
    """Write the compact re-ranking vectors of ``n`` rows into ``folder``, chunk by chunk.

    Parameters
    ----------
    folder : Path
        The ``rerank/`` folder to create.
    n, dim : int
        Rows and dimension.
    dtype : {"sq8", "float16", "float32"}
        Storage type.
    trained : numpy.ndarray, optional
        ``(2, dim)`` sq8 parameters (from :func:`train_sq8`); needed for sq8.
    """

    def __init__(self, folder: Path, n: int, dim: int, dtype: str,
                 trained: np.ndarray | None = None) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"re-ranking vector type must be one of {', '.join(DTYPES)}, "
                             f"not {dtype!r}")
        if dtype == "sq8" and trained is None:
            raise ValueError("sq8 re-ranking vectors need the trained quantizer")
        self.folder, self.n, self.dim, self.dtype = Path(folder), int(n), int(dim), dtype
        self.trained = trained
        self.folder.mkdir(parents=True, exist_ok=True)
        code_type = np.uint8 if dtype == "sq8" else np.dtype(dtype)
        self._codes = np.lib.format.open_memmap(self.folder / "vectors.npy", mode="w+",
                                                dtype=code_type, shape=(self.n, self.dim))
        self._crc = np.empty(self.n, np.uint32)
        self._row = 0

    def add_codes(self, codes: np.ndarray) -> None:
        """Append rows that are codes already (e.g. an index's existing rows)."""
        codes = np.asarray(codes)
        end = self._row + len(codes)
        self._codes[self._row:end] = codes
        self._crc[self._row:end] = row_crc32(codes)
        self._row = end

    def add(self, vectors: np.ndarray) -> None:
        """Append float32 combined vectors."""
        self.add_codes(encode(vectors, self.dtype, self.trained))

    def close(self) -> dict[str, Any]:
        """Finish the files; returns the manifest record (``dtype``, ``dim``, ``rows``)."""
        if self._row != self.n:
            raise ValueError(f"re-ranking vectors: {self._row} rows written, {self.n} expected")
        self._codes.flush()
        del self._codes
        if self.dtype == "sq8":
            np.save(self.folder / "sq8.npy", np.asarray(self.trained, np.float32),
                    allow_pickle=False)
        np.save(self.folder / "crc32.npy", self._crc, allow_pickle=False)
        np.save(self.folder / "pages.npy", page_hashes(self._crc), allow_pickle=False)
        return {"dtype": self.dtype, "dim": self.dim, "rows": self.n}


def write_compact(folder: Path, chunks: Iterable[np.ndarray], n: int, dim: int, dtype: str,
                  trained: np.ndarray | None = None) -> dict[str, Any]:
    """Write the compact re-ranking vectors of ``n`` rows from float32 chunks (see
    :class:`CompactWriter`); returns the manifest record."""
    writer = CompactWriter(folder, n, dim, dtype, trained)
    for chunk in chunks:
        writer.add(chunk)
    return writer.close()


class CompactVectors:
    """Reader of ``rerank/``: decoded rows, each checked before use.

    Parameters
    ----------
    folder : Path
        The ``rerank/`` folder of an index directory.
    record : dict
        Its manifest record (``dtype``, ``dim``, ``rows``).
    error : type
        Exception raised for a damaged row or page.
    """

    def __init__(self, folder: Path, record: dict[str, Any], error: type[Exception]) -> None:
        self.folder = Path(folder)
        self.dtype = record["dtype"]
        self.error = error
        self.codes = np.load(self.folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
        self.crc = np.load(self.folder / "crc32.npy", mmap_mode="r", allow_pickle=False)
        self.pages = np.load(self.folder / "pages.npy", allow_pickle=False)
        self.trained = (np.load(self.folder / "sq8.npy", allow_pickle=False)
                        if self.dtype == "sq8" else None)
        self._checked_pages: set[int] = set()

    @property
    def bytes_per_photo(self) -> int:
        """Bytes of one row of codes."""
        return int(self.codes.shape[1] * self.codes.dtype.itemsize)

    def _check_pages(self, pages: np.ndarray) -> None:
        for page in pages.tolist():
            if page in self._checked_pages:
                continue
            start = page * PAGE_ROWS
            digest = hashlib.sha256(
                np.ascontiguousarray(self.crc[start:start + PAGE_ROWS]).tobytes()).digest()
            if digest != self.pages[page].tobytes():
                raise self.error(f"{self.folder / 'crc32.npy'}: checksums of rows {start}.."
                                 f"{start + PAGE_ROWS - 1} do not match pages.npy (the file "
                                 "was modified or damaged); rebuild the index or restore it")
            self._checked_pages.add(page)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """float32 vectors of sorted unique ``rows``, after checking each row's CRC-32."""
        rows = np.asarray(rows, np.int64)
        codes = np.take(self.codes, rows, axis=0)
        self._check_pages(np.unique(rows // PAGE_ROWS))
        bad = np.flatnonzero(row_crc32(codes) != np.asarray(self.crc[rows]))
        if len(bad):
            raise self.error(
                f"{self.folder / 'vectors.npy'}: {len(bad)} row(s) (e.g. row {rows[bad[0]]}) "
                "do not match their checksums (the file was modified or damaged); rebuild "
                "the index or restore the file")
        return decode(codes, self.dtype, self.trained)

    def check_all(self, chunk_rows: int = 1 << 16) -> None:
        """Check every row and page (for ``im2gps index verify``)."""
        self._checked_pages.clear()
        self._check_pages(np.arange(len(self.pages)))
        for start in range(0, len(self.codes), chunk_rows):
            part = np.asarray(self.codes[start:start + chunk_rows])
            bad = np.flatnonzero(row_crc32(part) != self.crc[start:start + len(part)])
            if len(bad):
                raise self.error(f"{self.folder / 'vectors.npy'}: row {start + bad[0]} does "
                                 "not match its checksum (the file was modified or damaged); "
                                 "rebuild the index or restore the file")

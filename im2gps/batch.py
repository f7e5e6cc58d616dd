"""Batch ``im2gps locate``: inputs from folders and CSVs, results streamed as they come.

A long batch is located a chunk of photos at a time; each chunk's answers
are written at once (JSON Lines on stdout with ``--jsonl``, rows of a CSV
file with ``--out``) and flushed, so a reader sees results while the batch
runs and an interrupted run keeps every answer written so far. Progress
goes to stderr, never mixed with the data on stdout.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from im2gps.jsonable import json_safe

__all__ = ["CSV_COLUMNS", "CsvWriter", "JsonLinesWriter", "chunks", "expand_inputs"]

#: Columns of ``im2gps locate --out results.csv``.
CSV_COLUMNS = ("image", "lat", "lon", "place", "admin1", "country", "country_code",
               "failed", "error", "top_cluster_weight", "nearest_neighbor")

_IMAGE_COLUMNS = ("image", "img_id", "path", "file", "filename")


def _csv_images(path: Path) -> list[str]:
    """Image paths listed in a CSV (column ``image``, ``IMG_ID``, ``path``...), relative
    paths taken from the CSV's folder (its ``images/`` folder for bare GeoEstimation ids)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = [name.strip().lower() for name in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}: empty CSV; expected a header with an image column") from None
        column = next((header.index(name) for name in _IMAGE_COLUMNS if name in header), None)
        if column is None:
            raise ValueError(f"{path}: no image column (one of {', '.join(_IMAGE_COLUMNS)}) "
                             f"in its header {','.join(header)}")
        values = [row[column].strip() for row in reader if len(row) > column and row[column]]
    out = []
    for value in values:
        image = Path(value)
        if not image.is_absolute():
            image = path.parent / value
            if not image.exists() and (path.parent / "images" / value).exists():
                image = path.parent / "images" / value
        out.append(str(image))
    return out


def expand_inputs(items: Sequence[str | os.PathLike]) -> list[str]:
    """Photo paths from command-line inputs: files, folders and CSV lists.

    Parameters
    ----------
    items : sequence of str or Path
        A photo file is taken as it is (a file that cannot be decoded, or a
        path that does not exist, fails alone, later); a folder gives every
        photo file under it (recursively, by extension, hidden files and index
        directories left out, sorted); a
        ``.csv`` file gives the photos of its ``image`` column (``IMG_ID``,
        ``path`` also understood), relative to the CSV's folder. Coordinates
        in the CSV are not read: a locator sees pixels only.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        For a CSV without an image column, or a folder without photos.
    """
    from im2gps.photos import IMAGE_EXTENSIONS

    paths: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = []
            for file in sorted(path.rglob("*")):
                rel = file.relative_to(path)
                if (file.is_file() and file.suffix.lower() in IMAGE_EXTENSIONS
                        and not any(part.startswith(".") for part in rel.parts)
                        and not any((parent / "manifest.json").is_file()
                                    for parent in file.parents if path in parent.parents)):
                    found.append(str(file))
            if not found:
                raise ValueError(f"{path}: no photo files in this folder (looked for "
                                 f"{', '.join(IMAGE_EXTENSIONS)})")
            paths.extend(found)
        elif path.suffix.lower() == ".csv" and path.is_file():
            paths.extend(_csv_images(path))
        elif not path.exists():
            # kept as a photo: it fails alone ("file not found"), never aborting the others
            paths.append(str(path))
        else:
            paths.append(str(item))
    return paths


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class JsonLinesWriter:
    """One strict-JSON document per line (no NaN), flushed after each batch."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout

    def write(self, documents: Iterable[dict[str, Any]]) -> None:
        for document in documents:
            self.stream.write(json.dumps(json_safe(document), allow_nan=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class CsvWriter:
    """Rows of :data:`CSV_COLUMNS` in a CSV file, flushed after each batch."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.is_dir():
            raise FileNotFoundError(f"--out {path}: the folder {self.path.parent} does not exist")
        self._file = open(self.path, "w", encoding="utf-8", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=CSV_COLUMNS)
        self._writer.writeheader()
        self._file.flush()

    def write(self, documents: Iterable[dict[str, Any]]) -> None:
        for doc in documents:
            row = {key: doc.get(key) for key in CSV_COLUMNS}
            row["top_cluster_weight"] = doc["clusters"][0]["weight"] if doc["clusters"] else None
            row["nearest_neighbor"] = doc["neighbors"][0]["id"] if doc["neighbors"] else None
            self._writer.writerow({key: "" if value is None else value
                                   for key, value in row.items()})
        self._file.flush()

    def close(self) -> None:
        self._file.close()

"""What a directory written by im2gps is, from the file that names it: one home for the check.

=============================  =================================================
file in the directory          what it is
=============================  =================================================
``manifest.json``              an index (:class:`~im2gps.locator.Im2GPS`)
``planet.json``                a PlaNet model
``reference.json``             a reference row (chance, prior, oracle)
``album.json``                 an album locator (pooled votes, travel-prior HMM)
``album_lstm.json``            PlaNet's album LSTM
=============================  =================================================

Kept free of imports so that the photo readers (which skip such folders inside a
photo folder), the index store and the locator loader all ask the same question
the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["MARKERS", "directory_kind"]

#: The file that names each kind of directory, in the order they are looked for.
MARKERS: dict[str, str] = {
    "planet.json": "planet",
    "reference.json": "reference",
    "album.json": "album",
    "album_lstm.json": "album_lstm",
    "manifest.json": "im2gps",
}


def directory_kind(path: str | os.PathLike, strict: bool = False) -> str | None:
    """``"im2gps"``, ``"planet"``, ``"reference"``, ``"album"``, ``"album_lstm"`` or None.

    By default only the marker file's presence is looked at: whether its content
    is sound is for the loader to say (a damaged index is still an index, and
    says so). With ``strict``, the marker must also read as one of ours (a JSON
    object with ``format_version``, and for ``manifest.json`` the im2gps index
    format): a photo folder that happens to hold another program's
    ``manifest.json`` is not taken for an index.
    """
    path = Path(path)
    if not path.is_dir():
        return None
    for name, kind in MARKERS.items():
        marker = path / name
        if marker.is_file() and (not strict or _ours(marker, kind)):
            return kind
    return None


def _ours(marker: Path, kind: str) -> bool:
    import json

    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or "format_version" not in record:
        return False
    return kind != "im2gps" or record.get("format") == "im2gps-index"

"""What a saved index or locator is, read from its manifest alone.

``im2gps index info`` answers from ``manifest.json`` (and ``locator.json``
where a locator was saved over the index) and the files' sizes on disk: it
imports neither pandas, FAISS nor torch and reads no feature matrix or FAISS
index, so it answers in the time Python takes to start, whatever the size of
the index. The checks are the cheap ones: the manifest's format and its own
sha256, and every listed file present with its recorded size. ``im2gps index
verify`` checks every byte; loading the index (``locate``) checks the rest of
what is cheap (matrix headers, hashes of the small files).

The manifest digest is computed as :func:`im2gps.index.store.manifest_digest`
does; it is written again here because importing the index package loads
FAISS and pandas, and ``tests/test_cli.py`` checks the two agree.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["LOCATOR_DEFAULTS", "describe_index"]

#: Voting settings of a bare index (``Im2GPS()``'s defaults; ``tests/test_cli.py``
#: checks they agree with :class:`im2gps.locator.Im2GPS`).
LOCATOR_DEFAULTS = {"k": 120, "vote": "meanshift", "bandwidth_km": 200.0,
                    "kernel": "gaussian", "vote_weights": "uniform"}

_FORMAT = "im2gps-index"
_ITEMSIZE = {"sq8": 1, "float16": 2, "float32": 4}


def _error(message: str) -> ValueError:
    # IndexFormatError is a ValueError; the CLI maps both to exit code 3.
    return ValueError(message)


def _digest(manifest: dict[str, Any]) -> str:
    content = {key: value for key, value in manifest.items() if key != "manifest_sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def describe_index(path: str | os.PathLike, verify: bool = True) -> dict[str, Any]:
    """Describe an index directory (or a locator saved over one) from its manifest.

    Parameters
    ----------
    path : str or Path
        The index directory.
    verify : bool, optional
        Check the manifest's own sha256 and every listed file's size.

    Returns
    -------
    dict
        JSON-ready: ``path``, ``format_version``, ``built_with`` (im2gps
        version), ``built`` (UTC time the manifest was written), ``source``,
        ``additions``, ``photos``, ``skipped``, ``features`` (name -> dim),
        ``feature_params``, ``combined_dim``, ``model`` (a one-line summary),
        ``index_type``, ``search`` (default query settings), ``locator``
        (voting settings: saved ones or the defaults) and sizes on disk.

    Raises
    ------
    ValueError
        When the directory is not an im2gps index, its manifest is damaged or
        a listed file is missing or has the wrong size (exit code 3 in the CLI).
    """
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not path.is_dir():
        raise _error(f"{path}: no such index directory")
    if not manifest_path.is_file():
        raise _error(f"{manifest_path}: missing; {path} is not an im2gps index "
                     "(build one with `im2gps index build`)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise _error(f"{manifest_path}: not valid JSON ({err}); rebuild the index") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise _error(f"{manifest_path}: not an im2gps index manifest")
    files = manifest.get("files") or {}
    if verify:
        recorded = manifest.get("manifest_sha256")
        if recorded is not None and recorded != _digest(manifest):
            raise _error(f"{manifest_path}: its sha256 does not match its content (edited "
                         "or damaged); rebuild the index or restore the manifest")
        for name, record in files.items():
            file = path / name
            if not file.is_file():
                raise _error(f"{file}: missing from the index; rebuild the index")
            if file.stat().st_size != record.get("bytes"):
                raise _error(f"{file}: {file.stat().st_size} bytes, the manifest says "
                             f"{record.get('bytes')} (truncated or modified); rebuild the "
                             "index or restore the file")
    photos = int(manifest["counts"]["photos"])
    record = manifest.get("index", {})
    faiss_file = path / "faiss.index"
    index_bytes = faiss_file.stat().st_size if faiss_file.is_file() else 0
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    trained = record.get("trained_bytes")
    rerank = manifest.get("rerank") or {}
    features = {f["name"]: f["dim"] for f in manifest["features"]}
    locator_file = path / "locator.json"
    saved = json.loads(locator_file.read_text()) if locator_file.is_file() else None
    settings = {key: (saved or {}).get(key, value) for key, value in LOCATOR_DEFAULTS.items()}
    search = {key: value for key, value in (record.get("search") or {}).items()
              if value is not None}
    built = datetime.fromtimestamp(manifest_path.stat().st_mtime, UTC)
    model = (f"IM2GPS kNN over {', '.join(features)} ({manifest['combined_dim']}-d), "
             f"FAISS {record.get('factory', '?')}; vote {settings['vote']}, k {settings['k']}, "
             f"bandwidth {settings['bandwidth_km']:g} km")
    return {
        "path": str(path),
        "format_version": manifest.get("format_version"),
        "built_with": manifest.get("im2gps_version"),
        "built": built.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "source": manifest.get("source"),
        "additions": [a.get("source") for a in manifest.get("additions", [])],
        "photos": photos,
        "skipped": manifest["counts"].get("skipped", 0),
        "model": model,
        "features": features,
        "feature_params": {f["name"]: f.get("params", {}) for f in manifest["features"]},
        "combined_dim": manifest["combined_dim"],
        "index_type": record.get("factory"),
        "search": search,
        "locator": dict(settings, saved=saved is not None),
        "index_bytes": index_bytes,
        "size_bytes": size,
        "bytes_per_photo": size / max(photos, 1),
        "index_bytes_per_photo": index_bytes / max(photos, 1),
        "index_trained_bytes": trained,
        "index_code_bytes_per_photo": (None if trained is None else
                                       (index_bytes - trained) / max(photos, 1)),
        "exact_bytes_per_photo": 4 * manifest["combined_dim"],
        "rerank_dtype": rerank.get("dtype"),
        "rerank_bytes_per_photo": (rerank["dim"] * _ITEMSIZE.get(rerank.get("dtype"), 4)
                                   if rerank.get("dim") else None),
    }

"""A feature cache keyed by photo content and extractor configuration: extract once.

Every descriptor extracted with a cache is kept under the photo's content hash
(SHA-256 of its file, whatever its name, folder or container) and the
extractor's identity (its configuration, what it learned, the decode size and
the im2gps version). Any later extraction of the same photo with the same
extractor -- another benchmark row set, ``planet train``, ``Im2GPS.fit``, the
tutorial, the report, from any working directory -- reads it instead of
decoding the photo again.

Layout: ``<root>/<feature>-<key>/`` per extractor identity, holding chunks
``<id>.npy`` (``(n, dim)`` float32) committed by ``<id>.json`` (the n content
hashes, written last and atomically), so an interrupted write leaves no
half-chunk that counts. Plain files: no pickle, no database.

The root is, in order: the ``root`` argument, ``$IM2GPS_CACHE``,
``$XDG_CACHE_HOME/im2gps``, ``~/.cache/im2gps``.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from im2gps.features import FeatureExtractor

__all__ = ["FeatureCache", "default_cache_dir", "extractor_key"]

ENV_VAR = "IM2GPS_CACHE"


def default_cache_dir() -> Path:
    """``$IM2GPS_CACHE``, else ``$XDG_CACHE_HOME/im2gps``, else ``~/.cache/im2gps``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "im2gps"


def extractor_key(extractor: FeatureExtractor) -> str:
    """Identity of an extractor's output: config, learned arrays, decode size, version."""
    import im2gps
    from im2gps.photos import DECODE_SIDE

    digest = hashlib.sha256()
    digest.update(json.dumps({"config": extractor.config(), "decode_side": DECODE_SIDE,
                              "version": im2gps.__version__}, sort_keys=True).encode())
    for name, array in sorted(extractor.state().items()):
        array = np.ascontiguousarray(array)
        digest.update(name.encode() + str(array.dtype).encode() + str(array.shape).encode())
        digest.update(array.tobytes())
    return f"{extractor.name}-{digest.hexdigest()[:20]}"


class FeatureCache:
    """Descriptors by (extractor identity, photo content hash), on disk.

    Parameters
    ----------
    root : str or Path, optional
        The cache folder (default :func:`default_cache_dir`).
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        if self.root.exists() and not self.root.is_dir():
            from im2gps.errors import UsageError

            raise UsageError(f"{self.root}: the feature cache must be a folder, and this is a "
                             f"file (set ${ENV_VAR} or --cache to a folder)")

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"

    def _folder(self, extractor: FeatureExtractor) -> Path:
        return self.root / extractor_key(extractor)

    def lookup(self, extractor: FeatureExtractor, hashes: Sequence[str | None]
               ) -> tuple[np.ndarray, np.ndarray]:
        """Cached descriptors of photos by content hash.

        Returns
        -------
        found : numpy.ndarray
            ``(n,)`` bool, which photos are cached.
        matrix : numpy.ndarray
            ``(n, dim)`` float32, NaN rows where not found.
        """
        folder = self._folder(extractor)
        matrix = np.full((len(hashes), extractor.dim), np.nan, np.float32)
        found = np.zeros(len(hashes), bool)
        if not folder.is_dir():
            return found, matrix
        wanted: dict[str, list[int]] = {}
        for row, digest in enumerate(hashes):
            if digest:
                wanted.setdefault(digest, []).append(row)
        for record in sorted(folder.glob("*.json")):
            if not wanted:
                break
            try:
                chunk_hashes = json.loads(record.read_text())
                chunk = np.load(record.with_suffix(".npy"), mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError):
                continue  # a damaged chunk is as good as a missing one
            if chunk.shape != (len(chunk_hashes), extractor.dim):
                continue
            for position, digest in enumerate(chunk_hashes):
                rows = wanted.pop(digest, None)
                if rows is not None:
                    matrix[rows] = chunk[position]
                    found[rows] = True
        return found, matrix

    def store(self, extractor: FeatureExtractor, hashes: Sequence[str],
              matrix: np.ndarray) -> None:
        """Add descriptors (``(n, dim)``) of photos with these content hashes, atomically."""
        if len(hashes) == 0:
            return
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.shape != (len(hashes), extractor.dim):
            raise ValueError(f"{matrix.shape} descriptors for {len(hashes)} photos of "
                             f"{extractor.dim}-d {extractor.name!r}")
        folder = self._folder(extractor)
        folder.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        tmp = folder / f".{name}.tmp"
        with open(tmp, "wb") as handle:
            np.save(handle, matrix, allow_pickle=False)
        os.replace(tmp, folder / f"{name}.npy")
        tmp.write_text(json.dumps(list(hashes)))
        os.replace(tmp, folder / f"{name}.json")  # the commit

    # -- fitted extractors (the texton dictionary) ----------------------------------
    def _fitted_folder(self, extractor: FeatureExtractor, sample: Sequence[str],
                       seed: int) -> Path:
        from im2gps.photos import PhotoError, content_hash

        digest = hashlib.sha256(json.dumps({"config": extractor.config(), "seed": int(seed)},
                                           sort_keys=True).encode())
        for path in sample:
            try:
                digest.update(content_hash(path).encode())
            except PhotoError:
                digest.update(b"unreadable")
        return self.root / "fitted" / f"{extractor.name}-{digest.hexdigest()[:20]}"

    def load_fitted(self, extractor: FeatureExtractor, sample: Sequence[str], seed: int) -> bool:
        """Give ``extractor`` what it learned before on the same sample; False if never."""
        from im2gps.features import load_extractor

        folder = self._fitted_folder(extractor, sample, seed)
        if not (folder / f"{extractor.name}.json").is_file():
            return False
        try:
            previous = load_extractor(folder, extractor.name)
        except (OSError, ValueError, KeyError):
            return False
        if previous.config() != extractor.config() or not previous.is_fitted:
            return False
        extractor.set_state(previous.state())
        return True

    def save_fitted(self, extractor: FeatureExtractor, sample: Sequence[str], seed: int) -> None:
        """Keep what ``extractor`` learned on ``sample`` (written aside, then renamed)."""
        folder = self._fitted_folder(extractor, sample, seed)
        if folder.exists():
            return
        tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex}")
        extractor.save(tmp)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process got there first
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)

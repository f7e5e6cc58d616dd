"""Feature extraction over a photo collection: parallel, checkpointed, resumable.

:func:`extract_features` decodes every photo of a collection and runs every
extractor on it, in chunks of photos spread over worker processes. Each
finished chunk is written to a work folder (``.npy`` per feature plus a
``.json`` that commits the chunk, each written to a temporary name and renamed),
so an interrupted run -- even by ``kill -9`` -- resumes where it stopped and
gives the same matrices as an uninterrupted one. The ``.json`` records the
sha256 of each of its chunk's ``.npy`` files; a resumed run checks them before
using a chunk, and a chunk whose files are missing or damaged is extracted
again (said on stderr), never used. Photos that cannot be decoded
are skipped and reported with their reason; they never abort the run.

The extractors, with what ``fit`` learned, are saved in the work folder first
and re-created from there by each worker process. With ``scheduler`` the
chunks run on a Dask cluster instead (:mod:`im2gps.index.cluster`); the
driver still commits every finished chunk, so checkpoints, resumption and the
matrices are the same as for a local run.

The committed chunks are assembled either in memory or, with ``into``,
straight into one ``.npy`` file per feature, written one chunk at a time and
returned memory-mapped, so a collection larger than memory can be extracted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.features import FeatureExtractor, load_extractor
from im2gps.index.store import sha256_file
from im2gps.photos import DECODE_SIDE, MAX_PIXELS, PhotoCollection, PhotoError, Skipped, load_image
from im2gps.threads import child_threads, set_threads

__all__ = ["FeatureSet", "extract_chunk", "extract_features", "fit_extractors",
           "single_thread", "worker_pool", "write_atomic"]

#: Photos per checkpointed chunk.
CHUNK_SIZE = 32


@dataclass
class FeatureSet:
    """Descriptors of the photos of a collection that could be decoded.

    Attributes
    ----------
    matrices : dict of str to numpy.ndarray
        ``(n_ok, dim)`` float32 per feature, rows in collection order.
    ok : numpy.ndarray
        ``(n,)`` bool, which photos of the collection have a row.
    skipped : list of Skipped
        The photos that failed, with their reason.
    """

    matrices: dict[str, np.ndarray]
    ok: np.ndarray
    skipped: list[Skipped] = field(default_factory=list)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` then rename ``tmp`` to ``path`` (atomic on POSIX)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def fit_extractors(
    extractors: Mapping[str, FeatureExtractor],
    collection: PhotoCollection,
    sample_size: int = 200,
    seed: int = 0,
    max_pixels: int = MAX_PIXELS,
    cache: Any = None,
) -> None:
    """Fit the extractors that learn something on a seeded sample of the collection.

    Photos of the sample that cannot be decoded are left out of the sample.
    With ``cache`` (a :class:`~im2gps.index.cache.FeatureCache` or its folder),
    an extractor already fitted on the same sample (by content) with the same
    configuration is read back instead of fitted again.
    """
    needing = [e for e in extractors.values() if e.needs_fit and not e.is_fitted]
    if not needing:
        return
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(collection), min(sample_size, len(collection)), replace=False))
    if cache is not None:
        from im2gps.index.cache import FeatureCache

        cache = cache if isinstance(cache, FeatureCache) else FeatureCache(cache)
        sample = np.asarray(collection.paths)[rows]
        needing = [e for e in needing if not cache.load_fitted(e, sample, seed)]
        if not needing:
            return
    images = []
    for path in np.asarray(collection.paths)[rows]:
        try:
            images.append(load_image(path, max_pixels=max_pixels, max_side=DECODE_SIDE))
        except PhotoError:
            continue
    if not images:
        raise ValueError(f"{collection.source}: no photo of the fitting sample could be decoded")
    for extractor in needing:
        extractor.fit(images)
        if cache is not None:
            cache.save_fitted(extractor, np.asarray(collection.paths)[rows], seed)


# -- worker side ------------------------------------------------------------
_WORKER_EXTRACTORS: dict[str, FeatureExtractor] = {}
_WORKER_MAX_PIXELS = [MAX_PIXELS]


def single_thread(extractors: Mapping[str, FeatureExtractor] | None = None) -> None:
    """One thread in every pool of a worker: parallelism comes from the workers.

    Local workers already start with one-thread BLAS and OpenMP pools (they
    are spawned inside :func:`im2gps.threads.child_threads`); this also sets
    the pools of a process started elsewhere (a Dask worker) and the CNN's.
    """
    set_threads(1)
    for extractor in (extractors or {}).values():
        if getattr(extractor, "threads", 1) is None:  # the CNN's torch threads
            extractor.threads = 1


def _init_worker(state_dir: str, names: list[str], pooled: bool = True,
                 max_pixels: int = MAX_PIXELS) -> None:
    if pooled:
        single_thread()
    _WORKER_MAX_PIXELS[0] = int(max_pixels)
    _WORKER_EXTRACTORS.clear()
    for name in names:
        _WORKER_EXTRACTORS[name] = load_extractor(state_dir, name)
    if pooled:
        single_thread(_WORKER_EXTRACTORS)


def _extract_chunk(paths: list[str]) -> tuple[dict[str, np.ndarray], list[bool], list[list[str]]]:
    return extract_chunk(_WORKER_EXTRACTORS, paths, max_pixels=_WORKER_MAX_PIXELS[0])


def extract_chunk(extractors: Mapping[str, FeatureExtractor], paths: Sequence[str],
                  max_pixels: int = MAX_PIXELS,
                  ) -> tuple[dict[str, np.ndarray], list[bool], list[list[str]]]:
    """Decode a chunk of photos, then run each extractor on the whole batch.

    Photos are decoded with their longer side reduced towards
    :data:`~im2gps.photos.DECODE_SIDE` (JPEG DCT scaling), so big phone photos
    cost little more than small ones. Batches let the CNN run one forward pass
    per chunk. Should an extractor fail on the batch, the chunk is redone
    photo by photo so that only the photos it fails on are skipped.
    """
    images, ok, skipped = [], [], []
    for path in paths:
        try:
            images.append(load_image(path, max_pixels=max_pixels, max_side=DECODE_SIDE))
            ok.append(True)
        except PhotoError as err:
            ok.append(False)
            skipped.append([err.path, err.reason])
    try:
        matrices = {name: ex.transform(images).astype(np.float32, copy=False)
                    for name, ex in extractors.items()}
        return matrices, ok, skipped
    except Exception:  # noqa: BLE001 - find the photos that fail, one by one
        pass
    rows: dict[str, list[np.ndarray]] = {name: [] for name in extractors}
    decoded = iter(images)
    for i, path in enumerate(paths):
        if not ok[i]:
            continue
        image = next(decoded)
        try:
            vectors = {name: ex(image) for name, ex in extractors.items()}
        except Exception as err:  # noqa: BLE001 - any extractor failure skips that photo
            ok[i] = False
            skipped.append([path, f"feature extraction failed: {type(err).__name__}: {err}"])
            continue
        for name, vector in vectors.items():
            rows[name].append(vector)
    matrices = {
        name: np.stack(v).astype(np.float32) if v else
        np.zeros((0, extractors[name].dim), np.float32)
        for name, v in rows.items()
    }
    return matrices, ok, skipped


# -- driver side ------------------------------------------------------------
@contextmanager
def worker_pool(jobs: int, state_dir: str, names: list[str], max_pixels: int = MAX_PIXELS
                ) -> Iterator[ProcessPoolExecutor]:
    """Spawned worker processes with one thread in every pool, each holding the extractors.

    The workers are started inside :func:`im2gps.threads.child_threads`, so
    their BLAS and OpenMP libraries read one thread from the environment when
    they load, before the initializer runs (unpickling it imports numpy).
    ``fork`` is not used: it is unsafe with OpenMP/BLAS thread pools.
    """
    with child_threads(1), ProcessPoolExecutor(
            jobs, mp_context=get_context("spawn"), initializer=_init_worker,
            initargs=(state_dir, names, True, max_pixels)) as pool:
        yield pool


def _chunk_problem(chunks: Path, i: int, names: Sequence[str]) -> str | None:
    """Why committed chunk ``i`` cannot be reused (None: its files match their sha256s).

    Parameters
    ----------
    chunks : Path
        The ``chunks`` folder of a work folder.
    i : int
        Chunk number; its ``.json`` must exist.
    names : sequence of str
        The features whose ``.npy`` files the chunk must have.
    """
    try:
        record = json.loads((chunks / f"{i:06d}.json").read_text())
        sums = record["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return "its record is unreadable or has no checksums"
    for name in names:
        file = chunks / f"{i:06d}.{name}.npy"
        if not file.is_file():
            return f"{file.name} is missing"
        if not isinstance(sums, dict) or sha256_file(file) != sums.get(name):
            return f"{file.name} does not match its sha256 (damaged)"
    return None


def _fingerprint(collection: PhotoCollection, configs: list[dict], chunk_size: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"configs": configs, "chunk": chunk_size}, sort_keys=True).encode())
    for path in collection.paths:
        digest.update(path.encode() + b"\0")
    return digest.hexdigest()


def extract_features(
    collection: PhotoCollection,
    extractors: Mapping[str, FeatureExtractor],
    work_dir: str | os.PathLike,
    jobs: int = 1,
    chunk_size: int = CHUNK_SIZE,
    progress: bool = True,
    scheduler: Any = None,
    into: str | os.PathLike | None = None,
    max_pixels: int = MAX_PIXELS,
    cache: Any = None,
    desc: str = "features",
) -> FeatureSet:
    """Extract every feature of every photo, resuming from ``work_dir``; see :func:`_extract`.

    ``desc`` labels the progress bar (e.g. ``"database features"``). With ``cache``
    (a :class:`~im2gps.index.cache.FeatureCache`, or its folder), photos whose
    descriptors are cached under their content hash and the extractor's
    identity are not decoded again; what is extracted is added to the cache.
    The result is the same as without a cache.
    """
    if cache is None:
        return _extract(collection, extractors, work_dir, jobs, chunk_size, progress, scheduler,
                        into, max_pixels, desc)
    from im2gps.index.cache import FeatureCache
    from im2gps.photos import content_hash

    cache = cache if isinstance(cache, FeatureCache) else FeatureCache(cache)
    n = len(collection)
    if "sha256" in collection.table:
        hashes = [h if isinstance(h, str) else None for h in collection.table["sha256"]]
    else:
        hashes = []
        for path in collection.paths:
            try:
                hashes.append(content_hash(path))
            except PhotoError:
                hashes.append(None)
    looked = {name: cache.lookup(ex, hashes) for name, ex in extractors.items()}
    full = {name: matrix for name, (_, matrix) in looked.items()}
    ok = np.ones(n, bool)
    skipped: list[Skipped] = []
    # Each feature is looked up on its own; features missing for the same photos are
    # extracted together (one decode of those photos), the others not at all.
    groups: dict[bytes, list[str]] = {}
    for name, (found, _) in looked.items():
        if not found.all():
            groups.setdefault((~found).tobytes(), []).append(name)
    for group, names in enumerate(groups.values()):
        need = np.flatnonzero(~looked[names[0]][0])
        fresh = _extract(collection.subset(need), {name: extractors[name] for name in names},
                         Path(work_dir) / f"group-{group}-{'-'.join(names)}", jobs, chunk_size,
                         progress, scheduler, None, max_pixels, desc)
        rows = need[fresh.ok]
        failed = need[~fresh.ok]
        ok[failed] = False
        # a photo that fails for several groups is reported once
        known_paths = {entry.path for entry in skipped}
        skipped += [entry for entry in fresh.skipped if entry.path not in known_paths]
        for name in names:
            full[name][rows] = fresh.matrices[name]
            known = [i for i in rows if hashes[i]]
            cache.store(extractors[name], [hashes[i] for i in known], full[name][known])
    matrices = {name: np.ascontiguousarray(matrix[ok]) for name, matrix in full.items()}
    if into is not None:
        folder = Path(into)
        folder.mkdir(parents=True, exist_ok=True)
        for name, matrix in matrices.items():
            _save_npy(folder / f"{name}.npy", matrix)
        matrices = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                    for name in matrices}
    return FeatureSet(matrices, ok, skipped)


def _extract(
    collection: PhotoCollection,
    extractors: Mapping[str, FeatureExtractor],
    work_dir: str | os.PathLike,
    jobs: int = 1,
    chunk_size: int = CHUNK_SIZE,
    progress: bool = True,
    scheduler: Any = None,
    into: str | os.PathLike | None = None,
    max_pixels: int = MAX_PIXELS,
    desc: str = "features",
) -> FeatureSet:
    """Extract every feature of every photo, resuming from ``work_dir``.

    Parameters
    ----------
    collection : PhotoCollection
        The photos.
    extractors : mapping of str to FeatureExtractor
        Fitted extractors by name.
    work_dir : str or Path
        Checkpoint folder; created if needed. Finished chunks found there (for
        the same photos and extractor configuration) are reused.
    jobs : int, optional
        Worker processes (1 runs in this process).
    chunk_size : int, optional
        Photos per checkpointed chunk.
    progress : bool, optional
        Show a progress bar.
    scheduler : str or distributed.Client, optional
        Run the chunks on this Dask cluster (a scheduler address such as
        ``"tcp://10.0.0.5:8786"``, or a client) instead of local processes;
        ``jobs`` is then ignored. The workers must be able to read the
        photos' paths (e.g. a shared file system). See
        :mod:`im2gps.index.cluster`.
    into : str or Path, optional
        Folder for one ``<feature>.npy`` per feature, filled one chunk at a
        time; the matrices are then returned memory-mapped (read-only)
        instead of in memory.
    max_pixels : int, optional
        Pixel limit of a photo (see :func:`im2gps.photos.load_image`).
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    FeatureSet
    """
    from tqdm.auto import tqdm

    work = Path(work_dir)
    configs = [extractor.config() for extractor in extractors.values()]
    fingerprint = _fingerprint(collection, configs, chunk_size)
    stamp = work / "work.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("fingerprint") != fingerprint:
        shutil.rmtree(work)  # stale checkpoints of other photos or settings
    (work / "chunks").mkdir(parents=True, exist_ok=True)
    state_dir = work / "extractors"
    if not stamp.is_file():
        for extractor in extractors.values():
            extractor.save(state_dir)
        write_atomic(stamp, lambda tmp: tmp.write_text(json.dumps({"fingerprint": fingerprint})))

    paths = collection.paths
    starts = list(range(0, len(paths), chunk_size))
    names = list(extractors)
    todo = []
    for i in range(len(starts)):
        if not (work / "chunks" / f"{i:06d}.json").is_file():
            todo.append(i)
            continue
        problem = _chunk_problem(work / "chunks", i, names)
        if problem is not None:
            print(f"im2gps: checkpoint chunk {i} in {work / 'chunks'}: {problem}; "
                  "extracting it again", file=sys.stderr)
            (work / "chunks" / f"{i:06d}.json").unlink()
            todo.append(i)

    def commit(i: int, result) -> None:
        matrices, ok, skipped = result
        sums = {}
        for name, matrix in matrices.items():
            file = work / "chunks" / f"{i:06d}.{name}.npy"
            _save_npy(file, matrix)
            sums[name] = sha256_file(file)
        # the record, written last and atomically, commits the chunk with its files' sha256s
        write_atomic(
            work / "chunks" / f"{i:06d}.json",
            lambda tmp: tmp.write_text(json.dumps({"ok": ok, "skipped": skipped,
                                                   "sha256": sums})),
        )

    bar = tqdm(total=len(paths), initial=len(paths) - sum(
        min(chunk_size, len(paths) - starts[i]) for i in todo), unit="photo",
        desc=desc, disable=not progress)
    chunk_paths = {i: paths[starts[i]: starts[i] + chunk_size] for i in todo}
    if scheduler is not None and todo:
        from im2gps.index.cluster import extract_on_dask

        def done(i: int, result) -> None:
            commit(i, result)
            bar.update(len(chunk_paths[i]))

        extract_on_dask(scheduler, extractors, chunk_paths, done, key=fingerprint)
    elif jobs <= 1 or len(todo) <= 1:
        _init_worker(str(state_dir), names, pooled=False, max_pixels=max_pixels)
        for i in todo:
            commit(i, _extract_chunk(chunk_paths[i]))
            bar.update(len(chunk_paths[i]))
    else:
        with worker_pool(jobs, str(state_dir), names, max_pixels=max_pixels) as pool:
            futures = {pool.submit(_extract_chunk, chunk_paths[i]): i for i in todo}
            from concurrent.futures import as_completed

            for future in as_completed(futures):
                i = futures[future]
                commit(i, future.result())
                bar.update(len(chunk_paths[i]))
    bar.close()
    return _assemble(work, len(starts), names, into=into)


def _assemble(work: Path, n_chunks: int, names: list[str],
              into: str | os.PathLike | None = None) -> FeatureSet:
    """Gather the committed chunks, in memory or into memory-mapped ``.npy`` files."""
    ok: list[bool] = []
    skipped: list[Skipped] = []
    records = [json.loads((work / "chunks" / f"{i:06d}.json").read_text())
               for i in range(n_chunks)]
    for record in records:
        ok.extend(record["ok"])
        skipped.extend(Skipped(p, r) for p, r in record["skipped"])
    ok_array = np.asarray(ok, dtype=bool)

    def chunk(i: int, name: str) -> np.ndarray:
        return np.load(work / "chunks" / f"{i:06d}.{name}.npy", allow_pickle=False)

    if into is None:
        matrices = {name: np.concatenate([chunk(i, name) for i in range(n_chunks)])
                    if n_chunks else np.zeros((0, 0), np.float32) for name in names}
        return FeatureSet(matrices, ok_array, skipped)
    folder = Path(into)
    folder.mkdir(parents=True, exist_ok=True)
    matrices = {}
    for name in names:
        # the width comes from the first chunk's file header (mmap reads no data)
        dim = np.load(work / "chunks" / f"000000.{name}.npy", mmap_mode="r").shape[1] \
            if n_chunks else 0
        target = np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+",
                                           dtype=np.float32, shape=(int(ok_array.sum()), dim))
        row = 0
        for i in range(n_chunks):
            part = chunk(i, name)
            target[row:row + len(part)] = part
            row += len(part)
        target.flush()
        del target
        matrices[name] = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
    return FeatureSet(matrices, ok_array, skipped)

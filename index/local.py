"""Local features (RootSIFT) of photos, extracted resumably and stored beside an index.

Geometric verification needs every database photo's keypoints and
descriptors (:mod:`im2gps.features.sift`). :func:`extract_local_features`
extracts them for a list of photos in checkpointed chunks, like the scene
features (:mod:`im2gps.index.extract`): each finished chunk is committed to a
work folder with an atomic rename, so an interrupted run resumes where it
stopped and gives the same arrays; a photo that cannot be decoded gets no
keypoints (it can never be verified) and is reported, never aborting the
run. The result is a :class:`~im2gps.features.sift.LocalFeatureSet`
directory, one row per photo in the given order.

:func:`add_local_features` stores them inside an index directory, under
``local/sift/`` (``local.json`` plus ``keypoints.npy``, ``descriptors.npy``,
``offsets.npy``, ``shapes.npy``), rows aligned with the index's photo table;
:func:`load_local_features` reads them back memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.features.sift import LocalFeatures, LocalFeatureSet, RootSIFT
from im2gps.index.extract import _save_npy, single_thread, write_atomic
from im2gps.index.store import GeoIndex
from im2gps.photos import PhotoError, load_image

__all__ = ["LOCAL_DIR", "add_local_features", "extract_local_features", "load_local_features"]

#: Folder of an index directory that holds its local features.
LOCAL_DIR = "local/sift"
#: Photos per checkpointed chunk.
CHUNK_SIZE = 32

_WORKER: dict[str, RootSIFT] = {}


def _init_worker(params: dict[str, Any]) -> None:
    single_thread()
    _WORKER["sift"] = RootSIFT(**params)


def _chunk(paths: Sequence[str], sift: RootSIFT | None = None
           ) -> tuple[LocalFeatureSet, list[list[str]]]:
    sift = sift or _WORKER["sift"]
    features, skipped = [], []
    for path in paths:
        try:
            features.append(sift.detect(load_image(path)))
        except PhotoError as err:
            skipped.append([err.path, err.reason])
            features.append(LocalFeatures(np.zeros((0, 4), np.float16),
                                          np.zeros((0, 128), np.uint8), (0, 0)))
        except Exception as err:  # noqa: BLE001 - an extractor failure skips that photo
            skipped.append([str(path), f"local feature extraction failed: "
                                       f"{type(err).__name__}: {err}"])
            features.append(LocalFeatures(np.zeros((0, 4), np.float16),
                                          np.zeros((0, 128), np.uint8), (0, 0)))
    return LocalFeatureSet.from_list(features, sift.config()), skipped


def extract_local_features(
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    extractor: RootSIFT | None = None,
    jobs: int = 1,
    chunk_size: int = CHUNK_SIZE,
    progress: bool = False,
) -> tuple[LocalFeatureSet, list[dict[str, str]]]:
    """Extract the local features of photos into the directory ``out``, resumably.

    Parameters
    ----------
    paths : sequence of str or Path
        The photos, in the row order of the result.
    out : str or Path
        Directory to write (:meth:`LocalFeatureSet.save`). If it already
        holds the features of the same photos and settings, they are read
        instead of extracted; ``<out>.partial/`` holds the checkpoints of an
        unfinished run.
    extractor : RootSIFT, optional
        Settings (default :class:`RootSIFT` ()).
    jobs : int, optional
        Worker processes.
    chunk_size : int, optional
        Photos per checkpoint.
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    features : LocalFeatureSet
        One row per photo (memory-mapped from ``out``); a photo that failed
        has no keypoints.
    failed : list of dict
        ``{"path", "reason"}`` of each photo that failed.
    """
    from tqdm.auto import tqdm

    extractor = extractor or RootSIFT()
    paths = [str(p) for p in paths]
    out = Path(out)
    digest = hashlib.sha256(json.dumps({"config": extractor.config(), "chunk": chunk_size,
                                        "paths": paths}, sort_keys=True).encode()).hexdigest()
    done = out / "work.json"
    if done.is_file() and json.loads(done.read_text()).get("fingerprint") == digest:
        record = json.loads(done.read_text())
        return LocalFeatureSet.load(out), record["failed"]
    work = out.with_name(out.name + ".partial")
    stamp = work / "work.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("fingerprint") != digest:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    write_atomic(stamp, lambda tmp: tmp.write_text(json.dumps({"fingerprint": digest})))
    starts = list(range(0, len(paths), chunk_size))
    todo = [i for i in range(len(starts)) if not (work / f"{i:06d}.json").is_file()]

    def commit(i: int, result: tuple[LocalFeatureSet, list[list[str]]]) -> None:
        features, skipped = result
        for name in LocalFeatureSet.ARRAYS:
            _save_npy(work / f"{i:06d}.{name}.npy", np.asarray(getattr(features, name)))
        write_atomic(work / f"{i:06d}.json",
                     lambda tmp: tmp.write_text(json.dumps({"skipped": skipped})))

    bar = tqdm(total=len(paths), initial=len(paths) - sum(
        len(paths[starts[i]:starts[i] + chunk_size]) for i in todo), unit="photo",
        desc="sift", disable=not progress)
    if jobs <= 1 or len(todo) <= 1:
        for i in todo:
            commit(i, _chunk(paths[starts[i]:starts[i] + chunk_size], extractor))
            bar.update(len(paths[starts[i]:starts[i] + chunk_size]))
    else:
        context = get_context("spawn")  # fork is unsafe with OpenMP thread pools
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                 initargs=(extractor.get_params(),)) as pool:
            futures = {pool.submit(_chunk, paths[starts[i]:starts[i] + chunk_size]): i
                       for i in todo}
            for future in as_completed(futures):
                i = futures[future]
                commit(i, future.result())
                bar.update(len(paths[starts[i]:starts[i] + chunk_size]))
    bar.close()

    parts, failed = [], []
    for i in range(len(starts)):
        arrays = {name: np.load(work / f"{i:06d}.{name}.npy", allow_pickle=False)
                  for name in LocalFeatureSet.ARRAYS}
        parts.append(LocalFeatureSet(config=extractor.config(), **arrays))
        record = json.loads((work / f"{i:06d}.json").read_text())
        failed += [{"path": p, "reason": r} for p, r in record["skipped"]]
    features = LocalFeatureSet.concatenate(parts) if parts else \
        LocalFeatureSet.from_list([], extractor.config())
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    features.save(tmp)
    (tmp / "work.json").write_text(json.dumps({"fingerprint": digest, "failed": failed}))
    if out.exists():
        shutil.rmtree(out)
    os.rename(tmp, out)
    shutil.rmtree(work, ignore_errors=True)
    return LocalFeatureSet.load(out), failed


def add_local_features(index: GeoIndex, extractor: RootSIFT | None = None, jobs: int = 1,
                       progress: bool = False) -> LocalFeatureSet:
    """Extract (or reuse) the local features of an index's photos, under ``local/sift/``.

    Rows follow the index's photo table. Resumable: an interrupted run
    continues from its checkpoints. The index manifest's checksums do not
    cover ``local/``; its arrays are checked for agreement on load.
    """
    features, _ = extract_local_features(index.photos["image"].tolist(),
                                         index.path / LOCAL_DIR, extractor, jobs=jobs,
                                         progress=progress)
    return features


def load_local_features(index: GeoIndex) -> LocalFeatureSet:
    """The local features stored in an index directory.

    Raises
    ------
    FileNotFoundError
        If the index has none (add them with :func:`add_local_features`).
    """
    path = index.path / LOCAL_DIR
    if not (path / "local.json").is_file():
        raise FileNotFoundError(f"{path}: this index holds no local features; build it with "
                                "`im2gps index build --local-features` (or add them with "
                                "im2gps.index.local.add_local_features(index) from Python)")
    features = LocalFeatureSet.load(path)
    if len(features) != len(index.photos):
        raise ValueError(f"{path}: {len(features)} photos of local features, the index has "
                         f"{len(index.photos)}; add them again")
    return features

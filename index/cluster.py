"""Feature extraction on a Dask cluster.

:func:`extract_on_dask` runs the chunks of :func:`im2gps.index.extract_features`
on the workers of a Dask cluster instead of local processes. Only the driver
writes: each finished chunk comes back to it and is committed to the work
folder exactly as in a local run, so an interrupted distributed build resumes
(locally or on another cluster) and gives the same matrices, hence the same
index, as a local build.

What travels to the workers is plain data: each extractor's configuration
(JSON-ready parameters) and learned arrays (e.g. the texton dictionary),
broadcast once; each worker thread re-creates its own extractors from them
and keeps them for the next chunks (OpenCV objects must not be shared across
threads). Workers read the photos themselves, so the photo paths must be
readable on every worker (a shared or network file system, or the same
layout on every machine).

Start a cluster with ``dask scheduler`` / ``dask worker ADDRESS --nthreads 1``
(one thread per worker process suits these CPU-bound extractors), or
:class:`distributed.LocalCluster` on one machine (with worker processes: a
worker sets OpenCV and FAISS to one thread in the process it runs in), then
pass its address::

    im2gps index build photos/ --out big.idx --scheduler tcp://10.0.0.5:8786

References
----------
.. [1] M. Rocklin, "Dask: parallel computation with blocked algorithms and
   task scheduling", Proc. 14th Python in Science Conference, 2015.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from im2gps.features import FeatureExtractor, create
from im2gps.index.extract import extract_chunk, single_thread

__all__ = ["connect", "extract_on_dask", "extractor_state", "extractors_from_state"]

#: Per worker thread: the extractors of the last build seen, by build key.
_LOCAL = threading.local()


def connect(scheduler: Any) -> tuple[Any, bool]:
    """A ``distributed.Client`` for ``scheduler`` (an address or a client).

    Returns
    -------
    client : distributed.Client
    owned : bool
        Whether the client was opened here (and should be closed by the caller).
    """
    try:
        from distributed import Client
    except ImportError as err:  # pragma: no cover - the dask extra is optional
        raise ImportError("distributed extraction needs Dask: pip install 'im2gps[dask]'"
                          ) from err
    if isinstance(scheduler, Client):
        return scheduler, False
    if not isinstance(scheduler, str):
        raise TypeError(f"scheduler must be an address string or a distributed.Client, "
                        f"not {type(scheduler).__name__}")
    try:
        return Client(scheduler, timeout="30s"), True
    except (OSError, TimeoutError) as err:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None


def extractor_state(extractors: Mapping[str, FeatureExtractor]) -> dict[str, dict[str, Any]]:
    """Plain data that re-creates fitted extractors: config (JSON-ready) and learned arrays."""
    return {name: {"config": ex.config(), "arrays": {k: np.asarray(v)
                                                      for k, v in ex.state().items()}}
            for name, ex in extractors.items()}


def extractors_from_state(state: Mapping[str, Mapping[str, Any]]) -> dict[str, FeatureExtractor]:
    """Re-create extractors from :func:`extractor_state`."""
    extractors = {}
    for name, record in state.items():
        config = record["config"]
        extractor = create(config["name"], **config["params"])
        if record["arrays"]:
            extractor.set_state(dict(record["arrays"]))
        if extractor.dim != config["dim"]:
            raise ValueError(f"feature {name!r}: rebuilt dim {extractor.dim} != {config['dim']}")
        extractors[name] = extractor
    return extractors


def _worker_extract(paths: Sequence[str], key: str, state: Mapping[str, Any]
                    ) -> tuple[dict[str, np.ndarray], list[bool], list[list[str]]]:
    """Task run on a worker: extract one chunk with this thread's extractors.

    A photo the driver found but this worker cannot see is a set-up problem, not
    a bad photo: the task fails (and nothing is committed) instead of skipping it.
    """
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        raise FileNotFoundError(
            f"{missing[0]}: not found on Dask worker {socket.gethostname()} ({len(missing)} of "
            f"{len(paths)} photos of this chunk); every worker must read the photos at the "
            "same paths as this machine (e.g. a shared file system)")
    if getattr(_LOCAL, "key", None) != key:
        single_thread()
        _LOCAL.extractors = extractors_from_state(state)
        single_thread(_LOCAL.extractors)
        _LOCAL.key = key
    return extract_chunk(_LOCAL.extractors, list(paths))


def extract_on_dask(
    scheduler: Any,
    extractors: Mapping[str, FeatureExtractor],
    chunk_paths: Mapping[int, Sequence[str]],
    done: Callable[[int, tuple[dict[str, np.ndarray], list[bool], list[list[str]]]], None],
    key: str,
) -> None:
    """Extract chunks of photos on a Dask cluster, handing each result to ``done``.

    Parameters
    ----------
    scheduler : str or distributed.Client
        Scheduler address or client.
    extractors : mapping of str to FeatureExtractor
        Fitted extractors (their state is broadcast to the workers once).
    chunk_paths : mapping of int to sequence of str
        Chunk number -> photo paths, for the chunks still to do.
    done : callable
        ``done(chunk, (matrices, ok, skipped))``, called on this process as
        chunks finish, in completion order (it commits the checkpoint).
    key : str
        Identifies this build's extractor configuration (workers rebuild their
        extractors when it changes).
    """
    from distributed import as_completed

    client, owned = connect(scheduler)
    try:
        state = client.scatter(extractor_state(extractors), broadcast=True, hash=False)
        futures = {
            client.submit(_worker_extract, list(paths), key, state, pure=False,
                          key=f"im2gps-chunk-{key[:12]}-{i:06d}"): i
            for i, paths in chunk_paths.items()
        }
        for future in as_completed(futures):
            i = futures[future]
            done(i, future.result())
            future.release()
    finally:
        if owned:
            client.close()

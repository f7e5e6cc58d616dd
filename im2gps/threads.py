"""Thread pools: set once per process, the same way on every path.

numpy/scipy (OpenBLAS), FAISS (OpenMP and its own OpenBLAS), OpenCV and
torch each start a pool of one thread per core by default. On a machine
whose cores are busy with other work, or in a worker process beside other
workers, these pools oversubscribe the cores: threads spin at barriers
while others wait for a core (one CNN embedding of one photo took a median
1.8 s with the default pools against 25 ms with one thread on a busy 2-core
machine). This module sets every pool of a process to one size:

* :func:`set_threads` for the current process (the CLI calls it once, with
  ``--threads`` or ``$IM2GPS_THREADS``, default 1): environment variables
  for libraries not loaded yet, :mod:`threadpoolctl` for the BLAS and
  OpenMP libraries already loaded, and the calls torch, OpenCV and FAISS
  offer for their own pools;
* :func:`child_threads` for worker processes: the environment variables are
  set while the workers are started, so each worker's BLAS and OpenMP
  libraries start with one thread, before anything in the worker imports
  numpy (which a worker's initializer cannot do: unpickling the initializer
  imports its module, hence numpy, first);
* :func:`thread_report` says what every pool of the process is set to.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["ENV_VARS", "child_threads", "default_threads", "set_threads", "thread_report"]

#: Environment variables read by BLAS and OpenMP libraries when they load.
ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
            "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def default_threads() -> int:
    """Threads per pool of a command: ``$IM2GPS_THREADS`` if set, else 1."""
    value = os.environ.get("IM2GPS_THREADS", "1")
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"$IM2GPS_THREADS must be a positive integer, not {value!r}") from None
    if threads < 1:
        raise ValueError(f"$IM2GPS_THREADS must be a positive integer, not {value!r}")
    return threads


def set_threads(threads: int = 1) -> None:
    """Set every thread pool of this process to ``threads`` threads.

    Parameters
    ----------
    threads : int, optional
        Threads per pool (BLAS, OpenMP, torch, OpenCV, FAISS).

    Notes
    -----
    Libraries loaded later read the environment variables set here;
    libraries already loaded are set through :mod:`threadpoolctl` (BLAS and
    OpenMP runtimes, found by the shared libraries the process has loaded)
    and through torch's, OpenCV's and FAISS's own calls. Torch is set only if
    it is already imported (importing it costs a second); when it is
    imported later it reads ``OMP_NUM_THREADS``.
    """
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    for name in ENV_VARS:
        os.environ[name] = str(threads)
    import cv2
    import faiss
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # kept: not used as a context manager
    cv2.setNumThreads(threads)
    faiss.omp_set_num_threads(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


@contextmanager
def child_threads(threads: int = 1) -> Iterator[None]:
    """Start processes inside this block to give each one ``threads``-thread pools.

    Sets :data:`ENV_VARS` (and ``$IM2GPS_THREADS``) in this process's
    environment, which spawned children inherit, and restores them on exit.
    """
    names = (*ENV_VARS, "IM2GPS_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ[name] = str(int(threads))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def thread_report() -> dict[str, Any]:
    """Threads of every pool of this process (JSON-ready).

    Returns
    -------
    dict
        ``pools``: one record per BLAS / OpenMP library loaded
        (:func:`threadpoolctl.threadpool_info`: ``prefix``, ``user_api``,
        ``num_threads``, ``filepath``); ``torch`` (None if not imported),
        ``opencv`` and ``faiss`` thread counts; ``max``: the largest of all.
    """
    import cv2
    import faiss
    from threadpoolctl import threadpool_info

    pools = [{key: pool.get(key) for key in ("prefix", "user_api", "num_threads", "filepath")}
             for pool in threadpool_info()]
    torch_threads = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    report = {"pools": pools, "torch": torch_threads, "opencv": cv2.getNumThreads(),
              "faiss": faiss.omp_get_max_threads()}
    counts = [p["num_threads"] for p in pools] + [report["opencv"], report["faiss"]]
    if torch_threads is not None:
        counts.append(torch_threads)
    report["max"] = max(counts)
    return report

"""im2gps.threads: every thread pool at the size asked, in the process and in workers."""

from __future__ import annotations

import json
import subprocess
import sys

from im2gps.features import create
from im2gps.index.extract import worker_pool
from im2gps.threads import thread_report


def test_workers_run_one_thread_in_every_pool(tmp_path):
    """Spawned extraction workers: BLAS, OpenMP, torch, OpenCV and FAISS at one thread."""
    create("cnn").save(tmp_path)  # the worker loads it, hence torch
    with worker_pool(2, str(tmp_path), ["cnn"]) as pool:
        reports = [pool.submit(thread_report).result() for _ in range(2)]
    for report in reports:
        assert report["torch"] == 1
        assert report["max"] == 1, report
        # numpy's own OpenBLAS, loaded before the initializer ran, is at one thread too
        assert any(p["user_api"] == "blas" for p in report["pools"])


def test_cli_sets_every_pool_once():
    """The CLI's set_threads: pools of libraries loaded before and after it are all set."""
    code = ("import torch, numpy, json\n"
            "from im2gps.threads import set_threads, thread_report\n"
            "set_threads(1)\n"
            "import scipy.linalg\n"
            "print(json.dumps(thread_report()))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    report = json.loads(result.stdout)
    assert report["torch"] == 1 and report["max"] == 1, report

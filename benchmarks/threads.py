"""Thread pools where users wait: one-photo CNN embedding and ``index build --jobs 1`` CPU.

Each configuration runs in its own process (thread pools are per process), and
the configurations alternate round by round so that they share the machine's
load alike; min and median over the rounds are reported, as ratios to the
baseline measured in the same run:

* ``baseline``: every pool at one thread from the start of the process
  (``OMP_NUM_THREADS=1`` etc. in the environment before anything loads, CNN
  ``threads=1``): the floor the goals are measured against;
* ``im2gps``: what the CLI does now (``im2gps.threads.set_threads`` once, from
  ``--threads`` / ``$IM2GPS_THREADS``, default 1; CNN at the process setting);
* ``all-cores``: every pool at its default, one thread per core, as before
  (the CNN's old default, ``threads`` = all cores).

One-photo CNN embedding: after two warm-up photos, each process embeds
``--photos`` real im2gps237 photos one at a time (decoded beforehand) and
reports the median milliseconds. ``index build --jobs 1``: ``python -m im2gps
index build`` of ``--build-photos`` real im2gps2k photos with the five
classical features, CPU seconds (user + system) of the child process.

Run ``python benchmarks/threads.py [--rounds 3]``; writes
``benchmarks/results/threads.{json,md}``. Goals (issue 12): CNN within 1.5x
and build CPU within 1.1x of the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"
CONFIGS = ("baseline", "im2gps", "all-cores")
ONE = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

CNN_CHILD = """
import json, sys, time
config, n = sys.argv[1], int(sys.argv[2])
from im2gps.datasets import load
from im2gps.photos import load_image
from im2gps.features import create
import os
if config == "im2gps":
    from im2gps.threads import default_threads, set_threads
    set_threads(default_threads())
cnn = create("cnn", threads={"baseline": 1, "im2gps": None,
                             "all-cores": len(os.sched_getaffinity(0))}[config])
images = [load_image(p) for p in load("im2gps237").paths[:n + 2]]
for image in images[:2]:
    cnn.extract(image)
times = []
for image in images[2:]:
    start = time.perf_counter()
    cnn.extract(image)
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def _env(config: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in (*ONE, "IM2GPS_THREADS")}
    if config == "baseline":
        env.update(ONE)
    return env


def cnn_round(config: str, photos: int) -> float:
    """Median ms of one-photo CNN embeddings in a fresh process."""
    result = subprocess.run([sys.executable, "-c", CNN_CHILD, config, str(photos)],
                            env=_env(config), capture_output=True, text=True, check=True)
    return 1000 * statistics.median(json.loads(result.stdout.strip().splitlines()[-1]))


def build_round(config: str, manifest: Path, work: Path) -> tuple[float, float]:
    """CPU seconds and wall seconds of ``im2gps index build --jobs 1`` in a child process."""
    out = work / f"idx-{config}"
    threads = {"baseline": "1", "im2gps": None, "all-cores": str(os.cpu_count())}[config]
    command = [sys.executable, "-m", "im2gps", *(["--threads", threads] if threads else []),
               "index", "build", str(manifest), "--out", str(out), "--jobs", "1",
               "--no-progress", "--overwrite"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=_env(config), capture_output=True, text=True, check=True,
                   cwd=work)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def summary(values: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    base_min = min(values["baseline"])
    base_med = statistics.median(values["baseline"])
    return {config: {"min": min(v), "median": statistics.median(v),
                     "ratio_min": min(v) / base_min,
                     "ratio_median": statistics.median(v) / base_med, "all": v}
            for config, v in values.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photos", type=int, default=10, help="one-photo CNN embeddings timed")
    parser.add_argument("--build-photos", type=int, default=32)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    cnn: dict[str, list[float]] = {c: [] for c in CONFIGS}
    cpu: dict[str, list[float]] = {c: [] for c in CONFIGS}
    wall: dict[str, list[float]] = {c: [] for c in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="im2gps-threads-") as tmp:
        work = Path(tmp)
        table = pd.read_csv(DATA / "im2gps2k" / "photos.csv").iloc[:args.build_photos].copy()
        table["image"] = [str(DATA / "im2gps2k" / p) for p in table["image"]]
        manifest = work / "db.csv"
        table.to_csv(manifest, index=False)
        for r in range(args.rounds):
            order = CONFIGS if r % 2 == 0 else CONFIGS[::-1]  # interleaved, alternating
            for config in order:
                cnn[config].append(cnn_round(config, args.photos))
                c, w = build_round(config, manifest, work)
                cpu[config].append(c)
                wall[config].append(w)
                print(f"round {r} {config:9s} cnn {cnn[config][-1]:8.1f} ms  "
                      f"build cpu {c:6.2f} s wall {w:6.2f} s", flush=True)
    load = os.getloadavg()
    result = {
        "cnn_ms_per_photo": summary(cnn),
        "build_cpu_s": summary(cpu),
        "build_wall_s": summary(wall),
        "rounds": args.rounds, "photos": args.photos, "build_photos": args.build_photos,
        "cores": os.cpu_count(), "load_average_after": load,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other "
                   "users' work during the run (a busy machine)",
        "command": "python benchmarks/threads.py " + " ".join(argv or sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "threads.json").write_text(json.dumps(result, indent=2) + "\n")

    def rows(block: dict, unit: str, fmt: str) -> str:
        return "\n".join(
            f"| {c} | {format(s['min'], fmt)} | {format(s['median'], fmt)} "
            f"| {s['ratio_min']:.2f}x | {s['ratio_median']:.2f}x |" for c, s in block.items()
        ) + "\n"

    head = "| pools | min | median | ratio (min) | ratio (median) |\n|---|---:|---:|---:|---:|\n"
    md = (f"# Thread pools: one-photo CNN embedding and `index build --jobs 1`\n\n"
          f"Produced by `{result['command'].strip()}`; {args.rounds} interleaved rounds, each "
          f"configuration in a fresh process; ratios against the one-thread baseline of the "
          f"same run. Machine: {result['machine']}; load average after the run "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.\n\n"
          f"`baseline`: one thread in every pool from process start; `im2gps`: the CLI's "
          f"`set_threads` (default 1 thread per pool); `all-cores`: library defaults, one "
          f"thread per core (the behaviour before issue 12).\n\n"
          f"## One-photo CNN embedding (median ms per photo of {args.photos} photos per "
          f"process; goal: within 1.5x of baseline)\n\n" + head
          + rows(result["cnn_ms_per_photo"], "ms", ".1f")
          + f"\n## `im2gps index build --jobs 1`, {args.build_photos} photos, five classical "
            f"features: CPU seconds (goal: within 1.1x of baseline)\n\n" + head
          + rows(result["build_cpu_s"], "s", ".2f")
          + "\nWall seconds of the same builds:\n\n" + head
          + rows(result["build_wall_s"], "s", ".2f"))
    (args.out / "threads.md").write_text(md)
    print(md)
    return result


if __name__ == "__main__":
    main()

"""`im2gps locate` on index directories of 10k to 1M photos: cold start, per query, memory, disk.

Each index directory is written through the package's own store code, the
back half of :func:`im2gps.index.build_index` step by step: feature matrices
as memory-mapped ``.npy`` files, the FAISS index trained on a seeded sample
and filled chunk by chunk by :func:`~im2gps.index.faiss_over_features`, the
compact 8-bit re-ranking vectors written in the same pass
(:class:`~im2gps.index.rerank.CompactWriter`), the fitted extractors, the
photo table and :func:`~im2gps.index.build.write_manifest` (full sha256 of
every file). Only the photos are synthetic: as in ``benchmarks/scale.py``,
each one is a convex mixture ``w a + (1 - w) b`` (``w ~ U(0.5, 1)``) of the
raw descriptors of two real im2gps2k photos, placed where ``a`` was taken;
the per-feature scales are the real database's. The index type is
``PCA256,IVF1024,PQ64`` (trained on at most 50k photos), queried with
``nprobe`` 64 and a short list of 480 re-ranked.

Measured per size:

* cold ``im2gps locate DIR PHOTO --json`` of one real im2gps237 photo in a
  fresh process (wall seconds; min and median over ``--rounds``), beside the
  import floor measured in the same rounds: a fresh process that imports
  what ``locate`` imports (the feature extractors' modules included) and
  does nothing else; the difference is the index load and its checks, the
  extraction of one photo, search, vote and the gazetteer's first lookup
  (reading its GeoNames table, about 0.6 s whatever the index);
* the same process's peak resident memory (VmHWM, read by the process itself);
* per query, in one process with the index loaded: search + vote of the 237
  im2gps237 photos one at a time (descriptors extracted beforehand), median ms;
* bytes on disk, in all and per photo, and the load-time checks against the
  full ``im2gps index verify``;
* growth exponents ``log(t2 / t1) / log(n2 / n1)`` from the smallest to the largest size.

Run ``python benchmarks/locate_scale.py [--sizes 10000,100000,1000000]``;
writes ``benchmarks/results/locate_scale.{json,md}``. Needs about 15 GB of
temporary disk for 1M photos (``--work``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
from md_sections import write_section
from startup import BASELINE, ENV  # bytecode caches as a user has them

import im2gps
from im2gps.benchmark import database_index, query_features
from im2gps.datasets import load
from im2gps.features import CLASSICAL
from im2gps.index import GeoIndex, ann, faiss_over_features
from im2gps.index.build import write_manifest
from im2gps.index.combine import combine
from im2gps.index.rerank import CompactWriter, train_sq8
from im2gps.index.store import FORMAT, FORMAT_VERSION, verify_index
from im2gps.locator import Im2GPS
from im2gps.threads import default_threads, set_threads

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
FACTORY = "PCA256,IVF1024,PQ64"
SEARCH = {"nprobe": 64, "rerank": 480}
# The import floor of issue 13's start-up benchmark (benchmarks/startup.py): what any
# process that reads photos and searches FAISS pays before it does anything.
FLOOR = BASELINE + "\n"


def write_directory(real: GeoIndex, n: int, out: Path, seed: int = 0,
                    chunk: int = 50_000) -> float:
    """Write an index directory of ``n`` synthetic photos; returns the seconds taken."""
    clock = time.perf_counter()
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "features").mkdir(parents=True)
    names = real.feature_names
    raw = {name: np.asarray(real.features(name)) for name in names}
    coords = real.coords
    files = {name: np.lib.format.open_memmap(tmp / "features" / f"{name}.npy", mode="w+",
                                             dtype=np.float32, shape=(n, raw[name].shape[1]))
             for name in names}
    rng = np.random.default_rng(seed)
    where = np.empty(n, np.int64)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        a, b = rng.integers(0, len(coords), rows), rng.integers(0, len(coords), rows)
        w = rng.uniform(0.5, 1.0, rows).astype(np.float32)[:, None]
        for name in names:
            files[name][start:start + rows] = w * raw[name][a] + (1 - w) * raw[name][b]
        where[start:start + rows] = a
    for m in files.values():
        m.flush()
    del files
    matrices = {name: np.load(tmp / "features" / f"{name}.npy", mmap_mode="r")
                for name in names}
    extractors, scales, weights = real.extractors, real.scales, real.weights
    dim = sum(ex.dim for ex in extractors.values())
    sample = ann.training_rows(n, 50_000, seed)
    trained = train_sq8(combine({k: np.asarray(m[sample]) for k, m in matrices.items()},
                                extractors, scales, weights))
    writer = CompactWriter(tmp / "rerank", n, dim, "sq8", trained)
    index, trained_bytes = faiss_over_features(matrices, extractors, scales, weights, FACTORY,
                                               seed=seed, max_train=50_000, chunk_rows=chunk,
                                               each_chunk=writer.add)
    rerank = writer.close()
    for extractor in extractors.values():
        extractor.save(tmp / "extractors")
    pd.DataFrame({"id": [f"synthetic{i}" for i in range(n)],
                  "image": [f"synthetic/{i}.jpg" for i in range(n)],
                  "lat": coords[where, 0], "lon": coords[where, 1]}).to_parquet(
        tmp / "photos.parquet", index=False)
    faiss.write_index(index, str(tmp / "faiss.index"))
    pd.DataFrame({"image": [], "reason": []}).to_csv(tmp / "skipped.csv", index=False)
    features = json.loads(json.dumps(real.manifest["features"]))
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "im2gps_version": im2gps.__version__,
                "source": f"{n} mixtures of im2gps2k photos (benchmarks/locate_scale.py)",
                "counts": {"photos": n, "skipped": 0}, "features": features,
                "combined_dim": dim,
                "index": {"factory": FACTORY, "metric": "L2", "ntotal": int(index.ntotal),
                          "trained_bytes": trained_bytes, "search": SEARCH},
                "seed": seed, "rerank": rerank}
    write_manifest(tmp, manifest)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    return time.perf_counter() - clock


#: Appended to a child's code: print the process's peak resident memory (VmHWM, which
#: starts afresh at exec; the parent's rusage would count the parent's pages at fork).
PEAK = ("\nimport sys\nsys.stderr.write('PEAK_KIB ' + [line.split()[1] for line in "
        "open('/proc/self/status') if line.startswith('VmHWM')][0] + '\\n')\n")
LOCATE = "import sys\nfrom im2gps.cli import main\ncode = main(sys.argv[1:])\n"
#: Reads what a locate reads besides the index: modules, extractor code, gazetteer, photo.
LIBRARIES = ("import sys, numpy, PIL, faiss, cv2, pyarrow.parquet, threadpoolctl\n"
             "import im2gps.cli, im2gps.locator, im2gps.index.store\n"
             "from im2gps.features import create\n"
             "[create(n) for n in ('tiny', 'color', 'texton', 'gist', 'lines')]\n"
             "from im2gps.gazetteer import nearest_place\nnearest_place([48.0], [2.0])\n"
             "from im2gps.photos import load_image\nload_image(sys.argv[1])\n")


def _run(code: str, args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of a fresh ``python -c code args`` process."""
    clock = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code + PEAK, *args], capture_output=True,
                            text=True, check=True, env=ENV)
    wall = time.perf_counter() - clock
    peak = [line for line in result.stderr.splitlines() if line.startswith("PEAK_KIB ")][-1]
    return wall, int(peak.split()[1]) / 1024


def _drop_page_cache() -> bool:
    """Empty the OS page cache (Linux, as root); False where that is not allowed."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        return False
    return True


def cold_locate(directory: Path, photo: str, rounds: int) -> dict:
    """Fresh ``locate`` processes against the floor, with the index's files in the page
    cache as after any recent use (one untimed run first: writing and verifying a 14 GB
    directory leaves the cache in a state no user meets), and once with them out of it
    (the page cache emptied, then the floor run to bring the libraries back: the index
    read from disk on its first use after a boot)."""
    args = ["locate", str(directory), photo, "--json"]
    _run(LOCATE, args)
    locate, floor, memory = [], [], []
    for _ in range(rounds):  # interleaved: floor, then locate
        floor.append(_run(FLOOR, [])[0])
        wall, rss = _run(LOCATE, args)
        locate.append(wall)
        memory.append(rss)
    out = {"locate_s": {"min": min(locate), "median": statistics.median(locate)},
           "floor_s": {"min": min(floor), "median": statistics.median(floor)},
           "above_floor_s": {"min": min(locate) - min(floor),
                             "median": statistics.median(locate) - statistics.median(floor)},
           "peak_rss_mib_max": max(memory), "uncached_above_floor_s": None}
    if _drop_page_cache():
        _run(LIBRARIES, [photo])  # what locate reads besides the index, back in the cache
        wall = _run(LOCATE, args)[0]
        out["uncached_above_floor_s"] = wall - statistics.median(floor)
    return out


NOTE = (
    "Cold means a fresh process; the index's files are in the page cache as after any "
    "recent use (one untimed run first), as the floor's libraries are. The uncached "
    "column empties the page cache first (then reads the libraries back): the index is "
    "then read from disk, mostly its FAISS file (102 MB at 1M photos), which the load "
    "reads and hashes whole (the load-time check, which catches a modified FAISS file "
    "before any answer), at the speed of this machine's disk. In the cached case the "
    "time above the floor is the load checks (manifest, sizes, headers, sha256 of the "
    "FAISS file and the photo table), the features of one photo (their set-up on a "
    "second thread), search, re-ranking of 480 rows checked by CRC-32 and vote.")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def per_query(directory: Path, queries: dict[str, np.ndarray]) -> dict:
    locator = Im2GPS.load(directory)
    index = locator.index_
    n = len(next(iter(queries.values())))
    search, vote = [], []
    for i in range(n):
        one = {name: m[i:i + 1] for name, m in queries.items()}
        clock = time.perf_counter()
        d, ids = index.search(one, locator.k)
        middle = time.perf_counter()
        locator.vote_on(ids, d)
        search.append(middle - clock)
        vote.append(time.perf_counter() - middle)
    return {"search_ms_median": 1000 * statistics.median(search),
            "vote_ms_median": 1000 * statistics.median(vote),
            "query_ms_median": 1000 * statistics.median(np.add(search, vote))}


def load_checks(directory: Path) -> dict:
    clock = time.perf_counter()
    GeoIndex.load(directory)
    load_s = time.perf_counter() - clock
    verify = verify_index(directory)
    return {"load_s": load_s, "verify_s": verify["seconds"], "bytes": verify["bytes"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, default=REPO / ".cache")
    parser.add_argument("--work", type=Path, default=None, help="temporary folder")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    set_threads(default_threads())  # as the CLI does before locate
    sizes = [int(s) for s in args.sizes.split(",")]

    db, test = load("im2gps2k"), load("im2gps237")
    real = database_index(db, CLASSICAL, args.cache, args.jobs, progress=False)
    queries, _ = query_features(test, real, args.cache, args.jobs, progress=False)
    ok = np.all([np.isfinite(m).all(axis=1) for m in queries.values()], axis=0)
    queries = {name: m[ok] for name, m in queries.items()}
    photo = test.paths[0]
    records = []
    with tempfile.TemporaryDirectory(prefix="im2gps-locate-", dir=args.work) as tmp:
        for n in sizes:
            directory = Path(tmp) / f"idx{n}"
            write_s = write_directory(real, n, directory)
            record = {"photos": n, "write_s": write_s}
            record.update(load_checks(directory))
            record["bytes_per_photo"] = record["bytes"] / n
            record.update(cold_locate(directory, photo, args.rounds))
            record.update(per_query(directory, queries))
            records.append(record)
            print(json.dumps(record), flush=True)
            shutil.rmtree(directory)
    first, last = records[0], records[-1]

    def exponent(key: str, sub: str | None = None) -> float:
        a = first[key][sub] if sub else first[key]
        b = last[key][sub] if sub else last[key]
        return math.log(max(b, 1e-9) / max(a, 1e-9)) / math.log(last["photos"] / first["photos"])

    growth = {"above_floor_s": exponent("above_floor_s", "median"),
              "load_s": exponent("load_s"), "query_ms": exponent("query_ms_median"),
              "search_ms": exponent("search_ms_median"), "bytes": exponent("bytes"),
              "peak_rss": exponent("peak_rss_mib_max")}
    document = {"factory": FACTORY, "search": SEARCH, "records": records, "growth": growth,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other "
                           "users' work (timings noisy)",
                "command": "python benchmarks/locate_scale.py " + " ".join(argv or sys.argv[1:])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "locate_scale.json").write_text(json.dumps(document, indent=2) + "\n")
    lines = [
        "# `im2gps locate` on 10k to 1M-photo index directories",
        "",
        f"Produced by `{document['command'].strip()}` on {document['machine']}. Index "
        f"`{FACTORY}`, nprobe {SEARCH['nprobe']}, {SEARCH['rerank']} re-ranked from 8-bit "
        "vectors; directories written through the package's store code from mixtures of "
        "real im2gps2k descriptors (see the script's docstring). Cold start: a fresh "
        "`im2gps locate DIR PHOTO --json` process, one real photo (five classical features "
        "extracted), against the import floor measured in the same rounds: `python -c "
        "\"import numpy, PIL, faiss\"`, the baseline of `benchmarks/startup.py` (bytecode "
        "caches used, as a user has them). Goal (issue 12): cold locate at 1M photos under "
        "1 s above that floor.",
        "",
        "| photos | disk GiB | bytes/photo | write s | load checks s | full verify s "
        "| cold locate s (median) | import floor s | above floor s (min / median) "
        "| index files uncached: above floor s | peak RSS MiB "
        "| search ms/query | vote ms/query |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        lines.append(
            f"| {r['photos']:,} | {r['bytes'] / 2**30:.2f} | {r['bytes_per_photo']:,.0f} "
            f"| {r['write_s']:.0f} | {r['load_s']:.3f} | {r['verify_s']:.1f} "
            f"| {r['locate_s']['median']:.2f} | {r['floor_s']['median']:.2f} "
            f"| {r['above_floor_s']['min']:.2f} / {r['above_floor_s']['median']:.2f} "
            f"| {_s(r['uncached_above_floor_s'])} | {r['peak_rss_mib_max']:.0f} "
            f"| {r['search_ms_median']:.2f} | {r['vote_ms_median']:.2f} |")
    lines += ["", f"Growth exponents from {first['photos']:,} to {last['photos']:,} photos "
              "(t ~ n^e): " + ", ".join(f"{k} {v:.2f}" for k, v in growth.items()), "",
              NOTE, ""]
    md = "\n".join(lines)
    # In scale.md beside the in-memory scale figures (scale.py keeps this section).
    write_section(args.out / "scale.md", "locate_scale", md.replace("# `im2gps", "## `im2gps", 1))
    print(md)
    return document


if __name__ == "__main__":
    main()

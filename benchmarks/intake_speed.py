"""Intake speed: photos from containers against loose files, and big photos against small.

Run ``python benchmarks/intake_speed.py [--photos N] [--rounds R]``. Two
figures, each a ratio against a baseline measured in the same run, rounds
interleaved (min and median over rounds):

* **Extraction throughput from containers.** The same real photos of
  ``../shared/data/im2gps2k`` as loose files (the baseline), as MP-16-style
  msgpack shards, WebDataset tar shards and an OSV-5M-style zip; each round
  extracts the ``tiny`` and ``color`` features of all of them in one process
  (``extract_features``, fresh checkpoint folder), after listing. Target:
  photos per second from each container at least that from loose files.
* **Decoding big photos.** A real photo upscaled to 12 and 48 megapixels
  (JPEG, quality 90), decoded for the features (``load_image(...,
  max_side=DECODE_SIDE)``, reduced-scale JPEG decoding) against the same
  photo at its own 640 x 480 (the baseline) and against a full decode.
  Target: a 12-megapixel photo costs little more than a 640-px one.

Writes ``benchmarks/results/intake_speed.json`` and ``intake_speed.md``.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before numpy loads its thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from PIL import Image  # noqa: E402

from im2gps.datasets import load  # noqa: E402
from im2gps.features import create  # noqa: E402
from im2gps.index.extract import extract_features, single_thread  # noqa: E402
from im2gps.photos import DECODE_SIDE, PhotoCollection, load_image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_archives import write_msgpack, write_tar, write_zip  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def throughput(n_photos: int, rounds: int, tmp: Path) -> list[dict]:
    db = load("im2gps2k")
    table = db.table.iloc[:n_photos].reset_index(drop=True).copy()
    table["path"] = table["image"]
    table["key"] = [Path(p).name for p in table["image"]]
    meta = write_msgpack(table, tmp / "mp16" / "shards", per_shard=100)
    write_tar(table, tmp / "wds", per_shard=100)
    osv = write_zip(table, tmp / "osv5m")
    sources = {
        "loose files (baseline)": lambda: PhotoCollection(
            table[["id", "image", "lat", "lon"]].copy(), [], "loose"),
        "msgpack shards": lambda: PhotoCollection.open(tmp / "mp16" / "shards", coords=meta),
        "tar shards": lambda: PhotoCollection.open(tmp / "wds"),
        "zip archive": lambda: PhotoCollection.open(tmp / "osv5m" / "images", coords=osv),
    }
    extractors = {name: create(name) for name in ("tiny", "color")}
    times: dict[str, list[float]] = {name: [] for name in sources}
    list_times: dict[str, list[float]] = {name: [] for name in sources}
    for r in range(rounds):
        for name, make in sources.items():  # interleaved: every source once per round
            start = time.perf_counter()
            collection = make()
            list_times[name].append(time.perf_counter() - start)
            work = tmp / f"work-{r}-{name.split()[0]}"
            start = time.perf_counter()
            extract_features(collection, extractors, work, progress=False)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["loose files (baseline)"])
    rows = []
    for name in sources:
        rows.append({"source": name, "photos": n_photos,
                     "list_s_median": statistics.median(list_times[name]),
                     "extract_s_min": min(times[name]),
                     "extract_s_median": statistics.median(times[name]),
                     "photos_per_s_median": n_photos / statistics.median(times[name]),
                     "throughput_vs_loose": base / statistics.median(times[name])})
    return rows


def big_photos(rounds: int, tmp: Path) -> list[dict]:
    source = load("im2gps2k").paths[0]
    paths = {"640 x 480 (baseline)": source}
    with Image.open(source) as image:
        for label, size in (("12 MP (4000 x 3000)", (4000, 3000)),
                            ("48 MP (8000 x 6000)", (8000, 6000))):
            path = tmp / f"{size[0]}.jpg"
            image.resize(size, Image.BICUBIC).save(path, quality=90)
            paths[label] = str(path)
    cases = {label: (lambda p=p: load_image(p, max_side=DECODE_SIDE))
             for label, p in paths.items()}
    for label, p in list(paths.items())[1:]:
        cases[f"{label}, full decode"] = lambda p=p: load_image(p)
    times: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(rounds):
        for label, function in cases.items():
            times[label].append(_timed(function))
    base = statistics.median(times["640 x 480 (baseline)"])
    return [{"photo": label, "ms_min": 1000 * min(t), "ms_median": 1000 * statistics.median(t),
             "cost_vs_640px": statistics.median(t) / base} for label, t in times.items()]


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200, help="photos per source (200)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    args = parser.parse_args()
    single_thread()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        result = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}; one process, one thread; other work "
                       "may have shared the machine (ratios are within one run)",
            "throughput": throughput(args.photos, args.rounds, tmp),
            "big_photos": big_photos(max(5, args.rounds * 3), tmp),
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "intake_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Intake speed", "", f"`python benchmarks/intake_speed.py --photos {args.photos} "
             f"--rounds {args.rounds}`; {result['machine']}.", "",
             "## Feature extraction (tiny + color) from containers against loose files", "",
             "| source | photos | listing s | extraction s (min / median) | photos/s | "
             "throughput vs loose |", "|:---|---:|---:|---:|---:|---:|"]
    for r in result["throughput"]:
        lines.append(f"| {r['source']} | {r['photos']} | {r['list_s_median']:.2f} | "
                     f"{r['extract_s_min']:.2f} / {r['extract_s_median']:.2f} | "
                     f"{r['photos_per_s_median']:.1f} | {r['throughput_vs_loose']:.2f}x |")
    lines += ["", "## Decoding a photo for the features (reduced-scale JPEG decoding)", "",
              "| photo | ms (min / median) | cost vs the 640-px photo |", "|:---|---:|---:|"]
    for r in result["big_photos"]:
        lines.append(f"| {r['photo']} | {r['ms_min']:.1f} / {r['ms_median']:.1f} | "
                     f"{r['cost_vs_640px']:.2f}x |")
    (RESULTS / "intake_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()

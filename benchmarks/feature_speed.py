"""Feature speed: milliseconds per photo for each scene feature, one process, one core.

Run ``python benchmarks/feature_speed.py [--photos N]``. Every feature is timed
on the same real 640-px photos of ``../shared/data/im2gps237`` (decoded once,
outside the timing), single-threaded (OMP, OpenCV, FAISS and scipy.fft all on
one thread). The baseline measured in the same run is JPEG decoding of the same
photos, so the table also reads as "feature cost in decodes". Target: all five
classical features together <= 100 ms per photo on one core.

Writes ``benchmarks/results/feature_speed.json`` and ``feature_speed.md``.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before numpy/scipy/faiss load their thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import faiss  # noqa: E402

from im2gps.datasets import load  # noqa: E402
from im2gps.features import CLASSICAL, create  # noqa: E402
from im2gps.photos import load_image  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MS = 100.0


def best_of(repeats: int, function) -> float:
    """Best wall time in seconds of ``repeats`` calls (the least disturbed run)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=30, help="photos to time (default 30)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats, best kept (default 3)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)

    test = load("im2gps237")
    paths = test.paths[: args.photos]
    images = [load_image(p) for p in paths]
    n = len(images)

    decode_s = best_of(args.repeats, lambda: [load_image(p) for p in paths])
    db = load("im2gps2k")
    fit_images = [load_image(p) for p in db.paths[:100]]
    rows = {}
    for name in CLASSICAL:
        extractor = create(name)
        fit_s = 0.0
        if extractor.needs_fit:
            start = time.perf_counter()
            extractor.fit(fit_images)
            fit_s = time.perf_counter() - start
        extractor.transform(images[:2])  # warm caches (filter banks, FFT plans)
        seconds = best_of(args.repeats, lambda ex=extractor: ex.transform(images))
        rows[name] = {"dim": extractor.dim, "ms_per_photo": 1000 * seconds / n,
                      "fit_s_100_photos": fit_s}
    total = sum(r["ms_per_photo"] for r in rows.values())
    decode_ms = 1000 * decode_s / n
    for row in rows.values():
        row["x_decode"] = row["ms_per_photo"] / decode_ms
    result = {
        "photos": n,
        "image_size": f"{images[0].shape[1]}x{images[0].shape[0]} (first photo)",
        "threads": 1,
        "decode_ms_per_photo": decode_ms,
        "features": rows,
        "total_ms_per_photo": total,
        "target_ms_per_photo": TARGET_MS,
        "meets_target": total <= TARGET_MS,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "command": "python benchmarks/feature_speed.py",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "feature_speed.json").write_text(json.dumps(result, indent=2))
    lines = [
        "# Feature speed (one process, one core)",
        "",
        f"{n} real photos of im2gps237 (longer side 640 px), best of {args.repeats} runs; "
        f"baseline: JPEG decoding, {decode_ms:.1f} ms/photo, measured in the same run.",
        "",
        "| feature | dim | ms / photo | x decode | fit (100 photos) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        fit = f"{row['fit_s_100_photos']:.1f} s" if row["fit_s_100_photos"] else ""
        lines.append(f"| {name} | {row['dim']} | {row['ms_per_photo']:.1f} | "
                     f"{row['x_decode']:.1f} | {fit} |")
    lines.append(f"| **all five** | {sum(r['dim'] for r in rows.values())} | **{total:.1f}** | "
                 f"{total / decode_ms:.1f} | |")
    lines += ["", f"Target <= {TARGET_MS:.0f} ms/photo: "
              f"{'met' if total <= TARGET_MS else 'NOT met'}. Machine: {result['machine']}. "
              f"Command: `{result['command']}`."]
    (RESULTS / "feature_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()

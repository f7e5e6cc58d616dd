"""Compact re-ranking vectors: accuracy lost on the real database by float16 and 8-bit codes.

The im2gps2k database (1,685 photos, five classical features, combined
2,773-d vectors) and the 237 im2gps237 test photos. For each storage type of
the re-ranking vectors (``float32``: today's exact vectors, the baseline;
``float16``; ``sq8``: FAISS's 8-bit scalar quantizer trained on the
database), the database vectors are encoded and decoded, then the test photos
are answered in two settings:

* ``exhaustive``: every database photo is re-ranked (the short list is the
  whole database), so every neighbour distance comes from the compact vectors:
  the worst case for them;
* ``compressed``: the README's scale recipe, ``PCA256,IVF16,PQ32`` searched
  with ``nprobe`` 16 and a short list of 480 re-ranked, as
  :meth:`GeoIndex.search` does.

Each answer goes through the same voting as the benchmark: the paper's
mean-shift (k = 120, 200 km) and the cross-validated setting of the
recorded benchmark run (kde, k = 120, 400 km). Reported: accuracy at
1/25/200/750/2500 km and its loss in points against float32 (goal: at most 0.5 at
every threshold), the overlap of the k = 120 neighbour sets with float32's,
and bytes per photo (goal: at most a quarter of float32).

Run ``python benchmarks/rerank_dtype.py [--jobs 2]`` (features are extracted
once into ``.cache``); writes ``benchmarks/results/rerank_dtype.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from im2gps.benchmark import database_index, query_features
from im2gps.datasets import load
from im2gps.evaluate import THRESHOLDS_KM, accuracy, errors_km
from im2gps.features import CLASSICAL
from im2gps.index import ann
from im2gps.index.rerank import DTYPES, decode, encode, train_sq8
from im2gps.locator import Im2GPS

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
VOTES = {"paper meanshift k=120 200 km": {"vote": "meanshift", "k": 120, "bandwidth_km": 200.0},
         "cv kde k=120 400 km": {"vote": "kde", "k": 120, "bandwidth_km": 400.0}}
SETTINGS = {"exhaustive": None, "compressed": ("PCA256,IVF16,PQ32", 16, 480)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, default=REPO / ".cache")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    start = time.perf_counter()

    db, test = load("im2gps2k"), load("im2gps237")
    index = database_index(db, CLASSICAL, args.cache, args.jobs, progress=False)
    queries, failed = query_features(test, index, args.cache, args.jobs, progress=False)
    ok = np.all([np.isfinite(m).all(axis=1) for m in queries.values()], axis=0)
    names = index.feature_names
    vectors = index.embed({name: np.asarray(index.features(name)) for name in names})
    query_vectors = index.embed({name: queries[name][ok] for name in names})
    truth = test.coords
    n, dim = vectors.shape

    compressed = ann.make_faiss_index(vectors, SETTINGS["compressed"][0])
    sq8 = train_sq8(vectors)
    decoded = {dtype: decode(encode(vectors, dtype, sq8), dtype, sq8) for dtype in DTYPES}
    results: dict = {}
    neighbours: dict = {}
    for setting, spec in SETTINGS.items():
        for dtype, table in decoded.items():
            def rows_of(rows: np.ndarray, table: np.ndarray = table) -> np.ndarray:
                return table[rows]
            if spec is None:
                dist2, ids = ann.rerank(query_vectors, np.tile(np.arange(n), (len(query_vectors),
                                                                              1)), rows_of, 120)
            else:
                _, nprobe, short = spec
                dist2, ids = ann.search(compressed, query_vectors, 120, nprobe=nprobe,
                                        rerank_size=short, vectors_of=rows_of)
            neighbours[setting, dtype] = ids
            for vote, params in VOTES.items():
                locator = Im2GPS(**params).fit(index)
                full_ids = np.full((len(test), 120), -1, np.int64)
                full_d = np.full((len(test), 120), np.nan, np.float32)
                full_ids[ok], full_d[ok] = ids, np.sqrt(np.maximum(dist2, 0))
                predictions = locator.vote_on(full_ids, full_d)
                errors = errors_km(predictions.lat, predictions.lon, truth[:, 0], truth[:, 1])
                errors[~ok] = np.inf
                results.setdefault(setting, {}).setdefault(vote, {})[dtype] = (
                    100 * accuracy(errors)).tolist()

    report: dict = {"database": "im2gps2k", "photos": n, "dim": dim, "test": "im2gps237",
                    "failed_test_photos": len(failed), "thresholds_km": list(THRESHOLDS_KM),
                    "bytes_per_photo": {dtype: dim * size for dtype, size in DTYPES.items()},
                    "accuracy": results, "loss_points": {}, "max_loss_points": {},
                    "overlap_k120": {}, "overlap_top1": {}}
    for setting in SETTINGS:
        for dtype in DTYPES:
            base, ids = neighbours[setting, "float32"], neighbours[setting, dtype]
            overlap = np.mean([len(np.intersect1d(a, b)) / len(a) for a, b in zip(base, ids,
                                                                                  strict=True)])
            report["overlap_k120"].setdefault(setting, {})[dtype] = float(overlap)
            report["overlap_top1"].setdefault(setting, {})[dtype] = float(
                np.mean(base[:, 0] == ids[:, 0]))
        for vote in VOTES:
            acc = results[setting][vote]
            for dtype in DTYPES:
                loss = (np.array(acc["float32"]) - np.array(acc[dtype])).tolist()
                report["loss_points"].setdefault(setting, {}).setdefault(vote, {})[dtype] = loss
                worst = report["max_loss_points"].setdefault(dtype, 0.0)
                report["max_loss_points"][dtype] = max(worst, max(loss))
    eligible = [d for d in ("sq8", "float16") if report["max_loss_points"][d] <= 0.5
                and report["bytes_per_photo"][d] <= report["bytes_per_photo"]["float32"] / 4]
    report["chosen"] = eligible[0] if eligible else "float16"
    report["seconds"] = time.perf_counter() - start
    report["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores shared with other "
                         "users' work (accuracy figures do not depend on it)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rerank_dtype.json").write_text(json.dumps(report, indent=2) + "\n")

    lines = [
        "# Compact re-ranking vectors: accuracy lost by float16 and 8-bit codes",
        "",
        "Produced by `python benchmarks/rerank_dtype.py`: im2gps237 against the im2gps2k "
        f"database ({n} photos, five classical features, {dim}-d combined vectors); "
        f"{len(failed)} test photos failed. Loss = float32 accuracy minus the type's, in "
        "points (positive: worse). Goals: at most 0.5 points at every threshold, at most a "
        "quarter of float32's bytes.",
        "",
        "| type | bytes/photo | vs float32 | largest loss (points) | k=120 overlap "
        "(exhaustive / compressed) | same top-1 (exhaustive / compressed) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for dtype in DTYPES:
        b = report["bytes_per_photo"][dtype]
        lines.append(
            f"| {dtype} | {b:,} | {b / report['bytes_per_photo']['float32']:.2f} | "
            f"{report['max_loss_points'][dtype]:.2f} | "
            f"{report['overlap_k120']['exhaustive'][dtype]:.4f} / "
            f"{report['overlap_k120']['compressed'][dtype]:.4f} | "
            f"{report['overlap_top1']['exhaustive'][dtype]:.4f} / "
            f"{report['overlap_top1']['compressed'][dtype]:.4f} |")
    lines += ["", "Accuracy (%) at " + " / ".join(f"{t:g}" for t in THRESHOLDS_KM) + " km:", "",
              "| setting | voting | " + " | ".join(DTYPES) + " |",
              "|---|---|" + "---|" * len(DTYPES)]
    for setting in SETTINGS:
        for vote in VOTES:
            cells = [" / ".join(f"{a:.1f}" for a in results[setting][vote][d]) for d in DTYPES]
            lines.append(f"| {setting} | {vote} | " + " | ".join(cells) + " |")
    lines += ["", f"Chosen default (`im2gps index build --rerank-dtype`): **{report['chosen']}** "
              "(the smallest type within both goals).", ""]
    md = "\n".join(lines)
    (args.out / "rerank_dtype.md").write_text(md)
    print(md)
    return report


if __name__ == "__main__":
    main()

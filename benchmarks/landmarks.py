"""Landmark-level matching on im2gps237 against im2gps2k: bag of words and verification.

Three steps, everything chosen on the database (photographer-grouped), never
on the test photos:

1. **Vocabulary size.** RootSIFT of every database photo (cached); for each
   size in ``--words`` a vocabulary is fitted by FAISS k-means on the same
   seeded 200-photo sample an index build fits on (the vocabulary sees
   descriptors only, no geotags), every database photo is encoded, and each
   photo of a held-out fold (5 folds grouped by photographer) is located by
   its nearest bag-of-words neighbour among the other folds. Score: mean
   accuracy at 25 / 200 / 750 / 2500 km (as :mod:`im2gps.tuning`), ties
   broken at 1 km. The winner is :class:`~im2gps.features.bow.BagOfWords`'s
   default, so ``im2gps benchmark`` uses it.
2. **Benchmark** (:func:`im2gps.benchmark.run_benchmark`) with the rows
   ``chance, prior, oracle, im2gps, im2gps-bow, im2gps-sift-verified,
   im2gps-scene-bow-verified``: the verifier's thresholds are calibrated and
   the way verified neighbours join the vote is chosen on database short
   lists (:mod:`im2gps.landmarks`).
3. **Report**: accuracy at 1 / 25 km with paired 95 % bootstrap intervals
   of each new row against ``prior`` and against the scene row ``im2gps``,
   the per-scene table, the verifier's calibration (precision on database
   pairs) and, for information only, how many test photos got a verified
   neighbour and how far it was from the truth.

Results go to ``benchmarks/results/landmarks/`` (``results.*`` as written by
``im2gps benchmark``, plus ``landmarks.json`` / ``landmarks.md``).

Run: ``python benchmarks/landmarks.py [--jobs 2] [--words 256 1024 4096]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from im2gps import datasets
from im2gps.benchmark import (
    database_index,
    gains_over_references,
    needed_features,
    query_features,
    run_benchmark,
    write_results,
)
from im2gps.evaluate import THRESHOLDS_KM, errors_km
from im2gps.features.bow import BagOfWords
from im2gps.features.sift import RootSIFT
from im2gps.index import GeoIndex
from im2gps.index.local import extract_local_features
from im2gps.jsonable import json_default
from im2gps.landmarks import SHORT_LIST, landmark_locator, query_local_features
from im2gps.verify import Verifier

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "landmarks"
ROWS = ["chance", "prior", "oracle", "im2gps", "im2gps-bow", "im2gps-sift-verified",
        "im2gps-scene-bow-verified"]
NEW_ROWS = ["im2gps-bow", "im2gps-sift-verified", "im2gps-scene-bow-verified"]


def vocabulary_cv(db, cache: Path, words: list[int], jobs: int, seed: int = 0) -> pd.DataFrame:
    """Grouped-CV score of the bag-of-words 1-NN for each vocabulary size (database only)."""
    local, _ = extract_local_features(db.paths, cache / "local" / "im2gps2k-vocabulary-cv",
                                      RootSIFT(), jobs=jobs, progress=True)
    rng = np.random.default_rng(seed)  # the sample im2gps.index.extract.fit_extractors draws
    sample = np.sort(rng.choice(len(db), min(200, len(db)), replace=False))
    groups = db.table["author"].to_numpy()
    truth = db.coords
    rows = []
    for n_words in words:
        clock = time.perf_counter()
        bow = BagOfWords(n_words=n_words).fit_local(local.subset(sample))
        vectors = bow.encode(local)
        fit_s = time.perf_counter() - clock
        nearest = np.full(len(db), -1)
        for train, held in GroupKFold(n_splits=5).split(vectors, groups=groups):
            index = faiss.IndexFlatIP(n_words)
            index.add(np.ascontiguousarray(vectors[train]))
            _, ids = index.search(np.ascontiguousarray(vectors[held]), 1)
            nearest[held] = train[ids[:, 0]]
        errors = errors_km(truth[nearest, 0], truth[nearest, 1], truth[:, 0], truth[:, 1])
        record = {"n_words": n_words, "fit_and_encode_s": round(fit_s, 1)}
        record.update({f"acc_{r:g}km": float(np.mean(errors <= r)) for r in THRESHOLDS_KM})
        record["score"] = float(np.mean([record[f"acc_{r:g}km"] for r in (25, 200, 750, 2500)]))
        rows.append(record)
        print(record, flush=True)
    return pd.DataFrame(rows).sort_values(["score", "acc_1km"], ascending=False,
                                          kind="stable").reset_index(drop=True)


def verified_test_photos(result, db_index: GeoIndex, query, cache: Path, jobs: int
                         ) -> dict[str, dict[str, float]]:
    """Per verified row: test photos with a verified neighbour and its distance to the truth.

    For information only: nothing here chooses a setting.
    """
    chosen = result.settings["landmarks"]
    local = query_local_features(query, db_index, cache, jobs)
    truth = query.coords
    out = {}
    for row in NEW_ROWS:
        if not row.endswith("-verified"):
            continue
        locator = landmark_locator(row, db_index, chosen)
        matrices, _ = query_features(query, db_index, cache, jobs, False)
        inputs = {n: matrices[n] for n in locator.index_.feature_names}
        predictions = locator.set_params(verification="weight").predict_features(
            inputs, local=local)
        scores = predictions.extra["verification"]
        verifier = Verifier(**chosen["verifier"]["thresholds"])
        verified = verifier.verified(scores["inliers"], scores["inlier_ratio"], scores["spread"])
        ids = predictions.neighbor_ids[:, :SHORT_LIST]
        best = np.argmax(np.where(verified, scores["inliers"], -1), axis=1)
        has = verified.any(axis=1)
        coords = db_index.coords[ids[np.arange(len(ids)), best]]
        km = errors_km(coords[:, 0], coords[:, 1], truth[:, 0], truth[:, 1])
        out[row] = {"test_photos": len(ids), "with_verified_neighbour": int(has.sum()),
                    "verified_within_1km": int((has & (km <= 1)).sum()),
                    "verified_within_25km": int((has & (km <= 25)).sum()),
                    "max_inliers_per_photo_median": float(np.median(scores["inliers"].max(1))),
                    "max_inliers_overall": int(scores["inliers"].max())}
    return out


def default_verifier_on_pairs(cache: Path, index: GeoIndex) -> dict:
    """What the default :class:`Verifier` says about the calibration pairs (cached scores)."""
    verifier = Verifier()
    coords = index.coords
    frames = []
    for path in sorted((cache / "tuning").glob("verified-*.npz")):
        with np.load(path, allow_pickle=False) as stored:
            if len(stored["ids"]) != len(index):
                continue
            ids = stored["ids"][:, :SHORT_LIST]
            q, s = np.nonzero(ids >= 0)
            frames.append(pd.DataFrame({
                "query": q, "database": ids[q, s],
                **{k: stored[k][q, s] for k in ("inliers", "inlier_ratio", "spread")}}))
    pairs = pd.concat(frames).drop_duplicates(["query", "database"])
    km = errors_km(coords[pairs["query"], 0], coords[pairs["query"], 1],
                   coords[pairs["database"], 0], coords[pairs["database"], 1])
    ok = verifier.verified(pairs["inliers"], pairs["inlier_ratio"], pairs["spread"])
    return {"thresholds": verifier.to_dict(), "pairs": len(pairs), "verified": int(ok.sum()),
            "same": int((ok & (km <= 1)).sum()), "different": int((ok & (km > 25)).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="data folder (default: ../shared/data)")
    parser.add_argument("--cache", default=str(REPO / ".cache"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--words", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    faiss.omp_set_num_threads(max(1, args.jobs))
    cache, out = Path(args.cache), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    document: dict = {"machine": {"platform": platform.platform(),
                                  "python": platform.python_version()}}
    clock = time.perf_counter()
    db = datasets.load("im2gps2k", args.data)
    query = datasets.load("im2gps237", args.data)
    vocab = vocabulary_cv(db, cache, args.words, args.jobs)
    vocab.to_csv(out / "vocabulary_cv.csv", index=False)
    document["vocabulary_cv"] = vocab.to_dict(orient="records")
    document["vocabulary_default"] = BagOfWords().n_words
    document["timings_s"] = {"vocabulary_cv": time.perf_counter() - clock}
    if int(vocab.iloc[0]["n_words"]) != BagOfWords().n_words:
        print(f"NOTE: CV prefers {int(vocab.iloc[0]['n_words'])} words; the default is "
              f"{BagOfWords().n_words}: change BagOfWords(n_words=...) and re-run", flush=True)

    clock = time.perf_counter()
    result = run_benchmark("im2gps2k", "im2gps237", locators=ROWS, data_dir=args.data,
                           cache_dir=cache, jobs=args.jobs, size_curve=False,
                           n_boot=args.n_boot, log=lambda line: print(line, flush=True))
    document["timings_s"]["benchmark"] = time.perf_counter() - clock
    write_results(result, out)
    gains = gains_over_references(result.predictions, n_boot=args.n_boot,
                                  references=("prior", "im2gps"))
    document["gains"] = {row: gains[row] for row in NEW_ROWS}
    document["landmarks"] = result.settings["landmarks"]
    index = database_index(db, needed_features(ROWS), cache, args.jobs, False)
    document["default_verifier"] = default_verifier_on_pairs(cache, index)
    document["verified_test_photos"] = verified_test_photos(result, index, query, cache,
                                                            args.jobs)
    (out / "landmarks.json").write_text(json.dumps(document, indent=2, default=json_default))
    (out / "landmarks.md").write_text(markdown(result, document))
    print((out / "landmarks.md").read_text())


def markdown(result, document: dict) -> str:
    """The landmark report: vocabulary CV, paired gains at 1 and 25 km, calibration."""
    lines = ["# Landmark-level matching: im2gps237 against im2gps2k", "",
             "Command: `python benchmarks/landmarks.py` "
             f"({document['timings_s']['vocabulary_cv']:.0f} s vocabulary CV, "
             f"{document['timings_s']['benchmark']:.0f} s benchmark, 2 jobs).", "",
             "## Vocabulary size (grouped 5-fold CV on the database, bag-of-words 1-NN)", "",
             "| words | 1 km | 25 km | 200 km | 750 km | 2500 km | score |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in document["vocabulary_cv"]:
        lines.append(f"| {r['n_words']} | " + " | ".join(
            f"{100 * r[f'acc_{t:g}km']:.1f}" for t in THRESHOLDS_KM)
            + f" | {100 * r['score']:.2f} |")
    lines += ["", f"Default vocabulary size: {document['vocabulary_default']}.", "",
              "## Accuracy (%) with 95 % bootstrap intervals", "", result.table(ci=True), "",
              "## Paired gains at 1 and 25 km (accuracy difference, percentage points, "
              "paired bootstrap 95 % interval)", "",
              "| Method | vs | 1 km | 25 km |", "|:---|:---|---:|---:|"]
    for row, by_ref in document["gains"].items():
        for ref, g in by_ref.items():
            cells = [f"{100 * g[r]['gain']:+.1f} [{100 * g[r]['lo']:+.1f}, "
                     f"{100 * g[r]['hi']:+.1f}]" for r in ("1", "25")]
            lines.append(f"| {row} | {ref} | {cells[0]} | {cells[1]} |")
    landmarks = document["landmarks"]
    cal = landmarks["verifier"]["calibration"]
    lines += ["", "## Verifier calibration (database pairs: each photo's short list of "
              f"{SHORT_LIST} among the other folds)", "",
              f"- labelled pairs: {cal['pairs_same']} same place (<= 1 km), "
              f"{cal['pairs_different']} different (> 25 km)",
              f"- chosen thresholds: `{landmarks['verifier']['thresholds']}`",
              f"- held-out: {cal['cv_verified']} pairs verified, {cal['cv_true']} of them the "
              f"same place (precision {cal['cv_precision']}), recall {cal['cv_recall']}; "
              f"{cal['cv_false_positives']} false positives",
              f"- chosen setting on all pairs: {cal['fit_verified']} verified, "
              f"{cal['fit_false_positives']} false positives",
              f"- most inliers of a same-place pair: {cal['max_inliers_same']}; of a "
              f"different-place pair: {cal['max_inliers_different']} (99th percentile "
              f"{cal['p99_inliers_different']:g})",
              f"- the default `Verifier()` {document['default_verifier']['thresholds']} "
              f"verifies {document['default_verifier']['verified']} of these pairs "
              f"({document['default_verifier']['same']} within 1 km, "
              f"{document['default_verifier']['different']} beyond 25 km)", ""]
    for row in NEW_ROWS:
        record = landmarks.get(row, {})
        lines.append(f"- `{row}`: voting `{record.get('voting')}`, combination "
                     f"`{record.get('verification', 'n/a')}`")
    lines += ["", "## Test photos with a verified neighbour (information only)", "",
              "| Row | photos | with verified neighbour | within 1 km | within 25 km | "
              "median best inliers | max inliers |", "|:---|---:|---:|---:|---:|---:|---:|"]
    for row, r in document["verified_test_photos"].items():
        lines.append(f"| {row} | {r['test_photos']} | {r['with_verified_neighbour']} | "
                     f"{r['verified_within_1km']} | {r['verified_within_25km']} | "
                     f"{r['max_inliers_per_photo_median']:.0f} | {r['max_inliers_overall']} |")
    lines += ["", "## Per scene", "", result.table(ci=False, scenes=True), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

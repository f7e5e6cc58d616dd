"""Bag-of-words search at scale: exact against inverted-file FAISS indexes, 10k to 1M photos.

The ``bow`` feature is a dense tf-idf vector (:mod:`im2gps.features.bow`)
searched by the same FAISS machinery as the scene features
(:mod:`im2gps.index.ann`), so at scale it goes through an inverted file.
Databases of ``--sizes`` photos are made from the real bag-of-words vectors
of the im2gps2k photos (RootSIFT of every photo, the default 256-word
vocabulary fitted on the index build's seeded 200-photo sample): each
synthetic photo mixes the tf-idf vectors of two random real photos,
``w a + (1 - w) b`` with ``w ~ U(0.5, 1)``, renormalised to unit length, so
every vector lies among real ones. Queries: the 237 real im2gps237 photos.
For each size and index type: build time, bytes per photo (the serialised
index over the photo count), query time for k = 120 at batch 1 (mean over
the 237 queries, one thread) and recall of the exact top 120.

Results go to ``benchmarks/results/bow_scale.{json,md}``.

Run: ``python benchmarks/bow_scale.py [--sizes 10000 100000 1000000]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import faiss
import numpy as np

from im2gps import datasets
from im2gps.features.bow import BagOfWords
from im2gps.features.sift import RootSIFT
from im2gps.index import ann
from im2gps.index.local import extract_local_features

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
K = 120


def real_vectors(cache: Path, data_dir: str | None, jobs: int) -> tuple[np.ndarray, np.ndarray]:
    """tf-idf vectors of the real database and test photos (local features cached)."""
    db = datasets.load("im2gps2k", data_dir)
    test = datasets.load("im2gps237", data_dir)
    local_db, _ = extract_local_features(db.paths, cache / "local" / "im2gps2k-vocabulary-cv",
                                         RootSIFT(), jobs=jobs)
    local_test, _ = extract_local_features(test.paths, cache / "local" / "im2gps237-bow-scale",
                                           RootSIFT(), jobs=jobs)
    rng = np.random.default_rng(0)  # the sample an index build fits on
    sample = np.sort(rng.choice(len(db), min(200, len(db)), replace=False))
    bow = BagOfWords().fit_local(local_db.subset(sample))
    return bow.encode(local_db), bow.encode(local_test)


def synthesize(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors, each a convex mixture of two real ones."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        a, b = rng.integers(len(real), size=(2, m))
        w = rng.uniform(0.5, 1.0, (m, 1)).astype(np.float32)
        block = w * real[a] + (1 - w) * real[b]
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        out[start:start + m] = block
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--cache", default=str(REPO / ".cache"))
    parser.add_argument("--data", default=None)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    database, queries = real_vectors(Path(args.cache), args.data, args.jobs)
    records = []
    for n in args.sizes:
        vectors = synthesize(database, n)
        faiss.omp_set_num_threads(args.jobs)
        exact = faiss.IndexFlatL2(vectors.shape[1])
        exact.add(vectors)
        _, truth = exact.search(queries, K)
        nlist = int(min(4096, max(64, round(4 * np.sqrt(n)))))
        for factory, nprobes in (("Flat", [None]),
                                 (f"IVF{nlist},Flat", [8, 32, 128]),
                                 (f"IVF{nlist},PQ32", [8, 32, 128])):
            faiss.omp_set_num_threads(args.jobs)
            clock = time.perf_counter()
            index = ann.make_faiss_index(vectors, factory, seed=0)
            build_s = time.perf_counter() - clock
            size = int(faiss.serialize_index(index).size)
            faiss.omp_set_num_threads(1)
            for nprobe in nprobes:
                if nprobe is not None:
                    faiss.extract_index_ivf(index).nprobe = nprobe
                clock = time.perf_counter()
                ids = np.concatenate([index.search(queries[i:i + 1], K)[1]
                                      for i in range(len(queries))])
                query_ms = 1000 * (time.perf_counter() - clock) / len(queries)
                recall = float(np.mean([len(np.intersect1d(a, b)) / K
                                        for a, b in zip(ids, truth, strict=True)]))
                record = {"photos": n, "index": factory, "nprobe": nprobe,
                          "build_s": build_s, "bytes_per_photo": size / n,
                          "query_ms_batch1": query_ms, "recall_at_120": recall}
                records.append(record)
                print(record, flush=True)
        del vectors, exact
    document = {"what": "bag-of-words (256 words, tf-idf, unit norm) search, k = 120",
                "machine": {"platform": platform.platform(),
                            "python": platform.python_version(),
                            "faiss": faiss.__version__},
                "results": records}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bow_scale.json").write_text(json.dumps(document, indent=2))
    lines = ["# Bag-of-words search at scale (k = 120, one thread, batch 1)", "",
             "Command: `python benchmarks/bow_scale.py` (databases mixed from the real "
             "im2gps2k bag-of-words vectors; queries: the 237 im2gps237 photos).", "",
             "| photos | index | nprobe | build s | bytes/photo | ms/query | recall@120 |",
             "|---:|:---|---:|---:|---:|---:|---:|"]
    for r in records:
        lines.append(f"| {r['photos']:,} | {r['index']} | {r['nprobe'] or '-'} | "
                     f"{r['build_s']:.1f} | {r['bytes_per_photo']:.0f} | "
                     f"{r['query_ms_batch1']:.2f} | {r['recall_at_120']:.3f} |")
    (RESULTS / "bow_scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Scale benchmark: compressed FAISS indexes from 100k to 1M photos, Dask extraction.

Three parts, each written to ``benchmarks/results/scale.{json,md}``:

``accuracy``
    The figure users care about: geolocation accuracy on im2gps237 with a
    compressed index against the exact one, on the real im2gps2k database
    for the classical combined descriptor (2,773-d) and the
    CNN embedding (1,280-d). Both use the voting setting the main benchmark
    chooses by photographer-grouped cross-validation on the database; only
    the FAISS index differs, built over the same combined vectors
    (:meth:`GeoIndex.view` with ``index_type``).

``synthetic``
    Databases of 100k and 1M photos (``--sizes``) made from the real
    im2gps2k descriptors: each synthetic photo is a convex mixture
    ``w a + (1 - w) b`` of the raw descriptors of two random real database
    photos, ``w ~ U(0.5, 1)``, for every feature alike (mixtures of
    histograms are histograms), so every vector lies among real ones. They
    are written chunk by chunk to memory-mapped ``.npy`` files, exactly as an
    index directory keeps its features; the 100k database is the first 100k
    rows of the 1M one. The queries are the 237 real im2gps237 test photos'
    descriptors (not mixtures); batch 256 repeats the first 19. The exact
    top-120 of each query is computed by streaming the whole database through
    ``faiss.knn`` chunk by chunk. For each index type: build time (training on
    a seeded sample + adding chunk by chunk), memory per photo (the FAISS
    index serialised: what each photo adds, and in total with the fixed
    trained part), query latency for k = 120 at batch 1 and batch 256 through
    :meth:`GeoIndex.search` (re-ranking reads the memory-mapped feature files,
    page-cache resident here), and recall of the exact top-120. Query
    settings (``nprobe`` / ``efSearch`` / re-rank short list) are swept; for
    each index type the cheapest setting with recall >= 0.9 is reported, and
    projected to 6M and 100M photos.

``dask``
    Feature extraction throughput (tiny, colour, GIST) on a Dask
    ``LocalCluster`` with 1 and 2 single-threaded worker processes, against
    local processes, with a check that the matrices are identical.

The machine is shared and has 2 cores; timings are wall-clock and noisy.
Run: ``python benchmarks/scale.py [--quick] [--parts accuracy,synthetic,dask]``
(about 12 minutes on 2 cores, 17 GB of temporary disk; ``--quick``: 20k and
100k photos, a few minutes). The real descriptors come from the cache of
``im2gps benchmark`` (``--cache``, built there if missing); ``--update`` keeps
the other parts of an existing ``scale.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd
from md_sections import read_section

from im2gps import benchmark as bench
from im2gps import datasets
from im2gps.evaluate import THRESHOLDS_KM, errors_km
from im2gps.features import CLASSICAL
from im2gps.index import GeoIndex, ann, combine, combined_chunks
from im2gps.locator import Im2GPS

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
K = 120
BATCH = 256
#: RAM of one serving machine assumed in the projections (this machine has 24 GiB).
MACHINE_RAM = 16 * 2**30

#: Compressed index types on the real im2gps2k database, with query settings.
REAL_TYPES: dict[str, list[tuple[str, dict[str, int]]]] = {
    "classical": [("PQ59", {}), ("PQ59", {"rerank": 240}), ("PCA256,SQ8", {}),
                  ("OPQ64_256,PQ64", {}), ("OPQ64_256,PQ64", {"rerank": 240}),
                  ("PCA256,IVF16,PQ64", {"nprobe": 4}),
                  ("PCA256,IVF16,PQ64", {"nprobe": 16, "rerank": 240})],
    "cnn": [("PQ64", {}), ("PQ64", {"rerank": 240}), ("PCA256,SQ8", {}),
            ("PCA256,IVF16,PQ64", {"nprobe": 4}), ("PCA256,IVF16,PQ64", {"nprobe": 16})],
}


def _nlist(n: int) -> int:
    return 1024 if n <= 200_000 else 4096


def synthetic_types(n: int, descriptor: str) -> list[str]:
    """Index types measured on a synthetic database of ``n`` photos."""
    ivf = f"PCA256,IVF{_nlist(n)},PQ64"
    if n <= 200_000:
        return ["Flat", ivf, "PCA256,HNSW32"]
    if descriptor == "classical":
        return [ivf, f"PCA256,OPQ64,IVF{_nlist(n)},PQ64"]
    return [ivf]


def sweep(factory: str) -> list[dict[str, int]]:
    """Query settings tried for an index type."""
    if "IVF" in factory:
        return [{"nprobe": p, "rerank": r} for p in (32, 64, 128, 256) for r in (0, 240, 480)]
    if "HNSW" in factory:
        return [{"ef_search": e, "rerank": r} for e in (128, 256) for r in (0, 240)]
    return [{}]


# -- real data ---------------------------------------------------------------------
def real_data(cache: Path, data_dir: str | None, jobs: int, cnn: bool) -> dict[str, Any]:
    """The cached real database index, test descriptors and CV-chosen voting settings."""
    features = [*CLASSICAL, "cnn"] if cnn else list(CLASSICAL)
    db = datasets.load("im2gps2k", data_dir)
    query = datasets.load("im2gps237", data_dir)
    index = bench.database_index(db, features, cache, jobs, progress=False)
    matrices, failed = bench.query_features(query, index, cache, jobs, progress=False)
    settings = {"classical": bench.tuned_settings(index, list(CLASSICAL), cache)[0]}
    if cnn:
        settings["cnn"] = bench.tuned_settings(index, ["cnn"], cache)[0]
    return {"index": index, "queries": matrices, "truth": query.coords, "failed": failed,
            "settings": settings}


def descriptor_features(descriptor: str) -> list[str]:
    return list(CLASSICAL) if descriptor == "classical" else ["cnn"]


def _accuracy(lat: np.ndarray, lon: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    errors = errors_km(lat, lon, truth[:, 0], truth[:, 1])
    return {f"{r:g}": float(np.mean(errors <= r)) for r in THRESHOLDS_KM}


def _recall(ids: np.ndarray, truth_ids: np.ndarray) -> float:
    hits = [len(np.intersect1d(a[a >= 0], b)) for a, b in zip(ids, truth_ids, strict=True)]
    return float(np.mean(hits) / truth_ids.shape[1])


def run_accuracy(real: dict[str, Any], descriptors: Sequence[str], log: Callable) -> list[dict]:
    """Exact against compressed index on the real database: accuracy on im2gps237."""
    records = []
    index, queries, truth = real["index"], real["queries"], real["truth"]
    for descriptor in descriptors:
        names = descriptor_features(descriptor)
        setting = real["settings"][descriptor]
        test = {name: queries[name] for name in names}
        ok = np.all([np.isfinite(test[n]).all(axis=1) for n in names], axis=0)
        exact_view = index.view(features=names)
        exact = Im2GPS(**setting).fit(exact_view).predict_features(test)
        k = min(int(setting["k"]), len(index))
        _, exact_ids = exact_view.search({n: test[n][ok] for n in names}, k)
        exact_acc = _accuracy(exact.lat, exact.lon, truth)
        exact_bytes = ann.index_bytes(exact_view.faiss_index)
        records.append({"descriptor": descriptor, "index_type": "Flat", "search": {},
                        "setting": setting, "acc": exact_acc, "recall": 1.0,
                        "bytes": exact_bytes, "memory_ratio": 1.0, "max_loss_points": 0.0})
        log(f"[accuracy] {descriptor} Flat: {exact_acc}")
        for factory, search in REAL_TYPES[descriptor]:
            view = index.view(features=names, index_type=factory, search=search)
            locator = Im2GPS(**setting).fit(view)
            predictions = locator.predict_features(test)
            _, ids = view.search({n: test[n][ok] for n in names}, k)
            acc = _accuracy(predictions.lat, predictions.lon, truth)
            size = ann.index_bytes(view.faiss_index)
            loss = max(100 * (exact_acc[r] - acc[r]) for r in acc)
            records.append({
                "descriptor": descriptor, "index_type": factory, "search": search,
                "setting": setting, "acc": acc, "recall": _recall(ids, exact_ids),
                "bytes": size, "memory_ratio": size["per_photo"] / exact_bytes["per_photo"],
                "max_loss_points": loss})
            log(f"[accuracy] {descriptor} {factory} {search}: {acc}, max loss {loss:.2f} "
                f"points, {size['per_photo']:.0f} B/photo")
    return records


# -- synthetic databases --------------------------------------------------------
def synthesize(raw: dict[str, np.ndarray], n: int, folder: Path, seed: int = 0,
               chunk: int = 50_000) -> dict[str, np.ndarray]:
    """Write ``n`` mixtures of pairs of real rows to memory-mapped ``<feature>.npy`` files."""
    folder.mkdir(parents=True, exist_ok=True)
    n_real = len(next(iter(raw.values())))
    out = {name: np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=np.float32,
                                           shape=(n, m.shape[1])) for name, m in raw.items()}
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        a, b = rng.integers(0, n_real, rows), rng.integers(0, n_real, rows)
        w = rng.uniform(0.5, 1.0, rows).astype(np.float32)[:, None]
        for name, m in raw.items():
            out[name][start:start + rows] = w * m[a] + (1 - w) * m[b]
    for m in out.values():
        m.flush()
    return {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in raw}


def exact_topk(queries: np.ndarray, matrices: dict[str, np.ndarray], real: GeoIndex,
               k: int, checkpoints: Sequence[int], chunk: int = 50_000
               ) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    """Exact top-k rows of each query over the first ``c`` rows, for each checkpoint ``c``.

    Streams the combined vectors through ``faiss.knn`` chunk by chunk and
    merges; returns the ids and the seconds of search work (not counting
    reading and combining) up to each checkpoint.
    """
    names = list(matrices)
    extractors = {n: real.extractors[n] for n in names}
    best_d = np.full((len(queries), k), np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    found, seconds, spent = {}, {}, 0.0
    end = max(checkpoints)
    bounds = sorted({*range(0, end, chunk), *checkpoints})
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        block = combine({n: np.asarray(matrices[n][start:stop]) for n in names}, extractors,
                        real.scales, real.weights)
        clock = time.perf_counter()
        d, i = faiss.knn(queries, block, min(k, len(block)))
        both_d = np.concatenate([best_d, d], axis=1)
        both_i = np.concatenate([best_i, i + start], axis=1)
        order = np.argsort(both_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(both_d, order, axis=1)
        best_i = np.take_along_axis(both_i, order, axis=1)
        spent += time.perf_counter() - clock
        if start + len(block) in checkpoints:
            found[start + len(block)] = best_i.copy()
            seconds[start + len(block)] = spent
    return found, seconds


def synthetic_index(real: GeoIndex, matrices: dict[str, np.ndarray], n: int, factory: str,
                    seed: int = 0) -> tuple[GeoIndex, dict[str, float]]:
    """A :class:`GeoIndex` over the first ``n`` synthetic rows, built as ``build_index`` does."""
    names = list(matrices)
    rows = {name: m[:n] for name, m in matrices.items()}
    extractors = {name: real.extractors[name] for name in names}
    max_train = 50_000 if n <= 200_000 else 100_000
    clock = time.perf_counter()
    sample_rows = ann.training_rows(n, max_train, seed)
    dim = sum(extractors[name].dim for name in names)
    index = ann.train_faiss_index(factory, dim, lambda: combine(
        {name: np.asarray(m[sample_rows]) for name, m in rows.items()}, extractors,
        real.scales, real.weights))
    trained = int(faiss.serialize_index(index).size)
    train_s = time.perf_counter() - clock
    clock = time.perf_counter()
    ann.add_chunks(index, combined_chunks(rows, extractors, real.scales, real.weights,
                                          chunk_rows=50_000))
    add_s = time.perf_counter() - clock
    manifest = json.loads(json.dumps(real.manifest))
    manifest["features"] = [f for f in manifest["features"] if f["name"] in names]
    manifest["combined_dim"] = dim
    manifest["index"] = {"factory": factory, "metric": "L2", "ntotal": n,
                         "trained_bytes": trained}
    photos = pd.DataFrame({"lat": np.zeros(n), "lon": np.zeros(n)})
    geo = GeoIndex(real.path, manifest, photos, extractors, index, _matrices=rows)
    sizes = ann.index_bytes(index, trained)
    sizes.update(train_s=train_s, add_s=add_s)
    return geo, sizes


def measure(index: GeoIndex, queries: dict[str, np.ndarray], truth_ids: np.ndarray,
            search: dict[str, int], batch1: int = 0, repeats: int = 2) -> dict[str, float]:
    """Recall of the exact top-k, ms per query at batch 256 and (optionally) at batch 1."""
    n_truth = len(truth_ids)
    batch = {name: np.ascontiguousarray(np.concatenate([m, m[: BATCH - len(m)]]))
             for name, m in queries.items()}
    times = []
    for _ in range(repeats):
        clock = time.perf_counter()
        _, ids = index.search(batch, K, **search)
        times.append(time.perf_counter() - clock)
    record = {"recall": _recall(ids[:n_truth], truth_ids),
              "ms_batch256": 1000 * min(times) / BATCH}
    if batch1:
        clock = time.perf_counter()
        for i in range(batch1):
            index.search({name: m[i:i + 1] for name, m in queries.items()}, K, **search)
        record["ms_batch1"] = 1000 * (time.perf_counter() - clock) / batch1
    return record


def run_synthetic(real: dict[str, Any], descriptors: Sequence[str], sizes: Sequence[int],
                  work: Path, log: Callable, target_recall: float = 0.9) -> list[dict]:
    """Build, memory, latency and recall of each index type on each synthetic database."""
    index = real["index"]
    records = []
    for descriptor in descriptors:
        names = descriptor_features(descriptor)
        test = {n: real["queries"][n] for n in names}
        ok = np.all([np.isfinite(test[n]).all(axis=1) for n in names], axis=0)
        test = {n: np.ascontiguousarray(m[ok]) for n, m in test.items()}
        raw = {n: np.asarray(index.features(n)) for n in names}
        clock = time.perf_counter()
        matrices = synthesize(raw, max(sizes), work / descriptor)
        log(f"[synthetic] {descriptor}: {max(sizes):,} vectors written in "
            f"{time.perf_counter() - clock:.0f} s")
        queries = index.view(features=names).embed(test)
        truth, exact_s = exact_topk(queries, matrices, index, K, sizes)
        dim = queries.shape[1]
        for n in sizes:
            records.append({
                "descriptor": descriptor, "n": n, "index_type": "Flat (streamed from mmap)",
                "search": {}, "recall": 1.0, "ms_batch256": 1000 * exact_s[n] / len(queries),
                "bytes_per_photo": 4 * dim, "total_bytes_per_photo": 4 * dim,
                "note": "exact top-120 by faiss.knn over 50k-row chunks, batch of the "
                        f"{len(queries)} test queries"})
            for factory in synthetic_types(n, descriptor):
                if factory == "Flat" and 4 * dim * n > 4 * 2**30:
                    continue
                geo, size = synthetic_index(index, matrices, n, factory)
                log(f"[synthetic] {descriptor} {n:,} {factory}: trained in "
                    f"{size['train_s']:.0f} s, added in {size['add_s']:.0f} s, "
                    f"{size['per_photo']:.0f} B/photo")
                tried = []
                for search in sweep(factory):
                    result = measure(geo, test, truth[n], search)
                    tried.append({"search": search, **result})
                    log(f"    {search}: recall {result['recall']:.3f}, "
                        f"{result['ms_batch256']:.2f} ms/query at batch {BATCH}")
                good = [t for t in tried if t["recall"] >= target_recall]
                chosen = (min(good, key=lambda t: t["ms_batch256"]) if good
                          else max(tried, key=lambda t: t["recall"]))
                final = measure(geo, test, truth[n], chosen["search"], batch1=32)
                log(f"  chosen {chosen['search']}: recall {final['recall']:.3f}, "
                    f"{final['ms_batch256']:.2f} ms at batch {BATCH}, "
                    f"{final['ms_batch1']:.2f} ms at batch 1")
                records.append({
                    "descriptor": descriptor, "n": n, "index_type": factory,
                    "search": chosen["search"], **final,
                    "bytes_per_photo": size["per_photo"],
                    "total_bytes_per_photo": size["total_per_photo"],
                    "trained_bytes": size["trained"], "train_s": size["train_s"],
                    "add_s": size["add_s"], "sweep": tried})
                del geo
        del matrices
        shutil.rmtree(work / descriptor, ignore_errors=True)
    return records


def project(records: list[dict], targets: Sequence[int] = (6_000_000, 100_000_000)) -> list[dict]:
    """Memory, latency and machines at 6M and 100M photos from the measured curves.

    Memory is the fixed trained part plus the per-photo bytes times the
    photos; latency follows a power law through the two largest measured
    sizes (exponent clipped to [0.5, 1]; 1 for the exact index), each at its
    chosen query setting, so growing the inverted lists with the database
    (IVF1024 at 100k, IVF4096 at 1M) is part of the curve; machines hold
    :data:`MACHINE_RAM` of index each.
    """
    out = []
    feature_bytes = {r["descriptor"]: r["bytes_per_photo"] for r in records
                     if r["index_type"].startswith("Flat")}
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        if record["index_type"].startswith("Flat (streamed"):
            continue  # how the ground truth was computed, not a way to serve
        # an IVF index grows its lists with the database: IVF1024 at 100k, IVF4096 at 1M
        family = re.sub(r"IVF\d+", "IVF*", record["index_type"])
        groups.setdefault((record["descriptor"], family), []).append(record)
    for (descriptor, factory), group in groups.items():
        group = sorted(group, key=lambda r: r["n"])
        exact = factory.startswith("Flat")
        if len(group) < 2 and not exact:
            continue
        last = group[-1]
        exponent = 1.0
        if not exact:
            # conservative: at least the square root of the growth (an IVF index with
            # lists growing as sqrt(n) scans sqrt(n) codes; HNSW grows as log n)
            first = group[-2]
            exponent = math.log(last["ms_batch256"] / first["ms_batch256"]) / math.log(
                last["n"] / first["n"])
            exponent = min(max(exponent, 0.5), 1.0)
        trained = float(last.get("trained_bytes") or 0)
        uses_features = exact or bool(last["search"].get("rerank"))
        for target in targets:
            memory = trained + float(last["bytes_per_photo"]) * target
            features = feature_bytes[descriptor] * target if uses_features else 0.0
            out.append({
                "descriptor": descriptor, "index_type": factory,
                "measured": [f"{r['index_type']} at {r['n']:,}" for r in group[-2:]],
                "search": last["search"], "photos": target, "from_n": int(last["n"]),
                "latency_exponent": exponent,
                "memory_gib": memory / 2**30,
                "ms_batch256": float(last["ms_batch256"]) * (target / last["n"]) ** exponent,
                "machines": max(1, math.ceil(memory / MACHINE_RAM)),
                "feature_gib": features / 2**30,
                "machines_features_in_ram": max(1, math.ceil(
                    (memory + (0 if factory.startswith("Flat") else features)) / MACHINE_RAM)),
            })
    return out


# -- Dask ------------------------------------------------------------------------
def run_dask(data_dir: str | None, n_photos: int, log: Callable) -> dict[str, Any]:
    """Photos per second of feature extraction: local processes and a Dask LocalCluster."""
    from distributed import Client, LocalCluster

    from im2gps.index import extract_features, make_extractors

    collection = datasets.load("im2gps2k", data_dir).subset(np.arange(n_photos))
    features = ["tiny", "color", "gist"]
    runs: dict[str, float] = {}
    results = {}
    with tempfile.TemporaryDirectory(prefix="im2gps-dask-") as tmp:
        for jobs in (1, 2):
            clock = time.perf_counter()
            fs = extract_features(collection, make_extractors(features), Path(tmp) / f"l{jobs}",
                                  jobs=jobs, chunk_size=8, progress=False)
            runs[f"local processes, jobs={jobs}"] = time.perf_counter() - clock
            results[f"local{jobs}"] = fs.matrices
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                clock = time.perf_counter()
                fs = extract_features(collection, make_extractors(features),
                                      Path(tmp) / f"d{workers}", chunk_size=8, progress=False,
                                      scheduler=client)
                runs[f"Dask LocalCluster, {workers} worker(s)"] = time.perf_counter() - clock
                results[f"dask{workers}"] = fs.matrices
    same = all(np.array_equal(results["local1"][f], results[key][f])
               for key in results for f in features)
    record = {"photos": n_photos, "features": features, "chunk_size": 8,
              "seconds": runs, "photos_per_s": {k: n_photos / v for k, v in runs.items()},
              "identical_matrices": bool(same), "load_average": os.getloadavg()}
    log(f"[dask] {record['photos_per_s']} identical={same}")
    return record


# -- output ----------------------------------------------------------------------
def write(document: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(document, indent=2, default=_json))
    # keep the section of benchmarks/locate_scale.py (index directories through locate)
    kept = read_section(out / "scale.md", "locate_scale")
    (out / "scale.md").write_text(markdown(document).rstrip("\n") + "\n"
                                  + ("\n" + kept if kept else ""))


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _setting(search: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in search.items()) or "-"


def markdown(document: dict[str, Any]) -> str:
    lines = ["# Scale: compressed FAISS indexes and Dask extraction", "",
             f"Machine: {document['machine']}, {document['cores']} cores, shared with other "
             f"work (wall-clock timings are noisy); FAISS {document['faiss']}. Produced by:", ""]
    for part, record in document.get("commands", {}).items():
        lines.append(f"- {part}: `{record['command']}` ({record['seconds']:.0f} s)")
    lines.append("")
    if document.get("accuracy"):
        exact = {r["descriptor"]: r["bytes"] for r in document["accuracy"]
                 if r["index_type"] == "Flat"}
        lines += ["## Accuracy on im2gps237: compressed against exact index (real database)",
                  "", "The same im2gps2k photos, same combined vectors, same CV-chosen "
                  "voting; only the FAISS index differs. Accuracy in % within each distance; "
                  "max loss: the largest drop against the exact index over the thresholds "
                  "(points; one photo is 0.42); recall@k: the exact k nearest found. Bytes per "
                  "photo: what each photo adds to the index; fixed: the trained part (PCA / "
                  "OPQ matrix, codebooks), which dominates on a database this small.", "",
                  "| descriptor | index | query settings | "
                  + " | ".join(f"{r:g} km" for r in THRESHOLDS_KM)
                  + " | max loss | recall@k | bytes/photo | fixed MiB | per photo, of exact "
                  "| in total, x exact |", "|" + "---|" * (9 + len(THRESHOLDS_KM))]
        for r in document["accuracy"]:
            acc = " | ".join(f"{100 * r['acc'][f'{t:g}']:.1f}" for t in THRESHOLDS_KM)
            total = r["bytes"]["total"] / exact[r["descriptor"]]["total"]
            lines.append(
                f"| {r['descriptor']} | `{r['index_type']}` | {_setting(r['search'])} | {acc} | "
                f"{r['max_loss_points']:.1f} | {r['recall']:.3f} | "
                f"{r['bytes']['per_photo']:,.0f} | {r['bytes']['trained'] / 2**20:.1f} | "
                f"1/{1 / r['memory_ratio']:.0f} | {total:.2f} |")
        settings = {r["descriptor"]: r["setting"] for r in document["accuracy"]}
        lines += ["", f"Voting settings (CV on the database): `{settings}`.", ""]
    if document.get("synthetic"):
        lines += ["## Synthetic databases from real descriptors: k = 120", "",
                  "Each synthetic photo mixes the raw descriptors of two random real im2gps2k "
                  "photos (w a + (1 - w) b, w ~ U(0.5, 1)); queries are the 237 real "
                  "im2gps237 descriptors. Recall of the exact top-120; for each index type "
                  "the cheapest swept query setting with recall >= 0.9 (all settings tried "
                  "are in scale.json). Bytes per photo: what each photo adds to the FAISS "
                  "index, and in total with the fixed part. Re-ranking reads the "
                  "memory-mapped raw feature files (page-cache resident here). "
                  "`Flat (streamed from mmap)` is the exact search that made the ground "
                  "truth: faiss.knn over 50k-row chunks, batch of 237, search time only.", "",
                  "| descriptor | photos | index | query settings | recall | ms/query batch "
                  "256 | ms/query batch 1 | bytes/photo | total bytes/photo | train s | "
                  "add s |", "|" + "---|" * 11]
        for r in document["synthetic"]:
            lines.append(
                f"| {r['descriptor']} | {r['n']:,} | `{r['index_type']}` | "
                f"{_setting(r['search'])} | {r['recall']:.3f} | {r['ms_batch256']:.2f} | "
                f"{_num(r.get('ms_batch1'), '.2f')} | {r['bytes_per_photo']:,.0f} | "
                f"{r['total_bytes_per_photo']:,.0f} | {_num(r.get('train_s'), '.0f')} | "
                f"{_num(r.get('add_s'), '.0f')} |")
        lines += [""]
    if document.get("projection"):
        lines += ["## Projection to 6M and 100M photos", "",
                  "From the two largest measured sizes of each index type (types measured at "
                  "one size only are left out). Index memory = fixed part + bytes/photo x "
                  "photos. Latency at batch 256 along a power law through the two sizes, "
                  "each at its chosen query setting, so the growth of the inverted lists "
                  "(IVF1024 at 100k, IVF4096 at 1M) is part of the curve; the exponent is "
                  "at least 0.5 to stay conservative, 1 for exact search. Re-ranking reads "
                  "the raw feature files: the measured latencies had them in the page "
                  "cache, so the last column counts machines holding them in RAM too; "
                  "served from local SSD instead, the index alone sets the machine count "
                  f"(unmeasured here). Machines of {MACHINE_RAM / 2**30:.0f} GiB usable "
                  "RAM.", "",
                  "| descriptor | index | photos | index GiB | feature files GiB | ms/query "
                  "batch 256 | exponent | machines (index in RAM) | machines (index + "
                  "features in RAM) |", "|" + "---|" * 9]
        for r in document["projection"]:
            lines.append(
                f"| {r['descriptor']} | `{r['index_type']}` | {r['photos']:,} | "
                f"{r['memory_gib']:,.1f} | {r['feature_gib']:,.0f} | "
                f"{r['ms_batch256']:,.1f} | {r['latency_exponent']:.2f} | "
                f"{r['machines']:,} | {r['machines_features_in_ram']:,} |")
        lines += [""]
    if document.get("dask"):
        d = document["dask"]
        rate = d["photos_per_s"]
        one, two = rate["Dask LocalCluster, 1 worker(s)"], rate["Dask LocalCluster, 2 worker(s)"]
        lines += ["## Feature extraction on Dask", "",
                  f"{d['photos']} im2gps2k photos, features {', '.join(d['features'])}, chunks "
                  f"of {d['chunk_size']}, single-threaded worker processes; the matrices are "
                  f"identical in every run: {d['identical_matrices']}. Load average during "
                  f"the run {', '.join(f'{x:.1f}' for x in d['load_average'])} (2 cores). "
                  f"Two Dask workers against one: {two / one:.2f}x.", "",
                  "| run | seconds | photos/s |", "|---|---|---|"]
        for key, seconds in d["seconds"].items():
            lines.append(f"| {key} | {seconds:.1f} | {rate[key]:.1f} |")
        lines += [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k and 100k photos, fewer types")
    parser.add_argument("--sizes", help="comma-separated synthetic database sizes")
    parser.add_argument("--parts", default="accuracy,synthetic,dask")
    parser.add_argument("--descriptors", default="classical,cnn")
    parser.add_argument("--cache", default=str(REPO / ".cache"),
                        help="benchmark cache of the real index and test descriptors")
    parser.add_argument("--data", help="folder of named data sets")
    parser.add_argument("--work", help="folder for the synthetic feature files (default: temp)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--dask-photos", type=int, default=320)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--update", action="store_true",
                        help="keep the other parts of an existing OUT/scale.json")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    descriptors = args.descriptors.split(",")
    if not bench._torch_available():
        descriptors = [d for d in descriptors if d != "cnn"]
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else [20_000, 100_000] if args.quick else [100_000, 1_000_000])

    def log(message: str) -> None:
        print(message, flush=True)

    command = " ".join(["python benchmarks/scale.py", *(sys.argv[1:] if argv is None else argv)])
    document: dict[str, Any] = {}
    if args.update and (args.out / "scale.json").is_file():
        document = json.loads((args.out / "scale.json").read_text())
    document.update({"machine": platform.platform(), "cores": os.cpu_count(), "k": K,
                     "faiss": faiss.__version__})
    commands = document.setdefault("commands", {})
    if parts & {"accuracy", "synthetic"}:
        real = real_data(Path(args.cache), args.data, args.jobs, cnn="cnn" in descriptors)
        if "accuracy" in parts:
            clock = time.perf_counter()
            document["accuracy"] = run_accuracy(real, descriptors, log)
            commands["accuracy"] = {"command": command, "seconds": time.perf_counter() - clock}
        if "synthetic" in parts:
            clock = time.perf_counter()
            work = Path(args.work or tempfile.mkdtemp(prefix="im2gps-scale-"))
            try:
                document["synthetic"] = run_synthetic(real, descriptors, sizes, work, log)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            document["sizes"] = sizes
            commands["synthetic"] = {"command": command, "seconds": time.perf_counter() - clock}
    if "dask" in parts:
        clock = time.perf_counter()
        document["dask"] = run_dask(args.data, args.dask_photos, log)
        commands["dask"] = {"command": command, "seconds": time.perf_counter() - clock}
    if document.get("synthetic"):
        document["projection"] = project(document["synthetic"])
    write(document, args.out)
    log(f"results in {args.out}/scale.{{json,md}}")
    return document


if __name__ == "__main__":
    main()

"""Scale: compressed FAISS indexes, out-of-core building, extraction on a Dask cluster.

Real photos of im2gps2k (tiny + colour features keep it fast); the Dask tests
start a real two-worker LocalCluster.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from im2gps.cli import main
from im2gps.features import create
from im2gps.index import (
    GeoIndex,
    build_index,
    combine,
    combined_chunks,
    extract_features,
    median_nn_distance,
    search_parameters,
)
from im2gps.locator import Im2GPS
from im2gps.photos import PhotoCollection

FAST = ["tiny", "color"]
N_PHOTOS = 72  # three extraction chunks of at most 32 photos


def _files(index: GeoIndex) -> dict:
    return json.loads((index.path / "manifest.json").read_text())["files"]


@pytest.fixture(scope="module")
def manifest(data_dir, tmp_path_factory) -> Path:
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:N_PHOTOS].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    path = tmp_path_factory.mktemp("scale") / "db.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def local_index(manifest) -> GeoIndex:
    return build_index(manifest, manifest.parent / "local", features=FAST, progress=False)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


# -- Dask --------------------------------------------------------------------
def test_dask_build_equals_local_build(local_index, manifest, client, tmp_path):
    from distributed import get_task_stream

    with get_task_stream(client) as stream:
        index = build_index(manifest, tmp_path / "dask", features=FAST, progress=False,
                            scheduler=client)
    assert _files(index) == _files(local_index)  # same sha256 for every file
    chunks = [task for task in stream.data if task["key"].startswith("im2gps-chunk")]
    assert len(chunks) == 3
    assert len({task["worker"] for task in chunks}) == 2  # both workers extracted
    assert not (tmp_path / "dask.partial").exists()


def test_cli_scheduler_address(local_index, manifest, client, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["index", "build", str(manifest), "--out", str(out), "--features", "tiny,color",
                 "--scheduler", client.scheduler.address, "--no-progress", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["photos"] == N_PHOTOS
    assert _files(GeoIndex.load(out)) == _files(local_index)


def test_dask_resumes_a_local_checkpoint(local_index, manifest, client, tmp_path):
    # a local run committed chunks 0 and 2, then stopped; the cluster does chunk 1 only
    from distributed import get_task_stream

    out = tmp_path / "resumed"
    extractors = {name: create(name) for name in FAST}
    work = out.with_name("resumed.partial")
    extract_features(PhotoCollection.open(manifest), extractors, work, progress=False)
    (work / "chunks" / "000001.json").unlink()
    with get_task_stream(client) as stream:
        index = build_index(manifest, out, features=FAST, progress=False, scheduler=client)
    assert [t["key"][-6:] for t in stream.data if t["key"].startswith("im2gps-chunk")] == [
        "000001"]
    assert _files(index) == _files(local_index)


def test_photo_missing_on_a_worker_fails_without_committing(manifest, client, tmp_path):
    # the driver saw the photos; a worker that cannot read one is a set-up problem
    collection = PhotoCollection.open(manifest).subset(np.arange(8))
    collection.table.loc[3, "image"] = str(tmp_path / "elsewhere" / "photo.jpg")
    work = tmp_path / "work"
    with pytest.raises(FileNotFoundError, match="not found on Dask worker"):
        extract_features(collection, {"tiny": create("tiny")}, work, progress=False,
                         scheduler=client)
    assert not list((work / "chunks").glob("*.json"))
    # locally the same photo is skipped with its reason, as for any unreadable photo
    local = extract_features(collection, {"tiny": create("tiny")}, tmp_path / "local",
                             progress=False)
    assert local.ok.sum() == 7 and "photo.jpg" in local.skipped[0].path


# -- out of core ---------------------------------------------------------------
def test_chunked_build_is_identical(local_index, manifest, tmp_path):
    # scales streamed and vectors added 10 rows at a time: byte-identical index
    index = build_index(manifest, tmp_path / "chunked", features=FAST, progress=False,
                        chunk_rows=10)
    assert _files(index) == _files(local_index)
    assert isinstance(local_index.features("color"), np.memmap)


def test_streamed_scale_and_chunks_match_in_memory(local_index):
    color = local_index.extractors["color"]
    raw = local_index.features("color")
    whole = median_nn_distance(color.to_l2(np.asarray(raw)))
    streamed = median_nn_distance(raw, transform=color.to_l2, chunk_rows=7)
    assert streamed == pytest.approx(whole, rel=1e-6)
    matrices = {name: local_index.features(name) for name in FAST}
    args = (local_index.extractors, local_index.scales, local_index.weights)
    chunks = list(combined_chunks(matrices, *args, chunk_rows=20))
    assert [len(c) for c in chunks] == [20, 20, 20, 12]
    assert np.array_equal(np.concatenate(chunks), combine(matrices, *args))


# -- compressed indexes ----------------------------------------------------------
def _queries(index: GeoIndex, rows: slice) -> dict[str, np.ndarray]:
    return {name: np.asarray(index.features(name)[rows]) for name in index.feature_names}


def test_nprobe_is_applied(local_index):
    exact_d, exact_i = local_index.search(_queries(local_index, slice(0, 20)), 10)
    ivf = local_index.view(index_type="IVF8,Flat")
    _, one = ivf.search(_queries(local_index, slice(0, 20)), 10, nprobe=1)
    d, every = ivf.search(_queries(local_index, slice(0, 20)), 10, nprobe=8)
    assert np.array_equal(every, exact_i) and np.allclose(d, exact_d, atol=1e-4)
    assert not np.array_equal(one, exact_i)  # one list of eight misses neighbours
    assert (one[:, 0] == np.arange(20)).all()  # ... but each photo's own list holds itself
    # the index object is not changed by a query setting
    _, again = ivf.search(_queries(local_index, slice(0, 20)), 10)
    assert np.array_equal(again, one)


def test_rerank_recovers_exact_neighbours(local_index):
    queries = _queries(local_index, slice(30, 50))
    exact_d, exact_i = local_index.search(queries, 15)
    pq = local_index.view(index_type="PQ8x4")
    approx_d, approx_i = pq.search(queries, 15)
    assert not np.array_equal(approx_i, exact_i)
    d, i = pq.search(queries, 15, rerank=len(local_index))
    assert np.array_equal(i, exact_i) and np.allclose(d, exact_d, atol=1e-4)
    # a short list of 40 already holds most of the exact top 15
    _, short = pq.search(queries, 15, rerank=40)
    overlap = np.mean([len(np.intersect1d(a, b)) for a, b in zip(short, exact_i, strict=True)])
    plain = np.mean([len(np.intersect1d(a, b)) for a, b in zip(approx_i, exact_i, strict=True)])
    assert overlap >= plain


def test_ef_search_and_wrong_setting(local_index):
    hnsw = local_index.view(index_type="HNSW8")
    _, ids = hnsw.search(_queries(local_index, slice(0, 10)), 5, ef_search=64)
    assert (ids[:, 0] == np.arange(10)).all()
    with pytest.raises(ValueError, match="nprobe does not apply.*HNSW"):
        hnsw.search(_queries(local_index, slice(0, 10)), 5, nprobe=4)
    with pytest.raises(ValueError, match="at least 1"):
        search_parameters(hnsw.faiss_index, ef_search=0)


def test_compressed_build_info_and_locate(local_index, manifest, data_dir, tmp_path, capsys):
    out = tmp_path / "ivfpq"
    code = main(["index", "build", str(manifest), "--out", str(out), "--features", "tiny,color",
                 "--index-type", "IVF4,PQ16x4", "--nprobe", "2", "--rerank", "30",
                 "--rerank-dtype", "float32", "--no-progress", "--json"])
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    exact = local_index.info()
    assert info["index_type"] == "IVF4,PQ16x4" and info["search"] == {"nprobe": 2, "rerank": 30}
    # 16 four-bit codes + an 8-byte id per photo, against 4 bytes per dimension exactly
    assert info["index_code_bytes_per_photo"] == pytest.approx(16, abs=0.5)
    assert exact["index_code_bytes_per_photo"] == pytest.approx(exact["exact_bytes_per_photo"])
    assert info["exact_bytes_per_photo"] == 4 * (768 + 784)
    index = GeoIndex.load(out)
    assert index.search_params == {"nprobe": 2, "rerank": 30}
    # all lists and a short list of every photo, float32 re-ranking: the exact neighbours
    queries = _queries(local_index, slice(0, 12))
    _, ids = index.search(queries, 10, nprobe=4, rerank=N_PHOTOS)
    assert np.array_equal(ids, local_index.search(queries, 10)[1])
    photo = str(data_dir / "im2gps237" / "images" / "104123223.jpg")
    assert main(["locate", str(out), photo, "--json", "--nprobe", "4", "--rerank", "0"]) == 0
    assert len(json.loads(capsys.readouterr().out)["neighbors"]) == 10


def test_locator_with_reranked_compressed_index_votes_as_exact(local_index):
    queries = _queries(local_index, slice(0, 25))
    exact = Im2GPS(k=20, bandwidth_km=400).fit(local_index).predict_features(queries)
    compressed = local_index.view(index_type="PQ8x4")
    locator = Im2GPS(k=20, bandwidth_km=400, rerank=N_PHOTOS).fit(compressed)
    predictions = locator.predict_features(queries)
    assert np.allclose(predictions.lat, exact.lat) and np.allclose(predictions.lon, exact.lon)
    assert locator.get_params()["rerank"] == N_PHOTOS


def test_bad_factory_string_fails_before_extraction(manifest, tmp_path):
    with pytest.raises(ValueError, match="FAISS cannot make this index"):
        build_index(manifest, tmp_path / "bad", features=FAST, index_type="IVF4,Nonsense99",
                    progress=False)
    with pytest.raises(ValueError, match="ef_search does not apply"):
        build_index(manifest, tmp_path / "bad", features=FAST, index_type="IVF4,Flat",
                    search={"ef_search": 10}, progress=False)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad.partial").exists()



def test_pq_that_does_not_divide_the_dimension_is_usage_error_with_fixes(manifest, tmp_path,
                                                                          capsys):
    """Found before any photo is read; the fixes offered are valid for this dimension."""
    from im2gps.index.ann import FactoryError, check_factory

    dim = 768 + 784  # tiny + color
    with pytest.raises(FactoryError, match="multiple of 64, but the combined descriptors"):
        build_index(manifest, tmp_path / "bad", features=FAST, index_type="IVF4,PQ64",
                    progress=False)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad.partial").exists()
    code = main(["index", "build", str(manifest), "--out", str(tmp_path / "bad"), "--features",
                 ",".join(FAST), "--index-type", "IVF4,PQ60", "--no-progress"])
    message = capsys.readouterr().err
    assert code == 2 and "multiple of 60" in message and not (tmp_path / "bad.partial").exists()
    fixes = re.findall(r"'([^']+)'", message.split("Use instead", 1)[1])
    assert len(fixes) >= 3
    for fix in fixes:
        check_factory(fix, dim)  # every fix offered fits


def test_ivf_build_stores_sensible_search_defaults(local_index, manifest, tmp_path):
    """Without --nprobe/--rerank an IVF index visits enough lists and re-ranks a short list."""
    from im2gps.index import ann

    index = build_index(manifest, tmp_path / "ivf", features=FAST, index_type="IVF8,PQ16x4",
                        progress=False)
    # 72 photos in 8 lists: 480 candidates need every list
    assert index.manifest["index"]["search"] == {"rerank": 4 * ann.DEFAULT_K, "nprobe": 8}
    assert index.search_params == {"rerank": 480, "nprobe": 8}
    queries = _queries(local_index, slice(0, 20))
    _, exact = local_index.search(queries, 30)
    _, ids = index.search(queries, 30)
    assert (ids >= 0).all()
    overlap = np.mean([len(set(a[:10]) & set(b[:10])) / 10
                       for a, b in zip(ids, exact, strict=True)])
    assert overlap >= 0.9
    # given settings win, also a 0 that turns re-ranking off
    given = build_index(manifest, tmp_path / "given", features=FAST, index_type="IVF8,PQ16x4",
                        search={"nprobe": 3, "rerank": 0}, progress=False)
    assert given.search_params == {"nprobe": 3, "rerank": 0}


def test_default_nprobe_scales_with_lists():
    """A share of the lists, or enough for the short list, capped at the list count."""
    from im2gps.index import ann

    rng = np.random.default_rng(0)
    def nprobe(n: int, factory: str) -> int:
        vectors = rng.normal(size=(n, 4)).astype(np.float32)
        settings = ann.default_search(ann.make_faiss_index(vectors, factory))
        assert settings["rerank"] == 480
        return settings["nprobe"]

    assert nprobe(100, "IVF16,Flat") == 16  # the short list needs every list
    assert nprobe(2000, "IVF64,Flat") == 16  # 480 candidates in lists of 31 on average
    assert nprobe(20_000, "IVF64,Flat") == 4  # one list in 16
    flat = ann.make_faiss_index(rng.normal(size=(10, 8)).astype(np.float32), "Flat")
    assert ann.default_search(flat) == {}


def test_short_results_warn_once(local_index):
    """A search that finds fewer than k neighbours for a query says so, once."""
    ivf = local_index.view(index_type="IVF8,Flat")
    queries = _queries(local_index, slice(0, 20))
    with pytest.warns(RuntimeWarning, match="fewer than k=40 neighbours"):
        _, ids = ivf.search(queries, 40, nprobe=1)
    assert (ids < 0).any()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ivf.search(queries, 40, nprobe=1)  # said already
        local_index.search(queries, 40)  # exact: every neighbour


def test_small_compressed_build_has_no_faiss_warnings(manifest, tmp_path, capfd):
    """FAISS's per-clustering warnings (C++, on fd 2) give way to one line of ours."""
    capfd.readouterr()
    build_index(manifest, tmp_path / "small", features=FAST, index_type="IVF4,PQ16x4",
                progress=False)
    err = capfd.readouterr().err
    assert "WARNING" not in err
    ours = [line for line in err.splitlines() if "would like at least" in line]
    assert len(ours) == 1 and "624" in ours[0]  # 39 x 16 centroids of each sub-quantizer

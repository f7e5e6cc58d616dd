"""im2gps.index.rerank: compact re-ranking vectors find float32's neighbours on real photos.

benchmarks/rerank_dtype.py measured on the whole im2gps2k database: 8-bit
codes keep 99.6 % of the k = 120 neighbours of float32 re-ranking and the same
nearest neighbour for 98.7 % of the im2gps237 photos, at a cost of at most
0.42 accuracy points. The same must hold, within that loss, on a small real
database here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from im2gps.index import build_index
from im2gps.photos import load_image

K = 20


@pytest.fixture(scope="module")
def indexes(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rerank")
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:200].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp / "db.csv", index=False)
    compact = build_index(tmp / "db.csv", tmp / "sq8", features=["tiny", "color"],
                          index_type="IVF4,PQ16x4", search={"nprobe": 4, "rerank": 200},
                          progress=False)
    exact = compact.view()  # float32 vectors in memory, exact FAISS index
    test = pd.read_csv(data_dir / "im2gps237" / "photos.csv").iloc[:40]
    queries = compact.extract([load_image(data_dir / "im2gps237" / p) for p in test["image"]])
    return compact, exact, queries


def test_sq8_rows_are_a_quarter_of_float32(indexes):
    compact, _, _ = indexes
    info = compact.info()
    assert info["rerank_dtype"] == "sq8"
    assert info["rerank_bytes_per_photo"] * 4 == info["exact_bytes_per_photo"]


def test_sq8_reranking_finds_the_float32_neighbours(indexes):
    compact, exact, queries = indexes
    d_sq8, ids_sq8 = compact.search(queries, K)  # every photo re-ranked from 8-bit codes
    d_f32, ids_f32 = exact.search(queries, K)
    overlap = np.mean([len(np.intersect1d(a, b)) / K for a, b in zip(ids_sq8, ids_f32,
                                                                      strict=True)])
    assert overlap >= 0.99
    assert np.mean(ids_sq8[:, 0] == ids_f32[:, 0]) >= 0.95
    np.testing.assert_allclose(d_sq8, d_f32, rtol=0.01)


def test_add_extends_the_compact_vectors(indexes, data_dir, tmp_path):
    """Added photos get 8-bit rows with checksums; the grown index verifies and finds them."""
    import shutil

    from im2gps.index import add_photos

    compact, _, _ = indexes
    path = tmp_path / "grown"
    shutil.copytree(compact.path, path)
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[200:230].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp_path / "new.csv", index=False)
    grown = add_photos(path, tmp_path / "new.csv", progress=False)
    assert len(grown) == 230 and grown.info()["rerank_bytes_per_photo"] == 768 + 784
    grown.verify()
    queries = {name: np.asarray(grown.features(name))[200:] for name in grown.feature_names}
    _, ids = grown.search(queries, 1)
    assert np.mean(ids[:, 0] == np.arange(200, 230)) >= 0.9  # each new photo finds itself


def _added(data_dir, tmp_path, monkeypatch, refit_share: float):
    """A compressed index of 20 photos, then 40 more added: its re-ranking vectors."""
    import im2gps.index.add as add
    from im2gps.index import GeoIndex, add_photos

    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:60].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.iloc[:20].to_csv(tmp_path / "first.csv", index=False)
    table.iloc[20:].to_csv(tmp_path / "more.csv", index=False)
    build_index(tmp_path / "first.csv", tmp_path / "idx", features=["tiny", "color"],
                index_type="PQ8x4", progress=False)
    monkeypatch.setattr(add, "REFIT_SHARE", refit_share)
    add_photos(tmp_path / "idx", tmp_path / "more.csv", progress=False)
    index = GeoIndex.load(tmp_path / "idx")
    rows = np.arange(len(index))
    exact = index.combined(rows)
    error = (np.linalg.norm(index.rerank_vectors(rows) - exact, axis=1)
             / np.linalg.norm(exact, axis=1))
    return index, error


def test_add_warns_when_new_rows_leave_the_sq8_ranges(data_dir, tmp_path, monkeypatch):
    with pytest.warns(RuntimeWarning, match=r"% of the added photos have values outside"):
        index, error = _added(data_dir, tmp_path, monkeypatch, refit_share=1.0)
    assert error[20:].max() > 2 * error[:20].max()  # clipped rows re-rank less exactly


def test_add_refits_the_sq8_ranges_when_many_rows_leave_them(data_dir, tmp_path, monkeypatch,
                                                            capsys):
    from im2gps.index.add import outside_share

    index, error = _added(data_dir, tmp_path, monkeypatch, refit_share=0.0)
    assert "learning them again" in capsys.readouterr().err
    assert outside_share(index.combined(np.arange(len(index))), index._compact.trained) == 0
    assert np.median(error) < 0.01 and error.max() < 0.02
    index.verify()

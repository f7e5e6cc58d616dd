"""im2gps.index: building from real photos, round trips, resume, atomicity, bad files."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from im2gps.index import (
    FORMAT_VERSION,
    GeoIndex,
    IndexFormatError,
    build_index,
    median_nn_distance,
)
from im2gps.photos import PhotoCollection

FAST = ["tiny", "color"]


def _manifest(data_dir: Path, tmp_path: Path, n: int, start: int = 0) -> Path:
    """A CSV manifest of n real im2gps2k photos (absolute image paths)."""
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[start:start + n].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    path = tmp_path / f"db{start}_{n}.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def small_index(data_dir, tmp_path_factory) -> GeoIndex:
    tmp = tmp_path_factory.mktemp("index")
    return build_index(_manifest(data_dir, tmp, 48), tmp / "idx", features=FAST, progress=False)


def test_index_directory_layout(small_index):
    path = small_index.path
    for name in ("manifest.json", "photos.parquet", "features/tiny.npy", "features/color.npy",
                 "faiss.index", "skipped.csv", "extractors/tiny.json"):
        assert (path / name).is_file(), name
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["counts"]["photos"] == 48
    assert [f["name"] for f in manifest["features"]] == FAST
    assert manifest["combined_dim"] == 768 + 784
    for record in manifest["features"]:
        assert record["scale"] > 0 and record["weight"] == 1.0 and "params" in record
    assert set(manifest["files"]) >= {"photos.parquet", "faiss.index", "features/tiny.npy"}
    assert not list(path.parent.glob(".idx.tmp*")) and not (path.parent / "idx.partial").exists()
    tiny = small_index.features("tiny")
    assert tiny.dtype == np.float32 and tiny.shape == (48, 768)


def test_scales_equalise_features(small_index):
    # after scaling, each block's median nearest-neighbour distance is 1
    for name, extractor in small_index.extractors.items():
        block = extractor.to_l2(np.asarray(small_index.features(name))) / small_index.scales[name]
        assert median_nn_distance(block) == pytest.approx(1.0, rel=1e-4)


def test_search_finds_itself(small_index):
    queries = {name: np.asarray(small_index.features(name)[:10]) for name in small_index.extractors}
    dist, ids = small_index.search(queries, 5)
    assert (ids[:, 0] == np.arange(10)).all()
    assert np.allclose(dist[:, 0], 0, atol=1e-3)
    assert (np.diff(dist, axis=1) >= -1e-5).all()


def test_folder_and_csv_give_same_index(data_dir, tmp_path):
    manifest = _manifest(data_dir, tmp_path, 12)
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in pd.read_csv(manifest)["image"]:
        shutil.copy(image, folder)
    shutil.copy(data_dir / "im2gps237" / "images" / "104123223.jpg", folder / "no_gps.jpg")
    from_csv = build_index(manifest, tmp_path / "a", features=FAST, progress=False)
    from_folder = build_index(folder, tmp_path / "b", features=FAST, progress=False)
    def by_name(index: GeoIndex) -> pd.DataFrame:
        return index.photos.assign(name=[Path(p).name for p in index.photos["image"]])

    merged = by_name(from_csv).merge(by_name(from_folder), on="name")
    assert len(merged) == 12
    assert np.allclose(merged[["lat_x", "lon_x"]], merged[["lat_y", "lon_y"]], atol=1e-4)
    skipped = pd.read_csv(from_folder.path / "skipped.csv")
    assert len(skipped) == 1 and "no GPS" in skipped["reason"][0]
    assert "no_gps.jpg" in skipped["path"][0]


def test_corrupt_photo_is_skipped_and_reported(data_dir, tmp_path):
    manifest = _manifest(data_dir, tmp_path, 6)
    table = pd.read_csv(manifest)
    broken = tmp_path / "broken.jpg"
    data = Path(table["image"][2]).read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    table.loc[2, "image"] = str(broken)
    table.to_csv(manifest, index=False)
    index = build_index(manifest, tmp_path / "idx", features=FAST, progress=False)
    assert len(index) == 5
    skipped = pd.read_csv(index.path / "skipped.csv")
    assert skipped["path"].tolist() == [str(broken)] and "truncated" in skipped["reason"][0]


def test_no_gps_folder_is_refused(data_dir, tmp_path):
    folder = tmp_path / "test_photos"
    folder.mkdir()
    for name in ("104123223.jpg", "1095548455.jpg"):
        shutil.copy(data_dir / "im2gps237" / "images" / name, folder)
    with pytest.raises(ValueError, match="no usable photos"):
        build_index(folder, tmp_path / "idx", features=FAST, progress=False)
    assert not (tmp_path / "idx").exists()
    collection = PhotoCollection.open(folder)
    assert all("no GPS" in s.reason for s in collection.skipped)


def test_existing_index_not_overwritten(small_index, data_dir, tmp_path):
    with pytest.raises(FileExistsError, match="already exists"):
        build_index(_manifest(data_dir, tmp_path, 4), small_index.path, features=FAST)


def test_overwrite_replaces_atomically(data_dir, tmp_path):
    out = tmp_path / "idx"
    build_index(_manifest(data_dir, tmp_path, 6), out, features=FAST, progress=False)
    index = build_index(_manifest(data_dir, tmp_path, 9, start=10), out, features=FAST,
                        overwrite=True, progress=False)
    assert len(GeoIndex.load(out)) == 9 == len(index)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["idx", "db0_6.csv", "db10_9.csv"])


def _copy(index_path: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(index_path, target)
    return target


def test_tampered_feature_file(small_index, tmp_path):
    """Not hashed at load (no query reads it); refused at its first use and by verify."""
    path = _copy(small_index.path, tmp_path)
    tiny = path / "features" / "tiny.npy"
    data = bytearray(tiny.read_bytes())
    data[-10] ^= 0xFF
    tiny.write_bytes(bytes(data))
    index = GeoIndex.load(path)
    with pytest.raises(IndexFormatError, match=r"tiny\.npy: sha256 does not match"):
        index.features("tiny")
    with pytest.raises(IndexFormatError, match=r"tiny\.npy: sha256 does not match"):
        index.verify()


def test_truncated_faiss_file(small_index, tmp_path):
    path = _copy(small_index.path, tmp_path)
    faiss_file = path / "faiss.index"
    faiss_file.write_bytes(faiss_file.read_bytes()[:1000])
    with pytest.raises(IndexFormatError, match=r"faiss\.index: 1000 bytes.*truncated"):
        GeoIndex.load(path)


def test_missing_file(small_index, tmp_path):
    path = _copy(small_index.path, tmp_path)
    (path / "photos.parquet").unlink()
    with pytest.raises(IndexFormatError, match=r"photos\.parquet: missing"):
        GeoIndex.load(path)


def test_wrong_format_version(small_index, tmp_path):
    path = _copy(small_index.path, tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 0
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="format version 0.*rebuild it with"):
        GeoIndex.load(path)


def test_not_an_index(tmp_path):
    with pytest.raises(IndexFormatError, match="not an im2gps index"):
        GeoIndex.load(tmp_path)


def _build_cli(manifest: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "im2gps", "index", "build", str(manifest), "--out", str(out),
               "--features", "tiny,color,lines", "--no-progress"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_resume_after_kill_gives_identical_index(data_dir, tmp_path):
    manifest = _manifest(data_dir, tmp_path, 200)
    reference = build_index(manifest, tmp_path / "ref", features=["tiny", "color", "lines"],
                            progress=False)
    out = tmp_path / "killed"
    process = _build_cli(manifest, out)
    chunks = out.with_name("killed.partial") / "chunks"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(chunks.glob("*.json"))) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(list(chunks.glob("*.json")))
    assert 2 <= done < 7, f"kill came too late or too early ({done} of 7 chunks)"
    assert not out.exists()  # never a half-written index under the final name
    process = _build_cli(manifest, out)
    assert process.wait(timeout=300) == 0, process.stderr.read().decode()
    resumed = GeoIndex.load(out)
    ref_files = json.loads((reference.path / "manifest.json").read_text())["files"]
    new_files = json.loads((resumed.path / "manifest.json").read_text())["files"]
    assert ref_files == new_files  # same sha256 for every file
    assert not out.with_name("killed.partial").exists()


def test_view_selects_features_and_rows(small_index):
    view = small_index.view(features=["color"], rows=np.arange(10, 30))
    assert len(view) == 20 and view.feature_names == ["color"]
    assert view.manifest["combined_dim"] == 784
    assert np.array_equal(view.features("color"), small_index.features("color")[10:30])
    query = {"color": np.asarray(small_index.features("color")[12:13])}
    dist, ids = view.search(query, 3)
    assert ids[0, 0] == 2 and dist[0, 0] < 1e-3  # row 12 of the index is row 2 of the view
    with pytest.raises(ValueError, match="no feature"):
        small_index.view(features=["gist"])


def test_add_photos_grows_the_index(data_dir, tmp_path):
    from im2gps.cli import EXIT_OK, main
    from im2gps.index import add_photos

    first = _manifest(data_dir, tmp_path, 20)
    more = _manifest(data_dir, tmp_path, 12, start=15)  # 5 overlap with the first build
    index = build_index(first, tmp_path / "idx", features=FAST, progress=False)
    scales = index.scales
    grown = add_photos(tmp_path / "idx", more, progress=False)
    assert len(grown) == 27
    reloaded = GeoIndex.load(tmp_path / "idx")  # checksums of every rewritten file
    assert reloaded.scales == scales and reloaded.faiss_index.ntotal == 27
    assert reloaded.features("tiny").shape == (27, 768)
    skipped = pd.read_csv(tmp_path / "idx" / "skipped.csv")
    assert skipped["reason"].str.startswith("already indexed as ").sum() == 5
    # an added photo finds itself; an old one still does
    queries = {name: np.asarray(reloaded.features(name)[[3, 25]]) for name in FAST}
    _, ids = reloaded.search(queries, 1)
    assert ids[:, 0].tolist() == [3, 25]
    assert not (tmp_path / "idx.adding").exists()
    # nothing new: said plainly, exit code 0, the index untouched
    assert main(["index", "add", str(tmp_path / "idx"), str(more), "--no-progress"]) == EXIT_OK
    assert len(GeoIndex.load(tmp_path / "idx")) == 27


def _geotagged(source: Path, target: Path, fmt: str = "JPEG") -> Path:
    """A copy of a real geotagged photo (EXIF GPS kept), re-encoded in ``fmt``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image.save(target, format=fmt, exif=image.getexif())
    return target


def test_ids_unique_and_copies_recognised(data_dir, tmp_path):
    """IMG_0001.jpg and IMG_0001.png are two photos; so are IMG_0001.jpg of two trips;
    the same photo from another folder is skipped as already indexed, naming its id."""
    from im2gps.cli import EXIT_OK, main

    images = sorted((data_dir / "im2gps2k" / "images").iterdir())[:4]
    trip1, trip2 = tmp_path / "trip1", tmp_path / "trip2"
    trip1.mkdir()
    shutil.copy(images[0], trip1 / "IMG_0001.jpg")
    _geotagged(images[1], trip1 / "IMG_0001.png", "PNG")
    shutil.copy(images[0], trip1 / "copy_of_first.jpg")  # same bytes twice in one folder
    trip2.mkdir()
    shutil.copy(images[2], trip2 / "IMG_0001.jpg")  # same name, another photo
    shutil.copy(images[0], trip2 / "IMG_0042.jpg")  # the first photo again, renamed
    index = build_index(trip1, tmp_path / "idx", features=["tiny"], progress=False)
    assert sorted(index.photos["id"]) == ["IMG_0001.jpg", "IMG_0001.png"]
    skipped = pd.read_csv(index.path / "skipped.csv")
    assert skipped["reason"].tolist() == ["same photo as IMG_0001.jpg (identical content)"]
    code = main(["index", "add", str(tmp_path / "idx"), str(trip2), "--no-progress", "--json"])
    assert code == EXIT_OK
    grown = GeoIndex.load(tmp_path / "idx")
    assert sorted(grown.photos["id"]) == ["IMG_0001.jpg", "IMG_0001.png", "trip2/IMG_0001.jpg"]
    row = grown.photos.set_index("id").loc["trip2/IMG_0001.jpg"]
    assert Path(row["image"]).parent == trip2
    reasons = pd.read_csv(grown.path / "skipped.csv")["reason"].tolist()
    assert "already indexed as IMG_0001.jpg (identical content)" in reasons
    # the added photo is its own nearest neighbour, under its own id
    query = {"tiny": np.asarray(grown.features("tiny")[2:3])}
    _, ids = grown.search(query, 1)
    assert grown.photos["id"].iloc[ids[0, 0]] == "trip2/IMG_0001.jpg"


def test_build_and_add_exit_codes(data_dir, tmp_path):
    from im2gps.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main

    images = sorted((data_dir / "im2gps2k" / "images").iterdir())[:3]
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in images[:2]:
        shutil.copy(image, folder)
    out = str(tmp_path / "idx")
    assert main(["index", "build", str(folder), "--out", out, "--features", "tiny",
                 "--no-progress"]) == EXIT_OK
    more = tmp_path / "more"
    more.mkdir()
    shutil.copy(images[2], more)
    Image.new("RGB", (3, 3)).save(more / "tiny.jpg")
    assert main(["index", "add", out, str(more), "--no-progress"]) == EXIT_PARTIAL
    assert len(GeoIndex.load(out)) == 3
    reasons = pd.read_csv(Path(out) / "skipped.csv")["reason"].tolist()
    assert any("too small: 3x3 pixels" in r for r in reasons)
    for bad in (["--jobs", "0"], ["--features", "tiny,nope"], ["--rerank", "-1"]):
        with pytest.raises(SystemExit) as caught:
            main(["index", "build", str(folder), "--out", str(tmp_path / "x"), *bad])
        assert caught.value.code == EXIT_USAGE
    Image.new("RGB", (2000, 2)).save(folder / "strip.png")
    assert main(["index", "build", str(folder), "--out", str(tmp_path / "y"), "--features",
                 "tiny", "--no-progress"]) == EXIT_PARTIAL


def test_feature_cache_is_per_feature(data_dir, tmp_path, monkeypatch):
    """A cached feature is never extracted again when another feature is asked for too."""
    import im2gps.index.extract as extract
    from im2gps.features import create
    from im2gps.index import extract_features
    from im2gps.index.cache import FeatureCache
    from im2gps.photos import PhotoCollection

    collection = PhotoCollection.from_csv(_manifest(data_dir, tmp_path, 12))
    cache = FeatureCache(tmp_path / "cache")
    extract_features(collection, {"tiny": create("tiny")}, tmp_path / "w1", progress=False,
                     cache=cache)
    calls: list[str] = []
    real = extract.load_image
    monkeypatch.setattr(extract, "load_image",
                        lambda path, *a, **k: calls.append(path) or real(path, *a, **k))
    both = extract_features(collection, {"tiny": create("tiny"), "color": create("color")},
                            tmp_path / "w2", progress=False, cache=cache)
    assert len(calls) == 12  # each photo decoded once, for colour only
    assert len(list((tmp_path / "cache").glob("tiny-*/*.json"))) == 1  # tiny not stored again
    plain = extract_features(collection, {"tiny": create("tiny"), "color": create("color")},
                             tmp_path / "w3", progress=False)
    for name in ("tiny", "color"):
        assert np.array_equal(both.matrices[name], plain.matrices[name])


def test_feature_cache_reports_every_failure(data_dir, tmp_path):
    """Photos that fail for one group of features and not another are still reported."""
    from PIL import Image

    from im2gps.features import create
    from im2gps.index import extract_features
    from im2gps.index.cache import FeatureCache
    from im2gps.photos import PhotoCollection

    manifest = _manifest(data_dir, tmp_path, 4)
    table = pd.read_csv(manifest)
    Image.new("RGB", (2, 2)).save(tmp_path / "dot.png")
    table.loc[len(table)] = [str(tmp_path / "dot.png"), *table.iloc[0, 1:].tolist()]
    table.to_csv(manifest, index=False)
    collection = PhotoCollection.from_csv(manifest)
    cache = FeatureCache(tmp_path / "cache")
    extract_features(collection.subset([0, 1]), {"tiny": create("tiny")}, tmp_path / "w1",
                     progress=False, cache=cache)  # tiny cached for two photos only
    both = extract_features(collection, {"tiny": create("tiny"), "color": create("color")},
                            tmp_path / "w2", progress=False, cache=cache)
    assert both.ok.tolist() == [True, True, True, True, False]
    assert [Path(s.path).name for s in both.skipped] == ["dot.png"]


def test_photo_columns_without_pandas(small_index, data_dir):
    """A loaded index answers column reads from the parquet table as read (pyarrow), and
    they equal the pandas table's, also for text with a missing value and for rows."""
    loaded = GeoIndex.load(small_index.path)
    frame = pd.read_parquet(small_index.path / "photos.parquet")
    truth = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:48]
    for name in ("id", "image", "lat", "lon", "license", "author"):
        got = loaded.column(name)
        assert got.dtype == frame[name].to_numpy().dtype or got.dtype == object, name
        assert got.tolist() == frame[name].tolist(), name
        assert loaded.column(name, [5, 0, 5]).tolist() == frame[name].iloc[[5, 0, 5]].tolist()
    np.testing.assert_array_equal(loaded.coords, truth[["lat", "lon"]].to_numpy())
    assert not hasattr(loaded._photo_table, "iloc")  # still the pyarrow table
    with pytest.raises(KeyError):
        loaded.column("nope")
    with pytest.raises(IndexError, match="48 photos"):
        loaded.column("id", [48])
    # the pandas table on demand, then the same columns from it
    assert loaded.photos["id"].tolist() == frame["id"].tolist()
    assert loaded.column("lat", [3]).tolist() == [frame["lat"].iloc[3]]
    # a float column with a missing value (read through to_pylist): NaN
    import pyarrow as pa

    from im2gps.index.store import _arrow_values

    values = _arrow_values(pa.chunked_array([[1.5, None], [2.5]]), None)
    assert np.isnan(values[1]) and values[[0, 2]].tolist() == [1.5, 2.5]
    assert _arrow_values(pa.chunked_array([["a", None]]), [1]).tolist() == [None]


def test_load_with_warm_up(small_index, data_dir):
    """GeoIndex.load(warm_up=True) prepares every extractor on a background thread that
    ends by itself; the features of a photo are the same as without it."""
    import threading

    from im2gps.photos import load_image

    photo = load_image(data_dir / "im2gps237" / "images" / "104123223.jpg")
    want = GeoIndex.load(small_index.path).extract([photo])
    warm = GeoIndex.load(small_index.path, warm_up=True)
    got = warm.extract([photo])
    for thread in threading.enumerate():
        if thread.name == "im2gps-warm-up":
            thread.join(timeout=60)
            assert not thread.daemon and not thread.is_alive()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_damaged_checkpoint_chunk_is_extracted_again(data_dir, tmp_path, capsys):
    """A resumed extraction checks each chunk's sha256 and redoes a damaged chunk."""
    from im2gps.features import create
    from im2gps.index import extract_features

    collection = PhotoCollection.from_csv(_manifest(data_dir, tmp_path, 12))
    clean = extract_features(collection, {"tiny": create("tiny"), "color": create("color")},
                             tmp_path / "clean", chunk_size=4, progress=False)
    work = tmp_path / "work"
    extract_features(collection, {"tiny": create("tiny"), "color": create("color")}, work,
                     chunk_size=4, progress=False)
    record = json.loads((work / "chunks" / "000001.json").read_text())
    assert set(record["sha256"]) == {"tiny", "color"}
    # one flipped byte in a row of chunk 0, chunk 2 lost its file: both are extracted again
    chunk = work / "chunks" / "000000.tiny.npy"
    data = bytearray(chunk.read_bytes())
    data[-5] ^= 0xFF
    chunk.write_bytes(bytes(data))
    (work / "chunks" / "000002.color.npy").unlink()
    capsys.readouterr()
    resumed = extract_features(collection, {"tiny": create("tiny"), "color": create("color")},
                               work, chunk_size=4, progress=False)
    err = capsys.readouterr().err
    assert "chunk 0" in err and "sha256" in err and "chunk 2" in err and "missing" in err
    assert "chunk 1" not in err
    for name in ("tiny", "color"):
        assert np.array_equal(resumed.matrices[name], clean.matrices[name])


def test_unknown_column_lists_the_columns(small_index):
    index = GeoIndex.load(small_index.path)
    for _ in range(2):  # as read (pyarrow), then as pandas
        with pytest.raises(KeyError, match=r"no column 'nope' \(it has id, .*lat, lon"):
            index.column("nope")
        index.photos  # noqa: B018 - converts the table to pandas

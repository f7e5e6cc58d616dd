"""im2gps.archives: photos read in place from msgpack shards, tar shards and zip archives.

The containers are written here from real photos of ../shared/data with the
real libraries (msgpack, tarfile, zipfile), in the layouts their sources
publish: GeoEstimation's MP-16 msgpack shards with an ``IMG_ID,AUTHOR,LAT,LON``
CSV, WebDataset tar shards (``NNNNNN.jpg`` + ``NNNNNN.json``), OSV-5M zips
with an ``id,latitude,longitude,...`` CSV. Each must give the same index as
the same photos as loose files.
"""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import msgpack
import numpy as np
import pandas as pd
import pytest

from im2gps.archives import read_member
from im2gps.index import GeoIndex, build_index
from im2gps.photos import PhotoCollection, PhotoError, load_image

FEATURES = ["tiny", "color"]


@pytest.fixture(scope="module")
def photos(data_dir) -> pd.DataFrame:
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[100:140].reset_index(drop=True)
    table["path"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table["key"] = [Path(p).name for p in table["image"]]
    return table


def write_msgpack(photos: pd.DataFrame, folder: Path, per_shard: int = 16) -> Path:
    """GeoEstimation's layout: shard_<n>.msg of {"id", "image"} maps, IMG_ID,... CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, start in enumerate(range(0, len(photos), per_shard)):
        with open(folder / f"shard_{n}.msg", "wb") as handle:
            for row in photos.iloc[start:start + per_shard].itertuples():
                msgpack.pack({"image": Path(row.path).read_bytes(), "id": f"aa/bb/{row.key}"},
                             handle, use_bin_type=True)
    meta = photos.rename(columns={"author": "AUTHOR", "lat": "LAT", "lon": "LON"})
    meta.insert(0, "IMG_ID", [f"aa/bb/{k}" for k in photos["key"]])
    meta[["IMG_ID", "AUTHOR", "LAT", "LON"]].to_csv(folder.parent / "mp16_meta.csv",
                                                      index=False)
    return folder.parent / "mp16_meta.csv"


def write_tar(photos: pd.DataFrame, folder: Path, per_shard: int = 16) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, start in enumerate(range(0, len(photos), per_shard)):
        with tarfile.open(folder / f"shard-{n:06d}.tar", "w") as archive:
            for i, row in enumerate(photos.iloc[start:start + per_shard].itertuples()):
                key = f"{start + i:06d}"
                archive.add(row.path, arcname=f"{key}.jpg")
                meta = json.dumps({"latitude": row.lat, "longitude": row.lon}).encode()
                info = tarfile.TarInfo(f"{key}.json")
                info.size = len(meta)
                archive.addfile(info, io.BytesIO(meta))


def write_zip(photos: pd.DataFrame, folder: Path) -> Path:
    """OSV-5M's layout: images/test/00.zip holding <id>.jpg, test.csv keyed by id."""
    (folder / "images" / "test").mkdir(parents=True, exist_ok=True)
    ids = [Path(k).stem for k in photos["key"]]
    with zipfile.ZipFile(folder / "images" / "test" / "00.zip", "w") as archive:
        for row, photo_id in zip(photos.itertuples(), ids, strict=True):
            archive.write(row.path, arcname=f"00/{photo_id}.jpg")
    pd.DataFrame({"id": ids, "latitude": photos["lat"], "longitude": photos["lon"],
                  "country": "XX"}).to_csv(folder / "test.csv", index=False)
    return folder / "test.csv"


def same_index(a: GeoIndex, b: GeoIndex) -> None:
    for name in FEATURES:
        assert np.array_equal(np.asarray(a.features(name)), np.asarray(b.features(name)))
    assert (a.path / "faiss.index").read_bytes() == (b.path / "faiss.index").read_bytes()
    assert np.allclose(a.coords, b.coords)
    assert a.photos["sha256"].tolist() == b.photos["sha256"].tolist()


@pytest.fixture(scope="module")
def loose(photos, tmp_path_factory) -> GeoIndex:
    """The same photos as loose files, listed in a CSV manifest in the same order."""
    tmp = tmp_path_factory.mktemp("loose")
    manifest = photos.assign(image=photos["path"])[["image", "lat", "lon", "author"]]
    manifest.to_csv(tmp / "db.csv", index=False)
    return build_index(tmp / "db.csv", tmp / "idx", features=FEATURES, progress=False)


def test_msgpack_shards_give_the_loose_index(photos, loose, tmp_path):
    meta = write_msgpack(photos, tmp_path / "shards")
    collection = PhotoCollection.open(tmp_path / "shards", coords=meta)
    assert len(collection) == 40 and not collection.skipped
    assert collection.ids[0] == f"aa/bb/{photos['key'][0]}"
    assert collection.column("author").tolist() == photos["author"].tolist()
    assert "::" in collection.paths[0] and not Path(collection.paths[0]).exists()
    assert read_member(collection.paths[5]) == Path(photos["path"][5]).read_bytes()
    assert np.array_equal(load_image(collection.paths[5]), load_image(photos["path"][5]))
    same_index(loose, build_index(tmp_path / "shards", tmp_path / "idx", features=FEATURES,
                                  coords=meta, progress=False, jobs=2))


def test_tar_shards_give_the_loose_index(photos, loose, tmp_path):
    write_tar(photos, tmp_path / "wds")
    collection = PhotoCollection.open(tmp_path / "wds")
    assert collection.ids[:2] == ["000000", "000001"] and not collection.skipped
    same_index(loose, build_index(tmp_path / "wds", tmp_path / "idx", features=FEATURES,
                                  progress=False))


def test_zip_archives_give_the_loose_index(photos, loose, tmp_path):
    csv = write_zip(photos, tmp_path / "osv5m")
    collection = PhotoCollection.open(tmp_path / "osv5m" / "images", coords=csv)
    assert collection.column("country").tolist() == ["XX"] * 40
    same_index(loose, build_index(tmp_path / "osv5m" / "images", tmp_path / "idx",
                                  features=FEATURES, coords=csv, progress=False))


def test_bad_records_are_skipped_and_reported(photos, tmp_path):
    meta = write_msgpack(photos.iloc[:6], tmp_path / "shards", per_shard=3)
    with open(tmp_path / "shards" / "shard_0.msg", "ab") as handle:
        msgpack.pack({"id": "aa/bb/garbage.jpg", "image": b"\xff\xd8 not a jpeg"}, handle)
        msgpack.pack([1, 2, 3], handle)  # not a photo record
    table = pd.read_csv(meta)
    pd.concat([table, pd.DataFrame({"IMG_ID": ["aa/bb/garbage.jpg"], "AUTHOR": ["x"],
                                    "LAT": [1.0], "LON": [2.0]})]).to_csv(meta, index=False)
    data = (tmp_path / "shards" / "shard_1.msg").read_bytes()
    (tmp_path / "shards" / "shard_1.msg").write_bytes(data[:-500])  # cut in its last record
    index = build_index(tmp_path / "shards", tmp_path / "idx", features=FEATURES, coords=meta,
                        progress=False)
    assert len(index) == 5
    skipped = pd.read_csv(index.path / "skipped.csv")
    reasons = dict(zip(skipped["path"], skipped["reason"], strict=True))
    assert any("not a photo record" in r for r in reasons.values())
    assert any("truncated record at the end" in r for r in reasons.values())
    garbage = [p for p in reasons if "garbage.jpg" in p]
    assert garbage and "not an image" in reasons[garbage[0]]
    with pytest.raises(PhotoError, match="needs '<id>@<byte offset>'"):
        read_member(f"{tmp_path / 'shards' / 'shard_0.msg'}::aa/bb/x.jpg")
    with pytest.raises(PhotoError, match="is 'aa/bb/"):
        read_member(f"{tmp_path / 'shards' / 'shard_0.msg'}::aa/bb/x.jpg@0")


def test_msgpack_without_coords_is_a_clear_error(photos, tmp_path):
    from im2gps.errors import UsageError

    write_msgpack(photos.iloc[:3], tmp_path / "shards")
    with pytest.raises(UsageError, match="--coords"):
        PhotoCollection.open(tmp_path / "shards")


@pytest.mark.slow
def test_interrupted_build_from_shards_resumes_identically(data_dir, tmp_path):
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:200].reset_index(drop=True)
    table["path"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table["key"] = [Path(p).name for p in table["image"]]
    meta = write_msgpack(table, tmp_path / "shards", per_shard=50)
    reference = build_index(tmp_path / "shards", tmp_path / "ref", coords=meta,
                            features=["tiny", "color", "lines"], progress=False)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "im2gps", "index", "build", str(tmp_path / "shards"),
               "--coords", str(meta), "--out", str(out), "--features", "tiny,color,lines",
               "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks = out.with_name("killed.partial") / "chunks"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(chunks.glob("*.json"))) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 2 <= len(list(chunks.glob("*.json"))) < 7 and not out.exists()
    process = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    ref_files = json.loads((reference.path / "manifest.json").read_text())["files"]
    new_files = json.loads((out / "manifest.json").read_text())["files"]
    assert ref_files == new_files
    shutil.rmtree(tmp_path / "ref")


def test_damage_and_ambiguity_cost_only_the_photos_concerned(photos, tmp_path):
    """A truncated tar keeps its intact samples; an id twice (in two shards, or twice in
    the coordinates CSV) is skipped with the reason, never given another photo's place."""
    write_tar(photos.iloc[:4], tmp_path / "wds", per_shard=4)
    shard = tmp_path / "wds" / "shard-000000.tar"
    shard.write_bytes(shard.read_bytes()[:-(1024 * 12)])  # into the last sample's image
    collection = PhotoCollection.open(tmp_path / "wds")
    assert len(collection) >= 3
    assert any("cut short" in s.reason or "damaged" in s.reason for s in collection.skipped)
    assert all(load_image(p).shape[2] == 3 for p in collection.paths)

    meta = write_msgpack(photos.iloc[:4], tmp_path / "mp16" / "shards", per_shard=2)
    with open(tmp_path / "mp16" / "shards" / "shard_1.msg", "ab") as handle:
        msgpack.pack({"id": f"aa/bb/{photos['key'][0]}",
                      "image": Path(photos["path"][10]).read_bytes()}, handle)
    table = pd.read_csv(meta)
    pd.concat([table, table.iloc[[1]].assign(LAT=10.0)]).to_csv(meta, index=False)
    collection = PhotoCollection.open(tmp_path / "mp16" / "shards", coords=meta)
    reasons = " | ".join(s.reason for s in collection.skipped)
    assert "also names a photo in shard_0.msg" in reasons
    assert "is listed twice in mp16_meta.csv (lines 3 and 6)" in reasons
    assert collection.ids == [f"aa/bb/{k}" for k in photos["key"][[0, 2, 3]]]
    assert np.allclose(collection.coords, photos[["lat", "lon"]].to_numpy()[[0, 2, 3]])


def test_layouts_and_options(photos, tmp_path):
    from im2gps.cli import EXIT_USAGE, main

    csv = write_zip(photos.iloc[:3], tmp_path / "osv5m")
    collection = PhotoCollection.open(tmp_path / "osv5m")  # the root: test.csv found beside
    assert len(collection) == 3 and collection.source.endswith("osv5m")
    assert PhotoCollection.open(tmp_path / "osv5m" / "images" / "test").ids == collection.ids
    write_msgpack(photos.iloc[:3], tmp_path / "mp16" / "shards")
    code = main(["index", "build", str(tmp_path / "mp16" / "shards"), "--out",
                 str(tmp_path / "x"), "--features", "tiny", "--no-progress"])
    assert code == EXIT_USAGE
    with pytest.raises(PhotoError, match="is a folder; --coords takes a CSV"):
        PhotoCollection.open(tmp_path / "mp16" / "shards", coords=tmp_path / "mp16")
    with pytest.raises(PhotoError, match="no photo id of the containers is in"):
        PhotoCollection.open(tmp_path / "mp16" / "shards", coords=csv)
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / "shard-000000.tar.gz").write_bytes(b"\x1f\x8b" + bytes(30))
    with pytest.raises(PhotoError, match="decompress them"):
        PhotoCollection.from_containers(tmp_path / "gz")

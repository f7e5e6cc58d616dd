"""Tests of im2gps.datasets on the real data folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from im2gps import datasets
from im2gps.datasets import DatasetNotFoundError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)


def test_default_data_dir_is_beside_the_checkout():
    assert datasets.default_data_dir().resolve() == DATA.resolve()
    assert datasets.find_data_dir().resolve() == DATA.resolve()
    assert datasets.names()[:2] == ["im2gps237", "im2gps2k"]
    assert {"im2gps3k", "yfcc4k", "yfcc26k", "gws15k", "osv5m"} <= set(datasets.names())


def test_im2gps237_has_scenes():
    photos = datasets.load("im2gps237")
    assert len(photos) == 237 and not photos.skipped
    scene = photos.column("scene")
    assert set(scene) == {"indoor", "natural", "urban"}
    assert all(Path(p).is_file() for p in photos.paths[:5])
    assert np.all(np.abs(photos.coords[:, 0]) <= 90)


def test_im2gps2k_is_photographer_disjoint():
    database = datasets.load("im2gps2k", data_dir=DATA)
    assert len(database) == 1685
    assert database.column("scene") is None
    test_authors = set(datasets.load("im2gps237").column("author"))
    assert not test_authors & set(database.column("author"))


def test_load_by_path_folder_or_csv():
    by_folder = datasets.load(DATA / "im2gps237")
    by_csv = datasets.load(str(DATA / "im2gps237" / "photos.csv"))
    assert by_folder.ids == by_csv.ids
    assert len(by_folder) == 237


def test_env_var_is_honoured(monkeypatch, tmp_path):
    real = pd.read_csv(DATA / "im2gps2k" / "photos.csv").iloc[:2]
    folder = tmp_path / "im2gps237"
    folder.mkdir()
    manifest = real.assign(image=[str(DATA / "im2gps2k" / p) for p in real["image"]])
    manifest.to_csv(folder / "photos.csv", index=False)
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    assert datasets.find_data_dir() == tmp_path.resolve()
    photos = datasets.load("im2gps237")
    assert len(photos) == 2
    np.testing.assert_allclose(photos.coords, real[["lat", "lon"]].to_numpy())
    # An explicit data_dir wins over the environment.
    assert len(datasets.load("im2gps237", data_dir=DATA)) == 237


def test_missing_folder_explains_what_to_download(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as err:
        datasets.load("im2gps237", data_dir=missing)
    message = str(err.value)
    assert str(missing) in message
    assert "graphics.cs.cmu.edu/projects/im2gps" in message
    assert "photos.csv" in message and "images/" in message
    monkeypatch.setenv(datasets.ENV_VAR, str(missing))
    with pytest.raises(DatasetNotFoundError, match=r"\$IM2GPS_DATA"):
        datasets.find_data_dir()


def test_missing_set_or_path():
    with pytest.raises(DatasetNotFoundError, match="known names: im2gps237, im2gps2k"):
        datasets.load("no_such_set")
    with pytest.raises(DatasetNotFoundError, match="no such folder"):
        datasets.load(DATA / "no_such_folder" / "photos.csv")
    with pytest.raises(DatasetNotFoundError, match="MP-16"):
        datasets.mp16_coords(DATA / "im2gps237")


def test_mp16_coords():
    lat, lon = datasets.mp16_coords()
    assert lat.shape == lon.shape == (100_000,)
    assert lat.dtype == np.float64
    assert np.all(np.isfinite(lat)) and np.all(np.abs(lat) <= 90) and np.all(np.abs(lon) <= 180)
    # Real photo density: far more photos in the northern hemisphere.
    assert np.mean(lat > 0) > 0.7


def _real_photos(n: int) -> pd.DataFrame:
    table = pd.read_csv(DATA / "im2gps2k" / "photos.csv").iloc[:n].reset_index(drop=True)
    table["path"] = [str(DATA / "im2gps2k" / p) for p in table["image"]]
    return table


def test_suites_read_as_published(tmp_path):
    """Each suite's metadata in the exact shape its source publishes, read by name."""
    import shutil
    import zipfile

    photos = _real_photos(6)
    # im2gps3k: GeoEstimation's im2gps3k_places365.csv, images named by IMG_ID in images/
    folder = tmp_path / "im2gps3k"
    (folder / "images").mkdir(parents=True)
    ids = [f"{Path(p).stem}_abc_{i}_{a}.jpg" for i, (p, a) in
           enumerate(zip(photos["image"], photos["author"], strict=True))]
    for path, image_id in zip(photos["path"], ids, strict=True):
        shutil.copy(path, folder / "images" / image_id)
    pd.DataFrame({"IMG_ID": ids, "AUTHOR": photos["author"], "LAT": photos["lat"],
                  "LON": photos["lon"], "S3_Label": 1, "S16_Label": 4, "S365_Label": 200,
                  "Prob_indoor": 0.1, "Prob_natural": 0.2, "Prob_urban": 0.7}).to_csv(
        folder / "im2gps3k_places365.csv", index=False)
    # osv5m: test.csv keyed by id, images in images/test/00.zip
    folder = tmp_path / "osv5m"
    (folder / "images" / "test").mkdir(parents=True)
    osv_ids = [str(400000 + i) for i in range(6)]
    with zipfile.ZipFile(folder / "images" / "test" / "00.zip", "w") as archive:
        for path, image_id in zip(photos["path"], osv_ids, strict=True):
            archive.write(path, arcname=f"{image_id}.jpg")
    pd.DataFrame({"id": osv_ids, "latitude": photos["lat"], "longitude": photos["lon"],
                  "thumb_original_url": "", "country": "FR", "sequence": "s",
                  "captured_at": 1600000000000, "lon_bin": 3, "lat_bin": 5}).to_csv(
        folder / "test.csv", index=False)

    three = datasets.load("im2gps3k", data_dir=tmp_path)
    assert three.ids == ids and three.column("author").tolist() == photos["author"].tolist()
    assert np.allclose(three.coords, photos[["lat", "lon"]].to_numpy())
    osv = datasets.load("osv5m", data_dir=tmp_path)
    assert osv.ids == osv_ids and set(osv.column("country")) == {"FR"}
    assert np.allclose(osv.coords, photos[["lat", "lon"]].to_numpy())
    rows = {row["name"]: row for row in datasets.status(tmp_path)}
    assert rows["im2gps3k"]["present"] and rows["im2gps3k"]["listed"] == 6
    assert rows["osv5m"]["present"] and not rows["yfcc4k"]["present"]
    assert not rows["gws15k"]["public"]
    with pytest.raises(DatasetNotFoundError, match="yfcc4k"):
        datasets.load("yfcc4k", data_dir=tmp_path)


def test_datasets_command(tmp_path):
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "im2gps", "datasets", "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["im2gps237"]["present"] and rows["im2gps2k"]["listed"] == 1685
    assert not rows["osv5m"]["present"] and "osv5m" in rows["osv5m"]["source"]
    text = subprocess.run([sys.executable, "-m", "im2gps", "datasets", "--data", str(tmp_path)],
                          capture_output=True, text=True)
    assert text.returncode == 0 and "get it:" in text.stdout

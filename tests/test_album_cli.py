"""``im2gps locate MODEL --album`` and ``im2gps benchmark --albums`` on real photos."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from im2gps.cli import main


@pytest.fixture(scope="module")
def index_dir(data_dir, db_table, tmp_path_factory):
    """An index of 80 im2gps2k photos (tiny feature) whose table keeps author and taken."""
    work = tmp_path_factory.mktemp("album-cli")
    sequences = db_table[db_table.duplicated("author", keep=False)].head(40)
    rest = db_table.drop(sequences.index).sample(40, random_state=0)
    manifest = pd.concat([sequences, rest])
    manifest = manifest.assign(image=[str(data_dir / "im2gps2k" / p) for p in manifest["image"]])
    manifest.to_csv(work / "db.csv", index=False)
    assert main(["index", "build", str(work / "db.csv"), "--out", str(work / "idx"),
                 "--features", "tiny", "--no-progress"]) == 0
    return work / "idx"


@pytest.fixture(scope="module")
def album_dir(data_dir, test_table, tmp_path_factory):
    """Two album folders of real test photos, with EXIF capture times (one unusable)."""
    root = tmp_path_factory.mktemp("albums")
    times = {"trip1": ["2012:05:01 10:00:00", "2012:05:01 09:00:00", "0000:00:00 00:00:00"],
             "trip2": ["2013:01:01 08:00:00", "2013:01:02 08:00:00"]}
    photos = iter(test_table["image"])
    for album, stamps in times.items():
        (root / album).mkdir()
        for n, stamp in enumerate(stamps):
            with Image.open(data_dir / "im2gps237" / next(photos)) as image:
                exif = Image.Exif()
                exif.get_ifd(0x8769)[0x9003] = stamp
                image.save(root / album / f"IMG_{n}.jpg", exif=exif)
    return root


@pytest.mark.parametrize("method", ["hmm", "pooled"])
def test_locate_album_json(index_dir, album_dir, capsys, method):
    code = main(["locate", str(index_dir), "--album", str(album_dir), "--album-method", method,
                 "--json"])
    assert code == 0
    documents = json.loads(capsys.readouterr().out)
    assert [d["album"] for d in documents] == ["trip1", "trip2"]
    trip1 = documents[0]
    assert trip1["method"] == method
    assert [p["id"] for p in trip1["photos"]] == ["IMG_1.jpg", "IMG_0.jpg", "IMG_2.jpg"]
    assert [p["taken"] for p in trip1["photos"]] == ["2012-05-01T09:00:00",
                                                     "2012-05-01T10:00:00", None]
    assert trip1["untimed"][0]["id"] == "IMG_2.jpg"
    for doc in documents:
        assert -90 <= doc["lat"] <= 90 and doc["country"]
        assert all(np.isfinite(p["lat"]) and not p["failed"] for p in doc["photos"])
    if method == "pooled":
        assert len({(p["lat"], p["lon"]) for p in trip1["photos"]}) == 1


def test_locate_album_text_and_failed_photo(index_dir, album_dir, tmp_path, capsys):
    broken = tmp_path / "album"
    broken.mkdir()
    (broken / "a.jpg").write_bytes((album_dir / "trip2" / "IMG_0.jpg").read_bytes())
    (broken / "b.jpg").write_bytes(b"not a photo")
    code = main(["locate", str(index_dir), "--album", str(broken)])
    out = capsys.readouterr().out
    assert code == 1  # one photo failed, the other answered
    assert "album estimate" in out and "failed" in out and "b.jpg" in out
    (broken / "b.jpg").unlink()
    (broken / "notes.txt").write_text("day one")
    code = main(["locate", str(index_dir), "--album", str(broken), "--json"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert code == 1  # a file of the folder is not a photo: listed, not silently dropped
    assert document["skipped"][0]["path"] == "notes.txt"
    assert "not a photo file" in document["skipped"][0]["reason"]


def test_locate_album_usage_errors(index_dir, album_dir, tmp_path, capsys):
    assert main(["locate", str(index_dir), "--album", str(album_dir),
                 "--album-method", "lstm"]) == 2
    assert main(["locate", str(index_dir), "x.jpg", "--album", str(album_dir)]) == 2
    assert main(["locate", str(index_dir)]) == 2
    assert main(["locate", str(index_dir), "--album", str(tmp_path / "nowhere")]) == 3
    assert main(["benchmark", "--albums", "author", "--test", "x.csv"]) == 2
    assert main(["benchmark", "--albums", "author", "--locators", "nope"]) == 2
    assert main(["benchmark", "--albums", "author", "--folds", "1"]) == 2
    capsys.readouterr()


def test_saved_album_locator_is_a_model(index_dir, album_dir, tmp_path, capsys):
    from im2gps.album_locators import TravelHMM
    from im2gps.locator import Im2GPS

    hmm = TravelHMM(Im2GPS.load(index_dir)).fit()
    saved = hmm.save(tmp_path / "hmm")
    assert main(["locate", str(saved), "--album", str(album_dir), "--json"]) == 0
    from_saved = json.loads(capsys.readouterr().out)
    assert main(["locate", str(index_dir), "--album", str(album_dir), "--json"]) == 0
    from_index = json.loads(capsys.readouterr().out)
    assert from_saved == from_index


def test_locate_album_with_a_planet_model(index_dir, album_dir, tmp_path, capsys):
    from im2gps.planet import PlaNet
    from im2gps.travel import TravelPrior

    planet = PlaNet(feature="tiny", t_max=20, t_min=3, max_epochs=10).fit_photos(
        index_dir.parent / "db.csv")
    saved = planet.save(tmp_path / "planet")
    assert main(["locate", str(saved), "--album", str(album_dir)]) == 2  # HMM needs a prior
    prior = TravelPrior().save(tmp_path / "prior.json")
    assert main(["locate", str(saved), "--album", str(album_dir), "--travel-prior",
                 str(prior), "--json"]) == 0
    documents = json.loads(capsys.readouterr().out)
    assert [d["method"] for d in documents] == ["hmm", "hmm"]
    assert main(["locate", str(saved), "--album", str(album_dir), "--album-method",
                 "pooled"]) == 0
    assert "album estimate" in capsys.readouterr().out

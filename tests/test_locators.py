"""One locator contract for Im2GPS, PlaNet and the reference rows, on real photos.

Each locator is fitted on real im2gps2k photos, asked about real im2gps237
photos, saved, loaded back through ``im2gps.load`` (which must know what the
directory is), and must then give identical answers; ``get_params`` must
round-trip through the constructor, ``repr`` must show the parameters, and
``score`` must be an honest accuracy. The command line takes every kind.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import im2gps
from im2gps import Chance, Im2GPS, Oracle, PlaNet, Prior
from im2gps.photos import PhotoCollection

N_DB = 150


@pytest.fixture(scope="module")
def database(data_dir, tmp_path_factory) -> PhotoCollection:
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:N_DB].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    path = tmp_path_factory.mktemp("db") / "db.csv"
    table.to_csv(path, index=False)
    return PhotoCollection.from_csv(path)


@pytest.fixture(scope="module")
def queries(data_dir) -> tuple[list[str], np.ndarray]:
    test = PhotoCollection.from_csv(data_dir / "im2gps237" / "photos.csv")
    return test.paths[:8], test.coords[:8]


@pytest.fixture(scope="module")
def locators(database, tmp_path_factory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("locators")
    return {
        "im2gps": Im2GPS(features=["tiny", "color"], k=15, bandwidth_km=300).fit(
            database, index_dir=tmp / "index"),
        "planet": PlaNet(feature="tiny", t_max=40, t_min=4, max_epochs=10, seed=1).fit_photos(
            database),
        "chance": Chance(seed=3).fit(database),
        "prior": Prior().fit(database),
        "oracle": Oracle().fit(database),
    }


@pytest.mark.parametrize("name", ["im2gps", "planet", "chance", "prior", "oracle"])
def test_contract(name, locators, queries, tmp_path):
    locator = locators[name]
    paths, truth = queries
    extra = {"truth": truth} if name == "oracle" else {}
    before = locator.predict(paths, **extra)
    assert len(before) == 8 and not before.failed.any()
    assert np.all(np.abs(before.lat) <= 90) and np.all(np.abs(before.lon) <= 180)
    saved = locator.save(tmp_path / name)
    loaded = im2gps.load(saved)
    assert type(loaded) is type(locator)
    after = loaded.predict(paths, **extra)
    assert np.array_equal(before.lat, after.lat) and np.array_equal(before.lon, after.lon)
    params = locator.get_params()
    assert type(locator)(**params).get_params() == params
    assert loaded.get_params() == params
    text = repr(locator)
    assert text.startswith(type(locator).__name__ + "(") and f"{next(iter(params))}=" in text
    accuracy = locator.score(paths, truth[:, 0], truth[:, 1], threshold_km=2500)
    errors = im2gps.evaluate.errors_km(before.lat, before.lon, truth[:, 0], truth[:, 1])
    assert accuracy == pytest.approx(np.mean(errors <= 2500))
    assert 0 <= locator.score(paths, truth[:, 0], truth[:, 1], "geoguessr") <= 5000


def test_adopted_index_tells_its_features(locators):
    index = locators["im2gps"].index_
    adopted = Im2GPS(features=["gist"], k=10).fit(index)
    assert adopted.get_params()["features"] == ["tiny", "color"]


def test_one_path_is_one_photo(locators, queries):
    paths, _ = queries
    for name in ("im2gps", "planet", "chance", "prior"):
        assert len(locators[name].predict(paths[0])) == 1


def test_oracle_needs_the_truth(locators, queries):
    with pytest.raises(ValueError, match="truth"):
        locators["oracle"].predict(queries[0])


def test_small_database_warning(database, locators):
    with pytest.warns(UserWarning, match="every query's vote covers most of the database"):
        Im2GPS(k=120).fit(locators["im2gps"].index_)


def test_not_a_locator(tmp_path):
    with pytest.raises(ValueError, match="not a saved locator"):
        im2gps.load(tmp_path)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "im2gps", *args], capture_output=True,
                          text=True)


def test_every_command_takes_any_locator(locators, queries, database, data_dir, tmp_path):
    """locate (JSON, --explain) with a PlaNet model and an index side by side; the
    benchmark with saved locators given as paths."""
    paths, truth = queries
    planet = locators["planet"].save(tmp_path / "planet")
    index = locators["im2gps"].save(tmp_path / "im2gps")
    prior = locators["prior"].save(tmp_path / "prior")
    for model in (planet, index, prior):
        explain = [] if model == prior else ["--explain", str(tmp_path / f"why-{model.name}")]
        result = _cli("locate", str(model), paths[0], "--json", *explain)
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout)
        assert -90 <= doc["lat"] <= 90 and doc["country"]
        assert doc.get("explain") or model == prior, doc
    assert _cli("locate", str(prior), paths[0], "--explain", str(tmp_path / "x")
                ).returncode == 2  # a reference row ignores pixels: nothing to explain
    info = json.loads(_cli("index", "info", str(planet), "--json").stdout)
    assert info["kind"] == "planet" and info["cells"] == len(locators["planet"].cells_)
    doc = json.loads(_cli("locate", str(planet), paths[0], "--json").stdout)
    assert doc["locator"] == "PlaNet" and doc["cells"] and doc["neighbors"] == []
    assert 0 < doc["cells"][0]["probability"] <= 1
    assert _cli("locate", str(planet), paths[0], "--k", "5").returncode == 2
    oracle = locators["oracle"].save(tmp_path / "oracle")
    assert _cli("locate", str(oracle), paths[0]).returncode == 2

    test = pd.read_csv(data_dir / "im2gps237" / "photos.csv").iloc[:8].copy()
    test["image"] = paths
    test.to_csv(tmp_path / "test.csv", index=False)
    result = _cli("benchmark", "--database", database.source, "--test",
                  str(tmp_path / "test.csv"), "--locators",
                  f"chance,prior,{planet},{index}", "--cache", str(tmp_path / "cache"),
                  "--json", "--n-boot", "50", "--no-size-curve", "--no-progress")
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)["results"]
    assert set(results) == {"chance", "prior", str(planet), str(index)}
    assert results[str(index)]["n"] == 8


def test_planet_warns_when_the_partition_says_little(database):
    """t_min = 50 on 150 photos: one cell of 54 photos, 96 dropped (measured on im2gps2k)."""
    from im2gps.features import create

    X = create("tiny").transform(im2gps.load_image(p) for p in database.paths)
    with pytest.warns(UserWarning) as caught:
        PlaNet(feature="tiny", t_max=10000, t_min=50, max_epochs=2).fit(
            X, database.coords[:, 0], database.coords[:, 1])
    messages = " | ".join(str(w.message) for w in caught)
    assert "one cell" in messages and "dropped from training" in messages


def test_reference_rows_fail_missing_photos_and_check_arguments(locators, queries, tmp_path):
    paths, truth = queries
    predictions = locators["prior"].predict([paths[0], str(tmp_path / "nowhere.jpg")])
    assert predictions.failed.tolist() == [False, True]
    assert "file not found" in predictions.errors[1]
    with pytest.raises(ValueError, match="threshold_km"):
        locators["prior"].score(paths, truth[:, 0], truth[:, 1], threshold_km="far")
    with pytest.raises(ValueError, match="8 images but 1 latitudes"):
        locators["prior"].score(paths, truth[:1, 0], truth[:1, 1])
    with pytest.raises(ValueError, match="lat in"):
        Prior().fit(np.array([[100.0, 500.0]]))
    saved = locators["prior"].save(tmp_path / "prior")
    with pytest.raises(ValueError, match="holds a Prior reference row, not a Chance"):
        Chance.load(saved)
    locators["planet"].save(tmp_path / "damaged")
    (tmp_path / "damaged" / "planet.json").write_text('{"format_version": 1}')
    with pytest.raises(ValueError, match="damaged planet model"):
        im2gps.load(tmp_path / "damaged")


def test_planet_fit_takes_photos(database):
    model = PlaNet(feature="tiny", t_max=40, t_min=4, max_epochs=3).fit(database)
    assert model.extractor_.name == "tiny" and len(model.cells_) > 1

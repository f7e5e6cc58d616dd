"""im2gps.benchmark: a small real head-to-head run, its files, cache and honesty rules."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from im2gps.benchmark import run_benchmark, write_results
from im2gps.evaluate import errors_km, prior_location

LOCATORS = ["chance", "prior", "oracle", "im2gps-tiny", "im2gps-color"]


@pytest.fixture(scope="module")
def sets(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    db = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:300].copy()
    db["image"] = [str(data_dir / "im2gps2k" / p) for p in db["image"]]
    db.to_csv(tmp / "db.csv", index=False)
    test = pd.read_csv(data_dir / "im2gps237" / "photos.csv").iloc[:40].copy()
    test["image"] = [str(data_dir / "im2gps237" / p) for p in test["image"]]
    broken = tmp / "broken.jpg"
    broken.write_bytes((data_dir / "im2gps237" / test["image"][0]).read_bytes()[:2000])
    test.loc[5, "image"] = str(broken)  # a test photo every method must fail on
    test.loc[7, "image"] = str(tmp / "gone.jpg")  # a missing file: a miss, never dropped
    Image.new("RGB", (2000, 2), "white").save(tmp / "strip.png")
    test.loc[9, "image"] = str(tmp / "strip.png")  # too small to describe a scene
    test.to_csv(tmp / "test.csv", index=False)
    return tmp


@pytest.fixture(scope="module")
def result(sets):
    return run_benchmark(sets / "db.csv", sets / "test.csv", locators=LOCATORS,
                         cache_dir=sets / "cache", jobs=1, n_boot=200, progress=False)


def test_rows_and_failures(result):
    assert list(result.reports) == LOCATORS and result.n == 40
    reasons = {Path(f["path"]).name: f["reason"] for f in result.failed_photos}
    assert set(reasons) == {"broken.jpg", "gone.jpg", "strip.png"}
    assert reasons["gone.jpg"] == "file not found"
    assert "too small: 2000x2 pixels" in reasons["strip.png"]
    for name in ("im2gps-tiny", "im2gps-color"):
        assert result.reports[name].failed == 3
        frame = result.predictions[name]
        for row in (5, 7, 9):  # counted as misses, in the denominator of 40
            assert frame["failed"][row] and np.isinf(frame["error_km"][row])
    assert result.reports["oracle"].failed == 0


def test_prior_and_oracle_definitions(result, sets):
    db = pd.read_csv(sets / "db.csv")
    prior = result.predictions["prior"]
    plat, plon = prior_location(db["lat"], db["lon"])
    assert np.allclose(prior["lat"], plat) and np.allclose(prior["lon"], plon)
    oracle = result.predictions["oracle"]
    truth = oracle[["true_lat", "true_lon"]].to_numpy()
    every = errors_km(truth[:, :1], truth[:, 1:], db["lat"].to_numpy()[None],
                      db["lon"].to_numpy()[None])
    assert np.allclose(oracle["error_km"], every.min(axis=1))
    for name, frame in result.predictions.items():  # no method beats the oracle at 1-NN scale
        if name.startswith("im2gps"):
            assert (frame["error_km"] >= oracle["error_km"] - 1e-6).sum() >= 35


def test_json_document(result):
    document = json.loads(json.dumps(result.to_dict()))
    assert {"test", "database", "n", "results"} <= set(document)
    for row in document["results"].values():
        assert set(row["acc"]) == {"1", "25", "200", "750", "2500"}
        assert all(0 <= v <= 1 for v in row["acc"].values())
        assert "median_km" in row and "failed" in row
    assert document["settings"]["im2gps"]["vote"] in ("meanshift", "1nn", "kde")
    gains = document["gains"]["im2gps-tiny"]
    assert set(gains) == {"chance", "prior"} and gains["prior"]["200"]["lo"] <= \
        gains["prior"]["200"]["gain"] <= gains["prior"]["200"]["hi"]


def test_written_files(result, sets):
    out = sets / "out"
    write_results(result, out)
    for name in ("results.json", "results.csv", "results.md", "error_cdf.png",
                 "error_map.png", "database_size.png", "database_size.csv",
                 "predictions/im2gps-tiny.csv", "predictions/chance.csv"):
        assert (out / name).is_file() and (out / name).stat().st_size > 100, name
    table = pd.read_csv(out / "results.csv")
    assert table["method"].tolist() == LOCATORS
    markdown = (out / "results.md").read_text()
    assert "Street 1 km" in markdown and "clears prior" in markdown and "urban" in markdown
    size = pd.read_csv(out / "database_size.csv")
    assert set(size["method"]) == {"im2gps", "im2gps-1nn", "oracle", "chance"}
    oracle = size[size["method"] == "oracle"].sort_values("photos")
    assert oracle["acc_2500km"].is_monotonic_increasing  # more photos, better ceiling


def test_error_map_shows_a_method_not_a_reference_row(result, tmp_path, monkeypatch):
    """Without an ``im2gps`` row the map shows the first non-reference row, not chance."""
    from im2gps import plots
    from im2gps.benchmark import main_method

    assert list(result.predictions)[0] == "chance" and "im2gps" not in result.predictions
    assert main_method(result.predictions) == "im2gps-tiny"
    assert main_method(["chance", "im2gps-color", "im2gps"]) == "im2gps"
    assert main_method(["chance", "prior", "oracle"]) == "chance"  # nothing else ran
    drawn = {}

    def spy(true_lat, true_lon, lat, lon, path, title=""):
        drawn.update(lat=np.asarray(lat), title=title)
        Path(path).write_bytes(b"png")
        return Path(path)

    monkeypatch.setattr(plots, "plot_error_map", spy)
    write_results(result, tmp_path)
    assert drawn["title"].startswith("im2gps-tiny:")
    assert np.array_equal(drawn["lat"], result.predictions["im2gps-tiny"]["lat"],
                          equal_nan=True)


def test_second_run_extracts_nothing(result, sets, monkeypatch):
    calls = _count_decodes(monkeypatch)
    again = run_benchmark(sets / "db.csv", sets / "test.csv", locators=LOCATORS,
                          cache_dir=sets / "cache", jobs=1, n_boot=200, progress=False,
                          size_curve=False)
    assert {Path(c).name for c in calls} <= {"broken.jpg", "gone.jpg", "strip.png"}
    assert np.array_equal(again.predictions["im2gps-color"]["lat"],
                          result.predictions["im2gps-color"]["lat"], equal_nan=True)


def test_cli_json(sets):
    command = [sys.executable, "-m", "im2gps", "benchmark", "--database", str(sets / "db.csv"),
               "--test", str(sets / "test.csv"), "--locators", "chance,prior,oracle",
               "--cache", str(sets / "cache"), "--json", "--n-boot", "100", "--no-size-curve"]
    completed = subprocess.run(command, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["n"] == 40 and set(document["results"]) == {"chance", "prior", "oracle"}


def test_test_set_none_can_be_read(sets, tmp_path):
    test = pd.read_csv(sets / "test.csv").iloc[:4]
    test["image"] = [str(tmp_path / f"missing{i}.jpg") for i in range(4)]
    test.to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(ValueError, match="none of the 4 test photos could be read"):
        run_benchmark(sets / "db.csv", tmp_path / "test.csv", locators=["im2gps-tiny"],
                      cache_dir=sets / "cache", progress=False, size_curve=False)


def test_unknown_locator(sets):
    with pytest.raises(ValueError, match="unknown locator"):
        run_benchmark(sets / "db.csv", sets / "test.csv", locators=["magic"],
                      cache_dir=sets / "cache")


def test_provenance_and_published(result, sets, tmp_path):
    p = result.provenance
    assert p["database"]["photos"] == 300 and len(p["database"]["sha256"]) == 64
    assert len(p["database"]["index_manifest_sha256"]) == 64 and p["test"]["photos"] == 40
    reference_only = run_benchmark(sets / "db.csv", sets / "test.csv", locators=["chance"],
                                   cache_dir=sets / "cache", n_boot=50, progress=False,
                                   size_curve=False)
    assert reference_only.provenance["database"]["sha256"] == p["database"]["sha256"]
    assert p["im2gps_version"] and "sha256" in result.provenance_line()
    write_results(result, tmp_path, published=True)
    text = (tmp_path / "results.md").read_text()
    assert "GeoGuessr" in text and "Country %" in text
    assert "## Published figures" not in text  # test.csv is not a suite with published figures
    from im2gps.published import published_table

    section = published_table("im2gps237", 237)
    assert "PlaNet" in section and "8.4" in section and "not computed here" in section
    assert "omitted" in published_table("im2gps237", 20)  # a subset is not the suite
    assert published_table("im2gps3k", 2997).count("| GeoCLIP |") == 1


def test_city_scale_thresholds(data_dir, tmp_path):
    """On a database of one city the table's radii shrink to the city's scale."""
    from im2gps.evaluate import THRESHOLDS_KM
    from im2gps.geo import haversine_km

    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv")
    paris = table[haversine_km(table["lat"], table["lon"], 48.857, 2.352) < 5].copy()
    paris["image"] = [str(data_dir / "im2gps2k" / p) for p in paris["image"]]
    authors = sorted(paris["author"].unique())
    held_out = paris["author"].isin(authors[::4])  # photographer-disjoint test photos
    paris[~held_out].to_csv(tmp_path / "db.csv", index=False)
    paris[held_out].to_csv(tmp_path / "test.csv", index=False)
    city = run_benchmark(tmp_path / "db.csv", tmp_path / "test.csv",
                         locators=["chance", "prior", "oracle"], cache_dir=tmp_path / "cache",
                         n_boot=100, progress=False, size_curve=False)
    assert city.thresholds != THRESHOLDS_KM and max(city.thresholds) < 10
    assert " m |" in city.table().splitlines()[0]
    assert city.reports["chance"].acc_at(city.thresholds[0]) < 0.5
    fixed = run_benchmark(tmp_path / "db.csv", tmp_path / "test.csv", locators=["chance"],
                          cache_dir=tmp_path / "cache", n_boot=100, progress=False,
                          size_curve=False, thresholds=(0.05, 0.1, 0.25, 1.0))
    assert fixed.thresholds == (0.05, 0.1, 0.25, 1.0)


def _count_decodes(monkeypatch) -> list[str]:
    """Spy on every photo decoded for feature extraction or fitting (the real decoder runs)."""
    import im2gps.index.extract as extract

    calls: list[str] = []
    real = extract.load_image

    def counting(path, *args, **kwargs):
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(extract, "load_image", counting)
    return calls


def test_other_rows_extract_nothing_again(result, sets, monkeypatch):
    """A second benchmark with another row set (another index) decodes no photo: every
    descriptor comes from the cache by photo content and extractor."""
    calls = _count_decodes(monkeypatch)
    again = run_benchmark(sets / "db.csv", sets / "test.csv",
                          locators=["prior", "im2gps-color", "im2gps-color-1nn"],
                          cache_dir=sets / "cache", jobs=1, n_boot=50, progress=False,
                          size_curve=False)
    failing = {"broken.jpg", "gone.jpg", "strip.png"}  # never cached: they are retried
    assert {Path(c).name for c in calls} <= failing
    assert again.reports["im2gps-color-1nn"].failed == 3  # answered from cached features


def test_planet_train_from_cached_photos_extracts_nothing(sets, monkeypatch):
    from im2gps.planet import PlaNet

    table = pd.read_csv(sets / "db.csv").iloc[:120]
    table.to_csv(sets / "planet.csv", index=False)
    first = PlaNet(feature="tiny", t_max=30, t_min=3, max_epochs=5).fit_photos(
        sets / "planet.csv")
    calls = _count_decodes(monkeypatch)
    second = PlaNet(feature="tiny", t_max=30, t_min=3, max_epochs=5).fit_photos(
        sets / "planet.csv")
    assert calls == []
    assert np.array_equal(first.cells_["token"], second.cells_["token"])
def test_landmark_rows_choose_on_the_database(data_dir, tmp_path):
    db = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:80].copy()
    db["image"] = [str(data_dir / "im2gps2k" / p) for p in db["image"]]
    db.to_csv(tmp_path / "db.csv", index=False)
    test = pd.read_csv(data_dir / "im2gps237" / "photos.csv").iloc[:10].copy()
    test["image"] = [str(data_dir / "im2gps237" / p) for p in test["image"]]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((data_dir / "im2gps237" / test["image"][0]).read_bytes()[:2000])
    test.loc[3, "image"] = str(broken)  # fails: a miss for every row
    test.to_csv(tmp_path / "test.csv", index=False)
    # the named rows need all five scene features and a visual vocabulary; the
    # generic verified row of one cheap feature runs the same code in seconds
    rows = ["prior", "im2gps-tiny", "im2gps-tiny-verified"]
    result = run_benchmark(tmp_path / "db.csv", tmp_path / "test.csv", locators=rows,
                           cache_dir=tmp_path / "cache", jobs=1, n_boot=50, progress=False,
                           size_curve=False)
    assert list(result.reports) == rows
    chosen = result.settings["landmarks"]
    calibration = chosen["verifier"]["calibration"]
    # calibrated on database pairs only: 80 photos, short lists of 20
    assert calibration["pairs_same"] + calibration["pairs_different"] <= 80 * 20
    assert chosen["im2gps-tiny-verified"]["verification"]["verification"] in (
        "off", "weight", "best")
    assert chosen["im2gps-tiny-verified"]["voting"] == result.settings["im2gps"]
    for row in rows[1:]:
        assert result.reports[row].failed == 1
        assert result.predictions[row]["failed"][3]
    # the database's local features were stored in its index, the test set's cached
    assert list((tmp_path / "cache" / "indexes").glob("*/local/sift/descriptors.npy"))
    assert list((tmp_path / "cache" / "local").glob("*/descriptors.npy"))


def test_cli_json_progress_on_stderr_only(sets, tmp_path):
    """With --json, stdout holds the JSON document alone; every stage's progress is on
    stderr: feature extraction (database, test) and cross-validation."""
    pd.read_csv(sets / "db.csv").iloc[:150].to_csv(tmp_path / "db.csv", index=False)
    pd.read_csv(sets / "test.csv").iloc[10:20].to_csv(tmp_path / "test.csv", index=False)
    command = [sys.executable, "-m", "im2gps", "benchmark", "--database", str(tmp_path / "db.csv"),
               "--test", str(tmp_path / "test.csv"), "--locators", "chance,prior,im2gps-tiny",
               "--cache", str(tmp_path / "cache"), "--json", "--n-boot", "50",
               "--no-size-curve"]
    completed = subprocess.run(command, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert set(document["results"]) == {"chance", "prior", "im2gps-tiny"}
    err = completed.stderr
    assert "150/150" in err and "10/10" in err  # database and test extraction bars
    assert re.search(r"database features: [^\n\r]*150/150", err), err
    assert re.search(r"test features: [^\n\r]*10/10", err), err
    assert not re.search(r"(^|[\r\n])features:", err)  # every bar says which photos
    assert "cross-validation" in err and "database" in err

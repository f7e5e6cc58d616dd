"""im2gps.benchmark: a small real head-to-head run, its files, cache and honesty rules."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

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
    test.to_csv(tmp / "test.csv", index=False)
    return tmp


@pytest.fixture(scope="module")
def result(sets):
    return run_benchmark(sets / "db.csv", sets / "test.csv", locators=LOCATORS,
                         cache_dir=sets / "cache", jobs=1, n_boot=200, progress=False)


def test_rows_and_failures(result):
    assert list(result.reports) == LOCATORS and result.n == 40
    assert len(result.failed_photos) == 1 and "broken.jpg" in result.failed_photos[0]["path"]
    for name in ("im2gps-tiny", "im2gps-color"):
        assert result.reports[name].failed == 1
        frame = result.predictions[name]
        assert frame["failed"][5] and np.isinf(frame["error_km"][5])  # counted as a miss
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


def test_second_run_extracts_nothing(result, sets):
    chunks = sorted((sets / "cache").rglob("*.npy"))
    stamps = {p: p.stat().st_mtime_ns for p in chunks}
    again = run_benchmark(sets / "db.csv", sets / "test.csv", locators=LOCATORS,
                          cache_dir=sets / "cache", jobs=1, n_boot=200, progress=False,
                          size_curve=False)
    assert {p: p.stat().st_mtime_ns for p in chunks} == stamps
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


def test_unknown_locator(sets):
    with pytest.raises(ValueError, match="unknown locator"):
        run_benchmark(sets / "db.csv", sets / "test.csv", locators=["magic"],
                      cache_dir=sets / "cache")


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

"""Tests of im2gps.evaluate: distances, failures, bootstrap, reports and reference rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import BallTree

from im2gps import evaluate as ev
from im2gps.geo import haversine_km

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def test_set() -> pd.DataFrame:
    return pd.read_csv(DATA / "im2gps237" / "photos.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def database() -> pd.DataFrame:
    return pd.read_csv(DATA / "im2gps2k" / "photos.csv")


# -- distances and per-photo scores ------------------------------------------
def test_known_distances():
    paris_london = ev.errors_km(48.8566, 2.3522, 51.5074, -0.1278)
    assert paris_london == pytest.approx(344, abs=2)
    antipodes = ev.errors_km([10.0, 90.0], [20.0, 0.0], [-10.0, -90.0], [-160.0, 0.0])
    np.testing.assert_allclose(antipodes, np.pi * 6371, rtol=1e-6)
    assert np.pi * 6371 == pytest.approx(20015, abs=1)
    assert ev.errors_km(-33.9, 18.4, -33.9, 18.4) == 0.0


def test_failure_is_a_miss_everywhere():
    true_lat, true_lon = np.zeros(4), np.zeros(4)
    pred_lat = np.array([0.0, np.nan, 0.0, 0.0])
    pred_lon = np.array([0.0, 0.0, np.nan, 0.0])
    errors = ev.errors_km(pred_lat, pred_lon, true_lat, true_lon)
    assert np.isinf(errors[1]) and np.isinf(errors[2])
    assert ev.accuracy(errors, [1e6]).tolist() == [0.5]  # even at any radius
    np.testing.assert_allclose(ev.accuracy(errors), 0.5)
    assert ev.median_error(errors) == np.inf  # half failed
    assert ev.median_error([0.0, 1.0, np.inf]) == 1.0
    assert ev.geoguessr_score(errors).tolist() == [5000.0, 0.0, 0.0, 5000.0]

    report = ev.evaluate(pred_lat, pred_lon, true_lat, true_lon, country=False)
    assert report.n == 4 and report.failed == 2
    np.testing.assert_allclose(report.acc, 0.5)
    assert report.median_km == np.inf
    assert report.to_dict()["median_km"] is None
    # A photo flagged as failed is a miss even with coordinates.
    flagged = ev.evaluate(np.zeros(4), np.zeros(4), true_lat, true_lon,
                          failed=[True, False, False, False], country=False)
    assert flagged.failed == 1
    np.testing.assert_allclose(flagged.acc, 0.75)
    assert flagged.geoguessr == pytest.approx(3750.0)


def test_truth_must_be_finite():
    with pytest.raises(ValueError, match="ground-truth"):
        ev.errors_km([0.0], [0.0], [np.nan], [0.0])


def test_accuracy_at_the_standard_radii():
    errors = np.array([0.5, 10.0, 100.0, 500.0, 2000.0, 3000.0, 25.0, 1.0])
    # <= radius counts: 1 km holds 0.5 and 1.0; 25 km adds 10 and 25; ...
    np.testing.assert_allclose(ev.accuracy(errors), np.array([2, 4, 5, 6, 7]) / 8)
    assert ev.THRESHOLDS_KM == (1, 25, 200, 750, 2500)
    assert ev.THRESHOLD_NAMES == ("street", "city", "region", "country", "continent")
    stacked = ev.accuracy(np.stack([errors, errors * 0]))
    assert stacked.shape == (2, 5) and stacked[1].tolist() == [1.0] * 5


def test_geoguessr_score():
    assert ev.geoguessr_score(0.0) == 5000.0
    assert ev.geoguessr_score(1492.7) == pytest.approx(5000 / np.e)
    assert ev.geoguessr_score(1492.7) == pytest.approx(1839.4, abs=0.1)
    assert ev.geoguessr_score(np.inf) == 0.0


# -- bootstrap ----------------------------------------------------------------
def test_bootstrap_all_hits_is_certain():
    lo, hi = ev.bootstrap_ci(np.zeros(50), ev.accuracy)
    np.testing.assert_array_equal(lo, 1.0)
    np.testing.assert_array_equal(hi, 1.0)


def test_bootstrap_half_hits():
    n = 400
    errors = np.where(np.arange(n) % 2 == 0, 0.5, 5000.0)  # 50 % within 1 km
    lo, hi = ev.bootstrap_ci(errors, lambda e: ev.accuracy(e, [1])[..., 0], n_boot=2000)
    half_width = 1.96 * np.sqrt(0.25 / n)  # normal approximation: 0.049
    assert lo < 0.5 < hi
    assert (hi - lo) / 2 == pytest.approx(half_width, rel=0.2)
    assert (0.5 - lo) == pytest.approx(hi - 0.5, abs=0.015)
    again = ev.bootstrap_ci(errors, lambda e: ev.accuracy(e, [1])[..., 0], n_boot=2000)
    assert again == (lo, hi)  # seeded
    spread = np.random.default_rng(0).exponential(1000.0, size=100)
    assert ev.bootstrap_ci(spread, ev.median_error) != ev.bootstrap_ci(
        spread, ev.median_error, seed=1)


def test_bootstrap_median_with_failures():
    errors = np.array([1.0, 2.0, 3.0, np.inf, np.inf, np.inf])
    lo, hi = ev.bootstrap_ci(errors, ev.median_error)
    assert 1.0 <= lo <= 3.0 and hi == np.inf  # no NaN from inf - inf


# -- reports on the real test set ------------------------------------------------
def test_per_scene_report_on_im2gps237(test_set, database):
    plat, plon = ev.chance_predictions(database["lat"], database["lon"], len(test_set), seed=3)
    plat[:10] = np.nan  # ten failures
    report = ev.evaluate(plat, plon, test_set["lat"], test_set["lon"],
                         scene=test_set["scene"], n_boot=200)
    assert report.n == 237 and report.failed == 10
    assert set(report.scenes) == {"indoor", "natural", "urban"}
    assert sum(s.n for s in report.scenes.values()) == 237
    assert sum(s.failed for s in report.scenes.values()) == 10
    # The overall accuracy is the photo-weighted mean of the scenes'.
    weighted = sum(s.n * s.acc for s in report.scenes.values()) / 237
    np.testing.assert_allclose(report.acc, weighted)
    assert np.all(report.acc_ci[:, 0] <= report.acc) and np.all(report.acc <= report.acc_ci[:, 1])
    assert report.median_km_ci[0] <= report.median_km <= report.median_km_ci[1]
    assert 0.0 <= report.country_acc <= report.acc_at(2500)  # a country is < 2500 km wide

    record = json.loads(json.dumps(report.to_dict()))
    assert list(record["acc"]) == ["1", "25", "200", "750", "2500"]
    assert record["n"] == 237 and record["failed"] == 10
    assert all(0.0 <= v <= 1.0 for v in record["acc"].values())
    assert record["scenes"]["urban"]["n"] == report.scenes["urban"].n
    back = ev.Report.from_dict(record)
    np.testing.assert_allclose(back.acc_ci, report.acc_ci)
    assert back.scenes["indoor"].n == report.scenes["indoor"].n


def test_country_accuracy(test_set):
    lat, lon = test_set["lat"].to_numpy(), test_set["lon"].to_numpy()
    assert ev.country_accuracy(lat, lon, lat, lon) == 1.0
    failed = lat.copy()
    failed[::2] = np.nan
    assert ev.country_accuracy(failed, lon, lat, lon) == pytest.approx(118 / 237)
    # Paris for London is the wrong country, though within 750 km.
    assert ev.country_accuracy([48.8566], [2.3522], [51.5074], [-0.1278]) == 0.0


def test_format_table(test_set, database):
    truth = test_set["lat"], test_set["lon"]
    oracle = ev.evaluate(*ev.oracle_predictions(database["lat"], database["lon"], *truth),
                         *truth, scene=test_set["scene"], n_boot=100, country=False)
    chance = ev.chance_report(database["lat"], database["lon"], *truth, n_seeds=2,
                              n_boot=100, country=False)
    table = ev.format_table({"Chance": chance, "Oracle": oracle}, scenes=True)
    lines = table.splitlines()
    assert lines[0] == ("| Method | Street 1 km | City 25 km | Region 200 km | Country 750 km"
                        " | Continent 2500 km | Median km | Failed |")
    assert len(lines) == 2 + 2 + 3  # header, rule, two methods, oracle's three scenes
    assert lines[2].startswith("| Chance |") and lines[2].endswith("| 0/237 |")
    assert lines[3].startswith(f"| Oracle | {100 * oracle.acc[0]:.1f} [")
    assert "| Oracle / urban |" in table
    assert "100.0 [100.0, 100.0]" in lines[3]  # the oracle is always within 2500 km
    plain = ev.format_table({"Oracle": oracle}, ci=False).splitlines()[2]
    assert "[" not in plain and plain.count("|") == 9


# -- reference rows ------------------------------------------------------------------
def test_oracle_is_the_nearest_database_photo(test_set, database):
    truth = test_set["lat"].to_numpy(), test_set["lon"].to_numpy()
    db = database["lat"].to_numpy(), database["lon"].to_numpy()
    olat, olon, index = ev.oracle_predictions(*db, *truth, return_index=True)
    all_pairs = haversine_km(truth[0][:, None], truth[1][:, None], db[0], db[1])
    np.testing.assert_allclose(ev.errors_km(olat, olon, *truth), all_pairs.min(axis=1),
                               atol=1e-6)
    np.testing.assert_array_equal(olat, db[0][index])
    oracle_err = ev.errors_km(olat, olon, *truth)
    for seed in range(5):
        chance_err = ev.errors_km(*ev.chance_predictions(*db, len(olat), seed), *truth)
        assert np.all(oracle_err <= chance_err + 1e-9)


def test_chance_averages_over_seeds(test_set, database):
    truth = test_set["lat"].to_numpy(), test_set["lon"].to_numpy()
    db = database["lat"].to_numpy(), database["lon"].to_numpy()
    first = ev.chance_predictions(*db, 237, seed=0)
    assert not np.array_equal(first[0], ev.chance_predictions(*db, 237, seed=1)[0])
    assert np.isin(first[0], db[0]).all()
    report = ev.chance_report(*db, *truth, scene=test_set["scene"], n_seeds=4, seed=7,
                              n_boot=100)
    singles = [ev.evaluate(*ev.chance_predictions(*db, 237, s), *truth, n_boot=10)
               for s in range(7, 11)]
    assert report.n_seeds == 4 and report.failed == 0
    np.testing.assert_allclose(report.acc, np.mean([r.acc for r in singles], axis=0))
    assert report.median_km == pytest.approx(np.mean([r.median_km for r in singles]))
    assert report.country_acc == pytest.approx(np.mean([r.country_acc for r in singles]))
    assert report.geoguessr == pytest.approx(np.mean([r.geoguessr for r in singles]))
    assert np.all(report.acc_ci[:, 0] <= report.acc) and np.all(report.acc <= report.acc_ci[:, 1])
    assert sum(s.n for s in report.scenes.values()) == 237
    # Random guessing is rarely on the right continent and never on the street.
    assert report.acc[0] < 0.01 and 0.05 < report.acc[-1] < 0.5
    assert report.median_km > 5000


def _random_sphere(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    xyz = rng.normal(size=(n, 3))
    xyz /= np.linalg.norm(xyz, axis=1, keepdims=True)
    return np.degrees(np.arcsin(xyz[:, 2])), np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0]))


def test_prior_finds_the_dense_cluster():
    rng = np.random.default_rng(0)
    background = _random_sphere(3000, rng)
    # A tight cluster of 200 photos at Kyoto across a wider, sparser one of
    # 300 around Sao Paulo, on a background of 3000 uniform points.
    dense = 35.01 + rng.normal(0, 0.1, 200), 135.77 + rng.normal(0, 0.1, 200)
    sparse = -23.55 + rng.normal(0, 3.0, 300), -46.63 + rng.normal(0, 3.0, 300)
    lat = np.concatenate([background[0], dense[0], sparse[0]])
    lon = np.concatenate([background[1], dense[1], sparse[1]])
    plat, plon = ev.prior_location(lat, lon, bandwidth_km=25)
    assert haversine_km(plat, plon, 35.01, 135.77) < 5
    # With a 1000 km kernel the broad cluster holds more photos.
    wide = ev.prior_location(lat, lon, bandwidth_km=1000)
    assert haversine_km(*wide, -23.55, -46.63) < 300
    # Across the antimeridian: the cluster's mean is at 180 deg, not 0 deg.
    cross = 60 + rng.normal(0, 0.1, 100), (180 + rng.normal(0, 0.2, 100) + 180) % 360 - 180
    far = ev.prior_location(np.r_[background[0], cross[0]], np.r_[background[1], cross[1]])
    assert haversine_km(*far, 60.0, 180.0) < 5


def test_prior_on_real_databases(database):
    db_lat, db_lon = database["lat"].to_numpy(), database["lon"].to_numpy()
    plat, plon = ev.prior_location(db_lat, db_lon)  # 25 km kernel: the busiest city
    near_prior = np.sum(haversine_km(plat, plon, db_lat, db_lon) < 25)
    # No database photo has many more photos within 25 km than the prior.
    near_each = (haversine_km(db_lat[:, None], db_lon[:, None], db_lat, db_lon) < 25).sum(1)
    assert near_prior >= 0.9 * near_each.max()
    assert near_prior >= 20

    mp = pd.read_csv(DATA / "coords" / "mp16_100k.csv")[["lat", "lon"]].to_numpy()
    mlat, mlon = ev.prior_location(mp[:, 0], mp[:, 1], bandwidth_km=25)
    near_prior = np.sum(haversine_km(mlat, mlon, mp[:, 0], mp[:, 1]) < 25)
    tree = BallTree(np.radians(mp), metric="haversine")
    sample = np.radians(mp[::50])
    near_each = tree.query_radius(sample, 25 / 6371.0, count_only=True)
    assert near_prior >= 0.9 * near_each.max()
    assert near_prior > 2000  # of 100,000 photos, in one city


def test_paired_gain_detects_a_real_difference_only():
    from im2gps.evaluate import paired_gain

    rng = np.random.default_rng(0)
    reference = rng.uniform(0, 5000, 400)
    better = reference.copy()
    better[:80] = 10.0  # 80 more photos within 25 km
    gain, lo, hi = paired_gain(better, reference, thresholds=(25, 2500), n_boot=500)
    assert gain[0] == pytest.approx(np.mean(better <= 25) - np.mean(reference <= 25))
    assert lo[0] > 0 and hi[0] >= gain[0]
    same, lo, hi = paired_gain(reference, reference, thresholds=(25, 2500), n_boot=500)
    assert np.all(same == 0) and np.all(lo == 0) and np.all(hi == 0)


def test_distances_and_thresholds():
    from im2gps.evaluate import format_distance, parse_distance, parse_thresholds

    assert parse_thresholds("50m,100m, 250m,1km") == (0.05, 0.1, 0.25, 1.0)
    assert parse_distance("2500") == 2500 and parse_distance("1mi") == pytest.approx(1.609344)
    for bad in ("fifty", "-5km", "10 furlongs", "0m"):
        with pytest.raises(ValueError, match=repr(bad)):
            parse_distance(bad)
    assert [format_distance(d) for d in (0.05, 0.0025, 1, 2500)] == ["50 m", "2.5 m", "1 km",
                                                                     "2500 km"]


def test_adaptive_thresholds_follow_the_database_extent(db_table):
    from im2gps.evaluate import THRESHOLDS_KM, adaptive_thresholds
    from im2gps.geo import haversine_km

    assert adaptive_thresholds(db_table["lat"], db_table["lon"]) == THRESHOLDS_KM
    paris = db_table[haversine_km(db_table["lat"], db_table["lon"], 48.857, 2.352) < 5]
    radii = adaptive_thresholds(paris["lat"], paris["lon"])
    assert len(radii) == 5 and radii[-1] < 10 and radii[0] < 0.2
    # at the adapted radii a random database photo is no longer "within" the truth
    # for nearly every test photo, as it is at 25 km and beyond
    d = haversine_km(paris["lat"].to_numpy()[:, None], paris["lon"].to_numpy()[:, None],
                     paris["lat"].to_numpy()[None], paris["lon"].to_numpy()[None])
    assert (d <= 25).mean() == 1.0
    assert (d <= radii[2]).mean() < 0.5


def test_table_scores_and_metres():
    from im2gps.evaluate import evaluate, format_table

    report = evaluate([48.8570, 48.8600], [2.3520, 2.3600], [48.8566, 48.8566],
                      [2.3522, 2.3522], thresholds=(0.05, 0.1, 1.0), n_boot=50)
    table = format_table({"x": report}, ci=False, scores=True)
    header = table.splitlines()[0]
    assert "| 50 m | 100 m | Street 1 km | Median km | GeoGuessr | Country % |" in header
    row = table.splitlines()[2]
    assert " m |" in row and "| 100.0 |" in row  # median in metres, both in France

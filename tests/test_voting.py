"""Tests for im2gps.voting: spherical mean-shift voting and the 1-NN rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import MeanShift

from im2gps.geo import EARTH_RADIUS_KM, haversine_km, to_latlon, to_unit_vectors
from im2gps.voting import SERIES_MAX_BANDWIDTH_KM, Votes, _kernel, kde_vote, meanshift, one_nn

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# City centres for real, local neighbour sets (photos of the im2gps2k database nearby).
CITIES = {
    "new york": (40.75, -73.98), "paris": (48.86, 2.35), "san francisco": (37.77, -122.42),
    "london": (51.50, -0.12), "washington": (38.90, -77.03), "seattle": (47.60, -122.33),
    "tokyo": (35.68, 139.70), "barcelona": (41.39, 2.17), "rome": (41.90, 12.50),
    "boston": (42.36, -71.06),
}


@pytest.fixture(scope="module")
def db() -> np.ndarray:
    """(n, 2) lat/lon of the real im2gps2k database photos."""
    return pd.read_csv(DATA / "im2gps2k" / "photos.csv")[["lat", "lon"]].to_numpy(np.float64)


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    """(237, 2) lat/lon of the im2gps237 test photos."""
    return pd.read_csv(DATA / "im2gps237" / "photos.csv")[["lat", "lon"]].to_numpy(np.float64)


@pytest.fixture(scope="module")
def real_sets(db, truth) -> tuple[np.ndarray, np.ndarray]:
    """40 queries x k=60 real neighbour sets: n nearest to a true location, then random."""
    rng = np.random.default_rng(1)
    q = truth[::6][:40]
    dist = haversine_km(q[:, None, 0], q[:, None, 1], db[None, :, 0], db[None, :, 1])
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :60]
    random = rng.integers(0, len(db), size=(len(q), 60))
    n_near = rng.integers(5, 45, size=len(q))
    idx = np.where(np.arange(60) < n_near[:, None], nearest, random)
    return db[idx, 0], db[idx, 1]


def _blob(rng, lat, lon, n, sigma_km):
    """n points scattered (Gaussian, sigma in km) around (lat, lon), on the sphere."""
    e = to_unit_vectors(lat, lon)
    # Local east/north tangent vectors; well defined away from the exact pole.
    east = np.cross([0.0, 0.0, 1.0], e)
    east /= np.linalg.norm(east)
    north = np.cross(e, east)
    off = rng.normal(0.0, sigma_km / EARTH_RADIUS_KM, size=(n, 2))
    return to_latlon(e + off[:, :1] * east + off[:, 1:] * north)


def _check_consistent(v: Votes, lat: np.ndarray, lon: np.ndarray) -> None:
    """Every valid neighbour in exactly one cluster; sizes, members, weights add up."""
    valid = np.isfinite(lat) & np.isfinite(lon)
    for i in range(len(v)):
        clusters = v.clusters(i)
        members = np.concatenate([c["members"] for c in clusters]) if clusters else []
        assert sorted(members) == np.flatnonzero(valid[i]).tolist()
        assert sum(c["size"] for c in clusters) == valid[i].sum()
        assert all(c["size"] == len(c["members"]) for c in clusters)
        if clusters:
            assert sum(c["weight"] for c in clusters) == pytest.approx(1.0)
            weights = [c["weight"] for c in clusters]
            assert weights == sorted(weights, reverse=True)
            assert (v.lat[i], v.lon[i]) == (clusters[0]["lat"], clusters[0]["lon"])


def _assert_same(a: Votes, i: int, b: Votes, j: int) -> None:
    """Query i of a and query j of b have the same clusters, members and modes."""
    np.testing.assert_array_equal(a.labels[i], b.labels[j])
    np.testing.assert_array_equal(a.cluster_size[i], b.cluster_size[j])
    for name in ("cluster_lat", "cluster_lon", "cluster_weight"):
        np.testing.assert_allclose(getattr(a, name)[i], getattr(b, name)[j], atol=1e-9)


@pytest.mark.parametrize("kernel", ["gaussian", "flat"])
def test_cluster_across_antimeridian(kernel):
    rng = np.random.default_rng(0)
    # 30 photos around (10, 180): half written as lon ~ +179.9, half as ~ -179.9.
    lat = np.r_[10 + rng.normal(0, 0.02, 30), [48.9, -33.9, 35.7, 51.5, 40.7, -22.9, 55.8,
                                               1.3, 19.4, 64.1]]
    lon = np.r_[np.where(np.arange(30) % 2, 179.9, -179.9) + rng.normal(0, 0.02, 30),
                [2.3, 151.2, 139.7, -0.1, -74.0, -43.2, 37.6, 103.8, -99.1, -21.9]]
    lon = (lon + 180.0) % 360.0 - 180.0
    v = meanshift(lat, lon, bandwidth_km=100.0, kernel=kernel)
    assert haversine_km(v.lat[0], v.lon[0], 10.0, 180.0) < 5.0
    assert abs(v.lon[0]) > 179.0  # not the naive lat/lon mean near longitude 0
    top = v.clusters(0)[0]
    assert top["members"] == list(range(30)) and top["weight"] == pytest.approx(0.75)
    # The mode is the spherical mean-shift fixed point: with the flat kernel,
    # whose window holds the whole blob, the renormalised mean of its points.
    if kernel == "flat":
        c_lat, c_lon = to_latlon(to_unit_vectors(lat[:30], lon[:30]).mean(axis=0))
        assert haversine_km(v.lat[0], v.lon[0], c_lat, c_lon) < 1e-6
    _check_consistent(v, lat[None], lon[None])


@pytest.mark.parametrize("kernel", ["gaussian", "flat"])
def test_cluster_at_north_pole(kernel):
    rng = np.random.default_rng(1)
    lat = np.r_[np.full(20, 89.9), 89.8 + 0.2 * rng.random(10), [45.0, 10.0, -30.0]]
    lon = np.r_[np.linspace(-180, 180, 20, endpoint=False), rng.uniform(-180, 180, 10),
                [7.0, 100.0, -60.0]]
    v = meanshift(lat, lon, bandwidth_km=50.0, kernel=kernel)
    assert v.lat[0] > 89.85
    assert haversine_km(v.lat[0], v.lon[0], 90.0, 0.0) < 15.0
    assert v.cluster_size[0, 0] == 30


def test_biggest_cluster_wins_and_weights_can_change_it():
    rng = np.random.default_rng(2)
    p_lat, p_lon = _blob(rng, 48.86, 2.35, 25, 5.0)  # Paris
    t_lat, t_lon = _blob(rng, 35.68, 139.70, 15, 5.0)  # Tokyo
    lat, lon = np.r_[p_lat, t_lat], np.r_[p_lon, t_lon]
    v = meanshift(lat, lon, bandwidth_km=50.0)
    assert haversine_km(v.lat[0], v.lon[0], 48.86, 2.35) < 5.0
    assert v.cluster_size[0, :3].tolist() == [25, 15, 0]
    np.testing.assert_allclose(v.cluster_weight[0, :2], [25 / 40, 15 / 40])

    w = np.r_[np.ones(25), np.full(15, 2.0)]  # Tokyo now holds 30 of 55 vote units
    vw = meanshift(lat, lon, bandwidth_km=50.0, weights=w)
    assert haversine_km(vw.lat[0], vw.lon[0], 35.68, 139.70) < 5.0
    np.testing.assert_allclose(vw.cluster_weight[0, :2], [30 / 55, 25 / 55])
    assert vw.cluster_size[0, :2].tolist() == [15, 25]

    # A zero weight removes a vote: zeroing 15 Paris photos hands Tokyo the win.
    w0 = np.r_[np.zeros(15), np.ones(25)]
    v0 = meanshift(lat, lon, bandwidth_km=50.0, weights=w0)
    assert haversine_km(v0.lat[0], v0.lon[0], 35.68, 139.70) < 5.0
    assert (v0.labels[0, :15] == -1).all()


@pytest.mark.parametrize(("precision", "atol_km"), [("float64", 0.05), ("auto", 1.0)])
def test_nan_neighbours_are_ignored(real_sets, precision, atol_km):
    """NaN padding changes nothing but the order of summation. Seekers that stop on a
    flat density top stop wherever their step falls below the tolerance, so rounding
    moves them a little: in float64 by no more than moving every neighbour by 10 cm
    does (the floor benchmarks/voting_speed.py measures, 0.01-0.04 km); with float32
    kernel sums (the default at 200 km) the same modes within 1 km, the agreement that
    benchmark measures."""
    lat, lon = real_sets
    rng = np.random.default_rng(3)
    # Insert NaN padding at random places; the result must be that of the valid ones.
    k = lat.shape[1] + 20
    slots = np.sort(rng.permuted(np.tile(np.arange(k), (len(lat), 1)), axis=1)[:, :lat.shape[1]],
                    axis=1)
    plat, plon = np.full((len(lat), k), np.nan), np.full((len(lat), k), np.nan)
    rows = np.arange(len(lat))[:, None]
    plat[rows, slots], plon[rows, slots] = lat, lon
    a = meanshift(lat, lon, precision=precision)
    b = meanshift(plat, plon, precision=precision)
    assert haversine_km(a.lat, a.lon, b.lat, b.lon).max() < atol_km
    assert (b.labels[np.isnan(plat)] == -1).all()
    np.testing.assert_array_equal(b.labels[rows, slots], a.labels)
    _check_consistent(b, plat, plon)

    empty = meanshift(np.full((2, 5), np.nan), np.full((2, 5), np.nan))
    assert np.isnan(empty.lat).all() and (empty.n_clusters == 0).all()
    assert empty.clusters(0) == []


@pytest.mark.parametrize("kernel", ["gaussian", "flat"])
def test_batched_equals_per_query(real_sets, kernel):
    """One query alone (its own float64 path) gives what it gets in a float64 batch, at
    any batch size; the default float32 batch agrees within 1 km."""
    lat, lon = real_sets
    batched = meanshift(lat, lon, bandwidth_km=300.0, kernel=kernel, precision="float64")
    small = meanshift(lat, lon, bandwidth_km=300.0, kernel=kernel, batch_size=7,
                      precision="float64")
    default = meanshift(lat, lon, bandwidth_km=300.0, kernel=kernel)
    _check_consistent(batched, lat, lon)
    assert (batched.n_clusters > 1).any()
    for i in range(len(lat)):
        single = meanshift(lat[i], lon[i], bandwidth_km=300.0, kernel=kernel)
        assert single.params["precision"] == "float64"
        _assert_same(single, 0, batched, i)
        _assert_same(small, i, batched, i)
    assert haversine_km(default.lat, default.lon, batched.lat, batched.lon).max() < 1.0


def test_mode_is_a_density_peak_on_real_sets(real_sets):
    """The answer is a mean-shift fixed point; among equally large clusters, the densest."""
    lat, lon = real_sets
    h = 300.0
    v = meanshift(lat, lon, bandwidth_km=h, tol_km=1e-4)
    d = haversine_km(v.lat[:, None], v.lon[:, None], lat, lon)
    shifted = np.einsum("qk,qkd->qd", np.exp(-0.5 * (d / h) ** 2), to_unit_vectors(lat, lon))
    s_lat, s_lon = to_latlon(shifted)
    assert haversine_km(s_lat, s_lon, v.lat, v.lon).max() < 0.05
    # The chosen cluster holds the most neighbours (unit weights) ...
    assert (v.cluster_size[:, 0] == v.cluster_size.max(axis=1)).all()
    # ... and no cluster of the same size has a denser mode.
    dens = np.exp(-0.5 * (haversine_km(v.cluster_lat[..., None], v.cluster_lon[..., None],
                                       lat[:, None, :], lon[:, None, :]) / h) ** 2).sum(-1)
    tied = v.cluster_size == v.cluster_size[:, :1]
    assert (np.where(tied, dens, -np.inf) <= dens[:, :1] + 1e-9).all()


def test_agrees_with_sklearn_meanshift_locally(db):
    """Flat kernel on real photos around 10 cities vs scikit-learn on a local km plane."""
    h, radius = 4.0, 80.0
    sets = []
    for c_lat, c_lon in CITIES.values():
        near = db[haversine_km(c_lat, c_lon, db[:, 0], db[:, 1]) < radius]
        sets.append(near)
    k = max(len(s) for s in sets)
    lat, lon = np.full((len(sets), k), np.nan), np.full((len(sets), k), np.nan)
    for i, s in enumerate(sets):  # NaN-padded to a common k
        lat[i, :len(s)], lon[i, :len(s)] = s[:, 0], s[:, 1]
    ours = meanshift(lat, lon, bandwidth_km=h, kernel="flat")
    _check_consistent(ours, lat, lon)
    for i, ((c_lat, c_lon), s) in enumerate(zip(CITIES.values(), sets, strict=True)):
        # Equirectangular km projection about the city: exact enough within 80 km.
        scale = np.radians(1.0) * EARTH_RADIUS_KM
        xy = np.c_[(s[:, 1] - c_lon) * scale * np.cos(np.radians(c_lat)), (s[:, 0] - c_lat) * scale]
        ms = MeanShift(bandwidth=h).fit(xy)
        sizes = np.bincount(ms.labels_)
        assert (sizes == sizes.max()).sum() == 1  # a clear winner, not a tie
        cx, cy = ms.cluster_centers_[np.argmax(sizes)]
        sk_lat = c_lat + cy / scale
        sk_lon = c_lon + cx / (scale * np.cos(np.radians(c_lat)))
        # Same mode; the sizes may differ: scikit-learn gives each point to the
        # nearest centre, we give it to the cluster its own seeker reached.
        assert haversine_km(ours.lat[i], ours.lon[i], sk_lat, sk_lon) < 1.0


def test_one_nn():
    lat = np.array([[10.0, 20.0, 30.0], [np.nan, -5.0, 7.0], [np.nan, np.nan, np.nan]])
    lon = np.array([[100.0, 0.0, 1.0], [np.nan, 179.0, 2.0], [np.nan, np.nan, np.nan]])
    v = one_nn(lat, lon)
    np.testing.assert_array_equal(v.lat[:2], [10.0, -5.0])
    np.testing.assert_array_equal(v.lon[:2], [100.0, 179.0])
    assert np.isnan(v.lat[2])
    assert v.clusters(0) == [{"lat": 10.0, "lon": 100.0, "weight": 1.0, "size": 1, "members": [0]}]
    assert v.clusters(1)[0]["members"] == [1]
    assert v.clusters(2) == []


def test_one_nn_on_real_sets(real_sets):
    lat, lon = real_sets
    v = one_nn(lat, lon)
    np.testing.assert_array_equal(v.lat, lat[:, 0])
    np.testing.assert_array_equal(v.lon, lon[:, 0])


def test_bad_input_is_refused():
    lat, lon = np.zeros((2, 3)), np.zeros((2, 3))
    with pytest.raises(ValueError, match="kernel"):
        meanshift(lat, lon, kernel="epanechnikov")
    with pytest.raises(ValueError, match="nonnegative"):
        meanshift(lat, lon, weights=-np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        meanshift(lat, lon, weights=np.ones((2, 4)))
    with pytest.raises(ValueError, match="same shape|one shape"):
        meanshift(lat, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="latitudes"):
        meanshift(np.full((1, 2), 95.0), lon[:1, :2])
    with pytest.raises(ValueError, match="bandwidth"):
        meanshift(lat, lon, bandwidth_km=0.0)
    with pytest.raises(ValueError, match="at least one neighbour"):
        one_nn(np.zeros((2, 0)), np.zeros((2, 0)))


def test_nearest_membership_gives_each_neighbour_its_nearest_mode(db_table):
    rng = np.random.default_rng(3)
    rows = rng.choice(len(db_table), size=(20, 60))
    lat = db_table["lat"].to_numpy()[rows]
    lon = db_table["lon"].to_numpy()[rows]
    votes = meanshift(lat, lon, bandwidth_km=500, kernel="flat", membership="nearest")
    for i in range(20):
        n = votes.n_clusters[i]
        d = haversine_km(lat[i][:, None], lon[i][:, None], votes.cluster_lat[i, :n][None, :],
                         votes.cluster_lon[i, :n][None, :])
        assert np.array_equal(votes.labels[i], np.argmin(d, axis=1))
        assert votes.cluster_size[i, :n].sum() == 60
    with pytest.raises(ValueError, match="membership"):
        meanshift(lat, lon, membership="closest")


def test_kde_vote_picks_densest_neighbour():
    # 3 neighbours near Paris, 5 near Tokyo (spread ~20 km), 1 alone in Lima first
    lat = np.array([[-12.0, 48.85, 35.68, 48.9, 35.7, 35.6, 48.8, 35.75, 35.65]])
    lon = np.array([[-77.0, 2.35, 139.7, 2.3, 139.75, 139.6, 2.4, 139.8, 139.65]])
    votes = kde_vote(lat, lon, bandwidth_km=50)
    assert haversine_km(votes.lat[0], votes.lon[0], 35.68, 139.7) < 15
    assert votes.cluster_size[0, 0] == 5 and np.isclose(votes.cluster_weight[0, 0], 5 / 9)
    # the answer is always a neighbour's own location
    assert any(np.isclose(votes.lat[0], lat[0]) & np.isclose(votes.lon[0], lon[0]))
    # weights can move the answer: Paris votes weigh 3x
    weights = np.where(np.abs(lat - 48.85) < 1, 3.0, 1.0)
    weighted = kde_vote(lat, lon, bandwidth_km=50, weights=weights)
    assert haversine_km(weighted.lat[0], weighted.lon[0], 48.85, 2.35) < 15
    missing = kde_vote(np.full((1, 3), np.nan), np.full((1, 3), np.nan), 50)
    assert np.isnan(missing.lat[0]) and missing.n_clusters[0] == 0


@pytest.mark.parametrize("bandwidth_km", [25.0, 200.0, 400.0, SERIES_MAX_BANDWIDTH_KM, 2500.0])
def test_gaussian_kernel_against_great_circle_form(bandwidth_km):
    """The Gaussian kernel of the squared chord (its series up to 1,000 km, the exact
    form beyond) against exp(-d^2 / 2h^2) of the haversine distance, over the sphere."""
    lat = np.linspace(-90.0, 90.0, 4001)
    d = haversine_km(0.0, 0.0, lat, 0.0)
    chord2 = 2.0 - 2.0 * np.cos(np.radians(lat))
    got = _kernel(chord2.copy(), "gaussian", bandwidth_km)
    want = np.exp(-0.5 * (d / bandwidth_km) ** 2)
    assert np.abs(got - want).max() < 1e-6
    assert got[2000] == 1.0  # zero distance
    # rounding can make a squared chord slightly negative: still a kernel value of 1
    assert _kernel(np.array([-1e-16]), "gaussian", bandwidth_km)[0] == pytest.approx(1.0)


def test_settings_that_would_vote_wrong_are_refused(real_sets):
    """Weights count by their ratios only (a vote does not change when they are all scaled,
    even to 1e-320 or 1e300); sizes that would drop queries or overflow are refused."""
    from im2gps.arguments import MIN_BANDWIDTH_KM as PARSED
    from im2gps.voting import MIN_BANDWIDTH_KM

    assert PARSED == MIN_BANDWIDTH_KM
    lat, lon = real_sets
    ref = meanshift(lat, lon)
    for scale in (1e-320, 1e-15, 1e300):
        scaled = meanshift(lat, lon, weights=np.full(lat.shape, scale))
        np.testing.assert_array_equal(scaled.lat, ref.lat)
        np.testing.assert_array_equal(scaled.labels, ref.labels)
    for bad in ({"batch_size": 0}, {"batch_size": -1}, {"max_iter": 0}, {"tol_km": -1.0},
                {"merge_km": np.nan}, {"bandwidth_km": np.inf}, {"bandwidth_km": 1e-6}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            meanshift(lat, lon, **bad)
    with pytest.raises(ValueError, match="bandwidth_km"):
        kde_vote(lat, lon, bandwidth_km=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        kde_vote(lat, lon, batch_size=0)
    bad_lon = lon.copy()
    bad_lon[2, 5] = np.inf
    with pytest.raises(ValueError, match="query 2, neighbour 5"):
        meanshift(lat, bad_lon)
    # the smallest bandwidth still votes (no overflow): each photo its own cluster
    tiny = meanshift(lat[:2], lon[:2], bandwidth_km=MIN_BANDWIDTH_KM)
    assert np.isfinite(tiny.lat).all() and (tiny.n_clusters > 1).all()

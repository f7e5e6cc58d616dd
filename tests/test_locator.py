"""im2gps.locator.Im2GPS: the estimator contract on real photos."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from im2gps.geo import haversine_km
from im2gps.locator import Im2GPS
from im2gps.photos import PhotoCollection


@pytest.fixture(scope="module")
def database(data_dir, tmp_path_factory):
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:150].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    path = tmp_path_factory.mktemp("db") / "db.csv"
    table.to_csv(path, index=False)
    return PhotoCollection.from_csv(path)


@pytest.fixture(scope="module")
def fitted(database, tmp_path_factory):
    locator = Im2GPS(features=["tiny", "color", "lines"], k=20, bandwidth_km=300)
    return locator.fit(database, index_dir=tmp_path_factory.mktemp("fit") / "index")


@pytest.fixture(scope="module")
def queries(data_dir):
    test = PhotoCollection.from_csv(data_dir / "im2gps237" / "photos.csv")
    return test.paths[:6]


def test_init_stores_parameters_only():
    locator = Im2GPS(k=7, vote="1nn")
    assert locator.get_params()["k"] == 7 and not hasattr(locator, "index_")
    with pytest.raises(RuntimeError, match="not fitted"):
        locator.predict([np.zeros((32, 32, 3), np.uint8)])


def test_fit_returns_self_and_learns_index(database, fitted):
    assert isinstance(fitted, Im2GPS)
    assert len(fitted.index_) == len(database)


def test_predict_on_real_photos(fitted, queries):
    predictions = fitted.predict(queries)
    assert len(predictions) == 6 and not predictions.failed.any()
    assert np.all(np.abs(predictions.lat) <= 90) and np.all(np.abs(predictions.lon) <= 180)
    assert predictions.neighbor_ids.shape == (6, 20)
    for i in range(6):
        clusters = predictions.clusters(i)
        assert clusters and sum(c["size"] for c in clusters) == 20
        assert clusters[0]["weight"] == max(c["weight"] for c in clusters)
        assert np.isclose(sum(c["weight"] for c in clusters), 1.0)
        # the estimate is the mode of the heaviest cluster ...
        assert (predictions.lat[i], predictions.lon[i]) == (clusters[0]["lat"], clusters[0]["lon"])
        # ... which lies among its member neighbours' locations
        coords = fitted.index_.coords[predictions.neighbor_ids[i, clusters[0]["members"]]]
        spread = haversine_km(clusters[0]["lat"], clusters[0]["lon"], coords[:, 0], coords[:, 1])
        assert spread.min() < 1000


def test_1nn_answers_nearest_neighbour(fitted, queries):
    locator = Im2GPS(vote="1nn", k=5).fit(fitted.index_)
    predictions = locator.predict(queries[:3])
    first = fitted.index_.coords[predictions.neighbor_ids[:, 0]]
    assert np.allclose(predictions.lat, first[:, 0]) and np.allclose(predictions.lon, first[:, 1])


def test_database_photo_locates_itself_with_1nn(fitted, database):
    locator = Im2GPS(vote="1nn", k=1).fit(fitted.index_)
    predictions = locator.predict(database.paths[:5])
    assert np.allclose(predictions.lat, database.coords[:5, 0], atol=1e-9)


def test_failed_photo_is_a_miss_not_a_crash(fitted, queries, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a photo")
    predictions = fitted.predict([queries[0], str(bad), queries[1]])
    assert predictions.failed.tolist() == [False, True, False]
    assert np.isnan(predictions.lat[1]) and "not an image" in predictions.errors[1]
    assert predictions.clusters(1) == []


def test_save_load_identical_answers(fitted, queries, tmp_path):
    before = fitted.predict(queries)
    fitted.save(tmp_path / "saved")
    loaded = Im2GPS.load(tmp_path / "saved")
    assert loaded.get_params()["k"] == 20 and loaded.get_params()["bandwidth_km"] == 300
    after = loaded.predict(queries)
    assert np.array_equal(before.lat, after.lat) and np.array_equal(before.lon, after.lon)
    assert np.array_equal(before.neighbor_ids, after.neighbor_ids)


def test_similarity_weights_change_votes(fitted, queries):
    uniform = fitted.predict(queries)
    weighted = Im2GPS(k=20, bandwidth_km=300, vote_weights="similarity").fit(fitted.index_)
    votes = weighted.predict(queries)
    assert np.array_equal(uniform.neighbor_ids, votes.neighbor_ids)
    assert not np.allclose(uniform.votes.cluster_weight[:, 0], votes.votes.cluster_weight[:, 0],
                           equal_nan=True)


def test_bad_parameters():
    with pytest.raises(ValueError, match="vote must be"):
        Im2GPS(vote="median").fit(None)


def test_kde_vote_and_density_weights(fitted, queries):
    index = fitted.index_
    kde = Im2GPS(k=20, vote="kde", bandwidth_km=300).fit(index).predict(queries)
    coords = index.coords
    for i in range(len(queries)):
        neighbours = coords[kde.neighbor_ids[i]]
        assert np.isclose(neighbours[:, 0], kde.lat[i]).any()  # answers a neighbour's place
    density = Im2GPS(k=20, bandwidth_km=300, vote_weights="density").fit(index)
    votes = density.predict(queries)
    dens = density._database_density()
    assert dens.shape == (len(index),) and (dens >= 1 - 1e-6).all()  # counts itself
    uniform = fitted.predict(queries)
    assert not np.allclose(uniform.votes.cluster_weight[:, 0], votes.votes.cluster_weight[:, 0],
                           equal_nan=True)


def test_bad_images_fail_alone(fitted, queries, tmp_path):
    """A 1x1 array, a 3x3 file, a grey (H, W) array and a path: only the photo is answered."""
    from PIL import Image

    Image.new("RGB", (3, 3)).save(tmp_path / "three.png")
    predictions = fitted.predict([np.zeros((1, 1, 3), np.uint8), str(tmp_path / "three.png"),
                                  queries[0], np.zeros((64, 64), np.uint8)])
    assert predictions.failed.tolist() == [True, True, False, True]
    assert "image 0: too small: 1x1 pixels" in predictions.errors[0]
    assert "three.png: too small: 3x3 pixels" in predictions.errors[1]
    assert "not an (H, W, 3) RGB image" in predictions.errors[3]
    one = fitted.predict(queries[0])  # one path is one photo, not a list of characters
    assert len(one) == 1 and one.lat[0] == predictions.lat[2]
def test_verified_neighbour_answers_with_best_verification(fitted, database, tmp_path):
    import cv2

    from im2gps.features.sift import RootSIFT
    from im2gps.index.local import add_local_features
    from im2gps.photos import load_image

    add_local_features(fitted.index_, RootSIFT(max_keypoints=200, max_side=320))
    row = 37
    image = load_image(database.paths[row])
    h, w = image.shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = corners + np.float32([[30, 20], [-25, 10], [-20, -30], [15, -10]])
    view = cv2.warpPerspective(image, cv2.getPerspectiveTransform(corners, moved), (w, h))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    verified = Im2GPS(k=150, short_list=150, verification="best").fit(fitted.index_)
    predictions = verified.predict([view, str(broken)])
    scores = predictions.extra["verification"]
    ids = predictions.neighbor_ids[0]
    assert scores["inliers"][0, list(ids).index(row)] == scores["inliers"][0].max() >= 30
    truth = fitted.index_.coords[row]
    assert haversine_km(predictions.lat[0], predictions.lon[0], truth[0], truth[1]) < 0.01
    assert predictions.failed.tolist() == [False, True]
    # weighted votes: the verified neighbour's weight grows with its inliers
    weighted = verified.set_params(verification="weight", verify_alpha=1.0)
    boost = weighted.verification_boost(scores, 150)
    assert boost[0, list(ids).index(row)] == 1 + scores["inliers"][0].max()
    with pytest.raises(ValueError, match="local features"):
        weighted.predict_features({n: np.zeros((1, d), np.float32) for n, d in
                                   ((n, fitted.index_.features(n).shape[1])
                                    for n in fitted.index_.feature_names)})
    with pytest.raises(ValueError, match="verification"):
        Im2GPS(verification="none").fit(fitted.index_)

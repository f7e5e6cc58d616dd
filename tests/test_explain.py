"""im2gps.explain: neighbour montages, probability maps and occlusion maps of real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from im2gps.cli import EXIT_OK, main
from im2gps.explain import (
    OPEN_LICENSES,
    explain_neighbours,
    explain_photos,
    explain_planet,
    occluded_copies,
    occlusion_boxes,
    occlusion_map,
    plot_occlusion,
)
from im2gps.features import create
from im2gps.gazetteer import nearest_place
from im2gps.geo import haversine_km
from im2gps.locator import Im2GPS
from im2gps.photos import PhotoCollection, load_image
from im2gps.planet.classifier import PlaNet
from im2gps.planet.maps import cell_polygons

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
K = 20


@pytest.fixture(scope="module")
def db_csv(tmp_path_factory) -> Path:
    """The first 120 photos of im2gps2k as a manifest with absolute paths."""
    table = pd.read_csv(DATA / "im2gps2k" / "photos.csv").iloc[:120].copy()
    table["image"] = [str(DATA / "im2gps2k" / p) for p in table["image"]]
    path = tmp_path_factory.mktemp("explain") / "db.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def locator(db_csv) -> Im2GPS:
    index_dir = db_csv.parent / "index"
    return Im2GPS(features=["tiny", "color", "lines"], k=K, bandwidth_km=300).fit(
        PhotoCollection.from_csv(db_csv), index_dir=index_dir)


@pytest.fixture(scope="module")
def planet(db_csv) -> PlaNet:
    """PlaNet over real tiny-image features of the same 120 photos."""
    table = pd.read_csv(db_csv)
    X = create("tiny").transform(load_image(p) for p in table["image"])
    return PlaNet(feature="tiny", t_max=30, t_min=4, max_epochs=40, patience=5, seed=1).fit(
        X, table["lat"], table["lon"], groups=table["author"])


@pytest.fixture(scope="module")
def query() -> tuple[str, tuple[float, float]]:
    """A real test photo (Naxos, Greece) and its true location."""
    table = pd.read_csv(DATA / "im2gps237" / "photos.csv")
    row = table.iloc[3]
    return str(DATA / "im2gps237" / row["image"]), (float(row["lat"]), float(row["lon"]))


def _png(path: Path) -> np.ndarray:
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.std() > 20  # not blank
    return image


def test_neighbour_montage(locator, query, tmp_path):
    photo, truth = query
    record = explain_neighbours(locator, photo, tmp_path / "n.png", n_thumbnails=12, truth=truth)
    predictions = locator.predict([photo])
    ids = predictions.neighbor_ids[0]
    clusters = predictions.clusters(0)
    # the montage holds k + 1 images: the query and 12 thumbnails
    assert record["images"] == 13 and record["thumbnails"] == 12 and record["hidden"] == 0
    from matplotlib.image import AxesImage

    assert len(record["figure"].findobj(AxesImage)) == 13
    # the map holds a marker per voting neighbour and per cluster, the estimate and the truth
    assert record["neighbour_markers"] == K and record["cluster_markers"] == len(clusters)
    written = json.loads((tmp_path / "n.json").read_text())
    kinds = pd.Series([m["kind"] for m in written["markers"]]).value_counts().to_dict()
    assert kinds == {"neighbour": K, "cluster": len(clusters), "estimate": 1, "truth": 1}
    coords = locator.index_.coords[ids]
    marked = np.array([[m["lat"], m["lon"]] for m in written["markers"]
                       if m["kind"] == "neighbour"])
    assert np.allclose(marked, coords)
    assert np.isclose(sum(m["weight"] for m in written["markers"] if m["kind"] == "cluster"), 1)
    # thumbnails: the 12 nearest, their places and distances to the estimate
    est = (predictions.lat[0], predictions.lon[0])
    shown = written["neighbours"]
    assert [n["id"] for n in shown] == locator.index_.photos["id"].iloc[ids[:12]].tolist()
    assert np.allclose([n["km_to_estimate"] for n in shown],
                       haversine_km(coords[:12, 0], coords[:12, 1], *est))
    place = nearest_place(coords[0, 0], coords[0, 1])[0]
    assert shown[0]["place"] == f"{place.name[:18]}, {place.country_code}"
    assert np.isclose(written["error_km"], haversine_km(*truth, *est))
    # the PNG shows the query photo where its axes are
    image = _png(tmp_path / "n.png")
    figure = record["figure"]
    assert image.shape[1] == round(figure.get_figwidth() * 90)
    box = figure.axes[0].get_images()[0].get_window_extent().transformed(
        figure.transFigure.inverted())  # figure fractions, whatever the dpi
    height, width = image.shape[:2]
    crop = image[round(height * (1 - box.y1)) + 2: round(height * (1 - box.y0)) - 2,
                 round(width * box.x0) + 2: round(width * box.x1) - 2].astype(np.float64)
    original = np.asarray(Image.open(photo).convert("RGB").resize(crop.shape[1::-1]),
                          np.float64)
    assert np.corrcoef(crop.ravel(), original.ravel())[0, 1] > 0.9


def test_montage_can_hide_all_rights_reserved_photos(locator, query):
    record = explain_neighbours(locator, query[0], n_thumbnails=12, shown_licenses=OPEN_LICENSES)
    licenses = [n["license"] for n in record["neighbours"]]
    hidden = sum(code not in OPEN_LICENSES for code in licenses)
    assert record["hidden"] == hidden > 0 and record["images"] == 13 - hidden
    assert all(n["shown"] == (n["license"] in OPEN_LICENSES) for n in record["neighbours"])


def test_planet_probability_map(planet, query, tmp_path):
    photo, truth = query
    record = explain_planet(planet, photo, tmp_path / "p.png", truth=truth)
    probs = planet.predict([photo]).cell_probs[0]
    assert record["cells"] == len(planet.cells_) >= 3
    assert record["top_cells"][0]["probability"] == pytest.approx(float(probs.max()))
    assert record["top_cells"][0]["token"] == planet.cells_["token"].iloc[int(probs.argmax())]
    kinds = [m["kind"] for m in json.loads((tmp_path / "p.json").read_text())["markers"]]
    assert kinds.count("estimate") == 1 and kinds.count("truth") == 1
    assert kinds.count("top_cell") == min(5, len(planet.cells_)) - 1
    # the cells are coloured by the photo's probabilities (floored at 1e-4 of the top)
    from matplotlib.collections import PolyCollection

    # (the other polygons are the map's land and lakes, drawn in plain colours)
    polys = [c for c in record["figure"].axes[0].collections
             if isinstance(c, PolyCollection) and c.get_array() is not None]
    assert len(polys) == 1
    drawn = np.asarray(polys[0].get_array())
    assert drawn.max() == pytest.approx(probs.max(), rel=1e-6)
    _, rows = cell_polygons(planet.cells_)
    expected = np.maximum(probs.astype(np.float64), probs.max() * 1e-4)[rows]
    assert np.allclose(drawn, expected, rtol=1e-6)
    _png(tmp_path / "p.png")


def test_explain_photos_with_planet(planet, query, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    written = explain_photos(planet, [query[0], str(empty)], tmp_path / "why", occlusion=False)
    stem = Path(query[0]).stem
    assert written == [{"probabilities": str(tmp_path / "why" / f"{stem}.probabilities.png")},
                       {}]  # the unreadable photo gets no figure
    record = json.loads((tmp_path / "why" / f"{stem}.probabilities.json").read_text())
    assert record["cells"] == len(planet.cells_)


def test_occlusion_boxes_tile_the_photo():
    boxes = occlusion_boxes(480, 640, grid=8, patch=0.25)
    assert boxes.shape == (64, 4) and (boxes[:, 2] - boxes[:, 0] == 120).all()
    assert boxes[:, 0].min() == 0 and boxes[:, 2].max() == 480
    assert boxes[:, 1].min() == 0 and boxes[:, 3].max() == 640
    photo = load_image(DATA / "im2gps237" / "images" / "104123223.jpg")
    copies = occluded_copies(photo, occlusion_boxes(*photo.shape[:2], grid=3), fill=128)
    top, left, bottom, right = occlusion_boxes(*photo.shape[:2], grid=3)[4]
    assert (copies[4, top:bottom, left:right] == 128).all()
    outside = np.ones(photo.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(copies[4][outside], photo[outside])


class _Counting:
    """The real PlaNet locator, counting its predict calls and batch sizes."""

    def __init__(self, locator):
        self.locator, self.calls = locator, []

    def predict(self, images):
        self.calls.append(len(images))
        return self.locator.predict(images)


def test_planet_occlusion_is_one_batch_and_exact(planet, query, tmp_path):
    photo = load_image(query[0])
    counting = _Counting(planet)
    occlusion = occlusion_map(counting, photo, grid=8)
    assert counting.calls == [65]  # the photo and its 64 occluded copies, in one call
    assert occlusion.measure == "probability" and occlusion.scores.shape == (8, 8)
    probs = planet.predict([photo]).cell_probs[0]
    assert occlusion.cell == int(probs.argmax())
    assert occlusion.baseline == pytest.approx(float(probs.max()), abs=1e-6)
    # a patch's score is the drop of the predicted cell's probability when it alone is grey
    for j in (0, 27, 63):
        copy = occluded_copies(photo, occlusion.boxes[j: j + 1])[0]
        alone = planet.predict([copy]).cell_probs[0, occlusion.cell]
        assert occlusion.scores.ravel()[j] == pytest.approx(probs.max() - alone, abs=1e-5)
    assert np.abs(occlusion.scores).max() > 1e-4  # hiding parts of a real photo matters
    # the top-left pixel is covered by the first patch only
    assert occlusion.heatmap.shape == photo.shape[:2]
    assert occlusion.heatmap[0, 0] == pytest.approx(occlusion.scores[0, 0], abs=1e-6)
    record = plot_occlusion(photo, occlusion, tmp_path / "o.png")
    assert record["patches"] == 64 and json.loads((tmp_path / "o.json").read_text())[
        "occlusion"]["grid"] == [8, 8]
    _png(tmp_path / "o.png")


def test_im2gps_occlusion_measures(locator, query):
    photo = load_image(query[0])
    occlusion = occlusion_map(locator, photo, grid=4)
    assert occlusion.measure == "supporters" and occlusion.scores.shape == (4, 4)
    predictions = locator.predict([photo])
    supporters = predictions.neighbor_ids[0][predictions.clusters(0)[0]["members"]]
    assert occlusion.extra["supporters"] == supporters.tolist()
    index = locator.index_
    database = index.embed({n: np.asarray(index.features(n))[supporters]
                            for n in index.feature_names})

    def mean_distance(image):
        query_vector = index.embed(index.extract([image]))
        return np.linalg.norm(database - query_vector, axis=1).mean()

    assert occlusion.baseline == pytest.approx(mean_distance(photo), rel=1e-4)
    copy = occluded_copies(photo, occlusion.boxes[5:6])[0]
    assert occlusion.scores.ravel()[5] == pytest.approx(
        mean_distance(copy) - mean_distance(photo), abs=1e-4)
    # the estimate's move is recorded for every patch, in km
    moved = occlusion_map(locator, photo, grid=4, measure="distance")
    assert moved.scores.shape == (4, 4) and (moved.scores >= 0).all()
    assert np.allclose(moved.scores, np.nan_to_num(moved.moved_km))
    with pytest.raises(ValueError, match="classifier"):
        occlusion_map(locator, photo, grid=2, measure="probability")


def test_cli_locate_explain(locator, query, tmp_path, capsys):
    out = tmp_path / "why"
    code = main(["locate", str(locator.index_.path), query[0], "--k", "15", "--json",
                 "--explain", str(out)])
    assert code == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    stem = Path(query[0]).stem
    assert doc["explain"] == {"neighbours": str(out / f"{stem}.neighbours.png"),
                              "occlusion": str(out / f"{stem}.occlusion.png")}
    record = json.loads((out / f"{stem}.neighbours.json").read_text())
    assert record["neighbour_markers"] == 15 and record["images"] == 13
    assert record["estimate"]["lat"] == pytest.approx(doc["lat"])
    assert len(record["clusters"]) == record["cluster_markers"] >= 1
    occlusion = json.loads((out / f"{stem}.occlusion.json").read_text())
    assert occlusion["patches"] == 64
    for name in ("neighbours", "occlusion"):
        _png(out / f"{stem}.{name}.png")


def test_explain_matches_draws_the_verified_inliers(locator, db_csv, tmp_path):
    import cv2

    from im2gps.explain import explain_matches
    from im2gps.features.sift import RootSIFT
    from im2gps.index.local import add_local_features

    add_local_features(locator.index_, RootSIFT(max_keypoints=150, max_side=320))
    table = pd.read_csv(db_csv)
    row = 11
    photo = load_image(table["image"][row])
    h, w = photo.shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = corners + np.float32([[20, 25], [-30, 5], [-10, -20], [25, -15]])
    view = cv2.warpPerspective(photo, cv2.getPerspectiveTransform(corners, moved), (w, h))
    verified = Im2GPS(k=K, short_list=K, verification="best").fit(locator.index_)
    predictions = verified.predict([view])
    assert row in predictions.neighbor_ids[0]
    record = explain_matches(verified, view, tmp_path / "m.png", predictions=predictions)
    assert record["database_row"] == row and record["verified"]
    assert record["inliers"] >= 20 and record["reason"] is None
    image = _png(tmp_path / "m.png")
    assert image.shape[1] > image.shape[0]  # the two photos side by side
    assert json.loads((tmp_path / "m.json").read_text())["inliers"] == record["inliers"]
    # a neighbour that does not verify is drawn too, and says so
    other = explain_matches(verified, view, None, neighbour=(row + 1) % len(table))
    assert not other["verified"]


def test_long_place_names_are_cut_with_an_ellipsis():
    from im2gps.explain import _place_label

    full = nearest_place(np.array([52.2]), np.array([-1.6]))[0].name  # Wellesbourne Mountford
    assert len(full) > 18
    (label,) = _place_label(np.array([52.2]), np.array([-1.6]))
    name, country = label.rsplit(", ", 1)
    assert len(name) == 18 and name.endswith("\u2026") and full.startswith(name[:-1])
    assert country == "GB"

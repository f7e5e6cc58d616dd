"""im2gps.maps: offline coastlines and borders, great circles across +-180, zoom insets,
labels that do not overlap; drawn on the real im2gps237 geotags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from im2gps.geo import haversine_km
from im2gps.maps import (
    borders,
    coastlines,
    densest_window,
    draw_world,
    great_circle,
    place_labels,
)
from im2gps.planet.maps import new_map


def test_coastlines_and_borders_ship_offline():
    shapes = coastlines("c")
    levels = {level for level, _ in shapes}
    assert {1, 2} <= levels and len(shapes) > 1000
    land = [ring for level, ring in shapes if level == 1]
    assert all(np.abs(r[:, 0]).max() <= 180 and np.abs(r[:, 1]).max() <= 90 for r in land)
    # Australia's mainland: the biggest ring south of the equator in its longitudes
    australia = max((r for r in land if -45 < r[:, 1].mean() < -10 and 110 < r[:, 0].mean()
                     < 155), key=len)
    assert australia[:, 0].min() == pytest.approx(113.5, abs=1.0)
    assert len(borders("c")) > 200


def test_great_circle_wraps_at_the_antimeridian():
    # Fiji to Samoa: the short way crosses 180 degrees
    pieces = great_circle(-17.7, 178.1, -13.8, -172.1)
    assert len(pieces) == 2
    assert pieces[0][-1, 0] == 180.0 and pieces[1][0, 0] == -180.0
    assert pieces[0][-1, 1] == pytest.approx(pieces[1][0, 1])
    for piece in pieces:
        assert np.abs(np.diff(piece[:, 0])).max() < 10  # no line across the whole map
    # every point lies on the arc: the two legs add up to the whole distance
    points = np.vstack(pieces)
    total = haversine_km(-17.7, 178.1, -13.8, -172.1)
    legs = (haversine_km(-17.7, 178.1, points[:, 1], points[:, 0])
            + haversine_km(points[:, 1], points[:, 0], -13.8, -172.1))
    assert np.allclose(legs, total, rtol=1e-6)
    # Paris to New York: one piece, bending north of both ends
    (arc,) = great_circle(48.86, 2.35, 40.71, -74.01)
    assert arc[:, 1].max() > 51


def test_error_map_inset_on_the_densest_region(data_dir, tmp_path):
    from im2gps.plots import plot_error_map

    table = pd.read_csv(data_dir / "im2gps237" / "photos.csv")
    lat, lon = table["lat"].to_numpy(), table["lon"].to_numpy()
    window = densest_window(lon, lat)
    assert window is not None
    lon0, lon1, lat0, lat1 = window
    assert lon0 < 10 < lon1 and lat0 < 48 < lat1  # Europe
    assert densest_window(lon[:3], lat[:3]) is None  # too few points for a zoom
    # estimates: each photo's neighbour in the table, some across the antimeridian
    path = plot_error_map(lat, lon, np.roll(lat, 1), np.roll(lon, 1), tmp_path / "map.png")
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    land = (np.abs(image - [0xEC, 0xEB, 0xE4]).sum(axis=2) < 6).mean()
    assert 0.1 < land < 0.5  # land is drawn, and is not everything


def test_error_map_inset_hides_no_point(data_dir, tmp_path, monkeypatch):
    """The zoom inset goes where no truth or estimate is under it (not over Argentina)."""
    from im2gps import maps
    from im2gps.plots import plot_error_map

    table = pd.read_csv(data_dir / "im2gps237" / "photos.csv")
    lat, lon = table["lat"].to_numpy(), table["lon"].to_numpy()
    # test photos in Argentina and Chile, where the old lower-left inset sat
    lat = np.r_[lat, -34.6, -41.1, -54.8, -33.4, -24.8]
    lon = np.r_[lon, -58.4, -71.3, -68.3, -70.7, -65.4]
    est_lat, est_lon = np.roll(lat, 3), np.roll(lon, 3)
    made = []
    real = maps.add_zoom_inset

    def spy(ax, *args, **kwargs):
        made.append((ax, real(ax, *args, **kwargs)))
        return made[-1][1]

    monkeypatch.setattr(maps, "add_zoom_inset", spy)
    plot_error_map(lat, lon, est_lat, est_lon, tmp_path / "map.png")
    (ax, inset), = made
    box = inset.get_window_extent()
    shown = ax.transData.transform(np.column_stack([np.r_[lon, est_lon], np.r_[lat, est_lat]]))
    under = ((shown[:, 0] >= box.x0) & (shown[:, 0] <= box.x1)
             & (shown[:, 1] >= box.y0) & (shown[:, 1] <= box.y1))
    assert not under.any(), np.c_[np.r_[lat, est_lat], np.r_[lon, est_lon]][under]
    # the old place, over the South Pacific and southern South America, is not chosen
    assert maps.inset_bounds(ax, lon, lat) != maps.INSET_CANDIDATES[0]
    # with nothing in the way the first (largest) candidate wins
    assert maps.inset_bounds(ax, np.array([10.0]), np.array([50.0])) == \
        maps.INSET_CANDIDATES[0]


def test_world_map_and_labels_do_not_overlap():
    figure, ax = new_map(8)
    draw_world(ax)
    assert ax.get_xlim() == (-180, 180) and ax.get_ylim() == (-90, 90)
    # four labels at nearly the same place
    labels = place_labels(ax, [2.0, 2.5, 3.0, 2.2], [48.0, 48.3, 47.8, 48.1],
                          ["1: 40%", "2: 30%", "3: 20%", "4: 10%"])
    figure.canvas.draw()
    boxes = [label.get_window_extent() for label in labels]
    for i in range(len(boxes)):
        for j in range(i):
            assert not boxes[i].overlaps(boxes[j]), (i, j)

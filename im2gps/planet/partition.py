"""Adaptive S2 partitions of the globe: the geographic classes of PlaNet.

PlaNet (Weyand et al., ECCV 2016) turns geolocation into classification by
cutting the Earth into S2 cells sized by photo density: it starts from the
six face cells of the S2 cube, recursively splits every cell holding more than
``t_max`` photos into its four children, and finally drops the cells holding
fewer than ``t_min`` photos (PlaNet: ``t_max = 10,000``, ``t_min = 50`` on 126
million photos, 26,263 cells). Dense regions get small cells, empty ones none.
GeoEstimation (Müller-Budack et al., ECCV 2018) builds several such partitions
with different ``t_max`` and classifies into all of them at once
(:func:`hierarchical_partition`).

:func:`partition` works on 64-bit S2 cell ids: each photo's leaf cell id is
computed once with ``s2sphere``; after that every step is numpy over all
photos at once. The parent of a cell id at level ``L`` is a bit operation,
``lsb = 1 << 2 * (30 - L); parent = (id & -lsb) | lsb``, so the recursion runs
level by level (at most 31 passes), not cell by cell.

The result is a cell table (:class:`pandas.DataFrame`, one row per kept cell,
in S2 curve order; a photo's class is the row position) with the columns

``token``
    the S2 cell token (the cell id in hex, trailing zeros dropped);
``level``
    the S2 level (0: a cube face, about 7,800 km across; 30: about 1 cm);
``count``
    photos in the cell;
``mean_lat``, ``mean_lon``
    the mean of the cell's photos, averaged as 3-D unit vectors;
``center_lat``, ``center_lon``
    the centre of the cell;

plus, for the finer tables of a hierarchy, ``parent``: the row of the
containing cell in the next coarser table. Cell tables are written and read
as plain CSV (:func:`save_cells`, :func:`load_cells`).

References
----------
.. [1] T. Weyand, I. Kostrikov and J. Philbin, "PlaNet - Photo geolocation
   with convolutional neural networks", ECCV 2016.
.. [2] E. Müller-Budack, K. Pustu-Iren and R. Ewerth, "Geolocation estimation
   of photos using a hierarchical model and scene classification", ECCV 2018.
.. [3] The S2 geometry library, https://s2geometry.io (cell ids, levels,
   tokens); its Python port ``s2sphere``.

Notes
-----
Departures from PlaNet:

* Only cells that hold photos are made; PlaNet's rule drops the empty ones
  anyway whenever ``t_min >= 1``. With ``t_min = 0`` nothing is dropped, but
  empty cells still do not appear.
* ``min_level`` (default 0, the six faces, as in PlaNet) lets the recursion
  start from finer cells, and ``max_level`` (default 30, S2's leaf level) caps
  it: a cell at ``max_level`` is never split, so it may hold more than
  ``t_max`` photos (e.g. thousands of photos with identical coordinates at
  the leaf level). Every other kept cell holds at most ``t_max``.
* ``t_min > t_max`` is refused: every cell of such a partition would be
  dropped unless it sat at ``max_level``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import s2sphere

from im2gps.geo import check_degrees, to_latlon, to_unit_vectors

__all__ = [
    "CELL_COLUMNS",
    "MAX_LEVEL",
    "assign_cells",
    "cell_ids",
    "cell_levels",
    "hierarchical_partition",
    "leaf_cell_ids",
    "load_cells",
    "parent_ids",
    "partition",
    "save_cells",
    "token_to_id",
]

#: S2's finest level (leaf cells, about 1 cm across).
MAX_LEVEL = 30

#: Columns of every cell table, in order (hierarchies add ``parent``).
CELL_COLUMNS = ("token", "level", "count", "mean_lat", "mean_lon", "center_lat", "center_lon")

_ONE = np.uint64(1)


# -- cell ids ---------------------------------------------------------------
def leaf_cell_ids(lat, lon, progress: bool = False) -> np.ndarray:
    """The S2 leaf cell (level 30) of each point, as uint64 cell ids.

    Parameters
    ----------
    lat, lon : array_like
        ``(n,)`` degrees; every point must be finite and in range.
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` uint64 cell ids.

    Notes
    -----
    One ``s2sphere`` call per point (about 1 s per 100,000 points): the S2
    projection is left to the library rather than re-implemented; all further
    cell arithmetic is vectorised.
    """
    from tqdm.auto import tqdm

    lat, lon = check_degrees(lat, lon)
    from_degrees, from_lat_lng = s2sphere.LatLng.from_degrees, s2sphere.CellId.from_lat_lng
    points = tqdm(zip(lat.tolist(), lon.tolist(), strict=True), total=lat.size, unit="photo",
                  desc="S2 cells", disable=not progress, mininterval=0.5)
    return np.fromiter((from_lat_lng(from_degrees(a, b)).id() for a, b in points),
                       dtype=np.uint64, count=lat.size)


def parent_ids(ids: np.ndarray, level: int) -> np.ndarray:
    """Ancestors at ``level`` of cell ids at ``level`` or finer (vectorised S2 ``parent``)."""
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"level must be in [0, {MAX_LEVEL}], not {level}")
    lsb = _ONE << np.uint64(2 * (MAX_LEVEL - level))
    return (np.asarray(ids, dtype=np.uint64) & ~(lsb - _ONE)) | lsb


def cell_levels(ids: np.ndarray) -> np.ndarray:
    """S2 level of each cell id: ``30 - (trailing zero bits) / 2``."""
    ids = np.asarray(ids, dtype=np.uint64)
    lsb = ids & (~ids + _ONE)  # lowest set bit (two's complement), a power of two
    # float64 holds every power of two up to 2**63 exactly, so log2 is exact here.
    return (MAX_LEVEL - np.log2(lsb.astype(np.float64)).astype(np.int64) // 2).astype(np.int64)


def token_to_id(token: str) -> int:
    """S2 cell id of a token (hex with trailing zeros dropped)."""
    if not token or len(token) > 16 or token.strip("0123456789abcdefABCDEF"):
        raise ValueError(f"not an S2 cell token: {token!r}")
    return int(token.ljust(16, "0"), 16)


def _id_to_token(cell_id: int) -> str:
    return f"{cell_id:016x}".rstrip("0") or "X"


def cell_ids(cells: pd.DataFrame) -> np.ndarray:
    """The uint64 S2 cell ids of a cell table's rows (from its ``token`` column)."""
    return np.array([token_to_id(t) for t in cells["token"]], dtype=np.uint64)


# -- partitions -------------------------------------------------------------
def _check_levels(min_level: int, max_level: int) -> None:
    if not 0 <= min_level <= max_level <= MAX_LEVEL:
        raise ValueError(f"need 0 <= min_level <= max_level <= {MAX_LEVEL}, "
                         f"got min_level={min_level}, max_level={max_level}")


def _final_cells(leaf: np.ndarray, t_max: int, min_level: int, max_level: int) -> np.ndarray:
    """The partition cell of every photo before dropping: split while count > t_max."""
    final = np.zeros(leaf.size, np.uint64)
    active = np.arange(leaf.size)
    for level in range(min_level, max_level + 1):
        if active.size == 0:
            break
        parents = parent_ids(leaf[active], level)
        _, inverse, counts = np.unique(parents, return_inverse=True, return_counts=True)
        done = counts[inverse] <= t_max if level < max_level else np.ones(active.size, bool)
        final[active[done]] = parents[done]
        active = active[~done]
    return final


def _cell_table(ids: np.ndarray, inverse: np.ndarray, counts: np.ndarray,
                lat: np.ndarray, lon: np.ndarray) -> pd.DataFrame:
    """Cell table rows for sorted unique ``ids`` with photo ``inverse`` and ``counts``."""
    xyz = to_unit_vectors(lat, lon)
    sums = np.stack([np.bincount(inverse, weights=xyz[:, k], minlength=ids.size)
                     for k in range(3)], axis=1)
    mean_lat, mean_lon = to_latlon(sums)
    centers = [s2sphere.CellId(int(i)).to_lat_lng() for i in ids.tolist()]
    return pd.DataFrame({
        "token": [_id_to_token(i) for i in ids.tolist()],
        "level": cell_levels(ids),
        "count": counts.astype(np.int64),
        "mean_lat": mean_lat,
        "mean_lon": mean_lon,
        "center_lat": np.array([c.lat().degrees for c in centers], np.float64),
        "center_lon": np.array([c.lng().degrees for c in centers], np.float64),
    }, columns=list(CELL_COLUMNS))


def _partition_leaves(leaf: np.ndarray, lat: np.ndarray, lon: np.ndarray, t_max: int,
                      t_min: int, min_level: int, max_level: int
                      ) -> tuple[pd.DataFrame, np.ndarray]:
    if int(t_max) < 1:
        raise ValueError(f"t_max must be at least 1, not {t_max}")
    if int(t_min) < 0 or int(t_min) > int(t_max):
        raise ValueError(f"need 0 <= t_min <= t_max, got t_min={t_min}, t_max={t_max}")
    _check_levels(min_level, max_level)
    final = _final_cells(leaf, int(t_max), min_level, max_level)
    ids, inverse, counts = np.unique(final, return_inverse=True, return_counts=True)
    keep = counts >= int(t_min)
    row = np.where(keep, np.cumsum(keep) - 1, -1)
    assignment = row[inverse].astype(np.int64)
    kept = assignment >= 0
    cells = _cell_table(ids[keep], assignment[kept], counts[keep], lat[kept], lon[kept])
    return cells, assignment


def partition(lat, lon, t_max: int, t_min: int, min_level: int = 0,
              max_level: int = MAX_LEVEL, progress: bool = False
              ) -> tuple[pd.DataFrame, np.ndarray]:
    """PlaNet's adaptive partition of the globe into S2 cells.

    Parameters
    ----------
    lat, lon : array_like
        ``(n,)`` photo coordinates in degrees.
    t_max : int
        A cell holding more photos than this is split into its four children
        (unless it is at ``max_level``).
    t_min : int
        Cells holding fewer photos than this are dropped.
    min_level : int, optional
        Level the recursion starts from (0: the six cube faces, as PlaNet).
    max_level : int, optional
        Cells at this level are never split (30: S2 leaf cells).
    progress : bool, optional
        Show a progress bar while the photos' S2 cells are computed.

    Returns
    -------
    cells : pandas.DataFrame
        The kept cells, in S2 curve order (columns: see the module docstring).
    assignment : numpy.ndarray
        ``(n,)`` int64 row of each photo's cell in ``cells``, -1 for photos
        in dropped cells.

    Examples
    --------
    Two photos in Paris and one in New York, at most two photos per cell:

    >>> cells, assignment = partition([48.85, 48.86, 40.71], [2.35, 2.34, -74.0], 2, 1)
    >>> cells[["token", "level", "count"]].values.tolist(), assignment.tolist()
    ([['5', 0, 2], ['9', 0, 1]], [0, 0, 1])
    """
    lat, lon = check_degrees(lat, lon)
    return _partition_leaves(leaf_cell_ids(lat, lon, progress), lat, lon, t_max, t_min,
                             min_level, max_level)


def hierarchical_partition(lat, lon, t_maxes: Sequence[int], t_min: int, min_level: int = 0,
                           max_level: int = MAX_LEVEL, progress: bool = False
                           ) -> list[tuple[pd.DataFrame, np.ndarray]]:
    """Several partitions of the same photos, coarse to fine (GeoEstimation).

    Parameters
    ----------
    lat, lon : array_like
        ``(n,)`` photo coordinates in degrees.
    t_maxes : sequence of int
        One ``t_max`` per partition; sorted from largest (coarsest) to
        smallest. GeoEstimation uses 5000, 2000 and 1000 with ``t_min = 50``.
    t_min, min_level, max_level : int
        As in :func:`partition`, shared by every partition.
    progress : bool, optional
        Show a progress bar while the photos' S2 cells are computed (once).

    Returns
    -------
    list of (cells, assignment)
        One :func:`partition` result per ``t_max``, coarse first. From the
        second on, ``cells`` has a ``parent`` column: the row of the
        containing cell in the previous table. With a common ``t_min`` the
        partitions nest: every cell of a finer table lies inside exactly one
        cell of each coarser table.
    """
    lat, lon = check_degrees(lat, lon)
    if len(t_maxes) == 0:
        raise ValueError("t_maxes is empty")
    leaf = leaf_cell_ids(lat, lon, progress)
    levels: list[tuple[pd.DataFrame, np.ndarray]] = []
    for t_max in sorted({int(t) for t in t_maxes}, reverse=True):
        cells, assignment = _partition_leaves(leaf, lat, lon, t_max, t_min, min_level, max_level)
        if levels:
            coarse = levels[-1][0]
            ids = cell_ids(cells)
            cells["parent"] = _containing(coarse, ids, cell_levels(ids))
        levels.append((cells, assignment))
    return levels


# -- lookup -----------------------------------------------------------------
def _containing(cells: pd.DataFrame, ids: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Row of the cell of ``cells`` containing each cell id (-1: none).

    One sorted search per distinct level of the table: a cell at level ``L``
    contains ``id`` exactly when it equals ``id``'s ancestor at ``L``.
    """
    table_ids = cell_ids(cells)
    table_levels = cells["level"].to_numpy(np.int64)
    found = np.full(ids.size, -1, np.int64)
    for level in np.unique(table_levels).tolist():
        rows = np.flatnonzero(table_levels == level)
        order = np.argsort(table_ids[rows])
        sorted_ids = table_ids[rows][order]
        query = np.flatnonzero(levels >= level)
        ancestors = parent_ids(ids[query], level)
        pos = np.minimum(np.searchsorted(sorted_ids, ancestors), sorted_ids.size - 1)
        hit = sorted_ids[pos] == ancestors
        found[query[hit]] = rows[order[pos[hit]]]
    return found


def assign_cells(cells: pd.DataFrame, lat, lon) -> np.ndarray:
    """The kept cell containing each point.

    Parameters
    ----------
    cells : pandas.DataFrame
        A cell table (from :func:`partition` or :func:`load_cells`).
    lat, lon : array_like
        ``(n,)`` degrees.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` int64 row in ``cells``, -1 where no kept cell contains the point.
    """
    leaf = leaf_cell_ids(lat, lon)
    return _containing(cells, leaf, np.full(leaf.size, MAX_LEVEL, np.int64))


# -- files ------------------------------------------------------------------
def save_cells(cells: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a cell table as CSV (floats round-trip exactly)."""
    path = Path(path)
    missing = set(CELL_COLUMNS) - set(cells.columns)
    if missing:
        raise ValueError(f"not a cell table: missing column(s) {sorted(missing)}")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    cells.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def load_cells(path: str | os.PathLike) -> pd.DataFrame:
    """Read a cell table written by :func:`save_cells`.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a column is missing or a token is not an S2 cell token; the
        message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such cell table")
    cells = pd.read_csv(path, dtype={"token": str}, keep_default_na=False)
    missing = set(CELL_COLUMNS) - set(cells.columns)
    if missing:
        raise ValueError(f"{path}: not a cell table, missing column(s) {sorted(missing)}")
    try:
        ids = cell_ids(cells)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    if not np.array_equal(cell_levels(ids), cells["level"].to_numpy(np.int64)):
        raise ValueError(f"{path}: the level column does not match the tokens")
    for column in ("level", "count") + (("parent",) if "parent" in cells else ()):
        cells[column] = cells[column].astype(np.int64)
    for column in CELL_COLUMNS[3:]:
        cells[column] = cells[column].astype(np.float64)
    return cells

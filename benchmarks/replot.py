"""Redraw a benchmark run's figures from its recorded results, without running it again.

``im2gps benchmark --out DIR`` writes ``DIR/predictions/<method>.csv`` (one
row per test photo: truth, estimate, error) and ``DIR/database_size.csv``;
this script redraws ``error_cdf.png``, ``error_map.png`` and
``database_size.png`` from them with the current plotting code
(:mod:`im2gps.plots`), in the row order of ``DIR/results.json``.

Run ``python benchmarks/replot.py benchmarks/results/im2gps237``. The
prediction CSVs are not committed (``.gitignore``); they are written by
``make benchmark`` on the machine that ran it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from im2gps.plots import plot_error_cdf, plot_error_map, plot_size_curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the --out folder of a benchmark run")
    args = parser.parse_args()
    folder = args.results
    order = list(json.loads((folder / "results.json").read_text())["results"])
    frames = {name: pd.read_csv(folder / "predictions" / f"{name}.csv") for name in order
              if (folder / "predictions" / f"{name}.csv").is_file()}
    if not frames:
        raise SystemExit(f"{folder / 'predictions'}: no prediction CSVs; run the benchmark "
                         "with --out first")
    errors = {name: frame["error_km"].to_numpy() for name, frame in frames.items()}
    print(plot_error_cdf(errors, folder / "error_cdf.png"))
    main_row = "im2gps" if "im2gps" in frames else next(iter(frames))
    frame = frames[main_row]
    print(plot_error_map(frame["true_lat"], frame["true_lon"], frame["lat"], frame["lon"],
                         folder / "error_map.png",
                         title=f"{main_row}: test photos, truth to estimate"))
    if (folder / "database_size.csv").is_file():
        print(plot_size_curve(pd.read_csv(folder / "database_size.csv"),
                              folder / "database_size.png"))


if __name__ == "__main__":
    main()

"""Album benchmark suites on the im2gps2k database: author sequences and shared places.

Two suites of real albums, each scored by album-grouped, photographer-disjoint
cross-validation on the database (:func:`im2gps.album_benchmark.run_album_benchmark`):

``author``
    the photographers' own sequences: the 108 im2gps2k authors with 2 to 4
    photos, in capture order (the ``taken`` column; clock errors ordered by
    name). Same as ``im2gps benchmark --albums author``.
``places``
    albums of photos that share a place: database photos chained within
    25 km of each other (DBSCAN on the sphere), cut into albums of at most 6
    photos (:func:`im2gps.album_benchmark.place_albums`), with their real
    capture times. They mix photographers; every photographer of a fold's
    albums is left out of that fold's training photos.

Run: ``python benchmarks/albums.py`` (about 8 minutes on 2 cores with the
benchmark's feature cache in ``.cache``); writes
``benchmarks/results/albums/<suite>/`` (results.md, results.json, per-row
predictions) and ``benchmarks/results/albums/summary.md`` (the gains of both
suites side by side, as in the README; bold: beyond the interval).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from im2gps import datasets
from im2gps.album_benchmark import place_albums, run_album_benchmark, write_album_results

RESULTS = Path(__file__).resolve().parent / "results" / "albums"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suites", default="author,places")
    parser.add_argument("--cache", default=".cache")
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    for suite in args.suites.split(","):
        start = time.perf_counter()
        if suite == "author":
            result = run_album_benchmark("im2gps2k", albums="author", cache_dir=args.cache,
                                         n_boot=args.n_boot, log=print)
        elif suite == "places":
            db = datasets.load("im2gps2k")
            names = place_albums(db.table["lat"], db.table["lon"], radius_km=25.0, max_size=6)
            result = run_album_benchmark("im2gps2k", albums="place", table_albums=names,
                                         cache_dir=args.cache, n_boot=args.n_boot, log=print)
            result.settings["place_albums"] = {"radius_km": 25.0, "max_size": 6,
                                               "min_size": 2, "seed": 0}
        else:
            raise SystemExit(f"unknown suite {suite!r}")
        result.timings["total_s"] = time.perf_counter() - start
        write_album_results(result, RESULTS / suite)
        print(result.table())
        print(result.gains_table())
        print(f"{suite}: {result.timings['total_s']:.0f} s")
    (RESULTS / "summary.md").write_text(summary() + "\n")
    print(summary())


def summary(radii=("200", "750", "2500")) -> str:
    """Gains of every album row in both suites side by side (the README's table)."""
    suites = {name: json.loads((RESULTS / name / "results.json").read_text())
              for name in ("author", "places") if (RESULTS / name / "results.json").is_file()}
    rows = list(next(iter(suites.values()))["gains"]) if suites else []
    head = " | ".join(f"{name} ({doc['n_albums']} albums, {doc['n_photos']} photos), "
                      f"{' / '.join(radii)} km" for name, doc in suites.items())
    lines = [f"| album row | {head} |", "|:---|" + ":---|" * len(suites)]
    for row in rows:
        cells = []
        for doc in suites.values():
            parts = []
            for r in radii:
                g = doc["gains"][row][r]
                text = f"{100 * g['gain']:+.1f} [{100 * g['lo']:+.1f}, {100 * g['hi']:+.1f}]"
                parts.append(f"**{text}**" if g["lo"] > 0 or g["hi"] < 0 else text)
            cells.append(" / ".join(parts))
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

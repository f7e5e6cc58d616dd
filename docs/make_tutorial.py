"""Regenerate the tutorial's figures and numbers, and the screenshot of the HTML report.

    python docs/make_tutorial.py [--data DIR] [--cache DIR] [--jobs N]

Runs the benchmark rows the tutorial compares (from the benchmark's feature
cache when it is there), rebuilds their locators with the settings the run
chose, and writes:

* ``docs/figures/``: neighbour montages, PlaNet probability maps and occlusion
  maps of two test photos, the error CDF, and ``credits.md`` (every photo
  shown, with its author and licence);
* ``docs/report.png``: a screenshot of the run's HTML report at a laptop's
  width (1280 px), taken with headless Chromium (``/usr/bin/chromium``),
  its gallery sorted by the ``im2gps`` error with the best photo's details
  open (``--report-only`` makes this screenshot alone);
* the generated blocks of ``docs/tutorial.md`` (between ``<!-- NAME:start -->``
  and ``<!-- NAME:end -->``): the results table and each figure's numbers.

Only photos under a Creative Commons or public-domain licence are shown:
the two query photos are the test photos whose licence allows adapted
versions (the occlusion overlay is one) on which ``im2gps`` and ``planet``
err least; database neighbours under "all rights reserved" are drawn as grey
placeholders. Even so, the figures that hold photo pixels (``*.jpg``) are not
committed (the data's photos are for local use only): this command makes them
on your machine. The report screenshot shows no photos.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from im2gps.benchmark import run_benchmark
from im2gps.explain import (
    OPEN_LICENSES,
    explain_neighbours,
    occlusion_map,
    planet_probability_map,
    plot_occlusion,
)
from im2gps.plots import plot_error_cdf
from im2gps.report import rebuild_locators, write_report

DOCS = Path(__file__).resolve().parent
FIGURES = DOCS / "figures"
ROWS = ["chance", "prior", "oracle", "im2gps-1nn", "im2gps", "im2gps-cnn", "planet"]
#: Licences that allow adapted versions (all open ones but the two NoDerivs).
ADAPT_OK = {code for code in OPEN_LICENSES if code not in (3, 6)}
CHROMIUM = "/usr/bin/chromium"


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 2000,
               fragment: str = "") -> None:
    """A screenshot of a local page with headless Chromium."""
    with tempfile.TemporaryDirectory(prefix="im2gps-chromium-") as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={width},{height}", html.resolve().as_uri() + fragment],
                       check=True, capture_output=True, timeout=300)


def fill(text: str, name: str, content: str) -> str:
    """Replace the generated block ``name`` of a Markdown text."""
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"docs/tutorial.md has no block {name!r}")
    return pattern.sub(lambda m: m.group(1) + content.rstrip() + "\n" + m.group(2), text)


def credit(table, rows) -> list[str]:
    """Markdown lines crediting photos (rows of a collection table)."""
    lines = []
    for _, row in table.iloc[sorted(set(rows))].iterrows():
        lines.append(f"| {Path(str(row['image'])).parent.parent.name}/{Path(row['image']).name} "
                     f"| {row['author']} | {OPEN_LICENSES[int(row['license'])]} |")
    return lines


def log(message: str) -> None:
    print(message, file=sys.stderr)


def report_screenshot(result, data_dir) -> None:
    """``docs/report.png``: the run's HTML report in Chromium at a laptop's width.

    The gallery is sorted by the ``im2gps`` error, best first, with the details
    of that best photo open. The committed screenshot shows no photo pixels:
    the data set's photos may not be republished (most are all rights
    reserved), so its gallery shows placeholders.
    """
    best = int(np.argmin(result.predictions["im2gps"]["error_km"].to_numpy())) + 1
    with tempfile.TemporaryDirectory(prefix="im2gps-tutorial-") as tmp:
        html = write_report(result, Path(tmp) / "report.html", explanations={},
                            data_dir=data_dir, show_photos="none")
        screenshot(html, DOCS / "report.png", width=1280, height=1800,
                   fragment=f"#sort=gallery/err-im2gps&open={best}")
    log(f"{DOCS / 'report.png'} written")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder of named data sets (default: ../shared/data)")
    parser.add_argument("--cache", help="benchmark cache (default: the benchmark's, "
                        "$IM2GPS_CACHE or ~/.cache/im2gps)")
    parser.add_argument("--jobs", type=int, default=2, help="processes for feature extraction")
    parser.add_argument("--report-only", action="store_true",
                        help="only the report screenshot (docs/report.png)")
    args = parser.parse_args(argv)
    FIGURES.mkdir(parents=True, exist_ok=True)

    result = run_benchmark(locators=ROWS, data_dir=args.data, cache_dir=args.cache,
                           jobs=args.jobs, size_curve=False, progress=False, log=log)
    if args.report_only:
        report_screenshot(result, args.data)
        return 0
    test, locators, matrices = rebuild_locators(result, data_dir=args.data,
                                                cache_dir=args.cache, jobs=args.jobs)
    table = test.table
    licenses = table["license"].to_numpy()
    errors = {m: result.predictions[m]["error_km"].to_numpy() for m in ROWS}
    usable = np.isin(licenses, list(ADAPT_OK))
    first = int(np.flatnonzero(usable)[np.argmin(errors["im2gps"][usable])])
    usable[first] = False
    second = int(np.flatnonzero(usable)[np.argmin(errors["planet"][usable])])
    shown_rows: dict[str, set[int]] = {"im2gps237": {first, second}, "im2gps2k": set()}
    numbers = []
    for tag, i in (("a", first), ("b", second)):
        photo, truth = test.paths[i], tuple(test.coords[i])
        figures = {}
        for method in ("im2gps", "im2gps-cnn"):
            record = explain_neighbours(locators[method], photo,
                                        FIGURES / f"{tag}-{method}-neighbours.jpg", truth=truth,
                                        shown_licenses=OPEN_LICENSES, dpi=80)
            index_ids = locators[method].index_.photos["id"].tolist()
            shown_rows["im2gps2k"] |= {index_ids.index(n["id"]) for n in record["neighbours"]
                                       if n["shown"]}
            figures[method] = record
        model = locators["planet"]
        probs = model.predict_embeddings(matrices["cnn"][i: i + 1]).cell_probs[0]
        figures["planet"] = planet_probability_map(model, probs,
                                                   FIGURES / f"{tag}-planet-probabilities.png",
                                                   truth=truth, dpi=80)
        for method in ("im2gps", "planet"):
            occlusion = occlusion_map(locators[method], photo, grid=8)
            figures[f"{method}-occlusion"] = plot_occlusion(
                photo, occlusion, FIGURES / f"{tag}-{method}-occlusion.jpg", dpi=80)
        for record in figures.values():
            record.pop("figure").clear()
        numbers.append((tag, i, figures))
        log(f"photo {tag}: {test.ids[i]} figures written")

    written = plot_error_cdf(errors, FIGURES / "error_cdf.png")
    log(f"{written} written")

    report_screenshot(result, args.data)

    from im2gps import datasets

    database = datasets.load(result.database, args.data).table
    credits = ["# Photo credits", "",
               "Photos shown in the tutorial's figures and in `docs/report.png`, from the",
               "im2gps data of Hays & Efros (Flickr), each under the licence given; all other",
               "photos of the data sets are all rights reserved and are never shown.", "",
               "| photo | Flickr author | licence |", "|:---|:---|:---|"]
    credits += credit(table, shown_rows["im2gps237"])
    credits += credit(database, shown_rows["im2gps2k"])
    (FIGURES / "credits.md").write_text("\n".join(credits) + "\n")

    tutorial = DOCS / "tutorial.md"
    text = tutorial.read_text()
    text = fill(text, "results", "\n".join([
        f"{result.n} test photos of {result.test} against the {result.database} database. "
        "Accuracy (%) within each distance with its 95 % bootstrap interval; median error "
        "in km.", "", result.table(ci=True), "", "Where each row beats chance and prior "
        "beyond a paired 95 % interval:", "", result.clears_table()]))
    for tag, i, figures in numbers:
        lines = [f"Photo {tag.upper()}: `{test.ids[i]}` ({table['scene'][i]} scene), "
                 f"taken near {_place(test.coords[i])}."]
        for method in ("im2gps", "im2gps-cnn"):
            record = figures[method]
            cluster = record["clusters"][0]
            setting = result.settings[method]
            if record["vote"] == "kde":
                how = (f"by kernel density (bandwidth {setting['bandwidth_km']:g} km): the "
                       f"winning neighbour has {cluster['size'] - 1} others within the "
                       f"bandwidth ({100 * cluster['weight']:.0f} % of the vote)")
            else:
                how = (f"by mean-shift (bandwidth {setting.get('bandwidth_km', 0):g} km) in "
                       f"{record['cluster_markers']} clusters; the winning cluster holds "
                       f"{cluster['size']} of them ({100 * cluster['weight']:.0f} % of the vote)")
            lines.append(
                f"- `{method}`: {record['neighbour_markers']} neighbours voted {how}; the "
                f"estimate lies near {record['estimate']['place']}, "
                f"{record['error_km']:,.0f} km from the truth.")
        record = figures["planet"]
        top = [f"{100 * c['probability']:.1f} %" for c in record["top_cells"]]
        lines.append(
            f"- `planet`: {record['cells']} cells; the most probable holds {top[0]} of the "
            f"probability (the next {len(top) - 1}: {', '.join(top[1:])}); the estimate is "
            f"{record['error_km']:,.0f} km from the truth.")
        for method in ("im2gps", "planet"):
            record = figures[f"{method}-occlusion"]
            lines.append(f"- occlusion map of `{method}` ({record['measure']}): whole photo "
                         f"{record['baseline']:.3f}, largest change from one grey square "
                         f"{record['max_score']:+.3f}.")
        text = fill(text, f"photo-{tag}", "\n".join(lines))
    tutorial.write_text(text)
    log(f"{tutorial} updated")
    return 0


def _place(coords) -> str:
    from im2gps.gazetteer import nearest_place

    place = nearest_place(coords[0], coords[1])[0]
    return f"{place.name}, {place.country}" if place else "?"


if __name__ == "__main__":
    sys.exit(main())

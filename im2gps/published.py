"""The papers' own figures on the standard test sets, for reading a table in context.

Every number here was printed by its paper (accuracy in % within 1 / 25 / 200
/ 750 / 2500 km); none was computed by this package. The papers trained or
searched databases of millions of photos, so their figures are not
comparable to a run against a small database: :func:`published_table` keeps
them in their own table, never in the ranking of rows computed here.

Entries name the paper and, where a later paper's table was the one checked,
that table too (``source``). Add an entry by appending to :data:`PUBLISHED`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHECKED_AGAINST", "PUBLISHED", "PublishedResult", "published_for",
           "published_rows", "published_table"]


@dataclass(frozen=True)
class PublishedResult:
    """One method's published accuracy on one test set."""

    suite: str
    method: str
    acc: tuple[float | None, ...]  # % at 1, 25, 200, 750, 2500 km (None: not reported)
    database: str
    citation: str
    source: str = ""


_CLIP = "as tabulated in CLIP (Radford et al., ICML 2021), Table 17"
_REPRODUCED_CPLANET = "as reproduced in the CPlaNet paper (Seo et al., ECCV 2018)"
_PLANET = ("T. Weyand, I. Kostrikov, J. Philbin. PlaNet: photo geolocation with convolutional "
           "neural networks. ECCV 2016.")
_CPLANET = ("P. H. Seo, T. Weyand, J. Sim, B. Han. CPlaNet: enhancing image geolocalization by "
            "combinatorial partitioning of maps. ECCV 2018.")
_ISNS = ("E. Müller-Budack, K. Pustu-Iren, R. Ewerth. Geolocation estimation of photos using a "
         "hierarchical model and scene classification. ECCV 2018.")
_GEOCLIP = ("V. Vivanco Cepeda, G. K. Nayak, M. Shah. GeoCLIP: Clip-inspired alignment between "
            "locations and images for effective worldwide geo-localization. NeurIPS 2023.")
_PIGEON = ("L. Haas, M. Skreta, S. Alberti, C. Finn. PIGEON: predicting image geolocations. "
           "CVPR 2024 (PIGEOTTO, the model for any photo).")
_MP16 = "MP-16, 4.7M Flickr photos (training)"
NA = None

#: Published figures by test set (see the module docstring); None where a paper
#: reports no figure at that radius.
PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult("im2gps237", "PlaNet", (8.4, 24.5, 37.6, 53.6, 71.3),
                    "91M geotagged web photos (training)", _PLANET, _CLIP),
    PublishedResult("im2gps237", "CPlaNet", (16.5, 37.1, 46.4, 62.0, 78.5),
                    "geotagged web photos (training; see the paper)", _CPLANET, _CLIP),
    PublishedResult("im2gps237", "ISNs (M, f*, S3)", (16.9, 43.0, 51.9, 66.7, 80.2),
                    _MP16, _ISNS, _CLIP),
    PublishedResult("im2gps237", "CLIP (best model) + 1-NN", (13.9, 32.9, 43.0, 62.0, 79.3),
                    "1M-photo YFCC100M reference set (retrieval)",
                    "A. Radford et al. Learning transferable visual models from natural "
                    "language supervision. ICML 2021, Table 17."),
    PublishedResult("im2gps3k", "PlaNet (reproduced)", (8.5, 24.8, 34.3, 48.4, 64.6),
                    "see the CPlaNet paper", _PLANET, _REPRODUCED_CPLANET),
    PublishedResult("im2gps3k", "CPlaNet", (10.2, 26.5, 34.6, 48.6, 64.6),
                    "geotagged web photos (training; see the paper)", _CPLANET),
    PublishedResult("im2gps3k", "ISNs (M, f*, S3)", (10.5, 28.0, 36.6, 49.7, 66.0),
                    _MP16, _ISNS),
    PublishedResult("im2gps3k", "GeoCLIP", (14.11, 34.47, 50.65, 69.67, 83.82),
                    _MP16 + " with a 100k GPS gallery", _GEOCLIP),
    PublishedResult("im2gps3k", "PIGEOTTO", (11.3, 36.7, 53.8, 72.4, 85.3),
                    "MP-16 (training)", _PIGEON),
    PublishedResult("yfcc4k", "PlaNet (reproduced)", (5.6, 14.3, 22.2, 36.4, 55.8),
                    "see the CPlaNet paper", _PLANET, _REPRODUCED_CPLANET),
    PublishedResult("yfcc4k", "CPlaNet", (7.9, 14.8, 21.9, 36.4, 55.5),
                    "geotagged web photos (training; see the paper)", _CPLANET),
    PublishedResult("yfcc4k", "ISNs (M, f*, S3)", (6.5, 16.2, 23.8, 37.4, 55.0), _MP16, _ISNS,
                    "as reproduced in the TransLocator paper (Pramanick et al., ECCV 2022)"),
    PublishedResult("yfcc4k", "GeoCLIP", (9.6, 19.3, 32.6, 55.0, 74.7),
                    _MP16 + " with a 100k GPS gallery", _GEOCLIP,
                    "as reproduced in the G3 paper (Jia et al., NeurIPS 2024)"),
    PublishedResult("yfcc4k", "PIGEOTTO", (10.4, 23.7, 40.6, 62.2, 77.7),
                    "MP-16 (training)", _PIGEON),
    PublishedResult("gws15k", "GeoCLIP", (0.6, 3.1, 16.9, 45.7, 74.1),
                    _MP16 + " with a 100k GPS gallery", _GEOCLIP),
    PublishedResult("gws15k", "PIGEOTTO", (0.7, 9.2, 31.2, 65.7, 85.1),
                    "MP-16 (training)", _PIGEON),
)

#: Where the figures were checked: besides the papers, the tables of CLIP (Radford
#: et al. 2021, Table 17) and of a community survey of published geolocation results.
CHECKED_AGAINST = ("CLIP, Radford et al., ICML 2021, Table 17; a community survey table of "
                   "published geolocation results (IM2GPS3k, YFCC4k, GWS15k)")


def published_for(suite: str) -> list[PublishedResult]:
    """The published results on a named test set (``im2gps237``, ``im2gps3k``, ...)."""
    return [r for r in PUBLISHED if r.suite == str(suite)]


def _suite_name(test: str) -> str:
    """The suite a test set names: its name, or the folder of a path to its photos.csv."""
    from pathlib import Path

    path = Path(str(test))
    if path.name == "photos.csv":
        return path.parent.name
    return path.name if path.suffix == "" else ""


def published_rows(test: str, n_photos: int | None = None) -> list[dict]:
    """The published results for a benchmark's test set, as JSON-ready rows.

    Rows are returned only when the test set is the published suite: a suite
    name (or its folder) with the suite's number of photos (``n_photos``;
    None skips the check). A subset or another set of the same name gets none.
    """
    from im2gps.datasets import DATASETS

    name = _suite_name(test)
    if name not in DATASETS:
        return []
    if n_photos is not None and int(n_photos) != DATASETS[name].size:
        return []
    return [{"suite": r.suite, "method": r.method,
             "acc": dict(zip(("1", "25", "200", "750", "2500"), r.acc, strict=True)),
             "database": r.database, "citation": r.citation, "source": r.source}
            for r in published_for(name)]


def published_table(test: str, n_photos: int | None = None) -> str:
    """A markdown section of the papers' figures on ``test`` (see :func:`published_rows`).

    Returns '' when none apply; a note when the test set shares a suite's
    name but not its size (a subset: the papers' figures do not apply).
    """
    from im2gps.datasets import DATASETS

    rows = published_rows(test, n_photos)
    name = _suite_name(test)
    if not rows:
        if name in DATASETS and n_photos is not None and published_for(name):
            return (f"(published figures on {name} omitted: this test set has {n_photos:,} "
                    f"photos, the published {name} has {DATASETS[name].size:,})")
        return ""
    lines = [f"## Published figures on {name} (from the papers, not computed here)",
             "",
             "Each paper's own accuracy (%) with its own database or training set, millions "
             "of photos; not comparable with the rows above, and not ranked with them.", "",
             "| Method (paper) | 1 km | 25 km | 200 km | 750 km | 2500 km | Database |",
             "|:---|---:|---:|---:|---:|---:|:---|"]
    for r in rows:
        lines.append(f"| {r['method']} | " + " | ".join(
            "-" if a is None else f"{a:g}" for a in r["acc"].values()) + f" | {r['database']} |")
    lines += ["", f"Checked against: {CHECKED_AGAINST}.", "", "References:", ""]
    for r in rows:
        lines.append(f"- {r['method']}: {r['citation']}" +
                     (f" ({r['source']})" if r["source"] else ""))
    return "\n".join(lines)

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

__all__ = ["PUBLISHED", "PublishedResult", "published_for", "published_table"]


@dataclass(frozen=True)
class PublishedResult:
    """One method's published accuracy on one test set."""

    suite: str
    method: str
    acc: tuple[float, float, float, float, float]  # % at 1, 25, 200, 750, 2500 km
    database: str
    citation: str
    source: str = ""


#: Published figures by test set (see the module docstring).
PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult(
        "im2gps237", "PlaNet", (8.4, 24.5, 37.6, 53.6, 71.3),
        "91M geotagged web photos (classifier training)",
        "T. Weyand, I. Kostrikov, J. Philbin. PlaNet: photo geolocation with "
        "convolutional neural networks. ECCV 2016.",
        "also in A. Radford et al., Learning transferable visual models from natural "
        "language supervision (CLIP), ICML 2021, Table 17"),
    PublishedResult(
        "im2gps237", "CPlaNet", (16.5, 37.1, 46.4, 62.0, 78.5),
        "geotagged web photos (classifier training; see the paper)",
        "P. H. Seo, T. Weyand, J. Sim, B. Han. CPlaNet: enhancing image geolocalization "
        "by combinatorial partitioning of maps. ECCV 2018.",
        "as tabulated in CLIP (Radford et al., ICML 2021), Table 17"),
    PublishedResult(
        "im2gps237", "ISNs (M, f*, S3)", (16.9, 43.0, 51.9, 66.7, 80.2),
        "MP-16, 4.7M Flickr photos (classifier training)",
        "E. Müller-Budack, K. Pustu-Iren, R. Ewerth. Geolocation estimation of photos "
        "using a hierarchical model and scene classification. ECCV 2018.",
        "as tabulated in CLIP (Radford et al., ICML 2021), Table 17"),
    PublishedResult(
        "im2gps237", "CLIP (best model) + 1-NN", (13.9, 32.9, 43.0, 62.0, 79.3),
        "1M-photo YFCC100M reference set (nearest-neighbour retrieval)",
        "A. Radford et al. Learning transferable visual models from natural language "
        "supervision. ICML 2021, Table 17."),
)


def published_for(suite: str) -> list[PublishedResult]:
    """The published results on ``suite`` (a test set name such as ``im2gps237``)."""
    name = str(suite).rstrip("/").split("/")[-1].removesuffix(".csv")
    if name == "photos":
        name = str(suite).rstrip("/").split("/")[-2]
    return [r for r in PUBLISHED if r.suite == name]


def published_table(suite: str) -> str:
    """A markdown section of the papers' figures on ``suite`` ('' when none are known)."""
    rows = published_for(suite)
    if not rows:
        return ""
    lines = [f"## Published figures on {rows[0].suite} (from the papers, not computed here)",
             "",
             "Each paper's own accuracy (%) with its own database or training set, millions "
             "of photos; not comparable with the rows above, and not ranked with them.", "",
             "| Method (paper) | 1 km | 25 km | 200 km | 750 km | 2500 km | Database |",
             "|:---|---:|---:|---:|---:|---:|:---|"]
    for r in rows:
        lines.append(f"| {r.method} | " + " | ".join(f"{a:.1f}" for a in r.acc) +
                     f" | {r.database} |")
    lines += ["", "References:", ""]
    for r in rows:
        lines.append(f"- {r.method}: {r.citation}" + (f" ({r.source})" if r.source else ""))
    return "\n".join(lines)

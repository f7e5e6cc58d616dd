"""A self-contained HTML report of a benchmark run.

:func:`write_report` turns a :class:`~im2gps.benchmark.BenchmarkResult` into
one HTML file that needs nothing else to open: the head-to-head table, the
paired gains over the reference rows, the benchmark plots, and a gallery of
every test photo. The gallery fits a laptop screen: a compact row per photo
(small thumbnail, true place, each method's error shaded by the standard
distances), and a click on a row opens its details (each method's estimate
with its nearest place and coordinates, the larger photo, and any explanation
figures of :mod:`im2gps.explain`). Only photos whose ``license`` allows it
are embedded by default; the others link to their local file. Every table
sorts by a click on its header (a small inline script; ``#sort=TABLE/KEY``
or ``#sort=TABLE/KEY/desc`` in the address sorts on opening, and
``&open=N`` opens the details of photo N). Images are
embedded as base64 ``data:`` URIs and a Content-Security-Policy forbids
every network request, so the page opens offline and leaks nothing.

:func:`rebuild_locators` rebuilds a run's im2gps and PlaNet locators from its
feature cache with the settings it chose; :func:`benchmark_explanations`
draws their explanation figures for chosen test photos (:func:`select_photos`
spreads them over the error range); :func:`report_benchmark` does it all.

The page is plain string templating with :func:`html.escape` on every text
that comes from data (no template engine, no JavaScript library).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from im2gps.benchmark_rows import REFERENCE_ROWS
from im2gps.evaluate import THRESHOLDS_KM, format_distance
from im2gps.explain import OPEN_LICENSES

__all__ = ["OPEN_LICENSES", "benchmark_explanations", "rebuild_locators", "report_benchmark",
           "select_photos", "write_report"]

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
         ".svg": "image/svg+xml", ".gif": "image/gif", ".webp": "image/webp"}

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; vertical-align: top; }
th { background: #f0f0f0; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.ref td { color: #666; font-style: italic; }
.small { font-size: 11px; color: #666; }
.plots img { max-width: 48%; margin: 4px; border: 1px solid #ddd; }
details img { max-width: 900px; display: block; margin: 6px 0; border: 1px solid #ddd; }
#gallery td { padding: 1px 5px; vertical-align: middle; }
#gallery th.err { font-size: 12px; padding: 3px 4px; }
#gallery td.err { min-width: 3.2em; }
#gallery th.ref, #gallery td.ref { color: #777; font-style: italic; font-weight: normal; }
#gallery .sep { border-left: 2px solid #888; }
#gallery tr.photo { cursor: pointer; }
#gallery tr.photo:hover td { outline: 1px solid #99b; outline-offset: -1px; }
#gallery tr.photo.open td { border-bottom-color: transparent; background-color: #eef; }
#gallery td.place { max-width: 14em; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
#gallery td.pic { width: 50px; padding: 1px 2px; }
button.toggle { font: inherit; font-size: 12px; border: 1px solid #bbb; border-radius: 3px;
  background: #fafafa; min-width: 2.6em; padding: 0 3px; cursor: pointer; text-align: right; }
button.toggle::before { content: "\\25B8 "; color: #666; }
button.toggle[aria-expanded=true]::before { content: "\\25BE "; }
.thumb { width: 48px; height: 36px; object-fit: cover; display: block; }
.ph { display: flex; align-items: center; justify-content: center; width: 48px; height: 36px;
  background: #e4e4e4; color: #666; font-size: 10px; text-align: center; }
a.ph { color: #225; text-decoration: underline; }
tr.detail > td { background: #f7f7fb; padding: 8px 10px 10px; }
.detail-box { display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }
.detail-box p { margin: 0 0 6px; }
img.large { max-width: 320px; max-height: 260px; display: block; border: 1px solid #ddd; }
.placeholder { width: 160px; height: 100px; background: #e4e4e4; color: #777; font-size: 11px;
  display: flex; align-items: center; justify-content: center; text-align: center; }
table.estimates { margin: 0; font-size: 13px; }
table.estimates th { cursor: default; }
table.estimates tr.ref td { color: #777; font-style: italic; }
tr.detail figure { margin: 10px 0 0; }
tr.detail figure img { max-width: 100%; display: block; border: 1px solid #ddd; }
tr.detail figcaption { font-size: 12px; color: #555; }
.e0 { background: #66bd63; } .e1 { background: #a6d96a; } .e2 { background: #d9ef8b; }
.e3 { background: #fee08b; } .e4 { background: #fdae61; } .e5 { background: #f79a86; }
.ef { background: #d0d0d0; }
td.ref.e0, td.ref.e1, td.ref.e2, td.ref.e3, td.ref.e4, td.ref.e5, td.ref.ef {
  box-shadow: inset 0 0 0 99em rgba(255, 255, 255, 0.55); }
.legend span { padding: 0 5px; margin-right: 2px; color: #222; font-style: normal; }
#errors { color: #a00; white-space: pre-wrap; }
"""

# First script: report any error of the page (syntax errors in the second one included).
_ERROR_SCRIPT = """
window.addEventListener('error', function (e) {
  var box = document.getElementById('errors');
  box.hidden = false;
  box.textContent += (e.message || 'error') + ' (line ' + (e.lineno || '?') + ')\\n';
});
"""

_SORT_SCRIPT = r"""
(function () {
  function value(cell, numeric) {
    var v = cell.getAttribute('data-value');
    if (v === null) { v = cell.textContent.trim(); }
    if (!numeric) { return v.toLowerCase(); }
    var x = parseFloat(v);
    return isNaN(x) ? Infinity : x;
  }
  function sortTable(table, th, descending) {
    var index = Array.prototype.indexOf.call(th.parentNode.cells, th);
    var numeric = th.getAttribute('data-type') === 'num';
    var body = table.tBodies[0];
    // a detail row (class "detail") travels with the row above it
    var rows = Array.prototype.filter.call(body.rows, function (row) {
      return !row.classList.contains('detail');
    });
    rows.forEach(function (row, i) {
      row.setAttribute('data-order', i);
      var next = row.nextElementSibling;
      row.detailRow = next && next.classList.contains('detail') ? next : null;
    });
    rows.sort(function (a, b) {
      var x = value(a.cells[index], numeric), y = value(b.cells[index], numeric);
      var c = x < y ? -1 : (x > y ? 1 : 0);
      if (descending) { c = -c; }
      return c || (a.getAttribute('data-order') - b.getAttribute('data-order'));
    });
    rows.forEach(function (row) {
      body.appendChild(row);
      if (row.detailRow) { body.appendChild(row.detailRow); }
    });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) {
      h.removeAttribute('aria-sort');
    });
    th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    table.setAttribute('data-sorted', th.getAttribute('data-key') + (descending ? '/desc' : ''));
  }
  function toggle(row, open) {
    var detail = document.getElementById(row.getAttribute('data-detail'));
    if (!detail) { return; }
    var show = open === undefined ? detail.hidden : open;
    detail.hidden = !show;
    row.classList.toggle('open', show);
    var button = row.querySelector('button.toggle');
    if (button) { button.setAttribute('aria-expanded', show ? 'true' : 'false'); }
  }
  var tables = document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener('click', function () {
        sortTable(table, th, th.getAttribute('aria-sort') === 'ascending');
      });
    });
  });
  // a click on a gallery row (not on a link in it) opens or closes its details
  Array.prototype.forEach.call(document.querySelectorAll('tr[data-detail]'), function (row) {
    row.addEventListener('click', function (event) {
      if (event.target.closest('a')) { return; }
      toggle(row);
    });
  });
  // #sort=TABLE/KEY[/desc] sorts on opening; &open=N opens the details of photo N
  window.location.hash.replace(/^#/, '').split('&').forEach(function (part) {
    var match = /^sort=([\w-]+)\/([\w.-]+)(\/desc)?$/.exec(part);
    if (match) {
      var table = document.getElementById(match[1]);
      var th = table && table.querySelector('th[data-key="' + match[2] + '"]');
      if (th) { sortTable(table, th, Boolean(match[3])); }
    }
    match = /^open=(\d+)$/.exec(part);
    if (match) {
      var row = document.querySelector('tr[data-detail="detail-' + match[1] + '"]');
      if (row) { toggle(row, true); }
    }
  });
  document.body.setAttribute('data-ready', 'yes');
})();
"""


# -- small helpers ----------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _file_uri(path: str | os.PathLike) -> str:
    path = Path(path)
    return _data_uri(path.read_bytes(), _MIME.get(path.suffix.lower(), "image/png"))


def _thumbnail(path: str, size: int) -> str | None:
    """A JPEG data URI of the photo, longer side ``size`` px (None if unreadable)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return _data_uri(buffer.getvalue(), "image/jpeg")


def _pct(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{100 * value:.1f}"


def _km(value: float | None) -> str:
    return "failed" if value is None or not np.isfinite(value) else f"{value:,.0f}"


def _num(value: float | None) -> str:
    """A number for data-value (Infinity for failures)."""
    return "Infinity" if value is None or not np.isfinite(value) else f"{value:.6g}"


def _place(place: Any) -> str:
    return "" if place is None else ", ".join(p for p in (place.name, place.country_code) if p)


def _main_method(result: Any) -> str:
    from im2gps.benchmark import main_method

    return main_method(result.predictions)


# -- report ---------------------------------------------------------------------
def write_report(
    result: Any,
    path: str | os.PathLike,
    *,
    photos: Any = None,
    explanations: Mapping[str, Sequence[tuple[str, str | os.PathLike]]] | None = None,
    data_dir: str | os.PathLike | None = None,
    show_photos: str = "open",
    title: str | None = None,
    thumb_px: int = 256,
) -> Path:
    """Write the HTML report of a benchmark run.

    Parameters
    ----------
    result : BenchmarkResult
        The run (:func:`im2gps.benchmark.run_benchmark`).
    path : str or Path
        The HTML file to write.
    photos : PhotoCollection, optional
        The test photos, for thumbnails; by default ``result.test`` is read
        again (with ``data_dir``). Without them the gallery has no pictures.
    explanations : mapping of str to sequence of (str, path), optional
        Test photo id -> figures to show with it, as (caption, image file).
    data_dir : str or Path, optional
        Where named data sets live (see :mod:`im2gps.datasets`).
    show_photos : {"open", "all", "none"}, optional
        Which test photos are embedded: by default only those whose
        ``license`` column marks a Creative Commons or public-domain photo
        (:data:`OPEN_LICENSES`; credited with their author and licence), the
        others being links to their local file; or all of them; or none.
    title : str, optional
        Page title.
    thumb_px : int, optional
        Longer side of the larger photo in a gallery row's details (the row
        itself shows a small thumbnail).

    Returns
    -------
    Path
        ``path``.
    """
    if show_photos not in ("all", "open", "none"):
        raise ValueError(f"show_photos must be 'all', 'open' or 'none', not {show_photos!r}")
    path = Path(path)
    if photos is None and show_photos != "none":
        from im2gps import datasets

        try:
            photos = datasets.load(result.test, data_dir)
        except (FileNotFoundError, ValueError):
            photos = None
    title = title or f"{result.test} against the {result.database} database"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p>{result.n} test photos. Accuracy (%) within each distance with 95 % bootstrap "
        "intervals; median error in km; a photo a method failed on counts as a miss. "
        "Reference rows (in grey): <i>chance</i> (a random database photo's location), "
        "<i>prior</i> (the database's densest place), <i>oracle</i> (the database photo "
        "nearest to the truth). Click a column header to sort.</p>",
        '<div id="errors" hidden></div>',
        "<h2>Head to head</h2>",
        _results_table(result),
        _settings_block(result),
        "<h2>Plots</h2>",
        _plots(result),
        "<h2>Gallery</h2>",
        _gallery(result, photos, explanations or {}, show_photos, thumb_px),
    ]
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        f"<script>{_ERROR_SCRIPT}</script>",
        "</head>",
        "<body>",
        *body,
        f"<script>{_SORT_SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _results_table(result: Any) -> str:
    clears = result.clears("prior") if result.gains else {}
    clears_chance = result.clears("chance") if result.gains else {}
    header = ['<th data-key="method">Method</th>']
    radii = tuple(getattr(result, "thresholds", THRESHOLDS_KM))
    header += [f'<th data-key="acc{r:g}" data-type="num">{format_distance(r)}</th>'
               for r in radii]
    header += ['<th data-key="median" data-type="num">Median km</th>',
               '<th data-key="failed" data-type="num">Failed</th>',
               '<th data-key="chance">Clears chance at (km)</th>',
               '<th data-key="prior">Clears prior at (km)</th>']
    rows = []
    for name, report in result.reports.items():
        data = report.to_dict()
        cells = [f"<td>{_e(name)}</td>"]
        for r in radii:
            key = f"{r:g}"
            acc = data["acc"].get(key)
            lo, hi = data["acc_ci"].get(key, [None, None])
            cells.append(f'<td class="num" data-value="{_num(acc)}">{_pct(acc)} '
                         f'<span class="small">[{_pct(lo)}, {_pct(hi)}]</span></td>')
        median = data["median_km"]
        cells.append(f'<td class="num" data-value="{_num(median)}">{_km(median)}</td>')
        cells.append(f'<td class="num" data-value="{data["failed"]}">'
                     f'{data["failed"]}/{data["n"]}</td>')
        cells.append(f"<td>{_e(', '.join(clears_chance.get(name, [])) or '-')}</td>")
        cells.append(f"<td>{_e(', '.join(clears.get(name, [])) or '-')}</td>")
        css = ' class="ref"' if name in REFERENCE_ROWS else ""
        rows.append(f"<tr{css}>{''.join(cells)}</tr>")
    return ('<table class="sortable" id="results"><thead><tr>' + "".join(header)
            + "</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
            + '<p class="small">"Clears" = the paired bootstrap 95 % interval of the accuracy '
              "gain over that reference row lies above zero.</p>")


def _settings_block(result: Any) -> str:
    shown = {key: value for key, value in result.settings.items()
             if key in ("im2gps", "im2gps-cnn", "planet", "paper", "cv_score", "cv_features")}
    text = json.dumps({"settings": shown, "timings_s": result.timings}, indent=2,
                      default=lambda v: v.item() if hasattr(v, "item") else str(v))
    return ("<details><summary>Settings chosen by cross-validation on the database, and "
            f"timings</summary><pre>{_e(text)}</pre></details>")


def _plots(result: Any) -> str:
    from im2gps.plots import plot_error_cdf, plot_error_map, plot_size_curve

    main = _main_method(result)
    images = []
    with tempfile.TemporaryDirectory(prefix="im2gps-report-") as tmp:
        errors = {name: frame["error_km"].to_numpy() for name, frame in
                  result.predictions.items()}
        images.append(("Fraction of test photos within each error", plot_error_cdf(
            errors, Path(tmp) / "cdf.png")))
        frame = result.predictions[main]
        images.append((f"{main}: truth to estimate", plot_error_map(
            frame["true_lat"], frame["true_lon"], frame["lat"], frame["lon"],
            Path(tmp) / "map.png", title=f"{main}: test photos, truth to estimate")))
        if result.settings.get("size_curve"):
            images.append(("Accuracy against database size", plot_size_curve(
                pd.DataFrame(result.settings["size_curve"]), Path(tmp) / "size.png")))
        tags = [f'<img alt="{_e(alt)}" title="{_e(alt)}" src="{_file_uri(p)}">'
                for alt, p in images]
    return '<div class="plots">' + "".join(tags) + "</div>"


def _error_class(error: float) -> str:
    """The CSS class of an error: ``e0`` within the first threshold ... ``e5`` beyond all."""
    if not np.isfinite(error):
        return "ef"
    return f"e{int(np.searchsorted(THRESHOLDS_KM, error, side='left'))}"


def _gallery(result: Any, photos: Any, explanations: Mapping[str, Sequence[tuple[str, Any]]],
             show_photos: str, thumb_px: int) -> str:
    """The gallery: a compact sortable table, a row per test photo, and its detail row.

    Each photo row holds a small thumbnail, the true place and one shaded
    error column per method (reference rows last, in grey); a click on the
    row opens the detail row below it (estimates with their places and
    coordinates, the larger photo, the explanation figures).
    """
    from im2gps.gazetteer import nearest_place

    methods = [m for m in result.predictions if m not in REFERENCE_ROWS]
    methods += [m for m in result.predictions if m in REFERENCE_ROWS]
    first = result.predictions[methods[0]]
    ids = first["id"].astype(str).tolist()
    table = None if photos is None else photos.table.set_index(photos.table["id"].astype(str))
    truth = nearest_place(first["true_lat"].to_numpy(), first["true_lon"].to_numpy())
    estimates = {m: nearest_place(result.predictions[m]["lat"].to_numpy(),
                                  result.predictions[m]["lon"].to_numpy()) for m in methods}
    has_scene = "scene" in first
    header = ['<th data-key="n" data-type="num" title="test photo number">#</th>',
              '<th data-key="photo">Photo</th>', '<th data-key="truth">Truth</th>']
    if has_scene:
        header.append('<th data-key="scene">Scene</th>')
    first_ref = next((m for m in methods if m in REFERENCE_ROWS), None)
    for m in methods:
        css = ' class="err ref' + (' sep"' if m == first_ref else '"') if m in REFERENCE_ROWS \
            else ' class="err"'
        header.append(f'<th{css} data-key="err-{_e(m)}" data-type="num" '
                      f'title="{_e(m)}: error in km">{_e(m)}</th>')
    header.append('<th data-key="figures" data-type="num" title="explanation figures">'
                  "Fig.</th>")
    rows = []
    for i, photo_id in enumerate(ids):
        record = table.loc[photo_id] if table is not None and photo_id in table.index else None
        if isinstance(record, pd.DataFrame):
            record = record.iloc[0]
        small, large = _photo_cells(photo_id, record, show_photos, thumb_px)
        place = _place(truth[i])
        lat, lon = float(first["true_lat"].iloc[i]), float(first["true_lon"].iloc[i])
        cells = [f'<td class="num" data-value="{i + 1}"><button type="button" class="toggle" '
                 f'aria-expanded="false" aria-controls="detail-{i + 1}" '
                 f'title="details">{i + 1}</button></td>',
                 f'<td class="pic" data-value="{_e(Path(photo_id).name)}">{small}</td>',
                 f'<td class="place" data-value="{_e(place)}" title="{_e(place)}">'
                 f"{_e(place)}</td>"]
        if has_scene:
            cells.append(f"<td>{_e(first['scene'].iloc[i])}</td>")
        lines = []
        for m in methods:
            frame = result.predictions[m]
            error = float(frame["error_km"].iloc[i])
            failed = bool(frame["failed"].iloc[i])
            where = "failed" if failed else _place(estimates[m][i])
            ref = (" ref sep" if m == first_ref else " ref") if m in REFERENCE_ROWS else ""
            shade = _error_class(error)
            cells.append(f'<td class="num err {shade}{ref}" data-value="{_num(error)}" '
                         f'title="{_e(m)}: {_e(where)}">{_km(error)}</td>')
            coords = ("-" if failed else
                      f'{float(frame["lat"].iloc[i]):.3f}, {float(frame["lon"].iloc[i]):.3f}')
            row_css = "ref" if m in REFERENCE_ROWS else ""
            lines.append(f'<tr class="{row_css}"><td>{_e(m)}</td><td>{_e(where)}</td>'
                         f'<td class="num">{coords}</td>'
                         f'<td class="num {shade}">{_km(error)}</td></tr>')
        figures = list(explanations.get(photo_id, []))
        cells.append(f'<td class="num" data-value="{len(figures)}">{len(figures) or "-"}</td>')
        rows.append(f'<tr class="photo" data-id="{_e(photo_id)}" data-detail="detail-{i + 1}">'
                    f'{"".join(cells)}</tr>')
        scene = f", {_e(first['scene'].iloc[i])} scene" if has_scene else ""
        inner = "".join(f'<figure><img alt="{_e(caption)}" loading="lazy" src="{_file_uri(p)}">'
                        f"<figcaption>{_e(caption)}</figcaption></figure>"
                        for caption, p in figures)
        rows.append(
            f'<tr class="detail" id="detail-{i + 1}" hidden><td colspan="{len(cells)}">'
            f'<div class="detail-box"><div class="big">{large}</div><div>'
            f"<p><b>{_e(Path(photo_id).name)}</b>: taken near {_e(place) or '?'} "
            f"({lat:.3f}, {lon:.3f}){scene}</p>"
            '<table class="estimates"><thead><tr><th>Method</th><th>Estimate (nearest place)'
            "</th><th>lat, lon</th><th>Error km</th></tr></thead><tbody>"
            + "".join(lines) + "</tbody></table>"
            + ("" if figures else '<p class="small">No explanation figures for this photo.</p>')
            + f"</div></div>{inner}</td></tr>")
    radii = tuple(THRESHOLDS_KM)
    legend = "".join(f'<span class="e{k}">&le; {_e(format_distance(r))}</span>'
                     for k, r in enumerate(radii))
    legend += (f'<span class="e{len(radii)}">&gt; {_e(format_distance(radii[-1]))}</span>'
               '<span class="ef">failed</span>')
    return ('<p class="small">Error (km) of each estimate, shaded by distance: '
            f'<span class="legend">{legend}</span>. Reference rows (grey, last) for scale. '
            "Hover an error for the estimated place; click a row for the details "
            "(estimated places, coordinates, larger photo, explanation figures); click a "
            "column header to sort.</p>"
            '<table class="sortable" id="gallery"><thead><tr>'
            + "".join(header) + "</tr></thead><tbody>\n" + "\n".join(rows)
            + "\n</tbody></table>")


def _photo_cells(photo_id: str, record: Any, show_photos: str, thumb_px: int
                 ) -> tuple[str, str]:
    """The photo of a gallery row: (small thumbnail for the row, larger one for its details).

    A photo is embedded only when ``show_photos`` allows it: with ``"open"``
    only under a licence of :data:`OPEN_LICENSES` (credited in the details);
    any other shows a placeholder with a link to its local file.
    """
    if record is None or show_photos == "none":
        return ('<span class="ph">no photo</span>',
                '<div class="placeholder">no photo shown</div>')
    license_code = record.get("license") if hasattr(record, "get") else None
    try:
        license_code = int(license_code)
    except (TypeError, ValueError):
        license_code = None
    if show_photos == "open" and license_code not in OPEN_LICENSES:
        # not embedded (its licence does not allow it); a link opens the local file
        link = _e(Path(str(record["image"])).resolve().as_uri())
        why = "all rights reserved" if license_code == 0 else "licence unknown"
        return (f'<a class="ph" href="{link}" title="not embedded ({why}): open the local '
                'file">file</a>',
                f'<div class="placeholder">not embedded<br>({why})<br>'
                f'<a href="{link}">open the local file</a></div>')
    small = _thumbnail(str(record["image"]), 96)
    large = _thumbnail(str(record["image"]), thumb_px)
    if small is None or large is None:
        return ('<span class="ph">unreadable</span>',
                '<div class="placeholder">unreadable</div>')
    credit = ""
    if show_photos == "open":
        credit = (f'<p class="small">by {_e(record.get("author", "?"))}, '
                  f"{_e(OPEN_LICENSES[license_code])}</p>")
    return (f'<img class="thumb" alt="{_e(photo_id)}" src="{small}">',
            f'<img class="large" alt="{_e(photo_id)}" loading="lazy" src="{large}">{credit}')


# -- explanation figures of a run ------------------------------------------------
def select_photos(result: Any, n: int | None, method: str | None = None) -> np.ndarray:
    """Test photo positions spread over the error range of ``method``.

    ``n`` photos at evenly spaced ranks of the method's error (best, worst
    and between); all photos when ``n`` is None or not smaller than the set.
    """
    method = method or _main_method(result)
    errors = result.predictions[method]["error_km"].to_numpy()
    if n is None or n >= errors.size:
        return np.arange(errors.size)
    order = np.argsort(errors, kind="stable")
    return np.sort(order[np.unique(np.round(np.linspace(0, errors.size - 1, max(int(n), 1)))
                                   .astype(np.int64))])


def rebuild_locators(
    result: Any,
    methods: Sequence[str] | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    jobs: int = 1,
    progress: bool = False,
) -> tuple[Any, dict[str, Any], dict[str, np.ndarray]]:
    """The locators of a run, rebuilt from its feature cache with the settings it chose.

    Parameters
    ----------
    result : BenchmarkResult
        The run.
    methods : sequence of str, optional
        Rows to rebuild (default: every im2gps and PlaNet row of the run).
    data_dir, cache_dir : str or Path, optional
        As for :func:`~im2gps.benchmark.run_benchmark`; the run's database
        index and test descriptors are read from ``cache_dir`` (and rebuilt
        there if missing).
    jobs : int, optional
        Processes for any feature extraction that is not cached.
    progress : bool, optional
        Progress bars.

    Returns
    -------
    test : PhotoCollection
        The test photos, in the run's order.
    locators : dict of str to Im2GPS or PlaNet
        Fitted locators by row name; each locates raw photos too (PlaNet
        carries the index's CNN extractor; it is retrained with its seed).
    matrices : dict of str to numpy.ndarray
        The test photos' descriptors (NaN rows for photos that failed).
    """
    from im2gps import benchmark as bench
    from im2gps import datasets

    rows = list(result.reports)
    methods = [m for m in (methods or rows)
               if m in rows and (m == "planet" or m.startswith("im2gps"))]
    test = datasets.load(result.test, data_dir)
    if test.ids != result.predictions[rows[0]]["id"].astype(str).tolist():
        raise ValueError(f"{result.test}: the test photos differ from the run's")
    database = datasets.load(result.database, data_dir)
    # The run's own (private) cache helpers: the same index and descriptors it used.
    cache = Path(cache_dir) if cache_dir is not None else bench.default_cache_dir()
    index = bench.database_index(database, bench.needed_features(rows), cache,
                                  jobs, progress)
    matrices, _ = bench.query_features(test, index, cache, jobs, progress)
    locators: dict[str, Any] = {}
    for method in methods:
        if method == "planet":
            from im2gps.planet import PlaNet

            groups = index.photos["author"] if "author" in index.photos else None
            coords = index.coords
            model = PlaNet(**result.settings["planet"]).fit(
                np.asarray(index.features("cnn")), coords[:, 0], coords[:, 1], groups=groups)
            model.extractor_ = index.extractors["cnn"]
            locators[method] = model
        else:
            locators[method] = bench.im2gps_locator(method, index, result.settings)
    return test, locators, matrices


def benchmark_explanations(
    result: Any,
    out: str | os.PathLike,
    photos: Sequence[int] | np.ndarray | None = None,
    *,
    methods: Sequence[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    jobs: int = 1,
    n_thumbnails: int = 8,
    fmt: str = "jpg",
    show_photos: str = "open",
    progress: bool = False,
) -> dict[str, list[tuple[str, Path]]]:
    """Explanation figures of a run's locators for some test photos.

    The locators are rebuilt by :func:`rebuild_locators`; im2gps rows give
    neighbour figures (:func:`~im2gps.explain.explain_neighbours`), the
    PlaNet row probability maps (:func:`~im2gps.explain.planet_probability_map`).

    Parameters
    ----------
    result : BenchmarkResult
        The run.
    out : str or Path
        Folder for the figures (``<method>/<photo>.<fmt>``).
    photos : array_like of int, optional
        Test photo positions (default: all).
    methods : sequence of str, optional
        Rows to explain (default: every im2gps and PlaNet row of the run).
    data_dir, cache_dir : str or Path, optional
        As for the run.
    jobs : int, optional
        Processes for any feature extraction that is not cached.
    n_thumbnails : int, optional
        Neighbour thumbnails per figure.
    fmt : str, optional
        Image format of the figures (``"jpg"`` keeps reports small).
    show_photos : {"open", "all", "none"}, optional
        Which photos the figures draw, by the rule of the gallery
        (:func:`write_report`): the test photo and its database neighbours
        when their ``license`` is one of :data:`OPEN_LICENSES`; or all; or
        none (grey placeholders instead).
    progress : bool, optional
        Progress bars.

    Returns
    -------
    dict of str to list of (str, Path)
        Test photo id -> (caption, figure file), ready for :func:`write_report`.
    """
    from im2gps.explain import explain_neighbours, planet_probability_map

    if show_photos not in ("all", "open", "none"):
        raise ValueError(f"show_photos must be 'all', 'open' or 'none', not {show_photos!r}")
    rows = list(result.reports)
    methods = [m for m in (methods or rows)
               if m in rows and (m == "planet" or m.startswith("im2gps"))]
    n = len(result.predictions[rows[0]])
    positions = np.arange(n) if photos is None else np.asarray(photos, np.int64)
    figures: dict[str, list[tuple[str, Path]]] = {}
    if not methods or positions.size == 0:
        return figures
    test, locators, matrices = rebuild_locators(result, methods, data_dir=data_dir,
                                                cache_dir=cache_dir, jobs=jobs,
                                                progress=progress)
    out = Path(out)
    truth = test.coords
    shown_licenses = {"all": None, "open": set(OPEN_LICENSES), "none": set()}[show_photos]
    test_licenses = (pd.to_numeric(test.table["license"], errors="coerce").to_numpy()
                     if "license" in test.table else np.full(n, np.nan))
    from tqdm.auto import tqdm

    bar = tqdm(total=len(locators) * positions.size, desc="report figures", unit="figure",
               disable=not progress)
    for method, locator in locators.items():
        if method == "planet":
            predictions = locator.predict_embeddings(matrices["cnn"][positions])
        else:
            predictions = locator.predict_features(
                {name: matrices[name][positions] for name in locator.index_.feature_names})
        for j, i in enumerate(positions.tolist()):
            if predictions.failed[j]:
                continue
            photo_id = test.ids[i]
            # percent-encoded: one file per id ("a/b.jpg" and "a_b.jpg" stay apart)
            target = out / method / f"{quote(photo_id, safe='')}.{fmt}"
            if method == "planet":
                record = planet_probability_map(locator, predictions.cell_probs[j], target,
                                                truth=tuple(truth[i]), dpi=70)
                caption = "planet: probability of each cell"
            else:
                record = explain_neighbours(locator, test.paths[i], target,
                                            predictions=predictions, row=j,
                                            n_thumbnails=n_thumbnails, truth=tuple(truth[i]),
                                            shown_licenses=shown_licenses,
                                            show_query=_may_show(test_licenses[i],
                                                                 show_photos),
                                            dpi=70)
                caption = f"{method}: nearest neighbours and their vote"
            record["figure"].clear()
            figures.setdefault(photo_id, []).append((caption, Path(record["path"])))
            bar.update()
    bar.close()
    return figures


def _may_show(license_code: float, show_photos: str) -> bool:
    """Whether a photo of licence ``license_code`` (NaN: unknown) may be shown."""
    if show_photos == "all":
        return True
    return show_photos == "open" and bool(np.isfinite(license_code)) \
        and int(license_code) in OPEN_LICENSES


def report_benchmark(
    result: Any,
    path: str | os.PathLike,
    explain: int | None = 24,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    jobs: int = 1,
    show_photos: str = "open",
    progress: bool = False,
) -> Path:
    """:func:`write_report` with explanation figures for ``explain`` photos.

    The photos are spread over the error range of the main method
    (:func:`select_photos`); ``explain=None`` explains every photo, ``0`` none.
    ``progress`` shows a progress bar (on stderr) over the figures.
    """
    with tempfile.TemporaryDirectory(prefix="im2gps-explain-") as tmp:
        figures = {}
        if explain is None or explain > 0:
            figures = benchmark_explanations(result, tmp, select_photos(result, explain),
                                             data_dir=data_dir, cache_dir=cache_dir, jobs=jobs,
                                             show_photos=show_photos, progress=progress)
        return write_report(result, path, explanations=figures, data_dir=data_dir,
                            show_photos=show_photos)

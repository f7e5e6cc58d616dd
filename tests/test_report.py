"""im2gps.report: the HTML report of a real benchmark run, opened in headless Chromium.

The browser test needs Debian's Chromium (``apt-get install -y chromium``,
which ``.ci/run`` installs): the page must load with no console message and
no script error, its tables must be there, sorting must work, and a
screenshot must come out.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from im2gps.benchmark import run_benchmark
from im2gps.explain import OPEN_LICENSES
from im2gps.report import benchmark_explanations, select_photos, write_report

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHROMIUM = Path("/usr/bin/chromium")
LOCATORS = ["chance", "prior", "oracle", "im2gps-tiny", "im2gps-color"]
N_TEST = 24


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    db = pd.read_csv(DATA / "im2gps2k" / "photos.csv").iloc[:150].copy()
    db["image"] = [str(DATA / "im2gps2k" / p) for p in db["image"]]
    db.to_csv(tmp / "db.csv", index=False)
    test = pd.read_csv(DATA / "im2gps237" / "photos.csv").iloc[:N_TEST].copy()
    test["image"] = [str(DATA / "im2gps237" / p) for p in test["image"]]
    test.to_csv(tmp / "test.csv", index=False)
    return tmp


@pytest.fixture(scope="module")
def result(sets):
    return run_benchmark(sets / "db.csv", sets / "test.csv", locators=LOCATORS,
                         cache_dir=sets / "cache", jobs=1, n_boot=100, size_curve=False,
                         progress=False)


@pytest.fixture(scope="module")
def explanations(result, sets):
    chosen = select_photos(result, 3)
    return chosen, benchmark_explanations(result, sets / "figures", chosen,
                                          cache_dir=sets / "cache")


@pytest.fixture(scope="module")
def report(result, explanations, sets) -> Path:
    return write_report(result, sets / "report.html", explanations=explanations[1],
                        show_photos="all")


class _Row(list):
    """The cells' attributes of a table row, with the row's own attributes."""

    def __init__(self, attrs: dict[str, str]) -> None:
        super().__init__()
        self.attrs = attrs


class _Page(HTMLParser):
    """Collects tags with their attributes, and the attributes of every table row and cell.

    Rows of a table nested in another one's cell go to the inner table (its
    id, or "" without one).
    """

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.tables: dict[str, list[_Row]] = {}
        self._stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attrs))
        if tag == "table":
            self._stack.append(attrs.get("id", ""))
            self.tables.setdefault(self._stack[-1], [])
        elif tag == "tr" and self._stack:
            self.tables[self._stack[-1]].append(_Row(attrs))
        elif tag in ("td", "th") and self._stack:
            self.tables[self._stack[-1]][-1].append(attrs)

    def handle_endtag(self, tag):
        if tag == "table" and self._stack:
            self._stack.pop()


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _photo_rows(page: _Page) -> list[_Row]:
    return [row for row in page.tables["gallery"] if "photo" in row.attrs.get("class", "")]


def _gallery_rows(text: str) -> dict[str, tuple[str, str]]:
    """Photo id -> (HTML of its gallery row, HTML of its detail row)."""
    pattern = re.compile(r'(<tr class="photo" data-id="([^"]+)".*?</tr>)\n'
                         r'(<tr class="detail".*?</tr>)(?=\n<tr class="photo"|\n</tbody>)', re.S)
    return {m.group(2): (m.group(1), m.group(3)) for m in pattern.finditer(text)}


#: The gallery's error columns: the methods, then the reference rows.
REFS = ["chance", "prior", "oracle"]
ERROR_KEYS = [f"err-{m}" for m in LOCATORS if m not in REFS] + [f"err-{m}" for m in REFS]


def test_explanations_of_the_run(result, explanations):
    chosen, figures = explanations
    errors = result.predictions["im2gps-tiny"]["error_km"].to_numpy()
    assert len(chosen) == 3 and errors[chosen].min() == errors.min()
    assert errors[chosen].max() == errors.max()  # spread from the best to the worst
    ids = result.predictions["chance"]["id"].tolist()
    assert set(figures) == {ids[i] for i in chosen}
    for photo_figures in figures.values():
        assert [c.split(":")[0] for c, _ in photo_figures] == ["im2gps-tiny", "im2gps-color"]
        for _, path in photo_figures:
            record = json.loads(path.with_suffix(".json").read_text())
            assert record["thumbnails"] == 8 and path.stat().st_size > 10_000
    # the figure's estimate is the run's estimate for that photo
    i = int(chosen[0])
    _, path = figures[ids[i]][0]
    record = json.loads(path.with_suffix(".json").read_text())
    frame = result.predictions["im2gps-tiny"]
    assert record["estimate"]["lat"] == pytest.approx(frame["lat"][i])
    assert record["error_km"] == pytest.approx(frame["error_km"][i], rel=1e-6)


def test_report_is_self_contained(report, result, explanations):
    text = report.read_text(encoding="utf-8")
    page = _parse(text)
    sources = [a["src"] for tag, a in page.tags if "src" in a]
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert not [a for tag, a in page.tags if tag in ("link", "iframe", "object", "embed")]
    assert not [a for tag, a in page.tags if tag == "script" and "src" in a]
    assert not re.search(r"url\(", text)
    csp = [a["content"] for tag, a in page.tags
           if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]
    # the head-to-head table: a row per method, in order, with its accuracy
    rows = page.tables["results"]
    assert len(rows) == 1 + len(LOCATORS)
    values = [float(r[3]["data-value"]) for r in rows[1:]]  # accuracy within 200 km
    assert values == pytest.approx([result.reports[m].acc_at(200) for m in LOCATORS], abs=1e-6)
    # the gallery: a row per test photo, an error column per method (reference rows
    # last), every thumbnail, and a detail row per photo, hidden
    gallery = page.tables["gallery"]
    rows = _photo_rows(page)
    details = [r for r in gallery if r.attrs.get("class") == "detail"]
    assert len(rows) == len(details) == N_TEST and len(gallery) == 1 + 2 * N_TEST
    assert all("hidden" in r.attrs for r in details)
    assert [r.attrs["id"] for r in details] == [r.attrs["data-detail"] for r in rows]
    assert all(len(r) == 1 and int(r[0]["colspan"]) == len(gallery[0]) for r in details)
    header = [a.get("data-key") for a in gallery[0]]
    assert [k for k in header if k.startswith("err-")] == ERROR_KEYS
    assert all("ref" in a["class"] for a in gallery[0] if a.get("data-key") in
               [f"err-{m}" for m in REFS])
    column = header.index("err-im2gps-tiny")
    errors = [float(r[column]["data-value"]) for r in rows]
    assert errors == pytest.approx(result.predictions["im2gps-tiny"]["error_km"].tolist(),
                                   rel=1e-5)
    # shaded by the standard distances: e0 within 1 km ... e5 beyond 2,500 km
    shades = [int(re.search(r"\be(\d)\b", r[column]["class"]).group(1)) for r in rows]
    assert shades == np.searchsorted([1, 25, 200, 750, 2500], errors).tolist()
    thumbs = [a for tag, a in page.tags if tag == "img" and a.get("class") == "thumb"]
    large = [a for tag, a in page.tags if tag == "img" and a.get("class") == "large"]
    assert len(thumbs) == len(large) == N_TEST
    # the details: each method's estimate, its place and coordinates; figures there only
    by_id = _gallery_rows(text)
    assert list(by_id) == result.predictions["chance"]["id"].tolist()
    frame = result.predictions["im2gps-tiny"]
    for i, (photo_id, (row, detail)) in enumerate(by_id.items()):
        estimates = _parse(detail).tables[""]
        assert [r.attrs.get("class", "") == "ref" for r in estimates[1:]] == [
            k[4:] in REFS for k in ERROR_KEYS]
        assert f'{frame["lat"][i]:.3f}, {frame["lon"][i]:.3f}' in detail
        assert "<figure>" not in row and "<details" not in row
        assert (detail.count("<figure>") == 2) == (photo_id in explanations[1])
    plots = [a["title"] for tag, a in page.tags if tag == "img" and not a.get("class")
             and "figure" not in a.get("alt", "") and ":" not in a.get("alt", "")]
    assert "Fraction of test photos within each error" in plots


def test_open_photos_only(result, sets):
    """By default only openly licensed photos are embedded; the others link to their file."""
    path = write_report(result, sets / "open.html")
    text = path.read_text(encoding="utf-8")
    page = _parse(text)
    table = pd.read_csv(sets / "test.csv")
    table["id"] = table["image"].astype(str)
    open_ = table["license"].isin(list(OPEN_LICENSES))
    assert 0 < int(open_.sum()) < N_TEST
    thumbs = [a for tag, a in page.tags if tag == "img" and a.get("class") == "thumb"]
    assert len(thumbs) == int(open_.sum())
    # keyed by resolved path: ids are resolved when ../shared is a symbolic link
    rows = {str(Path(key).resolve()): value for key, value in _gallery_rows(text).items()}
    assert len(rows) == N_TEST
    for _, photo in table.iterrows():
        row, detail = rows[str(Path(photo["id"]).resolve())]
        link = Path(photo["image"]).resolve().as_uri()
        if photo["license"] in OPEN_LICENSES:
            assert "data:image/jpeg" in row and "data:image/jpeg" in detail
            assert f'by {photo["author"]}, {OPEN_LICENSES[photo["license"]]}' in detail
            assert "file://" not in row + detail
        else:  # not embedded: a link to the local file, in the row and in the details
            assert "data:image" not in row + detail
            assert f'href="{link}"' in row and f'href="{link}"' in detail
            assert "all rights reserved" in detail
    none = _parse(write_report(result, sets / "none.html", show_photos="none").read_text())
    assert not [a for tag, a in none.tags if tag == "img" and a.get("class") in
                ("thumb", "large")]


@pytest.mark.parametrize("show_photos", ["open", "none", "all"])
def test_explanation_figures_follow_the_licence_rule(result, sets, show_photos):
    """The figures draw the query and its neighbours by the gallery's rule."""
    table = pd.read_csv(sets / "test.csv")
    open_ = table["license"].isin(list(OPEN_LICENSES)).to_numpy()
    chosen = [int(np.flatnonzero(open_)[0]), int(np.flatnonzero(~open_)[0])]
    figures = benchmark_explanations(result, sets / f"figures-{show_photos}", chosen,
                                     methods=["im2gps-tiny"], cache_dir=sets / "cache",
                                     show_photos=show_photos)
    assert len(figures) == 2
    figures = {str(Path(key).resolve()): value for key, value in figures.items()}
    seen = set()
    for i in chosen:
        (_, path), = figures[str(Path(table["image"][i]).resolve())]
        record = json.loads(path.with_suffix(".json").read_text())
        expected = {"all": True, "none": False, "open": bool(open_[i])}[show_photos]
        assert record["query_shown"] is expected
        for n in record["neighbours"]:
            seen.add(n["license"] in OPEN_LICENSES)
            assert n["shown"] is {"all": True, "none": False,
                                  "open": n["license"] in OPEN_LICENSES}[show_photos]
        assert record["images"] == int(expected) + sum(n["shown"] for n in record["neighbours"])
        if show_photos == "none":
            assert record["images"] == 0 and record["hidden"] == record["thumbnails"]
    assert seen == {True, False}  # both kinds of neighbour were drawn


def _chromium(args: list[str], user_dir: Path) -> subprocess.CompletedProcess:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium "
                    "(apt-get install -y chromium), as .ci/run does")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={user_dir}"]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True,
                          timeout=120)


def test_report_in_headless_chromium(report, result, tmp_path):
    url = report.resolve().as_uri()
    # sorted on opening by the im2gps-tiny error, worst first, with photo 2's details open
    run = _chromium(["--dump-dom", f"{url}#sort=gallery/err-im2gps-tiny/desc&open=2"],
                    tmp_path / "profile")
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console  # no console message at all: no error, no blocked request
    page = _parse(run.stdout)
    body = [a for tag, a in page.tags if tag == "body"][0]
    assert body.get("data-ready") == "yes"  # the script ran to its end
    errors = re.search(r'<div id="errors"[^>]*>(.*?)</div>', run.stdout, re.S)
    assert errors and errors.group(1).strip() == ""
    assert len(page.tables["results"]) == 1 + len(LOCATORS)
    gallery = page.tables["gallery"]
    assert len(gallery) == 1 + 2 * N_TEST
    table = [a for tag, a in page.tags if tag == "table" and a.get("id") == "gallery"][0]
    assert table.get("data-sorted") == "err-im2gps-tiny/desc"
    rows = _photo_rows(page)
    column = [a.get("data-key") for a in gallery[0]].index("err-im2gps-tiny")
    shown = [float(r[column]["data-value"]) for r in rows]
    expected = np.sort(result.predictions["im2gps-tiny"]["error_km"].to_numpy())[::-1]
    assert shown == pytest.approx(expected.tolist(), rel=1e-5)
    # every detail row moved with its photo row; only photo 2's is open
    for above, detail in zip(gallery[1::2], gallery[2::2], strict=True):
        assert detail.attrs["id"] == above.attrs["data-detail"]
        assert ("hidden" in detail.attrs) == (detail.attrs["id"] != "detail-2")
    # and a screenshot
    shot = tmp_path / "report.png"
    run = _chromium([f"--screenshot={shot}", "--window-size=1280,1600", url],
                    tmp_path / "profile2")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape == (1600, 1280, 3) and image.std() > 20


#: Appended to a copy of the report: measures the page, opens every detail row by a
#: click on its row (and every <details>), measures again, then closes one row.
_PROBE = """<script>
var root = document.documentElement, body = document.body;
var rows = document.querySelectorAll('#gallery tr.photo');
var gallery = document.getElementById('gallery');
body.setAttribute('data-width-closed', root.scrollWidth);
body.setAttribute('data-gallery-closed', gallery.getBoundingClientRect().right);
body.setAttribute('data-row-px', rows[rows.length - 1].getBoundingClientRect().bottom
                  - rows[0].getBoundingClientRect().top);
Array.prototype.forEach.call(rows, function (row) { row.click(); });
Array.prototype.forEach.call(document.querySelectorAll('details'), function (d) {
  d.open = true;
});
body.setAttribute('data-open', document.querySelectorAll('tr.detail:not([hidden])').length);
body.setAttribute('data-width-open', root.scrollWidth);
body.setAttribute('data-gallery-open', gallery.getBoundingClientRect().right);
rows[0].querySelector('button.toggle').click();
body.setAttribute('data-after-close',
                  document.querySelectorAll('tr.detail:not([hidden])').length);
</script>"""


def test_gallery_fits_a_laptop_screen(report, tmp_path):
    """At 1280 px nothing scrolls sideways, details open or not; a row is one line."""
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"),
                     encoding="utf-8")
    run = _chromium(["--dump-dom", "--window-size=1280,800", probe.resolve().as_uri()],
                    tmp_path / "profile")
    assert run.returncode == 0, run.stderr[-2000:]
    body = [a for tag, a in _parse(run.stdout).tags if tag == "body"][0]
    assert body.get("data-ready") == "yes"
    assert int(body["data-width-closed"]) <= 1280
    assert float(body["data-gallery-closed"]) <= 1280  # the table itself, not only the page
    assert int(body["data-open"]) == N_TEST  # a click on a row opens its details
    assert int(body["data-width-open"]) <= 1280
    assert float(body["data-gallery-open"]) <= 1280
    assert int(body["data-after-close"]) == N_TEST - 1  # and a second click closes them
    # compact rows: at least 15 photos on an 800 px screen
    assert float(body["data-row-px"]) / (N_TEST - 1) < 800 / 15


def test_cli_benchmark_report(sets):
    out = sets / "cli.html"
    run = subprocess.run(
        [sys.executable, "-m", "im2gps", "benchmark", "--database", str(sets / "db.csv"),
         "--test", str(sets / "test.csv"), "--locators", ",".join(LOCATORS),
         "--cache", str(sets / "cache"), "--jobs", "1", "--n-boot", "50", "--no-size-curve",
         "--no-progress", "--report", str(out), "--report-explain", "2"],
        capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert f"report written to {out}" in run.stderr
    page = _parse(out.read_text(encoding="utf-8"))
    assert len(_photo_rows(page)) == N_TEST
    explained = [a for tag, a in page.tags if tag == "img" and "nearest neighbours" in
                 a.get("alt", "")]
    assert len(explained) == 2 * 2  # two photos, two im2gps rows

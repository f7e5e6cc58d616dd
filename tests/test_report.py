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
    return write_report(result, sets / "report.html", explanations=explanations[1])


class _Page(HTMLParser):
    """Collects tags with their attributes, and the text of every table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.tables: dict[str, list[list[dict[str, str]]]] = {}
        self._table: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table = attrs.get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self.tables[self._table][-1].append(attrs)

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


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
    # the gallery: a row per test photo, an error column per method, every thumbnail
    gallery = page.tables["gallery"]
    assert len(gallery) == 1 + N_TEST
    header = [a.get("data-key") for a in gallery[0]]
    assert [k for k in header if k.startswith("err-")] == [f"err-{m}" for m in LOCATORS]
    column = header.index("err-im2gps-tiny")
    errors = [float(r[column]["data-value"]) for r in gallery[1:]]
    assert errors == pytest.approx(result.predictions["im2gps-tiny"]["error_km"].tolist(),
                                   rel=1e-5)
    thumbs = [a for tag, a in page.tags if tag == "img" and a.get("class") == "thumb"]
    assert len(thumbs) == N_TEST
    explained = [a for tag, a in page.tags if tag == "img" and "nearest neighbours" in
                 a.get("alt", "")]
    assert len(explained) == 2 * len(explanations[0])
    plots = [a["title"] for tag, a in page.tags if tag == "img" and not a.get("class")
             and "figure" not in a.get("alt", "") and ":" not in a.get("alt", "")]
    assert "Fraction of test photos within each error" in plots


def test_open_photos_only(result, sets):
    path = write_report(result, sets / "open.html", show_photos="open")
    page = _parse(path.read_text(encoding="utf-8"))
    licenses = pd.read_csv(sets / "test.csv")["license"]
    thumbs = [a for tag, a in page.tags if tag == "img" and a.get("class") == "thumb"]
    assert len(thumbs) == int(licenses.isin(list(OPEN_LICENSES)).sum()) < N_TEST
    text = path.read_text(encoding="utf-8")
    assert text.count("all rights reserved") == int((licenses == 0).sum())
    links = [a["href"] for tag, a in page.tags if tag == "a" and a.get("href", "").startswith(
        "file://")]  # the photos not embedded link to their local file
    assert len(links) == int((~licenses.isin(list(OPEN_LICENSES))).sum())
    none = _parse(write_report(result, sets / "none.html", show_photos="none").read_text())
    assert not [a for tag, a in none.tags if tag == "img" and a.get("class") == "thumb"]


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
    # sorted on opening by the im2gps-tiny error, worst first
    run = _chromium(["--dump-dom", f"{url}#sort=gallery/err-im2gps-tiny/desc"],
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
    assert len(gallery) == 1 + N_TEST
    table = [a for tag, a in page.tags if tag == "table" and a.get("id") == "gallery"][0]
    assert table.get("data-sorted") == "err-im2gps-tiny/desc"
    column = [a.get("data-key") for a in gallery[0]].index("err-im2gps-tiny")
    shown = [float(r[column]["data-value"]) for r in gallery[1:]]
    expected = np.sort(result.predictions["im2gps-tiny"]["error_km"].to_numpy())[::-1]
    assert shown == pytest.approx(expected.tolist(), rel=1e-5)
    # and a screenshot
    shot = tmp_path / "report.png"
    run = _chromium([f"--screenshot={shot}", "--window-size=1280,1600", url],
                    tmp_path / "profile2")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape == (1600, 1280, 3) and image.std() > 20


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
    assert len(page.tables["gallery"]) == 1 + N_TEST
    explained = [a for tag, a in page.tags if tag == "img" and "nearest neighbours" in
                 a.get("alt", "")]
    assert len(explained) == 2 * 2  # two photos, two im2gps rows

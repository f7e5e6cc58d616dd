"""Batch ``im2gps locate`` (im2gps.batch): folders and CSVs in, results streamed out,
progress on stderr only; and what a one-photo locate imports."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pandas as pd
import pytest

from im2gps.batch import CSV_COLUMNS, JsonLinesWriter, expand_inputs
from im2gps.cli import EXIT_OK, EXIT_PARTIAL, LOCATE_CHUNK, MAX_PIXELS, main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "im2gps", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def index_dir(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("batch")
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:60].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp / "db.csv", index=False)
    out = tmp / "index"
    assert main(["index", "build", str(tmp / "db.csv"), "--out", str(out),
                 "--features", "tiny,color", "--no-progress"]) == EXIT_OK
    return out


def test_expand_folders_and_csvs(data_dir, tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    names = sorted(p.name for p in (data_dir / "im2gps237" / "images").iterdir())[:3]
    for name, where in zip(names, [folder, folder / "sub", folder], strict=True):
        (where / name).symlink_to(data_dir / "im2gps237" / "images" / name)
    (folder / "notes.txt").write_text("not a photo")
    (folder / ".hidden.jpg").write_text("hidden")
    found = expand_inputs([folder])
    assert sorted(p.rsplit("/", 1)[1] for p in found) == names
    listed = expand_inputs([data_dir / "im2gps237" / "photos.csv"])
    assert len(listed) == 237 and all(p.endswith(".jpg") for p in listed)
    assert listed[0] == str(data_dir / "im2gps237" / "images" / "104123223.jpg")
    bad = tmp_path / "bad.csv"
    bad.write_text("lat,lon\n1,2\n")
    with pytest.raises(ValueError, match="no image column"):
        expand_inputs([bad])
    # a path that does not exist is kept: it fails alone when read
    assert expand_inputs([tmp_path / "nothing.jpg", folder])[0] == str(tmp_path / "nothing.jpg")


def test_batch_inputs_and_outputs_that_cannot_work(index_dir, data_dir, tmp_path):
    """A missing photo fails alone (exit 1, the others answered); --out naming a folder or
    an input, and global options after the command, are usage errors before any work."""
    photo = str(data_dir / "im2gps237" / "images" / "104123223.jpg")
    result = run("locate", str(index_dir), photo, str(tmp_path / "nope.jpg"), "--jsonl",
                 "--no-progress")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1 and [d["failed"] for d in lines] == [False, True]
    assert "file not found" in lines[1]["error"]
    result = run("locate", str(index_dir), photo, "--out", str(tmp_path))
    assert result.returncode == 2 and "a folder; give the name of a CSV file" in result.stderr
    listing = tmp_path / "list.csv"
    listing.write_text(f"image\n{photo}\n")
    result = run("locate", str(index_dir), str(listing), "--out", str(listing))
    assert result.returncode == 2 and "is also an input" in result.stderr
    assert listing.read_text() == f"image\n{photo}\n"
    # more neighbours than the vote's k cannot be shown: said, and how to get them
    result = run("locate", str(index_dir), photo, "--json", "--k", "5", "--neighbors", "8")
    assert result.returncode == 0 and len(json.loads(result.stdout)["neighbors"]) == 5
    assert "--neighbors 8: a query finds the k = 5 neighbours" in result.stderr
    result = run("locate", str(index_dir), photo, "--threads", "2")
    assert result.returncode == 2 and "--threads goes before the command" in result.stderr
    assert result.stderr.startswith("usage: im2gps locate ")


def test_jsonl_and_csv_stream_while_the_batch_runs(index_dir, data_dir, tmp_path):
    # three chunks: the last two take about a second after the first chunk's answers are out
    table = pd.read_csv(data_dir / "im2gps237" / "photos.csv").iloc[:2 * LOCATE_CHUNK + 8].copy()
    table["image"] = [str(data_dir / "im2gps237" / p) for p in table["image"]]
    table.loc[3, "image"] = str(tmp_path / "gone.jpg")  # fails alone, in its row
    table[["image"]].to_csv(tmp_path / "list.csv", index=False)
    out = tmp_path / "answers.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "im2gps", "locate", str(index_dir), str(tmp_path / "list.csv"),
         "--jsonl", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    first = process.stdout.readline()
    # the first chunk's answers are out while the last photos are still being located
    running = process.poll() is None
    # Read on through the same buffered reader: communicate() reads the pipe itself and
    # would lose lines readline() had already buffered. stderr (a progress bar and a line)
    # stays far below a pipe's capacity, so reading it after stdout cannot block.
    rest = process.stdout.read()
    err = process.stderr.read()
    process.wait(timeout=300)
    assert running, "the first answer came only at the end of the batch"
    lines = [first, *rest.splitlines()]
    docs = [json.loads(line) for line in lines if line.strip()]
    assert process.returncode == EXIT_PARTIAL, err
    assert [d["image"] for d in docs] == list(table["image"])
    assert docs[3]["failed"] and docs[3]["lat"] is None and "gone.jpg" in err
    assert all(-90 <= d["lat"] <= 90 for i, d in enumerate(docs) if i != 3)
    assert "locate" in err and f"{len(table)}/{len(table)}" in err  # the progress bar
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["image"] for r in rows] == [d["image"] for d in docs]
    assert rows[3]["failed"] == "True" and rows[3]["lat"] == ""
    assert float(rows[0]["lat"]) == pytest.approx(docs[0]["lat"])
    assert rows[0]["country_code"] == docs[0]["country_code"]


def test_json_keeps_stdout_clean_and_progress_on_stderr(index_dir, data_dir, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in sorted(p.name for p in (data_dir / "im2gps237" / "images").iterdir())[:40]:
        (folder / name).symlink_to(data_dir / "im2gps237" / "images" / name)
    result = run("locate", str(index_dir), str(folder), "--json")
    assert result.returncode == EXIT_OK, result.stderr
    docs = json.loads(result.stdout)  # nothing but the JSON document on stdout
    assert len(docs) == 40
    assert "locate" in result.stderr and "40/40" in result.stderr
    quiet = run("locate", str(index_dir), str(folder), "--json", "--no-progress")
    assert "40/40" not in quiet.stderr and json.loads(quiet.stdout) == docs


def test_explain_progress_on_stderr_only(index_dir, data_dir, tmp_path):
    """``locate --explain --json``: one step per figure on stderr, stdout only the JSON."""
    photo = str(data_dir / "im2gps237" / "images" / "104123223.jpg")
    result = run("locate", str(index_dir), photo, "--json", "--explain", str(tmp_path / "why"))
    assert result.returncode == EXIT_OK, result.stderr
    doc = json.loads(result.stdout)  # nothing but the JSON document on stdout
    assert sorted(doc["explain"]) == ["neighbours", "occlusion"]
    # the bar names the figure being drawn and ends at both figures of the photo
    assert "explain" in result.stderr and "2/2" in result.stderr, result.stderr
    assert "104123223: occlusion (64 patches)" in result.stderr
    quiet = run("locate", str(index_dir), photo, "--json", "--explain", str(tmp_path / "q"),
                "--no-progress")
    assert quiet.returncode == EXIT_OK and "2/2" not in quiet.stderr
    assert "occlusion" not in quiet.stderr and json.loads(quiet.stdout)["lat"] == doc["lat"]


def test_json_lines_writer_flushes_each_batch(tmp_path):
    class Stream:
        def __init__(self) -> None:
            self.text, self.flushed = "", []

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            self.flushed.append(self.text.count("\n"))

    stream = Stream()
    writer = JsonLinesWriter(stream)
    writer.write([{"lat": 1.0}, {"lat": float("nan")}])
    writer.write([{"lat": 2.0}])
    assert stream.flushed == [2, 3]
    assert [json.loads(line)["lat"] for line in stream.text.splitlines()] == [1.0, None, 2.0]


def test_version_and_usage():
    import im2gps

    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"im2gps {im2gps.__version__}"
    both = run("locate", "x", "y", "--json", "--jsonl")
    # a usage error found after parsing shows the command's own usage, not the top level's
    assert both.returncode == 2 and both.stderr.startswith("usage: im2gps locate ")
    assert "im2gps locate: error: --json and --jsonl" in both.stderr


def test_index_info_from_the_manifest_alone(index_dir, tmp_path):
    from im2gps.describe import LOCATOR_DEFAULTS
    from im2gps.locator import Im2GPS
    from im2gps.photos import MAX_PIXELS as PHOTOS_MAX_PIXELS

    # the copies of constants kept out of the import path agree with their sources
    assert MAX_PIXELS == PHOTOS_MAX_PIXELS
    params = Im2GPS().get_params()
    assert {key: params[key] for key in LOCATOR_DEFAULTS} == LOCATOR_DEFAULTS
    code = ("import sys, json; from im2gps.cli import main; "
            f"rc = main(['index', 'info', {str(index_dir)!r}, '--json']); "
            "print(json.dumps(sorted(m for m in ('pandas', 'torch', 'sklearn', 'pyarrow', "
            "'im2gps.index') if m in sys.modules)), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []
    info = json.loads(result.stdout)
    assert info["photos"] == 60 and info["features"] == {"tiny": 768, "color": 784}
    assert info["source"].endswith("db.csv") and info["built"].endswith("Z")
    assert info["locator"]["k"] == 120 and not info["locator"]["saved"]
    assert "IM2GPS kNN over tiny, color" in info["model"]
    text = run("index", "info", str(index_dir)).stdout
    assert "built" in text and "defaults" in text and "source" in text
    # a saved locator's settings are its defaults
    import shutil

    copy = tmp_path / "saved"
    shutil.copytree(index_dir, copy)
    (copy / "locator.json").write_text(json.dumps({"k": 30, "vote": "1nn"}))
    info = json.loads(run("index", "info", str(copy), "--json").stdout)
    assert info["locator"]["k"] == 30 and info["locator"]["saved"]
    # a manifest edited by hand is refused (exit 3)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["counts"]["photos"] = 61
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = run("index", "info", str(copy))
    assert result.returncode == 3 and "sha256" in result.stderr


def test_locate_imports_only_what_it_needs(index_dir, data_dir):
    photo = data_dir / "im2gps237" / "images" / "104123223.jpg"
    code = ("import sys, json; from im2gps.cli import main; "
            f"main(['locate', {str(index_dir)!r}, {str(photo)!r}, '--json']); "
            "print(json.dumps(sorted(m for m in ('torch', 'sklearn', 'pandas', 'scipy.signal', "
            "'scipy.spatial', 'scipy.stats', 'skimage.color', 'reverse_geocoder', "
            "'matplotlib') if m in sys.modules)), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []
    assert json.loads(result.stdout)["country"]

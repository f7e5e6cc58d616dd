"""The im2gps command line on real photos: JSON output, exit codes, messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from im2gps.cli import EXIT_DATA, EXIT_OK, EXIT_PARTIAL, main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "im2gps", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def index_dir(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:80].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp / "db.csv", index=False)
    out = tmp / "index"
    assert main(["index", "build", str(tmp / "db.csv"), "--out", str(out),
                 "--features", "tiny,color,lines", "--no-progress"]) == EXIT_OK
    return out


def test_help_for_every_command():
    for args in (["--help"], ["index", "build", "--help"], ["index", "info", "--help"],
                 ["locate", "--help"]):
        result = run(*args)
        assert result.returncode == 0 and "usage: im2gps" in result.stdout


def test_index_info_json(index_dir):
    result = run("index", "info", str(index_dir), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["photos"] == 80 and info["format_version"] == 1
    assert info["features"] == {"tiny": 768, "color": 784, "lines": 34}
    assert info["index_type"] == "Flat" and info["bytes_per_photo"] > 4 * (768 + 784 + 34)
    text = run("index", "info", str(index_dir))
    assert "bytes/photo" in text.stdout


def test_locate_json_with_real_place(index_dir, data_dir):
    photo = data_dir / "im2gps237" / "images" / "104123223.jpg"
    result = run("locate", str(index_dir), str(photo), "--json", "--k", "30")
    assert result.returncode == EXIT_OK, result.stderr
    doc = json.loads(result.stdout)
    for key in ("image", "lat", "lon", "place", "country", "clusters", "neighbors"):
        assert key in doc
    assert -90 <= doc["lat"] <= 90 and -180 <= doc["lon"] <= 180
    assert isinstance(doc["place"], str) and len(doc["place"]) > 1
    assert isinstance(doc["country"], str) and len(doc["country"]) > 1
    assert doc["clusters"] and {"lat", "lon", "weight", "size"} <= set(doc["clusters"][0])
    assert sum(c["size"] for c in doc["clusters"]) <= 30
    assert len(doc["neighbors"]) == 10
    assert {"id", "lat", "lon", "distance"} <= set(doc["neighbors"][0])
    distances = [n["distance"] for n in doc["neighbors"]]
    assert distances == sorted(distances)


def test_locate_partial_failure_exit_code(index_dir, data_dir, tmp_path):
    bad = tmp_path / "empty.jpg"
    bad.write_bytes(b"")
    photo = data_dir / "im2gps237" / "images" / "104123223.jpg"
    result = run("locate", str(index_dir), str(photo), str(bad), "--json")
    assert result.returncode == EXIT_PARTIAL
    docs = json.loads(result.stdout)
    assert [d["failed"] for d in docs] == [False, True] and "empty" in docs[1]["error"]
    text = run("locate", str(index_dir), str(photo))
    assert "estimate" in text.stdout and "cluster 1" in text.stdout


def test_damaged_index_exit_code_and_message(index_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(index_dir, copy)
    (copy / "faiss.index").write_bytes(b"x")
    result = run("index", "info", str(copy))
    assert result.returncode == EXIT_DATA
    assert "faiss.index" in result.stderr and "rebuild" in result.stderr


def test_photos_without_gps_message(data_dir, tmp_path):
    import shutil

    folder = tmp_path / "nogps"
    folder.mkdir()
    shutil.copy(data_dir / "im2gps237" / "images" / "104123223.jpg", folder)
    result = run("index", "build", str(folder), "--out", str(tmp_path / "x"), "--no-progress")
    assert result.returncode == EXIT_DATA and "no usable photos" in result.stderr


def test_build_with_local_features_and_locate_with_verification(data_dir, tmp_path, capsys):
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:16].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp_path / "db.csv", index=False)
    out = tmp_path / "index"
    assert main(["index", "build", str(tmp_path / "db.csv"), "--out", str(out),
                 "--features", "tiny", "--local-features", "--no-progress"]) == EXIT_OK
    assert (out / "local" / "sift" / "descriptors.npy").is_file()
    capsys.readouterr()
    # a database photo finds itself, verified with its own keypoints
    assert main(["locate", str(out), table["image"][3], "--verify", "best", "--k", "5",
                 "--json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    first = document["neighbors"][0]
    assert first["distance"] < 1e-3 and first["inliers"] >= 50
    assert abs(document["lat"] - table["lat"][3]) < 1e-6

"""The im2gps command line on real photos: JSON output, exit codes, messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from im2gps.cli import EXIT_DATA, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from im2gps.index import FORMAT_VERSION


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
    assert info["photos"] == 80 and info["format_version"] == FORMAT_VERSION
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


def test_tiny_and_broken_photos_fail_alone(index_dir, data_dir, tmp_path):
    """One bad photo never stops the others; JSON says null, never NaN."""
    from PIL import Image

    photo = data_dir / "im2gps237" / "images" / "104123223.jpg"
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    Image.new("RGB", (2000, 2)).save(tmp_path / "strip.jpg")
    result = run("locate", str(index_dir), str(tmp_path / "dot.png"), str(photo),
                 str(tmp_path / "strip.jpg"), "--json")
    assert result.returncode == EXIT_PARTIAL
    assert "NaN" not in result.stdout
    docs = json.loads(result.stdout)
    assert [d["failed"] for d in docs] == [True, False, True]
    assert docs[0]["lat"] is None and "dot.png: too small: 1x1 pixels" in docs[0]["error"]
    assert "strip.jpg: too small: 2000x2" in docs[2]["error"]
    assert -90 <= docs[1]["lat"] <= 90


@pytest.mark.parametrize("args", [
    ["locate", "IDX", "x.jpg", "--k", "0"],
    ["locate", "IDX", "x.jpg", "--bandwidth-km", "-5"],
    ["locate", "IDX", "x.jpg", "--bandwidth-km", "nan"],
    ["index", "build", "x", "--out", "y", "--features", "gist,sift2"],
    ["benchmark", "--locators", "chance,magic", "--no-size-curve"],
    ["partition", "COORDS", "--t-max", "10", "--t-min", "50", "--out", "cells.csv"],
    ["partition", "COORDS", "--t-max", "ten", "--t-min", "5", "--out", "cells.csv"],
])
def test_bad_option_values_are_usage_errors(args, index_dir, data_dir, tmp_path):
    args = [{"IDX": str(index_dir), "COORDS": str(data_dir / "coords" / "mp16_100k.csv")}.get(
        a, a) for a in args]
    result = run(*args, *(["--cache", str(tmp_path)] if args[0] == "benchmark" else []))
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_messages_speak_the_command_line(index_dir, data_dir, tmp_path):
    result = run("index", "build", str(data_dir / "im2gps2k" / "photos.csv"), "--out",
                 str(index_dir))
    assert result.returncode == EXIT_DATA
    assert "--overwrite" in result.stderr and "Traceback" not in result.stderr


def test_output_into_head_ends_quietly(index_dir, data_dir):
    photos = [str(p) for p in sorted((data_dir / "im2gps237" / "images").iterdir())[:12]]
    command = " ".join([sys.executable, "-m", "im2gps", "locate", str(index_dir), "--k", "10",
                        *photos, "| head -n 2"])
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr == ""


def test_overwrite_replaces_only_an_index(data_dir, tmp_path):
    """--overwrite never deletes photos or any folder that is not an im2gps index."""
    import shutil

    photos = tmp_path / "photos"
    photos.mkdir()
    for image in sorted((data_dir / "im2gps2k" / "images").iterdir())[:3]:
        shutil.copy(image, photos)
    result = run("index", "build", str(photos), "--out", str(photos), "--features", "tiny",
                 "--no-progress", "--overwrite")
    assert result.returncode == EXIT_USAGE and "holds) the photos" in result.stderr
    assert len(list(photos.iterdir())) == 3
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.txt").write_text("precious")
    result = run("index", "build", str(photos), "--out", str(victim), "--features", "tiny",
                 "--no-progress", "--overwrite")
    assert result.returncode == EXIT_DATA and "is not an im2gps index" in result.stderr
    assert (victim / "thesis.txt").read_text() == "precious"
    inside = photos / "trip.idx"  # an index inside the photo folder: never read as photos
    for _ in range(2):
        result = run("index", "build", str(photos), "--out", str(inside), "--features", "tiny",
                     "--no-progress", "--overwrite", "--json")
        assert result.returncode == EXIT_OK, result.stderr
        assert json.loads(result.stdout)["photos"] == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", "-1"], "argument --seed"),
    (["--index-type", "garbage"], "'garbage': FAISS cannot make this index"),
    (["--nprobe", "3"], "nprobe"),
    (["--index-type", "PCA0,Flat"], "PCA0 in 'PCA0': the number after PCA must be at least 1"),
    (["--index-type", "IVF0,Flat"], "the number after IVF must be at least 1"),
    (["--index-type", "HNSW1"], "the number after HNSW must be at least 2"),
    (["--index-type", "IDMap,Flat"], "IDMap is not supported"),
])
def test_build_option_errors_before_any_work(args, message, data_dir, tmp_path):
    result = run("index", "build", str(data_dir / "im2gps2k" / "photos.csv"), "--out",
                 str(tmp_path / "x"), "--no-progress", *args)
    assert result.returncode == EXIT_USAGE and message in result.stderr
    assert ".cpp" not in result.stderr and not (tmp_path / "x.partial").exists()
@pytest.mark.parametrize(("index_type", "message"), [
    ("IVF64,Flat", "IVF64 learns 64 cluster centres from 30 training photos"),
    ("PQ8", "PQ8 learns 256 centroids per sub-quantizer from 30 training photos"),
    ("PCA64,Flat", "PCA64 is learned from 30 training photos, which give at most 30"),
])
def test_build_refuses_what_too_few_photos_cannot_train(index_type, message, data_dir,
                                                         tmp_path):
    """Known once the photos are listed, before any is read: exit 2, no extraction."""
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:30].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp_path / "db.csv", index=False)
    result = run("index", "build", str(tmp_path / "db.csv"), "--out", str(tmp_path / "x"),
                 "--features", "tiny", "--index-type", index_type, "--no-progress")
    assert result.returncode == EXIT_USAGE and message in result.stderr
    assert "(30 photos listed)" in result.stderr
    assert not list((tmp_path / "x.partial").glob("chunks/*"))


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
    # the text answer shows the inliers too
    assert main(["locate", str(out), table["image"][3], "--verify", "best", "--k", "5",
                 "--neighbors", "1"]) == EXIT_OK
    assert f"{first['inliers']} inliers" in capsys.readouterr().out


def test_add_keeps_local_features_and_verify_needs_them(data_dir, tmp_path):
    """index add extends an index's local features; --verify on an index without them is a
    usage error that says how to build one."""
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:14].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.iloc[:10].to_csv(tmp_path / "db.csv", index=False)
    table.iloc[10:].to_csv(tmp_path / "more.csv", index=False)
    out = tmp_path / "index"
    assert main(["index", "build", str(tmp_path / "db.csv"), "--out", str(out), "--features",
                 "tiny", "--local-features", "--no-progress"]) == EXIT_OK
    assert main(["index", "add", str(out), str(tmp_path / "more.csv"), "--no-progress"]) == EXIT_OK
    from im2gps.index import GeoIndex
    from im2gps.index.local import load_local_features

    assert len(load_local_features(GeoIndex.load(out))) == 14
    plain = tmp_path / "plain"
    assert main(["index", "build", str(tmp_path / "db.csv"), "--out", str(plain), "--features",
                 "tiny", "--no-progress"]) == EXIT_OK
    result = run("locate", str(plain), table["image"][0], "--verify", "best")
    assert result.returncode == EXIT_USAGE and "--local-features" in result.stderr
    result = run("locate", str(plain), "--album", str(tmp_path / "db.csv"), "--jsonl")
    assert result.returncode == EXIT_USAGE and "--jsonl" in result.stderr

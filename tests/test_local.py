"""im2gps.index.local: local features of an index's photos, resumable, aligned with its rows."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from im2gps.features.sift import RootSIFT
from im2gps.index import GeoIndex, build_index
from im2gps.index.local import add_local_features, extract_local_features, load_local_features
from im2gps.photos import load_image

SIFT = {"max_keypoints": 150}
SMALL_SIFT = {"max_keypoints": 150, "max_side": 320}  # faster, for the index test


def _paths(data_dir: Path, n: int, start: int = 0) -> list[str]:
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[start:start + n]
    return [str(data_dir / "im2gps2k" / p) for p in table["image"]]


def test_extract_aligned_with_paths_and_failures_kept(data_dir, tmp_path):
    paths = _paths(data_dir, 6)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    paths.insert(2, str(bad))
    features, failed = extract_local_features(paths, tmp_path / "local", RootSIFT(**SIFT),
                                              chunk_size=3)
    assert len(features) == 7 and features.counts[2] == 0
    assert [f["path"] for f in failed] == [str(bad)]
    sift = RootSIFT(**SIFT)
    for row, path in enumerate(paths):
        if row == 2:
            continue
        np.testing.assert_array_equal(features[row].descriptors,
                                      sift(load_image(path)).descriptors)
    # a second call reads what is there
    again, failed_again = extract_local_features(paths, tmp_path / "local", RootSIFT(**SIFT),
                                                 chunk_size=3)
    assert failed_again == failed
    np.testing.assert_array_equal(again.descriptors, features.descriptors)


_SCRIPT = """
import sys
from im2gps.features.sift import RootSIFT
from im2gps.index.local import extract_local_features
paths = sys.argv[2:]
extract_local_features(paths, sys.argv[1], RootSIFT(max_keypoints=150), chunk_size=4)
"""


@pytest.mark.slow
def test_resume_after_kill_gives_identical_features(data_dir, tmp_path):
    paths = _paths(data_dir, 40, start=100)
    reference, _ = extract_local_features(paths, tmp_path / "ref", RootSIFT(**SIFT),
                                          chunk_size=4)
    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", _SCRIPT, str(out), *paths])
    work = out.with_name("killed.partial")
    deadline = time.time() + 120
    while time.time() < deadline and len(list(work.glob("0*.json"))) < 2:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(list(work.glob("0*.json")))
    assert 2 <= done < 10, f"kill came too late or too early ({done} of 10 chunks)"
    assert not out.exists()
    resumed, _ = extract_local_features(paths, out, RootSIFT(**SIFT), chunk_size=4)
    for name in ("keypoints", "descriptors", "offsets", "shapes"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name))
    assert not work.exists()


def test_index_with_bow_and_local_features(data_dir, tmp_path):
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:24].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp_path / "db.csv", index=False)
    index = build_index(tmp_path / "db.csv", tmp_path / "idx",
                        features={"tiny": {}, "bow": {"n_words": 32, **SMALL_SIFT}},
                        progress=False)
    assert index.features("bow").shape == (24, 32)
    local = add_local_features(index, RootSIFT(**SMALL_SIFT))
    loaded = GeoIndex.load(index.path)  # the manifest's checksums still hold
    stored = load_local_features(loaded)
    assert len(stored) == 24 and stored.config == RootSIFT(**SMALL_SIFT).config()
    np.testing.assert_array_equal(stored.descriptors, local.descriptors)
    # the stored features give the index's own bow vectors
    np.testing.assert_allclose(loaded.extractors["bow"].encode(stored),
                               loaded.features("bow"), atol=1e-6)
    # bow alone finds each photo itself
    view = loaded.view(features=["bow"])
    _, ids = view.search({"bow": np.asarray(loaded.features("bow"))}, 1)
    assert (ids[:, 0] == np.arange(24)).mean() > 0.9
    with pytest.raises(FileNotFoundError, match="local features"):
        load_local_features(GeoIndex.load(build_index(
            tmp_path / "db.csv", tmp_path / "plain", features=["tiny"], progress=False).path))

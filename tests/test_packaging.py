"""Packaging: features/ and index/ install as im2gps.features and im2gps.index."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_maps_top_level_folders_into_the_namespace(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    (wheel,) = tmp_path.glob("im2gps-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("im2gps/features/gist.py", "im2gps/features/texton.py",
                   "im2gps/index/store.py", "im2gps/index/build.py", "im2gps/planet/partition.py",
                   "im2gps/locator.py"):
        assert module in names, module
    assert not any(n.startswith(("features/", "index/", "tests/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "im2gps = im2gps.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_imports_from_outside_the_checkout(tmp_path):
    code = ("import im2gps.features.gist, im2gps.index.store; "
            "from im2gps.features import create; print(create('gist').dim)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "675"

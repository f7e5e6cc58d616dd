"""Shared fixtures: the real photos of ../shared/data (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def feature_cache(tmp_path_factory) -> Path:
    """A session feature cache, so that tests never write into the user's ~/.cache."""
    import os

    path = tmp_path_factory.mktemp("im2gps-cache")
    os.environ["IM2GPS_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"{DATA}: the shared real-photo data must sit beside the checkout")
    return DATA


@pytest.fixture(scope="session")
def db_table(data_dir) -> pd.DataFrame:
    """The im2gps2k manifest (1,685 geotagged photos)."""
    return pd.read_csv(data_dir / "im2gps2k" / "photos.csv")


@pytest.fixture(scope="session")
def test_table(data_dir) -> pd.DataFrame:
    """The im2gps237 manifest (237 test photos, with a scene column)."""
    return pd.read_csv(data_dir / "im2gps237" / "photos.csv")

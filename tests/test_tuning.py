"""im2gps.tuning: photographer-grouped cross-validation on the database only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from im2gps.index import build_index
from im2gps.tuning import cross_validate, grid, neighbours_by_fold


@pytest.fixture(scope="module")
def index(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tuning")
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:240].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp / "db.csv", index=False)
    return build_index(tmp / "db.csv", tmp / "idx", features=["tiny", "color"], progress=False)


def test_grid_is_the_product():
    settings = grid(k=[5, 10], vote=["meanshift", "kde"])
    assert len(settings) == 4 and {"k": 10, "vote": "kde"} in settings


def test_folds_never_share_a_photographer(index):
    authors = index.photos["author"].to_numpy()
    ids, dist = neighbours_by_fold(index, authors, k=15)
    assert ids.shape == (len(index), 15) and (ids >= 0).all()
    assert not (ids == np.arange(len(index))[:, None]).any()  # never itself
    assert not (authors[ids] == authors[:, None]).any()  # never its own photographer
    assert (np.diff(dist, axis=1) >= -1e-5).all()


def test_cross_validate_scores_and_ranks(index):
    authors = index.photos["author"].to_numpy()
    settings = [{"vote": "1nn", "k": 1}, {"vote": "meanshift", "k": 20, "bandwidth_km": 400}]
    table = cross_validate(index, authors, settings, n_splits=4)
    assert len(table) == 2 and table["score"].is_monotonic_decreasing
    for column in ("acc_25km", "acc_200km", "acc_750km", "acc_2500km", "median_km"):
        assert column in table
    best = table.iloc[0]
    expected = np.mean([best[f"acc_{r}km"] for r in (25, 200, 750, 2500)])
    assert best["score"] == pytest.approx(expected)
    assert ((table[["acc_25km", "acc_2500km"]] >= 0) & (table[["acc_25km", "acc_2500km"]] <= 1)
            ).all().all()


def test_cross_validate_planet_on_real_features(index):
    pytest.importorskip("torch")
    from im2gps.tuning import cross_validate_planet

    coords = index.coords
    settings = [{"t_max": 60, "t_min": 5, "max_epochs": 30},
                {"t_max": 240, "t_min": 5, "max_epochs": 30}]
    table = cross_validate_planet(np.asarray(index.features("tiny")), coords[:, 0],
                                  coords[:, 1], index.photos["author"], settings, n_splits=2)
    assert len(table) == 2 and table["score"].is_monotonic_decreasing
    assert set(table["t_max"]) == {60, 240}
    accuracies = table[["acc_1km", "acc_25km", "acc_200km", "acc_750km", "acc_2500km"]]
    assert (np.diff(accuracies.to_numpy(), axis=1) >= 0).all()  # wider radius, more hits
    assert (accuracies.to_numpy()[:, -1] > 0).all()

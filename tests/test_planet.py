"""im2gps.planet.classifier.PlaNet: a cell classifier on real features of real photos."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from im2gps.features import create
from im2gps.photos import PhotoCollection, load_image
from im2gps.planet.classifier import PlaNet
from im2gps.planet.partition import assign_cells, partition

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
N_TRAIN = 480
PARAMS = dict(feature="tiny", t_max=80, t_min=8, max_epochs=60, patience=5, batch_size=64,
              lr=1e-3, seed=3)


@pytest.fixture(scope="module")
def train_table() -> pd.DataFrame:
    """The first N_TRAIN photos of im2gps2k, image paths made absolute."""
    table = pd.read_csv(DATA / "im2gps2k" / "photos.csv").iloc[:N_TRAIN].copy()
    table["image"] = [str(DATA / "im2gps2k" / p) for p in table["image"]]
    return table


@pytest.fixture(scope="module")
def train_X(train_table) -> np.ndarray:
    """Real tiny-image features of the training photos."""
    return create("tiny").transform(load_image(p) for p in train_table["image"])


@pytest.fixture(scope="module")
def test_set() -> tuple[pd.DataFrame, np.ndarray]:
    """The im2gps237 test photos (other photographers) and their tiny features."""
    table = pd.read_csv(DATA / "im2gps237" / "photos.csv")
    table["image"] = [str(DATA / "im2gps237" / p) for p in table["image"]]
    return table, create("tiny").transform(load_image(p) for p in table["image"])


@pytest.fixture(scope="module")
def fitted(train_table, train_X) -> PlaNet:
    return PlaNet(**PARAMS).fit(train_X, train_table["lat"], train_table["lon"],
                                groups=train_table["author"])


def test_init_stores_parameters_only():
    locator = PlaNet(t_max=7, hidden=3)
    assert locator.get_params()["t_max"] == 7 and not hasattr(locator, "model_")
    with pytest.raises(RuntimeError, match="not fitted"):
        locator.predict_embeddings(np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match="coordinate"):
        PlaNet(coordinate="median").fit(np.zeros((3, 2)), [0, 1, 2], [0, 1, 2])


def test_partition_comes_from_the_training_coordinates(fitted, train_table):
    cells, assignment = partition(train_table["lat"], train_table["lon"], 80, 8)
    pd.testing.assert_frame_equal(fitted.cells_, cells)
    assert np.array_equal(fitted.labels_, assignment)
    assert len(cells) >= 5


def test_split_is_photographer_disjoint(fitted, train_table):
    authors = train_table["author"].to_numpy()
    train, val = fitted.train_index_, fitted.val_index_
    assert len(train) and len(val)
    assert not set(authors[train]) & set(authors[val])
    labelled = np.flatnonzero(fitted.labels_ >= 0)
    assert np.array_equal(np.sort(np.concatenate([train, val])), labelled)
    # photographers share photos here, so a photo-level split would have mixed some
    shared = pd.Series(authors[labelled]).value_counts()
    assert (shared > 1).any()
    share = len(set(authors[val])) / len(set(authors[labelled]))
    assert 0.05 < share < 0.15


def test_training_record_and_early_stopping(fitted, train_X):
    history = fitted.history_
    epochs = len(history["train_loss"])
    assert len(history["val_loss"]) == epochs == len(history["val_accuracy"])
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert fitted.best_epoch_ == int(np.argmin(history["val_loss"]))
    assert epochs == fitted.best_epoch_ + 1 + PARAMS["patience"] or epochs == PARAMS["max_epochs"]
    # the kept weights are the best epoch's: their validation loss is the recorded one
    val = fitted.val_index_
    probs = fitted.predict_proba(train_X[val])
    loss = -np.log(probs[np.arange(len(val)), fitted.labels_[val]]).mean()
    assert np.isclose(loss, history["val_loss"][fitted.best_epoch_], rtol=1e-4)


def test_predictions_are_cell_distributions(fitted, test_set):
    table, X = test_set
    predictions = fitted.predict_embeddings(X)
    probs = predictions.cell_probs
    assert probs.shape == (len(table), len(fitted.cells_)) and (probs >= 0).all()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    best = predictions.extra["cell"]
    assert np.array_equal(best, probs.argmax(axis=1))
    assert np.array_equal(predictions.lat, fitted.cells_["mean_lat"].to_numpy()[best])
    assert np.array_equal(predictions.lon, fitted.cells_["mean_lon"].to_numpy()[best])
    top = predictions.extra["top_cells"]
    assert np.all(np.diff(np.take_along_axis(probs, top, axis=1), axis=1) <= 0)
    assert not predictions.failed.any()

    centre = copy.copy(fitted).set_params(coordinate="center")
    centres = centre.predict_embeddings(X)
    assert np.array_equal(centres.lat, fitted.cells_["center_lat"].to_numpy()[best])
    assert np.array_equal(centres.cell_probs, probs)


@pytest.fixture(scope="module")
def memorised(train_table, train_X) -> PlaNet:
    """Trained to convergence without validation (no early stopping)."""
    return PlaNet(**{**PARAMS, "val_fraction": 0.0, "max_epochs": 60, "lr": 1e-2}).fit(
        train_X, train_table["lat"], train_table["lon"], groups=train_table["author"])


def test_fits_its_training_photos(memorised, train_X):
    """Without early stopping the head memorises its training photos: optimisation works."""
    assert len(memorised.val_index_) == 0 and len(memorised.history_["train_loss"]) == 60
    rows = memorised.train_index_
    predicted = memorised.predict_embeddings(train_X[rows]).extra["cell"]
    accuracy = (predicted == memorised.labels_[rows]).mean()
    prior = np.bincount(memorised.labels_[rows]).max() / len(rows)
    assert accuracy > 0.9 > prior + 0.5


def test_early_stopping_generalises_better_on_held_out_photos(fitted, memorised, test_set):
    """On the im2gps237 photos (other photographers) the early-stopped model's
    log-likelihood beats the memorising one's.

    With 16x16 tiny images and ~400 training photos neither beats the cell
    prior in a meaningful way; this checks what early stopping on a
    photographer-disjoint split is for.
    """
    table, X = test_set
    truth = assign_cells(fitted.cells_, table["lat"], table["lon"])
    inside = truth >= 0
    assert inside.mean() > 0.5

    def nll(locator: PlaNet) -> float:
        probs = locator.predict_proba(X[inside]).astype(np.float64)
        return float(-np.log(probs[np.arange(inside.sum()), truth[inside]]).mean())

    assert np.isfinite(nll(fitted)) and nll(fitted) + 1.0 < nll(memorised)


def test_save_load_identical(fitted, test_set, tmp_path):
    from safetensors.numpy import load_file

    _, X = test_set
    path = fitted.save(tmp_path / "planet")
    assert sorted(p.name for p in path.iterdir()) == ["cells.csv", "model.safetensors",
                                                      "planet.json"]
    weights = load_file(str(path / "model.safetensors"))
    assert weights["net.1.weight"].shape == (len(fitted.cells_), X.shape[1])
    loaded = PlaNet.load(path)
    before, after = fitted.predict_embeddings(X), loaded.predict_embeddings(X)
    assert np.array_equal(before.cell_probs, after.cell_probs)
    assert np.array_equal(before.lat, after.lat) and np.array_equal(before.lon, after.lon)
    assert loaded.get_params() == fitted.get_params()
    pd.testing.assert_frame_equal(loaded.cells_, fitted.cells_)
    with pytest.raises(FileExistsError):
        fitted.save(path)
    (path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="model.safetensors"):
        PlaNet.load(path)
    (path / "cells.csv").unlink()
    with pytest.raises(FileNotFoundError, match="cells.csv"):
        PlaNet.load(path)


def test_deterministic_given_the_seed(fitted, train_table, train_X, test_set):
    _, X = test_set
    again = PlaNet(**PARAMS).fit(train_X, train_table["lat"], train_table["lon"],
                                 groups=train_table["author"])
    for key, value in fitted.model_.state_dict().items():
        assert torch.equal(value, again.model_.state_dict()[key])
    assert again.history_ == fitted.history_
    assert np.array_equal(again.predict_proba(X), fitted.predict_proba(X))
    other = PlaNet(**{**PARAMS, "seed": 4}).fit(train_X, train_table["lat"], train_table["lon"],
                                                groups=train_table["author"])
    assert not np.array_equal(other.val_index_, fitted.val_index_)
    # training leaves torch's global state alone
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    PlaNet(**{**PARAMS, "max_epochs": 2}).fit(train_X, train_table["lat"], train_table["lon"])
    assert torch.equal(torch.rand(3), expected)


def test_mlp_with_dropout_and_given_cells(train_table, train_X, tmp_path):
    mp16 = pd.read_csv(DATA / "coords" / "mp16_100k.csv")
    cells, _ = partition(mp16["lat"], mp16["lon"], t_max=5000, t_min=100)
    params = {**PARAMS, "hidden": 32, "dropout": 0.3, "max_epochs": 15}
    locator = PlaNet(**params).fit(train_X, train_table["lat"], train_table["lon"],
                                   groups=train_table["author"], cells=cells)
    pd.testing.assert_frame_equal(locator.cells_, cells)
    assert np.array_equal(locator.labels_,
                          assign_cells(cells, train_table["lat"], train_table["lon"]))
    again = PlaNet(**params).fit(train_X, train_table["lat"], train_table["lon"],
                                 groups=train_table["author"], cells=cells)
    assert np.array_equal(locator.predict_proba(train_X), again.predict_proba(train_X))
    loaded = PlaNet.load(locator.save(tmp_path / "mlp"))
    assert np.array_equal(loaded.predict_proba(train_X), locator.predict_proba(train_X))


def test_fit_photos_and_predict_images(train_table, tmp_path):
    manifest = tmp_path / "photos.csv"
    train_table.iloc[:150].to_csv(manifest, index=False)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a photo")
    locator = PlaNet(**{**PARAMS, "t_max": 40, "t_min": 4, "max_epochs": 10}).fit_photos(
        PhotoCollection.from_csv(manifest))
    assert locator.extractor_.name == "tiny" and locator.labels_.size == 150
    authors = train_table["author"].to_numpy()[:150]
    assert not set(authors[locator.train_index_]) & set(authors[locator.val_index_])
    queries = list(train_table["image"].iloc[150:154]) + [str(bad)]
    predictions = locator.predict(queries)
    assert predictions.failed.tolist() == [False] * 4 + [True]
    assert "bad.jpg" in predictions.errors[4] and np.isnan(predictions.cell_probs[4]).all()
    X = create("tiny").transform(load_image(p) for p in queries[:4])
    assert np.array_equal(predictions.cell_probs[:4], locator.predict_proba(X))
    loaded = PlaNet.load(locator.save(tmp_path / "planet"))
    assert (tmp_path / "planet" / "feature" / "tiny.json").is_file()
    assert np.array_equal(loaded.predict(queries).cell_probs[:4], predictions.cell_probs[:4])


def _train_command(argv, capsys):
    from im2gps.cli_planet import add_planet_command

    parser = argparse.ArgumentParser(prog="im2gps")
    add_planet_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args), capsys.readouterr()


def test_planet_train_command(train_table, train_X, test_set, tmp_path, capsys):
    embeddings, coords = tmp_path / "X.npy", tmp_path / "coords.csv"
    np.save(embeddings, train_X, allow_pickle=False)
    train_table[["lat", "lon", "author"]].to_csv(coords, index=False)
    out = tmp_path / "model"
    code, captured = _train_command(
        ["planet", "train", str(embeddings), "--coords", str(coords), "--out", str(out),
         "--feature", "tiny", "--t-max", "80", "--t-min", "8", "--max-epochs", "60",
         "--patience", "5", "--batch-size", "64", "--seed", "3", "--json", "--no-progress"],
        capsys)
    assert code == 0
    doc = json.loads(captured.out)
    direct = PlaNet(**PARAMS).fit(train_X, train_table["lat"], train_table["lon"],
                                  groups=train_table["author"])
    assert doc["cells"] == len(direct.cells_) and doc["best_epoch"] == direct.best_epoch_
    assert doc["train_photos"] + doc["val_photos"] + doc["photos_in_dropped_cells"] == N_TRAIN
    loaded = PlaNet.load(out)
    X = test_set[1]
    assert np.array_equal(loaded.predict_proba(X), direct.predict_proba(X))
    # the model predicts from photos too, with the named feature
    assert not loaded.predict(list(test_set[0]["image"].iloc[:2])).failed.any()

    with pytest.raises(FileExistsError):
        _train_command(["planet", "train", str(embeddings), "--coords", str(coords),
                        "--out", str(out)], capsys)
    with pytest.raises(ValueError, match="--coords"):
        _train_command(["planet", "train", str(embeddings), "--out", str(tmp_path / "m2")],
                       capsys)

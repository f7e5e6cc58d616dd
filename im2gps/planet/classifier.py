"""The PlaNet locator: classify a photo into one of the adaptive S2 cells.

PlaNet (Weyand et al., ECCV 2016) partitions the globe into S2 cells sized by
photo density (:mod:`im2gps.planet.partition`) and trains a CNN to predict a
photo's cell with a softmax over all cells; the answer is the most probable
cell, and the softmax is a distribution over the whole globe.
:class:`PlaNet` trains that classifier head on FROZEN photo embeddings (any
``(n, d)`` float32 matrix: CNN embeddings, or the classical scene features of
:mod:`im2gps.features`), so it trains in minutes on a CPU:

* the partition is built from the coordinates given to :meth:`PlaNet.fit`
  (or a given cell table is used); photos of dropped cells are left out;
* the photos are split into training and validation sets disjoint in
  photographers (scikit-learn's ``GroupShuffleSplit`` over the ``author``
  column), as photos by one photographer are often of one place;
* the head (linear, or an MLP with one hidden layer) is trained with
  cross-entropy and AdamW, and training stops early when the validation loss
  has not improved for ``patience`` epochs; the best epoch's weights are kept;
* a photo's estimate is the mean location of the training photos of its most
  probable cell (``coordinate="mean"``, as GeoEstimation does) or that cell's
  centre (``coordinate="center"``, as PlaNet does).

It follows the estimator contract of :class:`im2gps.locator.Im2GPS`:
``__init__`` stores parameters only, :meth:`PlaNet.fit` returns ``self``,
learned attributes end in ``_``, :meth:`PlaNet.predict` returns
:class:`~im2gps.predictions.Predictions` (with ``cell_probs``), and
:meth:`PlaNet.save` / :meth:`PlaNet.load` write and read a directory of plain
files: ``planet.json`` (parameters and training record), ``model.safetensors``
(weights), ``cells.csv`` (the partition) and, where the locator extracted its
own features, ``feature/`` (the extractor, as
:meth:`~im2gps.features.FeatureExtractor.save` writes it). Nothing is pickled.

References
----------
.. [1] T. Weyand, I. Kostrikov and J. Philbin, "PlaNet - Photo geolocation
   with convolutional neural networks", ECCV 2016.
.. [2] E. Müller-Budack, K. Pustu-Iren and R. Ewerth, "Geolocation estimation
   of photos using a hierarchical model and scene classification", ECCV 2018
   (cell means as estimates, photographer-aware data).
.. [3] I. Loshchilov and F. Hutter, "Decoupled weight decay regularization",
   ICLR 2019 (AdamW).

Notes
-----
Departures from PlaNet:

* The network is not trained end to end: PlaNet trains an Inception network
  from scratch on 91 million photos; here the embedding is frozen and only a
  linear or one-hidden-layer head is trained. Inputs are standardised with
  the training rows' mean and standard deviation (stored with the weights).
* Optimiser: AdamW with early stopping on a photographer-disjoint validation
  split, instead of PlaNet's asynchronous SGD with Adagrad on 200 replicas.
* Dropout, where set, applies to the input of the last linear layer (the
  embedding of a linear head, the hidden units of an MLP).
* ``coordinate="mean"`` (default) answers with the mean of the cell's photos
  (GeoEstimation); PlaNet answers with the cell centre (``"center"``).
* Training runs single-threaded inside a forked torch RNG seeded with
  ``seed``, so it is deterministic and leaves torch's global RNG and thread
  settings as it found them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from im2gps.features import FeatureExtractor, create, load_extractor
from im2gps.locators import LocatorMixin
from im2gps.photos import PhotoCollection, Skipped
from im2gps.planet.partition import MAX_LEVEL, assign_cells, load_cells, partition, save_cells
from im2gps.predictions import Predictions

__all__ = ["PlaNet", "FORMAT_VERSION"]

#: Version of the saved directory layout.
FORMAT_VERSION = 1

CONFIG_FILE = "planet.json"
WEIGHTS_FILE = "model.safetensors"
CELLS_FILE = "cells.csv"
FEATURE_DIR = "feature"

#: Cells listed per photo in ``Predictions.extra["top_cells"]``.
TOP_CELLS = 5


class _Head(nn.Module):
    """Standardisation, then a linear layer or a one-hidden-layer MLP."""

    def __init__(self, dim: int, n_cells: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        layers: list[nn.Module] = []
        if hidden > 0:
            layers += [nn.Linear(dim, hidden), nn.ReLU()]
        layers += [nn.Dropout(dropout), nn.Linear(hidden if hidden > 0 else dim, n_cells)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.scale)


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """Run torch single-threaded (reproducible float sums), then restore the setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def save_model_files(path: str | os.PathLike, config_file: str, weights_file: str,
                     config: dict[str, Any], model: nn.Module, cells: pd.DataFrame,
                     extractor: FeatureExtractor | None, overwrite: bool = False) -> Path:
    """Write a cell classifier's directory atomically: config JSON, safetensors, cells, feature.

    The one writer of PlaNet and of its album LSTM (:mod:`im2gps.planet.album`).
    """
    from safetensors.torch import save_file

    from im2gps.atomic import atomic_directory

    with atomic_directory(path, overwrite=overwrite) as tmp:
        (tmp / config_file).write_text(json.dumps(config, indent=2))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  str(tmp / weights_file),
                  metadata={"format_version": str(config["format_version"])})
        save_cells(cells, tmp / CELLS_FILE)
        if extractor is not None:
            extractor.save(tmp / FEATURE_DIR)
    return Path(path)


def read_model_files(path: Path, config_file: str, weights_file: str, format_version: int,
                     what: str) -> tuple[dict[str, Any], pd.DataFrame, FeatureExtractor | None]:
    """The config, cell table and feature extractor of a directory :func:`save_model_files` wrote.

    Raises
    ------
    FileNotFoundError
        If one of its files is missing.
    ValueError
        If its format version is not ``format_version``.
    """
    for name in (config_file, weights_file, CELLS_FILE):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name}: missing; not a saved {what}")
    config = json.loads((path / config_file).read_text())
    if config.get("format_version") != format_version:
        raise ValueError(f"{path / config_file}: format version "
                         f"{config.get('format_version')}, this im2gps reads {format_version}")
    extractor = None
    if config.get("extractor") is not None:
        extractor = load_extractor(path / FEATURE_DIR, config["extractor"]["name"])
    return config, load_cells(path / CELLS_FILE), extractor


def load_weights(model: nn.Module, weights: Path) -> nn.Module:
    """``model`` with the safetensors weights of ``weights``, in eval mode.

    Raises
    ------
    ValueError
        If the weights do not fit the model (naming the file).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        model.load_state_dict(load_file(str(weights)))
    except (SafetensorError, RuntimeError) as err:
        raise ValueError(f"{weights}: weights do not fit the model: {err}") from None
    return model.eval()


class PlaNet(LocatorMixin):
    """Learned geolocation: a classifier over adaptive S2 cells on frozen embeddings.

    Parameters
    ----------
    feature : str, optional
        Feature extractor (a name of :func:`im2gps.features.create`) that
        :meth:`fit_photos` and :meth:`predict` use to embed photos.
    feature_params : mapping, optional
        Parameters of that extractor.
    t_max, t_min : int, optional
        Partition thresholds (see :func:`~im2gps.planet.partition.partition`):
        split cells with more than ``t_max`` photos, drop cells with fewer
        than ``t_min``. PlaNet used 10,000 and 50 for 126 million photos;
        scale ``t_max`` with the training set.
    min_level, max_level : int, optional
        Levels the partition starts from and stops at.
    hidden : int, optional
        0: a linear classifier; ``N > 0``: one hidden layer of ``N`` ReLU units.
    dropout : float, optional
        Dropout probability before the last layer.
    weight_decay : float, optional
        AdamW's decoupled weight decay.
    lr : float, optional
        AdamW's learning rate.
    max_epochs : int, optional
        Upper bound on training epochs.
    patience : int, optional
        Stop after this many epochs without a better validation loss.
    batch_size : int, optional
        Photos per optimisation step.
    val_fraction : float, optional
        Share of photographers held out for validation (0: no validation,
        train ``max_epochs`` and keep the last weights).
    seed : int, optional
        Seed of the split, the initialisation, the batch order and dropout.
    coordinate : {"mean", "center"}, optional
        Answer with the mean of the best cell's training photos or its centre.
    progress : bool, optional
        Show progress bars.

    Attributes
    ----------
    cells_ : pandas.DataFrame
        The cell table (row ``i`` is class ``i``).
    model_ : torch.nn.Module
        The trained head (in evaluation mode).
    dim_ : int
        Length of the embeddings.
    history_ : dict
        ``train_loss`` and ``val_loss`` per epoch, ``val_accuracy`` (top-1
        cell accuracy on validation photos) per epoch.
    best_epoch_ : int
        Epoch whose weights were kept (0-based).
    labels_ : numpy.ndarray
        Cell of each photo given to :meth:`fit` (-1: dropped cell).
    train_index_, val_index_ : numpy.ndarray
        Rows of the photos given to :meth:`fit` used for training and
        validation (photographer-disjoint).
    extractor_ : FeatureExtractor or None
        The extractor :meth:`fit_photos` used (None after :meth:`fit` on
        embeddings; :meth:`predict` then makes one from ``feature``).
    skipped_ : list of Skipped
        Photos :meth:`fit_photos` could not use, with the reason.
    """

    def __init__(
        self,
        feature: str = "cnn",
        feature_params: Mapping[str, Any] | None = None,
        t_max: int = 5000,
        t_min: int = 50,
        min_level: int = 0,
        max_level: int = MAX_LEVEL,
        hidden: int = 0,
        dropout: float = 0.0,
        weight_decay: float = 1e-4,
        lr: float = 1e-3,
        max_epochs: int = 200,
        patience: int = 10,
        batch_size: int = 256,
        val_fraction: float = 0.1,
        seed: int = 0,
        coordinate: str = "mean",
        progress: bool = False,
    ) -> None:
        self.feature = feature
        self.feature_params = feature_params
        self.t_max = t_max
        self.t_min = t_min
        self.min_level = min_level
        self.max_level = max_level
        self.hidden = hidden
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.lr = lr
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.seed = seed
        self.coordinate = coordinate
        self.progress = progress

    # -- estimator contract --------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-ready)."""
        return {
            "feature": self.feature,
            "feature_params": dict(self.feature_params or {}),
            "t_max": int(self.t_max),
            "t_min": int(self.t_min),
            "min_level": int(self.min_level),
            "max_level": int(self.max_level),
            "hidden": int(self.hidden),
            "dropout": float(self.dropout),
            "weight_decay": float(self.weight_decay),
            "lr": float(self.lr),
            "max_epochs": int(self.max_epochs),
            "patience": int(self.patience),
            "batch_size": int(self.batch_size),
            "val_fraction": float(self.val_fraction),
            "seed": int(self.seed),
            "coordinate": self.coordinate,
            "progress": bool(self.progress),
        }

    def set_params(self, **params: Any) -> PlaNet:
        """Change parameters (``coordinate`` applies to a fitted locator at once)."""
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"unknown parameter {key!r} of PlaNet")
            setattr(self, key, value)
        return self

    def _check_params(self) -> None:
        if self.coordinate not in ("mean", "center"):
            raise ValueError(f"coordinate must be 'mean' or 'center', not {self.coordinate!r}")
        if int(self.hidden) < 0:
            raise ValueError(f"hidden must be 0 (linear) or a number of units, not {self.hidden}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if not 0.0 <= float(self.val_fraction) < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), not {self.val_fraction}")
        for name in ("max_epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")

    # -- training ------------------------------------------------------------
    def fit(self, embeddings: Any, lat: Any = None, lon: Any = None,
            groups: Sequence | None = None, cells: pd.DataFrame | None = None) -> PlaNet:
        """Build the partition and train the classifier head on frozen embeddings.

        ``fit(photos)`` with photos (a collection, a folder or a CSV manifest)
        and no coordinates is :meth:`fit_photos`, the contract every locator
        shares.

        Parameters
        ----------
        embeddings : numpy.ndarray, or PhotoCollection or str or Path
            ``(n, d)`` photo embeddings (finite), or the photos themselves.
        lat, lon : array_like
            ``(n,)`` the photos' coordinates in degrees.
        groups : sequence, optional
            ``(n,)`` photographer of each photo (e.g. the ``author`` column):
            the validation split holds out whole groups. Without it every
            photo is its own group.
        cells : pandas.DataFrame, optional
            A cell table to classify into (e.g. from a larger photo set);
            by default one is built from ``lat``/``lon`` with ``t_max``,
            ``t_min``, ``min_level`` and ``max_level``.

        Returns
        -------
        PlaNet
            ``self``.
        """
        if lat is None and lon is None and isinstance(embeddings, PhotoCollection | str
                                                           | os.PathLike):
            return self.fit_photos(embeddings, cells=cells)
        if lat is None or lon is None:
            raise TypeError("fit(embeddings, lat, lon) needs coordinates; or fit(photos) "
                            "with a collection, folder or CSV manifest")
        from sklearn.model_selection import GroupShuffleSplit

        self._check_params()
        X = np.ascontiguousarray(embeddings, dtype=np.float32)
        lat = np.asarray(lat, dtype=np.float64).ravel()
        lon = np.asarray(lon, dtype=np.float64).ravel()
        if X.ndim != 2 or len(X) != lat.size or lat.size != lon.size:
            raise ValueError(f"need (n, d) embeddings and n coordinates, got embeddings "
                             f"{X.shape}, {lat.size} latitudes and {lon.size} longitudes")
        if not np.isfinite(X).all():
            raise ValueError(f"{int((~np.isfinite(X).all(axis=1)).sum())} embedding row(s) "
                             "hold NaN or infinite values")
        groups_arr = (np.arange(len(X)) if groups is None
                      else np.asarray(pd.Series(groups).astype(str)))
        if groups_arr.size != len(X):
            raise ValueError(f"{groups_arr.size} groups for {len(X)} photos")
        if cells is None:
            cells, labels = partition(lat, lon, self.t_max, self.t_min,
                                      self.min_level, self.max_level)
        else:
            cells = cells.reset_index(drop=True).copy()
            labels = assign_cells(cells, lat, lon)
        if len(cells) == 0:
            raise ValueError(f"no cell holds t_min={self.t_min} of the {len(X)} photos; "
                             "lower t_min")
        labelled = np.flatnonzero(labels >= 0)
        if len(cells) == 1:
            warnings.warn(f"the partition holds one cell (t_max={self.t_max}, t_min="
                          f"{self.t_min}, {len(X)} photos): every photo gets the same answer; "
                          "lower t_max", UserWarning, stacklevel=2)
        if labelled.size < 0.5 * len(X):
            warnings.warn(f"{len(X) - labelled.size} of {len(X)} photos lie in cells with fewer "
                          f"than t_min={self.t_min} photos and are dropped from training; "
                          "lower t_min", UserWarning, stacklevel=2)
        train, val = labelled, labelled[:0]
        if float(self.val_fraction) > 0 and np.unique(groups_arr[labelled]).size >= 2:
            split = GroupShuffleSplit(n_splits=1, test_size=float(self.val_fraction),
                                      random_state=int(self.seed))
            fit_rows, val_rows = next(split.split(labelled, groups=groups_arr[labelled]))
            train, val = labelled[np.sort(fit_rows)], labelled[np.sort(val_rows)]

        self.cells_ = cells
        self.skipped_ = []
        self.dim_ = int(X.shape[1])
        self.labels_ = labels
        self.train_index_, self.val_index_ = train, val
        self.model_, self.history_, self.best_epoch_ = self._train(X, labels, train, val)
        return self

    def _train(self, X: np.ndarray, labels: np.ndarray, train: np.ndarray, val: np.ndarray
               ) -> tuple[_Head, dict[str, list[float]], int]:
        from tqdm.auto import tqdm

        history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_accuracy": []}
        with _single_thread(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            model = _Head(self.dim_, len(self.cells_), int(self.hidden), float(self.dropout))
            x_train = torch.from_numpy(X[train])
            y_train = torch.from_numpy(labels[train])
            x_val, y_val = torch.from_numpy(X[val]), torch.from_numpy(labels[val])
            mean = x_train.mean(0)
            scale = x_train.std(0, unbiased=False) if len(train) > 1 else torch.ones(self.dim_)
            model.mean.copy_(mean)
            model.scale.copy_(torch.where(scale > 1e-6, scale, torch.ones_like(scale)))
            optimizer = torch.optim.AdamW(model.parameters(), lr=float(self.lr),
                                          weight_decay=float(self.weight_decay))
            loss_fn = nn.CrossEntropyLoss()
            order_rng = torch.Generator().manual_seed(int(self.seed))
            best_loss, best_epoch, best_state, stale = math.inf, 0, None, 0
            bar = tqdm(range(int(self.max_epochs)), desc="planet", unit="epoch",
                       disable=not self.progress)
            for epoch in bar:
                model.train()
                total = 0.0
                order = torch.randperm(len(train), generator=order_rng)
                for start in range(0, len(train), int(self.batch_size)):
                    batch = order[start: start + int(self.batch_size)]
                    optimizer.zero_grad()
                    loss = loss_fn(model(x_train[batch]), y_train[batch])
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * len(batch)
                history["train_loss"].append(total / max(len(train), 1))
                if len(val) == 0:
                    best_epoch, best_state = epoch, None
                    bar.set_postfix(train=f"{history['train_loss'][-1]:.3f}")
                    continue
                model.eval()
                with torch.no_grad():
                    logits = model(x_val)
                    val_loss = float(loss_fn(logits, y_val))
                    accuracy = float((logits.argmax(1) == y_val).float().mean())
                history["val_loss"].append(val_loss)
                history["val_accuracy"].append(accuracy)
                bar.set_postfix(train=f"{history['train_loss'][-1]:.3f}", val=f"{val_loss:.3f}")
                if val_loss < best_loss:
                    best_loss, best_epoch, stale = val_loss, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
                    if stale >= int(self.patience):
                        break
            bar.close()
            if best_state is not None:
                model.load_state_dict(best_state)
        model.eval()
        return model, history, best_epoch

    def fit_photos(self, photos: PhotoCollection | str | os.PathLike,
                   cells: pd.DataFrame | None = None, jobs: int = 1,
                   fit_sample: int = 200) -> PlaNet:
        """Extract the ``feature`` of every photo of a collection, then :meth:`fit`.

        Parameters
        ----------
        photos : PhotoCollection, or str or Path
            The training photos (a collection, a folder with EXIF GPS, or a
            CSV manifest). Its ``author`` column, where present, gives the
            photographer groups of the validation split.
        cells : pandas.DataFrame, optional
            As in :meth:`fit`.
        jobs : int, optional
            Worker processes for feature extraction.
        fit_sample : int, optional
            Photos sampled to fit an extractor that learns something (textons).

        Returns
        -------
        PlaNet
            ``self``; photos that could not be decoded are in ``skipped_``.
        """
        from im2gps.index import extract_features
        from im2gps.index.cache import FeatureCache
        from im2gps.index.extract import fit_extractors

        collection = photos if isinstance(photos, PhotoCollection) else PhotoCollection.open(photos)
        extractor = create(self.feature, **dict(self.feature_params or {}))
        cache = FeatureCache()  # the user cache: embeddings of photos seen before are reused
        fit_extractors({self.feature: extractor}, collection, sample_size=fit_sample,
                       seed=int(self.seed), cache=cache)
        with tempfile.TemporaryDirectory(prefix="im2gps-planet-") as work:
            features = extract_features(collection, {self.feature: extractor}, work,
                                        jobs=jobs, progress=self.progress, cache=cache)
        table = collection.table[features.ok]
        if len(table) == 0:
            raise ValueError(f"{collection.source}: no photo could be decoded")
        groups = table["author"].to_numpy() if "author" in table else None
        self.fit(features.matrices[self.feature], table["lat"], table["lon"], groups=groups,
                 cells=cells)
        self.extractor_: FeatureExtractor | None = extractor
        self.skipped_: list[Skipped] = list(collection.skipped) + list(features.skipped)
        return self

    # -- prediction ----------------------------------------------------------
    def _fitted(self) -> _Head:
        if not hasattr(self, "model_"):
            raise RuntimeError("this PlaNet locator is not fitted: call fit() or PlaNet.load()")
        return self.model_

    def _extractor(self) -> FeatureExtractor:
        extractor = getattr(self, "extractor_", None)
        if extractor is None:
            extractor = create(self.feature, **dict(self.feature_params or {}))
            if not extractor.is_fitted:
                raise RuntimeError(f"the {self.feature!r} extractor must be fitted: train with "
                                   "fit_photos(), or call predict_embeddings() with your own "
                                   "embeddings")
            self.extractor_ = extractor
        return extractor

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """``(n, n_cells)`` float32 cell probabilities (NaN rows for non-finite inputs)."""
        model = self._fitted()
        X = np.asarray(embeddings, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.dim_:
            raise ValueError(f"expected (n, {self.dim_}) embeddings, got {X.shape}")
        ok = np.isfinite(X).all(axis=1)
        probs = np.full((len(X), len(self.cells_)), np.nan, np.float32)
        if ok.any():
            with _single_thread(), torch.no_grad():
                logits = model(torch.from_numpy(np.ascontiguousarray(X[ok])))
                probs[ok] = torch.softmax(logits, dim=1).numpy()
        return probs

    def predict_embeddings(self, embeddings: np.ndarray) -> Predictions:
        """Locate photos from their embeddings (rows with NaN fail).

        Returns
        -------
        Predictions
            ``lat``/``lon`` of the most probable cell (its photos' mean or its
            centre, by ``coordinate``), ``cell_probs`` ``(n, n_cells)``, and in
            ``extra``: ``cell`` (row of the best cell, -1 if failed),
            ``top_cells`` / ``top_probs`` (the ``TOP_CELLS`` most probable
            cells and their probabilities).
        """
        self._check_params()
        probs = self.predict_proba(embeddings)
        n, n_cells = probs.shape
        failed = ~np.isfinite(probs).all(axis=1) if n_cells else np.ones(n, bool)
        k = min(TOP_CELLS, n_cells)
        filled = np.where(failed[:, None], -np.inf, probs)
        top = np.argsort(-filled, axis=1, kind="stable")[:, :k]
        top_probs = np.take_along_axis(probs, top, axis=1)
        best = np.where(failed, -1, top[:, 0])
        prefix = "mean" if self.coordinate == "mean" else "center"
        cell_lat = self.cells_[f"{prefix}_lat"].to_numpy(np.float64)
        cell_lon = self.cells_[f"{prefix}_lon"].to_numpy(np.float64)
        lat = np.where(failed, np.nan, cell_lat[np.maximum(best, 0)])
        lon = np.where(failed, np.nan, cell_lon[np.maximum(best, 0)])
        errors = [("no feature vector (the photo failed)" if f else None) for f in failed]
        top[failed] = -1
        return Predictions(lat, lon, failed, errors, cell_probs=probs,
                           extra={"cell": best, "top_cells": top, "top_probs": top_probs})

    def embed(self, images: Sequence[np.ndarray | str | os.PathLike]
              ) -> tuple[np.ndarray, list[str | None]]:
        """Embeddings of photos (arrays or paths); undecodable ones get NaN rows."""
        from im2gps.locator import load_images

        self._fitted()
        extractor = self._extractor()
        decoded, errors = load_images(images)
        ok = [i for i, image in enumerate(decoded) if image is not None]
        X = np.full((len(decoded), self.dim_), np.nan, np.float32)
        if ok:
            X[ok] = extractor.transform([decoded[i] for i in ok])
        return X, errors

    def predict(self, images: Sequence[np.ndarray | str | os.PathLike]) -> Predictions:
        """Locate photos given as RGB arrays or image paths.

        A photo that cannot be decoded fails (NaN estimate, reason in
        ``errors``); the others are answered as usual.
        """
        X, errors = self.embed(images)
        predictions = self.predict_embeddings(X)
        predictions.errors = [e or p for e, p in zip(errors, predictions.errors, strict=True)]
        return predictions

    # -- persistence ---------------------------------------------------------
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the locator to a new directory (written aside, then renamed).

        Files: ``planet.json``, ``model.safetensors``, ``cells.csv`` and,
        where the locator has its own extractor, ``feature/``.
        """
        model = self._fitted()
        extractor = getattr(self, "extractor_", None)
        config = {
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "dim": self.dim_,
            "n_cells": len(self.cells_),
            "best_epoch": self.best_epoch_,
            "history": self.history_,
            "extractor": extractor.config() if extractor is not None else None,
        }
        return save_model_files(path, CONFIG_FILE, WEIGHTS_FILE, config, model, self.cells_,
                                extractor, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PlaNet:
        """Read a locator written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If the directory or one of its files is missing.
        ValueError
            If the format version, the cell table or the weights do not match.
        """
        path = Path(path)
        config, cells, extractor = read_model_files(path, CONFIG_FILE, WEIGHTS_FILE,
                                                    FORMAT_VERSION, "PlaNet locator")
        locator = cls(**config["params"])
        locator.cells_ = cells
        if len(locator.cells_) != config["n_cells"]:
            raise ValueError(f"{path / CELLS_FILE}: {len(locator.cells_)} cells, the model has "
                             f"{config['n_cells']}")
        locator.dim_ = int(config["dim"])
        locator.model_ = load_weights(
            _Head(locator.dim_, config["n_cells"], locator.hidden, locator.dropout),
            path / WEIGHTS_FILE)
        locator.history_ = config["history"]
        locator.best_epoch_ = int(config["best_epoch"])
        locator.extractor_ = extractor
        locator.skipped_ = []
        return locator

"""PlaNet's album model: an LSTM over the frozen embeddings of an album's photos.

Weyand et al. (ECCV 2016, section 5) geolocate a photo album by feeding the
embeddings of its photos, in time order, to an LSTM that predicts each
photo's cell, and find it better than averaging the single-photo
predictions. :class:`AlbumLSTM` trains such a model on FROZEN embeddings
(the CNN embeddings the :class:`~im2gps.planet.PlaNet` head uses), with the
photos of one author ordered by capture time as the training sequences:

* the partition is PlaNet's (:func:`~im2gps.planet.partition.partition` of
  the training coordinates, or a given cell table);
* the network: the standardised embedding goes (after dropout) through a
  one-layer LSTM (``bidirectional=True``: both directions, so every photo
  sees the whole album) and a linear layer, plus a linear layer straight
  from the embedding (a single-photo PlaNet head), summed into each photo's
  cell logits;
* training: cross-entropy over every photo of every sequence (padded
  batches, ``pack_padded_sequence``), AdamW, early stopping on a
  photographer-disjoint validation split, best epoch kept; sequences longer
  than ``max_len`` are cut into pieces;
* each photo's answer is its most probable cell (its photos' mean, or its
  centre); the album's answer is the cell of the largest mean probability.

It follows the locator contract (``fit`` returns ``self``, learned
attributes end in ``_``, ``predict(images, times)`` returns
:class:`~im2gps.predictions.Predictions` with ``cell_probs`` and the album's
answer in ``extra``), and :meth:`AlbumLSTM.save` / :meth:`AlbumLSTM.load`
write and read ``album_lstm.json``, ``album_lstm.safetensors``, ``cells.csv``
and, where it has its own extractor, ``feature/``. Nothing is pickled.

References
----------
.. [1] T. Weyand, I. Kostrikov and J. Philbin, "PlaNet - Photo geolocation
   with convolutional neural networks", ECCV 2016.
.. [2] S. Hochreiter and J. Schmidhuber, "Long short-term memory", Neural
   Computation 9(8), 1997.

Notes
-----
Departures from PlaNet's album model:

* The embedding is frozen (PlaNet's comes from its own network, trained on
  91 million photos) and the LSTM is trained on the database's author
  sequences (im2gps2k: 108 authors with 2 to 4 photos, and about 1,450
  single photos as sequences of one), not on 29.7 million Google+ albums.
* PlaNet's LSTM reads the album's embeddings in order (and in a
  "label offset" or bidirectional variant); here ``bidirectional=True`` is
  the default, and the extra linear path from each embedding lets the model
  fall back on the single-photo answer where albums teach it little.
* Time gaps are not an input (PlaNet's LSTM sees only the order either).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from im2gps.albums import Album
from im2gps.planet.classifier import (
    _single_thread,
    load_weights,
    read_model_files,
    save_model_files,
)
from im2gps.planet.partition import assign_cells, partition
from im2gps.predictions import Predictions

__all__ = ["AlbumLSTM", "author_sequences"]

FORMAT_VERSION = 1
CONFIG_FILE = "album_lstm.json"
WEIGHTS_FILE = "album_lstm.safetensors"
CELLS_FILE = "cells.csv"
FEATURE_DIR = "feature"


class _Net(nn.Module):
    def __init__(self, dim: int, n_cells: int, hidden: int, bidirectional: bool,
                 dropout: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=bidirectional)
        self.sequence = nn.Linear(hidden * (2 if bidirectional else 1), n_cells)
        self.direct = nn.Linear(dim, n_cells)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, L, dim)`` padded sequences -> ``(B, L, n_cells)`` logits."""
        x = self.dropout((x - self.mean) / self.scale)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.sequence(out) + self.direct(x)


def author_sequences(groups: Sequence[Any] | np.ndarray, times: np.ndarray | None,
                     max_len: int = 50) -> list[np.ndarray]:
    """Rows of each group in time order (untimed photos last, by row), cut to ``max_len``."""
    groups = pd.Series(np.asarray(groups)).astype(str).to_numpy()
    n = len(groups)
    times = np.full(n, np.nan) if times is None else np.asarray(times, np.float64)
    key = np.where(np.isfinite(times), times, np.inf)
    order = np.lexsort((np.arange(n), key, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sequences = []
    for rows in np.split(order, starts[1:]):
        for start in range(0, len(rows), max_len):
            sequences.append(rows[start: start + max_len])
    return sequences


def _pad(X: np.ndarray, sequences: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    out = torch.zeros((len(sequences), int(lengths.max()), X.shape[1]), dtype=torch.float32)
    for b, rows in enumerate(sequences):
        out[b, : len(rows)] = torch.from_numpy(X[rows])
    return out, lengths


class AlbumLSTM:
    """PlaNet-style album model: a (bidirectional) LSTM over frozen embeddings.

    Parameters
    ----------
    feature, feature_params : optional
        Extractor of :meth:`predict` (as for :class:`~im2gps.planet.PlaNet`).
    t_max, t_min : int, optional
        Partition thresholds when :meth:`fit` builds the partition.
    hidden : int, optional
        LSTM units per direction.
    bidirectional : bool, optional
        Read the album in both directions.
    dropout : float, optional
        Dropout on the standardised embeddings.
    weight_decay, lr : float, optional
        AdamW settings.
    max_epochs, patience, batch_size : int, optional
        Training length, early-stopping patience, sequences per step.
    val_fraction : float, optional
        Share of authors held out for early stopping.
    max_len : int, optional
        Longest training sequence (longer ones are cut).
    seed : int, optional
        Seed of the split, initialisation, batch order and dropout.
    coordinate : {"mean", "center"}, optional
        A cell's coordinates: its training photos' mean or its centre.

    Attributes
    ----------
    cells_ : pandas.DataFrame
        The partition.
    model_ : torch.nn.Module
        The trained network (evaluation mode).
    dim_ : int
        Embedding length.
    history_ : dict
        ``train_loss``, ``val_loss`` per epoch.
    best_epoch_ : int
        Epoch whose weights were kept.
    """

    def __init__(self, feature: str = "cnn", feature_params: Mapping[str, Any] | None = None,
                 t_max: int = 50, t_min: int = 20, hidden: int = 64,
                 bidirectional: bool = True, dropout: float = 0.2,
                 weight_decay: float = 1e-2, lr: float = 1e-3, max_epochs: int = 100,
                 patience: int = 8, batch_size: int = 64, val_fraction: float = 0.1,
                 max_len: int = 50, seed: int = 0, coordinate: str = "mean") -> None:
        self.feature = feature
        self.feature_params = feature_params
        self.t_max = t_max
        self.t_min = t_min
        self.hidden = hidden
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.lr = lr
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.max_len = max_len
        self.seed = seed
        self.coordinate = coordinate

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-ready)."""
        return {"feature": self.feature, "feature_params": dict(self.feature_params or {}),
                "t_max": int(self.t_max), "t_min": int(self.t_min),
                "hidden": int(self.hidden), "bidirectional": bool(self.bidirectional),
                "dropout": float(self.dropout), "weight_decay": float(self.weight_decay),
                "lr": float(self.lr), "max_epochs": int(self.max_epochs),
                "patience": int(self.patience), "batch_size": int(self.batch_size),
                "val_fraction": float(self.val_fraction), "max_len": int(self.max_len),
                "seed": int(self.seed), "coordinate": self.coordinate}

    def _check_params(self) -> None:
        if self.coordinate not in ("mean", "center"):
            raise ValueError(f"coordinate must be 'mean' or 'center', not {self.coordinate!r}")
        for name in ("hidden", "max_epochs", "patience", "batch_size", "max_len"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not 0 <= float(self.dropout) < 1 or not 0 <= float(self.val_fraction) < 1:
            raise ValueError("dropout and val_fraction must be in [0, 1)")

    # -- training ------------------------------------------------------------
    def fit(self, embeddings: np.ndarray, lat, lon, groups: Sequence[Any] | None = None,
            times: np.ndarray | None = None, cells: pd.DataFrame | None = None) -> AlbumLSTM:
        """Train on the sequences of each group (author) in time order.

        Parameters
        ----------
        embeddings : numpy.ndarray
            ``(n, d)`` frozen embeddings (finite).
        lat, lon : array_like
            ``(n,)`` degrees.
        groups : sequence, optional
            ``(n,)`` author of each photo (None: every photo alone).
        times : numpy.ndarray, optional
            ``(n,)`` capture times in seconds (NaN: unusable; ordered last).
        cells : pandas.DataFrame, optional
            A cell table (e.g. a fitted PlaNet's ``cells_``); by default the
            partition of ``lat``/``lon`` with ``t_max``/``t_min``.

        Returns
        -------
        AlbumLSTM
            ``self``.

        Raises
        ------
        ValueError
            On mismatched shapes, non-finite embeddings or an empty partition.
        """
        from sklearn.model_selection import GroupShuffleSplit

        self._check_params()
        X = np.ascontiguousarray(embeddings, dtype=np.float32)
        lat = np.asarray(lat, np.float64).ravel()
        lon = np.asarray(lon, np.float64).ravel()
        if X.ndim != 2 or len(X) != lat.size or lat.size != lon.size:
            raise ValueError(f"need (n, d) embeddings and n coordinates, got {X.shape}, "
                             f"{lat.size}, {lon.size}")
        if not np.isfinite(X).all():
            raise ValueError("embeddings hold NaN or infinite values")
        groups_arr = (np.arange(len(X)).astype(str) if groups is None
                      else pd.Series(np.asarray(groups)).astype(str).to_numpy())
        if cells is None:
            cells, labels = partition(lat, lon, int(self.t_max), int(self.t_min))
        else:
            cells = cells.reset_index(drop=True).copy()
            labels = assign_cells(cells, lat, lon)
        if len(cells) == 0:
            raise ValueError("the partition has no cell; lower t_min")
        sequences = author_sequences(groups_arr, times, int(self.max_len))
        seq_groups = np.array([groups_arr[s[0]] for s in sequences])
        train = np.arange(len(sequences))
        val = train[:0]
        if float(self.val_fraction) > 0 and np.unique(seq_groups).size >= 2:
            split = GroupShuffleSplit(n_splits=1, test_size=float(self.val_fraction),
                                      random_state=int(self.seed))
            train, val = next(split.split(train, groups=seq_groups))
        self.cells_ = cells
        self.dim_ = int(X.shape[1])
        rows_train = np.concatenate([sequences[i] for i in train])
        self.model_, self.history_, self.best_epoch_ = self._train(
            X, labels, [sequences[i] for i in train], [sequences[i] for i in val], rows_train)
        self.extractor_ = None
        return self

    def _train(self, X, labels, train, val, rows_train):
        history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        y = torch.from_numpy(np.asarray(labels, np.int64))
        loss_fn = nn.CrossEntropyLoss(ignore_index=-1)

        def batch_loss(model, seqs):
            x, lengths = _pad(X, seqs)
            target = torch.full(x.shape[:2], -1, dtype=torch.int64)
            for b, rows in enumerate(seqs):
                target[b, : len(rows)] = y[rows]
            logits = model(x, lengths)
            return loss_fn(logits.reshape(-1, logits.shape[-1]), target.reshape(-1)), \
                int((target >= 0).sum())

        with _single_thread(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            model = _Net(self.dim_, len(self.cells_), int(self.hidden),
                         bool(self.bidirectional), float(self.dropout))
            xt = torch.from_numpy(X[rows_train])
            scale = xt.std(0, unbiased=False) if len(rows_train) > 1 else torch.ones(self.dim_)
            model.mean.copy_(xt.mean(0))
            model.scale.copy_(torch.where(scale > 1e-6, scale, torch.ones_like(scale)))
            optimizer = torch.optim.AdamW(model.parameters(), lr=float(self.lr),
                                          weight_decay=float(self.weight_decay))
            order_rng = torch.Generator().manual_seed(int(self.seed))
            best, best_epoch, best_state, stale = math.inf, 0, None, 0
            for epoch in range(int(self.max_epochs)):
                model.train()
                total, count = 0.0, 0
                idx = torch.randperm(len(train), generator=order_rng)
                for start in range(0, len(train), int(self.batch_size)):
                    seqs = [train[i] for i in idx[start: start + int(self.batch_size)].tolist()]
                    optimizer.zero_grad()
                    loss, m = batch_loss(model, seqs)
                    if m == 0:
                        continue
                    loss.backward()
                    optimizer.step()
                    total, count = total + loss.item() * m, count + m
                history["train_loss"].append(total / max(count, 1))
                if not val:
                    best_epoch = epoch
                    continue
                model.eval()
                with torch.no_grad():
                    loss, m = batch_loss(model, val)
                val_loss = float(loss) if m else math.inf
                history["val_loss"].append(val_loss)
                if val_loss < best:
                    best, best_epoch, stale = val_loss, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
                    if stale >= int(self.patience):
                        break
            if best_state is not None:
                model.load_state_dict(best_state)
        model.eval()
        return model, history, best_epoch

    # -- prediction ----------------------------------------------------------
    def _fitted(self) -> _Net:
        if not hasattr(self, "model_"):
            raise RuntimeError("this AlbumLSTM is not fitted: call fit() or AlbumLSTM.load()")
        return self.model_

    def predict_proba_albums(self, embeddings: np.ndarray, albums: Sequence[Album]
                             ) -> np.ndarray:
        """``(n, n_cells)`` cell probabilities of each photo in its album's context.

        ``albums`` index rows of ``embeddings`` (their ``rows``, in capture
        order). Photos with non-finite embeddings are left out of their
        album's sequence and get NaN rows; photos in no album are read alone.
        """
        model = self._fitted()
        X = np.asarray(embeddings, np.float32)
        if X.ndim != 2 or X.shape[1] != self.dim_:
            raise ValueError(f"expected (n, {self.dim_}) embeddings, got {X.shape}")
        ok = np.isfinite(X).all(axis=1)
        covered = np.zeros(len(X), bool)
        sequences = []
        for album in albums:
            rows = np.asarray(album.rows, np.int64)
            covered[rows] = True
            rows = rows[ok[rows]]
            if rows.size:
                sequences.append(rows)
        sequences += [np.array([i]) for i in np.flatnonzero(ok & ~covered)]
        probs = np.full((len(X), len(self.cells_)), np.nan, np.float32)
        Xc = np.where(ok[:, None], X, 0).astype(np.float32)
        with _single_thread(), torch.no_grad():
            for start in range(0, len(sequences), 256):
                seqs = sequences[start: start + 256]
                x, lengths = _pad(Xc, seqs)
                p = torch.softmax(model(x, lengths), dim=-1).numpy()
                for b, rows in enumerate(seqs):
                    probs[rows] = p[b, : len(rows)]
        return probs

    def locate_albums_embeddings(self, embeddings: np.ndarray, albums: Sequence[Album]
                                 ) -> Predictions:
        """Per-photo answers and each album's answer (``extra``) from embeddings."""
        probs = self.predict_proba_albums(embeddings, albums)
        failed = ~np.isfinite(probs).all(axis=1)
        prefix = "mean" if self.coordinate == "mean" else "center"
        c_lat = self.cells_[f"{prefix}_lat"].to_numpy(np.float64)
        c_lon = self.cells_[f"{prefix}_lon"].to_numpy(np.float64)
        best = np.argmax(np.where(failed[:, None], -np.inf, probs), axis=1)
        lat = np.where(failed, np.nan, c_lat[best])
        lon = np.where(failed, np.nan, c_lon[best])
        album_lat, album_lon = lat.copy(), lon.copy()
        for album in albums:
            rows = np.asarray(album.rows, np.int64)
            rows_ok = rows[~failed[rows]]
            if rows_ok.size:
                cell = int(np.argmax(probs[rows_ok].mean(axis=0)))
                album_lat[rows], album_lon[rows] = c_lat[cell], c_lon[cell]
        errors = [("no feature vector (the photo failed)" if f else None) for f in failed]
        return Predictions(lat, lon, failed, errors, cell_probs=probs,
                           extra={"cell": np.where(failed, -1, best), "album_lat": album_lat,
                                  "album_lon": album_lon})

    def predict(self, images: Sequence[Any], times: Sequence[float] | None = None
                ) -> Predictions:
        """Locate one album given as images in capture order (``times`` is not used)."""
        from im2gps.features import create
        from im2gps.locator import load_images

        self._fitted()
        extractor = self.extractor_
        if extractor is None:
            extractor = create(self.feature, **dict(self.feature_params or {}))
        decoded, errors = load_images(images)
        ok = [i for i, image in enumerate(decoded) if image is not None]
        X = np.full((len(decoded), self.dim_), np.nan, np.float32)
        if ok:
            X[ok] = extractor.transform([decoded[i] for i in ok])
        album = Album("album", [str(i) for i in range(len(X))], [str(i) for i in range(len(X))],
                      np.full(len(X), np.nan), np.arange(len(X)))
        predictions = self.locate_albums_embeddings(X, [album])
        predictions.errors = [e or p for e, p in zip(errors, predictions.errors, strict=True)]
        return predictions

    def predict_album(self, album: Album) -> Predictions:
        """Locate an :class:`~im2gps.albums.Album`."""
        return self.predict(album.images, album.times)

    # -- persistence ---------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to a new directory (written aside, then renamed)."""
        model = self._fitted()
        extractor = getattr(self, "extractor_", None)
        config = {"format_version": FORMAT_VERSION, "kind": "album_lstm",
                  "params": self.get_params(), "dim": self.dim_, "n_cells": len(self.cells_),
                  "best_epoch": self.best_epoch_, "history": self.history_,
                  "extractor": extractor.config() if extractor is not None else None}
        return save_model_files(path, CONFIG_FILE, WEIGHTS_FILE, config, model, self.cells_,
                                extractor)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AlbumLSTM:
        """Read a model written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If a file is missing.
        ValueError
            If the format version or the weights do not match.
        """
        path = Path(path)
        config, cells, extractor = read_model_files(path, CONFIG_FILE, WEIGHTS_FILE,
                                                    FORMAT_VERSION, "AlbumLSTM")
        model = cls(**config["params"])
        model.cells_ = cells
        model.dim_ = int(config["dim"])
        model.model_ = load_weights(
            _Net(model.dim_, int(config["n_cells"]), int(model.hidden),
                 bool(model.bidirectional), float(model.dropout)), path / WEIGHTS_FILE)
        model.history_ = config["history"]
        model.best_epoch_ = int(config["best_epoch"])
        model.extractor_ = extractor
        return model

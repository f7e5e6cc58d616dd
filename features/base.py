"""The feature extractor interface shared by every scene feature.

An extractor turns an ``H x W x 3`` uint8 RGB photo into one float32 vector.
It is small on purpose:

* ``name`` and ``dim``;
* ``fit(images)`` where something is learned (the texton dictionary), a no-op
  otherwise;
* ``__call__(image) -> (dim,) float32`` and a batched ``transform(images)``;
* ``distance``: the feature's native distance (``"l2"``, ``"chi2"`` or
  ``"l1"``) and :meth:`FeatureExtractor.to_l2`, which maps vectors so that the
  Euclidean distance between mapped vectors stands in for the native one (the
  square root of a histogram, i.e. the Hellinger embedding, for chi-square and
  L1 histograms), so one FAISS L2 index can search every feature;
* ``get_params()`` (JSON) and ``state()`` / ``set_state()`` (named numpy
  arrays), saved by :meth:`FeatureExtractor.save` as plain ``.json`` and
  ``.npy`` files and read back by :func:`load_extractor`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = ["FeatureExtractor", "DISTANCES"]

#: Native distances an extractor may declare.
DISTANCES = ("l2", "chi2", "l1")


class FeatureExtractor:
    """Base class of all scene feature extractors.

    Subclasses set ``name`` and ``distance``, store their parameters in
    ``__init__``, implement :meth:`extract` (one photo) and :attr:`dim`, and
    override :meth:`fit`, :meth:`state` and :meth:`set_state` when they learn
    something.
    """

    name: ClassVar[str] = ""
    distance: ClassVar[str] = "l2"
    #: True where :meth:`fit` must run before :meth:`extract`.
    needs_fit: ClassVar[bool] = False

    # -- to implement --------------------------------------------------------
    @property
    def dim(self) -> int:
        """Length of the descriptor."""
        raise NotImplementedError

    def extract(self, image: np.ndarray) -> np.ndarray:
        """Descriptor of one ``H x W x 3`` uint8 RGB image, ``(dim,)`` float32."""
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters as a JSON-serialisable dict."""
        return {}

    def fit(self, images: Iterable[np.ndarray]) -> FeatureExtractor:
        """Learn what the feature needs from sample photos (no-op by default)."""
        return self

    def state(self) -> dict[str, np.ndarray]:
        """Arrays learned by :meth:`fit` (empty where nothing is learned)."""
        return {}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned."""

    @property
    def is_fitted(self) -> bool:
        """Whether the extractor is ready to extract."""
        return not self.needs_fit or bool(self.state())

    def warm_up(self) -> None:
        """Do now the one-time set-up that a process's first :meth:`extract` pays.

        OpenCV's L*a*b* tables, texton filter spectra, Gabor banks: about a
        tenth of a second in all, which :meth:`im2gps.index.GeoIndex.load`
        (``warm_up=True``, as ``im2gps locate`` asks) runs on another thread
        while it reads the index, instead of the first photo waiting for it.
        By default, extracts a blank 64 x 64 image (nothing for an extractor
        that is not fitted). Safe beside other calls: it only fills caches.
        """
        if self.is_fitted:
            self.extract(np.full((64, 64, 3), 128, np.uint8))

    # -- shared --------------------------------------------------------------
    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.extract(_check_image(image))

    def transform(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """Descriptors of many images, ``(n, dim)`` float32."""
        rows = [self(image) for image in images]
        if not rows:
            return np.zeros((0, self.dim), np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def to_l2(self, vectors: np.ndarray) -> np.ndarray:
        """Map descriptors so that L2 between them stands in for the native distance.

        ``l2`` features are returned as they are; ``chi2`` and ``l1``
        histograms become their element-wise square root (the Hellinger
        embedding): for histograms h, g,
        ``||sqrt(h) - sqrt(g)||^2 = sum((h - g)^2 / (sqrt(h) + sqrt(g))^2)``,
        which orders pairs closely to chi-square and is bounded by L1.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.distance == "l2":
            return vectors
        return np.sqrt(np.maximum(vectors, 0.0))

    def config(self) -> dict[str, Any]:
        """Everything needed to re-create the extractor: name, params, dim, distance."""
        return {
            "name": self.name,
            "params": self.get_params(),
            "dim": int(self.dim),
            "distance": self.distance,
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``<name>.json`` (config) and ``<name>.<key>.npy`` (learned arrays)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = self.config()
        config["state"] = sorted(self.state())
        for key, array in self.state().items():
            np.save(directory / f"{self.name}.{key}.npy", np.asarray(array), allow_pickle=False)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"expected an H x W x 3 uint8 RGB image, got shape {image.shape} and "
            f"dtype {image.dtype} (use im2gps.load_image to read photos)"
        )
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise ValueError(f"image too small for scene features: {image.shape[1]}x{image.shape[0]}")
    return image

"""RootSIFT local features: keypoints and compact descriptors per photo.

Landmark retrieval matches *local* features: where a test photo shows the
same building, bridge or mountain as a database photo, many small patches of
the two photos match one to one and their positions agree on one geometric
transformation. :class:`RootSIFT` detects SIFT keypoints (Lowe, 2004) with
OpenCV and maps each descriptor to RootSIFT (Arandjelović & Zisserman,
2012): L1-normalise the SIFT vector, then take the element-wise square
root, so that the Euclidean distance between RootSIFT vectors equals the
Hellinger distance between the SIFT histograms.

Unlike the scene features, a photo has a variable number of local features,
so they are not one row of a matrix: :class:`LocalFeatures` holds one
photo's keypoints and descriptors, and :class:`LocalFeatureSet` many photos'
in three flat arrays with row offsets, saved as plain ``.npy`` files plus a
JSON configuration (no pickle).

Storage per keypoint: 128 bytes of uint8 descriptor and 8 bytes of float16
geometry ``(x, y, size, angle)``: 136 bytes, so the default cap of
``max_keypoints=400`` stays under 55 KB per photo (64 KB is the budget).

References
----------
.. [1] D. G. Lowe, "Distinctive image features from scale-invariant
   keypoints", IJCV 60(2), 2004.
.. [2] R. Arandjelović and A. Zisserman, "Three things everyone should know
   to improve object retrieval", CVPR 2012 (RootSIFT).
.. [3] J. Hays and A. A. Efros, "Large-scale image geolocalization", in
   Multimodal Location Estimation of Videos and Images, Springer 2015 (bag of
   SIFT among the im2gps features).

Notes
-----
Departures from the papers:

* **Keypoint cap.** At most ``max_keypoints`` keypoints are kept per photo,
  those of highest DoG response (OpenCV's ``nfeatures``); Lowe keeps every
  keypoint (often 1,000-3,000 in a 640-px photo). The cap bounds storage and
  matching time; ``benchmarks/verification_speed.py`` measured it
  (``benchmarks/results/verification_speed.md``, one core, short list of
  20): caps 200 / 300 / 400 / 470 store 26 / 39 / 51 / 59 KB per photo,
  verify a short list in 0.05 / 0.05 / 0.09 / 0.08 s, never verify a chance
  pair (at most 4-5 inliers among 1,000 unrelated pairs), and find 82 / 124
  / 166 / 196 inliers (median) between a photo and another view of it. More
  keypoints buy inliers on real matches at a linear cost in bytes; 400
  keeps every photo under 54.4 KB (15 % below the 64 KB budget) and the
  time far below the 0.5 s target.
* **Quantisation.** Descriptors are stored as uint8:
  ``round(clip(512 * rootsift, 0, 255))``; a RootSIFT component above 0.5
  would need an L1 share above 1/4 in one bin, which SIFT's 0.2 clipping
  practically rules out. Keypoint geometry is stored as float16 (position
  error at most 0.25 px in a 640-px photo).
* Photos are resized so that their longer side is at most ``max_side``
  (640 px by default, area interpolation) before detection; keypoint
  positions and sizes are given in the pixels of the photo as passed in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from im2gps.features.base import _check_image

__all__ = ["DESCRIPTOR_SCALE", "LocalFeatureSet", "LocalFeatures", "RootSIFT", "rootsift"]

#: uint8 code = round(DESCRIPTOR_SCALE * RootSIFT component), clipped to 255.
DESCRIPTOR_SCALE = 512.0
#: Bytes stored per keypoint: 128 uint8 descriptor + 4 float16 geometry values.
BYTES_PER_KEYPOINT = 128 + 4 * 2


def rootsift(descriptors: np.ndarray) -> np.ndarray:
    """Map SIFT descriptors to RootSIFT (L1-normalise, then square root).

    Parameters
    ----------
    descriptors : numpy.ndarray
        ``(m, 128)`` non-negative SIFT descriptors.

    Returns
    -------
    numpy.ndarray
        ``(m, 128)`` float32, each row of unit L2 norm (zero rows stay zero).
    """
    d = np.asarray(descriptors, dtype=np.float32)
    total = d.sum(axis=1, keepdims=True)
    return np.sqrt(d / np.maximum(total, np.float32(1e-12)))


@dataclass
class LocalFeatures:
    """The local features of one photo.

    Attributes
    ----------
    keypoints : numpy.ndarray
        ``(m, 4)`` float16: x, y (pixels, origin at the top-left corner of the
        photo as passed in), size (pixels) and angle (degrees) per keypoint.
    descriptors : numpy.ndarray
        ``(m, 128)`` uint8 quantised RootSIFT (see :meth:`float_descriptors`).
    shape : tuple of int
        ``(height, width)`` of the photo, pixels.
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    shape: tuple[int, int]

    def __len__(self) -> int:
        return len(self.descriptors)

    @property
    def xy(self) -> np.ndarray:
        """``(m, 2)`` float32 keypoint positions in pixels."""
        return np.asarray(self.keypoints[:, :2], dtype=np.float32)

    def float_descriptors(self) -> np.ndarray:
        """``(m, 128)`` float32 RootSIFT vectors (unit norm up to quantisation)."""
        return np.asarray(self.descriptors, dtype=np.float32) / np.float32(DESCRIPTOR_SCALE)

    @property
    def nbytes(self) -> int:
        """Bytes these features take in a :class:`LocalFeatureSet`."""
        return int(self.keypoints.nbytes + self.descriptors.nbytes)


class RootSIFT:
    """RootSIFT keypoints and descriptors with OpenCV (``"sift"``).

    Parameters
    ----------
    max_keypoints : int, optional
        Keep at most this many keypoints per photo, strongest first.
    max_side : int, optional
        Resize photos whose longer side exceeds this many pixels.
    contrast_threshold : float, optional
        OpenCV's SIFT contrast threshold (0.04, Lowe's value, by default).
    edge_threshold : float, optional
        OpenCV's SIFT edge threshold (10, Lowe's value).

    Examples
    --------
    >>> import numpy as np
    >>> sift = RootSIFT(max_keypoints=50)
    >>> rng = np.random.default_rng(0)
    >>> image = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    >>> f = sift(image)
    >>> f.descriptors.dtype, f.descriptors.shape[1], len(f) <= 50
    (dtype('uint8'), 128, True)
    """

    name = "sift"

    def __init__(self, max_keypoints: int = 400, max_side: int = 640,
                 contrast_threshold: float = 0.04, edge_threshold: float = 10.0) -> None:
        if int(max_keypoints) != max_keypoints or max_keypoints < 1:
            raise ValueError(f"max_keypoints must be a positive integer, got {max_keypoints!r}")
        if int(max_side) != max_side or max_side < 16:
            raise ValueError(f"max_side must be an integer of at least 16, got {max_side!r}")
        self.max_keypoints = int(max_keypoints)
        self.max_side = int(max_side)
        self.contrast_threshold = float(contrast_threshold)
        self.edge_threshold = float(edge_threshold)
        self._sift: Any = None

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-ready)."""
        return {"max_keypoints": self.max_keypoints, "max_side": self.max_side,
                "contrast_threshold": self.contrast_threshold,
                "edge_threshold": self.edge_threshold}

    def config(self) -> dict[str, Any]:
        """Name and parameters: what re-creates the extractor."""
        return {"name": self.name, "params": self.get_params()}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"RootSIFT({params})"

    def __getstate__(self) -> dict[str, Any]:  # the OpenCV object is re-made on demand
        return dict(self.__dict__, _sift=None)

    def __call__(self, image: np.ndarray) -> LocalFeatures:
        return self.detect(image)

    def detect(self, image: np.ndarray) -> LocalFeatures:
        """Keypoints and quantised RootSIFT descriptors of one photo.

        Parameters
        ----------
        image : numpy.ndarray
            ``(H, W, 3)`` uint8 RGB photo.

        Returns
        -------
        LocalFeatures
            At most ``max_keypoints`` features, strongest first; none for a
            photo without texture.

        Raises
        ------
        ValueError
            If ``image`` is not an ``H x W x 3`` uint8 array of at least 8 x 8.
        """
        image = _check_image(image)
        height, width = image.shape[:2]
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        factor = 1.0
        if max(height, width) > self.max_side:
            factor = self.max_side / max(height, width)
            grey = cv2.resize(grey, (max(1, round(width * factor)), max(1, round(height * factor))),
                              interpolation=cv2.INTER_AREA)
        if self._sift is None:
            self._sift = cv2.SIFT_create(nfeatures=self.max_keypoints,
                                         contrastThreshold=self.contrast_threshold,
                                         edgeThreshold=self.edge_threshold)
        keypoints, descriptors = self._sift.detectAndCompute(grey, None)
        if descriptors is None or not keypoints:
            return LocalFeatures(np.zeros((0, 4), np.float16), np.zeros((0, 128), np.uint8),
                                 (height, width))
        response = np.array([k.response for k in keypoints], np.float32)
        order = np.argsort(-response, kind="stable")[: self.max_keypoints]
        geometry = np.array([(k.pt[0], k.pt[1], k.size, k.angle) for k in keypoints],
                            np.float32)[order]
        geometry[:, :3] /= np.float32(factor)
        codes = np.clip(np.rint(rootsift(descriptors[order]) * DESCRIPTOR_SCALE), 0, 255)
        return LocalFeatures(geometry.astype(np.float16), codes.astype(np.uint8),
                             (height, width))

    def detect_many(self, images: Iterable[np.ndarray]) -> LocalFeatureSet:
        """:meth:`detect` on many photos, gathered in one :class:`LocalFeatureSet`."""
        return LocalFeatureSet.from_list([self.detect(image) for image in images], self.config())


def _load_config(directory: Path) -> dict[str, Any]:
    path = directory / "local.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; {directory} holds no saved local features")
    return json.loads(path.read_text())


class LocalFeatureSet:
    """Local features of many photos in flat arrays (row ``i`` is photo ``i``).

    Parameters
    ----------
    keypoints : numpy.ndarray
        ``(total, 4)`` float16 keypoint geometry of all photos, concatenated.
    descriptors : numpy.ndarray
        ``(total, 128)`` uint8 descriptors, concatenated alike.
    offsets : numpy.ndarray
        ``(n + 1,)`` int64: photo ``i`` owns rows ``offsets[i]:offsets[i + 1]``.
    shapes : numpy.ndarray
        ``(n, 2)`` int32 ``(height, width)`` of each photo.
    config : dict, optional
        The extractor's :meth:`RootSIFT.config`, saved with the arrays.
    """

    ARRAYS = ("keypoints", "descriptors", "offsets", "shapes")

    def __init__(self, keypoints: np.ndarray, descriptors: np.ndarray, offsets: np.ndarray,
                 shapes: np.ndarray, config: dict[str, Any] | None = None) -> None:
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or \
                np.any(np.diff(offsets) < 0) or offsets[-1] != len(descriptors):
            raise ValueError("offsets must rise from 0 to the number of descriptors")
        if len(keypoints) != len(descriptors) or len(shapes) != len(offsets) - 1:
            raise ValueError("keypoints, descriptors, offsets and shapes do not agree in length")
        self.keypoints = keypoints
        self.descriptors = descriptors
        self.offsets = offsets
        self.shapes = np.asarray(shapes, dtype=np.int32).reshape(-1, 2)
        self.config = dict(config or {})

    @classmethod
    def from_list(cls, features: Sequence[LocalFeatures],
                  config: dict[str, Any] | None = None) -> LocalFeatureSet:
        """Gather the features of photos, in order."""
        counts = [len(f) for f in features]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        keypoints = (np.concatenate([f.keypoints for f in features]) if features
                     else np.zeros((0, 4), np.float16)).astype(np.float16, copy=False)
        descriptors = (np.concatenate([f.descriptors for f in features]) if features
                       else np.zeros((0, 128), np.uint8)).astype(np.uint8, copy=False)
        shapes = np.array([f.shape for f in features], np.int32).reshape(-1, 2)
        return cls(keypoints, descriptors, offsets, shapes, config)

    @classmethod
    def concatenate(cls, parts: Sequence[LocalFeatureSet]) -> LocalFeatureSet:
        """Join sets one after the other (the config of the first is kept)."""
        if not parts:
            return cls.from_list([])
        starts = np.cumsum([0] + [len(p.descriptors) for p in parts[:-1]])
        offsets = np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, starts,
                                                                            strict=True)])
        return cls(np.concatenate([np.asarray(p.keypoints) for p in parts]),
                   np.concatenate([np.asarray(p.descriptors) for p in parts]), offsets,
                   np.concatenate([p.shapes for p in parts]), parts[0].config)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> LocalFeatures:
        if not -len(self) <= i < len(self):
            raise IndexError(f"photo {i} out of range for {len(self)} photos")
        i = i % len(self)
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return LocalFeatures(np.asarray(self.keypoints[a:b]), np.asarray(self.descriptors[a:b]),
                             (int(self.shapes[i, 0]), int(self.shapes[i, 1])))

    def subset(self, rows: Sequence[int] | np.ndarray) -> LocalFeatureSet:
        """The features of some photos, in the order of ``rows``."""
        return LocalFeatureSet.from_list([self[int(i)] for i in rows], self.config)

    @property
    def counts(self) -> np.ndarray:
        """``(n,)`` keypoints per photo."""
        return np.diff(self.offsets)

    def bytes_per_photo(self) -> float:
        """Mean bytes of keypoints and descriptors per photo (offsets and shapes aside)."""
        return (self.keypoints.nbytes + self.descriptors.nbytes) / max(len(self), 1)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``local.json`` and one ``.npy`` per array into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in self.ARRAYS:
            np.save(directory / f"{name}.npy", np.asarray(getattr(self, name)),
                    allow_pickle=False)
        path = directory / "local.json"
        path.write_text(json.dumps({"extractor": self.config, "photos": len(self),
                                    "keypoints": int(self.offsets[-1])}, indent=2))
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike, mmap: bool = True) -> LocalFeatureSet:
        """Read what :meth:`save` wrote (the big arrays memory-mapped by default).

        Raises
        ------
        FileNotFoundError
            If ``local.json`` or an array is missing.
        ValueError
            If the arrays do not agree with each other or with ``local.json``.
        """
        directory = Path(directory)
        record = _load_config(directory)
        arrays = {}
        for name in cls.ARRAYS:
            path = directory / f"{name}.npy"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing array of the saved local features")
            big = name in ("keypoints", "descriptors")
            arrays[name] = np.load(path, mmap_mode="r" if (mmap and big) else None,
                                   allow_pickle=False)
        features = cls(config=record.get("extractor"), **arrays)
        if len(features) != record.get("photos") or \
                int(features.offsets[-1]) != record.get("keypoints"):
            raise ValueError(f"{directory}: arrays disagree with local.json; re-extract them")
        return features

    def extractor(self) -> RootSIFT:
        """The :class:`RootSIFT` that made these features (from the saved config)."""
        return RootSIFT(**self.config.get("params", {}))

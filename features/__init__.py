"""Scene features of IM2GPS (Hays & Efros, CVPR 2008), and CNN embeddings.

Each feature is a :class:`~im2gps.features.base.FeatureExtractor`; make one
by name with :func:`create`::

    from im2gps.features import create
    gist = create("gist", preset="im2gps")
    vectors = gist.transform(images)      # (n, gist.dim) float32

========  =====  ========  ================================================
name      dim    distance  what
========  =====  ========  ================================================
tiny      768    L2        16x16 colour image, zero mean, unit norm
color     784    chi2      joint L*a*b* histogram, 4 x 14 x 14 bins
texton    512    chi2      histogram of 512 textons (k-means dictionary)
gist      675    L2        GIST (lear_gist) 6x4 on 5x5 blocks + 5x5 L*a*b* image
lines     34     L1        histograms of line orientations and lengths
cnn       1280   L2        ImageNet EfficientNet-Lite0 embedding (``cnn`` extra)
bow       256    L2        tf-idf bag of RootSIFT visual words (k-means vocabulary)
========  =====  ========  ================================================

Local features are not one vector per photo: :class:`~im2gps.features.sift.RootSIFT`
(``sift``) gives each photo's keypoints and descriptors as
:class:`~im2gps.features.sift.LocalFeatures`, stored beside an index by
:mod:`im2gps.index.local` for geometric verification.

(dims are for the default parameters)
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.features.base import FeatureExtractor

__all__ = ["FeatureExtractor", "available", "create", "load_extractor", "CLASSICAL"]

# Extractors are imported lazily, so that e.g. the classical features work
# without torch installed.
_REGISTRY: dict[str, str] = {
    "tiny": "im2gps.features.tiny:TinyImage",
    "color": "im2gps.features.color:ColorHistogram",
    "texton": "im2gps.features.texton:TextonHistogram",
    "gist": "im2gps.features.gist:Gist",
    "lines": "im2gps.features.lines:LineHistogram",
    "cnn": "im2gps.features.cnn:CNNEmbedding",
    "bow": "im2gps.features.bow:BagOfWords",
}

#: The five scene features of the IM2GPS paper.
CLASSICAL = ("tiny", "color", "texton", "gist", "lines")


def available() -> list[str]:
    """Names that :func:`create` accepts."""
    return list(_REGISTRY)


def _class(name: str) -> type[FeatureExtractor]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown feature {name!r}; choose from {', '.join(_REGISTRY)}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def create(name: str, **params: Any) -> FeatureExtractor:
    """Make a feature extractor by name.

    Parameters
    ----------
    name : str
        One of :func:`available`.
    **params
        Parameters of that extractor (see its class).

    Returns
    -------
    FeatureExtractor
    """
    return _class(name)(**params)


def load_extractor(directory: str | os.PathLike, name: str) -> FeatureExtractor:
    """Re-create an extractor saved with :meth:`FeatureExtractor.save`."""
    directory = Path(directory)
    path = directory / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no saved extractor named {name!r}")
    config = json.loads(path.read_text())
    extractor = create(config["name"], **config["params"])
    arrays = {}
    for key in config.get("state", []):
        array_path = directory / f"{name}.{key}.npy"
        if not array_path.is_file():
            raise FileNotFoundError(f"{array_path}: missing learned array of feature {name!r}")
        arrays[key] = np.load(array_path, allow_pickle=False)
    if arrays:
        extractor.set_state(arrays)
    if extractor.dim != config["dim"]:
        raise ValueError(f"{path}: saved dim {config['dim']} != rebuilt dim {extractor.dim}")
    return extractor

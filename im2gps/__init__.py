"""im2gps: where was this photo taken?

The data-driven geolocation of Hays & Efros (IM2GPS, CVPR 2008) -- scene
features, a kNN index over geotagged photos, mean-shift voting -- beside a
pluggable PlaNet classifier (Weyand et al., ECCV 2016).

The main entry points are importable from here; heavier ones (FAISS, torch)
load on first use::

    from im2gps import Im2GPS, PhotoCollection
    locator = Im2GPS().fit(PhotoCollection.open("photos.csv"))
"""

from __future__ import annotations

import importlib
from typing import Any

from im2gps.errors import PhotoError

__version__ = "0.1.0"

# name -> module that defines it, imported on first access (PEP 562), so that
# `import im2gps` (and every CLI command) costs only what is used: pandas,
# FAISS, scikit-learn and torch load when a command needs them.
_LAZY = {
    "PhotoCollection": "im2gps.photos",
    "load_image": "im2gps.photos",
    "read_gps": "im2gps.photos",
    "Im2GPS": "im2gps.locator",
    "Predictions": "im2gps.predictions",
    "GeoIndex": "im2gps.index",
    "build_index": "im2gps.index",
    "PlaNet": "im2gps.planet",
    "load": "im2gps.locators",
    "Chance": "im2gps.reference",
    "Prior": "im2gps.reference",
    "Oracle": "im2gps.reference",
    "run_benchmark": "im2gps.benchmark",
    "evaluate": "im2gps.evaluate",
    "read_albums": "im2gps.albums",
    "PooledVotes": "im2gps.album_locators",
    "TravelHMM": "im2gps.album_locators",
    "TravelPrior": "im2gps.travel",
}

__all__ = ["PhotoError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if name == module.__name__.rsplit(".", 1)[-1] else getattr(module, name)
    raise AttributeError(f"module 'im2gps' has no attribute {name!r}")

"""PlaNet: geolocation as classification over adaptive S2 cells (Weyand et al., ECCV 2016).

* :mod:`im2gps.planet.partition` -- PlaNet's adaptive S2 partition of the
  globe (and GeoEstimation's hierarchy of partitions), cell lookup, CSV files;
* :mod:`im2gps.planet.classifier` -- :class:`PlaNet`, a classifier head over
  frozen photo embeddings with the locator contract (needs torch);
* :mod:`im2gps.planet.maps` -- S2 cells on world maps (the world itself is
  drawn by :mod:`im2gps.maps`); :mod:`im2gps.planet.album` -- the album LSTM.

Nothing here imports the command line (``im2gps.cli_planet`` registers the
``partition`` and ``planet train`` commands).

``PlaNet`` is imported on first use, so the partition works without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module, imported on first access (PEP 562): the CLI registers its commands
# through this package, and parsing a command line must not import pandas or s2sphere.
_LAZY = {
    "PlaNet": "im2gps.planet.classifier",
    "assign_cells": "im2gps.planet.partition",
    "hierarchical_partition": "im2gps.planet.partition",
    "load_cells": "im2gps.planet.partition",
    "partition": "im2gps.planet.partition",
    "save_cells": "im2gps.planet.partition",
}

__all__ = [
    "PlaNet",
    "assign_cells",
    "hierarchical_partition",
    "load_cells",
    "partition",
    "save_cells",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

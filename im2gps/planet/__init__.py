"""PlaNet: geolocation as classification over adaptive S2 cells (Weyand et al., ECCV 2016).

* :mod:`im2gps.planet.partition` -- PlaNet's adaptive S2 partition of the
  globe (and GeoEstimation's hierarchy of partitions), cell lookup, CSV files;
* :mod:`im2gps.planet.classifier` -- :class:`PlaNet`, a classifier head over
  frozen photo embeddings with the locator contract (needs torch);
* :mod:`im2gps.planet.maps` -- world maps from data shipped by a package:
  :func:`~im2gps.planet.maps.world_background` and cell maps;
* :mod:`im2gps.planet.cli` -- the ``im2gps partition`` and
  ``im2gps planet train`` commands.

``PlaNet`` is imported on first use, so the partition works without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module, imported on first access (PEP 562): the CLI registers its commands
# through this package, and parsing a command line must not import pandas or s2sphere.
_LAZY = {
    "PlaNet": "im2gps.planet.classifier",
    "add_partition_command": "im2gps.planet.cli",
    "add_planet_command": "im2gps.planet.cli",
    "assign_cells": "im2gps.planet.partition",
    "hierarchical_partition": "im2gps.planet.partition",
    "load_cells": "im2gps.planet.partition",
    "partition": "im2gps.planet.partition",
    "save_cells": "im2gps.planet.partition",
}

__all__ = [
    "PlaNet",
    "add_partition_command",
    "add_planet_command",
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

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

from typing import Any

from im2gps.planet.cli import add_partition_command, add_planet_command
from im2gps.planet.partition import (
    assign_cells,
    hierarchical_partition,
    load_cells,
    partition,
    save_cells,
)

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
    if name == "PlaNet":
        from im2gps.planet.classifier import PlaNet

        return PlaNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""What every locator returns: estimates plus the distribution behind them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from im2gps.voting import Votes

__all__ = ["Predictions"]


@dataclass
class Predictions:
    """Estimates of a locator for a batch of photos.

    A photo the locator failed on (it could not be decoded, say) has NaN
    coordinates, ``failed[i] = True`` and its reason in ``errors[i]``; every
    evaluation counts it as a miss.

    Attributes
    ----------
    lat, lon : numpy.ndarray
        ``(n,)`` estimates in degrees.
    failed : numpy.ndarray
        ``(n,)`` bool.
    errors : list of str or None
        Why each failed photo failed.
    votes : Votes, optional
        kNN locators: the mean-shift clusters (modes, weights, members).
    neighbor_ids : numpy.ndarray, optional
        kNN locators: ``(n, k)`` database rows of the neighbours (-1 if none).
    neighbor_distances : numpy.ndarray, optional
        kNN locators: ``(n, k)`` feature distances of the neighbours.
    cell_probs : numpy.ndarray, optional
        Classifier locators: ``(n, n_cells)`` probability of every cell.
    extra : dict
        Locator-specific arrays.
    """

    lat: np.ndarray
    lon: np.ndarray
    failed: np.ndarray
    errors: list[str | None] = field(default_factory=list)
    votes: Votes | None = None
    neighbor_ids: np.ndarray | None = None
    neighbor_distances: np.ndarray | None = None
    cell_probs: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lat = np.asarray(self.lat, dtype=np.float64)
        self.lon = np.asarray(self.lon, dtype=np.float64)
        self.failed = np.asarray(self.failed, dtype=bool) | ~np.isfinite(self.lat)
        if not self.errors:
            self.errors = [None] * len(self.lat)

    def __len__(self) -> int:
        return len(self.lat)

    @classmethod
    def constant(cls, lat: float, lon: float, n: int) -> Predictions:
        """The same answer for ``n`` photos."""
        return cls(np.full(n, lat), np.full(n, lon), np.zeros(n, bool))

    def clusters(self, i: int) -> list[dict[str, Any]]:
        """Clusters of photo ``i`` (empty for locators without votes)."""
        return [] if self.votes is None or self.failed[i] else self.votes.clusters(i)

"""The travel prior: how far people move between two photos, given the time between them.

Kalogerakis et al. (ICCV 2009) geolocate a photo sequence with a hidden
Markov model whose transitions come from a *travel prior*, the distribution
of the distance between consecutive photos of one photographer given their
time gap, learned from geotagged photo streams. :class:`TravelPrior` is that
distribution in a parametric form, fitted by maximum likelihood on the
database's own sequences (photos of one author ordered by capture time), and
:meth:`TravelPrior.transitions` turns it into the HMM's transition matrices
over a set of places.

The parametric form, for a distance ``d`` (km) after a gap ``t`` (hours)::

    p(d | t) = pi(t) * Exp(d; s0) + (1 - pi(t)) * LogNormal(d; mu0 + alpha * ln t, sigma)
    pi(t)    = 1 / (1 + exp(-(a - b * ln t)))

a mixture of *staying* (distances of a few km around one place, exponential
with mean ``s0`` km) and *travelling* (log-normal distances whose median
``exp(mu0) * t**alpha`` grows as a power of the gap, as a diffusion would
with ``alpha = 1/2``), where the chance of staying ``pi(t)`` falls (for
``b > 0``) logistically in the log of the gap.

References
----------
.. [1] E. Kalogerakis, O. Vesselova, J. Hays, A. A. Efros and A. Hertzmann,
   "Image sequence geolocation with human travel priors", ICCV 2009.
.. [2] M. C. Gonzalez, C. A. Hidalgo and A.-L. Barabasi, "Understanding
   individual human mobility patterns", Nature 453, 2008 (heavy-tailed,
   log-normal-like displacement distributions).

Notes
-----
Departures from Kalogerakis et al.:

* They estimate the prior non-parametrically (histograms of speed over
  time-gap bins from about 6 million Flickr photos). The database here holds
  about 125 usable consecutive pairs, too few for histograms, so the prior
  is the six-parameter mixture above, fitted by maximum likelihood with
  ``scipy.optimize.minimize`` (L-BFGS-B).
* The staying scale ``s0`` is bounded below by ``MIN_STAY_KM`` (100 m, about
  the precision of a Flickr geotag), as many consecutive photos carry the
  very same geotag and would otherwise drive ``s0`` to zero.
* Gaps shorter than one minute are read as one minute; a pair with an
  unusable time gives no data, and at prediction an unknown gap is read as
  ``unknown_gap_hours`` (default one year: almost any distance).
* Transitions over places: the prior's density on the sphere at the
  distance between two places (the distance density divided by the
  circumference ``2 pi R sin(d / R)`` of the circle of that radius) times
  the destination's area, and for staying at a place of radius ``r`` the
  probability ``P(D <= r)``; rows are normalised, entries below ``eps`` of
  their row are dropped (sparse matrices), and gaps are rounded to the
  nearest power of two hours (a factor of sqrt(2) at most, which moves the
  travelling median by at most 2**(alpha/2), about a fifth, against the
  log-normal's spread, a factor exp(sigma) of 12 on the im2gps2k sequences),
  so that an album's matrices are computed once per octave of gap. The
  density is tabulated on a fine grid of
  log-distance and looked up per pair of places.
* A speed limit (``max_speed_kmh``, default 1,000 km/h, with an hour of
  slack for camera clocks) bounds the prior's reach: places farther apart
  than a plane could fly in the gap get no mass, which makes the matrices
  of short gaps sparse. The fitted log-normal alone would leave a thin
  tail everywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit, log_expit, ndtr

from im2gps.geo import EARTH_RADIUS_KM, haversine_km, to_unit_vectors

__all__ = ["TravelPrior", "TransitionModel", "sample_pairs", "sample_sequences", "sequence_pairs"]

#: Shortest gap in hours (one minute).
MIN_GAP_HOURS = 1.0 / 60.0
#: Shortest distance in km the log-normal is evaluated at (10 m).
MIN_DISTANCE_KM = 0.01
#: Smallest mean distance of the staying component in km (geotags repeat exactly:
#: without a floor, pairs at distance 0 would shrink it to nothing).
MIN_STAY_KM = 0.1
#: Gap bins per octave (factor 2) for transition matrices.
BINS_PER_OCTAVE = 1
#: Transition matrices with at most this share of non-zero entries are sparse.
SPARSE_DENSITY = 0.1
_HALF_CIRCUMFERENCE_KM = np.pi * EARTH_RADIUS_KM
_GRID_SIZE = 4096

FORMAT_VERSION = 1


@dataclass(frozen=True)
class _Params:
    a: float
    b: float
    s0: float
    mu0: float
    alpha: float
    sigma: float


class TravelPrior:
    """Distance travelled between two photos given their time gap.

    Parameters
    ----------
    a, b : float, optional
        Stay probability ``pi(t) = expit(a - b ln t)`` (t in hours).
    s0 : float, optional
        Mean distance in km while staying (exponential).
    mu0, alpha, sigma : float, optional
        Travel distance: log-normal with ``ln d ~ N(mu0 + alpha ln t, sigma**2)``.
    unknown_gap_hours : float, optional
        The gap assumed where a time is unusable.
    eps : float, optional
        Transition probabilities below ``eps`` times their row's total are dropped.
    max_speed_kmh : float or None, optional
        Places farther apart (edge to edge) than ``max_speed_kmh * (t +
        clock_slack_hours)`` get no transition mass (None: no limit). The
        default, 1,000 km/h, is an airliner's cruising speed.
    clock_slack_hours : float, optional
        Hours added to every gap for the speed limit, as camera clocks often
        keep home time on a trip.

    Attributes
    ----------
    n_pairs_ : int
        Consecutive pairs :meth:`fit` used (0 for a prior given by hand).
    log_likelihood_ : float
        Mean log-likelihood per pair at the fit (NaN for a prior given by hand).
    """

    def __init__(self, a: float = 0.0, b: float = 0.3, s0: float = 5.0, mu0: float = 3.0,
                 alpha: float = 0.5, sigma: float = 1.5, unknown_gap_hours: float = 8766.0,
                 eps: float = 1e-9, max_speed_kmh: float | None = 1000.0,
                 clock_slack_hours: float = 1.0) -> None:
        self.a = a
        self.b = b
        self.s0 = s0
        self.mu0 = mu0
        self.alpha = alpha
        self.sigma = sigma
        self.unknown_gap_hours = unknown_gap_hours
        self.eps = eps
        self.max_speed_kmh = max_speed_kmh
        self.clock_slack_hours = clock_slack_hours
        self.n_pairs_ = 0
        self.log_likelihood_ = float("nan")

    # -- estimator contract --------------------------------------------------
    def get_params(self) -> dict[str, float | None]:
        """Parameters (JSON-ready)."""
        params: dict[str, float | None] = {
            key: float(getattr(self, key)) for key in
            ("a", "b", "s0", "mu0", "alpha", "sigma", "unknown_gap_hours", "eps",
             "clock_slack_hours")}
        params["max_speed_kmh"] = (None if self.max_speed_kmh is None
                                   else float(self.max_speed_kmh))
        return params

    def reach_km(self, gap_hours: float) -> float:
        """Farthest distance (edge to edge) that gets transition mass after a gap.

        ``max_speed_kmh * (t + clock_slack_hours)``; infinite without a speed
        limit or for an unknown gap.
        """
        if self.max_speed_kmh is None or not np.isfinite(gap_hours):
            return float("inf")
        t = float(self._gaps(gap_hours))
        return float(self.max_speed_kmh) * (t + float(self.clock_slack_hours))

    def _check(self) -> None:
        if not (self.s0 > 0 and self.sigma > 0):
            raise ValueError(f"s0 and sigma must be positive, not {self.s0} and {self.sigma}")
        if not self.unknown_gap_hours > 0:
            raise ValueError(f"unknown_gap_hours must be positive, not {self.unknown_gap_hours}")

    def log_pdf(self, distance_km, gap_hours) -> np.ndarray:
        """Log density of the distance (per km) given the gap; broadcasts.

        Parameters
        ----------
        distance_km : array_like
            Great-circle distances in km (>= 0).
        gap_hours : array_like
            Time gaps in hours; NaN means unknown (``unknown_gap_hours``).

        Returns
        -------
        numpy.ndarray
            ``log p(d | t)``.
        """
        return _log_pdf(self._params(), np.asarray(distance_km, np.float64),
                        self._gaps(gap_hours))

    def cdf(self, distance_km, gap_hours) -> np.ndarray:
        """``P(D <= d | t)``; broadcasts."""
        p = self._params()
        d = np.asarray(distance_km, np.float64)
        t = self._gaps(gap_hours)
        stay = expit(p.a - p.b * np.log(t))
        move = ndtr((np.log(np.maximum(d, MIN_DISTANCE_KM)) - p.mu0 - p.alpha * np.log(t))
                    / p.sigma)
        return stay * -np.expm1(-d / p.s0) + (1 - stay) * move

    def stay_probability(self, gap_hours) -> np.ndarray:
        """``pi(t)``, the weight of the staying component."""
        p = self._params()
        return expit(p.a - p.b * np.log(self._gaps(gap_hours)))

    def median_travel_km(self, gap_hours) -> np.ndarray:
        """Median distance of the travelling component, ``exp(mu0) * t**alpha``."""
        return np.exp(self.mu0 + self.alpha * np.log(self._gaps(gap_hours)))

    def _params(self) -> _Params:
        self._check()
        return _Params(float(self.a), float(self.b), float(self.s0), float(self.mu0),
                       float(self.alpha), float(self.sigma))

    def _gaps(self, gap_hours) -> np.ndarray:
        t = np.asarray(gap_hours, np.float64)
        t = np.where(np.isfinite(t), t, float(self.unknown_gap_hours))
        return np.maximum(np.abs(t), MIN_GAP_HOURS)

    # -- fitting -------------------------------------------------------------
    def fit(self, distance_km, gap_hours) -> TravelPrior:
        """Maximum-likelihood fit on consecutive pairs.

        Parameters
        ----------
        distance_km, gap_hours : array_like
            ``(m,)`` distance (km) and time gap (hours) of each pair; pairs
            with a non-finite value are left out.

        Returns
        -------
        TravelPrior
            ``self``, with the fitted parameters, ``n_pairs_`` and
            ``log_likelihood_``.

        Raises
        ------
        ValueError
            With fewer than 6 usable pairs (one per parameter).
        """
        d = np.asarray(distance_km, np.float64).ravel()
        t = np.asarray(gap_hours, np.float64).ravel()
        ok = np.isfinite(d) & np.isfinite(t) & (d >= 0)
        d, t = d[ok], np.maximum(np.abs(t[ok]), MIN_GAP_HOURS)
        if d.size < 6:
            raise ValueError(f"{d.size} usable consecutive pair(s); the travel prior needs "
                             "at least 6 (photos of one author with usable capture times)")

        def nll(x: np.ndarray) -> float:
            p = _Params(x[0], x[1], float(np.exp(x[2])), x[3], x[4], float(np.exp(x[5])))
            return -float(np.mean(_log_pdf(p, d, t)))

        # Starts: travel from the pairs beyond 1 km, staying from those within.
        far = d > 1.0
        log_d = np.log(np.maximum(d[far] if far.sum() >= 2 else d, MIN_DISTANCE_KM))
        starts = [np.array([a0, 0.0, np.log(max(s, 0.05)), float(np.median(log_d)) - 0.5 * np.log(
            float(np.median(t))), 0.5, np.log(max(float(np.std(log_d)), 0.3))])
            for a0 in (-1.0, 1.0) for s in (1.0, 20.0)]
        bounds = [(-20, 20), (-5, 5), (np.log(MIN_STAY_KM), np.log(2e3)), (-10, 12), (-1, 2),
                  (np.log(0.05), np.log(10))]
        best = min((minimize(nll, x0, method="L-BFGS-B", bounds=bounds) for x0 in starts),
                   key=lambda r: r.fun)
        x = best.x
        self.a, self.b, self.s0 = float(x[0]), float(x[1]), float(np.exp(x[2]))
        self.mu0, self.alpha, self.sigma = float(x[3]), float(x[4]), float(np.exp(x[5]))
        self.n_pairs_ = int(d.size)
        self.log_likelihood_ = float(-best.fun)
        return self

    def fit_sequences(self, lat, lon, times_s, groups) -> TravelPrior:
        """Fit on photo sequences: consecutive photos of each group in time order.

        Parameters
        ----------
        lat, lon : array_like
            ``(n,)`` degrees.
        times_s : array_like
            ``(n,)`` capture times in seconds (NaN: unusable, no pair).
        groups : array_like
            ``(n,)`` author (or album) of each photo.
        """
        d, t = sequence_pairs(lat, lon, times_s, groups)
        return self.fit(d, t)

    # -- transitions ---------------------------------------------------------
    def transitions(self, lat, lon, radius_km, gaps_hours) -> list[np.ndarray | sparse.csr_array]:
        """Transition matrices between places for each gap of a sequence.

        Parameters
        ----------
        lat, lon : array_like
            ``(S,)`` the places (states) in degrees.
        radius_km : array_like or float
            ``(S,)`` each place's radius (km): its area is ``pi r**2`` and
            staying means moving at most ``r``.
        gaps_hours : array_like
            ``(T - 1,)`` gaps between consecutive photos (NaN: unknown).

        Returns
        -------
        list
            ``T - 1`` row-stochastic ``(S, S)`` matrices, ``[i, j]`` the
            probability of moving from place ``i`` to ``j``; a
            ``scipy.sparse.csr_array`` where at most ``SPARSE_DENSITY`` of the
            pairs are within the prior's reach (:meth:`reach_km`), else a dense
            float32 array; entries below ``eps`` of their row are dropped. Gaps
            of one bin share one matrix object.
        """
        return TransitionModel(self, lat, lon, radius_km).for_gaps(gaps_hours)

    # -- persistence ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The prior as a JSON-ready document."""
        return {"format_version": FORMAT_VERSION, "kind": "travel_prior",
                "params": self.get_params(), "n_pairs": self.n_pairs_,
                "log_likelihood": None if np.isnan(self.log_likelihood_)
                else self.log_likelihood_}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> TravelPrior:
        """Read :meth:`to_dict`'s document.

        Raises
        ------
        ValueError
            If it is not a travel prior of this format version.
        """
        if document.get("kind") != "travel_prior" or \
                document.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a travel prior of format version {FORMAT_VERSION}")
        prior = cls(**document["params"])
        prior.n_pairs_ = int(document.get("n_pairs", 0))
        ll = document.get("log_likelihood")
        prior.log_likelihood_ = float("nan") if ll is None else float(ll)
        return prior

    def save(self, path: str | os.PathLike) -> Path:
        """Write the prior as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TravelPrior:
        """Read a prior written by :meth:`save`.

        Raises
        ------
        ValueError
            Naming the file, if it is not JSON or not a travel prior of this version.
        """
        try:
            document = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable travel prior ({err})") from None
        if not isinstance(document, dict):
            raise ValueError(f"{path}: not a travel prior of format version {FORMAT_VERSION}")
        try:
            return cls.from_dict(document)
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: {err}") from None

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v:.4g}" for k, v in self.get_params().items())
        return f"TravelPrior({params})"


def _log_pdf(p: _Params, d: np.ndarray, t: np.ndarray) -> np.ndarray:
    log_t = np.log(t)
    z = p.a - p.b * log_t
    log_stay = log_expit(z) - np.log(p.s0) - d / p.s0
    log_d = np.log(np.maximum(d, MIN_DISTANCE_KM))
    log_move = (log_expit(-z) - 0.5 * ((log_d - p.mu0 - p.alpha * log_t) / p.sigma) ** 2
                - log_d - np.log(p.sigma * np.sqrt(2 * np.pi)))
    return np.logaddexp(log_stay, log_move)


class TransitionModel:
    """The travel prior over one set of places, its matrices cached per gap bin.

    Distances between the places are computed once; for each gap bin the
    prior's density on the sphere is tabulated on a log-distance grid and
    looked up per pair (see the module Notes).

    Parameters
    ----------
    prior : TravelPrior
        The fitted prior.
    lat, lon : array_like
        ``(S,)`` places in degrees.
    radius_km : array_like or float
        ``(S,)`` radius of each place in km (> 0).
    """

    def __init__(self, prior: TravelPrior, lat, lon, radius_km) -> None:
        self.prior = prior
        lat = np.asarray(lat, np.float64).ravel()
        lon = np.asarray(lon, np.float64).ravel()
        self.n_states = lat.size
        self.radius = np.broadcast_to(np.asarray(radius_km, np.float64), lat.shape).copy()
        if not (self.radius > 0).all():
            raise ValueError("every place needs a positive radius")
        # great-circle distances from the chords between unit vectors: one matrix
        # product instead of S**2 haversines (exact to about 0.1 km, far below the
        # places' radii)
        xyz = to_unit_vectors(lat, lon)
        chord2 = np.maximum(2.0 - 2.0 * (xyz @ xyz.T), 0.0)
        distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(np.sqrt(chord2) / 2, 1.0))
        self.area = np.pi * self.radius**2
        # edge-to-edge distance, compared with the reach of a gap
        self._apart = (distance - self.radius[:, None] - self.radius[None, :]).astype(np.float32)
        self._max_apart = float(self._apart.max()) if self.n_states else 0.0
        # grid of log-distance: MIN_DISTANCE_KM .. half the circumference
        lo, hi = np.log(MIN_DISTANCE_KM), np.log(_HALF_CIRCUMFERENCE_KM)
        self._grid = np.exp(np.linspace(lo, hi, _GRID_SIZE))
        position = (np.log(np.maximum(distance, MIN_DISTANCE_KM)) - lo) / (hi - lo)
        self._cell = np.clip(np.rint(position * (_GRID_SIZE - 1)), 0, _GRID_SIZE - 1
                             ).astype(np.int16 if _GRID_SIZE < 2**15 else np.int32)
        self._cache: dict[int, np.ndarray | sparse.csr_array] = {}

    def gap_bin(self, gaps_hours) -> np.ndarray:
        """Octave bin of each gap (unknown gaps: ``unknown_gap_hours``)."""
        t = self.prior._gaps(gaps_hours)
        return np.rint(np.log2(t) * BINS_PER_OCTAVE).astype(np.int64)

    def matrix(self, gap_bin: int) -> np.ndarray | sparse.csr_array:
        """The transition matrix of one gap bin (cached)."""
        if gap_bin not in self._cache:
            self._cache[gap_bin] = self._build(2.0 ** (gap_bin / BINS_PER_OCTAVE))
        return self._cache[gap_bin]

    def for_gaps(self, gaps_hours) -> list[np.ndarray | sparse.csr_array]:
        """One matrix per gap."""
        return [self.matrix(int(b)) for b in self.gap_bin(np.asarray(gaps_hours, np.float64))]

    def _build(self, gap_hours: float) -> np.ndarray | sparse.csr_array:
        prior = self.prior
        n = self.n_states
        grid = self._grid
        ring = 2 * np.pi * EARTH_RADIUS_KM * np.sin(grid / EARTH_RADIUS_KM)
        # density per km^2 on the sphere at each grid distance (far values underflow to 0)
        density = np.exp(prior.log_pdf(grid, gap_hours) - np.log(ring))
        stay = np.maximum(prior.cdf(self.radius, gap_hours), 1e-300)
        reach = prior.reach_km(gap_hours)
        mask = self._apart <= reach if reach < self._max_apart else None
        if mask is not None and np.count_nonzero(mask) <= SPARSE_DENSITY * n * n:
            # few pairs within reach: work on those only, straight into CSR (rows sorted)
            rows, cols = np.nonzero(mask)
            values = density[self._cell[rows, cols]] * self.area[cols]
            diagonal = rows == cols
            values[diagonal] = stay[rows[diagonal]]
            values /= np.bincount(rows, values, minlength=n)[rows]
            keep = values >= prior.eps
            rows, cols, values = rows[keep], cols[keep], values[keep]
            values /= np.bincount(rows, values, minlength=n)[rows]
            indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n))]
            return sparse.csr_array((values, cols, indptr), shape=(n, n))
        values = density.astype(np.float32)[self._cell]
        values *= self.area.astype(np.float32)[None, :]
        if mask is not None:
            values *= mask
        values[np.arange(n), np.arange(n)] = stay
        values /= values.sum(axis=1, keepdims=True)
        values *= values >= prior.eps
        values /= values.sum(axis=1, keepdims=True)
        return values  # float32: half the memory traffic of every matrix product


def sequence_pairs(lat, lon, times_s, groups) -> tuple[np.ndarray, np.ndarray]:
    """Distance (km) and gap (hours) of consecutive photos of each group, in time order.

    Photos without a usable time (NaN) are left out; groups of one photo give
    no pair.

    Returns
    -------
    distance_km, gap_hours : numpy.ndarray
        ``(m,)`` one entry per consecutive pair.
    """
    import pandas as pd

    frame = pd.DataFrame({"lat": np.asarray(lat, np.float64), "lon": np.asarray(lon, np.float64),
                          "t": np.asarray(times_s, np.float64),
                          "g": pd.Series(np.asarray(groups)).astype(str).to_numpy()})
    frame = frame[np.isfinite(frame["t"])].sort_values(["g", "t"], kind="stable")
    same = frame["g"].to_numpy()[1:] == frame["g"].to_numpy()[:-1]
    la, lo, t = (frame[c].to_numpy() for c in ("lat", "lon", "t"))
    d = haversine_km(la[:-1], lo[:-1], la[1:], lo[1:])[same]
    gaps = np.diff(t)[same] / 3600.0
    return d, gaps


def sample_sequences(prior: TravelPrior, places_lat: Sequence[float] | np.ndarray,
                     places_lon: Sequence[float] | np.ndarray, radius_km: float | np.ndarray,
                     n_steps: int, gap_hours: np.ndarray | Sequence[float] | None = None,
                     seed: int = 0, start: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw a path over places from the prior's transitions (a synthetic album).

    Parameters
    ----------
    prior : TravelPrior
        The prior to draw from.
    places_lat, places_lon : array_like
        ``(S,)`` the places.
    radius_km : float or array_like
        Radius of each place.
    n_steps : int
        Photos in the path.
    gap_hours : array_like, optional
        ``(n_steps - 1,)`` gaps (default: log-uniform between 10 minutes and 30 days).
    seed : int, optional
        Seed of the generator.
    start : int, optional
        First place (default: drawn uniformly).

    Returns
    -------
    path : numpy.ndarray
        ``(n_steps,)`` int, the place of each photo.
    gap_hours : numpy.ndarray
        ``(n_steps - 1,)`` the gaps used.
    """
    rng = np.random.default_rng(seed)
    n_places = len(places_lat)
    if gap_hours is None:
        gap_hours = np.exp(rng.uniform(np.log(1 / 6), np.log(24 * 30), size=n_steps - 1))
    gap_hours = np.asarray(gap_hours, np.float64)
    matrices = prior.transitions(places_lat, places_lon, radius_km, gap_hours)
    path = np.empty(n_steps, np.int64)
    path[0] = rng.integers(n_places) if start is None else start
    for step, matrix in enumerate(matrices, 1):
        row = matrix[[path[step - 1]]].toarray()[0] if sparse.issparse(matrix) \
            else matrix[path[step - 1]]
        path[step] = rng.choice(n_places, p=row / row.sum())
    return path, gap_hours


def sample_pairs(prior: TravelPrior, gap_hours, seed: int = 0) -> np.ndarray:
    """Draw one distance (km) per gap from the prior (for recovery tests).

    Parameters
    ----------
    prior : TravelPrior
        The prior.
    gap_hours : array_like
        ``(m,)`` gaps in hours.
    seed : int, optional
        Seed.

    Returns
    -------
    numpy.ndarray
        ``(m,)`` distances in km.
    """
    rng = np.random.default_rng(seed)
    t = prior._gaps(gap_hours)
    stay = rng.random(t.shape) < prior.stay_probability(t)
    d_stay = rng.exponential(prior.s0, size=t.shape)
    d_move = np.exp(rng.normal(prior.mu0 + prior.alpha * np.log(t), prior.sigma))
    return np.where(stay, d_stay, np.minimum(d_move, _HALF_CIRCUMFERENCE_KM))

"""Voting: turn the coordinates of a query's nearest neighbours into one estimate.

IM2GPS (Hays & Efros, CVPR 2008) treats the GPS tags of a query photo's ``k``
nearest neighbours (``k = 120`` in the paper) as samples of a distribution
over the globe, clusters them with mean-shift, and answers with the mode of
the cluster that holds the most neighbours. The simplest rule, 1-NN, answers
with the location of the single nearest neighbour.

:func:`meanshift` runs mean-shift for many queries at once: every neighbour of
every query seeds a mode seeker, all seekers move together as numpy arrays of
shape ``(Q, k, 3)`` (unit vectors on the sphere) with ``(Q, k, k)`` kernel
matrices, and converged seekers are merged greedily by density: the densest
unclaimed mode claims the seekers whose modes lie within ``merge_km``.
:func:`one_nn` gives the 1-NN answer in the same :class:`Votes` structure.

References
----------
.. [1] J. Hays and A. A. Efros, "IM2GPS: estimating geographic information
   from a single image", CVPR 2008.
.. [2] D. Comaniciu and P. Meer, "Mean shift: a robust approach toward feature
   space analysis", IEEE TPAMI 24(5), 2002.

Notes
-----
Departures from the original im2gps voting:

* Geometry. The original clusters on latitude/longitude with a bandwidth in
  degrees on a flat grid. The paper's text gives no value and we could not
  check the original MATLAB code, so we quote none. A window in degrees is
  narrower in km away from the equator, splits clusters that straddle
  longitude +-180 deg and fails near the poles. Here neighbours are 3-D unit
  vectors, the kernel is a function of the great-circle distance in km, and
  each shift is the kernel-weighted mean of the neighbours' unit vectors put
  back on the sphere (mean-shift on the sphere, as with a von Mises-Fisher
  kernel). The bandwidth is in km and means the same everywhere on Earth.
* Kernel. ``kernel="gaussian"`` (default) weighs neighbours by
  ``exp(-d**2 / (2 h**2))``; ``kernel="flat"`` averages the neighbours within
  ``d <= h``, as scikit-learn's ``MeanShift`` does.
* Default bandwidth ``h = 200 km`` (the "region" scale of the im2gps
  evaluation) is a placeholder, to be chosen by cross-validation.
* Weights. Optional per-neighbour vote weights (e.g. feature similarity) make
  a weighted kernel density; the paper's votes are unweighted.
* Ties between clusters of equal weight are broken by size, then by the
  density at the mode, then by the rank of their best-ranked neighbour (the
  nearest in feature space wins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from im2gps.geo import EARTH_RADIUS_KM, km_to_chord, to_latlon, to_unit_vectors

__all__ = ["DEFAULT_BANDWIDTH_KM", "Votes", "kde_vote", "meanshift", "one_nn"]

#: Default mean-shift bandwidth in km (Gaussian sigma, or flat window radius).
DEFAULT_BANDWIDTH_KM = 200.0

Kernel = Literal["gaussian", "flat"]

#: Smallest bandwidth (km): 1 m, below GPS precision; smaller ones would need distances
#: more exact than float64 dot products of unit vectors give (the kernel would overflow).
MIN_BANDWIDTH_KM = 0.001

#: Smallest bandwidth (km) whose batched mean-shift steps run in float32 by default.
FLOAT32_MIN_BANDWIDTH_KM = 100.0

# A query's seekers step together in (Q, k, k) products while more than this share of
# them move, then one by one (see _shift): 0.2 measured 15% faster than 0.5 on the
# benchmark's sets (benchmarks/voting_speed.py), the modes within 0.05 km.
_PHASE1_SHARE = 0.2

# Elements per (batch, k, k) work array (32 MB in float64) for the default batch size.
_BATCH_ELEMENTS = 4_000_000


@dataclass
class Votes:
    """Per-query estimates and the clusters of neighbours that voted for them.

    Clusters of query ``i`` are numbered ``0 .. n_clusters[i] - 1`` in order of
    decreasing weight; cluster 0 is the answer. Arrays of shape ``(Q, k)`` for
    clusters are padded with NaN (coordinates, weights) and 0 (sizes) past
    ``n_clusters[i]``.

    Attributes
    ----------
    lat, lon : numpy.ndarray
        ``(Q,)`` estimates in degrees (NaN for a query without any valid neighbour).
    labels : numpy.ndarray
        ``(Q, k)`` int, the cluster of each neighbour; -1 for a neighbour that
        did not vote (missing coordinates or zero weight).
    cluster_lat, cluster_lon : numpy.ndarray
        ``(Q, k)`` cluster modes in degrees.
    cluster_weight : numpy.ndarray
        ``(Q, k)`` fraction of the query's total vote weight held by each cluster.
    cluster_size : numpy.ndarray
        ``(Q, k)`` int, number of neighbours in each cluster.
    n_clusters : numpy.ndarray
        ``(Q,)`` int, number of clusters per query.
    n_iter : int
        Mean-shift iterations run (the largest over all batches; 0 for 1-NN).
    params : dict
        The parameters that produced these votes.
    """

    lat: np.ndarray
    lon: np.ndarray
    labels: np.ndarray
    cluster_lat: np.ndarray
    cluster_lon: np.ndarray
    cluster_weight: np.ndarray
    cluster_size: np.ndarray
    n_clusters: np.ndarray
    n_iter: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lat)

    def clusters(self, i: int) -> list[dict[str, Any]]:
        """The clusters of query ``i`` as readable records, heaviest first.

        Parameters
        ----------
        i : int
            Query index.

        Returns
        -------
        list of dict
            One record per cluster with keys ``lat``, ``lon`` (mode, degrees),
            ``weight`` (fraction of the vote weight), ``size`` and ``members``
            (indices into the query's ``k`` neighbours, ascending).
        """
        labels = self.labels[i]
        return [
            {
                "lat": float(self.cluster_lat[i, c]),
                "lon": float(self.cluster_lon[i, c]),
                "weight": float(self.cluster_weight[i, c]),
                "size": int(self.cluster_size[i, c]),
                "members": np.flatnonzero(labels == c).tolist(),
            }
            for c in range(int(self.n_clusters[i]))
        ]


def _as_2d(lat, lon, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate inputs; return (lat, lon, weights) as float64 ``(Q, k)`` arrays."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if lat.ndim == 1:
        lat, lon = lat[None], lon[None]
        weights = None if weights is None else np.asarray(weights, dtype=np.float64)[None]
    if lat.ndim != 2 or lat.shape != lon.shape:
        raise ValueError(
            f"lat and lon must be (n_queries, k) arrays of one shape, got {lat.shape} "
            f"and {lon.shape}"
        )
    if lat.shape[1] == 0:
        raise ValueError("need at least one neighbour per query (k >= 1)")
    if np.isinf(lat).any() or np.isinf(lon).any():
        q, j = np.argwhere(np.isinf(lat) | np.isinf(lon))[0]
        raise ValueError(f"coordinates must be finite (NaN marks a missing neighbour), got "
                         f"({lat[q, j]}, {lon[q, j]}) for query {q}, neighbour {j}")
    finite = np.isfinite(lat) & np.isfinite(lon)
    if np.any(np.abs(lat[finite]) > 90.0):
        raise ValueError("latitudes must lie in [-90, 90] degrees")
    if weights is None:
        weights = np.ones_like(lat)
    else:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != lat.shape:
            raise ValueError(f"weights must have shape {lat.shape}, got {weights.shape}")
        if np.any(~np.isfinite(weights[finite])) or np.any(weights[finite] < 0):
            raise ValueError("weights must be finite and nonnegative")
    weights = np.where(finite, weights, 0.0)
    # Each query's weights scaled to a largest of 1: the vote does not depend on their
    # scale, and very small or very large weights neither underflow nor overflow.
    top = weights.max(axis=1, keepdims=True)
    weights = np.divide(weights, top, out=np.zeros_like(weights), where=top > 0)
    return lat, lon, weights


def _check_settings(bandwidth_km: float, batch_size: int | None, **positive: float) -> None:
    """Refuse settings that would give a wrong vote rather than an error."""
    if not (np.isfinite(bandwidth_km) and bandwidth_km >= MIN_BANDWIDTH_KM):
        raise ValueError(f"bandwidth_km must be a finite number of at least "
                         f"{MIN_BANDWIDTH_KM} km (1 m), got {bandwidth_km}")
    if batch_size is not None and not (int(batch_size) == batch_size and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    for name, value in positive.items():
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")


#: Largest bandwidth (km) whose Gaussian kernel uses the series of :func:`_kernel`.
SERIES_MAX_BANDWIDTH_KM = 1000.0

# d**2 = R**2 * u * (1 + u/12 + u**2/90 + u**3/560 + ...) with u the squared chord of
# unit vectors (d the great-circle distance): the series of (2 R asin(sqrt(u) / 2))**2.
_SERIES = (1.0, 1.0 / 12.0, 1.0 / 90.0)


def _kernel(chord2: np.ndarray, kernel: str, bandwidth_km: float) -> np.ndarray:
    """Kernel values from squared chord lengths between unit vectors.

    Works in place on ``chord2`` (a fresh temporary at every call site): these
    ``(Q, k, k)`` arrays dominate the run time, and avoiding a temporary per
    ufunc makes the Gaussian several times faster.

    For bandwidths up to :data:`SERIES_MAX_BANDWIDTH_KM` the Gaussian's squared
    great-circle distance comes from the first three terms of its series in the
    squared chord (three multiply-adds instead of clip, square root, arcsine and
    square: twice as fast). The terms left out only shorten distances far
    beyond the kernel's reach: the largest absolute kernel error over the
    sphere is 6e-11 at 200 km, 4e-9 at 400 km and 1e-6 at 1,000 km
    (``tests/test_voting.py`` checks it against the exact form), below the
    float32 resolution of the batched steps. Wider bandwidths use the exact form.
    """
    if kernel == "flat":
        # d_gc <= h  <=>  chord <= km_to_chord(h): no arcsin needed.
        return (chord2 <= km_to_chord(bandwidth_km) ** 2).astype(chord2.dtype)
    scale = -0.5 * (EARTH_RADIUS_KM / bandwidth_km) ** 2  # exp(scale * d**2 / R**2)
    if bandwidth_km <= SERIES_MAX_BANDWIDTH_KM:
        out = np.multiply(chord2, scale * _SERIES[2])
        out += scale * _SERIES[1]
        out *= chord2
        out += scale * _SERIES[0]
        out *= chord2
        return np.exp(out, out=out)
    # Great-circle distance d = 2 R asin(chord / 2); kernel exp(-d^2 / (2 h^2)).
    # asin(chord / 2) = asin(sqrt(chord2 / 4)); chord2 <= 4 for unit vectors up to rounding.
    out = np.multiply(chord2, 0.25, out=chord2)
    np.clip(out, 0.0, 1.0, out=out)
    np.sqrt(out, out=out)
    np.arcsin(out, out=out)
    np.square(out, out=out)
    out *= 4.0 * scale
    return np.exp(out, out=out)


def _chord2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared chord lengths ``(Q, m, n)`` between unit vectors ``(Q, m, 3)``, ``(Q, n, 3)``."""
    out = np.matmul(a, b.transpose(0, 2, 1))
    out *= -2.0
    out += 2.0
    return np.maximum(out, 0.0, out=out)


def _shift(
    points: np.ndarray, weights: np.ndarray, kernel: str, bandwidth_km: float,
    max_iter: int, tol_chord: float, dtype: type = np.float32,
) -> tuple[np.ndarray, int]:
    """Move a seeker from every point to its mode; ``points`` ``(Q, k, 3)``.

    Returns the converged seekers ``(Q, k, 3)`` (float64) and the iterations
    run. A seeker stops once it moves less than ``tol_chord`` in one
    iteration. While more than a fifth of the seekers of a query move, all its
    seekers are updated together with the other such queries' in ``(Qa, k,
    k)`` batched matrix products (phase 1); after that (Gaussian seekers
    crossing sparse regions can take hundreds of steps), only its moving
    seekers are, each against its query's neighbours, from a list of active
    seekers that shrinks as they stop, so that an iteration costs a dozen
    numpy calls on small arrays (phase 2).

    Phase 1 computes its kernel sums in ``dtype`` (float32: the kernel and
    products cost half as much); positions are float64, and a seeker stops
    only on a float64 step, whose result is its final position (a seeker
    whose float32 step falls below the tolerance takes the float64 step
    instead). Phase 2, which follows the slow seekers whose stopping point
    is sensitive (a flat density top), is float64: float32 there moved some
    answers by more than 1 km.
    """
    q, k = weights.shape
    x_low = np.ascontiguousarray(points, dtype=dtype)
    w_low = np.ascontiguousarray(weights, dtype=dtype)
    # -2 x^T, so that a squared chord 2 - 2 y.x costs one product and one addition
    # (scaling by -2 is exact: the same values as 2 - 2 (y.x)).
    minus_2_x_t = np.ascontiguousarray(-2.0 * x_low.transpose(0, 2, 1))
    unit = bool(np.all(weights == 1.0))  # no zero weights either: skip the product
    x_all = np.asarray(points, np.float64)
    w_all = np.asarray(weights, np.float64)
    modes = x_all.copy()
    moving = weights > 0  # (q, k) seekers still moving; missing neighbours never move
    # queries in phase 1; shares of the query's voting neighbours (NaN padding aside)
    enough = _PHASE1_SHARE * moving.sum(axis=1)
    dense = moving.sum(axis=1) > enough
    tol2 = float(tol_chord) ** 2
    # phase 2's active seekers (query, seeker, neighbours, weights, position): those of
    # the queries where few seekers move from the start (e.g. NaN padding)
    qi, si = np.nonzero(moving & ~dense[:, None])
    x, w, y = x_all[qi], w_all[qi], modes[qi, si]
    n_iter = 0
    while n_iter < max_iter and (dense.any() or qi.size):
        n_iter += 1
        rows_q = np.flatnonzero(dense)
        if rows_q.size:
            # Phase 1, batched over the queries where most seekers still move.
            y1, x1 = modes[rows_q].astype(dtype), x_low[rows_q]
            chord2 = np.matmul(y1, minus_2_x_t[rows_q])
            chord2 += 2.0  # rounding may leave -1e-7: _kernel allows it
            kw = _kernel(chord2, kernel, bandwidth_km)
            if not unit:
                kw *= w_low[rows_q][:, None, :]
            new = np.matmul(kw, x1).astype(np.float64)  # (Qa, k, 3) kernel-weighted sums
            y0 = modes[rows_q]
            new, still = _step(new, y0, tol2)
            mask = moving[rows_q]
            stopping = mask & ~still
            if dtype is not np.float64 and stopping.any():
                # A seeker stops only on a float64 step: its final position is the
                # float64 mean-shift image of its last one, as without float32.
                a, b = np.nonzero(stopping)
                new[a, b], still[a, b] = _sparse_step(
                    x_all[rows_q[a]], w_all[rows_q[a]], y0[a, b], kernel, bandwidth_km, tol2)
            # Seekers that already stopped stay put.
            modes[rows_q] = np.where(mask[..., None], new, modes[rows_q])
            moving[rows_q] = mask & still
        if qi.size:
            # Phase 2: each active seeker against its own query's neighbours.
            new, still = _sparse_step(x, w, y, kernel, bandwidth_km, tol2)
            done = ~still
            if done.any():
                modes[qi[done], si[done]] = new[done]
                moving[qi[done], si[done]] = False
                qi, si, x, w, new = qi[still], si[still], x[still], w[still], new[still]
            y = new
        if rows_q.size:
            # Queries where few seekers still move go to phase 2 (decided
            # per query, so that a seeker's path never depends on the other queries).
            turned = rows_q[moving[rows_q].sum(axis=1) <= enough[rows_q]]
            if turned.size:
                dense[turned] = False
                tq, ts = np.nonzero(moving[turned])
                tq = turned[tq]
                qi, si = np.concatenate([qi, tq]), np.concatenate([si, ts])
                x = np.concatenate([x, x_all[tq]])
                w = np.concatenate([w, w_all[tq]])
                y = np.concatenate([y, modes[tq, ts]])
    if qi.size:  # max_iter reached
        modes[qi, si] = y
    return modes, n_iter


def _shift_one(
    points: np.ndarray, weights: np.ndarray, kernel: str, bandwidth_km: float,
    max_iter: int, tol_chord: float,
) -> tuple[np.ndarray, int]:
    """:func:`_shift` for one query, in float64: ``points`` ``(k, 3)``, ``weights`` ``(k,)``.

    A single query's arrays are small, so call overhead, not arithmetic, is its
    cost: its moving seekers ``(A, 3)`` step together against the same
    neighbours with 2-D matrix products (about 20 numpy calls an iteration,
    half those of the batched phases), and float32 would save nothing. The
    arithmetic is that of :func:`_shift` with ``dtype=np.float64`` (the same
    positions up to summation order).
    """
    tol2 = float(tol_chord) ** 2
    modes = points.copy()
    active = np.flatnonzero(weights > 0)
    y = points[active]
    minus_2_points_t = -2.0 * points.T  # squared chord = 2 - 2 y.x
    unit = bool(np.all(weights == 1.0))  # no zero weights either: skip the product
    n_iter = 0
    while active.size and n_iter < max_iter:
        n_iter += 1
        chord2 = y @ minus_2_points_t
        chord2 += 2.0  # rounding may leave -1e-16: _kernel allows it
        kw = _kernel(chord2, kernel, bandwidth_km)
        if not unit:
            kw *= weights
        new, still = _step(kw @ points, y, tol2)
        if not still.all():
            modes[active[~still]] = new[~still]
            active, new = active[still], new[still]
        y = new
    modes[active] = y  # max_iter reached
    return modes, n_iter


def _sparse_step(x: np.ndarray, w: np.ndarray, y: np.ndarray, kernel: str,
                 bandwidth_km: float, tol2: float) -> tuple[np.ndarray, np.ndarray]:
    """One float64 step of seekers ``y`` ``(A, 3)``, each against its own neighbours
    ``x`` ``(A, k, 3)`` with weights ``w`` ``(A, k)``; returns the new positions and
    which moved more than the tolerance."""
    chord2 = np.matmul((-2.0 * y)[:, None, :], x.transpose(0, 2, 1))[:, 0]  # exact -2 y.x
    chord2 += 2.0  # rounding may leave -1e-16: _kernel allows it
    kw = _kernel(chord2, kernel, bandwidth_km)
    kw *= w
    return _step(np.matmul(kw[:, None, :], x)[:, 0], y, tol2)


def _step(new: np.ndarray, y: np.ndarray, tol2: float) -> tuple[np.ndarray, np.ndarray]:
    """Put kernel-weighted sums back on the sphere; which seekers moved more than the tolerance.

    An empty window or a sum that cancels out (antipodal votes) stays put.
    """
    # (few-call forms: in phase 2 these arrays are tiny and call overhead is the cost)
    norm = np.sqrt(np.multiply(new, new).sum(axis=-1, keepdims=True))
    if norm.min(initial=np.inf) > 1e-12:
        new /= norm
    else:
        ok = norm > 1e-12
        new = np.where(ok, new / np.where(ok, norm, 1.0), y)
    diff = new - y
    np.multiply(diff, diff, out=diff)
    return new, diff.sum(axis=-1) > tol2


def _merge(
    modes: np.ndarray, points: np.ndarray, weights: np.ndarray, kernel: str,
    bandwidth_km: float, merge_km: float, membership: str = "seed",
) -> dict[str, np.ndarray]:
    """Merge converged seekers into clusters and rank them per query.

    Greedy by density, as scikit-learn's ``MeanShift`` merges its centres:
    the seekers of a query are visited in order of decreasing kernel density
    at their modes; one not yet claimed becomes a cluster centre and claims
    every unclaimed seeker whose mode lies within ``merge_km`` of its own.
    Unlike linking all pairs within ``merge_km`` (connected components), this
    cannot chain distinct modes into one sprawling cluster. The loop runs over
    density ranks (at most ``k`` steps), each step vectorised over queries.
    """
    q, k = weights.shape
    valid = weights > 0
    density = (_kernel(_chord2(modes, points), kernel, bandwidth_km)
               * weights[:, None, :]).sum(axis=-1)
    # Rounded to 10 significant digits relative to the query's total weight, so
    # that densities equal up to summation order (e.g. with NaN padding) tie
    # exactly and the tie goes to the best-ranked neighbour.
    scale = np.maximum(weights.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    density = np.where(valid, np.round(density / scale, 10), -np.inf)
    order = np.argsort(-density, axis=1, kind="stable")  # ties: best-ranked neighbour first
    rows = np.arange(q)[:, None]
    s_modes, s_valid = modes[rows, order], valid[rows, order]
    close = _chord2(s_modes, s_modes) <= km_to_chord(merge_km) ** 2  # (q, k, k), sorted order
    close &= s_valid[:, None, :]
    owner = np.where(s_valid, -1, k)  # sorted position of the claiming centre; k = no vote
    # A seeker with no other mode within merge_km is a centre whenever it is visited and
    # claims nobody: settled now, so that the loop visits only the others (the clutter of
    # a k = 120 list is mostly such singletons).
    alone = s_valid & (close.sum(axis=2) == 1)
    owner = np.where(alone, np.arange(k)[None, :], owner)
    r = int(np.argmax((owner == -1).any(axis=0)))
    while r < k:
        centre = owner[:, r] == -1
        owner[centre, r] = r
        claim = centre[:, None] & close[:, r, :] & (owner == -1)
        owner[claim] = r
        # next sorted position still unclaimed in some query (skips runs of claimed ones)
        pending = (owner[:, r + 1:] == -1).any(axis=0)
        if not pending.any():
            break
        r += 1 + int(np.argmax(pending))
    # Back to neighbour order: the seed index of each valid neighbour's centre.
    centre_seed = np.full((q, k), -1, dtype=np.int64)
    centre_seed[rows, order] = np.where(owner < k, order[rows, np.minimum(owner, k - 1)], -1)
    if membership == "nearest":
        # scikit-learn's rule: every neighbour joins the centre whose mode is nearest to it.
        is_centre = np.zeros((q, k), dtype=bool)
        is_centre[rows, order] = owner == np.arange(k)[None, :]
        d2 = np.where(is_centre[:, None, :], _chord2(points, modes), np.inf)  # (q, point, seed)
        nearest = np.argmin(d2, axis=2)
        centre_seed = np.where(valid, nearest, -1)

    node = np.flatnonzero(valid.ravel())  # valid neighbours, in (query, rank) order
    cid = (node // k) * k + centre_seed.ravel()[node]  # global id of each one's cluster
    uniq, first, inv = np.unique(cid, return_index=True, return_inverse=True)
    m = uniq.size
    c_weight = np.bincount(inv, weights=weights.ravel()[node], minlength=m)
    c_size = np.bincount(inv, minlength=m)
    c_query = uniq // k
    c_first = node[first] % k  # each cluster's best-ranked member
    c_density = density.ravel()[uniq]
    c_mode = modes.reshape(-1, 3)[uniq]

    # Rank per query: heavier, larger, denser mode, then best-ranked member first.
    rank_order = np.lexsort((c_first, -c_density, -c_size, -c_weight, c_query))
    starts = np.searchsorted(c_query[rank_order], np.arange(q))
    rank = np.empty(m, dtype=np.int64)
    rank[rank_order] = np.arange(m) - starts[c_query[rank_order]]

    labels = np.full(q * k, -1, dtype=np.int64)
    labels[node] = rank[inv]
    total = weights.sum(axis=1)
    c_lat, c_lon = to_latlon(c_mode)
    out = {
        "labels": labels.reshape(q, k),
        "cluster_lat": np.full((q, k), np.nan),
        "cluster_lon": np.full((q, k), np.nan),
        "cluster_weight": np.full((q, k), np.nan),
        "cluster_size": np.zeros((q, k), dtype=np.int64),
        "n_clusters": np.bincount(c_query, minlength=q),
    }
    out["cluster_lat"][c_query, rank] = c_lat
    out["cluster_lon"][c_query, rank] = c_lon
    out["cluster_weight"][c_query, rank] = c_weight / total[c_query]
    out["cluster_size"][c_query, rank] = c_size
    return out


def meanshift(
    lat,
    lon,
    bandwidth_km: float = DEFAULT_BANDWIDTH_KM,
    weights=None,
    kernel: Kernel = "gaussian",
    max_iter: int = 300,
    tol_km: float | None = None,
    merge_km: float | None = None,
    batch_size: int | None = None,
    membership: Literal["seed", "nearest"] = "seed",
    precision: Literal["auto", "float32", "float64"] = "auto",
) -> Votes:
    """Mean-shift voting over the neighbours of many queries at once.

    Parameters
    ----------
    lat, lon : array_like
        ``(n_queries, k)`` neighbour coordinates in degrees, nearest first
        (a ``(k,)`` array is one query). NaN marks a missing neighbour, which
        is ignored.
    bandwidth_km : float, optional
        Kernel bandwidth in great-circle km: the Gaussian's standard deviation,
        or the flat window's radius.
    weights : array_like, optional
        ``(n_queries, k)`` nonnegative vote weights (e.g. feature similarity);
        a neighbour of weight 0 does not vote. Only their ratios within a
        query count (each query's are scaled to a largest of 1). Default: all 1.
    kernel : {"gaussian", "flat"}, optional
        Kernel profile. ``"flat"`` matches scikit-learn's ``MeanShift``.
    max_iter : int, optional
        Most mean-shift iterations.
    tol_km : float, optional
        A seeker has converged when it moves less than this in one
        iteration. Default: ``bandwidth_km / 1000`` (scikit-learn's rule).
    merge_km : float, optional
        Merge radius: visiting seekers by decreasing density at their modes,
        each unclaimed one starts a cluster that claims the unclaimed seekers
        whose modes lie within ``merge_km`` of its own. Default:
        ``bandwidth_km``, as scikit-learn's ``MeanShift``; two modes of a
        Gaussian density are rarely closer than the bandwidth (two equal
        point masses give two modes only when more than ``2 h`` apart), and
        seekers stopped by ``tol_km`` short of a mode lie well within it.
    batch_size : int, optional
        Queries processed together; memory grows as ``batch_size * k**2``.
        Default: as many as keep each ``(batch, k, k)`` array near 32 MB
        (277 queries at ``k = 120``). Results do not depend on it.
    membership : {"seed", "nearest"}, optional
        Which cluster a neighbour belongs to: the one its own seeker converged
        to (``"seed"``, the usual mean-shift clustering rule), or the one whose
        mode is nearest to the neighbour (``"nearest"``, scikit-learn's
        ``MeanShift`` rule).
    precision : {"auto", "float32", "float64"}, optional
        Arithmetic of the batched mode-seeking steps. float32 is about twice
        as fast; distances computed from float32 dot products are uncertain
        by about ``5 / bandwidth_km`` km (0.025 km at 200 km), so ``"auto"``
        (default) takes float32 for bandwidths of at least
        :data:`FLOAT32_MIN_BANDWIDTH_KM` and float64 below, and float64 when
        only one query has neighbours (its arrays are small: call overhead, not
        arithmetic, is its cost, and it runs a leaner one-query loop). So a
        query voted alone and in a batch can differ by float32 rounding (at
        most 0.2 km on the benchmark's sets, usually centimetres); pass
        ``"float64"`` for answers that do not depend on the batch. Positions, every
        stopping step (so every final position) and the merge are float64;
        ``benchmarks/voting_speed.py`` measures the agreement of the modes.

    Returns
    -------
    Votes
        Estimates (the mode of the heaviest cluster) and all clusters.

    Raises
    ------
    ValueError
        On mismatched shapes, latitudes out of range, infinite coordinates,
        negative or non-finite weights, a bandwidth under 1 m or infinite, a
        negative tolerance or merge radius, ``max_iter`` or ``batch_size``
        below 1, or an unknown kernel.

    Notes
    -----
    Each seeker ``y`` moves to ``sum_j w_j K(d(y, x_j)) x_j`` renormalised to
    unit length, where ``x_j`` are the neighbours' unit vectors and ``d`` the
    great-circle distance. A neighbour belongs to the cluster its own seeker
    converged to; a cluster's weight is the sum of its members' weights over
    the query's total, and its mode is the densest of its members' modes.
    Clusters are ranked by weight, then size, then density at the mode, then
    the rank of their best-ranked neighbour, so ties are broken
    deterministically and in favour of the nearest neighbours in feature space.
    """
    if kernel not in ("gaussian", "flat"):
        raise ValueError(f"kernel must be 'gaussian' or 'flat', got {kernel!r}")
    _check_settings(bandwidth_km, batch_size, tol_km=tol_km, merge_km=merge_km)
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if membership not in ("seed", "nearest"):
        raise ValueError(f"membership must be 'seed' or 'nearest', got {membership!r}")
    if precision not in ("auto", "float32", "float64"):
        raise ValueError(f"precision must be 'auto', 'float32' or 'float64', got {precision!r}")
    weighted = weights is not None
    lat, lon, weights = _as_2d(lat, lon, weights)
    if precision == "auto":
        wide = bandwidth_km >= FLOAT32_MIN_BANDWIDTH_KM
        voting = int(np.count_nonzero((weights > 0).any(axis=1)))  # queries with a vote
        precision = "float32" if wide and voting > 1 else "float64"
    tol_km = bandwidth_km * 1e-3 if tol_km is None else tol_km
    merge_km = bandwidth_km if merge_km is None else merge_km
    q, k = lat.shape
    if batch_size is None:
        batch_size = max(1, _BATCH_ELEMENTS // (k * k))
    points = np.nan_to_num(to_unit_vectors(lat, lon), nan=0.0)
    parts, n_iter = [], 0
    for start in range(0, q, max(1, batch_size)):
        sl = slice(start, start + batch_size)
        rows = np.flatnonzero((weights[sl] > 0).any(axis=1))
        if len(rows) == 1 and precision == "float64":
            # one query votes (the others, if any, have no neighbours and no seekers)
            modes = points[sl].copy()
            modes[rows[0]], it = _shift_one(points[sl][rows[0]], weights[sl][rows[0]], kernel,
                                            bandwidth_km, max_iter, float(km_to_chord(tol_km)))
        else:
            modes, it = _shift(points[sl], weights[sl], kernel, bandwidth_km, max_iter,
                               float(km_to_chord(tol_km)), dtype=np.dtype(precision).type)
        n_iter = max(n_iter, it)
        parts.append(_merge(modes, points[sl], weights[sl], kernel, bandwidth_km, merge_km,
                            membership))
    if parts:
        out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    else:
        out = _merge(np.zeros((0, k, 3)), np.zeros((0, k, 3)), weights, kernel,
                     bandwidth_km, merge_km)
    params = {"method": "meanshift", "bandwidth_km": float(bandwidth_km), "kernel": kernel,
              "max_iter": int(max_iter), "tol_km": float(tol_km), "merge_km": float(merge_km),
              "weighted": weighted, "membership": membership, "precision": precision}
    return Votes(lat=out["cluster_lat"][:, 0].copy(), lon=out["cluster_lon"][:, 0].copy(),
                 n_iter=n_iter, params=params, **out)


def one_nn(lat, lon) -> Votes:
    """The 1-NN rule: each query's answer is its nearest neighbour's location.

    Parameters
    ----------
    lat, lon : array_like
        ``(n_queries, k)`` neighbour coordinates in degrees, nearest first.
        Missing (NaN) neighbours are skipped: the first valid one answers.

    Returns
    -------
    Votes
        One cluster per query (weight 1, size 1, members ``[j]`` with ``j`` the
        first valid neighbour); other neighbours are labelled -1.
    """
    lat, lon, _ = _as_2d(lat, lon, None)
    q, k = lat.shape
    finite = np.isfinite(lat) & np.isfinite(lon)
    has = finite.any(axis=1)
    j = np.argmax(finite, axis=1)
    rows = np.arange(q)
    labels = np.full((q, k), -1, dtype=np.int64)
    labels[rows[has], j[has]] = 0
    est_lat = np.where(has, lat[rows, j], np.nan)
    est_lon = np.where(has, lon[rows, j], np.nan)
    pad = np.full((q, k), np.nan)
    c_lat, c_lon, c_w = pad.copy(), pad.copy(), pad.copy()
    c_size = np.zeros((q, k), dtype=np.int64)
    c_lat[:, 0], c_lon[:, 0] = est_lat, est_lon
    c_w[:, 0] = np.where(has, 1.0, np.nan)
    c_size[:, 0] = has
    return Votes(lat=est_lat, lon=est_lon, labels=labels, cluster_lat=c_lat, cluster_lon=c_lon,
                 cluster_weight=c_w, cluster_size=c_size, n_clusters=has.astype(np.int64),
                 params={"method": "1nn"})


def kde_vote(lat, lon, bandwidth_km: float = DEFAULT_BANDWIDTH_KM, weights=None,
             batch_size: int | None = None) -> Votes:
    """Kernel-density voting (Vo, Jacobs & Hays 2017): the densest neighbour wins.

    Each neighbour's location is scored by the Gaussian kernel density of all
    the query's neighbours there, ``sum_j w_j exp(-d_ij^2 / (2 h^2))``; the
    answer is the location of the highest-scoring neighbour (ties: the
    nearest in feature space). It is one step of mean-shift's density, with
    no iteration, so the answer is always a real photo's location.

    Parameters
    ----------
    lat, lon : array_like
        ``(n_queries, k)`` neighbour coordinates, nearest first; NaN = missing.
    bandwidth_km : float, optional
        Gaussian bandwidth in great-circle km.
    weights : array_like, optional
        ``(n_queries, k)`` nonnegative vote weights (default 1).
    batch_size : int, optional
        Queries per ``(batch, k, k)`` block (default: about 32 MB each).

    Returns
    -------
    Votes
        One cluster per query: the winning neighbour's location, holding the
        neighbours within ``bandwidth_km`` of it (weight = their share of the
        vote weight); other neighbours are labelled -1.

    References
    ----------
    .. [1] N. Vo, N. Jacobs and J. Hays, "Revisiting IM2GPS in the deep
       learning era", ICCV 2017.
    """
    _check_settings(bandwidth_km, batch_size)
    lat, lon, weights = _as_2d(lat, lon, weights)
    q, k = lat.shape
    points = np.nan_to_num(to_unit_vectors(lat, lon), nan=0.0)
    valid = weights > 0
    batch_size = batch_size or max(1, _BATCH_ELEMENTS // (k * k))
    best = np.zeros(q, dtype=np.int64)
    for start in range(0, q, batch_size):
        sl = slice(start, start + batch_size)
        density = (_kernel(_chord2(points[sl], points[sl]), "gaussian", bandwidth_km)
                   * weights[sl][:, None, :]).sum(axis=-1)
        best[sl] = np.argmax(np.where(valid[sl], density, -np.inf), axis=1)
    rows = np.arange(q)
    has = valid.any(axis=1)
    winner = points[rows, best][:, None, :]
    near = (_chord2(points, winner)[..., 0] <= km_to_chord(bandwidth_km) ** 2) & valid
    near[rows, best] |= has
    labels = np.where(near, 0, -1)
    est_lat = np.where(has, lat[rows, best], np.nan)
    est_lon = np.where(has, lon[rows, best], np.nan)
    pad = np.full((q, k), np.nan)
    c_lat, c_lon, c_w = pad.copy(), pad.copy(), pad.copy()
    c_size = np.zeros((q, k), dtype=np.int64)
    total = np.maximum(weights.sum(axis=1), np.finfo(np.float64).tiny)
    c_lat[:, 0], c_lon[:, 0] = est_lat, est_lon
    c_w[:, 0] = np.where(has, (weights * near).sum(axis=1) / total, np.nan)
    c_size[:, 0] = near.sum(axis=1)
    return Votes(lat=est_lat, lon=est_lon, labels=labels, cluster_lat=c_lat, cluster_lon=c_lon,
                 cluster_weight=c_w, cluster_size=c_size, n_clusters=has.astype(np.int64),
                 params={"method": "kde", "bandwidth_km": float(bandwidth_km),
                         "weighted": True})

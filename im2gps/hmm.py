"""Hidden Markov models over places: Viterbi and forward-backward, vectorised.

The album algorithms of Kalogerakis et al. (ICCV 2009): a photo sequence is
a path over places (the hidden states), each photo's single-photo
distribution is its emission, and the transitions between consecutive
photos come from the travel prior (:mod:`im2gps.travel`). :func:`viterbi`
finds the jointly most probable path, :func:`forward_backward` each photo's
posterior over places.

Both take ``(T, S)`` log emissions, ``T - 1`` transition matrices (dense
``(S, S)`` arrays or ``scipy.sparse`` arrays, ``[i, j]`` = P(j | i)) and
``(S,)`` log initial probabilities. Work per step is one matrix product or
one masked maximum over all states at once:

* Viterbi runs in log space; on a sparse matrix the maximum over incoming
  entries is a segment maximum over the stored entries only, so its cost is
  the number of reachable pairs, not ``S**2``;
* forward-backward keeps emissions and the per-step normalisers in log space
  and the messages as probabilities rescaled at every step (Rabiner's
  scaling), so nothing under- or overflows and each step is a sparse or
  dense matrix-vector product (BLAS), not a log-sum-exp over ``S**2`` terms.

References
----------
.. [1] E. Kalogerakis, O. Vesselova, J. Hays, A. A. Efros and A. Hertzmann,
   "Image sequence geolocation with human travel priors", ICCV 2009.
.. [2] L. R. Rabiner, "A tutorial on hidden Markov models and selected
   applications in speech recognition", Proc. IEEE 77(2), 1989 (scaling).
.. [3] T. Weyand, I. Kostrikov and J. Philbin, "PlaNet - Photo geolocation
   with convolutional neural networks", ECCV 2016 (cell probabilities as
   the single-photo distribution).

Notes
-----
* Should every state reachable from the previous photo's states have zero
  emission (an impossible sequence under the truncated transitions), the
  forward message restarts from the emission alone at that photo instead of
  failing; the log-likelihood then counts that step as a restart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.special import logsumexp

__all__ = ["forward_backward", "viterbi"]


def _check(log_emissions: np.ndarray, transitions: Sequence, log_initial: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    le = np.asarray(log_emissions, np.float64)
    if le.ndim != 2:
        raise ValueError(f"log_emissions must be (T, S), not {le.shape}")
    n_steps, n_states = le.shape
    li = np.asarray(log_initial, np.float64).ravel()
    if li.size != n_states:
        raise ValueError(f"{li.size} initial log-probabilities for {n_states} states")
    if len(transitions) != max(n_steps - 1, 0):
        raise ValueError(f"{len(transitions)} transition matrices for {n_steps} steps "
                         f"(need {n_steps - 1})")
    for matrix in transitions:
        if matrix.shape != (n_states, n_states):
            raise ValueError(f"transition matrix of shape {matrix.shape}, need "
                             f"({n_states}, {n_states})")
    return le, li


def _log_matrix(matrix) -> tuple[str, object]:
    """Log-probabilities of a matrix: ('dense', float32 (S, S)) or ('sparse', CSC parts)."""
    if sparse.issparse(matrix):
        csc = sparse.csc_array(matrix)
        csc.eliminate_zeros()
        csc.sort_indices()
        counts = np.diff(csc.indptr)
        column = np.repeat(np.arange(csc.shape[1]), counts)
        return "sparse", (csc.indices, np.log(csc.data), csc.indptr, counts, column)
    with np.errstate(divide="ignore"):  # transposed: row j holds the moves into j
        return "dense", np.log(np.ascontiguousarray(np.asarray(matrix).T, dtype=np.float32))


def viterbi(log_emissions, transitions: Sequence, log_initial) -> tuple[np.ndarray, float]:
    """The most probable state path.

    Parameters
    ----------
    log_emissions : array_like
        ``(T, S)`` log p(photo t | state s) up to a constant per photo.
    transitions : sequence of (S, S) arrays or sparse arrays
        ``T - 1`` row-stochastic matrices, ``[i, j]`` = P(state j at t+1 | i at t).
    log_initial : array_like
        ``(S,)`` log-probabilities of the first state.

    Returns
    -------
    path : numpy.ndarray
        ``(T,)`` int, the state of each step.
    log_prob : float
        Log-probability of the path (joint with the emissions).

    Raises
    ------
    ValueError
        If the shapes do not agree.

    Notes
    -----
    Dense steps add in float32 (half the memory traffic of float64); the
    scores are shifted to a maximum of 0 at every step, and the shifts summed
    in float64, so float32 only has to resolve differences between paths.
    """
    le, li = _check(log_emissions, transitions, log_initial)
    n_steps, n_states = le.shape
    if n_steps == 0:
        return np.zeros(0, np.int64), 0.0
    back = np.zeros((max(n_steps - 1, 0), n_states), np.int64)
    delta = li + le[0]
    offset = float(np.max(delta))
    delta = delta - offset
    logs: dict[int, tuple[str, object]] = {}  # matrices shared between steps are logged once
    states = np.arange(n_states)
    for step, matrix in enumerate(transitions):
        if id(matrix) not in logs:
            logs[id(matrix)] = _log_matrix(matrix)
        kind, logged = logs[id(matrix)]
        if kind == "dense":
            scores = logged + delta.astype(np.float32)[None, :]
            best_from = np.argmax(scores, axis=1)
            # the winners' scores again in float64, so that the shifts stay exact
            with np.errstate(divide="ignore"):
                best = delta[best_from] + np.log(np.asarray(matrix)[best_from, states])
        else:
            rows, log_data, indptr, counts, column = logged
            values = delta[rows] + log_data
            best = np.full(n_states, -np.inf)
            best_from = np.zeros(n_states, np.int64)
            filled = counts > 0
            if values.size:
                best[filled] = np.maximum.reduceat(values, indptr[:-1][filled])
                hit = np.flatnonzero(values == best[column])
                first = np.r_[True, column[hit][1:] != column[hit][:-1]]
                best_from[column[hit][first]] = rows[hit[first]]
        back[step] = best_from
        delta = best + le[step + 1]
        shift = float(np.max(delta))
        if np.isfinite(shift):
            offset += shift
            delta = delta - shift
    path = np.empty(n_steps, np.int64)
    path[-1] = int(np.argmax(delta))
    log_prob = float(delta[path[-1]] + offset)
    for step in range(n_steps - 2, -1, -1):
        path[step] = back[step, path[step + 1]]
    return path, log_prob


def forward_backward(log_emissions, transitions: Sequence, log_initial
                     ) -> tuple[np.ndarray, float]:
    """Each step's posterior over states given the whole sequence.

    Parameters
    ----------
    log_emissions, transitions, log_initial
        As in :func:`viterbi`.

    Returns
    -------
    posterior : numpy.ndarray
        ``(T, S)`` float64, rows sum to 1.
    log_likelihood : float
        Log-probability of the emissions (up to the per-photo constants of
        ``log_emissions``).

    Raises
    ------
    ValueError
        If the shapes do not agree.
    """
    le, li = _check(log_emissions, transitions, log_initial)
    n_steps, n_states = le.shape
    if n_steps == 0:
        return np.zeros((0, n_states)), 0.0
    shift = le.max(axis=1, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    emission = np.exp(le - shift)  # (T, S) in [0, 1], one entry 1 per finite row
    alpha = np.empty((n_steps, n_states))
    log_scale = np.empty(n_steps)
    first = np.exp(li - logsumexp(li)) * emission[0]
    total = first.sum()
    if total <= 0:
        first, total = emission[0], emission[0].sum()
    alpha[0], log_scale[0] = first / total, np.log(total)
    transposed = [m.T for m in transitions]
    # vectors in each matrix's own precision (a float32 matrix is not copied to float64)
    dtypes = [m.dtype for m in transitions]
    for step in range(1, n_steps):
        predicted = transposed[step - 1] @ alpha[step - 1].astype(dtypes[step - 1], copy=False)
        message = predicted * emission[step]
        total = message.sum()
        if total <= 0:  # unreachable under the truncated transitions: restart
            message = emission[step] / n_states
            total = message.sum()
        alpha[step], log_scale[step] = message / total, np.log(total)
    beta = np.ones(n_states)
    posterior = np.empty_like(alpha)
    posterior[-1] = alpha[-1]
    for step in range(n_steps - 2, -1, -1):
        beta = transitions[step] @ (beta * emission[step + 1]).astype(dtypes[step], copy=False)
        norm = beta.max()
        beta = beta / norm if norm > 0 else np.ones(n_states)
        gamma = alpha[step] * beta
        total = gamma.sum()
        posterior[step] = gamma / total if total > 0 else alpha[step]
    return posterior, float(log_scale.sum() + shift.sum())

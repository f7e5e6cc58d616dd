"""HMM: exact against enumeration, and recovery of a known path drawn from a travel prior."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse
from scipy.special import logsumexp

from im2gps.hmm import forward_backward, viterbi
from im2gps.travel import TravelPrior, sample_sequences


def _enumerate(le, matrices, li):
    n_steps, n_states = le.shape
    scores = {}
    with np.errstate(divide="ignore"):
        for path in itertools.product(range(n_states), repeat=n_steps):
            score = li[path[0]] + le[0, path[0]]
            for t in range(n_steps - 1):
                score += np.log(matrices[t][path[t], path[t + 1]]) + le[t + 1, path[t + 1]]
            scores[path] = score
    return scores


@pytest.mark.parametrize("as_sparse", [False, True])
def test_viterbi_and_posteriors_equal_enumeration(as_sparse):
    rng = np.random.default_rng(0)
    n_steps, n_states = 5, 4
    le = np.log(rng.random((n_steps, n_states)))
    li = np.log(rng.dirichlet(np.ones(n_states)))
    matrices = [rng.dirichlet(np.ones(n_states), size=n_states) for _ in range(n_steps - 1)]
    matrices[1][matrices[1] < 0.2] = 0  # some impossible moves
    matrices[1] /= matrices[1].sum(axis=1, keepdims=True)
    scores = _enumerate(le, matrices, li)
    best = max(scores, key=scores.get)
    total = logsumexp(list(scores.values()))
    posterior = np.zeros((n_steps, n_states))
    for path, score in scores.items():
        posterior[np.arange(n_steps), path] += np.exp(score - total)
    given = [sparse.csr_array(m) for m in matrices] if as_sparse else matrices
    path, log_prob = viterbi(le, given, li)
    assert tuple(path) == best
    assert log_prob == pytest.approx(scores[best])
    post, log_likelihood = forward_backward(le, given, li)
    assert np.allclose(post, posterior)
    assert log_likelihood == pytest.approx(total)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="transition matrices"):
        viterbi(np.zeros((3, 2)), [np.eye(2)], np.zeros(2))
    with pytest.raises(ValueError, match="initial"):
        forward_backward(np.zeros((2, 2)), [np.eye(2)], np.zeros(3))


def test_hmm_recovers_a_known_path(db_table):
    """Places are real geotags; the path and the gaps come from a known travel prior."""
    prior = TravelPrior(a=1.0, b=0.5, s0=2.0, mu0=4.0, alpha=0.5, sigma=0.8)
    usa = db_table[db_table["lat"].between(25, 50) & db_table["lon"].between(-125, -65)]
    places = usa.drop_duplicates(["lat", "lon"]).sample(60, random_state=0)
    lat, lon = places["lat"].to_numpy(), places["lon"].to_numpy()
    radius = 25.0
    path, gaps = sample_sequences(prior, lat, lon, radius, n_steps=200, seed=3)
    assert (np.diff(path) != 0).sum() > 50  # the sequence travels
    # noisy single-photo evidence: the true place gets a bonus among random scores
    rng = np.random.default_rng(4)
    le = rng.normal(0, 1, (len(path), len(lat)))
    le[np.arange(len(path)), path] += 2.0
    alone = np.mean(np.argmax(le, axis=1) == path)
    matrices = prior.transitions(lat, lon, radius, gaps)
    decoded, _ = viterbi(le, matrices, np.full(len(lat), -np.log(len(lat))))
    posterior, _ = forward_backward(le, matrices, np.full(len(lat), -np.log(len(lat))))
    joint = np.mean(decoded == path)
    marginal = np.mean(np.argmax(posterior, axis=1) == path)
    assert alone < 0.5
    assert joint > 0.8 and marginal > 0.8
    assert joint > alone + 0.3

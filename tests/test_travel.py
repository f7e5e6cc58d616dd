"""Travel prior: recovery of known parameters, the fit on real sequences, transitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, sparse

from im2gps.albums import parse_time
from im2gps.geo import haversine_km
from im2gps.travel import TravelPrior, sample_pairs, sequence_pairs

TRUE = dict(a=1.0, b=0.4, s0=3.0, mu0=2.5, alpha=0.6, sigma=1.2)


def test_fit_recovers_known_parameters():
    prior = TravelPrior(**TRUE)
    rng = np.random.default_rng(1)
    gaps = np.exp(rng.uniform(np.log(0.05), np.log(5000), 5000))
    distances = sample_pairs(prior, gaps, seed=2)
    fitted = TravelPrior().fit(distances, gaps)
    assert fitted.n_pairs_ == 5000
    for key, tol in dict(a=0.25, b=0.06, s0=0.5, mu0=0.2, alpha=0.05, sigma=0.08).items():
        assert abs(getattr(fitted, key) - TRUE[key]) < tol, (key, getattr(fitted, key))


def test_density_integrates_to_one_and_matches_cdf():
    prior = TravelPrior(**TRUE)
    for gap in (0.1, 24.0, 5000.0):
        def density(d, gap=gap):
            return np.exp(prior.log_pdf(d, gap))

        total = sum(integrate.quad(density, lo, hi, limit=200)[0]
                    for lo, hi in ((0, 1), (1, 100), (100, 1e4), (1e4, 1e7)))
        assert total == pytest.approx(1.0, abs=2e-3)
        part = integrate.quad(density, 0, 50, limit=200)[0]
        assert prior.cdf(50.0, gap) == pytest.approx(part, abs=2e-3)


def _author_pairs(db_table):
    times = np.array([parse_time(v)[0] for v in db_table["taken"]])
    return sequence_pairs(db_table["lat"], db_table["lon"], times, db_table["author"])


def test_fit_on_real_author_sequences(db_table, tmp_path):
    distances, gaps = _author_pairs(db_table)
    assert len(distances) == 124  # 125 consecutive pairs, one with a future clock
    prior = TravelPrior().fit(distances, gaps)
    assert np.isfinite(prior.log_likelihood_)
    # people go further in a month than in an hour, and stay less often
    assert prior.median_travel_km(720.0) > prior.median_travel_km(1.0)
    assert prior.stay_probability(720.0) < prior.stay_probability(1.0)
    assert prior.cdf(100.0, 1.0) > prior.cdf(100.0, 720.0)
    # saved and loaded: the same prior
    loaded = TravelPrior.load(prior.save(tmp_path / "prior.json"))
    assert loaded.get_params() == prior.get_params()
    d = np.geomspace(0.01, 20000, 50)
    assert np.array_equal(loaded.log_pdf(d, 5.0), prior.log_pdf(d, 5.0))


def test_transitions_are_stochastic_and_sparse_when_close_in_time(db_table):
    prior = TravelPrior(**TRUE, max_speed_kmh=1000.0, clock_slack_hours=0.0)
    places = db_table.drop_duplicates(["lat", "lon"]).iloc[:300]
    gaps = np.array([0.1, 0.1, 2000.0, np.nan])
    matrices = prior.transitions(places["lat"], places["lon"], 10.0, gaps)
    assert matrices[0] is matrices[1]  # one gap bin, one matrix
    assert sparse.issparse(matrices[0])  # six minutes: most places out of reach
    assert prior.reach_km(0.1) == pytest.approx(100.0)
    dense = matrices[0].toarray()
    d = haversine_km(places["lat"].to_numpy()[:, None], places["lon"].to_numpy()[:, None],
                     places["lat"].to_numpy()[None, :], places["lon"].to_numpy()[None, :])
    # beyond the reach (of the gap bin, 2**-3 h) no mass
    assert (dense[d - 20.0 > prior.reach_km(2.0**-3) + 0.5] == 0).all()
    for matrix in matrices:
        dense = matrix.toarray() if sparse.issparse(matrix) else matrix
        assert np.allclose(dense.sum(axis=1), 1.0)
        assert (dense >= 0).all()
    short = matrices[0].toarray()
    assert np.diag(short).mean() > np.diag(matrices[2] if not sparse.issparse(matrices[2])
                                           else matrices[2].toarray()).mean()

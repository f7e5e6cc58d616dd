"""Album locators on real photos: pooled votes, travel-prior HMM, album LSTM; save and load."""

from __future__ import annotations

import numpy as np
import pytest

from im2gps.album_locators import PooledVotes, TravelHMM, load_album_locator
from im2gps.albums import albums_from_table
from im2gps.locator import Im2GPS
from im2gps.locators import load as load_any
from im2gps.photos import PhotoCollection
from im2gps.planet import PlaNet
from im2gps.planet.album import AlbumLSTM
from im2gps.travel import TravelPrior


@pytest.fixture(scope="module")
def split(data_dir):
    """200 database photos, and three real author sequences kept out of them."""
    collection = PhotoCollection.from_csv(data_dir / "im2gps2k" / "photos.csv")
    table = collection.table
    sequences = [a for a in albums_from_table(table, "author") if len(a) >= 3][:3]
    held = np.concatenate([a.rows for a in sequences])
    authors = set(table["author"].iloc[held])
    rest = np.flatnonzero(~table["author"].isin(authors).to_numpy())
    rng = np.random.default_rng(0)
    database = collection.subset(np.sort(rng.choice(rest, 200, replace=False)))
    return collection, database, sequences


@pytest.fixture(scope="module")
def im2gps(split, tmp_path_factory):
    _, database, _ = split
    return Im2GPS(features=["tiny"], k=20, bandwidth_km=400.0).fit(
        database, index_dir=tmp_path_factory.mktemp("idx") / "index")


@pytest.fixture(scope="module")
def planet(split):
    _, database, _ = split
    return PlaNet(feature="tiny", t_max=40, t_min=5, max_epochs=30).fit_photos(database)


@pytest.fixture(scope="module")
def prior(db_table):
    """The travel prior of the real im2gps2k author sequences."""
    table = db_table.assign(id=db_table["image"])
    albums = albums_from_table(table, "author")
    times = np.full(len(table), np.nan)
    for album in albums:
        times[album.rows] = album.times
    return TravelPrior().fit_sequences(table["lat"], table["lon"], times, table["author"])


def test_pooled_im2gps_one_answer_and_one_photo_equals_single(split, im2gps):
    _, _, sequences = split
    album = sequences[0]
    answer = PooledVotes(im2gps).fit().predict_album(album)
    assert np.unique(answer.lat).size == 1 and np.isfinite(answer.lat).all()
    assert answer.extra["album_lat"][0] == answer.lat[0]
    # an album of one photo: the pooled vote is the photo's own vote
    one = PooledVotes(im2gps).fit().predict(album.images[:1])
    single = im2gps.predict(album.images[:1])
    assert one.lat[0] == pytest.approx(single.lat[0], abs=1e-6)
    assert one.lon[0] == pytest.approx(single.lon[0], abs=1e-6)


def test_hmm_im2gps_answers_are_vote_modes_and_reload_identically(split, im2gps, prior,
                                                                  tmp_path):
    _, _, sequences = split
    hmm = TravelHMM(im2gps, prior=prior).fit()
    single = im2gps.predict(sequences[1].images)
    answer = hmm.locate_album(single, sequences[1].gaps_hours())
    modes = {(round(a, 6), round(b, 6)) for i in range(len(single))
             for a, b in zip(single.votes.cluster_lat[i, :single.votes.n_clusters[i]],
                             single.votes.cluster_lon[i, :single.votes.n_clusters[i]],
                             strict=True)}
    assert all((round(a, 6), round(b, 6)) in modes for a, b in
               zip(answer.lat, answer.lon, strict=True))
    path = hmm.save(tmp_path / "hmm")
    loaded = load_album_locator(path)
    assert isinstance(loaded, TravelHMM)
    assert loaded.prior_.get_params() == prior.get_params()
    again = loaded.predict_album(sequences[1])
    first = hmm.predict_album(sequences[1])
    assert np.array_equal(again.lat, first.lat) and np.array_equal(again.lon, first.lon)
    assert np.array_equal(again.extra["posterior_max"], first.extra["posterior_max"])


def test_hmm_fits_its_prior_on_the_database_sequences(split, im2gps):
    collection, _, _ = split
    hmm = TravelHMM(im2gps).fit(table=collection.table)
    assert hmm.prior_.n_pairs_ == 124


def test_planet_album_locators_reload_identically(split, planet, prior, tmp_path):
    _, _, sequences = split
    album = sequences[2]
    for locator in (PooledVotes(planet, combine="product"),
                    TravelHMM(planet, prior=prior, decode="posterior", max_cells=10)):
        locator.fit()
        first = locator.predict_album(album)
        assert np.isfinite(first.lat).all()
        loaded = type(locator).load(locator.save(tmp_path / locator.kind))
        assert type(load_any(tmp_path / locator.kind)) is type(locator)  # any locator loads
        again = loaded.predict_album(album)
        assert np.array_equal(again.lat, first.lat) and np.array_equal(again.lon, first.lon)
        assert np.array_equal(again.extra["album_lat"], first.extra["album_lat"])


def test_album_lstm_uses_the_album_and_reloads_identically(split, planet, tmp_path):
    collection, database, sequences = split
    X, _ = planet.embed(database.paths)
    whole = albums_from_table(database.table, None)[0]
    times = np.full(len(database), np.nan)
    times[whole.rows] = whole.times
    model = AlbumLSTM(feature="tiny", hidden=16, max_epochs=15, patience=3).fit(
        X, database.table["lat"], database.table["lon"], groups=database.table["author"],
        times=times, cells=planet.cells_)
    model.extractor_ = planet.extractor_
    album = sequences[0]
    first = model.predict_album(album)
    assert np.isfinite(first.cell_probs).all()
    assert np.allclose(first.cell_probs.sum(axis=1), 1.0, atol=1e-5)
    # bidirectional: the first photo's answer depends on the photos after it
    alone = model.predict(album.images[:1])
    assert not np.allclose(alone.cell_probs[0], first.cell_probs[0])
    loaded = AlbumLSTM.load(model.save(tmp_path / "lstm"))
    assert type(load_any(tmp_path / "lstm")) is AlbumLSTM
    again = loaded.predict_album(album)
    assert np.array_equal(again.cell_probs, first.cell_probs)
    assert np.array_equal(again.lat, first.lat)

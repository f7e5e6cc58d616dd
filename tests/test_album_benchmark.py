"""Album benchmark: folds, place albums, and a small real run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from im2gps.album_benchmark import (
    _folds,
    place_albums,
    run_album_benchmark,
    write_album_results,
)
from im2gps.albums import albums_from_table
from im2gps.geo import haversine_km


def test_folds_keep_albums_whole_and_photographers_apart(db_table):
    table = db_table.assign(id=db_table["image"])
    lat, lon = table["lat"].to_numpy(), table["lon"].to_numpy()
    names = place_albums(lat, lon, radius_km=25.0, max_size=6)
    keyed = table.assign(place=names)
    keyed = keyed[keyed["place"].notna()]
    albums = albums_from_table(keyed, "place")
    for album in albums:
        album.rows = keyed.index.to_numpy()[album.rows]
    held_all = []
    for train, held in _folds(albums, table, 5):
        rows = np.concatenate([a.rows for a in held])
        held_all.append(rows)
        assert not set(table["author"].iloc[train]) & set(table["author"].iloc[rows])
        assert not set(train) & set(rows)
    assert sorted(np.concatenate(held_all)) == sorted(np.concatenate([a.rows for a in albums]))


def test_place_albums_share_a_place(db_table):
    lat, lon = db_table["lat"].to_numpy(), db_table["lon"].to_numpy()
    names = place_albums(lat, lon, radius_km=25.0, max_size=6)
    labelled = pd.Series(names).dropna()
    sizes = labelled.value_counts()
    assert sizes.between(2, 6).all() and len(sizes) > 100
    d = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    np.fill_diagonal(d, np.inf)
    # every photo of a place album has another database photo within 25 km ...
    assert (d[labelled.index].min(axis=1) <= 25.0).all()
    # ... and a photo with none is in no album
    alone = np.flatnonzero(d.min(axis=1) > 25.0)
    assert all(names[i] is None for i in alone)


def test_small_album_benchmark_on_real_photos(data_dir, db_table, tmp_path):
    sequences = db_table[db_table.duplicated("author", keep=False)].head(45)
    rest = db_table.drop(sequences.index).sample(75, random_state=1)
    manifest = pd.concat([sequences, rest])
    manifest = manifest.assign(image=[str(data_dir / "im2gps2k" / p) for p in manifest["image"]])
    manifest.to_csv(tmp_path / "db.csv", index=False)
    result = run_album_benchmark(
        tmp_path / "db.csv", albums="author",
        locators=["im2gps", "im2gps-pooled", "im2gps-hmm"], cache_dir=tmp_path / "cache",
        features=["tiny"], n_splits=3, n_boot=100, jobs=1)
    n_sequences = int((sequences["author"].value_counts() >= 2).sum())
    assert result.n_albums == n_sequences
    assert set(result.reports) == {"im2gps", "im2gps-pooled", "im2gps-hmm"}
    for report in result.reports.values():
        assert report.n == result.n_photos
    assert set(result.gains) == {"im2gps-pooled", "im2gps-hmm"}
    gain = result.gains["im2gps-pooled"]["2500"]
    assert gain["lo"] <= gain["gain"] <= gain["hi"]
    # pooled rows give every photo of an album one answer
    frame = result.predictions["im2gps-pooled"]
    assert (frame.groupby("album")["lat"].nunique() == 1).all()
    written = write_album_results(result, tmp_path / "out")
    assert all(p.is_file() for p in written)
    assert "| im2gps-hmm | im2gps |" in (tmp_path / "out" / "results.md").read_text()


def test_album_bootstrap_is_the_photo_bootstrap_for_single_photos_and_wider_for_albums(
        db_table):
    from im2gps.album_benchmark import album_paired_gain
    from im2gps.evaluate import paired_gain

    # real errors: each database photo's distance to the next photo and to the mean place
    lat, lon = db_table["lat"].to_numpy()[:400], db_table["lon"].to_numpy()[:400]
    errors = haversine_km(lat, lon, np.roll(lat, 1), np.roll(lon, 1))
    reference = haversine_km(lat, lon, 40.0, -3.0)
    alone = album_paired_gain(errors, reference, np.arange(400))
    photos = paired_gain(errors, reference)
    for a, b in zip(alone, photos, strict=True):
        assert np.allclose(a, b)
    # four photos per album that always agree: the same photos resampled in blocks
    blocks = np.repeat(np.arange(100), 4)
    e4, r4 = np.repeat(errors[:100], 4), np.repeat(reference[:100], 4)
    gain, lo, hi = album_paired_gain(e4, r4, blocks)
    _, plo, phi = paired_gain(e4, r4)
    assert ((hi - lo) >= (phi - plo) - 1e-12).all() and ((hi - lo) > (phi - plo)).any()

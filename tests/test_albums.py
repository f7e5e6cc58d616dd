"""Album input: folders, folders per album, CSV album columns, capture times."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from im2gps.albums import (
    albums_from_table,
    exif_capture_time,
    parse_time,
    read_albums,
)

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _copy_with_time(src, dst, when: str | None = None, offset: str | None = None) -> None:
    """Re-save a real photo with an EXIF DateTimeOriginal (and OffsetTimeOriginal)."""
    with Image.open(src) as image:
        exif = Image.Exif()
        if when is not None:
            ifd = exif.get_ifd(0x8769)
            ifd[0x9003] = when
            if offset is not None:
                ifd[0x9011] = offset
        image.save(dst, exif=exif)


@pytest.mark.parametrize("text, expected", [
    ("2007-05-27T10:19:31", datetime(2007, 5, 27, 10, 19, 31, tzinfo=UTC)),
    ("2007:05:27 10:19:31", datetime(2007, 5, 27, 10, 19, 31, tzinfo=UTC)),
    ("2007-05-27T10:19:31+02:00", datetime(2007, 5, 27, 8, 19, 31, tzinfo=UTC)),
    ("2007-05-27", datetime(2007, 5, 27, tzinfo=UTC)),
])
def test_parse_time_reads_iso_and_exif_text(text, expected):
    seconds, reason = parse_time(text, now=NOW)
    assert reason is None
    assert seconds == expected.timestamp()


@pytest.mark.parametrize("text, word", [
    (None, "no capture time"), ("", "no capture time"), (float("nan"), "no capture time"),
    ("0000-00-00 00:00:00", "not a real date"), ("0000:00:00 00:00:00", "not a real date"),
    ("2031-01-01T02:58:18", "future"), ("1850-01-01", "before 1900"),
    ("yesterday", "cannot be read"),
])
def test_unusable_times_are_nan_with_a_reason(text, word):
    seconds, reason = parse_time(text, now=NOW)
    assert np.isnan(seconds)
    assert word in reason


def test_exif_time_with_offset(tmp_path, db_table, data_dir):
    src = data_dir / "im2gps2k" / db_table["image"].iloc[0]
    _copy_with_time(src, tmp_path / "a.jpg", "2010:07:01 12:00:00", "+02:00")
    _copy_with_time(src, tmp_path / "b.jpg", "2010:07:01 12:00:00")
    _copy_with_time(src, tmp_path / "c.jpg", None)
    a, _ = exif_capture_time(tmp_path / "a.jpg", now=NOW)
    b, _ = exif_capture_time(tmp_path / "b.jpg", now=NOW)
    assert b - a == 2 * 3600  # local 12:00 at UTC+2 is 10:00 UTC
    c, reason = exif_capture_time(tmp_path / "c.jpg", now=NOW)
    assert np.isnan(c) and "DateTimeOriginal" in reason


def test_folder_per_album_in_capture_order(tmp_path, db_table, data_dir):
    images = [data_dir / "im2gps2k" / p for p in db_table["image"].iloc[:5]]
    (tmp_path / "trip1").mkdir()
    (tmp_path / "trip2").mkdir()
    # names in the opposite order of the capture times
    _copy_with_time(images[0], tmp_path / "trip1" / "a.jpg", "2010:07:03 09:00:00")
    _copy_with_time(images[1], tmp_path / "trip1" / "b.jpg", "2010:07:02 09:00:00")
    _copy_with_time(images[2], tmp_path / "trip1" / "c.jpg", "0000:00:00 00:00:00")
    _copy_with_time(images[3], tmp_path / "trip1" / "d.jpg", "2010:07:01 09:00:00")
    _copy_with_time(images[4], tmp_path / "trip2" / "x.jpg", "2011:01:01 00:00:00")
    albums = read_albums(tmp_path, now=NOW)
    assert [a.name for a in albums] == ["trip1", "trip2"]
    trip1 = albums[0]
    assert trip1.ids == ["d.jpg", "b.jpg", "a.jpg", "c.jpg"]
    assert trip1.untimed == [("c.jpg", "capture time '0000:00:00 00:00:00' is not a real date")]
    gaps = trip1.gaps_hours()
    assert gaps[:2].tolist() == [24.0, 24.0] and np.isnan(gaps[2])
    # one folder of photos is one album
    single = read_albums(tmp_path / "trip1", now=NOW)
    assert len(single) == 1 and len(single[0]) == 4


def test_csv_album_column_and_taken(tmp_path, db_table, data_dir):
    rows = db_table.iloc[:4]
    table = pd.DataFrame({
        "image": [str(data_dir / "im2gps2k" / p) for p in rows["image"]],
        "trip": ["x", "y", "x", "x"],
        "taken": ["2009-01-02T00:00:00", "", "2009-01-01T00:00:00", "2031-01-01T00:00:00"],
    })
    csv = tmp_path / "albums.csv"
    table.to_csv(csv, index=False)
    albums = read_albums(csv, column="trip", now=NOW)
    assert [a.name for a in albums] == ["x", "y"]
    x = albums[0]
    assert x.rows.tolist() == [2, 0, 3]  # timed by time, then the future one
    assert "future" in x.untimed[0][1]
    # the y photo has no taken value and the im2gps2k JPEGs carry no EXIF time
    assert "DateTimeOriginal" in albums[1].untimed[0][1]
    with pytest.raises(ValueError, match="no album column"):
        read_albums(csv, column="nope")


def test_im2gps2k_author_sequences(db_table):
    table = db_table.assign(id=db_table["image"])
    albums = albums_from_table(table, "author")
    sequences = [a for a in albums if len(a) > 1]
    assert len(sequences) == 108
    assert sum(len(a) for a in sequences) == 233
    for album in sequences:
        timed = album.times[np.isfinite(album.times)]
        assert (np.diff(timed) >= 0).all()
        assert set(table["author"].iloc[album.rows]) == {album.name}
    # real clock errors are reported, never silently used
    untimed = [reason for a in albums for _, reason in a.untimed]
    assert untimed and all("future" in r or "real date" in r or "no capture" in r
                           for r in untimed)

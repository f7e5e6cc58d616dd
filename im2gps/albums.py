"""Albums: photos that belong together, in the order they were taken.

An album is a sequence of photos (a trip, one photographer's stream) that the
album locators (:mod:`im2gps.pooled`, :mod:`im2gps.hmm`,
:mod:`im2gps.planet.album`) locate jointly. It is read from

* a folder: one album of all its photos, or, when the folder holds no photo
  itself but sub-folders that do, one album per sub-folder;
* a CSV whose rows name an ``image`` and share an album column (``album`` by
  default, or any column named by the caller, e.g. ``author``); without such
  a column the whole CSV is one album;
* a table of photos (:attr:`im2gps.photos.PhotoCollection.table`, an index's
  photo table) grouped by one of its columns (:func:`albums_from_table`).

The capture time of a photo is the CSV's ``taken`` column where it holds a
usable time, else the photo's EXIF ``DateTimeOriginal`` (with
``OffsetTimeOriginal`` where present). A time is unusable when it is missing,
cannot be read, is an impossible date (``0000-00-00 00:00:00``, as cameras
with an unset clock write it), lies before 1900 or in the future.

Order: photos with a usable time come first, in time order (ties by name);
photos without one follow, ordered by name, and :attr:`Album.untimed` lists
each with its reason. The time gap next to an untimed photo is unknown
(NaN), which the travel prior treats as "any distance is possible".

The capture order and times are part of an album's input, like its pixels;
they are never the truth a benchmark scores against.

References
----------
.. [1] E. Kalogerakis, O. Vesselova, J. Hays, A. A. Efros and A. Hertzmann,
   "Image sequence geolocation with human travel priors", ICCV 2009.

Notes
-----
* A time without a UTC offset is taken as it stands (camera local time, read
  as if it were UTC); a time with an offset is converted to UTC. Gaps within
  an album whose photos mix both are therefore off by the offset, which the
  travel prior (hours to years) barely notices.
* Only ``DateTimeOriginal`` is read from EXIF (not ``DateTime``, which photo
  editors rewrite on saving).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from im2gps.photos import IMAGE_EXTENSIONS

__all__ = [
    "Album",
    "albums_from_table",
    "capture_time",
    "exif_capture_time",
    "parse_time",
    "read_albums",
]

#: Earliest usable capture time (anything before is a clock error).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011

_TIME_RE = re.compile(
    r"^\s*(\d{4})[-:](\d{2})[-:](\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$")


def _offset(text: str | None) -> timezone | None:
    if not text:
        return None
    text = text.strip()
    if text == "Z":
        return UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if not match:
        return None
    sign = 1 if match.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


def parse_time(text: object, offset: str | None = None, now: datetime | None = None
               ) -> tuple[float, str | None]:
    """A capture time as seconds since 1970 (UTC where an offset is known).

    Parameters
    ----------
    text : object
        ISO 8601 (``2007-05-27T10:19:31``, optionally with ``Z`` or
        ``+02:00``) or EXIF (``2007:05:27 10:19:31``) text; None or NaN for
        a missing time.
    offset : str, optional
        An EXIF ``OffsetTimeOriginal`` such as ``+02:00`` (applied when the
        text carries none).
    now : datetime, optional
        The present (default: the clock), times after it are unusable.

    Returns
    -------
    seconds : float
        Seconds since 1970-01-01 (NaN when unusable).
    reason : str or None
        Why the time is unusable (None when usable).
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return np.nan, "no capture time"
    raw = str(text).strip().strip("\x00")
    if not raw:
        return np.nan, "no capture time"
    match = _TIME_RE.match(raw)
    if not match:
        return np.nan, f"capture time {raw!r} cannot be read"
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        tz = _offset(zone) or _offset(offset) or UTC
        when = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                        int(second or 0), tzinfo=tz)
    except ValueError:
        return np.nan, f"capture time {raw!r} is not a real date"
    now = now or datetime.now(UTC)
    if when < EARLIEST:
        return np.nan, f"capture time {raw!r} is before 1900 (a camera clock error)"
    if when > now:
        return np.nan, f"capture time {raw!r} is in the future (a camera clock error)"
    return when.timestamp(), None


def exif_capture_time(path: str | os.PathLike, now: datetime | None = None
                      ) -> tuple[float, str | None]:
    """A photo's EXIF ``DateTimeOriginal`` (+ ``OffsetTimeOriginal``), as :func:`parse_time`.

    Unreadable files and photos without the tag give NaN and the reason;
    nothing is raised.
    """
    from PIL import Image

    from im2gps.photos import _register_heif

    _register_heif()
    try:
        with Image.open(path) as image:
            exif = image.getexif().get_ifd(_EXIF_IFD)
    except Exception as err:  # noqa: BLE001 - any reader failure means "no time"
        return np.nan, f"EXIF cannot be read ({type(err).__name__})"
    value = exif.get(_DATETIME_ORIGINAL)
    if value is None:
        return np.nan, "no capture time (no EXIF DateTimeOriginal)"
    offset = exif.get(_OFFSET_TIME_ORIGINAL)
    return parse_time(value, offset=str(offset) if offset else None, now=now)


def capture_time(path: str | os.PathLike, taken: object = None, now: datetime | None = None
                 ) -> tuple[float, str | None]:
    """The ``taken`` value where usable, else the EXIF time of the file at ``path``."""
    seconds, reason = parse_time(taken, now=now)
    if reason is None:
        return seconds, None
    exif_seconds, exif_reason = exif_capture_time(path, now=now)
    if exif_reason is None:
        return exif_seconds, None
    return np.nan, reason if taken is not None and reason != "no capture time" else exif_reason


@dataclass
class Album:
    """Photos of one album in capture order.

    Attributes
    ----------
    name : str
        The album's name (its column value or folder).
    ids : list of str
        Photo ids (paths relative to the folder or CSV), in order.
    images : list of str
        Image paths, in order.
    times : numpy.ndarray
        ``(n,)`` capture times in seconds since 1970, NaN where unusable.
    rows : numpy.ndarray
        ``(n,)`` int, row of each photo in the table it was read from.
    untimed : list of tuple of (str, str)
        ``(id, reason)`` of each photo without a usable time (ordered by name,
        after the timed ones).
    skipped : list of tuple of (str, str)
        ``(path, reason)`` of each file of the album's folder that is not one
        of its photos (folders only; a file that is not an image by its
        extension, a hidden file).
    """

    name: str
    ids: list[str]
    images: list[str]
    times: np.ndarray
    rows: np.ndarray
    untimed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def gaps_hours(self) -> np.ndarray:
        """``(n - 1,)`` hours between consecutive photos (NaN where a time is unusable)."""
        return np.diff(np.asarray(self.times, np.float64)) / 3600.0


def _ordered(name: str, ids: Sequence[str], images: Sequence[str], times: np.ndarray,
             reasons: Sequence[str | None], rows: np.ndarray) -> Album:
    """Timed photos in time order (ties by name), then untimed photos by name."""
    ids = [str(i) for i in ids]
    timed = np.isfinite(times)
    keys = np.array(ids, dtype=object)
    order_timed = sorted(np.flatnonzero(timed), key=lambda i: (times[i], keys[i]))
    order_untimed = sorted(np.flatnonzero(~timed), key=lambda i: keys[i])
    order = np.array([*order_timed, *order_untimed], dtype=np.int64)
    return Album(
        name=str(name),
        ids=[ids[i] for i in order],
        images=[str(images[i]) for i in order],
        times=np.asarray(times, np.float64)[order],
        rows=np.asarray(rows, np.int64)[order],
        untimed=[(ids[i], str(reasons[i])) for i in order_untimed],
    )


def albums_from_table(table: pd.DataFrame, column: str | None, time_column: str = "taken",
                      exif: bool = False, now: datetime | None = None) -> list[Album]:
    """Group a photo table into albums by ``column``, each in capture order.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``id`` and ``image`` (as :class:`~im2gps.photos.PhotoCollection`
        and index photo tables have them), the album column and optionally
        ``time_column``.
    column : str or None
        The album column (None: the whole table is one album).
    time_column : str, optional
        Column of capture times.
    exif : bool, optional
        Read the EXIF time of photos whose ``time_column`` is missing or unusable.
    now : datetime, optional
        The present, for "in the future".

    Returns
    -------
    list of Album
        In order of first appearance in the table; each album's ``rows`` are
        positions in ``table``.

    Raises
    ------
    KeyError
        If ``column`` is not a column of ``table``.
    """
    if column is not None and column not in table:
        raise KeyError(f"no album column {column!r} (columns: {', '.join(map(str, table))})")
    n = len(table)
    taken = table[time_column].tolist() if time_column in table else [None] * n
    times = np.full(n, np.nan)
    reasons: list[str | None] = [None] * n
    images = table["image"].astype(str).tolist()
    for i in range(n):
        if exif:
            times[i], reasons[i] = capture_time(images[i], taken[i], now=now)
        else:
            times[i], reasons[i] = parse_time(taken[i], now=now)
    keys = (pd.Series(["album"] * n) if column is None
            else table[column].astype(str).reset_index(drop=True))
    ids = table["id"].astype(str).tolist() if "id" in table else images
    albums = []
    for name, rows in keys.groupby(keys, sort=False).indices.items():
        rows = np.sort(rows)
        albums.append(_ordered(name, [ids[i] for i in rows], [images[i] for i in rows],
                               times[rows], [reasons[i] for i in rows], rows))
    return albums


def _not_taken(path: Path) -> str:
    """Why a file of an album folder is not one of its photos."""
    if path.name.startswith(".") or any(part.startswith(".") for part in path.parts[-2:-1]):
        return "hidden file (names starting with '.' are not read)"
    return (f"not a photo file (extension {path.suffix or 'none'!r}; photos are "
            f"{', '.join(IMAGE_EXTENSIONS)})")


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    files = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in files if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_albums(source: str | os.PathLike, column: str | None = None,
                time_column: str = "taken", now: datetime | None = None) -> list[Album]:
    """Read albums from a folder or a CSV (see the module docstring).

    Parameters
    ----------
    source : str or Path
        A folder of photos, a folder of album folders, or a CSV with an
        ``image`` column (paths relative to the CSV's folder).
    column : str, optional
        The CSV's album column (default: ``album`` where present, else the
        whole CSV is one album).
    time_column : str, optional
        The CSV's capture-time column; EXIF is read where it is missing or
        unusable.
    now : datetime, optional
        The present, for "in the future".

    Returns
    -------
    list of Album

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist, or a CSV row names a missing image.
    ValueError
        If the folder holds no photo, the CSV has no ``image`` column or no
        row, or ``column`` is not one of its columns.
    """
    source = Path(source)
    if source.is_dir():
        top = _images_in(source, recursive=False)
        subfolders = sorted(p for p in source.iterdir() if p.is_dir()
                            and not p.name.startswith("."))
        groups: list[tuple[str, Path, list[Path]]] = []
        if top or not subfolders:
            groups.append((source.name, source, _images_in(source, recursive=True)))
        else:
            groups += [(sub.name, sub, _images_in(sub, recursive=True)) for sub in subfolders]
            groups = [g for g in groups if g[2]]
        if not any(g[2] for g in groups):
            raise ValueError(f"{source}: no photo ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
        records = [{"album": name, "id": path.relative_to(base).as_posix(), "image": str(path)}
                   for name, base, paths in groups for path in paths]
        albums = albums_from_table(pd.DataFrame(records), "album", exif=True, now=now)
        used = {Path(a_image) for album in albums for a_image in album.images}
        for album, (_, base, _) in zip(albums, groups, strict=True):
            album.skipped = [
                (p.relative_to(base).as_posix(), _not_taken(p)) for p in sorted(base.rglob("*"))
                if p.is_file() and p not in used and not (
                    base == source and len(groups) > 1 and p.parent != source)]
        return albums
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such folder or CSV")
    try:
        table = pd.read_csv(source, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{source}: not a readable CSV ({err})") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    if "image" not in table:
        raise ValueError(f"{source}: no 'image' column (columns: {', '.join(table.columns)})")
    if len(table) == 0:
        raise ValueError(f"{source}: no photo listed")
    if column is not None and column.lower() not in table:
        raise ValueError(f"{source}: no album column {column!r} "
                         f"(columns: {', '.join(table.columns)})")
    column = column.lower() if column else ("album" if "album" in table else None)
    base = source.resolve().parent
    table["id"] = table["image"].str.strip()
    table["image"] = [str((base / rel).resolve()) for rel in table["id"]]
    missing = [p for p in table["image"] if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: file not found ({len(missing)} image(s) of "
                                f"{source} missing)")
    if time_column in table:
        table[time_column] = table[time_column].replace("", None)
    return albums_from_table(table, column, time_column=time_column, exif=True, now=now)

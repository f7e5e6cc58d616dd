"""Decoding a photo's geotag: the EXIF GPS IFD, XMP packets and coordinate text.

Three readers, each turning what real software writes into WGS84 degrees
(south and west negative) or a :class:`~im2gps.photos.PhotoError` that says
why not:

* :func:`decode_gps_ifd` reads the GPS IFD of EXIF as the standard defines
  it (CIPA DC-008, "Exif 2.3", GPS attribute information: ``GPSLatitudeRef``
  ``N``/``S``, ``GPSLatitude`` three RATIONALs degrees, minutes, seconds;
  likewise for longitude with ``E``/``W``; ``GPSStatus`` ``A`` measurement in
  progress, ``V`` measurement void) and accepts the departures that real
  writers make (below).
* :func:`decode_xmp` reads ``exif:GPSLatitude`` / ``exif:GPSLongitude`` from
  an XMP packet (the XMP form ``"DDD,MM.mmk"`` or ``"DDD,MM,SSk"``, as photo
  managers write it) and the signed decimal ``drone-dji:GpsLatitude`` /
  ``GpsLongitude`` (also DJI's misspelt ``GpsLongtitude``) of drone photos.
* :func:`parse_coordinate` reads one coordinate written as text: decimal
  degrees (``-33.8694``), with a hemisphere letter (``40.2434N``, ``S 33.86``),
  degrees-minutes-seconds (``40°14'36.1"N``, ``40 14 36.1 N``,
  ``40d 14m 36.1s``), degrees and decimal minutes (``44,30.8147N``).

Every reader raises :class:`~im2gps.photos.PhotoError` and nothing else on bad
input (the tests fuzz them with ``hypothesis``).

Notes
-----
What real writers do that the standard does not say, and how it is read:

* **Signed degrees.** Some writers store signed values (SRATIONAL, or a
  negative numerator) instead of, or as well as, a hemisphere Ref. A
  negative value is never turned positive: ``-104° 18' 13.85"`` with Ref
  ``W`` is west, and with no Ref at all the sign of the degrees holds for the
  whole value, ``-33° 52' 10"`` = -(33 + 52/60 + 10/3600) = -33.8694, not
  -33 + 52/60. A Ref of ``S`` or ``W`` makes a positive value negative. exiftool
  reads signed degrees differently: it adds the minutes to the signed degrees
  (-33 + 52/60 + 10/3600 = -32.1306), which moves such a photo by up to a
  degree (``-104° 18' 13.85"`` W becomes -103.70, about 50 km east), and
  with no Ref it reports the sum without its sign (Sydney's ``-33° 52' 10"``
  becomes 32.13° north). It also ignores a Ref stored as BYTE or with a
  leading space; these are read here as written.
  The parity test against exiftool documents both readings.
* **Refs** arrive as text or bytes, with trailing NULs or spaces, in lower
  case or spelled out (``b"S\\x00"``, ``"s"``, ``"South "``). An empty Ref is
  no Ref; a Ref that names no hemisphere of that axis is an error.
* **Values** arrive as one number (decimal degrees), two (degrees and
  decimal minutes) or three, as rationals, integers, floats or text
  (``"43.4674483"``, ``"45"``, ``"43,28,2.8"``); each is accepted.
* **Minutes or seconds of 0/0** (cameras that do not know them) read as
  zero; minutes or seconds of 60 or more are an error.
* **A void fix** is skipped with its reason, never placed at 0°, 0°:
  ``GPSStatus`` = ``V``, or latitude and longitude both exactly zero with no
  Refs (a placeholder that cameras without a fix write). A zero denominator,
  a missing latitude or longitude, or a value out of range is an error.

References
----------
CIPA DC-008-2019, "Exchangeable image file format for digital still cameras:
Exif Version 2.32", section 4.6.6 (GPS attribute information).
Adobe, "XMP Specification Part 2: Additional properties" (2016), section
1.2.7 (EXIF schema, ``GPSCoordinate`` value type).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from numbers import Real
from typing import Any

from im2gps.errors import PhotoError

__all__ = [
    "GPS_LATITUDE",
    "GPS_LATITUDE_REF",
    "GPS_LONGITUDE",
    "GPS_LONGITUDE_REF",
    "GPS_STATUS",
    "decode_gps_ifd",
    "decode_xmp",
    "parse_coordinate",
]

#: Tags of the EXIF GPS IFD (CIPA DC-008, table 15).
GPS_LATITUDE_REF, GPS_LATITUDE, GPS_LONGITUDE_REF, GPS_LONGITUDE = 1, 2, 3, 4
GPS_STATUS = 9

_AXES = {
    "lat": {"name": "latitude", "tag": "GPSLatitude", "limit": 90.0,
            "refs": {"N": 1.0, "NORTH": 1.0, "S": -1.0, "SOUTH": -1.0}, "letters": "N or S"},
    "lon": {"name": "longitude", "tag": "GPSLongitude", "limit": 180.0,
            "refs": {"E": 1.0, "EAST": 1.0, "W": -1.0, "WEST": -1.0}, "letters": "E or W"},
}


def _error(where: str, reason: str) -> PhotoError:
    return PhotoError(where, reason)


def _text(value: Any) -> str:
    """ASCII text of a tag stored as str or bytes, without NULs and padding."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    return str(value).replace("\x00", " ").strip()


def _hemisphere(ref: Any, axis: str, where: str) -> float | None:
    """+1, -1, or None for an absent or empty Ref."""
    if ref is None:
        return None
    text = _text(ref).upper()
    if not text:
        return None
    spec = _AXES[axis]
    if text not in spec["refs"]:
        raise _error(where, f"{spec['tag']}Ref {text!r} is not {spec['letters']}")
    return spec["refs"][text]


def _number(value: Any, label: str, where: str) -> float:
    """One EXIF number: an IFDRational, (numerator, denominator), int, float or text."""
    numerator = getattr(value, "numerator", None)
    denominator = getattr(value, "denominator", None)
    if isinstance(value, tuple) and len(value) == 2 and all(
            isinstance(v, Real) for v in value):
        numerator, denominator = value
    if numerator is not None and denominator is not None and not isinstance(value, int):
        if denominator == 0:
            raise _error(where, f"{label} has a zero denominator ({numerator}/0)")
        result = float(numerator) / float(denominator)
    elif isinstance(value, Real) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str | bytes | bytearray):
        text = _text(value)
        try:
            result = float(text)
        except ValueError:
            raise _error(where, f"{label} {text!r} is not a number") from None
    else:
        raise _error(where, f"{label} is not a number ({type(value).__name__})")
    if not math.isfinite(result):
        raise _error(where, f"{label} is not a finite number ({result})")
    return result


def _part(value: Any, i: int, label: str, where: str) -> float:
    """Degrees (i = 0), minutes (1) or seconds (2) of a GPS value.

    Minutes or seconds written as 0/0 read as zero: cameras that do not know
    them write that (a 0/0 in the degrees is an error).
    """
    numerator = getattr(value, "numerator", None)
    denominator = getattr(value, "denominator", None)
    if isinstance(value, tuple) and len(value) == 2:
        numerator, denominator = value
    if i and numerator == 0 and denominator == 0:
        return 0.0
    return _number(value, f"{label}[{i}]", where)


def _components(value: Any, axis: str, where: str) -> tuple[float, float]:
    """(signed degrees, hemisphere sign written inside the value or 0) of a GPS value."""
    label = _AXES[axis]["tag"]
    if isinstance(value, str | bytes | bytearray):
        text = _text(value)
        if not text:
            raise _error(where, f"{label} is empty")
        return _parse_text(text, axis, where, label), 0.0
    parts = list(value) if isinstance(value, list | tuple) else [value]
    if not parts:
        raise _error(where, f"{label} is empty")
    if len(parts) > 3:
        raise _error(where, f"{label} has {len(parts)} values; expected degrees, minutes, "
                            "seconds")
    numbers = [_part(v, i, label, where) for i, v in enumerate(parts)]
    if any(abs(v) >= 60 for v in numbers[1:]):
        raise _error(where, f"{label} minutes and seconds must be below 60 (got "
                            f"{', '.join(f'{v:g}' for v in numbers)})")
    magnitude = sum(abs(v) / 60.0**i for i, v in enumerate(numbers))
    sign = -1.0 if any(v < 0 for v in numbers) else 1.0
    return sign * magnitude, 0.0


def decode_gps_ifd(gps: Mapping[int, Any], where: str = "EXIF") -> tuple[float, float]:
    """Latitude and longitude from the tags of an EXIF GPS IFD.

    Parameters
    ----------
    gps : mapping of int to value
        The GPS IFD as Pillow returns it (``image.getexif().get_ifd(0x8825)``):
        tag number -> value (rationals, numbers, tuples, text or bytes).
    where : str, optional
        Names the photo in error messages.

    Returns
    -------
    (lat, lon) : tuple of float
        WGS84 degrees, south and west negative.

    Raises
    ------
    PhotoError
        No latitude or longitude; a void fix (``GPSStatus`` ``V``, or 0, 0
        with no Refs); a zero denominator; a value that is not a number, out
        of range or with a Ref that names no hemisphere. See the module Notes
        for what is accepted.
    """
    if not isinstance(gps, Mapping):
        raise _error(where, "GPS data is not a tag table")
    has_lat, has_lon = GPS_LATITUDE in gps, GPS_LONGITUDE in gps
    if not has_lat and not has_lon:
        raise _error(where, "no GPS position in its EXIF data (GPSLatitude/GPSLongitude)")
    if not has_lat or not has_lon:
        missing, present = ("GPSLatitude", "GPSLongitude") if has_lon else \
            ("GPSLongitude", "GPSLatitude")
        raise _error(where, f"{missing} missing (only {present} is present)")
    status = gps.get(GPS_STATUS)
    if status is not None and _text(status).upper().startswith("V"):
        raise _error(where, "GPS measurement void (GPSStatus is V): the camera had no fix")
    values = {}
    refs = {}
    for axis, value_tag, ref_tag in (("lat", GPS_LATITUDE, GPS_LATITUDE_REF),
                                     ("lon", GPS_LONGITUDE, GPS_LONGITUDE_REF)):
        values[axis] = _components(gps[value_tag], axis, where)[0]
        refs[axis] = _hemisphere(gps.get(ref_tag), axis, where)
    if values["lat"] == 0.0 and values["lon"] == 0.0 and refs["lat"] is None \
            and refs["lon"] is None:
        raise _error(where, "GPS position 0, 0 with no hemisphere Refs: a placeholder "
                            "written without a fix, not a location")
    lat = _apply_ref(values["lat"], refs["lat"])
    lon = _apply_ref(values["lon"], refs["lon"])
    check_range(where, lat, lon)
    return lat, lon


def _apply_ref(value: float, ref: float | None) -> float:
    """A negative value stays negative; a S/W Ref makes a positive one negative."""
    if ref is not None and ref < 0:
        return -abs(value)
    return value


def check_range(where: str, lat: float, lon: float) -> None:
    """Raise :class:`PhotoError` unless ``lat``/``lon`` are finite WGS84 degrees."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise _error(where, f"coordinates are not finite numbers (lat={lat}, lon={lon})")
    if not -90.0 <= lat <= 90.0:
        raise _error(where, f"latitude {lat} out of range [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise _error(where, f"longitude {lon} out of range [-180, 180]")


# -- text ---------------------------------------------------------------------
# Degree, minute and second marks as people and programs type them; "d m s" letters too.
_MARKS = re.compile(r"''|[°º˚d:'′’‘m\"″”“s]", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# A trailing "s" after a minutes mark is a seconds mark, not "south": 40d14m36.1s
_SECONDS_MARK = re.compile(r"[m'′’]\s*[\d.]+\s*s$", re.IGNORECASE)


def _split_hemisphere(body: str, axis: str) -> tuple[str, float | None, str | None]:
    """(rest, sign, letter) with a hemisphere letter or word taken off either end."""
    words = sorted((w for spec in _AXES.values() for w in spec["refs"]), key=len, reverse=True)
    upper = body.upper()
    for word in words:
        if upper.endswith(word) and not (word == "S" and _SECONDS_MARK.search(body)) and (
                len(upper) == len(word) or not upper[-len(word) - 1].isalpha()):
            rest = body[: -len(word)].strip()
        elif upper.startswith(word) and (len(upper) == len(word)
                                         or not upper[len(word)].isalpha()):
            rest = body[len(word):].strip()
        else:
            continue
        for spec_axis, spec in _AXES.items():
            if word in spec["refs"]:
                return rest, spec["refs"][word], spec_axis
    return body, None, None


def _parse_text(text: str, axis: str, where: str, label: str) -> float:
    """Degrees from coordinate text (see :func:`parse_coordinate`)."""
    spec = _AXES[axis]
    original = text
    body, hemisphere, hemisphere_axis = _split_hemisphere(text.strip(), axis)
    if hemisphere_axis is not None and hemisphere_axis != axis:
        other = _AXES[hemisphere_axis]
        raise _error(where, f"{label} {original!r} names a {other['name']} hemisphere; "
                            f"expected {spec['letters']}")
    separators = body.count(",")
    if separators == 1 and hemisphere is None and not _MARKS.search(body):
        raise _error(where, f"{label} {original!r} is not a number (a decimal comma? "
                            "write degrees with a decimal point)")
    body = _MARKS.sub(" ", body).replace(",", " ").strip()
    parts = body.split()
    if len(parts) > 1 and parts[0] in "+-":  # "- 33 52 10"
        parts = [parts[0] + parts[1], *parts[2:]]
    if not parts or len(parts) > 3 or not all(_NUMBER.match(p) for p in parts):
        raise _error(where, f"{label} {original!r} is not a number")
    numbers = [float(p) for p in parts]
    if not all(math.isfinite(v) for v in numbers):
        raise _error(where, f"{label} {original!r} is not a finite number")
    if any(p.startswith(("-", "+")) for p in parts[1:]):
        raise _error(where, f"{label} {original!r}: minutes and seconds cannot carry a sign")
    if len(numbers) > 1 and (numbers[1] >= 60 or (len(numbers) > 2 and numbers[2] >= 60)):
        raise _error(where, f"{label} {original!r}: minutes and seconds must be below 60")
    magnitude = sum(abs(v) / 60.0**i for i, v in enumerate(numbers))
    negative = parts[0].startswith("-")
    if hemisphere is not None and negative and hemisphere > 0 and magnitude:
        raise _error(where, f"{label} {original!r}: the minus sign and the hemisphere "
                            "disagree")
    negative = negative or (hemisphere is not None and hemisphere < 0)
    return -magnitude if negative else magnitude


def parse_coordinate(text: Any, axis: str, where: str = "value") -> float:
    """One latitude or longitude written as text, in degrees.

    Parameters
    ----------
    text : str or number
        Decimal degrees (``"-33.8694"``), with a hemisphere letter or word
        before or after (``"40.2434N"``, ``"S 33.8694"``, ``"33.8694 South"``),
        degrees-minutes-seconds (``40°14'36.1"N``, ``"40 14 36.1 N"``,
        ``"40d14m36.1s"``) or degrees and decimal minutes (``"44,30.8147N"``,
        the XMP form). A decimal comma (``"40,24"``) is read as degrees and
        minutes only where minutes make sense; write decimals with a point.
    axis : {"lat", "lon"}
        Which coordinate, for the hemisphere letters and the range check.
    where : str, optional
        Names the file or line in error messages.

    Returns
    -------
    float
        Degrees, south and west negative, within [-90, 90] or [-180, 180].

    Raises
    ------
    PhotoError
        The text is empty, is not a coordinate, names the other axis's
        hemisphere (``"40N"`` as a longitude) or is out of range.
    """
    if axis not in _AXES:
        raise ValueError(f"axis must be 'lat' or 'lon', got {axis!r}")
    spec = _AXES[axis]
    if isinstance(text, Real) and not isinstance(text, bool):
        value = float(text)
    else:
        raw = _text(text) if isinstance(text, str | bytes | bytearray) else str(text)
        if not raw:
            raise _error(where, f"{spec['name']} is empty")
        value = _parse_text(raw, axis, where, spec["name"][:3])
    if not math.isfinite(value):
        raise _error(where, f"{spec['name']} {text!r} is not a finite number")
    if abs(value) > spec["limit"]:
        raise _error(where, f"{spec['name']} {value} out of range "
                            f"[-{spec['limit']:g}, {spec['limit']:g}]")
    return value


# -- XMP ----------------------------------------------------------------------
# A full XMP reader needs an XML parser hardened against entity attacks and the
# RDF data model; for two simple properties, written as an attribute or as an
# element of rdf:Description, a pattern over the packet is enough and cannot be
# attacked with entities (it never expands them).
_XMP_NAMES = {
    "lat": ("GPSLatitude", "GpsLatitude"),
    "lon": ("GPSLongitude", "GpsLongitude", "GpsLongtitude"),
}


def _xmp_values(packet: str, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(prefix, value) of each property ``prefix:name`` written as attribute or element."""
    alternatives = "|".join(names)
    found = []
    for match in re.finditer(
            r"(?<![\w.-])([A-Za-z][\w.-]*):(?:" + alternatives + r")\s*=\s*(\"|')(.*?)\2",
            packet, re.DOTALL):
        found.append((match.group(1), match.group(3)))
    for match in re.finditer(
            r"<([A-Za-z][\w.-]*):(" + alternatives + r")(?:\s[^>]*)?>([^<]*)</\1:\2\s*>",
            packet, re.DOTALL):
        found.append((match.group(1), match.group(3)))
    return found


def decode_xmp(packet: bytes | str, where: str = "XMP") -> tuple[float, float] | None:
    """Latitude and longitude from an XMP packet, or None if it holds no GPS position.

    Parameters
    ----------
    packet : bytes or str
        The XMP packet (an ``<x:xmpmeta>`` document), e.g. from a JPEG's APP1
        segment, a PNG ``iTXt`` chunk or an ``.xmp`` sidecar file.
    where : str, optional
        Names the photo in error messages.

    Returns
    -------
    (lat, lon) or None
        WGS84 degrees, south and west negative; None when the packet has
        neither a latitude nor a longitude.

    Raises
    ------
    PhotoError
        Only one of the two is present, or a value is malformed or out of range.
    """
    if isinstance(packet, bytes | bytearray):
        packet = bytes(packet).decode("utf-8", errors="replace")
    found = {axis: _xmp_values(packet, names) for axis, names in _XMP_NAMES.items()}
    if not found["lat"] and not found["lon"]:
        return None
    if not found["lat"] or not found["lon"]:
        missing = "GPSLatitude" if not found["lat"] else "GPSLongitude"
        raise _error(where, f"XMP {missing} missing (only one half of the position)")
    result = []
    for axis in ("lat", "lon"):
        # the EXIF schema's property first, then any other (drone makers' own)
        prefix, value = sorted(found[axis], key=lambda item: item[0].lower() != "exif")[0]
        result.append(parse_coordinate(value, axis, where=f"{where} ({prefix}:"
                                                          f"{_XMP_NAMES[axis][0]})"))
    lat, lon = result
    if lat == 0.0 and lon == 0.0:
        raise _error(where, "XMP GPS position 0, 0: a placeholder written without a fix, "
                            "not a location")
    return lat, lon

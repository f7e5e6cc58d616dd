"""im2gps.gps: EXIF GPS as the standard says and as real writers write it, XMP, text.

Each case writes a real JPEG (pixels of a real photo) whose EXIF GPS IFD is
encoded the way some camera or program encodes it, reads it back through
:func:`im2gps.photos.read_gps`, and checks the value. The EXIF is written
byte by byte (:func:`tiff_exif`), because the faults under test (signed
SRATIONAL degrees, text or integer values, Refs as bytes) are exactly what
Pillow's and exiftool's writers refuse to produce. exiftool is the reference
reader of the parity test, as lear_gist is for GIST.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from im2gps.gps import decode_gps_ifd, decode_xmp, parse_coordinate
from im2gps.photos import PhotoCollection, PhotoError, read_gps

ASCII, BYTE, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 2, 1, 3, 4, 5, 7, 10


def tiff_exif(gps: dict[int, tuple[int, object]]) -> bytes:
    """EXIF bytes (``Exif\\0\\0`` + little-endian TIFF) with a GPS IFD of raw typed entries.

    ``gps`` maps a tag to ``(type, values)``: ASCII and UNDEFINED take bytes,
    the others a sequence of numbers (rationals as Fractions or (num, den)).
    """
    def payload(typ: int, values: object) -> tuple[int, bytes]:
        if typ in (ASCII, UNDEFINED, BYTE) and isinstance(values, bytes):
            return len(values), values
        items = list(values)  # type: ignore[arg-type]
        if typ == SHORT:
            return len(items), struct.pack(f"<{len(items)}H", *items)
        if typ == LONG:
            return len(items), struct.pack(f"<{len(items)}I", *items)
        out = b""
        for item in items:
            num, den = (item if isinstance(item, tuple) else
                        (Fraction(item).limit_denominator(10**6).numerator,
                         Fraction(item).limit_denominator(10**6).denominator))
            out += struct.pack("<ii" if typ == SRATIONAL else "<II", num, den)
        return len(items), out

    ifd0_offset = 8
    gps_offset = ifd0_offset + 2 + 12 + 4
    entries = sorted(gps.items())
    data_offset = gps_offset + 2 + 12 * len(entries) + 4
    table, data = b"", b""
    for tag, (typ, values) in entries:
        count, raw = payload(typ, values)
        if len(raw) <= 4:
            table += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\0")
        else:
            table += struct.pack("<HHII", tag, typ, count, data_offset + len(data))
            data += raw + (b"\0" if len(raw) % 2 else b"")
    head = b"II*\0" + struct.pack("<I", ifd0_offset)
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x8825, LONG, 1, gps_offset) + b"\0" * 4
    gps_ifd = struct.pack("<H", len(entries)) + table + b"\0" * 4
    return b"Exif\0\0" + head + ifd0 + gps_ifd + data


@pytest.fixture(scope="module")
def pixels(data_dir) -> Image.Image:
    with Image.open(data_dir / "im2gps2k" / "images" / "1001087035.jpg") as image:
        return image.convert("RGB").resize((160, 120))


def write(path: Path, pixels: Image.Image, gps: dict) -> Path:
    pixels.save(path, quality=85, exif=tiff_exif(gps))
    return path


R = RATIONAL
#: name -> (GPS IFD entries, the right (lat, lon), how exiftool reads it if differently)
CASES: dict[str, tuple[dict, tuple[float, float], tuple[float, float] | None]] = {
    "standard": ({1: (ASCII, b"N\0"), 2: (R, (39, 44, 1.5)), 3: (ASCII, b"W\0"),
                  4: (R, (104, 18, 13.85))}, (39.73375, -104.30384722), None),
    "signed degrees with W": ({1: (ASCII, b"N\0"), 2: (R, (39, 44, 1.5)), 3: (ASCII, b"W\0"),
                               4: (SRATIONAL, (-104, 18, 13.85))},
                              (39.73375, -104.30384722), (39.73375, -103.69615278)),
    "signed degrees, no Ref": ({2: (SRATIONAL, (-33, 52, 10)), 4: (SRATIONAL, (151, 12, 30))},
                               (-33.86944444, 151.20833333), (32.13055556, 151.20833333)),
    "signed degrees with S": ({1: (ASCII, b"S\0"), 2: (SRATIONAL, (-33, 52, 10)),
                               3: (ASCII, b"E\0"), 4: (R, (151, 12, 30))},
                              (-33.86944444, 151.20833333), (-32.13055556, 151.20833333)),
    "Ref as BYTE": ({1: (BYTE, b"S\0"), 2: (R, (33, 52, 10)), 3: (BYTE, b"E\0"),
                     4: (R, (151, 12, 30))}, (-33.86944444, 151.20833333),
                    (33.86944444, 151.20833333)),
    "Ref lower case": ({1: (ASCII, b"s\0"), 2: (R, (33, 52, 10)), 3: (ASCII, b"w\0"),
                        4: (R, (70, 40, 0))}, (-33.86944444, -70.66666667), None),
    "Ref spelled out, padded": ({1: (ASCII, b"South \0"), 2: (R, (33, 52, 10)),
                                 3: (ASCII, b" West\0"), 4: (R, (70, 40, 0))},
                                (-33.86944444, -70.66666667), (-33.86944444, 70.66666667)),
    "decimal degrees in one value": ({1: (ASCII, b"S\0"), 2: (R, (33.8694,)),
                                      3: (ASCII, b"E\0"), 4: (R, (151.2083,))},
                                     (-33.8694, 151.2083), None),
    "degrees and decimal minutes": ({1: (ASCII, b"N\0"), 2: (R, (44, 30.8147)),
                                     3: (ASCII, b"E\0"), 4: (R, (11, 20.5))},
                                    (44.51357833, 11.34166667), None),
    "values as text": ({1: (ASCII, b"N\0"), 2: (ASCII, b"43.4674483\0"), 3: (ASCII, b"E\0"),
                        4: (ASCII, b"45\0")}, (43.4674483, 45.0), None),
    "values as integers": ({1: (ASCII, b"N\0"), 2: (SHORT, (43, 28, 2)), 3: (ASCII, b"W\0"),
                            4: (LONG, (71, 3, 5))}, (43.46722222, -71.05138889), None),
    "seconds written 0/0": ({1: (ASCII, b"N\0"), 2: (R, (48, 51.396, (0, 0))),
                             3: (ASCII, b"E\0"), 4: (R, (2, 21, (0, 0)))},
                            (48.8566, 2.35), ("", "")),  # exiftool: undefined
    "Southern and Eastern hemispheres": ({1: (ASCII, b"S\0"), 2: (R, (22, 54, 30)),
                                          3: (ASCII, b"W\0"), 4: (R, (43, 10, 35))},
                                         (-22.90833333, -43.17638889), None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gps_encodings(name, pixels, tmp_path):
    gps, right, _ = CASES[name]
    lat, lon = read_gps(write(tmp_path / "photo.jpg", pixels, gps))
    assert (lat, lon) == pytest.approx(right, abs=1e-6)


@pytest.mark.parametrize(("gps", "reason"), [
    ({9: (ASCII, b"V\0"), 1: (ASCII, b"N\0"), 2: (R, (10, 0, 0)), 3: (ASCII, b"E\0"),
      4: (R, (10, 0, 0))}, "measurement void"),
    ({1: (ASCII, b"\0"), 2: (R, (0, 0, 0)), 3: (ASCII, b"\0"), 4: (R, (0, 0, 0))},
     "0, 0 with no hemisphere"),
    ({2: (R, (0, 0, 0)), 4: (R, (0, 0, 0))}, "0, 0 with no hemisphere"),
    ({1: (ASCII, b"N\0"), 2: (R, ((10, 0), (0, 1), (0, 1))), 3: (ASCII, b"E\0"),
      4: (R, (10, 0, 0))}, "zero denominator"),
    ({1: (ASCII, b"N\0"), 2: (R, (95, 0, 0)), 3: (ASCII, b"E\0"), 4: (R, (10, 0, 0))},
     "out of range"),
    ({1: (ASCII, b"N\0"), 2: (R, (10, 75, 0)), 3: (ASCII, b"E\0"), 4: (R, (10, 0, 0))},
     "minutes and seconds must be below 60"),
    ({1: (ASCII, b"N\0"), 2: (R, (45, 0, 0))}, "GPSLongitude missing"),
    ({1: (ASCII, b"X\0"), 2: (R, (45, 0, 0)), 3: (ASCII, b"E\0"), 4: (R, (10, 0, 0))},
     "GPSLatitudeRef 'X' is not N or S"),
    ({1: (ASCII, b"N\0"), 2: (ASCII, b"forty\0"), 3: (ASCII, b"E\0"), 4: (R, (10, 0, 0))},
     "not a number"),
])
def test_bad_gps_is_skipped_with_reason(gps, reason, pixels, tmp_path):
    path = write(tmp_path / "photo.jpg", pixels, gps)
    with pytest.raises(PhotoError, match=reason) as caught:
        read_gps(path)
    assert caught.value.path == str(path)


def _exiftool(paths: list[Path]) -> list[dict]:
    """exiftool's reading: its Composite position (Ref applied), else the bare EXIF value."""
    out = subprocess.run(["exiftool", "-n", "-j", "-G", "-GPSLatitude", "-GPSLongitude",
                          *map(str, paths)], capture_output=True, text=True, check=True).stdout
    readings = []
    for record in json.loads(out):
        reading = {}
        for axis in ("GPSLatitude", "GPSLongitude"):
            for group in ("Composite", "EXIF", "XMP"):
                if f"{group}:{axis}" in record:
                    reading[axis] = record[f"{group}:{axis}"]
                    break
        readings.append(reading)
    return readings


@pytest.mark.skipif(shutil.which("exiftool") is None,
                    reason="exiftool (Debian libimage-exiftool-perl) is not installed")
def test_parity_with_exiftool(pixels, tmp_path):
    """Every case read as exiftool reads it, except where exiftool misreads signed degrees.

    exiftool adds minutes and seconds to signed degrees (-33 + 52/60 + 10/3600
    = -32.13): a photo written as -104° 18' with Ref W comes out at -103.70,
    0.6° (about 50 km) east of where it was taken; with no Ref at all it drops
    the sign too, and a photo of Sydney (-33° 52' 10") lands at 32.13° north.
    The sign of the degrees holds for the whole value: -104.30 and -33.87.
    exiftool also ignores a Ref stored as BYTE instead of ASCII and one with a
    leading space (" West"), and places those photos in the wrong hemisphere;
    and it leaves a position whose seconds are 0/0 undefined, where we read
    0/0 seconds (what cameras that do not know them write) as zero.
    """
    paths = [write(tmp_path / f"{i}.jpg", pixels, gps) for i, (gps, _, _) in
             enumerate(CASES.values())]
    # a photo written by exiftool itself, the way a photo manager geotags
    tagged = tmp_path / "exiftool.jpg"
    pixels.save(tagged, quality=85)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-GPSLatitude=41.8902",
                    "-GPSLatitudeRef=N", "-GPSLongitude=12.4922", "-GPSLongitudeRef=E",
                    str(tagged)], check=True)
    references = _exiftool([*paths, tagged])
    expected = [exiftool_reading or right for _, right, exiftool_reading in CASES.values()]
    for path, reference, expect in zip([*paths, tagged], references,
                                       [*expected, (41.8902, 12.4922)], strict=True):
        theirs = (reference.get("GPSLatitude"), reference.get("GPSLongitude"))
        if isinstance(expect[0], str):
            assert theirs == expect, path.name
        else:
            assert theirs == pytest.approx(expect, abs=1e-6), path.name
    for path, reference, (name, (_, right, differs)) in zip(paths, references[:-1], CASES.items(),
                                                           strict=True):
        ours = read_gps(path)
        assert ours == pytest.approx(right, abs=1e-6), name
        if differs is None:
            assert ours == pytest.approx((reference["GPSLatitude"], reference["GPSLongitude"]),
                                         abs=1e-6), name
    assert read_gps(tagged) == pytest.approx((41.8902, 12.4922), abs=1e-6)


XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""
 xmlns:exif="http://ns.adobe.com/exif/1.0/" {body}/></rdf:RDF></x:xmpmeta>"""


def test_gps_only_in_xmp(pixels, tmp_path):
    path = tmp_path / "lightroom.jpg"
    packet = XMP.format(body='exif:GPSLatitude="44,30.8147N" exif:GPSLongitude="110,49.5W"')
    pixels.save(path, quality=85, xmp=packet.encode())
    assert read_gps(path) == pytest.approx((44.51357833, -110.825), abs=1e-6)
    assert _exiftool([path])[0]["GPSLatitude"] == pytest.approx(44.51357833, abs=1e-6)


def test_drone_xmp_and_sidecar(pixels, tmp_path):
    drone = tmp_path / "DJI_0001.jpg"
    packet = XMP.format(body='xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
                             'drone-dji:GpsLatitude="+46.5581" drone-dji:GpsLongtitude="-7.9840"')
    pixels.save(drone, quality=85, xmp=packet.encode())
    assert read_gps(drone) == pytest.approx((46.5581, -7.9840))
    exported = tmp_path / "IMG_7.jpg"
    pixels.save(exported, quality=85)
    (tmp_path / "IMG_7.jpg.xmp").write_text(XMP.format(
        body='><exif:GPSLatitude>33,52,10S</exif:GPSLatitude><exif:GPSLongitude>151,12.5E'
             '</exif:GPSLongitude></rdf:Description><rdf:Description rdf:about=""'))
    assert read_gps(exported) == pytest.approx((-33.86944444, 151.20833333), abs=1e-6)
    collection = PhotoCollection.from_folder(tmp_path)
    assert sorted(collection.ids) == ["DJI_0001.jpg", "IMG_7.jpg"]
    assert not collection.skipped  # the sidecar is read with its photo, not reported


def test_parse_coordinate_text():
    assert parse_coordinate("40°14'36.1\"N", "lat") == pytest.approx(40.24336111)
    assert parse_coordinate("40.2434N", "lat") == pytest.approx(40.2434)
    assert parse_coordinate("S 33.8694", "lat") == pytest.approx(-33.8694)
    assert parse_coordinate("70d 40m 0s W", "lon") == pytest.approx(-70.66666667)
    assert parse_coordinate("-33 52 10", "lat") == pytest.approx(-33.86944444)
    for text, reason in [("40,24", "lat '40,24' is not a number"), ("", "empty"),
                         ("12N", "names a latitude hemisphere"), ("95", "out of range"),
                         ("40 75", "below 60"), ("inf", "not a number")]:
        with pytest.raises(PhotoError, match=reason):
            parse_coordinate(text, "lon" if text == "12N" else "lat")


# -- fuzzing: any input gives a value or a PhotoError ----------------------------
_scalars = st.one_of(
    st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.binary(max_size=12),
    st.tuples(st.integers(-10**9, 10**9), st.integers(-10**9, 10**9)),
    st.fractions(), st.none(), st.booleans())
_values = st.one_of(_scalars, st.lists(_scalars, max_size=4).map(tuple))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([0, 1, 2, 3, 4, 9, 27]), _values, max_size=6))
def test_fuzz_gps_ifd(gps):
    try:
        lat, lon = decode_gps_ifd(gps)
    except PhotoError:
        return
    assert -90 <= lat <= 90 and -180 <= lon <= 180


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["lat", "lon"]))
def test_fuzz_coordinate_text(text, axis):
    try:
        value = parse_coordinate(text, axis)
    except PhotoError:
        return
    assert abs(value) <= (90 if axis == "lat" else 180)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_xmp(body):
    try:
        decode_xmp(XMP.format(body=body))
        decode_xmp(body.encode("utf-8", "surrogatepass"))
    except PhotoError:
        pass


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(
    lambda t: ("image,lat,lon\n" + t).encode("utf-8", "surrogatepass")))
def test_fuzz_csv_manifest(tmp_path, content):
    manifest = tmp_path / "fuzz.csv"
    manifest.write_bytes(content)
    try:
        collection = PhotoCollection.from_csv(manifest)
    except PhotoError:
        return
    assert np.isfinite(collection.coords).all()

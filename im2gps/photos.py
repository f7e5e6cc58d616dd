"""Geotagged photos: decoding, orientation, validation, and photo collections.

A :class:`PhotoCollection` is a table of geotagged photos (one row per photo:
``id``, ``image`` (absolute path), ``lat``, ``lon`` and any extra columns such
as ``author`` or ``scene``) read from either

* a folder, searched recursively, each photo's location read from its EXIF GPS
  tags, as a phone or camera writes them; or
* a CSV manifest with the columns ``image,lat,lon`` (image paths relative to
  the CSV) plus any extra columns, which are kept.

Reading a collection never aborts on a bad entry: the entry is skipped and
reported in :attr:`PhotoCollection.skipped` with the file and the reason.
:func:`load_image` decodes one photo to an ``H x W x 3`` uint8 RGB array and
raises :class:`PhotoError` naming the file and the reason when it cannot.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from im2gps.archives import is_member_ref, read_member
from im2gps.errors import PhotoError
from im2gps.gps import check_range, decode_gps_ifd, decode_xmp, parse_coordinate
from im2gps.kinds import MARKERS, directory_kind

if TYPE_CHECKING:  # pandas is imported where a table is made: a one-photo locate needs none
    import pandas as pd

__all__ = [
    "DECODE_SIDE",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MIN_SIDE",
    "PhotoCollection",
    "PhotoError",
    "Skipped",
    "check_coordinates",
    "check_image_array",
    "check_photo",
    "content_hash",
    "load_image",
    "read_gps",
    "skipped_table",
]

#: File name endings of photos (others are tried too: Pillow knows formats by content).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp",
                    ".bmp", ".gif", ".heic", ".heif", ".hif", ".avif")

#: Camera raw formats: reported as unsupported (export them as JPEG or TIFF).
RAW_EXTENSIONS = (".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng",
                  ".raf", ".orf", ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".rwl")

#: Videos, which phones put in the same folders as photos: reported as unsupported.
VIDEO_EXTENSIONS = (".mov", ".mp4", ".m4v", ".avi", ".mkv", ".3gp", ".mts", ".m2ts", ".wmv")

#: Default pixel limit. Phones take 50, 108 and 200-megapixel photos; beyond 300
#: megapixels an image is refused as a possible decompression bomb (raise it with
#: ``max_pixels=`` or the command line's ``--max-pixels``).
MAX_PIXELS = 300_000_000

#: Images with a side shorter than this many pixels are refused: no feature of a
#: 3 x 3 or 2000 x 2 image describes a scene (16 x 16 still runs every extractor).
MIN_SIDE = 16

#: Longer side, in pixels, that photos are decoded to for feature extraction. JPEGs
#: are decoded at a reduced DCT scale (1/2, 1/4, 1/8) that keeps at least this
#: many pixels, so a 12-megapixel photo decodes at 1000 x 750; every feature
#: resizes to a smaller working size itself (at most 400 px: lines), so 800 keeps
#: twice what any of them uses, and 640-px photos are decoded whole.
DECODE_SIDE = 800

# Pillow decodes truncated files silently when this is True; we want the error.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_GPS_IFD = 0x8825
_XMP_TAG = 0x02BC  # XMLPacket, where TIFF files keep their XMP
_PIXEL_LIMIT_LOCK = threading.Lock()
_HEIF_REGISTERED = False


@dataclass(frozen=True)
class Skipped:
    """One entry left out of a collection or a build, and why."""

    path: str
    reason: str


def _register_heif() -> None:
    """HEIC/HEIF (the iPhone default) through pillow-heif; AVIF is Pillow's own."""
    global _HEIF_REGISTERED
    if not _HEIF_REGISTERED:
        try:
            import pillow_heif
        except ImportError:  # pragma: no cover - a dependency; HEIC files then fail by name
            pass
        else:
            pillow_heif.register_heif_opener()
        _HEIF_REGISTERED = True


def _open(path: Path, max_pixels: int, data: bytes | None = None) -> Image.Image:
    """Open ``path`` with Pillow, turning every failure into a :class:`PhotoError`."""
    _register_heif()
    if data is None:
        if not path.exists():
            raise PhotoError(path, "file not found")
        if path.is_dir():
            raise PhotoError(path, "is a directory, not an image")
        if not path.is_file():
            raise PhotoError(path, "not a regular file (a FIFO, socket or device), not read")
        if path.stat().st_size == 0:
            raise PhotoError(path, "empty file (0 bytes)")
    elif not data:
        raise PhotoError(path, "empty file (0 bytes)")
    try:
        # Pillow's own bomb check (a warning above its default, an error at twice
        # that) is off while the header is read: the one check is ours, below, at
        # the documented limit.
        with _PIXEL_LIMIT_LOCK:
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(path if data is None else io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except UnidentifiedImageError:
        raise PhotoError(path, _unrecognised(path)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise PhotoError(path, f"cannot be read: {err}") from None
    except Exception as err:  # noqa: BLE001 - Pillow's plugins raise anything on odd files
        raise PhotoError(path, f"cannot be read: {type(err).__name__}: {err}") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise PhotoError(
            path,
            f"over the pixel limit: {width}x{height} = {width * height:,} pixels "
            f"> {int(max_pixels):,} (possible decompression bomb; raise --max-pixels if it is "
            "genuine)",
        )
    if min(width, height) < MIN_SIDE:
        image.close()
        raise PhotoError(path, f"too small: {width}x{height} pixels (each side must be at "
                               f"least {MIN_SIDE})")
    return image


def _unrecognised(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in RAW_EXTENSIONS:
        return f"unsupported format: camera raw ({suffix}); export it as JPEG or TIFF"
    if suffix in VIDEO_EXTENSIONS:
        return f"unsupported format: video ({suffix})"
    return "not an image (format not recognised)"


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is laid over white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's convert() clips 16-bit and float values at 255; rescale instead.
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            values = values / 257.0
        else:
            low, high = float(values.min()), float(values.max())
            values = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS,
               max_side: int | None = None, data: bytes | None = None) -> np.ndarray:
    """Decode a photo to an ``H x W x 3`` uint8 RGB array.

    The EXIF orientation tag is applied, so the array is upright as a viewer
    shows it, and every Pillow mode (L, LA, P, RGBA, CMYK, I;16, ...) is
    converted to RGB. JPEG, PNG, TIFF, WebP, BMP, GIF, AVIF and HEIC/HEIF
    (through pillow-heif) are read.

    Parameters
    ----------
    path : str or Path
        The image file.
    max_pixels : int, optional
        Refuse images with more pixels than this (decompression bombs);
        default :data:`MAX_PIXELS`, 300 megapixels.
    max_side : int, optional
        Decode a JPEG at the smallest DCT scale (1, 1/2, 1/4, 1/8) whose
        longer side still has at least ``max_side`` pixels (Pillow's
        ``Image.draft``); other formats are decoded whole. None (default):
        full size. Feature extraction uses :data:`DECODE_SIDE`.
    data : bytes, optional
        The file's bytes, already read (``path`` then only names it).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8 array.

    Raises
    ------
    PhotoError
        If the file is missing, empty, not an image (or in a format that is
        not supported, such as camera raw), truncated or corrupt, over the
        pixel limit or smaller than :data:`MIN_SIDE` on a side. The message
        names the file and the reason.
    """
    if data is None and is_member_ref(path):
        data = read_member(path)
    path = Path(path)
    image = _open(path, max_pixels, data)
    try:
        with image:
            if max_side is not None and image.format in ("JPEG", "MPO"):
                width, height = image.size
                scale = min(1.0, int(max_side) / max(width, height))
                image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))
            image.load()
            image = ImageOps.exif_transpose(image)
            return np.asarray(_to_rgb(image), dtype=np.uint8).copy()
    except PhotoError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as err:
        message = str(err)
        if "truncated" in message:
            raise PhotoError(path, f"truncated file: {message}") from None
        raise PhotoError(path, f"corrupt image data: {message}") from None
    except MemoryError as err:
        raise PhotoError(path, f"cannot be decoded: out of memory ({err})") from None
    except Exception as err:  # noqa: BLE001 - Pillow's plugins raise anything on odd files
        raise PhotoError(path, f"corrupt image data: {type(err).__name__}: {err}") from None


def check_image_array(image: object, where: str = "image") -> np.ndarray:
    """Check a decoded photo given as an array: ``(H, W, 3)`` uint8, each side >= MIN_SIDE.

    Raises
    ------
    PhotoError
        Naming ``where`` and what is wrong with the array.
    """
    if not isinstance(image, np.ndarray):
        raise PhotoError(where, f"expected an image path or an (H, W, 3) uint8 array, got "
                                f"{type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise PhotoError(where, f"array of shape {image.shape} is not an (H, W, 3) RGB image")
    if image.dtype != np.uint8:
        raise PhotoError(where, f"array of dtype {image.dtype} is not uint8 RGB")
    if min(image.shape[:2]) < MIN_SIDE:
        raise PhotoError(where, f"too small: {image.shape[1]}x{image.shape[0]} pixels (each "
                                f"side must be at least {MIN_SIDE})")
    return image


def check_photo(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Check that a photo can be opened, reading its header only; its (width, height).

    Raises
    ------
    PhotoError
        As :func:`load_image` does for a missing, empty, unrecognised, too big or
        too small file (the pixels are not decoded, so damage inside them is not seen).
    """
    if is_member_ref(path):
        data = read_member(path)
        with _open(Path(path), max_pixels, data) as image:
            return image.size
    with _open(Path(path), max_pixels) as image:
        return image.size


def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes: a photo's identity whatever its name or folder.

    Raises
    ------
    PhotoError
        If the file cannot be read.
    """
    if is_member_ref(path):
        return hashlib.sha256(read_member(path)).hexdigest()
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise PhotoError(path, f"cannot be read: {err.strerror or err}") from None
    return digest.hexdigest()


def _xmp_packets(image: Image.Image) -> list[bytes | str]:
    """The XMP packets Pillow found in the file (JPEG APP1, PNG iTXt, WebP, TIFF, HEIF)."""
    packets = [image.info.get(key) for key in ("xmp", "XML:com.adobe.xmp")]
    try:
        packets.append(image.getexif().get(_XMP_TAG))
    except Exception:  # noqa: BLE001 - bad EXIF is reported by the GPS reader itself
        pass
    return [p for p in packets if isinstance(p, bytes | str) and p]


def _sidecars(path: Path) -> list[Path]:
    """XMP sidecar files of a photo: ``IMG_1.xmp`` (Lightroom) or ``IMG_1.jpg.xmp`` (darktable)."""
    names = [path.with_suffix(".xmp"), path.with_suffix(".XMP"),
             path.with_name(path.name + ".xmp"), path.with_name(path.name + ".XMP")]
    seen, found = set(), []
    for candidate in names:
        if candidate not in seen and candidate.is_file():
            seen.add(candidate)
            found.append(candidate)
    return found


def read_gps(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[float, float]:
    """Read a photo's location from its EXIF GPS tags, its XMP, or an XMP sidecar.

    The EXIF GPS IFD is read as :func:`im2gps.gps.decode_gps_ifd` describes
    (CIPA DC-008, with the departures of real writers). When it holds no
    usable position, the photo's own XMP packet is read (``exif:GPSLatitude``
    as photo managers write it, ``drone-dji:GpsLatitude`` of drones), then an
    XMP sidecar file beside the photo (``NAME.xmp`` or ``NAME.EXT.xmp``).

    Parameters
    ----------
    path : str or Path
        The image file.
    max_pixels : int, optional
        Pixel limit, as in :func:`load_image`.

    Returns
    -------
    (lat, lon) : tuple of float
        WGS84 degrees, south and west negative.

    Raises
    ------
    PhotoError
        If the file cannot be opened, carries no GPS position, or its
        position is malformed, void (``GPSStatus`` V, or 0, 0 without Refs),
        not finite or out of range. The reason is the EXIF one when EXIF has
        GPS tags, else the XMP one.
    """
    path = Path(path)
    with _open(path, max_pixels) as image:
        try:
            gps = dict(image.getexif().get_ifd(_GPS_IFD))
        except Exception as err:  # noqa: BLE001 - Pillow raises many kinds on bad EXIF
            gps, exif_error = {}, PhotoError(path, f"unreadable EXIF data: {err}")
        else:
            exif_error = None
        packets = _xmp_packets(image)
    if gps:
        try:
            return decode_gps_ifd(gps, where=str(path))
        except PhotoError as err:
            exif_error = err
    for packet in packets:
        try:
            found = decode_xmp(packet, where=str(path))
        except PhotoError as err:
            exif_error = exif_error or err
            continue
        if found is not None:
            return found
    for sidecar in _sidecars(path):
        try:
            found = decode_xmp(sidecar.read_bytes(), where=str(sidecar))
        except (PhotoError, OSError) as err:
            exif_error = exif_error or (err if isinstance(err, PhotoError)
                                        else PhotoError(sidecar, f"cannot be read: {err}"))
            continue
        if found is not None:
            return found
    if exif_error is not None:
        raise exif_error
    raise PhotoError(path, "no GPS position in its EXIF or XMP data (GPSLatitude/GPSLongitude)")


def check_coordinates(path: str | os.PathLike, lat: float, lon: float) -> None:
    """Raise :class:`PhotoError` unless ``lat``/``lon`` are finite WGS84 degrees."""
    check_range(str(path), lat, lon)


def skipped_table(entries: Sequence[Skipped]) -> pd.DataFrame:
    """Skipped entries as a table with columns ``path, reason`` (as ``skipped.csv`` holds)."""
    import pandas as pd

    return pd.DataFrame([vars(s) for s in entries], columns=["path", "reason"])


#: Header names a manifest may use for its three required columns (matched without
#: case): ours, the common spelled-out ones, and GeoEstimation's ``IMG_ID,LAT,LON``.
MANIFEST_ALIASES = {
    "image": ("image", "img_id", "image_path", "path", "file", "filename", "file_name",
              "photo"),
    "lat": ("lat", "latitude", "gps_lat", "gpslatitude"),
    "lon": ("lon", "lng", "long", "longitude", "gps_lon", "gpslongitude"),
}


def _is_sidecar(path: Path, names: set[str]) -> bool:
    """Whether an ``.xmp`` file belongs to a photo beside it (``IMG_1.xmp``, ``IMG_1.jpg.xmp``)."""
    stem = path.stem.lower()
    if Path(stem).suffix:  # IMG_1.jpg.xmp
        return stem in names
    return any(name.rsplit(".", 1)[0] == stem and not name.endswith(".xmp") for name in names)


def _read_csv_rows(manifest: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, fields) of each record of a CSV file.

    The csv module, not pandas, reads the file: it gives every record's line
    number (records may span lines) and the fields as the original text, which
    error messages quote.
    """
    try:
        text = manifest.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise PhotoError(manifest, f"not UTF-8 text (byte {err.object[err.start]:#04x} at "
                                   f"offset {err.start}); save the manifest as UTF-8 CSV") from None
    except OSError as err:
        raise PhotoError(manifest, f"cannot be read: {err.strerror or err}") from None
    if not text.strip():
        raise PhotoError(manifest, "empty CSV manifest: no header line (expected "
                                   "image,lat,lon)")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise PhotoError(manifest, f"line {line}: contains a NUL byte; not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""))
    records = []
    try:
        header = next(reader)
        start = reader.line_num + 1
        for values in reader:
            records.append((start, values))
            start = reader.line_num + 1
    except csv.Error as err:
        raise PhotoError(manifest, f"line {reader.line_num}: not valid CSV ({err})") from None
    return header, records


def _manifest_columns(manifest: Path, header: list[str]) -> list[str]:
    """Column names: trimmed, lower case, the required three under their own names."""
    names = [h.strip().lower() for h in header]
    for canonical, aliases in MANIFEST_ALIASES.items():
        if canonical in names:
            continue
        for alias in aliases:
            if alias in names:
                names[names.index(alias)] = canonical
                break
    for canonical in ("lat", "lon"):
        present = [n for n in names if n in MANIFEST_ALIASES[canonical]]
        if len(present) > 1:
            raise PhotoError(manifest, f"columns {present} all name the {canonical}itude; keep "
                                       "one (which one is meant is not for us to guess)")
    missing = [c for c in ("image", "lat", "lon") if c not in names]
    if missing:
        shown = ",".join(h.strip() for h in header)
        raise PhotoError(manifest, f"no {'/'.join(missing)} column in the header {shown!r}; a "
                                   "manifest needs image,lat,lon (or latitude/longitude, "
                                   "IMG_ID,LAT,LON)")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PhotoError(manifest, f"column(s) {duplicates} appear more than once in the header")
    return names


def _typed(column: pd.Series) -> pd.Series:
    """An extra column as numbers where every value is one, else as the text it was."""
    import pandas as pd

    converted = pd.to_numeric(column, errors="coerce")
    if len(column) and converted.notna().all():
        return converted
    return column.astype(str)


def _coordinates_by_key(csv_path: Path) -> tuple[dict[str, dict], list[str], list[Skipped]]:
    """Rows of a coordinates CSV by their key column (image / IMG_ID / id)."""
    if csv_path.is_dir():
        raise PhotoError(csv_path, "is a folder; --coords takes a CSV file of coordinates by id")
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: no such coordinates CSV (--coords)")
    header, records = _read_csv_rows(csv_path)
    names = [h.strip().lower() for h in header]
    if "image" not in names:
        for alias in ("img_id", "id", "image_id", "key"):
            if alias in names:
                names[names.index(alias)] = "image"
                break
    header = [("image" if n == "image" else h) for n, h in zip(names, header, strict=True)]
    columns = _manifest_columns(csv_path, header)
    by_key: dict[str, dict] = {}
    lines: dict[str, int] = {}
    skipped: list[Skipped] = []
    for line, values in records:
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(columns):
            skipped.append(Skipped(f"{csv_path}:{line}", f"line {line}: {len(values)} fields, "
                                   f"the header has {len(columns)}"))
            continue
        record = dict(zip(columns, values, strict=True))
        key = record.pop("image").strip()
        if key in lines:
            by_key[key] = Skipped(f"{csv_path}:{line}",  # type: ignore[assignment]
                                  f"id {key!r} is listed twice in {csv_path.name} (lines "
                                  f"{lines[key]} and {line}): which coordinates are right is "
                                  "not for us to guess")
            continue
        lines[key] = line
        try:
            record["lat"] = parse_coordinate(record["lat"], "lat", where=f"{csv_path}:{line}")
            record["lon"] = parse_coordinate(record["lon"], "lon", where=f"{csv_path}:{line}")
        except PhotoError as err:
            by_key[key] = Skipped(err.path, f"line {line}: {err.reason}")  # type: ignore[assignment]
            continue
        by_key[key] = record
    # keys may be file names ("a4/d5/123.jpg") or bare ids ("123"): both look up
    for key in list(by_key):
        stem = Path(key).stem
        by_key.setdefault(stem, by_key[key])
    extras = [c for c in columns if c not in ("image", "lat", "lon")]
    return by_key, extras, skipped


def _split_csv(path: Path) -> Path | None:
    """OSV-5M's layout: ``<root>/<split>.csv`` beside ``<root>/images/<split>/*.zip``."""
    candidates = []
    for folder in (path, *path.parents[:3]):
        for split in ("test", "train", "val"):
            csv_path = folder / f"{split}.csv"
            if csv_path.is_file() and (folder / "images" / split).is_dir() and (
                    folder / "images" / split == path or path in (folder / "images" / split
                                                                  ).parents or path == folder
                    or path == folder / "images"):
                candidates.append(csv_path)
        if candidates:
            break
    return candidates[0] if len(candidates) == 1 else None


def _coordinates_from_json(member) -> dict | Skipped | None:
    """lat/lon of a WebDataset sample's JSON, or None when it has none."""
    meta = {str(k).lower(): v for k, v in member.meta.items()}
    lat = next((meta[k] for k in ("lat", "latitude") if k in meta), None)
    lon = next((meta[k] for k in ("lon", "lng", "longitude") if k in meta), None)
    if lat is None and lon is None:
        return None
    try:
        return {"lat": parse_coordinate("" if lat is None else lat, "lat", where=member.ref),
                "lon": parse_coordinate("" if lon is None else lon, "lon", where=member.ref)}
    except PhotoError as err:
        return Skipped(member.ref, f"its .json: {err.reason}")


@dataclass
class PhotoCollection:
    """A table of geotagged photos.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per photo with columns ``id`` (unique text id), ``image``
        (absolute path), ``lat``, ``lon`` and any extra columns.
    skipped : list of Skipped
        Entries left out while reading, each with its file and reason.
    source : str
        Where the collection was read from.
    """

    table: pd.DataFrame
    skipped: list[Skipped] = field(default_factory=list)
    source: str = ""

    # -- reading -------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, max_pixels: int = MAX_PIXELS,
             coords: str | os.PathLike | None = None, **kwargs) -> PhotoCollection:
        """Read a folder (EXIF GPS), a CSV manifest or containers, whichever ``path`` is.

        Containers (msgpack or tar shards, zip archives; :meth:`from_containers`)
        are read when ``path`` is one, when ``coords`` is given, or when a
        folder holds containers and no photos. ``max_pixels`` applies to a
        folder's photos, whose headers are read; other keyword arguments go
        to :meth:`from_csv`.
        """
        from im2gps.archives import shard_files

        path = Path(path)
        containers = (".msg", ".msgpack", ".tar", ".zip")
        if coords is not None or (path.is_file() and path.suffix.lower() in containers) or (
                path.is_dir() and shard_files(path, containers) and not any(
                    p.suffix.lower() in IMAGE_EXTENSIONS for p in path.rglob("*"))):
            return cls.from_containers(path, coords=coords)
        if path.is_dir():
            return cls.from_folder(path, max_pixels=max_pixels)
        if path.suffix.lower() == ".csv":
            return cls.from_csv(path, **kwargs)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such folder or CSV manifest")
        raise ValueError(f"{path}: expected a folder of photos or a .csv manifest")

    @classmethod
    def from_folder(
        cls, folder: str | os.PathLike, max_pixels: int = MAX_PIXELS
    ) -> PhotoCollection:
        """Read every photo under ``folder`` (recursively), located by EXIF GPS or XMP.

        Every file that is not taken is reported in :attr:`skipped` with its
        reason (no GPS position, not an image, camera raw or video, hidden
        file, ...); XMP sidecars of photos are read with their photo. A photo's
        id is its path relative to ``folder``, extension included, so
        ``IMG_1.jpg`` and ``IMG_1.png`` are two photos.

        Raises
        ------
        FileNotFoundError
            If ``folder`` is not a folder.
        """
        folder = Path(folder).resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not a folder")
        rows, skipped = [], []
        files = sorted(p for p in folder.rglob("*") if not p.is_dir())
        names = {p.name.lower() for p in files}
        # an index (or its unfinished build) inside the photo folder is ours, not photos
        indexes = sorted({p.parent for p in files if p.name in MARKERS
                          and directory_kind(p.parent, strict=True)} | {
                              p.parent for p in files if p.name == "work.json"
                              and p.parent.name.endswith((".partial", ".adding"))})
        for path in files:
            rel = path.relative_to(folder)
            if any(d in path.parents for d in indexes):
                continue
            if any(part.startswith(".") for part in rel.parts):
                skipped.append(Skipped(str(path), "hidden file (names starting with '.' are "
                                                  "not read)"))
                continue
            if path.suffix.lower() == ".xmp" and _is_sidecar(path, names):
                continue  # read with its photo
            try:
                lat, lon = read_gps(path, max_pixels=max_pixels)
            except PhotoError as err:
                skipped.append(Skipped(err.path, err.reason))
                continue
            rows.append({"id": rel.as_posix(), "image": str(path), "lat": lat, "lon": lon})
        import pandas as pd

        table = pd.DataFrame(rows, columns=["id", "image", "lat", "lon"])
        return cls(table, skipped, str(folder))

    @classmethod
    def from_csv(cls, manifest: str | os.PathLike, check_files: bool = True,
                 images: str | os.PathLike | None = None) -> PhotoCollection:
        """Read a CSV manifest with columns ``image,lat,lon`` and any extras.

        Header names are trimmed and matched without case; ``latitude`` /
        ``longitude`` (and ``lng``) and GeoEstimation's ``IMG_ID,LAT,LON``
        are understood, and every column name is kept in lower case.
        Coordinates may be decimal degrees, degrees-minutes-seconds
        (``40°14'36.1"N``) or carry a hemisphere letter (``40.2434N``); see
        :func:`im2gps.gps.parse_coordinate`.

        Rows with a bad value, a missing or empty file, or an image already
        listed are skipped and reported with their line and the original
        text (``line 14: lat '40,24' is not a number``); extra columns are
        kept. A photo's id is its path relative to the image folder,
        extension included.

        Parameters
        ----------
        manifest : str or Path
            The CSV file (UTF-8, with or without a byte-order mark).
        check_files : bool, optional
            Skip rows whose image file is missing or empty.
        images : str or Path, optional
            Folder that relative image paths start from (default: the CSV's
            folder).

        Raises
        ------
        FileNotFoundError
            If the manifest does not exist.
        PhotoError
            If the manifest as a whole cannot be read: empty, not UTF-8 text,
            not CSV, or without an image, lat or lon column.
        """
        manifest = Path(manifest).resolve()
        if not manifest.is_file():
            raise FileNotFoundError(f"{manifest}: no such CSV manifest")
        header, records = _read_csv_rows(manifest)
        columns = _manifest_columns(manifest, header)
        base = Path(images).resolve() if images is not None else manifest.parent
        rows, skipped, seen = [], [], {}
        width = len(header)
        for line, values in records:
            if not any(v.strip() for v in values):
                continue  # a blank line
            if len(values) != width:
                skipped.append(Skipped(f"{manifest}:{line}", f"line {line}: {len(values)} "
                                       f"fields, the header has {width}"))
                continue
            record = dict(zip(columns, values, strict=True))
            rel = record["image"].strip()
            try:
                if not rel:
                    raise PhotoError(f"{manifest}:{line}", f"line {line}: empty image path")
                path = (base / rel).resolve()
                lat = parse_coordinate(record["lat"], "lat", where=str(path))
                lon = parse_coordinate(record["lon"], "lon", where=str(path))
                if path in seen:
                    raise PhotoError(path, f"duplicate image in manifest (first listed on "
                                           f"line {seen[path]})")
                if check_files:
                    if path.is_dir():
                        raise PhotoError(path, "is a directory, not an image")
                    if not path.is_file():
                        raise PhotoError(path, "file not found")
                    if path.stat().st_size == 0:
                        raise PhotoError(path, "empty file (0 bytes)")
            except PhotoError as err:
                reason = err.reason if err.reason.startswith("line ") else \
                    f"line {line}: {err.reason}"
                skipped.append(Skipped(err.path, reason))
                continue
            except (OSError, ValueError) as err:  # e.g. a path with a NUL byte
                skipped.append(Skipped(f"{manifest}:{line}",
                                       f"line {line}: image {rel!r} is not a usable path ({err})"))
                continue
            seen[path] = line
            try:
                photo_id = path.relative_to(base).as_posix()
            except ValueError:  # an absolute path outside the image folder
                photo_id = path.as_posix()
            record.update(id=photo_id, image=str(path), lat=lat, lon=lon)
            rows.append(record)
        extras = [c for c in columns if c not in ("image", "lat", "lon")]
        import pandas as pd

        table = pd.DataFrame(rows, columns=["id", "image", "lat", "lon", *extras])
        table["lat"] = table["lat"].astype(np.float64)
        table["lon"] = table["lon"].astype(np.float64)
        for column in extras:
            table[column] = _typed(table[column])
        return cls(table, skipped, str(manifest))

    @classmethod
    def from_containers(cls, path: str | os.PathLike,
                        coords: str | os.PathLike | None = None) -> PhotoCollection:
        """Read photos inside msgpack shards, WebDataset tar shards or zip archives.

        Nothing is unpacked: each photo's ``image`` is a member reference
        (``<container>::<member>``, see :mod:`im2gps.archives`) that
        :func:`load_image` reads in place. The containers are listed once
        (names, byte offsets and content hashes).

        Parameters
        ----------
        path : str or Path
            A folder of ``.msg``, ``.tar`` or ``.zip`` files (searched
            recursively, in natural order: ``shard_2`` before ``shard_10``),
            or one such file.
        coords : str or Path, optional
            CSV of coordinates keyed by photo id, as the container's source
            publishes it: GeoEstimation's ``IMG_ID,AUTHOR,LAT,LON,...`` for
            MP-16 msgpack shards (keyed by the record's ``id``), OSV-5M's
            ``id,latitude,longitude,...`` for its zips (keyed by the image's
            file name without suffix). Required for msgpack and zip; a
            WebDataset sample carries its own ``.json`` (``lat``/``lon`` or
            ``latitude``/``longitude``), which ``coords`` overrides by key.

        Returns
        -------
        PhotoCollection
            Ids are the photos' keys in their containers (prefixed with the
            container's name where a key repeats); extra columns of
            ``coords`` are kept; ``sha256`` holds each photo's content hash.
            Damaged records, samples without coordinates and truncated shards
            are skipped and reported.

        Raises
        ------
        FileNotFoundError
            If ``path`` or ``coords`` does not exist.
        PhotoError
            If ``path`` holds no container, mixes kinds, or msgpack / zip
            come without ``coords``; or ``coords`` cannot be read.
        """
        from im2gps import archives

        path = Path(path).resolve()
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such folder or container file")
        kinds = {".msg": archives.list_msgpack, ".msgpack": archives.list_msgpack,
                 ".tar": archives.list_tar, ".zip": archives.list_zip}
        compressed = archives.shard_files(path, (".gz", ".tgz", ".bz2", ".xz", ".zst"))
        if any(".tar" in f.name.lower() or f.suffix.lower() == ".tgz" for f in compressed):
            raise PhotoError(path, "compressed tar shards (.tar.gz, .tgz, ...) cannot be read "
                                   "in place, one photo at a time; decompress them (gunzip) to "
                                   ".tar first")
        files = archives.shard_files(path, tuple(kinds))
        suffixes = {f.suffix.lower().replace(".msgpack", ".msg") for f in files}
        if not files:
            raise PhotoError(path, "no .msg, .tar or .zip containers found")
        if len(suffixes) > 1:
            raise PhotoError(path, f"mixes container kinds {sorted(suffixes)}; give one kind "
                                   "at a time")
        kind = suffixes.pop()
        by_key: dict[str, dict] = {}
        skipped: list[Skipped] = []
        extras: list[str] = []
        if coords is None and kind == ".zip":
            coords = _split_csv(path)  # OSV-5M: images/<split>/*.zip beside <split>.csv
        if coords is not None:
            by_key, extras, skipped = _coordinates_by_key(Path(coords).resolve())
        elif kind in (".msg", ".zip"):
            from im2gps.errors import UsageError

            raise UsageError(f"{path}: {kind} containers keep their coordinates in a separate "
                             "CSV: give it with --coords CSV")
        rows, owner, matched = [], {}, 0
        for container in files:
            members, problems = kinds[container.suffix.lower()](container)
            skipped.extend(Skipped(where, reason) for where, reason in problems)
            for member in members:
                record = by_key.get(member.key)
                matched += record is not None
                if kind != ".tar" and member.key in owner:  # coordinates are keyed by id
                    skipped.append(Skipped(member.ref, f"id {member.key!r} also names a photo "
                                           f"in {owner[member.key]}: which one the coordinates "
                                           "belong to is not for us to guess"))
                    continue
                owner.setdefault(member.key, container.name)
                if record is None and kind == ".tar":
                    record = _coordinates_from_json(member)
                if record is None:
                    skipped.append(Skipped(member.ref, f"no coordinates for {member.key!r}" + (
                        f" in {coords}" if coords is not None else
                        (" (no lat/lon in its .json)" if member.meta else
                         " (the sample has no .json)"))))
                    continue
                if isinstance(record, Skipped):
                    skipped.append(Skipped(member.ref, record.reason))
                    continue
                rows.append({**record, "id": member.key, "image": member.ref,
                             "sha256": member.sha256, "_container": container.stem})
        if coords is not None and by_key and not matched and rows == []:
            raise PhotoError(path, f"no photo id of the containers is in {coords} (ids there "
                                   f"look like {next(iter(by_key))!r}); is it the right --coords?")
        import pandas as pd

        table = pd.DataFrame(rows, columns=["id", "image", "lat", "lon", *extras, "sha256",
                                            "_container"])
        repeated = table["id"].duplicated(keep=False)
        table.loc[repeated, "id"] = table.loc[repeated, "_container"] + "/" + \
            table.loc[repeated, "id"]
        table = table.drop(columns="_container")
        table["lat"] = table["lat"].astype(np.float64)
        table["lon"] = table["lon"].astype(np.float64)
        for column in extras:
            table[column] = _typed(table[column])
        return cls(table, skipped, str(path))

    # -- access --------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.table)

    @property
    def paths(self) -> list[str]:
        """Absolute image paths, in table order."""
        return self.table["image"].tolist()

    @property
    def ids(self) -> list[str]:
        """Photo ids, in table order."""
        return self.table["id"].tolist()

    @property
    def coords(self) -> np.ndarray:
        """``(n, 2)`` float64 array of (lat, lon) degrees."""
        return self.table[["lat", "lon"]].to_numpy(np.float64)

    def column(self, name: str) -> np.ndarray | None:
        """An extra column (e.g. ``author``, ``scene``) or None where absent."""
        return self.table[name].to_numpy() if name in self.table else None

    def subset(self, rows: Sequence[int] | np.ndarray) -> PhotoCollection:
        """A collection of the given rows (positions), keeping the source."""
        table = self.table.iloc[np.asarray(rows, dtype=np.int64)].reset_index(drop=True)
        return PhotoCollection(table, [], self.source)

    def with_skipped(self, skipped: Sequence[Skipped]) -> PhotoCollection:
        """The same photos with ``skipped`` as the list of entries left out."""
        return PhotoCollection(self.table, list(skipped), self.source)

    def deduplicated(self, known: pd.DataFrame | None = None) -> PhotoCollection:
        """This collection with a ``sha256`` column and each photo's copies skipped.

        A photo is identified by the SHA-256 of its file's bytes, whatever its
        name or folder: the second and later copies are skipped and reported
        naming the first (``same photo as trip1/IMG_1.jpg``), as are photos
        whose content is already in ``known`` (an index's photo table with
        ``id`` and ``sha256`` columns: ``already indexed as ...``). Files that
        cannot be read are skipped with their reason.

        Parameters
        ----------
        known : pandas.DataFrame, optional
            Photos already indexed, with columns ``id`` and ``sha256``.
        """
        first: dict[str, str] = {}
        if known is not None and "sha256" in known:
            first = dict(zip(known["sha256"].astype(str), known["id"].astype(str), strict=True))
        indexed = set(first)
        keep, hashes, skipped = [], [], list(self.skipped)
        listed = self.table["sha256"].tolist() if "sha256" in self.table else [None] * len(self)
        for row, (photo_id, path) in enumerate(zip(self.ids, self.paths, strict=True)):
            try:  # hashes listed with a container's members were computed from its bytes
                digest = listed[row] if isinstance(listed[row], str) and len(
                    listed[row]) == 64 else content_hash(path)
            except PhotoError as err:
                skipped.append(Skipped(err.path, err.reason))
                continue
            if digest in first:
                how = "already indexed as" if digest in indexed else "same photo as"
                skipped.append(Skipped(path, f"{how} {first[digest]} (identical content)"))
                continue
            first[digest] = photo_id
            keep.append(row)
            hashes.append(digest)
        table = self.table.iloc[keep].reset_index(drop=True).copy()
        table["sha256"] = hashes
        return PhotoCollection(table, skipped, self.source)

    def images(self, max_pixels: int = MAX_PIXELS) -> Iterator[np.ndarray]:
        """Decode the photos one by one (raises :class:`PhotoError` on a bad one)."""
        for path in self.paths:
            yield load_image(path, max_pixels=max_pixels)

    def skipped_frame(self) -> pd.DataFrame:
        """The skipped entries as a table with columns ``path, reason``."""
        return skipped_table(self.skipped)

    def write_skipped(self, path: str | os.PathLike) -> None:
        """Write the skipped entries to a CSV file (``path,reason``)."""
        self.skipped_frame().to_csv(path, index=False)

    def __repr__(self) -> str:
        return (
            f"PhotoCollection({len(self)} photos, {len(self.skipped)} skipped, "
            f"source={self.source!r})"
        )

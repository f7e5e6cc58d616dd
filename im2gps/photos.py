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

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "PhotoCollection",
    "PhotoError",
    "Skipped",
    "load_image",
    "read_gps",
    "skipped_table",
]

#: File name endings read as photos when a folder is scanned.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif")

#: Default pixel limit: larger images are refused as possible decompression bombs.
MAX_PIXELS = 100_000_000

# Pillow decodes truncated files silently when this is True; we want the error.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_GPS_IFD = 0x8825
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4


class PhotoError(ValueError):
    """A photo that cannot be used, with the file and the reason.

    Parameters
    ----------
    path : str or Path
        The offending file.
    reason : str
        Why it cannot be used, in words a user can act on.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class Skipped:
    """One entry left out of a collection or a build, and why."""

    path: str
    reason: str


def _open(path: Path, max_pixels: int) -> Image.Image:
    """Open ``path`` with Pillow, turning every failure into a :class:`PhotoError`."""
    if not path.exists():
        raise PhotoError(path, "file not found")
    if path.is_dir():
        raise PhotoError(path, "is a directory, not an image")
    if path.stat().st_size == 0:
        raise PhotoError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except UnidentifiedImageError:
        raise PhotoError(path, "not an image (format not recognised)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        reason = f"over the pixel limit (possible decompression bomb): {err}"
        raise PhotoError(path, reason) from None
    except OSError as err:
        raise PhotoError(path, f"cannot be read: {err}") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise PhotoError(
            path,
            f"over the pixel limit: {width}x{height} = {width * height:,} pixels "
            f"> {max_pixels:,} (possible decompression bomb; raise max_pixels if it is genuine)",
        )
    return image


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


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a photo to an ``H x W x 3`` uint8 RGB array.

    The EXIF orientation tag is applied, so the array is upright as a viewer
    shows it, and every Pillow mode (L, LA, P, RGBA, CMYK, I;16, ...) is
    converted to RGB.

    Parameters
    ----------
    path : str or Path
        The image file.
    max_pixels : int, optional
        Refuse images with more pixels than this (decompression bombs).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8 array.

    Raises
    ------
    PhotoError
        If the file is missing, empty, not an image, truncated or corrupt, or
        over the pixel limit. The message names the file and the reason.
    """
    path = Path(path)
    image = _open(path, max_pixels)
    try:
        with image:
            image.load()
            image = ImageOps.exif_transpose(image)
            return np.asarray(_to_rgb(image), dtype=np.uint8).copy()
    except PhotoError:
        raise
    except (OSError, SyntaxError, ValueError) as err:
        message = str(err)
        if "truncated" in message:
            raise PhotoError(path, f"truncated file: {message}") from None
        raise PhotoError(path, f"corrupt image data: {message}") from None


def _rational(value: object) -> float:
    """EXIF rationals arrive as floats, IFDRational or (num, den) pairs."""
    if isinstance(value, tuple) and len(value) == 2:
        num, den = value
        return float(num) / float(den)
    return float(value)  # type: ignore[arg-type]


def read_gps(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[float, float]:
    """Read a photo's location from its EXIF GPS tags.

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
        If the file cannot be opened, carries no GPS tags, or its
        coordinates are malformed, not finite or out of range.
    """
    path = Path(path)
    with _open(path, max_pixels) as image:
        try:
            gps = image.getexif().get_ifd(_GPS_IFD)
        except Exception as err:  # noqa: BLE001 - Pillow raises many kinds on bad EXIF
            raise PhotoError(path, f"unreadable EXIF data: {err}") from None
    if _GPS_LAT not in gps or _GPS_LON not in gps:
        raise PhotoError(path, "no GPS tags in its EXIF data (GPSLatitude/GPSLongitude)")
    try:
        lat = sum(_rational(v) / 60**i for i, v in enumerate(gps[_GPS_LAT]))
        lon = sum(_rational(v) / 60**i for i, v in enumerate(gps[_GPS_LON]))
    except (TypeError, ValueError, ZeroDivisionError) as err:
        raise PhotoError(path, f"malformed GPS tags: {err}") from None
    if str(gps.get(_GPS_LAT_REF, "N")).upper().startswith("S"):
        lat = -lat
    if str(gps.get(_GPS_LON_REF, "E")).upper().startswith("W"):
        lon = -lon
    check_coordinates(path, lat, lon)
    return lat, lon


def check_coordinates(path: str | os.PathLike, lat: float, lon: float) -> None:
    """Raise :class:`PhotoError` unless ``lat``/``lon`` are finite WGS84 degrees."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise PhotoError(path, f"coordinates are not finite numbers (lat={lat}, lon={lon})")
    if not -90.0 <= lat <= 90.0:
        raise PhotoError(path, f"latitude {lat} out of range [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise PhotoError(path, f"longitude {lon} out of range [-180, 180]")


def skipped_table(entries: Sequence[Skipped]) -> pd.DataFrame:
    """Skipped entries as a table with columns ``path, reason`` (as ``skipped.csv`` holds)."""
    return pd.DataFrame([vars(s) for s in entries], columns=["path", "reason"])


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
    def open(cls, path: str | os.PathLike, **kwargs) -> PhotoCollection:
        """Read a folder (EXIF GPS) or a CSV manifest, whichever ``path`` is."""
        path = Path(path)
        if path.is_dir():
            return cls.from_folder(path, **kwargs)
        if path.suffix.lower() == ".csv":
            return cls.from_csv(path, **kwargs)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such folder or CSV manifest")
        raise ValueError(f"{path}: expected a folder of photos or a .csv manifest")

    @classmethod
    def from_folder(
        cls, folder: str | os.PathLike, max_pixels: int = MAX_PIXELS
    ) -> PhotoCollection:
        """Read every photo under ``folder`` (recursively), located by EXIF GPS.

        Files with an image extension that cannot be opened or carry no valid
        GPS tags are skipped and reported; other files are ignored.
        """
        folder = Path(folder).resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not a folder")
        rows, skipped = [], []
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        for path in files:
            try:
                lat, lon = read_gps(path, max_pixels=max_pixels)
            except PhotoError as err:
                skipped.append(Skipped(err.path, err.reason))
                continue
            rel = path.relative_to(folder).with_suffix("").as_posix()
            rows.append({"id": rel, "image": str(path), "lat": lat, "lon": lon})
        table = pd.DataFrame(rows, columns=["id", "image", "lat", "lon"])
        return cls(table, skipped, str(folder))

    @classmethod
    def from_csv(cls, manifest: str | os.PathLike, check_files: bool = True) -> PhotoCollection:
        """Read a CSV manifest with columns ``image,lat,lon`` and any extras.

        Image paths are relative to the CSV's folder (absolute paths work too).
        Rows with a missing or empty file, bad coordinates, or an image already
        listed are skipped and reported; extra columns are kept.
        """
        manifest = Path(manifest).resolve()
        if not manifest.is_file():
            raise FileNotFoundError(f"{manifest}: no such CSV manifest")
        frame = pd.read_csv(manifest, dtype={"image": str}, keep_default_na=False)
        missing = {"image", "lat", "lon"} - set(frame.columns)
        if missing:
            raise ValueError(
                f"{manifest}: missing column(s) {sorted(missing)}; a manifest needs image,lat,lon"
            )
        base = manifest.parent
        keep, skipped, seen = [], [], set()
        images, ids = [], []
        lats = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(np.float64)
        lons = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(np.float64)
        for i, rel in enumerate(frame["image"]):
            path = (base / rel).resolve()
            try:
                if not rel:
                    raise PhotoError(f"{manifest}:{i + 2}", "empty image path")
                if path in seen:
                    raise PhotoError(path, f"duplicate image in manifest (line {i + 2})")
                check_coordinates(path, lats[i], lons[i])
                if check_files:
                    if not path.is_file():
                        raise PhotoError(path, "file not found")
                    if path.stat().st_size == 0:
                        raise PhotoError(path, "empty file (0 bytes)")
            except PhotoError as err:
                skipped.append(Skipped(err.path, err.reason))
                continue
            seen.add(path)
            keep.append(i)
            images.append(str(path))
            try:
                ids.append(path.relative_to(base).with_suffix("").as_posix())
            except ValueError:  # an absolute path outside the manifest's folder
                ids.append(path.with_suffix("").as_posix())
        table = frame.iloc[keep].reset_index(drop=True).copy()
        table["image"] = images
        table["lat"] = lats[keep]
        table["lon"] = lons[keep]
        table.insert(0, "id", ids)
        return cls(table, skipped, str(manifest))

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
        table = self.table.iloc[np.asarray(rows)].reset_index(drop=True)
        return PhotoCollection(table, [], self.source)

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

"""Named benchmark data sets, found in one data folder.

=============  =====  ==============================================================
name           size   what
=============  =====  ==============================================================
``im2gps237``  237    the im2gps test set (Hays & Efros, CVPR 2008), with a ``scene``
                      column (indoor / natural / urban)
``im2gps2k``   1,685  photos of the same Flickr pool ("2k random"), photographer-
                      disjoint from ``im2gps237``: a retrieval database
=============  =====  ==============================================================

plus :func:`mp16_coords`, 100,000 photo coordinates of MP-16 (no images).

The data folder is, in order: the ``data_dir`` argument, the environment
variable ``IM2GPS_DATA``, or ``shared/data`` beside the checkout (the
folder ``../shared/data`` seen from the repository root). It holds::

    <data_dir>/
        im2gps237/photos.csv        image,lat,lon,author,license,scene
        im2gps237/images/*.jpg
        im2gps2k/photos.csv         image,lat,lon,author,license
        im2gps2k/images/*.jpg
        coords/mp16_100k.csv        lat,lon

``image`` paths in ``photos.csv`` are relative to the CSV's folder (absolute
paths work too). Any other folder ``<data_dir>/<name>/photos.csv`` loads by
its name as well, and :func:`load` also takes a folder or manifest path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from im2gps.photos import PhotoCollection

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "DatasetInfo",
    "DatasetNotFoundError",
    "default_data_dir",
    "find_data_dir",
    "load",
    "mp16_coords",
    "names",
    "status",
]

#: Environment variable naming the data folder.
ENV_VAR = "IM2GPS_DATA"

_IM2GPS_PAGE = "http://graphics.cs.cmu.edu/projects/im2gps/"
_MP16_FILE = Path("coords") / "mp16_100k.csv"


@dataclass(frozen=True)
class DatasetInfo:
    """A named data set: its size, role, paper, metadata format and where to get it.

    Attributes
    ----------
    name : str
        The name it loads by, and the folder ``<data_dir>/<name>/`` it lives in.
    size : int
        Photos in the published set.
    role : str
        ``"test set"`` or ``"retrieval database"``.
    source : str
        Where people get it (no download happens here).
    paper : str
        Who published it.
    metadata : tuple of str
        Metadata files looked for in its folder, in order: ``photos.csv``
        (``image,lat,lon,...``), or the file in the shape its source publishes.
    layout : str
        ``"manifest"``: a CSV of image paths or ids (``image,lat,lon``,
        GeoEstimation's ``IMG_ID,AUTHOR,LAT,LON,...``) with the images in
        ``images/``; ``"osv5m"``: OpenStreetView-5M's ``test.csv``
        (``id,latitude,longitude,...``) with the images in zips under
        ``images/test/``.
    public : bool
        Whether its metadata is public (False: listed for completeness).
    """

    name: str
    size: int
    role: str
    source: str
    paper: str = ""
    metadata: tuple[str, ...] = ("photos.csv",)
    layout: str = "manifest"
    public: bool = True


_GEOESTIMATION = "TIBHannover/GeoEstimation's metadata CSVs (IMG_ID,AUTHOR,LAT,LON,...)"

#: The named photo sets: the field's standard test sets and the shared database.
DATASETS: dict[str, DatasetInfo] = {
    "im2gps237": DatasetInfo(
        "im2gps237", 237, "test set",
        f"the im2gps test set (237 photos) from Hays & Efros' project page {_IM2GPS_PAGE}; "
        "the scene column (indoor/natural/urban) from TIBHannover/GeoEstimation's metadata",
        "J. Hays, A. A. Efros, CVPR 2008",
        ("photos.csv", "im2gps_places365.csv"),
    ),
    "im2gps2k": DatasetInfo(
        "im2gps2k", 1685, "retrieval database",
        f"the '2k random' im2gps photo set from Hays & Efros' project page {_IM2GPS_PAGE}, "
        "minus every photo whose photographer also appears in im2gps237",
        "J. Hays, A. A. Efros, CVPR 2008",
    ),
    "im2gps3k": DatasetInfo(
        "im2gps3k", 2997, "test set",
        f"photos from Vo, Jacobs and Hays' 'Revisiting IM2GPS' release; metadata as in "
        f"{_GEOESTIMATION}: im2gps3k_places365.csv, images in images/",
        "N. Vo, N. Jacobs, J. Hays, ICCV 2017",
        ("photos.csv", "im2gps3k_places365.csv"),
    ),
    "yfcc4k": DatasetInfo(
        "yfcc4k", 4536, "test set",
        "YFCC100M photos selected by Vo, Jacobs and Hays ('Revisiting IM2GPS'); metadata as "
        "a CSV of IMG_ID,LAT,LON (yfcc4k_places365.csv or yfcc4k.csv), images in images/",
        "N. Vo, N. Jacobs, J. Hays, ICCV 2017",
        ("photos.csv", "yfcc4k_places365.csv", "yfcc4k.csv"),
    ),
    "yfcc26k": DatasetInfo(
        "yfcc26k", 25600, "test set",
        f"YFCC100M validation photos of Mueller-Budack et al.; {_GEOESTIMATION}: "
        "yfcc25600_places365.csv, images in images/",
        "E. Mueller-Budack, K. Pustu-Iren, R. Ewerth, ECCV 2018",
        ("photos.csv", "yfcc25600_places365.csv"),
    ),
    "gws15k": DatasetInfo(
        "gws15k", 15000, "test set",
        "Google World Streets 15k (Clark et al.): its metadata and images have not been "
        "published; a copy laid out as photos.csv + images/ loads by this name",
        "B. Clark, A. Kerrigan, et al., 2023",
        public=False,
    ),
    "osv5m": DatasetInfo(
        "osv5m", 210122, "test set",
        "the OpenStreetView-5M test split (Hugging Face dataset osv5m/osv5m): test.csv and "
        "images/test/*.zip, as published (the zips are read in place)",
        "G. Astruc, N. Dufour, et al., CVPR 2024",
        ("photos.csv", "test.csv"), layout="osv5m",
    ),
}


class DatasetNotFoundError(FileNotFoundError):
    """The data folder or a data set in it is missing; the message says what to get."""


def names() -> list[str]:
    """Names of the known photo sets."""
    return list(DATASETS)


def default_data_dir() -> Path:
    """``shared/data`` beside the checkout: ``<repo>/../shared/data``."""
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def _hint(data_dir: Path | None = None) -> str:
    where = str(data_dir) if data_dir is not None else f"${ENV_VAR} or {default_data_dir()}"
    lines = [
        f"Put the data in {where} (or give --data DIR, data_dir=... from Python, or set "
        f"${ENV_VAR}), laid out as",
        "  <dir>/<name>/photos.csv   columns image,lat,lon[,author,license,scene];"
        " image paths relative to the CSV",
        "  <dir>/<name>/images/      the photos",
        "  <dir>/coords/mp16_100k.csv   columns lat,lon",
        "Where to get it:",
    ]
    lines += [f"  {info.name}: {info.source}" for info in DATASETS.values()]
    lines.append(
        "  coords/mp16_100k.csv: GeoCLIP's GPS gallery (MIT licence; 100,000 MP-16 coordinates),"
        " geoclip/model/gps_gallery/coordinates_100K.csv in the VicenteVivan/geo-clip"
        " repository on GitHub (LAT,LON or lat,lon header)"
    )
    return "\n".join(lines)


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: ``data_dir``, else ``$IM2GPS_DATA``, else ``../shared/data``.

    Parameters
    ----------
    data_dir : str or Path, optional
        An explicit folder; it wins over everything else.

    Returns
    -------
    Path
        The folder, resolved.

    Raises
    ------
    DatasetNotFoundError
        If the chosen folder does not exist; the message names it and says
        what to download and how to lay it out. An explicit folder or
        ``$IM2GPS_DATA`` that does not exist is an error, never skipped.
    """
    if data_dir is not None:
        chosen, how = Path(data_dir), "data_dir"
    elif os.environ.get(ENV_VAR):
        chosen, how = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        chosen, how = default_data_dir(), "the default data folder"
    chosen = chosen.expanduser()
    if not chosen.is_dir():
        raise DatasetNotFoundError(
            f"{chosen}: no such data folder ({how}).\n{_hint(chosen)}"
        )
    return chosen.resolve()


def load(
    name_or_path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    check_files: bool = True,
) -> PhotoCollection:
    """A photo collection by name, or from a folder or CSV manifest path.

    Parameters
    ----------
    name_or_path : str or Path
        A data set name (``"im2gps237"``, ``"im2gps2k"`` or any
        ``<data_dir>/<name>/photos.csv``), a folder (its ``photos.csv`` if it
        has one, else its photos' EXIF GPS tags) or a ``.csv`` manifest.
    data_dir : str or Path, optional
        The data folder for names (see :func:`find_data_dir`).
    check_files : bool, optional
        Skip and report manifest rows whose image file is missing.

    Returns
    -------
    PhotoCollection
        With every extra column of the manifest (``author``, ``scene``, ...).

    Raises
    ------
    DatasetNotFoundError
        If a name is not in the data folder, or the path does not exist.
    """
    text = os.fspath(name_or_path)
    path = Path(text)
    bare_name = path.name == text and path.suffix.lower() != ".csv"
    if text in DATASETS or (bare_name and not path.exists()):
        folder = find_data_dir(data_dir) / text
        info = DATASETS.get(text, DatasetInfo(text, 0, "", "", metadata=("photos.csv",)))
        manifest = _metadata_file(folder, info)
        if manifest is None:
            raise DatasetNotFoundError(
                f"{folder / info.metadata[0]}: data set {text!r} not found (known names: "
                f"{', '.join(names())}).\n{_hint(folder.parent)}"
            )
        return _read_suite(folder, manifest, info, check_files)
    if not path.exists():
        raise DatasetNotFoundError(f"{path}: no such folder or CSV manifest")
    if path.is_dir() and (path / "photos.csv").is_file():
        return PhotoCollection.from_csv(path / "photos.csv", check_files=check_files)
    return PhotoCollection.open(path) if path.is_dir() else PhotoCollection.from_csv(
        path, check_files=check_files)


def _metadata_file(folder: Path, info: DatasetInfo) -> Path | None:
    """The first of the suite's metadata files present in its folder."""
    return next((folder / name for name in info.metadata if (folder / name).is_file()), None)


def _read_suite(folder: Path, manifest: Path, info: DatasetInfo,
                check_files: bool) -> PhotoCollection:
    """A suite read as its source publishes it (see :class:`DatasetInfo` ``layout``)."""
    if manifest.name == "photos.csv":
        return PhotoCollection.from_csv(manifest, check_files=check_files)
    if info.layout == "osv5m":
        images = folder / "images" / "test"
        if not images.is_dir():
            images = folder / "images"
        return PhotoCollection.from_containers(images, coords=manifest)
    images = folder / "images" if (folder / "images").is_dir() else folder
    return PhotoCollection.from_csv(manifest, check_files=check_files, images=images)


def _images_found(folder: Path) -> int | None:
    """Image files under ``folder/images`` (None when they sit in zip archives)."""
    images = folder / "images"
    if not images.is_dir():
        return 0
    files = [p for p in images.rglob("*") if p.is_file()]
    if any(p.suffix.lower() == ".zip" for p in files):
        return None
    return sum(1 for p in files if not p.name.startswith("."))


def status(data_dir: str | os.PathLike | None = None) -> list[dict[str, object]]:
    """What each known suite is and whether it is on disk (nothing is downloaded).

    Returns
    -------
    list of dict
        Per suite: ``name, role, photos (published size), paper, public,
        present, complete, metadata`` (the file found, or None), ``listed``
        (rows of its metadata, None when absent), ``images_found`` (image files
        in its ``images/`` folder, None where they are in zip archives) and
        ``source`` (where to get it). ``complete``: as many photos listed as
        published, and at least as many image files as listed.
    """
    try:
        root: Path | None = find_data_dir(data_dir)
    except DatasetNotFoundError:
        root = None
    rows = []
    for info in DATASETS.values():
        folder = root / info.name if root is not None else None
        manifest = _metadata_file(folder, info) if folder is not None else None
        listed = None
        if manifest is not None:
            with open(manifest, "rb") as handle:
                listed = max(0, sum(1 for line in handle if line.strip()) - 1)
        found = _images_found(folder) if folder is not None else 0
        complete = listed is not None and listed >= info.size and (
            found is None or found >= listed)
        rows.append({"name": info.name, "role": info.role, "photos": info.size,
                     "paper": info.paper, "public": info.public,
                     "present": manifest is not None and (found is None or found > 0),
                     "complete": bool(complete),
                     "metadata": None if manifest is None else str(manifest),
                     "listed": listed, "images_found": found, "source": info.source})
    return rows


def mp16_coords(data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 100,000 MP-16 photo coordinates of ``coords/mp16_100k.csv``.

    Parameters
    ----------
    data_dir : str or Path, optional
        The data folder (see :func:`find_data_dir`).

    Returns
    -------
    (lat, lon) : tuple of numpy.ndarray
        float64 degrees.

    Raises
    ------
    DatasetNotFoundError
        If the file is missing.
    ValueError
        If it has no lat/lon columns (any letter case).
    """
    folder = find_data_dir(data_dir)
    path = folder / _MP16_FILE
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: MP-16 coordinates not found.\n{_hint(folder)}")
    frame = pd.read_csv(path)
    columns = {c.strip().lower(): c for c in frame.columns}
    if "lat" not in columns or "lon" not in columns:
        raise ValueError(f"{path}: expected lat,lon columns, found {list(frame.columns)}")
    return (frame[columns["lat"]].to_numpy(np.float64),
            frame[columns["lon"]].to_numpy(np.float64))

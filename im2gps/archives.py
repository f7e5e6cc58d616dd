"""Photos inside the containers that large databases are published in, read in place.

Three containers, as their sources distribute them:

* **msgpack shards** (GeoEstimation's MP-16, Müller-Budack et al. 2018):
  files ``shard_<n>.msg``, each a stream of msgpack maps ``{"id": ..., "image":
  JPEG bytes}``, with the coordinates in a separate CSV keyed by id
  (GeoEstimation's ``IMG_ID,AUTHOR,LAT,LON,...``).
* **WebDataset tar shards**: ``NNNNNN.jpg`` beside ``NNNNNN.json`` holding
  ``lat``/``lon`` (or ``latitude``/``longitude``), one sample per key.
* **zip archives** (OpenStreetView-5M, Astruc et al. 2024): images named by
  their id inside ``images/<split>/NN.zip``, coordinates in the split's CSV
  (``id,latitude,longitude,...``).

A photo inside a container is named by a *member reference*,
``<container path>::<member>``; :func:`read_member` returns its bytes, and
:func:`im2gps.photos.load_image` decodes such a reference like a file, so the
extraction (local processes or a Dask cluster), its checkpoints and its
resumption work unchanged. Nothing is unpacked to loose files.

Listing a container (:func:`list_msgpack`, :func:`list_tar`,
:func:`list_zip`) reads it once in the driver: the members' names and, for
msgpack, each record's byte offset, which the reference carries
(``shard_0.msg::<id>@<offset>``) so that a worker seeks straight to its
record. A record that cannot be read is reported, never fatal.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from im2gps.errors import PhotoError

__all__ = [
    "SEPARATOR",
    "Member",
    "is_member_ref",
    "list_msgpack",
    "list_tar",
    "list_zip",
    "read_member",
    "shard_files",
]

#: Separates a container's path from the member's name in a member reference.
SEPARATOR = "::"

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic",
                   ".avif")
_CACHE_LOCK = threading.Lock()
_TAR_INDEX: dict[tuple[str, int, int], dict[str, tuple[int, int]]] = {}
_ZIP_FILES: dict[tuple[str, int, int], zipfile.ZipFile] = {}


@dataclass(frozen=True)
class Member:
    """One photo listed in a container.

    Attributes
    ----------
    ref : str
        Its member reference (``<container>::<member>``), readable with
        :func:`read_member`.
    key : str
        Its id in the container: the msgpack record's ``id``, the tar sample's
        key, the zip member's name without folder and suffix.
    sha256 : str
        SHA-256 of its bytes (its identity for duplicate detection).
    meta : dict
        What the container says about it (a WebDataset sample's JSON).
    """

    ref: str
    key: str
    sha256: str
    meta: dict


def is_member_ref(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a photo inside a container rather than a file."""
    text = os.fspath(path)
    return SEPARATOR in text and not Path(text).exists()


def _split(ref: str) -> tuple[Path, str]:
    container, _, member = ref.partition(SEPARATOR)
    return Path(container), member


def _stamp(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), int(stat.st_mtime_ns), int(stat.st_size)


def read_member(ref: str | os.PathLike) -> bytes:
    """The bytes of a photo inside a container.

    Parameters
    ----------
    ref : str
        ``<shard>.msg::<id>@<offset>``, ``<shard>.tar::<member name>`` or
        ``<archive>.zip::<member name>``.

    Returns
    -------
    bytes

    Raises
    ------
    PhotoError
        The container is missing or damaged, or holds no such member; the
        message names the reference.
    """
    ref = os.fspath(ref)
    container, member = _split(ref)
    if not container.is_file():
        raise PhotoError(ref, f"container {container} not found")
    suffix = container.suffix.lower()
    try:
        if suffix == ".msg" or suffix == ".msgpack":
            return _read_msgpack(ref, container, member)
        if suffix == ".tar":
            return _read_tar(ref, container, member)
        if suffix == ".zip":
            return _read_zip(ref, container, member)
    except PhotoError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged container raises anything
        raise PhotoError(ref, f"cannot be read from {container.name}: "
                              f"{type(err).__name__}: {err}") from None
    raise PhotoError(ref, f"unknown container type {suffix!r} (expected .msg, .tar or .zip)")


# -- msgpack --------------------------------------------------------------------
def _unpacker(handle: io.BufferedReader):
    import msgpack

    # raw=True as GeoEstimation reads them: keys and ids as bytes, images as bytes
    # whether they were packed as bin or as (old-style) raw strings.
    return msgpack.Unpacker(handle, raw=True, max_buffer_size=1 << 30)


def _record_fields(record: object) -> tuple[str, bytes]:
    """(id, image bytes) of a msgpack record; ValueError if it is not a photo record."""
    if not isinstance(record, dict):
        raise ValueError(f"record is a {type(record).__name__}, not a map")
    fields = {(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)): v
              for k, v in record.items()}
    if "image" not in fields or "id" not in fields:
        raise ValueError(f"record has keys {sorted(fields)}; expected id and image")
    key, image = fields["id"], fields["image"]
    key = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
    if not isinstance(image, bytes):
        raise ValueError(f"record {key!r}: image is a {type(image).__name__}, not bytes")
    return key, image


def _read_msgpack(ref: str, container: Path, member: str) -> bytes:
    key, _, offset = member.rpartition("@")
    if not offset.isdigit():
        raise PhotoError(ref, "msgpack member reference needs '<id>@<byte offset>'")
    with open(container, "rb") as handle:
        handle.seek(int(offset))
        unpacker = _unpacker(handle)
        try:
            record = next(unpacker)
        except StopIteration:
            raise PhotoError(ref, f"no record at byte {offset} of {container.name}") from None
    found, image = _record_fields(record)
    if found != key:
        raise PhotoError(ref, f"the record at byte {offset} is {found!r}, not {key!r} (was "
                              f"{container.name} rewritten? list the shards again)")
    return image


def list_msgpack(shard: str | os.PathLike) -> tuple[list[Member], list[tuple[str, str]]]:
    """The photo records of one msgpack shard, and what could not be read.

    Parameters
    ----------
    shard : str or Path
        A ``.msg`` file: a stream of msgpack maps with ``id`` and ``image``.

    Returns
    -------
    members : list of Member
        One per photo record, in shard order.
    problems : list of (str, str)
        ``(where, reason)`` for each record that is not a photo record, and
        for a shard cut short (the rest of it is lost, the rest of the set
        is not).
    """
    import msgpack

    shard = Path(shard)
    members, problems = [], []
    with open(shard, "rb") as handle:
        unpacker = _unpacker(handle)
        while True:
            offset = unpacker.tell()
            try:
                record = next(unpacker)
            except StopIteration:
                break
            except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError,
                    ValueError) as err:
                problems.append((f"{shard}@{offset}", f"damaged record, the rest of the "
                                 f"shard is unreadable: {type(err).__name__}: {err}"))
                break
            try:
                key, image = _record_fields(record)
            except ValueError as err:
                problems.append((f"{shard}@{offset}", f"not a photo record: {err}"))
                continue
            members.append(Member(f"{shard}{SEPARATOR}{key}@{offset}", key,
                                  hashlib.sha256(image).hexdigest(), {}))
    # a stream unpacker stops quietly at a record cut short by the end of the file
    if unpacker.tell() < shard.stat().st_size and not problems:
        problems.append((f"{shard}@{unpacker.tell()}", "truncated record at the end of the "
                                                       "shard"))
    return members, problems


# -- tar (WebDataset) -----------------------------------------------------------------
def _tar_index(container: Path) -> dict[str, tuple[int, int]]:
    stamp = _stamp(container)
    with _CACHE_LOCK:
        index = _TAR_INDEX.get(stamp)
    if index is None:
        index = {}
        with tarfile.open(container, "r:") as archive:
            try:  # a truncated shard: keep the members before the damage
                for m in archive:
                    if m.isfile():
                        index[m.name] = (m.offset_data, m.size)
            except (tarfile.TarError, OSError, EOFError):
                pass
        with _CACHE_LOCK:
            _TAR_INDEX[stamp] = index
    return index


def _read_tar(ref: str, container: Path, member: str) -> bytes:
    index = _tar_index(container)
    if member not in index:
        raise PhotoError(ref, f"no member {member!r} in {container.name}")
    offset, size = index[member]
    with open(container, "rb") as handle:
        handle.seek(offset)
        data = handle.read(size)
    if len(data) != size:
        raise PhotoError(ref, f"truncated: {len(data)} of {size} bytes in {container.name}")
    return data


def list_tar(shard: str | os.PathLike) -> tuple[list[Member], list[tuple[str, str]]]:
    """The samples of one WebDataset tar shard (an image and its ``.json``).

    Returns
    -------
    members : list of Member
        One per sample with an image, in shard order; ``meta`` holds the
        sample's JSON (empty if it has none or it is not a JSON object).
    problems : list of (str, str)
        Unreadable JSON, and a damaged or truncated shard.
    """
    shard = Path(shard)
    size = shard.stat().st_size
    samples: dict[str, dict[str, tarfile.TarInfo]] = {}
    problems: list[tuple[str, str]] = []
    members: list[Member] = []
    try:
        with tarfile.open(shard, "r:") as archive:
            try:
                for info in archive:
                    if not info.isfile():
                        continue
                    name = info.name
                    stem, dot, suffix = Path(name).name.partition(".")
                    key = str(Path(name).parent / stem) if Path(name).parent != Path(".") \
                        else stem
                    samples.setdefault(key, {})["." + suffix.lower() if dot else ""] = info
            except (tarfile.TarError, OSError, EOFError) as err:
                problems.append((str(shard), f"damaged tar shard, later samples lost: {err}"))
            for key, parts in samples.items():
                image_info = next((parts[s] for s in parts if s in _IMAGE_SUFFIXES), None)
                if image_info is not None and image_info.offset_data + image_info.size > size:
                    problems.append((f"{shard}{SEPARATOR}{image_info.name}",
                                     "cut short by the end of the shard"))
                    continue
                if image_info is None:
                    problems.append((f"{shard}{SEPARATOR}{key}", "sample has no image member "
                                     f"(found {sorted(parts)})"))
                    continue
                meta: dict = {}
                if ".json" in parts:
                    try:
                        loaded = json.loads(archive.extractfile(parts[".json"]).read())
                        meta = loaded if isinstance(loaded, dict) else {}
                    except (ValueError, OSError, tarfile.TarError) as err:
                        problems.append((f"{shard}{SEPARATOR}{parts['.json'].name}",
                                         f"unreadable JSON: {err}"))
                try:
                    data = archive.extractfile(image_info).read()
                except (OSError, tarfile.TarError) as err:
                    problems.append((f"{shard}{SEPARATOR}{image_info.name}",
                                     f"cannot be read: {err}"))
                    continue
                members.append(Member(f"{shard}{SEPARATOR}{image_info.name}", key,
                                      hashlib.sha256(data).hexdigest(), meta))
    except (tarfile.TarError, OSError) as err:
        problems.append((str(shard), f"not a readable tar file: {err}"))
    return members, problems


# -- zip (OpenStreetView-5M) -----------------------------------------------------------
def _zip_file(container: Path) -> zipfile.ZipFile:
    stamp = _stamp(container)
    with _CACHE_LOCK:
        archive = _ZIP_FILES.get(stamp)
        if archive is None:
            archive = zipfile.ZipFile(container)
            _ZIP_FILES[stamp] = archive
    return archive


def _read_zip(ref: str, container: Path, member: str) -> bytes:
    archive = _zip_file(container)
    try:
        with _CACHE_LOCK:  # one ZipFile shared by threads: reads one at a time
            return archive.read(member)
    except KeyError:
        raise PhotoError(ref, f"no member {member!r} in {container.name}") from None


def list_zip(archive_path: str | os.PathLike) -> tuple[list[Member], list[tuple[str, str]]]:
    """The images of one zip archive, keyed by file name without folder and suffix.

    Returns
    -------
    members : list of Member
        One per image member, in archive order.
    problems : list of (str, str)
        Members that cannot be read (bad CRC, ...) and an unreadable archive.
    """
    archive_path = Path(archive_path)
    members, problems = [], []
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for info in archive.infolist():
                if info.is_dir() or Path(info.filename).suffix.lower() not in _IMAGE_SUFFIXES:
                    continue
                try:
                    data = archive.read(info)
                except (zipfile.BadZipFile, OSError, ValueError) as err:
                    problems.append((f"{archive_path}{SEPARATOR}{info.filename}",
                                     f"cannot be read: {err}"))
                    continue
                members.append(Member(f"{archive_path}{SEPARATOR}{info.filename}",
                                      Path(info.filename).stem,
                                      hashlib.sha256(data).hexdigest(), {}))
    except (zipfile.BadZipFile, OSError) as err:
        problems.append((str(archive_path), f"not a readable zip archive: {err}"))
    return members, problems


def _natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def shard_files(path: str | os.PathLike, suffixes: tuple[str, ...]) -> list[Path]:
    """Container files with one of ``suffixes`` in a folder (natural order) or ``path`` itself."""
    path = Path(path)
    if path.is_file():
        return [path] if path.suffix.lower() in suffixes else []
    return sorted((p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                   and not p.name.startswith(".")), key=lambda p: (str(p.parent), _natural(p)))


def iter_members(containers: list[Path], lister) -> Iterator[tuple[Path, list[Member],
                                                                   list[tuple[str, str]]]]:
    """``(container, members, problems)`` for each container, listed by ``lister``."""
    for container in containers:
        members, problems = lister(container)
        yield container, members, problems

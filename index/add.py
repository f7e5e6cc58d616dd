"""Adding photos to an existing index directory, atomically and resumably.

:func:`add_photos` extracts the new photos' features with the index's own
(fitted) extractors, appends them to the feature matrices, the photo table and
the FAISS index, and replaces the directory only when the new one is complete:
an interrupted ``add`` leaves the old index intact and resumes its extraction
from ``<index>.adding/`` when run again.

Notes
-----
The per-feature scales of the combined distance are kept from the original
build, so that old and new vectors stay comparable; rebuild the index to
re-measure them on the grown database. A compressed FAISS index keeps its
trained quantizers, which were trained on the original photos. Its 8-bit
re-ranking codes keep their learned per-dimension ranges too (new values
beyond them are clipped, and re-rank less exactly): a warning gives the share
of added photos with such values, and when it exceeds :data:`REFIT_SHARE` the
ranges are learned again on the grown database and every row re-coded.
The whole index is verified (every byte) before photos are added.
The feature matrices are concatenated in memory.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from im2gps.atomic import swap_into_place
from im2gps.index import ann
from im2gps.index.build import SQ8_SAMPLE, write_manifest
from im2gps.index.extract import extract_features
from im2gps.index.rerank import CompactWriter, train_sq8
from im2gps.index.store import GeoIndex
from im2gps.photos import MAX_PIXELS, PhotoCollection, Skipped, skipped_table

__all__ = ["ALREADY", "REFIT_SHARE", "NothingToAdd", "add_photos", "outside_share"]

#: Share of added photos with values outside the 8-bit re-ranking ranges above which
#: the ranges are learned again (and every row re-coded) instead of kept.
REFIT_SHARE = 0.25
#: Rows re-coded at a time when the ranges are learned again.
RECODE_ROWS = 65_536


def outside_share(vectors: np.ndarray, trained: np.ndarray) -> float:
    """Share of rows with a value outside the sq8 ranges ``trained`` (``(2, d)``: min, range).

    Parameters
    ----------
    vectors : numpy.ndarray
        ``(n, d)`` combined vectors.
    trained : numpy.ndarray
        The sq8 parameters (see :func:`im2gps.index.rerank.train_sq8`).
    """
    if len(vectors) == 0:
        return 0.0
    low, span = np.asarray(trained[0]), np.asarray(trained[1])
    slack = 1e-6 * np.maximum(span, 1e-12)  # float rounding at the range's ends
    outside = ((vectors < low - slack) | (vectors > low + span + slack)).any(axis=1)
    return float(outside.mean())


#: How the reasons of photos skipped as already indexed begin.
ALREADY = ("already indexed as", "same photo as", "already in the index")


class NothingToAdd(ValueError):
    """No photo of the collection was new (or none could be used); the index is unchanged.

    Attributes
    ----------
    skipped : list of Skipped
        Every photo of the collection, with why it was not added.
    """

    def __init__(self, message: str, skipped: list[Skipped]) -> None:
        super().__init__(message)
        self.skipped = skipped


def _unique_ids(new: pd.DataFrame, existing: set[str], source: str) -> list[str]:
    """New photos' ids, made unique against the index's by prefixing their folder's name.

    ``IMG_0001.jpg`` of a second trip becomes ``trip2/IMG_0001.jpg`` (then
    ``trip2~2/IMG_0001.jpg``, ...) when the index already holds an
    ``IMG_0001.jpg``: the two are different photos (identical content is
    skipped before this).
    """
    source_path = Path(source)
    prefix = (source_path.parent if source_path.suffix.lower() == ".csv" else source_path).name
    taken = set(existing)
    ids = []
    for photo_id in new["id"].astype(str):
        candidate, n = photo_id, 1
        while candidate in taken:
            n += 1
            candidate = f"{prefix or 'added'}{'' if n == 2 else f'~{n - 1}'}/{photo_id}"
        taken.add(candidate)
        ids.append(candidate)
    return ids


def add_photos(
    index_dir: str | os.PathLike,
    photos: PhotoCollection | str | os.PathLike,
    jobs: int = 1,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
    coords: str | os.PathLike | None = None,
) -> GeoIndex:
    """Add geotagged photos to an index directory.

    Parameters
    ----------
    index_dir : str or Path
        An index written by :func:`~im2gps.index.build_index`.
    photos : PhotoCollection or str or Path
        The new photos (a collection, a folder with EXIF GPS, or a CSV
        manifest). A photo whose content is already in the index (the same
        file from another folder, or a copy) is skipped and reported naming
        the indexed id; a new photo whose id (relative path) is taken gets
        its folder's name in front (``trip2/IMG_0001.jpg``).
    jobs : int, optional
        Worker processes for feature extraction.
    progress : bool, optional
        Show a progress bar.
    max_pixels : int, optional
        Pixel limit of a photo.
    coords : str or Path, optional
        CSV of coordinates by photo id, for containers (as for
        :func:`~im2gps.index.build_index`).

    Returns
    -------
    GeoIndex
        The grown index; its manifest's last ``additions`` entry counts the
        photos added and skipped by this call.

    Raises
    ------
    NothingToAdd
        If no photo is new or none could be decoded (the index is left as it
        was); its ``skipped`` lists why, photo by photo.
    """
    out = Path(index_dir).resolve()
    index = GeoIndex.load(out)
    index.verify()  # every byte, before anything is built on it
    index._verified.update(index.feature_names)
    collection = photos if isinstance(photos, PhotoCollection) else PhotoCollection.open(
        photos, max_pixels=max_pixels, coords=coords)
    known_paths = set(index.photos["image"])
    if "sha256" not in index.photos:  # an index built before content hashes: by path
        fresh = [i for i, path in enumerate(collection.paths) if path not in known_paths]
        skipped_paths = [Skipped(path, "already in the index (same file)")
                         for path in collection.paths if path in known_paths]
        collection = collection.subset(fresh).with_skipped(
            collection.skipped + skipped_paths)
    collection = collection.deduplicated(known=index.photos)
    skipped = list(collection.skipped)
    new_rows = list(range(len(collection)))
    if not new_rows:
        raise NothingToAdd(f"{collection.source}: no new photos for {out} "
                           f"({len(skipped)} skipped)", skipped)
    new = collection.subset(new_rows)
    work = out.with_name(out.name + ".adding")
    new.table["id"] = _unique_ids(new.table, set(index.photos["id"].astype(str)),
                                  collection.source)
    feature_set = extract_features(new, index.extractors, work, jobs=jobs, progress=progress,
                                   max_pixels=max_pixels)
    if not feature_set.ok.any():
        raise NothingToAdd(f"{collection.source}: none of the new photos could be decoded",
                           skipped + feature_set.skipped)
    skipped += feature_set.skipped
    added = {name: feature_set.matrices[name] for name in index.feature_names}

    tmp = work / "index"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "features").mkdir(parents=True)
    shutil.copytree(out / "extractors", tmp / "extractors")
    for name in index.feature_names:
        matrix = np.concatenate([np.asarray(index.features(name)), added[name]])
        np.save(tmp / "features" / f"{name}.npy", matrix, allow_pickle=False)
    table = pd.concat([index.photos, new.table[feature_set.ok]], ignore_index=True)
    table.to_parquet(tmp / "photos.parquet", index=False)
    vectors = index.embed(added)
    faiss_index = faiss.read_index(str(out / "faiss.index"))
    faiss_index.add(vectors)
    faiss.write_index(faiss_index, str(tmp / "faiss.index"))
    rerank = index.manifest.get("rerank")
    if rerank:
        trained = index._compact.trained
        share = outside_share(vectors, trained) if rerank["dtype"] == "sq8" else 0.0
        if share > REFIT_SHARE:  # new ranges over the grown database; every row re-coded
            print(f"im2gps: {share:.0%} of the added photos have values outside the 8-bit "
                  "re-ranking ranges learned at build; learning them again and re-coding "
                  f"all {len(table):,} photos", file=sys.stderr)
            full = {name: np.load(tmp / "features" / f"{name}.npy", mmap_mode="r")
                    for name in index.feature_names}
            rows = ann.training_rows(len(table), SQ8_SAMPLE, int(index.manifest.get("seed", 0)))
            trained = train_sq8(index.embed({name: np.asarray(m[rows])
                                             for name, m in full.items()}))
            writer = CompactWriter(tmp / "rerank", len(table), rerank["dim"], rerank["dtype"],
                                   trained)
            for start in range(0, len(table), RECODE_ROWS):
                writer.add(index.embed({name: np.asarray(m[start:start + RECODE_ROWS])
                                        for name, m in full.items()}))
            del full
        else:  # old rows keep their codes; new ones are coded with the same quantizer
            if share > 0:
                warnings.warn(
                    f"{out}: {share:.0%} of the added photos have values outside the 8-bit "
                    "re-ranking ranges learned at build (clipped: they re-rank less "
                    "exactly); rebuild the index to learn them on every photo",
                    RuntimeWarning, stacklevel=2)
            writer = CompactWriter(tmp / "rerank", len(table), rerank["dim"], rerank["dtype"],
                                   trained)
            writer.add_codes(index._compact.codes)
            writer.add(vectors)
        rerank = writer.close()
    old_skipped = pd.read_csv(out / "skipped.csv", dtype=str, keep_default_na=False)
    new_skipped = skipped_table(skipped)
    pd.concat([old_skipped, new_skipped], ignore_index=True).to_csv(tmp / "skipped.csv",
                                                                     index=False)

    manifest = json.loads(json.dumps(index.manifest))
    manifest.pop("files", None)
    if rerank:
        manifest["rerank"] = rerank
    manifest["counts"] = {"photos": len(table),
                          "skipped": len(old_skipped) + len(new_skipped)}
    manifest["index"]["ntotal"] = int(faiss_index.ntotal)
    manifest["additions"] = [*manifest.get("additions", []),
                             {"source": collection.source, "photos": int(feature_set.ok.sum()),
                              "skipped": len(skipped),
                              "already_indexed": sum(s.reason.startswith(ALREADY)
                                                     for s in skipped)}]
    write_manifest(tmp, manifest)
    sift = _local_extractor(out)  # read before the old directory is replaced
    swap_into_place(tmp, out)
    shutil.rmtree(work, ignore_errors=True)
    grown = GeoIndex.load(out, verify=False)
    if sift is not None:
        # Local features (index build --local-features) are rows of the photo table:
        # extracted again for the grown index, with the same settings, never dropped.
        from im2gps.index.local import add_local_features

        add_local_features(grown, sift, jobs=jobs, progress=progress)
    return grown


def _local_extractor(index_dir: Path):
    """The RootSIFT settings of an index's local features, or None when it has none."""
    from im2gps.index.local import LOCAL_DIR

    if not (index_dir / LOCAL_DIR / "local.json").is_file():
        return None
    from im2gps.features.sift import LocalFeatureSet

    return LocalFeatureSet.load(index_dir / LOCAL_DIR).extractor()

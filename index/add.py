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
trained quantizers, which were trained on the original photos, and so do
its 8-bit re-ranking codes (new vectors beyond the learned range are
clipped). The whole index is verified (every byte) before photos are added.
The feature matrices are concatenated in memory.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from im2gps.index.build import swap_into_place, write_manifest
from im2gps.index.extract import extract_features
from im2gps.index.rerank import CompactWriter
from im2gps.index.store import GeoIndex
from im2gps.photos import PhotoCollection, Skipped, skipped_table

__all__ = ["add_photos"]


def add_photos(
    index_dir: str | os.PathLike,
    photos: PhotoCollection | str | os.PathLike,
    jobs: int = 1,
    progress: bool = True,
) -> GeoIndex:
    """Add geotagged photos to an index directory.

    Parameters
    ----------
    index_dir : str or Path
        An index written by :func:`~im2gps.index.build_index`.
    photos : PhotoCollection or str or Path
        The new photos (a collection, a folder with EXIF GPS, or a CSV manifest).
        Photos whose image path is already in the index are skipped.
    jobs : int, optional
        Worker processes for feature extraction.
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    GeoIndex
        The grown index.

    Raises
    ------
    ValueError
        If no photo is new or none could be decoded (the index is left as it was).
    """
    out = Path(index_dir).resolve()
    index = GeoIndex.load(out)
    index.verify()  # every byte, before anything is built on it
    index._verified.update(index.feature_names)
    collection = photos if isinstance(photos, PhotoCollection) else PhotoCollection.open(photos)
    known = set(index.photos["image"])
    new_rows = [i for i, path in enumerate(collection.paths) if path not in known]
    skipped = list(collection.skipped) + [
        Skipped(path, "already in the index") for path in collection.paths if path in known]
    if not new_rows:
        raise ValueError(f"{collection.source}: no new photos for {out} "
                         f"({len(skipped)} skipped)")
    new = collection.subset(new_rows)
    work = out.with_name(out.name + ".adding")
    feature_set = extract_features(new, index.extractors, work, jobs=jobs, progress=progress)
    if not feature_set.ok.any():
        raise ValueError(f"{collection.source}: none of the new photos could be decoded")
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
    if rerank:  # old rows keep their codes; new ones are coded with the same quantizer
        writer = CompactWriter(tmp / "rerank", len(table), rerank["dim"], rerank["dtype"],
                               index._compact.trained)
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
                              "skipped": len(skipped)}]
    write_manifest(tmp, manifest)
    swap_into_place(tmp, out)
    shutil.rmtree(work, ignore_errors=True)
    return GeoIndex.load(out, verify=False)

"""Geometric verification: time per query, descriptor storage, and the keypoint cap.

For each keypoint cap in ``--caps`` (RootSIFT, photos at most 640 px):

* **time**: ``--queries`` im2gps237 photos (seeded), each verified against a
  short list of 20 im2gps2k photos (seeded random: the cost depends on the
  keypoint counts, not on which photos), with
  :func:`im2gps.verify.verify_short_lists` on one core (OpenCV and FAISS
  one thread). Target: under 0.5 s per query. RootSIFT extraction per photo
  is timed too.
* **storage**: bytes of keypoints and descriptors per photo over
  ``--database`` im2gps2k photos, and on disk with offsets and shapes.
  Budget: 64 KB per photo.
* **discrimination**: the most inliers any of the unrelated query / short
  list pairs reaches (chance matches), and the share of *other views* of 30
  database photos (perspective change, zoom, exposure, JPEG re-encoding, as
  in ``tests/test_verify.py``) that the default :class:`~im2gps.verify.Verifier`
  verifies: what a larger cap buys.

Results go to ``benchmarks/results/verification_speed.{json,md}``.

Run: ``python benchmarks/verification_speed.py [--caps 200 300 400 470]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import cv2
import faiss
import numpy as np
import pandas as pd

from im2gps.features.sift import BYTES_PER_KEYPOINT, RootSIFT
from im2gps.photos import load_image
from im2gps.verify import Verifier, verify_pair, verify_short_lists

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"


def other_view(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A perspective-changed, re-exposed, JPEG re-encoded view of a photo."""
    h, w = image.shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = corners + rng.uniform(-0.12, 0.12, (4, 2)).astype(np.float32) * [w, h]
    out = cv2.warpPerspective(image, cv2.getPerspectiveTransform(corners, moved.astype(
        np.float32)), (w, h), borderMode=cv2.BORDER_REFLECT)
    out = cv2.convertScaleAbs(out, alpha=0.85, beta=25)
    _, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--caps", type=int, nargs="+", default=[200, 300, 400, 470])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--database", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    db = pd.read_csv(DATA / "im2gps2k" / "photos.csv")
    test = pd.read_csv(DATA / "im2gps237" / "photos.csv")
    db_rows = np.sort(rng.choice(len(db), args.database, replace=False))
    q_rows = np.sort(rng.choice(len(test), args.queries, replace=False))
    db_images = [load_image(DATA / "im2gps2k" / db.image[i]) for i in db_rows]
    q_images = [load_image(DATA / "im2gps237" / test.image[i]) for i in q_rows]
    short = np.stack([rng.choice(len(db_rows), 20, replace=False) for _ in q_rows])
    view_rows = rng.choice(len(db_rows), 30, replace=False)
    views = [other_view(db_images[i], rng) for i in view_rows]
    records = []
    for cap in args.caps:
        sift = RootSIFT(max_keypoints=cap)
        clock = time.perf_counter()
        database = sift.detect_many(db_images)
        extract_ms = 1000 * (time.perf_counter() - clock) / len(db_images)
        queries = sift.detect_many(q_images)
        clock = time.perf_counter()
        scores = verify_short_lists(queries, database, short)
        per_query = (time.perf_counter() - clock) / len(q_rows)
        with tempfile.TemporaryDirectory() as tmp:
            database.save(tmp)
            disk = sum(p.stat().st_size for p in Path(tmp).glob("*.npy")) / len(database)
        verifier = Verifier()
        verified_views = 0
        view_inliers = []
        for k, i in enumerate(view_rows):
            g = verify_pair(sift.detect(views[k]), database[int(i)])
            view_inliers.append(g.inliers)
            verified_views += bool(verifier.verified(g.inliers, g.inlier_ratio, g.spread))
        chance = verifier.verified(scores["inliers"], scores["inlier_ratio"], scores["spread"])
        record = {
            "max_keypoints": cap,
            "mean_keypoints": float(database.counts.mean()),
            "bytes_per_photo": database.bytes_per_photo(),
            "disk_bytes_per_photo": disk,
            "extract_ms_per_photo": extract_ms,
            "verify_s_per_query_20": per_query,
            "chance_max_inliers": int(scores["inliers"].max()),
            "chance_pairs_verified": int(chance.sum()),
            "chance_pairs": int(scores["inliers"].size),
            "other_views_verified": verified_views / len(view_rows),
            "other_views_median_inliers": float(np.median(view_inliers)),
        }
        records.append(record)
        print(record, flush=True)
    document = {
        "what": "RootSIFT + ratio test + MAGSAC++ homography; short list of 20 per query, "
                "one core, photos <= 640 px",
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "opencv": cv2.__version__},
        "queries": args.queries, "database_photos": args.database, "seed": args.seed,
        "bytes_per_keypoint": BYTES_PER_KEYPOINT,
        "default_cap": RootSIFT().max_keypoints,
        "verifier": Verifier().to_dict(),
        "results": records,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "verification_speed.json").write_text(json.dumps(document, indent=2))
    lines = [
        "# Geometric verification: speed, storage, keypoint cap", "",
        "Command: `python benchmarks/verification_speed.py` "
        f"({args.queries} im2gps237 queries x 20 im2gps2k photos each, one core, "
        f"{args.database} database photos for storage).", "",
        "| cap | mean kp | KB/photo | KB/photo on disk | extract ms/photo | verify s/query (20) "
        "| chance max inliers | chance pairs verified | other views verified | "
        "other views median inliers |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        lines.append(
            f"| {r['max_keypoints']} | {r['mean_keypoints']:.0f} | "
            f"{r['bytes_per_photo'] / 1024:.1f} | {r['disk_bytes_per_photo'] / 1024:.1f} | "
            f"{r['extract_ms_per_photo']:.0f} | {r['verify_s_per_query_20']:.3f} | "
            f"{r['chance_max_inliers']} | {r['chance_pairs_verified']}/{r['chance_pairs']} | "
            f"{100 * r['other_views_verified']:.0f} % | {r['other_views_median_inliers']:.0f} |")
    lines += ["", f"Default cap: {RootSIFT().max_keypoints} keypoints "
              f"({BYTES_PER_KEYPOINT} bytes each); verifier `{Verifier().to_dict()}`.", ""]
    (RESULTS / "verification_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""The ``im2gps`` command line: a thin layer over the Python API.

Commands::

    im2gps index build PHOTOS --out DIR [--features ...] [--jobs N] [--index-type F]
    im2gps index add DIR PHOTOS [--jobs N]
    im2gps index info DIR [--json]
    im2gps index verify DIR [--json]
    im2gps locate INDEX IMAGE... [--json] [--k K] [--vote meanshift|1nn|kde]
    im2gps locate MODEL --album DIR|CSV [--album-method pooled|hmm|lstm] [--json]
    im2gps benchmark [--database DB] [--test TEST] [--locators ...] [--out DIR] [--json]
    im2gps benchmark --albums COLUMN [--database DB] [--locators ...] [--out DIR]
    im2gps partition COORDS --t-max N --t-min M --out cells.csv [--map cells.png]
    im2gps planet train PHOTOS --out DIR
    im2gps serve MODEL [MODEL...] [--port N]

Exit codes scripts can trust: 0 success; 1 some inputs failed (e.g. a photo
that could not be decoded; the others were answered); 2 wrong usage; 3 bad
input data (missing or damaged index, unreadable photo collection).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from im2gps.arguments import (
    EXIT_DATA,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    UsageError,
    bandwidth_km,
    feature_list,
    nonnegative_int,
    port_number,
    positive_float,
    positive_int,
)
from im2gps.arguments import print_json as _print_json
from im2gps.errors import PhotoError

# The default of --max-pixels (im2gps.photos.MAX_PIXELS), written here so that parsing the
# command line does not import im2gps.photos and pandas; tests/test_cli.py checks they agree.
MAX_PIXELS = 300_000_000
# The default of serve's --max-pixels (im2gps.serve.MAX_PIXELS), for the same reason.
SERVE_MAX_PIXELS = 50_000_000

__all__ = ["EXIT_DATA", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "build_parser", "main"]


def _nan_to_none(value: float) -> float | None:
    return None if value != value else float(value)  # NaN is the only value != itself


def _report_skipped(skipped: int, where: Path | str) -> int:
    """Exit code 1 when inputs were skipped, saying where they are listed."""
    if skipped:
        print(f"im2gps: {skipped} input(s) skipped; reasons in {where}", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


# -- index ------------------------------------------------------------------
def cmd_index_build(args: argparse.Namespace) -> int:
    from im2gps.index import build_index

    index = build_index(
        args.photos, args.out, features=args.features, index_type=args.index_type,
        jobs=args.jobs, fit_sample=args.fit_sample, seed=args.seed,
        overwrite=args.overwrite, progress=not args.no_progress, scheduler=args.scheduler,
        search={"nprobe": args.nprobe, "ef_search": args.ef_search, "rerank": args.rerank},
        max_pixels=args.max_pixels, coords=args.coords, rerank_dtype=args.rerank_dtype,
    )
    if args.local_features:  # RootSIFT for geometric verification, under local/sift/
        from im2gps.index.local import add_local_features

        add_local_features(index, jobs=args.jobs, progress=not args.no_progress)
    info = index.info()
    if args.json:
        _print_json(info)
    else:
        print(f"indexed {info['photos']} photos into {info['path']} "
              f"({info['skipped']} skipped, listed in {Path(info['path']) / 'skipped.csv'})")
    return _report_skipped(info["skipped"], Path(info["path"]) / "skipped.csv")


def _print_skips(entries: list, limit: int = 20) -> None:
    """Each skipped input with its reason, on stderr (the first ``limit``)."""
    for entry in entries[:limit]:
        print(f"  skipped {entry.path}: {entry.reason}", file=sys.stderr)
    if len(entries) > limit:
        print(f"  ... and {len(entries) - limit} more", file=sys.stderr)


def cmd_index_add(args: argparse.Namespace) -> int:
    from im2gps.index import NothingToAdd, add_photos
    from im2gps.index.add import ALREADY

    try:
        index = add_photos(args.index, args.photos, jobs=args.jobs,
                           progress=not args.no_progress, max_pixels=args.max_pixels,
                           coords=args.coords)
    except NothingToAdd as err:
        failed = [s for s in err.skipped if not s.reason.startswith(ALREADY)]
        if args.json:
            _print_json({"index": str(args.index), "added": 0,
                         "already_indexed": len(err.skipped) - len(failed),
                         "failed": len(failed), "skipped": [vars(s) for s in err.skipped]})
        else:
            print(f"nothing new to add to {args.index}: {len(err.skipped) - len(failed)} "
                  f"already indexed, {len(failed)} failed (the index is unchanged)")
            _print_skips(err.skipped)
        return EXIT_PARTIAL if failed else EXIT_OK
    info = index.info()
    added = index.manifest["additions"][-1]
    already = added.get("already_indexed", 0)
    failed = added["skipped"] - already
    if args.json:
        _print_json(dict(info, added=added["photos"], already_indexed=already, failed=failed))
    else:
        print(f"added {added['photos']} photos: {info['path']} now holds {info['photos']} "
              f"photos ({already} already indexed, {failed} failed this time; every skip is "
              "listed in skipped.csv)")
    if failed:
        print(f"im2gps: {failed} input(s) failed; reasons in "
              f"{Path(info['path']) / 'skipped.csv'}", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def _model_info(path: Path, kind: str) -> dict[str, Any]:
    """What a saved PlaNet model or reference row is, from its own JSON."""
    import json

    name = "planet.json" if kind == "planet" else "reference.json"
    try:
        record = json.loads((path / name).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path / name}: unreadable ({err})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path / name}: not a {kind} record")
    info: dict[str, Any] = {"path": str(path), "kind": kind if kind == "planet" else
                            record.get("kind"), "params": record.get("params")}
    if kind == "planet":
        info.update(cells=record.get("n_cells"), embedding_dim=record.get("dim"),
                    best_epoch=record.get("best_epoch"),
                    feature=(record.get("extractor") or {}).get("name"))
    return info


def cmd_index_info(args: argparse.Namespace) -> int:
    from im2gps.describe import describe_index
    from im2gps.locators import locator_kind

    kind = locator_kind(args.index)
    if kind in ("planet", "reference"):
        info = _model_info(Path(args.index), kind)
        if args.json:
            _print_json(info)
        else:
            for key, value in info.items():
                print(f"{key:<15} {value}")
        return EXIT_OK
    # From the manifest alone: no pandas, FAISS or torch, no index file read (im2gps.describe).
    info = describe_index(args.index, verify=not args.no_verify)
    if args.json:
        _print_json(info)
        return EXIT_OK
    print(f"index           {info['path']}")
    print(f"model           {info['model']}")
    print(f"source          {info['source']}"
          + "".join(f"\n                + {source}" for source in info["additions"]))
    print(f"built           {info['built']} with im2gps {info['built_with']} "
          f"(format version {info['format_version']})")
    print(f"photos          {info['photos']:,} ({info['skipped']} skipped)")
    features = ", ".join(f"{name} ({dim})" for name, dim in info["features"].items())
    print(f"features        {features}; combined {info['combined_dim']}-d")
    print(f"index type      {info['index_type']}")
    locator = info["locator"]
    settings = ", ".join(f"{key} {value}" for key, value in locator.items() if key != "saved")
    search = ", ".join(f"{key} {value}" for key, value in info["search"].items())
    print(f"defaults        {settings}"
          + ("" if locator["saved"] else " (Im2GPS defaults; no locator.json)")
          + (f"; search {search}" if search else ""))
    print(f"size on disk    {info['size_bytes'] / 2**20:.1f} MiB "
          f"({info['bytes_per_photo']:,.0f} bytes/photo; FAISS index "
          f"{info['index_bytes_per_photo']:,.0f} bytes/photo)")
    if info.get("index_code_bytes_per_photo") is not None:
        print(f"index memory    {info['index_code_bytes_per_photo']:,.0f} bytes/photo of codes "
              f"+ {info['index_trained_bytes'] / 2**20:.1f} MiB trained (exact: "
              f"{info['exact_bytes_per_photo']:,} bytes/photo)")
    return EXIT_OK


def cmd_index_verify(args: argparse.Namespace) -> int:
    from im2gps.index.store import IndexDamagedError, IndexFormatError, problem_of, verify_index

    try:
        report = verify_index(args.index)
    except IndexDamagedError as err:
        if args.json:
            _print_json(dict(err.report, ok=False, problems=err.problems))
        else:
            print(f"im2gps: error: {args.index}: {len(err.problems)} damaged file(s); rebuild "
                  "the index or restore them:", file=sys.stderr)
            for problem in err.problems:
                print(f"  {problem['file']}: {problem['reason']}", file=sys.stderr)
        return EXIT_DATA
    except IndexFormatError as err:  # the manifest itself: nothing else can be checked
        if not args.json:
            raise
        _print_json({"path": str(args.index), "ok": False,
                     "problems": [problem_of(err, Path(args.index) / "manifest.json")]})
        return EXIT_DATA
    if args.json:
        _print_json(dict(report, ok=True))
    else:
        print(f"{report['path']}: ok ({report['files']} files, "
              f"{report['bytes'] / 2**20:,.1f} MiB checked in {report['seconds']:.2f} s)")
    return EXIT_OK


# -- locate -----------------------------------------------------------------
#: Photos located per step of a batch: each step's answers are written (and flushed) at once.
LOCATE_CHUNK = 32


def cmd_locate(args: argparse.Namespace) -> int:
    from im2gps.batch import CsvWriter, JsonLinesWriter, chunks, expand_inputs
    from im2gps.locators import load

    if args.album:
        from im2gps.album_cli import cmd_locate_album

        return cmd_locate_album(args)
    if not args.images:
        raise UsageError("give at least one IMAGE (or --album DIR)")
    if args.jsonl and args.json:
        raise UsageError("--json and --jsonl: choose one (--jsonl streams one line per photo)")
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            raise UsageError(f"--out {out}: a folder; give the name of a CSV file to write")
        inputs = {Path(p).resolve() for p in args.images}
        if out.resolve() in inputs:
            raise UsageError(f"--out {out} is also an input: writing the answers would "
                             "replace it; give another file name")
    images = expand_inputs(args.images)
    locator = load(args.index, warm_up=True)  # feature set-up beside the index load
    if getattr(locator, "needs_truth", False):
        raise UsageError(f"{args.index}: an oracle answers with the database photo nearest to "
                         "the truth; it cannot locate a photo from its pixels")
    if args.explain and hasattr(locator, "coords_"):
        raise UsageError(f"{args.index}: a {type(locator).__name__.lower()} reference row "
                         "ignores the pixels: --explain has nothing to show")
    params = {"k": args.k, "vote": args.vote, "bandwidth_km": args.bandwidth_km,
              "nprobe": args.nprobe, "ef_search": args.ef_search, "rerank": args.rerank,
              "verification": args.verify}
    given = {key: value for key, value in params.items() if value is not None}
    foreign = [key for key in given if key not in locator.get_params()]
    if foreign:
        raise UsageError(f"--{foreign[0].replace('_', '-')} does not apply to "
                         f"{type(locator).__name__} ({args.index})")
    locator.set_params(**given)
    if given.get("verification", "off") != "off":
        from im2gps.index.local import LOCAL_DIR

        if not (locator.index_.path / LOCAL_DIR / "local.json").is_file():
            raise UsageError(f"--verify {args.verify}: {args.index} holds no local features; "
                             "build it with `im2gps index build --local-features`")
    if hasattr(locator, "index_") and getattr(locator, "vote", "") != "1nn" and \
            int(locator.k) >= 0.5 * len(locator.index_):
        print(f"im2gps: warning: k = {locator.k} neighbours out of the {len(locator.index_)} "
              "photos of the index: the vote covers most of the database, so answers lean to "
              "its densest place (see benchmarks/results/small_k.md)", file=sys.stderr)
    if hasattr(locator, "index_") and args.neighbors > int(locator.k):
        print(f"im2gps: warning: --neighbors {args.neighbors}: a query finds the k = "
              f"{locator.k} neighbours that vote, so at most {locator.k} are shown; give "
              f"--k {args.neighbors} to see more", file=sys.stderr)
    writers: list[Any] = []
    if args.jsonl:
        writers.append(JsonLinesWriter(sys.stdout))
    if args.out:
        writers.append(CsvWriter(args.out))
    # Progress on stderr (stdout holds only the data); a handful of photos takes a
    # second, and then tqdm is not even imported (a tenth of the start-up budget).
    if args.no_progress or len(images) <= LOCATE_CHUNK:
        bar: Any = _NoBar()
    else:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(images), unit="photo", desc="locate", file=sys.stderr)
    documents: list[dict[str, Any]] = []
    failed = 0
    try:
        for chunk in chunks(images, LOCATE_CHUNK):
            docs = _locate_chunk(locator, chunk, args)
            failed += sum(doc["failed"] for doc in docs)
            for writer in writers:
                writer.write(docs)
            if not writers:
                documents.extend(docs)
            bar.update(len(chunk))
    finally:
        bar.close()
        for writer in writers:
            writer.close()
    if args.out:
        print(f"im2gps: {len(images)} photo(s) located ({failed} failed); results in "
              f"{args.out}", file=sys.stderr)
    if args.explain and not args.json:
        print(f"explanation figures written to {args.explain}", file=sys.stderr)
    if args.json:
        _print_json(documents if len(documents) > 1 or args.json_list else documents[0])
    elif not writers:
        for doc in documents:
            _print_answer(doc)
    return EXIT_PARTIAL if failed else EXIT_OK


class _NoBar:
    """The part of tqdm's bar that cmd_locate uses, doing nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _locate_chunk(locator: Any, images: Sequence[str], args: argparse.Namespace
                  ) -> list[dict[str, Any]]:
    """Locate a few photos: one JSON-ready document per photo (failures on stderr)."""
    from im2gps.gazetteer import nearest_place

    predictions = locator.predict(list(images))
    for image, failed, error in zip(images, predictions.failed, predictions.errors,
                                    strict=True):
        if failed:
            print(f"im2gps: {image}: failed: {error}", file=sys.stderr)
    places = nearest_place(predictions.lat, predictions.lon)
    n_shown = args.neighbors
    shown: dict[int, tuple[Any, ...]] = {}  # photo table row -> (id, lat, lon)
    index = getattr(locator, "index_", None)
    if index is not None and predictions.neighbor_ids is not None:
        import numpy as np

        # Only the rows shown, from the columns (no pandas table, and no whole column of
        # a million-photo table read again for every chunk of photos).
        rows = np.unique(predictions.neighbor_ids[~predictions.failed, :n_shown])
        rows = rows[rows >= 0]
        columns = [index.column(name, rows) for name in ("id", "lat", "lon")]
        shown = dict(zip(rows.tolist(), zip(*columns, strict=True), strict=True))
    documents = []
    for i, image in enumerate(images):
        place = places[i]
        neighbors = []
        if not predictions.failed[i] and predictions.neighbor_ids is not None:
            for rank in range(min(n_shown, predictions.neighbor_ids.shape[1])):
                row = int(predictions.neighbor_ids[i, rank])
                if row < 0:
                    break
                ident, lat, lon = shown[row]
                neighbors.append({
                    "id": str(ident),
                    "lat": float(lat),
                    "lon": float(lon),
                    "distance": float(predictions.neighbor_distances[i, rank]),
                })
                scores = predictions.extra.get("verification")
                if scores is not None and rank < scores["inliers"].shape[1]:
                    neighbors[-1]["inliers"] = int(scores["inliers"][i, rank])
        clusters = [{key: c[key] for key in ("lat", "lon", "weight", "size")}
                    for c in predictions.clusters(i)[: args.clusters]]
        documents.append({
            "image": str(image),
            "locator": type(locator).__name__,
            "lat": _nan_to_none(predictions.lat[i]),
            "lon": _nan_to_none(predictions.lon[i]),
            "place": place.name if place else None,
            "admin1": place.admin1 if place else None,
            "country": place.country if place else None,
            "country_code": place.country_code if place else None,
            "failed": bool(predictions.failed[i]),
            "error": predictions.errors[i],
            "clusters": clusters,
            "neighbors": neighbors,
            "cells": _top_cells(locator, predictions, i, args.clusters),
        })
    if args.explain:
        from im2gps.explain import explain_photos

        # figures take seconds each (an occlusion map locates 64 copies): a bar on stderr
        figures = explain_photos(locator, list(images), args.explain, predictions=predictions,
                                 progress=not args.no_progress)
        for doc, paths in zip(documents, figures, strict=True):
            doc["explain"] = paths
    return documents


def _top_cells(locator: Any, predictions: Any, i: int, n: int) -> list[dict[str, Any]]:
    """A classifier's most probable cells for photo ``i``: centre, mean and probability."""
    if predictions.cell_probs is None or predictions.failed[i] or not hasattr(locator, "cells_"):
        return []
    cells = locator.cells_
    top = predictions.extra["top_cells"][i][:n]
    probs = predictions.extra["top_probs"][i][:n]
    return [{"cell": int(c), "lat": float(cells["mean_lat"].iloc[c]),
             "lon": float(cells["mean_lon"].iloc[c]), "probability": float(p)}
            for c, p in zip(top, probs, strict=True) if c >= 0]


def _print_answer(doc: dict[str, Any]) -> None:
    print(doc["image"])
    if doc["failed"]:
        print(f"  failed: {doc['error']}")
        return
    where = ", ".join(p for p in (doc["place"], doc["admin1"], doc["country"]) if p)
    print(f"  estimate   {doc['lat']:.4f}, {doc['lon']:.4f}  (near {where})")
    for rank, c in enumerate(doc["clusters"], 1):
        print(f"  cluster {rank}  {c['lat']:8.3f}, {c['lon']:8.3f}  weight {c['weight']:.2f} "
              f"({c['size']} neighbours)")
    for rank, c in enumerate(doc.get("cells", []), 1):
        print(f"  cell {rank:<4} {c['lat']:8.3f}, {c['lon']:8.3f}  probability "
              f"{c['probability']:.3f}")
    for n in doc["neighbors"]:
        inliers = f"  {n['inliers']} inliers" if "inliers" in n else ""  # with --verify
        print(f"  neighbour  {n['id']:<24} {n['lat']:8.3f}, {n['lon']:8.3f}  "
              f"feature distance {n['distance']:.3f}{inliers}")


# -- benchmark --------------------------------------------------------------
def cmd_benchmark(args: argparse.Namespace) -> int:
    from im2gps.benchmark import run_benchmark, write_results

    if args.albums:
        from im2gps.album_cli import cmd_benchmark_albums

        return cmd_benchmark_albums(args)

    locators = None if args.locators is None else [s.strip() for s in args.locators.split(",")]
    if args.report_explain < -1:
        raise UsageError(f"--report-explain {args.report_explain}: use -1 (all), 0 (none) or a "
                         "number of photos")
    # Progress bars and messages go to stderr, also with --json (stdout holds only the JSON).
    def log(message: str) -> None:
        print(message, file=sys.stderr)

    result = run_benchmark(
        database=args.database, test=args.test, locators=locators, data_dir=args.data,
        cache_dir=args.cache, jobs=args.jobs, size_curve=not args.no_size_curve,
        n_boot=args.n_boot, progress=not args.no_progress, log=log,
        thresholds=args.thresholds,
    )
    if args.published:
        from im2gps.published import published_rows

        result.published = published_rows(result.test, result.n)
    if args.out:
        write_results(result, args.out, published=args.published)
    if args.report:
        from im2gps.report import report_benchmark

        report_benchmark(result, args.report,
                         None if args.report_explain < 0 else args.report_explain,
                         data_dir=args.data, cache_dir=args.cache, jobs=args.jobs,
                         show_photos=args.report_photos, progress=not args.no_progress)
        log(f"report written to {args.report}")
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result.provenance_line())
        print()
        print(result.table(ci=True))
        print()
        print(result.clears_table())
        if args.published:
            from im2gps.published import published_table

            section = published_table(result.test, result.n)
            print("\n" + (section or f"(no published figures known for {result.test})"))
        if result.failed_photos:
            print(f"\n{len(result.failed_photos)} test photo(s) failed and count as misses:")
            for failure in result.failed_photos:
                print(f"  {failure['path']}: {failure['reason']}")
        if args.out:
            print(f"\nresults written to {args.out}")
    return EXIT_PARTIAL if result.failed_photos else EXIT_OK


def _thresholds(text: str) -> tuple[float, ...]:
    from im2gps.evaluate import parse_thresholds

    try:
        return parse_thresholds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_benchmark_command(commands: Any) -> None:
    """Register ``im2gps benchmark``."""
    bench = commands.add_parser(
        "benchmark", help="run methods head to head on a test set",
        description="Locate every test photo with each method and print the table: accuracy "
                    "within 1/25/200/750/2500 km with 95%% bootstrap intervals and the median "
                    "error. With no arguments: im2gps237 against the im2gps2k database.")
    bench.add_argument("--database", default="im2gps2k",
                       help="database: a data set name, folder or CSV (default: %(default)s)")
    bench.add_argument("--test", default="im2gps237",
                       help="test set: a data set name, folder or CSV (default: %(default)s)")
    from im2gps.benchmark_rows import rows_help

    bench.add_argument("--locators", help="comma-separated rows (default: all available): "
                       f"{rows_help()}; or the directory of a saved locator (an index, a "
                       "PlaNet model, a reference row)")
    bench.add_argument("--data", help="folder of named data sets (default: $IM2GPS_DATA or "
                       "../shared/data beside the checkout)")
    bench.add_argument("--out", help="folder for results.json/.csv/.md, predictions and plots")
    bench.add_argument("--cache", help="cache of features (by photo content), indexes and CV "
                       "tables (default: $IM2GPS_CACHE, else ~/.cache/im2gps)")
    bench.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                       help="processes for feature extraction (default: all cores)")
    bench.add_argument("--thresholds", type=_thresholds, metavar="LIST",
                       help="radii of the table, e.g. 50m,100m,250m,1km (default: 1,25,200,"
                            "750,2500 km for a world-wide database; scaled to the extent of a "
                            "small one, see im2gps.evaluate.adaptive_thresholds)")
    bench.add_argument("--published", action="store_true",
                       help="also list the papers' own figures on this test set (with their "
                            "databases and citations), in a separate table")
    bench.add_argument("--n-boot", type=positive_int, default=1000,
                       help="bootstrap resamples (default: %(default)s)")
    bench.add_argument("--no-size-curve", action="store_true",
                       help="skip the accuracy-against-database-size curve")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.add_argument("--report", metavar="PATH",
                       help="also write a self-contained HTML report (table, plots, gallery "
                            "of test photos with each method's estimate and error)")
    bench.add_argument("--report-explain", type=int, default=24, metavar="N",
                       help="test photos of the report with explanation figures, spread over "
                            "the error range (default: %(default)s; -1: all, 0: none)")
    bench.add_argument("--report-photos", choices=["all", "open", "none"], default="open",
                       help="photos embedded in the report (the gallery and the "
                            "explanation figures' test photos and neighbours): only Creative "
                            "Commons / public-domain ones by their license column (the others "
                            "are links to the local file or grey placeholders), all, or none "
                            "(default: %(default)s)")
    from im2gps.album_cli import add_benchmark_options

    add_benchmark_options(bench)
    bench.set_defaults(func=cmd_benchmark)


# -- serve ------------------------------------------------------------------
def _url_host(host: str) -> str:
    """``host`` as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this computer (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to a network address


def cmd_serve(args: argparse.Namespace) -> int:
    from im2gps.serve import ListenError, serve

    if not _is_loopback(args.host):
        print(f"im2gps: warning: --host {args.host} makes the page reachable from the network, "
              "with no authentication: anyone who can reach this computer can upload photos "
              "and see the models' answers and database photo ids", file=sys.stderr)

    def ready(port: int) -> None:
        print(f"im2gps: serving {len(args.models)} model(s) on "
              f"http://{_url_host(args.host)}:{port}/ (Ctrl-C stops)", file=sys.stderr,
              flush=True)

    try:
        serve(args.models, port=args.port, host=args.host, max_upload_mb=args.max_upload_mb,
              ready=ready, max_pixels=args.max_pixels)
    except ListenError as err:
        raise UsageError(err.strerror) from None
    return EXIT_OK


def add_serve_command(commands: Any) -> None:
    """Register ``im2gps serve``."""
    web = commands.add_parser(
        "serve", help="a local web page: locate a photo with several models side by side",
        description="Start a local web app (offline: no map tiles, no CDN) where a photo "
                    "dropped on the page is located by each model, side by side: estimate on "
                    "a world map, place, clusters or cells, nearest photos, explanation on "
                    "demand. Uploads stay in a temporary folder, removed on exit (Ctrl-C, "
                    "SIGTERM or SIGHUP).")
    web.add_argument("models", nargs="+", help="index directories, saved Im2GPS locators or "
                     "saved PlaNet models")
    web.add_argument("--port", type=port_number, default=8000,
                     help="port (default: %(default)s; 0: any free port)")
    web.add_argument("--host", default="127.0.0.1",
                     help="address to bind (default: %(default)s, this computer only; any "
                          "other address makes the page reachable from the network, with no "
                          "authentication)")
    web.add_argument("--max-upload-mb", type=positive_float, default=20.0,
                     help="largest photo accepted, in MB (default: %(default)s)")
    web.add_argument("--max-pixels", type=positive_int, default=SERVE_MAX_PIXELS, metavar="N",
                     help="largest photo accepted, in pixels, checked from its header before "
                          "decoding: a small file can hold a huge canvas that takes GBs of "
                          "memory to decode (default: %(default)s, 50 megapixels, about the "
                          "largest everyday phone photos)")
    web.set_defaults(func=cmd_serve)


# -- datasets ---------------------------------------------------------------
def cmd_datasets(args: argparse.Namespace) -> int:
    from im2gps.datasets import find_data_dir, status

    if args.data is not None and not Path(args.data).is_dir():
        raise UsageError(f"--data {args.data}: no such folder")
    rows = status(args.data)
    if args.json:
        _print_json(rows)
        return EXIT_OK
    try:
        where = str(find_data_dir(args.data))
    except FileNotFoundError as err:
        where = f"(none: {str(err).splitlines()[0]})"
    print(f"data folder: {where}")
    for row in rows:
        if row["present"]:
            found = row["images_found"]
            state = (f"present: {row['listed']:,} listed in {Path(row['metadata']).name}"
                     + ("" if found is None else f", {found:,} image files")
                     + ("" if row["complete"] else " (incomplete)"))
        elif not row["public"]:
            state = "missing (not published)"
        else:
            state = "missing"
        print(f"  {row['name']:<10} {row['role']:<19} {row['photos']:>8,} photos  "
              f"{row['paper']}\n             {state}")
        if not row["present"]:
            print(f"             get it: {row['source']}")
    return EXIT_OK


# -- parser -----------------------------------------------------------------
def _intake_options(command: argparse.ArgumentParser) -> None:
    """The options of reading photos, shared by ``index build`` and ``index add``."""
    command.add_argument("--coords", metavar="CSV",
                         help="coordinates by photo id for containers that keep them apart "
                              "(MP-16 msgpack shards: IMG_ID,LAT,LON; OSV-5M zips: "
                              "id,latitude,longitude)")
    command.add_argument("--max-pixels", type=positive_int, default=MAX_PIXELS, metavar="N",
                         help="refuse photos with more pixels than this as possible "
                              "decompression bombs (default: %(default)s, 300 megapixels)")


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Give each (sub)command's namespace its own parser, for usage errors found after
    parsing (argparse keeps subparsers in its private ``_actions``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(usage_parser=sub)
                _remember_parsers(sub)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from im2gps import __version__

    parser = argparse.ArgumentParser(
        prog="im2gps", description="Where was this photo taken? Data-driven photo geolocation.")
    parser.add_argument("--version", action="version", version=f"im2gps {__version__}")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="threads in each pool of this process (BLAS, OpenMP, torch, "
                             "OpenCV, FAISS; default: $IM2GPS_THREADS or 1); worker "
                             "processes (--jobs) always run one thread each")
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", help="build and inspect indexes of geotagged photos")
    index_commands = index.add_subparsers(dest="index_command", required=True)
    build = index_commands.add_parser(
        "build", help="build an index from a folder (EXIF GPS) or a CSV manifest",
        description="Build an index directory. Interrupted builds resume when the same "
                    "command runs again; the index appears under DIR only when complete.")
    build.add_argument("photos", help="folder of geotagged photos, CSV manifest image,lat,lon, "
                       "or msgpack / WebDataset tar shards / zip archives (a folder or a file)")
    build.add_argument("--out", required=True, help="index directory to create")
    build.add_argument("--features", type=feature_list, default="tiny,color,texton,gist,lines",
                       help="comma-separated features (default: %(default)s)")
    build.add_argument("--index-type", default="Flat",
                       help="FAISS factory string (default: %(default)s, exact search; e.g. "
                            "OPQ64_256,IVF4096,PQ64 or HNSW32 for a compressed or graph "
                            "index, trained on a sample)")
    build.add_argument("--jobs", type=positive_int, default=1,
                       help="worker processes (default: 1)")
    build.add_argument("--scheduler", metavar="ADDRESS",
                       help="extract features on this Dask cluster (e.g. tcp://host:8786; "
                            "needs the dask extra) instead of local processes; the workers "
                            "must be able to read the photo paths")
    build.add_argument("--nprobe", type=positive_int,
                       help="default inverted lists visited per query (IVF index types)")
    build.add_argument("--ef-search", type=positive_int,
                       help="default search beam width (HNSW index types)")
    build.add_argument("--rerank", type=nonnegative_int, metavar="N",
                       help="by default, re-rank a short list of N candidates with exact "
                            "distances read from the feature files (compressed index types)")
    build.add_argument("--rerank-dtype", choices=["sq8", "float16", "float32"], default="sq8",
                       help="storage of the re-ranking vectors of a compressed index: 8-bit "
                            "scalar quantised (default; a quarter of float32, chosen by "
                            "benchmarks/rerank_dtype.py), float16 or float32")
    build.add_argument("--fit-sample", type=positive_int, default=200,
                       help="photos sampled to learn textons (default: %(default)s)")
    build.add_argument("--seed", type=nonnegative_int, default=0,
                       help="random seed (default: 0)")
    _intake_options(build)
    build.add_argument("--overwrite", action="store_true", help="replace an existing index")
    build.add_argument("--local-features", action="store_true",
                       help="also store RootSIFT local features for geometric verification")
    build.add_argument("--json", action="store_true", help="print the index info as JSON")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(func=cmd_index_build)

    add = index_commands.add_parser(
        "add", help="add photos to an existing index",
        description="Extract the new photos' features with the index's own extractors and "
                    "append them; the index is replaced only when complete, and an "
                    "interrupted run resumes. Photos already in the index are skipped.")
    add.add_argument("index", help="index directory")
    add.add_argument("photos", help="folder of geotagged photos, CSV manifest image,lat,lon, "
                     "or containers (as for index build)")
    add.add_argument("--jobs", type=positive_int, default=1,
                     help="worker processes (default: 1)")
    _intake_options(add)
    add.add_argument("--json", action="store_true", help="print the index info as JSON")
    add.add_argument("--no-progress", action="store_true", help="no progress bar")
    add.set_defaults(func=cmd_index_add)

    info = index_commands.add_parser(
        "info", help="describe an index directory or any saved locator",
        description="Source, build date, model, default settings and sizes, read from the "
                    "manifest alone (no index file is loaded; `index verify` checks every "
                    "byte); for a PlaNet model or a reference row, what its own file says.")
    info.add_argument("index", help="index directory")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument("--no-verify", action="store_true",
                      help="skip the manifest's checks (its own sha256, every file's size)")
    info.set_defaults(func=cmd_index_info)

    verify = index_commands.add_parser(
        "verify", help="check every byte of an index directory against its manifest",
        description="Check the manifest (format version, its own sha256), every file's size "
                    "and sha256, the matrix headers and every re-ranking row's checksum. "
                    "Loading an index (locate, info) runs only the checks whose cost does not "
                    "grow with the feature files. Exit code 0: intact; 3: the first file that "
                    "does not match is named.")
    verify.add_argument("index", help="index directory")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(func=cmd_index_verify)

    locate = commands.add_parser(
        "locate", help="estimate where photos were taken",
        description="Locate photos, folders of photos (recursively) and CSV lists of photos "
                    "(an image column, as for index build) with any saved locator. Long "
                    f"batches go a chunk of {LOCATE_CHUNK} photos at a time: --jsonl and "
                    "--out write each answer as soon as its chunk is done, with a progress "
                    "bar on stderr.")
    locate.add_argument("index", metavar="MODEL",
                        help="a saved locator: an index directory (`im2gps index build`), a "
                             "PlaNet model (`im2gps planet train`) or a reference row")
    locate.add_argument("images", nargs="*",
                        help="photos, folders of photos or CSV files with an image column")
    locate.add_argument("--k", type=positive_int,
                        help="neighbours that vote (default: the locator's)")
    locate.add_argument("--vote", choices=["meanshift", "1nn", "kde"], help="voting rule")
    locate.add_argument("--bandwidth-km", type=bandwidth_km,
                        help="mean-shift bandwidth in km")
    locate.add_argument("--nprobe", type=positive_int,
                        help="inverted lists visited per query (IVF indexes; default: the "
                             "index's setting)")
    locate.add_argument("--ef-search", type=positive_int,
                        help="search beam width (HNSW indexes; default: the index's setting)")
    locate.add_argument("--rerank", type=nonnegative_int, metavar="N",
                        help="re-rank a short list of N candidates with exact distances "
                             "(0: off; default: the index's setting)")
    locate.add_argument("--verify", choices=["off", "weight", "best"],
                        help="geometric verification of the short list (needs an index built "
                             "with --local-features; default: the locator's)")
    locate.add_argument("--clusters", type=nonnegative_int, default=5,
                        help="clusters to show (default 5)")
    locate.add_argument("--neighbors", type=nonnegative_int, default=10,
                        help="nearest database photos to show, at most --k (default 10)")
    locate.add_argument("--json", action="store_true", help="print JSON (a list for many photos)")
    locate.add_argument("--json-list", action="store_true",
                        help="with --json, always print a list, even for one photo")
    locate.add_argument("--jsonl", action="store_true",
                        help="stream JSON Lines: one photo's answer per line, as it comes")
    locate.add_argument("--out", metavar="CSV",
                        help="also write one row per photo to this CSV file, as results come "
                             "(image, lat, lon, place, admin1, country, country_code, failed, "
                             "error, top_cluster_weight, nearest_neighbor)")
    locate.add_argument("--no-progress", action="store_true", help="no progress bar")
    locate.add_argument("--explain", metavar="OUT",
                        help="write explanation figures per photo into the folder OUT: "
                             "query, nearest neighbours and the vote on a world map "
                             "(NAME.neighbours.png), an occlusion map (NAME.occlusion.png), "
                             "each with a .json record of its markers")
    from im2gps.album_cli import add_album_options

    add_album_options(locate)
    locate.set_defaults(func=cmd_locate)

    add_benchmark_command(commands)
    add_serve_command(commands)
    data = commands.add_parser(
        "datasets", help="list the benchmark suites and databases, and which are on disk",
        description="The standard test sets (im2gps237, im2gps3k, yfcc4k, yfcc26k, gws15k, "
                    "osv5m) and the shared database, what is present in the data folder and "
                    "where to get what is missing. Nothing is downloaded.")
    data.add_argument("--data", help="data folder (default: $IM2GPS_DATA or ../shared/data "
                      "beside the checkout)")
    data.add_argument("--json", action="store_true", help="print JSON")
    data.set_defaults(func=cmd_datasets)
    from im2gps.cli_planet import add_partition_command, add_planet_command

    add_partition_command(commands)
    add_planet_command(commands)
    _remember_parsers(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 some inputs failed, 2 usage, 3 data).

    Output piped into a reader that stops early (``| head``) ends quietly with
    exit code 141, as a Unix tool killed by SIGPIPE does.
    """
    import warnings

    from im2gps.threads import default_threads, set_threads

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        print(f"im2gps: warning: {message}", file=sys.stderr)

    warnings.showwarning = show  # library warnings in the command line's voice
    parser = build_parser()
    # `locate MODEL --k 10 a.jpg b.jpg`: argparse gives the optional IMAGE list (empty
    # with --album) no photos after an option, so the leftover photos are taken here.
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "locate" and not any(
            x.startswith("-") for x in extra):
        args.images = [*args.images, *extra]
    elif extra:
        hint = ""
        if any(x == "--threads" or x.startswith("--threads=") for x in extra):
            hint = " (--threads goes before the command: im2gps --threads N COMMAND ...)"
        getattr(args, "usage_parser", parser).error(
            f"unrecognized arguments: {' '.join(extra)}{hint}")
    try:
        threads = default_threads() if args.threads is None else args.threads
        set_threads(threads)  # once, before any work: see im2gps.threads
    except ValueError as err:
        parser.error(str(err))
    try:
        return args.func(args)
    except UsageError as err:  # e.g. a bad --index-type, found before any work
        command = getattr(args, "usage_parser", parser)
        command.print_usage(sys.stderr)
        print(f"{command.prog}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    # IndexFormatError (im2gps.index.store) is a ValueError: caught here without importing
    # FAISS for commands that read no index.
    except (PhotoError, FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"im2gps: error: {err}", file=sys.stderr)
        return EXIT_DATA
    except BrokenPipeError:
        # The reader went away; make the interpreter's final flush of stdout quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        if getattr(args, "command", None) == "locate":  # answers are not resumed, only kept
            kept = f"; the answers so far are in {args.out}" if getattr(args, "out", None) \
                else ""
            print(f"im2gps: interrupted{kept}", file=sys.stderr)
        else:
            print("im2gps: interrupted; run the same command again to resume",
                  file=sys.stderr)
        return 130

"""The album parts of the command line: ``locate MODEL --album DIR`` and ``benchmark --albums``.

``im2gps locate MODEL --album DIR|CSV`` reads albums (:func:`im2gps.albums.read_albums`:
a folder, a folder of album folders, or a CSV with an album column) and
prints each photo's estimate and the album's, with
``--album-method pooled|hmm|lstm``. ``MODEL`` is any saved locator: an
Im2GPS index (its travel prior is fitted on the index's own author
sequences unless ``--travel-prior`` names one), a PlaNet directory (with
``--travel-prior`` for ``hmm``), a saved album locator, or a saved
:class:`~im2gps.planet.album.AlbumLSTM` (``lstm``).

``im2gps benchmark --albums COLUMN`` runs :func:`im2gps.album_benchmark.run_album_benchmark`
on ``--database``.

Exit codes as for every command: 0 ok; 1 some photos failed or some files of
an album folder are not photos (they are listed, the others answered); 2
usage; 3 bad data.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from im2gps.arguments import EXIT_OK, EXIT_PARTIAL, UsageError, print_json

__all__ = ["add_album_options", "cmd_benchmark_albums", "cmd_locate_album", "load_for_album"]

METHODS = ("pooled", "hmm", "lstm")


def add_album_options(locate: argparse.ArgumentParser) -> None:
    """The ``--album`` options of ``im2gps locate``."""
    locate.add_argument("--album", metavar="DIR|CSV",
                        help="locate the photos of an album together: a folder (one album), a "
                             "folder of album folders, or a CSV with an image column and an "
                             "album column; capture times from a 'taken' column or EXIF")
    locate.add_argument("--album-column", metavar="COLUMN",
                        help="the CSV's album column (default: 'album' where present)")
    locate.add_argument("--album-method", choices=METHODS, default=None,
                        help="pooled votes, the travel-prior HMM (default) or the album LSTM "
                             "(MODEL must then be a saved AlbumLSTM)")
    locate.add_argument("--travel-prior", metavar="JSON",
                        help="travel prior for the HMM (default: fitted on the index's author "
                             "sequences)")


def load_for_album(model: str, method: str | None, travel_prior: str | None) -> Any:
    """The album locator ``method`` over the saved locator at ``model``.

    Raises
    ------
    UsageError
        If the method does not fit the model (e.g. ``lstm`` with an index).
    FileNotFoundError
        If ``model`` is not a saved locator.
    """
    from im2gps.album_locators import PooledVotes, TravelHMM, load_album_locator, load_base
    from im2gps.travel import TravelPrior

    path = Path(model)
    if (path / "album_lstm.json").is_file():
        if method not in (None, "lstm"):
            raise UsageError(f"{model} is an album LSTM; --album-method {method} needs a "
                             "single-photo locator")
        from im2gps.planet.album import AlbumLSTM

        return AlbumLSTM.load(path)
    if method == "lstm":
        raise UsageError(f"--album-method lstm needs a saved AlbumLSTM, and {model} is not one")
    if (path / "album.json").is_file():
        locator = load_album_locator(path)
        if method is not None and method != locator.kind:
            raise UsageError(f"{model} is a saved {locator.kind} album locator, not {method}")
        return locator
    if not path.is_dir():
        raise FileNotFoundError(f"{model}: no such saved locator (index, PlaNet or album "
                                "locator directory)")
    base = load_base(path)
    if method == "pooled":
        return PooledVotes(base).fit()
    prior = TravelPrior.load(travel_prior) if travel_prior else None
    if prior is None and not hasattr(base, "index_"):
        raise UsageError(f"{model} is a PlaNet locator: give --travel-prior JSON for the HMM "
                         "(or use --album-method pooled)")
    try:
        return TravelHMM(base, prior=prior).fit()
    except ValueError as err:
        raise UsageError(f"cannot fit a travel prior on {model}'s photos ({err}); give "
                         "--travel-prior JSON or use --album-method pooled") from None


def _iso(seconds: float) -> str | None:
    if not np.isfinite(seconds):
        return None
    return datetime.fromtimestamp(float(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _place(lat: float, lon: float) -> dict[str, Any]:
    from im2gps.gazetteer import nearest_place

    place = nearest_place([lat], [lon])[0]
    return {"place": place.name if place else None, "admin1": place.admin1 if place else None,
            "country": place.country if place else None,
            "country_code": place.country_code if place else None}


def cmd_locate_album(args: argparse.Namespace) -> int:
    """``im2gps locate MODEL --album DIR``."""
    from im2gps.albums import read_albums

    if args.images:
        raise UsageError("give photos either as IMAGE arguments or with --album, not both")
    if args.explain:
        raise UsageError("--explain works on single photos, not with --album")
    for option, given in (("--jsonl", getattr(args, "jsonl", False)),
                          ("--out", getattr(args, "out", None))):
        if given:
            raise UsageError(f"{option} streams single photos; with --album use --json")
    locator = load_for_album(args.index, args.album_method, args.travel_prior)
    base = getattr(locator, "base", None)
    if base is not None and hasattr(base, "index_"):
        params = {"k": args.k, "vote": args.vote, "bandwidth_km": args.bandwidth_km,
                  "nprobe": args.nprobe, "ef_search": args.ef_search, "rerank": args.rerank}
        base.set_params(**{key: value for key, value in params.items() if value is not None})
    albums = read_albums(args.album, column=args.album_column)
    method = "lstm" if not hasattr(locator, "kind") else locator.kind
    documents = []
    failed = 0
    for album in albums:
        answer = locator.predict_album(album)
        failed += int(answer.failed.sum()) + len(album.skipped)
        a_lat = float(answer.extra["album_lat"][0])
        a_lon = float(answer.extra["album_lon"][0])
        photos = []
        for i, (photo_id, image) in enumerate(zip(album.ids, album.images, strict=True)):
            lat, lon = float(answer.lat[i]), float(answer.lon[i])
            doc = {"id": photo_id, "image": image, "taken": _iso(album.times[i]),
                   "lat": lat if np.isfinite(lat) else None,
                   "lon": lon if np.isfinite(lon) else None,
                   "failed": bool(answer.failed[i]), "error": answer.errors[i]}
            doc.update(_place(lat, lon))
            photos.append(doc)
        document = {"album": album.name, "method": method, "photos_count": len(album),
                    "lat": a_lat if np.isfinite(a_lat) else None,
                    "lon": a_lon if np.isfinite(a_lon) else None,
                    **_place(a_lat, a_lon),
                    "photos": photos,
                    "untimed": [{"id": i, "reason": r} for i, r in album.untimed],
                    "skipped": [{"path": p, "reason": r} for p, r in album.skipped]}
        documents.append(document)
    if args.json:
        print_json(documents if len(documents) > 1 or args.json_list else documents[0])
    else:
        for doc in documents:
            _print_album(doc)
    return EXIT_PARTIAL if failed else EXIT_OK


def _where(doc: dict[str, Any]) -> str:
    return ", ".join(p for p in (doc["place"], doc["admin1"], doc["country"]) if p)


def _print_album(doc: dict[str, Any]) -> None:
    print(f"album {doc['album']} ({doc['photos_count']} photos, {doc['method']})")
    if doc["lat"] is None:
        print("  failed: no photo of the album could be read")
    else:
        print(f"  album estimate  {doc['lat']:.4f}, {doc['lon']:.4f}  (near {_where(doc)})")
    for rank, photo in enumerate(doc["photos"], 1):
        taken = photo["taken"] or "no usable time"
        if photo["failed"]:
            print(f"  {rank:>3}. {photo['id']}  [{taken}]  failed: {photo['error']}")
        else:
            print(f"  {rank:>3}. {photo['id']}  [{taken}]  {photo['lat']:.4f}, "
                  f"{photo['lon']:.4f}  (near {_where(photo)})")
    for entry in doc["untimed"]:
        print(f"  ordered by name (no usable capture time): {entry['id']}: {entry['reason']}")
    for entry in doc["skipped"]:
        print(f"im2gps: skipped {entry['path']} (album {doc['album']}): {entry['reason']}",
              file=sys.stderr)


def add_benchmark_options(bench: argparse.ArgumentParser) -> None:
    """The ``--albums`` options of ``im2gps benchmark``."""
    bench.add_argument("--albums", metavar="COLUMN",
                       help="score album locators against single-photo ones: the photos of "
                            "--database grouped by COLUMN (e.g. author), by album-grouped, "
                            "photographer-disjoint cross-validation")
    bench.add_argument("--folds", type=int, default=5,
                       help="folds of the album cross-validation (default: %(default)s)")


def cmd_benchmark_albums(args: argparse.Namespace) -> int:
    """``im2gps benchmark --albums COLUMN``."""
    from im2gps.album_benchmark import run_album_benchmark, write_album_results

    if args.test != "im2gps237":
        raise UsageError("--albums scores the albums of --database by cross-validation; "
                         "pass the album photos as --database, not --test")
    if args.folds < 2:
        raise UsageError(f"--folds {args.folds}: need at least 2")
    from im2gps.album_benchmark import single_row

    locators = [s.strip() for s in args.locators.split(",")] if args.locators else None
    for row in locators or []:
        try:
            single_row(row)
        except ValueError as err:
            raise UsageError(str(err)) from None
    log = (lambda message: None) if args.json else (lambda message: print(message,
                                                                          file=sys.stderr))
    result = run_album_benchmark(
        database=args.database, albums=args.albums, locators=locators, data_dir=args.data,
        cache_dir=args.cache, n_splits=args.folds, jobs=args.jobs, n_boot=args.n_boot,
        progress=not args.no_progress and not args.json, log=log)
    if args.out:
        write_album_results(result, args.out)
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"{result.n_photos} photos in {result.n_albums} albums (column {args.albums!r}); "
              "per photo:\n")
        print(result.table())
        print("\nAccuracy gain (points) of each album row over its single-photo row, paired "
              "95 % interval resampling whole albums:\n")
        print(result.gains_table())
        print("\nPer album (album answer against the album's centre):\n")
        print(result.album_table())
        if args.out:
            print(f"\nresults written to {args.out}")
    return EXIT_OK

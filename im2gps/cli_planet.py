"""The ``im2gps partition`` and ``im2gps planet train`` commands.

``im2gps.cli`` registers them with :func:`add_partition_command` and
:func:`add_planet_command`; each adds one sub-parser whose ``func`` returns an
exit code (0 success). Bad input data raise ``ValueError`` or
``FileNotFoundError`` with the file and the reason, which ``im2gps.cli.main``
reports with exit code 3. Nothing heavy (torch, matplotlib) is imported until
a command runs.

Commands::

    im2gps partition COORDS --t-max N[,N...] --t-min M --out cells.csv
                     [--map cells.png] [--min-level L] [--max-level L] [--json]
    im2gps planet train PHOTOS_OR_FEATURES --out DIR [--feature cnn] [--t-max N]
                     [--t-min M] [--cells cells.csv] [--hidden H] ... [--json]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from im2gps.arguments import UsageError, positive_int
from im2gps.arguments import print_json as _print_json

if TYPE_CHECKING:  # numpy and pandas load when a command runs, not when the parser is built
    import numpy as np
    import pandas as pd

__all__ = ["add_partition_command", "add_planet_command", "read_coordinates"]

EXIT_OK = 0


def _check_thresholds(t_maxes: list[int], t_min: int, min_level: int, max_level: int) -> None:
    """Usage errors for partition thresholds and levels, before any work."""
    if t_min < 0:
        raise UsageError(f"--t-min {t_min}: must be >= 0")
    if min(t_maxes) < 1:
        raise UsageError(f"--t-max {min(t_maxes)}: must be >= 1")
    if min(t_maxes) < t_min:
        raise UsageError(f"--t-max {min(t_maxes)} is below --t-min {t_min}: a cell split at "
                         "t_max photos could never keep t_min")
    if not 0 <= min_level <= max_level <= 30:
        raise UsageError(f"--min-level {min_level} / --max-level {max_level}: need 0 <= "
                         "min-level <= max-level <= 30 (S2 levels)")


def read_coordinates(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV with ``lat`` and ``lon`` columns (others are kept).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a column is missing or a row holds no valid WGS84 degrees; the
        message names the file and the first bad lines.
    """
    import numpy as np
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such coordinates file")
    table = pd.read_csv(path, keep_default_na=False, dtype={"author": str})
    missing = {"lat", "lon"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; need lat,lon")
    lat = pd.to_numeric(table["lat"], errors="coerce").to_numpy(np.float64)
    lon = pd.to_numeric(table["lon"], errors="coerce").to_numpy(np.float64)
    bad = ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    if bad.any():
        lines = ", ".join(str(i + 2) for i in np.flatnonzero(bad)[:5])
        raise ValueError(f"{path}: {int(bad.sum())} row(s) hold no valid lat/lon degrees "
                         f"(line {lines}{', ...' if bad.sum() > 5 else ''})")
    table["lat"], table["lon"] = lat, lon
    return table


# -- partition ----------------------------------------------------------------
def _suffixed(path: Path, t_max: int, several: bool) -> Path:
    return path.with_name(f"{path.stem}.t{t_max}{path.suffix}") if several else path


def _summary(cells: pd.DataFrame, assignment: np.ndarray) -> dict[str, Any]:

    counts = cells["count"].to_numpy()
    return {
        "cells": len(cells),
        "photos_kept": int(counts.sum()),
        "photos_dropped": int((assignment < 0).sum()),
        "min_count": int(counts.min()) if len(counts) else 0,
        "max_count": int(counts.max()) if len(counts) else 0,
        "cells_by_level": {int(k): int(v) for k, v in
                           cells["level"].value_counts().sort_index().items()},
    }


def cmd_partition(args: argparse.Namespace) -> int:
    from im2gps.planet.partition import hierarchical_partition, save_cells

    try:
        t_maxes = sorted({int(t) for t in str(args.t_max).split(",") if t.strip()}, reverse=True)
    except ValueError:
        raise UsageError(f"--t-max {args.t_max!r}: expected whole numbers, e.g. 1000 or "
                         "5000,1000") from None
    if not t_maxes:
        raise UsageError("--t-max needs at least one number")
    _check_thresholds(t_maxes, args.t_min, args.min_level, args.max_level)
    table = read_coordinates(args.coords)
    levels = hierarchical_partition(table["lat"], table["lon"], t_maxes, args.t_min,
                                    args.min_level, args.max_level,
                                    progress=not args.no_progress)
    several = len(t_maxes) > 1
    out = Path(args.out)
    figure_path = None if args.no_map else Path(args.map) if args.map else out.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    documents = []
    for t_max, (cells, assignment) in zip(t_maxes, levels, strict=True):
        doc = {"t_max": t_max, "t_min": args.t_min, **_summary(cells, assignment)}
        doc["out"] = str(save_cells(cells, _suffixed(out, t_max, several)))
        if figure_path is not None:
            from im2gps.planet.maps import plot_cells

            target = _suffixed(figure_path, t_max, several)
            target.parent.mkdir(parents=True, exist_ok=True)
            plot_cells(cells, target, title=f"{len(cells):,} S2 cells for {len(table):,} photos "
                       f"(t_max={t_max}, t_min={args.t_min})")
            doc["map"] = str(target)
        documents.append(doc)
    if args.json:
        _print_json({"coords": str(args.coords), "photos": len(table),
                     "min_level": args.min_level, "max_level": args.max_level,
                     "partitions": documents})
        return EXIT_OK
    for doc in documents:
        print(f"t_max={doc['t_max']} t_min={doc['t_min']}: {doc['cells']:,} cells hold "
              f"{doc['photos_kept']:,} of {len(table):,} photos ({doc['photos_dropped']:,} in "
              f"dropped cells); levels {min(doc['cells_by_level'], default='-')}-"
              f"{max(doc['cells_by_level'], default='-')} -> {doc['out']}"
              + (f", map {doc['map']}" if "map" in doc else ""))
    return EXIT_OK


def add_partition_command(subparsers: Any, name: str = "partition") -> argparse.ArgumentParser:
    """Register ``im2gps partition`` on an ``add_subparsers()`` object."""
    parser = subparsers.add_parser(
        name, help="split the globe into S2 cells sized by photo density (PlaNet)",
        description="PlaNet's adaptive S2 partition: split every cell holding more than "
                    "T_MAX photos, drop cells holding fewer than T_MIN. Several T_MAX values "
                    "give a hierarchy of nested partitions (GeoEstimation); each is written "
                    "to OUT with '.t<T_MAX>' before the suffix.")
    parser.add_argument("coords", help="CSV with lat,lon columns (e.g. a photo manifest)")
    parser.add_argument("--t-max", required=True,
                        help="split cells holding more photos than this; comma-separated "
                             "values give a hierarchy")
    parser.add_argument("--t-min", type=int, required=True,
                        help="drop cells holding fewer photos than this")
    parser.add_argument("--out", required=True, help="cell table to write (CSV)")
    parser.add_argument("--map", help="where to draw the cells on a world map (PNG/PDF/SVG; "
                        "default: OUT with a .png suffix)")
    parser.add_argument("--no-map", action="store_true", help="do not draw the map")
    parser.add_argument("--min-level", type=int, default=0,
                        help="S2 level to start from (default 0: the six cube faces)")
    parser.add_argument("--max-level", type=int, default=30,
                        help="S2 level never split (default 30: leaf cells)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_partition)
    return parser


# -- planet train -------------------------------------------------------------
def _training_data(args: argparse.Namespace) -> tuple[np.ndarray, pd.DataFrame, Any]:
    """Embeddings, photo table and extractor from an index directory or a .npy file."""
    import numpy as np

    source = Path(args.photos)
    if (source / "manifest.json").is_file():
        from im2gps.index import GeoIndex

        index = GeoIndex.load(source)
        if args.feature not in index.feature_names:
            raise ValueError(f"{source}: the index holds no {args.feature!r} feature "
                             f"(it has {', '.join(index.feature_names)}); pass --feature")
        return (np.asarray(index.features(args.feature, mmap=False)), index.photos,
                index.extractors[args.feature])
    if args.coords is None:
        raise ValueError(f"{source}: embeddings in a .npy file need --coords CSV (lat,lon"
                         "[,author], one row per embedding)")
    embeddings = np.load(source, allow_pickle=False)
    table = read_coordinates(args.coords)
    if embeddings.ndim != 2 or len(embeddings) != len(table):
        raise ValueError(f"{source}: {embeddings.shape} embeddings for the {len(table)} rows "
                         f"of {args.coords}")
    return embeddings, table, None


def cmd_planet_train(args: argparse.Namespace) -> int:
    from im2gps.planet.classifier import PlaNet
    from im2gps.planet.partition import load_cells

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out}: already exists (use --overwrite to replace it)")
    if not args.cells:
        _check_thresholds([args.t_max], args.t_min, args.min_level, args.max_level)
    locator = PlaNet(
        feature=args.feature, t_max=args.t_max, t_min=args.t_min, min_level=args.min_level,
        max_level=args.max_level, hidden=args.hidden, dropout=args.dropout,
        weight_decay=args.weight_decay, lr=args.lr, max_epochs=args.max_epochs,
        patience=args.patience, batch_size=args.batch_size, val_fraction=args.val_fraction,
        seed=args.seed, coordinate=args.coordinate, progress=not args.no_progress)
    cells = load_cells(args.cells) if args.cells else None
    source = Path(args.photos)
    if (source / "manifest.json").is_file() or source.suffix.lower() == ".npy":
        embeddings, table, extractor = _training_data(args)
        groups = table["author"].to_numpy() if "author" in table else None
        locator.fit(embeddings, table["lat"], table["lon"], groups=groups, cells=cells)
        locator.extractor_ = extractor
        photos, skipped = len(table), 0
    else:
        locator.fit_photos(source, cells=cells, jobs=args.jobs)
        photos, skipped = len(locator.labels_), len(locator.skipped_)
    locator.save(out, overwrite=args.overwrite)
    history, best = locator.history_, locator.best_epoch_
    doc = {
        "out": str(out),
        "photos": photos,
        "skipped": skipped,
        "cells": len(locator.cells_),
        "photos_in_dropped_cells": int((locator.labels_ < 0).sum()),
        "train_photos": len(locator.train_index_),
        "val_photos": len(locator.val_index_),
        "epochs": len(history["train_loss"]),
        "best_epoch": best,
        "train_loss": history["train_loss"][best],
        "val_loss": history["val_loss"][best] if history["val_loss"] else None,
        "val_accuracy": history["val_accuracy"][best] if history["val_accuracy"] else None,
    }
    if args.json:
        _print_json(doc)
        return EXIT_OK
    val = (f"; validation loss {doc['val_loss']:.3f}, top-1 cell accuracy "
           f"{doc['val_accuracy']:.1%} on {doc['val_photos']} photos"
           if doc["val_loss"] is not None else "")
    print(f"trained PlaNet on {doc['train_photos']:,} photos in {doc['cells']:,} cells "
          f"({doc['epochs']} epochs, best {best}{val}) -> {out}", file=sys.stdout)
    if skipped:
        print(f"{skipped} photo(s) skipped (could not be read)")
    return EXIT_OK


def add_planet_command(subparsers: Any, name: str = "planet") -> argparse.ArgumentParser:
    """Register ``im2gps planet`` (with its ``train`` command) on ``add_subparsers()``."""
    planet = subparsers.add_parser(name, help="learned geolocation over S2 cells (PlaNet)")
    commands = planet.add_subparsers(dest="planet_command", required=True)
    train = commands.add_parser(
        "train", help="train a PlaNet classifier on frozen photo embeddings",
        description="Build an adaptive S2 partition from the training photos and train a "
                    "classifier head over frozen embeddings, with early stopping on a "
                    "photographer-disjoint validation split. PHOTOS_OR_FEATURES is a folder "
                    "of geotagged photos or a CSV manifest (features are extracted), an index "
                    "directory (its stored features are used), or a .npy matrix with --coords.")
    train.add_argument("photos", metavar="PHOTOS_OR_FEATURES",
                       help="photo folder / CSV manifest, index directory, or embeddings .npy")
    train.add_argument("--out", required=True, help="directory to write the locator to")
    train.add_argument("--coords", help="with a .npy: CSV of lat,lon[,author], one row each")
    train.add_argument("--feature", default="cnn", help="feature to embed photos with "
                       "(default: %(default)s)")
    train.add_argument("--cells", help="use this cell table (CSV from `im2gps partition`)")
    train.add_argument("--t-max", type=int, default=5000, help="split cells with more photos "
                       "(default: %(default)s)")
    train.add_argument("--t-min", type=int, default=50, help="drop cells with fewer photos "
                       "(default: %(default)s)")
    train.add_argument("--min-level", type=int, default=0, help="first S2 level (default 0)")
    train.add_argument("--max-level", type=int, default=30, help="last S2 level (default 30)")
    train.add_argument("--hidden", type=int, default=0,
                       help="hidden units (default 0: a linear classifier)")
    train.add_argument("--dropout", type=float, default=0.0, help="dropout (default 0)")
    train.add_argument("--weight-decay", type=float, default=1e-4,
                       help="AdamW weight decay (default: %(default)s)")
    train.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    train.add_argument("--max-epochs", type=positive_int, default=200,
                       help="at most this many epochs (default: %(default)s)")
    train.add_argument("--patience", type=positive_int, default=10,
                       help="early-stopping patience in epochs (default: %(default)s)")
    train.add_argument("--batch-size", type=positive_int, default=256,
                       help="batch size (default 256)")
    train.add_argument("--val-fraction", type=float, default=0.1,
                       help="photographers held out for validation (default: %(default)s)")
    train.add_argument("--coordinate", choices=["mean", "center"], default="mean",
                       help="answer with the cell's photo mean or its centre (default mean)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--jobs", type=positive_int, default=1, help="feature extraction processes")
    train.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    train.add_argument("--json", action="store_true", help="print a JSON summary")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.set_defaults(func=cmd_planet_train)
    return planet

"""The named rows of a benchmark: each row name and the locator configuration it stands for.

Like hloc's named configurations (``confs``), one registry says what every
row is, and nothing else parses row names: ``im2gps benchmark --locators``
lists them in its help, :func:`row_conf` answers for a name (or for the
directory of a saved locator, which is a row too), and a user adds a row by
adding an entry to :data:`EXTRA_ROWS`. Kept free of heavy imports so that the
command line's help stays fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXTRA_ROWS", "PAPER_SETTING", "REFERENCE_ROWS", "row_conf", "rows_help"]

#: The paper's setting, kept as a row to show what it does on a small database.
PAPER_SETTING = {"vote": "meanshift", "k": 120, "bandwidth_km": 400,
                 "vote_weights": "uniform"}

#: The reference rows every table carries.
REFERENCE_ROWS = ("chance", "prior", "oracle")

#: Rows added by users: ``EXTRA_ROWS["im2gps-gist-k40"] = {"kind": "im2gps",
#: "features": ["gist"], "vote": {"vote": "meanshift", "k": 40}, "help": "..."}``.
EXTRA_ROWS: dict[str, dict[str, Any]] = {}


def _row_confs() -> dict[str, dict[str, Any]]:
    """The named rows a benchmark knows (the way hloc names its configurations).

    Each entry says what the row is: ``kind`` (``reference``, ``im2gps`` or
    ``planet``), the ``features`` its index needs, and for ``im2gps`` rows the
    ``vote``: a fixed setting, or ``"cv"`` / ``"cv-cnn"`` for the setting that
    photographer-grouped cross-validation chooses on the database (on the
    classical features, or on CNN embeddings).
    """
    from im2gps.features import CLASSICAL, available

    confs: dict[str, dict[str, Any]] = {
        name: {"kind": "reference", "features": [], "help": f"the {name} reference row"}
        for name in REFERENCE_ROWS}
    confs["im2gps"] = {"kind": "im2gps", "features": list(CLASSICAL), "vote": "cv",
                       "help": "all classical features, CV-chosen voting"}
    confs["im2gps-1nn"] = {"kind": "im2gps", "features": list(CLASSICAL),
                           "vote": {"vote": "1nn", "k": 1}, "help": "classical 1-NN"}
    confs["im2gps-paper"] = {"kind": "im2gps", "features": list(CLASSICAL),
                             "vote": dict(PAPER_SETTING), "help": "the paper's k = 120"}
    for name in available():
        confs[f"im2gps-{name}"] = {"kind": "im2gps", "features": [name],
                                   "vote": "cv-cnn" if name == "cnn" else "cv",
                                   "help": f"{name} alone, CV-chosen voting"}
        confs[f"im2gps-{name}-1nn"] = {"kind": "im2gps", "features": [name],
                                       "vote": {"vote": "1nn", "k": 1},
                                       "help": f"{name} alone, 1-NN"}
    confs["planet"] = {"kind": "planet", "features": ["cnn"],
                       "help": "PlaNet over CNN embeddings, CV-chosen partition"}
    # landmark rows (im2gps.landmarks): bag of words, geometric verification
    for name in available():
        confs[f"im2gps-{name}-verified"] = {
            "kind": "landmark", "features": [name],
            "help": f"{name} kNN, short list geometrically verified"}
    confs["im2gps-bow"] = {"kind": "landmark", "features": ["bow"],
                           "help": "tf-idf bag of RootSIFT words, CV-chosen voting"}
    confs["im2gps-sift-verified"] = {
        "kind": "landmark", "features": list(CLASSICAL),
        "help": "scene kNN with its short list geometrically verified"}
    confs["im2gps-scene-bow-verified"] = {
        "kind": "landmark", "features": [*CLASSICAL, "bow"],
        "help": "im2gps-2015 style: scene features + bag of words, verified"}
    confs.update(EXTRA_ROWS)
    return confs


def row_conf(row: str) -> dict[str, Any] | None:
    """The configuration of a named row, of a saved locator given by its path, or None."""
    confs = _row_confs()
    if row in confs:
        return confs[row]
    from im2gps.locators import locator_kind

    kind = locator_kind(row)
    if kind is not None:
        return {"kind": "saved", "features": [], "path": row, "saved_kind": kind,
                "help": f"the saved {kind} locator in {row}"}
    return None


def rows_help() -> str:
    """Every named row with what it is, for ``im2gps benchmark --help``."""
    return "; ".join(f"{name} ({conf['help']})" for name, conf in _row_confs().items())

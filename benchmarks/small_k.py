"""Which k suits a small collection? Grouped CV of the default vote on samples of im2gps2k.

Run ``python benchmarks/small_k.py``. For 150- and 400-photo random samples of
the im2gps2k database (4 seeds each), the five classical features are indexed
and the default vote (mean-shift, 400 km) is cross-validated at k = 5 ... 120,
photographer-grouped, scored as the benchmark scores (mean accuracy at 25,
200, 750 and 2500 km). It is what the default ``k`` of :class:`im2gps.Im2GPS`
and the small-database warning rest on. Writes
``benchmarks/results/small_k.{json,md}``.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from im2gps import datasets
from im2gps.features import CLASSICAL
from im2gps.index import build_index
from im2gps.locator import quiet
from im2gps.tuning import cross_validate, grid

RESULTS = Path(__file__).resolve().parent / "results"
KS = [5, 10, 20, 40, 120]


def main() -> None:
    warnings.simplefilter("ignore")
    db = datasets.load("im2gps2k")
    rows = []
    for n in (150, 400):
        for seed in range(4):
            pick = np.sort(np.random.default_rng(seed).choice(len(db), n, replace=False))
            with tempfile.TemporaryDirectory() as tmp:
                index = build_index(db.subset(pick), Path(tmp) / "index", features=CLASSICAL,
                                    progress=False)
                with quiet():
                    table = cross_validate(index, index.photos["author"],
                                           grid(vote=["meanshift"], k=KS, bandwidth_km=[400]))
            scores = {int(r.k): float(r.score) for r in table.itertuples()}
            rows.append({"photos": n, "seed": seed, **{f"k={k}": scores[k] for k in KS}})
    frame = pd.DataFrame(rows)
    mean = frame.groupby("photos")[[f"k={k}" for k in KS]].mean()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "small_k.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["# Default vote on small collections: grouped-CV score by k", "",
             "`python benchmarks/small_k.py`: random samples of im2gps2k (4 seeds), five "
             "classical features, mean-shift at 400 km; score = mean accuracy at 25 / 200 / "
             "750 / 2500 km over photographer-grouped folds (higher is better).", "",
             "| photos | " + " | ".join(f"k = {k}" for k in KS) + " |",
             "|---:|" + "---:|" * len(KS)]
    for n, row in mean.iterrows():
        lines.append(f"| {n} | " + " | ".join(f"{row[f'k={k}']:.3f}" for k in KS) + " |")
    lines += ["", "The paper's k = 120 (the vote then covers most of a small database, so the "
              "answer leans to its densest place) scores as well as any smaller k here: on this "
              "database the densest place is a strong prior. The default stays k = 120, and a "
              "warning says what it means when k reaches half the database."]
    (RESULTS / "small_k.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Speed of the travel-prior HMM: an album of 100 photos over 2,000 cells, and its growth.

The states are real PlaNet cells: an adaptive S2 partition of the 100,000 MP-16
photo coordinates of ``../shared/data/coords`` (the ``t_max`` giving the
number of cells nearest 2,000; smaller state sets are seeded random subsets
of it). The prior is the one fitted on the im2gps2k author sequences. The
emissions are random (a Dirichlet draw per photo, concentrated like a
classifier's output): their values do not change the work done, which is
the point here. Gaps between photos follow three patterns:

``trip``
    log-uniform between 5 minutes and one day (a holiday's photos);
``sequences``
    drawn from the gaps of the real im2gps2k author sequences (weeks to years);
``unknown``
    no usable times (every gap read as one year: dense transitions).

Each timing is the whole album: transition matrices (distances, one matrix
per gap bin), forward-backward and Viterbi, on ONE core (BLAS threads set to
1 before numpy loads), best of ``--repeats``: wall time, and the CPU time
of this process (``time.process_time``, the better figure on a shared
machine, where the wall time also counts other people's work). The baseline in the same run is
the textbook dense log-space forward pass (``scipy.special.logsumexp`` over
the ``(S, S)`` matrix at every step, transitions evaluated per step, no gap
bins, no sparsity) on the same album, so the table also gives the speed-up.

Run: ``python benchmarks/album_speed.py`` (about a minute); writes
``benchmarks/results/album_speed.json`` and ``.md``.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

from im2gps import datasets  # noqa: E402
from im2gps.albums import parse_time  # noqa: E402
from im2gps.geo import EARTH_RADIUS_KM, haversine_km  # noqa: E402
from im2gps.hmm import forward_backward, viterbi  # noqa: E402
from im2gps.planet.partition import partition  # noqa: E402
from im2gps.travel import TransitionModel, TravelPrior, sequence_pairs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def cells_near(n_target: int) -> pd.DataFrame:
    """The coarsest partition of the MP-16 coordinates with at least ``n_target`` cells."""
    lat, lon = datasets.mp16_coords()
    for t_max in (400, 300, 200, 150, 100, 80, 60):
        cells, _ = partition(lat, lon, t_max, 10)
        if len(cells) >= n_target:
            return cells
    return cells


def album_hmm(prior, lat, lon, radius, log_e, gaps):
    model = TransitionModel(prior, lat, lon, radius)
    matrices = model.for_gaps(gaps)
    init = np.full(len(lat), -np.log(len(lat)))
    posterior, _ = forward_backward(log_e, matrices, init)
    path, _ = viterbi(log_e, matrices, init)
    return path, posterior, matrices


def baseline_forward(prior, lat, lon, radius, log_e, gaps):
    """Dense log-space forward pass, transitions recomputed at every step."""
    d = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    ring = 2 * np.pi * EARTH_RADIUS_KM * np.sin(np.maximum(d, 0.01) / EARTH_RADIUS_KM)
    log_area = np.log(np.pi * radius**2)
    alpha = log_e[0] - np.log(len(lat))
    for step, gap in enumerate(gaps, 1):
        log_w = prior.log_pdf(d, gap) - np.log(ring) + log_area[None, :]
        np.fill_diagonal(log_w, np.log(prior.cdf(radius, gap)))
        log_w -= logsumexp(log_w, axis=1, keepdims=True)
        alpha = logsumexp(alpha[:, None] + log_w, axis=0) + log_e[step]
    return alpha


def draw(n_photos, n_states, pattern, real_gaps, rng):
    log_e = np.log(rng.dirichlet(np.full(n_states, 0.05), size=n_photos) + 1e-12)
    if pattern == "trip":
        gaps = np.exp(rng.uniform(np.log(5 / 60), np.log(24), n_photos - 1))
    elif pattern == "sequences":
        gaps = rng.choice(real_gaps, n_photos - 1)
    else:
        gaps = np.full(n_photos - 1, np.nan)
    return log_e, gaps


def best_of(fn, repeats):
    """Best wall time and best CPU time (this process) over ``repeats`` runs."""
    walls, cpus = [], []
    out = None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), out


def _markdown(frame: pd.DataFrame) -> str:
    """A markdown table without the optional ``tabulate`` package."""
    rows = [list(frame.columns), ["---"] * frame.shape[1]]
    rows += [["" if pd.isna(v) else str(v) for v in record] for record in frame.to_numpy()]
    return "\n".join("| " + " | ".join(map(str, r)) + " |" for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the slow dense log-space baseline")
    parser.add_argument("--out", default=str(RESULTS / "album_speed"))
    args = parser.parse_args()

    table = pd.read_csv(datasets.find_data_dir() / "im2gps2k" / "photos.csv")
    times = np.array([parse_time(v)[0] for v in table["taken"]])
    distances, real_gaps = sequence_pairs(table["lat"], table["lon"], times, table["author"])
    prior = TravelPrior().fit(distances, real_gaps)
    cells = cells_near(2000)
    rng = np.random.default_rng(0)
    all_lat = cells["mean_lat"].to_numpy()
    all_lon = cells["mean_lon"].to_numpy()
    all_radius = np.sqrt(4 * EARTH_RADIUS_KM**2 / (6 * 4.0 ** cells["level"].to_numpy()))
    n_cells = len(cells)
    records = []

    def run(n_photos, n_states, pattern, baseline=False):
        pick = np.sort(rng.choice(n_cells, min(n_states, n_cells), replace=False))
        lat, lon, radius = all_lat[pick], all_lon[pick], all_radius[pick]
        log_e, gaps = draw(n_photos, len(pick), pattern, real_gaps, rng)
        seconds, cpu, (_, _, matrices) = best_of(
            lambda: album_hmm(prior, lat, lon, radius, log_e, gaps), args.repeats)
        density = np.mean([(m.nnz if hasattr(m, "nnz") else np.count_nonzero(m))
                           / len(pick) ** 2 for m in matrices])
        record = {"photos": n_photos, "states": len(pick), "gaps": pattern,
                  "seconds": round(seconds, 4), "cpu_seconds": round(cpu, 4),
                  "matrices": len({id(m) for m in matrices}),
                  "transition_density": round(float(density), 4)}
        if baseline:
            _, base_cpu, _ = best_of(
                lambda: baseline_forward(prior, lat, lon, radius, log_e, gaps), 1)
            record["baseline_forward_cpu_s"] = round(base_cpu, 3)
            record["speedup"] = round(base_cpu / cpu, 1)
        records.append(record)
        print(record, flush=True)

    for pattern in ("trip", "sequences", "unknown"):
        run(100, 2000, pattern, baseline=not args.no_baseline)
    for n_photos in (10, 30, 300, 1000):
        run(n_photos, 2000, "trip")
    for n_states in (250, 500, 1000):
        run(100, n_states, "trip")
    for n_states in (250, 500, 1000):
        run(100, n_states, "unknown")

    frame = pd.DataFrame(records)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"cells_available": n_cells, "load_average": os.getloadavg(),
                "prior": prior.get_params(),
                "machine": platform.processor() or platform.machine(),
                "cores": 1, "repeats": args.repeats, "records": records}
    out.with_suffix(".json").write_text(json.dumps(document, indent=2))
    lines = ["# Travel-prior HMM speed (one core)", "",
             f"States: cells of an adaptive S2 partition of MP-16 coordinates ({n_cells} "
             "cells; subsets for fewer). Whole album: transition matrices, "
             "forward-backward and Viterbi; best of "
             f"{args.repeats}; `cpu_seconds` is this process's CPU time (the machine's "
             f"load average was {os.getloadavg()[0]:.1f}, so wall times include waiting). "
             "Baseline: dense log-space forward pass with per-step transitions "
             "(`logsumexp` over S x S), CPU seconds; `speedup` = baseline / cpu_seconds.", "",
             _markdown(frame), ""]
    out.with_suffix(".md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()

"""Start-up latency of the CLI: cold ``im2gps locate``, ``index info`` and ``--version``
against the bare-import baseline ``python -c "import numpy, PIL, faiss"``.

Each round runs every command once in a fresh process, in an interleaved order
(baseline, locate, info, version, ...), so that a busy machine slows every
command alike; the figures are wall seconds, min and median over the rounds,
and the difference and ratio to the baseline of the same run. The goal of
issue 13: a cold one-photo ``locate --json`` on a classical index within
0.3 s of the baseline (min), ``index info`` and ``--version`` close to it.

The classical index holds the first 200 photos of im2gps2k with the five
classical features (built once into ``.cache/startup-index``); the start-up
cost does not depend on the index's size at this scale (``locate_scale.py``
measures larger ones). The query is a real im2gps237 photo. When torch is
installed, a CNN index of the same photos (``.cache/startup-cnn-index``) is
timed too, against a baseline that also imports torch.

One ``python -X importtime`` run of ``locate`` lists the modules that cost the
most to import beyond the baseline's.

Run ``python benchmarks/startup.py [--rounds 9]``; writes
``benchmarks/results/startup.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IM2GPS_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"
BASELINE = "import numpy, PIL, faiss"


def im2gps_command() -> list[str]:
    """The ``im2gps`` console script beside this interpreter, else ``python -m im2gps``."""
    script = Path(sys.executable).with_name("im2gps")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "im2gps"]


def build_index(cache: Path, name: str, features: str) -> Path:
    """A 200-photo im2gps2k index with ``features`` (built once into ``cache/name``)."""
    out = cache / name
    if (out / "manifest.json").is_file():
        return out
    table = pd.read_csv(DATA / "im2gps2k" / "photos.csv").iloc[:200].copy()
    table["image"] = [str(DATA / "im2gps2k" / p) for p in table["image"]]
    cache.mkdir(parents=True, exist_ok=True)
    table.to_csv(cache / f"{name}.csv", index=False)
    subprocess.run([*im2gps_command(), "index", "build", str(cache / f"{name}.csv"),
                    "--out", str(out), "--features", features, "--jobs", "2",
                    "--fit-sample", "100", "--no-progress"], check=True)
    return out


def cnn_index(cache: Path) -> Path | None:
    """The same photos with the CNN feature, when torch is installed."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None
    return build_index(cache, "startup-cnn-index", "cnn")


# Bytecode caches written and used, as in a user's environment: with
# PYTHONDONTWRITEBYTECODE set (as on our CI machines) an editable install
# compiles every im2gps module on every run (about 50 ms), while the
# baseline's site-packages ship compiled.
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=ENV)
    return time.perf_counter() - start


def import_costs(command: list[str], top: int = 12) -> list[dict[str, object]]:
    """Top-level imports of ``command`` by cumulative microseconds, beyond the baseline's."""
    env = dict(ENV, PYTHONPROFILEIMPORTTIME="1")
    err = subprocess.run(command, env=env, capture_output=True, text=True).stderr
    base = subprocess.run([sys.executable, "-X", "importtime", "-c", BASELINE],
                          capture_output=True, text=True).stderr
    baseline_modules = {line.split("|")[2].strip() for line in base.splitlines()
                        if line.startswith("import time:") and "|" in line}
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if not cumulative.strip().isdigit():
            continue
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        name = name.strip()
        if depth == 0 and name not in baseline_modules:
            rows.append({"module": name, "ms": int(cumulative) / 1000})
    return sorted(rows, key=lambda r: -r["ms"])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--cache", type=Path, default=REPO / ".cache")
    args = parser.parse_args()

    index = build_index(args.cache, "startup-index", "tiny,color,texton,gist,lines")
    photo = DATA / "im2gps237" / "images" / "104123223.jpg"
    cli = im2gps_command()
    commands = {
        "baseline": [sys.executable, "-c", BASELINE],
        "locate": [*cli, "locate", str(index), str(photo), "--json"],
        "index info": [*cli, "index", "info", str(index), "--json"],
        "--version": [*cli, "--version"],
    }
    cnn = cnn_index(args.cache)
    if cnn is not None:
        commands["baseline + torch"] = [sys.executable, "-c", BASELINE + ", torch"]
        commands["locate (cnn index)"] = [*cli, "locate", str(cnn), str(photo), "--json"]
    for command in commands.values():  # warm the page cache and the gazetteer's table cache
        wall(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, command in commands.items():
            times[name].append(wall(command))

    def stats(name: str, reference: str) -> dict[str, float]:
        t, b = times[name], times[reference]
        return {"min_s": min(t), "median_s": statistics.median(t),
                "minus_baseline_min_s": min(t) - min(b),
                "minus_baseline_median_s": statistics.median(t) - statistics.median(b),
                "ratio_min": min(t) / min(b), "ratio_median": statistics.median(t) /
                statistics.median(b), "baseline": reference}

    rows = {name: stats(name, "baseline + torch" if "cnn" in name or "torch" in name
                        else "baseline") for name in commands}
    imports = import_costs(commands["locate"])
    record = {
        "command": f"python benchmarks/startup.py --rounds {args.rounds}",
        "rounds": args.rounds, "index": str(index), "photo": str(photo),
        "baseline": BASELINE, "results": rows, "times_s": times,
        "locate_imports_beyond_baseline": imports,
        "goal": "cold locate --json on a classical index within 0.3 s of the baseline (min)",
        "goal_met": rows["locate"]["minus_baseline_min_s"] <= 0.3,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "load_average": os.getloadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "startup.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Start-up latency: cold CLI commands against the bare-import baseline", "",
        f"Produced by `{record['command']}`: {args.rounds} interleaved rounds, each command in "
        f"a fresh process, wall seconds. Baseline: `python -c \"{BASELINE}\"` in the same "
        f"rounds. Index: 200 im2gps2k photos, five classical features; query: one real "
        f"im2gps237 photo. Machine: {record['machine']}, shared with other work; load "
        f"average after the run {' / '.join(f'{x:.2f}' for x in record['load_average'])}. "
        "Bytecode caches are written and used, as in a user's environment "
        "(`PYTHONDONTWRITEBYTECODE` unset for the commands; a first run after an install "
        "or edit compiles the modules once). `locate` prepares the features' tables and "
        "filter spectra on a second thread while the index loads "
        "(`GeoIndex.load(warm_up=True)`): on one core that work would add about 0.1 s.", "",
        "| command | min s | median s | min - baseline s | median - baseline s | "
        "ratio (min) | ratio (median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(f"| `{name}` | {r['min_s']:.2f} | {r['median_s']:.2f} | "
                     f"{r['minus_baseline_min_s']:+.2f} | {r['minus_baseline_median_s']:+.2f} | "
                     f"{r['ratio_min']:.2f}x | {r['ratio_median']:.2f}x |")
    lines += ["", f"Goal: {record['goal']}: **{'met' if record['goal_met'] else 'not met'}** "
              f"({rows['locate']['minus_baseline_min_s']:+.2f} s).", "",
              "Imports of `locate` beyond the baseline's (top-level modules, cumulative ms of "
              "one `-X importtime` run):", "",
              "| module | ms |", "|---|---:|"]
    lines += [f"| `{r['module']}` | {r['ms']:.0f} |" for r in imports]
    (RESULTS / "startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

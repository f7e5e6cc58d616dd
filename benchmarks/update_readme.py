"""Copy the recorded benchmark table into the README's results section.

Run ``python benchmarks/update_readme.py [RESULTS_DIR]`` after ``im2gps benchmark
--out RESULTS_DIR`` (``make record`` does it for the run of ``make benchmark``, after
copying that run into ``benchmarks/results/im2gps237``). The section between the
``<!-- results:start -->`` and ``<!-- results:end -->`` markers is replaced, so
every number in it comes from the recorded run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"


def section(results: Path) -> str:
    """The README text for one recorded run."""
    document = json.loads((results / "results.json").read_text())
    markdown = (results / "results.md").read_text().split("\n## Per scene")[0]
    body = markdown.split("\n", 2)[2].strip()  # drop the title line
    timings = document.get("timings_s", {})
    total = sum(timings.values())
    relative = results.relative_to(REPO) if results.is_relative_to(REPO) else results
    return "\n".join([
        START,
        f"`im2gps benchmark`: {document['test']} ({document['n']} photos) against the "
        f"{document['database']} database, recorded in `{relative}/` "
        f"(regenerate with `make benchmark`, then `make record` to copy the run here and "
        f"into this table; {total:.0f} s of work in that run).",
        "",
        body,
        "",
        f"![error CDF]({relative}/error_cdf.png)",
        END,
    ])


def main(argv: list[str]) -> None:
    results = Path(argv[0]) if argv else REPO / "benchmarks" / "results" / "im2gps237"
    readme = REPO / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + section(results.resolve()) + tail)
    print(f"README results section updated from {results}")


if __name__ == "__main__":
    main(sys.argv[1:])

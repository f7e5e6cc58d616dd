"""Named sections of a results file that more than one benchmark script writes.

``benchmarks/scale.py`` writes ``results/scale.md``; ``benchmarks/locate_scale.py``
keeps its own section in the same file (the issue asks for every scale figure
in one place), between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``
markers that each script leaves alone when it rewrites the rest.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["read_section", "write_section"]


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"<!-- begin {re.escape(name)} -->\n.*?<!-- end {re.escape(name)} -->\n",
                      re.DOTALL)


def read_section(path: Path, name: str) -> str:
    """The section ``name`` of ``path`` with its markers, or "" if absent."""
    if not path.is_file():
        return ""
    found = _pattern(name).search(path.read_text())
    return found.group(0) if found else ""


def write_section(path: Path, name: str, text: str) -> None:
    """Put ``text`` as section ``name`` of ``path``: in place of the old one, else at the end."""
    block = f"<!-- begin {name} -->\n{text.rstrip()}\n<!-- end {name} -->\n"
    old = path.read_text() if path.is_file() else ""
    if _pattern(name).search(old):
        new = _pattern(name).sub(lambda _: block, old, count=1)
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + block
    path.write_text(new)

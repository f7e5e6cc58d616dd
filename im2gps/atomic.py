"""Writing a directory atomically: one home for "written aside, then renamed into place".

Every saved locator (index, PlaNet model, reference row, album locators) is a
directory that appears under its name only when complete: the files go into a
hidden sibling ``.NAME.tmp-PID`` that is renamed to ``NAME`` at the end, and an
older directory of the same name (with ``overwrite``) is moved aside first and
removed only after the rename. A crash leaves the old directory or none, never
a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_directory", "swap_into_place"]


def swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished directory ``tmp`` to ``out``, moving an old ``out`` aside first."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old)
    else:
        os.rename(tmp, out)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh hidden folder to write into; it becomes ``path`` when the block ends.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false (before anything is written).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_into_place(tmp, path)

"""docs/tutorial.md runs top to bottom as written: every Python block, in order.

The blocks share one namespace, as a reader typing them into one session
would; they run in a temporary folder (the figures they write land there)
against the real data of ../shared/data.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), re.S)


@pytest.mark.slow
def test_tutorial_python_runs_as_written(tmp_path, monkeypatch, capsys):
    blocks = python_blocks()
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(TUTORIAL), "exec"), namespace)  # noqa: S102 - our own docs
    assert (tmp_path / "why.png").is_file() and (tmp_path / "cells.png").is_file()
    assert (tmp_path / "occlusion.png").is_file()
    assert (tmp_path / "planet-tutorial" / "planet.json").is_file()
    printed = capsys.readouterr().out
    assert "Im2GPS(" in printed and "PlaNet(" in printed

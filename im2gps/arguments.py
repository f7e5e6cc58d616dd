"""Command-line plumbing shared by every ``im2gps`` command.

One home for what each command's parser and output need: argument types that
turn a bad option value into a usage error (exit code 2, naming the option
and the value) before any work starts, :class:`UsageError` for usage
problems found later, the exit codes, and JSON output that never holds NaN.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

from im2gps.errors import UsageError
from im2gps.jsonable import json_safe

__all__ = [
    "EXIT_DATA",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "UsageError",
    "feature_list",
    "json_safe",
    "nonnegative_int",
    "port_number",
    "positive_float",
    "positive_int",
    "print_json",
]

#: Exit codes scripts can trust: 0 everything done; 1 done, but some inputs were
#: skipped or failed; 2 wrong usage (including bad option values); 3 bad data.
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_DATA = 0, 1, 2, 3


def _number(kind: Callable[[str], Any], test: Callable[[Any], bool], what: str
            ) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if isinstance(value, float) and not math.isfinite(value) or not test(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


#: An integer >= 1 (``--k``, ``--jobs``, ...).
positive_int = _number(int, lambda v: v >= 1, "a whole number >= 1")
#: An integer >= 0 (``--rerank``, ``--neighbors``, ...).
nonnegative_int = _number(int, lambda v: v >= 0, "a whole number >= 0")
#: A TCP port, 0 to 65535 (``serve --port``; 0: any free port).
port_number = _number(int, lambda v: 0 <= v <= 65535, "a port number from 0 to 65535")
#: A finite number > 0 (``--bandwidth-km``, ...).
positive_float = _number(float, lambda v: v > 0, "a number > 0")
#: A bandwidth in km of at least 1 m (``im2gps.voting.MIN_BANDWIDTH_KM``, copied here so
#: that parsing does not import numpy; tests/test_voting.py checks they agree).
MIN_BANDWIDTH_KM = 0.001
bandwidth_km = _number(float, lambda v: v >= MIN_BANDWIDTH_KM, "a bandwidth of at least 0.001 km")


def feature_list(text: str) -> list[str]:
    """A comma-separated list of known feature names (``--features``)."""
    from im2gps.features import available

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no feature named")
    known = available()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown feature(s) {', '.join(unknown)}; choose "
                                         f"from {', '.join(known)}")
    return names


def print_json(document: Any) -> None:
    """Print ``document`` as strict JSON (no NaN) on stdout."""
    json.dump(json_safe(document), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")

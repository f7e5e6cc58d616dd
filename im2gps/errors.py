"""The errors shared across the package: :class:`PhotoError` and :class:`UsageError`.

It lives in its own module so that the geotag decoders (:mod:`im2gps.gps`)
and the photo readers (:mod:`im2gps.photos`, which re-exports it) share it
without importing each other.
"""

from __future__ import annotations

import os

__all__ = ["PhotoError", "UsageError"]


class PhotoError(ValueError):
    """A photo that cannot be used, with the file and the reason.

    Parameters
    ----------
    path : str or Path
        The offending file (or ``manifest.csv:LINE`` for a manifest row).
    reason : str
        Why it cannot be used, in words a user can act on.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UsageError(ValueError):
    """A wrong setting or option value, found before any work is done.

    The command line reports it as a usage error (exit code 2), e.g. a FAISS
    factory string that cannot make an index, or ``--t-max`` below ``--t-min``.
    """

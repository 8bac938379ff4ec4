"""Paths as GDAL takes them: UTF-8 text. A file name holding other bytes (a Latin-1 name on a
UTF-8 system) cannot be passed to GDAL, so it is refused before any work with one line that shows
it with its odd bytes escaped."""

from __future__ import annotations

import os
from typing import Any

from ..errors import LczmapError, OutputError

__all__ = ["shown", "check_utf8"]


def shown(path: Any) -> str:
    """``path`` as printable text: bytes that are not UTF-8 appear as ``\\xff`` escapes."""
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def check_utf8(path: Any, what: str, error: type[LczmapError] = OutputError) -> None:
    """Raise ``error`` when the path ``path`` (``what``: e.g. "output") is not UTF-8 text."""
    if path is None or not isinstance(path, (str, bytes, os.PathLike)):
        return
    raw = os.fspath(path)
    try:
        raw.decode("utf-8") if isinstance(raw, bytes) else raw.encode("utf-8")
    except UnicodeError:
        raise error(f"the {what} {shown(path)} is not a UTF-8 file name, which GDAL needs: rename it") from None

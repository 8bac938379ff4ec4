"""Names a package imports on first use (PEP 562), so that importing it stays light: the root API
loads no torch or GDAL, ``lczmap.train`` and ``lczmap.models`` give their choices without torch,
``lczmap.predict.options`` loads without torch, ``lczmap.study`` without dask."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, table: Mapping[str, str | tuple[str, str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the module ``package``.

    ``table``: public name -> module (relative to ``package``, e.g. ``".runner"``, or absolute),
    or -> (module, attribute) when the attribute has another name there. A name is imported the
    first time it is asked for and then kept in the module's namespace.
    """

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = (target, name) if isinstance(target, str) else target
        value = getattr(importlib.import_module(module, package), attr)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__

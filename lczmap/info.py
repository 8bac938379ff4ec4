"""What a path holds: a So2Sat release, an lczmap cache, or an lczmap checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .classes import LCZ_CLASSES
from .errors import DataError

__all__ = ["describe", "format_description"]


def describe(path: str | os.PathLike) -> dict:
    """A JSON-able description of ``path``: ``kind`` is ``so2sat``, ``cache`` or ``checkpoint``."""
    from .data import is_cache, open_so2sat, read_cache_index

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist: give a So2Sat folder or .h5 file, a cache folder or a checkpoint")
    if path.is_dir() and is_cache(path):
        index = read_cache_index(path)
        splits = {}
        for name, entry in index["splits"].items():
            counts = _class_counts(np.load(path / name / "labels.npy")) if entry.get("labels") else {}
            splits[name] = {
                "patches": entry["n"],
                "band_sets": {
                    bs: ("complete" if st["complete"] else f"{st['rows_done']}/{entry['n']} rows")
                    for bs, st in entry["band_sets"].items()
                },
                "patches_per_class": counts,
            }
        return {"kind": "cache", "path": str(path), "source": index["source"], "layout": index["layout"], "splits": splits}
    if path.is_file() and path.suffix.lower() not in (".h5", ".hdf5"):
        from . import checkpoint

        return {"kind": "checkpoint", "path": str(path), **checkpoint.describe(path)}
    ds = open_so2sat(path)
    splits = {}
    for name, split in ds.splits.items():
        f = split.file
        splits[name] = {
            "file": str(split.path),
            "patches": len(split),
            "datasets": {k: {"shape": list(f[k].shape), "dtype": str(f[k].dtype)} for k in ("sen1", "sen2", "label")},
            "patches_per_class": _class_counts(split.labels()),
        }
    return {"kind": "so2sat", "path": str(path), "layout": ds.layout, "test_split": ds.test_split, "splits": splits}


def _class_counts(labels: np.ndarray) -> dict[str, int]:
    counts = np.bincount(labels, minlength=17)
    return {f"LCZ {c.label} ({c.name})": int(counts[c.code - 1]) for c in LCZ_CLASSES}


def format_description(info: dict) -> str:
    """Human-readable text of :func:`describe`'s result."""
    lines: list[str] = []

    def walk(obj, indent=0):
        pad = "  " * indent
        for key, value in obj.items():
            if isinstance(value, dict):
                lines.append(f"{pad}{key}:")
                walk(value, indent + 1)
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                lines.append(f"{pad}{key}:")
                for item in value:
                    walk(item, indent + 1)
                    lines.append("")
            else:
                lines.append(f"{pad}{key}: {value}")

    walk(info)
    return "\n".join(lines)

"""Writing what the map commands report: figures (matplotlib's object API, no pyplot state) and small text files,
each read back before it replaces the old file: one through :func:`lczmap._io.atomic_path`, several
that belong together (an assessment's JSON, CSV, figure and agreement layer) through one
:func:`lczmap._io.output_fileset`, so that they replace the old ones together or not at all."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import atomic_path, output_fileset, writing
from ..classes import LCZ_CLASSES
from ..errors import OutputError, ZonesError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_FORMATS",
    "ReportFile",
    "confusion_figure",
    "csv_file",
    "figure_file",
    "json_file",
    "save_figure",
    "write_csv",
    "write_json",
    "write_together",
]

#: Figure formats by extension.
FIGURE_FORMATS: dict[str, str] = {".png": "png", ".pdf": "pdf"}
_MAGIC = {"png": b"\x89PNG", "pdf": b"%PDF"}


def figure_format(path: str | os.PathLike) -> str:
    ext = Path(path).suffix.lower()
    if ext not in FIGURE_FORMATS:
        raise ZonesError(f"cannot tell the figure format of {path}: end its name with {' or '.join(FIGURE_FORMATS)}")
    return FIGURE_FORMATS[ext]


def _checked(kind: str) -> Callable[[Path], None]:
    def verify(tmp: Path) -> None:
        with open(tmp, "rb") as f:
            if f.read(4) != _MAGIC[kind]:
                raise OutputError(f"the {kind.upper()} written to {tmp.parent} is not whole: the old file, if any, is kept")

    return verify


@dataclass(frozen=True)
class ReportFile:
    """One file to write: ``write(tmp)`` writes it to the temporary path ``tmp`` and reads it back
    (raising when it is not whole), before it replaces ``target``."""

    target: Path
    write: Callable[[Path], None]


def figure_file(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> ReportFile:
    """A matplotlib Figure as PNG or PDF (by extension)."""
    kind = figure_format(path)
    check = _checked(kind)

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format=kind, dpi=dpi, bbox_inches="tight")
        check(tmp)

    return ReportFile(Path(path), write)


def json_file(data: dict[str, Any], path: str | os.PathLike) -> ReportFile:
    """``data`` as indented JSON (NaN written as null)."""
    text = json.dumps(_plain(data), indent=2, allow_nan=False)

    def write(tmp: Path) -> None:
        tmp.write_text(text + "\n")
        json.loads(tmp.read_text())

    return ReportFile(Path(path), write)


def csv_file(frame: pd.DataFrame, path: str | os.PathLike) -> ReportFile:
    """A DataFrame as CSV without index (geometry dropped)."""
    import pandas as pd

    table = frame.drop(columns=frame.geometry.name) if hasattr(frame, "geometry") and "geometry" in frame else frame

    def write(tmp: Path) -> None:
        table.to_csv(tmp, index=False)
        if len(pd.read_csv(tmp)) != len(table):
            raise OutputError(f"writing {path} failed (rows did not read back): the old file, if any, is kept")

    return ReportFile(Path(path), write)


def _write_one(file: ReportFile, overwrite: bool) -> Path:
    with atomic_path(file.target, overwrite=overwrite) as tmp, writing(file.target, tmp=tmp):
        file.write(tmp)
    return file.target


def write_together(files: Sequence[ReportFile], overwrite: bool = False) -> list[Path]:
    """Write ``files`` and replace the old ones together: when any one fails (a full disk), every
    old file is kept and no temporary is left. Returns the targets."""
    if not files:
        return []
    first, *rest = files
    with output_fileset(first.target, overwrite) as fileset:
        with writing(first.target, tmp=fileset.main):
            first.write(fileset.main)
        for file in rest:
            fileset.extra(file.target, file.write)
    return [file.target for file in files]


def save_figure(fig: Figure, path: str | os.PathLike, overwrite: bool = False, dpi: int = 150) -> Path:
    """Save a matplotlib Figure as PNG or PDF (by extension), atomically."""
    return _write_one(figure_file(fig, path, dpi), overwrite)


def write_json(data: dict[str, Any], path: str | os.PathLike, overwrite: bool = False) -> Path:
    """``data`` as indented JSON (NaN written as null), read back before it replaces ``path``."""
    return _write_one(json_file(data, path), overwrite)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """A DataFrame as CSV without index (geometry dropped), read back before it replaces ``path``."""
    return _write_one(csv_file(frame, path), overwrite)


def _plain(value: Any) -> Any:
    """JSON-ready copies: numpy scalars/arrays to Python, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, Path):
        return str(value)
    return value


def confusion_figure(cm: np.ndarray, title: str = "", reference: str = "reference", mapped: str = "map") -> Figure:
    """A Figure of a (17, 17) confusion matrix (rows reference, columns map) over the classes
    present in either: cells coloured by the share of the reference class (row), annotated
    with that share in percent."""
    from matplotlib.figure import Figure

    cm = np.asarray(cm, dtype=np.float64)
    keep = np.flatnonzero((cm.sum(axis=0) + cm.sum(axis=1)) > 0)
    if keep.size == 0:
        keep = np.arange(17)
    sub = cm[np.ix_(keep, keep)]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = sub / sub.sum(axis=1, keepdims=True)
    labels = [LCZ_CLASSES[k].label for k in keep]
    size = 2.0 + 0.42 * len(keep)
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.add_subplot()
    image = ax.imshow(np.nan_to_num(share) * 100, cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(len(keep)), labels)
    ax.set_yticks(range(len(keep)), labels)
    ax.set_xlabel(f"{mapped} (LCZ)")
    ax.set_ylabel(f"{reference} (LCZ)")
    for i in range(len(keep)):
        for j in range(len(keep)):
            if sub[i, j] > 0:
                value = share[i, j] * 100
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7, color="white" if value > 60 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of the reference class")
    if title:
        ax.set_title(title, fontsize=9)
    return fig

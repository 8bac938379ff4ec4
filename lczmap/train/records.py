"""What a run records beside its checkpoint: the per-epoch CSV, the learning-curve PNG, the
TensorBoard events (when tensorboard is installed) and the summary of the metrics."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._io import atomic_path

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["CSV_FIELDS", "TIMING_METRICS", "write_csv", "plot_curve", "open_tensorboard", "summarize_history"]

log = logging.getLogger(__name__)

#: Columns of ``<stem>.metrics.csv``, one row per epoch and stage.
CSV_FIELDS = [
    "stage",
    "epoch",
    "loss",
    "ce_eo",
    "ce_sar",
    "supcon",
    "swd_marginal",
    "swd_class",
    "val_accuracy",
    "seconds",
    "samples",
    "samples_per_s",
]

#: Keys of :func:`summarize_history` that measure time: kept out of the checkpoint, whose bytes
#: depend on the seed and the options only.
TIMING_METRICS = ("seconds", "eo_samples_per_s", "sar_samples_per_s")


def write_csv(history: list[dict], path: Path) -> None:
    """Write ``history`` (one dict per epoch) as CSV; missing values are empty cells."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(buf.getvalue())


def plot_curve(history: list[dict], path: Path) -> None:
    """Training loss and validation accuracy per epoch of both stages, as a PNG."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    fig = Figure(figsize=(8, 3.5), constrained_layout=True)
    ax_loss, ax_acc = fig.subplots(1, 2)
    x = np.arange(1, len(history) + 1)
    for stage, colour in (("eo", "tab:green"), ("sar", "tab:blue")):
        rows = [(i, h) for i, h in zip(x, history) if h["stage"] == stage]
        if not rows:
            continue
        xs = [i for i, _ in rows]
        ax_loss.plot(xs, [h["loss"] for _, h in rows], "o-", color=colour, label=f"{stage.upper()} stage loss")
        acc = [(i, h["val_accuracy"]) for i, h in rows if h.get("val_accuracy") not in (None, "")]
        if acc:
            ax_acc.plot([a for a, _ in acc], [b for _, b in acc], "o-", color=colour, label=f"{stage.upper()} stage")
    ax_loss.set_xlabel("epoch (both stages)")
    ax_loss.set_ylabel("training loss")
    ax_loss.legend()
    ax_acc.set_xlabel("epoch (both stages)")
    ax_acc.set_ylabel("validation accuracy")
    ax_acc.set_ylim(0, 1)
    if ax_acc.lines:
        ax_acc.legend()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def open_tensorboard(path: Path) -> SummaryWriter | None:
    """A TensorBoard ``SummaryWriter`` logging to ``path``, or None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        log.debug("tensorboard not installed: per-epoch metrics go to the CSV only")
        return None
    return SummaryWriter(log_dir=str(path))


def summarize_history(history: list[dict], elapsed: float) -> dict:
    """Per stage: epochs, samples/s, final loss and validation accuracy; and the total seconds."""
    out: dict = {"seconds": round(elapsed, 2)}
    for stage in ("eo", "sar"):
        rows = [h for h in history if h["stage"] == stage]
        if not rows:
            continue
        secs = sum(h["seconds"] for h in rows)
        out[f"{stage}_epochs"] = len(rows)
        out[f"{stage}_samples_per_s"] = round(sum(h["samples"] for h in rows) / secs, 1) if secs else None
        out[f"{stage}_final_loss"] = rows[-1]["loss"]
        if rows[-1].get("val_accuracy") is not None:
            out[f"{stage}_val_accuracy"] = rows[-1]["val_accuracy"]
    return out

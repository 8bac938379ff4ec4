"""Evaluate a checkpoint's SAR network on a So2Sat split.

:func:`evaluate` (also named :func:`evaluate_model`) reports overall accuracy, Cohen's kappa,
per-class precision / recall / F1, the confusion matrix (rows: true class, columns: predicted
class) and how well the probabilities are calibrated (the top-label expected calibration error,
:mod:`lczmap.calibration`, with and without the checkpoint's temperature), and writes
``report.json``, ``confusion.csv``, ``confusion.png`` (labelled with LCZ names) and
``reliability.png`` (the reliability diagram) to ``out_dir`` when given. Only patches of the
checkpoint's class setting are evaluated. :func:`calibrate_network` fits the temperature that
``lczmap train`` and ``lczmap adapt`` store. It imports nothing of the training stack.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from ._io import NO_SPACE, atomic_path, check_output, disk_full_error
from .calibration import Reliability, fit_calibration, plot_reliability, report_entry
from .classes import label_of, lcz, name_of
from .errors import DataError, OutputError

if TYPE_CHECKING:
    from .checkpoint import Checkpoint
    from .data import PatchSource

__all__ = [
    "predict_logits",
    "confusion_matrix",
    "classification_metrics",
    "evaluate",
    "evaluate_model",
    "calibrate_network",
    "REPORT_FILES",
]

log = logging.getLogger(__name__)

#: errno values of a full file system (as in :mod:`lczmap._io`).


class Patches(Protocol):
    """Patches ``(N, C, 32, 32)`` read a slice at a time, e.g. a patch source restricted to positions."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: slice, /) -> np.ndarray | torch.Tensor: ...


#: Files :func:`evaluate` writes into ``out_dir``.
REPORT_FILES = ("report.json", "confusion.csv", "confusion.png", "reliability.png")


@torch.no_grad()
def predict_logits(
    network: torch.nn.Module,
    x: torch.Tensor | Patches,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    progress: Callable | None = None,
) -> torch.Tensor:
    """Logits (N, K) on the CPU of ``network`` for patches ``x`` (N, C, 32, 32): a tensor, or
    any object with ``len`` and ``x[i:j]`` (e.g. a patch source)."""
    was_training = network.training
    network.eval()
    device = torch.device(device)
    network.to(device)
    outs = []
    n = len(x)
    bar = progress(total=n, desc="predicting") if progress else None
    try:
        for start in range(0, n, batch_size):
            xb = x[start : start + batch_size]
            xb = torch.as_tensor(np.asarray(xb) if not isinstance(xb, torch.Tensor) else xb, dtype=torch.float32)
            outs.append(network(xb.to(device)).float().cpu())
            if bar is not None:
                bar.update(len(xb))
    finally:
        if bar is not None:
            bar.close()
        network.train(was_training)
    if not outs:
        return torch.empty(0, 0)
    return torch.cat(outs)


def calibrate_network(
    network: torch.nn.Module,
    x: torch.Tensor | Patches | None,
    y: torch.Tensor | np.ndarray | None,
    fitted_on: str,
    device: torch.device | str = "cpu",
) -> dict | None:
    """What a checkpoint stores as ``meta["calibration"]`` for ``network``: the temperature
    fitted on held-out patches ``x`` (N, C, 32, 32) with class indices ``y`` (N,)
    (:func:`lczmap.calibration.fit_calibration`), or None (uncalibrated, logged) without them."""
    if x is None or y is None or len(x) == 0:
        log.info("no held-out patches to calibrate on (%s): the probabilities stay uncalibrated (T = 1)", fitted_on)
        return None
    logits = predict_logits(network, x, batch_size=256, device=device).numpy()
    return fit_calibration(logits, np.asarray(y), fitted_on).to_dict()


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(K, K) int64 counts, rows true class, columns predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def classification_metrics(cm: np.ndarray) -> dict:
    """Overall accuracy, Cohen's kappa, per-class precision / recall / F1 (0 where undefined),
    macro F1 from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    n = cm.sum()
    diag = np.diag(cm)
    rows, cols = cm.sum(axis=1), cm.sum(axis=0)
    oa = diag.sum() / n if n else 0.0
    pe = (rows * cols).sum() / n**2 if n else 0.0
    kappa = (oa - pe) / (1 - pe) if pe < 1 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(cols > 0, diag / cols, 0.0)
        recall = np.where(rows > 0, diag / rows, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {
        "overall_accuracy": float(oa),
        "kappa": float(kappa),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": rows.astype(int).tolist(),
        "macro_f1": float(f1.mean()) if len(f1) else 0.0,
    }


def _plot_confusion(cm: np.ndarray, codes: Sequence[int], path: Path, title: str) -> None:
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    k = len(codes)
    names = [f"{label_of(c)} {name_of(c)}" for c in codes]
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    size = max(4.0, 0.55 * k + 2.5)
    fig = Figure(figsize=(size + 1, size), constrained_layout=True)
    ax = fig.subplots()
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted LCZ")
    ax.set_ylabel("true LCZ")
    ax.set_title(title, fontsize=9)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(
                    j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7, color="white" if frac[i, j] > 0.5 else "black"
                )
    fig.colorbar(im, ax=ax, label="fraction of true class")
    fig.savefig(path, format="png", dpi=100)


def evaluate(
    ckpt: str | os.PathLike | Checkpoint,
    data: str | os.PathLike | None,
    split: str | None = None,
    cache: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    overwrite: bool = False,
    progress: Callable | None = None,
) -> dict:
    """Evaluate checkpoint ``ckpt`` (path or :class:`~lczmap.checkpoint.Checkpoint`) on the SAR
    patches of ``split`` (default: ``testing`` if present, else ``validation``).

    Returns the report dict; with ``out_dir``, also writes :data:`REPORT_FILES` there (the folder
    is created; existing files are kept unless ``overwrite``).
    """
    from ._device import resolve_device
    from .checkpoint import Checkpoint, load_checkpoint
    from .data import open_patches, select_classes
    from .data.so2sat import open_so2sat

    ck = ckpt if isinstance(ckpt, Checkpoint) else load_checkpoint(ckpt)
    if split is None:
        if data is not None:
            split = open_so2sat(data).test_split
        else:
            raise DataError("no split given and no So2Sat data to choose one from: pass --split testing (or validation)")
    out_paths = None
    folder = None if out_dir is None else Path(out_dir)
    if folder is not None:
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{folder} exists and is not a folder: choose another --out-dir")
        out_paths = {name: folder / name for name in REPORT_FILES}
        if folder.is_dir():
            for p in out_paths.values():
                check_output(p, overwrite)
        else:  # the folder is made at the end: check now that it can be
            check_output(_existing_ancestor(folder) / ".lczmap-evaluate")
    src = open_patches(data, split, ck.sar_bands, cache)
    positions, y = select_classes(src.labels, ck.meta["classes"], split)
    network = ck.sar_network()
    x = _Positions(src, positions)
    logits = predict_logits(network, x, batch_size=batch_size, device=resolve_device(device), progress=progress)
    pred = logits.argmax(1).numpy()
    codes = ck.codes
    cm = confusion_matrix(y, pred, len(codes))
    m = classification_metrics(cm)
    report = {
        "checkpoint": str(ck.path),
        "data": None if data is None else str(data),
        "split": split,
        "method": ck.method,
        "norm": ck.norm,
        "classes": ck.meta["classes"],
        "sar_bands": ck.sar_bands.name,
        "n": int(len(y)),
        "overall_accuracy": m["overall_accuracy"],
        "kappa": m["kappa"],
        "macro_f1": m["macro_f1"],
        "per_class": [
            {
                "code": int(c),
                "label": label_of(c),
                "name": name_of(c),
                "support": m["support"][i],
                "precision": m["precision"][i],
                "recall": m["recall"][i],
                "f1": m["f1"][i],
            }
            for i, c in enumerate(codes)
        ],
        "confusion_matrix": cm.tolist(),
        "confusion_axes": "rows: true LCZ, columns: predicted LCZ, in the order of per_class",
    }
    report["calibration"], curves = report_entry(logits.numpy(), y, ck.calibration)
    log.info("%s on %s (%d patches): accuracy %.4f, kappa %.4f", ck.path.name, split, len(y), m["overall_accuracy"], m["kappa"])
    if folder is not None and out_paths is not None:
        report["files"] = {k: str(v) for k, v in out_paths.items()}
        _write_report(folder, out_paths, report, cm, codes, overwrite, curves)
    return report


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _write_report(
    folder: Path,
    out_paths: dict[str, Path],
    report: dict,
    cm: np.ndarray,
    codes: Sequence[int],
    overwrite: bool,
    curves: dict[str, Reliability],
) -> None:
    """Write the report files as one unit: all are written to temporary files first and
    renamed only when all are whole; on failure nothing new is left (a folder made here is removed)."""
    made: list[Path] = []
    for parent in reversed([folder, *folder.parents]):
        if not parent.exists():
            try:
                parent.mkdir()
            except OSError as exc:
                for d in reversed(made):
                    d.rmdir()
                if exc.errno in NO_SPACE:
                    raise disk_full_error(folder) from None
                raise OutputError(f"cannot create {folder} ({exc.strerror}): choose a writable --out-dir") from None
            made.append(parent)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["true \\ predicted"] + [lcz(c).title for c in codes])
    for i, c in enumerate(codes):
        writer.writerow([lcz(c).title] + [int(v) for v in cm[i]])
    title = (
        f"{Path(report['checkpoint']).name} on {report['split']}: "
        f"OA {report['overall_accuracy']:.3f}, kappa {report['kappa']:.3f}"
    )
    try:
        with (
            atomic_path(out_paths["confusion.csv"], overwrite=overwrite) as csv_tmp,
            atomic_path(out_paths["confusion.png"], overwrite=overwrite) as png_tmp,
            atomic_path(out_paths["reliability.png"], overwrite=overwrite) as rel_tmp,
            atomic_path(out_paths["report.json"], overwrite=overwrite) as json_tmp,
        ):
            csv_tmp.write_text(buf.getvalue())
            _plot_confusion(cm, codes, png_tmp, title)
            cal = report["calibration"]
            rel_title = (
                f"{Path(report['checkpoint']).name} on {report['split']} (n = {report['n']}): "
                f"ECE {cal['ece_uncalibrated']:.3f} -> {cal['ece_calibrated']:.3f}"
            )
            plot_reliability(curves, rel_title).savefig(rel_tmp, format="png", dpi=100)
            json_tmp.write_text(json.dumps(report, indent=2))
    except BaseException:
        for d in reversed(made):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        raise


#: The verb-noun name of :func:`evaluate` (the same function), as the package root exports it.
evaluate_model = evaluate


class _Positions:
    """``src`` restricted to ``positions``, sliceable for :func:`predict_logits`."""

    def __init__(self, src: PatchSource, positions: np.ndarray):
        self.src = src
        self.positions = np.asarray(positions, dtype=np.int64)
        if not len(self.positions):
            raise DataError(f"no patches of the class setting in split {src.split!r}: choose another split")

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, sl: slice) -> np.ndarray:
        from .data import check_finite

        x = self.src[self.positions[sl]]
        check_finite(x, self.src)
        return x

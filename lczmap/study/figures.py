"""The paper's figures from a study's results: accuracy vs labelled SAR, batch vs instance norm,
SupCon vs none (mean and standard error over seeds)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._io import atomic_path
from ..classes import CLASS_SETTINGS, class_codes, label_of
from .results import aggregate, labels_key
from .spec import AXES

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .results import ResultsTable

__all__ = ["make_figures", "plot_figures"]

log = logging.getLogger(__name__)

_METHOD_STYLE = {"sar-only": ("tab:grey", "o"), "finetune": ("tab:blue", "s"), "swd": ("tab:red", "^")}
_METHOD_NAME = {"sar-only": "SAR only", "finetune": "fine-tune", "swd": "SWD transfer"}
_CLASSES_NAME = {
    "lowrise": "low-rise (LCZ " + ", ".join(label_of(c) for c in CLASS_SETTINGS["lowrise"]) + ")",
    "urban": "urban (LCZ 1-10)",
    "all": "all 17 LCZ",
}


def _chance(setting: str) -> float:
    return 100.0 / len(class_codes(setting))


def _line(ax: Axes, agg: pd.DataFrame, xs_order: list[str], label: str, colour: str, marker: str, linestyle: str = "-") -> bool:
    rows = agg.set_index("labels")
    xs, ys, es = [], [], []
    for i, lab in enumerate(xs_order):
        if lab in rows.index and np.isfinite(rows.loc[lab, "accuracy_mean"]):
            xs.append(i)
            ys.append(100 * rows.loc[lab, "accuracy_mean"])
            se = rows.loc[lab, "accuracy_se"]
            es.append(100 * se if np.isfinite(se) else 0.0)
    if not xs:
        return False
    ax.errorbar(xs, ys, yerr=es, label=label, color=colour, marker=marker, linestyle=linestyle, capsize=3)
    return True


def _panels(fig: Figure, n: int) -> list[Axes]:
    axes = fig.subplots(1, n, squeeze=False, sharey=False)[0]
    return list(axes)


def _finish(ax: Axes, xs_order: list[str], setting: str, title: str) -> None:
    ax.set_xticks(range(len(xs_order)), xs_order)
    ax.set_xlim(-0.4, len(xs_order) - 0.6)
    ax.set_xlabel("labelled SAR patches (count)")
    ax.set_ylabel("test accuracy (%)")
    ax.axhline(_chance(setting), color="black", linewidth=0.8, linestyle=":", label="chance (1 / classes)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("chance"))  # chance last
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8)


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def make_figures(results: ResultsTable, figure_norm: str = "instance", title: str | None = None) -> dict[str, Figure]:
    """The paper's figures from a results table (path, folder or DataFrame), as
    ``{file name: matplotlib Figure}``; a figure whose cells the study lacks is left out (logged).

    ``accuracy_vs_labels.png``: test accuracy vs labelled SAR patches, one panel per class setting,
    one line per method (SupCon off, ``figure_norm``). ``norm.png``: batch vs instance norm for
    finetune and swd (SupCon off), per class setting that has both. ``supcon.png``: SupCon vs none
    in the low-rise setting (``figure_norm``). Error bars: standard error over seeds; x positions
    are evenly spaced budgets (``all`` last); the dotted line is chance (1 / number of classes).
    """
    from matplotlib.figure import Figure

    agg = aggregate(results)
    agg = agg[agg["seeds"] > 0]
    figures: dict[str, Figure] = {}
    xs_order = sorted(agg["labels"].astype(str).unique(), key=labels_key)
    caption = "mean ± standard error over seeds" + (f"\n{title}" if title else "")
    settings = [s for s in AXES["classes"] if s in set(agg["classes"])]

    # Figure 1: accuracy vs labelled SAR per class setting, three methods.
    base = agg[(~agg["supcon"]) & (agg["norm"] == figure_norm)]
    panels = [s for s in settings if len(base[base["classes"] == s])]
    if panels:
        fig = Figure(figsize=(4.6 * len(panels), 4.2), constrained_layout=True)
        for ax, s in zip(_panels(fig, len(panels)), panels):
            for m in AXES["method"]:
                colour, marker = _METHOD_STYLE[m]
                _line(ax, base[(base["classes"] == s) & (base["method"] == m)], xs_order, _METHOD_NAME[m], colour, marker)
            _finish(ax, xs_order, s, f"{_CLASSES_NAME[s]}, {figure_norm} norm")
        fig.suptitle(f"Accuracy vs labelled SAR, {caption}", fontsize=10)
        figures["accuracy_vs_labels.png"] = fig
    else:
        log.info("no accuracy-vs-labels figure: no SupCon-off cells with %s norm", figure_norm)

    # Figure 2: batch vs instance norm, finetune and swd.
    nf = agg[(~agg["supcon"]) & agg["method"].isin(["finetune", "swd"])]
    panels = [s for s in settings if set(nf[nf["classes"] == s]["norm"]) >= {"batch", "instance"}]
    if panels:
        fig = Figure(figsize=(4.6 * len(panels), 4.2), constrained_layout=True)
        for ax, s in zip(_panels(fig, len(panels)), panels):
            for m in ("finetune", "swd"):
                colour, marker = _METHOD_STYLE[m]
                for norm, ls in (("instance", "-"), ("batch", "--")):
                    _line(
                        ax,
                        nf[(nf["classes"] == s) & (nf["method"] == m) & (nf["norm"] == norm)],
                        xs_order,
                        f"{_METHOD_NAME[m]}, {norm} norm",
                        colour,
                        marker,
                        ls,
                    )
            _finish(ax, xs_order, s, f"{_CLASSES_NAME[s]}: batch vs instance norm")
        fig.suptitle(f"Batch vs instance norm, {caption}", fontsize=10)
        figures["norm.png"] = fig
    else:
        log.info("no normalisation figure: no class setting has finetune/swd cells with both norms")

    # Figure 3: SupCon vs none, low-rise.
    sc = agg[(agg["classes"] == "lowrise") & (agg["norm"] == figure_norm) & agg["method"].isin(["finetune", "swd"])]
    if set(sc["supcon"]) >= {True, False}:
        fig = Figure(figsize=(5.6, 4.2), constrained_layout=True)
        ax = _panels(fig, 1)[0]
        for m in ("finetune", "swd"):
            colour, marker = _METHOD_STYLE[m]
            for on, ls in ((True, "-"), (False, "--")):
                _line(
                    ax,
                    sc[(sc["method"] == m) & (sc["supcon"] == on)],
                    xs_order,
                    f"{_METHOD_NAME[m]}, {'SupCon' if on else 'no SupCon'}",
                    colour,
                    marker,
                    ls,
                )
        _finish(ax, xs_order, "lowrise", f"{_CLASSES_NAME['lowrise']}, {figure_norm} norm")
        fig.suptitle(f"SupCon pretraining vs none, {caption}", fontsize=10)
        figures["supcon.png"] = fig
    else:
        log.info("no SupCon figure: the study lacks low-rise finetune/swd cells with and without SupCon")
    return figures


def plot_figures(
    results: ResultsTable, out_dir: str | os.PathLike, figure_norm: str = "instance", title: str | None = None
) -> list[Path]:
    """Write :func:`make_figures`' figures as PNG files into ``out_dir``; returns the files written."""
    out_dir = Path(out_dir)
    return [_save(fig, out_dir / name) for name, fig in make_figures(results, figure_norm, title).items()]

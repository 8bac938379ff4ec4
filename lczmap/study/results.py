"""The study's results table and its summary: one row per cell in ``results.csv`` (and
``results.parquet``), and the mean and standard error over seeds per configuration."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .._io import atomic_path
from ..errors import DataError
from .spec import AXES, AXIS_NAMES, as_bool, train_fields

if TYPE_CHECKING:
    from typing import TypeAlias

    import pandas as pd

    #: A results table: the table, its ``results.csv`` or the study folder.
    ResultsTable: TypeAlias = "pd.DataFrame | str | os.PathLike[str]"

__all__ = ["TABLE_FORMATS", "aggregate", "labels_key", "read_results", "standard_error", "summary_markdown", "write_table"]

#: Formats of the results table: ``results.csv`` is always written, ``parquet`` adds ``results.parquet``.
TABLE_FORMATS = ("csv", "parquet")

_RESULT_BASE = [
    "cell_id",
    "status",
    "error",
    *AXIS_NAMES,
    "split",
    "accuracy",
    "kappa",
    "macro_f1",
    "n_test",
    "seconds",
    "train_seconds",
    "eval_seconds",
    "checkpoint",
    "report",
    "worker",
    "finished",
]


def _result_columns() -> list[str]:
    extra = [k for k in train_fields() if k not in AXES and k not in ("data", "cache")]
    return _RESULT_BASE + ["data", "cache"] + extra


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """A study's results table (``results.csv`` or the study folder) with typed axis columns:
    ``labels`` as text (``"32"``, ``"all"``), ``supcon`` bool, ``seed`` int."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / "results.csv"
    if not path.is_file():
        raise DataError(f"no results table at {path}: run `lczmap study` first")
    df = pd.read_csv(
        path,
        dtype={"cell_id": str, "labels": str, "error": str, "checkpoint": str, "split": str},
        keep_default_na=False,
        na_values={"accuracy": [""], "kappa": [""], "macro_f1": [""], "seconds": [""], "n_test": [""]},
    )
    missing = [c for c in ("cell_id", "status", *AXIS_NAMES) if c not in df.columns]
    if missing:
        raise DataError(f"{path} is not an lczmap study table (no {', '.join(missing)}): choose the study's results.csv")
    df["supcon"] = df["supcon"].map(lambda v: as_bool(v, f"{path}: supcon") if not isinstance(v, bool) else v)
    df["seed"] = df["seed"].astype(int)
    for c in ("accuracy", "kappa", "macro_f1", "seconds", "train_seconds", "eval_seconds", "n_test"):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def write_table(rows: list[dict], out: Path, table_format: str) -> Path:
    """Write the results table ``out/results.csv`` (and ``results.parquet`` for ``parquet``); returns
    the table of ``table_format``."""
    import pandas as pd

    columns = _result_columns()
    df = pd.DataFrame(rows)
    for c in columns:
        if c not in df.columns:
            df[c] = ""
    df = df[columns + [c for c in df.columns if c not in columns]]
    df["labels"] = df["labels"].astype(str)
    df["n_test"] = pd.to_numeric(df["n_test"], errors="coerce").astype("Int64")
    with atomic_path(out / "results.csv", overwrite=True) as tmp:
        df.to_csv(tmp, index=False)
    if table_format == "parquet":
        with atomic_path(out / "results.parquet", overwrite=True) as tmp:
            df.to_parquet(tmp, index=False)
        return out / "results.parquet"
    return out / "results.csv"


# --- aggregation ----------------------------------------------------------------------------------------


def standard_error(values: ArrayLike) -> float:
    """Standard error of the mean: sample standard deviation (ddof 1) / sqrt(n); NaN for n < 2."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return float("nan")
    return float(v.std(ddof=1) / math.sqrt(len(v)))


def labels_key(value: str) -> float:
    """Sort key of a ``labels`` value: the number of labelled patches, ``all`` last."""
    return math.inf if str(value) == "all" else float(value)


def _order(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sort by the paper's axis orders (labels numerically, 'all' last)."""
    keys = {
        "method": lambda s: s.map({m: i for i, m in enumerate(AXES["method"])}),
        "classes": lambda s: s.map({m: i for i, m in enumerate(AXES["classes"])}),
        "norm": lambda s: s.map({m: i for i, m in enumerate(AXES["norm"])}),
        "labels": lambda s: s.map(labels_key),
    }
    return df.sort_values(by, key=lambda s: keys[s.name](s) if s.name in keys else s, kind="stable")


def aggregate(results: ResultsTable) -> pd.DataFrame:
    """Mean and standard error over seeds of test accuracy and kappa per configuration (all axes
    but ``seed``), from a results table (path, folder or DataFrame). Failed cells are counted, not
    averaged. Columns: the axes, ``seeds`` (finished cells), ``failed``, ``accuracy_mean``,
    ``accuracy_se``, ``kappa_mean``, ``kappa_se``, ``seconds_mean``."""
    import pandas as pd

    df = results if isinstance(results, pd.DataFrame) else read_results(results)
    group = [a for a in AXIS_NAMES if a != "seed"]
    rows = []
    for key, g in df.groupby(group, sort=False):
        ok = g[g["status"] == "ok"]
        rows.append(
            {
                **dict(zip(group, key)),
                "seeds": int(len(ok)),
                "failed": int((g["status"] != "ok").sum()),
                "accuracy_mean": float(ok["accuracy"].mean()) if len(ok) else float("nan"),
                "accuracy_se": standard_error(ok["accuracy"]),
                "kappa_mean": float(ok["kappa"].mean()) if len(ok) else float("nan"),
                "kappa_se": standard_error(ok["kappa"]),
                "seconds_mean": float(ok["seconds"].mean()) if len(ok) else float("nan"),
            }
        )
    agg = pd.DataFrame(
        rows, columns=[*group, "seeds", "failed", "accuracy_mean", "accuracy_se", "kappa_mean", "kappa_se", "seconds_mean"]
    )
    return _order(agg, ["classes", "method", "norm", "supcon", "labels"]).reset_index(drop=True)


def _pm(mean: float, se: float, scale: float = 1.0, digits: int = 1) -> str:
    if not np.isfinite(mean):
        return "–"
    if not np.isfinite(se):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {se * scale:.{digits}f}"


def summary_markdown(agg: pd.DataFrame, title: str | None = None) -> str:
    """The aggregate table as markdown: accuracy in %, kappa, mean ± standard error over seeds."""
    lines = []
    if title:
        lines += [f"# {title}", ""]
    lines += [
        "Test accuracy and Cohen's kappa: mean ± standard error over seeds "
        "(standard error = sample standard deviation / sqrt(seeds); no ± where one seed finished).",
        "",
        "| classes | method | norm | SupCon | labelled SAR | seeds | accuracy (%) | kappa | time per cell (s) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in agg.itertuples(index=False):
        seeds = f"{r.seeds}" + (f" ({r.failed} failed)" if r.failed else "")
        lines.append(
            f"| {r.classes} | {r.method} | {r.norm} | {'on' if r.supcon else 'off'} | {r.labels} | {seeds} | "
            f"{_pm(r.accuracy_mean, r.accuracy_se, 100, 1)} | {_pm(r.kappa_mean, r.kappa_se, 1, 3)} | "
            f"{'–' if not np.isfinite(r.seconds_mean) else f'{r.seconds_mean:.0f}'} |"
        )
    return "\n".join(lines) + "\n"

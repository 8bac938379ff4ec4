"""Area-adjusted accuracy and class areas from a stratified random sample (Olofsson et al. 2014).

Olofsson, P., Foody, G. M., Herold, M., Stehman, S. V., Woodcock, C. E., Wulder, M. A. (2014).
Good practices for estimating area and assessing accuracy of land change. Remote Sensing of
Environment 148:42-57, doi:10.1016/j.rse.2014.02.015 (equations 2-11, the example of section 5).

The strata are the map's classes; the sample (drawn by :func:`lczmap.maps.design.design_sample`)
holds ``n_i.`` points in stratum ``i``, each labelled with a reference class ``j``. With ``W_i`` the
share of the map's area in stratum ``i`` (its pixels times their area, exact on projected and
geographic grids: :func:`lczmap.zones.lczraster.inspect_lcz`):

- area proportions ``p_ij = W_i n_ij / n_i.`` (eq. 4);
- overall accuracy ``O = sum_j p_jj``, ``V(O) = sum_i W_i^2 U_i (1 - U_i) / (n_i. - 1)`` (eq. 1, 5);
- user's accuracy ``U_i = n_ii / n_i.``, ``V(U_i) = U_i (1 - U_i) / (n_i. - 1)`` (eq. 2, 6);
- producer's accuracy ``P_j = p_jj / p_.j`` with its variance of eq. 7;
- the area share of class ``j``, ``p_.j = sum_i W_i n_ij / n_i.`` (eq. 9), its standard error
  ``sqrt(sum_i W_i^2 (n_ij / n_i.)(1 - n_ij / n_i.) / (n_i. - 1))`` (eq. 10), and its area
  ``A p_.j`` (eq. 11);
- intervals ``estimate +- z SE`` with ``z`` the normal quantile of the level (1.96 at 95 %), as the
  paper reports them: not clipped to [0, 1] or to positive areas.

:func:`estimate` computes these from an error matrix of sample counts; :func:`assess_sample` reads a
labelled sample and its map and writes JSON, CSV and a figure of the areas with their intervals.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import check_outputs
from ..classes import LCZ_CLASSES, label_of
from ..errors import ZonesError
from ..zones.lczraster import DEFAULT_BLOCK_ROWS, CodeScheme, Progress, inspect_lcz
from .design import DESIGN_COLUMNS, REFERENCE_FIELD, SAMPLE_LAYER
from .report import ReportFile, csv_file, figure_file, figure_format, json_file, write_together

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["AreaEstimate", "SampleAssessment", "assess_sample", "estimate"]

log = logging.getLogger(__name__)

#: The reference values that mean "not labelled yet" (besides an empty or missing field).
_UNLABELLED = {"", "none", "nan", "null"}


@dataclass(frozen=True)
class AreaEstimate:
    """The stratified estimates of Olofsson et al. (2014) for ``K`` classes.

    ``classes``: the classes' LCZ codes (rows: strata = map classes; columns: reference classes);
    ``counts``: (K, K) sample counts ``n_ij``; ``stratum_area``: (K,) the map's area of each
    stratum (m2, 0 for a class found only in the reference); ``proportions``: (K, K) estimated
    area proportions ``p_ij``; ``overall``/``overall_se``; ``users``/``users_se`` and
    ``producers``/``producers_se`` (K,) (NaN where undefined: no map area, no reference area);
    ``share``/``share_se`` (K,) estimated area proportions ``p_.j``; ``level`` and ``z``.
    """

    classes: tuple[int, ...]
    counts: np.ndarray
    stratum_area: np.ndarray
    proportions: np.ndarray
    overall: float
    overall_se: float
    users: np.ndarray
    users_se: np.ndarray
    producers: np.ndarray
    producers_se: np.ndarray
    share: np.ndarray
    share_se: np.ndarray
    level: float
    z: float

    @property
    def total_area(self) -> float:
        """The mapped area (m2): the sum of the strata."""
        return float(self.stratum_area.sum())

    @property
    def area(self) -> np.ndarray:
        """Estimated area of each class (m2), eq. 11."""
        return self.share * self.total_area

    @property
    def area_se(self) -> np.ndarray:
        """Standard error of each class's area (m2)."""
        return self.share_se * self.total_area

    @property
    def mapped_share(self) -> np.ndarray:
        """Each class's share of the map (the stratum weights ``W_i``)."""
        return self.stratum_area / self.total_area

    def interval(self, value: np.ndarray | float, se: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """``value -+ z se``: the lower and upper ends of the interval at :attr:`level`."""
        v, s = np.asarray(value, np.float64), np.asarray(se, np.float64)
        return v - self.z * s, v + self.z * s


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ZonesError(f"level (--level) must be in (0, 1), got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def estimate(
    counts: np.ndarray,
    stratum_area: np.ndarray,
    classes: tuple[int, ...] | None = None,
    level: float = 0.95,
    stratum_pixels: np.ndarray | None = None,
) -> AreaEstimate:
    """The stratified estimators of Olofsson et al. (2014) from an error matrix of sample counts.

    counts: (K, K) sample counts, rows the strata (map classes), columns the reference classes,
    in the same class order; stratum_area: (K,) each stratum's map area (any unit; 0 for a class
    that is only a reference class); classes: names for messages (LCZ codes; default 1..K);
    stratum_pixels: (K,) the strata's sizes in sampling units (pixels): a stratum sampled whole
    (``n_i. >= N_i``) has no sampling variance. Raises :class:`ZonesError` for a stratum with map
    area but no sample, or with one sampled unit (no variance estimate).
    """
    n = np.asarray(counts, np.float64)
    a = np.asarray(stratum_area, np.float64)
    k = a.size
    if n.shape != (k, k) or k == 0:
        raise ZonesError(f"counts must be a (K, K) matrix for K = {k} strata, got shape {n.shape}")
    if np.any(n < 0) or np.any(a < 0) or not np.all(np.isfinite(n)) or not np.all(np.isfinite(a)):
        raise ZonesError("sample counts and stratum areas must be finite and >= 0")
    if a.sum() <= 0:
        raise ZonesError("the strata have no area: give the map's stratum areas")
    names = tuple(classes) if classes is not None else tuple(range(1, k + 1))
    z = _z(level)
    n_i = n.sum(axis=1)
    mapped = a > 0
    empty = mapped & (n_i == 0)
    if empty.any():
        shown = ", ".join(f"LCZ {label_of(int(names[i]))}" for i in np.flatnonzero(empty))
        raise ZonesError(
            f"stratum {shown} has no labelled sample point: label its points (or draw the sample again with lczmap design)"
        )
    census = np.zeros(k, bool) if stratum_pixels is None else n_i >= np.asarray(stratum_pixels, np.float64)
    single = mapped & (n_i == 1) & ~census
    if single.any():
        shown = ", ".join(f"LCZ {label_of(int(names[i]))}" for i in np.flatnonzero(single))
        raise ZonesError(f"stratum {shown} has only one labelled sample point: the variance needs two or more, label more")
    w = a / a.sum()
    safe_n = np.where(n_i > 0, n_i, 1.0)
    frac = n / safe_n[:, None]  # n_ij / n_i.
    dof = np.where(census | (n_i < 2), np.inf, n_i - 1.0)  # 1 / inf = 0: no sampling variance
    p = w[:, None] * frac  # eq. 4
    diag = np.diag(frac).copy()
    users = np.where(mapped, diag, np.nan)
    users_var = np.where(mapped, diag * (1 - diag) / dof, np.nan)
    overall = float(np.trace(p))
    overall_var = float(np.sum(np.where(mapped, w**2 * diag * (1 - diag) / dof, 0.0)))
    share = p.sum(axis=0)  # eq. 9
    share_var = np.sum((w**2)[:, None] * frac * (1 - frac) / dof[:, None], axis=0)  # eq. 10
    # producer's accuracy (eq. 7), with N_i. the stratum sizes (areas serve: the ratio is unit-free)
    est = (a[:, None] * frac).sum(axis=0)  # N^_.j
    producers = np.full(k, np.nan)
    producers_var = np.full(k, np.nan)
    for j in np.flatnonzero(est > 0):
        pj = p[j, j] / share[j]
        uj = diag[j]
        own = a[j] ** 2 * (1 - pj) ** 2 * uj * (1 - uj) / dof[j] if mapped[j] else 0.0
        others = np.arange(k) != j
        rest = np.sum(a[others] ** 2 * frac[others, j] * (1 - frac[others, j]) / dof[others])
        producers[j] = pj
        producers_var[j] = (own + pj**2 * rest) / est[j] ** 2
    return AreaEstimate(
        classes=names,
        counts=n,
        stratum_area=a,
        proportions=p,
        overall=overall,
        overall_se=float(np.sqrt(overall_var)),
        users=users,
        users_se=np.sqrt(users_var),
        producers=producers,
        producers_se=np.sqrt(producers_var),
        share=share,
        share_se=np.sqrt(share_var),
        level=level,
        z=z,
    )


@dataclass(frozen=True)
class SampleAssessment:
    """What :func:`assess_sample` found: the :class:`AreaEstimate` ``estimate`` (classes = the
    map's classes and any other reference class), the sample's ``points`` (labelled),
    ``unlabelled`` points left out, the ``map`` and ``sample`` paths, the ``reference_field`` read and the files written."""

    estimate: AreaEstimate
    points: int
    unlabelled: int
    map: str
    sample: str
    reference_field: str
    outputs: dict[str, Path] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per class: LCZ code, label and name; mapped area (km2) and share; sample
        points (map) and labelled as (reference); user's and producer's accuracy, estimated area
        share and area (km2), each with its standard error and interval; then an ``overall`` row."""
        import pandas as pd

        e = self.estimate
        ua_lo, ua_hi = e.interval(e.users, e.users_se)
        pa_lo, pa_hi = e.interval(e.producers, e.producers_se)
        sh_lo, sh_hi = e.interval(e.share, e.share_se)
        km2 = 1e-6
        rows: list[dict[str, Any]] = []
        for i, code in enumerate(e.classes):
            c = LCZ_CLASSES[code - 1]
            rows.append(
                {
                    "scope": f"LCZ {c.label}",
                    "lcz": code,
                    "name": c.name,
                    "mapped_km2": e.stratum_area[i] * km2,
                    "mapped_share": e.mapped_share[i],
                    "points_map": int(e.counts[i].sum()),
                    "points_reference": int(e.counts[:, i].sum()),
                    "users": e.users[i],
                    "users_se": e.users_se[i],
                    "users_low": ua_lo[i],
                    "users_high": ua_hi[i],
                    "producers": e.producers[i],
                    "producers_se": e.producers_se[i],
                    "producers_low": pa_lo[i],
                    "producers_high": pa_hi[i],
                    "share": e.share[i],
                    "share_se": e.share_se[i],
                    "share_low": sh_lo[i],
                    "share_high": sh_hi[i],
                    "area_km2": e.area[i] * km2,
                    "area_se_km2": e.area_se[i] * km2,
                    "area_low_km2": sh_lo[i] * e.total_area * km2,
                    "area_high_km2": sh_hi[i] * e.total_area * km2,
                }
            )
        oa_lo, oa_hi = e.interval(e.overall, e.overall_se)
        rows.append(
            {
                "scope": "overall",
                "mapped_km2": e.total_area * km2,
                "mapped_share": 1.0,
                "points_map": int(e.counts.sum()),
                "points_reference": int(e.counts.sum()),
                "overall": e.overall,
                "overall_se": e.overall_se,
                "overall_low": float(oa_lo),
                "overall_high": float(oa_hi),
                "share": 1.0,
                "area_km2": e.total_area * km2,
            }
        )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (NaN kept as float; written as null)."""
        e = self.estimate
        oa_lo, oa_hi = e.interval(e.overall, e.overall_se)
        return {
            "kind": "stratified sample (Olofsson et al. 2014)",
            "method": "Olofsson et al. 2014, Remote Sensing of Environment 148:42-57 (eq. 2-11); "
            f"intervals: estimate +- {e.z:.4f} SE (normal, {e.level:.0%}), not clipped",
            "map": self.map,
            "sample": self.sample,
            "field": self.reference_field,
            "points": self.points,
            "unlabelled_points": self.unlabelled,
            "level": e.level,
            "total_area_km2": e.total_area * 1e-6,
            "overall": {"value": e.overall, "se": e.overall_se, "low": float(oa_lo), "high": float(oa_hi)},
            "classes": self.table().iloc[:-1].to_dict(orient="records"),
            "error_matrix": {
                "rows": "map (strata)",
                "columns": "reference",
                "classes": [label_of(c) for c in e.classes],
                "counts": e.counts.astype(np.int64),
                "area_proportions": e.proportions,
            },
        }

    def summary(self) -> str:
        """A few lines for a terminal: overall accuracy, then each class's area with its interval."""
        e = self.estimate
        lo, hi = e.interval(e.overall, e.overall_se)
        lines = [
            f"{self.points} labelled sample points ({self.unlabelled} unlabelled left out), "
            f"{e.total_area * 1e-6:.4g} km2 mapped; intervals {e.level:.0%}",
            f"overall accuracy {e.overall:.3f} [{float(lo):.3f}-{float(hi):.3f}]",
        ]
        a_lo, a_hi = e.interval(e.area, e.area_se)
        for i, code in enumerate(e.classes):
            ua = f"user's {e.users[i]:.2f}" if np.isfinite(e.users[i]) else "user's -"
            pa = f"producer's {e.producers[i]:.2f}" if np.isfinite(e.producers[i]) else "producer's -"
            lines.append(
                f"  LCZ {label_of(code):>2}: {e.area[i] * 1e-6:10.4g} km2 [{a_lo[i] * 1e-6:.4g} to {a_hi[i] * 1e-6:.4g}] "
                f"(mapped {e.stratum_area[i] * 1e-6:.4g}), {ua}, {pa}"
            )
        return "\n".join(lines)


def area_figure(result: SampleAssessment, title: str = "") -> Figure:
    """A Figure of each class's estimated area (km2, bar in the class colour) with its interval
    (error bar), beside the mapped area (pixel count times pixel area, a black tick)."""
    from matplotlib.figure import Figure

    e = result.estimate
    km2 = 1e-6
    lo, hi = e.interval(e.area, e.area_se)
    x = np.arange(len(e.classes))
    fig = Figure(figsize=(2.0 + 0.55 * len(e.classes), 4.2))
    ax = fig.add_subplot()
    colours = [LCZ_CLASSES[c - 1].colour for c in e.classes]
    area = e.area * km2
    ax.bar(x, area, color=colours, edgecolor="#333333", linewidth=0.6, label="estimated area")
    ax.errorbar(
        x,
        area,
        yerr=np.vstack([area - lo * km2, hi * km2 - area]),
        fmt="none",
        ecolor="black",
        capsize=3,
        label=f"{e.level:.0%} interval",
    )
    ax.scatter(x, e.stratum_area * km2, marker="_", s=260, color="black", linewidths=2, label="mapped area", zorder=3)
    ax.set_xticks(x, [label_of(c) for c in e.classes])
    ax.set_xlabel("LCZ")
    ax.set_ylabel("area (km²)")
    ax.axhline(0, color="#888888", linewidth=0.5)
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def _read_sample(sample: Any, layer: str | None) -> tuple[gpd.GeoDataFrame, str]:
    """The sample's points: ``layer``, else the layer named ``sample``, else the file's only layer."""
    import geopandas as gpd

    from ..zones.vector import read_vector, vector_layers

    if layer is None and not isinstance(sample, gpd.GeoDataFrame) and Path(sample).exists():
        names = vector_layers(Path(sample))
        layer = SAMPLE_LAYER if SAMPLE_LAYER in names else (names[0] if names else None)
    hint = "the sample `lczmap design` wrote (.gpkg or .kml), with its reference field filled"
    return read_vector(sample, layer, "sample", hint)


def _column(frame: pd.DataFrame, name: str) -> str | None:
    return next((c for c in frame.columns if str(c).lower() == name.lower()), None)


def _as_ints(values: Any, name: str, column: str) -> np.ndarray:
    import pandas as pd

    numbers = pd.to_numeric(pd.Series(values), errors="coerce")
    if numbers.isna().any() or not np.all(np.mod(numbers.to_numpy(np.float64), 1) == 0):
        raise ZonesError(
            f"{name} field {column!r} holds values that are not whole numbers: give the sample as lczmap design wrote it"
        )
    return numbers.to_numpy(np.int64)


def _labelled(values: Any) -> np.ndarray:
    """Which reference values are filled in (not empty, None, NaN)."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            out.append(False)
        else:
            out.append(str(v).strip().lower() not in _UNLABELLED)
    return np.array(out, bool)


def sample_counts(
    frame: pd.DataFrame, name: str, field: str | None = None, ref_codes: CodeScheme = "auto"
) -> tuple[np.ndarray, np.ndarray, dict[int, int], str, int]:
    """From a labelled sample: the map class (stratum) and reference class of each labelled point
    (LCZ codes), the stratum sizes (pixels) the design recorded, the reference column and the
    number of unlabelled points. Raises :class:`ZonesError` for a table that is no sample from
    :func:`~lczmap.maps.design.design_sample` and for a sample without any label."""
    from .reference import normalise_codes

    stratum_col, pixels_col = (_column(frame, c) for c in DESIGN_COLUMNS)
    if stratum_col is None or pixels_col is None:
        raise ZonesError(
            f"{name} is not a sample drawn by lczmap design (no fields {' and '.join(DESIGN_COLUMNS)}): "
            "draw one with `lczmap design MAP OUT.gpkg`, label it, and assess that"
        )
    ref_col = _column(frame, field or REFERENCE_FIELD)
    if ref_col is None:
        raise ZonesError(f"{name} has no field {field or REFERENCE_FIELD!r} with the reference classes: give --field")
    strata = _as_ints(frame[stratum_col], name, stratum_col)
    pixels = _as_ints(frame[pixels_col], name, pixels_col)
    recorded: dict[int, int] = {}
    for s, px in zip(strata.tolist(), pixels.tolist()):
        if recorded.setdefault(s, px) != px:
            raise ZonesError(
                f"{name} records two sizes for stratum LCZ {label_of(s)} ({recorded[s]} and {px} pixels): draw it again"
            )
    filled = _labelled(frame[ref_col].tolist())
    if not filled.any():
        raise ZonesError(
            f"{name} has no reference labels filled in (field {ref_col!r} is empty at all {len(frame)} points): "
            "label the points (LCZ 1-10, A-G) in QGIS or Google Earth first"
        )
    refs = normalise_codes(frame[ref_col][filled].tolist(), ref_codes, name, str(ref_col))
    return strata[filled], refs, recorded, str(ref_col), int((~filled).sum())


def assess_sample(
    lcz_path: str | os.PathLike,
    sample: Any,
    *,
    field: str | None = None,
    layer: str | None = None,
    ref_codes: CodeScheme = "auto",
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    level: float = 0.95,
    json_path: str | os.PathLike | None = None,
    csv_path: str | os.PathLike | None = None,
    figure_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Progress = None,
) -> SampleAssessment:
    """Area-adjusted accuracy and class areas of the LCZ map ``lcz_path`` from ``sample``, a
    stratified random sample that :func:`~lczmap.maps.design.design_sample` drew from this map
    (a GeoPackage, its KML, or a GeoDataFrame) with the reference class of each point filled in
    ``field`` (default ``reference``; any LCZ coding, letters, "LCZ x"; unlabelled points are left
    out, logged). The stratum sizes come from the map (pixels times pixel area, exact on geographic
    grids) and must match the pixel counts the design recorded.

    Outputs (each optional): ``json_path``, ``csv_path`` (one row per class and one overall) and
    ``figure_path`` (.png or .pdf: areas with their intervals beside the mapped areas).
    """
    _z(level)
    if figure_path is not None:
        figure_format(figure_path)
    outputs = [Path(p) for p in (json_path, csv_path, figure_path) if p is not None]
    check_outputs(outputs, [lcz_path, sample if isinstance(sample, (str, os.PathLike)) else None], overwrite)
    frame, name = _read_sample(sample, layer)
    strata, refs, recorded, ref_col, unlabelled = sample_counts(frame, name, field, ref_codes)
    if unlabelled:
        log.warning("%s: %d of %d points have no reference label and are left out", name, unlabelled, len(frame))
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=DEFAULT_BLOCK_ROWS, progress=progress)
    present = [c for c in range(1, 18) if info.pixels[c] > 0]
    changed = [c for c in sorted(recorded) if not 1 <= c <= 17 or recorded[c] != int(info.pixels[c])]
    if changed:
        c = changed[0]
        raise ZonesError(
            f"{name} was not drawn from {info.path}: the design recorded {recorded[c]} pixels of LCZ {label_of(c)}, "
            f"the map has {int(info.pixels[c])}; assess the map the sample was drawn from, or draw a new sample"
        )
    classes = tuple(sorted(set(present) | set(refs.tolist())))
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(counts, ([index[s] for s in strata.tolist()], [index[r] for r in refs.tolist()]), 1)
    area = np.array([info.areas[c] for c in classes], np.float64)
    pixels = np.array([info.pixels[c] for c in classes], np.float64)
    result = SampleAssessment(
        estimate(counts, area, classes, level, stratum_pixels=pixels),
        points=int(len(refs)),
        unlabelled=unlabelled,
        map=str(info.path),
        sample=name,
        reference_field=ref_col,
    )
    files: list[ReportFile] = []
    if json_path is not None:
        files.append(json_file(result.to_dict(), json_path))
    if csv_path is not None:
        files.append(csv_file(result.table(), csv_path))
    if figure_path is not None:
        e = result.estimate
        title = f"{Path(lcz_path).name}: overall accuracy {e.overall:.2f} +- {e.z * e.overall_se:.2f}, {len(refs)} points"
        files.append(figure_file(area_figure(result, title), figure_path))
    written = write_together(files, overwrite)
    kinds = [k for k, p in (("json", json_path), ("csv", csv_path), ("figure", figure_path)) if p is not None]
    result.outputs.update(dict(zip(kinds, written)))
    return result

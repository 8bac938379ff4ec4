"""Study specs: the axes and their values, grids, cells, TOML/YAML/JSON spec files and presets.

A *cell* is one :class:`~lczmap.train.TrainConfig` (a method, class setting, labelled-SAR budget,
normalisation, SupCon choice and seed, plus fixed training options). The cells of a
:class:`StudySpec` are the union of one or more *grids*: the base grid (``[grid]`` of a spec) and
any extra grids (``[[extra]]``), each the Cartesian product of its axes, with the axes an extra
grid leaves out taken from the base grid. An axis left out of the base grid takes the paper's
values (:data:`AXES`). ``sar-only`` has no EO stage, so SupCon-on cells of ``sar-only`` are left
out of every grid. Cells that differ only in method (``finetune``, ``swd``) and labelled SAR
budget have the same EO stage (:attr:`Cell.eo_stage_id`), which the study trains once.

The cell id is a hash of the cell's full training configuration (:meth:`TrainConfig.fingerprint`),
so a study folder knows which cells it has finished. Importing this module loads no torch, pandas
or dask; checking a spec imports :mod:`lczmap.train` for its :class:`TrainConfig`.

One module: axes, grids, cells and the spec files are one vocabulary (a spec file is parsed into
axes, which the grid expands into cells), read together by whoever writes a study.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from ..classes import CLASS_SETTINGS
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..train import TrainConfig

__all__ = [
    "AXES",
    "AXIS_NAMES",
    "SPEC_KEYS",
    "SPEC_SUFFIXES",
    "QUICK_SPEC",
    "QUICK_TWIN",
    "Cell",
    "StudySpec",
    "describe_cell",
    "describe_eo_stage",
    "load_spec",
    "parse_axis",
    "parse_spec",
    "quick_spec",
]

#: The study's axes and the paper's values of each (Hussing et al. 2022): 3 x 3 x 4 x 2 x 2 x 5.
#: ``method`` and ``norm`` are :data:`lczmap.train.METHODS` and :data:`lczmap.models.NORMS`
#: (written out so that reading a spec loads no torch; a test keeps them equal).
#: One value of an axis: a method, class setting or norm name, a labelled-SAR budget (a count or
#: ``"all"``), SupCon on or off, a seed.
AxisValue: TypeAlias = str | int | bool

AXES: dict[str, tuple] = {
    "method": ("sar-only", "finetune", "swd"),
    "classes": tuple(CLASS_SETTINGS),
    "labels": (32, 128, 1024, "all"),
    "norm": ("batch", "instance"),
    "supcon": (False, True),
    "seed": (0, 1, 2, 3, 4),
}
AXIS_NAMES: tuple[str, ...] = tuple(AXES)

#: Spec files :func:`load_spec` reads.
SPEC_SUFFIXES = (".toml", ".yaml", ".yml", ".json")
#: Keys a spec may hold at its top level.
SPEC_KEYS = ("title", "data", "cache", "split", "device", "workers", "figure_norm", "grid", "extra", "train")
#: TrainConfig fields a spec may not set in ``[train]``: the axes and the runtime fields (the
#: study shares EO stages between its cells itself).
_NOT_TRAIN = frozenset(AXIS_NAMES) | {"data", "cache", "device", "eo_checkpoint"}

#: Twin the ``--quick`` preset writes when it is given no data.
QUICK_TWIN: dict[str, Any] = {"n_train": 2000, "n_val": 100, "n_test": 600, "seed": 0}

#: The ``--quick`` preset (examples/study_quick.toml holds the same spec): the three methods in the
#: low-rise and urban settings at 32 and 128 labelled SAR patches, plus the cells of the
#: normalisation and SupCon figures (low-rise), 3 seeds each, with short schedules: 60 cells.
QUICK_SPEC: dict = {
    "title": "So2Sat twin (synthetic data), --quick preset",
    "figure_norm": "instance",
    "grid": {
        "method": ["sar-only", "finetune", "swd"],
        "classes": ["lowrise", "urban"],
        "labels": [32, 128],
        "norm": ["instance"],
        "supcon": [False],
        "seed": [0, 1, 2],
    },
    "extra": [
        {"method": ["finetune", "swd"], "classes": ["lowrise"], "norm": ["batch"]},
        {"method": ["finetune", "swd"], "classes": ["lowrise"], "supcon": [True]},
    ],
    "train": {"eo_epochs": 6, "sar_epochs": 8, "batch_size": 32, "width": 8, "val_split": "none"},
}


def train_fields() -> dict[str, Any]:
    """The :class:`~lczmap.train.TrainConfig` fields a spec may set, with their defaults."""
    from ..train import TrainConfig

    return {f.name: f.default for f in fields(TrainConfig) if not f.name.startswith("_")}


def _listify(value: object) -> list[object]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


_TRUE = {"on", "true", "yes", "1"}
_FALSE = {"off", "false", "no", "0"}


def as_bool(value: object, where: str) -> bool:
    """``value`` as a bool (true/false, on/off, yes/no, 1/0); :class:`ConfigError` naming ``where``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{where}: {value!r} is not on/off: use true/false (or on/off)")


def _axis_value(axis: str, value: object, where: str) -> AxisValue:
    """Normalise one value of ``axis``; :class:`ConfigError` naming the value and the choices."""
    match axis:
        case "method" | "classes" | "norm":
            choices = AXES[axis]
            if isinstance(value, str) and value.strip().lower() in choices:
                return value.strip().lower()
            raise ConfigError(f"{where}: unknown {axis} {value!r}: choose from {', '.join(choices)}")
        case "labels":
            if isinstance(value, str):
                text = value.strip().lower()
                if text == "all":
                    return "all"
                if text.isdigit() and int(text) >= 1:
                    return int(text)
            elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                return int(value)
            raise ConfigError(f"{where}: labels {value!r} is not a budget: use a positive number (e.g. 32, 128, 1024) or 'all'")
        case "supcon":
            return as_bool(value, f"{where}: supcon")
        case "seed":
            if isinstance(value, str) and value.strip().isdigit():
                return int(value.strip())
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return int(value)
            raise ConfigError(f"{where}: seed {value!r} is not a seed: use integers >= 0 (or seeds = N for 0..N-1)")
    raise ConfigError(f"{where}: unknown axis {axis!r}: the axes are {', '.join(AXIS_NAMES)}")  # pragma: no cover


def _parse_axes(table: object, where: str) -> dict[str, list[AxisValue]]:
    """``{axis: [values]}`` from a spec table; ``seeds = N`` stands for ``seed = [0, ..., N-1]``."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of axes ({', '.join(AXIS_NAMES)}), not {type(table).__name__}")
    out: dict[str, list[AxisValue]] = {}
    for key, raw in table.items():
        key = str(key)
        if key == "seeds":
            if "seed" in table:
                raise ConfigError(f"{where}: give seed = [...] or seeds = N, not both")
            if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).strip().isdigit() or int(raw) < 1:
                raise ConfigError(f"{where}: seeds {raw!r} must be a positive number of seeds (0..N-1)")
            out["seed"] = list(range(int(raw)))
            continue
        if key not in AXES:
            raise ConfigError(f"{where}: unknown axis {key!r}: the axes are {', '.join(AXIS_NAMES)} (and seeds = N)")
        values = _listify(raw)
        if not values:
            raise ConfigError(f"{where}: axis {key!r} is empty: give at least one value or leave the axis out")
        normalised = []
        for v in values:
            nv = _axis_value(key, v, where)
            if nv not in normalised:
                normalised.append(nv)
        out[key] = normalised
    return out


def parse_axis(axis: str, values: Iterable[object]) -> list[AxisValue]:
    """Normalised values of one axis (e.g. ``parse_axis("labels", ["32", "all"])`` -> ``[32, "all"]``);
    ``axis="seeds"`` takes one count N for seeds 0..N-1. :class:`ConfigError` on a bad axis or value."""
    parsed = _parse_axes({axis: list(values) if axis != "seeds" else next(iter(values))}, "command line")
    return next(iter(parsed.values()))


def _coerce_train(key: str, value: object, default: object, where: str) -> object:
    """Normalise a ``[train]`` value to the type of its TrainConfig default."""
    if key == "val_split":
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "")):
            return None
        if isinstance(value, str):
            return value.strip()
        raise ConfigError(f"{where}: val_split {value!r} must be a split name or 'none'")
    if isinstance(default, bool):
        return as_bool(value, f"{where}: {key}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        raise ConfigError(f"{where}: {key} {value!r} must be an integer")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: {key} {value!r} must be a number")
    if isinstance(default, str):
        if isinstance(value, str):
            return value.strip()
        raise ConfigError(f"{where}: {key} {value!r} must be a string")
    return value  # pragma: no cover - every TrainConfig field has a typed default


def _parse_train(table: object, where: str = "[train]") -> dict[str, object]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of training options, not {type(table).__name__}")
    known = train_fields()
    out = {}
    for key, value in table.items():
        key = str(key).replace("-", "_")
        if key in AXES or key == "seeds":
            raise ConfigError(f"{where}: {key!r} is an axis of the grid: set it in [grid] (or on the command line)")
        if key in ("data", "cache", "device"):
            raise ConfigError(f"{where}: {key!r} is not a training option here: set it at the top of the spec")
        if key == "eo_checkpoint":
            raise ConfigError(
                f"{where}: 'eo_checkpoint' is not a study option: the study trains each EO stage "
                "once and shares it between its cells itself"
            )
        if key not in known:
            options = ", ".join(sorted(k for k in known if k not in _NOT_TRAIN))
            raise ConfigError(f"{where}: unknown training option {key!r}: use one of {options}")
        out[key] = _coerce_train(key, value, known[key], where)
    return out


@dataclass(frozen=True)
class Cell:
    """One cell of the grid: its axis values and the fixed training options."""

    method: str
    classes: str
    labels: int | str
    norm: str
    supcon: bool
    seed: int
    train: tuple[tuple[str, Any], ...] = ()

    def axes(self) -> dict[str, AxisValue]:
        """``{axis: value}`` in :data:`AXIS_NAMES` order."""
        return {a: getattr(self, a) for a in AXIS_NAMES}

    def config(
        self, data: str | os.PathLike | None = None, cache: str | os.PathLike | None = None, device: str = "auto"
    ) -> TrainConfig:
        """The cell's :class:`~lczmap.train.TrainConfig` (validated on construction)."""
        from ..train import TrainConfig

        return TrainConfig(
            data=None if data is None else str(data),
            cache=None if cache is None else str(cache),
            device=device,
            method=self.method,
            classes=self.classes,
            labels=self.labels,
            norm=self.norm,
            supcon=self.supcon,
            seed=self.seed,
            **dict(self.train),
        )

    @property
    def cell_id(self) -> str:
        """Stable id: a hash of the full training configuration (the test split is the study folder's)."""
        payload = json.dumps(self.config().fingerprint(), sort_keys=True, default=str)
        return hashlib.sha1(payload.encode()).hexdigest()[:12]

    @property
    def eo_stage_id(self) -> str | None:
        """Id of the cell's EO stage (:attr:`lczmap.train.TrainConfig.eo_stage_id`: equal for every
        cell with the same class setting, norm, SupCon, seed and EO options), None without one."""
        config = self.config()
        return config.eo_stage_id if config.has_eo_stage else None


@dataclass
class StudySpec:
    """A validated study: data, grids, fixed training options and run settings."""

    grid: dict[str, list] = field(default_factory=lambda: {a: list(v) for a, v in AXES.items()})
    extra: list[dict[str, list]] = field(default_factory=list)
    train: dict = field(default_factory=dict)
    data: str | None = None
    cache: str | None = None
    split: str | None = None
    device: str = "auto"
    workers: int | None = None
    title: str | None = None
    figure_norm: str = "instance"

    def grids(self) -> list[dict[str, list]]:
        """The base grid and each extra grid with the base grid's axes filled in."""
        return [dict(self.grid)] + [{**self.grid, **e} for e in self.extra]

    def cells(self) -> list[Cell]:
        """Every cell of the study, in grid order, without duplicates or sar-only SupCon cells."""
        train = tuple(sorted(self.train.items()))
        seen: set = set()
        out = []
        for g in self.grids():
            for values in itertools.product(*(g[a] for a in AXIS_NAMES)):
                cell = Cell(**dict(zip(AXIS_NAMES, values)), train=train)
                if cell.method == "sar-only" and cell.supcon:
                    continue
                key = tuple(cell.axes().values())
                if key in seen:
                    continue
                seen.add(key)
                out.append(cell)
        return out

    def with_axes(self, axes: Mapping[str, Iterable]) -> StudySpec:
        """A copy in which each axis given replaces that axis in every grid (the command line's
        ``--method`` etc.)."""
        parsed = _parse_axes({k: list(v) for k, v in axes.items()}, "command line")
        grid = {**self.grid, **parsed}
        extra = [{k: v for k, v in e.items() if k not in parsed} for e in self.extra]
        return replace(self, grid=grid, extra=extra).check()

    def with_train(self, options: Mapping[str, Any]) -> StudySpec:
        """A copy with more fixed training options (the command line's ``--train KEY=VALUE``)."""
        return replace(self, train={**self.train, **_parse_train(options, "--train")}).check()

    def check(self) -> StudySpec:
        """Validate everything that can be checked without the data; raises :class:`ConfigError`."""
        from ..train import TrainConfig

        for name, g in [("[grid]", self.grid)] + [(f"[[extra]] #{i + 1}", e) for i, e in enumerate(self.extra)]:
            _parse_axes(g, name)
        if self.figure_norm not in AXES["norm"]:
            raise ConfigError(f"figure_norm {self.figure_norm!r}: choose batch or instance")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1):
            raise ConfigError(f"workers {self.workers!r} must be a positive number of dask workers")
        from .._device import check_device

        check_device(self.device)
        cells = self.cells()
        if not cells:
            raise ConfigError("the grid has no cells (sar-only has no SupCon cells): add a method or supcon = false")
        try:
            TrainConfig(data=None, method="swd", supcon=False, **self.train).check()
        except ConfigError as exc:
            raise ConfigError(f"[train]: {exc}") from None
        except TypeError as exc:  # pragma: no cover - keys are checked against the fields above
            raise ConfigError(f"[train]: {exc}") from None
        return self

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "data": self.data,
            "cache": self.cache,
            "split": self.split,
            "device": self.device,
            "workers": self.workers,
            "figure_norm": self.figure_norm,
            "grid": self.grid,
            "extra": self.extra,
            "train": self.train,
        }


def parse_spec(spec: Mapping, base_dir: str | os.PathLike | None = None) -> StudySpec:
    """A :class:`StudySpec` from a mapping (a parsed TOML/YAML file, or a dict).

    Unknown keys, axes or values raise :class:`ConfigError` naming the problem and the choices.
    Relative ``data`` and ``cache`` paths are taken relative to ``base_dir``.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"a study spec must be a table of keys ({', '.join(SPEC_KEYS)}), not {type(spec).__name__}")
    unknown = [str(k) for k in spec if k not in SPEC_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in the study spec: use {', '.join(SPEC_KEYS)}")
    grid = {a: list(v) for a, v in AXES.items()}
    grid.update(_parse_axes(spec.get("grid", {}), "[grid]"))
    extra_raw = spec.get("extra", [])
    if isinstance(extra_raw, Mapping) or not isinstance(extra_raw, (list, tuple)):
        raise ConfigError("extra must be a list of grids ([[extra]] tables in TOML, a list in YAML)")
    extra = []
    for i, e in enumerate(extra_raw):
        axes = _parse_axes(e, f"[[extra]] #{i + 1}")
        if not axes:
            raise ConfigError(f"[[extra]] #{i + 1} is empty: give the axes that differ from [grid]")
        extra.append(axes)
    train = _parse_train(spec.get("train", {}))

    def path(key: str) -> str | None:
        value = spec.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{key} {value!r} must be a path")
        p = Path(value).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = Path(base_dir) / p
        return str(p)

    for key in ("title", "split", "device", "figure_norm"):
        if key in spec and spec[key] is not None and not isinstance(spec[key], str):
            raise ConfigError(f"{key} {spec[key]!r} must be a string")
    workers = spec.get("workers")
    return StudySpec(
        grid=grid,
        extra=extra,
        train=train,
        data=path("data"),
        cache=path("cache"),
        split=spec.get("split"),
        device=spec.get("device") or "auto",
        workers=workers,
        title=spec.get("title"),
        figure_norm=spec.get("figure_norm") or "instance",
    ).check()


def load_spec(path: str | os.PathLike) -> StudySpec:
    """Read a study spec from a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study spec {path} does not exist: give a .toml or .yaml file")
    text = path.read_text()
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            raw = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        elif suffix == ".json":
            raw = json.loads(text)
        else:
            raise ConfigError(f"study spec {path} must end in {', '.join(SPEC_SUFFIXES[:-1])} or {SPEC_SUFFIXES[-1]}")
    except ConfigError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot parse the study spec {path} ({first}): fix its syntax") from None
    return parse_spec(raw, base_dir=path.parent)


def quick_spec(
    out: str | os.PathLike,
    data: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    progress: Callable | None = None,
) -> StudySpec:
    """The ``--quick`` preset. Without ``data``, writes the twin (:data:`QUICK_TWIN`) to ``out/twin``
    and its cache to ``out/cache`` first (both kept and reused by a rerun)."""
    spec = parse_spec(QUICK_SPEC)
    if data is None:
        from ..data import prepare
        from ..twin import write_twin

        out = study_folder(out)
        data = write_twin(out / "twin", progress=progress, **QUICK_TWIN)
        cache = prepare(data, out / "cache", band_sets=("rgb", "vv-complex"), progress=progress)
    return replace(spec, data=str(data), cache=None if cache is None else str(cache)).check()


def study_folder(out: str | os.PathLike) -> Path:
    """Create the study folder ``out`` if needed; :class:`~lczmap.errors.OutputError` (one line)
    when it is a file, its name is not UTF-8 or too long, or it cannot be created or written."""
    from .._io import check_output, check_utf8
    from ..errors import OutputError

    out = Path(out)
    check_utf8(out, "study folder (--out)")
    try:
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out} exists and is not a folder: choose another --out")
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot create the study folder {out} ({exc.strerror}): choose another --out") from None
    check_output(out / "study.json", overwrite=True)  # OutputError when the folder is not writable
    return out


def describe_eo_stage(c: Cell) -> str:
    """``"lowrise, instance norm, SupCon off, seed 0"``: what the cells sharing ``c``'s EO stage share."""
    return f"{c.classes}, {c.norm} norm, SupCon {'on' if c.supcon else 'off'}, seed {c.seed}"


def describe_cell(c: Cell) -> str:
    """``"swd, lowrise, 32 labels, instance norm, SupCon off, seed 0"``."""
    return f"{c.method}, {c.classes}, {c.labels} labels, {c.norm} norm, SupCon {'on' if c.supcon else 'off'}, seed {c.seed}"

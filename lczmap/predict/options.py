"""Prediction options: one frozen, validated :class:`PredictOptions` for every way in (library,
CLI, QGIS), and the defaults the CLI and the QGIS form show.

This module imports nothing heavy (no torch, no rasterio), so that the CLI and the QGIS plugin
can build their forms from it; the checks that need the scene or device modules import them
when an options object is made.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Literal, get_args

from ..errors import ConfigError
from .cluster import DEFAULT_CONNECT_TIMEOUT

if TYPE_CHECKING:
    from ..bands import Backscatter, Units
    from ..scene import Scene
    from .model import Model
    from .plan import TilePlan

__all__ = [
    "PredictOptions",
    "Layout",
    "LAYOUTS",
    "check_aoi",
    "DEFAULT_STRIDE",
    "DEFAULT_TILE",
    "DEFAULT_MAX_NODATA",
    "DEFAULT_FILTER_SIGMA",
    "MAX_FILTER_SIGMA",
    "DEFAULT_CONNECT_TIMEOUT",
    "merge_options",
    "check_swaths",
]

#: Output pixel size in input pixels (10 x 10 m = 100 m, the LCZ convention).
DEFAULT_STRIDE = 10
#: Output pixels per tile side.
DEFAULT_TILE = 128
#: Largest nodata share of a window that is still classified.
DEFAULT_MAX_NODATA = 0.5
#: Gaussian sigma of the filtered LCZ map, in output pixels.
DEFAULT_FILTER_SIGMA = 1.0
#: Largest ``filter_sigma`` (``--filter-sigma``), in output pixels: the LCZ Generator's filter
#: smooths over a few pixels (sigma ~1); at 50 pixels (5 km at 100 m) the map is smoothed away, and
#: the filter's halo (3 sigma) and kernel grow with it.
MAX_FILTER_SIGMA = 50.0
Layout = Literal["lcz", "lcz-generator"]
#: How the main output is laid out (``--layout``): ``lcz`` (one band of LCZ codes) or
#: ``lcz-generator`` (the WUDAPT LCZ Generator's three bands: raw ``lcz``, filtered ``lczFilter``,
#: ``classProbability`` in percent).
LAYOUTS: tuple[Layout, ...] = get_args(Layout)


def _at_least(name: str, option: str, value: Any, low: int, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ConfigError(f"{name} must be at least {low} ({option}), got {value!r}")
    return int(value)


@dataclass(frozen=True)
class PredictOptions:
    """How to map a scene: every option of :func:`~lczmap.predict.predict_scene` except the
    inputs, the output paths and the progress callback. Validated on construction (a bad value
    raises :class:`~lczmap.errors.ConfigError` naming the CLI option too); change one with
    :func:`dataclasses.replace`, which validates again.

    Opening the scene: ``bands`` (names of the scene's bands in order, default: band descriptions),
    ``units`` (``linear``, ``amplitude`` or ``db``; None: the product's naming or the file's unit
    tag, else linear), ``quantity`` (``sigma0``, ``gamma0`` or ``beta0``: what the intensities are
    normalised by; None: what the product says, else sigma0), ``resample`` (one of
    :data:`lczmap.scene.RESAMPLING` for scenes whose pixels are not 10 m; None refuses them).
    The map: ``stride`` (output pixel size in input pixels), ``max_nodata`` (largest nodata share
    of a classified window), ``filter_sigma`` (Gaussian sigma of the filtered map, output pixels).
    Running: ``device`` (auto, cpu, cuda, cuda:N, mps), ``batch_size`` (windows per batch; None:
    4096 on CUDA, else 512), ``tile_size`` (output pixels per tile side), ``amp`` (mixed precision
    on CUDA), ``threads`` (torch threads on the CPU; None: all cores but one), ``read_threads``
    (threads reading tiles; None: see :func:`~lczmap.predict.reader_settings`), ``scheduler`` (a
    dask.distributed address ``[scheme://]host:port`` or Client to run tiles on; the address is
    checked here), ``connect_timeout`` (seconds to wait for that scheduler). Outputs: ``resume``
    (continue an interrupted run), ``overwrite`` (replace existing outputs). Numbers must be finite.
    ``speckle_filter``: ``refined-lee`` or ``none`` (:data:`lczmap.speckle.SPECKLE_FILTERS`),
    applied to linear intensities before the model; None follows the model's band set (Lee
    channels: refined-lee; unfiltered complex channels: none). ``aoi``: map only this area of
    interest, ``(west, south, east, north)`` in degrees (or that as a ``"w,s,e,n"`` string) or a
    vector file (GeoPackage, GeoJSON, ...) whose features' bounds are used; None maps the scene.
    ``layout``: how the main output is laid out (:data:`LAYOUTS`): ``lcz`` or ``lcz-generator``.
    ``codes``: how every LCZ output codes LCZ A-G, ``1-17`` (11-17, as the global LCZ map) or
    ``101-107`` (as the LCZ Generator's training areas, GeoClimate and UMEP).
    ``dem``: a DEM file to terrain-correct a Sentinel-1 SAFE product with (sarsen's range-Doppler
    backward geocoding; see :func:`lczmap.scene.safe.open_safe`); None geocodes on the ellipsoid.
    ``swaths``: the sub-swaths of a Sentinel-1 IW SLC product to map (e.g. ``("IW1", "IW2")``);
    None maps those it holds whole.
    """

    bands: tuple[str, ...] | None = None
    units: Units | None = None
    resample: str | None = None
    stride: int = DEFAULT_STRIDE
    max_nodata: float = DEFAULT_MAX_NODATA
    filter_sigma: float = DEFAULT_FILTER_SIGMA
    device: str = "auto"
    batch_size: int | None = None
    tile_size: int = DEFAULT_TILE
    amp: bool = True
    threads: int | None = None
    read_threads: int | None = None
    scheduler: Any = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    resume: bool = False
    overwrite: bool = False
    speckle_filter: str | None = None
    aoi: Any = None
    quantity: Backscatter | None = None
    layout: Layout = "lcz"
    codes: str = "1-17"
    dem: str | None = None
    swaths: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        from .._device import check_device
        from ..bands import BACKSCATTER, UNITS
        from ..scene import RESAMPLING
        from .cluster import check_connect_timeout, check_scheduler

        if self.bands is not None:
            if isinstance(self.bands, str) or not all(isinstance(b, str) for b in self.bands):
                raise ConfigError(f"bands must be a sequence of band names (--bands), got {self.bands!r}")
            object.__setattr__(self, "bands", tuple(self.bands))
        if self.units is not None and self.units not in UNITS:
            raise ConfigError(f"unknown units {self.units!r} (--units): choose one of {', '.join(UNITS)}")
        if self.quantity is not None and self.quantity not in BACKSCATTER:
            raise ConfigError(f"unknown quantity {self.quantity!r} (--quantity): choose one of {', '.join(BACKSCATTER)}")
        if self.resample is not None and self.resample not in RESAMPLING:
            raise ConfigError(f"unknown resampling {self.resample!r} (--resample): choose one of {', '.join(RESAMPLING)}")
        for name, option, optional in (
            ("stride", "--stride", False),
            ("tile_size", "--tile-size", False),
            ("batch_size", "--batch-size", True),
            ("threads", "--threads", True),
            ("read_threads", "--read-threads", True),
        ):
            object.__setattr__(self, name, _at_least(name, option, getattr(self, name), 1, optional))
        if isinstance(self.max_nodata, bool) or not isinstance(self.max_nodata, Real) or not 0 <= self.max_nodata <= 1:
            raise ConfigError(f"max_nodata must lie in 0..1 (--max-nodata), got {self.max_nodata!r}")
        object.__setattr__(self, "max_nodata", float(self.max_nodata))
        if (
            isinstance(self.filter_sigma, bool)
            or not isinstance(self.filter_sigma, Real)
            or not math.isfinite(self.filter_sigma)
            or not self.filter_sigma > 0
        ):
            raise ConfigError(f"filter_sigma must be a positive, finite number (--filter-sigma), got {self.filter_sigma!r}")
        if self.filter_sigma > MAX_FILTER_SIGMA:
            raise ConfigError(
                f"filter_sigma must be at most {MAX_FILTER_SIGMA:g} output pixels (--filter-sigma), got "
                f"{self.filter_sigma!r}: the LCZ Generator's filter smooths over a few pixels (sigma ~1), "
                "a larger sigma smooths the map away"
            )
        object.__setattr__(self, "filter_sigma", float(self.filter_sigma))
        object.__setattr__(self, "scheduler", check_scheduler(self.scheduler))
        object.__setattr__(self, "connect_timeout", check_connect_timeout(self.connect_timeout))
        check_device(str(self.device))
        object.__setattr__(self, "device", str(self.device))
        from ..speckle import SPECKLE_FILTERS

        if self.speckle_filter is not None and self.speckle_filter not in SPECKLE_FILTERS:
            raise ConfigError(
                f"unknown speckle filter {self.speckle_filter!r} (--speckle-filter): choose one of {', '.join(SPECKLE_FILTERS)}"
            )
        object.__setattr__(self, "aoi", check_aoi(self.aoi))
        from ..classes import CODINGS

        if self.layout not in LAYOUTS:
            raise ConfigError(f"unknown layout {self.layout!r} (--layout): choose one of {', '.join(LAYOUTS)}")
        if self.codes not in CODINGS:
            raise ConfigError(f"unknown LCZ coding {self.codes!r} (--codes): choose one of {', '.join(CODINGS)}")
        if self.dem is not None:
            if not isinstance(self.dem, (str, os.PathLike)):
                raise ConfigError(f"dem must be the path of a DEM file (--dem), got {self.dem!r}")
            if not os.path.isfile(self.dem):
                raise ConfigError(f"DEM {os.fspath(self.dem)} is not a file (--dem): give a DEM GeoTIFF")
            object.__setattr__(self, "dem", os.fspath(self.dem))
        object.__setattr__(self, "swaths", check_swaths(self.swaths))

    def resolve(self, model: Model, scene: Scene | None) -> TilePlan:
        """What mapping ``scene`` with ``model`` will do, resolved once: the
        :class:`~lczmap.predict.plan.TilePlan` (device, speckle filter with the scene's
        ``prefiltered``, halo, batch size, AMP, threads) that the kernel and the runners take.
        ``scene``: None for an array in the model's units (:func:`~lczmap.predict.predict_dataarray`)."""
        from .plan import resolve_plan

        return resolve_plan(self, model, scene)


def check_swaths(swaths: Any) -> tuple[str, ...] | None:
    """Sub-swaths as :class:`PredictOptions` holds them: upper case, each once (``IW1``...; from a
    sequence or an ``"IW1,IW2"`` string), or None."""
    if swaths is None:
        return None
    names = swaths.split(",") if isinstance(swaths, str) else swaths
    try:
        out = tuple(str(s).strip().upper() for s in names)
    except TypeError:
        raise ConfigError(f"swaths must be sub-swath names such as IW1,IW2 (--swaths), got {swaths!r}") from None
    bad = [s for s in out if not re.fullmatch(r"(IW|EW)[1-5]", s)]
    if not out or bad or len(set(out)) != len(out):
        raise ConfigError(f"swaths must be distinct sub-swath names such as IW1,IW2 (--swaths), got {swaths!r}")
    return out


def check_aoi(aoi: Any) -> tuple[float, float, float, float] | str | None:
    """An area of interest as :class:`PredictOptions` holds it: ``(west, south, east, north)``
    degrees (from a tuple or a ``"w,s,e,n"`` string), or the path of a vector file that exists."""
    if aoi is None:
        return None
    if isinstance(aoi, str) and aoi.count(",") == 3:
        try:
            aoi = tuple(float(v) for v in aoi.split(","))
        except ValueError:
            raise ConfigError(
                f"--aoi {aoi!r}: give west,south,east,north in degrees (e.g. 13.3,52.4,13.5,52.6) or a vector file"
            ) from None
    if isinstance(aoi, (str, os.PathLike)):
        path = os.fspath(aoi)
        if not os.path.isfile(path):
            raise ConfigError(f"area of interest {path} is not a file (--aoi): give a vector file or west,south,east,north")
        return path
    try:
        box = tuple(float(v) for v in aoi)
    except (TypeError, ValueError):
        raise ConfigError(f"aoi must be (west, south, east, north) in degrees or a vector file (--aoi), got {aoi!r}") from None
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise ConfigError(f"aoi must be four finite numbers west, south, east, north (--aoi), got {aoi!r}")
    w, s, e, n = box
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise ConfigError(
            f"aoi {w},{s},{e},{n} is not west,south,east,north in degrees with west < east and south < north (--aoi)"
        )
    return (w, s, e, n)


def merge_options(options: PredictOptions | None, overrides: dict[str, Any]) -> PredictOptions:
    """``options`` (default: :class:`PredictOptions`) with ``overrides`` applied, validated once:
    how the ``predict_*`` functions accept today's keyword arguments beside ``options=``."""
    if options is not None and not isinstance(options, PredictOptions):
        raise ConfigError(f"options must be a PredictOptions, got {type(options).__name__}")
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(PredictOptions)})
    if unknown:
        raise TypeError(f"unknown prediction option(s) {', '.join(unknown)}: see lczmap.PredictOptions")
    if options is None:
        return PredictOptions(**overrides)
    return dataclasses.replace(options, **overrides) if overrides else options

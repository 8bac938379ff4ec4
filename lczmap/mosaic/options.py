"""Mosaic options: one frozen, validated :class:`MosaicOptions` holding a
:class:`~lczmap.predict.PredictOptions` for the per-scene side (how each scene is opened and
classified) and the options of the one output grid and of the fusion.

Nothing heavy is imported here, so that the CLI and the QGIS form can build from it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, Literal, get_args

from ..errors import ConfigError
from ..predict.options import PredictOptions, check_aoi

__all__ = [
    "MosaicOptions",
    "Fusion",
    "FUSIONS",
    "DEFAULT_RESOLUTION",
    "GLOBAL_LCZ_RESOLUTION",
    "GLOBAL_LCZ_ORIGIN",
    "DEFAULT_TILE_PIXELS",
    "DEFAULT_WORKERS",
    "merge_mosaic_options",
]

Fusion = Literal["probability", "composite"]
#: How acquisitions covering a pixel are combined (``--fusion``): ``probability`` (each
#: acquisition classified on its own, class probabilities fused) or ``composite`` (a temporal mean
#: of calibrated linear sigma0 per relative orbit, classified once per orbit, orbits fused).
FUSIONS: tuple[Fusion, ...] = get_args(Fusion)
#: Output pixel size in metres of a projected grid.
DEFAULT_RESOLUTION = 100.0
#: Pixel size of the global LCZ map (Demuzere et al. 2022) in degrees: 100 m at the equator.
GLOBAL_LCZ_RESOLUTION = 0.000898315284120
#: Where the global LCZ map's pixel grid is anchored (west, north) in degrees: ``--crs EPSG:4326``
#: puts the mosaic's pixels on that grid.
GLOBAL_LCZ_ORIGIN = (-180.0, 90.0)
#: Output pixels per side of a tile (a dask task, and a COG of ``--tiles``).
DEFAULT_TILE_PIXELS = 256
#: Workers of the LocalCluster a mosaic starts when no ``--scheduler`` is given.
DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class MosaicOptions:
    """How to map many scenes onto one grid: every option of :func:`~lczmap.mosaic.predict_mosaic`
    except the inputs, the output paths and the progress callback. Validated on construction
    (a bad value raises :class:`~lczmap.errors.ConfigError` naming the CLI option).

    ``predict``: the per-scene side (:class:`~lczmap.predict.PredictOptions`: bands, units,
    quantity, resample, speckle filter, dem, max_nodata, stride, device, batch size, layout, codes,
    scheduler, resume, overwrite); its ``aoi`` must stay None (the mosaic's ``aoi`` is the area).
    ``fusion``: :data:`FUSIONS`. ``crs``: the output CRS (``EPSG:32633``, ``EPSG:4326``...); None:
    the inputs' own grid when they lie on one 10 m grid of one UTM zone (then a mosaic of one
    scene is ``predict``'s map of it), else the UTM zone of the area's centre. ``EPSG:4326`` puts
    the pixels on the global LCZ map's grid (:data:`GLOBAL_LCZ_RESOLUTION`). ``resolution``: the
    output pixel size in the CRS's units (None: 100 m, or the global LCZ map's in EPSG:4326); with
    the inputs' own grid it must equal ``stride`` input pixels. ``aoi``: ``(west, south, east,
    north)`` degrees, a ``"w,s,e,n"`` string or a vector file; None: the union of the footprints.
    ``align``: anchor the grid at the CRS origin (pixel edges at multiples of ``resolution``) so
    that runs over neighbouring areas line up pixel for pixel. ``skip_bad``: a scene that fails to
    open or to read is left out and listed in the footprints layer instead of stopping the run.
    ``workers``: workers of the LocalCluster started when ``predict.scheduler`` is None (0: run the
    tiles in this process). ``tile_pixels``: output pixels per tile side (a dask task; a COG of
    ``tiles``).
    """

    predict: PredictOptions = field(default_factory=PredictOptions)
    fusion: Fusion = "probability"
    crs: str | None = None
    resolution: float | None = None
    aoi: Any = None
    align: bool = False
    skip_bad: bool = False
    workers: int | None = None
    tile_pixels: int = DEFAULT_TILE_PIXELS

    def __post_init__(self) -> None:
        if not isinstance(self.predict, PredictOptions):
            raise ConfigError(f"predict must be a PredictOptions, got {type(self.predict).__name__}")
        if self.predict.aoi is not None:
            raise ConfigError("give the mosaic's area as MosaicOptions.aoi (--aoi), not PredictOptions.aoi")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {self.fusion!r} (--fusion): choose one of {', '.join(FUSIONS)}")
        if self.crs is not None:
            from rasterio.crs import CRS
            from rasterio.errors import CRSError

            try:
                crs = CRS.from_user_input(self.crs)
            except (CRSError, ValueError):
                raise ConfigError(f"unknown CRS {self.crs!r} (--crs): give e.g. EPSG:32633 or EPSG:4326") from None
            if not (crs.is_projected or crs.is_geographic):
                raise ConfigError(f"--crs {self.crs} is neither projected nor geographic")
            object.__setattr__(self, "crs", crs.to_string())
        if self.resolution is not None:
            if (
                isinstance(self.resolution, bool)
                or not isinstance(self.resolution, Real)
                or not math.isfinite(self.resolution)
                or self.resolution <= 0
            ):
                raise ConfigError(f"resolution must be a positive number (--resolution), got {self.resolution!r}")
            object.__setattr__(self, "resolution", float(self.resolution))
        object.__setattr__(self, "aoi", check_aoi(self.aoi))
        for name, option, low in (("workers", "--workers", 0), ("tile_pixels", "--tile-pixels", 1)):
            value = getattr(self, name)
            if value is None and name == "workers":
                continue
            if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
                raise ConfigError(f"{name} must be an integer of at least {low} ({option}), got {value!r}")
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "align", bool(self.align))
        object.__setattr__(self, "skip_bad", bool(self.skip_bad))


def merge_mosaic_options(options: MosaicOptions | None, overrides: dict[str, Any]) -> MosaicOptions:
    """``options`` (default: :class:`MosaicOptions`) with ``overrides`` applied: fields of
    :class:`MosaicOptions` replace its own, fields of :class:`~lczmap.predict.PredictOptions`
    those of ``options.predict``; validated once."""
    if options is not None and not isinstance(options, MosaicOptions):
        raise ConfigError(f"options must be a MosaicOptions, got {type(options).__name__}")
    options = options or MosaicOptions()
    own = {f.name for f in dataclasses.fields(MosaicOptions)} - {"predict"}
    scene = {f.name for f in dataclasses.fields(PredictOptions)} - {"aoi"}
    unknown = sorted(set(overrides) - own - scene - {"predict"})
    if unknown:
        raise TypeError(f"unknown mosaic option(s) {', '.join(unknown)}: see lczmap.MosaicOptions and lczmap.PredictOptions")
    predict = overrides.get("predict", options.predict)
    per_scene = {k: v for k, v in overrides.items() if k in scene}
    if per_scene:
        predict = dataclasses.replace(predict, **per_scene)
    mine = {k: v for k, v in overrides.items() if k in own}
    if not mine and predict is options.predict:
        return options
    return dataclasses.replace(options, predict=predict, **mine)

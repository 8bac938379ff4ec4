"""The public verbs: map one scene (:func:`predict_scene`), several (:func:`predict_scenes`) or an
``xarray`` cube (:func:`predict_dataarray`). Each takes a :class:`~lczmap.predict.PredictOptions`
(``options=``) or, as before, its fields as keyword arguments.

One module: the three verbs share the output checks, the room check, the model's loading and the
writing of every output layout; split, each would import the others' private steps."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from odc.geo.geobox import GeoBox

from .. import __version__
from .._io import check_free_space, check_output, check_outputs, check_utf8
from ..bands import BandSet
from ..classes import NODATA, lcz
from ..errors import ConfigError, OutputError, SceneError
from ..scene import Scene, open_scene, read_mirrored
from ..speckle import check_speckle_channels
from .cluster import connect_scheduler
from .grid import Tile, aoi_window, output_geobox, plan_tiles
from .kernel import TileResult
from .model import Model, ModelSource, load_model, model_file
from .options import PredictOptions, merge_options
from .plan import TilePlan
from .runner import Progress, ReadBlock, Shifted, Source, Timings, run_distributed, run_local
from .smooth import filtered_strips, product_strips
from .store import MemoryStore, ResumeStore, fingerprint, resume_bytes, resume_dir

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["PredictResult", "predict_scene", "predict_scenes", "predict_dataarray"]

log = logging.getLogger(__name__)

#: Options that say how to open a scene file or where to run: a DataArray has none of them.
_SCENE_ONLY = ("bands", "units", "quantity", "resample", "scheduler", "connect_timeout", "dem")


@dataclass
class PredictResult:
    """What :func:`predict_scene` wrote and how fast; ``timings`` says where the seconds went."""

    out: Path
    probabilities: Path | None
    confidence: Path | None
    filtered: Path | None
    shape: tuple[int, int]
    n_windows: int
    seconds: float
    timings: Timings = field(default_factory=Timings)

    @property
    def windows_per_s(self) -> float:
        return self.n_windows / self.seconds if self.seconds > 0 else float("nan")


def predict_scene(
    scene: str | os.PathLike[str] | Scene | None,
    out: str | os.PathLike[str],
    model: ModelSource = None,
    *,
    vv: str | os.PathLike[str] | None = None,
    vh: str | os.PathLike[str] | None = None,
    probabilities: str | os.PathLike[str] | None = None,
    confidence: str | os.PathLike[str] | None = None,
    filtered: str | os.PathLike[str] | None = None,
    options: PredictOptions | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> PredictResult:
    """Map one scene to an LCZ raster (uint8 COG, codes 1-17, nodata 0) at ``out``; with
    ``layout="lcz-generator"`` the LCZ Generator's three bands (``lcz``, ``lczFilter``,
    ``classProbability`` in percent) instead, and with ``codes="101-107"`` A-G as 101-107 in
    every LCZ output.

    ``scene``: a raster path/URL or an opened :class:`~lczmap.scene.Scene`; or None with
    ``vv``/``vh`` files. ``model``: checkpoint path, loaded checkpoint or
    :class:`~lczmap.predict.Model`; None uses ``$LCZMAP_MODEL`` or the last checkpoint
    ``lczmap train`` wrote. ``probabilities``/``confidence``/``filtered``: optional extra outputs
    (float32 per-class probabilities; float32 top probability; LCZ map from probabilities
    smoothed by a Gaussian of ``filter_sigma`` output pixels). ``options``: a
    :class:`~lczmap.predict.PredictOptions`; its fields may also be given as keyword arguments
    (``stride=5``), which override those of ``options``. ``progress``:
    ``progress(total=..., desc=...)`` -> tqdm-like, or None. ``PredictResult.timings`` says where
    the time went (logged at INFO, ``lczmap -v predict``).
    """
    t_start = time.perf_counter()
    opts = merge_options(options, overrides)
    out = Path(out)
    extras = {"probabilities": probabilities, "confidence": confidence, "filtered": filtered}
    paths = [out] + [Path(p) for p in extras.values() if p is not None]
    _check_outputs(paths, _inputs(scene, vv, vh, model, opts), opts.overwrite)

    m = load_model(model)
    check_speckle_channels(opts.speckle_filter, m.band_set)  # a choice no scene can take, before it is opened
    if not isinstance(scene, Scene):
        scene = open_scene(
            scene,
            m.band_set,
            vv=vv,
            vh=vh,
            bands=opts.bands,
            units=opts.units,
            quantity=opts.quantity,
            resample=opts.resample,
            dem=opts.dem,
            aoi=opts.aoi,
            swaths=opts.swaths,
        )
    elif [b.channel for b in scene.bands] != list(m.band_set.channels):
        raise SceneError(f"the scene was opened for band set {scene.band_set} but the model needs {m.band_set.name}: reopen it")
    elif opts.dem is not None:
        raise ConfigError(
            "the scene was opened already, so --dem (dem=) cannot apply: give the product's path, or "
            "open it with lczmap.scene.open_scene(..., dem=...)"
        )
    elif opts.swaths is not None:
        raise ConfigError(
            "the scene was opened already, so --swaths (swaths=) cannot apply: give the product's "
            "path, or open it with lczmap.scene.open_scene(..., swaths=...)"
        )
    plan = opts.resolve(m, scene)  # device, speckle filter (with scene.prefiltered), halo, batch: once
    patch = m.patch_size
    if scene.height < patch or scene.width < patch:
        raise SceneError(
            f"scene is {scene.height} x {scene.width} pixels, smaller than one {patch} x {patch} window: give a larger scene"
        )
    probs = probabilities is not None or filtered is not None or opts.layout == "lcz-generator"
    grid = output_geobox(GeoBox((scene.height, scene.width), scene.affine, scene.crs), opts.stride)
    window = (0, grid.shape.y, 0, grid.shape.x) if opts.aoi is None else aoi_window(grid, opts.aoi)
    grid = grid[window[0] : window[1], window[2] : window[3]]  # an area of interest: aligned sub-grid
    shape = (grid.shape.y, grid.shape.x)
    tiles = plan_tiles(*shape, plan.tile_size)
    fp = fingerprint(
        scene,
        m,
        opts,
        probs,
        {
            "sigma": opts.filter_sigma,
            "outputs": sorted(k for k, v in extras.items() if v) + [opts.layout],
            "speckle_filter": plan.speckle_filter,
            "window": list(window),
        },
    )
    _check_room(out, extras, shape, len(m.codes), probs, opts.resume, 3 if opts.layout == "lcz-generator" else 1)
    with contextlib.ExitStack() as stack:
        client = None
        if opts.scheduler is not None:  # reached before anything is written
            client = opts.scheduler
            if not hasattr(client, "submit"):
                client = stack.enter_context(connect_scheduler(client, opts.connect_timeout))
        run = ResumeStore(out, fp, shape, len(m.codes), probs, opts.resume, n_tiles=len(tiles))
        return _run_and_write(
            scene,
            m,
            opts,
            plan,
            client,
            run,
            tiles,
            out,
            extras,
            grid,
            probs,
            progress,
            t_start,
            (window[0] * plan.stride, window[2] * plan.stride),
        )


def _run_and_write(
    scene: Scene,
    m: Model,
    opts: PredictOptions,
    plan: TilePlan,
    client: Any,
    run: ResumeStore,
    tiles: list[Tile],
    out: Path,
    extras: dict[str, str | os.PathLike[str] | None],
    grid: GeoBox,
    probs: bool,
    progress: Progress | None,
    t_start: float,
    origin: tuple[int, int] = (0, 0),
) -> PredictResult:
    """The tiles not done yet, then the outputs (see :func:`predict_scene`); ``client``: a
    dask.distributed Client to run the tiles on, or None; ``origin``: the scene pixel (row,
    column) of the grid's corner (an area of interest)."""
    probabilities, confidence, filtered = extras["probabilities"], extras["confidence"], extras["filtered"]
    shape = (grid.shape.y, grid.shape.x)
    todo = [t for k, t in enumerate(tiles) if k not in run.done]
    index = {t: k for k, t in enumerate(tiles)}
    log.info(
        "%s: %d x %d pixels -> %d x %d LCZ pixels, %d tiles (%d to do)",
        scene.name,
        scene.height,
        scene.width,
        *shape,
        len(tiles),
        len(todo),
    )
    bar = progress(total=len(tiles), desc=scene.name) if progress else None
    if bar is not None and run.done:
        bar.update(len(run.done))

    def put(t: Tile, res: TileResult) -> None:
        run.put_indexed(index[t], t, res)

    timings = Timings(setup=time.perf_counter() - t_start)
    t_tiles = time.perf_counter()
    try:
        try:
            source: Source = scene if origin == (0, 0) else Shifted(scene, *origin)
            if client is None:
                run_local(source.read, todo, m, plan, put, bar, probabilities=probs, timings=timings)
            else:
                run_distributed(client, source, todo, m, plan, put, bar, probabilities=probs)
        finally:
            if bar is not None:
                bar.close()
            run.close()
    except OutputError as exc:  # a disk that filled while mapping: the tiles mapped so far stay
        raise _kept(exc, run) from None
    timings.tiles = time.perf_counter() - t_tiles
    t_write = time.perf_counter()

    if run.n_valid == 0 and not (run.codes != 0).any():
        run.remove()
        raise SceneError(f"{scene.name} holds no data (every window is nodata): check the input and its nodata value")

    transform = grid.affine
    tags = {
        "model": m.name,
        "lczmap_version": __version__,
        "input": ", ".join(scene.sources),
        "date": run.state["date"],
        "stride": opts.stride,
        "band_set": m.band_set.name,
        "codes": ",".join(str(c) for c in m.codes),
        "speckle_filter": plan.speckle_filter,
        "input_conversions": "; ".join(scene.conversions),
        "product": opts.layout,  # the tag keeps its name: maps written before read the same
    }
    if opts.aoi is not None:
        tags["aoi"] = opts.aoi if isinstance(opts.aoi, str) else ",".join(f"{v:g}" for v in opts.aoi)
    from .. import raster
    from ..calibration import calibration_tag

    # the outputs made of probabilities say how they are calibrated; the map of classes does not change
    ptags = {**tags, "probability_calibration": calibration_tag(m.calibration)}
    written: dict[str, Path | None] = {k: None for k in extras}
    try:
        if confidence is not None:
            written["confidence"] = raster.write_float(
                confidence, run.confidence, transform, scene.crs, ["confidence"], ptags, opts.overwrite
            )
        if probabilities is not None:
            desc = [lcz(c).title for c in m.codes]
            written["probabilities"] = raster.write_float(
                probabilities, run.probabilities, transform, scene.crs, desc, ptags, opts.overwrite
            )
        if filtered is not None:
            strips = filtered_strips(run.probabilities, run.codes, m.codes, opts.filter_sigma)
            written["filtered"] = raster.write_lcz_strips(
                filtered,
                strips,
                shape,
                transform,
                scene.crs,
                {**ptags, "product": "lcz", "filter_sigma": opts.filter_sigma},
                opts.overwrite,
                opts.codes,
            )
        if opts.layout == "lcz-generator":
            parts = product_strips(run.probabilities, run.codes, run.confidence, m.codes, opts.filter_sigma)
            raster.write_lcz_product(
                out, parts, shape, transform, scene.crs, {**ptags, "filter_sigma": opts.filter_sigma}, opts.overwrite, opts.codes
            )
        else:
            raster.write_lcz(out, run.codes, transform, scene.crs, tags, opts.overwrite, opts.codes)
    except OutputError as exc:  # the mapped tiles stay in the resume folder
        raise _kept(exc, run) from None
    n_valid = run.n_valid
    run.remove()
    seconds = time.perf_counter() - t_start
    timings.write = time.perf_counter() - t_write
    log.info("%s: %d windows in %.1f s (%.0f windows/s) -> %s", scene.name, n_valid, seconds, n_valid / max(seconds, 1e-9), out)
    _log_timings(scene.name, timings)
    return PredictResult(
        out, written["probabilities"], written["confidence"], written["filtered"], shape, n_valid, seconds, timings
    )


def _inputs(
    scene: str | os.PathLike[str] | Scene | None,
    vv: str | os.PathLike[str] | None,
    vh: str | os.PathLike[str] | None,
    model: ModelSource,
    opts: PredictOptions,
) -> list[str | os.PathLike[str] | None]:
    """The files a run reads: the scene (or an opened Scene's sources), --vv/--vh, the checkpoint,
    --dem and an --aoi file."""
    files: list[str | os.PathLike[str] | None] = list(scene.sources) if isinstance(scene, Scene) else [scene]
    aoi = opts.aoi if isinstance(opts.aoi, str) else None
    return [*files, vv, vh, model_file(model), opts.dem, aoi]


def _kept(exc: OutputError, run: ResumeStore) -> OutputError:
    """``exc`` saying where the mapped tiles are kept and the command that goes on from them."""
    return type(exc)(
        f"{exc}; the mapped tiles are kept in {run.dir}: rerun the same command with --resume "
        "(resume=True) to go on from them (without it, the run starts over and removes them)"
    )


def _check_outputs(outputs: list[Path], inputs: list[str | os.PathLike[str] | None], overwrite: bool) -> None:
    """Before any work: every path is UTF-8 text, no output is an input or named twice, and each
    output may be written (folder exists and is writable, not a folder, name not too long):
    :func:`lczmap._io.check_outputs`, the one check of every verb."""
    for p in inputs:
        check_utf8(p, "input", SceneError)
    for p in outputs:
        check_utf8(p, "output")
    check_outputs(outputs, inputs, overwrite)
    for p in outputs:  # an LCZ map's sidecars (replaced with it): their names must fit too
        check_output(p.with_name(p.name + ".aux.xml"), overwrite=True)


def _check_room(
    out: Path,
    extras: dict[str, str | os.PathLike[str] | None],
    shape: tuple[int, int],
    k: int,
    probs: bool,
    resume: bool,
    bands: int = 1,
) -> None:
    """Refuse up front when a file system lacks room for the resume arrays (beside ``out``) and
    the outputs (each: an intermediate GeoTIFF and the COG, at most the uncompressed pixels)."""
    from ..raster import raster_bytes

    need: dict[int, tuple[Path, int]] = {}

    def add(path: Path, n: int) -> None:
        try:
            dev = os.stat(path.parent).st_dev
        except OSError:  # check_output accepted the folder; let the write report it
            return
        prev = need.get(dev, (path, 0))
        need[dev] = (prev[0], prev[1] + n)

    if not (resume and resume_dir(out).is_dir()):
        add(out, resume_bytes(shape, k, probs))
    add(out, 2 * raster_bytes(bands, *shape))
    counts = {"probabilities": (k, "float32"), "confidence": (1, "float32"), "filtered": (1, "uint8")}
    for name, path in extras.items():
        if path is not None:
            add(Path(path), 2 * raster_bytes(counts[name][0], *shape, counts[name][1]))
    for path, n in need.values():
        check_free_space(path, n)


def _log_timings(name: str, timings: Timings) -> None:
    """One INFO line on where the time went, and a hint when reading was the bound."""
    parts = [f"setup {timings.setup:.1f} s", f"tiles {timings.tiles:.1f} s"]
    if timings.read_wait is not None:
        parts[-1] += (
            f" (waiting for reads {timings.read_wait:.1f} s, model {timings.compute or 0.0:.1f} s"
            + (f" of which the speckle filter {timings.filter:.1f} s" if timings.filter is not None else "")
            + f", storing {timings.store or 0.0:.1f} s)"
        )
    if timings.device_span is not None:
        parts.append(f"device busy {timings.device_span:.1f} s of the tiles' time")
    parts.append(f"writing {timings.write:.1f} s")
    log.info("%s: %s", name, ", ".join(parts))
    if (timings.read_wait or 0.0) > 0.25 * max(timings.tiles, 1e-9) and timings.tiles > 1.0:
        log.info("%s: reading was the bound: try more --read-threads, or a local copy of a remote scene", name)


def predict_scenes(
    scenes: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    model: ModelSource = None,
    *,
    with_probabilities: bool = False,
    with_confidence: bool = False,
    with_filtered: bool = False,
    options: PredictOptions | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> list[PredictResult]:
    """Map several scenes into ``out_dir``: ``<stem>_lcz.tif`` (and ``<stem>_probabilities.tif``,
    ``<stem>_confidence.tif``, ``<stem>_filtered.tif`` when asked). The model is loaded once;
    ``options`` and keyword overrides as for :func:`predict_scene`."""
    opts = merge_options(options, overrides)
    out_dir = Path(out_dir)
    check_utf8(out_dir, "output folder")
    if not out_dir.is_dir():
        raise OutputError(f"output folder {out_dir} does not exist: create it first")
    sources = [os.fspath(s) for s in scenes]
    stems = [Path(s).stem for s in sources]  # two scenes of one name: their outputs are named twice
    kinds = ["lcz"] + [
        k for k, on in (("probabilities", with_probabilities), ("confidence", with_confidence), ("filtered", with_filtered)) if on
    ]
    outputs = [out_dir / f"{stem}_{kind}.tif" for stem in stems for kind in kinds]
    _check_outputs(outputs, [*sources, model_file(model)], opts.overwrite)
    m = load_model(model)
    results = []
    for src, stem in zip(sources, stems):
        results.append(
            predict_scene(
                src,
                out_dir / f"{stem}_lcz.tif",
                m,
                probabilities=out_dir / f"{stem}_probabilities.tif" if with_probabilities else None,
                confidence=out_dir / f"{stem}_confidence.tif" if with_confidence else None,
                filtered=out_dir / f"{stem}_filtered.tif" if with_filtered else None,
                options=opts,
                progress=progress,
            )
        )
    return results


def predict_dataarray(
    da: xr.DataArray,
    model: ModelSource = None,
    *,
    probabilities: bool = False,
    options: PredictOptions | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> xr.DataArray | xr.Dataset:
    """LCZ map of an ``xarray.DataArray`` (band, y, x) in the model's physical units (NaN = nodata).

    The array's grid and CRS are read the way odc-geo reads them (``da.odc.geobox``: a
    ``spatial_ref`` coordinate as rioxarray and odc-geo write it, CF attributes, or ``crs`` /
    ``transform`` attributes); an array without a CRS is refused. Bands are matched by the
    ``band`` coordinate ('VV', 'VH intensity', ...) when it holds names, else taken in order.
    Returns a uint8 DataArray ``lcz`` (y, x) on the output grid, with pixel-centre coordinates and
    its CRS as a ``spatial_ref`` coordinate (or, with ``probabilities=True``, a Dataset with
    ``lcz``, ``confidence`` and ``probabilities``; with ``layout="lcz-generator"``, a Dataset
    with ``lcz``, ``lczFilter`` and ``classProbability`` too). LCZ values are in the ``codes``
    option's coding. dask-backed inputs are read tile by tile.
    ``options`` and keyword overrides as for :func:`predict_scene`; the options for opening scene
    files and for clusters (``bands``, ``units``, ``resample``, ``scheduler``) do not apply.
    """
    import odc.geo.xr  # noqa: F401 - registers the .odc accessor
    import xarray as xr
    from odc.geo.xr import xr_coords

    opts = merge_options(options, overrides)
    given = [f for f in _SCENE_ONLY if getattr(opts, f) != getattr(PredictOptions(), f)]
    if given:
        raise ConfigError(
            f"predict_dataarray does not take {', '.join(given)}: they apply to scene files "
            "(predict_scene); give the array in the model's units"
        )
    m = load_model(model)
    if da.ndim == 2:
        da = da.expand_dims("band")
    if {"y", "x"} - set(da.dims) or da.ndim != 3:
        raise SceneError(f"expected a DataArray with dims (band, y, x), got {da.dims}: transpose or rename it")
    other = str([d for d in da.dims if d not in ("y", "x")][0])
    da = da.transpose(other, "y", "x")
    grid = da.odc.geobox
    if grid is None or grid.crs is None:
        raise SceneError(
            "the array has no CRS: give it one (da.rio.write_crs(...) or da.odc.assign_crs(...)) "
            "and x/y coordinates or a transform"
        )
    crs = grid.crs
    da = _order_bands(da, other, m.band_set)
    _, h, w = da.shape
    if h < m.patch_size or w < m.patch_size:
        raise SceneError(f"array is {h} x {w} pixels, smaller than one {m.patch_size} x {m.patch_size} window: give a larger one")
    data = da.data

    def read_window(rlo: int, rhi: int, clo: int, chi: int, out: np.ndarray | None = None) -> np.ndarray:
        values = np.asarray(data[:, rlo:rhi, clo:chi])
        if out is None:
            return np.array(values, dtype=np.float32)  # a copy: nodata is filled in place
        np.copyto(out, values, casting="unsafe")
        return out

    def read(r0: int, r1: int, c0: int, c1: int, out: np.ndarray | None = None) -> np.ndarray:
        return read_mirrored(read_window, h, w, r0, r1, c0, c1, out=out)

    plan = opts.resolve(m, None)  # an array: nothing filtered it
    out_grid = output_geobox(grid, plan.stride)
    window = (0, out_grid.shape.y, 0, out_grid.shape.x) if opts.aoi is None else aoi_window(out_grid, opts.aoi)
    out_grid = out_grid[window[0] : window[1], window[2] : window[3]]
    shape = (out_grid.shape.y, out_grid.shape.x)
    tiles = plan_tiles(*shape, plan.tile_size)
    generator = opts.layout == "lcz-generator"
    store = MemoryStore(shape, len(m.codes), probabilities or generator)
    bar = progress(total=len(tiles), desc="lcz") if progress else None
    if window[0] or window[2]:
        read = Shifted(_Reader(read), window[0] * plan.stride, window[2] * plan.stride).read
    try:
        run_local(read, tiles, m, plan, store.put, bar, probabilities=probabilities or generator)
    finally:
        if bar is not None:
            bar.close()
    coords = xr_coords(out_grid, crs_coord_name="spatial_ref")
    attrs = {
        "crs": crs.to_wkt(),
        "transform": tuple(out_grid.affine)[:6],
        "nodata": NODATA,
        "codes": list(m.codes),
        "stride": plan.stride,
        "model": m.name,
        "speckle_filter": plan.speckle_filter,
        "lcz_coding": opts.codes,
    }
    from ..raster import coding_lut

    lut = coding_lut(opts.codes)
    lczda = xr.DataArray(lut[store.codes], dims=("y", "x"), coords=coords, name="lcz", attrs=attrs)
    if not (probabilities or generator):
        return lczda
    from ..calibration import calibration_tag

    pattrs = {"probability_calibration": calibration_tag(m.calibration)}
    variables: dict[str, xr.DataArray] = {"lcz": lczda}
    if generator:
        _, _, _, filt, pct = next(
            product_strips(store.probabilities, store.codes, store.confidence, m.codes, opts.filter_sigma, rows=max(1, shape[0]))
        )
        variables["lczFilter"] = xr.DataArray(lut[filt], dims=("y", "x"), coords=coords, attrs=attrs)
        variables["classProbability"] = xr.DataArray(pct, dims=("y", "x"), coords=coords, attrs={"units": "%", **pattrs})
    if probabilities:
        variables["confidence"] = xr.DataArray(store.confidence, dims=("y", "x"), coords=coords, attrs=pattrs)
        variables["probabilities"] = xr.DataArray(
            store.probabilities, dims=("code", "y", "x"), coords={**coords, "code": list(m.codes)}, attrs=pattrs
        )
    return xr.Dataset(variables, attrs=attrs)


@dataclass(frozen=True)
class _Reader:
    """A ``read`` function as an object with ``read`` (what :class:`Shifted` wraps)."""

    read: ReadBlock


def _order_bands(da: xr.DataArray, dim: str, bs: BandSet) -> xr.DataArray:
    if da.sizes[dim] != bs.n_channels:
        raise SceneError(
            f"the array has {da.sizes[dim]} bands but the model needs {bs.n_channels} "
            f"({', '.join(c.name for c in bs.channels)}): select those bands"
        )
    if dim not in da.coords or da[dim].dtype.kind not in "UO":
        return da
    names = [str(v).strip().upper() for v in da[dim].values]
    order: list[int] = []
    for ch in bs.channels:
        cands = [i for i, n in enumerate(names) if n == ch.name.upper()]
        if not cands and ch.quantity == "intensity":
            cands = [i for i, n in enumerate(names) if n == ch.band]
        if not cands:
            raise SceneError(
                f"the array's bands {names} do not include {ch.name}: name the band coordinate values like {ch.name!r}"
            )
        order.append(cands[0])
    return da.isel({dim: order})

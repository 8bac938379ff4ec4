"""The verb: :func:`predict_mosaic` maps many Sentinel-1 scenes onto one grid and fuses them
into one LCZ map (and its count of acquisitions and footprints layer), or into tiles + VRT +
STAC. It only wires the steps: inputs -> scenes and footprints -> grid -> footprint index ->
tiles on dask -> fusion -> outputs."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.errors import RasterioError

from .. import __version__
from .._io import check_outputs, check_utf8
from ..classes import lcz
from ..errors import ConfigError, OutputError, SceneError
from ..predict.model import ModelSource, load_model, model_file
from ..predict.runner import Progress
from ..predict.smooth import product_strips
from ..scene import Scene, open_scene
from ..speckle import check_speckle_channels
from .footprints import Footprint, FootprintIndex, copolarisation, describe, orbit_key, unique, write_footprints
from .grid import MosaicGrid, mosaic_grid, place
from .options import MosaicOptions, merge_mosaic_options
from .run import RunSpec, TileJob, TileOutput, TileStore, model_digest, mosaic_client, run_tiles

__all__ = ["predict_mosaic", "MosaicResult", "expand_inputs"]

log = logging.getLogger(__name__)

_SCENE_SUFFIXES = (".tif", ".tiff", ".json", ".zip", ".safe", ".vrt")


@dataclass
class MosaicResult:
    """What :func:`predict_mosaic` wrote: ``out`` (None with ``tiles`` only), ``count`` (the
    acquisitions per pixel: ``OUT.count.tif``, or ``count.vrt`` of the tiles), ``footprints``
    (GeoPackage), the extras, the ``tiles`` folder with its ``vrt`` and STAC ``stac``; the grid
    (``crs``, ``shape``, ``transform``), ``n_inputs`` given, ``n_used`` that went in, ``skipped``
    ((input, why) for each left out) and ``seconds``."""

    out: Path | None
    count: Path
    footprints: Path
    probabilities: Path | None
    confidence: Path | None
    tiles: Path | None
    vrt: Path | None
    stac: Path | None
    crs: str
    shape: tuple[int, int]
    transform: Affine
    n_inputs: int
    n_used: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def expand_inputs(scenes: Iterable[str | os.PathLike[str] | Scene], tmp: Path) -> list[tuple[str, str | Scene]]:
    """The inputs as (name, what to open): a folder that is not a SAFE product gives the scene
    files in it (SAFE folders and zips, STAC Items, GeoTIFFs; a product's companion files are
    found again when its main file is opened and counted once by product id); a STAC
    ItemCollection gives its Items (written into ``tmp`` with absolute asset paths)."""
    out: list[tuple[str, str | Scene]] = []
    for s in scenes:
        if isinstance(s, Scene):
            out.append((s.name, s))
            continue
        path = os.fspath(s)
        check_utf8(path, "input", SceneError)
        if (
            os.path.isdir(path)
            and not path.rstrip("/").upper().endswith(".SAFE")
            and not os.path.exists(os.path.join(path, "manifest.safe"))
        ):
            entries = sorted(os.listdir(path))
            found = [os.path.join(path, e) for e in entries if e.lower().endswith(_SCENE_SUFFIXES) and not e.startswith(".")]
            if not found:
                raise SceneError(f"{path} holds no scene files (.tif, .json, .zip, .SAFE): give scenes or a folder of them")
            out.extend(expand_inputs(found, tmp))
            continue
        if path.lower().endswith(".json") and os.path.isfile(path):
            try:
                doc = json.loads(Path(path).read_text())
            except (OSError, ValueError):
                doc = None
            if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
                base = Path(path).resolve().parent
                for i, item in enumerate(doc["features"]):
                    for asset in (item.get("assets") or {}).values():
                        href = asset.get("href", "")
                        if href and "://" not in href and not os.path.isabs(href):
                            asset["href"] = str(base / href)
                    name = f"{path}#{item.get('id', i)}"
                    f = tmp / f"{i:05d}.json"
                    f.write_text(json.dumps(item))
                    out.append((name, str(f)))
                continue
        out.append((path, path))
    return out


def predict_mosaic(
    scenes: Iterable[str | os.PathLike[str] | Scene],
    out: str | os.PathLike[str] | None,
    model: ModelSource = None,
    *,
    probabilities: str | os.PathLike[str] | None = None,
    confidence: str | os.PathLike[str] | None = None,
    tiles: str | os.PathLike[str] | None = None,
    options: MosaicOptions | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> MosaicResult:
    """Map many scenes onto ONE grid and fuse them into one LCZ map.

    ``scenes``: anything ``predict`` reads (GeoTIFF, SAFE folder or zip, HyP3/OPERA/Planetary
    Computer/GEE/SNAP product, STAC Item), a folder of them, a STAC ItemCollection JSON, or
    opened :class:`~lczmap.scene.Scene` objects. ``out``: the LCZ COG (styled as ``predict``'s;
    ``layout``/``codes`` as there); beside it ``OUT.count.tif`` (float32: the acquisitions that
    went into each pixel, 0 where none) and ``OUT.footprints.gpkg`` (one polygon per input:
    product id, date, pass, relative orbit, status, why, conversions). ``tiles``: a folder of COG
    tiles + ``lcz.vrt`` (styled) + STAC ``collection.json`` instead of, or besides, ``out``.
    ``probabilities``/``confidence``: float32 extras (in ``tiles``: per tile, any value turns
    them on). ``options``: a :class:`~lczmap.mosaic.MosaicOptions`; keyword overrides are its
    fields or :class:`~lczmap.predict.PredictOptions` fields (those go into ``options.predict``).
    Raises :class:`~lczmap.errors.LczmapError` subclasses (one line) before writing anything on
    bad input: band sets the model cannot take, mixed polarisations, no scene in the area.
    """
    t_start = time.perf_counter()
    opts = merge_mosaic_options(options, overrides)
    po = opts.predict
    if out is None and tiles is None:
        raise ConfigError("give an output file (OUT) or a tiles folder (--tiles)")
    out_p = Path(out) if out is not None else None
    tiles_p = Path(tiles) if tiles is not None else None
    base = out_p if out_p is not None else tiles_p / "mosaic.tif"  # type: ignore[operator]
    count_p = base.with_name(base.stem + ".count.tif") if out_p is not None else tiles_p / "count.vrt"  # type: ignore[operator]
    fp_p = base.with_name(base.stem + ".footprints.gpkg") if out_p is not None else tiles_p / "footprints.gpkg"  # type: ignore[operator]
    outputs: list[Path] = []  # those of a tiles folder are checked with the folder
    if out_p is not None:
        outputs = [out_p, count_p, fp_p] + [Path(p) for p in (probabilities, confidence) if p is not None]
    inputs = [os.fspath(s) for s in scenes if not isinstance(s, Scene)] if not isinstance(scenes, (str, os.PathLike)) else []
    if isinstance(scenes, (str, os.PathLike)):
        scenes = [scenes]
    scenes = list(scenes)
    if not scenes:
        raise SceneError("no scene given: pass the scenes to mosaic")
    for p in outputs:
        check_utf8(p, "output")
    check_outputs(outputs, [*inputs, model_file(model), po.dem, opts.aoi if isinstance(opts.aoi, str) else None], po.overwrite)
    if tiles_p is not None:
        check_utf8(tiles_p, "tiles folder")
        if tiles_p.exists() and not tiles_p.is_dir():
            raise OutputError(f"--tiles {tiles_p} is a file: give a folder")
        if tiles_p.is_dir() and any(tiles_p.iterdir()) and not (po.overwrite or po.resume):
            raise OutputError(f"--tiles folder {tiles_p} is not empty: give --overwrite to replace its tiles")
        if not tiles_p.parent.is_dir():
            raise OutputError(f"the folder of --tiles {tiles_p} does not exist: create it first")

    m = load_model(model)
    check_speckle_channels(po.speckle_filter, m.band_set)
    if opts.fusion == "composite" and any(c.quantity != "intensity" for c in m.band_set.channels):
        raise ConfigError(
            f"--fusion composite averages intensities across dates, but the model's band set "
            f"{m.band_set.name} has complex channels (phases of other dates do not average): "
            "use --fusion probability"
        )

    tmp = Path(tempfile.mkdtemp(prefix="lczmap-mosaic-"))
    try:
        footprints = _open_all(expand_inputs(scenes, tmp), m, opts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    footprints = unique(footprints)
    for f in footprints:
        if f.status == "duplicate":
            log.warning("%s: %s", f.source, f.why)
    used = [f for f in footprints if f.status == "used"]
    if not used:
        raise SceneError("no scene could be opened: " + "; ".join(f"{f.source}: {f.why}" for f in footprints)[:400])
    if opts.aoi is not None:
        from ..scene.grid import aoi_bounds

        area = aoi_bounds(opts.aoi).to_crs("EPSG:4326").geom
        outside = [f for f in used if f.geometry is not None and not f.geometry.intersects(area)]
        if len(outside) == len(used):
            raise SceneError(
                "no scene lies in the area: "
                + ", ".join(f.name for f in used)
                + " all miss it (--aoi): give scenes over the area or another area"
            )
        for f in outside:
            f.status, f.why = "outside", "misses the area: skipped"
            log.warning("%s misses the area (--aoi): skipped", f.source)
        used = [f for f in used if f.status == "used"]
    grid = mosaic_grid([f.scene for f in used if f.scene is not None], opts)
    for f in used:
        assert f.scene is not None
        if place(f.scene, grid).empty:
            f.status, f.why = "outside", "misses the area: skipped"
            log.warning("%s misses the area (--aoi): skipped", f.source)
    used = [f for f in footprints if f.status == "used"]
    if not used:
        raise SceneError(
            "no scene lies in the area: "
            + ", ".join(f.name for f in footprints)
            + " all miss it (--aoi): give scenes over the area or another area"
        )
    if opts.fusion == "composite" and any(f.scene is not None and f.scene.prefiltered for f in used):
        raise ConfigError(
            "--fusion composite averages before the speckle filter, but an SLC scene read for this "
            "model comes filtered already: use --fusion probability"
        )
    return _run(used, footprints, grid, m, opts, out_p, count_p, fp_p, tiles_p, probabilities, confidence, progress, t_start)


def _open_all(named: list[tuple[str, str | Scene]], m: Any, opts: MosaicOptions) -> list[Footprint]:
    """Open every input (an input that cannot be opened stops the run, or with ``skip_bad`` is
    listed as bad) and describe it."""
    po = opts.predict
    first = [
        replace(describe(what, None) if isinstance(what, str) else describe(name, what), source=name) for name, what in named
    ]
    _check_polarisations(first)  # before opening: an HH scene would be refused as one the model cannot take
    footprints = []
    for name, what in named:
        if isinstance(what, Scene):
            footprints.append(replace(describe(name, what), source=name))
            continue
        try:
            scene = open_scene(
                what,
                m.band_set,
                bands=po.bands,
                units=po.units,
                quantity=po.quantity,
                resample=po.resample,
                dem=po.dem,
                aoi=opts.aoi,
                swaths=po.swaths,
            )
        except (SceneError, OSError, RasterioError) as exc:  # refused, or failed to read while being opened
            msg = " ".join(str(exc).split())[:300] or type(exc).__name__
            base = os.path.basename(name.rstrip("/"))
            line = msg if base in msg else f"{name}: {msg}"
            if not opts.skip_bad:
                raise SceneError(line) from None
            f = describe(what, None)
            footprints.append(replace(f, source=name, status="bad", why=msg))
            log.warning("%s: skipped (%s)", name, msg)
            continue
        footprints.append(replace(describe(what, scene), source=name))
    return footprints


def _check_polarisations(footprints: list[Footprint]) -> None:
    """Refuse inputs of both co-polarisations (VV and HH): one model reads one of them."""
    seen: dict[str, str] = {}
    for f in footprints:
        if f.status != "used":
            continue
        co = copolarisation(f)
        if co is not None:
            seen.setdefault(co, f.source)
    if len(seen) > 1:
        (a, fa), (b, fb) = sorted(seen.items())[:2]
        raise SceneError(f"mixed polarisations: {fa} holds {a} but {fb} holds {b}: give scenes of one polarisation pair")


def _fingerprint(used: list[Footprint], m: Any, opts: MosaicOptions, grid: MosaicGrid, probs: bool) -> dict[str, Any]:
    files = []
    for f in used:
        assert f.scene is not None
        for src in f.scene.sources or (f.source,):
            try:
                st = os.stat(src)
                files.append([src, st.st_size, int(st.st_mtime)])
            except OSError:
                files.append([src])
    skip = {"device", "batch_size", "threads", "read_threads", "scheduler", "connect_timeout", "resume", "overwrite", "amp"}
    predict = {f.name: getattr(opts.predict, f.name) for f in dataclasses.fields(opts.predict) if f.name not in skip}
    return {
        "files": files,
        "model": model_digest(m),
        "codes": list(m.codes),
        "grid": dataclasses.asdict(grid),
        "predict": json.loads(json.dumps(predict, default=str)),
        "fusion": opts.fusion,
        "tile": opts.tile_pixels,
        "probs": probs,
    }


def _run(
    used: list[Footprint],
    footprints: list[Footprint],
    grid: MosaicGrid,
    m: Any,
    opts: MosaicOptions,
    out: Path | None,
    count_p: Path,
    fp_p: Path,
    tiles_p: Path | None,
    probabilities: Any,
    confidence: Any,
    progress: Progress | None,
    t_start: float,
) -> MosaicResult:
    po = opts.predict
    scenes = [f.scene for f in used]
    assert all(s is not None for s in scenes)
    sc: list[Scene] = [s for s in scenes if s is not None]
    placements = [place(s, grid) for s in sc]
    keys_of: dict[str, int] = {}
    groups = tuple(keys_of.setdefault(orbit_key(f), len(keys_of)) for f in used)
    plans = tuple(po.resolve(m, s) for s in sc)
    probs = probabilities is not None or po.layout == "lcz-generator"
    extras = [k for k, v in (("probabilities", probabilities), ("confidence", confidence)) if v is not None]
    spec = RunSpec(tuple(sc), tuple(placements), plans, groups, grid, opts.fusion, probs, opts.skip_bad)
    index = FootprintIndex(grid, placements, opts.tile_pixels)
    keys = index.tiles()
    jobs = {k: TileJob(k, index.tile(*k), tuple(index.scenes_of(*k))) for k in keys}
    store = TileStore(
        out if out is not None else tiles_p / "mosaic.tif",  # type: ignore[operator]
        _fingerprint(used, m, opts, grid, probs),
        po.resume,
    )
    log.info(
        "mosaic of %d scenes: %d x %d pixels in %s, %d tiles with data (%d to do)",
        len(sc),
        *grid.shape,
        grid.crs,
        len(keys),
        len([k for k in keys if k not in store.done]),
    )
    failures: dict[int, str] = {}

    def put(o: TileOutput) -> None:
        for k, msg in o.failed:
            if k not in failures:
                log.warning("%s", msg)
            failures.setdefault(k, msg)
        store.put(o)

    bar = progress(total=len(keys), desc="mosaic") if progress else None
    if bar is not None and store.done:
        bar.update(len(store.done & set(keys)))
    try:
        with mosaic_client(po.scheduler, opts.workers, po.connect_timeout) as client:
            run_tiles(client, spec, m, [jobs[k] for k in keys if k not in store.done], put, bar)
            while failures:  # tiles that used a scene before it failed: again without it
                bad = frozenset(failures)
                again = [jobs[k] for k in keys if set(store.get(k).used) & bad]
                if not again:
                    break
                n = len(failures)
                run_tiles(client, spec, m, again, put, None, exclude=bad)
                if len(failures) == n:
                    break
    except SceneError:
        store.remove()
        raise
    finally:
        if bar is not None:
            bar.close()
    for k, msg in failures.items():
        used[k].status, used[k].why = "bad", msg
    skipped = [(f.source, f.why) for f in footprints if f.status != "used"]
    if all(f.status != "used" for f in used):
        store.remove()
        raise SceneError("every scene failed to read: " + "; ".join(w for _, w in skipped)[:400])

    from ..calibration import calibration_tag

    tags = {
        "model": m.name,
        "lczmap_version": __version__,
        "date": store.state["date"],
        "stride": po.stride,
        "band_set": m.band_set.name,
        "codes": ",".join(str(c) for c in m.codes),
        "speckle_filter": plans[0].speckle_filter,
        "product": po.layout,
        "fusion": opts.fusion,
        "input": ", ".join(f.product_id for f in used if f.status == "used"),
        "acquisitions": sum(1 for f in used if f.status == "used"),
        "probability_calibration": calibration_tag(m.calibration),  # each acquisition's, before fusion
    }
    if opts.aoi is not None:
        tags["aoi"] = opts.aoi if isinstance(opts.aoi, str) else ",".join(f"{v:g}" for v in opts.aoi)
    from .. import raster

    h, w = grid.shape
    k_classes = len(m.codes)
    written: dict[str, Path | None] = {"probabilities": None, "confidence": None}
    vrt = stac = None
    try:
        if tiles_p is not None:
            from .tiles import write_tiles

            ts = write_tiles(
                tiles_p,
                grid,
                keys,
                lambda ty, tx: tuple(index.tile(ty, tx)),  # type: ignore[arg-type, return-value]
                store.get,
                m.codes,
                po.layout,
                po.codes,
                po.filter_sigma,
                tags,
                extras,
                [f.date for f in used if f.date and f.status == "used"],
                True,
            )
            vrt, stac = ts.vrt, ts.collection
        if out is not None:
            codes = np.zeros((h, w), np.uint8)
            conf = np.full((h, w), np.nan, np.float32)
            count = np.zeros((h, w), np.float32)
            pr = np.full((k_classes, h, w), np.nan, np.float32) if probs else None
            for key in keys:
                o = store.get(key)
                i0, i1, j0, j1 = index.tile(*key)
                codes[i0:i1, j0:j1] = o.result.codes
                conf[i0:i1, j0:j1] = o.result.confidence
                count[i0:i1, j0:j1] = o.count
                if pr is not None and o.result.probabilities is not None:
                    pr[:, i0:i1, j0:j1] = o.result.probabilities
            transform, crs = grid.affine, grid.crs
            if confidence is not None:
                written["confidence"] = raster.write_float(confidence, conf, transform, crs, ["confidence"], tags, po.overwrite)
            if probabilities is not None:
                assert pr is not None
                written["probabilities"] = raster.write_float(
                    probabilities, pr, transform, crs, [lcz(c).title for c in m.codes], tags, po.overwrite
                )
            raster.write_float(count_p, count, transform, crs, ["acquisitions"], tags, po.overwrite)
            if po.layout == "lcz-generator":
                assert pr is not None
                parts = product_strips(pr, codes, conf, m.codes, po.filter_sigma)
                raster.write_lcz_product(
                    out, parts, (h, w), transform, crs, {**tags, "filter_sigma": po.filter_sigma}, po.overwrite, po.codes
                )
            else:
                raster.write_lcz(out, codes, transform, crs, tags, po.overwrite, po.codes)
        write_footprints(fp_p, footprints, overwrite=True if tiles_p is not None and out is None else po.overwrite)
    except OutputError as exc:
        raise type(exc)(
            f"{exc}; the mapped tiles are kept: rerun the same command with --resume to write the outputs without mapping again"
        ) from None
    store.remove()
    seconds = time.perf_counter() - t_start
    n_used = sum(1 for f in used if f.status == "used")
    log.info("mosaic: %d of %d inputs in %.1f s -> %s", n_used, len(footprints), seconds, out or tiles_p)
    return MosaicResult(
        out,
        count_p,
        fp_p,
        written["probabilities"],
        written["confidence"],
        tiles_p,
        vrt,
        stac,
        grid.crs,
        grid.shape,
        grid.affine,
        len(footprints),
        n_used,
        skipped,
        seconds,
    )

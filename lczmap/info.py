"""What a path holds: a So2Sat release, an lczmap cache, an lczmap checkpoint, an LCZ map (its
coding, classes, area per class and layers) or a scene (its product kind, bands, units and
quantity, and the conversions ``lczmap predict`` would apply: a dry run that reads no pixels but
the few the scene's checks read)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .classes import LCZ_CLASSES
from .errors import DataError, SceneError, ZonesError

if TYPE_CHECKING:
    from .zones.lczraster import LczRasterInfo

__all__ = ["describe", "format_description", "SCENE_BAND_SETS"]

#: The band sets a scene is described for when no model is named, the first it can supply: what
#: models for GRD (intensity) and SLC (complex) scenes are trained on.
SCENE_BAND_SETS = ("lee-intensity", "vv-complex")
#: Suffixes of files that are scenes lczmap reads without GDAL (a zipped SAFE, a STAC Item).
_SCENE_SUFFIXES = (".zip", ".json")


def describe(path: str | os.PathLike, model: str | os.PathLike | None = None, band: int | str | None = None) -> dict:
    """A JSON-able description of ``path``; ``kind`` is ``so2sat``, ``cache``, ``checkpoint``,
    ``lcz_map`` or ``scene``. ``model``: a checkpoint whose band set a scene is described for
    (default: the first of :data:`SCENE_BAND_SETS` it can supply); ``band``: the band of an LCZ map to describe (default its
    ``lczFilter`` band for an LCZ Generator product, else band 1)."""
    from .checkpoint import is_checkpoint
    from .data import is_cache, open_so2sat, read_cache_index

    path = Path(path)
    if not path.exists():
        raise DataError(
            f"{path} does not exist: give a So2Sat folder or .h5 file, a cache folder, a checkpoint, an LCZ map or a scene"
        )
    if path.is_file() and (path.suffix.lower() == ".safetensors" or is_checkpoint(path)):
        from . import checkpoint
        from .train.reference import read_reference

        info = {"kind": "checkpoint", "path": str(path), **checkpoint.describe(path)}
        ref = read_reference(checkpoint.load_checkpoint(path))
        info["eo_reference"] = (
            ref.summary()
            if ref is not None
            else "none (written before lczmap stored one): lczmap adapt without training areas needs --eo-data SO2SAT_DIR"
        )
        return info
    if path.is_dir() and path.suffix.upper() == ".SAFE" or path.is_file() and path.suffix.lower() in _SCENE_SUFFIXES:
        return describe_scene(path, model)
    if path.is_file() and path.suffix.lower() not in (".h5", ".hdf5"):
        lcz = _lcz_map(path, band)
        if lcz is not None:
            return describe_lcz_map(lcz)
        try:
            return describe_scene(path, model)
        except SceneError as exc:  # a raster: say that an LCZ map was looked for too
            if not _opens(path):
                raise
            raise SceneError(f"{path.name} is no LCZ map (its values are not LCZ codes), and as a scene: {exc}") from None
    if path.is_dir() and is_cache(path):
        index = read_cache_index(path)
        splits = {}
        for name, entry in index["splits"].items():
            counts = _class_counts(np.load(path / name / "labels.npy")) if entry.get("labels") else {}
            splits[name] = {
                "patches": entry["n"],
                "band_sets": {
                    bs: ("complete" if st["complete"] else f"{st['rows_done']}/{entry['n']} rows")
                    for bs, st in entry["band_sets"].items()
                },
                "patches_per_class": counts,
            }
        return {"kind": "cache", "path": str(path), "source": index["source"], "layout": index["layout"], "splits": splits}
    ds = open_so2sat(path)
    splits = {}
    for name, split in ds.splits.items():
        f = split.file
        splits[name] = {
            "file": str(split.path),
            "patches": len(split),
            "datasets": {k: {"shape": list(f[k].shape), "dtype": str(f[k].dtype)} for k in ("sen1", "sen2", "label")},
            "patches_per_class": _class_counts(split.labels()),
        }
    return {"kind": "so2sat", "path": str(path), "layout": ds.layout, "test_split": ds.test_split, "splits": splits}


def _opens(path: Path) -> bool:
    """Whether GDAL opens ``path`` as a raster."""
    import rasterio

    try:
        with rasterio.open(path):
            return True
    except rasterio.errors.RasterioIOError:
        return False


def _lcz_map(path: Path, band: int | str | None) -> LczRasterInfo | None:
    """The LCZ map ``path`` is, or None when it is no LCZ map (a scene, say): a raster whose band
    holds integers that are LCZ codes, judged first from a coarse look (a 256 x 256 read), so that a
    scene is never scanned whole."""
    import rasterio
    from rasterio.enums import Resampling

    from .zones.lczraster import inspect_lcz, pick_band

    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError:
        return None
    with src:
        if src.crs is None and src.transform.is_identity:
            return None
        index = pick_band(src, path, band)
        if np.dtype(src.dtypes[index - 1]).kind not in "ui":
            return None
        look = src.read(index, out_shape=(min(src.height, 256), min(src.width, 256)), resampling=Resampling.nearest)
    values = set(np.unique(look).tolist()) - {0, src.nodata}
    if not values <= set(range(1, 18)) | set(range(101, 108)):
        return None
    try:
        return inspect_lcz(path, band=index)  # the band chosen (and said) above
    except ZonesError:
        return None


def describe_lcz_map(info: LczRasterInfo) -> dict:
    """An LCZ map: its grid, layers, the band read, coding, classes and area per class, and the tags
    ``lczmap predict`` wrote (model, date, conversions of its input)."""
    import rasterio

    from .maps.render import pixel_size_text
    from .raster import LCZ_GENERATOR_BANDS
    from .scene.grid import crs_name

    with rasterio.open(info.path) as src:
        names = tuple(d or "" for d in src.descriptions)
        layers = [{"band": i, "name": n, "dtype": src.dtypes[i - 1]} for i, n in enumerate(names, 1)]
        tags = src.tags()
    classified = float(info.areas[1:].sum())
    classes = [
        {
            "lcz": c.label,
            "name": c.name,
            "pixels": int(info.pixels[c.code]),
            "area_km2": round(float(info.areas[c.code]) / 1e6, 4),
            "share": round(float(info.areas[c.code]) / classified, 4) if classified else 0.0,
        }
        for c in LCZ_CLASSES
        if info.pixels[c.code] > 0
    ]
    height, width = info.shape
    return {
        "kind": "lcz_map",
        "path": str(info.path),
        "layout": "lcz-generator" if names == LCZ_GENERATOR_BANDS else "lcz",
        "layers": layers,
        "band": info.band,
        "coding": info.scheme,
        "nodata": info.nodata,
        "size": f"{height} x {width} pixels",
        "crs": crs_name(info.crs),
        "pixel": pixel_size_text(info),
        "classified_km2": round(classified / 1e6, 4),
        "nodata_pixels": int(info.pixels[0]),
        "classes": classes,
        "tags": tags,
    }


def describe_scene(path: Path, model: str | os.PathLike | None = None) -> dict:
    """A scene as ``lczmap predict`` would read it for ``model`` (default: a model on the first of
    :data:`SCENE_BAND_SETS` the scene can supply): the product kind, the file and band of each model channel, units and
    quantity, grid, and every conversion predict would apply, the speckle filter included."""
    from .bands import band_set as get_band_set
    from .scene import Scene, open_scene
    from .scene.grid import crs_name
    from .scene.open import detect
    from .speckle import resolve_speckle_filter

    if model is not None:
        from .checkpoint import load_checkpoint

        names: tuple[str, ...] = (str(load_checkpoint(model).meta["sar_bands"]["name"]),)
        source = f"the model's ({model})"
    else:
        names = SCENE_BAND_SETS
        source = f"the first of {', '.join(names)} the scene can supply; --model names a model"
    product = detect(str(path))
    first: SceneError | None = None
    for name in names:
        bs = get_band_set(name, "sar")
        try:
            scene: Scene = open_scene(path, bs)
            break
        except SceneError as exc:
            first = first or exc
    else:
        raise first or SceneError(f"{path} cannot be read as a scene")
    speckle = resolve_speckle_filter(None, bs, scene.prefiltered)
    conversions = list(scene.conversions)
    if speckle == "refined-lee":
        conversions.append(
            "speckle filter: refined Lee 7 x 7 on the intensity channels (predict's default for "
            f"{bs.name}; --speckle-filter none to skip)"
        )
    elif not scene.prefiltered:
        conversions.append(f"speckle filter: none ({bs.name} is read unfiltered)")
    t = scene.affine
    bands: list[dict[str, Any]] = [
        {"channel": b.channel.name, "file": os.path.basename(b.path), "band": b.band, "part": b.part} for b in scene.bands
    ]
    return {
        "kind": "scene",
        "path": str(path),
        "product": product.label,
        "product_kind": product.kind,
        "files": sorted({os.path.basename(b.path) for b in scene.bands}),
        "band_set": f"{bs.name}, {source}",
        "bands": bands,
        "units": scene.units,
        "quantity": scene.quantity,
        "size": f"{scene.height} x {scene.width} pixels",
        "crs": crs_name(scene.crs),
        "pixel": f"{abs(t.a):g} m" if abs(t.a) == abs(t.e) else f"{abs(t.a):g} x {abs(t.e):g} m",
        "speckle_filter": "applied already" if scene.prefiltered else speckle,
        "conversions": conversions,
    }


def _class_counts(labels: np.ndarray) -> dict[str, int]:
    counts = np.bincount(labels, minlength=17)
    return {f"LCZ {c.label} ({c.name})": int(counts[c.code - 1]) for c in LCZ_CLASSES}


def format_description(info: dict) -> str:
    """Human-readable text of :func:`describe`'s result (an LCZ map's classes and a scene's bands
    one line each)."""
    lines: list[str] = []
    compact = info.get("kind") in ("lcz_map", "scene")

    def walk(obj: dict, indent: int = 0) -> None:
        pad = "  " * indent
        for key, value in obj.items():
            if isinstance(value, dict):
                lines.append(f"{pad}{key}:")
                walk(value, indent + 1)
            elif compact and isinstance(value, list) and value and isinstance(value[0], dict):
                lines.append(f"{pad}{key}:")
                lines.extend(f"{pad}  - " + ", ".join(f"{k}: {v}" for k, v in item.items()) for item in value)
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                lines.append(f"{pad}{key}:")
                for item in value:
                    walk(item, indent + 1)
                    lines.append("")
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                lines.append(f"{pad}{key}:")
                lines.extend(f"{pad}  - {v}" for v in value)
            else:
                lines.append(f"{pad}{key}: {value}")

    walk(info)
    return "\n".join(lines)

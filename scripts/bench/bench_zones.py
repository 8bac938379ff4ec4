#!/usr/bin/env python
"""Benchmarks for lczmap zones / summarize (run by hand; figures go to docs/benchmarks.md).

    python scripts/bench/bench_zones.py engines [--size 2000] [--districts 400]
        Zonal engines for district shares on one LCZ map and one districts layer:
        exactextract (exact coverage fractions), rasterstats (categorical, pixel-centre rule) and
        an exact pure-shapely engine (interior pixels by rasterize, edge pixels by polygon
        intersection). Reports time per engine and the largest share error against the exact
        shapely engine.
    python scripts/bench/bench_zones.py memory [--size 11000] [--min-area 30000] [--block-rows 1024 256]
        `vectorize_zones` (once per --block-rows) and `summarize` (whole map and a 5 km district grid) on a
        size x size LCZ map at 100 m; each step runs in a fresh process (GDAL_CACHEMAX=64 MB, so
        GDAL's block cache, by default 5% of RAM, does not blur the figures) and reports wall time
        and peak RSS. A map of the same width and a quarter of the height shows that memory does
        not grow with the height.
    python scripts/bench/bench_zones.py shapes [--tiles 4] [--rounds 3] [--baseline cc46d80] [--block-rows 256]
        `vectorize_zones` (min-area 0, no sieve, defaults otherwise) against the plain route a user
        would take without lczmap: read the whole map, ``rasterio.features.shapes`` (4-connectivity),
        one shapely polygon per feature, a GeoDataFrame with the class, written to a GeoPackage
        (pyogrio). The map is the real 100 m LCZ map of Zaragoza in tests/data/w2w (w2w's sample
        data), tiled --tiles x --tiles with np.tile. Three variants, each run in a fresh process,
        in an order rotated every round: the shapes route, `vectorize_zones` at the git revision
        --baseline (extracted with ``git archive <rev> lczmap`` and run with PYTHONPATH) and
        `vectorize_zones` from the working tree. Reports each variant's median seconds (imports
        included), the ratios to the shapes route, and whether the baseline and working-tree
        layers are identical (same zones in the same order, same attributes, same geometries after
        shapely.normalize).

Maps of the engines and memory modes are synthetic: patches of classes at several scales (4 km,
800 m) with 1% pixel noise, no data along the edges, written as tiled uint8 GeoTIFFs with nodata 0.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

UTM = "EPSG:32633"


def make_map(path: Path, height: int, width: int, seed: int = 0, rows: int = 1024) -> Path:
    """Write a synthetic LCZ map strip by strip (bounded memory)."""
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, 18, (height // 40 + 2, width // 40 + 2)).astype(np.uint8)
    medium = rng.integers(1, 18, (height // 8 + 2, width // 8 + 2)).astype(np.uint8)
    use_medium = rng.random(medium.shape) < 0.2
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint8",
        nodata=0,
        crs=UTM,
        transform=Affine(100, 0, 300000, 0, -100, 5800000),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    )
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, height, rows):
            r1 = min(r0 + rows, height)
            rr = np.arange(r0, r1)[:, None]
            cc = np.arange(width)[None, :]
            codes = coarse[rr // 40, cc // 40]
            pick = use_medium[rr // 8, cc // 8]
            codes = np.where(pick, medium[rr // 8, cc // 8], codes)
            noise = rng.random(codes.shape) < 0.01
            codes[noise] = rng.integers(1, 18, int(noise.sum()))
            codes[:, :20] = 0
            if r0 < 20:
                codes[: 20 - r0] = 0
            dst.write(codes.astype(np.uint8), 1, window=rasterio.windows.Window(0, r0, width, r1 - r0))
    return path


def make_districts(lcz: Path, n: int, seed: int = 0):
    """``n`` irregular districts (rotated, jittered hexagon-like polygons) over the map."""
    import geopandas as gpd
    import rasterio
    import shapely
    from shapely.geometry import Point

    rng = np.random.default_rng(seed)
    with rasterio.open(lcz) as src:
        left, bottom, right, top = src.bounds
    side = int(np.ceil(np.sqrt(n)))
    step_x, step_y = (right - left) / side, (top - bottom) / side
    geoms = []
    for i in range(side):
        for j in range(side):
            if len(geoms) == n:
                break
            cx, cy = left + (j + 0.5) * step_x, bottom + (i + 0.5) * step_y
            radius = 0.6 * min(step_x, step_y) * rng.uniform(0.8, 1.1)
            geom = Point(cx, cy).buffer(radius, quad_segs=2)  # an octagon
            geoms.append(shapely.affinity.rotate(geom, rng.uniform(0, 45)))
    return gpd.GeoDataFrame({"district": np.arange(len(geoms))}, geometry=geoms, crs=UTM)


# ------------------------------------------------------------------------------------------
# zonal engines: each returns an (n_districts, 18) array of class shares of the valid area


def engine_exactextract(lcz: Path, districts) -> np.ndarray:
    from exactextract import exact_extract

    res = exact_extract(str(lcz), districts[["geometry"]], ["unique", "frac"], output="pandas")
    out = np.zeros((len(districts), 18))
    for i, (values, fracs) in enumerate(zip(res["unique"], res["frac"])):
        out[i, np.asarray(values, int)] = fracs
    return out


def engine_rasterstats(lcz: Path, districts) -> np.ndarray:
    from rasterstats import zonal_stats

    stats = zonal_stats(districts, str(lcz), categorical=True, nodata=0)
    out = np.zeros((len(districts), 18))
    for i, counts in enumerate(stats):
        for code, n in counts.items():
            out[i, int(code)] = n
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)


def engine_shapely(lcz: Path, districts) -> np.ndarray:
    """Exact: pixels not touched by the boundary count fully (inside by the centre rule);
    pixels on the boundary count by the area of their intersection with the polygon."""
    import rasterio
    import shapely
    from rasterio.features import rasterize

    out = np.zeros((len(districts), 18))
    with rasterio.open(lcz) as src:
        full = rasterio.windows.Window(0, 0, src.width, src.height)
        for i, geom in enumerate(districts.geometry):
            minx, miny, maxx, maxy = geom.bounds
            c0, r0 = ~src.transform @ (minx, maxy)
            c1, r1 = ~src.transform @ (maxx, miny)
            c0, r0, c1, r1 = int(np.floor(c0)), int(np.floor(r0)), int(np.ceil(c1)), int(np.ceil(r1))
            win = rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0).intersection(full)
            data = src.read(1, window=win)
            t = src.window_transform(win)
            shape = data.shape
            edge = rasterize([geom.boundary], out_shape=shape, transform=t, all_touched=True, dtype="uint8") > 0
            inside = rasterize([geom], out_shape=shape, transform=t, dtype="uint8") > 0
            weight = (inside & ~edge).astype(float)
            rows, cols = np.nonzero(edge)
            x0, y0 = t * (cols, rows)
            x1, y1 = t * (cols + 1, rows + 1)
            boxes = shapely.box(x0, y1, x1, y0)
            weight[rows, cols] = shapely.area(shapely.intersection(boxes, geom)) / abs(t.a * t.e)
            hist = np.bincount(data.ravel(), weights=weight.ravel(), minlength=18)
            hist[0] = 0
            out[i] = hist / max(hist.sum(), 1e-12)
    return out


def bench_engines(args) -> dict:
    import rasterio  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        lcz = make_map(Path(tmp) / "lcz.tif", args.size, args.size)
        districts = make_districts(lcz, args.districts)
        results, shares = {}, {}
        for name, engine in [
            ("shapely-exact", engine_shapely),
            ("exactextract", engine_exactextract),
            ("rasterstats", engine_rasterstats),
        ]:
            try:
                t0 = time.perf_counter()
                shares[name] = engine(lcz, districts)
                results[name] = {"seconds": round(time.perf_counter() - t0, 2)}
            except ImportError as exc:
                results[name] = {"error": f"not installed ({exc})"}
        ref = shares["shapely-exact"]
        for name, s in shares.items():
            results[name]["max_share_error_vs_exact"] = float(np.abs(s - ref).max())
            results[name]["mean_share_error_vs_exact"] = float(np.abs(s - ref).sum(axis=1).mean() / 2)
        return {"map": f"{args.size}x{args.size} px", "districts": len(districts), "engines": results}


# ------------------------------------------------------------------------------------------
# memory: each step in a fresh process


def child(argv: list[str]) -> dict:
    step, lcz, out = argv[0], Path(argv[1]), Path(argv[2])
    t0 = time.perf_counter()
    if step == "shapes":  # without lczmap: its imports are not part of the route
        info = shapes_route(lcz, out)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"step": step, "seconds": round(time.perf_counter() - t0, 2), "peak_rss_mib": round(peak), **info}
    import lczmap
    from lczmap.zones import grid_districts, summarize, vectorize_zones

    info: dict = {"lczmap": str(Path(lczmap.__file__).parent)}
    if step == "zones":
        block_rows = int(argv[4]) if len(argv) > 4 and int(argv[4]) > 0 else None
        result = vectorize_zones(lcz, out, min_area=float(argv[3]), block_rows=block_rows, overwrite=True)
        info = {"zones": result.zones, "min_pixels": result.min_pixels}
    elif step == "summarize-map":
        summarize(lcz, out, overwrite=True)
    elif step == "summarize-grid":
        table = summarize(lcz, out, by=grid_districts(lcz, 5000), overwrite=True)
        info = {"districts": len(table)}
    elif step == "imports":
        import exactextract  # noqa: F401
        import geopandas  # noqa: F401
        import scipy.ndimage  # noqa: F401
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    return {"step": step, "seconds": round(seconds, 2), "peak_rss_mib": round(peak), **info}


def run_child(*argv, cache_mb: int | None = None, pythonpath: Path | None = None) -> dict:
    env = dict(os.environ)
    if cache_mb is not None:
        env["GDAL_CACHEMAX"] = str(cache_mb)  # GDAL's block cache, else 5% of RAM, counts in the RSS
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, __file__, "_child", *map(str, argv)], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_memory(args) -> dict:
    cache = args.gdal_cache_mb
    out = {"min_area_m2": args.min_area, "gdal_cache_mb": cache, "runs": []}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        out["runs"].append(run_child("imports", tmp / "x", tmp / "y", cache_mb=cache))
        for height in (args.size // 4, args.size):
            t0 = time.perf_counter()
            lcz = make_map(tmp / f"lcz_{height}.tif", height, args.size)
            made = round(time.perf_counter() - t0, 1)
            steps = [("zones", tmp / "zones.gpkg", (args.min_area, rows)) for rows in args.block_rows]
            steps += [("summarize-map", tmp / "map.csv", ()), ("summarize-grid", tmp / "grid.gpkg", ())]
            for step, dest, extra in steps:
                res = run_child(step, lcz, dest, *extra, cache_mb=cache)
                res["map"] = f"{height}x{args.size}"
                if step == "zones":
                    res["block_rows"] = extra[1]
                res["map_write_s"] = made
                out["runs"].append(res)
                print(json.dumps(res), file=sys.stderr, flush=True)
    return out


# ------------------------------------------------------------------------------------------
# shapes: vectorize_zones against rasterio.features.shapes + a GeoPackage write

ZARAGOZA = Path(__file__).resolve().parents[2] / "tests" / "data" / "w2w" / "lcz_zaragoza.tif"


def make_tiled(path: Path, tiles: int) -> tuple[int, int]:
    """The Zaragoza LCZ map tiled ``tiles`` x ``tiles`` (np.tile), written as a tiled GeoTIFF."""
    import rasterio

    with rasterio.open(ZARAGOZA) as src:
        data, profile = src.read(1), src.profile
    data = np.tile(data, (tiles, tiles))
    profile.update(width=data.shape[1], height=data.shape[0], tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return data.shape


def shapes_route(lcz: Path, out: Path) -> dict:
    """The whole map through rasterio shapes, one shapely polygon per feature, to a GeoPackage."""
    import geopandas as gpd
    import rasterio
    from rasterio.features import shapes
    from shapely.geometry import shape

    with rasterio.open(lcz) as src:
        data, transform, crs, nodata = src.read(1), src.transform, src.crs, src.nodata
    valid = data != nodata if nodata is not None else None
    geoms, values = [], []
    for geojson, value in shapes(data, mask=valid, connectivity=4, transform=transform):
        geoms.append(shape(geojson))
        values.append(int(value))
    frame = gpd.GeoDataFrame({"lcz": np.asarray(values, np.int32)}, geometry=geoms, crs=crs)
    frame.to_file(out, driver="GPKG", engine="pyogrio")
    return {"polygons": len(frame)}


def same_layers(a: Path, b: Path) -> dict:
    """Whether two zone layers hold the same zones: order, attributes, normalised geometries."""
    import pyogrio
    import shapely

    fa, fb = pyogrio.read_dataframe(a), pyogrio.read_dataframe(b)
    out: dict = {"zones": [len(fa), len(fb)], "columns_equal": list(fa.columns) == list(fb.columns)}
    if len(fa) != len(fb) or not out["columns_equal"]:
        out["identical"] = False
        return out
    attrs = [c for c in fa.columns if c != "geometry"]
    out["attributes_equal"] = bool(fa[attrs].equals(fb[attrs]))
    ga, gb = shapely.normalize(fa.geometry.values), shapely.normalize(fb.geometry.values)
    differ = ~shapely.equals_exact(ga, gb, tolerance=0.0)
    out["geometries_differing"] = int(differ.sum())
    out["identical"] = out["attributes_equal"] and not differ.any()
    return out


def bench_shapes(args) -> dict:
    import statistics

    repo = Path(__file__).resolve().parents[2]
    out: dict = {"tiles": args.tiles, "baseline": args.baseline, "rounds": args.rounds, "runs": []}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        out["map_px"] = list(make_tiled(tmp / "lcz.tif", args.tiles))
        base = tmp / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(repo), "archive", args.baseline, "lczmap"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        rows = args.block_rows or 0
        variants = {
            "shapes": lambda dest: run_child("shapes", tmp / "lcz.tif", dest),
            "zones_baseline": lambda dest: run_child("zones", tmp / "lcz.tif", dest, 0, rows, pythonpath=base),
            "zones_tree": lambda dest: run_child("zones", tmp / "lcz.tif", dest, 0, rows),
        }
        names = list(variants)
        for r in range(args.rounds):
            order = names[r % 3 :] + names[: r % 3]
            for name in order:
                with open("/proc/loadavg") as f:
                    load = f.read().split()[0]
                res = variants[name](tmp / f"{name}_{r}.gpkg")
                res.update(variant=name, round=r, load_before=float(load))
                out["runs"].append(res)
                print(json.dumps(res), file=sys.stderr, flush=True)
        medians = {n: statistics.median(x["seconds"] for x in out["runs"] if x["variant"] == n) for n in names}
        out["median_seconds"] = medians
        out["ratio_to_shapes"] = {n: round(medians[n] / medians["shapes"], 2) for n in names}
        out["baseline_vs_tree"] = same_layers(tmp / "zones_baseline_0.gpkg", tmp / "zones_tree_0.gpkg")
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(child(sys.argv[2:])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    e = sub.add_parser("engines")
    e.add_argument("--size", type=int, default=2000)
    e.add_argument("--districts", type=int, default=400)
    m = sub.add_parser("memory")
    m.add_argument("--size", type=int, default=11000)
    m.add_argument("--min-area", type=float, default=30000)
    m.add_argument("--block-rows", type=int, nargs="+", default=[1024, 256])
    m.add_argument("--gdal-cache-mb", type=int, default=64, help="GDAL_CACHEMAX for each step (MB)")
    m.add_argument("--workdir", default=None, help="folder for the temporary maps (default: system temp)")
    z = sub.add_parser("shapes")
    z.add_argument("--tiles", type=int, default=4, help="tile the Zaragoza map tiles x tiles")
    z.add_argument("--rounds", type=int, default=3)
    z.add_argument("--baseline", default="cc46d80", help="git revision of the baseline vectorize_zones")
    z.add_argument("--block-rows", type=int, default=None, help="rows per strip (default: vectorize_zones' default)")
    z.add_argument("--workdir", default=None, help="folder for the temporary files (default: system temp)")
    args = parser.parse_args()
    runners = {"engines": bench_engines, "memory": bench_memory, "shapes": bench_shapes}
    result = runners[args.what](args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

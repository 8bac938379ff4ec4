"""Peak RSS and windows/s of `predict` on a Sentinel-1 IW GRD SAFE product (lczmap.twin.safe:
uint16 DN with GCPs, calibration and noise XML in the real schema) and on the same scene as a
float32 GeoTIFF (VV, VH linear sigma0 on the product's UTM grid). Run by hand, not in tests:

    python scripts/bench/bench_safe.py --lines 16685 --samples 25788   # full IW GRD size
    python scripts/bench/bench_safe.py --lines 4000 --samples 5000     # quick
    python scripts/bench/bench_safe.py --lines 16685 --samples 25788 --paths safe --aoi-share 0.25

Each path runs in its own process; peak RSS is that process's ru_maxrss. ``--aoi-share S`` maps
only the northern share S of the product (``--aoi``: the product is opened and geocoded whole,
only the tiles under the area are read and mapped), to measure a full-size product's memory in a
fraction of the time; ``--paths safe`` skips the GeoTIFF copy and its run.
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


def sigma0(pol: str, r0: int, r1: int, samples: int) -> np.ndarray:
    rng = np.random.default_rng(r0 * 7 + (pol == "VH"))
    a = rng.gamma(2.0, 0.05 if pol == "VV" else 0.01, size=(r1 - r0, samples)).astype(np.float32)
    yy, xx = np.mgrid[r0:r1, 0:samples]
    a *= (1 + 3 * (np.sin(yy / 230.0) * np.cos(xx / 310.0) > 0)).astype(np.float32)
    a[:, :200] = np.nan
    return a


def child(args: argparse.Namespace) -> None:
    from lczmap.predict import predict_scene
    from lczmap.scene.safe import open_safe

    t = time.perf_counter()
    scene = open_safe(args.scene, "lee-intensity") if args.scene.endswith((".SAFE", ".zip")) else args.scene
    aoi = None
    if args.aoi_share < 1:
        from pyproj import Transformer

        from lczmap.scene import open_scene

        opened = scene if not isinstance(scene, str) else open_scene(args.scene, "lee-intensity")
        t_ = opened.transform
        x0, y0 = t_[2], t_[5]
        x1, y1 = x0 + t_[0] * opened.width, y0 + t_[4] * opened.height
        y_cut = y0 + (y1 - y0) * args.aoi_share
        to_ll = Transformer.from_crs(opened.crs, "EPSG:4326", always_xy=True)
        lons, lats = to_ll.transform([x0, x1, x0, x1], [y_cut, y_cut, y0, y0])
        aoi = (min(lons), min(lats), max(lons), max(lats))
    res = predict_scene(scene, args.out, args.model, device="cpu", overwrite=True, aoi=aoi)
    s = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"windows": res.n_windows, "seconds": s, "windows_per_s": res.n_windows / s, "peak_rss_mb": rss}))


def _copy_to_geotiff(scene, tif: Path) -> None:
    """The product's sigma0 on its map grid as a float32 GeoTIFF (the other path's input)."""
    import rasterio

    with rasterio.open(
        tif,
        "w",
        driver="GTiff",
        width=scene.width,
        height=scene.height,
        count=2,
        dtype="float32",
        crs=scene.crs,
        transform=rasterio.Affine(*scene.transform),
        tiled=True,
        nodata=float("nan"),
    ) as dst:
        dst.descriptions = ("VH", "VV")
        for r0 in range(0, scene.height, 1024):
            r1 = min(r0 + 1024, scene.height)
            dst.write(scene.read(r0, r1, 0, scene.width), window=rasterio.windows.Window(0, r0, scene.width, r1 - r0))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lines", type=int, default=4000)
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--scene")
    p.add_argument("--out")
    p.add_argument("--model")
    p.add_argument("--paths", nargs="+", default=["safe", "geotiff"], choices=["safe", "geotiff"])
    p.add_argument("--aoi-share", type=float, default=1.0)
    args = p.parse_args()
    if args.scene:
        child(args)
        return
    sys.path.insert(0, str(Path(__file__).parents[2] / "tests"))
    from _predict_fixtures import tiny_checkpoint

    from lczmap.scene.safe import open_safe
    from lczmap.twin.safe import write_safe

    tmp = Path(tempfile.mkdtemp(prefix="bench_safe_"))
    t = time.perf_counter()
    safe = write_safe(tmp, args.lines, args.samples, lambda pol, r0, r1: sigma0(pol, r0, r1, args.samples))
    print(f"wrote {safe.name} ({args.lines} x {args.samples}) in {time.perf_counter() - t:.0f} s")
    scene = open_safe(safe, "lee-intensity")
    print(f"product {scene.height} x {scene.width} pixels on the map grid", flush=True)
    tif = tmp / "scene.tif"
    if "geotiff" in args.paths:
        _copy_to_geotiff(scene, tif)
    model = tiny_checkpoint(tmp / "m.safetensors")
    for name, src in (("safe", safe), ("geotiff", tif)):
        if name not in args.paths:
            continue
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--scene",
                str(src),
                "--out",
                str(tmp / f"{name}.tif"),
                "--model",
                str(model),
                "--aoi-share",
                str(args.aoi_share),
            ],
            capture_output=True,
            text=True,
            env={**os.environ},
        )
        if out.returncode:
            print(out.stderr[-3000:])
            continue
        print(name, out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()

"""Benchmark of `lczmap mosaic` (issue #23): a synthetic region of 3 tracks x 3 frames of overlapping
twin acquisitions through 2 local dask workers, against ``predict`` of the same scenes one by one;
peak RSS per worker; seconds per empty output tile (one scene in an area much larger than it);
and, on paper, Europe at 100 m from the measured rates.

    python scripts/bench/bench_mosaic.py /tmp/bench-mosaic --model lczmap-demo/model.safetensors

The region: :func:`lczmap.twin.write_acquisitions` with explicit offsets, scenes of ``--size``
10 m pixels overlapping by ``--overlap`` of their size across and along track (each scene a date
and pass of its own, as the twin plans them). Windows/s counts each scene's windows once (what
``predict_scene`` reports): the mosaic classifies every acquisition on its own (fusion
``probability``), so both rates count the same work. Peak RSS: every process of the run
(psutil, sampled every 0.1 s), the dask workers apart. Empty tiles: the mosaic of one scene on
its own footprint, then on an ``--empty-km`` x ``--empty-km`` area around it written as tiles;
the difference over the number of tiles no scene covers. Writes ``bench_mosaic.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: An H100's end-to-end `lczmap predict` rate, windows/s (docs/benchmarks.md, "Prediction (issue 5)").
H100_WINDOWS_PER_S = 326_549
#: Europe on paper: its area (km2, the continent with European Russia), its bounding box in
#: EPSG:3035 (LAEA Europe, km: Iceland to the Urals, Crete to the North Cape), a Sentinel-1 IW GRD
#: scene (250 km swath x 170 km frame), the overlap of neighbouring tracks and frames, and the
#: acquisitions fused per pixel (2 ascending + 2 descending dates).
EUROPE_KM2 = 10.18e6
EUROPE_BOX_KM = (5_500, 4_800)
SCENE_KM2 = 250 * 170
OVERLAP = 0.15
DATES = 4


@contextmanager
def peak_rss(interval: float = 0.1) -> Iterator[dict[str, Any]]:
    """Peak resident memory of this process and each child process (dask workers), in MB."""
    import psutil

    me = psutil.Process()
    peaks: dict[int, tuple[str, float]] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for p in [me, *me.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss / 2**20
                    name = "main" if p.pid == me.pid else " ".join(p.cmdline()[-2:])[-60:]
                except psutil.Error:
                    continue
                if rss > peaks.get(p.pid, ("", 0.0))[1]:
                    peaks[p.pid] = (name, rss)
            stop.wait(interval)

    out: dict[str, Any] = {}
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        out["main_mb"] = peaks.pop(me.pid, ("", 0.0))[1]
        out["children_mb"] = sorted((round(v[1], 1) for v in peaks.values()), reverse=True)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t


def region(out: Path, size: tuple[int, int], overlap: float, seed: int) -> Any:
    from lczmap.twin import write_acquisitions

    step = [int(round(s * (1 - overlap) / 10)) * 10 for s in size]
    offsets = [(frame * step[0], track * step[1]) for frame in range(3) for track in range(3)]
    return write_acquisitions(out / "region", 9, size=size, seed=seed, offsets=offsets, overwrite=True)


def aoi_around(path: Path, km: float) -> tuple[float, float, float, float]:
    """A ``km`` x ``km`` box (w, s, e, n degrees) centred on the scene ``path``."""
    import rasterio
    from pyproj import Transformer

    with rasterio.open(path) as src:
        b, crs = src.bounds, src.crs
    cx, cy = (b.left + b.right) / 2, (b.bottom + b.top) / 2
    h = km * 500.0
    to_deg = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xs, ys = zip(*(to_deg.transform(x, y) for x in (cx - h, cx + h) for y in (cy - h, cy + h)))
    return (min(xs), min(ys), max(xs), max(ys))


def europe(mosaic_windows_per_s: float, s_per_empty_tile: float, tile_pixels: int) -> dict[str, float]:
    """Europe at 100 m, on paper: scenes, tiles, windows, hours."""
    cells = EUROPE_KM2 * 100  # one window per 100 m cell and acquisition
    per_coverage = EUROPE_KM2 / (SCENE_KM2 * (1 - OVERLAP))
    windows = cells * DATES / (1 - OVERLAP)
    tile_km = tile_pixels * 0.1
    tiles = math.ceil(EUROPE_BOX_KM[0] / tile_km) * math.ceil(EUROPE_BOX_KM[1] / tile_km)
    land_tiles = EUROPE_KM2 / tile_km**2
    return {
        "scenes_per_coverage": per_coverage,
        "scenes": per_coverage * DATES,
        "windows": windows,
        "tiles": tiles,
        "land_tiles": land_tiles,
        "empty_tiles": tiles - land_tiles,
        "h100_gpu_hours": windows / H100_WINDOWS_PER_S / 3600,
        "cpu_2_workers_hours": windows / mosaic_windows_per_s / 3600,
        "empty_tiles_hours": (tiles - land_tiles) * s_per_empty_tile / 3600,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", type=Path, required=True, help="a checkpoint (e.g. the demo's)")
    ap.add_argument("--size", type=int, nargs=2, default=(400, 480), help="scene rows, columns (10 m pixels)")
    ap.add_argument("--overlap", type=float, default=0.2, help="overlap of neighbouring scenes (share of the size)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--empty-km", type=float, default=2000.0, help="side of the area around one scene (km)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--parts", nargs="+", choices=("region", "empty"), default=["region", "empty"])
    args = ap.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {
        "size": list(args.size),
        "overlap": args.overlap,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
    }
    acq, res["write_seconds"] = timed(lambda: region(args.out, tuple(args.size), args.overlap, args.seed))
    scenes = [str(p) for p in acq.scenes]
    res["region_km"] = [v / 100 for v in acq.area]

    json_path = args.out / "bench_mosaic.json"
    if "region" not in args.parts and json_path.exists():  # the region's figures of an earlier run
        res = {**json.loads(json_path.read_text()), **res}
    else:
        region_rates(args, scenes, res)
    if "empty" in args.parts:
        empty_tiles(args, acq, scenes, res)
    json_path.write_text(json.dumps(res, indent=2, default=str))


def region_rates(args: argparse.Namespace, scenes: list[str], res: dict[str, Any]) -> None:
    from lczmap.mosaic import predict_mosaic
    from lczmap.predict import predict_scene

    windows, seconds = 0, 0.0
    t0 = time.perf_counter()
    for i, s in enumerate(scenes):
        r = predict_scene(s, args.out / f"single{i}.tif", args.model, device="cpu", overwrite=True)
        windows += r.n_windows
        seconds += r.seconds
    res["predict"] = {
        "windows": windows,
        "seconds": time.perf_counter() - t0,
        "seconds_in_predict": seconds,
        "windows_per_s": windows / (time.perf_counter() - t0),
    }
    print("predict one by one:", res["predict"], flush=True)

    with peak_rss() as rss:
        m, wall = timed(
            lambda: predict_mosaic(
                scenes,
                args.out / "mosaic.tif",
                args.model,
                fusion="probability",
                device="cpu",
                workers=args.workers,
                overwrite=True,
            )
        )
    res["mosaic"] = {
        "seconds": wall,
        "seconds_reported": m.seconds,
        "windows_per_s": windows / wall,
        "shape": list(m.shape),
        "n_used": m.n_used,
        "peak_rss_mb": rss,
    }
    res["mosaic_over_predict"] = res["mosaic"]["windows_per_s"] / res["predict"]["windows_per_s"]
    print("mosaic:", res["mosaic"], flush=True)


def empty_tiles(args: argparse.Namespace, acq: Any, scenes: list[str], res: dict[str, Any]) -> None:
    from lczmap.mosaic import MosaicOptions, predict_mosaic

    tile_pixels = MosaicOptions().tile_pixels
    # align: a grid anchored at the CRS origin over the whole area, as the recorded figures were
    # measured (without it the native grid now grows over the area too)
    one, t_one = timed(
        lambda: predict_mosaic(
            scenes[:1],
            None,
            args.model,
            tiles=args.out / "one_tiles",
            align=True,
            device="cpu",
            workers=args.workers,
            overwrite=True,
        )
    )
    aoi = aoi_around(acq.scenes[0], args.empty_km)
    with peak_rss() as rss_big:
        big, t_big = timed(
            lambda: predict_mosaic(
                scenes[:1],
                None,
                args.model,
                tiles=args.out / "big_tiles",
                aoi=aoi,
                align=True,
                device="cpu",
                workers=args.workers,
                overwrite=True,
            )
        )
    n_tiles = math.ceil(big.shape[0] / tile_pixels) * math.ceil(big.shape[1] / tile_pixels)
    covered = math.ceil(one.shape[0] / tile_pixels + 1) * math.ceil(one.shape[1] / tile_pixels + 1)
    res["empty"] = {
        "km": args.empty_km,
        "aoi": aoi,
        "shape": list(big.shape),
        "tiles": n_tiles,
        "tiles_with_the_scene_at_most": covered,
        "seconds_one_scene": t_one,
        "seconds_area": t_big,
        "extra_seconds": t_big - t_one,
        "seconds_per_empty_tile": (t_big - t_one) / max(n_tiles - covered, 1),
        "peak_rss_mb": rss_big,
    }
    print("empty tiles:", res["empty"], flush=True)
    res["europe"] = europe(res["mosaic"]["windows_per_s"], max(res["empty"]["seconds_per_empty_tile"], 0.0), tile_pixels)
    res["tile_pixels"] = tile_pixels
    print("Europe on paper:", res["europe"], flush=True)


if __name__ == "__main__":
    main()

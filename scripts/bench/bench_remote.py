"""Benchmark of remote reads (issue #24): the bytes and requests ``lczmap predict`` and ``lczmap
mosaic`` fetch for a small area of a large scene served over HTTP, against the bytes of the
tiles that cover the area and against the whole files.

    python scripts/bench/bench_remote.py /tmp/bench-remote --size 8192 --area-km 5 --latency-ms 20 \\
        --model lczmap-demo/model.safetensors

The scene: a ``--size`` x ``--size`` twin GRD scene (10 m pixels, seed ``--seed``) written as
two single-band Cloud-Optimized GeoTIFFs (``vv.tif``, ``vh.tif``: float32, deflate, 512-pixel
tiles, the layout of the Planetary Computer's ``sentinel-1-rtc`` assets) and a STAC Item whose
assets point at them. The server: Python's ``http.server`` in a child process (GDAL with its
default options can stall against a server thread in its own process), answering single
``Range`` requests, waiting ``--latency-ms`` before each answer, and counting the bytes of the
bodies it sends and the requests it answers per file. The area: ``--aoi W,S,E,N``, or a square of
``--area-km`` placed at 30 % of the scene's width and 60 % of its height (away from the centre,
so the sample the scene checks read at the centre is not among the area's tiles: the worst case).

"The tiles that cover the area": the tiles of both files that the area's window on the scene's
grid touches, their sizes from the file's tile index (GDAL's ``BLOCK_SIZE_x_y``); predict reads a
margin around the area (half a window) and the centre sample, and GDAL the file's header, so the
ratio can exceed 1. The target of the issue is at most 3. The same item with local hrefs is
mapped too, and the maps compared (they must be equal) and timed. Without ``--model`` an
untrained network of the default architecture is written (the bytes read do not depend on the
weights). Writes ``bench_remote.json`` in the output folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# ------------------------------------------------------------------ the server (child process)


def serve(root: Path, latency: float) -> None:
    """Serve ``root`` on 127.0.0.1 (the port printed on stdout); ``/__stats`` answers the bytes
    and requests per file as JSON, ``/__stats?reset=1`` then starts counting again."""
    sent: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_GET(self) -> None:
            self._answer(head=False)

        def _answer(self, head: bool) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/__stats":
                with lock:
                    body = json.dumps({"bytes": dict(sent), "requests": dict(asked)}).encode()
                    if "reset=1" in parts.query:
                        sent.clear()
                        asked.clear()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            time.sleep(latency)
            rel = parts.path.lstrip("/")
            f = (root / rel).resolve()
            with lock:
                asked[rel] += 1
            if not f.is_file() or root.resolve() not in f.parents:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            size = f.stat().st_size
            lo, hi, status = 0, size - 1, 200
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                a, _, b = rng[6:].split(",")[0].partition("-")
                lo, hi, status = int(a), min(int(b), size - 1) if b else size - 1, 206
            self.send_response(status)
            self.send_header("Content-Length", str(hi - lo + 1))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {lo}-{hi}/{size}")
            self.end_headers()
            if head:
                return
            with open(f, "rb") as fh:
                fh.seek(lo)
                chunk = fh.read(hi - lo + 1)
            with lock:
                sent[rel] += len(chunk)
            self.wfile.write(chunk)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


class Served:
    """The server in a child process, for ``with``."""

    def __init__(self, root: Path, latency_ms: float):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "serve", str(root), "--latency-ms", str(latency_ms)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"

    def stats(self, reset: bool = False) -> dict[str, dict[str, int]]:
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/__stats{'?reset=1' if reset else ''}", timeout=30) as r:
            stats: dict[str, dict[str, int]] = json.loads(r.read())
            return stats

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# ------------------------------------------------------------------ the scene and the area


def write_cogs(folder: Path, size: int, seed: int) -> dict[str, Path]:
    """The twin's GRD scene as vv.tif and vh.tif COGs (kept between runs of one size and seed)."""
    import rasterio
    from rasterio.shutil import copy as rio_copy

    from lczmap.twin import write_scene

    folder.mkdir(parents=True, exist_ok=True)
    out = {pol: folder / f"{pol}.tif" for pol in ("vv", "vh")}
    stamp = folder / "scene.json"
    if stamp.exists() and json.loads(stamp.read_text()) == {"size": size, "seed": seed} and all(p.exists() for p in out.values()):
        return out
    grd, truth = write_scene(folder / "grd.tif", size=(size, size), seed=seed, overwrite=True)
    with rasterio.open(grd) as src:
        for b, pol in ((1, "vv"), (2, "vh")):
            one = folder / f"{pol}.one.tif"
            profile = src.profile.copy()
            profile.update(count=1, driver="GTiff", tiled=True, blockxsize=512, blockysize=512)
            with rasterio.open(one, "w", **profile) as dst:
                dst.write(src.read(b), 1)
                dst.set_band_description(1, pol.upper())
                dst.update_tags(**src.tags())
                dst.update_tags(1, **src.tags(b))
            rio_copy(one, out[pol], driver="COG", BLOCKSIZE=512, COMPRESS="DEFLATE", OVERVIEWS="NONE")
            one.unlink()
    grd.unlink()
    Path(truth).unlink(missing_ok=True)
    stamp.write_text(json.dumps({"size": size, "seed": seed}))
    return out


def item(files: dict[str, Path], base: str | None) -> dict[str, Any]:
    """A STAC Item for the two COGs: hrefs under ``base`` (the server), or local paths."""
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(files["vv"]) as ds:
        w, s, e, n = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "S1A_bench",
        "collection": "s1-bench",
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "bbox": [w, s, e, n],
        "properties": {
            "datetime": "2023-06-01T05:00:00Z",
            "platform": "sentinel-1a",
            "sat:orbit_state": "ascending",
            "sat:relative_orbit": 44,
            "sar:polarizations": ["VV", "VH"],
        },
        "links": [],
        "assets": {
            pol: {
                "href": f"{base}/{p.name}" if base else str(p),
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "description": "sigma0, calibrated backscatter",
                "raster:bands": [{"unit": "linear"}],
            }
            for pol, p in files.items()
        },
        "stac_extensions": [],
    }


def area(files: dict[str, Path], area_km: float) -> tuple[float, float, float, float]:
    """A square of ``area_km`` at 30 % of the scene's width and 60 % of its height, in degrees."""
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(files["vv"]) as ds:
        left, bottom, right, top = ds.bounds
        x = left + 0.3 * (right - left)
        y = bottom + 0.6 * (top - bottom)
        half = area_km * 500.0
        return tuple(transform_bounds(ds.crs, "EPSG:4326", x - half, y - half, x + half, y + half))  # type: ignore[return-value]


def tile_bytes(path: Path, aoi: tuple[float, float, float, float] | None) -> tuple[int, int]:
    """(bytes, count) of the tiles of ``path`` that the area's window touches; ``aoi`` None: the
    128 x 128 sample at the scene's centre that the scene checks read (units, polarisations)."""
    import rasterio
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    with rasterio.open(path) as ds:
        if aoi is None:
            win = Window(max(0, ds.width // 2 - 64), max(0, ds.height // 2 - 64), 128, 128)
        else:
            win = from_bounds(*transform_bounds("EPSG:4326", ds.crs, *aoi), transform=ds.transform)
        by, bx = ds.block_shapes[0]
        r0, r1 = max(0, int(win.row_off)) // by, min(ds.height - 1, int(win.row_off + win.height)) // by
        c0, c1 = max(0, int(win.col_off)) // bx, min(ds.width - 1, int(win.col_off + win.width)) // bx
        sizes = [
            int(ds.get_tag_item(f"BLOCK_SIZE_{j}_{i}", "TIFF", bidx=1)) for i in range(r0, r1 + 1) for j in range(c0, c1 + 1)
        ]
    return sum(sizes), len(sizes)


def untrained_model(path: Path) -> Path:
    """An untrained network of the default architecture as a checkpoint (bytes read do not
    depend on the weights)."""
    if path.exists():
        return path
    import torch

    from lczmap.bands import band_set
    from lczmap.checkpoint import save_checkpoint
    from lczmap.models import Architecture, YNet

    torch.manual_seed(0)
    bs = band_set("lee-intensity", "sar")
    arch = Architecture()
    classes = list(range(1, 18))
    net = YNet(3, bs.n_channels, len(classes), "instance", arch).eval()
    net.sar_encoder.standardize.set_stats([0.1] * bs.n_channels, [0.1] * bs.n_channels)
    meta = {
        "method": "sar-only",
        "norm": "instance",
        "eo_bands": band_set("rgb", "eo").to_dict(),
        "sar_bands": bs.to_dict(),
        "eo_mean": [0.1] * 3,
        "eo_std": [0.05] * 3,
        "sar_mean": [0.1] * bs.n_channels,
        "sar_std": [0.1] * bs.n_channels,
        "classes": "all",
        "codes": classes,
        "patch_size": 32,
        "architecture": arch.to_dict(),
        "seed": 0,
        "metrics": {},
    }
    return save_checkpoint(path, net, meta)


# ------------------------------------------------------------------ the runs


def run(kind: str, src: Path, out: Path, model: Path, aoi: tuple[float, float, float, float]) -> float:
    """Map ``src`` (an Item, or an ItemCollection for the mosaic) over ``aoi`` in a fresh child
    process (GDAL's cache of this process's reads would serve the next run); its seconds."""
    for p in out.parent.glob(out.stem + ".*"):  # the map and what is written beside it
        p.unlink()
    args = [sys.executable, __file__, "map", kind, str(src), str(out), str(model), ",".join(map(repr, aoi))]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} of {src} failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(done.stdout.strip().splitlines()[-1])


def _map(kind: str, src: str, out: str, model: str, aoi: tuple[float, ...]) -> None:
    from lczmap.mosaic import predict_mosaic
    from lczmap.predict import predict_scene

    t = time.perf_counter()
    if kind == "predict":
        predict_scene(src, out, model, device="cpu", aoi=aoi)
    else:
        predict_mosaic([src], out, model, aoi=aoi, device="cpu", workers=0)
    print(time.perf_counter() - t)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        p = argparse.ArgumentParser()
        p.add_argument("mode")
        p.add_argument("root", type=Path)
        p.add_argument("--latency-ms", type=float, default=0.0)
        a = p.parse_args()
        serve(a.root, a.latency_ms / 1000)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "map":
        kind, src, out, model, box = sys.argv[2:7]
        _map(kind, src, out, model, tuple(float(v) for v in box.split(",")))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--size", type=int, default=8192, help="scene size in pixels (square)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--area-km", type=float, default=5.0, help="side of the square area (km)")
    p.add_argument("--aoi", default=None, help="W,S,E,N in degrees instead of --area-km")
    p.add_argument("--latency-ms", type=float, default=20.0, help="the server's wait before each answer")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--runs", default="predict,mosaic", help="predict, mosaic or both (comma-separated)")
    a = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import numpy as np
    import rasterio

    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    files = write_cogs(out / "scene", a.size, a.seed)
    model = a.model or untrained_model(out / "untrained.safetensors")
    aoi = tuple(float(v) for v in a.aoi.split(",")) if a.aoi else area(files, a.area_km)
    whole = sum(f.stat().st_size for f in files.values())
    tiles = [tile_bytes(f, aoi) for f in files.values()]  # type: ignore[arg-type]
    under, n_tiles = sum(t[0] for t in tiles), sum(t[1] for t in tiles)
    centre = [tile_bytes(f, None) for f in files.values()]
    centre_bytes, n_centre = sum(t[0] for t in centre), sum(t[1] for t in centre)
    local_item = out / "local_item.json"
    local_item.write_text(json.dumps(item(files, None)))
    report: dict[str, Any] = {
        "size": a.size,
        "aoi": aoi,
        "area_km": a.area_km if not a.aoi else None,
        "latency_ms": a.latency_ms,
        "files_bytes": whole,
        "area_tiles": n_tiles,
        "area_tile_bytes": under,
        "centre_sample_tiles": n_centre,
        "centre_sample_tile_bytes": centre_bytes,
        "runs": {},
    }
    print(
        f"scene {a.size} x {a.size}: two COGs, {whole / 1e6:.1f} MB; the area's tiles: {n_tiles}, {under / 1e6:.2f} MB; "
        f"the tiles of the checks' centre sample: {n_centre}, {centre_bytes / 1e6:.2f} MB"
    )
    with Served(files["vv"].parent, a.latency_ms) as srv:
        remote_item = out / "remote_item.json"
        remote_item.write_text(json.dumps(item(files, srv.url)))
        collection = out / "remote_items.json"
        collection.write_text(json.dumps({"type": "FeatureCollection", "features": [item(files, srv.url)]}))
        for kind in [k.strip() for k in a.runs.split(",") if k.strip()]:
            srv.stats(reset=True)
            remote_src = remote_item if kind == "predict" else collection
            t_remote = run(kind, remote_src, out / f"{kind}_remote.tif", model, aoi)  # type: ignore[arg-type]
            stats = srv.stats()
            fetched = sum(stats["bytes"].values())
            requests = sum(stats["requests"].values())
            t_local = run(kind, local_item, out / f"{kind}_local.tif", model, aoi)  # type: ignore[arg-type]
            with rasterio.open(out / f"{kind}_remote.tif") as r, rasterio.open(out / f"{kind}_local.tif") as loc:
                equal = bool(np.array_equal(r.read(), loc.read()))
            row = {
                "bytes": fetched,
                "requests": requests,
                "x_area_tiles": fetched / under,
                "share_of_files": fetched / whole,
                "seconds_remote": t_remote,
                "seconds_local": t_local,
                "maps_equal": equal,
            }
            report["runs"][kind] = row
            print(
                f"{kind}: {fetched / 1e6:.2f} MB in {requests} requests = {fetched / under:.2f}x the area's tiles, "
                f"{100 * fetched / whole:.2f} % of the files; {t_remote:.2f} s over HTTP, {t_local:.2f} s from local files; "
                f"maps {'equal' if equal else 'DIFFER'}"
            )
    (out / "bench_remote.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

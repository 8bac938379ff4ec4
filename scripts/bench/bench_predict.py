#!/usr/bin/env python
"""Benchmark `lczmap predict` and its memory bound.

Speed, in one run on the same GeoTIFF and model (windows/s):
  (a)  model-only forward throughput on windows already on the device (the bound);
  (b)  lczmap predict end to end (read, cut, batch, model, write the COG);
  (c)  torchgeo's RasterDataset + GridGeoSampler (32 px, stride 10) + DataLoader, same model;
  (b') and (c') again with a trivial model, so that only reading, cutting and batching count;
       beside (b'), what lczmap's reused (pinned on CUDA) tile buffers save: every tile's block
       read with Scene.read into one reused buffer vs into a new array per tile (pinned by a
       copy on CUDA), in this script, with no switch in the library.
  (r)  the host half of the data path alone (reading tiles and the nodata rule in lczmap's reader
       threads, no model), with 1 reader and with the readers lczmap uses on this device and on a
       GPU host: on a GPU this is what must outrun the model, and it is measurable on any machine
       (--host-path-only measures only it; GDAL_NUM_THREADS in the environment reaches GDAL).
Targets: b/a >= 0.75, b'/c' >= 100. torchgeo runs in a separate venv (--torchgeo-python,
default .venv-torchgeo/bin/python; it needs torch, torchvision, torchgeo, safetensors, h5py);
--skip-torchgeo leaves c/c' out (e.g. on a GPU machine).

Memory (--memory): writes a 20,000 x 20,000 two-band float32 scene (3.2 GB) in blocks, runs
`lczmap predict` on it in a child process and reports the child's peak RSS (target 1.5 GB),
then deletes the scene.

Examples:
  python scripts/bench/bench_predict.py --size 4000                      # CPU, all of a/b/c/b'/c'
  python scripts/bench/bench_predict.py --size 10980 --skip-torchgeo     # GPU check
  python scripts/bench/bench_predict.py --memory --memory-size 20000
  python scripts/bench/bench_predict.py --size 10980 --scene-kind random --compress deflate --host-path-only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]


class Trivial(torch.nn.Module):
    """Almost no compute: per-channel mean -> K logits (keeps the data path honest)."""

    def __init__(self, c: int, k: int):
        super().__init__()
        self.lin = torch.nn.Linear(c, k)

    def forward(self, x):
        return self.lin(x.mean((2, 3)))


def make_checkpoint(path: Path, width=16, depth=3, blocks=2, embedding=64) -> Path:
    """An untrained checkpoint of lczmap's default architecture (speed does not depend on weights)."""
    from lczmap.bands import band_set
    from lczmap.checkpoint import save_checkpoint
    from lczmap.models import Architecture, YNet

    torch.manual_seed(0)
    arch = Architecture(width=width, depth=depth, blocks=blocks, embedding=embedding, projection=64)
    bs = band_set("lee-intensity", "sar")
    net = YNet(3, 2, 17, "instance", arch).eval()
    net.sar_encoder.standardize.set_stats([0.05, 0.2], [0.05, 0.2])
    meta = {
        "method": "sar-only",
        "norm": "instance",
        "eo_bands": band_set("rgb", "eo").to_dict(),
        "sar_bands": bs.to_dict(),
        "eo_mean": [0.1] * 3,
        "eo_std": [0.05] * 3,
        "sar_mean": [0.05, 0.2],
        "sar_std": [0.05, 0.2],
        "classes": "all",
        "codes": list(range(1, 18)),
        "patch_size": 32,
        "architecture": arch.to_dict(),
        "seed": 0,
        "metrics": {},
    }
    return save_checkpoint(path, net, meta, overwrite=True)


def write_big_scene(path: Path, size: int, block: int = 1024, compress: str = "none") -> Path:
    """A size x size two-band float32 GeoTIFF (VV, VH) in 512-pixel tiles, written block by block
    (bounded memory); ``compress``: none, deflate or zstd (with the floating-point predictor, as
    compressed Sentinel-1 products and COGs usually are)."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(0)
    profile = dict(
        driver="GTiff",
        height=size,
        width=size,
        count=2,
        dtype="float32",
        crs="EPSG:32633",
        transform=from_origin(380000, 5830000, 10, 10),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        BIGTIFF="YES",
        nodata=float("nan"),
    )
    if compress != "none":
        profile.update(compress=compress, predictor=3, num_threads="ALL_CPUS")
    with rasterio.open(path, "w", **profile) as ds:
        ds.set_band_description(1, "VV")
        ds.set_band_description(2, "VH")
        for r in range(0, size, block):
            h = min(block, size - r)
            data = rng.gamma(2.0, 0.05, size=(2, h, size)).astype(np.float32)
            ds.write(data, window=Window(0, r, size, h))
    return path


def model_only(network, n_windows, batch, device, amp=True, channels=2, reps=None) -> float:
    """(a): windows/s of forward + softmax + argmax on windows already on the device."""
    from lczmap.predict.kernel import forward_batch

    net = network.to(device).eval()
    if device.type == "cpu":  # the same torch threads as lczmap predict uses on the CPU
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - 1))
    x = torch.rand(batch, channels, 32, 32, device=device) * 0.2
    n_batches = max(1, (reps or n_windows) // batch)
    with torch.inference_mode():
        forward_batch(net, x, device, amp).argmax(1)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(n_batches):
            forward_batch(net, x, device, amp).argmax(1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n_batches * batch / (time.perf_counter() - t)


TORCHGEO_SCRIPT = textwrap.dedent(
    """
    import json, sys, time, torch
    from torch.utils.data import DataLoader
    from torchgeo.datasets import RasterDataset, stack_samples
    from torchgeo.samplers import GridGeoSampler, Units
    args = json.loads(sys.argv[1])
    torch.set_num_threads(args["threads"])
    class Scene(RasterDataset):
        filename_glob = args["glob"]
        is_image = True
        separate_files = False
    class Trivial(torch.nn.Module):
        def __init__(self, c, k):
            super().__init__(); self.lin = torch.nn.Linear(c, k)
        def forward(self, x):
            return self.lin(x.mean((2, 3)))
    if args["trivial"]:
        net = Trivial(2, 17)
    else:
        sys.path.insert(0, args["root"])
        from lczmap.checkpoint import load_checkpoint
        net = load_checkpoint(args["model"]).sar_network()
    net.eval()
    ds = Scene(paths=args["folder"])
    sampler = GridGeoSampler(ds, size=32, stride=args["stride"], units=Units.PIXELS)
    loader = DataLoader(ds, sampler=sampler, batch_size=args["batch"], collate_fn=stack_samples,
                        num_workers=args["workers"])
    n = 0; t = None; batches = 0
    with torch.inference_mode():
        for b in loader:
            x = b["image"].float()
            # same order as lczmap's lee-intensity channels: VH, VV (file holds VV, VH)
            net(x[:, [1, 0]]).softmax(1).argmax(1)
            batches += 1
            if batches == 2:
                t = time.perf_counter(); n = 0
            elif batches > 2:
                n += x.shape[0]
            if batches >= args["max_batches"] + 2:
                break
    print(json.dumps({"windows": n, "seconds": time.perf_counter() - t, "total_windows": len(sampler)}))
    """
)


def torchgeo_rate(
    python: str, scene: Path, model: Path, trivial: bool, batch: int, stride: int, workers: int, max_batches: int, threads: int
) -> dict:
    """(c)/(c'): windows/s of torchgeo's grid sampler + DataLoader + model, timed after 2 warm-up batches."""
    folder = tempfile.mkdtemp(prefix="tg-")
    link = Path(folder) / scene.name
    os.symlink(scene.resolve(), link)
    args = dict(
        glob=scene.name,
        folder=folder,
        model=str(model),
        trivial=trivial,
        batch=batch,
        stride=stride,
        workers=workers,
        max_batches=max_batches,
        root=str(ROOT),
        threads=threads,
    )
    try:
        proc = subprocess.run([python, "-c", TORCHGEO_SCRIPT, json.dumps(args)], capture_output=True, text=True)
    finally:
        link.unlink()
        os.rmdir(folder)
    if proc.returncode != 0:
        raise RuntimeError(f"torchgeo baseline failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["windows_per_s"] = res["windows"] / res["seconds"]
    return res


def host_path(scene: Path, model, stride: int, tile_size: int, readers: int) -> dict:
    """(r): windows/s of the host half of the data path alone - reading tiles and applying the
    nodata rule in ``readers`` of lczmap's reader threads (reused buffers), no model."""
    from lczmap.predict import PredictOptions, output_grid, plan_tiles, prepared_tiles
    from lczmap.scene import open_scene

    sc = open_scene(scene, model.band_set)
    plan = PredictOptions(stride=stride, device="cpu", read_threads=readers).resolve(model, sc)
    tiles = plan_tiles(*output_grid(sc.height, sc.width, stride), tile_size)
    n = 0
    t = time.perf_counter()
    for _, prep in prepared_tiles(sc.read, tiles, model, plan):
        n += prep.valid.size
    wall = time.perf_counter() - t
    return {
        "windows_per_s": n / wall,
        "seconds": wall,
        "readers": readers,
        "buffers": "cpu",
        "gdal_num_threads": os.environ.get("GDAL_NUM_THREADS", "1"),
    }


def host_path_new_arrays(scene: Path, model, stride: int, tile_size: int, readers: int) -> dict:
    """(r) as lczmap read tiles before it reused buffers: each tile read into a new array and
    prepared by lczmap's kernel, ``readers`` threads at most ``readers + 1`` tiles ahead."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from lczmap.predict import PredictOptions, output_grid, plan_tiles, prepare_block
    from lczmap.predict.grid import tile_block
    from lczmap.scene import open_scene

    sc = open_scene(scene, model.band_set)
    plan = PredictOptions(stride=stride, device="cpu").resolve(model, sc)
    tiles = plan_tiles(*output_grid(sc.height, sc.width, stride), tile_size)

    def work(t):
        return prepare_block(sc.read(*tile_block(t, stride, model.patch_size)), plan)

    n = 0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=readers) as pool:
        pending: deque = deque()
        for t in tiles:
            pending.append(pool.submit(work, t))
            if len(pending) > readers:
                n += pending.popleft().result().valid.size
        while pending:
            n += pending.popleft().result().valid.size
    wall = time.perf_counter() - t0
    return {
        "windows_per_s": n / wall,
        "seconds": wall,
        "readers": readers,
        "buffers": "new per tile",
        "gdal_num_threads": os.environ.get("GDAL_NUM_THREADS", "1"),
    }


def reader_buffers(scene: Path, model, stride: int, tile_size: int, device, repeat: int) -> dict:
    """Beside (b'): seconds to read every tile's input block with ``Scene.read`` into one reused
    buffer (pinned on CUDA, as lczmap's buffer pool holds them) vs into a new array per tile
    (pinned by a copy on CUDA), one thread, median of ``repeat`` rounds after a warm-up."""
    from lczmap.predict import output_grid, plan_tiles
    from lczmap.predict.grid import tile_block
    from lczmap.scene import open_scene

    sc = open_scene(scene, model.band_set)
    blocks = [tile_block(t, stride, model.patch_size) for t in plan_tiles(*output_grid(sc.height, sc.width, stride), tile_size)]
    cuda = device.type == "cuda"
    numel = model.band_set.n_channels * max(b - a for a, b, _, _ in blocks) * max(d - c for _, _, c, d in blocks)
    buf = torch.empty(numel, dtype=torch.float32, pin_memory=cuda)

    def reused():
        for a, b, c, d in blocks:
            shape = (model.band_set.n_channels, b - a, d - c)
            sc.read(a, b, c, d, out=buf[: int(np.prod(shape))].view(shape).numpy())

    def new_arrays():
        for a, b, c, d in blocks:
            t = torch.from_numpy(sc.read(a, b, c, d))
            if cuda:
                t.pin_memory()

    reused()  # warm the page cache
    runs: dict = {"reused": [], "new_arrays": []}
    for _ in range(repeat):
        for name, fn in (("reused", reused), ("new_arrays", new_arrays)):
            t = time.perf_counter()
            fn()
            runs[name].append(time.perf_counter() - t)
    out = {k: {"seconds": sorted(v)[len(v) // 2], "tiles": len(blocks), "pinned": cuda} for k, v in runs.items()}
    out["reused_over_new"] = out["new_arrays"]["seconds"] / max(out["reused"]["seconds"], 1e-9)
    return out


def speed(args) -> dict:
    from lczmap.predict import Model, load_model, predict_scene
    from lczmap.predict.model import torch_device
    from lczmap.twin import write_scene

    device = torch_device(args.device)
    work = Path(tempfile.mkdtemp(prefix="bench-predict-", dir=args.workdir))
    results: dict = {
        "device": str(device),
        "stride": args.stride,
        "tile_size": args.tile_size,
        "cpu_count": os.cpu_count(),
        "torch_threads_lczmap_cpu": max(1, (os.cpu_count() or 1) - 1),
    }
    if device.type == "cuda":
        results["gpu"] = torch.cuda.get_device_name()
    scene = Path(args.scene) if args.scene else None
    if scene is None:
        t = time.perf_counter()
        if args.scene_kind == "synthetic":
            scene, _ = write_scene(work / "scene.tif", size=(args.size, args.size), seed=0)
        else:
            scene = write_big_scene(work / "scene.tif", args.size, compress=args.compress)
        results["compress"] = args.compress
        results["scene_write_s"] = round(time.perf_counter() - t, 1)
    results["scene"] = str(scene) if args.scene else args.scene_kind
    model_path = Path(args.model) if args.model else make_checkpoint(work / "model.safetensors")
    model = load_model(model_path)
    batch = args.batch_size or (4096 if device.type == "cuda" else 512)
    results["batch_size"] = batch

    # (a) the bound: windows pre-staged on the device (warms CUDA/cuDNN up for (b) too)
    import rasterio

    with rasterio.open(scene) as ds:
        results["scene_shape"] = [ds.height, ds.width]
        results["scene_compression"] = ds.compression.value if ds.compression else "none"
        est = -(-ds.height // args.stride) * -(-ds.width // args.stride)
    if args.host_path_only:
        results["r_host_path"] = host_paths(scene, model, args)
        return _cleanup(work, args, results)
    a_rate = model_only(model.network, min(est, args.model_only_windows), batch, device, amp=True)
    results["a_model_only"] = {"windows_per_s": a_rate}

    def end_to_end(m, name: str) -> dict:
        """Time predict_scene on the scene with model ``m``: windows/s, seconds, timings."""
        t = time.perf_counter()
        res = predict_scene(
            scene,
            work / name,
            m,
            stride=args.stride,
            batch_size=batch,
            device=args.device,
            tile_size=args.tile_size,
            overwrite=True,
        )
        wall = time.perf_counter() - t
        results["n_windows"] = res.n_windows
        return {"windows_per_s": res.n_windows / wall, "seconds": wall, "timings": res.timings.as_dict()}

    # (b) end to end
    results["b_end_to_end"] = end_to_end(model, "lcz.tif")
    results["b_over_a"] = results["b_end_to_end"]["windows_per_s"] / a_rate

    # (b') trivial model; and what reading into reused (pinned on CUDA) buffers saves over a new
    # array per tile (pinned by a copy on CUDA), measured at the reader
    trivial = Model(Trivial(2, 17), tuple(range(1, 18)), model.band_set, name="trivial")
    results["b_prime_trivial"] = end_to_end(trivial, "lcz_trivial.tif")
    results["b_prime_buffers"] = reader_buffers(scene, model, args.stride, args.tile_size, device, args.repeat)

    # (r) the host half of the data path alone
    results["r_host_path"] = host_paths(scene, model, args)
    if not args.skip_torchgeo:
        py = args.torchgeo_python
        if not Path(py).exists():
            raise SystemExit(f"{py} not found: make the torchgeo venv (see docs/predict.md) or pass --skip-torchgeo")
        for key, triv, nb in (
            ("c_torchgeo", False, args.torchgeo_batches),
            ("c_prime_torchgeo_trivial", True, args.torchgeo_batches),
        ):
            best = None
            for workers in args.torchgeo_workers:
                r = torchgeo_rate(py, scene, model_path, triv, batch, args.stride, workers, nb, torch.get_num_threads())
                r["num_workers"] = workers
                if best is None or r["windows_per_s"] > best["windows_per_s"]:
                    best = r
            results[key] = best
        results["b_over_c"] = results["b_end_to_end"]["windows_per_s"] / results["c_torchgeo"]["windows_per_s"]
        results["b_prime_over_c_prime"] = (
            results["b_prime_trivial"]["windows_per_s"] / results["c_prime_torchgeo_trivial"]["windows_per_s"]
        )
    return _cleanup(work, args, results)


def _cleanup(work: Path, args, results: dict) -> dict:
    if not args.keep:
        for p in sorted(work.iterdir()):
            p.unlink()
        work.rmdir()
    return results


def host_paths(scene: Path, model, args) -> dict:
    """(r) with 1 reader thread, with the readers lczmap uses on this device, with those it uses on
    a GPU host of this many cores, and with this device's readers reading each tile into a new
    array (no buffer pool, as before lczmap reused buffers); each measured ``--repeat`` times round-robin after a
    warm-up read (page cache warm), median reported."""
    from lczmap.predict import reader_settings

    here = reader_settings(args.device)
    settings = {
        "1_reader": (1, host_path),
        "this_device": (here, host_path),
        "gpu_host": (reader_settings("cuda"), host_path),
        "this_device_new_array_per_tile": (here, host_path_new_arrays),
    }
    host_path(scene, model, args.stride, args.tile_size, 1)  # warm the page cache
    runs: dict = {k: [] for k in settings}
    for _ in range(args.repeat):
        for k, (readers, measure) in settings.items():
            runs[k].append(measure(scene, model, args.stride, args.tile_size, readers))
    out = {}
    for k, rs in runs.items():
        ordered = sorted(rs, key=lambda r: r["windows_per_s"])
        out[k] = {**ordered[len(rs) // 2], "all_windows_per_s": [round(r["windows_per_s"]) for r in rs]}
    return out


def memory(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-mem-", dir=args.workdir))
    t = time.perf_counter()
    if args.scene:
        scene = Path(args.scene)
    else:
        scene = write_big_scene(work / "big.tif", args.memory_size, compress=args.compress)
    write_s = time.perf_counter() - t
    import rasterio

    with rasterio.open(scene) as ds:
        shape = (ds.height, ds.width, ds.count, ds.dtypes[0])
    if args.memory_model == "trivial":
        scripts, big, out = str(ROOT / "scripts" / "bench"), str(scene), str(work / "big_lcz.tif")
        code = (
            f"import sys; sys.path.insert(0, {scripts!r}); from bench_predict import Trivial; "
            "from lczmap.predict import Model, predict_scene; from lczmap.bands import band_set; "
            "m = Model(Trivial(2, 17), tuple(range(1, 18)), band_set('lee-intensity'), name='trivial'); "
            f"r = predict_scene({big!r}, {out!r}, m, device={args.device!r}, tile_size={args.tile_size:d}); "
            "print(r.n_windows, r.seconds)"
        )
        cmd = [sys.executable, "-c", code]
    else:
        model = (
            Path(args.model)
            if args.model
            else make_checkpoint(work / "model.safetensors", width=4, depth=2, blocks=1, embedding=16)
        )
        cmd = [
            sys.executable,
            "-m",
            "lczmap",
            "-q",
            "predict",
            str(scene),
            str(work / "big_lcz.tif"),
            "-m",
            str(model),
            "--device",
            args.device,
            "--tile-size",
            str(args.tile_size),
        ]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = {
        "scene": "{} x {} x {} {}".format(*shape),
        "scene_gb": shape[0] * shape[1] * shape[2] * np.dtype(shape[3]).itemsize / 1e9,
        "scene_write_s": round(write_s, 1),
        "predict_s": round(wall, 1),
        "peak_rss_gb": peak_kb / 1e6,
        "returncode": proc.returncode,
        "stdout": proc.stdout.strip()[-300:],
        "stderr": proc.stderr.strip()[-1000:],
        "model": args.model or args.memory_model,
        "command": " ".join(cmd),
    }
    for p in sorted(work.iterdir(), reverse=True):
        if p.is_file():
            p.unlink()
    for p in work.iterdir():
        p.rmdir()
    work.rmdir()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=4000, help="scene side in pixels (written by write_scene)")
    ap.add_argument("--scene", help="use this GeoTIFF instead of writing one")
    ap.add_argument(
        "--scene-kind",
        choices=["synthetic", "random"],
        default="synthetic",
        help="synthetic: lczmap.twin.write_scene (with a nodata frame); random: gamma noise (fast to write)",
    )
    ap.add_argument(
        "--compress",
        choices=["none", "deflate", "zstd"],
        default="none",
        help="compression of the random scene (--scene-kind random, --write-scene, --memory)",
    )
    ap.add_argument("--write-scene", metavar="PATH", help="only write a random scene of --size here and exit")
    ap.add_argument("--model", help="checkpoint (default: untrained default architecture, 17 classes)")
    ap.add_argument("--stride", type=int, default=10)
    ap.add_argument(
        "--model-only-windows",
        type=int,
        default=2_000_000,
        help="at most this many windows for (a) (default: as many as the scene has)",
    )
    ap.add_argument("--tile-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--skip-torchgeo", action="store_true")
    ap.add_argument(
        "--host-path-only", action="store_true", help="only (r): reading and preparing tiles in lczmap's reader threads, no model"
    )
    ap.add_argument("--torchgeo-python", default=str(ROOT / ".venv-torchgeo" / "bin" / "python"))
    ap.add_argument("--torchgeo-batches", type=int, default=10, help="timed torchgeo batches (after 2 warm-up)")
    ap.add_argument("--torchgeo-workers", type=int, nargs="+", default=[0, 2], help="DataLoader num_workers tried")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each (r) setting (median reported)")
    ap.add_argument("--memory", action="store_true", help="run the memory benchmark instead")
    ap.add_argument("--memory-size", type=int, default=20000)
    ap.add_argument(
        "--memory-model",
        choices=["tiny", "trivial"],
        default="tiny",
        help="tiny: a width-4 checkpoint through `lczmap predict`; trivial: near-zero compute "
        "through predict_scene (memory is set by the data path, not the model)",
    )
    ap.add_argument("--workdir", default=None, help="folder for temporary scenes (default: system temp)")
    ap.add_argument("--keep", action="store_true", help="keep the scene and outputs")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    if args.write_scene:
        write_big_scene(Path(args.write_scene), args.size, compress=args.compress)
        return
    results = memory(args) if args.memory else speed(args)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()

"""The refined Lee filter's cost and what it buys, run by hand (never as a timed test).

``speed``: windows/s of ``predict_scene`` on a synthetic GRD scene with ``--speckle-filter
refined-lee`` and ``none`` (untrained default architecture, 17 classes), and the filter alone per
tile block; on the CPU by default (``--device cuda`` on a GPU host).

``agreement``: the demo end to end (``lczmap.demo.run_demo``: twin, training, the unfiltered GRD
scene mapped with the filter), then the same model on the scene written other ways: (i) unfiltered
GRD, filter on; (ii) the same, ``--speckle-filter none``; (iii) the scene as gamma0 with an angle
band, converted; (iv) the scene written pre-filtered (single-look, refined Lee as So2Sat), filter
none. For each: agreement with the truth map overall, in a 3-pixel band along the valid-data
border, and inside it. ``--cities N`` repeats (i)-(iv) on scenes of N more seeds (``--city-size``),
each rendered with its own city calibration (radar gain, VH offset): what is the chain and what
is the city. Results go to ``bench_speckle.json`` in ``--out``.

    python scripts/bench/bench_speckle.py speed --size 1000 1200
    python scripts/bench/bench_speckle.py agreement --out /tmp/speckle-demo --cities 6
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def speed(args) -> dict:
    import torch

    from lczmap.bands import band_set
    from lczmap.models import YNet
    from lczmap.predict import Model, predict_scene
    from lczmap.speckle import filter_channels
    from lczmap.twin import write_scene

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scene, _ = write_scene(out / "grd.tif", size=tuple(args.size), seed=1, overwrite=True)
    lee = band_set("lee-intensity", "sar")
    net = YNet(3, 2, 17, "batch").eval()
    model = Model(net.sar_network(), tuple(range(1, 18)), lee)
    result = {"size": args.size, "threads": args.threads, "device": args.device}
    for name in ("none", "refined-lee"):
        best = 0.0
        for k in range(args.repeat):
            r = predict_scene(
                scene,
                out / f"lcz_{name}_{k}.tif",
                model,
                device=args.device,
                speckle_filter=name,
                overwrite=True,
                threads=args.threads,
            )
            best = max(best, r.windows_per_s)
        result[f"windows_per_s_{name}"] = best
    block = torch.rand(2, 128 * 10 + 22 + 6, 128 * 10 + 22 + 6, device=args.device)
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        filter_channels(block, lee)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    result["filter_seconds_per_128_tile"] = (time.perf_counter() - t0) / args.repeat
    result["cost"] = 1 - result["windows_per_s_refined-lee"] / result["windows_per_s_none"]
    return result


def _agreement(pred: Path, truth: Path) -> dict:
    import rasterio
    from scipy.ndimage import binary_erosion

    with rasterio.open(pred) as p, rasterio.open(truth) as t:
        a, b = p.read(1), t.read(1)
    valid = b > 0
    interior = binary_erosion(valid, iterations=3, border_value=0)  # 3 pixels from nodata or the edge
    out = {}
    for name, region in (("all", valid), ("border", valid & ~interior), ("interior", interior)):
        both = region & (a > 0)
        out[name] = float((a[both] == b[both]).mean()) if both.any() else float("nan")
        out[f"{name}_mapped"] = float(both.sum() / max(region.sum(), 1))  # share of truth pixels mapped
    out["gap"] = out["interior"] - out["border"]
    return out


RUNS = {
    "(i) unfiltered GRD, filter on": ("grd", None),
    "(ii) unfiltered GRD, --speckle-filter none": ("grd", "none"),
    "(iii) gamma0 + angle band, converted, filter on": ("gamma0", None),
    "(iv) scene written pre-filtered, filter none": ("lee", "none"),
}


def _four_ways(out: Path, model: Path, seed: int, size: tuple, grd: Path | None = None, truth: Path | None = None) -> dict:
    """(i)-(iv) for the scene of ``seed``: written as GRD (unless given), gamma0 and pre-filtered."""
    from lczmap.predict import predict_scene
    from lczmap.twin import write_scene

    scenes = {}
    for kind in ("grd", "gamma0", "lee"):
        if kind == "grd" and grd is not None:
            scenes[kind] = grd
            continue
        path = out / f"scene{seed}_{kind}.tif"
        t = out / f"truth{seed}_{kind}.tif"
        if not path.exists():
            write_scene(path, size=size, seed=seed, kind=kind, truth_path=t)
        scenes[kind] = path
        truth = truth or t
    result = {}
    for label, (kind, filt) in RUNS.items():
        lcz = out / f"bench{seed}_{kind}_{filt or 'default'}.tif"
        r = predict_scene(scenes[kind], lcz, model, device="cpu", speckle_filter=filt, overwrite=True)
        result[label] = {**_agreement(lcz, truth), "windows_per_s": r.windows_per_s}
    return result


def agreement(args) -> dict:
    import numpy as np

    from lczmap.demo import run_demo
    from lczmap.twin.cities import make_cities

    out = Path(args.out)
    t0 = time.perf_counter()
    report = run_demo(out, seed=args.seed)
    o = report.outputs
    result = {"demo_seconds": time.perf_counter() - t0, "figures": {k: v for k, v in report.figures.items()}}
    result.update(_four_ways(out, o["checkpoint"], args.seed, tuple(args.size), o["scene"], o["truth"]))
    if args.cities:
        per_city = {}
        for seed in range(args.seed + 1, args.seed + 1 + args.cities):
            city = make_cities(1, seed, "scene", stream=99)[0]  # the scene's calibration (lczmap.twin.scene)
            runs = _four_ways(out, o["checkpoint"], seed, tuple(args.city_size))
            per_city[seed] = {
                "sar_gain_db": city.sar_gain_db,
                "vh_offset_db": city.vh_offset_db,
                **{k: v["all"] for k, v in runs.items()},
                **{f"{k} gap": v["gap"] for k, v in runs.items()},
            }
            print(seed, per_city[seed], flush=True)
        result["cities"] = per_city
        result["cities_mean"] = {k: float(np.mean([c[k] for c in per_city.values()])) for k in next(iter(per_city.values()))}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--size", type=int, nargs=2, default=(1000, 1200))
    s.add_argument("--device", default="cpu")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--repeat", type=int, default=2)
    s.add_argument("--out", default="/tmp/bench_speckle")
    a = sub.add_parser("agreement")
    a.add_argument("--out", default="/tmp/bench_speckle_demo")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--size", type=int, nargs=2, default=(1000, 1200), help="the demo's scene size (run_demo default)")
    a.add_argument("--cities", type=int, default=0, help="also this many scenes of other seeds (other city calibrations)")
    a.add_argument("--city-size", type=int, nargs=2, default=(600, 720))
    args = ap.parse_args()
    result = speed(args) if args.cmd == "speed" else agreement(args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_speckle.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

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

``filter``: the filter's share of predict, the working tree's filter against the one at git
revision ``--baseline`` (its ``lczmap/speckle.py``, read with ``git show`` and imported as
``lczmap._speckle_baseline`` beside the working tree's package), on ``--scene`` with
``--model`` (by default the demo's, ``lczmap demo``). In ``--rounds`` rounds, the order rotated
every round (after ``--warmup`` untimed runs), ``predict_scene`` runs three times in one
process: with the baseline filter, with the working tree's, and with ``speckle_filter="none"``.
Each run's tile loop is timed as predict
times it (``PredictResult.timings.compute``: filter, nodata fill and model, per tile) and the
filter inside it (``lczmap.predict.kernel.filter_block`` wrapped in a timer), so the filter's
share is ``filter / compute`` on the same tiles and windows; the run's wall time gives predict
end to end, default vs ``none``. It checks that both filters give the same bits on the blocks
predict fed them (float32, as predict; the tests cover float64) and the same LCZ map; the median
of the rounds is reported, with the load (``/proc/loadavg``) before and after, and the filter
alone on those blocks (both filters, rounds alternating, memory warm), and the first and second
call of each filter on the first block in fresh processes (``fresh_process``: what a one-tile
predict from the CLI pays; a small call first, rounds alternating).

``endtoend``: predict end to end with the model's filter against ``--speckle-filter none``, each
run a fresh process (``one-run``), ``--rounds`` rounds with the order swapped every round; each
process times ``predict_scene`` alone and counts its minor page faults and system time
(``resource.getrusage``); medians, the filter's share (1 - none / default) and the load.

    python scripts/bench/bench_speckle.py speed --size 1000 1200
    OMP_NUM_THREADS=1 python scripts/bench/bench_speckle.py endtoend --rounds 5 \\
        --model DEMO/model.safetensors --scene DEMO/scene_grd.tif
    python scripts/bench/bench_speckle.py agreement --out /tmp/speckle-demo --cities 6
    OMP_NUM_THREADS=1 python scripts/bench/bench_speckle.py filter --baseline cc46d80 --rounds 3 \\
        --model DEMO/model.safetensors --scene DEMO/scene_grd.tif
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
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


def _baseline_speckle(rev: str):
    """``lczmap/speckle.py`` at git revision ``rev``, imported as ``lczmap._speckle_baseline``
    (its relative imports resolve to the working tree's package)."""
    root = Path(__file__).resolve().parents[2]
    text = subprocess.run(["git", "show", f"{rev}:lczmap/speckle.py"], cwd=root, capture_output=True, text=True)
    if text.returncode != 0:
        sys.exit(f"bench_speckle: cannot read lczmap/speckle.py at {rev!r}: {text.stderr.strip()}")
    path = Path(tempfile.mkdtemp(prefix="lczmap-speckle-")) / "speckle_baseline.py"
    path.write_text(text.stdout)
    spec = importlib.util.spec_from_file_location("lczmap._speckle_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _loadavg() -> str:
    """The 1, 5 and 15 minute load averages (``/proc/loadavg``)."""
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "n/a"


def filter_share(args) -> dict:
    import numpy as np
    import rasterio
    import torch

    import lczmap.predict.kernel as kernel
    from lczmap.predict import load_model, predict_scene
    from lczmap.speckle import GRD_LOOKS

    torch.set_num_threads(args.threads)
    base = _baseline_speckle(args.baseline)
    model = load_model(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    working = kernel.filter_block
    blocks: list[torch.Tensor] = []
    spent = [0.0]

    def timed(impl):
        def filter_block(x, m, plan):
            t0 = time.perf_counter()
            if impl is None:
                y = working(x, m, plan)
            elif plan.filtering:
                y = impl.filter_channels(x, m.band_set, looks=GRD_LOOKS)
            else:
                y = x
            spent[0] += time.perf_counter() - t0
            if plan.filtering and len(blocks) < 64 and impl is None:
                blocks.append(x.clone())
            return y

        return filter_block

    variants = {"baseline": (timed(base), None), "working": (timed(None), None), "none": (timed(None), "none")}
    names = list(variants)
    runs: dict[str, list[dict]] = {k: [] for k in names}
    result: dict = {"scene": str(args.scene), "model": str(args.model), "baseline": args.baseline, "threads": args.threads}
    result["load_before"] = _loadavg()
    maps = {}
    try:
        for _ in range(args.warmup):  # not counted: the process's first predict pays its start-up
            kernel.filter_block = working
            predict_scene(args.scene, out / "lcz_warmup.tif", model, device="cpu", overwrite=True, threads=args.threads)
        blocks.clear()
        for r in range(args.rounds):
            order = names[r % 3 :] + names[: r % 3]
            for name in order:
                fn, speckle = variants[name]
                kernel.filter_block = fn
                spent[0] = 0.0
                lcz = out / f"lcz_{name}.tif"
                t0 = time.perf_counter()
                res = predict_scene(
                    args.scene, lcz, model, device="cpu", speckle_filter=speckle, overwrite=True, threads=args.threads
                )
                wall = time.perf_counter() - t0
                compute = res.timings.compute or float("nan")
                runs[name].append({"wall_s": wall, "compute_s": compute, "filter_s": spent[0], "share": spent[0] / compute})
                print(name, json.dumps(runs[name][-1]), flush=True)
                with rasterio.open(lcz) as src:
                    maps[name] = src.read(1)
    finally:
        kernel.filter_block = working
    result["load_after"] = _loadavg()
    result["rounds"] = runs
    for name in names:
        rs = runs[name]
        result[name] = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
    result["filter_speedup"] = result["baseline"]["filter_s"] / result["working"]["filter_s"]
    result["predict_cost_of_filter"] = result["working"]["wall_s"] / result["none"]["wall_s"] - 1
    result["baseline_predict_cost_of_filter"] = result["baseline"]["wall_s"] / result["none"]["wall_s"] - 1
    result["same_map"] = bool(np.array_equal(maps["baseline"], maps["working"]))
    from lczmap.speckle import filter_channels

    same = []
    for b in blocks:
        new, old = filter_channels(b, model.band_set, looks=GRD_LOOKS), base.filter_channels(b, model.band_set, looks=GRD_LOOKS)
        ints = {4: torch.int32, 8: torch.int64}[new.element_size()]
        same.append(new.dtype == old.dtype and torch.equal(new.view(ints), old.view(ints)))
    result["blocks"] = len(blocks)
    result["same_bits"] = bool(blocks) and all(same)
    # the filter alone on the same blocks, in this process (warm memory), rounds alternating
    alone: dict[str, list[float]] = {"baseline": [], "working": []}
    for r in range(args.rounds):
        for name in ("baseline", "working") if r % 2 == 0 else ("working", "baseline"):
            fc = base.filter_channels if name == "baseline" else filter_channels
            t0 = time.perf_counter()
            for b in blocks:
                fc(b, model.band_set, looks=GRD_LOOKS)
            alone[name].append(time.perf_counter() - t0)
    result["filter_alone_s"] = {k: statistics.median(v) for k, v in alone.items()}
    result["filter_alone_speedup"] = result["filter_alone_s"]["baseline"] / result["filter_alone_s"]["working"]
    # the first call in a fresh process (as a one-tile predict from the CLI pays it), alternating
    if blocks:
        saved = out / "block.pt"
        torch.save(blocks[0], saved)
        fresh: dict[str, list[dict]] = {"baseline": [], "working": []}
        for r in range(args.rounds):
            for name in ("baseline", "working") if r % 2 == 0 else ("working", "baseline"):
                cmd = [sys.executable, __file__, "first-call", name, str(saved), "--baseline", args.baseline]
                cmd += ["--model", str(args.model), "--threads", str(args.threads)]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                fresh[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
        result["fresh_process"] = fresh
    return result


def first_call(args) -> dict:
    """In this (fresh) process: a small call of the filter, then the first and second call on
    the saved block, in seconds; the baseline revision's filter or the working tree's."""
    import torch

    from lczmap.predict import load_model
    from lczmap.speckle import GRD_LOOKS

    torch.set_num_threads(args.threads)
    if args.impl == "baseline":
        impl = _baseline_speckle(args.baseline)
    else:
        import lczmap.speckle as impl
    band = load_model(args.model).band_set
    block = torch.load(args.block, weights_only=True)
    impl.filter_channels(torch.rand(block.shape[0], 20, 20), band, looks=GRD_LOOKS)
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        impl.filter_channels(block, band, looks=GRD_LOOKS)
        times.append(time.perf_counter() - t0)
    return {"first_s": times[0], "second_s": times[1]}


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


def one_run(args) -> dict:
    """One ``predict_scene`` in this (fresh) process: seconds, CPU seconds and minor page faults."""
    import resource

    import torch

    from lczmap.predict import load_model, predict_scene

    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    kw = {"device": "cpu", "threads": args.threads, "overwrite": True}
    if args.filter != "default":
        kw["speckle_filter"] = args.filter
    before, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    res = predict_scene(args.scene, args.out_tif, model, **kw)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "filter": args.filter,
        "wall_s": wall,
        "user_s": after.ru_utime - before.ru_utime,
        "sys_s": after.ru_stime - before.ru_stime,
        "minor_faults": after.ru_minflt - before.ru_minflt,
        "windows": res.n_windows,
    }


def end_to_end(args) -> dict:
    """Predict with the model's filter against ``none``, fresh processes, rounds alternating."""
    runs: dict[str, list[dict]] = {"default": [], "none": []}
    load_before = open("/proc/loadavg").read().split()[:3]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for side in ("default", "none") if r % 2 == 0 else ("none", "default"):
                cmd = [sys.executable, __file__, "one-run", side, "--model", str(args.model), "--scene", str(args.scene)]
                cmd += ["--threads", str(args.threads), "--out-tif", str(Path(tmp) / f"{side}.tif")]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    sys.exit(f"bench_speckle: a {side} run failed:\n{done.stderr[-2000:]}")
                runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(json.dumps(runs[side][-1]), flush=True)
    measures = ("wall_s", "user_s", "sys_s", "minor_faults")
    med = {k: {m: statistics.median(x[m] for x in v) for m in measures} for k, v in runs.items()}
    return {
        "scene": str(args.scene),
        "model": str(args.model),
        "threads": args.threads,
        "load_before": load_before,
        "load_after": open("/proc/loadavg").read().split()[:3],
        "median": med,
        "filter_share_of_predict": 1.0 - med["none"]["wall_s"] / med["default"]["wall_s"],
        "runs": runs,
    }


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
    f = sub.add_parser("filter")
    demo = Path("/tmp/pictures_demo/lczmap-demo")
    f.add_argument("--baseline", default="cc46d80", help="git revision whose lczmap/speckle.py is the baseline")
    f.add_argument("--model", type=Path, default=demo / "model.safetensors", help="a checkpoint (the demo's)")
    f.add_argument("--scene", type=Path, default=demo / "scene_grd.tif", help="a scene predict reads (the demo's)")
    f.add_argument("--rounds", type=int, default=3)
    f.add_argument("--threads", type=int, default=1)
    f.add_argument("--warmup", type=int, default=1, help="untimed predict runs first (default 1)")
    f.add_argument("--out", default="/tmp/bench_speckle_filter")
    e = sub.add_parser("endtoend")
    e.add_argument("--model", type=Path, default=demo / "model.safetensors", help="a checkpoint (the demo's)")
    e.add_argument("--scene", type=Path, default=demo / "scene_grd.tif", help="a scene predict reads (the demo's)")
    e.add_argument("--rounds", type=int, default=5)
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--out", default="/tmp/bench_speckle_endtoend")
    one = sub.add_parser("one-run", help="(used by endtoend) one predict in this process")
    one.add_argument("filter", choices=("default", "none"))
    one.add_argument("--model", type=Path, required=True)
    one.add_argument("--scene", type=Path, required=True)
    one.add_argument("--threads", type=int, default=1)
    one.add_argument("--out-tif", type=Path, required=True)
    fc = sub.add_parser("first-call", help="(used by filter) one filter's first calls in this process")
    fc.add_argument("impl", choices=("baseline", "working"))
    fc.add_argument("block", type=Path)
    fc.add_argument("--baseline", default="cc46d80")
    fc.add_argument("--model", type=Path, default=demo / "model.safetensors")
    fc.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.cmd == "first-call":
        print(json.dumps(first_call(args)))
        return
    if args.cmd == "one-run":
        print(json.dumps(one_run(args)))
        return
    if args.cmd in ("filter", "endtoend"):
        for p in (args.model, args.scene):
            if not Path(p).exists():
                sys.exit(f"bench_speckle: {p} not found: make the demo (python -m lczmap demo DIR) and pass --model/--scene")
    result = {"speed": speed, "agreement": agreement, "filter": filter_share, "endtoend": end_to_end}[args.cmd](args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_speckle.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

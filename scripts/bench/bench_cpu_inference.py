#!/usr/bin/env python
"""CPU inference: the network run as it is vs lczmap's inference-only copy
(:func:`lczmap.models.inference.cpu_inference_network`: batch norm folded into the convolutions,
channels-last memory where it pays, sub-batches), side by side in ONE process, rounds alternating
and the side that goes first swapped every round, so that a shared, loaded machine weighs on both
alike. Ratios are the figures; absolute windows/s depend on the load (printed from os.getloadavg()).

For the model given (``--model``, e.g. the demo's batch-norm ``model.safetensors``) and, unless
``--skip-instance``, an instance-norm network of the same architecture and input statistics
(untrained weights: the speed does not depend on them), it times:

  model   the forward pass alone on ``--windows`` windows as predict feeds them to the model (taken
          from one predict run of the scene: speckle-filtered, nodata filled), in batches of
          predict's CPU batch size; windows/s, wall and CPU ratio, the largest logit difference,
          the share of windows with the same class;
  predict ``lczmap.predict_scene`` end to end on ``--scene`` with ``Model(..., cpu_inference=False)``
          (the network as it is) and the default ``Model`` (the copy, built inside the run as a
          user's run builds it); windows/s, wall and CPU ratio, pixels with the same class,
          nodata identical.

``--baseline REV`` instead times predict end to end against another revision of lczmap (e.g. the
issue's db0d4e0): each run is a fresh process, the baseline's from ``git archive REV lczmap`` and
the working tree's, rounds alternating and the side that goes first swapped every round; each
process times ``predict_scene`` alone (imports and Python start excluded, the CPU copy's build
included). The baseline gets the checkpoint without its ``extra.`` tensors (older readers refuse
them; the network is the same), and both sides build the same seeded instance-norm twin. Reported:
windows/s, wall and CPU ratio, pixels with the same class, nodata identical. ``--current REV``
compares with REV's ``git archive`` instead of the working tree.

``--sweep`` instead times, model only, the copy with sub-batches of 16 to 512 windows and in the
other memory layout (CPU seconds, the variants interleaved).

Example (the demo's scene and model: `OMP_NUM_THREADS=1 python -m lczmap -q demo DIR`):
  OMP_NUM_THREADS=1 python scripts/bench/bench_cpu_inference.py --model DIR/model.safetensors \\
      --scene DIR/scene_grd.tif --rounds 3
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

from lczmap.checkpoint import load_checkpoint
from lczmap.models import Architecture, YNet
from lczmap.models.inference import CpuInference, cpu_inference_network, fold_batch_norm
from lczmap.predict import Model, load_model, predict_scene
from lczmap.predict.plan import default_batch_size


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


#: the windows a Recorder was given (module level: Model.on runs a deep copy of the Recorder)
KEPT: list[torch.Tensor] = []


class Recorder(torch.nn.Module):
    """The network as it is, keeping the first ``n`` windows it is given in :data:`KEPT`."""

    def __init__(self, network: torch.nn.Module, n: int):
        super().__init__()
        self.network, self.n = network, n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        have = sum(k.shape[0] for k in KEPT)
        if have < self.n:
            KEPT.append(x[: self.n - have].clone())
        return self.network(x)


def instance_twin(model: Model, checkpoint_path: Path) -> Model:
    """An instance-norm network with the checkpoint's architecture and SAR input statistics."""
    ck = load_checkpoint(checkpoint_path)
    arch = Architecture.from_dict(ck.meta["architecture"])
    torch.manual_seed(0)
    net = YNet(3, model.band_set.n_channels, len(model.codes), "instance", arch)
    std = ck.sar_network().encoder.standardize
    net.sar_encoder.standardize.set_stats(std.mean, std.std)
    return Model(net.sar_network().eval(), model.codes, model.band_set, model.fill, name="instance-norm twin")


def predict_windows(model: Model, scene: Path, n: int, workdir: Path, threads: int) -> torch.Tensor:
    KEPT.clear()
    m = Model(Recorder(model.network, n), model.codes, model.band_set, model.fill, cpu_inference=False)
    predict_scene(scene, workdir / "record.tif", m, device="cpu", threads=threads, overwrite=True)
    return torch.cat(KEPT)


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def bench_model(model: Model, x: torch.Tensor, rounds: int, batch: int) -> dict:
    """Each round runs all of ``x`` through both networks batch by batch, the two sides
    interleaved a batch at a time (the side that goes first alternating), so that a change in
    the machine's load between batches weighs on both alike."""
    plain = copy.deepcopy(model.network).eval()
    fast = cpu_inference_network(model.network)
    nets = {"plain": plain, "copy": fast}
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "copy": []}
    outs: dict[str, list[torch.Tensor]] = {"plain": [], "copy": []}
    with torch.inference_mode():
        for net in nets.values():  # warm both (allocator, oneDNN primitives)
            net(x[:batch])
        for r in range(rounds):
            spent = {"plain": [0.0, 0.0], "copy": [0.0, 0.0]}
            for j, i in enumerate(range(0, x.shape[0], batch)):
                order = ("plain", "copy") if (r + j) % 2 == 0 else ("copy", "plain")
                for side in order:
                    out, wall, cpu = timed(lambda side=side, i=i: nets[side](x[i : i + batch]))
                    spent[side][0] += wall
                    spent[side][1] += cpu
                    if r == 0:
                        outs[side].append(out)
            for side in nets:
                times[side].append((spent[side][0], spent[side][1]))
    a, b = torch.cat(outs["plain"]), torch.cat(outs["copy"])
    return summary(times, x.shape[0]) | {
        "max_logit_diff": float((a - b).abs().max()),
        "same_class": float((a.argmax(1) == b.argmax(1)).float().mean()),
    }


def bench_sweep(model: Model, x: torch.Tensor, rounds: int, batch: int, sizes: list[int]) -> dict:
    """CPU seconds (median of ``rounds``, the variants interleaved) of ``x`` in batches of
    ``batch`` through the network as it is and through the folded copy with each sub-batch size in
    ``sizes``, in the layout the copy picks and, at 64, in the other layout."""
    plain = copy.deepcopy(model.network).eval()
    picked = cpu_inference_network(model.network)
    variants: dict[str, torch.nn.Module] = {"as it is": plain}
    for n in sizes:
        variants[f"sub-batch {n}"] = CpuInference(picked.network, n, picked.channels_last)
    other = fold_batch_norm(model.network)
    for p in other.parameters():
        p.requires_grad_(False)
    variants[f"sub-batch 64, {'NCHW' if picked.channels_last else 'channels-last'}"] = CpuInference(
        other, 64, not picked.channels_last
    )
    spent: dict[str, list[float]] = {k: [] for k in variants}
    with torch.inference_mode():
        for net in variants.values():
            net(x[:batch])
        for r in range(rounds):
            names = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in names:
                _, _, cpu = timed(lambda name=name: [variants[name](x[i : i + batch]) for i in range(0, x.shape[0], batch)])
                spent[name].append(cpu)
    base = statistics.median(spent["as it is"])
    return {k: {"cpu_s": statistics.median(v), "ratio": base / statistics.median(v)} for k, v in spent.items()}


def bench_predict(model: Model, scene: Path, rounds: int, workdir: Path, threads: int, speckle: str | None) -> dict:
    kw: dict = {"device": "cpu", "threads": threads, "overwrite": True}
    if speckle:
        kw["speckle_filter"] = speckle
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "copy": []}
    windows = 0
    for r in range(rounds):
        order = ("plain", "copy") if r % 2 == 0 else ("copy", "plain")
        for side in order:
            # a fresh Model each run, as a user's run loads one: the copy is built inside the run
            m = Model(model.network, model.codes, model.band_set, model.fill, cpu_inference=side == "copy")
            res, wall, cpu = timed(lambda m=m, side=side: predict_scene(scene, workdir / f"{side}.tif", m, **kw))
            times[side].append((wall, cpu))
            windows = res.n_windows
    with rasterio.open(workdir / "plain.tif") as a, rasterio.open(workdir / "copy.tif") as b:
        pa, pb = a.read(1), b.read(1)
    valid = pa != 0
    return summary(times, windows) | {
        "pixels": int(pa.size),
        "same_class": float((pa == pb).mean()),
        "nodata_identical": bool(np.array_equal(pa == 0, pb == 0)),
        "valid_pixels": int(valid.sum()),
    }


#: run in a fresh process with PYTHONPATH set to one lczmap: argv = model scene out norm threads speckle
DRIVER = """
import json, sys, time
import torch
from lczmap.checkpoint import load_checkpoint
from lczmap.models import Architecture, YNet
from lczmap.predict import Model, load_model, predict_scene
model_path, scene, out, norm, threads, speckle = sys.argv[1:7]
torch.set_num_threads(int(threads))
m = load_model(model_path)
if norm == "instance":
    ck = load_checkpoint(model_path)
    torch.manual_seed(0)
    net = YNet(3, m.band_set.n_channels, len(m.codes), "instance", Architecture.from_dict(ck.meta["architecture"]))
    std = ck.sar_network().encoder.standardize
    net.sar_encoder.standardize.set_stats(std.mean, std.std)
    m = Model(net.sar_network().eval(), m.codes, m.band_set, m.fill)
kw = {"device": "cpu", "threads": int(threads), "overwrite": True}
if speckle != "-":
    kw["speckle_filter"] = speckle
w, c = time.perf_counter(), time.process_time()
res = predict_scene(scene, out, m, **kw)
print(json.dumps({"wall": time.perf_counter() - w, "cpu": time.process_time() - c, "windows": res.n_windows}))
"""


def stripped_checkpoint(src: Path, dst: Path) -> Path:
    """``src`` without its ``extra.`` tensors (an EO reference, which older readers refuse)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("extra.")}
        save_file(tensors, str(dst), metadata=f.metadata())
    return dst


def archive(rev: str, dst: Path) -> Path:
    """``git archive REV lczmap`` of this repository, extracted into ``dst`` (once)."""
    if not dst.exists():
        dst.mkdir()
        repo = Path(__file__).resolve().parents[2]
        tar = subprocess.run(["git", "-C", str(repo), "archive", rev, "lczmap"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(dst)], input=tar.stdout, check=True)
    return dst


def current_tree(args: argparse.Namespace, work: Path) -> Path:
    """The lczmap the baseline is compared with: the working tree, or ``--current REV``."""
    return archive(args.current, work / "current") if args.current else Path(__file__).resolve().parents[2]


def bench_baseline(args: argparse.Namespace, norm: str, work: Path) -> dict:
    """Predict end to end, the baseline revision against the working tree, fresh processes."""
    base_dir = archive(args.baseline, work / "baseline")
    if not (work / "baseline_model.safetensors").exists():
        stripped_checkpoint(args.model, work / "baseline_model.safetensors")
    sides = {
        "plain": (str(base_dir), work / "baseline_model.safetensors"),
        "copy": (str(current_tree(args, work)), args.model),
    }
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "copy": []}
    windows = 0
    for r in range(args.rounds):
        order = ("plain", "copy") if r % 2 == 0 else ("copy", "plain")
        for side in order:
            path, model = sides[side]
            env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS=str(args.threads))
            cmd = [sys.executable, "-c", DRIVER, str(model), str(args.scene), str(work / f"{side}_{norm}.tif"), norm]
            cmd += [str(args.threads), args.speckle_filter or "-"]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work)
            if done.returncode:
                raise SystemExit(f"{side} side ({path}) failed:\n{done.stderr[-3000:]}")
            got = json.loads(done.stdout.strip().splitlines()[-1])
            times[side].append((got["wall"], got["cpu"]))
            windows = got["windows"]
    with rasterio.open(work / f"plain_{norm}.tif") as a, rasterio.open(work / f"copy_{norm}.tif") as b:
        pa, pb = a.read(1), b.read(1)
    return summary(times, windows) | {
        "pixels": int(pa.size),
        "same_class": float((pa == pb).mean()),
        "nodata_identical": bool(np.array_equal(pa == 0, pb == 0)),
    }


def summary(times: dict[str, list[tuple[float, float]]], windows: int) -> dict:
    wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    per_round = [p[0] / c[0] for p, c in zip(times["plain"], times["copy"])]
    return {
        "windows": windows,
        "plain_windows_per_s": windows / wall["plain"],
        "copy_windows_per_s": windows / wall["copy"],
        "wall_ratio": wall["plain"] / wall["copy"],
        "cpu_ratio": cpu["plain"] / cpu["copy"],
        "wall_ratio_per_round": per_round,
    }


def show(name: str, r: dict) -> None:
    rounds = ", ".join(f"{v:.2f}" for v in r["wall_ratio_per_round"])
    same = f"same class {100 * r['same_class']:.3f} %"
    if "max_logit_diff" in r:
        same += f", largest logit difference {r['max_logit_diff']:.1e}"
    if "nodata_identical" in r:
        same += f" of {r['pixels']} pixels, nodata identical: {r['nodata_identical']}"
    print(
        f"{name}: {r['windows']} windows; as it is {r['plain_windows_per_s']:,.0f} windows/s, copy "
        f"{r['copy_windows_per_s']:,.0f} windows/s; wall ratio {r['wall_ratio']:.2f}x (rounds {rounds}), "
        f"CPU ratio {r['cpu_ratio']:.2f}x; {same}; load {r['load_before']} -> {r['load_after']}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="a checkpoint (e.g. the demo's model.safetensors)")
    ap.add_argument("--scene", type=Path, required=True, help="a scene predict reads (e.g. the demo's scene_grd.tif)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per measure (default 3)")
    ap.add_argument("--windows", type=int, default=4096, help="windows for the model-only measure (default 4096)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads on both sides (default 1)")
    ap.add_argument("--speckle-filter", default=None, help="predict's --speckle-filter (default: the model's)")
    ap.add_argument("--skip-predict", action="store_true", help="only the model-only measure")
    ap.add_argument("--skip-instance", action="store_true", help="leave the instance-norm network out")
    ap.add_argument(
        "--sweep", action="store_true", help="instead: model-only CPU time for sub-batches of 16-512 and the other memory layout"
    )
    ap.add_argument(
        "--baseline", default=None, metavar="REV", help="instead: predict end to end at git revision REV vs the working tree"
    )
    ap.add_argument("--current", default=None, metavar="REV", help="with --baseline: compare with REV, not the working tree")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    if not args.model.is_file() or not args.scene.exists():
        ap.error("--model and --scene must exist: make them with `lczmap demo DIR`")

    torch.set_num_threads(args.threads)
    batch = default_batch_size("cpu")
    cpu_name = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(
        f"torch {torch.__version__}, {args.threads} torch thread(s), {os.cpu_count()} cores ({cpu_name}), "
        f"batch {batch}, load {load()}",
        flush=True,
    )
    if args.baseline:
        results_b: dict = {"load_start": load(), "threads": args.threads, "cpu": cpu_name, "baseline": args.baseline}
        with tempfile.TemporaryDirectory() as tmp:
            for norm in ["batch"] + ([] if args.skip_instance else ["instance"]):
                lb = load()
                r = bench_baseline(args, norm, Path(tmp)) | {"load_before": lb, "load_after": load()}
                name = "model" if norm == "batch" else "instance-norm twin"
                other = args.current or "the working tree"
                show(f"{name}, predict end to end, {args.baseline} ('as it is') vs {other} ('copy')", r)
                results_b[f"{name} baseline"] = r
        if args.json:
            args.json.write_text(json.dumps(results_b, indent=1))
        return
    base = load_model(args.model)
    models = {"model": base}
    if not args.skip_instance:
        models["instance-norm twin"] = instance_twin(base, args.model)
    results: dict = {"load_start": load(), "threads": args.threads, "cpu": cpu_name, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        x = predict_windows(base, args.scene, args.windows, work, args.threads)
        for name, m in models.items():
            if args.sweep:
                lb = load()
                r = bench_sweep(m, x, args.rounds, batch, [16, 32, 64, 128, 512])
                print(f"{name}, model only, CPU seconds for {x.shape[0]} windows (load {lb} -> {load()}):", flush=True)
                for k, v in r.items():
                    print(f"  {k:28s} {v['cpu_s']:7.2f} s  {v['ratio']:.2f}x", flush=True)
                results[f"{name} sweep"] = r
                continue
            lb = load()
            r = bench_model(m, x, args.rounds, batch)
            r |= {"load_before": lb, "load_after": load()}
            show(f"{name}, model only", r)
            results[f"{name} model"] = r
            if not args.skip_predict:
                lb = load()
                r = bench_predict(m, args.scene, args.rounds, work, args.threads, args.speckle_filter)
                r |= {"load_before": lb, "load_after": load()}
                show(f"{name}, predict end to end", r)
                results[f"{name} predict"] = r
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

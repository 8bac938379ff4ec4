"""Fusion evidence for `lczmap mosaic` (issue #23): agreement with the twin's truth for 1, 2, 4 and 8
acquisitions x {best single date, fusion ``probability``, fusion ``composite``}, on the demo city
(seed 0) and other twin cities (seeds 1-6: each its own radar calibration), with the demo model.

Each city is :func:`lczmap.twin.write_acquisitions` (8 dates cycling through 2 ascending and 2
descending relative orbits, independent speckle, per-date radiometry, offset footprints, one
truth map). The first N acquisitions are mapped one by one with ``predict_scene`` (the single
dates) and together with ``predict_mosaic`` (both fusions). All maps are compared with the truth
on the truth's 100 m grid (nearest; the twin's maps lie on it), the way the demo scores its map
(:func:`lczmap.demo.map_agreement`: the share of cells where both have a class and agree), on the
cells that all N acquisitions map (``core``: like for like), and the fused maps also on every cell
they map (``union``). "best single" is the best of the N dates on the core (chosen with the truth:
an upper bound on any one date a user could pick).

    python scripts/bench/mosaic_evidence.py /tmp/mosaic-evidence --model lczmap-demo/model.safetensors

Without ``--model`` the demo is run first (``lczmap demo``: its model, about 15 minutes on two
busy cores, not counted in the evidence's own time). Writes ``mosaic_evidence.json`` and
``mosaic_evidence.md`` (the tables) in OUT.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

FUSIONS = ("probability", "composite")


def _on_truth_grid(path: Path, truth: dict) -> np.ndarray:
    """The LCZ codes of ``path`` on the truth's grid (nearest; 0 where it has none)."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    out = np.zeros(truth["shape"], np.uint8)
    with rasterio.open(path) as src:
        t = src.transform
        off = ((t.c - truth["transform"].c) / 100.0, (truth["transform"].f - t.f) / 100.0)
        if src.crs != truth["crs"] or abs(t.a - 100) > 1e-6 or any(abs(v - round(v)) > 1e-6 for v in off):
            print(f"  note: {path.name} is not on the truth's 100 m grid; resampled (nearest)", flush=True)
        reproject(
            rasterio.band(src, 1),
            out,
            dst_transform=truth["transform"],
            dst_crs=truth["crs"],
            dst_nodata=0,
            resampling=Resampling.nearest,
        )
    return out


def _agree(a: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    where = where & (a > 0) & (truth > 0)
    return float((a[where] == truth[where]).mean()) if where.any() else float("nan")


def _demo_model(out: Path) -> Path:
    from lczmap.demo import run_demo

    print("no --model: running the demo for its model (lczmap demo)", flush=True)
    return Path(run_demo(out / "demo", seed=0).outputs["checkpoint"])


def city(out: Path, seed: int, model: Path, size: tuple[int, int], dates: list[int], workers: int) -> dict:
    import rasterio

    from lczmap.mosaic import predict_mosaic
    from lczmap.predict import predict_scene
    from lczmap.twin import make_cities, write_acquisitions

    t0 = time.perf_counter()
    folder = out / f"city{seed}"
    acq = write_acquisitions(folder / "acquisitions", max(dates), size=size, seed=seed, overwrite=True)
    with rasterio.open(acq.truth) as src:
        truth = {"codes": src.read(1), "transform": src.transform, "crs": src.crs, "shape": src.shape}
    singles = []
    for i, scene in enumerate(acq.scenes):
        r = predict_scene(str(scene), folder / f"single{i}.tif", model, device="cpu", overwrite=True)
        singles.append(_on_truth_grid(r.out, truth))
    calib = make_cities(1, seed, "scene", stream=99)[0]  # the city's radar calibration (lczmap.twin.scene)
    result: dict = {"seed": seed, "sar_gain_db": calib.sar_gain_db, "vh_offset_db": calib.vh_offset_db, "dates": {}}
    codes = truth["codes"]
    for n in dates:
        core = (codes > 0) & np.all([s > 0 for s in singles[:n]], axis=0)
        single = [_agree(s, codes, core) for s in singles[:n]]
        row: dict = {
            "core_cells": int(core.sum()),
            "single": single,
            "best_single": max(single),
            "mean_single": float(np.mean(single)),
            "passes": [a.pass_ for a in acq.acquisitions[:n]],
        }
        for fusion in FUSIONS:
            tf = time.perf_counter()
            r = predict_mosaic(
                [str(p) for p in acq.scenes[:n]],
                folder / f"{fusion}{n}.tif",
                model,
                fusion=fusion,
                device="cpu",
                workers=workers,
                overwrite=True,
            )
            fused = _on_truth_grid(r.out, truth)
            row[fusion] = _agree(fused, codes, core)
            row[f"{fusion}_union"] = _agree(fused, codes, fused > 0)
            row[f"{fusion}_union_cells"] = int(((fused > 0) & (codes > 0)).sum())
            row[f"{fusion}_seconds"] = time.perf_counter() - tf
        result["dates"][n] = row
        print(
            f"city {seed} N={n}: best single {row['best_single']:.3f} (mean {row['mean_single']:.3f}), "
            f"probability {row['probability']:.3f}, composite {row['composite']:.3f} "
            f"on {row['core_cells']} cells",
            flush=True,
        )
    result["seconds"] = time.perf_counter() - t0
    return result


def tables(results: list[dict], dates: list[int]) -> str:
    lines = [
        "| city (seed) | gain dB | VH offset dB | N | best single | mean single | probability | composite "
        "| prob. - best | comp. - best | probability, union |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for n in dates:
            r = res["dates"][n]
            lines.append(
                f"| {res['seed']}{' (demo)' if res['seed'] == 0 else ''} | {res['sar_gain_db']:+.2f} | "
                f"{res['vh_offset_db']:+.2f} | {n} | {r['best_single']:.3f} | {r['mean_single']:.3f} | "
                f"{r['probability']:.3f} | {r['composite']:.3f} | {r['probability'] - r['best_single']:+.3f} | "
                f"{r['composite'] - r['best_single']:+.3f} | {r['probability_union']:.3f} |"
            )
    lines += [
        "",
        "| N | best single | probability | composite | prob. - best (min over cities) "
        "| comp. - best (min over cities) | cities where prob. < best | cities where comp. < best |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in dates:
        rows = [res["dates"][n] for res in results]
        best = np.array([r["best_single"] for r in rows])
        cells = [f"{float(np.mean(best)):.3f}"]
        gaps = {}
        for fusion in FUSIONS:
            f = np.array([r[fusion] for r in rows])
            cells.append(f"{float(np.mean(f)):.3f}")
            gaps[fusion] = f - best
        for fusion in FUSIONS:
            cells.append(f"{float(np.mean(gaps[fusion])):+.3f} ({float(np.min(gaps[fusion])):+.3f})")
        for fusion in FUSIONS:
            cells.append(str(int((gaps[fusion] < 0).sum())))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: run the demo for its model)")
    ap.add_argument("--cities", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5, 6], help="city seeds (0: the demo's)")
    ap.add_argument("--size", type=int, nargs=2, default=(300, 360), help="acquisition rows, columns (10 m pixels)")
    ap.add_argument("--dates", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--workers", type=int, default=0, help="predict_mosaic workers (0: in-process, the fastest here)")
    args = ap.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    model = args.model or _demo_model(args.out)
    t0 = time.perf_counter()
    results = [city(args.out, seed, model, tuple(args.size), sorted(args.dates), args.workers) for seed in args.cities]
    summary = {
        "model": str(model),
        "size": list(args.size),
        "dates": sorted(args.dates),
        "workers": args.workers,
        "seconds": time.perf_counter() - t0,
        "cities": results,
    }
    (args.out / "mosaic_evidence.json").write_text(json.dumps(summary, indent=2))
    md = tables(results, sorted(args.dates))
    (args.out / "mosaic_evidence.md").write_text(md)
    print(md)
    print(f"{summary['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()

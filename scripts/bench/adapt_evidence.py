"""Evidence for ``lczmap adapt`` on the twin (run by hand; not part of the tests).

For each seed: write a twin city (``lczmap.twin.write_scene`` with a seed the model never saw),
draw training areas from its truth map the way an expert would (squares of 3 x 3 output pixels
whose truth is one class, one pixel apart, up to N per class; the polygons for 2 are among those
for 5, and those for 5 among those for 10), and measure agreement with truth of the base model,
of ``adapt --method finetune`` and of ``adapt --method swd``, at each N. Agreement is counted on
the output pixels outside every training square of that seed (the largest N), so the three rows
score the same pixels and never the adaptation's own labels.

    python scripts/bench/adapt_evidence.py MODEL OUT_DIR [--seeds 101 102 103] [--polygons 2 5 10]
        [--scene-size 600 720] [--sar-epochs 3] [--unlabelled 2] [--threads 2]

MODEL: a checkpoint trained on the twin with a band set a GRD scene supplies (``lczmap demo``'s
``model.safetensors``: SWD transfer, lee-intensity, all 17 classes). Writes OUT_DIR/results.csv
and prints a Markdown table (mean and standard error over the seeds).
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np


def _agreement(map_path: Path, truth: np.ndarray, exclude: np.ndarray) -> float:
    import rasterio

    with rasterio.open(map_path) as src:
        pred = src.read(1)
    valid = (pred > 0) & (truth > 0) & ~exclude
    return float((pred[valid] == truth[valid]).mean())


def _squares_mask(areas, shape, transform) -> np.ndarray:
    from rasterio.features import geometry_mask

    return geometry_mask(list(areas.geometry), out_shape=shape, transform=transform, invert=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    ap.add_argument("--polygons", type=int, nargs="+", default=[2, 5, 10])
    ap.add_argument("--scene-size", type=int, nargs=2, default=[600, 720])
    ap.add_argument("--sar-epochs", type=int, default=3)
    ap.add_argument("--unlabelled", type=float, default=2.0)
    ap.add_argument("--speckle-filter", default=None, help="as predict applies it (default: what the model's band set expects)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import rasterio
    import torch

    from lczmap.adapt import adapt_model
    from lczmap.adapt.areas import areas_from_map
    from lczmap.predict import PredictOptions, predict_scene
    from lczmap.twin import write_scene

    torch.set_num_threads(args.threads)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    t_all = time.perf_counter()
    predict_opts = {"device": "cpu", "overwrite": True, "speckle_filter": args.speckle_filter}
    for seed in args.seeds:
        folder = out / f"seed{seed}"
        folder.mkdir(exist_ok=True)
        scene, truth_path = write_scene(
            folder / "scene.tif",
            size=tuple(args.scene_size),
            seed=seed,
            kind="grd",
            truth_path=folder / "truth.tif",
            overwrite=True,
        )
        with rasterio.open(truth_path) as src:
            truth, transform = src.read(1), src.transform
        largest = areas_from_map(truth_path, max(args.polygons), size=3, seed=seed)
        exclude = _squares_mask(largest, truth.shape, transform)
        base_map = folder / "base_lcz.tif"
        predict_scene(scene, base_map, args.model, **predict_opts)
        base = _agreement(base_map, truth, exclude)
        for n in args.polygons:
            areas = areas_from_map(truth_path, n, size=3, seed=seed)
            path = folder / f"areas_{n}.gpkg"
            areas.to_file(path, driver="GPKG")
            row = {
                "seed": seed,
                "polygons_per_class": n,
                "polygons": len(areas),
                "classes": int(areas["lcz"].nunique()),
                "base": base,
            }
            for method in ("finetune", "swd"):
                t = time.perf_counter()
                ckpt = folder / f"{method}_{n}.safetensors"
                result = adapt_model(
                    args.model,
                    scene,
                    path,
                    ckpt,
                    method=method,
                    sar_epochs=args.sar_epochs,
                    unlabelled=args.unlabelled,
                    seed=seed,
                    device="cpu",
                    predict=PredictOptions(speckle_filter=args.speckle_filter),
                    overwrite=True,
                )
                lcz = folder / f"{method}_{n}_lcz.tif"
                predict_scene(scene, lcz, ckpt, **predict_opts)
                row[method] = _agreement(lcz, truth, exclude)
                row[f"{method}_s"] = round(time.perf_counter() - t, 1)
                row["patches"] = result.n_labelled
            rows.append(row)
            print(row, flush=True)
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(
        f"\n{len(args.seeds)} seeds, scene {args.scene_size[0]} x {args.scene_size[1]} px, "
        f"{args.sar_epochs} SAR epochs, {args.unlabelled:g} unlabelled per labelled, "
        f"speckle filter {args.speckle_filter or 'default'}: {time.perf_counter() - t_all:.0f} s\n"
    )
    print("| polygons per class | labelled patches | base | finetune | swd | swd - finetune |")
    print("|---|---|---|---|---|---|")

    def ms(values) -> str:
        v = np.asarray(values, float)
        se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
        return f"{v.mean():.3f} ± {se:.3f}"

    for n in args.polygons:
        mine = [r for r in rows if r["polygons_per_class"] == n]
        print(
            f"| {n} | {np.mean([r['patches'] for r in mine]):.0f} | {ms([r['base'] for r in mine])} | "
            f"{ms([r['finetune'] for r in mine])} | {ms([r['swd'] for r in mine])} | "
            f"{ms([r['swd'] - r['finetune'] for r in mine])} |"
        )


if __name__ == "__main__":
    main()

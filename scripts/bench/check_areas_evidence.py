"""Evidence for ``lczmap check-areas`` on the twin (run by hand; not part of the tests).

For each city (a twin scene, ``lczmap.twin.write_scene``, GRD, with a seed the model never saw):
draw training areas from its truth map the way an expert draws them (squares of 3 x 3 output
pixels whose truth is one class, one pixel apart, up to ``--polygons`` per class), then, for each
relabelling, give 10 % of the polygons (``--share``) another class of the city's areas, drawn at
random (a polygon put in the wrong folder), check the areas with
:func:`lczmap.adapt.check_areas` and count how many of the relabelled polygons are flagged.

Recall: relabelled polygons flagged / relabelled polygons. Precision: relabelled polygons flagged
/ polygons flagged. Both for the "another class" flag (the one meant for a wrong label) and for
any flag (the twin's squares are pure, so a "mixed classes" flag of a polygon not relabelled is
a scorer's error); pooled over all runs, and per run. The "another class" flag is also recounted
at other ``--ratios`` from the same probabilities (the layer's ``p_labelled`` and ``p_predicted``).

    OMP_NUM_THREADS=1 python scripts/bench/check_areas_evidence.py OUT_DIR [--model MODEL]
        [--cities 101 102 103] [--relabellings 3] [--share 0.1] [--polygons 10]
        [--scene-size 600 720] [--scorer head] [--ratios 1.5 2 3]

Without ``--model``, trains the quick demo's model (``lczmap.demo.QUICK_DEMO``'s schedule: SWD
transfer, lee-intensity, all 17 classes, batch norm, 600 twin patches, 2 EO + 3 SAR epochs) into
OUT_DIR once. Writes OUT_DIR/results.csv (one row per run) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np


def _model(out: Path) -> Path:
    """The quick demo's model, trained once into ``out``."""
    from lczmap.demo import QUICK_DEMO
    from lczmap.train import TrainConfig, train
    from lczmap.twin import write_twin

    ckpt = out / "model.safetensors"
    if ckpt.exists():
        return ckpt
    twin = out / "twin"
    if not twin.exists():
        write_twin(twin, n_train=QUICK_DEMO["n_train"], n_val=300, n_test=300, seed=0)
    cfg = TrainConfig(
        data=str(twin),
        method="swd",
        classes="all",
        labels="all",
        sar_bands="lee-intensity",
        eo_epochs=QUICK_DEMO["eo_epochs"],
        sar_epochs=QUICK_DEMO["sar_epochs"],
        norm="batch",
        device="cpu",
    )
    train(cfg, ckpt)
    return ckpt


def relabel(codes: np.ndarray, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``round(share * n)`` (at least 1) polygons given another class of ``codes``, drawn at
    random; returns the new codes and the mask of the relabelled polygons."""
    n = len(codes)
    wrong = np.zeros(n, bool)
    wrong[rng.choice(n, max(1, int(round(share * n))), replace=False)] = True
    classes = np.unique(codes)
    new = codes.copy()
    for i in np.flatnonzero(wrong):
        new[i] = rng.choice(classes[classes != codes[i]])
    return new, wrong


def scores(flagged: np.ndarray, wrong: np.ndarray) -> tuple[int, int, int]:
    """(relabelled polygons flagged, polygons flagged, relabelled polygons)."""
    return int((flagged & wrong).sum()), int(flagged.sum()), int(wrong.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--cities", type=int, nargs="+", default=[101, 102, 103])
    ap.add_argument("--relabellings", type=int, default=3)
    ap.add_argument("--share", type=float, default=0.1)
    ap.add_argument("--polygons", type=int, default=10, help="squares per class at most")
    ap.add_argument("--scene-size", type=int, nargs=2, default=[600, 720])
    ap.add_argument("--scorer", default="head")
    ap.add_argument("--ratios", type=float, nargs="+", default=[1.5, 2.0, 3.0])
    args = ap.parse_args()

    import torch

    from lczmap.adapt import CheckOptions, check_areas
    from lczmap.adapt.areas import areas_from_map
    from lczmap.adapt.options import AdaptOptions
    from lczmap.twin import write_scene

    torch.set_num_threads(1)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    t_model = time.perf_counter()
    model = args.model or _model(out)
    t_model = time.perf_counter() - t_model
    rows = []
    t_all = time.perf_counter()
    for city in args.cities:
        folder = out / f"city{city}"
        folder.mkdir(exist_ok=True)
        scene, truth = write_scene(
            folder / "scene.tif",
            size=tuple(args.scene_size),
            seed=city,
            kind="grd",
            truth_path=folder / "truth.tif",
            overwrite=True,
        )
        areas = areas_from_map(truth, args.polygons, size=3, seed=city).to_crs("EPSG:4326")
        for r in range(args.relabellings):
            rng = np.random.default_rng([city, r, 0x27])
            codes, wrong = relabel(areas["lcz"].to_numpy(np.int64), args.share, rng)
            frame = areas.assign(lcz=codes)
            options = CheckOptions(scorer=args.scorer, adapt=AdaptOptions(device="cpu", seed=r, sar_epochs=3, unlabelled=1.0))
            t = time.perf_counter()
            result = check_areas(model, scene, frame, folder / f"flags_{r}.gpkg", options=options, overwrite=True)
            seconds = time.perf_counter() - t
            f = result.frame
            another = f["reason"].str.contains("another class").to_numpy(bool)
            row = {
                "city": city,
                "relabelling": r,
                "polygons": len(f),
                "classes": int(f["lcz"].nunique()),
                "relabelled": int(wrong.sum()),
                "seconds": round(seconds, 1),
            }
            row["another_hit"], row["another_flags"], _ = scores(another, wrong)
            row["any_hit"], row["any_flags"], _ = scores(f["flag"].to_numpy(bool), wrong)
            row["mixed_flags"] = int(f["reason"].str.contains("mixed classes").sum())
            scored = ~f["detail"].str.contains("not scored").to_numpy(bool) & f["windows"].to_numpy() > 0
            p_lab, p_pred = f["p_labelled"].to_numpy(float), f["p_predicted"].to_numpy(float)
            other = f["predicted"].to_numpy() != f["lcz"].to_numpy()
            for ratio in args.ratios:
                at = scored & other & (p_pred >= ratio * p_lab)
                row[f"hit_{ratio:g}"], row[f"flags_{ratio:g}"], _ = scores(at, wrong)
            rows.append(row)
            print(row, flush=True)
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    def pooled(hit: str, flags: str) -> str:
        h, fl, n = (sum(r[k] for r in rows) for k in (hit, flags, "relabelled"))
        return f"{h} of {n} relabelled among {fl} flags: recall {h / n:.2f}, precision {h / max(fl, 1):.2f}"

    per_run = [r["another_hit"] / r["relabelled"] for r in rows]
    print(
        f"\n{len(args.cities)} cities x {args.relabellings} relabellings, scene {args.scene_size[0]} x {args.scene_size[1]} px, "
        f"{args.share:.0%} relabelled, scorer {args.scorer}; model {model} ({t_model:.0f} s); "
        f"checks {time.perf_counter() - t_all:.0f} s "
        f"(per check {np.mean([r['seconds'] for r in rows]):.1f} s)\n"
    )
    print("| flag | result |\n|---|---|")
    print(f"| another class (ratio {CheckOptions().ratio:g}, the default) | {pooled('another_hit', 'another_flags')} |")
    print(f"| any flag | {pooled('any_hit', 'any_flags')} |")
    for ratio in args.ratios:
        print(f"| another class, ratio {ratio:g} | {pooled(f'hit_{ratio:g}', f'flags_{ratio:g}')} |")
    print(f"\nper-run recall of 'another class': {min(per_run):.2f} to {max(per_run):.2f}")


if __name__ == "__main__":
    main()

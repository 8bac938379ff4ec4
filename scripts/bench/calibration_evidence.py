"""Evidence for calibrated probabilities on the twin (run by hand; not part of the tests).

Trains the quick demo's model (SWD transfer, lee-intensity, all 17 classes, batch norm; the twin's
validation split fits the temperature), then measures the top-label ECE (15 equal-width bins,
lczmap.calibration) uncalibrated (T = 1) and calibrated:

1. on the twin's test split (``lczmap evaluate``: T fitted on validation, measured on test);
2. on the scene's map against its ground truth (every valid output pixel; the map's confidence);
3. after ``lczmap adapt --holdout 0.3`` (T refitted on the held-out training areas): at the held-out
   areas (where T was fitted: in-sample for T), and at a second, independent set of training areas
   drawn from the truth away from the first (neither the adaptation nor T saw them), through
   ``lczmap assess --probabilities``.

    OMP_NUM_THREADS=1 python scripts/bench/calibration_evidence.py OUT_DIR [--n-train 600] [--n-val 600]
        [--n-test 1000] [--eo-epochs 2] [--sar-epochs 3] [--scene-size 600 720] [--seed 0]

The defaults are the quick demo's training (``lczmap.demo.QUICK_DEMO``); ``--eo-epochs 4
--sar-epochs 6`` is the full demo's schedule.

Writes OUT_DIR/calibration.json and the reliability diagrams, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def _uncalibrated(src: Path, dst: Path) -> Path:
    """The same weights without a temperature (what a checkpoint of before reads as)."""
    from lczmap.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(src)
    meta = {k: v for k, v in ck.meta.items() if k != "lczmap_version"}
    meta["calibration"] = None
    return save_checkpoint(dst, ck.model(), meta, overwrite=True)


def _scene_ece(lcz: Path, conf: Path, truth: Path) -> tuple[float, float, int]:
    import rasterio

    from lczmap.calibration import reliability

    with rasterio.open(lcz) as a, rasterio.open(conf) as c, rasterio.open(truth) as t:
        m, p, y = a.read(1), c.read(1), t.read(1)
    ok = (m > 0) & (y > 0) & np.isfinite(p)
    r = reliability(p[ok], m[ok] == y[ok])
    return r.ece, float((m[ok] == y[ok]).mean()), r.n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--n-train", type=int, default=600)
    ap.add_argument("--n-val", type=int, default=600)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--eo-epochs", type=int, default=None)
    ap.add_argument("--sar-epochs", type=int, default=None)
    ap.add_argument("--scene-size", type=int, nargs=2, default=[600, 720])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("note: run with OMP_NUM_THREADS=1 for figures comparable with docs/trust.md")
    import torch

    from lczmap.adapt import adapt_model
    from lczmap.adapt.areas import areas_from_map
    from lczmap.checkpoint import load_checkpoint
    from lczmap.demo import QUICK_DEMO, write_demo_data
    from lczmap.evaluate import evaluate
    from lczmap.maps import assess_map
    from lczmap.predict import predict_scene
    from lczmap.train import TrainConfig, train

    torch.set_num_threads(1)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    files = write_demo_data(
        out, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, scene_size=tuple(args.scene_size), seed=args.seed
    )
    model = out / "model.safetensors"
    if not model.exists():
        cfg = TrainConfig(
            data=str(files["so2sat"]),
            method="swd",
            classes="all",
            labels=min(512, args.n_train // 2),
            seed=args.seed,
            sar_bands="lee-intensity",
            eo_epochs=args.eo_epochs or QUICK_DEMO["eo_epochs"],
            sar_epochs=args.sar_epochs or QUICK_DEMO["sar_epochs"],
            device="cpu",
            norm="batch",
        )
        train(cfg, model, record_last=False)
    raw_model = _uncalibrated(model, out / "model_uncalibrated.safetensors")
    results: dict = {"twin": {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test, "seed": args.seed}}
    results["training"] = {k: load_checkpoint(model).meta["config"].get(k) for k in ("eo_epochs", "sar_epochs", "labels")}
    results["calibration_fit"] = load_checkpoint(model).meta["calibration"]

    # 1. test split
    rep = evaluate(model, files["so2sat"], split="testing", out_dir=out / "evaluation", overwrite=True)
    cal = rep["calibration"]
    results["test_split"] = {
        "n": rep["n"],
        "accuracy": rep["overall_accuracy"],
        "temperature": cal["temperature"],
        "fitted_on": cal["fitted_on"],
        "ece_uncalibrated": cal["ece_uncalibrated"],
        "ece_calibrated": cal["ece_calibrated"],
        "nll_uncalibrated": cal["nll_uncalibrated"],
        "nll_calibrated": cal["nll_calibrated"],
    }

    # 2. the scene against its ground truth
    scene_rows = {}
    for name, ck in (("uncalibrated", raw_model), ("calibrated", model)):
        lcz, conf = out / f"scene_{name}.tif", out / f"scene_{name}_confidence.tif"
        predict_scene(files["scene"], lcz, ck, confidence=conf, device="cpu", overwrite=True)
        scene_rows[name] = _scene_ece(lcz, conf, files["truth"])
    results["scene"] = {k: {"ece": v[0], "accuracy": v[1], "pixels": v[2]} for k, v in scene_rows.items()}

    # 3. adaptation: T on the held-out areas; ECE there and at independent areas
    areas = areas_from_map(files["truth"], 5, size=3, seed=args.seed)
    areas.to_file(out / "areas.gpkg", driver="GPKG")
    other = areas_from_map(files["truth"], 10, size=3, seed=args.seed + 1000)
    taken = areas.union_all()
    other = other[[taken.intersection(g).area == 0 for g in other.geometry]]  # no pixel of a training area
    other.to_file(out / "independent_areas.gpkg", driver="GPKG")
    adapted = out / "adapted.safetensors"
    res = adapt_model(
        model,
        files["scene"],
        out / "areas.gpkg",
        adapted,
        method="finetune",
        sar_epochs=3,
        seed=args.seed,
        device="cpu",
        holdout=0.3,
        holdout_layer=out / "held_out.gpkg",
        overwrite=True,
    )
    acal = load_checkpoint(res.checkpoint).calibration
    raw_adapted = _uncalibrated(adapted, out / "adapted_uncalibrated.safetensors")
    adapt_rows: dict = {"temperature": None if acal is None else acal.temperature, "n_fit": None if acal is None else acal.n}
    for name, ck in (("uncalibrated", raw_adapted), ("calibrated", adapted)):
        lcz, prob = out / f"adapted_{name}.tif", out / f"adapted_{name}_probabilities.tif"
        predict_scene(files["scene"], lcz, ck, probabilities=prob, device="cpu", overwrite=True)
        for where, ref in (("held_out", out / "held_out.gpkg"), ("independent", out / "independent_areas.gpkg")):
            a = assess_map(
                lcz, ref, probabilities=prob, draws=0, reliability_path=out / f"reliability_{where}_{name}.png", overwrite=True
            )
            c = a.extra["calibration"]
            adapt_rows.setdefault(where, {})[name] = {"ece": c["ece"], "accuracy": c["accuracy"], "pixels": c["pixels"]}
    results["adapted"] = adapt_rows
    results["independent_polygons"] = len(other)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "calibration.json").write_text(json.dumps(results, indent=2))

    ts = results["test_split"]
    print(f"| where | n | accuracy | ECE uncalibrated | ECE calibrated (T = {ts['temperature']:.3f}) |")
    print("|---|---|---|---|---|")
    print(f"| twin test split | {ts['n']} | {ts['accuracy']:.3f} | {ts['ece_uncalibrated']:.4f} | {ts['ece_calibrated']:.4f} |")
    s = results["scene"]
    print(
        f"| scene vs truth (all pixels) | {s['calibrated']['pixels']} | {s['calibrated']['accuracy']:.3f} | "
        f"{s['uncalibrated']['ece']:.4f} | {s['calibrated']['ece']:.4f} |"
    )
    for where in ("held_out", "independent"):
        r = adapt_rows[where]
        print(
            f"| adapted, {where.replace('_', '-')} areas (T = {adapt_rows['temperature']:.3f}) | {r['calibrated']['pixels']} | "
            f"{r['calibrated']['accuracy']:.3f} | {r['uncalibrated']['ece']:.4f} | {r['calibrated']['ece']:.4f} |"
        )
    print(f"({results['seconds']} s)")


if __name__ == "__main__":
    main()

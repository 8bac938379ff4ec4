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
        [--n-test 1000] [--eo-epochs 2] [--sar-epochs 3] [--scene-size 600 720] [--seed 0] [--large-test 0]

The defaults are the quick demo's training (``lczmap.demo.QUICK_DEMO``); ``--n-train 2000 --eo-epochs 4
--sar-epochs 6`` is the full demo's schedule. ``--large-test N`` also evaluates on a second twin's
test split of N patches (the same held-out cities; the trained model is reused), whose noise floor
is lower. A rerun into the same OUT_DIR reuses its data and model.

Each ECE comes with its **noise floor**: the ECE a perfectly calibrated model would show on average
with the same number of samples and mean confidence in each bin (each bin's correct count drawn
as Binomial(n_b, conf_b)). The estimator of the ECE is biased upwards at small n; an ECE near its
floor cannot be told from perfect calibration.

Writes OUT_DIR/calibration.json and the reliability diagrams (evaluation*/reliability.png: test split;
reliability_scene.png; reliability_adapted_held_out.png and reliability_adapted_independent.png:
before and after in one diagram), and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from lczmap.calibration import Reliability, write_reliability_diagram


def _uncalibrated(src: Path, dst: Path) -> Path:
    """The same weights without a temperature (what a checkpoint of before reads as)."""
    from lczmap.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(src)
    meta = {k: v for k, v in ck.meta.items() if k != "lczmap_version"}
    meta["calibration"] = None
    return save_checkpoint(dst, ck.model(), meta, overwrite=True)


def noise_floor(rel: dict, draws: int = 4000, seed: int = 0) -> float:
    """The ECE a perfectly calibrated model shows, on average, with the same number of samples per
    bin and the same mean confidences (``rel``: a reliability's ``to_dict()``): each bin's number
    correct drawn as Binomial(n_b, conf_b). A binomial is the most variable sum of Bernoullis with
    that mean, so this is a slight upper bound of the floor with the samples' own confidences."""
    count = np.asarray(rel["count"], dtype=np.int64)
    conf = np.array([0.0 if c is None else c for c in rel["confidence"]], dtype=np.float64)
    rng = np.random.default_rng(seed)
    hits = rng.binomial(count, conf, size=(draws, len(count)))
    return float((np.abs(hits - count * conf).sum(axis=1) / max(int(count.sum()), 1)).mean())


def _curve(rel: dict, ece: float, n: int) -> Reliability:
    """A reliability back from its ``to_dict()`` (to draw two in one diagram)."""

    def arr(key: str) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in rel[key]], dtype=np.float64)

    return Reliability(arr("edges"), np.asarray(rel["count"], np.int64), arr("confidence"), arr("accuracy"), ece, n)


def _scene_ece(lcz: Path, conf: Path, truth: Path) -> dict:
    import rasterio

    from lczmap.calibration import reliability

    with rasterio.open(lcz) as a, rasterio.open(conf) as c, rasterio.open(truth) as t:
        m, p, y = a.read(1), c.read(1), t.read(1)
    ok = (m > 0) & (y > 0) & np.isfinite(p)
    r = reliability(p[ok], m[ok] == y[ok])
    acc = float((m[ok] == y[ok]).mean())
    return {"ece": r.ece, "accuracy": acc, "pixels": r.n, "floor": noise_floor(r.to_dict()), "curve": r}


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
    ap.add_argument(
        "--large-test", type=int, default=0, help="also evaluate on a test split of this many patches (same held-out cities)"
    )
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
    if (out / "scene_grd.tif").exists() and (out / "scene_truth_lcz.tif").exists():  # a rerun: the data of the first run
        files = {"so2sat": out / "so2sat", "scene": out / "scene_grd.tif", "truth": out / "scene_truth_lcz.tif"}
    else:
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
        "floor_uncalibrated": noise_floor(cal["reliability_uncalibrated"]),
        "floor_calibrated": noise_floor(cal["reliability_calibrated"]),
    }
    if args.large_test:  # more test patches of the same held-out cities: a lower noise floor
        from lczmap.twin import write_twin

        big = write_twin(
            out / "so2sat_large_test", n_train=args.n_train, n_val=args.n_val, n_test=args.large_test, seed=args.seed
        )
        rep = evaluate(model, big, split="testing", out_dir=out / "evaluation_large_test", overwrite=True)
        cal = rep["calibration"]
        results["large_test_split"] = {
            "n": rep["n"],
            "accuracy": rep["overall_accuracy"],
            "ece_uncalibrated": cal["ece_uncalibrated"],
            "ece_calibrated": cal["ece_calibrated"],
            "floor_calibrated": noise_floor(cal["reliability_calibrated"]),
        }

    # 2. the scene against its ground truth
    scene_rows = {}
    for name, ck in (("uncalibrated", raw_model), ("calibrated", model)):
        lcz, conf = out / f"scene_{name}.tif", out / f"scene_{name}_confidence.tif"
        predict_scene(files["scene"], lcz, ck, confidence=conf, device="cpu", overwrite=True)
        scene_rows[name] = _scene_ece(lcz, conf, files["truth"])
    write_reliability_diagram(
        out / "reliability_scene.png",
        {
            "uncalibrated (T = 1)": scene_rows["uncalibrated"].pop("curve"),
            f"calibrated (T = {results['test_split']['temperature']:.3f})": scene_rows["calibrated"].pop("curve"),
        },
        f"base model's map against the scene's truth, {scene_rows['calibrated']['pixels']} pixels",
        overwrite=True,
    )
    results["scene"] = scene_rows

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
    curves: dict = {}
    for name, ck in (("uncalibrated", raw_adapted), ("calibrated", adapted)):
        lcz, prob = out / f"adapted_{name}.tif", out / f"adapted_{name}_probabilities.tif"
        predict_scene(files["scene"], lcz, ck, probabilities=prob, device="cpu", overwrite=True)
        for where, ref in (("held_out", out / "held_out.gpkg"), ("independent", out / "independent_areas.gpkg")):
            a = assess_map(
                lcz, ref, probabilities=prob, draws=0, reliability_path=out / f"reliability_{where}_{name}.png", overwrite=True
            )
            c = a.extra["calibration"]
            curves.setdefault(where, {})[name] = _curve(c["reliability"], c["ece"], c["pixels"])
            adapt_rows.setdefault(where, {})[name] = {
                "ece": c["ece"],
                "accuracy": c["accuracy"],
                "pixels": c["pixels"],
                "floor": noise_floor(c["reliability"]),
            }
    results["adapted"] = adapt_rows
    what = {"held_out": "held-out training areas (T fitted here)", "independent": "independent areas (unseen)"}
    for where, pair in curves.items():  # both curves in one diagram
        write_reliability_diagram(
            out / f"reliability_adapted_{where}.png",
            {
                "uncalibrated (T = 1)": pair["uncalibrated"],
                f"calibrated (T = {adapt_rows['temperature']:.3f})": pair["calibrated"],
            },
            f"adapted model at the {what[where]}, {pair['calibrated'].n} pixels",
            overwrite=True,
        )
    results["independent_polygons"] = len(other)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "calibration.json").write_text(json.dumps(results, indent=2))

    ts = results["test_split"]
    print("| where | n | accuracy | ECE uncalibrated | ECE calibrated | noise floor (calibrated) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| twin test split (T = {ts['temperature']:.3f}, from validation) | {ts['n']} | {ts['accuracy']:.3f} | "
        f"{ts['ece_uncalibrated']:.4f} | {ts['ece_calibrated']:.4f} | {ts['floor_calibrated']:.4f} |"
    )
    if "large_test_split" in results:
        lt = results["large_test_split"]
        print(
            f"| twin test split, larger (T = {ts['temperature']:.3f}) | {lt['n']} | {lt['accuracy']:.3f} | "
            f"{lt['ece_uncalibrated']:.4f} | {lt['ece_calibrated']:.4f} | {lt['floor_calibrated']:.4f} |"
        )
    s = results["scene"]
    print(
        f"| scene vs truth, all pixels (T = {ts['temperature']:.3f}) | {s['calibrated']['pixels']} | "
        f"{s['calibrated']['accuracy']:.3f} | {s['uncalibrated']['ece']:.4f} | {s['calibrated']['ece']:.4f} | "
        f"{s['calibrated']['floor']:.4f} |"
    )
    for where in ("held_out", "independent"):
        r = adapt_rows[where]
        print(
            f"| adapted, {where.replace('_', '-')} areas (T = {adapt_rows['temperature']:.3f}) | {r['calibrated']['pixels']} | "
            f"{r['calibrated']['accuracy']:.3f} | {r['uncalibrated']['ece']:.4f} | {r['calibrated']['ece']:.4f} | "
            f"{r['calibrated']['floor']:.4f} |"
        )
    print(f"({results['seconds']} s)")


if __name__ == "__main__":
    main()

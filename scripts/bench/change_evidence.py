"""Change evidence for `lczmap change` (issue #30): spurious change on unchanged cells and change
found, against independent yearly maps, on the twin city over the years
(:func:`lczmap.twin.years.write_years`: 6 years, 3 acquisitions a year, development, densification,
demolition and a reservoir injected into the truth), with the demo model.

Each year's acquisitions are fused with ``predict_mosaic(..., probabilities=...)`` (in-process);
the yearly probability rasters go to ``detect_change``. "independent" is the argmax of each year's
probabilities (the yearly mosaics' own maps), compared year to year. On the truth's 100 m grid
(the maps lie on it), over the cells every year sees:

- spurious change: the share of cells whose truth never changes that show any change between two
  consecutive years (independent maps) or whose consistent sequence changes (``change``);
- recall: the share of cells whose truth changes that show a change whose year is the truth's
  within one year (first change; the class it became not required), and with the class right.

    OMP_NUM_THREADS=1 python scripts/bench/change_evidence.py /tmp/change-evidence --model lczmap-demo/model.safetensors

Without ``--model`` the quick demo is run first for its model (``lczmap.demo.QUICK_DEMO``).
Writes ``change_evidence.json`` and ``change_evidence.md`` in OUT.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _demo_model(out: Path) -> Path:
    from lczmap.demo import QUICK_DEMO, run_demo

    print("no --model: running the quick demo for its model", flush=True)
    return Path(run_demo(out / "demo", seed=0, **QUICK_DEMO).outputs["checkpoint"])


def _read(path: Path) -> tuple[np.ndarray, object, object]:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(), src.transform, src.crs


def city(
    out: Path, seed: int, model: Path, years: int, per_year: int, size: int, stays: list[float], built_to_natural: float
) -> dict:
    from lczmap.change import detect_change
    from lczmap.mosaic import predict_mosaic
    from lczmap.twin.years import write_years

    t0 = time.perf_counter()
    folder = out / f"city{seed}"
    ys = write_years(folder / "years", years=years, per_year=per_year, size=(size, size), seed=seed, overwrite=True)
    probs = []
    for label, scenes in zip(ys.years, ys.scenes):
        p = folder / f"prob_{label}.tif"
        out_map = folder / f"mosaic_{label}.tif"
        predict_mosaic([str(s) for s in scenes], out_map, model, probabilities=p, device="cpu", workers=0, overwrite=True)
        probs.append(p)
    t_map = time.perf_counter() - t0
    truth = np.stack([_read(p)[0][0] for p in ys.truths])
    when, t_transform, _ = _read(ys.change_truth)
    when = when[0].astype(int)
    stack, p_transform, _ = zip(*(_read(p) for p in probs))
    if p_transform[0] != t_transform:
        raise SystemExit(f"the yearly maps lie off the truth's grid: {p_transform[0]} vs {t_transform}")
    import rasterio

    from lczmap.classes import lcz

    with rasterio.open(probs[0]) as src:
        codes = np.array([next(c.code for c in _all() if c.title == d) for d in src.descriptions])
    arr = np.stack(stack)  # (T, K, H, W)
    has = ~np.isnan(arr).any(axis=1)
    indep = np.where(has, codes[np.nan_to_num(arr, nan=-1).argmax(axis=1)], 0)
    seen = (truth > 0).all(axis=0) & has.all(axis=0)
    unchanged, changed = seen & (when == 0), seen & (when > 0)
    final = truth[-1]
    kinds = np.full(when.shape, "", dtype=object)
    for ch in ys.changes:
        r, c = np.array(ch.cells).T
        kinds[r, c] = ch.kind

    def scores(seq: np.ndarray) -> dict:
        steps = seq[1:] != seq[:-1]
        any_change = steps.any(axis=0)
        first = np.where(any_change, steps.argmax(axis=0) + 2, 0)
        hit = any_change & (np.abs(first - when) <= 1)
        flagged = any_change & seen
        return {
            "spurious": float(any_change[unchanged].mean()),
            "precision": float((hit & changed).sum() / flagged.sum()) if flagged.any() else float("nan"),
            "recall": float(hit[changed].mean()),
            "recall_class": float((hit & (seq[-1] == final))[changed].mean()),
            "detected": float(any_change[changed].mean()),
            "agreement": float(np.mean([(seq[t] == truth[t])[seen].mean() for t in range(len(seq))])),
            "found_by_kind": {
                k: f"{int(hit[changed & (kinds == k)].sum())}/{int((changed & (kinds == k)).sum())}"
                for k in sorted({ch.kind for ch in ys.changes})
            },
        }

    res: dict = {
        "seed": seed,
        "cells": int(seen.sum()),
        "unchanged_cells": int(unchanged.sum()),
        "changed_cells": int(changed.sum()),
        "mean_top_probability": float(np.nanmax(arr, axis=1)[:, seen].mean()),
        "changes": [(c.kind, ys.years[c.year], lcz(c.to).label, len(c.cells)) for c in ys.changes],
        "independent": scores(indep),
        "map_seconds": t_map,
        "hmm": {},
    }
    print(f"city {seed}: independent {res['independent']}", flush=True)
    for stay in stays:
        th = time.perf_counter()
        r = detect_change(
            probs,
            folder / f"change_{stay:g}_{built_to_natural:g}",
            dates=[str(y) for y in ys.years],
            stay=stay,
            built_to_natural=built_to_natural,
            overwrite=True,
        )
        seq = np.stack([_read(m)[0][0] for m in r.maps]).astype(int)
        s = scores(seq)
        pc = _read(r.probability)[0][0]
        s["p_change_unchanged"] = float(np.nanmean(pc[unchanged]))
        s["p_change_changed"] = float(np.nanmean(pc[changed]))
        s["auc_p_change"] = auc(pc[changed], pc[unchanged])
        s["ratio"] = s["spurious"] / res["independent"]["spurious"] if res["independent"]["spurious"] else float("nan")
        s["seconds"] = time.perf_counter() - th
        res["hmm"][f"{stay:g}"] = s
        print(f"city {seed} stay {stay:g}: {s}", flush=True)
    res["seconds"] = time.perf_counter() - t0
    return res


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve of a score: the chance that a changed cell scores above an
    unchanged one (ties count a half; Mann-Whitney U over average ranks)."""
    from scipy.stats import rankdata

    pos, neg = positive[np.isfinite(positive)], negative[np.isfinite(negative)]
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def _all() -> tuple:
    from lczmap.classes import LCZ_CLASSES

    return LCZ_CLASSES


def table(results: list[dict], default: float) -> str:
    lines = [
        "| city (seed) | cells (changed) | maps | stay | spurious change | ratio to independent | precision | recall (year +-1) "
        "| recall, class right | agreement with truth | mean P(change): unchanged / changed | AUC of P(change) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        i = res["independent"]
        lines.append(
            f"| {res['seed']} | {res['cells']} ({res['changed_cells']}) | independent | - | {i['spurious']:.3f} | 1 | "
            f"{i['precision']:.2f} | {i['recall']:.3f} | {i['recall_class']:.3f} | {i['agreement']:.3f} | - | - |"
        )
        for stay, s in res["hmm"].items():
            mark = " (default)" if float(stay) == default else ""
            lines.append(
                f"| {res['seed']} | | change | {stay}{mark} | {s['spurious']:.3f} | {s['ratio']:.3f} | {s['precision']:.2f} | "
                f"{s['recall']:.3f} | {s['recall_class']:.3f} | {s['agreement']:.3f} | "
                f"{s['p_change_unchanged']:.3f} / {s['p_change_changed']:.3f} | {s['auc_p_change']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    from lczmap.change.options import DEFAULT_BUILT_TO_NATURAL, DEFAULT_STAY

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: run the quick demo for its model)")
    ap.add_argument("--cities", type=int, nargs="+", default=[1, 0], help="city seeds (1: the default stay's; 0: the demo's)")
    ap.add_argument("--years", type=int, default=6)
    ap.add_argument("--per-year", type=int, default=3)
    ap.add_argument("--size", type=int, default=400, help="acquisition side, 10 m pixels")
    ap.add_argument("--stay", type=float, nargs="+", default=[0.12, 0.15, 0.2, DEFAULT_STAY, 0.5, 0.8])
    ap.add_argument("--built-to-natural", type=float, default=DEFAULT_BUILT_TO_NATURAL, help="the prior's weight of demolition")
    args = ap.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    model = args.model or _demo_model(args.out)
    t0 = time.perf_counter()
    sizes = (args.years, args.per_year, args.size, args.stay, args.built_to_natural)
    results = [city(args.out, s, model, *sizes) for s in args.cities]
    summary = {
        "model": str(model),
        "years": args.years,
        "per_year": args.per_year,
        "size": args.size,
        "built_to_natural": args.built_to_natural,
        "seconds": time.perf_counter() - t0,
        "cities": results,
    }
    (args.out / "change_evidence.json").write_text(json.dumps(summary, indent=2))
    md = table(results, DEFAULT_STAY)
    (args.out / "change_evidence.md").write_text(md)
    print(md)
    print(f"{summary['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()

"""The method study on the So2Sat twin: test accuracy of sar-only, finetune and swd over seeds.

    python scripts/method_evidence.py --twin /tmp/twin3k --out /tmp/evidence.csv \
        --cell main:sar-only,finetune,swd --seeds 0 1 2

Each --cell is NAME:METHODS[:key=value,...] (TrainConfig fields, e.g. norm=batch,labels=32,
swd_lambda=0). Every run trains with the given schedule, evaluates on the twin's testing split
and appends a row to --out (rerunning skips rows already there). Prints mean and standard error
(std / sqrt(n), ddof=1) per cell and method.
"""

from __future__ import annotations

import argparse
import csv
import math
import tempfile
import time
from pathlib import Path

import torch


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--twin", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cell", action="append", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--eo-epochs", type=int, default=10)
    ap.add_argument("--sar-epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from lczmap.evaluate import evaluate
    from lczmap.train import TrainConfig, train

    fields = ["cell", "method", "seed", "test_accuracy", "kappa", "val_accuracy", "seconds", "device", "options"]
    done = set()
    if args.out.exists():
        with args.out.open() as fh:
            done = {(r["cell"], r["method"], r["seed"]) for r in csv.DictReader(fh)}
    else:
        args.out.write_text(",".join(fields) + "\n")
    tmp = Path(tempfile.mkdtemp(prefix="lczmap-evidence-"))
    cells = []
    for spec in args.cell:
        name, methods, *rest = spec.split(":")
        options = dict(kv.split("=", 1) for kv in rest[0].split(",")) if rest and rest[0] else {}
        options = {k: _value(v) for k, v in options.items()}
        cells.append((name, methods.split(","), options))
    for seed in args.seeds:
        for name, methods, options in cells:
            for method in methods:
                if (name, method, str(seed)) in done:
                    continue
                cfg = TrainConfig(data=str(args.twin), method=method, seed=seed, eo_epochs=args.eo_epochs,
                                  sar_epochs=args.sar_epochs, device=args.device, **options)
                t = time.perf_counter()
                result = train(cfg, tmp / f"{name}-{method}-{seed}.safetensors", overwrite=True)
                report = evaluate(result.checkpoint, args.twin, split="testing", device=args.device)
                row = {
                    "cell": name, "method": method, "seed": seed,
                    "test_accuracy": round(report["overall_accuracy"], 4), "kappa": round(report["kappa"], 4),
                    "val_accuracy": result.metrics.get("sar_val_accuracy"),
                    "seconds": round(time.perf_counter() - t, 1),
                    "device": args.device,
                    "options": " ".join(f"{k}={v}" for k, v in options.items()),
                }
                with args.out.open("a", newline="") as fh:
                    csv.DictWriter(fh, fieldnames=fields).writerow(row)
                print(row, flush=True)
    with args.out.open() as fh:
        rows = list(csv.DictReader(fh))
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["cell"], r["method"]), []).append(float(r["test_accuracy"]))
    print("| cell | method | n | test accuracy mean | standard error |")
    print("|---|---|---|---|---|")
    for (cell, method), accs in groups.items():
        n = len(accs)
        mean = sum(accs) / n
        se = math.sqrt(sum((a - mean) ** 2 for a in accs) / (n - 1) / n) if n > 1 else float("nan")
        print(f"| {cell} | {method} | {n} | {mean:.4f} | {se:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Training throughput: samples/s per stage and method on the So2Sat twin.

    python scripts/bench/bench_train.py                      # CPU, 1 thread, 3,000-patch twin
    python scripts/bench/bench_train.py --device cuda --threads 4 --batch-size 256

A "sample" is one patch through one encoder, forward and backward: the EO stage counts EO
patches (twice with --supcon: two views), the SAR stage counts labelled SAR patches, plus for
swd the EO and unlabelled SAR patches of each step (3 x batch per step). Times exclude reading
the data and the per-epoch validation. Test accuracy (twin's testing split) is a sanity check.
Prints a Markdown table and writes JSON with --json.

    python scripts/bench/bench_train.py --project-grid                     # from the H100 figures below
    python scripts/bench/bench_train.py --device cuda --project-grid       # from this run's figures

--project-grid projects the GPU-hours of the paper's full grid (600 cells, lczmap train's default
10 + 10 epochs) on real So2Sat (352,366 training patches, class settings sized by the twin's
class shares): today (one cell per GPU, every cell trains its EO stage) and with shared EO stages
(60 distinct stages for 480 cells), and with several cells per GPU, bounded by the batch-256
throughput (what the GPU does when kept busy).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch


def main(argv=None) -> int:
    from lczmap.models import DEFAULT_ARCHITECTURE

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--twin", type=Path, default=None, help="So2Sat twin folder (default: write one to a temp dir)")
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--classes", default="lowrise")
    ap.add_argument("--labels", default="128")
    ap.add_argument("--methods", nargs="+", default=["sar-only", "finetune", "swd"])
    ap.add_argument("--supcon", action="store_true", help="also time finetune with SupCon")
    ap.add_argument("--norm", default="instance")
    ap.add_argument("--eo-epochs", type=int, default=2)
    ap.add_argument("--sar-epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--width", type=int, default=DEFAULT_ARCHITECTURE.width)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--project-grid", action="store_true", help="project the GPU-hours of the paper's grid")
    args = ap.parse_args(argv)
    if args.project_grid and args.device == "cpu":
        print(project_grid())
        return 0

    torch.set_num_threads(args.threads)
    from lczmap.evaluate import evaluate_model
    from lczmap.train import TrainConfig, train_model
    from lczmap.twin import write_twin

    tmp = Path(tempfile.mkdtemp(prefix="lczmap-bench-train-"))
    twin = args.twin
    if twin is None:
        twin = write_twin(tmp / "twin", n_train=args.n_train, n_val=500, n_test=500, seed=0)
    labels = args.labels if args.labels == "all" else int(args.labels)
    runs = [(m, False) for m in args.methods] + ([("finetune", True)] if args.supcon else [])
    rows = []
    for method, supcon in runs:
        cfg = TrainConfig(
            data=str(twin),
            method=method,
            classes=args.classes,
            labels=labels,
            norm=args.norm,
            supcon=supcon,
            eo_epochs=args.eo_epochs,
            sar_epochs=args.sar_epochs,
            batch_size=args.batch_size,
            width=args.width,
            device=args.device,
            amp=not args.no_amp,
            val_split=None,
        )
        t = time.perf_counter()
        result = train_model(cfg, tmp / f"{method}{'-supcon' if supcon else ''}.safetensors", overwrite=True)
        wall = time.perf_counter() - t
        m = result.metrics
        test = evaluate_model(result.checkpoint, twin, device=args.device)["overall_accuracy"]
        rows.append(
            {
                "method": method + (" +supcon" if supcon else ""),
                "eo_samples_per_s": m.get("eo_samples_per_s"),
                "sar_samples_per_s": m.get("sar_samples_per_s"),
                "train_seconds": m["seconds"],
                "wall_seconds": round(wall, 2),
                "test_accuracy": round(test, 4),
                "device": m["device"],
            }
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    env = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "peak_rss_mb": round(peak_mb, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    print(
        f"twin: {twin} ({args.classes}, {args.labels} labelled SAR, batch {args.batch_size}, width {args.width}, "
        f"{args.norm} norm, {args.threads} thread(s), device {args.device})"
    )
    print("| method | EO stage samples/s | SAR stage samples/s | training s | test accuracy | device |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['eo_samples_per_s'] or '-'} | {r['sar_samples_per_s']} | {r['train_seconds']} "
            f"| {r['test_accuracy']} | {r['device']} |"
        )
    print(f"peak RSS {peak_mb:.0f} MB")
    if args.project_grid:
        by = {r["method"]: r for r in rows}
        eo = [by[m]["eo_samples_per_s"] for m in ("finetune", "swd") if m in by and by[m]["eo_samples_per_s"]]
        rates = dict(H100_BATCH64)
        if eo:
            rates["eo"] = sum(eo) / len(eo)
        if "finetune" in by:
            rates["sar"] = by["finetune"]["sar_samples_per_s"]
        if "swd" in by:
            rates["swd"] = by["swd"]["sar_samples_per_s"]
        print(project_grid(rates))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "env": env}, indent=2))
    return 0


#: samples/s on one H100 (docs/benchmarks.md, bf16 autocast): EO stage, SAR stage (sar-only and
#: finetune), SAR stage of swd. Batch 64 (one cell); batch 256 stands for a busy GPU.
H100_BATCH64 = {"eo": (5007 + 6072) / 2, "sar": 5902.0, "swd": 5291.0}
H100_BATCH256 = {"eo": (13070 + 14500) / 2, "sar": 22261.0, "swd": 8269.0}
#: Class shares of the training split (the twin's: low-rise 30.9 %, urban 54.0 %).
SHARES = {"lowrise": 0.309, "urban": 0.5395, "all": 1.0}


def project_grid(
    rates: dict | None = None, busy: dict | None = None, n_train: int = 352_366, eo_epochs: int = 10, sar_epochs: int = 10
) -> str:
    """GPU-hours of the paper's grid (Markdown lines): today, with shared EO stages, and with
    shared EO stages and cells sharing a busy GPU (``busy`` rates)."""
    rates = rates or H100_BATCH64
    busy = busy or H100_BATCH256
    from lczmap.study import StudySpec

    cells = StudySpec().cells()

    def hours(r: dict, shared: bool) -> float:
        total, seen = 0.0, set()
        for c in cells:
            n = SHARES[c.classes] * n_train
            sar = sar_epochs * n * (3 if c.method == "swd" else 1)
            total += sar / (r["swd"] if c.method == "swd" else r["sar"])
            if c.method != "sar-only":
                key = (c.classes, c.norm, c.supcon, c.seed)
                if not shared or key not in seen:
                    seen.add(key)
                    total += eo_epochs * n * (2 if c.supcon else 1) / r["eo"]
        return total / 3600

    today, shared, packed = hours(rates, False), hours(rates, True), hours(busy, True)
    return "\n".join(
        [
            f"| paper's grid ({len(cells)} cells, {n_train:,} training patches) | GPU-hours |",
            "|---|---|",
            f"| today: one cell per GPU, every cell trains its EO stage | {today:.1f} |",
            f"| shared EO stages | {shared:.1f} ({today / shared:.2f}x) |",
            f"| shared EO stages + cells per GPU (busy-GPU bound) | {packed:.1f} ({today / packed:.2f}x) |",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())

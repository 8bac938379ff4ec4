"""Training throughput: samples/s per stage and method on the So2Sat twin.

    python scripts/bench/bench_train.py                      # CPU, 1 thread, 3,000-patch twin
    python scripts/bench/bench_train.py --device cuda --threads 4 --batch-size 256

A "sample" is one patch through one encoder, forward and backward: the EO stage counts EO
patches (twice with --supcon: two views), the SAR stage counts labelled SAR patches, plus for
swd the EO and unlabelled SAR patches of each step (3 x batch per step). Times exclude reading
the data and the per-epoch validation. Test accuracy (twin's testing split) is a sanity check. Prints a Markdown table and writes JSON with --json.
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
    args = ap.parse_args(argv)

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
            data=str(twin), method=method, classes=args.classes, labels=labels, norm=args.norm, supcon=supcon,
            eo_epochs=args.eo_epochs, sar_epochs=args.sar_epochs, batch_size=args.batch_size, width=args.width,
            device=args.device, amp=not args.no_amp, val_split=None,
        )
        t = time.perf_counter()
        result = train_model(cfg, tmp / f"{method}{'-supcon' if supcon else ''}.safetensors", overwrite=True)
        wall = time.perf_counter() - t
        m = result.metrics
        test = evaluate_model(result.checkpoint, twin, device=args.device)["overall_accuracy"]
        rows.append({
            "method": method + (" +supcon" if supcon else ""),
            "eo_samples_per_s": m.get("eo_samples_per_s"),
            "sar_samples_per_s": m.get("sar_samples_per_s"),
            "train_seconds": m["seconds"],
            "wall_seconds": round(wall, 2),
            "test_accuracy": round(test, 4),
            "device": m["device"],
        })
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    env = {
        "python": sys.version.split()[0], "torch": torch.__version__, "threads": args.threads,
        "cpu": platform.processor() or platform.machine(), "peak_rss_mb": round(peak_mb, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    print(f"twin: {twin} ({args.classes}, {args.labels} labelled SAR, batch {args.batch_size}, width {args.width}, "
          f"{args.norm} norm, {args.threads} thread(s), device {args.device})")
    print("| method | EO stage samples/s | SAR stage samples/s | training s | test accuracy | device |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['eo_samples_per_s'] or '-'} | {r['sar_samples_per_s']} | {r['train_seconds']} "
              f"| {r['test_accuracy']} | {r['device']} |")
    print(f"peak RSS {peak_mb:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "env": env}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

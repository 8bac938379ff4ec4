"""The SAFE path against the GeoTIFF path on the twin's ground truth, run by hand: the demo's scene
written as a GeoTIFF (``kind="grd"``) and as an IW GRD SAFE product (``kind="safe"``: uint16 DN,
calibration and noise LUTs, geolocation grid), both mapped with one checkpoint (e.g. the demo's),
each map's agreement with the truth (100 m), and the windows/s of both paths.

    python scripts/bench/safe_truth.py lczmap-demo/model.safetensors /tmp/safe-truth
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, nargs=2, default=(1000, 1200), help="rows, columns (the demo's default)")
    args = ap.parse_args()

    from lczmap.demo import map_agreement
    from lczmap.predict import predict_scene
    from lczmap.twin import write_scene

    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {"size": args.size, "seed": args.seed}
    for kind in ("grd", "safe"):
        dest = args.out / (f"scene_{kind}" + (".tif" if kind == "grd" else ""))
        scene, truth = write_scene(
            dest, size=tuple(args.size), seed=args.seed, kind=kind, truth_path=args.out / f"truth_{kind}.tif", overwrite=True
        )
        t = time.perf_counter()
        r = predict_scene(str(scene), args.out / f"lcz_{kind}.tif", args.model, device="cpu", overwrite=True)
        result[kind] = {**map_agreement(r.out, truth), "windows_per_s": r.windows_per_s, "seconds": time.perf_counter() - t}
        print(kind, result[kind], flush=True)
    result["safe_minus_grd"] = result["safe"]["agreement"] - result["grd"]["agreement"]
    (args.out / "safe_truth.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

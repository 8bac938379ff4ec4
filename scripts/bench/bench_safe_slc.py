"""Windows/s and peak RSS of `predict` on a Sentinel-1 IW SLC SAFE product written by
lczmap.twin.safe_slc (3 sub-swaths, overlapping bursts, complex int16 DN, calibration LUTs), for a
``vv-complex`` model (complex VV read by nearest neighbour) and an ``s1-all`` model (the covariance
also refined-Lee filtered in radar geometry). Each model runs in its own process (peak RSS is
that process's ru_maxrss). Run by hand, not in tests:

    python scripts/bench/bench_safe_slc.py --bursts 6 --lines-per-burst 300 --samples 1200
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def sigma0(pol, swath, burst, n, m):
    """Complex sigma0 amplitudes: circular Gaussian speckle on a smooth two-level field."""
    n, m = np.broadcast_arrays(np.asarray(n), np.asarray(m))
    rng = np.random.default_rng([abs(int(n.ravel()[0])), swath, burst, int(pol == "VH")])
    power = (0.05 if pol == "VV" else 0.01) * (1 + 3 * (np.sin(n / 230.0) * np.cos(m / 310.0) > 0))
    z = rng.normal(size=n.shape) + 1j * rng.normal(size=n.shape)
    return (z * np.sqrt(power / 2)).astype(np.complex64)


def child(args) -> None:
    from lczmap.predict import predict_scene

    t = time.perf_counter()
    res = predict_scene(args.scene, args.out, args.model, device="cpu", overwrite=True)
    s = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "windows": res.n_windows,
                "seconds": s,
                "windows_per_s": res.n_windows / s,
                "peak_rss_mb": rss,
                "map": list(res.shape),
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bursts", type=int, default=6)
    p.add_argument("--lines-per-burst", type=int, default=300)
    p.add_argument("--samples", type=int, default=1200)
    p.add_argument("--models", nargs="+", default=["vv-complex", "s1-all"])
    p.add_argument("--scene")
    p.add_argument("--out")
    p.add_argument("--model")
    args = p.parse_args()
    if args.scene:
        child(args)
        return
    sys.path.insert(0, str(Path(__file__).parents[2] / "tests"))
    from _predict_fixtures import tiny_checkpoint

    from lczmap.twin.safe_slc import SlcLayout, write_safe_slc

    tmp = Path(tempfile.mkdtemp(prefix="bench_safe_slc_"))
    layout = SlcLayout(
        bursts=args.bursts,
        lines_per_burst=args.lines_per_burst,
        burst_step=args.lines_per_burst - 20,
        samples=args.samples,
        swath_step=args.samples - 100,
    )
    t = time.perf_counter()
    safe = write_safe_slc(tmp, sigma0, layout=layout)
    print(
        f"wrote {safe.name} ({args.bursts} bursts x {args.lines_per_burst} lines, 3 x {args.samples} samples) "
        f"in {time.perf_counter() - t:.0f} s",
        flush=True,
    )
    for name in args.models:
        model = tiny_checkpoint(tmp / f"{name}.safetensors", sar=name)
        out = subprocess.run(
            [sys.executable, __file__, "--scene", str(safe), "--out", str(tmp / f"{name}.tif"), "--model", str(model)],
            capture_output=True,
            text=True,
        )
        print(name, out.stdout.strip().splitlines()[-1] if out.returncode == 0 else out.stderr[-2000:], flush=True)


if __name__ == "__main__":
    main()

"""Time and peak memory of the synthetic So2Sat twin and Sentinel-1 scene writers.

Run by hand (each case runs in a fresh process so that its peak RSS is its own):

    python scripts/bench/bench_synthetic.py [--out /tmp/lczmap-bench] [--quick]

Cases: a 2,000/500/500 twin, a 20,000-patch twin (16,000/2,000/2,000), a 1,000 x 1,200 GRD scene
and a full 10,980 x 10,980 GRD scene (one Sentinel-2 tile's extent; --quick skips it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CASE = r"""
import json, resource, sys, time
from lczmap.twin import write_scene, write_twin
kind, out, *args = sys.argv[1:]
t = time.perf_counter()
if kind == "twin":
    write_twin(out, *map(int, args))
else:
    rows, cols = map(int, args)
    write_scene(out, size=(rows, cols))
seconds = time.perf_counter() - t
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--quick", action="store_true", help="skip the 10,980 x 10,980 scene")
    opts = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="lczmap-bench-", dir=opts.out))
    cases = [
        ("twin 2,000/500/500", ["twin", str(scratch / "twin3k"), "2000", "500", "500"], scratch / "twin3k"),
        ("twin 16,000/2,000/2,000", ["twin", str(scratch / "twin20k"), "16000", "2000", "2000"], scratch / "twin20k"),
        ("GRD scene 1,000 x 1,200", ["scene", str(scratch / "s1k.tif"), "1000", "1200"], scratch / "s1k.tif"),
    ]
    if not opts.quick:
        cases.append(("GRD scene 10,980 x 10,980", ["scene", str(scratch / "s10k.tif"), "10980", "10980"], scratch / "s10k.tif"))
    baseline = subprocess.run(
        [sys.executable, "-c", "import resource, lczmap.twin; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"],
        check=True,
        capture_output=True,
        text=True,
    )
    print(f"import baseline: {baseline.stdout.strip()} MB peak RSS")
    try:
        for name, args, target in cases:
            done = subprocess.run([sys.executable, "-c", CASE, *args], check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            size = sum(p.stat().st_size for p in ([target] if target.is_file() else target.rglob("*")))
            print(f"{name:28s} {result['seconds']:8.2f} s  peak RSS {result['peak_rss_mb']:6d} MB  output {size / 1e6:8.0f} MB")
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

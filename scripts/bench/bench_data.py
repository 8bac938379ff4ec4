#!/usr/bin/env python
"""Data-path benchmark: random batches from raw So2Sat HDF5 vs the lczmap cache vs in-memory arrays.

Writes a So2Sat twin of N patches (float64, the real files' dtype) unless --data is given, prepares
the cache, then measures in one run:

  raw      samples/s of random batches (EO rgb + SAR vv-complex) read from the HDF5 files
  cache    samples/s of the same random batches read from the memory-mapped cache
  epoch    one shuffled epoch over the cache vs the same epoch over in-memory tensors
           (batch indexing + torch conversion, what a training loop does)

Targets: cache >= 10x raw; cache epoch within 1.2x of in-memory.
Run by hand:  python scripts/bench/bench_data.py --n 20000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lczmap.data import open_patches, prepare


def random_batches(n, batch, count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.choice(n, size=batch, replace=False) for _ in range(count)]


def time_batches(sources, batches):
    t0 = time.perf_counter()
    for idx in batches:
        for src in sources:
            torch.from_numpy(src[idx])
    return sum(len(b) for b in batches) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="training patches in the twin")
    ap.add_argument("--data", type=Path, help="existing So2Sat folder (default: write a twin)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--raw-batches", type=int, default=20, help="random batches timed on raw HDF5")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = args.data
        if data is None:
            from lczmap.twin import write_twin

            data = tmp / "twin"
            t0 = time.perf_counter()
            write_twin(data, n_train=args.n, n_val=500, n_test=500, seed=0)
            print(f"twin of {args.n} patches written in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        prepare(data, tmp / "cache", band_sets=["rgb", "vv-complex"], splits=["training"])
        prep_s = time.perf_counter() - t0
        print(f"prepare (rgb + vv-complex, training split): {prep_s:.1f} s")

        raw = [open_patches(data, "training", b) for b in ("rgb", "vv-complex")]
        cache = [open_patches(None, "training", b, cache=tmp / "cache") for b in ("rgb", "vv-complex")]
        n = len(raw[0])
        batches = random_batches(n, args.batch, args.raw_batches)
        time_batches(cache, batches[:2])  # warm the page cache and the memory map
        raw_sps = time_batches(raw, batches)
        cache_sps = time_batches(cache, batches)

        # one shuffled epoch, cache vs in-memory
        memory = [np.ascontiguousarray(src[np.arange(n)]) for src in cache]
        perm = np.random.default_rng(1).permutation(n)
        epoch = [perm[i : i + args.batch] for i in range(0, n, args.batch)]

        class InMemory:
            def __init__(self, a):
                self.a = a

            def __getitem__(self, idx):
                return np.take(self.a, idx, axis=0)

        mem_sources = [InMemory(a) for a in memory]
        times = {"cache": [], "memory": []}
        for _ in range(3):  # interleave to share the machine's noise
            t0 = time.perf_counter()
            time_batches(cache, epoch)
            times["cache"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            time_batches(mem_sources, epoch)
            times["memory"].append(time.perf_counter() - t0)
        cache_epoch, mem_epoch = min(times["cache"]), min(times["memory"])

    result = {
        "patches": n,
        "batch": args.batch,
        "prepare_s": round(prep_s, 2),
        "raw_hdf5_samples_per_s": round(raw_sps, 1),
        "cache_samples_per_s": round(cache_sps, 1),
        "cache_over_raw": round(cache_sps / raw_sps, 1),
        "epoch_cache_s": round(cache_epoch, 3),
        "epoch_memory_s": round(mem_epoch, 3),
        "epoch_cache_over_memory": round(cache_epoch / mem_epoch, 3),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

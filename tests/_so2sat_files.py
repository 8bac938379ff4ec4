"""So2Sat-layout HDF5 files of random values, for reader edge cases and bad input."""

import h5py
import numpy as np


def write_so2sat_file(
    path, n=64, labels=None, dtype="float64", compression=None, seed=0, sen1_shape=None, sen2_shape=None, label_rows=None
):
    """Write one So2Sat-layout HDF5 file of random values (for reader edge cases and bad input)."""
    rng = np.random.default_rng(seed)
    if labels is None:
        labels = rng.integers(0, 17, size=n)
    labels = np.asarray(labels)
    n = len(labels)
    onehot = np.zeros((n, 17), dtype=dtype)
    onehot[np.arange(n), labels] = 1
    if label_rows is not None:
        onehot = np.asarray(label_rows, dtype=dtype)
    if np.dtype(dtype).kind == "u":
        sen1 = rng.integers(0, 255, size=sen1_shape or (n, 32, 32, 8)).astype(dtype)
        sen2 = rng.integers(0, 255, size=sen2_shape or (n, 32, 32, 10)).astype(dtype)
    else:
        sen1 = rng.normal(0, 0.46, size=sen1_shape or (n, 32, 32, 8)).astype(dtype)
        sen2 = rng.uniform(0, 0.4, size=sen2_shape or (n, 32, 32, 10)).astype(dtype)
    with h5py.File(path, "w") as f:
        kw = {"compression": compression} if compression else {}
        f.create_dataset("sen1", data=sen1, **kw)
        f.create_dataset("sen2", data=sen2, **kw)
        f.create_dataset("label", data=onehot, **kw)
    return path

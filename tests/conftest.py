"""Shared fixtures: small So2Sat-layout files made on the fly, and the seeded So2Sat twin."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
import torch

# Tests share two cores with everything else on the machine: keep torch to one thread.
torch.set_num_threads(1)


def write_so2sat_file(path, n=64, labels=None, dtype="float64", compression=None, seed=0,
                      sen1_shape=None, sen2_shape=None, label_rows=None):
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


@pytest.fixture
def so2sat_file_factory(tmp_path):
    def make(name="training.h5", **kw):
        return write_so2sat_file(tmp_path / name, **kw)

    return make


@pytest.fixture(scope="session")
def twin_dir(tmp_path_factory):
    """A seeded So2Sat v2 twin (1,200 / 300 / 300 patches), written once per test session."""
    from lczmap.data.synthetic import write_twin

    out = tmp_path_factory.mktemp("twin")
    write_twin(out, n_train=1200, n_val=300, n_test=300, seed=0)
    return out

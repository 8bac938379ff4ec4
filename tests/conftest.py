"""Shared fixtures: small So2Sat-layout files made on the fly, and the seeded So2Sat twin."""

from __future__ import annotations

import os

import pytest
import torch
from _so2sat_files import write_so2sat_file

# Tests share two cores with everything else on the machine: keep torch to one thread.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def lczmap_home(tmp_path_factory):
    """A data folder of the test session's own (``LCZMAP_HOME``, inherited by the commands tests
    start): no test reads or writes the user's, where lczmap records the last trained model, so no
    test passes or fails by what an earlier run left there."""
    home = tmp_path_factory.mktemp("lczmap_home")
    before = os.environ.get("LCZMAP_HOME")
    os.environ["LCZMAP_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("LCZMAP_HOME", None)
    else:
        os.environ["LCZMAP_HOME"] = before


@pytest.fixture
def so2sat_file_factory(tmp_path):
    def make(name="training.h5", **kw):
        return write_so2sat_file(tmp_path / name, **kw)

    return make


@pytest.fixture(scope="session")
def twin_dir(tmp_path_factory):
    """A seeded So2Sat v2 twin (1,200 / 300 / 300 patches), written once per test session."""
    from lczmap.twin import write_twin

    out = tmp_path_factory.mktemp("twin")
    write_twin(out, n_train=1200, n_val=300, n_test=300, seed=0)
    return out

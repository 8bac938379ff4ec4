"""Fixtures of the remote tests: a twin scene served as single-band GeoTIFFs, a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from _predict_fixtures import tiny_checkpoint
from _remote_fixtures import split_scene

from lczmap.twin import write_scene


@pytest.fixture(scope="session")
def twin_scene(tmp_path_factory):
    """A 768 x 768 twin GRD scene (128-pixel tiles) split into vv.tif/vh.tif under ``root/scenes/a``; (root, bounds)."""
    root = tmp_path_factory.mktemp("served")
    path, _ = write_scene(root / "grd.tif", size=(768, 768), seed=3)
    files, bounds = split_scene(path, root / "scenes" / "a", block=128)
    path.unlink()
    for f in root.glob("grd_truth*"):
        f.unlink()
    assert all(np.isfinite(bounds))
    return root, bounds, files


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "m.safetensors")

"""The adapt algorithm of the QGIS plugin, run through ``processing.run``."""

from __future__ import annotations

import pytest
from _qgis_support import SKIP_REASON

pytest.importorskip("qgis.core", reason=SKIP_REASON)
pytestmark = pytest.mark.qgis

from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback  # noqa: E402


def _run(params):
    import processing

    return processing.run("lczmap:adapt", params, feedback=QgsProcessingFeedback())


@pytest.fixture
def areas(scene, tmp_path):
    """Two 3 x 3-pixel squares per class of the scene's truth, in WGS84, class as 'class'."""
    from lczmap.adapt.areas import areas_from_map

    frame = areas_from_map(scene.with_name("truth.tif"), 2, size=3, seed=0)
    path = tmp_path / "areas.gpkg"
    frame.rename(columns={"lcz": "class"}).to_crs("EPSG:4326").to_file(path, driver="GPKG")
    return path


@pytest.fixture(scope="module")
def eo_model(qgis_app, twin_dir, tmp_path_factory):
    """A small finetune model on the twin: its checkpoint carries the EO reference."""
    import torch

    from lczmap.train import TrainConfig, train

    torch.set_num_threads(1)
    cfg = TrainConfig(
        data=str(twin_dir),
        method="finetune",
        classes="all",
        labels=256,
        sar_bands="lee-intensity",
        eo_epochs=1,
        sar_epochs=1,
        width=8,
        depth=2,
        blocks=1,
        embedding=16,
        projection=16,
        norm="batch",
        val_split=None,
        device="cpu",
    )
    return train(cfg, tmp_path_factory.mktemp("eo_model") / "base.safetensors", record_last=False).checkpoint


def test_adapt_algorithm_is_registered(plugin):
    alg = QgsApplication.processingRegistry().algorithmById("lczmap:adapt")
    assert alg is not None and alg.displayName() == "Adapt LCZ model to training areas"
    ok, message = alg.canExecute()
    assert ok, message
    names = [p.name() for p in alg.parameterDefinitions()]
    assert {"MODEL", "INPUT", "TRAINING_AREAS", "FIELD", "METHOD", "HOLDOUT", "OVERWRITE", "OUTPUT"} <= set(names)
    assert alg.parameterDefinition("TRAINING_AREAS").flags() & alg.parameterDefinition("TRAINING_AREAS").FlagOptional
    eo_data = alg.parameterDefinition("EO_DATA")
    assert eo_data.flags() & eo_data.FlagAdvanced and eo_data.flags() & eo_data.FlagOptional


def test_adapt_algorithm_writes_the_adapted_model(plugin, model, scene, areas, tmp_path):
    from lczmap.checkpoint import load_checkpoint

    out = tmp_path / "adapted.safetensors"
    params = {
        "MODEL": str(model),
        "INPUT": str(scene),
        "TRAINING_AREAS": str(areas),
        "METHOD": 1,
        "EPOCHS": 1,
        "HOLDOUT": 0.5,
        "BOOTSTRAP": 3,
        "UNITS": 2,
        "DEVICE": 1,
        "OUTPUT": str(out),
        "HOLDOUT_LAYER": str(tmp_path / "held.gpkg"),
    }
    result = _run(params)
    assert result["OUTPUT"] == str(out) and result["PATCHES"] > 0
    assert 0 <= result["OA_BASE"] <= 1 and 0 <= result["OA_ADAPTED"] <= 1
    meta = load_checkpoint(out).meta["adaptation"]
    assert meta["method"] == "swd" and meta["training_areas"]["class_from"] == "field 'class'"
    assert (tmp_path / "held.gpkg").exists()
    with pytest.raises(QgsProcessingException, match="Replace existing outputs|--overwrite"):
        _run(params)


def test_adapt_algorithm_refuses_areas_off_the_scene(plugin, model, scene, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    far = tmp_path / "far.gpkg"
    # two classes: one class alone is refused first (the LCZ Generator's rule)
    boxes = [box(100.0, 10.0, 100.01, 10.01), box(100.02, 10.0, 100.03, 10.01)]
    gpd.GeoDataFrame({"lcz": [2, 6]}, geometry=boxes, crs="EPSG:4326").to_file(far)
    with pytest.raises(QgsProcessingException, match="outside the scene"):
        _run(
            {
                "MODEL": str(model),
                "INPUT": str(scene),
                "TRAINING_AREAS": str(far),
                "UNITS": 2,
                "DEVICE": 1,
                "OUTPUT": str(tmp_path / "x.safetensors"),
            }
        )


def test_adapt_algorithm_without_training_areas(plugin, eo_model, twin_dir, scene, tmp_path):
    """No training areas: adapted without labels (swd-eo, the Method field notwithstanding), the
    stopping rule's choice in the log; a model without EO reference is refused in one line naming
    the So2Sat folder, and the So2Sat folder under Advanced makes it."""
    from lczmap.checkpoint import load_checkpoint, save_checkpoint

    out = tmp_path / "unsup.safetensors"
    params = {
        "MODEL": str(eo_model),
        "INPUT": str(scene),
        "METHOD": 0,
        "EPOCHS": 1,
        "SCENE_PATCHES": 300,
        "UNITS": 2,
        "DEVICE": 1,
        "OUTPUT": str(out),
    }
    feedback = QgsProcessingFeedback()
    import processing

    result = processing.run("lczmap:adapt", params, feedback=feedback)
    assert result["OUTPUT"] == str(out) and result["PATCHES"] == 0 and result["OA_BASE"] is None
    meta = load_checkpoint(out).meta["adaptation"]
    assert meta["method"] == "swd-eo" and meta["training_areas"] is None and 0 < meta["unlabelled_patches"] <= 300
    assert meta["stopping"]["kept"] in [c["model"] for c in meta["stopping"]["checks"]]
    assert "stopping rule (no labels): kept" in feedback.textLog()
    # a checkpoint written before the EO reference
    ckpt = load_checkpoint(eo_model)
    old = tmp_path / "old.safetensors"
    save_checkpoint(old, ckpt.model(), {k: v for k, v in ckpt.meta.items() if k != "lczmap_version"})
    with pytest.raises(QgsProcessingException, match="no EO reference.*--eo-data"):
        _run({**params, "MODEL": str(old), "OUTPUT": str(tmp_path / "old_out.safetensors")})
    result = _run({**params, "MODEL": str(old), "EO_DATA": str(twin_dir), "OUTPUT": str(tmp_path / "old_out.safetensors")})
    assert load_checkpoint(result["OUTPUT"]).meta["adaptation"]["eo_reference"]["from"] == f"--eo-data {twin_dir}"

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


def test_adapt_algorithm_is_registered(plugin):
    alg = QgsApplication.processingRegistry().algorithmById("lczmap:adapt")
    assert alg is not None and alg.displayName() == "Adapt LCZ model to training areas"
    ok, message = alg.canExecute()
    assert ok, message
    names = [p.name() for p in alg.parameterDefinitions()]
    assert {"MODEL", "INPUT", "TRAINING_AREAS", "FIELD", "METHOD", "HOLDOUT", "OVERWRITE", "OUTPUT"} <= set(names)


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

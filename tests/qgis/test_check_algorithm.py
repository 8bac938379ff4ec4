"""The "Check LCZ training areas" algorithm of the QGIS plugin, run through ``processing.run``."""

from __future__ import annotations

import pytest
from _qgis_support import SKIP_REASON

pytest.importorskip("qgis.core", reason=SKIP_REASON)
pytestmark = pytest.mark.qgis

from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer  # noqa: E402


def _run(params):
    import processing

    return processing.run("lczmap:check_areas", params, feedback=QgsProcessingFeedback())


@pytest.fixture
def areas(scene, tmp_path):
    """Three 3 x 3-pixel squares per class of the scene's truth, in WGS84, class as 'class', a
    field of the user's own ('note'), and one square relabelled."""
    from lczmap.adapt.areas import areas_from_map

    frame = areas_from_map(scene.with_name("truth.tif"), 3, size=3, seed=0).to_crs("EPSG:4326")
    frame = frame.rename(columns={"lcz": "class"}).assign(note=[f"polygon {i}" for i in range(len(frame))])
    frame.loc[0, "class"] = next(c for c in frame["class"] if c != frame.loc[0, "class"])
    path = tmp_path / "areas.gpkg"
    frame.to_file(path, driver="GPKG")
    return path


def test_check_algorithm_is_registered(plugin):
    alg = QgsApplication.processingRegistry().algorithmById("lczmap:check_areas")
    assert alg is not None and alg.displayName() == "Check LCZ training areas"
    ok, message = alg.canExecute()
    assert ok, message
    names = {p.name() for p in alg.parameterDefinitions()}
    assert {"MODEL", "INPUT", "TRAINING_AREAS", "FIELD", "SCORER", "RATIO", "FOLDS", "OVERWRITE", "OUTPUT"} <= names
    scorer = next(p for p in alg.parameterDefinitions() if p.name() == "SCORER")
    assert scorer.options() == ["head", "adapt"]


def test_check_algorithm_writes_the_checked_layer(plugin, model, scene, areas, tmp_path):
    out = tmp_path / "checked.gpkg"
    params = {
        "MODEL": str(model),
        "INPUT": str(scene),
        "TRAINING_AREAS": str(areas),
        "RATIO": 2.0,
        "UNITS": 2,
        "DEVICE": 1,
        "OUTPUT": str(out),
    }
    result = _run(params)
    layer = QgsVectorLayer(str(result["OUTPUT"]), "checked", "ogr")
    assert layer.isValid()
    source = QgsVectorLayer(str(areas), "areas", "ogr")
    assert layer.featureCount() == source.featureCount() == result["POLYGONS"]
    fields = set(layer.fields().names())
    assert {"class", "note", "flag", "reason", "detail", "predicted_label", "p_labelled"} <= fields
    flagged = [f for f in layer.getFeatures() if f["flag"]]
    assert len(flagged) == result["FLAGGED"]
    assert all(f["reason"] for f in flagged)
    del layer, source, flagged  # QGIS's handles on the files go before the output is replaced
    with pytest.raises(QgsProcessingException, match="Replace existing outputs|--overwrite"):
        _run(params)
    assert _run({**params, "OVERWRITE": True})["POLYGONS"] == result["POLYGONS"]


def test_check_algorithm_refuses_areas_of_one_class(plugin, model, scene, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    one = tmp_path / "one.gpkg"
    with_crs = gpd.GeoDataFrame({"lcz": [6, 6]}, geometry=[box(0, 0, 1, 1), box(2, 0, 3, 1)], crs="EPSG:4326")
    with_crs.to_file(one)
    with pytest.raises(QgsProcessingException, match="hold one class"):
        _run(
            {
                "MODEL": str(model),
                "INPUT": str(scene),
                "TRAINING_AREAS": str(one),
                "UNITS": 2,
                "DEVICE": 1,
                "OUTPUT": str(tmp_path / "x.gpkg"),
            }
        )

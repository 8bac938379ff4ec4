"""The mosaic algorithm of the QGIS plugin, run through ``processing.run``."""

from __future__ import annotations

import pytest
from _qgis_support import SKIP_REASON

pytest.importorskip("qgis.core", reason=SKIP_REASON)
pytestmark = pytest.mark.qgis

from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback  # noqa: E402


def _run(params):
    import processing

    return processing.run("lczmap:mosaic", params, feedback=QgsProcessingFeedback())


@pytest.fixture(scope="module")
def halves(scene, tmp_path_factory):
    """The scene cut into two files overlapping by 60 pixels (one window and the filter's halo)."""
    import rasterio
    from rasterio.windows import Window

    folder = tmp_path_factory.mktemp("halves")
    with rasterio.open(scene) as src:
        paths = []
        for name, row0, rows in (("top.tif", 0, 180), ("bottom.tif", 120, src.height - 120)):
            window = Window(0, row0, src.width, rows)
            profile = {**src.profile, "height": rows, "transform": src.window_transform(window)}
            with rasterio.open(folder / name, "w", **profile) as dst:
                dst.write(src.read(window=window))
                dst.descriptions = src.descriptions
                dst.update_tags(**src.tags())
                for b in range(1, src.count + 1):
                    dst.update_tags(b, **src.tags(b))
            paths.append(folder / name)
    return paths


@pytest.fixture(scope="module")
def tiny_model(qgis_app, tmp_path_factory):
    """An untrained tiny checkpoint (the mosaic is compared with predict's map of the same model)."""
    from _predict_fixtures import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "m.safetensors")


def test_mosaic_algorithm_is_registered(plugin):
    alg = QgsApplication.processingRegistry().algorithmById("lczmap:mosaic")
    assert alg is not None and alg.displayName() == "Mosaic LCZ map from many scenes"
    ok, message = alg.canExecute()
    assert ok, message
    names = [p.name() for p in alg.parameterDefinitions()]
    assert {"INPUT", "FOLDER", "MODEL", "FUSION", "AOI", "CRS", "OUTPUT", "OVERWRITE"} <= set(names)


def test_mosaic_algorithm_maps_the_halves_as_predict_maps_the_scene(plugin, tiny_model, scene, halves, tmp_path):
    import rasterio

    from lczmap.predict import predict_scene

    whole = predict_scene(scene, tmp_path / "whole.tif", tiny_model, units="db", device="cpu")
    out = tmp_path / "mosaic.tif"
    result = _run({"INPUT": [str(p) for p in halves], "MODEL": str(tiny_model), "UNITS": 2, "DEVICE": 1, "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out) and result["N_USED"] == 2
    with rasterio.open(out) as a, rasterio.open(whole.out) as b:
        assert a.read().tobytes() == b.read().tobytes()
    assert (tmp_path / "mosaic.count.tif").exists() and (tmp_path / "mosaic.footprints.gpkg").exists()
    assert out.with_suffix(".qml").exists()


def test_mosaic_algorithm_refuses_an_area_without_scenes(plugin, tiny_model, halves, tmp_path):
    with pytest.raises(QgsProcessingException, match="no scene lies in the area"):
        _run(
            {
                "INPUT": [str(p) for p in halves],
                "MODEL": str(tiny_model),
                "UNITS": 2,
                "DEVICE": 1,
                "AOI": "100.0,100.1,10.0,10.1 [EPSG:4326]",
                "OUTPUT": str(tmp_path / "x.tif"),
            }
        )
    assert not (tmp_path / "x.tif").exists()

"""lczmap's outputs as QGIS opens them: the LCZ raster, its extras and the zone layer."""

from __future__ import annotations

import shutil

import pytest
from _qgis_support import SKIP_REASON

pytest.importorskip("qgis.core", reason=SKIP_REASON)
pytestmark = pytest.mark.qgis

from qgis.core import QgsRasterLayer, QgsVectorLayer  # noqa: E402

from lczmap.classes import LCZ_CLASSES  # noqa: E402


def _crs_of(path):
    import rasterio

    with rasterio.open(path) as src:
        return src.crs.to_string()


def _palette(layer):
    renderer = layer.renderer()
    assert renderer is not None
    assert renderer.type() == "paletted"
    return {c.value: c for c in renderer.classes()}


def test_lcz_raster_is_a_valid_layer_in_the_scene_crs(qgis_app, lcz_outputs, scene):
    layer = QgsRasterLayer(str(lcz_outputs.out), "lcz")
    assert layer.isValid(), layer.error().summary()
    assert layer.crs().authid() == _crs_of(scene) == "EPSG:32633"
    assert (layer.height(), layer.width()) == lcz_outputs.shape
    assert layer.rasterUnitsPerPixelX() == pytest.approx(100.0)
    assert layer.dataProvider().sourceNoDataValue(1) == 0


def test_lcz_raster_has_a_paletted_renderer_matching_the_lcz_table(qgis_app, lcz_outputs):
    layer = QgsRasterLayer(str(lcz_outputs.out), "lcz")
    palette = _palette(layer)
    assert len(palette) == 17
    for c in LCZ_CLASSES:
        entry = palette[c.code]
        assert entry.color.name() == c.colour
        assert entry.color.alpha() == 255
        assert entry.label == f"LCZ {c.label} {c.name}"


def test_lcz_raster_alone_still_shows_paletted_with_lcz_colours(qgis_app, lcz_outputs, tmp_path):
    """Without the .qml beside it, QGIS falls back on the embedded colour table."""
    alone = tmp_path / "alone.tif"
    shutil.copyfile(lcz_outputs.out, alone)
    layer = QgsRasterLayer(str(alone), "alone")
    assert layer.isValid()
    palette = _palette(layer)
    for c in LCZ_CLASSES:
        assert palette[c.code].color.name() == c.colour


def test_confidence_and_probabilities_open_on_the_same_grid(qgis_app, lcz_outputs, model):
    from lczmap.checkpoint import load_checkpoint

    lcz = QgsRasterLayer(str(lcz_outputs.out), "lcz")
    conf = QgsRasterLayer(str(lcz_outputs.confidence), "confidence")
    probs = QgsRasterLayer(str(lcz_outputs.probabilities), "probabilities")
    for layer in (conf, probs):
        assert layer.isValid(), layer.error().summary()
        assert layer.crs() == lcz.crs()
        assert layer.extent() == lcz.extent()
    assert conf.bandCount() == 1
    assert probs.bandCount() == len(load_checkpoint(model).codes) == 17
    stats = conf.dataProvider().bandStatistics(1)
    assert 0 < stats.minimumValue <= stats.maximumValue <= 1


def test_zones_layer_opens_with_its_lcz_style(qgis_app, lcz_outputs, tmp_path):
    from lczmap.zones import zones

    result = zones(lcz_outputs.out, tmp_path / "zones.gpkg", min_area=30000, confidence=lcz_outputs.confidence)
    assert result.style == tmp_path / "zones.qml"
    layer = QgsVectorLayer(str(result.path), "zones", "ogr")
    assert layer.isValid()
    assert layer.featureCount() == result.zones > 0
    assert layer.crs().authid() == "EPSG:32633"
    renderer = layer.renderer()
    assert renderer.type() == "categorizedSymbol"  # the .qml beside the layer, loaded as its default style
    assert renderer.classAttribute() == "lcz"
    categories = {int(c.value()): c for c in renderer.categories()}
    assert sorted(categories) == [c.code for c in LCZ_CLASSES]
    for c in LCZ_CLASSES:
        assert categories[c.code].symbol().color().name() == c.colour
        assert categories[c.code].label() == f"{c.label} {c.name}"
    fields = layer.fields().names()
    for name in ("lcz", "label", "name", "area_m2", "confidence"):
        assert name in fields

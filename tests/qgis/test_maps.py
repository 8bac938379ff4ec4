"""The assess and ucp algorithms of the QGIS plugin, run through ``processing.run``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _qgis_support import SKIP_REASON

pytest.importorskip("qgis.core", reason=SKIP_REASON)
pytestmark = pytest.mark.qgis

from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback  # noqa: E402


def _run(alg_id, params):
    import processing

    return processing.run(alg_id, params, feedback=QgsProcessingFeedback())


@pytest.fixture
def hand_case(tmp_path):
    """A 4 x 4 LCZ map (UTM 33N, 100 m) and reference polygons in WGS84 with a 'class' field."""
    import geopandas as gpd
    import rasterio
    from affine import Affine
    from shapely.geometry import box

    codes = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [11, 11, 14, 14], [11, 11, 14, 0]], np.uint8)
    lcz = tmp_path / "lcz.tif"
    with rasterio.open(
        lcz,
        "w",
        driver="GTiff",
        width=4,
        height=4,
        count=1,
        dtype="uint8",
        nodata=0,
        crs="EPSG:32633",
        transform=Affine(100, 0, 500000, 0, -100, 5001000),
    ) as dst:
        dst.write(codes, 1)
    x0, y0 = 500000, 5001000
    polys = [box(x0, y0 - 200, x0 + 300, y0), box(x0, y0 - 400, x0 + 200, y0 - 200), box(x0 + 200, y0 - 400, x0 + 400, y0 - 200)]
    ref = tmp_path / "reference.gpkg"
    gpd.GeoDataFrame({"class": ["1", "A", "D"]}, geometry=polys, crs="EPSG:32633").to_crs("EPSG:4326").to_file(ref)
    return lcz, ref


def test_map_algorithms_are_registered_and_can_run(plugin):
    registry = QgsApplication.processingRegistry()
    for alg_id, title in (("lczmap:assess", "Assess LCZ map accuracy"), ("lczmap:ucp", "Urban canopy parameters")):
        alg = registry.algorithmById(alg_id)
        assert alg is not None and alg.displayName() == title
        ok, message = alg.canExecute()
        assert ok, message
        assert alg.shortHelpString()
        assert "OVERWRITE" in [p.name() for p in alg.parameterDefinitions()]


def test_assess_algorithm_matches_the_library(plugin, hand_case, tmp_path):
    from lczmap.maps import assess_map

    lcz, ref = hand_case
    out = tmp_path / "assess.json"
    result = _run(
        "lczmap:assess",
        {
            "INPUT": str(lcz),
            "REFERENCE": str(ref),
            "DRAWS": 5,
            "OUTPUT": str(out),
            "FIGURE": str(tmp_path / "cm.png"),
            "UNITS": str(tmp_path / "agreement.gpkg"),
        },
    )
    expected = assess_map(lcz, ref, draws=5)
    assert result["OA"] == pytest.approx(expected.scores["OA"]) == pytest.approx(11 / 13)
    assert result["KAPPA"] == pytest.approx(expected.scores["kappa"])
    assert json.loads(out.read_text())["bootstrap"]["draws"] == 5
    assert (tmp_path / "cm.png").exists() and (tmp_path / "agreement.gpkg").exists()
    with pytest.raises(QgsProcessingException, match="Replace existing outputs"):
        _run("lczmap:assess", {"INPUT": str(lcz), "REFERENCE": str(ref), "OUTPUT": str(out)})
    done = _run("lczmap:assess", {"INPUT": str(lcz), "REFERENCE": str(ref), "OUTPUT": str(out), "OVERWRITE": True})
    assert done["OA"] == pytest.approx(11 / 13)


def test_assess_algorithm_against_another_map(plugin, hand_case, tmp_path):
    lcz, _ = hand_case
    result = _run("lczmap:assess", {"INPUT": str(lcz), "AGAINST": str(lcz), "OUTPUT": str(tmp_path / "a.json")})
    assert result["OA"] == pytest.approx(1.0)


def test_ucp_algorithm_writes_named_bands(plugin, hand_case, tmp_path):
    import rasterio

    lcz, _ = hand_case
    out = tmp_path / "ucp.tif"
    result = _run("lczmap:ucp", {"INPUT": str(lcz), "VALUE": 2, "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out)
    with rasterio.open(out) as src:
        assert src.descriptions[0] == "sky_view_factor" and src.tags()["ucp_value"] == "high"
        assert src.read(1)[0, 0] == pytest.approx(0.4)

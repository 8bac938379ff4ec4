"""The accuracy-sample algorithms of the QGIS plugin (draw a sample; area-adjusted accuracy from
it, labelled), run through ``processing.run``."""

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
def lcz(tmp_path):
    """A 40 x 50 LCZ map (UTM 33N, 100 m) of four classes in blocks, a no-data corner."""
    import rasterio
    from affine import Affine

    codes = np.full((40, 50), 14, np.uint8)
    codes[:20, :25] = 6
    codes[20:, :10] = 11
    codes[:8, 40:] = 17
    codes[-3:, -3:] = 0
    path = tmp_path / "lcz.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=50,
        height=40,
        count=1,
        dtype="uint8",
        nodata=0,
        crs="EPSG:32633",
        transform=Affine(100, 0, 500000, 0, -100, 5001000),
    ) as dst:
        dst.write(codes, 1)
    return path


def test_design_algorithms_are_registered(plugin):
    for alg_id, title in (
        ("lczmap:design", "Draw LCZ accuracy sample"),
        ("lczmap:assess_sample", "Area-adjusted accuracy from a labelled sample"),
    ):
        alg = QgsApplication.processingRegistry().algorithmById(alg_id)
        assert alg is not None and alg.displayName() == title
        ok, message = alg.canExecute()
        assert ok, message


def test_design_then_assess_match_the_library(plugin, lcz, tmp_path):
    import geopandas as gpd

    from lczmap.maps import assess_sample, design_sample

    out = tmp_path / "sample.gpkg"
    params = {"INPUT": str(lcz), "N": 120, "ALLOCATION": 2, "MIN_PER_CLASS": 20, "ANTICIPATED": "G=0.99", "SEED": 3}
    result = _run("lczmap:design", {**params, "OUTPUT": str(out)})
    assert result["POINTS"] == 120 and result["KML"] == str(tmp_path / "sample.kml")
    points = gpd.read_file(out, layer="sample")
    library = design_sample(
        lcz, tmp_path / "lib.gpkg", n=120, allocation="neyman", min_per_class=20, anticipated={17: 0.99}, seed=3
    )
    assert points.geometry.equals(library.points.geometry)
    # labelled: the map's class, except a fifth of the LCZ 6 points, which are D
    ref = points["map_label"].copy()
    six = np.flatnonzero(points["map_lcz"].to_numpy() == 6)
    ref.iloc[six[: len(six) // 5]] = "D"
    points["reference"] = ref
    points.to_file(tmp_path / "labelled.gpkg", layer="sample")
    done = _run(
        "lczmap:assess_sample",
        {"INPUT": str(lcz), "SAMPLE": str(tmp_path / "labelled.gpkg"), "OUTPUT": str(tmp_path / "a.json")},
    )
    expected = assess_sample(lcz, tmp_path / "labelled.gpkg").estimate
    assert done["OA"] == pytest.approx(expected.overall)
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["points"] == 120 and data["overall"]["value"] == pytest.approx(expected.overall)
    with pytest.raises(QgsProcessingException, match="Replace existing outputs"):
        _run("lczmap:design", {**params, "OUTPUT": str(out)})


def test_assess_sample_without_labels_is_one_line(plugin, lcz, tmp_path):
    _run("lczmap:design", {"INPUT": str(lcz), "N": 80, "MIN_PER_CLASS": 10, "OUTPUT": str(tmp_path / "s.gpkg")})
    with pytest.raises(QgsProcessingException, match="has no reference labels filled in"):
        _run("lczmap:assess_sample", {"INPUT": str(lcz), "SAMPLE": str(tmp_path / "s.kml"), "OUTPUT": str(tmp_path / "a.json")})

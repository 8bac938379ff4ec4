"""LCZ raster writing: COG layout, colour table, category names, MODE overviews, styles, no clobbering."""

import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from lczmap import raster
from lczmap.classes import LCZ_CLASSES
from lczmap.errors import OutputExistsError

T = from_origin(500000, 5000000, 100, 100)


def _blocks(h, w):
    """Codes in 2x2 blocks alternating 1 and 17 (AVERAGE overviews would give 9, MODE never)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.where(((yy // 2) + (xx // 2)) % 2 == 0, 1, 17).astype(np.uint8)


def test_write_lcz_cog_palette_tags(tmp_path):
    codes = _blocks(1200, 1100)
    codes[:5] = 0
    out = raster.write_lcz(tmp_path / "lcz.tif", codes, T, "EPSG:32632", tags={"model": "m.safetensors"})
    with rasterio.open(out) as ds:
        assert ds.dtypes == ("uint8",) and ds.nodata == 0 and ds.crs.to_epsg() == 32632
        assert ds.transform == T
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.compression.name.lower() == "deflate"
        assert ds.block_shapes[0] == (512, 512)
        cmap = ds.colormap(1)
        for c in LCZ_CLASSES:
            assert cmap[c.code][:3] == c.rgb
        assert cmap[0][3] == 0
        assert ds.tags()["model"] == "m.safetensors"
        assert ds.overviews(1), "a COG of this size has overviews"
        np.testing.assert_array_equal(ds.read(1), codes)
        ov = ds.read(1, out_shape=(1, 300, 275))
    assert set(np.unique(ov)) <= {0, 1, 17}, "MODE overviews never blend classes"
    assert (tmp_path / "lcz.qml").read_text() == raster.lcz_qml()
    assert (tmp_path / "lcz.tif.aux.xml").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files left"


def test_aux_xml_category_names_and_rat():
    root = ET.fromstring(raster.lcz_aux_xml())
    cats = [c.text or "" for c in root.iter("Category")]
    assert len(cats) == 18 and cats[6] == "LCZ 6 Open low-rise" and cats[17] == "LCZ G Water"
    rows = root.findall(".//GDALRasterAttributeTable/Row")
    assert len(rows) == 17
    assert [f.text for f in rows[10]][:3] == ["11", "Dense trees", "A"]


@pytest.mark.skipif(shutil.which("gdalinfo") is None, reason="needs GDAL's gdalinfo")
def test_gdal_reads_category_names(tmp_path):
    out = raster.write_lcz(tmp_path / "lcz.tif", _blocks(64, 64), T, "EPSG:32632")
    info = subprocess.run(["gdalinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert "LCZ 3 Compact low-rise" in info and "Palette" in info


def test_shipped_style_matches_generator():
    assert raster.STYLE_PATH.read_text() == raster.lcz_qml()
    root = ET.fromstring(raster.lcz_qml().split("\n", 1)[1])
    entries = root.findall(".//paletteEntry")
    assert [int(e.get("value")) for e in entries] == list(range(1, 18))
    assert entries[16].get("color") == "#6a6aff"


def test_no_clobber_and_overwrite(tmp_path):
    out = raster.write_lcz(tmp_path / "lcz.tif", _blocks(40, 40), T, "EPSG:32632")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        raster.write_lcz(out, np.ones((40, 40), np.uint8), T, "EPSG:32632")
    raster.write_lcz(out, np.ones((40, 40), np.uint8), T, "EPSG:32632", overwrite=True)
    with rasterio.open(out) as ds:
        assert (ds.read(1) == 1).all()


def test_write_lcz_rejects_non_codes(tmp_path):
    with pytest.raises(ValueError, match="LCZ codes"):
        raster.write_lcz(tmp_path / "x.tif", np.full((8, 8), 30, np.uint8), T, "EPSG:32632")
    assert not (tmp_path / "x.tif").exists()


def test_write_float(tmp_path):
    data = np.random.default_rng(0).random((3, 50, 60)).astype(np.float32)
    data[:, 0, 0] = np.nan
    out = raster.write_float(tmp_path / "p.tif", data, T, "EPSG:32632", descriptions=["a", "b", "c"])
    with rasterio.open(out) as ds:
        assert ds.dtypes[0] == "float32" and ds.count == 3 and np.isnan(ds.nodata)
        assert ds.descriptions == ("a", "b", "c")
        np.testing.assert_array_equal(ds.read(), data)

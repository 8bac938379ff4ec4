"""Scene inputs found wrong from outside (issue #26, "bands"): swapped or repeated polarisations,
amplitude read as power, dataset-level tags, pre-filtered files, degree grids and absurd pixels,
areas of interest that hold the scene or have no CRS, non-regular files as inputs, and a
checkpoint whose band set was edited. Real GeoTIFFs (rasterio), real GeoJSON, real named pipes,
real checkpoints; the CLI is run as a user runs it (one line, no traceback)."""

import json
import logging
import os
import struct

import numpy as np
import pytest
import rasterio
from _predict_fixtures import tiny_checkpoint, write_tif
from click.testing import CliRunner

from lczmap.checkpoint import load_checkpoint
from lczmap.cli import main
from lczmap.errors import CheckpointError, ConfigError, SceneError
from lczmap.scene import open_scene
from lczmap.scene.grid import aoi_bounds


def _s1(h=64, w=64, seed=0):
    """VV and VH linear sigma0 as Sentinel-1 has them over land: VH ~7 dB darker (gamma speckle)."""
    rng = np.random.default_rng(seed)
    vv = rng.gamma(4.4, 0.06 / 4.4, size=(h, w)).astype(np.float32)
    vh = rng.gamma(4.4, 0.012 / 4.4, size=(h, w)).astype(np.float32)
    return np.stack([vv, vh])


def _run(*args):
    result = CliRunner().invoke(main, ["-q", *map(str, args)])
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.safetensors")


# ------------------------------------------------------------------ swapped and repeated polarisations


def test_swapped_polarisations_refused_by_every_route(tmp_path, ckpt):
    a = _s1()
    vv = write_tif(tmp_path / "vv.tif", a[0])
    vh = write_tif(tmp_path / "vh.tif", a[1])
    both = write_tif(tmp_path / "s.tif", a)  # VV, VH, no descriptions
    described = write_tif(tmp_path / "d.tif", a[::-1].copy(), descriptions=["VV", "VH"])  # mislabelled
    assert open_scene(vv=vv, vh=vh).channel_names == ["VH intensity", "VV intensity"]
    with pytest.raises(SceneError, match="swap the files of --vv and --vh"):
        open_scene(vv=vh, vh=vv)
    with pytest.raises(SceneError, match=r"--bands in the order the file holds them"):
        open_scene(both, bands=["VH", "VV"])
    with pytest.raises(SceneError, match="dB brighter .* swapped; name the bands"):
        open_scene(described)
    res = _run("predict", "--vv", vh, "--vh", vv, tmp_path / "o.tif", "-m", ckpt)
    assert res.exit_code == 1 and "swapped" in res.output and not (tmp_path / "o.tif").exists()


def test_same_file_or_same_values_as_vv_and_vh_refused(tmp_path, ckpt):
    a = _s1()
    vv = write_tif(tmp_path / "vv.tif", a[0])
    os.link(vv, tmp_path / "also_vv.tif")
    for other in (vv, tmp_path / "also_vv.tif"):
        with pytest.raises(SceneError, match="--vv and --vh name the same file"):
            open_scene(vv=vv, vh=other)
    copy = write_tif(tmp_path / "copy.tif", a[0])
    with pytest.raises(SceneError, match="hold the same values"):
        open_scene(vv=vv, vh=copy)
    res = _run("predict", "--vv", vv, "--vh", vv, tmp_path / "o.tif", "-m", ckpt)
    assert res.exit_code == 1 and "same file" in res.output


def test_amplitude_read_as_power_warned(tmp_path, caplog):
    a = _s1()
    power = write_tif(tmp_path / "p.tif", a, descriptions=["VV", "VH"])
    amp = write_tif(tmp_path / "a.tif", np.sqrt(a), descriptions=["VV", "VH"])
    with caplog.at_level(logging.WARNING, logger="lczmap"):
        open_scene(power)
        assert "amplitude" not in caplog.text
        open_scene(amp)
        assert "look like amplitude" in caplog.text and "--units amplitude" in caplog.text
        caplog.clear()
        scene = open_scene(amp, units="amplitude")  # said: no warning, squared to power
        assert "look like amplitude" not in caplog.text
    np.testing.assert_allclose(scene.read(0, 64, 0, 64), a[[1, 0]], rtol=1e-5)


# ------------------------------------------------------------------ tags at dataset level


def test_dataset_level_units_tag_read_like_band_tags(tmp_path):
    a = _s1()
    path = write_tif(tmp_path / "s.tif", a, descriptions=["VV", "VH"])
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(UNITS="linear")  # the file says linear; no band unit
    with pytest.raises(SceneError, match="dataset-level UNITS tag says 'linear'"):
        open_scene(path, units="db")
    assert open_scene(path).units == "linear"
    db = write_tif(tmp_path / "db.tif", 10 * np.log10(a), descriptions=["VV", "VH"])
    with rasterio.open(db, "r+") as ds:
        ds.update_tags(UNITS="dB")
    scene = open_scene(db)
    assert scene.units == "db" and any("UNITS tag" in c or "dB" in c for c in scene.conversions)


def test_prefiltered_file_not_filtered_again(tmp_path, ckpt):
    from lczmap.twin.scene import write_scene

    lee, _ = write_scene(tmp_path / "lee.tif", size=(120, 130), seed=3, kind="lee")
    grd, _ = write_scene(tmp_path / "grd.tif", size=(120, 130), seed=3, kind="grd")
    assert open_scene(lee).prefiltered and not open_scene(grd).prefiltered
    res = _run("predict", lee, tmp_path / "o.tif", "-m", ckpt)
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "o.tif") as ds:
        assert ds.tags()["speckle_filter"] == "none" and "speckle filtered already" in ds.tags()["input_conversions"]
    res = _run("predict", lee, tmp_path / "x.tif", "-m", ckpt, "--speckle-filter", "refined-lee")
    assert res.exit_code != 0 and "smooth twice" in res.output and not (tmp_path / "x.tif").exists()


# ------------------------------------------------------------------ degree grids and absurd pixels


def test_degree_grids_held_to_the_10_m_rule_and_the_warp_tagged(tmp_path, ckpt):
    a = _s1(40, 40)
    coarse = write_tif(
        tmp_path / "c.tif", a, crs="EPSG:4326", res=0.0009, origin=(9.1, 45.5), descriptions=["VV", "VH"]
    )  # ~100 x 70 m
    utm30 = write_tif(tmp_path / "u.tif", a, res=30.0, descriptions=["VV", "VH"])
    for path in (coarse, utm30):
        with pytest.raises(SceneError, match="pass --resample"):
            open_scene(path)
    scene = open_scene(coarse, resample="bilinear")
    assert any(c.startswith("warped from EPSG:4326 to EPSG:32632 at 10 m (bilinear)") for c in scene.conversions)
    assert any(c.startswith("resampled from 30 x 30 m to 10 m") for c in open_scene(utm30, resample="nearest").conversions)
    gee = write_tif(
        tmp_path / "g.tif", _s1(120, 120), crs="EPSG:4326", res=10 / 111_320, origin=(9.1, 45.5), descriptions=["VV", "VH"]
    )  # Earth Engine's scale=10 in EPSG:4326: 10 m x 7 m
    res = _run("predict", gee, tmp_path / "o.tif", "-m", ckpt)
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "o.tif") as ds:
        assert "warped from EPSG:4326 to EPSG:32632 at 10 m (bilinear)" in ds.tags()["input_conversions"]
    res = _run("predict", coarse, tmp_path / "c.tif.out.tif", "-m", ckpt)
    assert res.exit_code == 1 and "--resample" in res.output


def test_absurd_pixels_refused_by_the_resolution_rule(tmp_path):
    huge = write_tif(tmp_path / "h.tif", _s1(4, 4), crs="EPSG:4326", res=10.0, origin=(0.0, 40.0), descriptions=["VV", "VH"])
    for resample in (None, "bilinear"):
        with pytest.raises(SceneError, match="coarser than that cannot be mapped"):
            open_scene(huge, resample=resample)
    km = write_tif(tmp_path / "k.tif", _s1(4, 4), res=1000.0, descriptions=["VV", "VH"])
    with pytest.raises(SceneError, match="coarser than that"):
        open_scene(km, resample="bilinear")


# ------------------------------------------------------------------ areas of interest


def test_aoi_holding_the_whole_scene_is_the_scene(tmp_path, ckpt):
    path = write_tif(tmp_path / "s.tif", _s1(96, 96), origin=(300000.0, 5000000.0), descriptions=["VV", "VH"])
    res = _run("predict", path, tmp_path / "all.tif", "-m", ckpt, "--aoi=-180,-90,180,90")
    assert res.exit_code == 0, res.output
    _run("predict", path, tmp_path / "plain.tif", "-m", ckpt)
    with rasterio.open(tmp_path / "all.tif") as a, rasterio.open(tmp_path / "plain.tif") as b:
        assert a.transform == b.transform and (a.read() == b.read()).all()


def test_aoi_file_without_crs_in_projected_numbers_refused_up_front(tmp_path, ckpt):
    path = write_tif(tmp_path / "s.tif", _s1(64, 64), descriptions=["VV", "VH"])
    aoi = tmp_path / "aoi.geojson"
    ring = [[500100, 4999900], [500500, 4999900], [500500, 4999500], [500100, 4999500], [500100, 4999900]]
    aoi.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}],
            }
        )
    )
    res = _run("predict", path, tmp_path / "o.tif", "-m", ckpt, "--aoi", aoi)
    assert res.exit_code != 0 and "has no CRS" in res.output and "ogr2ogr -a_srs" in res.output
    assert len(res.output.strip().splitlines()) == 1


# ------------------------------------------------------------------ non-regular files


def test_named_pipes_and_folders_refused_up_front(tmp_path, ckpt):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    scene = write_tif(tmp_path / "s.tif", _s1(), descriptions=["VV", "VH"])
    with pytest.raises(SceneError, match="is a named pipe"):
        open_scene(fifo)
    with pytest.raises(SceneError, match="is a named pipe"):
        open_scene(vv=scene, vh=fifo)
    with pytest.raises(SceneError, match="is a folder"):
        open_scene(vv=scene, vh=tmp_path)
    res = _run("predict", fifo, tmp_path / "o.tif", "-m", ckpt)  # would hang in GDAL's open
    assert res.exit_code == 1 and "named pipe" in res.output
    aoi = tmp_path / "aoi.geojson"
    os.mkfifo(aoi)
    res = _run("predict", scene, tmp_path / "o.tif", "-m", ckpt, "--aoi", aoi)  # the option's check
    assert res.exit_code == 2 and "is not a file (--aoi)" in res.output
    with pytest.raises(ConfigError, match="is a named pipe"):  # and the library's, for Python callers
        aoi_bounds(str(aoi))


def test_named_pipe_as_training_areas_or_reference_refused(tmp_path):
    from lczmap.adapt.areas import read_training_areas
    from lczmap.errors import ZonesError
    from lczmap.maps.reference import read_layer

    fifo = tmp_path / "areas.kml"
    os.mkfifo(fifo)  # GDAL would wait on it forever
    with pytest.raises(ZonesError, match="is a named pipe, not a file"):
        read_training_areas(str(fifo))
    with pytest.raises(ZonesError, match="is a named pipe, not a file"):
        read_layer(str(fifo))


# ------------------------------------------------------------------ an edited checkpoint


def _edit_meta(src, dst, edit):
    data = src.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["meta"])
    edit(meta)
    header["__metadata__"]["meta"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    dst.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])
    return dst


def test_checkpoint_edited_to_another_band_set_refused(tmp_path):
    from lczmap.bands import band_set

    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    assert load_checkpoint(ckpt).sar_bands.name == "lee-intensity"

    def other(meta):  # a whole, consistent band set of another channel count
        meta["sar_bands"] = band_set("vv-intensity", "sar").to_dict()

    def renamed(meta):  # the name alone (2 channels either way)
        meta["sar_bands"]["name"] = "vv-complex"

    for edit, says in ((other, "first layer takes 2"), (renamed, "lists other channels")):
        bad = _edit_meta(ckpt, tmp_path / f"{edit.__name__}.safetensors", edit)
        with pytest.raises(CheckpointError, match=says):
            load_checkpoint(bad)
        res = _run("predict", "x.tif", tmp_path / "o.tif", "-m", bad)
        assert res.exit_code != 0 and "metadata" in res.output


def test_aoi_points_in_projected_numbers_read_as_lon_lat_refused(tmp_path):
    aoi = tmp_path / "a.geojson"
    aoi.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [700000, 5500000]}}
                ],
            }
        )
    )
    with pytest.raises(ConfigError, match="not longitude/latitude"):
        aoi_bounds(str(aoi))

"""Products as users download them: HyP3, OPERA, Planetary Computer, Earth Engine, SNAP/pyroSAR,
STAC Items; units, normalisation, masks and fill values; the one-line refusals.

Real files: tests/data/products (see its README) and the BigEarthNet-S1 patches of the
bigearthnet-common wheel. The other kinds are written here from their specifications (the
docstrings of lczmap.scene.products.hyp3, .opera, .planetary, .gee, .snap, .stac cite them)."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from _predict_fixtures import grd, tiny_checkpoint, write_tif
from click.testing import CliRunner

from lczmap.errors import SceneError
from lczmap.scene import open_scene

DATA = Path(__file__).parents[1] / "data" / "products"
HYP3 = "S1A_IW_20180128T161201_DVP_RTC10_G_{d}{e}uned_FD6A"
OPERA = "OPERA_L2_RTC-S1_T069-147170-IW1_20210205T163901Z_20220101T140222Z_S1A_30_v1.0"
OPERA_STATIC = "OPERA_L2_RTC-S1-STATIC_T069-147170-IW1_20140403_S1A_30_v1.0"


def _angle(h, w):
    """Incidence angle in degrees, 30-45 across the swath, as Sentinel-1 IW has it."""
    return np.broadcast_to(np.linspace(30, 45, w, dtype=np.float32), (h, w)).copy()


def _encode(power, units):
    return {"linear": power, "amplitude": np.sqrt(power), "db": 10 * np.log10(power)}[units]


@pytest.fixture
def sigma0():
    return grd(96, 100, seed=4)  # (VV, VH) linear sigma0


def hyp3_product(folder, s, d="g", e="p", ls=None, inc=True):
    """An ASF HyP3 RTC product folder (HyP3 RTC product guide): per-pol float32 COGs with nodata 0,
    gamma0 (g) or sigma0 (s), power (p) / dB (d) / amplitude (a), _ls_map.tif, _inc_map.tif (rad)."""
    base = HYP3.format(d=d, e=e)
    folder = Path(folder) / base
    folder.mkdir()
    theta = np.deg2rad(_angle(*s.shape[1:]))
    values = s / np.cos(theta) if d == "g" else s
    for pol, v in zip(("VV", "VH"), values):
        write_tif(
            folder / f"{base}_{pol}.tif",
            _encode(v, {"p": "linear", "d": "db", "a": "amplitude"}[e]).astype(np.float32),
            nodata=0.0,
        )
    write_tif(folder / f"{base}_ls_map.tif", np.ones(s.shape[1:], np.uint8) if ls is None else ls, nodata=0)
    if inc:
        write_tif(folder / f"{base}_inc_map.tif", theta.astype(np.float32), nodata=0.0)
    return folder, base


# ------------------------------------------------------------------ the registry of kinds


def test_kinds_are_asked_in_their_registry_order():
    from lczmap.scene import products

    assert [k.__name__.rsplit(".", 1)[1] for k in products.KINDS] == [
        "stac",
        "safe",
        "hyp3",
        "opera",
        "planetary",
        "snap",
        "gee",
        "geotiff",
    ]
    assert all(k.IN_PAIR in ("meaning", "refused", "unasked") for k in products.KINDS)


def test_a_new_kind_is_one_recogniser_in_the_registry(tmp_path, sigma0, monkeypatch):
    """A kind added to the registry (before the plain rasters) decides what its files are; the
    kinds before it still decide theirs."""
    import types

    from lczmap.scene import open as scene_open, products
    from lczmap.scene.products.base import Product

    def recognise(path):
        if not path.endswith(".mine.tif"):
            return None
        return Product("mine", "My product", ((path, None),), "sigma0", "db", "my product's name")

    mine = types.SimpleNamespace(recognise=recognise, IN_PAIR="unasked")
    monkeypatch.setattr(scene_open, "KINDS", products.KINDS[:-1] + (mine,) + products.KINDS[-1:])
    write_tif(tmp_path / "a.mine.tif", 10 * np.log10(sigma0).astype(np.float32), descriptions=["VV", "VH"])
    scene = open_scene(tmp_path / "a.mine.tif")
    assert scene.conversions[:2] == ("product: My product (my product's name)", "dB -> linear power")
    np.testing.assert_allclose(scene.read(0, 96, 0, 100), sigma0[[1, 0]], rtol=1e-4)
    folder, base = hyp3_product(tmp_path, sigma0, "s", "p")
    assert "ASF HyP3 RTC" in open_scene(folder / f"{base}_VV.tif").conversions[0]


def test_a_vv_vh_pair_takes_what_its_first_file_s_product_says(tmp_path, sigma0):
    """--vv/--vh files of a HyP3 gamma0 product: the user's files, the product's quantity and angle."""
    folder, base = hyp3_product(tmp_path, sigma0, "g", "p")
    scene = open_scene(vv=folder / f"{base}_VV.tif", vh=folder / f"{base}_VH.tif")
    assert scene.sources == (str(folder / f"{base}_VV.tif"), str(folder / f"{base}_VH.tif"))
    assert scene.quantity == "gamma0" and any("gamma0 -> sigma0" in c for c in scene.conversions)
    np.testing.assert_allclose(scene.read(0, 96, 0, 100), sigma0[[1, 0]], rtol=1e-4)


# ------------------------------------------------------------------ HyP3


@pytest.mark.parametrize("e", ["p", "d", "a"])
def test_hyp3_gamma0_pair_found_from_one_file_and_converted(tmp_path, sigma0, e):
    folder, base = hyp3_product(tmp_path, sigma0, "g", e)
    scene = open_scene(folder / f"{base}_VH.tif")  # either file finds the pair
    assert scene.quantity == "gamma0" and scene.units == {"p": "linear", "d": "db", "a": "amplitude"}[e]
    np.testing.assert_allclose(scene.read(0, 96, 0, 100), sigma0[[1, 0]], rtol=1e-4)
    text = " | ".join(scene.conversions)
    assert "ASF HyP3 RTC" in text and "gamma0 -> sigma0 = gamma0 * cos(theta)" in text and "mask:" in text
    assert ("-> linear power" in text) == (e != "p")


def test_hyp3_layover_shadow_flags(tmp_path, sigma0):
    ls = np.ones((96, 100), np.uint8)
    ls[:, 10:20] = 5  # layover (4) + tested (1)
    ls[:, 30:40] = 17  # shadow (16) + tested
    ls[:, 50:60] = 3  # look angle < slope angle only: valid
    folder, base = hyp3_product(tmp_path, sigma0, "s", "p", ls=ls)
    block = open_scene(folder).read(0, 96, 0, 100)  # the product folder works too
    bad = np.zeros(100, bool)
    bad[10:20] = bad[30:40] = True
    assert np.isnan(block[:, :, bad]).all() and np.isfinite(block[:, :, ~bad]).all()


def test_hyp3_gamma0_without_angle_is_refused_and_quantity_overrides(tmp_path, sigma0):
    folder, base = hyp3_product(tmp_path, sigma0, "g", "p", inc=False)
    with pytest.raises(SceneError, match=r"holds gamma0 .*include_inc_map.*--quantity sigma0") as e:
        open_scene(folder / f"{base}_VV.tif")
    assert "\n" not in str(e.value)
    scene = open_scene(folder / f"{base}_VV.tif", quantity="sigma0")
    assert any("gamma0 taken as sigma0" in c for c in scene.conversions)


def test_units_that_contradict_the_product_name_are_refused(tmp_path, sigma0):
    folder, base = hyp3_product(tmp_path, sigma0, "s", "d")
    with pytest.raises(SceneError, match="--units linear .* contradicts the HyP3 file name"):
        open_scene(folder / f"{base}_VV.tif", units="linear")


def test_real_hyp3_files_are_recognised(tmp_path):
    """ASF's own HyP3 test files (sigma0 amplitude, VV only, 10 x 10, all nodata)."""
    base = "S1A_IW_20150621T120220_SVP_RTC10_G_saufem_F8E2"
    for f in (DATA / "hyp3-gamma").glob("rtc*.tif"):
        shutil.copy(f, tmp_path / f.name.replace("rtc", base))
    with pytest.raises(SceneError, match="--sar-bands vv-intensity"):
        open_scene(tmp_path / f"{base}_VV.tif", "lee-intensity")  # VV only, as the name says (SV)
    scene = open_scene(tmp_path / f"{base}_VV.tif", "vv-intensity")
    assert (scene.quantity, scene.units, scene.channel_names) == ("sigma0", "amplitude", ["VV intensity"])
    assert [m.kind for m in scene.masks] == ["hyp3-ls"] and scene.angle is None  # sigma0: no angle needed
    assert np.isnan(scene.read(0, 10, 0, 10)).all()  # HyP3 writes nodata 0


# ------------------------------------------------------------------ OPERA, Planetary Computer, Earth Engine, SNAP


def test_opera_burst_with_mask_and_static_angle(tmp_path, sigma0):
    """OPERA RTC-S1: gamma0 power at 30 m, _mask.tif (0 valid, 1-3 shadow/layover, 255 fill),
    the static layer's incidence_angle.tif in degrees."""
    s = sigma0[:, :48, :48]
    theta = _angle(48, 48)
    kw = dict(res=30.0)
    for pol, v in zip(("VV", "VH"), s):
        write_tif(tmp_path / f"{OPERA}_{pol}.tif", (v / np.cos(np.deg2rad(theta))).astype(np.float32), nodata=np.nan, **kw)
    mask = np.zeros((48, 48), np.uint8)
    mask[:, :6] = 255
    mask[20:24, :] = 2
    write_tif(tmp_path / f"{OPERA}_mask.tif", mask, nodata=255, **kw)
    write_tif(tmp_path / f"{OPERA_STATIC}_incidence_angle.tif", theta, **kw)
    write_tif(tmp_path / f"{OPERA_STATIC}_local_incidence_angle.tif", theta + 20, **kw)
    with pytest.raises(SceneError, match="--resample"):
        open_scene(tmp_path / f"{OPERA}_VV.tif")
    scene = open_scene(tmp_path / f"{OPERA}_VV.tif", resample="nearest")
    block = scene.read(0, scene.height, 0, scene.width)
    assert scene.shape == (2, 144, 144) and scene.quantity == "gamma0"
    assert np.isnan(block[:, :, :18]).all() and np.isnan(block[:, 60:72]).all()
    np.testing.assert_allclose(block[:, 0, 18::3], s[[1, 0], 0, 6:], rtol=1e-4)  # the ellipsoid angle, not the local one


def pc_scene(folder, s, border=8):
    """Planetary Computer sentinel-1-rtc assets (collection item_assets): .../measurement/iw-vv.rtc.tiff,
    gamma0 linear float32, nodata -32768; zero-filled swath border, not flagged."""
    m = Path(folder) / "S1A_IW_GRDH_1SDV_20191215T004339_20191215T004404_030352_0378DC_69C5" / "measurement"
    m.mkdir(parents=True)
    out = {}
    for pol, v in zip(("vv", "vh"), s):
        v = v.copy()
        v[:, :border] = 0.0
        v[:4] = -32768.0
        out[pol] = write_tif(m / f"iw-{pol}.rtc.tiff", v, nodata=-32768.0)
    return out


def test_planetary_computer_rtc(tmp_path, sigma0):
    files = pc_scene(tmp_path, sigma0)
    with pytest.raises(SceneError, match=r"gamma0 .*the collection publishes none.*--quantity sigma0"):
        open_scene(files["vh"])
    scene = open_scene(files["vh"], quantity="sigma0")
    block = scene.read(0, 96, 0, 100)
    assert np.isnan(block[:, :, :8]).all() and np.isnan(block[:, :4]).all() and np.isfinite(block[:, 4:, 8:]).all()
    assert "no data: 0 and -32768 in intensity bands" in scene.conversions


@pytest.mark.parametrize("units", ["db", "linear"])
def test_earth_engine_export(tmp_path, sigma0, units):
    """COPERNICUS/S1_GRD (dB) or S1_GRD_FLOAT (linear): bands VV, VH, angle; masked pixels as 0."""
    data = np.concatenate([_encode(sigma0, units), _angle(96, 100)[None]]).astype(np.float32)
    data[:2, :, -5:] = 0.0
    path = write_tif(tmp_path / "s1_export.tif", data, descriptions=["VV", "VH", "angle"])
    scene = open_scene(path)
    assert scene.units == units and scene.quantity == "sigma0"
    block = scene.read(0, 96, 0, 100)
    np.testing.assert_allclose(block[:, :, :-5], sigma0[[1, 0], :, :-5], rtol=1e-4)
    assert np.isnan(block[:, :, -5:]).all()


def test_snap_pyrosar_names(tmp_path, sigma0):
    for pol, v in zip(("VV", "VH"), sigma0):
        write_tif(tmp_path / f"S1A__IW___A_20180829T170656_{pol}_gamma0-rtc_db.tif", _encode(v, "db"))
    with pytest.raises(SceneError, match="holds gamma0 .*band described 'angle'"):
        open_scene(tmp_path / "S1A__IW___A_20180829T170656_VV_gamma0-rtc_db.tif")
    scene = open_scene(tmp_path / "S1A__IW___A_20180829T170656_VV_gamma0-rtc_db.tif", quantity="sigma0")
    assert scene.units == "db" and len(scene.sources) == 2
    np.testing.assert_allclose(scene.read(0, 96, 0, 100), sigma0[[1, 0]], rtol=1e-4)


def test_snap_band_descriptions(tmp_path, sigma0):
    path = write_tif(tmp_path / "subset.tif", _encode(sigma0, "db"), descriptions=["Sigma0_VV_db", "Sigma0_VH_db"])
    scene = open_scene(path)
    assert (scene.units, scene.quantity) == ("db", "sigma0")


def test_beta0_uses_the_sine(tmp_path, sigma0):
    theta = _angle(96, 100)
    beta0 = sigma0 / np.sin(np.deg2rad(theta))
    path = write_tif(
        tmp_path / "b.tif",
        np.concatenate([beta0, theta[None]]).astype(np.float32),
        descriptions=["Beta0_VV", "Beta0_VH", "incidenceAngleFromEllipsoid"],
    )
    scene = open_scene(path)
    assert scene.quantity == "beta0" and any("beta0 * sin(theta)" in c for c in scene.conversions)
    np.testing.assert_allclose(scene.read(0, 96, 0, 100), sigma0[[1, 0]], rtol=1e-4)


# ------------------------------------------------------------------ refusals


def test_ambiguous_units_are_refused(tmp_path, sigma0):
    path = write_tif(tmp_path / "s.tif", sigma0, descriptions=["VV", "VH"], units=["dB", "linear"])
    with pytest.raises(SceneError, match=r"ambiguous .*--units linear\|amplitude\|db"):
        open_scene(path)


def test_hh_hv_products_are_refused_for_a_vv_vh_model(tmp_path, sigma0):
    path = write_tif(tmp_path / "s.tif", sigma0, descriptions=["HH", "HV"])
    with pytest.raises(SceneError, match="holds HH/HV only .*trained on So2Sat's VV/VH"):
        open_scene(path)


def test_a_mask_on_another_grid_is_refused(tmp_path, sigma0):
    folder, base = hyp3_product(tmp_path, sigma0, "s", "p")
    write_tif(folder / f"{base}_ls_map.tif", np.ones((50, 50), np.uint8), res=20.0)
    with pytest.raises(SceneError, match="is not on the grid of .*give the mask or angle layer that came with the scene"):
        open_scene(folder / f"{base}_VV.tif")


def test_safe_measurement_tiff_is_refused():
    """A real SAFE measurement TIFF (xarray-sentinel's test data): digital numbers."""
    tiff = next((DATA / "xarray-sentinel").rglob("*.tiff"))
    with pytest.raises(SceneError, match=r"digital numbers.*give the \.SAFE folder or \.zip"):
        open_scene(tiff)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the GCP-only file written here
def test_dn_on_gcps_is_refused_whatever_its_name(tmp_path):
    from rasterio.control import GroundControlPoint

    gcps = [GroundControlPoint(r, c, 10 + c / 1000, 45 - r / 1000) for r in (0, 40) for c in (0, 40)]
    path = write_tif(tmp_path / "x.tif", np.full((40, 40), 100, np.uint16), crs="EPSG:4326", gcps=gcps)
    with pytest.raises(SceneError, match="uint16 values on ground control points"):
        open_scene(path)


# ------------------------------------------------------------------ STAC


def stac_item(folder, files, collection="sentinel-1-rtc", angle=None, pols=("VV", "VH")):
    """A sentinel-1-rtc STAC Item as the Planetary Computer publishes it (assets vv, vh with
    raster:bands nodata -32768; sar:polarizations), hrefs relative to the item."""
    assets = {
        p: {
            "href": str(Path(f).relative_to(folder)),
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
            "title": f"{p.upper()}",
            "raster:bands": [{"nodata": -32768, "data_type": "float32"}],
            "description": "Terrain-corrected gamma naught values",
        }
        for p, f in files.items()
    }
    if angle is not None:
        assets["incidence_angle"] = {"href": str(Path(angle).relative_to(folder)), "roles": ["data"]}
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "S1A_IW_GRDH_1SDV_20191215T004339_rtc",
        "collection": collection,
        "geometry": {"type": "Point", "coordinates": [9.0, 45.0]},
        "bbox": [9, 45, 9, 45],
        "properties": {"datetime": "2019-12-15T00:43:39Z", "sar:polarizations": list(pols)},
        "links": [],
        "assets": assets,
        "stac_extensions": [],
    }
    path = Path(folder) / "item.json"
    path.write_text(json.dumps(item))
    return path


def test_stac_item(tmp_path, sigma0):
    pytest.importorskip("pystac")
    files = pc_scene(tmp_path, sigma0)
    theta = _angle(96, 100)
    angle = write_tif(tmp_path / "angle.tif", theta)
    with pytest.raises(SceneError, match="--quantity sigma0"):
        open_scene(stac_item(tmp_path, files))
    scene = open_scene(stac_item(tmp_path, {p: f for p, f in files.items()}, angle=angle))
    assert scene.quantity == "gamma0" and scene.sources == (str(files["vv"]), str(files["vh"]))
    want = sigma0[[1, 0]] * np.cos(np.deg2rad(theta))
    np.testing.assert_allclose(scene.read(0, 96, 0, 100)[:, 4:, 8:], want[:, 4:, 8:], rtol=1e-4)


def test_stac_item_without_vv_vh_is_refused(tmp_path):
    pytest.importorskip("pystac")
    angle = write_tif(tmp_path / "angle.tif", _angle(40, 40))
    path = stac_item(tmp_path, {"angle": angle})
    with pytest.raises(SceneError, match="has no vv or vh asset") as e:
        open_scene(path)
    assert "\n" not in str(e.value)


def test_cli_maps_a_stac_item_and_refuses_one_without_vv_vh(tmp_path, sigma0):
    pytest.importorskip("pystac")
    from lczmap.cli import main

    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    item = stac_item(tmp_path, pc_scene(tmp_path, sigma0), angle=write_tif(tmp_path / "angle.tif", _angle(96, 100)))
    r = CliRunner().invoke(main, ["predict", str(item), str(tmp_path / "lcz.tif"), "-m", str(ckpt)])
    assert r.exit_code == 0, r.output
    with rasterio.open(tmp_path / "lcz.tif") as ds:
        tags = ds.tags()
        codes = ds.read(1)
    assert "gamma0 -> sigma0" in tags["input_conversions"] and "Planetary Computer" in tags["input_conversions"]
    assert codes[0, 0] == 0 and (codes != 0).any()  # the zero/-32768 border is no data
    bad = stac_item(tmp_path, {"angle": tmp_path / "angle.tif"})
    r = CliRunner().invoke(main, ["predict", str(bad), str(tmp_path / "bad.tif"), "-m", str(ckpt)])
    assert r.exit_code == 1 and "no vv or vh asset" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "bad.tif").exists()


# ------------------------------------------------------------------ mapping with masks and conversions


def test_predict_records_conversions_and_leaves_masked_areas_empty(tmp_path, sigma0):
    from lczmap.predict import predict_scene

    s = np.concatenate([sigma0, sigma0], axis=2)[:, :, :160]  # 96 x 160
    ls = np.ones(s.shape[1:], np.uint8)
    ls[:, 80:] = 17  # shadow on the right half
    folder, base = hyp3_product(tmp_path, s, "g", "d", ls=ls)
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    res = predict_scene(folder / f"{base}_VV.tif", tmp_path / "lcz.tif", ckpt)
    with rasterio.open(res.out) as ds:
        codes, tags = ds.read(1), ds.tags()
    assert (codes[:, 9:] == 0).all() and (codes[:, :7] != 0).all()
    assert "gamma0 -> sigma0" in tags["input_conversions"] and "dB -> linear power" in tags["input_conversions"]
    with pytest.raises(SceneError):  # a mask on another grid: nothing written
        write_tif(folder / f"{base}_ls_map.tif", np.ones((10, 10), np.uint8), res=20.0)
        predict_scene(folder / f"{base}_VV.tif", tmp_path / "other.tif", ckpt)
    assert not (tmp_path / "other.tif").exists()


def test_odc_stac_like_cube(sigma0, tmp_path):
    """An odc-stac load of sentinel-1-rtc items: a Dataset with variables vv, vh and a
    spatial_ref coordinate, turned into a (band, y, x) array; built by hand, no network."""
    import xarray as xr
    from odc.geo.geobox import GeoBox
    from odc.geo.xr import xr_coords

    from lczmap.predict import predict_dataarray

    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    grid = GeoBox.from_bbox((500000, 4990400, 501000, 4991360), "EPSG:32632", resolution=10)
    coords = xr_coords(grid, crs_coord_name="spatial_ref")
    ds = xr.Dataset({p: xr.DataArray(v, dims=("y", "x"), coords=coords) for p, v in zip(("vv", "vh"), sigma0)})
    da = ds.to_array("band")
    lcz = predict_dataarray(da, ckpt, stride=10)
    assert lcz.odc.geobox.crs == "EPSG:32632" and lcz.shape == (10, 10) and (lcz.values != 0).all()
    swapped = predict_dataarray(da.isel(band=[1, 0]), ckpt, stride=10)
    np.testing.assert_array_equal(lcz.values, swapped.values)  # matched by name, not order


# ------------------------------------------------------------------ single polarisation, real BigEarthNet patches


@pytest.fixture(scope="module")
def ben_vv(tmp_path_factory):
    import tarfile
    from importlib import resources

    ben = pytest.importorskip("bigearthnet_common", reason="pip install bigearthnet-common (test extra)")
    out = tmp_path_factory.mktemp("ben")
    with tarfile.open(resources.files(ben) / "BigEarthNet-S1-Example.tar.bz2") as tar:
        tar.extractall(out, filter="data")
    return sorted(out.rglob("*_VV.tif"))


def test_vv_intensity_model_trains_and_maps_a_real_vv_only_patch(twin_dir, ben_vv, tmp_path):
    from lczmap.predict import predict_scene
    from lczmap.train import TrainConfig, train

    cfg = TrainConfig(
        data=str(twin_dir),
        method="sar-only",
        classes="all",
        labels="all",
        sar_bands="vv-intensity",
        sar_epochs=1,
        width=4,
        depth=2,
        blocks=1,
        embedding=8,
        batch_size=128,
        device="cpu",
        val_max=64,
    )
    ckpt = train(cfg, tmp_path / "vv.safetensors").checkpoint
    vv = ben_vv[0]
    scene = open_scene(vv, "vv-intensity", units="db")  # BigEarthNet-S1: dB, no unit tag
    assert scene.channel_names == ["VV intensity"] and math.isclose(scene.affine.a, 10.0)
    pair = open_scene(vv, "lee-intensity", units="db")  # the VH file beside is found from the name
    assert [Path(p).name[-6:] for p in pair.sources] == ["VV.tif", "VH.tif"]
    res = predict_scene(vv, tmp_path / "lcz.tif", ckpt, units="db")
    with rasterio.open(res.out) as ds:
        assert ds.tags()["band_set"] == "vv-intensity" and (ds.read(1) != 0).all()

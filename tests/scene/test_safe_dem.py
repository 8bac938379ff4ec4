"""Terrain correction of SAFE products with a DEM (``--dem``, sarsen's range-Doppler backward
geocoding): on the twin's GRD (whose annotation carries an orbit consistent with its grid) a flat
DEM gives the ellipsoid geocoding and a plateau shifts the map by h / tan(incidence) in ground
range; on xarray-sentinel's real S1B GRD annotation (real orbit, tests/data/safe/README.md) the
DEM geocoding lands on the annotation's own geolocation grid; bad DEMs are refused."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from _predict_fixtures import tiny_checkpoint
from _safe_fixtures import REAL, real_with_luts as copy_real_with_luts
from click.testing import CliRunner
from pyproj import Transformer

from lczmap.cli import main
from lczmap.errors import ConfigError, SceneError
from lczmap.predict import PredictOptions, predict_scene
from lczmap.scene import open_scene
from lczmap.scene.safe import open_safe
from lczmap.twin.safe import INCIDENCE, write_safe

torch.set_num_threads(1)
L, P = 300, 400


def _truth(pol, r0, r1):
    rng = np.random.default_rng(0 if pol == "VV" else 1)
    return rng.gamma(2.0, 0.05 if pol == "VV" else 0.01, size=(L, P)).astype(np.float32)[r0:r1]


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    return write_safe(tmp_path_factory.mktemp("safe_dem"), L, P, _truth)


def _write_dem(path, crs, bounds, height, res=30.0, plateau=None):
    """A DEM GeoTIFF over ``bounds`` (west, south, east, north in ``crs``): ``height`` everywhere,
    ``plateau`` (metres) west of the middle when given."""
    w, s, e, n = bounds
    width, rows = int(math.ceil((e - w) / res)), int(math.ceil((n - s) / res))
    z = np.full((rows, width), height, np.float32)
    if plateau is not None:
        z[:, : width // 2] = plateau
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=rows,
        count=1,
        dtype="float32",
        crs=crs,
        transform=rasterio.transform.from_origin(w, n, res, res),
    ) as dst:
        dst.write(z[None])
    return path


def _scene_bounds(scene, pad=2000.0):
    t = scene.transform
    return (t[2] - pad, t[5] - scene.height * 10 - pad, t[2] + scene.width * 10 + pad, t[5] + pad)


def _radar(scene):
    """Radar (line, pixel) of every output pixel: the DEM geometry and the ellipsoid one."""
    r = scene.reader
    terrain, radar = r.terrain
    return terrain.coordinates(0, scene.height, 0, scene.width, (radar,))[0], r.coordinates(0, scene.height, 0, scene.width)


def test_flat_dem_gives_the_ellipsoid_geocoding(product, tmp_path):
    ell = open_safe(product, "vv-intensity")
    dem = _write_dem(tmp_path / "flat.tif", ell.crs, _scene_bounds(ell), 0.0)
    scene = open_safe(product, "vv-intensity", dem=dem)
    assert (scene.height, scene.width, scene.transform) == (ell.height, ell.width, ell.transform)  # the same grid
    (lt, pt), (le, pe) = _radar(scene)
    inside = (le > 0) & (le < L - 1) & (pe > 0) & (pe < P - 1)
    assert np.abs(lt - le)[inside].max() < 0.2 and np.abs(pt - pe)[inside].max() < 0.2  # pixels
    a, b = ell.read(0, ell.height, 0, ell.width), scene.read(0, scene.height, 0, scene.width)
    assert abs(int(np.isfinite(a).sum()) - int(np.isfinite(b).sum())) < 0.01 * np.isfinite(a).sum()
    both = np.isfinite(a) & np.isfinite(b)
    assert abs(b[both].mean() / a[both].mean() - 1) < 0.005  # ellipsoid sigma0: no terrain flattening


def test_plateau_shifts_the_map_by_h_over_tan_incidence(product, tmp_path):
    ell = open_safe(product, "vv-intensity")
    h = 300.0
    dem = _write_dem(tmp_path / "plateau.tif", ell.crs, _scene_bounds(ell), 0.0, plateau=h)
    scene = open_safe(product, "vv-intensity", dem=dem)
    (lt, pt), (le, pe) = _radar(scene)
    x = scene.transform[2] + (np.arange(scene.width) + 0.5) * 10
    mid = (_scene_bounds(ell)[0] + _scene_bounds(ell)[2]) / 2
    on = np.broadcast_to(x < mid - 500, lt.shape) & (pe > 60) & (pe < P - 60) & (le > 5) & (le < L - 5)
    off = np.broadcast_to(x > mid + 500, lt.shape) & (pe > 5) & (pe < P - 5) & (le > 5) & (le < L - 5)
    assert on.sum() > 1000 and off.sum() > 1000
    shift = (pt - pe)[on] * 10  # metres in ground range: the plateau is seen nearer the sensor
    expected = -h / math.tan(math.radians(INCIDENCE))
    assert np.median(shift) == pytest.approx(expected, rel=0.03)
    assert np.abs(lt - le)[on].max() < 0.3  # zero Doppler: no shift along the track
    assert np.abs(pt - pe)[off].max() < 0.2  # off the plateau: the ellipsoid geocoding
    assert any(c.startswith("DEM: plateau.tif") for c in scene.conversions)
    assert any("terrain corrected with DEM (sarsen range-Doppler)" in c for c in scene.conversions)


def test_windows_agree_with_the_whole(product, tmp_path):
    ell = open_safe(product, "vv-intensity")
    dem = _write_dem(tmp_path / "p.tif", ell.crs, _scene_bounds(ell), 100.0, plateau=400.0)
    scene = open_safe(product, "vv-intensity", dem=dem)
    whole = scene.read(0, scene.height, 0, scene.width)
    np.testing.assert_allclose(scene.read(37, 201, 55, 300), whole[:, 37:201, 55:300], rtol=1e-4, atol=1e-7, equal_nan=True)


@pytest.fixture
def real_with_luts(tmp_path, product):
    """The real product with calibration and noise XML beside it (the published test product has none)."""
    return copy_real_with_luts(tmp_path, product)


def test_real_orbit_lands_on_the_annotation_grid(real_with_luts, tmp_path):
    """Around a geolocation grid point, a DEM at its height puts it at its (line, pixel): sarsen
    with the real orbit and slant-to-ground polynomials against ESA's own geolocation."""
    import xarray_sentinel

    gcp = xarray_sentinel.open_sentinel1_dataset(REAL, group="IW/VV/gcp")
    i, j = 4, 10
    lon, lat, h = (float(gcp[v][i, j]) for v in ("longitude", "latitude", "height"))
    aoi = (lon - 0.02, lat - 0.02, lon + 0.02, lat + 0.02)
    dem = _write_dem(tmp_path / "local.tif", "EPSG:4326", (lon - 0.05, lat - 0.05, lon + 0.05, lat + 0.05), h, res=0.001)
    with pytest.raises(SceneError, match=r"DEM local.tif does not cover the scene of S1B_IW_GRDH.*--dem"):
        open_safe(real_with_luts, "vv-intensity", dem=dem)
    scene = open_safe(real_with_luts, "vv-intensity", dem=dem, aoi=aoi)
    x, y = Transformer.from_crs("EPSG:4326", scene.crs, always_xy=True).transform(lon, lat)
    t = scene.transform
    col, row = (x - t[2]) / t[0] - 0.5, (y - t[5]) / t[4] - 0.5
    r0, c0 = int(row), int(col)
    terrain, radar = scene.reader.terrain
    line, pixel = terrain.coordinates(r0, r0 + 2, c0, c0 + 2, (radar,))[0]
    fr, fc = row - r0, col - c0
    w = np.array([[(1 - fr) * (1 - fc), (1 - fr) * fc], [fr * (1 - fc), fr * fc]])
    assert (line * w).sum() == pytest.approx(float(gcp.line[i]), abs=0.5)
    assert (pixel * w).sum() == pytest.approx(float(gcp.pixel[j]), abs=2.0)  # ESA's grid vs sarsen: within 20 m
    assert np.isfinite(scene.read(r0 - 50, r0 + 50, c0 - 50, c0 + 50)).all()


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_dem_without_crs_is_refused(product, tmp_path):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32") as dst:
        dst.write(np.zeros((1, 4, 4), np.float32))
    with pytest.raises(
        SceneError,
        match=r"DEM .*nocrs.tif has no CRS \(--dem\): assign the CRS its coordinates are in and retry, e.g. "
        r"gdal_edit.py -a_srs EPSG:32633 .*nocrs.tif \(EPSG:32633 is UTM zone 33N",
    ):
        open_safe(product, "vv-intensity", dem=path)


def test_dem_beside_the_scene_is_refused(product, tmp_path):
    ell = open_safe(product, "vv-intensity")
    w, s, e, n = _scene_bounds(ell)
    dem = _write_dem(tmp_path / "east.tif", ell.crs, (e + 1000, s, e + 5000, n), 0.0)
    with pytest.raises(SceneError, match="DEM east.tif does not cover the scene"):
        open_safe(product, "vv-intensity", dem=dem)


def test_product_without_orbit_is_refused(tmp_path):
    safe = write_safe(tmp_path, 80, 90, lambda pol, r0, r1: np.full((r1 - r0, 90), 0.05, np.float32))
    for ann in (safe / "annotation").glob("*.xml"):
        ann.write_text(re.sub(r'<orbitList count="\d+">.*</orbitList>', "", ann.read_text()))
    ell = open_safe(safe, "vv-intensity")
    dem = _write_dem(tmp_path / "d.tif", ell.crs, _scene_bounds(ell), 0.0)
    with pytest.raises(SceneError, match="has no orbit state vectors.*--dem"):
        open_safe(safe, "vv-intensity", dem=dem)


def test_dem_with_a_geotiff_scene_is_refused(tmp_path):
    path = tmp_path / "scene.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=8,
        height=8,
        count=2,
        dtype="float32",
        crs="EPSG:32632",
        transform=rasterio.transform.from_origin(500000, 5000000, 10, 10),
    ) as dst:
        dst.write(np.full((2, 8, 8), 0.05, np.float32))
        dst.descriptions = ("VH", "VV")
    dem = _write_dem(tmp_path / "d.tif", "EPSG:32632", (499000, 4999000, 501000, 5001000), 0.0)
    with pytest.raises(SceneError, match="--dem applies to Sentinel-1 SAFE products.*already terrain corrected"):
        open_scene(path, "lee-intensity", dem=dem)


def test_options_check_the_dem_file(tmp_path):
    with pytest.raises(ConfigError, match=r"DEM .*missing.tif is not a file \(--dem\)"):
        PredictOptions(dem=tmp_path / "missing.tif")


@pytest.fixture(scope="module")
def mapped(tmp_path_factory, product):
    d = tmp_path_factory.mktemp("safe_dem_map")
    ell = open_safe(product, "lee-intensity")
    dem = _write_dem(d / "srtm.tif", ell.crs, _scene_bounds(ell), 50.0, plateau=250.0)
    ckpt = tiny_checkpoint(d / "m.safetensors", sar="lee-intensity", classes=(3, 6, 11, 14))
    return d, dem, ckpt


def test_python_maps_a_cog_with_the_dem_in_its_tags(product, mapped):
    d, dem, ckpt = mapped
    out = predict_scene(str(product), d / "py.tif", ckpt, device="cpu", dem=dem).out
    with rasterio.open(out) as ds:
        tags = ds.tags()
        assert ds.crs is not None and (ds.read(1) > 0).mean() > 0.5
        assert ds.overviews(1) or ds.profile.get("tiled")
    assert "DEM: srtm.tif" in tags["input_conversions"]
    assert "terrain corrected with DEM (sarsen range-Doppler)" in tags["input_conversions"]


def test_dem_where_it_cannot_apply_is_refused(product, mapped):
    """An opened scene or an array has been geocoded already: --dem is refused, not ignored."""
    d, dem, ckpt = mapped
    with pytest.raises(ConfigError, match="opened already"):
        predict_scene(open_safe(product, "lee-intensity"), d / "opened.tif", ckpt, device="cpu", dem=dem)
    assert not (d / "opened.tif").exists()
    from lczmap.predict import predict_dataarray

    da = open_safe(product, "lee-intensity").to_dataarray()
    with pytest.raises(ConfigError, match="predict_dataarray does not take dem"):
        predict_dataarray(da, ckpt, dem=dem)


def test_the_dem_as_the_output_is_refused(product, mapped):
    """--overwrite never writes over an input: the DEM stays as it was, one line, nothing written."""
    d, dem, ckpt = mapped
    before = dem.read_bytes()
    res = CliRunner().invoke(
        main, ["predict", str(product), str(dem), "-m", str(ckpt), "--dem", str(dem), "--overwrite", "--device", "cpu"]
    )
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "input" in res.output.splitlines()[-1]
    assert dem.read_bytes() == before


def test_cli_maps_a_cog_with_the_dem_in_its_tags(product, mapped):
    d, dem, ckpt = mapped
    out = d / "cli.tif"
    res = CliRunner().invoke(
        main, ["-q", "predict", str(product), str(out), "-m", str(ckpt), "--dem", str(dem), "--device", "cpu"]
    )
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as ds:
        assert "terrain corrected with DEM (sarsen range-Doppler)" in ds.tags()["input_conversions"]
    res = CliRunner().invoke(
        main,
        ["-q", "predict", str(product), str(d / "x.tif"), "-m", str(ckpt), "--dem", str(d / "nothing.tif"), "--device", "cpu"],
    )
    assert res.exit_code != 0 and "--dem" in res.output and not (d / "x.tif").exists()


@pytest.fixture(scope="module")
def real_slc_iw1(tmp_path_factory):
    """xarray-sentinel's real IW SLC product, its IW1 sub-swath (files unchanged, the other
    sub-swaths' entries taken out of the manifest), as tests/scene/test_safe_slc.py uses it."""
    import zipfile

    real = (
        Path(__file__).parents[1]
        / "data"
        / "safe_slc"
        / "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.zip"
    )
    out = tmp_path_factory.mktemp("real_slc")
    with zipfile.ZipFile(real) as z:
        z.extractall(out, [n for n in z.namelist() if "-iw2-" not in n])
    safe = next(out.glob("*.SAFE"))
    manifest = safe / "manifest.safe"
    manifest.write_text(
        re.sub(
            r"\s*<dataObject\b.*?</dataObject>",
            lambda m: "" if re.search(r"-iw[23]-", m.group(0)) else m.group(0),
            manifest.read_text(),
            flags=re.S,
        )
    )
    return safe


def test_real_slc_orbit_lands_on_the_annotation_grid(real_slc_iw1, tmp_path):
    """The same on an IW SLC sub-swath: debursted line from the zero-Doppler time, sample from the
    slant-range time; the complex values are read at the DEM geometry."""
    import xarray_sentinel

    gcp = xarray_sentinel.open_sentinel1_dataset(real_slc_iw1, group="IW1/VV/gcp")
    ell = open_safe(real_slc_iw1, "vv-complex")
    sw = ell.reader.swaths[0]
    i, j = gcp.sizes["azimuth_time"] // 2, gcp.sizes["slant_range_time"] // 2
    lon, lat, h = (float(gcp[v][i, j]) for v in ("longitude", "latitude", "height"))
    dem = _write_dem(tmp_path / "slc.tif", "EPSG:4326", (lon - 0.05, lat - 0.05, lon + 0.05, lat + 0.05), h, res=0.001)
    scene = open_safe(real_slc_iw1, "vv-complex", dem=dem, aoi=(lon - 0.02, lat - 0.02, lon + 0.02, lat + 0.02))
    x, y = Transformer.from_crs("EPSG:4326", scene.crs, always_xy=True).transform(lon, lat)
    t = scene.transform
    r0, c0 = int((y - t[5]) / t[4]), int((x - t[2]) / t[0])
    terrain, radars = scene.reader.terrain
    line, sample = terrain.coordinates(r0, r0 + 1, c0, c0 + 1, radars[:1])[0]
    want_line, want_sample = (float(v[0, 0]) for v in sw.grid.radar(np.array([[x]]), np.array([[y]])))
    assert float(line[0, 0]) == pytest.approx(want_line, abs=0.5)
    assert float(sample[0, 0]) == pytest.approx(want_sample, abs=3.0)  # 2.3 m slant-range samples: within 7 m
    assert np.isfinite(scene.read(r0 - 20, r0 + 20, c0 - 20, c0 + 20)).all()
    assert any("terrain corrected with DEM (sarsen range-Doppler)" in c for c in scene.conversions)

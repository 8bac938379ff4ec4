"""Sentinel-1 IW GRD SAFE products: a real product's manifest, annotation and measurement
(xarray-sentinel's test data, tests/data/safe/README.md) and products written by
lczmap.twin.safe from known sigma0."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from _safe_fixtures import REAL, real_with_luts as copy_real_with_luts
from pyproj import Transformer
from scipy.ndimage import map_coordinates

from lczmap.errors import SceneError
from lczmap.scene import detect, open_scene
from lczmap.scene.safe import open_safe
from lczmap.twin.safe import safe_geometry, write_safe

L, P = 700, 900


def _truth(pol, r0, r1):
    rng = np.random.default_rng(0 if pol == "VV" else 1)
    a = rng.gamma(2.0, 0.05 if pol == "VV" else 0.01, size=(L, P)).astype(np.float32)
    a[:, :30] = np.nan  # a no-data border, as GRD products have
    return a[r0:r1]


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    return write_safe(tmp_path_factory.mktemp("safe"), L, P, _truth)


def _truth_on_grid(scene, pol):
    """The written sigma0 resampled (bilinear) onto the scene's grid, by the product's exact affine geometry."""
    _, to_map = safe_geometry(L, P, (9.0, 45.5), -12.0)
    x0, y0 = to_map(0, 0)
    x1, y1 = to_map(0, 1)
    x2, y2 = to_map(1, 0)
    m = np.array([[x1 - x0, x2 - x0], [y1 - y0, y2 - y0]])
    rows, cols = np.mgrid[0 : scene.height, 0 : scene.width]
    t = scene.transform
    x, y = t[2] + (cols + 0.5) * t[0], t[5] + (rows + 0.5) * t[4]
    pix, lin = np.linalg.solve(m, np.stack([x.ravel() - x0, y.ravel() - y0])).reshape(2, *x.shape)
    truth = _truth(pol, 0, L)
    inside = (lin >= 0) & (lin <= L - 1) & (pix >= 0) & (pix <= P - 1)
    out = map_coordinates(truth, [np.clip(lin, 0, L - 1), np.clip(pix, 0, P - 1)], order=1)
    out[~inside] = np.nan
    return out


def test_calibrated_denoised_geocoded_matches_truth(product):
    scene = open_safe(product, "lee-intensity")
    got = scene.read(0, scene.height, 0, scene.width)
    assert got.dtype == np.float32 and got.shape == (2, scene.height, scene.width)
    for i, pol in enumerate(("VH", "VV")):
        truth = _truth_on_grid(scene, pol)
        both = np.isfinite(truth) & np.isfinite(got[i])
        assert both.sum() > 0.6 * np.isfinite(truth).sum()
        assert not (np.isfinite(truth) & np.isnan(got[i])).any()  # no valid pixel lost
        rel = np.abs(got[i][both] - truth[both]).mean() / truth[both].mean()
        assert rel < 0.01  # uint16 quantisation of the digital numbers
        assert abs(got[i][both].mean() / truth[both].mean() - 1) < 0.002  # calibration and noise: no bias


def test_windows_agree_with_the_whole(product):
    scene = open_safe(product, "vv-intensity")
    whole = scene.read(0, scene.height, 0, scene.width)
    part = scene.read(300, 557, 411, 700)
    np.testing.assert_allclose(part, whole[:, 300:557, 411:700], rtol=1e-4, equal_nan=True)


def test_tags_say_what_the_product_is(product):
    lines = open_safe(product, "lee-intensity").conversions
    text = "; ".join(lines)
    for expected in (
        "Sentinel-1A IW GRDH",
        "IPF 003.31",
        "absolute 37258, relative 66, descending",
        "2021-04-01T05:26:23.794457",
        "VV, VH",
        "sigmaNought",
        "noise azimuth",
        "EPSG:32632",
    ):
        assert expected in text


def test_zip_reads_like_the_folder(product, tmp_path):
    z = write_safe(tmp_path, L, P, _truth, as_zip=True)
    a = open_safe(product, "lee-intensity")
    b = open_safe(z, "lee-intensity")
    assert (a.height, a.width, a.transform) == (b.height, b.width, b.transform)
    np.testing.assert_array_equal(a.read(100, 300, 200, 400), b.read(100, 300, 200, 400))
    assert detect(str(z)).kind == "safe"


def test_old_ipf_noise_without_azimuth_vectors(tmp_path):
    scene = open_safe(write_safe(tmp_path, L, P, _truth, ipf="002.72"), "vv-intensity")
    truth = _truth_on_grid(scene, "VV")
    got = scene.read(0, scene.height, 0, scene.width)[0]
    both = np.isfinite(truth) & np.isfinite(got)
    assert abs(got[both].mean() / truth[both].mean() - 1) < 0.002
    assert "azimuth" not in "; ".join(scene.conversions)


def test_xarray_sentinel_calibration_agrees(product):
    """Our bilinear LUT interpolation equals xarray-sentinel's calibrate_intensity (no noise)."""
    import xarray as xr
    import xarray_sentinel

    from lczmap.scene.safe import calibrate

    scene = open_safe(product, "vv-intensity")
    band = scene.reader.bands[0]
    with rasterio.open(band.measurement) as src:
        dn = src.read(1, window=rasterio.windows.Window(100, 50, 300, 200))
    ours = calibrate(band, dn, 50, 100, denoise=False)
    lut = xr.DataArray(band.sigma, coords={"line": band.cal_lines, "pixel": band.cal_pixels}, dims=("line", "pixel"))
    da = xr.DataArray(dn, coords={"line": np.arange(50, 250), "pixel": np.arange(100, 400)}, dims=("line", "pixel"))
    theirs = xarray_sentinel.calibrate_intensity(da, lut).values
    ok = dn > 0
    np.testing.assert_allclose(ours[ok], theirs[ok], rtol=1e-5)


def test_real_product_without_calibration_is_refused():
    with pytest.raises(SceneError, match=r"lacks files the manifest lists \(calibration VV, noise VV\)"):
        open_safe(REAL, "vv-intensity")


@pytest.fixture
def real_with_luts(tmp_path, product):
    """The real product with calibration and noise XML beside it (the published test product has none)."""
    return copy_real_with_luts(tmp_path, product)


def test_real_product_grid_and_footprint_follow_the_annotation(real_with_luts):
    import xarray_sentinel

    scene = open_safe(real_with_luts, "vv-intensity")
    text = "; ".join(scene.conversions)
    assert "Sentinel-1B IW GRDH" in text and "absolute 26269, relative 168, descending" in text
    assert "2021-04-01T05:26:23.794457 to 2021-04-01T05:26:48.793373" in text
    gcp = xarray_sentinel.open_sentinel1_dataset(REAL, group="IW/VV/gcp")
    to_map = Transformer.from_crs("EPSG:4326", scene.crs, always_xy=True)
    t = scene.transform
    for i in (0, -1):
        for j in (0, -1):
            x, y = to_map.transform(float(gcp.longitude[i, j]), float(gcp.latitude[i, j]))
            col, row = (x - t[2]) / t[0], (y - t[5]) / t[4]
            assert -1 <= col <= scene.width + 1 and -1 <= row <= scene.height + 1  # grid holds the corner
            # one output pixel inwards from the corner is valid; two outwards is not
            sr, sc = (1 if row > scene.height / 2 else -1), (1 if col > scene.width / 2 else -1)
            r, c = int(row) - sr, int(col) - sc
            dr, dc = 3 * sr, 3 * sc
            here = scene.read(r, r + 1, c, c + 1)[0, 0, 0]
            assert np.isfinite(here)
            if 0 <= r + dr < scene.height and 0 <= c + dc < scene.width:
                assert np.isnan(scene.read(r + dr, r + dr + 1, c + dc, c + dc + 1)[0, 0, 0])
    # the grid's edges lie within one pixel of the footprint's extreme corners
    xs, ys = to_map.transform(gcp.longitude.values.ravel(), gcp.latitude.values.ravel())
    assert abs(min(xs) - t[2]) <= 2 * t[0] and abs(max(ys) - t[5]) <= 2 * t[0]
    assert abs(t[2] + scene.width * t[0] - max(xs)) <= 2 * t[0]


def test_real_product_vh_model_is_refused(real_with_luts):
    with pytest.raises(SceneError, match=r"lacks files the manifest lists \(measurement VH"):
        open_safe(real_with_luts, "lee-intensity")


def test_hh_hv_product_is_refused(tmp_path):
    safe = write_safe(tmp_path, 80, 90, _small, pols=("HH", "HV"))
    with pytest.raises(SceneError, match="HH/HV only.*use a VV/VH acquisition"):
        open_safe(safe, "lee-intensity")


def _small(pol, r0, r1):
    return np.full((r1 - r0, 90), 0.05, np.float32)


def test_other_modes_are_refused(tmp_path):
    safe = write_safe(tmp_path, 80, 90, _small, mode="EW")
    with pytest.raises(SceneError, match=r"EW product: lczmap maps IW GRD products \(GRDH/GRDM\) only"):
        open_safe(safe, "lee-intensity")


def test_missing_measurement_is_refused(tmp_path):
    safe = write_safe(tmp_path, 80, 90, _small)
    next((safe / "measurement").glob("*-vv-*.tiff")).unlink()
    with pytest.raises(SceneError, match=r"lacks files the manifest lists \(measurement VV\)"):
        open_safe(safe, "lee-intensity")


def test_corrupt_zip_is_refused(tmp_path):
    z = write_safe(tmp_path, 80, 90, _small, as_zip=True)
    data = z.read_bytes()
    z.write_bytes(data[: len(data) // 2])
    with pytest.raises(SceneError, match="not a readable zip file"):
        open_safe(z, "lee-intensity")


def test_complex_model_is_refused(product):
    with pytest.raises(SceneError, match="GRD product \\(intensity only\\)"):
        open_safe(product, "vv-complex")


def test_measurement_tiff_alone_is_still_refused(product):
    tiff = next((product / "measurement").glob("*.tiff"))
    with pytest.raises(SceneError, match=r"give the \.SAFE folder or \.zip"):
        detect(str(tiff))


def test_picklable(product):
    import pickle

    scene = open_safe(product, "vv-intensity")
    again = pickle.loads(pickle.dumps(scene))
    np.testing.assert_array_equal(again.read(10, 50, 10, 50), scene.read(10, 50, 10, 50))


@pytest.fixture(scope="module")
def mapped(product, tmp_path_factory):
    """The product mapped by the library (open_safe, predict_scene) with a tiny checkpoint."""
    from _predict_fixtures import tiny_checkpoint

    from lczmap.predict import predict_scene

    d = tmp_path_factory.mktemp("mapped")
    ckpt = tiny_checkpoint(d / "m.safetensors")
    predict_scene(open_safe(product, "lee-intensity"), d / "lcz.tif", ckpt)
    return ckpt, d / "lcz.tif"


def test_predict_maps_a_safe_scene(product, mapped):
    scene = open_safe(product, "lee-intensity")
    with rasterio.open(mapped[1]) as src:
        assert src.crs.to_epsg() == 32632
        # the scene's grid, zoomed out to the map's pixel size from its top-left corner
        k = round(src.res[0] / scene.transform[0])
        assert (src.transform.c, src.transform.f) == (scene.transform[2], scene.transform[5])
        assert src.shape == (-(-scene.height // k), -(-scene.width // k))
        assert "Sentinel-1A IW GRDH" in src.tags()["input_conversions"]
        assert (src.read(1) > 0).any()


def test_open_scene_reads_a_safe_product_as_open_safe_does(product):
    """A .SAFE folder given to open_scene is calibrated and geocoded by the SAFE reader: the same
    grid, conversions and sigma0 as open_safe, not a raster read of its files."""
    a, b = open_scene(str(product), "lee-intensity"), open_safe(product, "lee-intensity")
    assert (a.crs, a.transform, a.height, a.width) == (b.crs, b.transform, b.height, b.width)
    assert a.conversions == b.conversions and a.conversions[0].startswith("product: Sentinel-1A IW GRDH SAFE")
    assert a.channel_names == ["VH intensity", "VV intensity"]
    np.testing.assert_array_equal(a.read(200, 260, 300, 380), b.read(200, 260, 300, 380))


def test_a_safe_product_given_as_one_polarisation_is_refused(product):
    with pytest.raises(SceneError, match=r"is a Sentinel-1 SAFE product: give it as the scene, not as --vv/--vh"):
        open_scene(vv=str(product), vh=str(product))
    tiff = next((product / "measurement").glob("*-vh-*.tiff"))
    with pytest.raises(SceneError, match=r"measurement TIFF of a Sentinel-1 SAFE product.*give the \.SAFE folder"):
        detect(None, vv=str(tiff))


def test_cli_predict_maps_a_safe_product_as_the_library_does(product, mapped, tmp_path):
    from click.testing import CliRunner

    from lczmap.cli import main

    ckpt, library = mapped
    res = CliRunner().invoke(main, ["predict", str(product), str(tmp_path / "lcz.tif"), "-m", str(ckpt)])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "lcz.tif") as cli, rasterio.open(library) as lib:
        assert cli.crs == lib.crs and cli.transform == lib.transform and cli.shape == lib.shape
        assert cli.tags()["input_conversions"] == lib.tags()["input_conversions"]
        np.testing.assert_array_equal(cli.read(1), lib.read(1))

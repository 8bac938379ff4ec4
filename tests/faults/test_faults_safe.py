"""Faults found from outside in Sentinel-1 SAFE products (issue #26): a manifest that points
lczmap at files outside the product (``..``, absolute paths, symbolic links), partial products,
broken and all-zero measurements, misleading messages, and DEMs with a vertical datum.

Products are real SAFE folders and zips written by :mod:`lczmap.twin.safe` and
:mod:`lczmap.twin.safe_slc` (or the real xarray-sentinel SLC in tests/data/safe_slc), then
damaged the way users' files are. Each case checks the one-line message (``SceneError`` from the
library, ``Error:`` and a non-zero exit from the CLI, no traceback).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import SceneError
from lczmap.scene.safe import open_safe
from lczmap.twin.safe import write_safe, zip_product

L, P = 120, 160


def _sigma0(pol: str, r0: int, r1: int) -> np.ndarray:
    rng = np.random.default_rng(0 if pol == "VV" else 1)
    return rng.gamma(2.0, 0.05 if pol == "VV" else 0.01, size=(L, P)).astype(np.float32)[r0:r1]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    return write_safe(tmp_path_factory.mktemp("written"), L, P, _sigma0)


@pytest.fixture
def product(written, tmp_path) -> Path:
    """A fresh copy of the twin GRD product, in ``tmp_path/here``."""
    return Path(shutil.copytree(written, tmp_path / "here" / written.name))


def _one_line(output: str, *words: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "Traceback" not in output, output
    for word in words:
        assert word in lines[0], output
    return lines[0]


def _point(safe: Path, kind: str, pol: str, href: str) -> None:
    """Make the manifest's ``kind`` (measurement, calibration...) file of ``pol`` point at ``href``."""
    manifest = safe / "manifest.safe"
    text = manifest.read_text()
    pattern = {
        "measurement": r"measurement/[^\"]*-{pol}-[^\"]*\.tiff",
        "calibration": r"annotation/calibration/calibration-[^\"]*-{pol}-[^\"]*\.xml",
    }[kind].format(pol=pol.lower())
    new, n = re.subn(r'href="\./' + pattern + '"', f'href="{href}"', text)
    assert n == 1
    manifest.write_text(new)


# ------------------------------------------------------------------ reads outside the product


def _other(written: Path, tmp_path: Path) -> Path:
    """Another product, outside ``product``'s folder, whose files the damaged manifest names."""
    return Path(shutil.copytree(written, tmp_path / "other" / "X.SAFE"))


def test_a_manifest_pointing_out_with_dotdot_is_refused(product, written, tmp_path):
    """The sweep's case: ``./../../../other/X.SAFE/measurement/...``; the product's own file is
    gone, so a read of the outside file would have mapped it."""
    other = _other(written, tmp_path)
    tiff = next((other / "measurement").glob("*-vv-*.tiff")).name
    href = f"./../../other/X.SAFE/measurement/{tiff}"
    assert (product / href).resolve().is_file()
    _point(product, "measurement", "VV", href)
    next((product / "measurement").glob("*-vv-*.tiff")).unlink()
    with pytest.raises(
        SceneError, match=re.escape(f"names '{href}', a path that climbs out of the product: lczmap reads only files inside")
    ):
        open_safe(product, "lee-intensity")


def test_a_calibration_table_outside_is_refused_too(product, written, tmp_path):
    """xarray-sentinel opens the calibration from the manifest: it must never be led outside either."""
    other = _other(written, tmp_path)
    xml = next((other / "annotation" / "calibration").glob("calibration-*-vv-*.xml")).name
    _point(product, "calibration", "VV", f"./../../other/X.SAFE/annotation/calibration/{xml}")
    with pytest.raises(SceneError, match="climbs out of the product"):
        open_safe(product, "vv-intensity")


def test_an_absolute_path_in_the_manifest_is_refused(product, written, tmp_path):
    tiff = next((_other(written, tmp_path) / "measurement").glob("*-vh-*.tiff"))
    _point(product, "measurement", "VH", str(tiff))
    with pytest.raises(SceneError, match=re.escape(f"names '{tiff}', an absolute path")):
        open_safe(product, "lee-intensity")


@pytest.mark.parametrize("href", ["file:///etc/passwd", "/vsicurl/http://127.0.0.1:9/x.tiff"])
def test_urls_and_gdal_paths_in_the_manifest_are_refused(product, href):
    _point(product, "measurement", "VV", href)
    with pytest.raises(SceneError, match="manifest.safe names .*lczmap reads only files inside"):
        open_safe(product, "lee-intensity")


def test_a_symlink_leaving_the_folder_is_refused(product, written, tmp_path):
    other = _other(written, tmp_path)
    mine = next((product / "measurement").glob("*-vv-*.tiff"))
    mine.unlink()
    mine.symlink_to(other / "measurement" / mine.name)
    with pytest.raises(SceneError, match="a symbolic link to a file outside the product"):
        open_safe(product, "lee-intensity")


def test_a_symlinked_measurement_folder_leaving_the_product_is_refused(product, written, tmp_path):
    other = _other(written, tmp_path)
    shutil.rmtree(product / "measurement")
    (product / "measurement").symlink_to(other / "measurement", target_is_directory=True)
    with pytest.raises(SceneError, match="a symbolic link to a file outside the product"):
        open_safe(product, "vv-intensity")


def test_symlinks_inside_the_product_and_to_the_product_are_read(product, tmp_path):
    """A link that stays inside (a measurement moved to another sub-folder) and a link to the whole
    .SAFE folder (a user's shortcut) are the product's own files."""
    mine = next((product / "measurement").glob("*-vv-*.tiff"))
    (product / "moved").mkdir()
    mine.rename(product / "moved" / mine.name)
    mine.symlink_to(Path("..") / "moved" / mine.name)
    link = tmp_path / "link.SAFE"
    link.symlink_to(product, target_is_directory=True)
    scene = open_safe(link, "vv-intensity")
    assert np.isfinite(scene.read(0, scene.height, 0, scene.width)).any()


def test_a_zip_whose_manifest_points_out_is_refused(product, written, tmp_path):
    _other(written, tmp_path)
    tiff = next((product / "measurement").glob("*-vv-*.tiff")).name
    _point(product, "measurement", "VV", f"./../../other/X.SAFE/measurement/{tiff}")
    z = zip_product(product)
    with pytest.raises(SceneError, match="climbs out of the product"):
        open_safe(z, "lee-intensity")


def test_cli_predict_refuses_a_product_pointing_out_in_one_line(product, written, tmp_path):
    from _predict_fixtures import tiny_checkpoint

    other = _other(written, tmp_path)
    tiff = next((other / "measurement").glob("*-vv-*.tiff")).name
    _point(product, "measurement", "VV", f"./../../other/X.SAFE/measurement/{tiff}")
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    res = CliRunner().invoke(main, ["predict", str(product), str(tmp_path / "lcz.tif"), "-m", str(ckpt)])
    assert res.exit_code != 0
    _one_line(res.output, "climbs out of the product", tiff)
    assert not (tmp_path / "lcz.tif").exists()


# ------------------------------------------------------------------ broken and empty measurements


def _vv(safe: Path) -> Path:
    return next((safe / "measurement").glob("*-vv-*.tiff"))


def _cut(tiff: Path, keep: float) -> None:
    """A download cut short: the first ``keep`` of the file's bytes (its header intact)."""
    data = tiff.read_bytes()
    tiff.write_bytes(data[: int(len(data) * keep)])


def test_a_zero_byte_measurement_is_one_line_at_open(product):
    _cut(_vv(product), 0.0)
    with pytest.raises(
        SceneError,
        match=rf"{product.name}: its measurement file measurement/{_vv(product).name} "
        r"cannot be read \(.*not recognized.*\): .*download it again",
    ):
        open_safe(product, "lee-intensity")


def test_a_truncated_measurement_is_one_line_at_open(product):
    _cut(_vv(product), 0.6)
    with pytest.raises(SceneError, match=rf"its measurement file measurement/{_vv(product).name} cannot be read"):
        open_safe(product, "lee-intensity")


def _rewrite(tiff: Path, dn: np.ndarray, **profile) -> None:
    """Write ``dn`` over the measurement ``tiff``, keeping its GCPs (``profile``: GTiff options)."""
    import warnings

    import rasterio

    with rasterio.open(tiff) as src:
        gcps = src.gcps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        dst = rasterio.open(tiff, "w", driver="GTiff", width=dn.shape[1], height=dn.shape[0], count=1, dtype=dn.dtype, **profile)
    with dst:
        dst.gcps = gcps
        dst.write(dn[None])


def test_a_measurement_of_another_size_is_refused(product):
    _rewrite(_vv(product), np.ones((L, P - 1), "uint16"))
    with pytest.raises(SceneError, match=rf"holds {L} x {P - 1} uint16 pixels but the annotation says {L} x {P} uint16"):
        open_safe(product, "vv-intensity")


def test_a_measurement_damaged_after_opening_is_one_line_at_the_read(product):
    scene = open_safe(product, "lee-intensity")
    _cut(_vv(product), 0.5)
    with pytest.raises(SceneError, match=rf"its measurement file measurement/{_vv(product).name} cannot be read"):
        scene.read(0, scene.height, 0, scene.width)


def test_cli_a_zip_with_zero_byte_measurements_is_one_line(product, tmp_path):
    """s1-reader's case: an IW zip whose measurement TIFFs are 0 bytes ended in a RasterioIOError
    traceback at the first tile."""
    from _predict_fixtures import tiny_checkpoint

    for tiff in (product / "measurement").glob("*.tiff"):
        _cut(tiff, 0.0)
    z = zip_product(product)
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    res = CliRunner().invoke(main, ["predict", str(z), str(tmp_path / "lcz.tif"), "-m", str(ckpt)])
    assert res.exit_code != 0
    _one_line(res.output, f"{z.name}: its measurement file measurement/", "cannot be read", "download it again")
    assert not (tmp_path / "lcz.tif").exists()


def test_an_all_zero_product_is_refused_from_a_sample(product, tmp_path):
    """Every pixel 0 (no data): refused at open from a sample of blocks, not after mapping it whole."""
    import rasterio

    from lczmap.scene.safe import archive

    _rewrite(_vv(product), np.zeros((L, P), "uint16"), blockysize=1)  # one line a strip, as a real GRD's
    with rasterio.open(_vv(product)) as src:
        blocks = src.block_shapes[0]
    sampled = min(-(-L // blocks[0]), archive.SAMPLED_BLOCKS) * min(-(-P // blocks[1]), archive.SAMPLED_BLOCKS)
    assert sampled < -(-L // blocks[0]) * -(-P // blocks[1])  # a sample, not the whole file
    with pytest.raises(
        SceneError,
        match=rf"its measurement file measurement/{_vv(product).name} holds no data \(0, "
        rf"the SAFE no-data value, in each of {sampled} blocks sampled across it\)",
    ):
        open_safe(product, "lee-intensity")


def test_a_product_with_data_in_one_sampled_block_is_read(product):
    """Data only near the far corner (the last block, always sampled) is data: the product opens."""
    dn = np.zeros((L, P), "uint16")
    dn[-1, -2:] = 500
    _rewrite(_vv(product), dn, blockysize=1)
    scene = open_safe(product, "vv-intensity")
    assert scene.height > 0


# ------------------------------------------------------------------ partial products


@pytest.fixture(scope="module")
def slc_written(tmp_path_factory) -> Path:
    from lczmap.twin.safe_slc import SlcLayout, write_safe_slc

    def field(pol, swath, burst, n, m):
        return np.full(np.broadcast_shapes(n.shape, m.shape), 0.2 if pol == "VV" else 0.04)

    return write_safe_slc(tmp_path_factory.mktemp("slc"), field, layout=SlcLayout(bursts=2))


@pytest.fixture(scope="module")
def complex_ckpt(tmp_path_factory) -> Path:
    from _predict_fixtures import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "m.safetensors", sar="vv-complex")


def _tags(path: Path) -> dict[str, str]:
    import rasterio

    with rasterio.open(path) as src:
        return src.tags()


def test_cli_a_partial_slc_maps_what_it_holds(slc_written, complex_ckpt, tmp_path):
    """A product that lacks IW3's VV measurement maps IW1 and IW2, says so on stderr and in the tags."""
    safe = Path(shutil.copytree(slc_written, tmp_path / slc_written.name))
    next(safe.glob("measurement/*-iw3-slc-vv-*.tiff")).unlink()
    res = CliRunner().invoke(main, ["predict", str(safe), str(tmp_path / "lcz.tif"), "-m", str(complex_ckpt)])
    assert res.exit_code == 0, res.output
    assert "holds IW1, IW2 of the sub-swaths its manifest lists (IW1, IW2, IW3): mapping IW1, IW2 only" in res.output
    assert (
        "sub-swaths: IW1, IW2 mapped; IW3 missing from the product (listed in its manifest: IW3 lacks measurement VV)"
    ) in _tags(tmp_path / "lcz.tif")["input_conversions"]


def test_cli_swaths_choose_and_refuse(slc_written, complex_ckpt, tmp_path):
    safe = Path(shutil.copytree(slc_written, tmp_path / slc_written.name))
    next(safe.glob("measurement/*-iw3-slc-vv-*.tiff")).unlink()
    out = tmp_path / "lcz.tif"
    res = CliRunner().invoke(main, ["predict", str(safe), str(out), "-m", str(complex_ckpt), "--swaths", "iw2"])
    assert res.exit_code == 0, res.output
    assert "holds IW1, IW2" not in res.output  # chosen: no warning
    assert "sub-swaths: IW2 mapped; IW1 left out (--swaths); IW3 missing from the product" in _tags(out)["input_conversions"]
    res = CliRunner().invoke(
        main, ["predict", str(safe), str(tmp_path / "b.tif"), "-m", str(complex_ckpt), "--swaths", "IW1,IW3"]
    )
    assert res.exit_code != 0
    _one_line(
        res.output,
        "--swaths IW1,IW3: ",
        "lacks files of IW3 (measurement IW3 VV): choose among the sub-swaths it holds whole (IW1, IW2)",
    )
    res = CliRunner().invoke(main, ["predict", str(safe), str(tmp_path / "b.tif"), "-m", str(complex_ckpt), "--swaths", "IW7"])
    assert res.exit_code == 2
    _one_line(res.output, "swaths must be distinct sub-swath names such as IW1,IW2 (--swaths)")
    assert not (tmp_path / "b.tif").exists()


def test_swaths_are_refused_for_grd_products_and_rasters(product, tmp_path):
    from lczmap.scene import open_scene

    with pytest.raises(SceneError, match=r"--swaths chooses sub-swaths of IW SLC products, but .* is a GRD product"):
        open_safe(product, "vv-intensity", swaths=["IW1"])
    import rasterio

    tif = tmp_path / "scene.tif"
    with rasterio.open(
        tif,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=2,
        dtype="float32",
        crs="EPSG:32632",
        transform=rasterio.transform.from_origin(500000, 5000000, 10, 10),
    ) as dst:
        dst.write(np.full((2, 64, 64), 0.05, "float32"))
        dst.descriptions = ("VH", "VV")
    with pytest.raises(SceneError, match="--swaths chooses sub-swaths of Sentinel-1 IW SLC products .* not of a raster"):
        open_scene(tif, "lee-intensity", swaths=["IW1"])


def test_a_grd_without_a_polarisation_the_model_does_not_need_maps_it_and_says_so(product, caplog):
    for f in product.rglob("*-vh-*"):
        f.unlink()
    with caplog.at_level("WARNING", logger="lczmap.scene.safe"):
        scene = open_safe(product, "vv-intensity")
    assert [r.getMessage() for r in caplog.records] == [
        f"{product.name} lacks the VH files its manifest lists: mapping VV, which the model needs"
    ]
    assert "polarisations: VV mapped; VH missing from the product (listed in its manifest)" in scene.conversions
    with pytest.raises(SceneError, match=r"lacks files the manifest lists \(measurement VH, annotation VH"):
        open_safe(product, "lee-intensity")


# ------------------------------------------------------------------ messages


def _radar_file(path: Path, driver: str, dtype: str) -> Path:
    """Radar-geometry digital numbers on GCPs in a format that is not a GeoTIFF (as an ENVISAT
    ASAR .N1 is: GDAL identifies it by its content, whatever its name)."""
    import warnings

    import rasterio
    from rasterio.control import GroundControlPoint

    gcps = [
        GroundControlPoint(row=0.0, col=0.0, x=9.0, y=45.5, z=0.0),
        GroundControlPoint(row=63.0, col=0.0, x=9.0, y=45.6, z=0.0),
        GroundControlPoint(row=0.0, col=63.0, x=9.1, y=45.5, z=0.0),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        dst = rasterio.open(path, "w", driver=driver, width=64, height=64, count=1, dtype=dtype)
    with dst:
        dst.gcps = (gcps, rasterio.crs.CRS.from_epsg(4326))
        dst.write(np.ones((1, 64, 64), "complex64" if dtype.startswith("complex") else dtype))
    return path


@pytest.mark.parametrize(
    "driver, dtype, kind", [("PCIDSK", "complex_int16", "complex (single-look complex)"), ("ENVI", "uint16", "unsigned integer")]
)
def test_non_sentinel1_radar_data_is_not_called_a_safe_measurement(tmp_path, driver, dtype, kind):
    from lczmap.scene import detect

    f = _radar_file(tmp_path / "ASA_IMS_1PNESA20040101_000000_000000002023_00000_00000_0000.N1", driver, dtype)
    with pytest.raises(SceneError) as err:
        detect(str(f))
    text = str(err.value)
    assert "SAFE measurement" not in text and "as a Sentinel-1" not in text
    assert text == (
        f"{f} is a {driver} file of {kind} {dtype} values on ground control points (radar geometry, "
        "not calibrated backscatter), and not a Sentinel-1 product: lczmap reads Sentinel-1 SAFE products "
        "(.SAFE folder or .zip) and calibrated, geocoded backscatter rasters: calibrate and geocode it "
        "first (e.g. with ESA SNAP)"
    )


def test_a_safe_measurement_geotiff_is_still_called_one(written, tmp_path):
    """The same values in a GeoTIFF, renamed: still a SAFE measurement's digital numbers."""
    from lczmap.scene import detect

    tiff = Path(shutil.copy(_vv(written), tmp_path / "scene.tif"))
    with pytest.raises(SceneError, match="as a Sentinel-1 SAFE measurement TIFF does"):
        detect(str(tiff))


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_no_crs_advice_is_one_helper_for_scene_and_dem(product, tmp_path):
    """A scene and a DEM without CRS get the same advice: one EPSG example, one tool line."""
    import rasterio

    from lczmap.scene import open_scene
    from lczmap.scene.crs import no_crs

    tif = tmp_path / "nocrs.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=64, height=64, count=2, dtype="float32") as dst:
        dst.write(np.full((2, 64, 64), 0.05, "float32"))
        dst.descriptions = ("VH", "VV")
    with pytest.raises(SceneError) as scene_err:
        open_scene(tif, "lee-intensity")
    assert str(scene_err.value) == no_crs("scene", tif)
    with pytest.raises(SceneError) as dem_err:
        open_safe(product, "vv-intensity", dem=tif)
    assert str(dem_err.value) == no_crs("DEM", tif, option="--dem")
    for text in (str(scene_err.value), str(dem_err.value)):
        assert re.findall(r"EPSG:\d+", text) == ["EPSG:32633", "EPSG:32633"]
        assert f"gdal_edit.py -a_srs EPSG:32633 {tif}" in text


# ------------------------------------------------------------------ DEM vertical datum


def _dem(path: Path, crs: str) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=40,
        height=40,
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(8.9, 45.6, 0.005, 0.005),
    ) as dst:
        dst.write(np.full((1, 40, 40), 100.0, "float32"))
    return path


@pytest.mark.parametrize("crs, datum", [("EPSG:9707", "EGM96 height"), ("EPSG:4326+3855", "EGM2008 height")])
def test_a_dem_with_geoid_heights_is_refused_with_the_gdalwarp_line(product, tmp_path, crs, datum):
    """EPSG:9707 is WGS 84 + EGM96 height: used as ellipsoidal heights it would shift the map by the
    geoid's undulation over tan(incidence), without a word."""
    import rasterio

    dem = _dem(tmp_path / "dem.tif", crs)
    with rasterio.open(dem) as src:
        written = src.crs.to_string()  # GDAL writes the compound CRS's own code when it has one
    with pytest.raises(SceneError) as err:
        open_safe(product, "vv-intensity", dem=dem)
    assert str(err.value) == (
        f"DEM dem.tif holds heights in {datum} ({written}: above a geoid) but terrain correction needs heights above "
        f"the WGS 84 ellipsoid (--dem): convert it with gdalwarp -s_srs {written} -t_srs EPSG:4979 {dem} "
        "dem_ellipsoidal.tif (PROJ needs the geoid grid: projsync, or PROJ_NETWORK=ON) and give that"
    )


def test_a_dem_with_ellipsoidal_heights_is_taken(product, tmp_path):
    for crs in ("EPSG:4979", "EPSG:4326"):
        scene = open_safe(product, "vv-intensity", dem=_dem(tmp_path / f"{crs[5:]}.tif", crs))
        assert any(c.startswith("DEM: ") for c in scene.conversions)


def test_cli_a_geoid_dem_is_one_line(product, tmp_path):
    from _predict_fixtures import tiny_checkpoint

    dem = _dem(tmp_path / "dem.tif", "EPSG:9707")
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    res = CliRunner().invoke(main, ["predict", str(product), str(tmp_path / "lcz.tif"), "-m", str(ckpt), "--dem", str(dem)])
    assert res.exit_code != 0
    _one_line(res.output, "EGM96 height", "gdalwarp -s_srs EPSG:9707 -t_srs EPSG:4979")

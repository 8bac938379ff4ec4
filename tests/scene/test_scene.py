"""Opening scenes: band matching, units, complex data, resolution, reprojection, refusals."""

import numpy as np
import pytest
import rasterio
from _predict_fixtures import grd, write_tif
from hypothesis import given, settings, strategies as st
from rasterio.control import GroundControlPoint

from lczmap.errors import SceneError
from lczmap.scene import open_scene, reflect_index


@pytest.fixture
def vv_vh(tmp_path):
    a = grd(64, 80, seed=1)
    return write_tif(tmp_path / "s.tif", a, descriptions=["VV", "VH"]), a


def test_bands_matched_by_description(vv_vh):
    path, a = vv_vh
    scene = open_scene(path, "lee-intensity")  # the model wants VH, VV
    assert scene.channel_names == ["VH intensity", "VV intensity"]
    np.testing.assert_array_equal(scene.read(0, 64, 0, 80), a[[1, 0]])
    assert scene.shape == (2, 64, 80) and scene.units == "linear"


def test_bands_option_overrides_descriptions(tmp_path):
    a = grd(40, 40)
    path = write_tif(tmp_path / "s.tif", a)  # no descriptions
    with pytest.raises(SceneError, match="--bands"):
        open_scene(path, "lee-intensity")
    scene = open_scene(path, "lee-intensity", bands=["VH", "VV"])
    np.testing.assert_array_equal(scene.read(0, 40, 0, 40), a)
    with pytest.raises(SceneError, match="one name per band"):
        open_scene(path, "lee-intensity", bands=["VV"])


def test_separate_files_in_db(tmp_path):
    a = grd(48, 48)
    db = 10 * np.log10(a)
    vv = write_tif(tmp_path / "vv.tif", db[0])
    vh = write_tif(tmp_path / "vh.tif", db[1])
    with pytest.raises(SceneError, match="--units db"):
        open_scene(vv=vv, vh=vh)
    scene = open_scene(vv=vv, vh=vh, units="db")
    np.testing.assert_allclose(scene.read(0, 48, 0, 48), a[[1, 0]], rtol=1e-5)


def test_db_unit_tag_is_read(tmp_path):
    a = grd(40, 40)
    path = write_tif(tmp_path / "s.tif", 10 * np.log10(a), descriptions=["VV", "VH"], units=["dB", "dB"])
    scene = open_scene(path)
    assert scene.units == "db"
    np.testing.assert_allclose(scene.read(0, 40, 0, 40), a[[1, 0]], rtol=1e-5)


def test_nodata_becomes_nan(tmp_path):
    a = grd(40, 40)
    a[:, :3] = -9999
    scene = open_scene(write_tif(tmp_path / "s.tif", a, nodata=-9999, descriptions=["VV", "VH"]))
    block = scene.read(0, 40, 0, 40)
    assert np.isnan(block[:, :3]).all() and np.isfinite(block[:, 3:]).all()


def test_complex_scene(tmp_path):
    rng = np.random.default_rng(0)
    z = (rng.normal(size=(2, 40, 40)) + 1j * rng.normal(size=(2, 40, 40))).astype(np.complex64)
    path = write_tif(tmp_path / "slc.tif", z, descriptions=["VV", "VH"])
    scene = open_scene(path, "vv-complex")
    np.testing.assert_array_equal(scene.read(0, 40, 0, 40), np.stack([z[0].real, z[0].imag]))
    with pytest.raises(SceneError, match="complex VH .SLC."):
        open_scene(path, "lee-intensity")


def test_grd_refused_for_complex_model(vv_vh):
    with pytest.raises(SceneError, match="--sar-bands lee-intensity"):
        open_scene(vv_vh[0], "vv-complex")


def test_missing_polarisation(tmp_path):
    path = write_tif(tmp_path / "vv.tif", grd(40, 40)[0], descriptions=["VV"])
    with pytest.raises(SceneError, match="no VH band"):
        open_scene(path, "lee-intensity")


def test_resolution_refused_or_resampled(tmp_path):
    path = write_tif(tmp_path / "s20.tif", grd(30, 40), res=20.0, descriptions=["VV", "VH"])
    with pytest.raises(SceneError, match="--resample"):
        open_scene(path)
    scene = open_scene(path, resample="bilinear")
    assert (scene.height, scene.width) == (60, 80)
    assert scene.affine.a == 10.0 and scene.affine.c == 500000.0
    assert np.isfinite(scene.read(0, 60, 0, 80)).mean() > 0.9


def test_geographic_crs_warped_to_utm(tmp_path):
    path = write_tif(
        tmp_path / "geo.tif", grd(60, 60), crs="EPSG:4326", res=0.00009, origin=(9.1, 45.5), descriptions=["VV", "VH"]
    )
    scene = open_scene(path)
    assert rasterio.crs.CRS.from_wkt(scene.crs).to_epsg() == 32632
    assert abs(scene.affine.a - 10) < 1e-6
    assert np.isfinite(scene.read(0, scene.height, 0, scene.width)).mean() > 0.5


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the test writes it so
def test_gcp_only_warped_to_utm(tmp_path):
    gcps = [
        GroundControlPoint(0, 0, 9.0, 45.0),
        GroundControlPoint(0, 50, 9.0005, 45.0),
        GroundControlPoint(50, 0, 9.0, 44.9995),
        GroundControlPoint(50, 50, 9.0005, 44.9995),
    ]
    path = write_tif(tmp_path / "gcp.tif", grd(50, 50), crs="EPSG:4326", gcps=gcps, descriptions=["VV", "VH"])
    scene = open_scene(path)
    assert rasterio.crs.CRS.from_wkt(scene.crs).to_epsg() == 32632
    assert abs(scene.affine.a - 10) < 1e-6


def test_unreadable_and_missing(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_text("not a raster")
    with pytest.raises(SceneError, match="cannot read"):
        open_scene(bad)
    with pytest.raises(SceneError, match="does not exist"):
        open_scene(tmp_path / "nope.tif")


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the test writes it so
def test_no_crs(tmp_path):
    path = tmp_path / "nocrs.tif"
    a = grd(40, 40)
    with rasterio.open(path, "w", driver="GTiff", height=40, width=40, count=2, dtype="float32") as ds:
        ds.write(a)
    with pytest.raises(SceneError, match="no CRS"):
        open_scene(path, bands=["VV", "VH"])


def test_read_outside_mirrors_and_dataarray(vv_vh):
    path, a = vv_vh
    scene = open_scene(path)
    block = scene.read(-5, 70, -3, 85)
    full = np.pad(a[[1, 0]], ((0, 0), (5, 6), (3, 5)), mode="reflect")
    np.testing.assert_array_equal(block, full)
    da = scene.to_dataarray(chunks=25)
    assert da.dims == ("band", "y", "x") and list(da.band.values) == ["VH intensity", "VV intensity"]
    np.testing.assert_array_equal(da.values, a[[1, 0]])
    assert da.x.values[0] == 500005.0 and da.y.values[0] == 4999995.0


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 50), lo=st.integers(-49, 0), length=st.integers(1, 140))
def test_reflect_index_matches_numpy(n, lo, length):
    hi = lo + length
    if hi - n > n - 1:  # numpy reflects once per side for pads up to n-1
        hi = 2 * n - 1
    idx = reflect_index(np.arange(lo, hi), n)
    assert ((idx >= 0) & (idx < n)).all()
    ref = np.pad(np.arange(n), (max(0, -lo), max(0, hi - n)), mode="reflect")
    np.testing.assert_array_equal(idx, ref[lo + max(0, -lo) : hi + max(0, -lo)])


@settings(max_examples=60, deadline=None)
@given(r0=st.integers(-20, 30), h=st.integers(1, 60), c0=st.integers(-20, 30), w=st.integers(1, 60))
def test_read_any_range_is_mirrored_scene(tmp_path_factory, r0, h, c0, w):
    folder = tmp_path_factory.getbasetemp() / "mirror"
    folder.mkdir(exist_ok=True)
    path = folder / "s.tif"
    a = grd(21, 23, seed=3)
    if not path.exists():
        write_tif(path, a, descriptions=["VH", "VV"])
    scene = open_scene(path)
    rows = reflect_index(np.arange(r0, r0 + h), 21)
    cols = reflect_index(np.arange(c0, c0 + w), 23)
    np.testing.assert_array_equal(scene.read(r0, r0 + h, c0, c0 + w), a[:, rows][:, :, cols])


def test_read_into_a_given_buffer_equals_a_plain_read(tmp_path):
    """Prediction reads tiles into reused buffers (read(..., out=buf)): for every kind of scene
    and for ranges inside, across and far beyond the edges, that gives what a plain read gives."""
    a = grd(60, 60, seed=4)
    z = (a + 1j * a[::-1]).astype(np.complex64)
    scenes = [
        open_scene(write_tif(tmp_path / "grd.tif", a, descriptions=["VV", "VH"])),
        open_scene(write_tif(tmp_path / "db.tif", 10 * np.log10(a), descriptions=["VV", "VH"]), units="db"),
        open_scene(vv=write_tif(tmp_path / "vv.tif", a[0]), vh=write_tif(tmp_path / "vh.tif", a[1])),
        open_scene(write_tif(tmp_path / "slc.tif", z, descriptions=["VV", "VH"]), "vv-complex"),
        open_scene(
            write_tif(tmp_path / "geo.tif", a, crs="EPSG:4326", res=0.00009, origin=(9.1, 45.5), descriptions=["VV", "VH"])
        ),
    ]
    for scene in scenes:
        for r0, r1, c0, c1 in [(3, 40, 5, 50), (-7, 30, 20, 70), (-10, 80, -12, 75), (50, 200, 0, 10)]:
            plain = scene.read(r0, r1, c0, c1)
            buf = np.full((scene.shape[0], r1 - r0, c1 - c0), -1.0, np.float32)
            got = scene.read(r0, r1, c0, c1, out=buf)
            assert got is buf
            np.testing.assert_array_equal(buf, plain)


def test_given_units_are_checked_against_tag_and_values(tmp_path):
    a = grd(48, 48)
    tagged = write_tif(tmp_path / "db.tif", 10 * np.log10(a), descriptions=["VV", "VH"], units=["dB", "dB"])
    with pytest.raises(SceneError, match=r"--units linear \(units='linear'\) contradicts band V. of .*'dB'"):
        open_scene(tagged, units="linear")
    assert open_scene(tagged).units == "db" and open_scene(tagged, units="db").units == "db"
    lin = write_tif(tmp_path / "lin.tif", a, descriptions=["VV", "VH"], units=["linear", "linear"])
    with pytest.raises(SceneError, match="contradicts .* 'linear'"):
        open_scene(lin, units="db")
    neg = write_tif(tmp_path / "neg.tif", 10 * np.log10(a), descriptions=["VV", "VH"])
    with pytest.raises(SceneError, match="--units linear .* was given but band V. .* negative values"):
        open_scene(neg, units="linear")
    with pytest.raises(SceneError, match="linear was assumed .* negative values"):
        open_scene(neg)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the test writes it so
@pytest.mark.parametrize("gcp_crs", ["EPSG:32632", "EPSG:4326"])
def test_gcp_rasters_in_any_crs_map_like_the_georeferenced_original(tmp_path, gcp_crs):
    """GCPs in a projected CRS used to give only nodata (GDAL's warp to an explicit grid)."""
    from _predict_fixtures import tiny_checkpoint
    from pyproj import Transformer

    from lczmap.predict import predict_scene

    a = grd(200, 220, seed=3)
    orig = write_tif(tmp_path / "orig.tif", a, descriptions=["VV", "VH"])
    x0, y0 = 500000.0, 5000000.0
    to = Transformer.from_crs("EPSG:32632", gcp_crs, always_xy=True)
    gcps = [
        GroundControlPoint(r, c, *to.transform(x0 + 10 * c, y0 - 10 * r)) for r in range(0, 201, 50) for c in range(0, 221, 55)
    ]
    path = write_tif(tmp_path / "gcp.tif", a, crs=gcp_crs, gcps=gcps, descriptions=["VV", "VH"])
    ref, scene = open_scene(orig), open_scene(path)
    assert rasterio.crs.CRS.from_wkt(scene.crs).to_epsg() == 32632
    assert abs(scene.affine.c - ref.affine.c) < 10 and abs(scene.affine.f - ref.affine.f) < 10  # within a pixel
    data = scene.read(0, scene.height, 0, scene.width)
    assert np.isfinite(data).mean() > 0.95
    h, w = min(scene.height, ref.height) - 2, min(scene.width, ref.width) - 2
    got, want = data[:, 1:h, 1:w], ref.read(0, ref.height, 0, ref.width)[:, 1:h, 1:w]
    assert np.nanmean(np.abs(got - want) / want) < 0.05
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")
    maps = []
    for src in (orig, path):
        out = predict_scene(src, tmp_path / f"{src.stem}_lcz.tif", ckpt).out
        with rasterio.open(out) as ds:
            maps.append((ds.read(1), ds.transform))
    (m0, t0), (m1, t1) = maps
    assert abs(t0.c - t1.c) < 100 and abs(t0.f - t1.f) < 100  # the same 100 m grid, within a pixel
    hh, ww = min(m0.shape[0], m1.shape[0]), min(m0.shape[1], m1.shape[1])
    assert (m1 != 0).mean() > 0.9 and (m0[:hh, :ww] == m1[:hh, :ww]).mean() > 0.9

"""Sentinel-1 IW SLC SAFE products: products written by lczmap.twin.safe_slc from known complex
sigma0 (four bursts per sub-swath with overlaps, three overlapping sub-swaths) and the IW1
sub-swath of a real product (xarray-sentinel's test data, tests/data/safe_slc/README.md)."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from lczmap.errors import SceneError
from lczmap.scene import open_scene
from lczmap.scene.safe import open_safe
from lczmap.twin.safe_slc import SlcLayout, slc_geometry, write_safe_slc

REAL_ZIP = (
    Path(__file__).parents[1] / "data" / "safe_slc" / "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.zip"
)
LAY = SlcLayout()
_, _, TO_RADAR = slc_geometry((9.0, 45.5), -12.0)
N0 = min(LAY.shifts)
N1 = max(LAY.first_line(s, LAY.bursts - 1) for s in range(LAY.swaths)) + LAY.lines_per_burst
M1 = LAY.first_sample(LAY.swaths - 1) + LAY.samples
_RNG = np.random.default_rng(0)
FIELD = {pol: (_RNG.normal(0, 0.3, (N1 - N0, M1)) + 1j * _RNG.normal(0, 0.3, (N1 - N0, M1))) for pol in ("VV", "VH")}
CONSTANT = {"VV": 0.3 + 0.1j, "VH": 0.05 - 0.02j}
#: |DN / A - z| per part: int16 rounding of z A, A >= 450 (twin.safe.sigma_lut), plus float32.
TOL = 0.5 / 450 + 1e-5


def _field(pol, s, k, n, m):
    """One complex value per ground sample: every burst and sub-swath that sees it sees the same."""
    return FIELD[pol][n - N0, m]


def _constant(pol, s, k, n, m):
    return np.full(np.broadcast_shapes(np.shape(n), np.shape(m)), CONSTANT[pol])


def _labelled(pol, s, k, n, m):
    """A constant per sub-swath and burst, so that the map tells which one each pixel came from."""
    return _constant(pol, s, k, n, m) * 0 + (0.2 + 0.1 * s + 0.02 * k)


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    return write_safe_slc(tmp_path_factory.mktemp("field"), _field)


@pytest.fixture(scope="module")
def field_scene(field):
    return open_safe(field, "dual-complex")


def _expected(scene, fn, pol):
    """What nearest-neighbour geocoding of the written product gives, from the product's exact
    geometry: each pixel's nearest global line and sample; per sub-swath the burst whose half of
    the overlap holds the line (cut at the middle of the valid lines), its valid lines and
    samples; the sub-swath whose half of the range overlap holds the pixel, else any with data.
    Returns (complex values, NaN where no data; sub-swath; burst)."""
    rows, cols = np.mgrid[0 : scene.height, 0 : scene.width]
    t = scene.transform
    n, m = TO_RADAR(t[2] + (cols + 0.5) * t[0], t[5] + (rows + 0.5) * t[4])
    fl, ll = LAY.valid_lines
    fs, ls = LAY.valid_samples
    starts = np.arange(LAY.bursts) * LAY.burst_step
    cuts = (starts[:-1] + ll + starts[1:] + fl) / 2
    out = np.full(n.shape, np.nan + 0j)
    swath = np.full(n.shape, -1)
    burst = np.full(n.shape, -1)
    cands = []
    for s in range(LAY.swaths):
        d = np.floor(n - LAY.first_line(s, 0) + 0.5).astype(int)
        p = np.floor(m - LAY.first_sample(s) + 0.5).astype(int)
        k = np.searchsorted(cuts, d, side="right")
        i = d - starts[k]
        has = (i >= fl) & (i <= ll) & (p >= fs) & (p <= ls)
        lo = -np.inf if s == 0 else (LAY.first_sample(s - 1) + ls + LAY.first_sample(s) + fs) / 2
        hi = np.inf if s == LAY.swaths - 1 else (LAY.first_sample(s) + ls + LAY.first_sample(s + 1) + fs) / 2
        cands.append((has & (m >= lo) & (m < hi), has, s, k, i, p))
    for which in (0, 1):  # the claimed sub-swath first, then any with data
        for c in cands:
            take = c[which] & (swath < 0)
            s, k, i, p = c[2], c[3][take], c[4][take], c[5][take]
            out[take] = [
                complex(fn(pol, s, kk, LAY.first_line(s, kk) + ii, LAY.first_sample(s) + pp)) for kk, ii, pp in zip(k, i, p)
            ]
            swath[take], burst[take] = s, k
    return out, swath, burst


def _ties(scene):
    """Pixels whose exact radar position lies within 0.001 line or sample of a rounding boundary
    (annotation times are written to the microsecond: 0.0005 line), where nearest may go either way."""
    rows, cols = np.mgrid[0 : scene.height, 0 : scene.width]
    t = scene.transform
    n, m = TO_RADAR(t[2] + (cols + 0.5) * t[0], t[5] + (rows + 0.5) * t[4])
    return (np.abs(n % 1 - 0.5) < 1e-3) | (np.abs(m % 1 - 0.5) < 1e-3)


def test_complex_sigma0_at_its_map_positions(field_scene):
    got = field_scene.read(0, field_scene.height, 0, field_scene.width)
    assert got.shape == (4, field_scene.height, field_scene.width) and got.dtype == np.float32
    assert field_scene.channel_names == ["VH real", "VH imag", "VV real", "VV imag"]
    ties = _ties(field_scene)
    assert ties.mean() < 0.01
    for j, pol in enumerate(("VH", "VV")):
        truth, _, _ = _expected(field_scene, _field, pol)
        valid = np.isfinite(truth)
        assert valid.mean() > 0.4
        np.testing.assert_array_equal(np.isfinite(got[2 * j]), valid)  # no pixel lost or invented
        off = valid & ((np.abs(got[2 * j] - truth.real) > TOL) | (np.abs(got[2 * j + 1] - truth.imag) > TOL))
        assert not (off & ~ties).any(), f"{(off & ~ties).sum()} pixels hold another sample's value"


def test_no_seams_at_bursts_and_sub_swaths(tmp_path):
    scene = open_safe(write_safe_slc(tmp_path, _constant), "vv-complex")
    got = scene.read(0, scene.height, 0, scene.width)
    truth, swath, burst = _expected(scene, _constant, "VV")
    inside = np.isfinite(truth)
    assert len(np.unique(swath[inside])) == 3 and len(np.unique(burst[inside])) == 4
    # data exactly where the written product's valid samples are (the staggered sub-swaths make its
    # outline a staircase): no nodata line or column at a burst or sub-swath boundary
    assert np.isfinite(got[:, inside]).all() and np.isnan(got[:, ~inside]).all()
    assert np.abs(got[0][inside] - 0.3).max() <= TOL and np.abs(got[1][inside] - 0.1).max() <= TOL


def test_bursts_and_sub_swaths_cut_at_mid_overlap(tmp_path):
    scene = open_safe(write_safe_slc(tmp_path, _labelled), "vv-complex")
    got = scene.read(0, scene.height, 0, scene.width)[0]
    truth, swath, burst = _expected(scene, _labelled, "VV")
    inside = np.isfinite(truth)
    assert len(set(zip(swath[inside], burst[inside]))) == LAY.swaths * LAY.bursts
    # values 0.02 apart per burst and 0.1 per sub-swath: each pixel comes from the expected one
    np.testing.assert_allclose(got[inside], truth.real[inside], atol=TOL, rtol=0)


def test_s1_all_filters_in_radar_geometry(tmp_path, field, field_scene):
    scene = open_safe(write_safe_slc(tmp_path, _constant), "s1-all")
    got = scene.read(0, scene.height, 0, scene.width)
    inside = np.isfinite(got[2])
    vh, vv = CONSTANT["VH"], CONSTANT["VV"]
    cov = vv * np.conj(vh)
    for i, want in enumerate((vh.real, vh.imag, vv.real, vv.imag, abs(vh) ** 2, abs(vv) ** 2, cov.real, cov.imag)):
        assert np.isfinite(got[i][inside]).all() and np.isnan(got[i][~inside]).all()
        scale = 1.0 if i < 4 else 2 * abs(vv)
        assert np.abs(got[i][inside] - want).max() <= TOL * scale + 1e-6
    assert "refined Lee 7 x 7" in "; ".join(scene.conversions)
    speckled = open_safe(field, "s1-all").read(0, field_scene.height, 0, field_scene.width)
    np.testing.assert_array_equal(speckled[:4], field_scene.read(0, field_scene.height, 0, field_scene.width))
    np.testing.assert_array_equal(np.isfinite(speckled[4:]), np.isfinite(speckled[:4].sum(0, keepdims=True)).repeat(4, 0))
    assert (speckled[4:6][np.isfinite(speckled[4:6])] > 0).all()


@pytest.mark.parametrize("band_set", ["dual-complex", "s1-all"])
def test_windows_alone_equal_the_whole(field, band_set):
    scene = open_safe(field, band_set)
    whole = scene.read(0, scene.height, 0, scene.width)
    pieced = np.full_like(whole, np.nan)
    for r0 in range(0, scene.height, 45):
        for c0 in range(0, scene.width, 37):
            r1, c1 = min(r0 + 45, scene.height), min(c0 + 37, scene.width)
            pieced[:, r0:r1, c0:c1] = scene.read(r0, r1, c0, c1)
    np.testing.assert_array_equal(pieced, whole)


def test_zip_reads_like_the_folder(field_scene, tmp_path):
    z = write_safe_slc(tmp_path, _field, as_zip=True)
    b = open_scene(z, "dual-complex")
    assert (b.height, b.width, b.transform, b.crs) == (
        field_scene.height,
        field_scene.width,
        field_scene.transform,
        field_scene.crs,
    )
    np.testing.assert_array_equal(b.read(0, b.height, 0, b.width), field_scene.read(0, b.height, 0, b.width))


def test_tags_say_what_the_product_is(field_scene):
    text = "; ".join(field_scene.conversions)
    for expected in (
        "Sentinel-1A IW SLC",
        "IPF 003.31",
        "absolute 37258, relative 66, descending",
        "VV, VH",
        "sigmaNought",
        "no thermal noise removal",
        "4, 4, 4 bursts (IW1, IW2, IW3)",
        "firstValidSample/lastValidSample",
        "sub-swath merge: IW1, IW2, IW3",
        "EPSG:32632",
        "nearest neighbour",
    ):
        assert expected in text


def test_picklable(field_scene):
    again = pickle.loads(pickle.dumps(field_scene))
    np.testing.assert_array_equal(again.read(10, 80, 20, 90), field_scene.read(10, 80, 20, 90))


def test_predict_maps_an_slc_product(field, tmp_path):
    from _predict_fixtures import tiny_checkpoint

    from lczmap.predict import predict_scene

    ckpt = tiny_checkpoint(tmp_path / "m.safetensors", sar="vv-complex")
    predict_scene(field, tmp_path / "lcz.tif", ckpt)
    with rasterio.open(tmp_path / "lcz.tif") as src:
        assert src.crs.to_epsg() == 32632 and src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert "Sentinel-1A IW SLC" in src.tags()["input_conversions"]
        assert (src.read(1) > 0).any()


def test_cli_predict_slc_s1_all(field, tmp_path):
    from _predict_fixtures import tiny_checkpoint
    from click.testing import CliRunner

    from lczmap.cli import main

    ckpt = tiny_checkpoint(tmp_path / "m.safetensors", sar="s1-all")
    res = CliRunner().invoke(main, ["predict", str(field), str(tmp_path / "lcz.tif"), "-m", str(ckpt)])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "lcz.tif") as src:
        assert "refined Lee 7 x 7" in src.tags()["input_conversions"] and (src.read(1) > 0).any()
    # the reader filtered the Lee channels already: a second filter is refused, nothing written
    res = CliRunner().invoke(
        main, ["predict", str(field), str(tmp_path / "twice.tif"), "-m", str(ckpt), "--speckle-filter", "refined-lee"]
    )
    assert res.exit_code != 0 and "smooth twice" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "twice.tif").exists()


# ------------------------------------------------------------------ bad input: one line each, nothing written


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return write_safe_slc(tmp_path_factory.mktemp("small"), _constant, layout=SlcLayout(bursts=2))


def _copy(small, tmp_path):
    import shutil

    return Path(shutil.copytree(small, tmp_path / small.name))


@pytest.mark.parametrize(
    "kind, glob",
    [
        ("measurement", "measurement/*-iw2-slc-vv-*.tiff"),
        ("annotation", "annotation/*-iw3-slc-vh-*.xml"),
        ("calibration", "annotation/calibration/calibration-*-iw1-slc-vv-*.xml"),
    ],
)
def test_a_sub_swath_missing_a_file_is_left_out_and_named(small, tmp_path, caplog, kind, glob):
    """A partial product maps the sub-swaths it holds whole; the other is named in a warning and the tags."""
    safe = _copy(small, tmp_path)
    next(safe.glob(glob)).unlink()
    swath, pol = (v.upper() for v in re.search(r"-(iw\d)-slc-(v\w)-", glob).groups())
    with caplog.at_level("WARNING", logger="lczmap.scene.safe"):
        scene = open_safe(safe, "dual-complex")
    held = [s for s in ("IW1", "IW2", "IW3") if s != swath]
    assert [sw.name for sw in scene.reader.swaths] == held
    assert [r.getMessage() for r in caplog.records] == [
        f"{safe.name} holds {', '.join(held)} of the sub-swaths its manifest lists (IW1, IW2, IW3): mapping "
        f"{', '.join(held)} only (--swaths to choose)"
    ]
    assert (
        f"sub-swaths: {', '.join(held)} mapped; {swath} missing from the product (listed in its manifest: "
        f"{swath} lacks {kind} {pol})"
    ) in scene.conversions


def test_a_product_missing_a_file_of_every_sub_swath_is_refused(small, tmp_path):
    from _predict_fixtures import tiny_checkpoint

    from lczmap.predict import predict_scene

    safe = _copy(small, tmp_path)
    for tiff in safe.glob("measurement/*-slc-vv-*.tiff"):
        tiff.unlink()
    with pytest.raises(
        SceneError,
        match=r"lacks files of every sub-swath \(measurement IW1 VV, measurement IW2 VV, "
        r"measurement IW3 VV\): download",
    ):
        predict_scene(safe, tmp_path / "lcz.tif", tiny_checkpoint(tmp_path / "m.safetensors", sar="dual-complex"))
    assert not (tmp_path / "lcz.tif").exists()


def test_corrupt_zip_is_refused(tmp_path):
    z = write_safe_slc(tmp_path, _constant, layout=SlcLayout(bursts=2), as_zip=True)
    data = z.read_bytes()
    z.write_bytes(data[: len(data) // 2])
    with pytest.raises(SceneError, match="not a readable zip file"):
        open_safe(z, "vv-complex")


def test_hh_hv_product_is_refused(tmp_path):
    const = {"HH": 0.2, "HV": 0.05}
    safe = write_safe_slc(
        tmp_path,
        lambda pol, s, k, n, m: np.full(np.broadcast_shapes(n.shape, m.shape), const[pol]),
        layout=SlcLayout(bursts=2),
        pols=("HH", "HV"),
    )
    with pytest.raises(SceneError, match="HH/HV only.*use a VV/VH acquisition"):
        open_safe(safe, "vv-complex")


def test_intensity_model_is_refused(small):
    with pytest.raises(SceneError, match="IW SLC product \\(single-look complex\\): map the IW GRD product"):
        open_safe(small, "lee-intensity")


def test_interpolating_resampling_is_refused(small):
    with pytest.raises(SceneError, match="nearest neighbour.*drop --resample bilinear"):
        open_safe(small, "vv-complex", resample="bilinear")
    assert open_safe(small, "vv-complex", resample="nearest").width > 0


def test_other_modes_are_refused(tmp_path):
    safe = write_safe_slc(tmp_path, _constant, layout=SlcLayout(bursts=2), mode="EW")
    with pytest.raises(SceneError, match="EW product: lczmap maps IW GRD products .* and IW SLC products"):
        open_safe(safe, "vv-complex")


# ------------------------------------------------------------------ the real product


def test_real_product_maps_the_sub_swath_it_holds(caplog, real_iw1):
    """xarray-sentinel publishes IW1 VV/VH and IW2 VH only of a product whose manifest lists all six:
    the zip as published maps IW1 (as the IW1-only copy does), IW2 and IW3 named in a warning and in
    the tags."""
    with caplog.at_level("WARNING", logger="lczmap.scene.safe"):
        scene = open_safe(REAL_ZIP, "dual-complex")
    assert [r.getMessage() for r in caplog.records] == [
        f"{REAL_ZIP.name} holds IW1 of the sub-swaths its manifest lists (IW1, IW2, IW3): mapping IW1 only (--swaths to choose)"
    ]
    assert [sw.name for sw in scene.reader.swaths] == ["IW1"]
    assert (
        "sub-swaths: IW1 mapped; IW2, IW3 missing from the product (listed in its manifest: IW2 lacks "
        "measurement VV, annotation VV, calibration VV; IW3 lacks measurement VH, annotation VH, calibration VH, "
        "measurement VV, annotation VV, calibration VV)"
    ) in scene.conversions
    alone = open_safe(real_iw1, "dual-complex")
    assert (scene.crs, scene.transform, scene.height, scene.width) == (alone.crs, alone.transform, alone.height, alone.width)
    r, c = scene.height // 2, scene.width // 2
    np.testing.assert_array_equal(scene.read(r, r + 8, c, c + 8), alone.read(r, r + 8, c, c + 8))


def test_real_product_sub_swaths_chosen(real_iw1):
    scene = open_safe(REAL_ZIP, "dual-complex", swaths=["iw1"])
    assert [sw.name for sw in scene.reader.swaths] == ["IW1"]
    with pytest.raises(
        SceneError,
        match=r"--swaths IW1,IW2: S1B_IW_SLC_.*\.zip lacks files of IW2 \(measurement IW2 "
        r"VV, annotation IW2 VV, calibration IW2 VV\): choose among the sub-swaths it "
        r"holds whole \(IW1\), or download",
    ):
        open_safe(REAL_ZIP, "dual-complex", swaths=["IW1", "IW2"])
    with pytest.raises(SceneError, match=r"--swaths IW4: .* has no IW4 \(its manifest lists IW1, IW2, IW3\)"):
        open_safe(REAL_ZIP, "vv-complex", swaths=["IW4"])


@pytest.fixture(scope="module")
def real_iw1(tmp_path_factory):
    """The real product's IW1 sub-swath as a product of its own: files unchanged, the other
    sub-swaths' entries taken out of the manifest."""
    out = tmp_path_factory.mktemp("real")
    with zipfile.ZipFile(REAL_ZIP) as z:
        z.extractall(out, [n for n in z.namelist() if "-iw2-" not in n])
    safe = next(out.glob("*.SAFE"))
    manifest = safe / "manifest.safe"
    text = manifest.read_text()
    manifest.write_text(
        re.sub(
            r"\s*<dataObject\b.*?</dataObject>",
            lambda m: "" if re.search(r"-iw[23]-", m.group(0)) else m.group(0),
            text,
            flags=re.S,
        )
    )
    return safe


@pytest.fixture(scope="module")
def real_scene(real_iw1):
    return open_safe(real_iw1, "dual-complex")


def test_real_product_tags(real_scene):
    text = "; ".join(real_scene.conversions)
    for expected in (
        "Sentinel-1B IW SLC",
        "absolute 26269, relative 168, descending",
        "2021-04-01T05:26:22.396989 to 2021-04-01T05:26:50.325833",
        "9 bursts (IW1)",
        "none (IW1 only)",
    ):
        assert expected in text


def test_real_product_grid_and_footprint_follow_the_annotation(real_iw1, real_scene):
    import xarray_sentinel
    from scipy.interpolate import RegularGridInterpolator
    from xarray_sentinel import esa_safe

    scene = real_scene
    gcp = xarray_sentinel.open_sentinel1_dataset(real_iw1, group="IW1/VV/gcp")
    to_map = Transformer.from_crs("EPSG:4326", scene.crs, always_xy=True)
    t = scene.transform
    xs, ys = to_map.transform(gcp.longitude.values.ravel(), gcp.latitude.values.ravel())
    # the grid holds the geolocation grid, its edges within one pixel of the grid's extreme points
    assert t[2] <= min(xs) - 5 <= t[2] + t[0] and t[5] - t[0] <= max(ys) + 5 <= t[5]
    assert t[2] + (scene.width - 1) * t[0] <= max(xs) + 5 <= t[2] + scene.width * t[0]
    assert t[5] - scene.height * t[0] <= min(ys) - 5 <= t[5] - (scene.height - 1) * t[0]
    # the footprint's corners are where the annotation puts the first and last valid line and sample
    annotation = next(real_iw1.glob("annotation/s1b-iw1-slc-vv-*.xml"))
    timing = esa_safe.parse_tag(annotation, "//swathTiming")
    image = esa_safe.parse_tag(annotation, "//imageInformation")
    bursts = timing["burstList"]["burst"]
    dt, lpb = float(image["azimuthTimeInterval"]), int(timing["linesPerBurst"])
    t0 = gcp.azimuth_time.values[0]
    secs = (gcp.azimuth_time.values - t0) / np.timedelta64(1, "ns") * 1e-9
    lat = RegularGridInterpolator((secs, gcp.pixel.values.astype(float)), gcp.latitude.values)
    lon = RegularGridInterpolator((secs, gcp.pixel.values.astype(float)), gcp.longitude.values)
    corners = []
    for b in (bursts[0], bursts[-1]):
        first = np.array(b["firstValidSample"]["$"].split(), int)
        last = np.array(b["lastValidSample"]["$"].split(), int)
        valid = np.flatnonzero(first >= 0)
        line = valid[0] if b is bursts[0] else valid[-1]
        when = (np.datetime64(b["azimuthTime"], "ns") - t0) / np.timedelta64(1, "ns") * 1e-9 + line * dt
        for sample in (first[valid].min(), last[valid].max()):
            x, y = to_map.transform(lon([[when, sample]])[0], lat([[when, sample]])[0])
            corners.append(((x - t[2]) / t[0], (y - t[5]) / t[4]))
    assert lpb == 1501 and len(corners) == 4
    centre = np.mean(corners, axis=0)
    for col, row in corners:
        inward = (centre - (col, row)) / np.hypot(*(centre - (col, row)))
        c, r = np.floor(np.array([col, row]) + 1.5 * inward).astype(int)
        assert np.isfinite(scene.read(r, r + 1, c, c + 1)[:, 0, 0]).all()
        c, r = np.floor(np.array([col, row]) - 2.5 * inward).astype(int)
        assert np.isnan(scene.read(r, r + 1, c, c + 1)[:, 0, 0]).all()


# xarray-sentinel's dataset opening goes through rioxarray, which multiplies Affines with `*` (affine 2.4)
@pytest.mark.filterwarnings("ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning:rioxarray")
def test_real_product_calibration_agrees_with_xarray_sentinel(real_iw1, real_scene):
    """The published pixels are constant (VH 1 + 0j, VV 2 + 0j): each value is DN / A at its radar
    sample, as xarray-sentinel's calibrate_amplitude gives it."""
    import xarray_sentinel

    scene = real_scene
    r0, c0 = scene.height // 2, scene.width // 2
    got = scene.read(r0, r0 + 40, c0, c0 + 40)
    assert np.isfinite(got).all() and (got[[1, 3]] == 0).all()
    np.testing.assert_allclose(got[2], 2 * got[0], rtol=5e-3)  # the VV and VH LUTs differ by 0.1 %
    sw = scene.reader.swaths[0]
    t = scene.transform
    x, y = t[2] + (c0 + 20.5) * t[0], t[5] + (r0 + 20.5) * t[4]
    d, p = (int(np.floor(v[0] + 0.5)) for v in sw.grid.radar(np.array([x]), np.array([y])))
    line = int(sw.rows[d])
    pol = xarray_sentinel.open_sentinel1_dataset(real_iw1, group="IW1/VV")
    cal = xarray_sentinel.open_sentinel1_dataset(real_iw1, group="IW1/VV/calibration")
    dn = pol.measurement.isel(line=slice(line, line + 1), pixel=slice(p, p + 1))
    theirs = float(xarray_sentinel.calibrate_amplitude(dn, cal.sigmaNought).real.values[0, 0])
    assert abs(got[2, 20, 20] / theirs - 1) < 1e-4

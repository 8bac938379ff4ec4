"""Faults injected into `lczmap zones` and `lczmap summarize`: outputs that are inputs, full
disks, unusable output paths, failures halfway through replacing a file and its sidecars, GDAL
writes that fail silently, SIGKILL.

Every case checks the exit code (or the exception), a one-line message without a traceback, that
no temporary file is left behind, and the md5 of every file that must survive.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from shapely.geometry import box

from lczmap.cli import main
from lczmap.errors import OutputError
from lczmap.zones import summarize, vectorize_zones

UTM = "EPSG:32633"
ORIGIN = Affine(100, 0, 500000, 0, -100, 5001000)


def _raster(path, height=60, width=60, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    codes = np.kron(rng.integers(1, 18, (height // 6 + 1, width // 6 + 1)), np.ones((6, 6), int))[:height, :width]
    hit = rng.random(codes.shape) < noise
    codes[hit] = rng.integers(1, 18, int(hit.sum()))
    codes[:2] = 0
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint8",
        crs=UTM,
        transform=ORIGIN,
        nodata=0,
    ) as dst:
        dst.write(codes.astype(np.uint8), 1)
    return path


def _districts(path, layer=None, n=3):
    frame = gpd.GeoDataFrame(
        {"name": [f"d{i}" for i in range(n)]},
        geometry=[box(500000 + 1000 * i, 4995000, 501000 + 1000 * i, 5000800) for i in range(n)],
        crs=UTM,
    )
    frame.to_file(path, layer=layer) if layer else frame.to_file(path)
    return path


def _md5(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` (hidden ones included) and its md5."""
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _cli(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(output: str, *words: str) -> None:
    lines = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "Traceback" not in output, output
    for word in words:
        assert word in lines[0], output


@pytest.fixture
def lcz(tmp_path):
    return _raster(tmp_path / "lcz.tif")


# -- inputs are never outputs ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["zones", "{lcz}", "{lcz}"],
        ["zones", "{lcz}", "{lcz}", "--overwrite"],
        ["zones", "{lcz}", "{conf}", "--confidence", "{conf}", "--overwrite"],
        ["summarize", "{lcz}", "{lcz}", "--overwrite"],
        ["summarize", "{lcz}", "{d}/s.csv", "--csv", "{lcz}", "--overwrite"],
        ["summarize", "{lcz}", "{d}/wards.gpkg", "--by", "{d}/wards.gpkg", "--overwrite"],  # the same layer
        ["summarize", "{lcz}", "{d}/wards.shp", "--by", "{d}/wards.shp", "--overwrite"],
        ["summarize", "{lcz}", "{d}/out.csv", "--by", "{d}/wards.gpkg", "--csv", "{d}/wards.gpkg", "--overwrite"],
    ],
)
def test_an_input_is_never_an_output(tmp_path, lcz, args):
    conf = _raster(tmp_path / "conf.tif", seed=1)
    _districts(tmp_path / "wards.gpkg")
    _districts(tmp_path / "wards.shp")
    before = _md5(tmp_path)
    result = _cli([a.format(lcz=lcz, conf=conf, d=tmp_path) for a in args])
    assert result.exit_code == 1
    same_layer = "would replace the districts layer 'wards'"
    _one_line_error(result.output, same_layer if "--by" in args and args[2] == "{d}/wards.gpkg" else "also an input")
    assert _md5(tmp_path) == before


def test_an_input_is_never_an_output_from_python(tmp_path, lcz):
    _districts(tmp_path / "wards.gpkg")
    before = _md5(tmp_path)
    with pytest.raises(OutputError, match="also an input"):
        vectorize_zones(lcz, lcz, overwrite=True)
    with pytest.raises(OutputError, match="would replace the districts layer 'wards'"):
        summarize(lcz, tmp_path / "wards.gpkg", by=tmp_path / "wards.gpkg", overwrite=True)
    with pytest.raises(OutputError, match="given twice"):
        summarize(lcz, tmp_path / "s.csv", csv_path=tmp_path / "s.csv")
    assert _md5(tmp_path) == before


def test_the_raster_style_is_not_replaced_by_the_zones_style(tmp_path, lcz):
    (tmp_path / "lcz.qml").write_text("<qgis>the raster's palette</qgis>")
    before = _md5(tmp_path)
    result = _cli(["zones", lcz, tmp_path / "lcz.gpkg", "--overwrite"])
    assert result.exit_code == 1
    _one_line_error(result.output, "style of the input raster", "--no-style")
    assert _md5(tmp_path) == before
    assert _cli(["-q", "zones", lcz, tmp_path / "lcz.gpkg", "--no-style"]).exit_code == 0


def test_a_summary_goes_into_the_districts_geopackage_as_a_new_layer(tmp_path, lcz):
    multi = tmp_path / "multi.gpkg"
    _districts(multi, layer="wards")
    _districts(multi, layer="parks", n=2)
    wards = gpd.read_file(multi, layer="wards")
    result = _cli(["summarize", lcz, multi, "--by", multi, "--layer", "wards", "--overwrite"])
    assert result.exit_code == 0, result.output
    layers = dict(pyogrio.list_layers(multi))
    assert set(layers) == {"wards", "parks", "multi"}
    assert gpd.read_file(multi, layer="wards").equals(wards)
    assert len(gpd.read_file(multi, layer="parks")) == 2 and len(gpd.read_file(multi, layer="multi")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lcz.tif", "multi.gpkg"]
    # ... under a name of one's choice; never in place of the districts layer
    assert (
        _cli(
            ["-q", "summarize", lcz, multi, "--by", multi, "--layer", "wards", "--out-layer", "lcz_shares", "--overwrite"]
        ).exit_code
        == 0
    )
    assert set(dict(pyogrio.list_layers(multi))) == {"wards", "parks", "multi", "lcz_shares"}
    before = _md5(tmp_path)
    result = _cli(["summarize", lcz, multi, "--by", multi, "--layer", "wards", "--out-layer", "wards", "--overwrite"])
    assert result.exit_code == 1
    _one_line_error(result.output, "would replace the districts layer 'wards'", "--out-layer")
    assert _md5(tmp_path) == before


def test_overwriting_a_geopackage_replaces_only_the_layer(tmp_path, lcz):
    out = tmp_path / "city.gpkg"
    _districts(out, layer="parks", n=2)
    vectorize_zones(lcz, out, out_layer="zones", style=False, overwrite=True)
    first = len(gpd.read_file(out, layer="zones"))
    assert set(dict(pyogrio.list_layers(out))) == {"parks", "zones"}
    result = _cli(["-q", "zones", lcz, out, "--out-layer", "zones", "--min-area", "30000", "--overwrite", "--no-style"])
    assert result.exit_code == 0, result.output
    assert set(dict(pyogrio.list_layers(out))) == {"parks", "zones"}
    assert len(gpd.read_file(out, layer="parks")) == 2 and len(gpd.read_file(out, layer="zones")) < first
    # without --overwrite the file is kept as it is
    before = _md5(tmp_path)
    result = _cli(["zones", lcz, out, "--out-layer", "other"])
    assert result.exit_code == 1
    _one_line_error(result.output, "--overwrite")
    assert _md5(tmp_path) == before


# -- unusable output paths: refused before any work ------------------------------------------


@pytest.mark.parametrize(
    "out, words",
    [
        ("/proc/zones.gpkg", ["cannot write in /proc"]),
        ("{d}/" + "z" * 300 + ".gpkg", ["too long"]),
        ("{d}/folder.gpkg", ["is a folder"]),
        ("{d}/missing/zones.gpkg", ["does not exist"]),
        ("{d}/old.shp", ["old.dbf exists", "--overwrite"]),  # a sidecar of a Shapefile
    ],
)
@pytest.mark.parametrize("verb", ["zones", "summarize"])
def test_unusable_output_paths_are_one_line(tmp_path, lcz, monkeypatch, verb, out, words):
    (tmp_path / "folder.gpkg").mkdir()
    (tmp_path / "old.dbf").write_text("a sidecar without its .shp")
    _districts(tmp_path / "wards.geojson")
    before = _md5(tmp_path)
    called = []
    monkeypatch.setattr("lczmap.zones.vectorize.inspect_lcz", lambda *a, **k: called.append(1))
    monkeypatch.setattr("lczmap.zones.summary.inspect_lcz", lambda *a, **k: called.append(1))
    args = [verb, lcz, out.format(d=tmp_path)] + (["--by", tmp_path / "wards.geojson"] if verb == "summarize" else [])
    result = _cli(args)
    assert result.exit_code == 1 and not called  # before any work
    _one_line_error(result.output, *words)
    assert _md5(tmp_path) == before


# -- full disk: a file-size limit (RLIMIT_FSIZE) stands in for it ------------------------------

_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
args = {args!r}
if args[0] == "python":
    from lczmap.errors import OutputError
    from lczmap.zones import summarize, vectorize_zones
    try:
        eval(args[1])
    except OutputError as exc:
        print("Error:", exc)
        sys.exit(1)
else:
    from lczmap.cli import main
    main(args, prog_name="lczmap")
"""


def _limited(args, limit):
    code = _LIMITED.format(limit=limit, args=[str(a) for a in args])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def _old_outputs(tmp_path, lcz, out, *extra):
    big = _raster(tmp_path / "big.tif", 240, 240, seed=3, noise=0.3)
    result = _cli(["-q", *extra, big, out, "--overwrite"])
    assert result.exit_code == 0, result.output
    return big


@pytest.mark.parametrize("ext", [".gpkg", ".fgb", ".geojson", ".shp", ".parquet"])
@pytest.mark.parametrize("door", ["cli", "python"])
def test_a_full_disk_in_zones_keeps_the_old_zones(tmp_path, ext, door):
    out = tmp_path / f"zones{ext}"
    small = _raster(tmp_path / "small.tif", 30, 30)
    _cli(["-q", "zones", small, out])  # the old output: small, with its style (and sidecars)
    big = _raster(tmp_path / "big.tif", 240, 240, seed=3, noise=0.3)
    before = _md5(tmp_path)
    if door == "cli":
        run = _limited(["zones", big, out, "--overwrite"], 100_000)
    else:
        run = _limited(["python", f"vectorize_zones({str(big)!r}, {str(out)!r}, overwrite=True)"], 100_000)
    assert run.returncode == 1, run.stdout + run.stderr
    _one_line_error(run.stdout + run.stderr, f"no space left on {tmp_path}", "MB free")
    assert _md5(tmp_path) == before  # old zones, style and sidecars intact; no .part, no backup


def test_a_full_disk_when_adding_a_layer_keeps_the_geopackage(tmp_path, lcz):
    multi = tmp_path / "multi.gpkg"
    _districts(multi, layer="wards")
    gpd.GeoDataFrame({"v": np.arange(2000)}, geometry=[box(0, 0, 1, 1)] * 2000, crs=UTM).to_file(multi, layer="bulk")
    before = _md5(tmp_path)
    run = _limited(["summarize", lcz, multi, "--by", multi, "--layer", "wards", "--overwrite"], 50_000)
    assert run.returncode == 1, run.stdout + run.stderr
    _one_line_error(run.stdout + run.stderr, "no space left on")
    assert _md5(tmp_path) == before


@pytest.mark.parametrize("door", ["cli", "python"])
@pytest.mark.parametrize("out, csv, limit", [(".gpkg", True, 60_000), (".csv", False, 512), (".shp", True, 4_000)])
def test_a_full_disk_in_summarize_keeps_the_old_summary(tmp_path, door, out, csv, limit):
    lcz = _raster(tmp_path / "lcz.tif", 60, 60)
    districts = _districts(tmp_path / "wards.geojson", n=40 if out != ".csv" else 3) if out != ".csv" else None
    target = tmp_path / f"summary{out}"
    copy = tmp_path / "summary_copy.csv" if csv else None
    args = ["summarize", lcz, target] + (["--by", districts] if districts else []) + (["--csv", copy] if copy else [])
    assert _cli(["-q", *args]).exit_code == 0
    before = _md5(tmp_path)
    if door == "cli":
        run = _limited([*args, "--overwrite"], limit)
    else:
        call = (
            f"summarize({str(lcz)!r}, {str(target)!r}, by={str(districts) if districts else None!r}, "
            f"csv_path={str(copy) if copy else None!r}, overwrite=True)"
        )
        run = _limited(["python", call], limit)
    assert run.returncode == 1, run.stdout + run.stderr
    _one_line_error(run.stdout + run.stderr, "no space left on")
    assert _md5(tmp_path) == before


def test_a_full_disk_for_the_working_copy_of_the_map(tmp_path):
    """A map in another coding is normalised to a working copy beside the output first."""
    lcz = _raster(tmp_path / "lcz.tif", 400, 400)
    with rasterio.open(lcz, "r+") as dst:
        dst.nodata = 255  # not lczmap's own coding: summarize works on a normalised copy
    wards = _districts(tmp_path / "wards.geojson")
    before = _md5(tmp_path)
    for door in (
        ["summarize", lcz, tmp_path / "s.gpkg", "--by", wards],
        ["python", f"summarize({str(lcz)!r}, {str(tmp_path / 's.gpkg')!r}, by={str(wards)!r})"],
    ):
        run = _limited(door, 20_000)
        assert run.returncode == 1, run.stdout + run.stderr
        _one_line_error(run.stdout + run.stderr, f"no space left on {tmp_path}")
        assert _md5(tmp_path) == before


# -- failures GDAL does not report, and failures halfway through the replacement --------------


def test_a_silent_gdal_failure_is_caught_by_the_check(tmp_path, lcz, monkeypatch):
    out = tmp_path / "zones.fgb"
    vectorize_zones(lcz, out)
    before = _md5(tmp_path)
    real = pyogrio.write_dataframe

    def loses_a_feature(frame, *args, **kwargs):  # what a silently failing driver leaves
        return real(frame.iloc[:-1], *args, **kwargs)

    monkeypatch.setattr(pyogrio, "write_dataframe", loses_a_feature)
    with pytest.raises(OutputError, match=r"features read back\): the old file, if any, is kept"):
        vectorize_zones(lcz, out, overwrite=True, min_area=20_000)
    result = _cli(["zones", lcz, out, "--overwrite"])
    assert result.exit_code == 1
    _one_line_error(result.output, "features read back")
    assert _md5(tmp_path) == before


def test_a_failure_after_the_first_part_moved_restores_every_old_part(tmp_path, lcz, monkeypatch):
    out = tmp_path / "zones.shp"
    vectorize_zones(lcz, out)
    (tmp_path / "zones.qix").write_bytes(b"old spatial index")
    before = _md5(tmp_path)
    real = os.replace

    def fails_on_dbf(src, dst, *args, **kwargs):
        if str(dst).endswith(".dbf") and ".part" in str(src):  # the new .dbf, not the old one put back
            raise OSError(5, "Input/output error")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr("lczmap._io.fileset.os.replace", fails_on_dbf)
    with pytest.raises(OutputError, match="Input/output error"):
        vectorize_zones(lcz, out, overwrite=True, min_area=20_000)  # .shx moved, .dbf failed
    assert _md5(tmp_path) == before
    monkeypatch.setattr("lczmap._io.fileset.os.replace", real)
    vectorize_zones(lcz, out, overwrite=True, min_area=20_000)
    assert not (tmp_path / "zones.qix").exists()  # an index of the old file would mislead QGIS
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["lcz.tif", "zones.shp", "zones.shx", "zones.dbf", "zones.prj", "zones.cpg", "zones.qml"]
    )


# -- SIGKILL and rerun -------------------------------------------------------------------------


def test_sigkill_mid_run_then_rerun_is_byte_identical(tmp_path):
    big = _raster(tmp_path / "big.tif", 500, 500, seed=5, noise=0.1)
    reference = tmp_path / "ref"
    reference.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    out = work / "zones.fgb"

    def zones_cmd(target):
        # narrow strips: the same zones, written over a longer time (about 1.5 s here)
        return [sys.executable, "-m", "lczmap", "-q", "zones", str(big), str(target), "--overwrite", "--block-rows", "16"]

    subprocess.run(zones_cmd(reference / "zones.fgb"), check=True, capture_output=True, timeout=300)
    small = _raster(tmp_path / "small.tif", 30, 30)
    assert _cli(["-q", "zones", small, out]).exit_code == 0  # an old output that must survive the kill
    before = _md5(work)
    start = time.monotonic()
    # at a lower priority than this test, which watches it: a busy machine slows the run, not the watch
    proc = subprocess.Popen(zones_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=lambda: os.nice(10))
    while not any(p.name.endswith(".part.fgb") for p in work.iterdir()):  # the writing has begun
        assert proc.poll() is None and time.monotonic() - start < 120, "zones ended before it could be killed"
        time.sleep(0.01)
    time.sleep(0.2)  # ... and is under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    left = {name: md5 for name, md5 in _md5(work).items() if name in before}
    assert left == before  # the old zones and style untouched; only hidden temporaries added
    left_behind = set(_md5(work)) - set(before)  # hidden temporaries and the writer's lock file
    assert all(name.startswith(".") and (".part" in name or name == ".zones.fgb.lock") for name in left_behind)
    rerun = subprocess.run(zones_cmd(out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert set(_md5(work)) == set(before)  # the rerun removed what the killed run left
    assert _md5(work)["zones.fgb"] == _md5(reference)["zones.fgb"]
    assert _md5(work)["zones.qml"] == _md5(reference)["zones.qml"]

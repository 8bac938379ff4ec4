"""Faults of the output layer found from outside (issue #26): sidecars of an output that count as
the output, several outputs of one command replaced together on a filling disk, two processes
writing one GeoPackage at once, sidecar permissions, leftovers of killed and failed runs, raster
read errors of every command, absurd option values and sizes, and unusable schedulers.

Real files (rasterio-written rasters, real GeoPackages), real subprocesses, a file-size limit
(RLIMIT_FSIZE) standing in for a full disk; nothing under test is mocked. Each case checks the
exit code, one ``Error:`` line without a traceback, and the md5 of every file that must survive.
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from _predict_fixtures import grd, tiny_checkpoint, write_tif
from affine import Affine
from click.testing import CliRunner
from shapely.geometry import box

from lczmap.cli import main

UTM = "EPSG:32633"
ORIGIN = Affine(100, 0, 500000, 0, -100, 5001000)
LIMITED = (
    "import resource, signal, sys\n"
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    "limit = int(sys.argv.pop(1))\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
    "from lczmap.cli import main\n"
    "sys.argv[0] = 'lczmap'\n"
    "main()\n"
)


def _raster(path: Path, height: int = 60, width: int = 60, seed: int = 0, noise: float = 0.1) -> Path:
    rng = np.random.default_rng(seed)
    codes = np.kron(rng.integers(1, 18, (height // 6 + 1, width // 6 + 1)), np.ones((6, 6), int))[:height, :width]
    hit = rng.random(codes.shape) < noise
    codes[hit] = rng.integers(1, 18, int(hit.sum()))
    codes[:2] = 0
    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint8", crs=UTM, transform=ORIGIN, nodata=0
    ) as dst:
        dst.write(codes.astype(np.uint8), 1)
    return path


def _reference(path: Path, n: int = 30, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = 500000 + rng.uniform(0, 5000, n)
    y = 5001000 - rng.uniform(400, 5000, n)
    frame = gpd.GeoDataFrame(
        {"lcz": rng.integers(1, 18, n)}, geometry=[box(a, b, a + 500, b + 500) for a, b in zip(x, y)], crs=UTM
    )
    frame.to_file(path)
    return path


def _md5(folder: Path) -> dict[str, str]:
    """Every entry of ``folder`` (hidden ones included) with the md5 of the files."""
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() if p.is_file() else "folder" for p in sorted(folder.iterdir())}


def _cli(*args: object) -> object:
    return CliRunner().invoke(main, [os.fsdecode(a) if isinstance(a, (Path, bytes)) else str(a) for a in args])


def _lczmap(*args: object, limit: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", LIMITED, str(limit)] if limit else [sys.executable, "-m", "lczmap"]
    return subprocess.run(
        [*cmd, *(os.fsdecode(a) if isinstance(a, (Path, bytes)) else str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line_error(output: str, *words: str) -> str:
    lines = [line[line.index("Error: ") :] for line in output.splitlines() if "Error: " in line]
    assert len(lines) == 1 and "Traceback" not in output, output
    for word in words:
        assert word in lines[0], output
    return lines[0]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "m.safetensors")


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    return write_tif(tmp_path / "scene.tif", grd(60, 70), descriptions=["VV", "VH"])


# ------------------------------------------------------------------ data loss


@pytest.mark.parametrize("sidecar", ["lcz.qml", "lcz.tif.aux.xml", "lcz.tif.ovr", "lcz.tif.msk"])
def test_a_sidecar_of_an_absent_output_counts_as_the_output(tmp_path, scene, ckpt, sidecar):
    """A user's own lcz.qml (or lcz.tif.aux.xml) beside a map not yet written is never replaced
    without --overwrite: predict and ucp refuse as if lcz.tif were there."""
    (tmp_path / sidecar).write_text("<qgis>my own style</qgis>\n")
    lcz = _raster(tmp_path / "map.tif")
    before = _md5(tmp_path)
    r = _cli("-q", "predict", scene, tmp_path / "lcz.tif", "-m", ckpt)
    assert r.exit_code == 1
    _one_line_error(r.output, sidecar, "--overwrite")
    r = _cli("-q", "ucp", lcz, tmp_path / "lcz.tif")
    assert r.exit_code == 1
    _one_line_error(r.output, sidecar, "--overwrite")
    assert _md5(tmp_path) == before
    r = _cli("-q", "predict", scene, tmp_path / "lcz.tif", "-m", ckpt, "--overwrite")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "lcz.tif").is_file()
    if sidecar in ("lcz.tif.ovr", "lcz.tif.msk"):  # the old map's overviews or mask: never the new one's
        assert not (tmp_path / sidecar).exists()


def _assess(tmp_path: Path, seed: int) -> list[object]:
    return [
        "assess",
        tmp_path / "lcz.tif",
        tmp_path / "ref.gpkg",
        "--draws",
        "20",
        "--seed",
        seed,
        "--json",
        tmp_path / "a.json",
        "--csv",
        tmp_path / "a.csv",
        "--figure",
        tmp_path / "a.png",
    ]


@pytest.mark.parametrize("layer", [True, False])
def test_assess_outputs_are_replaced_together_on_a_filling_disk(tmp_path, layer):
    """The JSON and CSV of a new assessment fit, the figure or agreement layer does not: the old
    set stays whole (never a mix of old and new results) and nothing is left behind."""
    _raster(tmp_path / "lcz.tif", 240, 240, seed=3, noise=0.3)
    _reference(tmp_path / "ref.gpkg", 200)
    extra = ["--agreement-layer", tmp_path / "agree.gpkg"] if layer else []
    r = _cli("-q", *_assess(tmp_path, 1), *extra)
    assert r.exit_code == 0, r.output
    before = _md5(tmp_path)
    run = _lczmap("-q", *_assess(tmp_path, 2), *extra, "--overwrite", limit=20_000)
    assert run.returncode == 1, run.stdout + run.stderr
    _one_line_error(run.stderr, "no space left on")
    assert _md5(tmp_path) == before
    run = _lczmap("-q", *_assess(tmp_path, 2), *extra, "--overwrite")
    assert run.returncode == 0, run.stderr
    after = _md5(tmp_path)
    assert all(after[name] != before[name] for name in ("a.json", "a.csv")) and set(after) == set(before)


def test_two_zones_runs_adding_layers_to_one_geopackage_keep_both(tmp_path):
    """Two processes add layers a and b to one GeoPackage at the same time: the second waits for
    the first's rename and copies the file with layer a in it, so all three layers survive."""
    big = _raster(tmp_path / "big.tif", 400, 400, seed=5, noise=0.1)
    gpkg = tmp_path / "city.gpkg"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[box(500000, 4990000, 501000, 5000000)], crs=UTM).to_file(gpkg, layer="wards")
    cmd = [
        sys.executable,
        "-m",
        "lczmap",
        "-q",
        "zones",
        str(big),
        str(gpkg),
        "--overwrite",
        "--no-style",
        "--block-rows",
        "16",
        "--out-layer",
    ]
    procs = [subprocess.Popen([*cmd, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    layers = {str(name) for name, _ in pyogrio.list_layers(gpkg)}
    assert layers == {"wards", "a", "b"}
    counts = {name: pyogrio.read_info(gpkg, layer=name)["features"] for name in ("a", "b")}
    assert counts["a"] == counts["b"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif", "city.gpkg"]  # no lock file, no part


# ------------------------------------------------------------------ sidecar permissions


def test_sidecars_get_the_map_s_permissions(tmp_path, scene, ckpt):
    old = os.umask(0o022)
    try:
        r = _cli("-q", "predict", scene, tmp_path / "lcz.tif", "-m", ckpt)
        assert r.exit_code == 0, r.output
        lcz = _raster(tmp_path / "map.tif")
        r = _cli("-q", "zones", lcz, tmp_path / "z.gpkg")
        assert r.exit_code == 0, r.output
    finally:
        os.umask(old)
    modes = {
        name: stat.S_IMODE((tmp_path / name).stat().st_mode)
        for name in ("lcz.tif", "lcz.tif.aux.xml", "lcz.qml", "z.gpkg", "z.qml")
    }
    assert set(modes.values()) == {0o644}, modes


# ------------------------------------------------------------------ junk left


@pytest.fixture
def small_fs(tmp_path: Path):
    """A 1 MB tmpfs (root only; skipped where mounting is not permitted)."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    yield folder
    subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_disk_that_fills_while_mapping_names_the_resume_folder(tmp_path, small_fs, ckpt):
    """The disk fills while the tiles are mapped (another process took the room): the one line
    names the hidden resume folder and the --resume command; that command finishes the map and
    removes the folder."""
    scene = write_tif(tmp_path / "scene.tif", grd(150, 170), descriptions=["VV", "VH"])
    args = [
        "-q",
        "predict",
        scene,
        small_fs / "lcz.tif",
        "-m",
        ckpt,
        "--stride",
        "2",
        "--probabilities",
        small_fs / "p.tif",
        "--overwrite",
    ]
    cmd = [sys.executable, "-m", "lczmap", *map(os.fsdecode, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = small_fs / ".lcz.tif.partial"
    while not (partial / "done.txt").exists():  # the resume arrays are in place and tiles are being mapped
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    proc.send_signal(signal.SIGSTOP)  # the run holds still while the disk fills
    fd = os.open(small_fs / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, bytes(4096))
    except OSError:
        pass
    finally:
        os.close(fd)
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    _one_line_error(err, "no space left on", str(partial), "--resume")
    assert partial.is_dir()
    (small_fs / "filler").unlink()
    run = _lczmap(*args, "--resume")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in small_fs.iterdir()) == ["lcz.qml", "lcz.tif", "lcz.tif.aux.xml", "p.tif"]


# ------------------------------------------------------------------ raster read errors: one line naming the file


def _damaged(folder: Path) -> dict[str, Path]:
    """A COG cut short with its header intact, a TIFF whose header declares 1,000,000 x 1,000,000
    pixels, a VRT with a Python pixel function."""
    import struct

    import rasterio.shutil

    full = _raster(folder / "full.tif", 512, 512)
    rasterio.shutil.copy(full, folder / "cog.tif", driver="COG", BLOCKSIZE=256)
    data = (folder / "cog.tif").read_bytes()
    (folder / "cut.tif").write_bytes(data[: len(data) // 2])
    small = _raster(folder / "small.tif", 10, 10)
    raw = bytearray(small.read_bytes())
    ifd = struct.unpack_from("<I", raw, 4)[0]
    for i in range(struct.unpack_from("<H", raw, ifd)[0]):
        off = ifd + 2 + 12 * i
        if struct.unpack_from("<H", raw, off)[0] in (256, 257):  # ImageWidth, ImageLength
            struct.pack_into("<HHII", raw, off, struct.unpack_from("<H", raw, off)[0], 4, 1, 1_000_000)
    (folder / "huge.tif").write_bytes(bytes(raw))
    (folder / "py.vrt").write_text(
        '<VRTDataset rasterXSize="10" rasterYSize="10"><SRS>EPSG:32633</SRS>'
        "<GeoTransform>500000, 100, 0, 5001000, 0, -100</GeoTransform>"
        '<VRTRasterBand dataType="Byte" band="1" subClass="VRTDerivedRasterBand">'
        "<PixelFunctionType>f</PixelFunctionType><PixelFunctionLanguage>Python</PixelFunctionLanguage>"
        "<PixelFunctionCode><![CDATA[\ndef f(in_ar, out_ar, *args, **kw):\n    out_ar[:] = 1\n]]></PixelFunctionCode>"
        '<SimpleSource><SourceFilename relativeToVRT="1">small.tif</SourceFilename><SourceBand>1</SourceBand>'
        "</SimpleSource></VRTRasterBand></VRTDataset>"
    )
    return {"cut": folder / "cut.tif", "huge": folder / "huge.tif", "vrt": folder / "py.vrt"}


@pytest.mark.parametrize("kind", ["cut", "huge", "vrt"])
def test_raster_read_errors_are_one_line_naming_the_file(tmp_path, kind):
    bad = _damaged(tmp_path)[kind]
    good = tmp_path / "full.tif"
    points = tmp_path / "points.csv"
    points.write_text("x,y\n500100,5000900\n")
    wards = tmp_path / "wards.geojson"
    gpd.GeoDataFrame({"name": ["w"]}, geometry=[box(500000, 4990000, 501000, 5001000)], crs=UTM).to_file(wards)
    ref = _reference(tmp_path / "ref.gpkg", 5)
    for args in (
        ["zones", bad, tmp_path / "z.gpkg"],
        ["summarize", bad],
        ["summarize", bad, tmp_path / "s.gpkg", "--by", wards],
        ["ucp", bad, tmp_path / "u.tif"],
        ["sample", bad, points, tmp_path / "s.csv"],
        ["assess", bad, ref],
        ["assess", good, "--against", bad],
    ):
        r = _cli("-q", *args)
        assert r.exit_code == 1, (args, r.output)
        _one_line_error(r.output, bad.name)


# ------------------------------------------------------------------ noise


def test_a_full_disk_in_ucp_is_one_line_without_libtiff_s_own(tmp_path):
    big = _raster(tmp_path / "big.tif", 400, 400)
    before = _md5(tmp_path)
    run = _lczmap("-q", "ucp", big, tmp_path / "u.tif", limit=100_000)
    assert run.returncode == 1
    assert run.stderr.startswith("Error: no space left on") and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert _md5(tmp_path) == before


# ------------------------------------------------------------------ absurd values


def test_absurd_values_are_one_line(tmp_path):
    lcz = _raster(tmp_path / "lcz.tif")
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)  # a STAC item nested 100,000 deep
    model = tiny_checkpoint(tmp_path / "m.safetensors")  # the model is checked before the scene is read
    before = _md5(tmp_path)
    r = _cli("-q", "zones", lcz, tmp_path / "z.gpkg", "--min-area", "inf")
    assert r.exit_code == 1
    _one_line_error(r.output, "--min-area", "finite")
    r = _cli("-q", "predict", deep, tmp_path / "o.tif", "-m", model)
    assert r.exit_code == 1
    _one_line_error(r.output, "nested too deeply")
    assert _md5(tmp_path) == before

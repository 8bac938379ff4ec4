"""Faults injected into `lczmap predict` (and the study's scheduler and folder): full disks, outputs
that are inputs, units that contradict the file, corrupt resume state, unusable paths, non-finite
options, bad scheduler addresses, GDAL copies that fail silently, a failure halfway through
replacing a map and its sidecars, SIGKILL followed by --resume.

Every case checks the exit code (or the exception), a one-line message without a traceback, that
no temporary file or resume folder is left behind (unless the message says it is kept for
--resume), and the md5 of every file that must survive.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _predict_fixtures import grd, tiny_checkpoint, write_tif
from click.testing import CliRunner

from lczmap import raster
from lczmap.cli import main
from lczmap.errors import ClusterError, ConfigError, OutputError, SceneError
from lczmap.predict import PredictOptions, predict_scene

EPOCH = "1700000000"  # SOURCE_DATE_EPOCH: the date tag, so that maps of two runs are byte-identical
LIMITED = (
    "import resource, signal, sys\n"
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    "limit = int(sys.argv.pop(1))\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
    "from lczmap.cli import main\n"
    "sys.argv[0] = 'lczmap'\n"
    "main()\n"
)


def _md5(folder: Path) -> dict[str, str]:
    """Every entry of ``folder`` (hidden ones included) with the md5 of the files."""
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() if p.is_file() else "folder" for p in sorted(folder.iterdir())}


def _cli(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def _one_line_error(output: str, *words: str) -> str:
    """The one ``Error: ...`` line of ``output`` (libtiff may print its own lines to stderr)."""
    lines = [line[line.index("Error: ") :] for line in output.splitlines() if "Error: " in line]
    assert len(lines) == 1 and "Traceback" not in output, output
    for word in words:
        assert word in lines[0], output
    return lines[0]


def _lczmap(*args, limit: int | None = None, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    cmd = [sys.executable, "-c", LIMITED, str(limit)] if limit else [sys.executable, "-m", "lczmap"]
    return subprocess.run([*cmd, *map(os.fsdecode, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture(autouse=True)
def _epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "m.safetensors")


@pytest.fixture
def work(tmp_path, ckpt):
    """A folder with a scene, a model and a good old map (with its sidecars) made from them."""
    scene = write_tif(tmp_path / "scene.tif", grd(150, 170, border=12), descriptions=["VV", "VH"])
    model = tmp_path / "m.safetensors"
    model.write_bytes(Path(ckpt).read_bytes())
    r = _cli("-q", "predict", scene, tmp_path / "lcz.tif", "-m", model, "--stride", "5")
    assert r.exit_code == 0, r.output
    return tmp_path


# ------------------------------------------------------------------ full disks


def test_full_disk_keeps_the_old_map_and_resume_finishes(work, tmp_path_factory):
    ref = tmp_path_factory.mktemp("ref")
    r = _cli("-q", "predict", work / "scene.tif", ref / "lcz.tif", "-m", work / "m.safetensors")
    assert r.exit_code == 0, r.output
    before = _md5(work)
    run = _lczmap(
        "-q", "predict", work / "scene.tif", work / "lcz.tif", "-m", work / "m.safetensors", "--overwrite", limit=2000
    )  # room for the resume arrays, not for the map
    assert run.returncode == 1, run.stderr
    line = _one_line_error(run.stderr, f"no space left on {work}", "MB needed", "MB free", "--resume")
    assert "\n" not in line
    after = _md5(work)
    kept = after.pop(".lcz.tif.partial")  # the mapped tiles, for --resume; nothing else is new
    assert kept == "folder" and after == before
    run = _lczmap("-q", "predict", work / "scene.tif", work / "lcz.tif", "-m", work / "m.safetensors", "--overwrite", "--resume")
    assert run.returncode == 0, run.stderr
    assert _md5(work)["lcz.tif"] == _md5(ref)["lcz.tif"] and ".lcz.tif.partial" not in _md5(work)


def test_a_cog_cut_short_never_replaces_the_old_set(tmp_path):
    """The limit lets the intermediate GeoTIFF through and cuts the COG (with its overviews)
    short, where GDAL's copy may report success: the check after the copy catches it."""
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    old = raster.write_lcz(tmp_path / "lcz.tif", rng.integers(1, 18, (1500, 1500)), from_origin(0, 0, 100, 100), "EPSG:32632")
    np.save(tmp_path / "new.npy", rng.integers(1, 18, (1500, 1500)).astype(np.uint8))
    before = _md5(tmp_path)
    code = (
        "import resource, signal, sys\nimport numpy as np\nfrom rasterio.transform import from_origin\n"
        "from lczmap import raster\nfrom lczmap.errors import OutputError\n"
        "codes = np.load(sys.argv[2])\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]),) * 2)\n"
        "try:\n    raster.write_lcz(sys.argv[1], codes, from_origin(0, 0, 100, 100), 'EPSG:32632', overwrite=True)\n"
        "except OutputError as exc:\n    print(exc)\n    sys.exit(3)\n"
    )
    limit = int(old.stat().st_size * 0.97)
    run = subprocess.run(
        [sys.executable, "-c", code, str(old), str(tmp_path / "new.npy"), str(limit)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.stdout.startswith(f"no space left on {tmp_path}") and run.stdout.count("\n") == 1
    assert _md5(tmp_path) == before


def test_resume_arrays_are_allocated_up_front(tmp_path):
    """Sparse memory maps die of SIGBUS on a full disk: allocated for real, they fail first."""
    code = (
        "import resource, signal, sys\nfrom pathlib import Path\n"
        "from lczmap.predict.store import ResumeStore\nfrom lczmap.errors import OutputError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
        "try:\n    ResumeStore(Path(sys.argv[1]), {'a': 1}, (2000, 2000), 17, True, False)\n"
        "except OutputError as exc:\n    print(exc)\n    sys.exit(3)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lcz.tif")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.stdout.startswith(f"no space left on {tmp_path}") and "MB needed" in run.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MB tmpfs (root only; skipped where mounting is not permitted)."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    yield folder
    subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_nearly_full_disk_is_refused_before_any_work(work, small_fs):
    old = small_fs / "lcz.tif"
    old.write_bytes((work / "lcz.tif").read_bytes())
    (small_fs / "filler").write_bytes(b"x" * (1024 * 1024 - 80 * 1024 - 8192))
    before = _md5(small_fs)
    r = _cli(
        "-q",
        "predict",
        work / "scene.tif",
        old,
        "-m",
        work / "m.safetensors",
        "--overwrite",
        "--probabilities",
        small_fs / "p.tif",
    )
    assert r.exit_code == 1
    _one_line_error(r.output, f"no space left on {small_fs}", "MB needed", "MB free")
    assert _md5(small_fs) == before
    with pytest.raises(OutputError, match="no space left"):
        predict_scene(work / "scene.tif", old, work / "m.safetensors", overwrite=True)
    assert _md5(small_fs) == before


# ------------------------------------------------------------------ outputs that are inputs


@pytest.mark.parametrize(
    "args",
    [
        ["scene.tif", "scene.tif", "-m", "m.safetensors"],
        ["scene.tif", "m.safetensors", "-m", "m.safetensors"],
        ["scene.tif", "new.tif", "-m", "m.safetensors", "--confidence", "scene.tif"],
        ["scene.tif", "new.tif", "-m", "m.safetensors", "--probabilities", "m.safetensors"],
        ["scene.tif", "new.tif", "-m", "m.safetensors", "--filtered", "link.tif"],
        ["scene.tif", "new.tif", "-m", "m.safetensors", "--confidence", "c.tif", "--filtered", "c.tif"],
        ["--vv", "vv.tif", "--vh", "vh.tif", "vh.tif", "-m", "m.safetensors"],
    ],
)
def test_outputs_that_are_inputs_are_refused(work, args):
    a = grd(60, 60)
    write_tif(work / "vv.tif", a[0])
    write_tif(work / "vh.tif", a[1])
    (work / "link.tif").symlink_to(work / "scene.tif")
    before = _md5(work)
    r = _cli("predict", *[work / a if a.endswith((".tif", ".safetensors")) else a for a in args], "--overwrite")
    assert r.exit_code == 1
    _one_line_error(r.output)
    assert "is also an input" in r.output or "given twice" in r.output
    assert _md5(work) == before


def test_outputs_that_are_inputs_from_python(work):
    before = _md5(work)
    with pytest.raises(OutputError, match="is also an input"):
        predict_scene(work / "scene.tif", work / "scene.tif", work / "m.safetensors", overwrite=True)
    with pytest.raises(OutputError, match="is also an input"):
        predict_scene(
            work / "scene.tif", work / "new.tif", work / "m.safetensors", probabilities=work / "m.safetensors", overwrite=True
        )
    with pytest.raises(OutputError, match="given twice"):
        predict_scene(work / "scene.tif", work / "new.tif", work / "m.safetensors", confidence=work / "new.tif")
    assert _md5(work) == before


# ------------------------------------------------------------------ units checked, not trusted


def test_units_that_contradict_the_file_are_refused(work):
    a = grd(60, 60)
    tagged = write_tif(work / "db.tif", 10 * np.log10(a), descriptions=["VV", "VH"], units=["dB", "dB"])
    untagged = write_tif(work / "neg.tif", 10 * np.log10(a), descriptions=["VV", "VH"])
    before = _md5(work)
    r = _cli("predict", tagged, work / "o.tif", "-m", work / "m.safetensors", "--units", "linear")
    assert r.exit_code == 1
    _one_line_error(r.output, "--units linear", "contradicts", "'dB'")
    r = _cli("predict", untagged, work / "o.tif", "-m", work / "m.safetensors", "--units", "linear")
    assert r.exit_code == 1
    _one_line_error(r.output, "--units linear (units='linear') was given", "negative values", "--units db")
    with pytest.raises(SceneError, match="contradicts"):
        predict_scene(tagged, work / "o.tif", work / "m.safetensors", units="linear")
    assert _md5(work) == before


# ------------------------------------------------------------------ resume state


def _interrupted(work: Path, out: Path) -> Path:
    class Stop(Exception):
        pass

    class Bar:
        def update(self, k):
            raise Stop

        def close(self):
            pass

    with pytest.raises(Stop):
        predict_scene(
            work / "scene.tif", out, work / "m.safetensors", tile_size=4, overwrite=True, progress=lambda total, desc: Bar()
        )
    return out.parent / f".{out.name}.partial"


@pytest.mark.parametrize("damage", ["truncated codes", "garbage state", "garbage log", "a file"])
def test_corrupt_resume_state_is_one_line(work, damage):
    partial = _interrupted(work, work / "lcz.tif")
    if damage == "truncated codes":
        (partial / "codes.npy").write_bytes((partial / "codes.npy").read_bytes()[:100])
    elif damage == "garbage state":
        (partial / "state.json").write_bytes(b"\x00\xff garbage")
    elif damage == "garbage log":
        (partial / "done.txt").write_text("1\nxyz\n99999\n")
    else:
        import shutil

        shutil.rmtree(partial)
        partial.write_text("not a folder")
    before = _md5(work)
    r = _cli(
        "predict",
        work / "scene.tif",
        work / "lcz.tif",
        "-m",
        work / "m.safetensors",
        "--tile-size",
        "4",
        "--overwrite",
        "--resume",
    )
    assert r.exit_code == 1
    _one_line_error(r.output, f"delete {partial}", "rerun without --resume")
    assert _md5(work) == before
    with pytest.raises(OutputError, match="rerun without --resume"):
        predict_scene(work / "scene.tif", work / "lcz.tif", work / "m.safetensors", tile_size=4, overwrite=True, resume=True)
    r = _cli(
        "-q", "predict", work / "scene.tif", work / "lcz.tif", "-m", work / "m.safetensors", "--tile-size", "4", "--overwrite"
    )
    assert r.exit_code == 0, r.output
    assert not partial.exists()


def test_sigkill_at_a_random_point_then_resume_is_byte_identical(work, tmp_path_factory):
    big = write_tif(work / "big.tif", grd(400, 420, seed=5, border=12), descriptions=["VV", "VH"])
    args = ["-m", work / "m.safetensors", "--tile-size", "4", "--threads", "1", "--overwrite"]
    ref = tmp_path_factory.mktemp("ref")
    assert _lczmap("-q", "predict", big, ref / "lcz.tif", "--probabilities", ref / "p.tif", *args).returncode == 0
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    out, partial = work / "lcz.tif", work / ".lcz.tif.partial"
    cmd = [sys.executable, "-m", "lczmap", "-q", "predict", big, out, "--probabilities", work / "p.tif", *args]
    proc = subprocess.Popen(list(map(str, cmd)), env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (partial / "done.txt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(random.Random(os.getpid()).uniform(0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.skip("the run finished before it could be killed")
    assert partial.is_dir() and not [p for p in work.iterdir() if ".part" in p.name and p != partial]
    run = _lczmap("-q", "predict", big, out, "--probabilities", work / "p.tif", *args, "--resume")
    assert run.returncode == 0, run.stderr
    for name in ("lcz.tif", "lcz.tif.aux.xml", "lcz.qml", "p.tif"):
        assert _md5(work)[name] == _md5(ref)[name], name
    assert not partial.exists()


# ------------------------------------------------------------------ unusable paths and values


def test_unusable_output_paths_are_one_line(work):
    (work / "dir.tif").mkdir()
    before = _md5(work)
    cases = [
        ([work / "scene.tif", work / "dir.tif", "--overwrite"], "is a folder"),
        ([work / "scene.tif", work / ("x" * 300 + ".tif")], "too long"),
        ([work / "scene.tif", "/proc/lczmap-out.tif"], "cannot write in /proc"),
        ([work / "scene.tif", "--out-dir", "/proc"], "cannot write in /proc"),
        ([os.fsdecode(os.fsencode(str(work)) + b"/sc\xffene.tif"), work / "o.tif"], "not a UTF-8 file name"),
        ([work / "scene.tif", os.fsdecode(os.fsencode(str(work)) + b"/o\xff.tif")], "not a UTF-8 file name"),
    ]
    for args, words in cases:
        r = _cli("predict", *args, "-m", work / "m.safetensors")
        assert r.exit_code == 1, (args, r.output)
        _one_line_error(r.output, words)
        assert _md5(work) == before, args
    with pytest.raises(OutputError, match="not a UTF-8 file name"):
        predict_scene(work / "scene.tif", os.fsdecode(os.fsencode(str(work)) + b"/o\xff.tif"), work / "m.safetensors")
    # a name that fits while its resume folder's would not: the run works and leaves nothing else
    long = work / ("y" * 243 + ".tif")  # its sidecar .aux.xml fits (255), its resume folder (256) does not
    assert _cli("-q", "predict", work / "scene.tif", long, "-m", work / "m.safetensors").exit_code == 0
    assert set(_md5(work)) == set(before) | {long.name, long.name + ".aux.xml", long.with_suffix(".qml").name}


def test_study_folders_that_cannot_be_used(tmp_path):
    from lczmap.study.spec import study_folder

    for out, words in [
        ("/proc/lczmap-study", "cannot create the study folder"),
        (str(tmp_path / ("z" * 300)), "cannot create the study folder"),
        (os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff"), "not a UTF-8 file name"),
    ]:
        with pytest.raises(OutputError, match=words):
            study_folder(out)
        r = _cli("study", "--quick", "--out", out)
        assert r.exit_code == 1
        _one_line_error(r.output, words)
    assert list(tmp_path.iterdir()) == []


def test_non_finite_options_are_refused(work):
    before = _md5(work)
    for option, value in (
        ("--max-nodata", "nan"),
        ("--filter-sigma", "inf"),
        ("--filter-sigma", "nan"),
        ("--connect-timeout", "inf"),
    ):
        r = _cli("predict", work / "scene.tif", work / "o.tif", "-m", work / "m.safetensors", option, value)
        assert r.exit_code == 2 and option in r.output and "Traceback" not in r.output, r.output
    for field in ("max_nodata", "filter_sigma", "connect_timeout"):
        with pytest.raises(ConfigError, match=field):
            PredictOptions(**{field: float("inf")})
    assert _md5(work) == before


def test_bad_scheduler_addresses_fail_fast(work):
    before = _md5(work)
    for address in ("foo", "tcp://host", "http://host:1", "tcp://host:99999"):
        r = _cli("predict", work / "scene.tif", work / "o.tif", "-m", work / "m.safetensors", "--scheduler", address)
        assert r.exit_code == 2 and "--scheduler" in r.output and "Traceback" not in r.output, r.output
        r = _cli("study", "--quick", "--out", work / "study", "--scheduler", address)
        assert r.exit_code == 1
        _one_line_error(r.output, "--scheduler")
    t0 = time.monotonic()
    r = _cli(
        "predict",
        work / "scene.tif",
        work / "o.tif",
        "-m",
        work / "m.safetensors",
        "--scheduler",
        "tcp://127.0.0.1:1",
        "--connect-timeout",
        "1",
    )
    assert r.exit_code == 1 and time.monotonic() - t0 < 30
    _one_line_error(r.output, "cannot reach the dask scheduler at tcp://127.0.0.1:1 within 1 s")
    assert _md5(work) == before  # no resume folder: the scheduler is reached before anything is written
    from lczmap.study import StudySpec
    from lczmap.study.cluster import connect

    with pytest.raises(ClusterError, match="within 1 s"):
        connect("tcp://127.0.0.1:1", StudySpec(), 1, None, connect_timeout=1)


# ------------------------------------------------------------------ GDAL and renames failing


def test_a_silent_gdal_failure_keeps_the_old_set(work, monkeypatch):
    import rasterio.shutil

    before = _md5(work)

    def truncated_copy(src, dst, **kw):  # what a full disk can do: "success", a file cut short
        Path(dst).write_bytes(Path(work / "lcz.tif").read_bytes()[:4096])

    monkeypatch.setattr(rasterio.shutil, "copy", truncated_copy)
    with pytest.raises(OutputError, match="lcz.tif") as err:
        predict_scene(work / "scene.tif", work / "lcz.tif", work / "m.safetensors", overwrite=True)
    assert "\n" not in str(err.value) and "--resume" in str(err.value)
    after = _md5(work)
    assert after.pop(".lcz.tif.partial") == "folder" and after == before


def test_a_failed_rename_puts_the_old_sidecars_back(work, monkeypatch):
    before = _md5(work)
    real = os.replace

    def failing(src, dst):
        if Path(dst).name == "lcz.tif" and ".part" in Path(src).name:  # after the sidecars were replaced
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="Input/output error"):
        raster.write_lcz(
            work / "lcz.tif", np.ones((30, 34), np.uint8), (100, 0, 500000, 0, -100, 5000000), "EPSG:32632", overwrite=True
        )
    assert _md5(work) == before

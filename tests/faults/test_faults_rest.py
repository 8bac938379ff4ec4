"""Faults of issue #26 found from outside, the remaining cases: option values that allocate without
bound (``--filter-sigma 1e9``, ``demo-data --scene-size 1000000 1000000``), output names that are
not UTF-8 (``zones``, ``adapt -o``), and ``--scheduler`` addresses where something else listens (an
HTTP server, a server that speaks first) or nothing does. Real files, real servers on 127.0.0.1
and real subprocesses, each bounded in time; the commands run through the CLI."""

from __future__ import annotations

import http.server
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _predict_fixtures import grd, tiny_checkpoint, write_tif
from click.testing import CliRunner
from rasterio.transform import Affine

from lczmap.cli import main
from lczmap.errors import ClusterError, ConfigError
from lczmap.predict import PredictOptions


def _cli(*args: object) -> tuple[int, str]:
    done = CliRunner().invoke(main, [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.output
    return done.exit_code, done.output


def _lczmap(*args: object, timeout: float = 120) -> tuple[int, str, float]:
    """``lczmap ARGS`` in a subprocess: exit code, stderr + stdout, seconds it took."""
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "lczmap", *(os.fsencode(a) if isinstance(a, bytes) else str(a) for a in args)],
        capture_output=True,
        timeout=timeout,
    )
    text = (done.stderr + done.stdout).decode("utf-8", "replace")
    return done.returncode, text, time.monotonic() - t0


def _one_error(output: str, *words: str) -> str:
    assert "Traceback" not in output, output
    lines = [ln for ln in output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1, output
    for word in words:
        assert word in lines[0], output
    return lines[0]


def _non_utf8(folder: Path, name: bytes) -> str:
    return os.fsdecode(os.fsencode(str(folder)) + b"/" + name)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "m.safetensors")


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    return write_tif(tmp_path / "scene.tif", grd(120, 130, border=10), descriptions=["VV", "VH"])


# ------------------------------------------------------------------ absurd sizes


def test_a_huge_filter_sigma_is_refused_before_any_allocation(scene: Path, ckpt: Path, tmp_path: Path) -> None:
    """Was: ``--filter-sigma 1e9`` tried to allocate 44.7 GiB (a Gaussian kernel of 6e9 taps). Now
    the option is refused with its range and why; the smoothing itself never builds a kernel
    longer than the map it smooths."""
    code, output = _cli(
        "predict", scene, tmp_path / "o.tif", "-m", ckpt, "--filtered", tmp_path / "f.tif", "--filter-sigma", "1e9"
    )
    assert code == 2 and "--filter-sigma" in output and "at most 50" in output and "sigma ~1" in output, output
    assert "Traceback" not in output
    with pytest.raises(ConfigError, match="filter_sigma must be at most 50"):
        PredictOptions(filter_sigma=1e9)
    assert PredictOptions(filter_sigma=50).filter_sigma == 50.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]

    from lczmap.predict.smooth import filtered_strips

    rng = np.random.default_rng(0)
    probs = rng.random((4, 30, 40)).astype(np.float32)
    codes = np.ones((30, 40), np.uint8)
    tracemalloc.start()
    try:
        huge = np.concatenate([s for *_, s in filtered_strips(probs, codes, [1, 2, 3, 4], 1e9, rows=8)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20  # bytes, not gigabytes
    wide = np.concatenate([s for *_, s in filtered_strips(probs, codes, [1, 2, 3, 4], 1e4, rows=8)])
    assert np.array_equal(huge, wide)  # a Gaussian wider than the map: the same flat average


def test_a_huge_demo_scene_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Was: ``demo-data --scene-size 1000000 1000000`` wrote the twin, then grew to 16 GB RSS with
    no output. Now it is refused up front with the limit and why, nothing written; so is a truth
    area of acquisitions beyond it, and acquisitions that cannot fit on the disk."""
    from lczmap.twin import check_acquisition_options, check_scene_options

    out = tmp_path / "demo"
    code, output, seconds = _lczmap("demo-data", out, "--scene-size", "1000000", "1000000", timeout=60)
    assert code == 1 and seconds < 30
    _one_error(output, "1000000 x 1000000 is too large", "1,000,000,000 pixels", "in memory", "--scene-size")
    assert not out.exists()
    with pytest.raises(ConfigError, match="too large"):
        check_scene_options((40_000, 30_000), "grd", "linear")
    check_scene_options((25_000, 17_000), "grd", "linear")  # a whole IW scene is allowed
    with pytest.raises(ConfigError, match="truth area"):  # 30,000 x 30,000 and a quarter more each way
        check_acquisition_options(2, (30_000, 30_000), "grd", "linear")

    # 100,000 acquisitions of 20,000 x 20,000 pixels: 320 TB, more than this disk holds
    code, output, seconds = _lczmap("demo-data", out, "--scene-size", "20000", "20000", "--acquisitions", "100000", timeout=60)
    assert code == 1 and seconds < 30
    _one_error(output, "no space left", "MB needed", "free")
    assert not out.exists()


# ------------------------------------------------------------------ output names that are not UTF-8


def test_zones_to_a_name_that_is_not_utf8_is_refused_up_front(tmp_path: Path) -> None:
    """Was: a pyogrio ``UnicodeEncodeError`` traceback after the polygons were made. Now one line
    before any work, and nothing written."""
    from lczmap.raster import write_lcz

    lcz = tmp_path / "lcz.tif"
    codes = np.random.default_rng(0).integers(1, 18, (40, 40)).astype(np.uint8)
    write_lcz(lcz, codes, Affine(100.0, 0.0, 380000.0, 0.0, -100.0, 5830000.0), "EPSG:32633")
    before = sorted(os.listdir(tmp_path))
    for name in (b"z\xff.gpkg", b"z\xe9.fgb"):
        code, output = _cli("zones", lcz, _non_utf8(tmp_path, name))
        assert code == 1
        _one_error(output, "is not a UTF-8 file name", "rename it")
    assert sorted(os.listdir(tmp_path)) == before


def test_adapt_to_a_name_that_is_not_utf8_is_refused_up_front(scene: Path, ckpt: Path, tmp_path: Path) -> None:
    """Was: the whole adaptation, then "did not read back ... the disk may be failing". Now one
    line before any work (the training areas are not even read), and nothing written."""
    areas = tmp_path / "areas.geojson"
    areas.write_text('{"type": "FeatureCollection", "features": []}')
    before = sorted(os.listdir(tmp_path))
    t0 = time.monotonic()
    code, output = _cli("adapt", ckpt, scene, areas, "-o", _non_utf8(tmp_path, b"city\xff.safetensors"), "--device", "cpu")
    assert code == 1 and time.monotonic() - t0 < 30
    _one_error(output, "adapted model", "not a UTF-8 file name, which safetensors needs")
    code, output = _cli(
        "adapt",
        ckpt,
        scene,
        areas,
        "-o",
        tmp_path / "city.safetensors",
        "--holdout",
        "0.3",
        "--holdout-layer",
        _non_utf8(tmp_path, b"held\xff.gpkg"),
        "--device",
        "cpu",
    )
    assert code == 1
    _one_error(output, "held-out polygons layer", "not a UTF-8 file name")
    assert sorted(os.listdir(tmp_path)) == before


# ------------------------------------------------------------------ schedulers that do not answer


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


class _SpeaksFirst(socketserver.BaseRequestHandler):
    """A server that greets first, as SMTP, SSH or a proxy do: dask reads its first 8 bytes as a
    frame length (3.07 EiB for "HTTP/1.1")."""

    def handle(self) -> None:
        self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        self.request.recv(1 << 16)


def _serving(server: socketserver.BaseServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    server.daemon_threads = True
    yield from _serving(server)


@pytest.fixture
def greeting_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SpeaksFirst)
    server.daemon_threads = True
    yield from _serving(server)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_scheduler_address_where_an_http_server_listens_gives_up_in_time(
    scene: Path, ckpt: Path, tmp_path: Path, http_port: int, greeting_port: int
) -> None:
    """Was: still waiting at 90 s despite the 10 s connect timeout (dask's handshake has no
    timeout), and a server that speaks first ended in a traceback that tried to allocate
    3.07 EiB. Now each is one line within the connect timeout; so is a closed port."""
    from lczmap.predict.cluster import connect_scheduler

    cases = (
        (http_port, "did not answer as a dask scheduler"),
        (greeting_port, "is not a dask scheduler"),
        (_closed_port(), "cannot reach the dask scheduler"),
    )
    for port, words in cases:
        t0 = time.monotonic()
        with pytest.raises(ClusterError, match=words):
            connect_scheduler(f"tcp://127.0.0.1:{port}", 2)
        assert time.monotonic() - t0 < 6
    for port, words in cases:
        code, output, seconds = _lczmap(
            "predict", scene, tmp_path / "o.tif", "-m", ckpt, "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "2"
        )
        assert code == 1, output
        _one_error(output, words, f"127.0.0.1:{port}")
        assert not (tmp_path / "o.tif").exists()
    code, output, _ = _lczmap(
        "study", "--quick", "--out", tmp_path / "study", "--scheduler", f"tcp://127.0.0.1:{http_port}", "--connect-timeout", "2"
    )
    assert code == 1
    _one_error(output, "did not answer as a dask scheduler")


def test_an_in_process_scheduler_still_connects() -> None:
    """The probe hangs up after the handshake: a real scheduler is then used as before."""
    from distributed import LocalCluster

    from lczmap.predict.cluster import connect_scheduler

    with LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None) as cluster:
        client = connect_scheduler(cluster.scheduler_address, 10)
        try:
            assert client.submit(sum, [1, 2]).result(timeout=30) == 3
        finally:
            client.close()

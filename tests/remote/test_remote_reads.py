"""Search, then map from a server on 127.0.0.1: predict and mosaic read the items' GeoTIFFs with
range requests (only the tiles the area needs), a 503 is retried, a 403 and a 404 end in one line
with nothing written, and a netrc password reaches the server but no output, log or footprint."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from _remote_fixtures import item
from _server import Server
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import RemoteError, SceneError
from lczmap.mosaic import predict_mosaic
from lczmap.predict import predict_scene
from lczmap.remote import search_scenes, write_items
from lczmap.remote.http import read_failure

pytest.importorskip("pystac_client")

CPU = {"device": "cpu", "workers": 0}


def _small_aoi(bounds, frac=0.12):
    w, s, e, n = bounds
    cx, cy = w + 0.3 * (e - w), s + 0.6 * (n - s)
    return (cx, cy, cx + frac * (e - w), cy + frac * (n - s))


def _tile_bytes(path, aoi):
    """Bytes of the tiles of ``path`` that the area (plus predict's halo) touches, from GDAL's tile index."""
    from rasterio.warp import transform_bounds
    from rasterio.windows import from_bounds

    with rasterio.open(path) as ds:
        w, s, e, n = transform_bounds("EPSG:4326", ds.crs, *aoi)
        win = from_bounds(w, s, e, n, ds.transform)
        bx, by = ds.block_shapes[0][1], ds.block_shapes[0][0]
        rows = range(max(0, int(win.row_off) // by), min(ds.height - 1, int(win.row_off + win.height)) // by + 1)
        cols = range(max(0, int(win.col_off) // bx), min(ds.width - 1, int(win.col_off + win.width)) // bx + 1)
        return sum(int(ds.get_tag_item(f"BLOCK_SIZE_{j}_{i}", "TIFF", bidx=1)) for i in rows for j in cols)


def _span(header):
    lo, _, hi = header.removeprefix("bytes=").partition("-")
    return int(lo), int(hi)


def _tiles_span(path):
    """(first, last) offsets of the tiles of ``path``, from GDAL's tile index."""
    with rasterio.open(path) as ds:
        rows, cols = -(-ds.height // ds.block_shapes[0][0]), -(-ds.width // ds.block_shapes[0][1])
        offsets = [int(ds.get_tag_item(f"BLOCK_OFFSET_{j}_{i}", "TIFF", bidx=1)) for i in range(rows) for j in range(cols)]
    return min(offsets), max(offsets)


def test_search_then_mosaic_reads_only_the_area(tmp_path, twin_scene, ckpt):
    root, bounds, files = twin_scene
    aoi = _small_aoi(bounds)
    with Server(root) as srv:
        srv.items = [item("S1A_a", srv.url, "scenes/a", bounds, "2023-06-01T05:00:00Z")]
        r = search_scenes(aoi, "2023-06-01/2023-06-30", stac=f"{srv.url}/stac", collections=["s1-test"])
        items = write_items(r, tmp_path / "items.json")
        srv.faults["/scenes/a/vh.tif"] = [503]  # retried by GDAL
        srv.sent.clear()
        res = predict_mosaic([items], tmp_path / "m.tif", ckpt, aoi=aoi, **CPU)
        assert res.n_used == 1
        fetched = sum(v for k, v in srv.sent.items() if k.startswith("scenes/"))
        whole = sum(f.stat().st_size for f in files.values())
        assert fetched < whole / 3  # a small area of the scene: far from the whole files
        # the target: at most 3x the bytes of the tiles under the area (headers and the
        # checks' centre sample included)
        assert fetched <= 3 * sum(_tile_bytes(files[p], aoi) for p in ("vv", "vh"))
        # no byte fetched twice: the checks' sample comes from GDAL's cache the second time
        for name in ("vv", "vh"):
            spans = sorted(_span(r) for m, p, r in srv.requests if p == f"/scenes/a/{name}.tif" and m == "GET" and r)
            assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), spans
        with rasterio.open(tmp_path / "m.tif") as ds:
            lcz = ds.read(1)
            assert (lcz > 0).any() and ds.tags()["aoi"]

        # predict takes the search's ItemCollection of one item, and reads it the same way
        predict_scene(str(items), tmp_path / "p.tif", ckpt, device="cpu", aoi=aoi)
        with rasterio.open(tmp_path / "p.tif") as ds:
            assert (ds.read(1) > 0).any()
        two = json.loads(items.read_text())
        two["features"] *= 2
        (tmp_path / "two.json").write_text(json.dumps(two))
        with pytest.raises(SceneError, match=r"ItemCollection of 2 items: map them all with lczmap mosaic"):
            predict_scene(str(tmp_path / "two.json"), tmp_path / "q.tif", ckpt, device="cpu", aoi=aoi)
        assert not (tmp_path / "q.tif").exists()


def test_refused_and_missing_assets_in_one_line_nothing_written(tmp_path, twin_scene, ckpt):
    root, bounds, _ = twin_scene
    aoi = _small_aoi(bounds)
    with Server(root) as srv:
        its = {"type": "FeatureCollection", "features": [item("S1A_a", srv.url, "scenes/a", bounds, "2023-06-01T05:00:00Z")]}
        path = tmp_path / "items.json"
        path.write_text(json.dumps(its))
        out = tmp_path / "out"
        out.mkdir()
        srv.faults["/scenes/a/vv.tif"] = [403] * 20
        res = CliRunner().invoke(
            main,
            [
                "mosaic",
                str(path),
                str(out / "m.tif"),
                "-m",
                str(ckpt),
                "--aoi",
                ",".join(map(str, aoi)),
                "--workers",
                "0",
                "--device",
                "cpu",
            ],
        )
        assert res.exit_code == 1 and "refused access (403)" in res.output, res.output
        assert res.output.strip().count("\n") == 0
        assert os.listdir(out) == []
        srv.faults.clear()
        item_path = tmp_path / "one.json"
        one = item("S1A_b", srv.url, "scenes/missing", bounds, "2023-06-01T05:00:00Z")
        item_path.write_text(json.dumps(one))
        with pytest.raises(RemoteError, match=r"does not exist \(404\)"):
            predict_scene(str(item_path), out / "p.tif", ckpt, device="cpu", aoi=aoi)
        assert os.listdir(out) == []


def test_netrc_password_reaches_the_server_and_no_output(tmp_path, twin_scene, ckpt):
    """Basic auth from $NETRC (GDAL reads it, as for Earthdata); the password appears in no
    file written and in no line printed (run in a child process: the environment is its own)."""
    root, bounds, _ = twin_scene
    aoi = _small_aoi(bounds)
    secret = "s3cr3t-Token-9f8e7d"
    with Server(root, login=("alice", secret)) as srv:
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login alice password {secret}\n")
        netrc.chmod(0o600)
        out = tmp_path / "work"
        out.mkdir()
        (out / "items.json").write_text(
            json.dumps(
                {"type": "FeatureCollection", "features": [item("S1A_a", srv.url, "scenes/a", bounds, "2023-06-01T05:00:00Z")]}
            )
        )
        env = {**os.environ, "NETRC": str(netrc), "OMP_NUM_THREADS": "1"}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "lczmap",
                "-v",
                "mosaic",
                "items.json",
                "m.tif",
                "-m",
                str(ckpt),
                "--aoi",
                ",".join(map(str, aoi)),
                "--workers",
                "0",
                "--device",
                "cpu",
            ],
            cwd=out,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert srv.sent  # the server answered only with the password
        assert secret not in proc.stdout + proc.stderr
        written = [p for p in out.rglob("*") if p.is_file()]
        assert any(p.name.endswith(".footprints.gpkg") for p in written)
        for p in written:
            assert secret.encode() not in p.read_bytes(), p
        with rasterio.open(out / "m.tif") as ds:
            assert secret not in json.dumps(ds.tags()) and np.any(ds.read(1) > 0)


@pytest.mark.parametrize("status, said", [(403, r"refused access \(403\)"), (404, r"does not exist \(404\)")])
def test_tile_reads_refused_after_open_in_one_line(tmp_path, twin_scene, ckpt, status, said):
    """The header is served, the tiles are refused (an expired signature mid-run): GDAL's words
    say only that a tile could not be read; the line names the status, and nothing is written."""
    root, bounds, files = twin_scene
    aoi = _small_aoi(bounds)
    first, last = _tiles_span(files["vv"])
    with Server(root) as srv:
        its = {"type": "FeatureCollection", "features": [item("S1A_a", srv.url, "scenes/a", bounds, "2023-06-01T05:00:00Z")]}
        path = tmp_path / "items.json"
        path.write_text(json.dumps(its))
        out = tmp_path / "out"
        out.mkdir()
        # past the first 64 KB (the header GDAL reads on open) and short of the tile index at the end
        srv.refuse["/scenes/a/vv.tif"] = (max(first, 1 << 16), last - (1 << 16), status)
        args = ["mosaic", str(path), str(out / "m.tif"), "-m", str(ckpt), "--aoi", ",".join(map(str, aoi))]
        res = CliRunner().invoke(main, [*args, "--workers", "0", "--device", "cpu"])
        assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output
        assert re.search(said, res.output) and "vv.tif" in res.output, res.output
        assert os.listdir(out) == []
        assert any(p == "/scenes/a/vv.tif" and r and _span(r)[0] >= 1 << 16 for _, p, r in srv.requests)  # a tile was asked for


def test_read_error_probes_the_address(twin_scene):
    """read_failure: GDAL's words without a status -> the address asked once; a file served in full
    is not an HTTP failure (None: the caller's message stays)."""
    root, _, _ = twin_scene
    with Server(root) as srv:
        vv, vh = f"{srv.url}/scenes/a/vv.tif", f"{srv.url}/scenes/a/vh.tif"
        words = RuntimeError("vv.tif, band 1: IReadBlock failed at X offset 1, Y offset 1: TIFFReadEncodedTile() failed.")
        assert read_failure([vh, vv], words) is None
        srv.faults["/scenes/a/vv.tif"] = [403]
        srv.requests.clear()
        err = read_failure([vh, vv], words)
        assert err is not None and "vv.tif refused access (403)" in str(err) and "netrc" in str(err)
        assert [p for _, p, _ in srv.requests] == ["/scenes/a/vv.tif"]  # the file GDAL's words name, first
        srv.faults["/scenes/a/vh.tif"] = [503]
        err = read_failure([vh], RuntimeError("vh.tif: read failed"))
        assert err is not None and "answered HTTP 503" in str(err)
        assert read_failure(["/tmp/local.tif"], words) is None
    err = read_failure([vv], words)  # the server has gone
    assert err is not None and "cannot reach the server" in str(err)


def _top_row(path):
    """Byte offsets (from, to) of ``path``'s top row of tiles, past the header's first byte (GDAL
    reads the header from byte 0 on open), from GDAL's tile index (tiles stored row by row)."""
    with rasterio.open(path) as ds:
        first = int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        second_row = int(ds.get_tag_item("BLOCK_OFFSET_0_1", "TIFF", bidx=1))
    return max(first // 2, 1), second_row


@pytest.mark.parametrize("command", ["predict", "mosaic"])
def test_a_refusal_after_the_checks_at_open_is_named_in_one_line(tmp_path, twin_scene, ckpt, command):
    """The open-time checks read a sample from the middle of the scene and pass; the signature
    then expires (every request from the first read of the top row of tiles on is refused), so the
    refusal comes from the map's own tile reads. The line names the status and the file, not a
    damaged raster, and no map is written."""
    root, bounds, files = twin_scene
    lo, hi = _top_row(files["vv"])
    assert lo < hi
    with Server(root) as srv:
        srv.refuse["/scenes/a/vv.tif"] = (lo, hi, 403)
        out = tmp_path / "out"
        out.mkdir()
        its = {"type": "FeatureCollection", "features": [item("S1A_a", srv.url, "scenes/a", bounds, "2023-06-01T05:00:00Z")]}
        (tmp_path / "items.json").write_text(json.dumps(its))
        args = ["-q", command, str(tmp_path / "items.json"), str(out / "m.tif"), "-m", str(ckpt)]
        args += ["--workers", "0"] if command == "mosaic" else []
        res = CliRunner().invoke(main, [*args, "--device", "cpu"])
        assert "/scenes/a/vv.tif" in srv.expired, "the refusal never came: the test means nothing"
        assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output
        assert "refused access (403)" in res.output and "vv.tif" in res.output, res.output
        assert "damaged" not in res.output, res.output
        # no map; predict keeps its hidden resume state (.m.tif.partial) for the rerun
        assert [p for p in os.listdir(out) if not p.startswith(".")] == []

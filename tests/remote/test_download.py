"""lczmap download so2sat from a mirror on 127.0.0.1: fetched and MD5-checked, a partial file
resumed with a Range request, a truncated body and 503s recovered, a corrupt file fetched again,
403/404 and a wrong checksum in one line with nothing left behind; the published table."""

import hashlib
import os

import pytest
from _server import Server
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import ConfigError, RemoteError
from lczmap.remote.download import SO2SAT_FILES, download_so2sat, read_checksums, so2sat_files
from lczmap.remote.http import download


@pytest.fixture
def mirror(tmp_path):
    """A mirror holding small stand-ins for version 2's three files and their manifest."""
    root = tmp_path / "mirror"
    root.mkdir()
    sums = []
    for i, name in enumerate(("training.h5", "validation.h5", "testing.h5")):
        data = os.urandom(300_000 + 1000 * i)
        (root / name).write_bytes(data)
        sums.append(f"{hashlib.md5(data).hexdigest()}  {name}")
    manifest = tmp_path / "test.md5"
    manifest.write_text("# test copies\n" + "\n".join(sums) + "\n")
    return root, manifest


def _left(folder):
    return sorted(p.name for p in folder.rglob("*"))


def test_fetch_resume_and_repair(tmp_path, mirror):
    root, manifest = mirror
    dest = tmp_path / "so2sat"
    with Server(root) as srv:
        srv.faults["/validation.h5"] = [503, "truncate", 503]
        seen = []
        paths = download_so2sat(
            dest,
            "2",
            ["training", "validation"],
            mirror=srv.url,
            checksums=manifest,
            retry_delay=0.01,
            progress=lambda done, total: seen.append((done, total)),
        )
        assert [p.name for p in paths] == ["training.h5", "validation.h5"]
        assert _left(dest) == ["training.h5", "validation.h5"]  # no partial file left
        for p in paths:
            assert p.read_bytes() == (root / p.name).read_bytes()
        assert seen[-1][0] == seen[-1][1] == (root / "validation.h5").stat().st_size
        resumed = [r for r in srv.requests if r[1] == "/validation.h5" and r[2]]
        assert resumed and resumed[0][2].startswith("bytes=") and resumed[0][2] != "bytes=0-"  # the truncated body resumed

        # a partial download from an earlier run is resumed, not fetched again
        srv.requests.clear()
        whole = (root / "testing.h5").read_bytes()
        (dest / ".testing.h5.download").write_bytes(whole[:100_000])
        download_so2sat(dest, "2", ["testing"], mirror=srv.url, checksums=manifest)
        assert [r[2] for r in srv.requests if r[1] == "/testing.h5"] == ["bytes=100000-"]
        assert (dest / "testing.h5").read_bytes() == whole

        # whole files are kept without a request; a corrupt one is fetched again
        srv.requests.clear()
        bad = bytearray((dest / "training.h5").read_bytes())
        bad[10] ^= 0xFF
        (dest / "training.h5").write_bytes(bytes(bad))
        download_so2sat(dest, "2", mirror=srv.url, checksums=manifest)
        assert {r[1] for r in srv.requests} == {"/training.h5"}
        assert (dest / "training.h5").read_bytes() == (root / "training.h5").read_bytes()

        # a server that ignores ranges: the partial file is restarted, never appended to
        srv.ranges = False
        (dest / "testing.h5").unlink()
        (dest / ".testing.h5.download").write_bytes(b"x" * 5000)
        download_so2sat(dest, "2", ["testing"], mirror=srv.url, checksums=manifest)
        assert (dest / "testing.h5").read_bytes() == whole


def test_refusals_leave_nothing(tmp_path, mirror):
    root, manifest = mirror
    dest = tmp_path / "d"
    with Server(root) as srv:
        srv.faults["/training.h5"] = [403]
        with pytest.raises(RemoteError, match=r"refused access \(403\)"):
            download_so2sat(dest, "2", ["training"], mirror=srv.url, checksums=manifest)
        assert _left(dest) == []
        with pytest.raises(RemoteError, match=r"does not exist \(404\)"):
            download(f"{srv.url}/nothing.h5", dest / "nothing.h5", "0" * 32)
        assert _left(dest) == []
        # the published MD5s do not match the test copies: refused after a second full try
        with pytest.raises(RemoteError, match="does not match the published MD5"):
            download_so2sat(dest, "2", ["training"], mirror=srv.url)
        assert _left(dest) == []
        srv.faults["/training.h5"] = [503] * 10
        with pytest.raises(RemoteError, match="HTTP 503 after 2 retries"):
            download(f"{srv.url}/training.h5", dest / "training.h5", "0" * 32, retries=2, delay=0.01)
        assert _left(dest) == []
        # the CLI: one line, exit 1
        srv.faults["/training.h5"] = [403]
        res = CliRunner().invoke(
            main, ["download", "so2sat", str(dest), "--splits", "training", "--mirror", srv.url, "--checksums", str(manifest)]
        )
        assert res.exit_code == 1 and res.output.count("\n") == 1 and "403" in res.output
        res = CliRunner().invoke(main, ["-q", "download", "so2sat", str(dest), "--mirror", srv.url, "--checksums", str(manifest)])
        assert res.exit_code == 0, res.output
        assert _left(dest) == ["testing.h5", "training.h5", "validation.h5"]


def test_published_table_and_manifest_checks(tmp_path):
    files = so2sat_files("2")
    assert [f.name for f in files] == ["training.h5", "validation.h5", "testing.h5"]
    assert all(f.url.startswith("https://dataserv.ub.tum.de/s/m1483140/") for f in files)
    assert files[0].md5 == "702bc6a9368ebff4542d791e53469244"
    v3 = so2sat_files("3", ["culture_10"], mirror="http://example.org/so2sat/")
    assert [f.url for f in v3] == [
        "http://example.org/so2sat/culture_10/training.h5",
        "http://example.org/so2sat/culture_10/testing.h5",
    ]
    assert all(len(f.md5) == 32 for v in SO2SAT_FILES.values() for f in v)
    with pytest.raises(ConfigError, match="no split"):
        so2sat_files("2", ["random"])
    with pytest.raises(ConfigError, match="http"):
        so2sat_files("2", mirror="ftp://x")
    bad = tmp_path / "bad.md5"
    bad.write_text("not a checksum line\n")
    with pytest.raises(ConfigError, match="line 1"):
        read_checksums(bad)
    partial = tmp_path / "p.md5"
    partial.write_text(f"{'a' * 32}  training.h5\n")
    with pytest.raises(ConfigError, match="no line for validation.h5"):
        so2sat_files("2", ["validation"], checksums=partial)

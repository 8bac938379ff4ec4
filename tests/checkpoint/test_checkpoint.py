"""Checkpoints: round trip, safe loading, clear refusals, last-checkpoint record."""

import json
import struct
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from lczmap import checkpoint as ck
from lczmap.bands import band_set
from lczmap.errors import CheckpointError, OutputExistsError
from lczmap.models import Architecture, YNet

torch.set_num_threads(1)
ARCH = Architecture(width=4, depth=2, blocks=1, embedding=8, projection=4)


def _meta():
    return {
        "method": "swd",
        "norm": "instance",
        "eo_bands": band_set("rgb", "eo").to_dict(),
        "sar_bands": band_set("vv-complex", "sar").to_dict(),
        "eo_mean": [0.1, 0.1, 0.1],
        "eo_std": [0.05, 0.05, 0.05],
        "sar_mean": [0.0, 0.0],
        "sar_std": [0.46, 0.46],
        "classes": "lowrise",
        "codes": [3, 6, 7, 8],
        "patch_size": 32,
        "architecture": ARCH.to_dict(),
        "seed": 0,
        "metrics": {"val_accuracy": 0.5},
    }


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    net = YNet(3, 2, 4, "instance", ARCH).eval()
    net.sar_encoder.standardize.set_stats([0.0, 0.0], [0.46, 0.46])
    path = ck.save_checkpoint(tmp_path / "m.safetensors", net, _meta())
    return path, net


def test_round_trip(saved):
    path, net = saved
    ckpt = ck.load_checkpoint(path)
    assert ckpt.codes == (3, 6, 7, 8)
    assert ckpt.sar_bands == band_set("vv-complex", "sar")
    assert ckpt.patch_size == 32
    assert ckpt.meta["lczmap_version"]
    sar = ckpt.sar_network()
    assert not sar.training
    x = torch.randn(2, 2, 32, 32) * 0.46
    torch.testing.assert_close(sar(x), net.sar_network()(x))
    assert ck.is_checkpoint(path)


def test_no_overwrite_and_atomic(saved, tmp_path):
    path, net = saved
    with pytest.raises(OutputExistsError, match="--overwrite"):
        ck.save_checkpoint(path, net, _meta())
    ck.save_checkpoint(path, net, _meta(), overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_describe(saved):
    info = ck.describe(saved[0])
    assert info["file_type"] == "lczmap-checkpoint" and info["method"] == "swd"
    assert info["sar_bands"]["channels"][0]["quantity"] == "complex_real"
    assert info["parameters"]["sar_encoder"] > 0
    json.dumps(info)


def test_refuses_other_files(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("hello world, not a model")
    with pytest.raises(CheckpointError, match="not an lczmap checkpoint"):
        ck.load_checkpoint(txt)
    assert not ck.is_checkpoint(txt)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(CheckpointError, match="safetensors file but not an lczmap checkpoint"):
        ck.load_checkpoint(other)
    pt = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pt)
    with pytest.raises(CheckpointError, match="not an lczmap checkpoint"):
        ck.load_checkpoint(pt)
    with pytest.raises(CheckpointError, match="does not exist"):
        ck.load_checkpoint(tmp_path / "missing.safetensors")


def test_refuses_corrupt(saved, tmp_path):
    path, _ = saved
    data = path.read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match="corrupt"):
        ck.load_checkpoint(bad)
    flipped = tmp_path / "flipped.safetensors"
    flipped.write_bytes(data[:20] + b"\x00\xff" + data[22:])
    with pytest.raises(CheckpointError, match="corrupt"):
        ck.load_checkpoint(flipped)


def _rewrite_header(path, dest, change):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    change(header["__metadata__"])
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    dest.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])
    return dest


def test_refuses_newer_format(saved, tmp_path):
    newer = _rewrite_header(saved[0], tmp_path / "newer.safetensors", lambda m: m.update(format_version="99"))
    with pytest.raises(CheckpointError, match="version 99.*upgrade lczmap"):
        ck.load_checkpoint(newer)
    assert ck.is_checkpoint(newer)  # still recognised as ours, refused with the upgrade hint


def test_refuses_meta_mismatch(saved, tmp_path):
    def wrong_codes(m):
        meta = json.loads(m["meta"])
        meta["codes"] = [1, 2]
        m["meta"] = json.dumps(meta)

    bad = _rewrite_header(saved[0], tmp_path / "bad.safetensors", wrong_codes)
    ckpt = ck.load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="do not match"):
        ckpt.sar_network()


def test_last_checkpoint(saved, tmp_path, monkeypatch):
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "home"))
    assert ck.last_checkpoint() is None
    ck.record_last_checkpoint(saved[0])
    assert ck.last_checkpoint() == saved[0].resolve()
    saved[0].unlink()
    assert ck.last_checkpoint() is None


def test_user_data_dir_is_platformdirs_unless_lczmap_home(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("LCZMAP_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert ck.user_data_dir() == Path(platformdirs.user_data_dir("lczmap", appauthor=False))
    if sys.platform.startswith("linux"):
        assert ck.user_data_dir() == tmp_path / "xdg" / "lczmap"
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "home"))
    assert ck.user_data_dir() == tmp_path / "home"


def test_checkpoint_of_another_width_loads(tmp_path):
    """Checkpoints carry their architecture: one of the former default width (32) still loads."""
    arch = Architecture(width=32)
    torch.manual_seed(0)
    net = YNet(3, 2, 4, "instance", arch).eval()
    path = ck.save_checkpoint(tmp_path / "w32.safetensors", net, {**_meta(), "architecture": arch.to_dict()})
    ckpt = ck.load_checkpoint(path)
    assert ckpt.architecture.width == 32 and Architecture().width == 16
    x = torch.randn(2, 2, 32, 32)
    torch.testing.assert_close(ckpt.sar_network()(x), net.sar_network()(x))


def test_truncated_file_is_one_line_error(saved, tmp_path):
    data = saved[0].read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt") as info:
        ck.load_checkpoint(bad)
    assert "\n" not in str(info.value)

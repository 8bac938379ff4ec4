"""render_map and `lczmap render`: a readable map from any LCZ raster, in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from _products_fixtures import blocks, run, write_raster

from lczmap.errors import ZonesError
from lczmap.products import render_map
from lczmap.products.render import display_codes
from lczmap.zones import inspect_lcz


def test_block_mode_keeps_the_most_common_class(tmp_path):
    codes = np.zeros((6, 7), np.uint8)
    codes[:3, :3] = [[1, 1, 2], [1, 3, 3], [0, 0, 1]]  # block (0, 0): 1 wins
    codes[3:, 3:6] = 17
    path = write_raster(tmp_path / "m.tif", codes)
    shown, factor = display_codes(inspect_lcz(path), max_pixels=6)
    assert factor == 3 and shown.shape == (2, 3)
    assert shown[0, 0] == 1 and shown[1, 1] == 17 and shown[0, 2] == 0  # a block of no data stays no data


@pytest.mark.parametrize("name, magic", [("map.png", b"\x89PNG"), ("map.pdf", b"%PDF")])
def test_render_writes_png_and_pdf(tmp_path, name, magic):
    path = write_raster(tmp_path / "lcz.tif", blocks(90, 120, seed=4),
                        tags={"model": "sar-only", "date": "2024-05-01T10:00:00Z"})
    out = render_map(path, tmp_path / name, max_pixels=2000)
    assert out.read_bytes()[:4] == magic


def test_render_refuses_what_is_not_an_lcz_map(tmp_path):
    dem = write_raster(tmp_path / "dem.tif", np.linspace(0, 900, 100, dtype=np.float32).reshape(10, 10), nodata=None)
    with pytest.raises(ZonesError, match="not LCZ codes"):
        render_map(dem, tmp_path / "dem.png")
    with pytest.raises(ZonesError, match=".png or .pdf"):
        render_map(dem, tmp_path / "dem.jpg")


def test_cli_render(tmp_path):
    path = write_raster(tmp_path / "lcz.tif", blocks(30, 30))
    done = run(["-q", "render", path, tmp_path / "m.png", "--title", "Test city"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "m.png").exists()
    again = run(["-q", "render", path, tmp_path / "m.png"])
    assert again.exit_code == 1 and "--overwrite" in again.output

"""render_map and `lczmap render`: a readable map from any LCZ raster, in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from _maps_fixtures import blocks, run, write_raster
from matplotlib.colors import to_hex

from lczmap.classes import LCZ_CLASSES
from lczmap.errors import ZonesError
from lczmap.maps import render_map
from lczmap.maps.render import display_codes
from lczmap.zones import inspect_lcz


def test_block_mode_keeps_the_most_common_class(tmp_path):
    codes = np.zeros((6, 7), np.uint8)
    codes[:3, :3] = [[1, 1, 2], [1, 3, 3], [0, 0, 1]]  # block (0, 0): 1 wins
    codes[3:, 3:6] = 17
    path = write_raster(tmp_path / "m.tif", codes)
    shown, factor = display_codes(inspect_lcz(path), max_pixels=6)
    assert factor == 3 and shown.shape == (2, 3)
    assert shown[0, 0] == 1 and shown[1, 1] == 17 and shown[0, 2] == 0  # a block of no data stays no data


#: Four classes in vertical bands of 40, 30, 20 and 10 % of the map (the top rows no data).
BANDS = ((2, 0, 40), (6, 40, 70), (11, 70, 90), (17, 90, 100))


def _banded(path, coding):
    """A 60 x 100 map of :data:`BANDS`, coded 1-17 (nodata 0) or 101-107 (nodata 255)."""
    native = coding == "1-17"
    raw = np.full((60, 100), 0 if native else 255, np.uint8)
    for code, c0, c1 in BANDS:
        raw[3:, c0:c1] = code if native or code <= 10 else code + 90
    return write_raster(path, raw, nodata=0 if native else 255)


def _pixels(png):
    """The PNG's pixels as an (H, W, 4) uint8 array (RGBA)."""
    from PIL import Image

    with Image.open(png) as image:
        return np.asarray(image.convert("RGBA"))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _render_keeping_the_figure(monkeypatch, lcz, out, **kw):
    """render_map's output and the matplotlib Figure it saved."""
    import lczmap.maps.render as render

    kept = []
    save = render.save_figure

    def keep(fig, *args, **kwargs):
        kept.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(render, "save_figure", keep)
    return render_map(lcz, out, **kw), kept[0]


@pytest.mark.parametrize("coding", ["1-17", "101-107"])
def test_png_shows_the_wudapt_colours_of_the_classes_present_and_a_legend_of_exactly_them(tmp_path, monkeypatch, coding):
    lcz = _banded(tmp_path / f"lcz_{coding}.tif", coding)
    out, fig = _render_keeping_the_figure(monkeypatch, lcz, tmp_path / "map.png", title="city", dpi=100)
    present = [LCZ_CLASSES[code - 1] for code, _, _ in BANDS]

    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [c.title for c in present]  # in class order
    assert [to_hex(h.get_facecolor()) for h in legend.legend_handles] == [c.colour for c in present]
    assert legend.get_title().get_text() == "Local Climate Zones"

    pixels = _pixels(out)[..., :3].reshape(-1, 3)
    count = {c.code: int(np.all(pixels == _rgb(c.colour), axis=1).sum()) for c in LCZ_CLASSES}
    shown = {code for code, n in count.items() if n > 0.01 * len(pixels)}  # text and edges stay far below 1 %
    assert shown == {code for code, _, _ in BANDS}
    total = sum(count[code] for code, _, _ in BANDS)
    for code, c0, c1 in BANDS:  # each class covers its share of the drawn map (the scale bar hides a little)
        assert count[code] / total == pytest.approx((c1 - c0) / 100, abs=0.03), LCZ_CLASSES[code - 1].title
    if coding == "101-107":  # the same picture whatever the coding
        native, _ = _render_keeping_the_figure(
            monkeypatch, _banded(tmp_path / "lcz.tif", "1-17"), tmp_path / "native.png", title="city", dpi=100
        )
        assert np.array_equal(_pixels(native), _pixels(out))


def test_pdf_names_the_crs_model_date_and_the_reduction(tmp_path, monkeypatch):
    path = write_raster(tmp_path / "lcz.tif", blocks(90, 120, seed=4), tags={"model": "sar-only", "date": "2024-05-01T10:00:00Z"})
    out, fig = _render_keeping_the_figure(monkeypatch, path, tmp_path / "map.pdf", max_pixels=2000)
    data = out.read_bytes()
    assert data[:5] == b"%PDF-" and data.rstrip().endswith(b"%%EOF")
    (text,) = [t.get_text() for t in fig.texts]
    assert text.splitlines() == [
        "CRS: EPSG:32633 (WGS 84 / UTM zone 33N)",
        "Model: sar-only",
        "Date: 2024-05-01T10:00:00Z",
        "Pixel: 100 m (shown: mode of 3 x 3)",
    ]


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

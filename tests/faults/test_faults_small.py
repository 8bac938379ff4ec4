"""The small things of issue #26 a user sees, on real files: the pixel size `render` states for a
geographic map, and which band `summarize` and `render` read of an LCZ Generator product
(``lczFilter`` unless ``--band`` says otherwise, and said so). Cases listed in docs/reliability.md
("Small things a user sees")."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import ZonesError
from lczmap.maps import render_map
from lczmap.maps.render import pixel_size_text
from lczmap.raster import write_lcz_product
from lczmap.zones import inspect_lcz, summarize


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def kept_figure(monkeypatch, lcz, out, **kw):
    """render_map's output, and the matplotlib Figure it saved (to read its text)."""
    import lczmap.maps.render as render

    kept = []
    save = render.save_figure

    def keep(fig, *args, **kwargs):
        kept.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(render, "save_figure", keep)
    path = render_map(lcz, out, **kw)
    (text,) = [t.get_text() for t in kept[0].texts]
    return path, text.splitlines()


def write_map(path, crs, transform, shape=(40, 50)):
    codes = np.full(shape, 6, np.uint8)
    codes[:, : shape[1] // 2] = 2
    with rasterio.open(
        path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1, dtype="uint8", crs=crs, transform=transform, nodata=0
    ) as dst:
        dst.write(codes, 1)
    return path


# --- the pixel size of a geographic map -----------------------------------------------------------


def test_render_states_degree_pixels_as_degrees_and_metres(tmp_path, monkeypatch):
    """0.001 x 0.00135 degree pixels at 48 N are about 75 x 150 m: both lengths, and the degrees,
    not one figure taken from the width (the issue: 'Pixel: 112 m' for 112 x 150 m pixels)."""
    lcz = write_map(tmp_path / "geo.tif", "EPSG:4326", Affine(0.001, 0, 11.0, 0, -0.00135, 48.0))
    text = pixel_size_text(inspect_lcz(lcz))
    assert text == "0.001° x 0.00135° (about 75 x 150 m)", text
    _, lines = kept_figure(monkeypatch, lcz, tmp_path / "geo.png")
    assert "Pixel: 0.001° x 0.00135° (about 75 x 150 m)" in lines, lines
    # projected: square pixels as before, others with both sides
    assert (
        pixel_size_text(inspect_lcz(write_map(tmp_path / "utm.tif", "EPSG:32633", Affine(100, 0, 500000, 0, -100, 5001000))))
        == "100 m"
    )
    assert (
        pixel_size_text(inspect_lcz(write_map(tmp_path / "rect.tif", "EPSG:32633", Affine(10, 0, 500000, 0, -20, 5001000))))
        == "10 x 20 m"
    )


# --- the band of an LCZ Generator product ---------------------------------------------------------


@pytest.fixture
def product(tmp_path):
    """An LCZ Generator product as `predict --layout lcz-generator` writes it: raw ``lcz`` speckled
    with LCZ 2 over LCZ 6, ``lczFilter`` all LCZ 6 on the left and LCZ 14 on the right, and
    ``classProbability`` in percent."""
    height, width = 30, 40
    raw = np.full((height, width), 6, np.uint8)
    raw[::3, ::3] = 2
    raw[:, 30:] = 14
    filtered = np.where(raw == 2, 6, raw).astype(np.uint8)
    percent = np.full((height, width), 80, np.uint8)
    return write_lcz_product(
        tmp_path / "lcz_generator.tif",
        [(0, height, raw, filtered, percent)],
        (height, width),
        Affine(100, 0, 500000, 0, -100, 5001000),
        "EPSG:32633",
    )


def test_summarize_reads_lczfilter_of_a_generator_product_and_says_so(product, caplog):
    caplog.set_level(logging.INFO, logger="lczmap")
    table = summarize(product)
    assert dict(zip(table["lcz"], table["pixels"]))[2] == 0  # the filtered map: no LCZ 2
    assert "reading its band 2 (lczFilter, the filtered map)" in caplog.text and "--band" in caplog.text
    res = invoke("summarize", product)
    assert res.exit_code == 0, res.output
    assert "reading its band 2 (lczFilter" in res.output
    raw = summarize(product, band="lcz")
    assert dict(zip(raw["lcz"], raw["pixels"]))[2] == 100  # the raw band: 10 x 10 speckles
    assert summarize(product, band=1).equals(raw) and summarize(product, band="1").equals(raw)
    res = invoke("summarize", product, "--band", "lcz")
    assert res.exit_code == 0 and "reading its band" not in res.output, res.output


def test_render_draws_lczfilter_of_a_generator_product_and_names_it(product, tmp_path, monkeypatch):
    _, lines = kept_figure(monkeypatch, product, tmp_path / "map.png")
    assert "Band: 2 (lczFilter)" in lines, lines
    _, lines = kept_figure(monkeypatch, product, tmp_path / "raw.png", band="lcz")
    assert "Band: 1 (lcz)" in lines, lines
    res = invoke("render", product, tmp_path / "cli.png", "--band", "lczFilter")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    "band, words",
    [
        ("7", "has no band 7 (--band): it has 1 (lcz), 2 (lczFilter), 3 (classProbability)"),
        ("lcz_filter", "has no band named 'lcz_filter' (--band)"),
        ("classProbability", "not LCZ codes"),
    ],
)
def test_a_band_that_is_not_there_or_not_a_map_is_one_line(product, tmp_path, band, words):
    with pytest.raises(ZonesError, match=words.replace("(", r"\(").replace(")", r"\)")):
        summarize(product, band=band)
    for args in (["summarize", product], ["render", product, tmp_path / "m.png"]):
        res = invoke(*args, "--band", band)
        assert res.exit_code == 1 and "Traceback" not in res.output, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], res.output
    assert not (tmp_path / "m.png").exists()

"""detect_change / lczmap change on a seeded synthetic series: change found, flicker suppressed,
outputs on the inputs' grid, areas that add up, bad input in one line."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import rasterio
from _change_fixtures import CODES, CRS, TRANSFORM, write_series
from affine import Affine
from click.testing import CliRunner

from lczmap import raster
from lczmap.change import ChangeOptions, detect_change
from lczmap.change.api import check_stay
from lczmap.change.style import CHANGE_BANDS, transition_value
from lczmap.classes import LCZ_CLASSES, lcz
from lczmap.cli import main
from lczmap.errors import ConfigError, OutputExistsError

DATES = [str(2019 + i) for i in range(6)]
#: The series holds 6 classes, so one change weighs more than among 17: the 17-class default (0.3)
#: is refused here (test_bad_inputs_in_one_line); 0.6 gives a similar stay-to-change ratio.
STAY = 0.6


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return write_series(tmp_path_factory.mktemp("series"), signal=2.2, noise=1.0)


@pytest.fixture(scope="module")
def result(series, tmp_path_factory):
    return detect_change(series.paths, tmp_path_factory.mktemp("out") / "change", dates=DATES, block=32, stay=STAY)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(), src.profile, src.descriptions


def test_change_found_and_flicker_suppressed(series, result):
    independent = []
    for p in series.paths:
        probs, _, _ = _read(p)
        independent.append(np.asarray(CODES)[probs.argmax(axis=0)])
    independent = np.array(independent)
    unchanged, changed = series.changed_at == 0, series.changed_at > 0
    spurious_independent = (independent[1:] != independent[:-1]).any(axis=0)[unchanged].mean()
    bands, _, names = _read(result.change)
    assert names == CHANGE_BANDS
    spurious = (bands[4] > 0)[unchanged].mean()
    assert spurious_independent > 0.5  # the single dates flicker
    assert spurious <= spurious_independent / 5
    found = (bands[4] > 0) & (np.abs(bands[3].astype(int) - series.changed_at) <= 1)
    assert found[changed].mean() >= 0.7
    # the consistent maps are the change layer's: first and last date, and the transition
    first, last = (_read(result.maps[i])[0][0] for i in (0, -1))
    np.testing.assert_array_equal(bands[1], first)
    np.testing.assert_array_equal(bands[2], last)
    moved = bands[4] > 0
    np.testing.assert_array_equal(bands[0][moved], first[moved].astype(int) * 100 + last[moved])
    assert (bands[0][~moved] == 1).all()
    p_change = _read(result.probability)[0][0]
    assert p_change[changed].mean() > p_change[unchanged].mean() + 0.3  # ranks change; its level follows the prior
    qml = result.change.with_suffix(".qml").read_text()
    assert 'label="D Low plants -&gt; 6 Open low-rise"' in qml or "D Low plants -> 6 Open low-rise" in qml
    assert f'value="{transition_value(14, 17)}"' in qml


def test_outputs_on_the_inputs_grid_and_styled(series, result):
    _, src, _ = _read(series.paths[0])
    for path in (*result.maps, result.change, result.probability):
        _, prof, _ = _read(path)
        assert prof["crs"] == src["crs"] and prof["transform"] == src["transform"]
        assert (prof["height"], prof["width"]) == (src["height"], src["width"])
    with rasterio.open(result.maps[2]) as ds:
        assert ds.colormap(1)[6][:3] == lcz(6).rgb
        assert ds.tags()["dates"] == ",".join(DATES)
    assert result.maps[2].name == "lcz_2021.tif" and result.maps[2].with_suffix(".qml").exists()


def test_table_areas_sum_to_the_map(series, result):
    with result.table.open() as f:
        rows = list(csv.DictReader(f))
    total = sum(float(r["area_m2"]) for r in rows)
    assert total == pytest.approx(60 * 80 * 100 * 100)
    assert total == pytest.approx(result.area_m2)
    assert sum(int(r["pixels"]) for r in rows) == result.pixels == 60 * 80
    bands = _read(result.change)[0]
    for r in rows:
        if r["date_index"]:
            assert r["date"] == DATES[int(r["date_index"]) - 1]
            n = ((bands[1] == int(r["from_code"])) & (bands[2] == int(r["to_code"])) & (bands[3] == int(r["date_index"]))).sum()
            assert n == int(r["pixels"])
    built = [r for r in rows if r["from_code"] == "14" and r["to_code"] == "6" and r["date_index"]]
    assert sum(int(r["pixels"]) for r in built) >= 0.7 * 15 * 20


def test_no_overwrite_then_overwrite(series, result):
    with pytest.raises(OutputExistsError, match="--overwrite"):
        detect_change(series.paths, result.change.parent, dates=DATES, stay=STAY)
    options = ChangeOptions(overwrite=True, block=64, stay=STAY)
    again = detect_change(series.paths, result.change.parent, dates=DATES, options=options)
    np.testing.assert_array_equal(_read(again.change)[0], _read(result.change)[0])  # windows do not matter


def test_cli(series, tmp_path):
    out = tmp_path / "cli"
    r = CliRunner().invoke(main, ["change", *map(str, series.paths[:3]), "-o", str(out), "--dates", "a,b,c", "--stay", "0.9"])
    assert r.exit_code == 0, r.output
    assert "3 consistent maps" in r.output
    assert (out / "lcz_b.tif").exists() and (out / "transitions.csv").exists()
    r = CliRunner().invoke(main, ["change", *map(str, series.paths[:3]), "-o", str(out), "--stay", "0.9"])
    assert r.exit_code == 1 and "--overwrite" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["change", *map(str, series.paths[:2]), "-o", str(out), "--stay", "1.5"])
    assert r.exit_code == 2 and "--stay" in r.output


def _one_line(args):
    r = CliRunner().invoke(main, ["change", *map(str, args)])
    assert r.exit_code == 1, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), r.output
    return lines[0]


def test_bad_inputs_in_one_line(series, tmp_path):
    one = series.paths[0]
    assert "two or more dates" in _one_line([one, "-o", tmp_path / "o1"])
    shifted = tmp_path / "shifted.tif"
    probs = _read(one)[0]
    raster.write_float(shifted, probs, TRANSFORM @ Affine.translation(3, 0), CRS, [lcz(c).title for c in CODES])
    line = _one_line([one, shifted, "-o", tmp_path / "o2"])
    assert "another grid" in line and "lczmap mosaic" in line and "--align" in line
    codes = tmp_path / "codes.tif"
    raster.write_lcz(codes, np.full((60, 80), 6, np.uint8), TRANSFORM, CRS)
    assert "not a class-probability raster" in _one_line([one, codes, "-o", tmp_path / "o3"])
    scaled = tmp_path / "scaled.tif"
    raster.write_float(scaled, probs * 100, TRANSFORM, CRS, [lcz(c).title for c in CODES])
    assert "not 0-1" in _one_line([one, scaled, "-o", tmp_path / "o4", "--stay", STAY])
    unnamed = tmp_path / "unnamed.tif"
    raster.write_float(unnamed, probs, TRANSFORM, CRS)
    assert "not named as an LCZ class" in _one_line([one, unnamed, "-o", tmp_path / "o5"])
    half = tmp_path / "half.tif"
    raster.write_float(half, probs * 0.5, TRANSFORM, CRS, [lcz(c).title for c in CODES])
    assert "sum to" in _one_line([one, half, "-o", tmp_path / "o6", "--stay", STAY])
    assert not [p for i in range(1, 7) for p in (tmp_path / f"o{i}").glob("*")]  # nothing left, staged files neither
    # 6 classes, half built: a built class turning another built one weighs 0.7 / 2.3 = 0.304 at stay 0.3
    line = _one_line([one, series.paths[1], "-o", tmp_path / "o8", "--stay", "0.3"])
    assert "no likelier than one change with these 6 classes (0.304" in line and "--stay" in line
    assert not (tmp_path / "o8").exists()
    with pytest.raises(ConfigError, match="--dates"):
        detect_change(series.paths[:2], tmp_path / "o7", dates=["2019"])
    with pytest.raises(ConfigError, match="stay"):
        ChangeOptions(stay=1.0)


def test_the_default_stay_fits_the_17_classes():
    codes = [c.code for c in LCZ_CLASSES]
    check_stay(codes, ChangeOptions())  # 0.3 against at most 0.7 / 9.7 = 0.072 for one change
    check_stay(codes, ChangeOptions(stay=0.094))
    with pytest.raises(ConfigError, match=r"one change with these 17 classes \(0.0935"):
        check_stay(codes, ChangeOptions(stay=0.0934))


def test_areas_on_a_geographic_grid(series, tmp_path):
    """On EPSG:4326 each pixel's area is taken on the WGS84 ellipsoid by its latitude: the table
    adds up to the area of the whole grid, and a pixel at 60 N is about half of one at the equator."""
    from pyproj import Geod

    from lczmap.change.api import pixel_areas

    step = 0.0009  # about 100 m
    transform = Affine(step, 0.0, 13.0, 0.0, -step, 52.5)
    paths = []
    for i, p in enumerate(series.paths[:3]):
        out = tmp_path / f"geo_{i}.tif"
        raster.write_float(out, _read(p)[0], transform, "EPSG:4326", [lcz(c).title for c in CODES])
        paths.append(out)
    r = detect_change(paths, tmp_path / "geo", stay=STAY)
    with r.table.open() as f:
        total = sum(float(row["area_m2"]) for row in csv.DictReader(f))
    west, north, east, south = 13.0, 52.5, 13.0 + 80 * step, 52.5 - 60 * step
    whole = abs(Geod(ellps="WGS84").polygon_area_perimeter([west, east, east, west], [north, north, south, south])[0])
    assert total == pytest.approx(whole, rel=1e-4)
    assert total == pytest.approx(r.area_m2)
    wkt = rasterio.crs.CRS.from_epsg(4326).to_wkt()
    equator, sixty = (pixel_areas(wkt, tuple(Affine(step, 0, 0, 0, -step, y)), np.array([0.5]))[0] for y in (0.0, 60.0))
    assert 0.5 < sixty / equator < 0.51  # cos(60 deg), plus the ellipsoid's larger radii of curvature there (~1 %)

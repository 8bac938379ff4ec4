"""What LCZ4r/lcz4py and UMEP select by (lczmap.downstream.conventions), the tables of
docs/downstream.md that state it, and the UMEP coding written by ``lczmap recode``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from lczmap.canopy import ucp_table
from lczmap.classes import LCZ_CLASSES
from lczmap.cli import main
from lczmap.downstream import LCZ4R_BANDS, UMEP_CODES, UMEP_FRACTIONS, recode_lcz, umep_fraction_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "downstream.md"


def doc_rows(heading: str, columns: int) -> list[list[str]]:
    """The body rows of the first table after ``heading`` in docs/downstream.md, cells stripped of
    backquotes (the header and the |---| line left out)."""
    text = DOC.read_text()
    section = text[text.index(heading) :]
    rows, seen = [], False
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            seen = True
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            assert len(cells) == columns, line
            rows.append(cells)
        elif seen:
            break
    return rows[2:]


def test_the_docs_tables_are_the_conventions():
    bands = doc_rows("## LCZ4r and lcz4py", 3)
    assert {name: int(band) for name, band, _ in bands} == LCZ4R_BANDS
    umep = doc_rows("## UMEP (SUEWS)", 3)
    labels = {c.label: c.code for c in LCZ_CLASSES}
    assert {labels[lcz]: int(ours) for lcz, ours, _ in umep} == {c.code: c.code for c in LCZ_CLASSES}
    assert {int(ours): int(theirs) for _, ours, theirs in umep} == UMEP_CODES
    fractions = doc_rows("The converter also wants", 2)
    assert {name: (None if param.startswith("none") else param) for name, param in fractions} == UMEP_FRACTIONS


def test_umep_codes_are_1_10_and_101_107():
    assert [UMEP_CODES[c] for c in range(1, 18)] == [*range(1, 11), *range(101, 108)]


@pytest.mark.parametrize("value", ["low", "mid", "high"])
def test_umep_fraction_table_is_stewart_and_oke_s(value):
    table = umep_fraction_table(value)
    ucp = ucp_table(value)
    assert table.index.tolist() == [*range(1, 11), *range(101, 108)]
    for code, umep in UMEP_CODES.items():
        assert table.loc[umep, "Paved"] == ucp.loc[code, "impervious_surface_fraction"]
        assert table.loc[umep, "Buildings"] == ucp.loc[code, "building_surface_fraction"]
        assert table.loc[umep, "Pervious"] == ucp.loc[code, "pervious_surface_fraction"]
    for column, parameter in UMEP_FRACTIONS.items():
        assert parameter is None or parameter in ucp.columns, column


def test_umep_fraction_table_figures():
    """Stewart & Oke 2012, Table 3: LCZ 2 buildings 40-70 %, impervious 30-50 %, pervious < 20 %."""
    mid = umep_fraction_table("mid")
    assert (mid.loc[2, "Buildings"], mid.loc[2, "Paved"], mid.loc[2, "Pervious"]) == pytest.approx((0.55, 0.40, 0.10))
    assert mid.loc[107, "name"] == "Water" and mid.loc[107, "Buildings"] == pytest.approx(0.05)


@pytest.fixture
def all_classes(tmp_path):
    """A 17 x 20 map in lczmap's coding: each row one class, the last three columns nodata."""
    data = np.repeat(np.arange(1, 18, dtype=np.uint8)[:, None], 20, axis=1)
    data[:, -3:] = 0
    path = tmp_path / "all.tif"
    profile = {"driver": "GTiff", "width": 20, "height": 17, "count": 1, "dtype": "uint8", "nodata": 0}
    with rasterio.open(path, "w", **profile, crs="EPSG:32630", transform=from_origin(670000, 4620000, 100, 100)) as dst:
        dst.write(data, 1)
    return path, data


def test_recode_writes_umep_s_coding_and_back(all_classes, tmp_path):
    path, data = all_classes
    res = CliRunner().invoke(main, ["recode", str(path), str(tmp_path / "umep.tif")])
    assert res.exit_code == 0, res.output
    lut = np.zeros(256, np.uint8)
    for code, umep in UMEP_CODES.items():
        lut[code] = umep
    with rasterio.open(tmp_path / "umep.tif") as ds:
        assert np.array_equal(ds.read(1), lut[data]) and ds.nodata == 0 and ds.tags()["lcz_coding"] == "101-107"
        assert ds.colormap(1)[105][:3] == next(c.rgb for c in LCZ_CLASSES if c.label == "E")
    back = recode_lcz(tmp_path / "umep.tif", tmp_path / "back.tif", coding="1-17")
    with rasterio.open(back) as ds:
        assert np.array_equal(ds.read(1), data) and ds.tags()["lcz_coding"] == "1-17"


def test_ucp_is_alike_in_both_codings(all_classes, tmp_path):
    path, _ = all_classes
    recode_lcz(path, tmp_path / "umep.tif")
    for name in ("all", "umep"):
        src = path if name == "all" else tmp_path / "umep.tif"
        res = CliRunner().invoke(main, ["ucp", str(src), str(tmp_path / f"ucp_{name}.tif")])
        assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "ucp_all.tif") as a, rasterio.open(tmp_path / "ucp_umep.tif") as b:
        assert a.descriptions == b.descriptions and np.array_equal(a.read(), b.read(), equal_nan=True)
        assert not np.isnan(a.read(1)[:, :17]).any() and np.isnan(a.read(1)[:, 17:]).all()


def test_recode_refuses_in_one_line(all_classes, tmp_path):
    path, _ = all_classes
    (tmp_path / "taken.tif").write_bytes(b"x")
    for args, message in (
        ([str(path), str(tmp_path / "taken.tif")], "exists"),
        ([str(path), str(tmp_path / "out.png")], "end its name with .tif"),
        ([str(path), str(path), "--overwrite"], "all.tif"),  # the output would overwrite its input
    ):
        res = CliRunner().invoke(main, ["recode", *args])
        assert res.exit_code != 0 and "Traceback" not in res.output and res.output.count("Error:") == 1, res.output
        assert message in res.output

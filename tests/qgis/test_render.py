"""A styled LCZ map rendered to PNG by QGIS (scripts/docs/render_qgis_map.py, which makes the README image)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _qgis_support import SKIP_REASON

pytest.importorskip("qgis.core", reason=SKIP_REASON)
pytestmark = pytest.mark.qgis

ROOT = Path(__file__).resolve().parents[2]


def _colours_in(png: Path) -> set[str]:
    from qgis.PyQt.QtGui import QImage

    image = QImage(str(png))
    assert not image.isNull()
    seen = set()
    for y in range(0, image.height(), 3):
        for x in range(0, image.width(), 3):
            seen.add(image.pixelColor(x, y).name())
    return seen


def test_rendered_map_shows_the_lcz_colours_of_the_map_and_a_legend(qgis_app, lcz_outputs, tmp_path):
    import numpy as np
    import rasterio

    from lczmap.classes import LCZ_CLASSES, colour_of
    from lczmap.zones import zones

    zone_layer = zones(lcz_outputs.out, tmp_path / "zones.gpkg", min_area=50000).path
    png = tmp_path / "map.png"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "docs" / "render_qgis_map.py"),
            str(lcz_outputs.out),
            str(zone_layer),
            "-o",
            str(png),
            "--title",
            "LCZ map",
            "--dpi",
            "100",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(png)
    with rasterio.open(lcz_outputs.out) as src:
        present = {int(v) for v in np.unique(src.read(1)) if v}
    seen = _colours_in(png)
    # every class the map holds is drawn; the legend shows all 17 classes (two layers: 2 x 17 swatches)
    assert {colour_of(c) for c in present} <= seen
    assert {c.colour for c in LCZ_CLASSES} <= seen
    assert "#ffffff" in seen


def test_render_refuses_a_file_qgis_cannot_open(qgis_app, tmp_path):
    bogus = tmp_path / "bogus.tif"
    bogus.write_text("not a raster")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "docs" / "render_qgis_map.py"), str(bogus), "-o", str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 1
    assert "cannot open" in done.stderr and "bogus.tif" in done.stderr
    assert not (tmp_path / "x.png").exists()

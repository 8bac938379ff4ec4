"""The QGIS style of zone layers (lczmap.zones.style)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from lczmap.classes import LCZ_CLASSES
from lczmap.zones import zones_qml
from lczmap.zones.style import STYLE_PATH


def test_qml_style(tmp_path):
    assert STYLE_PATH.read_text() == zones_qml()  # the shipped file is the generated one
    root = ET.fromstring(zones_qml())
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "lcz"
    categories = renderer.findall("categories/category")
    assert [int(c.get("value")) for c in categories] == list(range(1, 18))
    assert categories[10].get("label") == "A Dense trees"
    colours = {
        s.get("name"): s.find("layer/Option/Option[@name='color']").get("value") for s in renderer.findall("symbols/symbol")
    }
    for category, lcz in zip(categories, LCZ_CLASSES):
        assert colours[category.get("symbol")] == "{},{},{},255".format(*lcz.rgb)

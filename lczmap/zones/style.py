"""The QGIS style of zone layers: categories with the WUDAPT colours and LCZ names."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from .._io import atomic_path
from ..classes import LCZ_CLASSES

__all__ = ["STYLE_PATH", "write_qml", "write_style", "zones_qml"]

#: The style shipped with lczmap: the text of ``zones_qml()``.
STYLE_PATH = Path(__file__).parent.parent / "styles" / "lcz_zones.qml"


def zones_qml(field: str = "lcz") -> str:
    """QGIS style (.qml) for a zone layer: categories on ``field`` with the WUDAPT colours and
    the labels '1 Compact high-rise' ... 'G Water'. lczmap/styles/lcz_zones.qml holds this text."""
    categories, symbols = [], []
    for i, c in enumerate(LCZ_CLASSES):
        r, g, b = c.rgb
        categories.append(
            f'      <category symbol="{i}" value="{c.code}" label={quoteattr(f"{c.label} {c.name}")} render="true"/>'
        )
        symbols.append(
            f'      <symbol type="fill" name="{i}" alpha="1" clip_to_extent="1" force_rhr="0">\n'
            f'        <layer class="SimpleFill" enabled="1" locked="0" pass="0">\n'
            f'          <Option type="Map">\n'
            f'            <Option name="color" type="QString" value="{r},{g},{b},255"/>\n'
            f'            <Option name="outline_color" type="QString" value="50,50,50,255"/>\n'
            f'            <Option name="outline_style" type="QString" value="solid"/>\n'
            f'            <Option name="outline_width" type="QString" value="0.1"/>\n'
            f'            <Option name="outline_width_unit" type="QString" value="MM"/>\n'
            f'            <Option name="style" type="QString" value="solid"/>\n'
            f"          </Option>\n"
            f'          <prop k="color" v="{r},{g},{b},255"/>\n'
            f'          <prop k="outline_color" v="50,50,50,255"/>\n'
            f'          <prop k="outline_style" v="solid"/>\n'
            f'          <prop k="outline_width" v="0.1"/>\n'
            f'          <prop k="outline_width_unit" v="MM"/>\n'
            f'          <prop k="style" v="solid"/>\n'
            f"        </layer>\n"
            f"      </symbol>"
        )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.28.0" styleCategories="Symbology">\n'
        f'  <renderer-v2 type="categorizedSymbol" attr={quoteattr(field)} symbollevels="0" enableorderby="0" forceraster="0">\n'
        "    <categories>\n" + "\n".join(categories) + "\n    </categories>\n"
        "    <symbols>\n" + "\n".join(symbols) + "\n    </symbols>\n"
        "  </renderer-v2>\n"
        "  <layerGeometryType>2</layerGeometryType>\n"
        "</qgis>\n"
    )


def write_qml(tmp: Path, field: str = "lcz") -> None:
    """Write :func:`zones_qml` to ``tmp`` and read it back (a file cut short raises OSError)."""
    text = zones_qml(field)
    tmp.write_text(text, encoding="utf-8")
    if tmp.read_text(encoding="utf-8") != text:
        raise OSError(f"{tmp} did not read back whole")


def write_style(layer: Path, overwrite: bool = False) -> Path:
    """Write :func:`zones_qml` beside ``layer`` (``zones.qml`` for ``zones.gpkg``), where QGIS
    finds it when it loads the layer."""
    qml = layer.with_suffix(".qml")
    with atomic_path(qml, overwrite=overwrite) as tmp:
        write_qml(tmp)
    return qml

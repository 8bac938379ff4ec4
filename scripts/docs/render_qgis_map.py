"""Render LCZ layers to a PNG with QGIS (headless), as they look in QGIS: each layer with its own
style (the .qml lczmap writes beside it), plus a legend. Used for the README's map image.

Run it with QGIS's Python (the venv scripts/dev/install_qgis.sh builds):

    .venv-qgis/bin/python scripts/docs/render_qgis_map.py LCZ.tif [ZONES.gpkg ...] -o map.png

The first layer is drawn on top; the map takes the first layer's CRS and the layers' joint extent.
Exit status 1 with a one-line message for a layer QGIS cannot open.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _layer(path: str):
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    p = Path(path.split("|")[0])
    layer = QgsRasterLayer(path, p.stem)
    if not layer.isValid():
        layer = QgsVectorLayer(path, p.stem, "ogr")
    if not layer.isValid():
        raise SystemExit(f"render_qgis_map: QGIS cannot open {path}: give a raster or vector file")
    return layer


def _tidy_legend(key, show_layer_names: bool) -> int:
    """Legend entries as a reader wants them: the classes of each layer, without raster band
    captions ('Band 1: LCZ (Palette)'), under the layer's name only when there are several.
    Returns the number of lines the legend holds."""
    from qgis.core import (
        QgsLegendRenderer,
        QgsLegendStyle,
        QgsMapLayerLegendUtils,
        QgsRasterSymbolLegendNode,
        QgsSymbolLegendNode,
    )

    model = key.model()
    lines = 0
    for node in model.rootGroup().findLayers():
        nodes = model.layerLegendNodes(node)
        keep = [i for i, n in enumerate(nodes) if isinstance(n, (QgsRasterSymbolLegendNode, QgsSymbolLegendNode))]
        QgsMapLayerLegendUtils.setLegendNodeOrder(node, keep)
        if not show_layer_names:
            QgsLegendRenderer.setNodeLegendStyle(node, QgsLegendStyle.Hidden)
        model.refreshLayerLegend(node)
        lines += len(keep) + (1 if show_layer_names else 0)
    return lines


def render(
    layers: list[str],
    out: str | os.PathLike,
    width_mm: float = 180.0,
    dpi: int = 150,
    title: str | None = None,
    legend: bool = True,
) -> Path:
    """Render ``layers`` (paths; first on top) with a legend into the PNG ``out``. Needs a started
    QgsApplication. Returns the PNG's path."""
    from qgis.core import (
        QgsLayoutExporter,
        QgsLayoutItemLabel,
        QgsLayoutItemLegend,
        QgsLayoutItemMap,
        QgsLayoutPoint,
        QgsLayoutSize,
        QgsPrintLayout,
        QgsProject,
        QgsRectangle,
        QgsUnitTypes,
    )
    from qgis.PyQt.QtGui import QColor, QFont

    project = QgsProject()
    opened = [_layer(p) for p in layers]
    for layer in opened:
        project.addMapLayer(layer)
    crs = opened[0].crs()
    extent = QgsRectangle()
    extent.setMinimal()
    from qgis.core import QgsCoordinateTransform

    for layer in opened:
        ext = layer.extent()
        if layer.crs() != crs:
            ext = QgsCoordinateTransform(layer.crs(), crs, project).transformBoundingBox(ext)
        extent.combineExtentWith(ext)

    margin, gap, title_h = 5.0, 4.0, 10.0 if title else 0.0
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    item = QgsLayoutItemMap(layout)
    layout.addLayoutItem(item)
    legend_w = legend_h = 0.0
    if legend:
        key = QgsLayoutItemLegend(layout)
        key.setLinkedMap(item)
        key.setTitle("Local Climate Zones")
        key.setAutoUpdateModel(False)
        layout.addLayoutItem(key)
        entries = _tidy_legend(key, show_layer_names=len(opened) > 1)
        # QGIS sizes a legend only when it draws it: estimate its box from the entry count instead.
        legend_w, legend_h = 72.0, 14.0 + 6.6 * entries
        key.setResizeToContents(True)
    map_w = width_mm - 2 * margin - (legend_w + gap if legend else 0.0)
    if map_w < 40:
        raise SystemExit(f"render_qgis_map: a page {width_mm} mm wide leaves no room for the map: give --width-mm")
    map_h = map_w * extent.height() / extent.width()
    page_h = max(map_h, legend_h) + 2 * margin + title_h
    layout.pageCollection().page(0).setPageSize(QgsLayoutSize(width_mm, page_h, QgsUnitTypes.LayoutMillimeters))
    if title:
        label = QgsLayoutItemLabel(layout)
        label.setText(title)
        label.setFont(QFont("DejaVu Sans", 14))
        label.attemptMove(QgsLayoutPoint(margin, margin * 0.6, QgsUnitTypes.LayoutMillimeters))
        label.attemptResize(QgsLayoutSize(width_mm - 2 * margin, title_h, QgsUnitTypes.LayoutMillimeters))
        layout.addLayoutItem(label)
    item.attemptMove(QgsLayoutPoint(margin, margin + title_h, QgsUnitTypes.LayoutMillimeters))
    item.attemptResize(QgsLayoutSize(map_w, map_h, QgsUnitTypes.LayoutMillimeters))
    item.setCrs(crs)
    item.setLayers(opened)
    item.setExtent(extent)
    item.setBackgroundColor(QColor(255, 255, 255))
    item.setFrameEnabled(True)
    if legend:
        key.attemptMove(QgsLayoutPoint(margin + map_w + gap, margin + title_h, QgsUnitTypes.LayoutMillimeters))
    out = Path(out)
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = dpi
    settings.exportMetadata = False
    result = QgsLayoutExporter(layout).exportToImage(str(out), settings)
    if result != QgsLayoutExporter.Success:
        raise SystemExit(f"render_qgis_map: QGIS could not write {out} (layout export error {result})")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layers", nargs="+", help="raster or vector files; the first is drawn on top")
    parser.add_argument("-o", "--output", required=True, help="PNG to write")
    parser.add_argument("--width-mm", type=float, default=180.0, help="page width in mm (default 180)")
    parser.add_argument("--dpi", type=int, default=150, help="resolution (default 150)")
    parser.add_argument("--title", default=None, help="a title above the map")
    parser.add_argument("--no-legend", action="store_true", help="the map alone")
    args = parser.parse_args(argv)
    if Path(args.output).suffix.lower() != ".png":
        parser.error("--output must end with .png")

    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath(os.environ.get("QGIS_PREFIX_PATH", "/usr"), True)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        out = render(args.layers, args.output, args.width_mm, args.dpi, args.title, not args.no_legend)
    finally:
        app.exitQgis()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

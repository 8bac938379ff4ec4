"""The ``lczmap`` Processing provider: its algorithms in the toolbox group "lczmap"."""

from qgis.core import QgsProcessingProvider

from .adapt_algorithm import AdaptAlgorithm
from .algorithms import AssessAlgorithm, PredictAlgorithm, SummarizeAlgorithm, UcpAlgorithm, ZonesAlgorithm
from .change_algorithm import ChangeAlgorithm
from .check_algorithm import CheckAreasAlgorithm
from .design_algorithm import AssessSampleAlgorithm, DesignAlgorithm
from .mosaic_algorithm import MosaicAlgorithm


class LczmapProvider(QgsProcessingProvider):
    def id(self):
        return "lczmap"

    def name(self):
        return "lczmap"

    def longName(self):  # noqa: N802
        return "lczmap: Local Climate Zones from Sentinel-1"

    def supportedOutputRasterLayerExtensions(self):  # noqa: N802
        return ["tif"]  # lczmap writes Cloud-Optimized GeoTIFFs

    def supportedOutputVectorLayerExtensions(self):  # noqa: N802
        return ["gpkg", "fgb", "geojson", "shp"]  # formats lczmap.zones writes and QGIS reads

    def loadAlgorithms(self):  # noqa: N802
        for alg in (
            PredictAlgorithm(),
            MosaicAlgorithm(),
            ZonesAlgorithm(),
            SummarizeAlgorithm(),
            AssessAlgorithm(),
            UcpAlgorithm(),
            AdaptAlgorithm(),
            CheckAreasAlgorithm(),
            ChangeAlgorithm(),
            DesignAlgorithm(),
            AssessSampleAlgorithm(),
        ):
            self.addAlgorithm(alg)

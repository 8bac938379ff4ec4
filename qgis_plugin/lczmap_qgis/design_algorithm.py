"""Area-adjusted accuracy in QGIS (Olofsson et al. 2014): "Draw LCZ accuracy sample" calls
``lczmap.maps.design_sample`` as ``lczmap design`` does; "Area-adjusted accuracy from a labelled
sample" calls ``lczmap.maps.assess_sample`` as ``lczmap assess MAP SAMPLE --design`` does."""

from pathlib import Path

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QCoreApplication

from . import bridge

_ALLOCATIONS = ("proportional", "equal", "neyman")  # lczmap.maps.design.ALLOCATIONS, in its order


def _allocations():
    if bridge.import_lczmap() is None:
        return _ALLOCATIONS
    from lczmap.maps.design import ALLOCATIONS

    return ALLOCATIONS


class _SampleAlgorithm(QgsProcessingAlgorithm):
    """The LCZ map input and the common parts of the two algorithms."""

    INPUT = "INPUT"
    OVERWRITE = "OVERWRITE"

    def tr(self, text):
        return QCoreApplication.translate("lczmap", text)

    def group(self):
        return ""

    def groupId(self):  # noqa: N802
        return ""

    def createInstance(self):  # noqa: N802
        return type(self)()

    def canExecute(self):  # noqa: N802
        if bridge.import_lczmap() is None:
            return False, bridge.missing_message()
        return True, ""

    def _lcz_path(self, parameters, context):
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None or layer.providerType() != "gdal":
            raise QgsProcessingException("the LCZ map must be a raster file GDAL reads (a GeoTIFF)")
        return layer.source().split("|")[0]

    def _add_overwrite(self):
        param = QgsProcessingParameterBoolean(self.OVERWRITE, self.tr("Replace existing outputs"), False)
        param.setFlags(param.flags() | param.FlagAdvanced)
        self.addParameter(param)


class DesignAlgorithm(_SampleAlgorithm):
    N = "N"
    ALLOCATION = "ALLOCATION"
    MIN_PER_CLASS = "MIN_PER_CLASS"
    ANTICIPATED = "ANTICIPATED"
    SEED = "SEED"
    OUTPUT = "OUTPUT"
    KML = "KML"
    POINTS = "POINTS"

    def name(self):
        return "design"

    def displayName(self):  # noqa: N802
        return self.tr("Draw LCZ accuracy sample")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "A stratified random sample of points from an LCZ map for area-adjusted accuracy and class "
            "areas (Olofsson et al. 2014): the strata are the map's classes, each point a random place in a "
            "random pixel of its class. Allocation: by area, equal, or Neyman (by area times "
            "sqrt(U(1-U)) with U the anticipated user's accuracy: 0.7 for LCZ 1-10, 0.85 for A-F, 0.95 for "
            "G unless given as CLASS=VALUE, e.g. '6=0.8 G=0.98'); every class gets at least the minimum.\n\n"
            "Outputs: a GeoPackage (layer 'sample' with an empty 'reference' field to fill with the class "
            "you see, the map class 'map_lcz' and the stratum sizes; table 'strata') and the same points as "
            "KML beside it for Google Earth. Label the points (hide 'map_lcz' to stay blind), then run "
            "'Area-adjusted accuracy from a labelled sample'.\n\n"
            "Same as `lczmap design LCZ OUT.gpkg`."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("LCZ map")))
        self.addParameter(
            QgsProcessingParameterNumber(
                self.N, self.tr("Points in all"), type=QgsProcessingParameterNumber.Integer, defaultValue=600, minValue=1
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(self.ALLOCATION, self.tr("Allocation"), options=list(_allocations()), defaultValue=0)
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.MIN_PER_CLASS,
                self.tr("Points per class at least"),
                type=QgsProcessingParameterNumber.Integer,
                defaultValue=50,
                minValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.ANTICIPATED, self.tr("Anticipated user's accuracies (Neyman): 0.8, or CLASS=VALUE ..."), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.SEED, self.tr("Random seed"), type=QgsProcessingParameterNumber.Integer, defaultValue=0
            )
        )
        self._add_overwrite()
        self.addParameter(
            QgsProcessingParameterFileDestination(self.OUTPUT, self.tr("Sample (GeoPackage)"), fileFilter="GeoPackage (*.gpkg)")
        )
        self.addOutput(QgsProcessingOutputVectorLayer(self.KML, self.tr("Sample as KML")))
        self.addOutput(QgsProcessingOutputNumber(self.POINTS, self.tr("Points drawn")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        lcz_path = self._lcz_path(parameters, context)
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        anticipated = (self.parameterAsString(parameters, self.ANTICIPATED, context) or "").split()
        with bridge.run_library(feedback):
            from lczmap.maps import design_sample
            from lczmap.maps.design import parse_anticipated

            drawn = design_sample(
                lcz_path,
                out,
                n=self.parameterAsInt(parameters, self.N, context),
                allocation=_allocations()[self.parameterAsEnum(parameters, self.ALLOCATION, context)],
                min_per_class=self.parameterAsInt(parameters, self.MIN_PER_CLASS, context),
                anticipated=parse_anticipated(anticipated),
                seed=self.parameterAsInt(parameters, self.SEED, context),
                overwrite=self.parameterAsBoolean(parameters, self.OVERWRITE, context),
                progress=bridge.progress_for(feedback),
            )
        for line in drawn.summary().splitlines():
            feedback.pushInfo(line)
        sample = f"{out}|layername=sample"
        bridge.load_on_completion(context, sample, f"LCZ accuracy sample ({Path(lcz_path).stem})")
        return {self.OUTPUT: out, self.KML: str(drawn.outputs["kml"]), self.POINTS: len(drawn.points)}


class AssessSampleAlgorithm(_SampleAlgorithm):
    SAMPLE = "SAMPLE"
    FIELD = "FIELD"
    OUTPUT = "OUTPUT"
    CSV = "CSV"
    FIGURE = "FIGURE"
    OA = "OA"

    def name(self):
        return "assess_sample"

    def displayName(self):  # noqa: N802
        return self.tr("Area-adjusted accuracy from a labelled sample")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Overall, user's and producer's accuracy and each class's area (km2 and share) with standard "
            "errors and 95 % confidence intervals, by the stratified estimators of Olofsson et al. (2014), "
            "from a sample 'Draw LCZ accuracy sample' drew from this map (GeoPackage or KML) with its "
            "'reference' field filled. Unlabelled points are left out; every class of the map needs labelled "
            "points.\n\n"
            "Outputs: JSON, a CSV table (one row per class) and a figure of the areas with their intervals "
            "beside the mapped areas.\n\n"
            "Same as `lczmap assess LCZ SAMPLE --design`."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("LCZ map")))
        self.addParameter(
            QgsProcessingParameterFile(
                self.SAMPLE,
                self.tr("Labelled sample (.gpkg or .kml)"),
                behavior=QgsProcessingParameterFile.File,
                fileFilter="Samples (*.gpkg *.kml)",
            )
        )
        self.addParameter(
            QgsProcessingParameterString(self.FIELD, self.tr("Reference field"), defaultValue="reference", optional=True)
        )
        self._add_overwrite()
        self.addParameter(
            QgsProcessingParameterFileDestination(self.OUTPUT, self.tr("Estimates (JSON)"), fileFilter="JSON files (*.json)")
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.CSV, self.tr("Table (CSV)"), fileFilter="CSV files (*.csv)", optional=True, createByDefault=False
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.FIGURE,
                self.tr("Areas with intervals (PNG or PDF)"),
                fileFilter="PNG files (*.png);;PDF files (*.pdf)",
                optional=True,
                createByDefault=False,
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.OA, self.tr("Overall accuracy")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        lcz_path = self._lcz_path(parameters, context)
        sample = self.parameterAsFile(parameters, self.SAMPLE, context)
        files = {
            key: (self.parameterAsFileOutput(parameters, key, context) or None) if parameters.get(key) not in (None, "") else None
            for key in (self.CSV, self.FIGURE)
        }
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        with bridge.run_library(feedback):
            from lczmap.maps import assess_sample

            result = assess_sample(
                lcz_path,
                sample,
                field=self.parameterAsString(parameters, self.FIELD, context) or None,
                json_path=out,
                csv_path=files[self.CSV],
                figure_path=files[self.FIGURE],
                overwrite=self.parameterAsBoolean(parameters, self.OVERWRITE, context),
                progress=bridge.progress_for(feedback),
            )
        for line in result.summary().splitlines():
            feedback.pushInfo(line)
        return {self.OUTPUT: out, self.CSV: files[self.CSV], self.FIGURE: files[self.FIGURE], self.OA: result.estimate.overall}

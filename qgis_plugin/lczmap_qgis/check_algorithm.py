"""The "Check LCZ training areas" algorithm: checks its parameters and calls
``lczmap.adapt.check_areas``, as ``lczmap check-areas`` does."""

import dataclasses
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from . import bridge
from .algorithms import _advanced, _layer_path, _LczmapAlgorithm


def _check_defaults():
    """The library's choices and defaults for the form; fallbacks where lczmap is missing, when
    the algorithm cannot run and says why."""
    if bridge.import_lczmap() is None:
        return {"scorers": ("head", "adapt"), "folds": 5, "ratio": 1.5, "mixed": 0.35, "min_pixels": 4}
    from lczmap.adapt.check import DEFAULT_FOLDS, DEFAULT_MIN_PIXELS, DEFAULT_MIXED, DEFAULT_RATIO, SCORERS

    return {
        "scorers": SCORERS,
        "folds": DEFAULT_FOLDS,
        "ratio": DEFAULT_RATIO,
        "mixed": DEFAULT_MIXED,
        "min_pixels": DEFAULT_MIN_PIXELS,
    }


class CheckAreasAlgorithm(_LczmapAlgorithm):
    MODEL = "MODEL"
    INPUT = "INPUT"
    TRAINING_AREAS = "TRAINING_AREAS"
    FIELD = "FIELD"
    SCORER = "SCORER"
    RATIO = "RATIO"
    MIXED = "MIXED"
    MIN_PIXELS = "MIN_PIXELS"
    FOLDS = "FOLDS"
    SEED = "SEED"
    OUTPUT = "OUTPUT"
    FLAGGED = "FLAGGED"
    POLYGONS = "POLYGONS"

    def name(self):
        return "check_areas"

    def displayName(self):  # noqa: N802
        return self.tr("Check LCZ training areas")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Flags suspicious LCZ training areas before adapting a model to them. Each polygon is scored by a "
            "model fitted on the other polygons (5-fold cross-validation by polygon, stratified by class), on "
            "the 100 m radar windows of the Sentinel-1 scene whose centre lies inside it, read as 'Predict LCZ "
            "map' reads the scene. Scorer 'head': a logistic regression per fold on what the lczmap model makes "
            "of each window (seconds); 'adapt': the adaptation's own SAR stage per fold (minutes).\n\n"
            "Flags, with the reason and a detail: 'another class' (a class at least the given ratio times as "
            "likely as the label: a polygon in the wrong folder), 'mixed classes' (the second class wins the "
            "given share of the windows: a polygon over two zones), 'off the scene' (outside the scene or over "
            "nodata), 'too small' (fewer than the given number of 100 m pixels).\n\n"
            "The output keeps every polygon with its own fields and geometry, plus flag, reason, detail, the "
            "predicted class and the mean probability of each class (p_<class>); open it next to the training "
            "areas and filter on 'flag'.\n\n"
            "Same as `lczmap check-areas MODEL SCENE TRAINING_AREAS -o OUT.gpkg`; then 'Adapt LCZ model to "
            "training areas'."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        defaults = _check_defaults()
        self._scorers = tuple(defaults["scorers"])
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL,
                self.tr("Model checkpoint"),
                behavior=QgsProcessingParameterFile.File,
                fileFilter="lczmap checkpoints (*.safetensors)",
            )
        )
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Sentinel-1 scene (VV and VH bands)")))
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.TRAINING_AREAS, self.tr("LCZ training areas (polygons)"), types=[QgsProcessing.TypeVectorPolygon]
            )
        )
        self.addParameter(
            QgsProcessingParameterField(
                self.FIELD,
                self.tr("Class field (default: the KML folders, else lcz, class, code, label or name)"),
                parentLayerParameterName=self.TRAINING_AREAS,
                optional=True,
            )
        )
        self.addParameter(QgsProcessingParameterEnum(self.SCORER, self.tr("Scorer"), options=list(self._scorers), defaultValue=0))
        self.addParameter(
            QgsProcessingParameterNumber(
                self.RATIO,
                self.tr("Flag 'another class' when a class is this many times as likely as the label"),
                type=QgsProcessingParameterNumber.Double,
                defaultValue=defaults["ratio"],
                minValue=1.01,
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.MIXED,
                    self.tr("Flag 'mixed classes' when the second class wins this share of the windows"),
                    type=QgsProcessingParameterNumber.Double,
                    defaultValue=defaults["mixed"],
                    minValue=0.01,
                    maxValue=0.5,
                )
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.MIN_PIXELS,
                    self.tr("Flag 'too small' below this many 100 m pixels"),
                    type=QgsProcessingParameterNumber.Integer,
                    defaultValue=defaults["min_pixels"],
                    minValue=1,
                )
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.FOLDS,
                    self.tr("Folds of the cross-validation by polygon"),
                    type=QgsProcessingParameterNumber.Integer,
                    defaultValue=defaults["folds"],
                    minValue=2,
                )
            )
        )
        self._add_units()
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.SEED, self.tr("Random seed"), type=QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0
                )
            )
        )
        self._add_device()
        self._add_overwrite()
        self.addParameter(
            QgsProcessingParameterVectorDestination(
                self.OUTPUT, self.tr("Checked training areas"), type=QgsProcessing.TypeVectorPolygon
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.FLAGGED, self.tr("Polygons flagged")))
        self.addOutput(QgsProcessingOutputNumber(self.POLYGONS, self.tr("Polygons checked")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        model = self.parameterAsFile(parameters, self.MODEL, context)
        scene = _layer_path(self.parameterAsRasterLayer(parameters, self.INPUT, context), "the scene")
        # memory layers and selections are exported to a file lczmap can read; a file keeps its folders
        areas, layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, self.TRAINING_AREAS, context, ["gpkg", "shp", "geojson", "kml", "fgb"], "gpkg", feedback
        )
        field = self.parameterAsString(parameters, self.FIELD, context) or None
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with bridge.run_library(feedback):
            from lczmap.adapt import CheckOptions, check_areas
            from lczmap.predict import PredictOptions

            options = CheckOptions(
                folds=self.parameterAsInt(parameters, self.FOLDS, context),
                scorer=self._scorers[self.parameterAsEnum(parameters, self.SCORER, context)],
                ratio=self.parameterAsDouble(parameters, self.RATIO, context),
                mixed=self.parameterAsDouble(parameters, self.MIXED, context),
                min_pixels=self.parameterAsInt(parameters, self.MIN_PIXELS, context),
                adapt=dataclasses.replace(  # the check's own adaptation defaults (scorer adapt)
                    CheckOptions().adapt,
                    predict=PredictOptions(units=self._units(parameters, context)),
                    seed=self.parameterAsInt(parameters, self.SEED, context),
                    device=self._device(parameters, context),
                    field=field,
                    layer=layer or None,
                ),
                overwrite=self._overwrite(parameters, context),
            )
            result = check_areas(model, scene, areas, out, options=options, progress=bridge.progress_for(feedback))
        for line in [*result.table().splitlines(), result.summary()]:
            feedback.pushInfo(line)
        bridge.load_on_completion(context, out, f"Checked training areas ({Path(str(areas)).stem})")
        return {self.OUTPUT: out, self.FLAGGED: int(result.frame["flag"].sum()), self.POLYGONS: len(result.frame)}

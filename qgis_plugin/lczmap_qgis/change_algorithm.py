"""The "LCZ change over the years" algorithm: checks its parameters and calls
``lczmap.change.detect_change``, as ``lczmap change`` does."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from . import bridge
from .algorithms import _advanced, _layer_path, _LczmapAlgorithm


def _defaults():
    """The library's defaults (``lczmap.change.options`` loads without torch)."""
    if bridge.import_lczmap() is None:
        return {"stay": 0.3, "built_to_natural": 0.1}
    from lczmap.change.options import DEFAULT_BUILT_TO_NATURAL, DEFAULT_STAY

    return {"stay": DEFAULT_STAY, "built_to_natural": DEFAULT_BUILT_TO_NATURAL}


class ChangeAlgorithm(_LczmapAlgorithm):
    INPUT = "INPUT"
    DATES = "DATES"
    STAY = "STAY"
    BUILT_TO_NATURAL = "BUILT_TO_NATURAL"
    OUTPUT = "OUTPUT"
    CHANGE = "CHANGE"
    PROBABILITY = "PROBABILITY"
    TABLE = "TABLE"
    CHANGED = "CHANGED"

    def name(self):
        return "change"

    def displayName(self):  # noqa: N802
        return self.tr("LCZ change over the years")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Temporally consistent LCZ maps and what changed, from class-probability rasters (one per year or "
            "season, in time order, on one grid: 'Predict LCZ map' or 'Mosaic LCZ map from many scenes' with "
            "probabilities).\n\n"
            "A hidden Markov model per pixel: change is rare (the probability to keep a class from one date to "
            "the next), a built class turning natural rarer still. The maps are the most probable class "
            "sequence (Viterbi); the probability that any change happened comes from forward-backward.\n\n"
            "Outputs in the folder: lcz_<date>.tif (styled), change.tif (bands transition, from, to, date, "
            "changes; styled from-to by change.qml), change_probability.tif and transitions.csv (areas).\n\n"
            "Same as `lczmap change PROB_1 PROB_2 ... -o OUT_DIR`."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        d = _defaults()
        self.addParameter(
            QgsProcessingParameterMultipleLayers(
                self.INPUT, self.tr("Class-probability rasters, in time order"), layerType=QgsProcessing.TypeRaster
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.DATES, self.tr("Labels of the dates, comma-separated (default: the file names)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.STAY,
                self.tr("Probability to keep a class from one date to the next"),
                type=QgsProcessingParameterNumber.Double,
                defaultValue=d["stay"],
                minValue=0.0,
                maxValue=1.0,
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.BUILT_TO_NATURAL,
                    self.tr("Weight of built turning natural against other changes"),
                    type=QgsProcessingParameterNumber.Double,
                    defaultValue=d["built_to_natural"],
                    minValue=0.0,
                )
            )
        )
        self._add_overwrite()
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT, self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputRasterLayer(self.CHANGE, self.tr("Change layer")))
        self.addOutput(QgsProcessingOutputRasterLayer(self.PROBABILITY, self.tr("Probability of change")))
        self.addOutput(QgsProcessingOutputFile(self.TABLE, self.tr("Transition table")))
        self.addOutput(QgsProcessingOutputNumber(self.CHANGED, self.tr("Pixels that changed")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layers = self.parameterAsLayerList(parameters, self.INPUT, context) or []
        paths = [_layer_path(layer, "a probability raster") for layer in layers]
        if len(paths) < 2:
            raise QgsProcessingException("give two or more class-probability rasters, in time order")
        text = self.parameterAsString(parameters, self.DATES, context)
        dates = [s.strip() for s in text.split(",")] if text and text.strip() else None
        out = self.parameterAsString(parameters, self.OUTPUT, context)
        with bridge.run_library(feedback):
            from lczmap.change import ChangeOptions, detect_change

            options = ChangeOptions(
                stay=self.parameterAsDouble(parameters, self.STAY, context),
                built_to_natural=self.parameterAsDouble(parameters, self.BUILT_TO_NATURAL, context),
                overwrite=self._overwrite(parameters, context),
            )
            result = detect_change(paths, out, dates=dates, options=options, progress=bridge.progress_for(feedback))
        for path, date in zip(result.maps, result.dates):
            bridge.load_on_completion(context, path, f"LCZ {date}", path.with_suffix(".qml"))
        bridge.load_on_completion(context, result.change, "LCZ change", result.change.with_suffix(".qml"))
        bridge.load_on_completion(context, result.probability, "LCZ change: probability")
        feedback.pushInfo(
            f"{result.change.parent}: {result.changed} of {result.pixels} pixels changed over {len(result.dates)} dates "
            f"in {result.seconds:.1f} s"
        )
        return {
            self.OUTPUT: str(result.change.parent),
            self.CHANGE: str(result.change),
            self.PROBABILITY: str(result.probability),
            self.TABLE: str(result.table),
            self.CHANGED: result.changed,
        }

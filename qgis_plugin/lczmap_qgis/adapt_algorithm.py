"""The "Adapt LCZ model to training areas" algorithm: checks its parameters and calls
``lczmap.adapt.adapt_model``, as ``lczmap adapt`` does; without training areas it adapts without
labels (swd-eo), as ``lczmap adapt MODEL SCENE -o OUT`` does."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from . import bridge
from .algorithms import _advanced, _layer_path, _LczmapAlgorithm, _output


def _adapt_defaults():
    """The library's choices and defaults for the form (``lczmap.adapt.options`` loads without
    torch); fallbacks where lczmap is missing, when the algorithm cannot run and says why."""
    if bridge.import_lczmap() is None:
        return {"methods": ("finetune", "swd", "swd-eo"), "epochs": None, "bootstrap": None, "scene_patches": None}
    from lczmap.adapt.options import ADAPT_METHODS, DEFAULT_BOOTSTRAP, DEFAULT_EPOCHS, DEFAULT_SCENE_PATCHES

    return {
        "methods": ADAPT_METHODS,
        "epochs": DEFAULT_EPOCHS,
        "bootstrap": DEFAULT_BOOTSTRAP,
        "scene_patches": DEFAULT_SCENE_PATCHES,
    }


class AdaptAlgorithm(_LczmapAlgorithm):
    MODEL = "MODEL"
    INPUT = "INPUT"
    TRAINING_AREAS = "TRAINING_AREAS"
    FIELD = "FIELD"
    METHOD = "METHOD"
    EPOCHS = "EPOCHS"
    HOLDOUT = "HOLDOUT"
    BOOTSTRAP = "BOOTSTRAP"
    SEED = "SEED"
    SCENE_PATCHES = "SCENE_PATCHES"
    EO_DATA = "EO_DATA"
    OUTPUT = "OUTPUT"
    HOLDOUT_LAYER = "HOLDOUT_LAYER"
    PATCHES = "PATCHES"
    OA_BASE = "OA_BASE"
    OA_ADAPTED = "OA_ADAPTED"

    def name(self):
        return "adapt"

    def displayName(self):  # noqa: N802
        return self.tr("Adapt LCZ model to training areas")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Adapts a model trained by lczmap (.safetensors) to one Sentinel-1 scene of a city with LCZ "
            "training areas: polygons of homogeneous LCZ, as the LCZ Generator takes them (its KML "
            "template with one folder per class, given as the file, or any polygon layer with a class "
            "field coded 1-17, 101-107 for A-G, letters or 'LCZ x'; any CRS).\n\n"
            "The 100 m pixels whose centre lies in a polygon give labelled radar patches, read as "
            "'Predict LCZ map' reads the scene; the rest of the scene gives unlabelled ones. The SAR stage "
            "of 'swd' (SWD transfer to the model's embedding) or 'finetune' runs from the model; classes "
            "without training areas stay as the model had them. The new model records the scene, the "
            "training areas and the patches per class.\n\n"
            "With a held-out share, that share of each class's polygons is kept out of the adaptation and "
            "both models are scored on them (OA, OAu, OAbu, OAw, kappa with bootstrap intervals, in the "
            "log).\n\n"
            "Without training areas the model is adapted without labels (method swd-eo, whatever the Method "
            "field says): the scene's own patches are aligned to the EO reference the model carries, its "
            "batch-norm statistics re-estimated on the scene, and a stopping rule that needs no labels keeps "
            "the best epoch (in the log). A model written before checkpoints carried the EO reference needs "
            "the So2Sat folder it was trained on (Advanced). On the twin the gain comes from the batch-norm "
            "re-estimate; training areas lift a map far more.\n\n"
            "Same as `lczmap adapt MODEL SCENE [TRAINING_AREAS] -o OUT`; then map with 'Predict LCZ map'."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        defaults = _adapt_defaults()
        self._methods = tuple(defaults["methods"])
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
                self.TRAINING_AREAS,
                self.tr("LCZ training areas (polygons; none: adapt without labels)"),
                types=[QgsProcessing.TypeVectorPolygon],
                optional=True,
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
        self.addParameter(QgsProcessingParameterEnum(self.METHOD, self.tr("Method"), options=list(self._methods), defaultValue=0))
        self.addParameter(
            QgsProcessingParameterNumber(
                self.EPOCHS,
                self.tr("SAR-stage epochs"),
                type=QgsProcessingParameterNumber.Integer,
                defaultValue=defaults["epochs"],
                minValue=1,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.HOLDOUT,
                self.tr("Share of each class's polygons held out for scoring (0: none)"),
                type=QgsProcessingParameterNumber.Double,
                defaultValue=0.0,
                minValue=0.0,
                maxValue=0.9,
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.BOOTSTRAP,
                    self.tr("Bootstrap draws over the held-out polygons"),
                    type=QgsProcessingParameterNumber.Integer,
                    defaultValue=defaults["bootstrap"],
                    minValue=0,
                )
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.SCENE_PATCHES,
                    self.tr("Scene patches drawn without training areas"),
                    type=QgsProcessingParameterNumber.Integer,
                    defaultValue=defaults["scene_patches"],
                    minValue=1,
                )
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterFile(
                    self.EO_DATA,
                    self.tr("So2Sat folder the model was trained on (a model without EO reference, no training areas)"),
                    behavior=QgsProcessingParameterFile.Folder,
                    optional=True,
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
            QgsProcessingParameterFileDestination(
                self.OUTPUT, self.tr("Adapted model"), fileFilter="lczmap checkpoints (*.safetensors)"
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorDestination(
                self.HOLDOUT_LAYER,
                self.tr("Held-out polygons (for 'Assess LCZ map accuracy')"),
                type=QgsProcessing.TypeVectorPolygon,
                optional=True,
                createByDefault=False,
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.PATCHES, self.tr("Labelled patches used")))
        self.addOutput(QgsProcessingOutputNumber(self.OA_BASE, self.tr("OA of the model on the held-out polygons")))
        self.addOutput(QgsProcessingOutputNumber(self.OA_ADAPTED, self.tr("OA of the adapted model on them")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        model = self.parameterAsFile(parameters, self.MODEL, context)
        scene = _layer_path(self.parameterAsRasterLayer(parameters, self.INPUT, context), "the scene")
        areas, layer = None, None
        if parameters.get(self.TRAINING_AREAS) not in (None, ""):
            # memory layers and selections are exported to a file lczmap can read; a file keeps its folders
            areas, layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
                parameters, self.TRAINING_AREAS, context, ["gpkg", "shp", "geojson", "kml", "fgb"], "gpkg", feedback
            )
        method = self._methods[self.parameterAsEnum(parameters, self.METHOD, context)]
        if not areas:
            areas, layer, method = None, None, "swd-eo"
            feedback.pushInfo("no training areas: adapting without labels (swd-eo)")
        eo_data = self.parameterAsFile(parameters, self.EO_DATA, context) or None
        field = self.parameterAsString(parameters, self.FIELD, context) or None
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        held_layer = _output(self, parameters, self.HOLDOUT_LAYER, context)
        with bridge.run_library(feedback):
            from lczmap.adapt import AdaptOptions, adapt_model
            from lczmap.predict import PredictOptions

            options = AdaptOptions(
                method=method,
                sar_epochs=self.parameterAsInt(parameters, self.EPOCHS, context),
                scene_patches=self.parameterAsInt(parameters, self.SCENE_PATCHES, context),
                eo_data=eo_data,
                holdout=self.parameterAsDouble(parameters, self.HOLDOUT, context),
                bootstrap=self.parameterAsInt(parameters, self.BOOTSTRAP, context),
                predict=PredictOptions(units=self._units(parameters, context)),
                seed=self.parameterAsInt(parameters, self.SEED, context),
                device=self._device(parameters, context),
                field=field,
                layer=layer or None,
                overwrite=self._overwrite(parameters, context),
            )
            result = adapt_model(
                model, scene, areas, out, options=options, holdout_layer=held_layer, progress=bridge.progress_for(feedback)
            )
        table = result.table().splitlines() if areas is not None else []
        for line in [*table, *result.summary().splitlines()]:
            feedback.pushInfo(line)
        if held_layer is not None:
            bridge.load_on_completion(context, held_layer, "LCZ held-out training areas")
        scores = result.scores or {}
        return {
            self.OUTPUT: str(result.checkpoint),
            self.HOLDOUT_LAYER: held_layer,
            self.PATCHES: result.n_labelled,
            self.OA_BASE: scores["base"].scores["OA"] if scores else None,
            self.OA_ADAPTED: scores["adapted"].scores["OA"] if scores else None,
        }

"""The Processing algorithms. Each checks its parameters and calls ONE lczmap function.

Outputs go through lczmap's own writers (atomic, styled): the LCZ raster gets its colour table,
category names and a ``.qml`` beside it; zone layers get ``<name>.qml``. When run from the
toolbox, Processing adds the outputs to the project, named, with those styles applied.
"""

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)
from qgis.PyQt.QtCore import QCoreApplication

from . import bridge


def _advanced(param):
    param.setFlags(param.flags() | param.FlagAdvanced)
    return param


def _layer_path(layer, what):
    """The file (or GDAL URL) behind a raster layer; only GDAL-readable layers qualify."""
    if layer is None:
        return None
    if layer.providerType() != "gdal":
        raise QgsProcessingException(
            f"{what} '{layer.name()}' is not a file GDAL reads ({layer.providerType()} layer): export it to GeoTIFF first"
        )
    return layer.source().split("|")[0]


def _output(alg, parameters, name, context):
    """Path of an optional file output, or None where the user skipped it."""
    if parameters.get(name) in (None, ""):
        return None
    return alg.parameterAsOutputLayer(parameters, name, context) or None


def _predict_defaults():
    """The library's defaults for the predict form (``lczmap.predict.options`` loads without torch,
    so QGIS starts fast); None where lczmap is missing, when the algorithm cannot run anyway and
    says why."""
    if bridge.import_lczmap() is None:
        return {"stride": None, "max_nodata": None}
    from lczmap.predict.options import DEFAULT_MAX_NODATA, DEFAULT_STRIDE

    return {"stride": DEFAULT_STRIDE, "max_nodata": DEFAULT_MAX_NODATA}


class _LczmapAlgorithm(QgsProcessingAlgorithm):
    """Common parts: group, help, the lczmap import check, the overwrite switch, and the units and
    device choices of the algorithms that read a scene."""

    OVERWRITE = "OVERWRITE"
    UNITS = "UNITS"
    DEVICE = "DEVICE"
    UNIT_CHOICES = (None, "linear", "db")
    DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")

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

    def _add_overwrite(self):
        self.addParameter(_advanced(QgsProcessingParameterBoolean(self.OVERWRITE, self.tr("Replace existing outputs"), False)))

    def _overwrite(self, parameters, context):
        return self.parameterAsBoolean(parameters, self.OVERWRITE, context)

    def _add_units(self):
        self.addParameter(
            QgsProcessingParameterEnum(
                self.UNITS,
                self.tr("Units of the intensity bands"),
                options=[self.tr("From the file (else linear)"), self.tr("Linear power"), self.tr("dB")],
                defaultValue=0,
            )
        )

    def _add_device(self):
        self.addParameter(
            _advanced(
                QgsProcessingParameterEnum(
                    self.DEVICE, self.tr("Compute device"), options=list(self.DEVICE_CHOICES), defaultValue=0
                )
            )
        )

    def _units(self, parameters, context):
        return self.UNIT_CHOICES[self.parameterAsEnum(parameters, self.UNITS, context)]

    def _device(self, parameters, context):
        return self.DEVICE_CHOICES[self.parameterAsEnum(parameters, self.DEVICE, context)]


class PredictAlgorithm(_LczmapAlgorithm):
    INPUT = "INPUT"
    VV = "VV"
    VH = "VH"
    MODEL = "MODEL"
    STRIDE = "STRIDE"
    MAX_NODATA = "MAX_NODATA"
    RESUME = "RESUME"
    OUTPUT = "OUTPUT"
    CONFIDENCE = "CONFIDENCE"
    PROBABILITIES = "PROBABILITIES"
    FILTERED = "FILTERED"
    LAYOUT = "PRODUCT"  # the Processing id stays PRODUCT: saved models and scripts keep working
    OUT_CODES = "OUT_CODES"
    LAYOUT_CHOICES = ("lcz", "lcz-generator")
    OUT_CODE_CHOICES = ("1-17", "101-107")

    def name(self):
        return "predict"

    def displayName(self):  # noqa: N802
        return self.tr("Predict LCZ map")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Maps a Sentinel-1 scene to Local Climate Zones with a model trained by lczmap "
            "(a .safetensors checkpoint from `lczmap train`).\n\n"
            "Give one raster holding VV and VH (band descriptions 'VV'/'VH'), or one file per "
            "polarisation. Intensities may be linear or dB ('Units'; default: the file's unit tag, "
            "else linear). Pixels must be 10 m.\n\n"
            "Output: an LCZ GeoTIFF (codes 1-17, A-G = 11-17, nodata 0, 100 m at stride 10) with the "
            "WUDAPT colours and class names; optionally the confidence (top-class probability), "
            "per-class probabilities and a spatially filtered LCZ map.\n\n"
            "'Output layout' LCZ Generator writes the WUDAPT LCZ Generator's three bands instead: lcz (raw), "
            "lczFilter (filtered, the recommended layer, shown by the style) and classProbability (%), "
            "named so that w2w and LCZ4r pick the filtered band. 'Coding of LCZ A-G' 101-107 writes A-G "
            "as the LCZ Generator's training areas, GeoClimate and UMEP code them.\n\n"
            "Same as `lczmap predict SCENE OUT`."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Sentinel-1 scene (VV and VH bands)"), optional=True)
        )
        self.addParameter(QgsProcessingParameterRasterLayer(self.VV, self.tr("VV file (instead of one scene)"), optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(self.VH, self.tr("VH file (instead of one scene)"), optional=True))
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL,
                self.tr("Model checkpoint (default: $LCZMAP_MODEL, else the last model trained)"),
                behavior=QgsProcessingParameterFile.File,
                fileFilter="lczmap checkpoints (*.safetensors)",
                optional=True,
            )
        )
        self._add_units()
        defaults = _predict_defaults()
        self.addParameter(
            QgsProcessingParameterNumber(
                self.STRIDE,
                self.tr("Output pixel size, in input pixels (10 = 100 m)"),
                type=QgsProcessingParameterNumber.Integer,
                defaultValue=defaults["stride"],
                minValue=1,
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.MAX_NODATA,
                    self.tr("Largest nodata share of a window that is still classified"),
                    type=QgsProcessingParameterNumber.Double,
                    defaultValue=defaults["max_nodata"],
                    minValue=0.0,
                    maxValue=1.0,
                )
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.LAYOUT,
                self.tr("Output layout"),
                options=[self.tr("LCZ map (one band)"), self.tr("LCZ Generator (lcz, lczFilter, classProbability)")],
                defaultValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.OUT_CODES,
                self.tr("Coding of LCZ A-G in the outputs"),
                options=[
                    self.tr("11-17 (lczmap, global LCZ map)"),
                    self.tr("101-107 (LCZ Generator training areas, GeoClimate, UMEP)"),
                ],
                defaultValue=0,
            )
        )
        self._add_device()
        self.addParameter(_advanced(QgsProcessingParameterBoolean(self.RESUME, self.tr("Continue an interrupted run"), False)))
        self._add_overwrite()
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("LCZ map")))
        for name, label in (
            (self.CONFIDENCE, "Confidence"),
            (self.PROBABILITIES, "Class probabilities"),
            (self.FILTERED, "Filtered LCZ map"),
        ):
            self.addParameter(QgsProcessingParameterRasterDestination(name, self.tr(label), optional=True, createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        scene = _layer_path(self.parameterAsRasterLayer(parameters, self.INPUT, context), "the scene")
        vv = _layer_path(self.parameterAsRasterLayer(parameters, self.VV, context), "the VV layer")
        vh = _layer_path(self.parameterAsRasterLayer(parameters, self.VH, context), "the VH layer")
        if scene is None and vv is None and vh is None:
            raise QgsProcessingException("no scene given: choose a Sentinel-1 scene, or VV and VH files")
        if scene is not None and (vv is not None or vh is not None):
            raise QgsProcessingException("give either one scene or VV/VH files, not both: clear one of them")
        model = self.parameterAsFile(parameters, self.MODEL, context) or None
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        extras = {key: _output(self, parameters, key, context) for key in (self.CONFIDENCE, self.PROBABILITIES, self.FILTERED)}
        with bridge.run_library(feedback):
            from lczmap.predict import PredictOptions, predict_scene

            options = PredictOptions(
                units=self._units(parameters, context),
                stride=self.parameterAsInt(parameters, self.STRIDE, context),
                max_nodata=self.parameterAsDouble(parameters, self.MAX_NODATA, context),
                device=self._device(parameters, context),
                resume=self.parameterAsBoolean(parameters, self.RESUME, context),
                overwrite=self._overwrite(parameters, context),
                layout=self.LAYOUT_CHOICES[self.parameterAsEnum(parameters, self.LAYOUT, context)],
                codes=self.OUT_CODE_CHOICES[self.parameterAsEnum(parameters, self.OUT_CODES, context)],
            )
            result = predict_scene(
                scene,
                out,
                model,
                vv=vv,
                vh=vh,
                probabilities=extras[self.PROBABILITIES],
                confidence=extras[self.CONFIDENCE],
                filtered=extras[self.FILTERED],
                options=options,
                progress=bridge.progress_for(feedback),
            )
        stem = Path(scene or vv or vh).stem
        results = {self.OUTPUT: str(result.out)}
        bridge.load_on_completion(context, result.out, f"LCZ map ({stem})", Path(result.out).with_suffix(".qml"))
        for key, path, label, styled in (
            (self.CONFIDENCE, result.confidence, "LCZ confidence", False),
            (self.PROBABILITIES, result.probabilities, "LCZ probabilities", False),
            (self.FILTERED, result.filtered, "LCZ map, filtered", True),
        ):
            results[key] = str(path) if path is not None else None
            if path is not None:
                bridge.load_on_completion(context, path, f"{label} ({stem})", Path(path).with_suffix(".qml") if styled else None)
        feedback.pushInfo(
            f"{result.out}: {result.shape[0]} x {result.shape[1]} LCZ pixels, "
            f"{result.n_windows} windows in {result.seconds:.1f} s"
        )
        return results


class _LczInputAlgorithm(_LczmapAlgorithm):
    """Algorithms that read an LCZ raster of any product (lczmap's, or A-G coded 101-107)."""

    INPUT = "INPUT"
    CODES = "CODES"
    NODATA = "NODATA"
    CODE_CHOICES = ("auto", "1-17", "101-107")

    def _add_lcz_input(self):
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("LCZ map")))
        self.addParameter(
            _advanced(
                QgsProcessingParameterEnum(
                    self.CODES,
                    self.tr("Coding of LCZ A-G"),
                    options=[
                        self.tr("Decide from the values"),
                        self.tr("11-17 (lczmap, global LCZ map)"),
                        self.tr("101-107 (some LCZ Generator outputs)"),
                    ],
                    defaultValue=0,
                )
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.NODATA,
                    self.tr("No-data value (default: the raster's own; 0 always counts as no data)"),
                    type=QgsProcessingParameterNumber.Double,
                    optional=True,
                )
            )
        )

    def _lcz_input(self, parameters, context):
        path = _layer_path(self.parameterAsRasterLayer(parameters, self.INPUT, context), "the LCZ map")
        codes = self.CODE_CHOICES[self.parameterAsEnum(parameters, self.CODES, context)]
        nodata = parameters.get(self.NODATA)
        nodata = None if nodata in (None, "") else self.parameterAsDouble(parameters, self.NODATA, context)
        return path, codes, nodata


class ZonesAlgorithm(_LczInputAlgorithm):
    MIN_AREA = "MIN_AREA"
    CONFIDENCE = "CONFIDENCE"
    OUTPUT = "OUTPUT"

    def name(self):
        return "zones"

    def displayName(self):  # noqa: N802
        return self.tr("LCZ zones")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Turns an LCZ map into polygons (zones), after dissolving patches smaller than the "
            "minimum area into their largest neighbour. Each zone carries its LCZ code, label, name, "
            "colour, pixel count, area in m2 and, given a confidence or probability raster on the "
            "same grid, its mean confidence. The layer is styled with the LCZ colours.\n\n"
            "Same as `lczmap zones LCZ OUT`."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self._add_lcz_input()
        self.addParameter(
            QgsProcessingParameterNumber(
                self.MIN_AREA,
                self.tr("Minimum zone area (m2; 0 keeps every pixel)"),
                type=QgsProcessingParameterNumber.Double,
                defaultValue=0.0,
                minValue=0.0,
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.CONFIDENCE, self.tr("Confidence or probabilities (same grid)"), optional=True)
        )
        self._add_overwrite()
        self.addParameter(
            QgsProcessingParameterVectorDestination(self.OUTPUT, self.tr("LCZ zones"), type=QgsProcessing.TypeVectorPolygon)
        )

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        lcz_path, codes, nodata = self._lcz_input(parameters, context)
        confidence = _layer_path(self.parameterAsRasterLayer(parameters, self.CONFIDENCE, context), "the confidence layer")
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with bridge.run_library(feedback):
            from lczmap.zones import zones

            result = zones(
                lcz_path,
                out,
                min_area=self.parameterAsDouble(parameters, self.MIN_AREA, context),
                confidence=confidence,
                codes=codes,
                nodata=nodata,
                overwrite=self._overwrite(parameters, context),
                progress=bridge.progress_for(feedback),
            )
        bridge.load_on_completion(context, result.path, f"LCZ zones ({Path(lcz_path).stem})", result.style)
        feedback.pushInfo(f"{result.path}: {result.zones} zones (patches under {result.min_pixels} pixels dissolved)")
        return {self.OUTPUT: str(result.path)}


class SummarizeAlgorithm(_LczInputAlgorithm):
    POLYGONS = "POLYGONS"
    OUTPUT = "OUTPUT"
    CSV = "CSV"

    def name(self):
        return "summarize"

    def displayName(self):  # noqa: N802
        return self.tr("Summarize LCZ by polygons")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "For each polygon (district) of a layer in any CRS: its area, the share of its area in "
            "each LCZ class (lcz_1 ... lcz_10, lcz_A ... lcz_G; edge pixels weighted by the part "
            "inside), the no-data share and the dominant class (dominant, dom_label, dom_name). "
            "The layer is styled by its dominant class.\n\n"
            "Same as `lczmap summarize LCZ --by POLYGONS OUT`."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self._add_lcz_input()
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.POLYGONS, self.tr("Polygons (districts)"), types=[QgsProcessing.TypeVectorPolygon]
            )
        )
        self._add_overwrite()
        self.addParameter(
            QgsProcessingParameterVectorDestination(self.OUTPUT, self.tr("LCZ summary"), type=QgsProcessing.TypeVectorPolygon)
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.CSV, self.tr("Also as a table (CSV)"), fileFilter="CSV files (*.csv)", optional=True, createByDefault=False
            )
        )

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        lcz_path, codes, nodata = self._lcz_input(parameters, context)
        # Memory layers, selections and database layers are exported to a file lczmap can read.
        by, layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, self.POLYGONS, context, ["gpkg", "shp", "geojson", "fgb"], "gpkg", feedback
        )
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        csv = None
        if parameters.get(self.CSV) not in (None, ""):
            csv = self.parameterAsFileOutput(parameters, self.CSV, context) or None
        with bridge.run_library(feedback):
            from lczmap.zones import summarize, zones_qml

            summarize(
                lcz_path,
                out,
                by=by,
                layer=layer or None,
                codes=codes,
                nodata=nodata,
                csv_path=csv,
                overwrite=self._overwrite(parameters, context),
                progress=bridge.progress_for(feedback),
            )
            style = zones_qml("dominant")
        bridge.load_on_completion(context, out, f"LCZ summary ({Path(lcz_path).stem})", qml_text=style)
        return {self.OUTPUT: out, self.CSV: csv}


def _maps_defaults():
    """The library's defaults for the forms of the map algorithms; None where lczmap is missing
    (the algorithm cannot run then and says why)."""
    if bridge.import_lczmap() is None:
        return {"draws": None}
    from lczmap.maps import DEFAULT_DRAWS

    return {"draws": DEFAULT_DRAWS}


class AssessAlgorithm(_LczInputAlgorithm):
    REFERENCE = "REFERENCE"
    FIELD = "FIELD"
    AGAINST = "AGAINST"
    DRAWS = "DRAWS"
    SEED = "SEED"
    OUTPUT = "OUTPUT"
    CSV = "CSV"
    FIGURE = "FIGURE"
    AGREEMENT = "UNITS"  # the Processing id stays UNITS: saved models and scripts keep working
    OA = "OA"
    KAPPA = "KAPPA"

    def name(self):
        return "assess"

    def displayName(self):  # noqa: N802
        return self.tr("Assess LCZ map accuracy")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Accuracy of an LCZ map against reference polygons or points (any CRS; a class field coded "
            "1-17, 101-107 for A-G, letters or 'LCZ x'), as the LCZ Generator reports it: OA, OAu (urban "
            "classes), OAbu (built vs natural), OAw (weighted by class similarity, Bechtel et al. 2017) and "
            "kappa, per-class precision, recall and F1, with bootstrap intervals over the reference units.\n\n"
            "Or, instead of reference data, another LCZ map: agreement on the union of both extents, the "
            "other map resampled onto the map's grid by nearest neighbour.\n\n"
            "Outputs: JSON, a CSV table, the confusion matrix as PNG/PDF and the reference units with their "
            "agreement (open the ones with low 'agree' to check them).\n\n"
            "Same as `lczmap assess LCZ REFERENCE` (or `--against OTHER`)."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self._add_lcz_input()
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.REFERENCE,
                self.tr("Reference polygons or points"),
                types=[QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint],
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterField(
                self.FIELD,
                self.tr("Class field (default: lcz, class, code, label or name)"),
                parentLayerParameterName=self.REFERENCE,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.AGAINST, self.tr("Or: another LCZ map to compare with"), optional=True)
        )
        defaults = _maps_defaults()
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.DRAWS,
                    self.tr("Bootstrap draws over the reference units (0: none)"),
                    type=QgsProcessingParameterNumber.Integer,
                    defaultValue=defaults["draws"],
                    minValue=0,
                )
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.SEED, self.tr("Random seed"), type=QgsProcessingParameterNumber.Integer, defaultValue=0
                )
            )
        )
        self._add_overwrite()
        self.addParameter(
            QgsProcessingParameterFileDestination(self.OUTPUT, self.tr("Assessment (JSON)"), fileFilter="JSON files (*.json)")
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.CSV, self.tr("Scores table (CSV)"), fileFilter="CSV files (*.csv)", optional=True, createByDefault=False
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.FIGURE,
                self.tr("Confusion matrix (PNG or PDF)"),
                fileFilter="PNG files (*.png);;PDF files (*.pdf)",
                optional=True,
                createByDefault=False,
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorDestination(
                self.AGREEMENT, self.tr("Reference units with their agreement"), optional=True, createByDefault=False
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.OA, self.tr("Overall accuracy (OA)")))
        self.addOutput(QgsProcessingOutputNumber(self.KAPPA, self.tr("Kappa")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        lcz_path, codes, nodata = self._lcz_input(parameters, context)
        reference = layer = None
        if parameters.get(self.REFERENCE) not in (None, ""):
            reference, layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
                parameters, self.REFERENCE, context, ["gpkg", "shp", "geojson", "fgb"], "gpkg", feedback
            )
        against = _layer_path(self.parameterAsRasterLayer(parameters, self.AGAINST, context), "the other LCZ map")
        field = self.parameterAsString(parameters, self.FIELD, context) or None
        files = {
            key: (self.parameterAsFileOutput(parameters, key, context) or None) if parameters.get(key) not in (None, "") else None
            for key in (self.CSV, self.FIGURE)
        }
        agreement = _output(self, parameters, self.AGREEMENT, context)
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        with bridge.run_library(feedback):
            from lczmap.maps import assess_map

            result = assess_map(
                lcz_path,
                reference,
                against=against,
                field=field,
                layer=layer or None,
                codes=codes,
                nodata=nodata,
                draws=self.parameterAsInt(parameters, self.DRAWS, context),
                seed=self.parameterAsInt(parameters, self.SEED, context),
                json_path=out,
                csv_path=files[self.CSV],
                figure_path=files[self.FIGURE],
                agreement_path=agreement,
                overwrite=self._overwrite(parameters, context),
                progress=bridge.progress_for(feedback),
            )
        for line in result.summary().splitlines():
            feedback.pushInfo(line)
        if agreement is not None:
            bridge.load_on_completion(context, agreement, f"LCZ reference agreement ({Path(lcz_path).stem})")
        return {
            self.OUTPUT: out,
            self.CSV: files[self.CSV],
            self.FIGURE: files[self.FIGURE],
            self.AGREEMENT: agreement,
            self.OA: result.scores["OA"],
            self.KAPPA: result.scores["kappa"],
        }


class UcpAlgorithm(_LczInputAlgorithm):
    VALUE = "VALUE"
    OUTPUT = "OUTPUT"
    VALUE_CHOICES = ("low", "mid", "high")

    def name(self):
        return "ucp"

    def displayName(self):  # noqa: N802
        return self.tr("Urban canopy parameters")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Per-pixel urban canopy parameters of an LCZ map from the tables of Stewart & Oke (2012): sky "
            "view factor, aspect ratio, building / impervious / pervious surface fraction (0-1), height of "
            "roughness elements (m), terrain roughness class, surface admittance, surface albedo and "
            "anthropogenic heat output. One float32 band per parameter, named; the low, mid or high figure "
            "of each published range.\n\n"
            "Same as `lczmap ucp LCZ OUT.tif`."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self._add_lcz_input()
        self.addParameter(
            QgsProcessingParameterEnum(
                self.VALUE, self.tr("Figure of each range"), options=list(self.VALUE_CHOICES), defaultValue=1
            )
        )
        self._add_overwrite()
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Urban canopy parameters")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        lcz_path, codes, nodata = self._lcz_input(parameters, context)
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with bridge.run_library(feedback):
            from lczmap.maps import map_ucp

            result = map_ucp(
                lcz_path,
                out,
                value=self.VALUE_CHOICES[self.parameterAsEnum(parameters, self.VALUE, context)],
                codes=codes,
                nodata=nodata,
                overwrite=self._overwrite(parameters, context),
                progress=bridge.progress_for(feedback),
            )
        bridge.load_on_completion(context, result, f"Urban canopy parameters ({Path(lcz_path).stem})")
        return {self.OUTPUT: str(result)}

"""The "Mosaic LCZ map from many scenes" algorithm: checks its parameters and calls
``lczmap.mosaic.predict_mosaic``, as ``lczmap mosaic`` does. Tiles run in QGIS's own process
(a dask LocalCluster would start QGIS again as its workers)."""

from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from . import bridge
from .algorithms import PredictAlgorithm, _advanced, _layer_path, _LczmapAlgorithm, _predict_defaults


def _fusions():
    """The library's fusion choices (``lczmap.mosaic.options`` loads without torch)."""
    if bridge.import_lczmap() is None:
        return ("probability", "composite")
    from lczmap.mosaic.options import FUSIONS

    return FUSIONS


class MosaicAlgorithm(_LczmapAlgorithm):
    INPUT = "INPUT"
    FOLDER = "FOLDER"
    MODEL = "MODEL"
    FUSION = "FUSION"
    CRS = "CRS"
    RESOLUTION = "RESOLUTION"
    AOI = "AOI"
    ALIGN = "ALIGN"
    STRIDE = "STRIDE"
    SKIP_BAD = "SKIP_BAD"
    RESUME = "RESUME"
    LAYOUT = "LAYOUT"
    OUT_CODES = "OUT_CODES"
    OUTPUT = "OUTPUT"
    COUNT = "COUNT"
    FOOTPRINTS = "FOOTPRINTS"
    N_USED = "N_USED"

    def name(self):
        return "mosaic"

    def displayName(self):  # noqa: N802
        return self.tr("Mosaic LCZ map from many scenes")

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            "Maps every Sentinel-1 scene over an area onto ONE grid and fuses them into one LCZ map, with a "
            "model trained by lczmap (.safetensors).\n\n"
            "Give raster layers (VV and VH bands, 10 m) and/or a folder of scenes (GeoTIFFs, SAFE zips or "
            "folders, STAC Items). 'probability' fusion classifies each acquisition on its own and combines "
            "the class probabilities of all acquisitions covering a pixel (complete windows first: no seams "
            "at scene edges); 'composite' averages the dates of each relative orbit before classifying it "
            "once and fuses the orbits. Nodata of one acquisition is filled by the others.\n\n"
            "The grid: the scenes' own when they lie on one 10 m UTM grid (a mosaic of one scene is then "
            "'Predict LCZ map''s map of it), else the UTM zone of the area's centre or the CRS given "
            "(EPSG:4326: the global LCZ map's pixel grid); the area: the extent given, else the union of "
            "the footprints.\n\n"
            "Outputs: the LCZ map (styled), '<name>.count.tif' (acquisitions per pixel) and "
            "'<name>.footprints.gpkg' (one polygon per input: product id, date, pass, relative orbit, and "
            "why an input was left out).\n\n"
            "Same as `lczmap mosaic SCENE... OUT --workers 0`."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(
            QgsProcessingParameterMultipleLayers(
                self.INPUT, self.tr("Sentinel-1 scenes (VV and VH bands)"), layerType=QgsProcessing.TypeRaster, optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.FOLDER,
                self.tr("Folder of scenes (GeoTIFFs, SAFE zips or folders, STAC Items)"),
                behavior=QgsProcessingParameterFile.Folder,
                optional=True,
            )
        )
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
        self.addParameter(
            QgsProcessingParameterEnum(
                self.FUSION, self.tr("Fusion across acquisitions"), options=list(_fusions()), defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterExtent(self.AOI, self.tr("Area to map (default: the union of the footprints)"), optional=True)
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterCrs(
                    self.CRS,
                    self.tr("Output CRS (default: the scenes' own grid, else the UTM zone of the centre)"),
                    optional=True,
                )
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.RESOLUTION,
                    self.tr("Output pixel size in the CRS's units (default: 100 m)"),
                    type=QgsProcessingParameterNumber.Double,
                    optional=True,
                    minValue=0.0,
                )
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterBoolean(
                    self.ALIGN, self.tr("Anchor the grid at the CRS origin (neighbouring runs line up)"), False
                )
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterNumber(
                    self.STRIDE,
                    self.tr("Output pixel size, in input pixels (10 = 100 m)"),
                    type=QgsProcessingParameterNumber.Integer,
                    defaultValue=_predict_defaults()["stride"],
                    minValue=1,
                )
            )
        )
        self.addParameter(
            _advanced(
                QgsProcessingParameterBoolean(
                    self.SKIP_BAD, self.tr("Leave out scenes that fail to read (listed in the footprints)"), False
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
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("LCZ mosaic")))
        self.addOutput(QgsProcessingOutputRasterLayer(self.COUNT, self.tr("Acquisitions per pixel")))
        self.addOutput(QgsProcessingOutputVectorLayer(self.FOOTPRINTS, self.tr("Footprints of the inputs")))
        self.addOutput(QgsProcessingOutputNumber(self.N_USED, self.tr("Inputs that went into the map")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layers = self.parameterAsLayerList(parameters, self.INPUT, context) or []
        scenes = [_layer_path(layer, "a scene") for layer in layers]
        folder = self.parameterAsFile(parameters, self.FOLDER, context) or None
        if folder:
            scenes.append(folder)
        if not scenes:
            raise QgsProcessingException("no scene given: choose Sentinel-1 scene layers or a folder of scenes")
        model = self.parameterAsFile(parameters, self.MODEL, context) or None
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        aoi = None
        if parameters.get(self.AOI) not in (None, ""):
            wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
            r = self.parameterAsExtent(parameters, self.AOI, context, wgs84)
            if not r.isEmpty():
                aoi = (r.xMinimum(), r.yMinimum(), r.xMaximum(), r.yMaximum())
        crs = self.parameterAsCrs(parameters, self.CRS, context)
        resolution = parameters.get(self.RESOLUTION)
        resolution = self.parameterAsDouble(parameters, self.RESOLUTION, context) if resolution not in (None, "") else None
        with bridge.run_library(feedback):
            from lczmap.mosaic import MosaicOptions, predict_mosaic
            from lczmap.predict import PredictOptions

            options = MosaicOptions(
                predict=PredictOptions(
                    units=self._units(parameters, context),
                    stride=self.parameterAsInt(parameters, self.STRIDE, context),
                    device=self._device(parameters, context),
                    resume=self.parameterAsBoolean(parameters, self.RESUME, context),
                    overwrite=self._overwrite(parameters, context),
                    layout=PredictAlgorithm.LAYOUT_CHOICES[self.parameterAsEnum(parameters, self.LAYOUT, context)],
                    codes=PredictAlgorithm.OUT_CODE_CHOICES[self.parameterAsEnum(parameters, self.OUT_CODES, context)],
                ),
                fusion=_fusions()[self.parameterAsEnum(parameters, self.FUSION, context)],
                crs=crs.authid() if crs.isValid() else None,
                resolution=resolution or None,
                aoi=aoi,
                align=self.parameterAsBoolean(parameters, self.ALIGN, context),
                skip_bad=self.parameterAsBoolean(parameters, self.SKIP_BAD, context),
                workers=0,
            )
            result = predict_mosaic(scenes, out, model, options=options, progress=bridge.progress_for(feedback))
        for source, why in result.skipped:
            feedback.pushWarning(f"skipped {source}: {why}")
        bridge.load_on_completion(context, result.out, "LCZ mosaic", Path(result.out).with_suffix(".qml"))
        bridge.load_on_completion(context, result.count, "LCZ mosaic: acquisitions per pixel")
        bridge.load_on_completion(context, result.footprints, "LCZ mosaic: footprints")
        feedback.pushInfo(
            f"{result.out}: {result.shape[0]} x {result.shape[1]} LCZ pixels in {result.crs} from "
            f"{result.n_used} of {result.n_inputs} inputs in {result.seconds:.1f} s"
        )
        return {
            self.OUTPUT: str(result.out),
            self.COUNT: str(result.count),
            self.FOOTPRINTS: str(result.footprints),
            self.N_USED: result.n_used,
        }

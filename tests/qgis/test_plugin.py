"""The QGIS plugin, installed from its zip, with its algorithms run through ``processing.run``."""

from __future__ import annotations

import configparser
import os
import zipfile
from pathlib import Path

import pytest
from _qgis_support import SKIP_REASON

pytest.importorskip("qgis.core", reason=SKIP_REASON)
pytestmark = pytest.mark.qgis

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsFeatureRequest,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

from lczmap import __version__  # noqa: E402
from lczmap.classes import LCZ_CLASSES  # noqa: E402
from lczmap.zones import SHARE_COLUMNS  # noqa: E402


def _run(alg_id, params, context=None, feedback=None):
    import processing

    return processing.run(alg_id, params, context=context, feedback=feedback or QgsProcessingFeedback())


def _lcz_palette(layer):
    assert layer.renderer().type() == "paletted"
    return {c.value: (c.color.name(), c.label) for c in layer.renderer().classes()}


EXPECTED_PALETTE = {c.code: (c.colour, f"LCZ {c.label} {c.name}") for c in LCZ_CLASSES}


def test_zip_holds_the_plugin_folder_with_processing_metadata(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as zf:
        names = zf.namelist()
        meta = configparser.ConfigParser()
        meta.read_string(zf.read("lczmap_qgis/metadata.txt").decode())
    assert plugin_zip.name == f"lczmap_qgis-{__version__}.zip"
    assert all(n.startswith("lczmap_qgis/") for n in names)
    assert not any("__pycache__" in n for n in names)
    for required in ("__init__.py", "metadata.txt", "provider.py", "algorithms.py"):
        assert f"lczmap_qgis/{required}" in names
    general = meta["general"]
    assert general["hasProcessingProvider"] == "yes"
    assert general["version"] == __version__
    for key in ("name", "qgisMinimumVersion", "description", "about", "author", "email"):
        assert general[key].strip()


def test_plugin_registers_the_lczmap_provider(plugin):
    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("lczmap")
    assert provider is not None
    names = {a.id(): a.displayName() for a in provider.algorithms()}
    assert names == {
        "lczmap:predict": "Predict LCZ map",
        "lczmap:mosaic": "Mosaic LCZ map from many scenes",
        "lczmap:zones": "LCZ zones",
        "lczmap:summarize": "Summarize LCZ by polygons",
        "lczmap:assess": "Assess LCZ map accuracy",
        "lczmap:ucp": "Urban canopy parameters",
        "lczmap:adapt": "Adapt LCZ model to training areas",
        "lczmap:check_areas": "Check LCZ training areas",
        "lczmap:change": "LCZ change over the years",
        "lczmap:design": "Draw LCZ accuracy sample",
        "lczmap:assess_sample": "Area-adjusted accuracy from a labelled sample",
    }
    for alg_id in names:
        alg = registry.algorithmById(alg_id)
        ok, message = alg.canExecute()
        assert ok, message
        assert alg.shortHelpString()


def test_predict_algorithm_writes_a_styled_lcz_map(plugin, model, scene, tmp_path):
    out = tmp_path / "lcz.tif"
    result = _run(
        "lczmap:predict",
        {
            "INPUT": str(scene),
            "MODEL": str(model),
            "UNITS": 2,
            "DEVICE": 1,
            "OUTPUT": str(out),
            "CONFIDENCE": str(tmp_path / "conf.tif"),
        },
    )
    assert result["OUTPUT"] == str(out)
    assert result["CONFIDENCE"] == str(tmp_path / "conf.tif")
    assert result["PROBABILITIES"] is None and result["FILTERED"] is None
    assert not (tmp_path / "probabilities.tif").exists()
    layer = QgsRasterLayer(result["OUTPUT"], "lcz")
    assert layer.isValid()
    assert layer.crs() == QgsRasterLayer(str(scene), "scene").crs()
    assert _lcz_palette(layer) == EXPECTED_PALETTE
    conf = QgsRasterLayer(result["CONFIDENCE"], "conf")
    assert conf.isValid() and conf.extent() == layer.extent()


def test_predict_algorithm_writes_the_lcz_generator_product_in_101_107(plugin, model, scene, tmp_path):
    """The LCZ Generator product opens styled on its filtered band, A-G as 101-107."""
    out = tmp_path / "lcz_generator.tif"
    result = _run(
        "lczmap:predict",
        {"INPUT": str(scene), "MODEL": str(model), "UNITS": 2, "DEVICE": 1, "PRODUCT": 1, "OUT_CODES": 1, "OUTPUT": str(out)},
    )
    layer = QgsRasterLayer(result["OUTPUT"], "lcz")
    assert layer.isValid() and layer.bandCount() == 3
    assert [layer.bandName(b) for b in (1, 2, 3)][1].endswith("lczFilter")
    assert layer.renderer().band() == 2
    want = {(c.code + 90 if c.code > 10 else c.code): v for c, v in zip(LCZ_CLASSES, EXPECTED_PALETTE.values())}
    assert _lcz_palette(layer) == want


def test_predict_algorithm_matches_the_library(plugin, model, scene, lcz_outputs, tmp_path):
    """The algorithm is a door: same scene, same model, same map as lczmap.predict_scene."""
    import numpy as np
    import rasterio

    out = tmp_path / "lcz.tif"
    _run("lczmap:predict", {"INPUT": str(scene), "MODEL": str(model), "UNITS": 2, "DEVICE": 1, "OUTPUT": str(out)})
    with rasterio.open(out) as a, rasterio.open(lcz_outputs.out) as b:
        assert np.array_equal(a.read(1), b.read(1))
        assert a.transform == b.transform


def test_predict_algorithm_reports_user_errors_as_processing_errors(plugin, model, scene, lcz_outputs, tmp_path):
    with pytest.raises(QgsProcessingException, match="no scene given"):
        _run("lczmap:predict", {"MODEL": str(model), "OUTPUT": str(tmp_path / "a.tif")})
    # an existing output is kept unless 'Replace existing outputs' is ticked
    existing = tmp_path / "exists.tif"
    existing.write_bytes(b"keep me")
    with pytest.raises(QgsProcessingException, match="exists.*Replace existing outputs"):
        _run("lczmap:predict", {"INPUT": str(scene), "MODEL": str(model), "UNITS": 2, "OUTPUT": str(existing)})
    assert existing.read_bytes() == b"keep me"
    _run(
        "lczmap:predict",
        {"INPUT": str(scene), "MODEL": str(model), "UNITS": 2, "DEVICE": 1, "OUTPUT": str(existing), "OVERWRITE": True},
    )
    assert QgsRasterLayer(str(existing), "x").isValid()
    # lczmap's own refusals come through as one line with their fix
    not_a_model = tmp_path / "model.safetensors"
    not_a_model.write_bytes(b"\x00" * 64)
    with pytest.raises(QgsProcessingException, match="not an lczmap checkpoint.*lczmap train"):
        _run("lczmap:predict", {"INPUT": str(scene), "MODEL": str(not_a_model), "OUTPUT": str(tmp_path / "b.tif")})
    assert not (tmp_path / "b.tif").exists()


def test_predict_algorithm_cancel_then_resume(plugin, model, scene, lcz_outputs, tmp_path):
    """Cancel stops the run without an output; 'Continue an interrupted run' then finishes it."""
    import numpy as np
    import rasterio

    out = tmp_path / "lcz.tif"
    params = {"INPUT": str(scene), "MODEL": str(model), "UNITS": 2, "DEVICE": 1, "OUTPUT": str(out)}
    cancelled = QgsProcessingFeedback()
    cancelled.cancel()
    with pytest.raises(QgsProcessingException, match="cancelled"):
        _run("lczmap:predict", params, feedback=cancelled)
    assert not out.exists()
    _run("lczmap:predict", {**params, "RESUME": True})
    with rasterio.open(out) as a, rasterio.open(lcz_outputs.out) as b:
        assert np.array_equal(a.read(1), b.read(1))


def test_zones_algorithm_writes_a_styled_zone_layer(plugin, lcz_outputs, tmp_path):
    out = tmp_path / "zones.gpkg"
    result = _run(
        "lczmap:zones",
        {"INPUT": str(lcz_outputs.out), "MIN_AREA": 20000, "CONFIDENCE": str(lcz_outputs.confidence), "OUTPUT": str(out)},
    )
    assert result["OUTPUT"] == str(out)
    layer = QgsVectorLayer(str(out), "zones", "ogr")
    assert layer.isValid() and layer.featureCount() > 0
    assert layer.crs().authid() == "EPSG:32633"
    assert layer.renderer().type() == "categorizedSymbol"
    assert "confidence" in layer.fields().names()
    codes = {f["lcz"] for f in layer.getFeatures()}
    assert codes and codes <= {c.code for c in LCZ_CLASSES}


def test_summarize_algorithm_gives_class_shares_per_district(plugin, lcz_outputs, districts, tmp_path):
    out = tmp_path / "summary.gpkg"
    csv = tmp_path / "summary.csv"
    result = _run(
        "lczmap:summarize",
        {"INPUT": str(lcz_outputs.out), "POLYGONS": f"{districts}|layername=districts", "OUTPUT": str(out), "CSV": str(csv)},
    )
    assert result["OUTPUT"] == str(out) and result["CSV"] == str(csv)
    layer = QgsVectorLayer(str(out), "summary", "ogr")
    assert layer.isValid()
    assert layer.featureCount() == 4
    assert layer.crs().authid() == "EPSG:4326"  # the districts' CRS, not the map's
    fields = layer.fields().names()
    for name in ("district", "dominant", "nodata", *SHARE_COLUMNS):
        assert name in fields
    for feature in layer.getFeatures():
        total = sum(feature[c] for c in SHARE_COLUMNS) + feature["nodata"]
        assert total == pytest.approx(1.0, abs=1e-6)
    assert csv.read_text().splitlines()[0].count(",") >= len(SHARE_COLUMNS)


def test_summarize_accepts_a_memory_layer(plugin, lcz_outputs, districts, tmp_path):
    """Layers that are not files (here a memory copy) are exported for lczmap by Processing."""
    source = QgsVectorLayer(f"{districts}|layername=districts", "districts", "ogr")
    memory = source.materialize(QgsFeatureRequest())
    assert memory.providerType() == "memory"
    out = tmp_path / "summary.gpkg"
    _run("lczmap:summarize", {"INPUT": str(lcz_outputs.out), "POLYGONS": memory, "OUTPUT": str(out)})
    assert QgsVectorLayer(str(out), "summary", "ogr").featureCount() == 4


def test_outputs_are_added_to_the_project_named_and_styled(plugin, model, scene, lcz_outputs, districts, tmp_path):
    """What the toolbox does after a run: load each output, name it and apply lczmap's style."""
    import processing

    project = QgsProject.instance()
    project.clear()
    runs = [
        (
            "lczmap:predict",
            {"INPUT": str(scene), "MODEL": str(model), "UNITS": 2, "DEVICE": 1, "OUTPUT": str(tmp_path / "lcz.tif")},
        ),
        ("lczmap:zones", {"INPUT": str(lcz_outputs.out), "OUTPUT": str(tmp_path / "zones.gpkg")}),
        (
            "lczmap:summarize",
            {
                "INPUT": str(lcz_outputs.out),
                "POLYGONS": f"{districts}|layername=districts",
                "OUTPUT": str(tmp_path / "summary.gpkg"),
            },
        ),
    ]
    for alg_id, params in runs:
        processing.runAndLoadResults(alg_id, params, feedback=QgsProcessingFeedback())
    layers = {layer.name(): layer for layer in project.mapLayers().values()}
    assert set(layers) == {"LCZ map (scene)", "LCZ zones (lcz)", "LCZ summary (lcz)"}
    assert _lcz_palette(layers["LCZ map (scene)"]) == EXPECTED_PALETTE
    zones = layers["LCZ zones (lcz)"].renderer()
    assert zones.type() == "categorizedSymbol" and zones.classAttribute() == "lcz"
    summary = layers["LCZ summary (lcz)"].renderer()
    assert summary.type() == "categorizedSymbol" and summary.classAttribute() == "dominant"
    colours = {int(c.value()): c.symbol().color().name() for c in summary.categories()}
    assert colours == {c.code: c.colour for c in LCZ_CLASSES}
    project.clear()


_QGIS_START = r"""
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from qgis.core import QgsApplication, QgsProcessingFeedback
QgsApplication.setPrefixPath(os.environ.get("QGIS_PREFIX_PATH", "/usr"), True)
app = QgsApplication([], False)
app.initQgis()
sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
from processing.core.Processing import Processing
Processing.initialize()
import processing
sys.path.insert(0, sys.argv[1])
import lczmap_qgis
plugin = lczmap_qgis.classFactory(None)  # QGIS keeps the plugin object alive; so must we
plugin.initProcessing()
alg = QgsApplication.processingRegistry().algorithmById("lczmap:predict")
ok, message = alg.canExecute()
report = {"ok": ok, "message": message}
if ok:
    params = json.loads(sys.argv[2])
    report["result"] = processing.run("lczmap:predict", params, feedback=QgsProcessingFeedback())
    import lczmap
    report["lczmap"] = lczmap.__file__
print("REPORT " + json.dumps(report))
"""


@pytest.mark.slow
def test_plugin_finds_lczmap_through_lczmap_site_packages(plugin, model, scene, tmp_path):
    """As in QGIS itself: the bare QGIS Python, lczmap only in another environment named by
    LCZMAP_SITE_PACKAGES (docs/qgis.md, option 1)."""
    import json
    import site
    import subprocess
    import sys

    import lczmap

    base = getattr(sys, "_base_executable", sys.executable)
    plugins = Path(sys.modules["lczmap_qgis"].__file__).parents[1]  # the folder the zip was unpacked into
    params = {"INPUT": str(scene), "MODEL": str(model), "UNITS": 2, "DEVICE": 1, "OUTPUT": str(tmp_path / "lcz.tif")}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "LCZMAP_SITE_PACKAGES")}

    def start(extra_env):
        done = subprocess.run(
            [base, "-c", _QGIS_START, str(plugins), json.dumps(params)],
            capture_output=True,
            text=True,
            env={**env, **extra_env},
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        line = [x for x in done.stdout.splitlines() if x.startswith("REPORT ")][-1]
        return json.loads(line[len("REPORT ") :])

    bare = subprocess.run([base, "-c", "import lczmap"], capture_output=True, env=env, cwd=tmp_path)
    bare_has_lczmap = bare.returncode == 0
    if not bare_has_lczmap:
        without = start({})
        assert without["ok"] is False
        assert "lczmap is not installed in QGIS's Python" in without["message"]
        assert "LCZMAP_SITE_PACKAGES" in without["message"] and "pip install lczmap" in without["message"]
    folders = os.pathsep.join(p for p in site.getsitepackages() if Path(p).is_dir())
    with_site = start({"LCZMAP_SITE_PACKAGES": folders})
    assert with_site["ok"], with_site["message"]
    assert Path(with_site["lczmap"]).resolve() == Path(lczmap.__file__).resolve()
    assert with_site["result"]["OUTPUT"] == str(tmp_path / "lcz.tif")
    assert QgsRasterLayer(str(tmp_path / "lcz.tif"), "lcz").isValid()

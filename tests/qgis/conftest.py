"""Real-QGIS fixtures: a headless QgsApplication with Processing and the lczmap plugin installed
from its built zip, and real lczmap outputs (a trained model, a synthetic scene, its LCZ map).

These tests run under QGIS's own Python (Debian: /usr/bin/python3, or the venv that
scripts/dev/install_qgis.sh builds on it): ``bash scripts/dev/run_qgis_tests.sh``. Under a Python without
PyQGIS every test here skips, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import _qgis_support  # noqa: F401  (sets QT_QPA_PLATFORM before Qt starts)
import pytest

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    # QGIS's Python sees Debian's matplotlib packages beside the venv's, so matplotlib cannot load
    # the other version's 3D toolkit and warns (lczmap draws nothing in 3D); as an error under the
    # suite's filterwarnings = error it failed every algorithm that draws a figure.
    config.addinivalue_line("filterwarnings", "ignore:Unable to import Axes3D:UserWarning")


@pytest.fixture(scope="session")
def qgis_app(tmp_path_factory):
    """A started QgsApplication (no GUI) with Processing initialised; exits QGIS at the end."""
    from qgis.core import QgsApplication

    os.environ["LCZMAP_HOME"] = str(tmp_path_factory.mktemp("lczmap_home"))  # keep the user's data dir clean
    QgsApplication.setPrefixPath(os.environ.get("QGIS_PREFIX_PATH", "/usr"), True)
    app = QgsApplication([], False)
    app.initQgis()
    plugins = Path(QgsApplication.pkgDataPath()) / "python" / "plugins"
    if str(plugins) not in sys.path:
        sys.path.append(str(plugins))
    from processing.core.Processing import Processing

    Processing.initialize()
    yield app
    Processing.deinitialize()
    app.exitQgis()


@pytest.fixture(scope="session")
def plugin_zip(tmp_path_factory):
    """The plugin zip as scripts/dev/build_qgis_plugin.sh builds it."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "dev" / "build_qgis_plugin.sh"), str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def plugin(qgis_app, plugin_zip, tmp_path_factory):
    """The plugin unpacked from its zip into a plugins folder and loaded as QGIS loads it
    (``classFactory(iface)``, then ``initProcessing()``)."""
    folder = tmp_path_factory.mktemp("qgis_plugins")
    with zipfile.ZipFile(plugin_zip) as zf:
        zf.extractall(folder)
    sys.path.insert(0, str(folder))
    import lczmap_qgis

    assert Path(lczmap_qgis.__file__).parent == folder / "lczmap_qgis"
    instance = lczmap_qgis.classFactory(None)
    instance.initProcessing()
    yield instance
    instance.unload()


@pytest.fixture(scope="session")
def model(qgis_app, twin_dir, tmp_path_factory):
    """A real checkpoint: a small SAR-only model trained on the twin's Lee-filtered intensities."""
    import torch

    from lczmap.train import TrainConfig, train

    torch.set_num_threads(1)
    cfg = TrainConfig(
        data=str(twin_dir),
        method="sar-only",
        classes="all",
        labels="all",
        sar_bands="lee-intensity",
        sar_epochs=3,
        eo_epochs=0,
        width=8,
        depth=2,
        blocks=1,
        embedding=16,
        projection=16,
        device="cpu",
    )
    return train(cfg, tmp_path_factory.mktemp("model") / "model.safetensors").checkpoint


@pytest.fixture(scope="session")
def scene(tmp_path_factory):
    """A Sentinel-1-like GRD scene in dB (UTM 33N, 10 m) and its 100 m ground truth."""
    from lczmap.twin import write_scene

    folder = tmp_path_factory.mktemp("scene")
    path, truth = write_scene(
        folder / "scene.tif", size=(300, 360), seed=1, kind="grd", units="db", truth_path=folder / "truth.tif"
    )
    return path


@pytest.fixture(scope="session")
def lcz_outputs(model, scene, tmp_path_factory):
    """lczmap.predict's outputs for the scene: LCZ map, confidence and probabilities."""
    from lczmap.predict import predict_scene

    folder = tmp_path_factory.mktemp("predict")
    return predict_scene(
        scene,
        folder / "lcz.tif",
        model,
        units="db",
        device="cpu",
        confidence=folder / "confidence.tif",
        probabilities=folder / "probabilities.tif",
    )


@pytest.fixture(scope="session")
def districts(scene, tmp_path_factory):
    """Four district polygons over the scene, in WGS84 (another CRS than the map's)."""
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    with rasterio.open(scene) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs
    xm, ym = (left + right) / 2, (bottom + top) / 2
    cells = [box(left, ym, xm, top), box(xm, ym, right, top), box(left, bottom, xm, ym), box(xm, bottom, right, ym)]
    frame = gpd.GeoDataFrame({"district": ["NW", "NE", "SW", "SE"]}, geometry=cells, crs=crs).to_crs("EPSG:4326")
    path = tmp_path_factory.mktemp("districts") / "districts.gpkg"
    frame.to_file(path, layer="districts", driver="GPKG")
    return path

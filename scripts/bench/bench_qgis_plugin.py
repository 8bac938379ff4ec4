"""Overhead of the QGIS plugin over the library: the same scene mapped by ``lczmap.predict_scene``
and by ``processing.run("lczmap:predict", ...)`` in headless QGIS, alternately, ``--repeat`` times.

    .venv-qgis/bin/python scripts/bench/bench_qgis_plugin.py [--size ROWS COLS] [--repeat N]

Prints the median wall time of each and the plugin's overhead (also the time to start QGIS with
Processing and the plugin). A tiny model is trained on a small twin first (not timed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=(1000, 1200), metavar=("ROWS", "COLS"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    from lczmap.predict import predict_scene
    from lczmap.train import TrainConfig, train
    from lczmap.twin import write_scene, write_twin

    work = Path(tempfile.mkdtemp(prefix="bench_qgis_"))
    os.environ["LCZMAP_HOME"] = str(work / "home")
    write_twin(work / "twin", n_train=340, n_val=85, n_test=85, seed=0)
    scene, _ = write_scene(work / "scene.tif", size=tuple(args.size), seed=0, kind="grd", units="db")
    cfg = TrainConfig(
        data=str(work / "twin"),
        method="sar-only",
        classes="all",
        labels="all",
        sar_bands="lee-intensity",
        sar_epochs=1,
        eo_epochs=0,
        device="cpu",
    )
    model = train(cfg, work / "model.safetensors").checkpoint

    t0 = time.perf_counter()
    from qgis.core import QgsApplication, QgsProcessingFeedback

    QgsApplication.setPrefixPath(os.environ.get("QGIS_PREFIX_PATH", "/usr"), True)
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
    from processing.core.Processing import Processing

    Processing.initialize()
    import processing

    dist = work / "dist"
    built = subprocess.run(
        ["bash", str(ROOT / "scripts" / "dev" / "build_qgis_plugin.sh"), str(dist)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    with zipfile.ZipFile(built.stdout.strip().splitlines()[-1]) as zf:
        zf.extractall(work / "plugins")
    sys.path.insert(0, str(work / "plugins"))
    import lczmap_qgis

    plugin = lczmap_qgis.classFactory(None)
    plugin.initProcessing()
    start_s = time.perf_counter() - t0

    lib, alg = [], []
    for i in range(args.repeat):
        t = time.perf_counter()
        predict_scene(scene, work / f"lib{i}.tif", model, units="db", device="cpu")
        lib.append(time.perf_counter() - t)
        t = time.perf_counter()
        processing.run(
            "lczmap:predict",
            {"INPUT": str(scene), "MODEL": str(model), "UNITS": 2, "DEVICE": 1, "OUTPUT": str(work / f"alg{i}.tif")},
            feedback=QgsProcessingFeedback(),
        )
        alg.append(time.perf_counter() - t)
    ml, ma = statistics.median(lib), statistics.median(alg)
    print(f"scene {args.size[0]} x {args.size[1]} px, {args.repeat} runs each (median)")
    print(f"QGIS + Processing + plugin start: {start_s:.2f} s")
    print(f"lczmap.predict_scene:             {ml:.2f} s")
    print(f"processing.run('lczmap:predict'): {ma:.2f} s  (overhead {ma - ml:+.2f} s, {100 * (ma - ml) / ml:+.1f} %)")
    plugin.unload()
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())

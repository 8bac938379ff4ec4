"""The change algorithm of the QGIS plugin, run through ``processing.run``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _qgis_support import SKIP_REASON

pytest.importorskip("qgis.core", reason=SKIP_REASON)
pytestmark = pytest.mark.qgis

from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "change"))


def _run(params):
    import processing

    return processing.run("lczmap:change", params, feedback=QgsProcessingFeedback())


def test_change_algorithm_is_registered(plugin):
    alg = QgsApplication.processingRegistry().algorithmById("lczmap:change")
    assert alg is not None and alg.displayName() == "LCZ change over the years"
    ok, message = alg.canExecute()
    assert ok, message
    assert {"INPUT", "DATES", "STAY", "OUTPUT", "OVERWRITE"} <= {p.name() for p in alg.parameterDefinitions()}


def test_change_algorithm_writes_the_library_outputs(plugin, tmp_path):
    import csv

    import numpy as np
    import rasterio
    from _change_fixtures import write_series

    series = write_series(tmp_path, dates=4, signal=2.6)
    out = tmp_path / "out"
    params = {"INPUT": [str(p) for p in series.paths], "DATES": "2019,2020,2021,2022", "STAY": 0.6, "OUTPUT": str(out)}
    result = _run(params)  # 6 classes: a stay above the 17-class default (0.3 is refused, the message says so)
    assert Path(result["CHANGE"]) == out / "change.tif"
    assert (out / "lcz_2021.tif").exists() and (out / "change.qml").exists()
    with rasterio.open(result["CHANGE"]) as ds:
        assert ds.descriptions == ("transition", "from", "to", "date", "changes")
        changed = int((ds.read(5) > 0).sum())
    assert result["CHANGED"] == changed > 0
    with open(result["TABLE"]) as f:
        rows = list(csv.DictReader(f))
    assert sum(int(r["pixels"]) for r in rows) == int(np.prod(series.changed_at.shape))
    with pytest.raises(QgsProcessingException, match="--overwrite"):
        _run(params)
    with pytest.raises(QgsProcessingException, match="no likelier than one change"):
        _run({**params, "STAY": 0.3, "OUTPUT": str(tmp_path / "weak")})
    with pytest.raises(QgsProcessingException, match="two or more"):
        _run({"INPUT": [str(series.paths[0])], "OUTPUT": str(tmp_path / "one")})

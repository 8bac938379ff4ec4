"""Shared by the real-QGIS tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: Each test module starts with ``pytest.importorskip("qgis.core", reason=SKIP_REASON)``.
SKIP_REASON = (
    "PyQGIS is not installed in this Python: run `bash scripts/dev/install_qgis.sh` then "
    "`bash scripts/dev/run_qgis_tests.sh` (these tests need QGIS's own Python)"
)

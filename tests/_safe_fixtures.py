"""The real SAFE test product (tests/data/safe/README.md) made usable: xarray-sentinel publishes its
manifest, annotation and measurement but no calibration or noise XML."""

from __future__ import annotations

import shutil
from pathlib import Path

REAL = Path(__file__).parent / "data" / "safe" / "S1B_IW_GRDH_1SDV_20210401T052623_20210401T052648_026269_032297_ECC8.SAFE"


def real_with_luts(folder: Path, written: Path) -> Path:
    """A copy of the real product in ``folder`` with the calibration and noise XML of the product
    ``written`` (by lczmap.twin.safe.write_safe) beside its annotation."""
    safe = folder / REAL.name
    shutil.copytree(REAL, safe)
    (safe / "annotation" / "calibration").mkdir()
    stem = "s1b-iw-grd-vv-20210401t052623-20210401t052648-026269-032297-001.xml"
    for kind in ("calibration", "noise"):
        xml = next((written / "annotation" / "calibration").glob(f"{kind}-*-vv-*.xml"))
        shutil.copy(xml, safe / "annotation" / "calibration" / f"{kind}-{stem}")
    return safe

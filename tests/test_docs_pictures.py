"""The docs' pictures are what the current demo makes: docs/img/pictures.json, which
scripts/docs/make_pictures.py writes with them, records each picture's hash, the demo's
configuration and the class counts of a test-sized demo's map; these tests fail when any of them
drifts (regenerate with ``python scripts/docs/make_pictures.py``)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from lczmap.demo import QUICK_DEMO, map_class_counts, run_demo

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
REGENERATE = "regenerate the pictures with: python scripts/docs/make_pictures.py"
#: Share of the quick demo's pixels that may change class (float noise between CPUs and torch
#: builds); a change of the demo's chain moves far more.
TOLERANCE = 0.02


def record() -> dict:
    return json.loads((IMG / "pictures.json").read_text())


def script():
    spec = importlib.util.spec_from_file_location("make_pictures", ROOT / "scripts" / "docs" / "make_pictures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pictures_are_the_ones_the_script_drew():
    pictures = record()["pictures"]
    assert sorted(pictures) == sorted(p.name for p in IMG.glob("*.png")), f"a picture is not in the record: {REGENERATE}"
    for name, digest in pictures.items():
        assert hashlib.sha256((IMG / name).read_bytes()).hexdigest() == digest, f"{name} was changed: {REGENERATE}"
    docs = (ROOT / "README.md").read_text() + (ROOT / "docs" / "qgis.md").read_text()
    assert all(name in docs for name in pictures)
    assert "scripts/docs/make_pictures.py" in (ROOT / "docs" / "qgis.md").read_text()  # the command is documented


def test_the_record_is_of_the_current_demo():
    r, make = record(), script()
    assert r["demo"] == make.as_json(make.demo_config()), f"the demo's configuration changed: {REGENERATE}"
    assert r["quick"]["config"] == make.as_json(dict(QUICK_DEMO)), f"the quick demo changed: {REGENERATE}"
    assert r["command"] == "python scripts/docs/make_pictures.py"
    for counts in (*r["maps"].values(), r["quick"]["scene_lcz.tif"]):
        assert sum(counts.values()) > 0 and set(counts) == {*map(str, range(1, 11)), *"ABCDEFG"}


@pytest.mark.slow
def test_the_demo_still_makes_the_recorded_map(tmp_path):
    """The test-sized demo's map has the class counts recorded when the pictures were drawn."""
    recorded = record()["quick"]["scene_lcz.tif"]
    report = run_demo(tmp_path / "quick", **QUICK_DEMO)
    counts = map_class_counts(report.outputs["lcz_map"])
    moved = sum(abs(counts[k] - recorded[k]) for k in counts) / 2 / max(sum(counts.values()), 1)
    assert moved <= TOLERANCE, (
        f"{moved:.1%} of the quick demo's pixels changed class since the pictures were "
        f"drawn ({counts} now, {recorded} then): {REGENERATE}"
    )

"""Faults of issue #26 in training areas, found from outside: the LCZ Generator's own template (class
folders plus the "ROI" placemark) refused by adapt and assess, a multi-layer file read by its first
layer only, one-class training areas adapted into a model that maps one class, and holdouts that
take a class whole or score one class. Real files throughout: the template written as Google Earth
writes KML/KMZ, a twin scene and its truth written by lczmap.twin, a real (untrained) checkpoint;
the commands run through the CLI."""

from __future__ import annotations

import json

import pytest
from _areas_fixtures import folder_name, squares, write_template
from _predict_fixtures import tiny_checkpoint
from click.testing import CliRunner
from shapely.affinity import translate
from shapely.geometry import Point, box

from lczmap.cli import main

FAST = ["--device", "cpu", "--sar-epochs", "1", "--unlabelled", "0.5", "--bootstrap", "3"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A twin city (GRD, dB), its 100 m truth, a real checkpoint mapping all 17 classes, and up to
    three homogeneous squares per class of the truth, in lon/lat."""
    from lczmap.twin import write_scene

    folder = tmp_path_factory.mktemp("areas_world")
    scene, truth = write_scene(
        folder / "city.tif", size=(300, 360), seed=5, kind="grd", units="db", truth_path=folder / "truth.tif"
    )
    model = tiny_checkpoint(folder / "model.safetensors", classes=tuple(range(1, 18)))
    return scene, truth, model, squares(truth, 3)


def _run(*args: object) -> tuple[int, str]:
    done = CliRunner().invoke(main, [str(a) for a in args])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.output
    return done.exit_code, done.output


def _one_error(output: str) -> str:
    assert "Traceback" not in output
    lines = [ln for ln in output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1, output
    return lines[0]


def _full(sq):
    """Two classes with three squares each (the LCZ Generator's minimum), by code."""
    return [code for code, geoms in sorted(sq.items()) if len(geoms) >= 3][:2]


def test_the_templates_roi_is_the_area_not_a_class(world, tmp_path):
    """Was: "field 'Name' holds values that are not LCZ codes ('ROI')" and pyogrio's "More than
    one layer found" warning. Now: the folders are the classes, the ROI the assessment area (units
    outside it left out and counted), the "Point of interest" left out with a warning naming it."""
    _, truth, _, sq = world
    geoms = [g for gs in sq.values() for g in gs]
    east = max(g.bounds[0] for g in geoms)  # the ROI stops west of the easternmost square
    west, south, _, north = _bounds(geoms)
    roi = box(west - 0.001, south - 0.001, east - 1e-4, north + 0.001)
    outside = sum(not g.intersects(roi) for g in geoms)
    assert outside >= 1
    kml = write_template(
        tmp_path / "TA_template.kml",
        {folder_name(c, "lcz"): gs for c, gs in sq.items()},
        roi=roi,
        extras=[("Point of interest", Point(roi.centroid.x, roi.centroid.y))],
    )
    code, output = _run("assess", truth, kml, "--draws", "0", "--json", tmp_path / "a.json")
    assert code == 0, output
    assert "'Point of interest'" in output and "outside the area of interest (ROI)" in output
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["units"] == len(geoms) - outside
    assert report["scores"]["OA"] == pytest.approx(1.0)  # the squares are homogeneous in the truth
    assert report["area_of_interest"]["units_outside"] == outside and report["field"] == "folders"


def _bounds(geoms):
    import geopandas as gpd

    return gpd.GeoSeries(geoms, crs="EPSG:4326").total_bounds


def test_assess_reads_every_folder_not_the_first_layer(world, tmp_path):
    """Was, with the ROI removed by hand: "no features with a geometry" (only the empty
    document-level layer was read). Now every class folder of the KMZ is read."""
    _, truth, _, sq = world
    kmz = write_template(tmp_path / "areas.kmz", {folder_name(c, "101-107"): gs for c, gs in sq.items()}, empty=["LCZ 1"])
    code, output = _run("assess", truth, kmz, "--draws", "0", "--json", tmp_path / "a.json")
    assert code == 0, output
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["units"] == sum(map(len, sq.values())) and report["scores"]["OA"] == pytest.approx(1.0)


def test_one_class_is_refused_before_any_work(world, tmp_path):
    """Was: adapted, "held-out OA 1.000 (kappa nan)", a model that maps every pixel as LCZ x."""
    scene, _, model, sq = world
    code6 = _full(sq)[0]
    one = write_template(tmp_path / "one.kml", {folder_name(code6, "lcz"): sq[code6]})
    out = tmp_path / "m.safetensors"
    code, output = _run("-q", "adapt", model, scene, one, "-o", out, "--holdout", "0.3", *FAST)
    line = _one_error(output)
    assert code == 1 and out.exists() is False
    assert f"one class (LCZ {_label(code6)})" in line and "at least 2 classes" in line
    # two classes in the file, but the second lies off the scene: one class gives patches
    a, b = _full(sq)
    off = {folder_name(a, "lcz"): sq[a], folder_name(b, "lcz"): [translate(g, 1.0, 0.0) for g in sq[b]]}
    code, output = _run("-q", "adapt", model, scene, write_template(tmp_path / "off.kml", off), "-o", out, *FAST)
    line = _one_error(output)
    assert code == 1 and "one class only" in line and "at least 2 classes" in line and not out.exists()


def _label(code: int) -> str:
    from lczmap.classes import label_of

    return label_of(code)


def test_holdout_never_takes_a_class_whole_nor_scores_one_class(world, tmp_path):
    """Was: a class whose other polygon gave no patch (off the scene) could be held out whole, and
    a holdout of one class was scored as if it meant something. Now the split is per class among
    the polygons with patches, keeps one of each for adaptation, names the classes not scored and
    does not score a one-class holdout; a class with fewer than 3 polygons is named."""
    scene, _, model, sq = world
    a, b = _full(sq)
    folders = {folder_name(a, "lcz"): sq[a], folder_name(b, "lcz"): [sq[b][0], translate(sq[b][1], 1.0, 0.0)]}
    areas = write_template(tmp_path / "areas.kmz", folders)
    out = tmp_path / "m.safetensors"
    code, output = _run("adapt", model, scene, areas, "-o", out, "--holdout", "0.5", *FAST)
    assert code == 0, output
    lb = f"LCZ {_label(b)}"
    assert f"{lb} has fewer than 3 polygons" in output
    assert f"{lb} has no held-out polygon" in output and "held-out polygons hold one class" in output
    assert "base " not in output and "OAw" not in output  # no score line
    from lczmap.checkpoint import load_checkpoint

    meta = load_checkpoint(out).meta["adaptation"]
    rows = {r["lcz"]: r for r in meta["classes"]}
    assert rows[b]["held_out_polygons"] == 0 and rows[b]["with_patches"] == 1
    assert rows[a]["held_out_polygons"] >= 1 and rows[a]["held_out_polygons"] < rows[a]["with_patches"]
    assert meta["holdout"] is None and "one class" in meta["holdout_note"]

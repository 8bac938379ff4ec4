"""The LCZ Generator's training-area template as users hold it (KML or KMZ; one folder per class in
its current and older namings; the "ROI" placemark outlining the area; extra placemarks), read by
the one reader adapt and assess share, and both commands run on it from the CLI."""

from __future__ import annotations

import json
import logging

import geopandas as gpd
import pytest
from _areas_fixtures import NAMINGS, folder_name, squares, write_template
from click.testing import CliRunner
from shapely.geometry import Point, box

from lczmap.adapt import adapt_model
from lczmap.adapt.areas import read_training_areas
from lczmap.checkpoint import load_checkpoint
from lczmap.cli import main
from lczmap.errors import ZonesError
from lczmap.maps.reference import read_class_areas

FAST = {"sar_epochs": 1, "unlabelled": 1.0, "device": "cpu", "batch_size": 32}
#: Classes drawn in the templates below: 2, 3 and 3 polygons of LCZ 2, LCZ 6 and LCZ A (101 / 11).
CLASSES = {2: 2, 6: 3, 11: 3}


def _polygons(n: int, row: int) -> list:
    return [box(13.40 + i * 0.01, 52.50 + row * 0.01, 13.404 + i * 0.01, 52.504 + row * 0.01) for i in range(n)]


def _folders(naming: str) -> dict[str, list]:
    return {folder_name(code, naming): _polygons(n, row) for row, (code, n) in enumerate(CLASSES.items())}


ROI = box(13.39, 52.49, 13.45, 52.54)


@pytest.mark.parametrize("suffix", [".kml", ".kmz"])
@pytest.mark.parametrize("with_roi", [True, False], ids=["roi", "no-roi"])
@pytest.mark.parametrize("naming", NAMINGS)
def test_every_template_naming_gives_the_classes(tmp_path, naming, with_roi, suffix, caplog):
    path = write_template(
        tmp_path / f"TA{suffix}",
        _folders(naming),
        roi=ROI if with_roi else None,
        extras=[("Point of interest", Point(13.42, 52.52))],
        empty=[folder_name(17, naming)],
    )
    with caplog.at_level(logging.WARNING, logger="lczmap"):
        areas = read_training_areas(path)  # pyogrio's "more than one layer" warning would fail here
    expected = [code for code, n in CLASSES.items() for _ in range(n)]
    assert areas.codes.tolist() == expected and areas.source == "folders"
    assert areas.frame["polygon"].tolist() == list(range(len(expected)))
    if with_roi:
        assert areas.roi is not None and areas.roi.geometry.iloc[0].equals_exact(ROI, 1e-6)
        assert areas.roi_bounds() == pytest.approx(ROI.bounds)
    else:
        assert areas.roi is None and areas.roi_bounds() is None
    assert "'Point of interest'" in caplog.text
    same = read_class_areas(path)  # assess reads it with the same reader
    assert same.codes.tolist() == expected and (same.roi is None) == (not with_roi)


def test_placemark_names_give_the_class_in_the_older_template(tmp_path, caplog):
    """Placemarks named by their class (no class folders), the ROI among them, a road left out."""
    names = ["LCZ 6", "6 Open low-rise", "A", "105", "Main street"]
    path = write_template(tmp_path / "old.kml", {}, roi=ROI, extras=list(zip(names, _polygons(5, 0))), nested=False)
    with caplog.at_level(logging.WARNING, logger="lczmap"):
        areas = read_training_areas(path)
    assert areas.codes.tolist() == [6, 6, 11, 15] and areas.source == "placemark names"
    assert areas.roi is not None and "'Main street'" in caplog.text


def test_a_multi_layer_geopackage_is_read_whole(tmp_path):
    """Layers named by class, or layers with a class field: every layer is read, the layer kept."""
    path = tmp_path / "areas.gpkg"
    for i, name in enumerate(("LCZ 2", "LCZ 6")):
        gpd.GeoDataFrame({"note": ["x"] * 2}, geometry=_polygons(2, i), crs="EPSG:4326").to_file(path, layer=name)
    areas = read_class_areas(path)
    assert areas.codes.tolist() == [2, 2, 6, 6] and areas.frame["layer"].tolist() == ["LCZ 2"] * 2 + ["LCZ 6"] * 2
    fields = tmp_path / "fields.gpkg"
    for i, name in enumerate(("north", "south")):
        gpd.GeoDataFrame({"lcz": [1 + i, 11]}, geometry=_polygons(2, i), crs="EPSG:4326").to_file(fields, layer=name)
    both = read_class_areas(fields)
    assert both.codes.tolist() == [1, 11, 2, 11] and both.field == "lcz"
    assert read_class_areas(fields, layer="south").codes.tolist() == [2, 11]


def test_a_template_without_a_class_is_one_line(tmp_path):
    only_roi = write_template(tmp_path / "roi.kml", {}, roi=ROI, empty=["LCZ 1", "LCZ 2"])
    with pytest.raises(ZonesError, match="only the area of interest"):
        read_training_areas(only_roi)
    roads = write_template(tmp_path / "roads.kml", {"Roads": _polygons(2, 0)})
    with pytest.raises(ZonesError, match="no placemark of an LCZ class"):
        read_training_areas(roads)


@pytest.fixture(scope="module")
def city_template(city, tmp_path_factory):
    """The city's training areas as an LCZ Generator template (KMZ): squares of its truth in class
    folders, the ROI drawn around them, a point of interest."""
    sq = squares(city[1], 3, seed=0)
    geoms = [g for gs in sq.values() for g in gs]
    roi = box(*gpd.GeoSeries(geoms, crs="EPSG:4326").total_bounds).buffer(0.002, join_style="mitre")
    path = tmp_path_factory.mktemp("template") / "TA_city.kmz"
    write_template(
        path, {folder_name(c, "lcz"): gs for c, gs in sq.items()}, roi=roi, extras=[("Point of interest", roi.centroid)]
    )
    return path, roi, len(geoms)


def test_cli_adapt_and_assess_run_on_the_template(tiny_model, city, city_template, tmp_path):
    template, roi, n = city_template
    out = tmp_path / "city.safetensors"
    done = CliRunner().invoke(
        main,
        [
            "adapt",
            str(tiny_model),
            str(city[0]),
            str(template),
            "-o",
            str(out),
            "--sar-epochs",
            "1",
            "--unlabelled",
            "1",
            "--device",
            "cpu",
            "--holdout",
            "0.3",
            "--bootstrap",
            "3",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "'Point of interest'" in done.output and "ROI" in done.output
    meta = load_checkpoint(out).meta["adaptation"]
    assert meta["training_areas"]["class_from"] == "folders" and meta["training_areas"]["polygons"] == n
    area = meta["area_of_interest"]
    assert area["from"].startswith("the ROI of") and area["aoi"] == pytest.approx(list(roi.bounds))
    done = CliRunner().invoke(main, ["assess", str(city[1]), str(template), "--json", str(tmp_path / "a.json")])
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["units"] == n and report["scores"]["OA"] == pytest.approx(1.0)
    assert report["area_of_interest"]["units_outside"] == 0


def test_the_roi_bounds_the_unlabelled_patches_and_aoi_overrides_it(tiny_model, city, city_areas, tmp_path):
    """Unlabelled patches come from the ROI (the area mapped): a small ROI gives fewer of them;
    an --aoi given overrides the ROI."""
    from lczmap.adapt import AdaptOptions
    from lczmap.classes import label_of
    from lczmap.predict import PredictOptions

    areas = gpd.read_file(city_areas)
    sq: dict[str, list] = {}
    for code, geom in zip(areas["class"], areas.geometry):
        sq.setdefault(f"LCZ {label_of(int(code))}", []).append(geom)
    first = areas.geometry.iloc[0]
    path = write_template(tmp_path / "small.kml", sq, roi=first.buffer(0.003))
    fast = {**FAST, "unlabelled": 3.0}
    with_roi = adapt_model(tiny_model, city[0], path, tmp_path / "a.safetensors", **fast)
    whole = adapt_model(tiny_model, city[0], city_areas, tmp_path / "b.safetensors", **fast)
    assert with_roi.n_labelled == whole.n_labelled and with_roi.n_unlabelled < whole.n_unlabelled / 2
    west, south, east, north = first.bounds
    opts = AdaptOptions(predict=PredictOptions(aoi=(west - 1, south - 1, east + 1, north + 1)), **fast)
    given = adapt_model(tiny_model, city[0], path, tmp_path / "c.safetensors", options=opts)
    assert load_checkpoint(given.checkpoint).meta["adaptation"]["area_of_interest"]["from"] == "--aoi"
    assert given.n_unlabelled == whole.n_unlabelled


def test_a_roi_off_the_scene_is_named_as_the_roi(tiny_model, city, tmp_path):
    from lczmap.classes import label_of

    sq: dict[str, list] = {}
    for code, geoms in squares(city[1], 3, seed=0).items():
        sq[f"LCZ {label_of(code)}"] = geoms
    far = write_template(tmp_path / "far.kml", sq, roi=box(20.0, 40.0, 20.1, 40.1))
    with pytest.raises(ZonesError, match="the ROI of .* lies outside the scene"):
        adapt_model(tiny_model, city[0], far, tmp_path / "m.safetensors", **FAST)

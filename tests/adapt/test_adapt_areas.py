"""Training areas as users have them: KML folders, class fields in any coding and CRS, the split
by polygon, and squares drawn from an LCZ map."""

from __future__ import annotations

import numpy as np
import pytest

from lczmap.adapt.areas import areas_from_map, read_training_areas, split_holdout
from lczmap.errors import ZonesError
from lczmap.maps.reference import class_of_name


def _boxes(n, x0=13.40, y0=52.50, step=0.01):
    from shapely.geometry import box

    return [box(x0 + i * step, y0, x0 + i * step + 0.004, y0 + 0.004) for i in range(n)]


@pytest.mark.parametrize(
    "name, value",
    [
        ("LCZ 6", "6"),
        ("LCZ_A", "A"),
        ("lcz-10", "10"),
        ("6 Open low-rise", "6"),
        ("G Water", "G"),
        ("105", "105"),
        ("Open low-rise", "6"),
        ("Dense trees", "11"),
        ("LCZ 1: Compact high-rise", "1"),
        ("Training areas", None),
        ("Roads", None),
        ("", None),
    ],
)
def test_folder_names_give_the_class(name, value):
    assert class_of_name(name) == value


def test_kml_folders_are_the_classes(tmp_path):
    from _areas_fixtures import write_template  # KML as Google Earth writes it (GDAL renames 'LCZ 1' to 'LCZ_1')

    folders = {
        folder: _boxes(n, y0=52.5 + i * 0.01)
        for i, (folder, n) in enumerate((("LCZ 1", 2), ("LCZ A", 1), ("6 Open low-rise", 3)))
    }
    path = write_template(tmp_path / "areas.kml", folders, empty=["LCZ G"])
    areas = read_training_areas(path)
    assert areas.source == "folders"
    assert sorted(areas.codes.tolist()) == [1, 1, 6, 6, 6, 11]
    assert areas.frame["polygon"].tolist() == list(range(6))


def test_class_field_in_either_coding_and_any_crs(tmp_path):
    import geopandas as gpd

    path = tmp_path / "areas.geojson"
    gpd.GeoDataFrame({"LCZ_Class": [2, 101, 107, "LCZ 6"]}, geometry=_boxes(4), crs="EPSG:4326").to_file(path)
    areas = read_training_areas(path)
    assert areas.codes.tolist() == [2, 11, 17, 6] and areas.source == "field 'LCZ_Class'"
    utm = areas.to_crs("EPSG:32633")
    assert utm.total_bounds[0] > 300000


def test_missing_field_and_foreign_codes_are_one_line(tmp_path):
    import geopandas as gpd

    path = tmp_path / "areas.gpkg"
    gpd.GeoDataFrame({"kind": ["road", "park"]}, geometry=_boxes(2), crs="EPSG:4326").to_file(path)
    with pytest.raises(ZonesError, match="no LCZ class field.*--field"):
        read_training_areas(path)
    with pytest.raises(ZonesError, match="not LCZ codes"):
        read_training_areas(path, field="kind")
    bad = tmp_path / "bad.geojson"
    gpd.GeoDataFrame({"lcz": [3, 42]}, geometry=_boxes(2), crs="EPSG:4326").to_file(bad)
    with pytest.raises(ZonesError, match="42"):
        read_training_areas(bad)
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame({"lcz": [3]}, geometry=[_boxes(1)[0].centroid], crs="EPSG:4326").to_file(points)
    with pytest.raises(ZonesError, match="polygons"):
        read_training_areas(points)


def test_a_crs_that_cannot_be_transformed_is_one_line():
    import geopandas as gpd
    from pyproj import CRS

    local = CRS.from_wkt(
        'ENGCRS["site grid",EDATUM["local"],CS[Cartesian,2],AXIS["x",east,LENGTHUNIT["metre",1]],'
        'AXIS["y",north,LENGTHUNIT["metre",1]]]'
    )
    areas = read_training_areas(gpd.GeoDataFrame({"lcz": [1]}, geometry=_boxes(1), crs=local))
    with pytest.raises(ZonesError, match="cannot transform"):
        areas.to_crs("EPSG:32633")


def test_holdout_splits_polygons_per_class():
    import geopandas as gpd

    codes = [1] * 10 + [6] * 3 + [17]
    areas = read_training_areas(gpd.GeoDataFrame({"lcz": codes}, geometry=_boxes(len(codes)), crs="EPSG:4326"))
    keep, held = split_holdout(areas, 0.3, seed=1)
    assert (keep ^ held).all()
    assert held[:10].sum() == 3 and held[10:13].sum() == 1 and not held[13]
    again = split_holdout(areas, 0.3, seed=1)[1]
    assert (again == held).all()
    assert not split_holdout(areas, 0.0)[1].any()


def test_squares_from_a_map_are_homogeneous_and_apart(tmp_path):
    import rasterio
    from affine import Affine
    from rasterio.features import geometry_mask

    rng = np.random.default_rng(0)
    codes = np.repeat(np.repeat(rng.integers(1, 5, (6, 6)), 5, 0), 5, 1).astype(np.uint8)
    path = tmp_path / "lcz.tif"
    t = Affine(100, 0, 500000, 0, -100, 5001000)
    with rasterio.open(
        path, "w", driver="GTiff", width=30, height=30, count=1, dtype="uint8", crs="EPSG:32633", transform=t
    ) as dst:
        dst.write(codes, 1)
    frame = areas_from_map(path, 4, size=3, seed=2)
    assert set(frame["lcz"]) <= {1, 2, 3, 4} and (frame.groupby("lcz").size() <= 4).all()
    for code, geom in zip(frame["lcz"], frame.geometry):
        inside = geometry_mask([geom], out_shape=codes.shape, transform=t, invert=True)
        assert inside.sum() == 9 and (codes[inside] == code).all()
    assert not any(a.intersects(b) for i, a in enumerate(frame.geometry) for b in frame.geometry[i + 1 :])
    nested = areas_from_map(path, 2, size=3, seed=2)
    assert all(any(g.equals(h) for h in frame.geometry) for g in nested.geometry)

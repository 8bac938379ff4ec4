"""The fast polygon construction and stitching of lczmap.zones (issue 29, item 3).

Each strip's polygons are built from rasterio shapes' rings in one vectorised shapely call, and
zones cut by strip edges are merged by a coverage union of their parts' exteriors (vertices
matched along the strip edges), the parts' holes added back and collinear vertices dropped. The
reference is what the code did before: ``shapely.simplify(shapely.union_all(parts), 0)`` of each
cut zone's parts, and ``shapely.geometry.shape`` of each GeoJSON polygon. Maps: the real 100 m
LCZ map of Zaragoza (w2w's sample data) and small maps built to be hard for the stitching.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from _zones_fixtures import blobby, write_raster, zone_set
from affine import Affine
from rasterio.features import shapes
from shapely.geometry import shape

import lczmap.zones.polygons as zone_polygons
from lczmap.zones import inspect_lcz, vectorize_zones
from lczmap.zones.sieve import label_patches

ZARAGOZA = Path(__file__).resolve().parents[1] / "data" / "w2w" / "lcz_zaragoza.tif"


def zaragoza(rows: slice, cols: slice) -> np.ndarray:
    """LCZ codes (uint8, 0 = no data) of a window of the Zaragoza map."""
    with rasterio.open(ZARAGOZA) as src:
        data = src.read(1)[rows, cols]
        nodata = src.nodata
    return np.where(data == nodata, 0, data).astype(np.uint8)


def snake(height: int = 60, width: int = 40) -> np.ndarray:
    """Class 1 snaking down the map (rows every third, joined at alternate ends) in class 2."""
    codes = np.full((height, width), 2, np.uint8)
    for k, r in enumerate(range(1, height - 1, 3)):
        codes[r, 1 : width - 1] = 1
        if r + 3 < height - 1:
            end = width - 2 if k % 2 == 0 else 1
            codes[r : r + 4, end] = 1
    return codes


def rings(height: int = 50, width: int = 44) -> np.ndarray:
    """Nested square rings of classes 1 and 2, two pixels wide: holes that span many strips."""
    r, c = np.mgrid[:height, :width]
    d = np.maximum(np.abs(r - height // 2), np.abs(c - width // 2))
    codes = (1 + (d // 2) % 2).astype(np.uint8)
    codes[:, :2] = 0  # no data along the west edge
    return codes


def corners(height: int = 48, width: int = 48) -> np.ndarray:
    """Zones touching only at corners, on and off the strip edges, and C shapes whose ends meet at
    a corner (a hole touching its shell at one point), in a checkerboard of 2 x 2 and 3 x 3 cells."""
    r, c = np.mgrid[:height, :width]
    codes = np.where(((r // 2) + (c // 2)) % 2 == 0, 1, 2).astype(np.uint8)
    codes[24:, :] = np.where(((r[24:] // 3) + (c[24:] // 3)) % 2 == 0, 3, 4)
    # a C shape of class 5, its two ends meeting diagonally at the corner (8, 8) of row 8's top edge
    codes[2:15, 2:15] = 6
    codes[3:14, 3] = 5
    codes[3, 3:14] = 5
    codes[13, 3:14] = 5
    codes[3:14, 13] = 5
    codes[7, 3:8] = 5
    codes[8, 8:13] = 5
    codes[7, 8] = 6
    codes[8, 7] = 6
    codes[8:13, 8] = 5  # closes a second loop; (7, 7) and (8, 8) touch only at a corner
    codes[10, 0] = 0
    return codes


def record_stitches(monkeypatch) -> list[tuple[list, object]]:
    """Record each cut zone's parts and its stitched polygon (the real _stitch runs)."""
    seen: list[tuple[list, object]] = []
    stitch = zone_polygons._stitch

    def recording(zones, rows):
        before = [(z, list(z.parts)) for z in zones if len(z.parts) > 1]
        stitch(zones, rows)
        seen.extend((parts, z.parts[0]) for z, parts in before)

    monkeypatch.setattr(zone_polygons, "_stitch", recording)
    return seen


def run_zones(path: Path, block_rows: int) -> zone_polygons.ZoneBatch:
    info = inspect_lcz(path)
    with rasterio.open(path) as src:
        return zone_polygons.ZoneBatch.concat(list(zone_polygons.polygon_zones(src, info, 0, block_rows)))


MAPS = {
    "zaragoza": lambda: zaragoza(slice(300, 420), slice(400, 560)),
    "snake": snake,
    "rings": rings,
    "corners": corners,
    "random": lambda: blobby(50, 40, seed=11, cell=2, noise=0.3, classes=3),
}


@pytest.mark.parametrize("block_rows", [1, 3, 7, 16, 64])
@pytest.mark.parametrize("name", sorted(MAPS))
def test_stitched_zones_equal_union_of_parts(tmp_path, monkeypatch, name, block_rows):
    codes = MAPS[name]()
    path = write_raster(tmp_path / "lcz.tif", codes)
    seen = record_stitches(monkeypatch)
    zones = run_zones(path, block_rows)
    if block_rows < codes.shape[0] // 2:
        assert seen, "the map should have zones cut by strip edges"
    for parts, stitched in seen:
        reference = shapely.simplify(shapely.union_all(parts), 0.0)
        assert stitched.geom_type == "Polygon" and stitched.is_valid
        assert shapely.equals_exact(shapely.normalize(stitched), shapely.normalize(reference), tolerance=0.0)
    # every zone is one polygon of exactly its pixels, and the zones tile the valid pixels
    assert zones.pixels.sum() == int((codes > 0).sum())
    assert np.array_equal(shapely.area(zones.geometry), zones.pixels)
    assert set(shapely.get_type_id(zones.geometry).tolist()) == {3}  # polygons only


@pytest.mark.parametrize("block_rows", [7, 16, 64])
def test_zaragoza_in_strips_equals_whole_map(tmp_path, block_rows):
    """The layer written in strips equals the layer of the whole map in one strip, where GDAL's
    polygons are written as they are and nothing is stitched."""
    path = write_raster(tmp_path / "lcz.tif", zaragoza(slice(0, 260), slice(0, 1210)))
    whole = vectorize_zones(path, tmp_path / "whole.gpkg", block_rows=4096, style=False)
    strips = vectorize_zones(path, tmp_path / "strips.gpkg", block_rows=block_rows, style=False)
    a, b = gpd.read_file(whole.path), gpd.read_file(strips.path)
    assert whole.zones == strips.zones == len(a) > 1000
    assert zone_set(a) == zone_set(b)
    assert b.is_valid.all() and set(b.geom_type) == {"Polygon"}
    assert np.allclose(a.sort_values(["lcz", "pixels"])["area_m2"].sum(), b["area_m2"].sum())


@pytest.mark.parametrize("name", ["snake", "rings", "corners"])
def test_adversarial_maps_in_strips_equal_whole_map(tmp_path, name):
    path = write_raster(tmp_path / "lcz.tif", MAPS[name]())
    whole = vectorize_zones(path, tmp_path / "whole.gpkg", block_rows=4096, style=False)
    a = gpd.read_file(whole.path)
    for block_rows in (1, 2, 5, 8):
        strips = vectorize_zones(path, tmp_path / f"s{block_rows}.gpkg", block_rows=block_rows, style=False)
        b = gpd.read_file(strips.path)
        assert zone_set(a) == zone_set(b), block_rows
        assert b.is_valid.all()


def test_snake_is_one_zone_with_its_holes(tmp_path):
    codes = snake()
    path = write_raster(tmp_path / "lcz.tif", codes)
    result = vectorize_zones(path, tmp_path / "z.gpkg", block_rows=2, style=False)
    frame = gpd.read_file(result.path)
    one = frame[frame["lcz"] == 1]
    assert len(one) == 1 and int(one["pixels"].iloc[0]) == int((codes == 1).sum())
    # the snake is a single polygon without holes: it encloses none of class 2's pixels
    geom = one.geometry.iloc[0]
    assert geom.geom_type == "Polygon" and len(geom.interiors) == 0


def test_strip_polygons_equal_shapely_shape(tmp_path):
    """The vectorised construction gives GDAL's rings vertex for vertex, rows offset."""
    codes = zaragoza(slice(100, 228), slice(0, 1210))
    labels, _ = label_patches(codes)
    found, built = zone_polygons._shapes(labels, 40)
    reference = {
        int(v): shapely.transform(shape(g), lambda xy: xy + np.array([0.0, 40.0]))
        for g, v in shapes(labels, mask=labels > 0, connectivity=4, transform=Affine.identity())
    }
    assert sorted(found.tolist()) == sorted(reference) and len(found) == labels.max()
    assert any(len(p.interiors) for p in built)
    for label, polygon in zip(found.tolist(), built):
        assert shapely.equals_exact(polygon, reference[label], tolerance=0.0)


def test_corners_only_drops_exactly_the_collinear_vertices():
    rng = np.random.default_rng(0)
    codes = (rng.random((30, 30)) < 0.55).astype(np.int32) + 1
    labels, _ = label_patches(codes.astype(np.uint8))
    polys = [shape(g) for g, _ in shapes(labels, mask=labels > 0, connectivity=4, transform=Affine.identity())]
    rings_in = shapely.get_rings(np.asarray(polys, dtype=object))
    dense = shapely.segmentize(rings_in, 1.0)  # a vertex at every pixel corner along each edge
    assert shapely.get_num_coordinates(dense).sum() > shapely.get_num_coordinates(rings_in).sum()
    out = zone_polygons._corners_only(dense)
    reference = shapely.simplify(dense, 0.0)
    assert np.array_equal(shapely.get_num_coordinates(out), shapely.get_num_coordinates(reference))
    same = shapely.equals_exact(shapely.normalize(shapely.polygons(out)), shapely.normalize(shapely.polygons(reference)), 0)
    assert same.all()


def test_outline_falls_back_to_the_general_union(tmp_path, monkeypatch):
    """A coverage union that comes back wrong (here: one part short) is replaced by union_all."""
    path = write_raster(tmp_path / "lcz.tif", snake())
    seen = record_stitches(monkeypatch)
    monkeypatch.setattr(shapely, "coverage_union_all", lambda parts: shapely.union_all(parts[1:]))
    run_zones(path, 4)
    assert seen
    for parts, stitched in seen:
        reference = shapely.simplify(shapely.union_all(parts), 0.0)
        assert shapely.equals_exact(shapely.normalize(stitched), shapely.normalize(reference), tolerance=0.0)

"""Scenes for the remote tests: the twin's GRD scene split into single-band tiled GeoTIFFs (the
layout of the Planetary Computer's assets: one COG per polarisation) and STAC Items for them."""

from __future__ import annotations

import rasterio
from rasterio.warp import transform_bounds


def split_scene(src_path, folder, block=256):
    """Write band 1 (VV) and 2 (VH) of ``src_path`` as tiled, deflated GeoTIFFs in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    with rasterio.open(src_path) as src:
        profile = src.profile.copy()
        profile.update(count=1, tiled=True, blockxsize=block, blockysize=block, compress="deflate", driver="GTiff")
        for b, pol in ((1, "vv"), (2, "vh")):
            path = folder / f"{pol}.tif"
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(src.read(b), 1)
                dst.set_band_description(1, pol.upper())
            out[pol] = path
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    return out, bounds


def item(item_id, base_url, rel, bounds, when, orbit=44, orbit_pass="ascending", platform="sentinel-1a", collection="s1-test"):
    """A STAC Item whose vv/vh assets are ``base_url/rel/{vv,vh}.tif`` (sigma0, linear power)."""
    w, s, e, n = bounds
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": collection,
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "bbox": [w, s, e, n],
        "properties": {
            "datetime": when,
            "platform": platform,
            "sat:orbit_state": orbit_pass,
            "sat:relative_orbit": orbit,
            "sar:polarizations": ["VV", "VH"],
        },
        "links": [],
        "assets": {
            pol: {
                "href": f"{base_url}/{rel}/{pol}.tif",
                "type": "image/tiff; application=geotiff",
                "roles": ["data"],
                "description": "sigma0, calibrated backscatter",
                "raster:bands": [{"unit": "linear"}],
                "file:size": 1000,
            }
            for pol in ("vv", "vh")
        },
        "stac_extensions": [],
    }


__all__ = ["split_scene", "item"]

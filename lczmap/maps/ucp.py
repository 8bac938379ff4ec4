"""Urban canopy parameters per pixel: :func:`map_ucp` writes the Stewart & Oke 2012 figures of
each pixel's LCZ class (float32 GeoTIFF, one named band per parameter, NaN for no data).

The table itself, and what is computed from it alone (:func:`ucp_table`, :func:`district_ucp`),
lives in :mod:`lczmap.canopy`; it is re-exported here."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .._io import check_not_inputs, check_output, gdal_messages
from ..canopy import UCP_PARAMETERS, UCP_VALUES, UcpValue, check_parameters, district_ucp, ucp_lookup, ucp_table
from ..errors import ZonesError
from ..zones.lczraster import DEFAULT_BLOCK_ROWS, CodeScheme, Progress, inspect_lcz, read_codes, strips

__all__ = ["UCP_PARAMETERS", "UCP_VALUES", "UcpValue", "ucp_table", "ucp_lookup", "map_ucp", "district_ucp"]


def map_ucp(
    lcz_path: str | os.PathLike,
    out_path: str | os.PathLike,
    value: UcpValue = "mid",
    parameters: tuple[str, ...] | None = None,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    overwrite: bool = False,
    block_rows: int | None = None,
    progress: Progress = None,
) -> Path:
    """Write the UCPs of each pixel of an LCZ map to ``out_path``: a float32 Cloud-Optimized
    GeoTIFF, one band per parameter (band description = parameter name, tags ``unit_<name>``),
    nodata NaN, on the map's grid. ``value``: the range's low, mid or high figure.
    Returns ``out_path``."""
    import rasterio

    from ..raster import create_float, publish_cog

    lookup = ucp_lookup(value, parameters)
    names = check_parameters(parameters)
    out = Path(out_path)
    check_not_inputs([out], [lcz_path])
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise ZonesError(f"the UCP raster {out} must be a GeoTIFF: end its name with .tif")
    check_output(out, overwrite)
    block_rows = block_rows or DEFAULT_BLOCK_ROWS
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=block_rows, progress=progress)
    tags = {"ucp_value": value, "ucp_source": "Stewart & Oke 2012, BAMS 93:1879, Tables 3 and 4", "lcz_map": str(info.path)}
    tags.update({f"unit_{n}": UCP_PARAMETERS[n][0] for n in names})
    height, width = info.shape
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        stage = Path(tmp) / "stage.tif"
        bar = progress(total=height, desc="write UCPs") if progress else None
        with (
            rasterio.open(info.path) as src,
            gdal_messages(),
            create_float(stage, len(names), height, width, info.transform, info.crs, names, tags) as dst,
        ):
            for win in strips(height, width, block_rows):
                codes_ = read_codes(src, info, win)
                dst.write(np.moveaxis(lookup[codes_], -1, 0), window=win)
                if bar is not None:
                    bar.update(win.height)
        if bar is not None:
            bar.close()
        publish_cog(stage, out, overwrite=overwrite, kind="float")
    return out

"""WRF ``geo_em.dXX.nc`` domains: read without netCDF4, and the grid w2w puts LCZ maps on.

WPS writes geo_em files as netCDF classic or as netCDF-4 (HDF5); the first are read with
:mod:`scipy.io` (``netcdf_file``), the second with :mod:`h5py`, both lczmap dependencies already.
:func:`read_wrf_domain` keeps what w2w (github.com/matthiasdemuzere/w2w, ``_get_wrf_grid_info``)
uses to place a map on the domain: the projection (MAP_PROJ 1, 2, 3, 6 on WRF's 6,370 km sphere),
the centre, DX, DY and the grid size; and the cell centres (XLAT_M, XLONG_M) its extent check reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from ..errors import DataError

__all__ = ["WrfDomain", "read_wrf_domain", "WRF_PROJECTIONS"]

#: WRF's MAP_PROJ codes that w2w places maps on, and their names.
WRF_PROJECTIONS = {1: "Lambert conformal", 2: "polar stereographic", 3: "Mercator", 6: "latitude-longitude"}
#: Radius of WRF's sphere (m).
_WRF_RADIUS = 6370000

_ATTRS = ("MAP_PROJ", "DX", "DY", "CEN_LAT", "CEN_LON", "TRUELAT1", "TRUELAT2", "STAND_LON")
_MORE_ATTRS = ("MOAD_CEN_LAT", "NUM_LAND_CAT", "MMINLU")


@dataclass(frozen=True)
class WrfDomain:
    """A WRF domain as a geo_em file describes it (``lat``/``lon``: cell centres, (rows, cols),
    row 0 the southernmost, as WRF stores them)."""

    path: Path
    map_proj: int
    dx: float
    dy: float
    cen_lat: float
    cen_lon: float
    truelat1: float
    truelat2: float
    moad_cen_lat: float
    stand_lon: float
    num_land_cat: int | None
    mminlu: str
    lat: np.ndarray = field(repr=False)
    lon: np.ndarray = field(repr=False)
    lu_index: np.ndarray | None = field(repr=False, default=None)

    @property
    def shape(self) -> tuple[int, int]:
        """(south_north, west_east) cells."""
        return (int(self.lat.shape[0]), int(self.lat.shape[1]))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the cell centres in degrees: what w2w's extent check
        compares the map's bounds with."""
        return (float(self.lon.min()), float(self.lat.min()), float(self.lon.max()), float(self.lat.max()))

    @property
    def proj4(self) -> str:
        """The domain's projection as w2w builds it (a PROJ string on WRF's sphere)."""
        r = f"+a={_WRF_RADIUS} +b={_WRF_RADIUS} +units=m +no_defs"
        match self.map_proj:
            case 1:
                return (
                    f"+proj=lcc +lat_1={self.truelat1} +lat_2={self.truelat2} +lat_0={self.moad_cen_lat} "
                    f"+lon_0={self.stand_lon} {r}"
                )
            case 2:
                hemi = -90.0 if self.truelat1 < 0 else 90.0
                return f"+proj=stere +lat_0={hemi} +lon_0={self.stand_lon} +lat_ts={self.truelat1} {r}"
            case 3:
                return f"+proj=merc +lon_0={self.stand_lon} +lat_ts={self.truelat1} {r}"
            case 6:
                return f"+proj=eqc +lon_0={self.stand_lon} {r}"
        raise DataError(f"{self.path}: MAP_PROJ {self.map_proj} is not one w2w handles ({_projections()})")

    @property
    def transform(self) -> Affine:
        """The grid's affine transform in :attr:`proj4` as w2w computes it: centred on CEN_LON,
        CEN_LAT, DX by DY cells, row 0 at the south (a positive y step)."""
        from pyproj import Transformer

        to_wrf = Transformer.from_crs("EPSG:4326", self.proj4, always_xy=True)
        e, n = to_wrf.transform(self.cen_lon, self.cen_lat)
        ny, nx = self.shape
        x0 = -(nx - 1) / 2.0 * self.dx + e
        y0 = -(ny - 1) / 2.0 * self.dy + n
        return Affine.translation(x0 - self.dx / 2, y0 - self.dy / 2) @ Affine.scale(self.dx, self.dy)


def _projections() -> str:
    return ", ".join(f"{k} {v}" for k, v in WRF_PROJECTIONS.items())


def read_wrf_domain(path: str | os.PathLike) -> WrfDomain:
    """Read a WRF geo_em file (netCDF classic or netCDF-4). :class:`DataError` naming what is
    missing when ``path`` is not one."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p} does not exist: give the WRF geo_em.dXX.nc file made by WPS (geogrid.exe)")
    with open(p, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\x89HDF"):
        attrs, arrays = _read_hdf5(p)
    elif magic.startswith(b"CDF"):
        attrs, arrays = _read_classic(p)
    else:
        raise DataError(f"{p} is not a netCDF file: give the WRF geo_em.dXX.nc file made by WPS (geogrid.exe)")
    missing = [a for a in _ATTRS if a not in attrs] + [v for v in ("XLAT_M", "XLONG_M") if v not in arrays]
    if missing:
        raise DataError(f"{p} is not a WRF geo_em file: it lacks {', '.join(missing)}; give the file geogrid.exe wrote")
    lat, lon = (np.asarray(arrays[v], dtype=np.float64) for v in ("XLAT_M", "XLONG_M"))
    lat, lon = (a[0] if a.ndim == 3 else a for a in (lat, lon))
    if lat.ndim != 2 or lat.shape != lon.shape or min(lat.shape) < 1:
        raise DataError(f"{p}: XLAT_M and XLONG_M are not one 2-D grid (shapes {lat.shape}, {lon.shape})")
    lu = arrays.get("LU_INDEX")
    if lu is not None:
        lu = np.asarray(lu)
        lu = lu[0] if lu.ndim == 3 else lu
    map_proj = int(_scalar(attrs["MAP_PROJ"]))
    if map_proj not in WRF_PROJECTIONS:
        raise DataError(f"{p}: MAP_PROJ {map_proj} is not one w2w handles ({_projections()})")
    mminlu = attrs.get("MMINLU", b"")
    return WrfDomain(
        path=p,
        map_proj=map_proj,
        dx=float(_scalar(attrs["DX"])),
        dy=float(_scalar(attrs["DY"])),
        cen_lat=float(_scalar(attrs["CEN_LAT"])),
        cen_lon=float(_scalar(attrs["CEN_LON"])),
        truelat1=float(_scalar(attrs["TRUELAT1"])),
        truelat2=float(_scalar(attrs["TRUELAT2"])),
        moad_cen_lat=float(_scalar(attrs.get("MOAD_CEN_LAT", attrs["CEN_LAT"]))),
        stand_lon=float(_scalar(attrs["STAND_LON"])),
        num_land_cat=int(_scalar(attrs["NUM_LAND_CAT"])) if "NUM_LAND_CAT" in attrs else None,
        mminlu=(mminlu.decode() if isinstance(mminlu, bytes) else str(mminlu)).strip(),
        lat=lat,
        lon=lon,
        lu_index=lu,
    )


def _scalar(value: Any) -> Any:
    a = np.asarray(value)
    if a.dtype.kind == "S":
        return a.item()
    return a.reshape(-1)[0].item() if a.size else np.nan


def _read_hdf5(p: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            attrs = {k: f.attrs[k] for k in (*_ATTRS, *_MORE_ATTRS) if k in f.attrs}
            arrays = {k: f[k][()] for k in ("XLAT_M", "XLONG_M", "LU_INDEX") if k in f}
    except OSError as exc:
        raise DataError(f"{p} cannot be read as netCDF-4 ({exc}): give the WRF geo_em.dXX.nc file") from None
    return attrs, arrays


def _read_classic(p: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from scipy.io import netcdf_file

    try:
        with netcdf_file(p, "r", mmap=False) as f:
            # netcdf_file sets the global attributes as attributes of the file object
            attrs = {k: getattr(f, k) for k in (*_ATTRS, *_MORE_ATTRS) if hasattr(f, k)}
            arrays = {k: np.array(f.variables[k][:]) for k in ("XLAT_M", "XLONG_M", "LU_INDEX") if k in f.variables}
    except (OSError, TypeError, ValueError) as exc:
        raise DataError(f"{p} cannot be read as netCDF classic ({exc}): give the WRF geo_em.dXX.nc file") from None
    return attrs, arrays

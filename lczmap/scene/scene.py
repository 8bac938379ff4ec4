"""The :class:`Scene`: a small, picklable description of where each model channel comes from
(file, band, real/imaginary part), its units and backscatter normalisation, the incidence angle and
validity masks that go with it, and the 10 m grid the model sees."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..bands import Backscatter, Channel
from ..errors import RemoteError
from .grid import Warp
from .masks import MaskKind, invalid
from .mirror import read_mirrored
from .units import Part, Units, band_values, band_values_in_place

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["Scene", "SceneBand", "SceneAngle", "SceneMask", "SceneReader"]


@dataclass(frozen=True)
class SceneBand:
    """Where one model channel comes from: ``path``, 1-based ``band``, ``part`` of a complex value."""

    path: str
    band: int
    part: Part
    nodata: float | None
    channel: Channel


@dataclass(frozen=True)
class SceneAngle:
    """The incidence angle: ``path``, 1-based ``band``, ``scale`` to radians (pi/180 for degrees)."""

    path: str
    band: int
    scale: float
    nodata: float | None = None


@dataclass(frozen=True)
class SceneMask:
    """A validity mask beside the scene: ``path``, 1-based ``band`` and how to read it (``kind``,
    see :mod:`lczmap.scene.masks`)."""

    path: str
    band: int
    kind: MaskKind


class SceneReader(Protocol):
    """A source that reads windows of a scene's grid itself (a SAFE product's
    :class:`~lczmap.scene.safe.SafeReader` and :class:`~lczmap.scene.safe.SlcReader`)."""

    def read_window(
        self, bands: tuple[SceneBand, ...], rlo: int, rhi: int, clo: int, chi: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        """``bands`` on rows ``rlo:rhi`` and columns ``clo:chi`` (inside the grid), float32
        (C, rows, columns), NaN where there is no data; into ``out`` when given."""
        ...


@dataclass(frozen=True)
class Scene:
    """A scene ready for a model: channels in the model's order, on a 10 m grid.

    ``read(r0, r1, c0, c1)`` -> float32 (C, r1 - r0, c1 - c0), physical units the model expects
    (linear sigma0 intensity or complex parts), NaN where the scene has no data.

    ``quantity``: what the file's intensities are normalised by; gamma0 is converted to sigma0 as
    ``gamma0 * cos(angle)`` and beta0 as ``beta0 * sin(angle)`` (flat terrain) with ``angle``.
    ``masks``: validity masks on the scene's source grid (invalid pixels read as NaN).
    ``extra_nodata``: values of intensity bands that mean no data besides the band's nodata.
    ``conversions``: what was done to the input, one line each, as predict writes into the map's tags.
    ``reader``: a source that reads windows of the grid itself (:class:`SceneReader`, e.g.
    :class:`~lczmap.scene.safe.SafeReader`); None reads ``bands`` with rasterio.
    ``prefiltered``: the reader gives the Lee channels filtered already (an IW SLC read for
    ``s1-all``), so the tile kernel must not filter them again.
    """

    name: str
    bands: tuple[SceneBand, ...]
    units: Units
    crs: str
    transform: tuple
    height: int
    width: int
    warp: Warp | None = None
    band_set: str | None = None
    sources: tuple[str, ...] = field(default=())
    quantity: Backscatter = "sigma0"
    angle: SceneAngle | None = None
    masks: tuple[SceneMask, ...] = ()
    extra_nodata: tuple[float, ...] = ()
    conversions: tuple[str, ...] = ()
    reader: SceneReader | None = None
    prefiltered: bool = False

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform[:6])

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.bands), self.height, self.width)

    @property
    def channel_names(self) -> list[str]:
        return [b.channel.name for b in self.bands]

    def read(self, r0: int, r1: int, c0: int, c1: int, out: np.ndarray | None = None) -> np.ndarray:
        """Pixels of rows ``r0:r1`` and columns ``c0:c1`` (may run outside the scene: mirrored),
        into ``out`` (float32, C x rows x columns) when given. A remote file that fails to read
        (a signature that expired mid-run, a server error GDAL's retries did not cure) raises the
        one-line :class:`~lczmap.errors.RemoteError` of :meth:`remote_failure`."""
        try:
            return read_mirrored(self._read_window, self.height, self.width, r0, r1, c0, c1, out=out)
        except rasterio.errors.RasterioError as exc:
            remote = self.remote_failure(exc)
            if remote is not None:
                raise remote from None
            raise

    @property
    def paths(self) -> list[str]:
        """Every file the scene reads: its sources, the angle raster and the masks."""
        return [*self.sources, *([self.angle.path] if self.angle is not None else []), *(m.path for m in self.masks)]

    def remote_failure(self, exc: BaseException) -> RemoteError | None:
        """The one line for GDAL's failure ``exc`` to read a remote file of this scene
        (:func:`lczmap.remote.http.read_failure`: the HTTP status GDAL names or, when it names
        none, the status the file's address answers now), or None when no remote file explains it."""
        from ..remote.http import read_failure

        return read_failure(self.paths, exc)

    def _read_window(self, rlo: int, rhi: int, clo: int, chi: int, out: np.ndarray | None = None) -> np.ndarray:
        if self.reader is not None:
            return self.reader.read_window(self.bands, rlo, rhi, clo, chi, out)
        window = Window(clo, rlo, chi - clo, rhi - rlo)
        if out is None:
            out = np.empty((len(self.bands), rhi - rlo, chi - clo), dtype=np.float32)
        by_file: dict[str, list[int]] = {}
        for i, b in enumerate(self.bands):
            by_file.setdefault(b.path, []).append(i)
        extra = self.extra_nodata
        for path, members in by_file.items():
            with rasterio.open(path) as src, self._source(src) as ds:
                raws: dict[int, np.ndarray] = {}
                for i in members:
                    b = self.bands[i]
                    if b.part == "value" and ds.dtypes[b.band - 1] == "float32":
                        ds.read(b.band, window=window, out=out[i])  # straight into place
                        band_values_in_place(out[i], b.nodata, self.units, b.channel.quantity, extra)
                        continue
                    if b.band not in raws:
                        raws[b.band] = ds.read(b.band, window=window)
                    out[i] = band_values(raws[b.band], b.part, b.nodata, self.units, b.channel.quantity, extra)
        if self.angle is not None and self.quantity != "sigma0":
            factor = self._read_aux(self.angle.path, self.angle.band, window).astype(np.float32)
            if self.angle.nodata is not None:
                factor[factor == np.float32(self.angle.nodata)] = np.nan
            factor *= np.float32(self.angle.scale)
            factor = np.cos(factor) if self.quantity == "gamma0" else np.sin(factor)
            for i, b in enumerate(self.bands):
                if b.channel.quantity == "intensity":
                    out[i] *= factor
        for m in self.masks:
            out[:, invalid(self._read_aux(m.path, m.band, window, "nearest"), m.kind)] = np.nan
        return out

    def _read_aux(self, path: str, band: int, window: Window, resampling: str | None = None) -> np.ndarray:
        """A band of an angle or mask file on the scene's grid (``resampling`` when warped)."""
        with rasterio.open(path) as src, self._source(src, resampling) as ds:
            return ds.read(band, window=window)

    @contextlib.contextmanager
    def _source(self, src: DatasetReader, resampling: str | None = None) -> Iterator[DatasetReader | WarpedVRT | _GcpWarp]:
        """``src`` itself, or read on the scene's grid: a WarpedVRT, or for a GCP raster a
        :class:`_GcpWarp` (rasterio's WarpedVRT ignores GCPs when it is given the target grid:
        it returned nodata for projected GCPs and pixels from the wrong place for lon/lat ones)."""
        w = self.warp
        if w is None:
            yield src
            return
        nodata = src.nodata if src.nodata is not None else (np.nan if src.dtypes[0].startswith("float") else 0)
        if resampling is not None:
            w = dataclasses.replace(w, resampling=resampling)
        if src.gcps[0]:
            yield _GcpWarp(src, w, nodata)
            return
        with WarpedVRT(
            src,
            crs=CRS.from_user_input(w.crs),
            transform=Affine(*w.transform[:6]),
            width=w.width,
            height=w.height,
            resampling=Resampling[w.resampling],
            src_nodata=src.nodata,
            nodata=nodata,
        ) as vrt:
            yield vrt

    def to_dataarray(self, chunks: int = 2048) -> xr.DataArray:
        """The scene as a dask-backed ``xarray.DataArray`` (band, y, x) with pixel-centre coordinates
        and its CRS as a ``spatial_ref`` coordinate, the way rioxarray and odc-geo store it
        (``da.rio.crs``, ``da.odc.geobox``); ``attrs`` keep ``crs``, ``transform``, ``units`` and
        ``band_set``."""
        import dask.array as dsa
        import xarray as xr
        from odc.geo.geobox import GeoBox
        from odc.geo.xr import xr_coords

        arr = dsa.from_array(_ArrayView(self), chunks=(len(self.bands), chunks, chunks), lock=False, asarray=True)
        grid = GeoBox((self.height, self.width), self.affine, self.crs)
        return xr.DataArray(
            arr,
            dims=("band", "y", "x"),
            coords={"band": self.channel_names, **xr_coords(grid, crs_coord_name="spatial_ref")},
            name=self.name,
            attrs={"crs": self.crs, "transform": tuple(self.transform[:6]), "units": self.units, "band_set": self.band_set or ""},
        )


class _GcpWarp:
    """Windows of the target grid ``warp`` read from the GCP raster ``src`` with
    ``rasterio.warp.reproject``, which warps with the raster's own GCPs (in any CRS); GDAL reads
    only the source region a window needs. Has the ``dtypes`` and ``read`` a Scene uses."""

    def __init__(self, src: DatasetReader, warp: Warp, nodata: float):
        self.src, self.warp, self.nodata = src, warp, nodata
        self.dtypes = src.dtypes

    def read(self, band: int, window: Window, out: np.ndarray | None = None) -> np.ndarray:
        from rasterio.warp import reproject

        rows, cols = int(window.height), int(window.width)
        if out is None:
            out = np.empty((rows, cols), dtype=self.dtypes[band - 1])
        out.fill(self.nodata)
        w = self.warp
        reproject(
            rasterio.band(self.src, band),
            out,
            dst_transform=Affine(*w.transform[:6]) @ Affine.translation(window.col_off, window.row_off),
            dst_crs=CRS.from_user_input(w.crs),
            resampling=Resampling[w.resampling],
            src_nodata=self.src.nodata,
            dst_nodata=self.nodata,
        )
        return out


class _ArrayView:
    """Array-like view of a scene for ``dask.array.from_array`` (picklable: holds the Scene)."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.shape = scene.shape
        self.dtype = np.dtype("float32")
        self.ndim = 3

    def __getitem__(self, key: tuple[Any, slice, slice]) -> np.ndarray:
        bands, rows, cols = key
        r = range(*rows.indices(self.shape[1]))
        c = range(*cols.indices(self.shape[2]))
        return self.scene.read(r.start, r.stop, c.start, c.stop)[bands]

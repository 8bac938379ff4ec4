"""Writing vector outputs: atomically, appending batch by batch where the format allows.

The format follows the output's extension (:data:`VECTOR_FORMATS`, plus ``.csv`` for tables).
:func:`vector_sink` writes through :func:`lczmap._io.output_fileset`: the layer, a Shapefile's
sidecars (.shx, .dbf, .prj, .cpg) and any companion files (a QGIS style, a CSV copy) are
written to temporary files, reopened and checked (the feature count read back must equal the
count written), and only then replace the old files, together.

A GeoPackage is a container: QGIS keeps many layers, styles and rasters in one. Writing to an
existing GeoPackage (with ``overwrite``) therefore replaces only the layer of that name: the
file is copied, the layer written into the copy, every other layer checked to be still whole,
and the copy replaces the file. A file with the .gpkg extension that is not a GeoPackage is
replaced as a whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._io import OutputFileset, check_free_space, check_input, out_of_space, output_fileset, write_error
from ..errors import MissingDependencyError, OutputError, ZonesError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "read_vector",
    "read_vector_layers",
    "vector_layers",
    "VECTOR_FORMATS",
    "VectorSink",
    "geopackage_layers",
    "vector_driver",
    "vector_outputs",
    "vector_sink",
]

#: Output formats by file extension: the OGR driver.
VECTOR_FORMATS: dict[str, str] = {
    ".gpkg": "GPKG",
    ".parquet": "Parquet",
    ".geoparquet": "Parquet",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
}
#: Files GDAL writes beside a Shapefile's .shp.
SHAPEFILE_SIDECARS = (".shx", ".dbf", ".prj", ".cpg")
#: Spatial indexes and metadata of an old Shapefile that would not match the new one.
SHAPEFILE_STALE = (".qix", ".sbn", ".sbx", ".shp.xml")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def vector_driver(path: Path, table_ok: bool = False) -> str:
    """The driver for ``path`` by its extension (``"CSV"`` for .csv when ``table_ok``)."""
    ext = path.suffix.lower()
    if table_ok and ext == ".csv":
        return "CSV"
    if ext not in VECTOR_FORMATS:
        kinds = ", ".join(sorted(set(VECTOR_FORMATS) | ({".csv"} if table_ok else set())))
        raise ZonesError(f"cannot tell the format of {path} (OUTPUT): end its name with one of {kinds}")
    return VECTOR_FORMATS[ext]


def vector_outputs(path: Path, driver: str) -> list[Path]:
    """The files a vector output consists of: the file itself and a Shapefile's sidecars."""
    if driver == "ESRI Shapefile":
        return [path, *(path.with_suffix(s) for s in SHAPEFILE_SIDECARS)]
    return [path]


def geopackage_layers(path: Path) -> dict[str, int] | None:
    """Feature count of each layer of an existing GeoPackage; None when ``path`` is not one."""
    try:
        with open(path, "rb") as f:
            if f.read(16) != _SQLITE_MAGIC:
                return None
        import pyogrio

        return {str(name): int(pyogrio.read_info(path, layer=str(name))["features"]) for name, _ in pyogrio.list_layers(path)}
    except Exception:  # not a file, not readable, not a GeoPackage GDAL opens: nothing to keep
        return None


def check_space_for_layer(path: Path, driver: str, overwrite: bool) -> None:
    """Before any work: a layer written into an existing GeoPackage needs room for a copy of it."""
    if driver == "GPKG" and overwrite and path.is_file() and geopackage_layers(path) is not None:
        check_free_space(path, path.stat().st_size + (1 << 20))


class VectorSink:
    """Writes GeoDataFrames in batches to the fileset's temporary file (GeoParquet at the end, in
    :meth:`finish`; the other formats are appended to); the layer is named ``layer``.

    keep: the layers (and their feature counts) of the existing GeoPackage the layer is written
    into; None for a new file.
    """

    def __init__(self, fileset: OutputFileset, driver: str, layer: str, keep: dict[str, int] | None = None):
        self.fileset = fileset
        self.tmp = fileset.main
        self.driver = driver
        self.layer = layer
        self.keep = {name: n for name, n in (keep or {}).items() if name != layer}
        self.frames: list[pd.DataFrame] = []
        self.count = 0
        if keep is not None:
            shutil.copyfile(fileset.path, self.tmp)  # a full disk: atomic_path's one line

    def _failed(self, exc: BaseException) -> OutputError:
        return write_error(exc, self.fileset.path, [self.tmp])

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (a GeoDataFrame, or a DataFrame for a CSV table) to the layer."""
        try:
            if self.driver == "Parquet":
                self.frames.append(frame)
            elif self.driver == "CSV":
                frame.drop(columns=frame.geometry.name, errors="ignore").to_csv(
                    self.tmp, mode="a", header=self.count == 0, index=False
                )
            else:
                import pyogrio

                pyogrio.write_dataframe(
                    frame,
                    self.tmp,
                    driver=self.driver,
                    append=self.count > 0,
                    layer=self.layer,
                    promote_to_multi=False,
                )
        except (OSError, RuntimeError) as exc:  # pyogrio's errors are RuntimeErrors
            raise self._failed(exc) from None
        self.count += len(frame)

    def finish(self) -> None:
        if self.driver != "Parquet":
            return
        import pandas as pd

        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise MissingDependencyError("GeoParquet output needs pyarrow: pip install pyarrow") from None
        frame = pd.concat(self.frames, ignore_index=True) if len(self.frames) > 1 else self.frames[0]
        try:
            frame.to_parquet(self.tmp, index=False)
        except (OSError, RuntimeError) as exc:
            raise self._failed(exc) from None

    def verify(self) -> None:
        """Reopen the written file: its feature count (and a kept GeoPackage's other layers) must
        read back as written; GDAL does not always report a failed write."""
        try:
            got = _feature_count(self.tmp, self.driver, self.layer)
            layers = geopackage_layers(self.tmp) if self.keep else {}
            lost = sorted(name for name, n in self.keep.items() if (layers or {}).get(name) != n)
        except Exception as exc:  # reading a broken file fails in many ways
            raise self._failed(exc) from None
        if got != self.count or lost:
            what = f"{got} of {self.count} features read back" if got != self.count else f"layers {', '.join(lost)} changed"
            if out_of_space(None, [self.tmp]):
                raise self._failed(OSError(28, "No space left on device"))
            raise OutputError(f"writing {self.fileset.path} failed ({what}): the old file, if any, is kept")


def _feature_count(path: Path, driver: str, layer: str) -> int:
    if driver == "CSV":
        import pandas as pd

        return len(pd.read_csv(path)) if path.stat().st_size else 0
    if driver == "Parquet":
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    import pyogrio

    info = pyogrio.read_info(path, layer=layer if driver == "GPKG" else None, force_feature_count=True)
    return int(info["features"])


@contextlib.contextmanager
def vector_sink(
    path: str | os.PathLike,
    driver: str,
    overwrite: bool = False,
    layer: str | None = None,
    extras: Sequence[tuple[Path, Callable[[Path], None]]] = (),
) -> Iterator[VectorSink]:
    """A :class:`VectorSink` for ``path`` (layer ``layer``, default: the file's stem).

    When the block ends without an error, the layer is reopened and checked, ``extras``
    (``(target, write)``: ``write(tmp)`` writes and checks the file that replaces ``target``)
    are written, and all of them replace the old files together; when anything fails, the old
    files are kept and nothing is left behind.
    """
    path = Path(path)
    layer = layer or path.stem
    shapefile = driver == "ESRI Shapefile"
    with output_fileset(
        path, overwrite, sidecars=SHAPEFILE_SIDECARS if shapefile else (), stale=SHAPEFILE_STALE if shapefile else ()
    ) as fileset:  # one writer of path at a time: the layers to keep are read under its lock
        keep = geopackage_layers(path) if driver == "GPKG" and overwrite and path.is_file() else None
        sink = VectorSink(fileset, driver, layer, keep)
        yield sink
        sink.finish()
        sink.verify()
        for target, write in extras:
            fileset.extra(target, write)


def read_vector(
    source: str | os.PathLike | gpd.GeoDataFrame, layer: str | None, what: str, hint: str
) -> tuple[gpd.GeoDataFrame, str]:
    """A GeoDataFrame and a name for messages, from a path (any format GDAL reads, GeoParquet)
    or a GeoDataFrame (copied). ``what`` names the layer in messages ("districts layer"),
    ``hint`` says what to give instead ("a polygon layer (.gpkg, .shp ...)"). Refuses a missing or
    unreadable file and a layer without CRS, each in one line."""
    frame, name = _read_one(source, layer, what, hint)
    _check_crs(frame, name)
    return frame, name


def _read_one(
    source: str | os.PathLike | gpd.GeoDataFrame, layer: str | None, what: str, hint: str
) -> tuple[gpd.GeoDataFrame, str]:
    import geopandas as gpd

    if isinstance(source, gpd.GeoDataFrame):
        return source.copy(), f"the {what}"
    path = Path(source)
    if not path.exists():
        raise ZonesError(f"{what} {path} does not exist: give {hint}")
    check_input(path, what, ZonesError)  # a named pipe would hang GDAL
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path, layer=layer)
    except Exception as exc:  # pyogrio/GDAL errors have no common base class
        raise ZonesError(f"cannot read {what} {path} ({' '.join(str(exc).split())[:160]}): give {hint}") from None
    return frame, str(path)


def _check_crs(frame: gpd.GeoDataFrame, name: str) -> None:
    if frame.crs is None:
        raise ZonesError(f"{name} has no CRS: assign one (e.g. ogr2ogr -a_srs EPSG:4326 out.gpkg in.gpkg)")


def vector_layers(path: Path) -> list[str]:
    """The names of the layers of the vector file ``path``, in file order (a KML/KMZ file's
    folders and its document-level placemarks are layers); [] when GDAL cannot list them."""
    import pyogrio

    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception:  # not a file GDAL lists layers of: reading it says why
        return []


def read_vector_layers(
    source: str | os.PathLike | gpd.GeoDataFrame, layer: str | None, what: str, hint: str
) -> tuple[list[tuple[str, gpd.GeoDataFrame]], str]:
    """Every layer of a vector file as ``(layer name, GeoDataFrame)`` in file order, or only
    ``layer`` when given, and a name for messages. Each layer is read by its name, so that a
    multi-layer file (a KML's folders, a GeoPackage's tables) is read whole and without pyogrio's
    "more than one layer" warning; a GeoDataFrame (copied) or a GeoParquet file is one layer named
    ``""``. Features without a geometry are dropped. Refuses, each in one line, a missing or
    unreadable file and a layer with features but no CRS (``what`` and ``hint`` as
    :func:`read_vector`)."""
    import geopandas as gpd

    names: list[str | None] = [layer]
    if not isinstance(source, gpd.GeoDataFrame):
        check_input(source, what, ZonesError)  # a named pipe would hang GDAL
    if layer is None and not isinstance(source, gpd.GeoDataFrame) and Path(source).exists():
        names = list(vector_layers(Path(source))) or [None]
    parts: list[tuple[str, gpd.GeoDataFrame]] = []
    name = ""
    for layer_name in names:
        frame, name = _read_one(source, layer_name, what, hint)
        frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
        if len(frame):
            _check_crs(frame, name)
        parts.append((layer_name or "", frame))
    return parts, name

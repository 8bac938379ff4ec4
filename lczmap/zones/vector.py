"""Writing vector outputs: atomically, appending batch by batch where the format allows.

The format follows the output's extension (:data:`VECTOR_FORMATS`, plus ``.csv`` for tables).
:func:`vector_sink` writes through :func:`lczmap._io.atomic_path`: the layer appears under its
name only when complete, and a Shapefile's sidecars (.shx, .dbf, .prj, .cpg) are moved into
place before the .shp itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from .._io import atomic_path, check_output
from ..errors import MissingDependencyError, ZonesError

__all__ = ["VECTOR_FORMATS", "VectorSink", "vector_driver", "vector_sink"]

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


def vector_driver(path: Path, table_ok: bool = False) -> str:
    """The driver for ``path`` by its extension (``"CSV"`` for .csv when ``table_ok``)."""
    ext = path.suffix.lower()
    if table_ok and ext == ".csv":
        return "CSV"
    if ext not in VECTOR_FORMATS:
        kinds = ", ".join(sorted(set(VECTOR_FORMATS) | ({".csv"} if table_ok else set())))
        raise ZonesError(f"cannot tell the format of {path} (OUTPUT): end its name with one of {kinds}")
    return VECTOR_FORMATS[ext]


class VectorSink:
    """Writes GeoDataFrames in batches to the temporary file ``tmp`` (GeoParquet at the end, in
    :meth:`finish`; the other formats are appended to); the layer is named ``layer``."""

    def __init__(self, tmp: Path, driver: str, layer: str):
        self.tmp = tmp
        self.driver = driver
        self.layer = layer
        self.frames: list = []
        self.count = 0

    def write(self, frame) -> None:
        if self.driver == "Parquet":
            self.frames.append(frame)
        elif self.driver == "CSV":
            frame.drop(columns=frame.geometry.name, errors="ignore").to_csv(
                self.tmp, mode="a", header=self.count == 0, index=False
            )
        else:
            import pyogrio

            pyogrio.write_dataframe(
                frame, self.tmp, driver=self.driver, append=self.count > 0, layer=self.layer, promote_to_multi=False,
            )
        self.count += len(frame)

    def finish(self) -> None:
        if self.driver == "Parquet":
            import pandas as pd

            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise MissingDependencyError("GeoParquet output needs pyarrow: pip install pyarrow") from None
            frame = pd.concat(self.frames, ignore_index=True) if len(self.frames) > 1 else self.frames[0]
            frame.to_parquet(self.tmp, index=False)

    def sidecars(self) -> list[Path]:
        """Files the driver wrote beside the main file (a Shapefile's .shx, .dbf, .prj, .cpg)."""
        stem = self.tmp.name[: -len(self.tmp.suffix)] + "."
        return [p for p in self.tmp.parent.iterdir() if p.name.startswith(stem) and p != self.tmp]


@contextlib.contextmanager
def vector_sink(path: str | os.PathLike, driver: str, overwrite: bool = False) -> Iterator[VectorSink]:
    """A :class:`VectorSink` for ``path``; the layer (and its sidecars) is moved into place when
    the block ends without an error, and nothing is left behind when it fails."""
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        sink = VectorSink(tmp, driver, layer=path.stem)
        try:
            yield sink
            sink.finish()
            stem = tmp.name[: -len(tmp.suffix)]
            moves = [(part, path.with_name(path.stem + part.name[len(stem) :])) for part in sink.sidecars()]
            for _, target in moves:  # all checked before any is moved
                check_output(target, overwrite)
            for part, target in moves:  # before the main file, so that it never lacks its sidecars
                with atomic_path(target, overwrite=overwrite) as side:
                    os.replace(part, side)
        finally:
            for part in sink.sidecars():
                part.unlink(missing_ok=True)

"""LCZ mapping of whole scenes: tiles -> windows -> batches -> model -> LCZ raster.

One module per step: :mod:`~lczmap.predict.options` (:class:`PredictOptions`, what the user asked;
the defaults), :mod:`~lczmap.predict.plan` (:class:`TilePlan`, what will be done, resolved once by
:meth:`PredictOptions.resolve`: device, speckle filter, halo, batch size, AMP, threads),
:mod:`~lczmap.predict.model` (the model wrapper, checkpoint lookup), :mod:`~lczmap.predict.grid`
(output grid, tile plan, window blocks; odc-geo), :mod:`~lczmap.predict.kernel` (one tile on the
device), :mod:`~lczmap.predict.runner` (reader threads and buffer pool, local and dask.distributed
runs, :class:`Timings`), :mod:`~lczmap.predict.store` (tile results in memory, or beside the
output for ``resume``), :mod:`~lczmap.predict.smooth` (the filtered map) and
:mod:`~lczmap.predict.api` (:func:`predict_scene`, :func:`predict_scenes`,
:func:`predict_dataarray`).

Tiling: the output grid is cut into tiles of ``tile_size`` output pixels; each tile's input block
(with a halo of 16 pixels plus the stride offset) is read once, moved to the compute device, and
the windows are cut there as strided views. Reading the next tiles overlaps computing this one. A
tiled prediction equals the untiled one. Tiles can run on a dask.distributed cluster
(``scheduler``); finished tiles are recorded beside the output so that ``resume`` continues an
interrupted run. Windows running off the scene edge are filled by mirroring the scene.

The names below are imported on first use, so that ``lczmap.predict.options`` (for the CLI and
the QGIS form) loads without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .api import PredictResult, predict_dataarray, predict_scene, predict_scenes
    from .grid import Tile, output_geobox, output_grid, plan_tiles, window_rows
    from .kernel import TileResult, compute_tile, finish_tile, launch_tile, prepare_block
    from .model import Model, load_model, resolve_model_path
    from .options import DEFAULT_STRIDE, DEFAULT_TILE, PredictOptions
    from .plan import TilePlan, reader_settings
    from .runner import Timings, prepared_tiles

_LAZY = {
    "PredictOptions": "options",
    "DEFAULT_STRIDE": "options",
    "DEFAULT_TILE": "options",
    "Model": "model",
    "load_model": "model",
    "resolve_model_path": "model",
    "Tile": "grid",
    "output_geobox": "grid",
    "output_grid": "grid",
    "plan_tiles": "grid",
    "window_rows": "grid",
    "TileResult": "kernel",
    "prepare_block": "kernel",
    "launch_tile": "kernel",
    "finish_tile": "kernel",
    "compute_tile": "kernel",
    "TilePlan": "plan",
    "reader_settings": "plan",
    "Timings": "runner",
    "prepared_tiles": "runner",
    "PredictResult": "api",
    "predict_scene": "api",
    "predict_scenes": "api",
    "predict_dataarray": "api",
}

__all__ = [
    "PredictOptions",
    "TilePlan",
    "Model",
    "load_model",
    "resolve_model_path",
    "predict_scene",
    "predict_scenes",
    "predict_dataarray",
    "PredictResult",
    "Timings",
    "Tile",
    "TileResult",
    "prepare_block",
    "launch_tile",
    "finish_tile",
    "compute_tile",
    "prepared_tiles",
    "output_geobox",
    "output_grid",
    "window_rows",
    "plan_tiles",
    "reader_settings",
    "DEFAULT_STRIDE",
    "DEFAULT_TILE",
]


__getattr__, __dir__ = lazy_attributes(__name__, {name: f".{module}" for name, module in _LAZY.items()})

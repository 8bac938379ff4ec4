"""Large areas from many acquisitions: :func:`predict_mosaic` maps every Sentinel-1 scene over an
area onto ONE grid and fuses them (``probability``: each acquisition classified on its own,
probabilities combined; ``composite``: a temporal mean per relative orbit classified once per
orbit) into one LCZ map, its count of acquisitions and a footprints layer, or into COG tiles +
VRT + STAC; the tiles run as dask tasks.

Modules: ``options`` (:class:`MosaicOptions`), ``grid`` (the output grid and where each scene
lies on it), ``footprints`` (the inputs' index), ``fusion`` (one tile's fusion), ``run`` (tiles
on dask, resumable), ``tiles`` (tiles + VRT + STAC), ``api`` (the verb). Names are imported on
first use, so that ``lczmap.mosaic.options`` loads without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .api import MosaicResult, predict_mosaic
    from .grid import MosaicGrid, mosaic_grid
    from .options import FUSIONS, MosaicOptions

_LAZY = {
    "MosaicOptions": "options",
    "FUSIONS": "options",
    "MosaicGrid": "grid",
    "mosaic_grid": "grid",
    "MosaicResult": "api",
    "predict_mosaic": "api",
}

__all__ = ["predict_mosaic", "MosaicOptions", "MosaicResult", "MosaicGrid", "mosaic_grid", "FUSIONS"]

__getattr__, __dir__ = lazy_attributes(__name__, {name: f".{module}" for name, module in _LAZY.items()})

"""Product kinds: what a scene file is, from its name, folder and band descriptions: which files
hold which polarisation, what the values are (sigma0, gamma0 or beta0; linear power, amplitude
or dB), the incidence angle and the validity masks that go with them.

One module per kind, each with ``recognise(path) -> Product | None`` and ``IN_PAIR``
(:class:`~.base.Kind`); :data:`KINDS` lists them in the order
:func:`lczmap.scene.open.detect` asks them: the first that recognises a path decides, and a
raster none claims is a plain one (:func:`~.base.plain`). To add a kind, write its module and
add it to :data:`KINDS`. Nothing here reads pixels except Earth Engine's unit check.
"""

from __future__ import annotations

from . import gee, geotiff, hyp3, opera, planetary, safe, snap, stac
from .base import Kind, Product

__all__ = ["KINDS", "Kind", "Product"]

#: Product kinds in the order they are asked: STAC items and SAFE products (whole scenes, and
#: the refusal of a SAFE's measurement TIFF) before the kinds told by file name (HyP3, OPERA,
#: Planetary Computer, SNAP/pyroSAR), then those told by band descriptions (Earth Engine) and
#: plain single-band files named by polarisation.
KINDS: tuple[Kind, ...] = (stac, safe, hyp3, opera, planetary, snap, gee, geotiff)

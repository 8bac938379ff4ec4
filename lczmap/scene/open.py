"""Open a scene: the one place where the product kind of a path is decided.

:func:`detect` asks the product kinds of :data:`lczmap.scene.products.KINDS` in turn (the first
that recognises the path decides; a raster none claims is a plain one); :func:`open_scene` then
hands the product to the reader its ``layout`` names: :func:`lczmap.scene.safe.open_safe` for a
SAFE archive, :func:`lczmap.scene.raster.open_raster` for GDAL rasters."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from ..bands import BACKSCATTER, Backscatter, BandSet, band_set as _band_set
from ..errors import SceneError
from .grid import RESAMPLING, Aoi
from .products import KINDS
from .products.base import Product, plain
from .raster import check_source, open_raster
from .safe import open_safe
from .scene import Scene
from .units import UNITS, Units

__all__ = ["open_scene", "detect"]


def detect(path: str | None, vv: str | None = None, vh: str | None = None) -> Product:
    """The product ``path`` (or the ``vv``/``vh`` pair) is: the first kind of
    :data:`~lczmap.scene.products.KINDS` that recognises ``path``, or a plain raster. For a pair,
    each file is asked of the kinds that refuse being one file of a pair (a SAFE product), and the
    first file of the kinds that lend it their meaning (HyP3, OPERA...: quantity, units, angle,
    masks); the files stay the user's. Raises :class:`SceneError` for SAFE measurement TIFFs and
    for a SAFE product given as ``vv`` or ``vh``."""
    if path is not None:
        for kind in KINDS:
            found = kind.recognise(path)
            if found is not None:
                return found
        return plain(((path, None),))
    given = [p for p in (vv, vh) if p is not None]
    if not given:
        raise SceneError("no scene given: pass a scene file, or --vv/--vh files")
    for p in given:
        for kind in KINDS:
            if kind.IN_PAIR == "refused" and (whole := kind.recognise(p)) is not None:
                raise SceneError(f"{p} is a {whole.label} product: give it as the scene, not as --vv/--vh")
        check_source(p)  # any other folder, pipe or device
    forced = tuple((f, pol) for f, pol in ((vv, "VV"), (vh, "VH")) if f is not None)
    for kind in KINDS:
        if kind.IN_PAIR == "meaning" and (found := kind.recognise(given[0])) is not None:
            return dataclasses.replace(found, files=forced)  # the user's files, the product's meaning
    return plain(forced)


def open_scene(
    path: str | os.PathLike[str] | None = None,
    band_set: BandSet | str = "lee-intensity",
    *,
    vv: str | os.PathLike[str] | None = None,
    vh: str | os.PathLike[str] | None = None,
    bands: Sequence[str] | None = None,
    units: Units | None = None,
    quantity: Backscatter | None = None,
    resample: str | None = None,
    dem: str | os.PathLike[str] | None = None,
    aoi: Aoi | None = None,
    swaths: Sequence[str] | None = None,
) -> Scene:
    """Open a scene lazily for a model trained on ``band_set``.

    ``path``: one raster holding all polarisations, one file of a recognised product (ASF HyP3
    RTC, OPERA RTC-S1, Planetary Computer ``sentinel-1-rtc``, SNAP/pyroSAR output; the other
    polarisations, masks and angle layers are found beside it), an Earth Engine export, a
    local STAC Item (``.json``) or a Sentinel-1 SAFE product (``.SAFE`` folder or ``.zip``, IW GRD
    or SLC); or ``vv``/``vh``: one file each.
    ``bands``: names of the file's bands in order (e.g. ``["VH", "VV"]``), overriding band
    descriptions. ``units``: ``linear``, ``amplitude`` or ``db`` for intensity bands; None reads
    the product's naming, the band's unit tag or description, and otherwise assumes linear.
    Units are checked, not trusted: a given ``units`` that contradicts the product or a band's
    unit tag, tags that disagree, and linear intensity or amplitude with negative values raise
    :class:`SceneError` naming both facts. ``quantity``: ``sigma0``, ``gamma0`` or ``beta0``
    (None: what the product says, else sigma0); gamma0 and beta0 are converted to sigma0 with the
    product's incidence angle (``gamma0 * cos``, ``beta0 * sin``: flat terrain) and refused
    without one. A given ``quantity`` overrides what the product says (recorded in
    ``Scene.conversions``). Zero and -32768 in linear intensity bands, and the product's masks
    (HyP3 ``_ls_map.tif``, OPERA ``_mask.tif``), read as no data.
    ``resample``: resampling for scenes whose pixels are not 10 m (refused when None).
    ``dem``: a DEM to terrain-correct a Sentinel-1 SAFE product with (see
    :func:`~lczmap.scene.safe.open_safe`); it must cover the scene, or its part inside ``aoi`` (as
    ``PredictOptions.aoi``; the scene itself is not cropped). Refused for other scenes.
    ``swaths``: the sub-swaths of a Sentinel-1 IW SLC product to map (e.g. ``("IW1", "IW2")``;
    None: those it holds whole); refused for other scenes.
    Raises :class:`SceneError` when the scene cannot supply what the model needs.
    """
    bs = _band_set(band_set, "sar") if isinstance(band_set, str) else band_set
    if path is None and vv is None and vh is None:
        raise SceneError("no scene given: pass a scene file, or --vv/--vh files")
    if path is not None and (vv is not None or vh is not None):
        raise SceneError("give either one scene file or --vv/--vh files, not both")
    if resample is not None and resample not in RESAMPLING:
        raise SceneError(f"unknown resampling {resample!r}: choose one of {', '.join(RESAMPLING)}")
    if units is not None and units not in UNITS:
        raise SceneError(f"unknown units {units!r}: use {', '.join(UNITS)} (--units)")
    if quantity is not None and quantity not in BACKSCATTER:
        raise SceneError(f"unknown quantity {quantity!r}: use {', '.join(BACKSCATTER)} (--quantity)")

    path_, vv_, vh_ = (None if p is None else os.fspath(p) for p in (path, vv, vh))
    if path_ is not None:
        check_source(path_, folder=True)
    for given in (vv_, vh_):
        if given is not None:  # a folder may be a SAFE product, which detect names before refusing folders
            check_source(given, folder=True)
    product = detect(path_, vv_, vh_)  # first: a SAFE product given as a polarisation is named as one
    if vv_ is not None and vh_ is not None and _same_file(vv_, vh_):
        raise SceneError(f"--vv and --vh name the same file ({vv_}): give the VV file as --vv and the VH file as --vh")
    match product.layout:
        case "safe":  # calibrated and geocoded window by window
            return open_safe(
                product.files[0][0],
                bs,
                bands=bands,
                units=units,
                quantity=quantity,
                resample=resample,
                dem=dem,
                aoi=aoi,
                swaths=swaths,
            )
        case "rasters":
            if swaths is not None:
                raise SceneError(
                    "--swaths chooses sub-swaths of Sentinel-1 IW SLC products (.SAFE folder or .zip), "
                    "not of a raster, whose sub-swaths are merged already: drop --swaths"
                )
            if dem is not None:
                first = next(p for p in (path_, vv_, vh_) if p is not None)
                raise SceneError(
                    f"--dem applies to Sentinel-1 SAFE products (.SAFE folder or .zip, GRD or SLC), not "
                    f"to {os.path.basename(first)}: RTC and other geocoded products are already terrain "
                    "corrected; drop --dem"
                )
            return open_raster(product, bs, bands=bands, units=units, quantity=quantity, resample=resample)


def _same_file(a: str, b: str) -> bool:
    """Whether two local paths are one file (by name or by inode: a link or a copy's other name)."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

"""A local STAC Item (JSON), or an ItemCollection of one item (what ``lczmap search`` writes), as
a scene: its ``vv``/``vh`` (``hh``/``hv``) assets are the polarisations, hrefs relative to the
item or absolute (read with pystac; remote ones through GDAL's range requests). What the values
are comes from the item: the collection (``sentinel-1-rtc``: gamma0 linear power; OPERA RTC-S1:
gamma0 power), the assets' descriptions ("gamma naught", "sigma0"...) and ``raster:bands``
``unit`` (dB); an ``incidence_angle`` or ``angle`` asset supplies the angle, an OPERA ``mask``
asset the validity mask. ``sar:polarizations`` is checked against the assets."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from ...errors import MissingDependencyError, SceneError
from ..scene import SceneAngle, SceneMask
from .base import DEGREES, POLS, InPair, Product, parse_tokens
from .planetary import EVIDENCE as PLANETARY_EVIDENCE

if TYPE_CHECKING:
    import pystac

__all__ = ["recognise", "IN_PAIR", "is_item", "read_item"]

#: An item is a whole scene: a .json given as --vv/--vh is read as a raster (and refused as one).
IN_PAIR: InPair = "unasked"

_ANGLE_ASSETS = ("incidence_angle", "incidence-angle", "angle")


def recognise(path: str) -> Product | None:
    """The scene the local STAC Item ``path`` describes, or None when ``path`` is no local
    ``.json`` file; :class:`SceneError` for a JSON file that is not a usable Item."""
    return read_item(path) if is_item(path) else None


def is_item(path: str) -> bool:
    """Whether ``path`` names a local JSON file (a STAC Item is checked by :func:`read_item`)."""
    return str(path).lower().endswith(".json") and os.path.isfile(path)


def _quantity_units(item: pystac.Item, assets: dict[str, pystac.Asset]) -> tuple[str | None, str | None, str]:
    collection = (item.collection_id or "").lower()
    if collection == "sentinel-1-rtc":
        return "gamma0", "linear", PLANETARY_EVIDENCE
    if "opera" in collection or item.id.upper().startswith("OPERA_L2_RTC-S1"):
        return "gamma0", "linear", "the OPERA RTC-S1 product specification (gamma0 power)"
    quantity = units = None
    for asset in assets.values():
        text = " ".join(filter(None, [asset.title, asset.description])).lower()
        for words, q in (
            (("gamma naught", "gamma0", "gamma-0"), "gamma0"),
            (("sigma naught", "sigma0", "sigma-0"), "sigma0"),
            (("beta naught", "beta0", "beta-0"), "beta0"),
        ):
            if any(w in text for w in words):
                quantity = quantity or q
        for band in asset.extra_fields.get("raster:bands", []) or []:
            _, _, u = parse_tokens(str(band.get("unit", "")))
            units = units or u
    return quantity, units, f"the STAC item {item.id}"


def read_item(path: str) -> Product:
    """The scene a STAC Item describes; :class:`SceneError` when it is not an Item or has no
    ``vv``/``vh`` asset."""
    try:
        import pystac
    except ImportError:
        raise MissingDependencyError("reading STAC items needs pystac: pip install pystac") from None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SceneError(f"cannot read {path} as JSON ({exc}): give a STAC Item file") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection" and isinstance(data.get("features"), list):
        features = data["features"]
        if len(features) != 1:  # `lczmap search` writes an ItemCollection: one item is a scene
            raise SceneError(
                f"{path} is an ItemCollection of {len(features)} items: map them all with lczmap mosaic {path} OUT.tif, "
                "or keep one item (lczmap search --orbit/--pass/--datetime narrows the search)"
            )
        data = features[0]
    if not isinstance(data, dict) or data.get("type") != "Feature":
        raise SceneError(f'{path} is not a STAC Item (no "type": "Feature"): give an Item, not a Collection or a search result')
    try:
        item = pystac.Item.from_dict(data, href=os.path.abspath(path))
    except Exception as exc:  # pystac raises several kinds for a malformed item
        raise SceneError(f"{path} is not a valid STAC Item ({exc})") from None
    assets = {k.lower(): a for k, a in item.assets.items()}
    pols = [p for p in POLS if p.lower() in assets]
    if not pols:
        raise SceneError(
            f"STAC item {item.id} ({path}) has no vv or vh asset (it has: {', '.join(sorted(assets)) or 'none'}): "
            "give an item of a Sentinel-1 backscatter collection such as sentinel-1-rtc"
        )
    declared = item.properties.get("sar:polarizations")
    if isinstance(declared, list) and declared and not {str(p).upper() for p in declared} & set(pols):
        raise SceneError(f"STAC item {item.id} declares sar:polarizations {declared} but its assets are {pols}: fix the item")
    files = tuple((_href(assets[p.lower()]), p) for p in pols)
    quantity, units, evidence = _quantity_units(item, {p: assets[p.lower()] for p in pols})
    angle_key = next((k for k in _ANGLE_ASSETS if k in assets), None)
    mask = assets.get("mask")
    opera = "opera" in evidence.lower()
    return Product(
        "stac",
        f"STAC item {item.id}",
        files,
        quantity,  # type: ignore[arg-type]
        units,  # type: ignore[arg-type]
        evidence,
        angle=SceneAngle(_href(assets[angle_key]), 1, DEGREES) if angle_key else None,
        masks=(SceneMask(_href(mask), 1, "opera"),) if (mask is not None and opera) else (),
        angle_hint="add an incidence_angle asset to the item",
    )


def _href(asset: pystac.Asset) -> str:
    """The path GDAL opens for ``asset``: a local path, or a remote address as
    :func:`lczmap.remote.http.gdal_path` gives it (read with range requests; a Planetary
    Computer blob signed in GDAL's options, never in the path)."""
    from ...remote.http import gdal_path

    href = asset.get_absolute_href() or asset.href
    if href.startswith("file://"):
        href = href[len("file://") :]
    return gdal_path(href)

"""The index of the inputs: one :class:`Footprint` per input (product id, date, pass, relative
orbit when the product says so, its extent, what was converted, and whether it went in), the
scenes each output tile needs (:class:`FootprintIndex`), and the footprints GeoPackage.

What a product says about itself is read from, in turn: a SAFE product's manifest (the
``conversions`` lines the SAFE reader writes), a STAC Item's properties, a GeoTIFF's dataset tags
(``PRODUCT_ID``, ``ACQUISITION_DATE``/``DATETIME``/``DATE``, ``PASS``/``ORBIT_PASS``/
``ORBIT_DIRECTION``/``ORBIT_STATE``, ``RELATIVE_ORBIT``) and the Sentinel-1 file naming
(``S1A_IW_GRDH_1SDV_20200101T052104_..._030600_038179_...``: date, absolute orbit -> relative).
Without a product id an input is known by the real path of its first file, so the same file given
twice is counted once."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..predict.grid import Tile
from ..scene import Scene
from .grid import MosaicGrid, Placement, extent_in, scene_geobox

__all__ = ["Footprint", "FootprintIndex", "Status", "describe", "copolarisation", "write_footprints", "orbit_key"]

Status = Literal["used", "duplicate", "outside", "bad"]

_S1_NAME = re.compile(r"(S1[A-D])_\w{2}_\w{4}_\w{4}_(\d{8}T\d{6})_\d{8}T\d{6}_(\d{6})_")
_DATE = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})")
_POLS = {"SV": ("VV",), "SH": ("HH",), "DV": ("VV", "VH"), "DH": ("HH", "HV"), "VV": ("VV",), "HH": ("HH",)}
#: First absolute orbit of relative orbit 1, by satellite (orbits repeat every 175).
_ORBIT_START = {"S1A": 73, "S1B": 27, "S1C": 172}


@dataclass
class Footprint:
    """One input: ``source`` as given, ``name``, ``product_id``, ``date`` (ISO), ``orbit_pass``
    (ASCENDING, DESCENDING), ``relative_orbit``, ``polarisations`` the product holds,
    ``conversions`` (what was done to it), ``bounds`` (west, south, east, north degrees) and
    ``geometry`` (its extent, lon/lat, a shapely polygon), ``status`` and ``why``, and the
    opened ``scene`` (None when it could not be opened)."""

    source: str
    name: str
    product_id: str
    date: str | None = None
    orbit_pass: str | None = None
    relative_orbit: int | None = None
    polarisations: tuple[str, ...] = ()
    conversions: tuple[str, ...] = ()
    geometry: Any = None
    status: Status = "used"
    why: str = ""
    scene: Scene | None = field(default=None, repr=False)
    acquisitions: int = 0  # output pixels it went into (filled after the run)


def orbit_key(fp: Footprint) -> str:
    """The group of a composite: the relative orbit, else the pass, else the input alone."""
    if fp.relative_orbit is not None:
        return f"orbit {fp.relative_orbit}"
    if fp.orbit_pass is not None:
        return f"pass {fp.orbit_pass.lower()}"
    return f"input {fp.product_id}"


def _tags(path: str) -> dict[str, str]:
    import rasterio

    try:
        with rasterio.open(path) as ds:
            return {k.upper(): v for k, v in ds.tags().items()}
    except Exception:  # not a raster (a folder, a JSON): no tags
        return {}


def _band_pols(paths: Sequence[str]) -> tuple[str, ...]:
    """Polarisations named by the files' band descriptions, band tags or names (``_VV.tif``)."""
    import rasterio

    found: list[str] = []
    for path in dict.fromkeys(paths):
        for token in re.findall(r"(?<![A-Z])(VV|VH|HH|HV)(?![A-Z])", Path(path).name.upper()):
            found.append(token)
        try:
            with rasterio.open(path) as ds:
                for b in range(1, ds.count + 1):
                    text = " ".join([ds.descriptions[b - 1] or "", ds.tags(b).get("POLARISATION", "")]).upper()
                    found += re.findall(r"(?<![A-Z])(VV|VH|HH|HV)(?![A-Z])", text)
        except Exception:  # not a raster
            continue
    return tuple(dict.fromkeys(found))


def _first(tags: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if tags.get(k) not in (None, ""):
            return tags[k]
    return None


def _iso(text: str | None) -> str | None:
    if text is None:
        return None
    m = _DATE.search(text.replace("-", "").replace(":", ""))
    if m:
        y, mo, d, hh, mi, ss = m.groups()
        return f"{y}-{mo}-{d}T{hh}:{mi}:{ss}Z"
    m2 = re.search(r"(\d{4})-?(\d{2})-?(\d{2})", text)
    return f"{m2[1]}-{m2[2]}-{m2[3]}" if m2 else None


def describe(source: str, scene: Scene | None) -> Footprint:
    """What ``source`` (and its opened ``scene``, if any) says about itself; see the module."""
    files = [b.path for b in scene.bands] if scene is not None else []
    first = files[0] if files else source
    name = Path(source.rstrip("/")).name
    info: dict[str, Any] = {}
    if source.lower().endswith(".json"):
        try:
            item = json.loads(Path(source).read_text())
            props = item.get("properties", {})
            info = {
                "PRODUCT_ID": item.get("id"),
                "DATETIME": props.get("datetime") or props.get("start_datetime"),
                "PASS": props.get("sat:orbit_state"),
                "RELATIVE_ORBIT": props.get("sat:relative_orbit"),
            }
        except (OSError, ValueError, AttributeError):
            info = {}
    tags = _tags(first) if not info else {}
    product_id = _first(info, "PRODUCT_ID") or _first(tags, "PRODUCT_ID", "PRODUCT_NAME", "GRANULE")
    date = _iso(
        str(_first(info, "DATETIME") or _first(tags, "ACQUISITION_DATE", "DATETIME", "DATE", "ACQUISITION_START_UTC") or "")
        or None
    )
    orbit_pass = _first(info, "PASS") or _first(tags, "PASS", "ORBIT_PASS", "ORBIT_DIRECTION", "ORBIT_STATE")
    orbit = _first(info, "RELATIVE_ORBIT") or _first(tags, "RELATIVE_ORBIT", "RELATIVE_ORBIT_NUMBER", "TRACK")
    pols: tuple[str, ...] = ()
    conversions = scene.conversions if scene is not None else ()
    for line in conversions:  # a SAFE product's manifest, as its reader wrote it
        if line.startswith("orbit:"):
            m = re.search(r"relative (\d+), (\w+)", line)
            if m:
                orbit, orbit_pass = orbit or m[1], orbit_pass or m[2]
        elif line.startswith("acquisition:"):
            date = date or _iso(line)
        elif line.startswith("polarisations:"):
            pols = tuple(p.strip() for p in line.split(":", 1)[1].split("(")[0].split(",") if p.strip())
    s1 = _S1_NAME.search(name) or _S1_NAME.search(Path(first).name)
    if s1:
        date = date or _iso(s1[2])
        if orbit is None and s1[1] in _ORBIT_START:
            orbit = (int(s1[3]) - _ORBIT_START[s1[1]]) % 175 + 1
        if product_id is None and (source.rstrip("/").upper().endswith((".SAFE", ".ZIP"))):
            product_id = re.sub(r"\.(SAFE|zip)$", "", name, flags=re.IGNORECASE)
    date = date or _iso(name)
    if not pols:
        code = re.search(r"_1S(SV|SH|DV|DH)_", name)
        pols = _POLS[code[1]] if code else _band_pols([*files, source])
    if product_id is None:
        try:
            product_id = os.path.realpath(first)
        except (OSError, ValueError):
            product_id = first
    try:
        relative = int(orbit) if orbit is not None else None
    except (TypeError, ValueError):
        relative = None
    geometry = None
    if scene is not None:
        geometry = extent_in(scene_geobox(scene), "EPSG:4326").geom
    return Footprint(
        source,
        scene.name if scene is not None else name,
        str(product_id),
        date,
        str(orbit_pass).upper() if orbit_pass else None,
        relative,
        pols,
        tuple(conversions),
        geometry,
        scene=scene,
    )


def copolarisation(fp: Footprint) -> str | None:
    """VV or HH: the co-polarisation the input holds (from its product or its bands), or None."""
    co = {p for p in fp.polarisations if p in ("VV", "HH")}
    return co.pop() if len(co) == 1 else None


@dataclass
class FootprintIndex:
    """Which scenes each tile of a grid needs: ``placements[k]`` of ``scenes[k]`` on the grid,
    and for a tile the scenes whose reach overlaps it (found through the tiles each scene
    covers, never by testing every scene against every tile)."""

    grid: MosaicGrid
    placements: list[Placement]
    tile_pixels: int
    _by_tile: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = self.tile_pixels
        for k, p in enumerate(self.placements):
            if p.empty:
                continue
            for ty in range(p.out.i0 // t, (p.out.i1 - 1) // t + 1):
                for tx in range(p.out.j0 // t, (p.out.j1 - 1) // t + 1):
                    self._by_tile.setdefault((ty, tx), []).append(k)

    def tiles(self) -> list[tuple[int, int]]:
        """The (row, column) numbers of the tiles some scene reaches, in order; the others cost nothing."""
        return sorted(self._by_tile)

    def tile(self, ty: int, tx: int) -> Tile:
        t = self.tile_pixels
        h, w = self.grid.shape
        return Tile(ty * t, min(h, (ty + 1) * t), tx * t, min(w, (tx + 1) * t))

    def scenes_of(self, ty: int, tx: int) -> list[int]:
        """The scenes reaching tile (ty, tx), in input order, those that reach it for real."""
        t = self.tile(ty, tx)
        out = []
        for k in self._by_tile.get((ty, tx), []):
            o = self.placements[k].out
            if o.i0 < t.i1 and o.i1 > t.i0 and o.j0 < t.j1 and o.j1 > t.j0:
                out.append(k)
        return out


def write_footprints(path: Path, footprints: Sequence[Footprint], overwrite: bool) -> Path:
    """The footprints layer: one polygon per input (none for an input that could not be opened)
    with product id, date, pass, relative orbit, status (used, duplicate, outside, bad), why, and
    the conversions, as a GeoPackage through :func:`lczmap.zones.vector.vector_sink`."""
    import geopandas as gpd

    from ..zones.vector import vector_sink

    rows = [
        {
            "source": f.source,
            "name": f.name,
            "product_id": f.product_id,
            "date": f.date,
            "pass": f.orbit_pass,
            "relative_orbit": f.relative_orbit,
            "polarisations": ",".join(f.polarisations),
            "status": f.status,
            "why": f.why,
            "pixels": f.acquisitions,
            "conversions": "; ".join(f.conversions),
            "geometry": f.geometry,
        }
        for f in footprints
    ]
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    frame["relative_orbit"] = frame["relative_orbit"].astype("Int64")
    with vector_sink(path, "GPKG", overwrite=overwrite, layer="footprints") as sink:
        sink.write(frame)
    return path


def unique(footprints: Iterable[Footprint]) -> list[Footprint]:
    """``footprints`` with every repeat of a product id marked ``duplicate`` (the first counts)."""
    seen: dict[str, str] = {}
    out = []
    for f in footprints:
        if f.status == "used" and f.product_id in seen:
            f = replace(f, status="duplicate", why=f"the same product as {seen[f.product_id]}: counted once")
        elif f.status == "used":
            seen[f.product_id] = f.source
        out.append(f)
    return out

"""Find Sentinel-1 scenes over an area and a season in a STAC API (pystac-client): by default
the Planetary Computer's ``sentinel-1-rtc``, or any STAC API by address (Earth Search, CDSE, a
private catalogue). The result is an ItemCollection that ``lczmap predict`` (one item) and
``lczmap mosaic`` (all of them) read, and a table of what was found.

Duplicates: items of one acquisition published twice (a reprocessing, a second copy in the
catalogue) share the platform, the relative orbit and the start of the acquisition to the
second; of those, the item covering more of the area is kept, then the one updated last, then
the greater id. Items without a VV or VH asset (HH/HV acquisitions) cannot be mapped by a model
trained on So2Sat and are left out with the reason. Pass and orbit are filtered here, on the
items' ``sat:orbit_state`` and ``sat:relative_orbit``, so that every STAC API gives the same
answer whatever query extensions it offers.

Hrefs are written as the catalogue gives them, unsigned: a Planetary Computer SAS token is a
credential, asked for when a scene is read (:func:`lczmap.remote.http.gdal_path`) and never
written."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._io import atomic_path, check_output
from ..errors import ConfigError, MissingDependencyError, RemoteError
from .http import redact

if TYPE_CHECKING:
    import pystac

__all__ = [
    "PLANETARY_STAC",
    "DEFAULT_COLLECTION",
    "PASSES",
    "DUPLICATE_RULE",
    "Found",
    "SearchResult",
    "search_scenes",
    "write_items",
    "format_table",
]

log = logging.getLogger(__name__)

#: The Planetary Computer's STAC API, the default catalogue.
PLANETARY_STAC = "https://planetarycomputer.microsoft.com/api/stac/v1"
#: Its radiometrically terrain-corrected Sentinel-1 collection (gamma0, 10 m COGs).
DEFAULT_COLLECTION = "sentinel-1-rtc"
OrbitPass = Literal["ascending", "descending"]
PASSES: tuple[OrbitPass, ...] = ("ascending", "descending")
#: The rule that drops duplicates, as the table and the docs state it.
DUPLICATE_RULE = (
    "one acquisition = same platform, relative orbit and start time (to the second); "
    "kept: the item covering most of the area, then the last updated, then the greater id"
)
_POLS = ("vv", "vh")


@dataclass(frozen=True)
class Found:
    """One item found: its id, acquisition time (ISO), platform, pass, relative orbit, the share
    of the area it covers (percent), the bytes of its VV/VH assets when the catalogue says
    (``file:size``), and the polarisations of its assets."""

    id: str
    datetime: str
    platform: str
    orbit_pass: str
    relative_orbit: int | None
    cover: float
    size: int | None
    polarisations: tuple[str, ...]


@dataclass
class SearchResult:
    """What :func:`search_scenes` found: ``items`` (kept, newest first), ``rows`` (one
    :class:`Found` per kept item), ``dropped`` ((id, why) per item left out), the catalogue and
    the query."""

    items: list[pystac.Item]
    rows: list[Found]
    dropped: list[tuple[str, str]] = field(default_factory=list)
    stac: str = PLANETARY_STAC
    collections: tuple[str, ...] = (DEFAULT_COLLECTION,)
    datetime: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The ItemCollection as a GeoJSON FeatureCollection dict (hrefs as the catalogue gave them)."""
        return {
            "type": "FeatureCollection",
            "features": [it.to_dict(transform_hrefs=False) for it in self.items],
            "lczmap:search": {
                "stac": redact(self.stac),
                "collections": list(self.collections),
                "datetime": self.datetime,
                "duplicates": DUPLICATE_RULE,
                "dropped": [{"id": i, "why": w} for i, w in self.dropped],
            },
        }


def _client(stac: str, timeout: float, retries: int, delay: float) -> Any:
    try:
        from pystac_client import Client
        from pystac_client.stac_api_io import StacApiIO
    except ImportError:
        raise MissingDependencyError("searching a STAC API needs pystac-client: pip install 'lczmap[search]'") from None
    from urllib3 import Retry

    retry = Retry(
        total=retries,
        backoff_factor=delay,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,  # POST /search too: a search is read-only
        raise_on_status=False,
    )
    io = StacApiIO(timeout=timeout, max_retries=retry)
    try:
        return Client.open(stac, stac_io=io, timeout=timeout)
    except Exception as exc:
        raise _api_error(stac, exc) from None


def _api_error(stac: str, exc: BaseException) -> RemoteError:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    if status in (401, 403):
        return RemoteError(f"the STAC API {redact(stac)} refused access ({status}): check the address and its credentials")
    if status is not None:
        return RemoteError(f"the STAC API {redact(stac)} answered HTTP {status}: check the address (--stac) or retry later")
    text = str(exc)
    unreachable = ("Max retries exceeded", "Failed to establish", "timed out", "Name or service not known")
    if any(w in name for w in ("Connection", "Timeout", "Retry")) or any(w in text for w in unreachable):
        return RemoteError(f"cannot reach the STAC API {redact(stac)} ({name}): check the address (--stac) and the connection")
    first = text.splitlines()[0][:200] if text else name
    return RemoteError(f"{redact(stac)} did not answer as a STAC API ({redact(first)}): give a STAC API's root address (--stac)")


def _area(aoi: Any) -> Any:
    """The area as an odc-geo Geometry in EPSG:4326 (a box or a vector file's features' box)."""
    from ..predict.options import check_aoi
    from ..scene.grid import aoi_bounds

    checked = check_aoi(aoi)
    if checked is None:
        raise ConfigError("give an area of interest (--aoi west,south,east,north or a vector file)")
    return aoi_bounds(checked).to_crs("EPSG:4326")


def _cover(item_geom: dict[str, Any] | None, area: Any) -> float:
    """Percent of ``area`` (EPSG:4326 Geometry) inside the item's footprint, measured in the
    area's UTM zone."""
    if not item_geom:
        return 0.0
    from odc.geo.geom import Geometry

    from ..scene.grid import utm_crs

    c = area.centroid.coords[0]
    utm = utm_crs(c[0], c[1])
    a = area.to_crs(utm)
    try:
        g = Geometry(item_geom, "EPSG:4326").to_crs(utm)
    except Exception:
        return 0.0
    return 100.0 * a.intersection(g).area / a.area if a.area > 0 else 0.0


def _row(item: pystac.Item, cover: float) -> Found:
    p = item.properties
    assets = {k.lower(): a for k, a in item.assets.items()}
    pols = tuple(k.upper() for k in ("vv", "vh", "hh", "hv") if k in assets)
    sizes = [s for k in _POLS if k in assets and isinstance(s := assets[k].extra_fields.get("file:size"), int)]
    size = sum(sizes) if sizes and len(sizes) == len([k for k in _POLS if k in assets]) else None
    orbit = p.get("sat:relative_orbit")
    when = p.get("start_datetime") or p.get("datetime") or ""
    return Found(
        id=item.id,
        datetime=str(when),
        platform=str(p.get("platform", "") or ""),
        orbit_pass=str(p.get("sat:orbit_state", "") or ""),
        relative_orbit=int(orbit) if isinstance(orbit, (int, float)) else None,
        cover=round(cover, 1),
        size=size,
        polarisations=pols,
    )


def search_scenes(
    aoi: Any,
    datetime: str,
    *,
    stac: str = PLANETARY_STAC,
    collections: Sequence[str] = (DEFAULT_COLLECTION,),
    orbit_pass: OrbitPass | None = None,
    orbit: int | None = None,
    max_items: int = 1000,
    page_size: int = 100,
    timeout: float = 60.0,
    retries: int = 5,
    retry_delay: float = 1.0,
) -> SearchResult:
    """Search ``stac`` for items of ``collections`` over ``aoi`` (``(west, south, east, north)``
    in degrees, ``"W,S,E,N"`` or a vector file) in ``datetime`` (``"2023-06-01/2023-08-31"``, any
    RFC 3339 interval or date), keep the ``orbit_pass`` (``ascending``/``descending``) and relative
    ``orbit`` asked for, and drop duplicates (:data:`DUPLICATE_RULE`). Pages of ``page_size`` items
    are followed up to ``max_items``; requests answered 429/5xx or timing out are retried ``retries`` times with a
    doubling delay from ``retry_delay`` seconds. Raises :class:`~lczmap.errors.RemoteError`
    (one line) when the API cannot be reached or refuses, :class:`~lczmap.errors.ConfigError`
    for bad arguments."""
    if orbit_pass is not None and orbit_pass not in PASSES:
        raise ConfigError(f"unknown pass {orbit_pass!r}: use {' or '.join(PASSES)} (--pass)")
    if orbit is not None and not (1 <= int(orbit) <= 175):
        raise ConfigError(f"relative orbit {orbit} is not a Sentinel-1 relative orbit (1-175) (--orbit)")
    if not datetime or not isinstance(datetime, str):
        raise ConfigError("give a time range, e.g. 2023-06-01/2023-08-31 (--datetime)")
    cols = tuple(collections)
    if not cols:
        raise ConfigError("give at least one collection (--collection)")
    area = _area(aoi)
    client = _client(stac, timeout, retries, retry_delay)
    try:
        search = client.search(
            collections=list(cols), intersects=area.json, datetime=datetime, max_items=max_items, limit=min(max_items, page_size)
        )
        found = list(search.items())
    except Exception as exc:
        if type(exc).__name__ == "ParametersError" or "datetime" in str(exc).lower() and status_of(exc) is None:
            raise ConfigError(f"the STAC search was refused: {str(exc).splitlines()[0][:200]} (--datetime, --aoi)") from None
        raise _api_error(stac, exc) from None
    log.info("%s: %d items of %s found", redact(stac), len(found), ", ".join(cols))

    dropped: list[tuple[str, str]] = []
    candidates: list[tuple[pystac.Item, Found]] = []
    for item in found:
        row = _row(item, _cover(item.geometry, area))
        if orbit_pass is not None and row.orbit_pass.lower() != orbit_pass:
            continue
        if orbit is not None and row.relative_orbit != int(orbit):
            continue
        if not {"VV", "VH"} & set(row.polarisations):
            dropped.append((item.id, f"no VV or VH asset ({'/'.join(row.polarisations) or 'none'})"))
            continue
        if row.cover <= 0:
            dropped.append((item.id, "its footprint misses the area"))
            continue
        candidates.append((item, row))

    best: dict[tuple[str, int | None, str], tuple[pystac.Item, Found]] = {}
    for item, row in candidates:
        key = (row.platform.lower(), row.relative_orbit, row.datetime[:19])
        have = best.get(key)
        if have is None or _rank(item, row) > _rank(*have):
            if have is not None:
                dropped.append((have[0].id, f"duplicate of {item.id}"))
            best[key] = (item, row)
        else:
            dropped.append((item.id, f"duplicate of {have[0].id}"))
    kept = sorted(best.values(), key=lambda ir: (ir[1].datetime, ir[0].id), reverse=True)
    return SearchResult(
        items=[i for i, _ in kept],
        rows=[r for _, r in kept],
        dropped=dropped,
        stac=stac,
        collections=cols,
        datetime=datetime,
    )


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an API error carries, if any."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _rank(item: pystac.Item, row: Found) -> tuple[float, str, str]:
    updated = str(item.properties.get("updated") or item.properties.get("created") or "")
    return (row.cover, updated, item.id)


def write_items(result: SearchResult, out: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write ``result`` as an ItemCollection JSON (atomically; an existing ``out`` only with
    ``overwrite``). Refuses an empty result: nothing to map."""
    if not result.items:
        raise RemoteError(
            f"no scene of {', '.join(result.collections)} covers the area in {result.datetime}"
            + (f" ({len(result.dropped)} left out: {result.dropped[0][1]})" if result.dropped else "")
            + ": widen --datetime or --aoi, or drop --pass/--orbit"
        )
    out = check_output(out, overwrite)
    with atomic_path(out, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=1))
    return out


def format_table(result: SearchResult) -> str:
    """The rows as a text table: date, pass, relative orbit, cover of the area (%), size, id;
    then the duplicate rule and what was left out."""
    lines = [f"{'date':<20} {'pass':<11} {'orbit':>5} {'cover':>6} {'size':>9}  id"]
    for r in result.rows:
        size = f"{r.size / 1e6:.0f} MB" if r.size is not None else "?"
        orbit = str(r.relative_orbit) if r.relative_orbit is not None else "?"
        lines.append(f"{r.datetime[:19]:<20} {r.orbit_pass or '?':<11} {orbit:>5} {r.cover:>5.1f}% {size:>9}  {r.id}")
    lines.append(f"{len(result.rows)} scenes; duplicates: {DUPLICATE_RULE}")
    for i, why in result.dropped:
        lines.append(f"left out {i}: {why}")
    return "\n".join(lines)

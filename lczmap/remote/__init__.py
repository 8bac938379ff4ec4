"""From an area and a season to scenes, and from a server to files: STAC search
(:mod:`.search`), GDAL's remote reads, credentials and checked downloads (:mod:`.http`), and the
So2Sat LCZ42 download (:mod:`.download`). See docs/remote.md."""

from __future__ import annotations

from .download import SO2SAT_FILES, download_so2sat, so2sat_files
from .http import configure_gdal, download, gdal_path, redact
from .search import DEFAULT_COLLECTION, PLANETARY_STAC, SearchResult, format_table, search_scenes, write_items

__all__ = [
    "search_scenes",
    "write_items",
    "format_table",
    "SearchResult",
    "PLANETARY_STAC",
    "DEFAULT_COLLECTION",
    "download_so2sat",
    "so2sat_files",
    "SO2SAT_FILES",
    "download",
    "gdal_path",
    "configure_gdal",
    "redact",
]

"""Remote commands: ``search`` (scenes over an area and a season in a STAC API) and
``download so2sat`` (the training data, resumable and checked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..remote.download import SO2SAT_FILES, SO2SAT_VERSIONS
from ..remote.search import DEFAULT_COLLECTION, PASSES, PLANETARY_STAC
from .options import overwrite_opt, quiet


@click.command()
@click.option("--aoi", required=True, help="The area: west,south,east,north in degrees, or a vector file.")
@click.option("--datetime", "when", required=True, help="The season: START/END dates (e.g. 2023-06-01/2023-08-31) or one date.")
@click.option("--stac", default=PLANETARY_STAC, show_default=True, help="The STAC API's root address.")
@click.option(
    "--collection",
    "collections",
    multiple=True,
    default=(DEFAULT_COLLECTION,),
    show_default=True,
    help="Collections to search (repeatable).",
)
@click.option("--pass", "orbit_pass", type=click.Choice(PASSES), default=None, help="Keep one orbit direction only.")
@click.option("--orbit", type=click.IntRange(1, 175), default=None, help="Keep one relative orbit only.")
@click.option("--max-items", type=click.IntRange(min=1), default=1000, show_default=True, help="Stop after this many items.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True, help="The ItemCollection JSON.")
@overwrite_opt
@click.pass_context
def search(
    ctx: click.Context,
    aoi: str,
    when: str,
    stac: str,
    collections: tuple[str, ...],
    orbit_pass: Any,
    orbit: int | None,
    max_items: int,
    output: Path,
    overwrite: bool,
) -> None:
    """Find Sentinel-1 scenes over --aoi in --datetime and write them as an ItemCollection that
    `lczmap mosaic` maps (and `lczmap predict`, when it holds one item). Prints a table: date,
    pass, relative orbit, cover of the area, size. Hrefs are written unsigned; Planetary Computer
    assets are signed when read (pip install planetary-computer). Only the tiles the area needs
    are read (docs/remote.md).

    \b
    lczmap search --aoi 13.3,52.45,13.5,52.55 --datetime 2023-06-01/2023-08-31 -o items.json
    lczmap mosaic items.json berlin.tif --aoi 13.3,52.45,13.5,52.55
    """
    from .._io import check_output
    from ..remote.search import format_table, search_scenes, write_items

    check_output(output, overwrite)  # before the search: a refused output costs no request
    result = search_scenes(aoi, when, stac=stac, collections=collections, orbit_pass=orbit_pass, orbit=orbit, max_items=max_items)
    if not quiet(ctx):
        click.echo(format_table(result))
    write_items(result, output, overwrite=overwrite)
    if not quiet(ctx):
        click.echo(f"wrote {output} ({len(result.items)} items)")


@click.group()
def download() -> None:
    """Download training data, resumable and checked against the published checksums."""


@download.command("so2sat")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--version", "version", type=click.Choice(SO2SAT_VERSIONS), default="2", show_default=True, help="Dataset version.")
@click.option(
    "--splits",
    default=None,
    help="Comma-separated splits [version 2: "
    + ",".join(dict.fromkeys(f.split for f in SO2SAT_FILES["2"]))
    + "; version 3: "
    + ",".join(dict.fromkeys(f.split for f in SO2SAT_FILES["3"]))
    + "; default: all].",
)
@click.option("--mirror", default=None, help="Fetch the same file names from this address instead of TUM's server.")
@click.option(
    "--checksums",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="An md5sum-style manifest to check against instead of the published MD5s (a copy that differs on purpose).",
)
@click.pass_context
def so2sat(
    ctx: click.Context, folder: Path, version: Any, splits: str | None, mirror: str | None, checksums: Path | None
) -> None:
    """Download So2Sat LCZ42 into FOLDER (training.h5, validation.h5, testing.h5 for version 2;
    random/, block/, culture_10/ for version 3), resuming partial files and checking each MD5.
    Version 2 is about 52 GB. Then: lczmap info FOLDER.

    \b
    lczmap download so2sat data/so2sat --splits validation
    """
    from ..remote.download import download_so2sat

    names = [s.strip() for s in splits.split(",") if s.strip()] if splits else None
    bar: Any = None
    state: dict[str, Any] = {}

    def on_file(i: int, n: int | None) -> None:
        nonlocal bar
        if bar is not None:
            bar.close()
        bar = None
        state["label"] = f"file {i + 1}/{n}"

    def progress(done: int, total: int | None) -> None:
        nonlocal bar
        if quiet(ctx):
            return
        if bar is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=state.get("label"), unit="B", unit_scale=True, unit_divisor=1024, dynamic_ncols=True)
        bar.update(done - bar.n)

    try:
        paths = download_so2sat(folder, version, names, mirror=mirror, checksums=checksums, progress=progress, on_file=on_file)
    finally:
        if bar is not None:
            bar.close()
    if not quiet(ctx):
        for p in paths:
            click.echo(f"{p}: MD5 checked")
        for where in dict.fromkeys(p.parent for p in paths):  # version 3: one folder per experiment design
            click.echo(f"next: lczmap info {where}")


commands = [search, download]

"""Options shared by lczmap's commands (one registry, as in rasterio's ``rio/options.py``)."""

from __future__ import annotations

import click

from .._device import DEVICES

overwrite_opt = click.option(
    "--overwrite", is_flag=True, default=False, help="Replace outputs that already exist."
)
device_opt = click.option(
    "--device",
    default=DEVICES[0],
    show_default=True,
    metavar="|".join((*DEVICES, "cuda:N")),
    help="Compute device; auto picks CUDA, then MPS, then the CPU.",
)
batch_size_opt = click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Patches per batch."
)
seed_opt = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")


def quiet(ctx: click.Context | None = None) -> bool:
    """True when the user asked for ``-q``: commands then show no progress bars."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("verbosity", 0) < 0)


def progress_factory(ctx: click.Context | None = None):
    """A callable ``(total, desc) -> tqdm`` for library progress callbacks, or None under ``-q``."""
    if quiet(ctx):
        return None
    from tqdm.auto import tqdm

    def make(total=None, desc=None, unit="it"):
        return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)

    return make


def band_names(ctx, param, value):
    """``--bands VV,VH`` -> ("VV", "VH"): names of a scene's bands in file order."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give band names separated by commas, e.g. VV,VH")
    return tuple(names)

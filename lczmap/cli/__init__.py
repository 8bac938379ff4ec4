"""The ``lczmap`` command line: a thin door over the library.

Each command module exposes ``commands``, a list of Click commands added to the group below.
User errors (:class:`lczmap.errors.LczmapError`) become a one-line ``Error: ...`` message and
exit code 1, with no traceback; ``-v`` shows the traceback for debugging.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from .. import __version__
from ..errors import LczmapError

_COMMAND_MODULES = (
    "data",
    "train",
    "predict",
    "mosaic",
    "zones",
    "study",
    "maps",
    "adapt",
    "check",
    "change",
    "remote",
    "downstream",
)


class LczmapGroup(click.Group):
    """The command group: an :class:`~lczmap.errors.LczmapError`, or an error GDAL raised reading a
    raster (:func:`lczmap.raster.gdal_error_message`: it names the file), is one ``Error:`` line
    and exit status 1 (a traceback with ``-vv``); a RecursionError (a JSON nested beyond Python's
    limit) is one line too."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if ctx.obj and ctx.obj.get("verbosity", 0) > 1:
                raise
            message = _one_line(exc)
            if message is None:
                raise
            click.echo(f"Error: {message}", err=True)
            ctx.exit(1)


def _one_line(exc: Exception) -> str | None:
    """The user's line for ``exc``, or None for a fault of lczmap's own (a traceback)."""
    if isinstance(exc, LczmapError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, RecursionError):
        return "an input is nested too deeply to read (beyond Python's recursion limit): check the file"
    if "rasterio" in sys.modules:  # an error GDAL raised: rasterio was imported to raise it
        from ..raster import gdal_error_message

        return gdal_error_message(exc)
    return None


@click.group(cls=LczmapGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="lczmap")
@click.option("-v", "--verbose", count=True, help="More log output (-vv: tracebacks too).")
@click.option("-q", "--quiet", count=True, help="Less output: no progress bars, warnings only.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Local Climate Zone mapping from Sentinel-1 radar with EO-to-SAR few-shot transfer."""
    verbosity = verbose - quiet
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = verbosity
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbosity > 0 else "%(message)s"))
    logger = logging.getLogger("lczmap")
    logger.handlers[:] = [handler]  # replaces the handler of an earlier in-process invocation
    logger.setLevel(level)


for _name in _COMMAND_MODULES:
    _module = importlib.import_module(f".{_name}", __name__)
    for _command in _module.commands:
        main.add_command(_command)

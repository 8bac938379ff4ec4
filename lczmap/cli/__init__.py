"""The ``lczmap`` command line: a thin door over the library.

Each command module exposes ``commands``, a list of Click commands added to the group below.
User errors (:class:`lczmap.errors.LczmapError`) become a one-line ``Error: ...`` message and
exit code 1, with no traceback; ``-v`` shows the traceback for debugging.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from .. import __version__
from ..errors import LczmapError

_COMMAND_MODULES = ("data", "train", "predict", "zones", "study", "products", "adapt")


class LczmapGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LczmapError as exc:
            if ctx.obj and ctx.obj.get("verbosity", 0) > 1:
                raise
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            click.echo(f"Error: {message}", err=True)
            ctx.exit(1)


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

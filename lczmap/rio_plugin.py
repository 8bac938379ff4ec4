"""``rio lczmap ...``: lczmap's commands as a rasterio CLI plugin.

Registered through rasterio's ``rasterio.rio_plugins`` entry point (see setup.cfg), so that
``rio lczmap predict ...`` does what ``lczmap predict ...`` does. The group below shares the
``lczmap`` group's commands, options and error handling: it holds no command of its own, so the
two doors never drift apart.
"""

from __future__ import annotations

from .cli import LczmapGroup, main

__all__ = ["lczmap"]

#: The ``lczmap`` group under ``rio``. ``commands`` is the very dict of :data:`lczmap.cli.main`,
#: so every command added there (now or later) is reachable here as well.
lczmap = LczmapGroup(
    name="lczmap",
    commands=main.commands,
    params=main.params,
    callback=main.callback,
    help=main.help,
    short_help="Local Climate Zone mapping from Sentinel-1 (lczmap's commands).",
    context_settings=main.context_settings,
)

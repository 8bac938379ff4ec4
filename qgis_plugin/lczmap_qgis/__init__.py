"""lczmap's QGIS plugin: a Processing provider whose algorithms are thin doors into lczmap."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Called by QGIS when it loads the plugin."""
    from .plugin import LczmapPlugin

    return LczmapPlugin(iface)

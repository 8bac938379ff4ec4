"""The plugin object QGIS loads: it registers the lczmap Processing provider, nothing else."""

from qgis.core import QgsApplication

from .provider import LczmapProvider


class LczmapPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS's name)
        """Called by QGIS (also without a GUI, hasProcessingProvider=yes) to register the provider."""
        if self.provider is None:
            self.provider = LczmapProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

"""What the algorithms share: finding lczmap in QGIS's Python, progress, log and errors.

lczmap must be importable by the Python QGIS runs. Where it lives elsewhere (a virtual
environment made on QGIS's Python, say), set ``LCZMAP_SITE_PACKAGES`` to that environment's
site-packages folder (or to the environment itself) before starting QGIS: the folder is added
with :func:`site.addsitedir` (so editable installs, ``.pth`` files, work too), ahead of the
system's packages.
"""

import contextlib
import importlib
import logging
import os
import site
import sys
from pathlib import Path

from qgis.core import QgsProcessingException, QgsProcessingLayerPostProcessorInterface
from qgis.PyQt.QtXml import QDomDocument

SITE_ENV = "LCZMAP_SITE_PACKAGES"

MISSING = (
    "lczmap is not installed in QGIS's Python ({python}): install it there "
    "(python -m pip install lczmap, with the python QGIS uses), or set "
    f"{SITE_ENV} to the site-packages folder that holds it and restart QGIS"
)


class Cancelled(QgsProcessingException):
    pass


def _site_dirs(value: str):
    for entry in value.split(os.pathsep):
        path = Path(entry).expanduser()
        if (path / "pyvenv.cfg").exists():  # a virtual environment: use its site-packages
            yield from sorted(path.glob("lib/python3*/site-packages")) + sorted(path.glob("Lib/site-packages"))
        elif path.is_dir():
            yield path


def import_lczmap():
    """Import lczmap (adding ``$LCZMAP_SITE_PACKAGES`` first when set), or return None."""
    extra = os.environ.get(SITE_ENV)
    if extra:
        for folder in _site_dirs(extra):
            if str(folder) in sys.path:
                continue
            # addsitedir appends the folder (and what its .pth files name); put them first so that
            # the environment's own numpy, pandas... win over older ones of the system Python.
            before = list(sys.path)
            site.addsitedir(str(folder))
            added = [p for p in sys.path if p not in before]
            sys.path[:] = added + before
    try:
        return importlib.import_module("lczmap")
    except ImportError:
        return None


def missing_message() -> str:
    return MISSING.format(python=sys.executable or "python3")


def require_lczmap():
    module = import_lczmap()
    if module is None:
        raise QgsProcessingException(missing_message())
    return module


class _FeedbackBar:
    """A tqdm-like bar over a QgsProcessingFeedback; raises :class:`Cancelled` when cancelled."""

    def __init__(self, feedback, total=None, desc=None, **_):
        self.feedback = feedback
        self.total = total
        self.n = 0
        if desc:
            feedback.setProgressText(str(desc))
        feedback.setProgress(0)

    def update(self, n=1):
        self.n += n
        if self.total:
            self.feedback.setProgress(min(100.0, 100.0 * self.n / self.total))
        if self.feedback.isCanceled():
            raise Cancelled("cancelled: run the algorithm again to start over (Predict: tick 'Continue an interrupted run')")

    def set_description(self, desc=None, refresh=True):
        if desc:
            self.feedback.setProgressText(str(desc))

    def set_postfix(self, *args, **kwargs):
        pass

    def refresh(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def progress_for(feedback):
    """lczmap's progress callback ``progress(total=..., desc=...)`` for a Processing feedback."""
    if feedback is None:
        return None

    def make(total=None, desc=None, **kwargs):
        return _FeedbackBar(feedback, total=total, desc=desc, **kwargs)

    return make


class _FeedbackHandler(logging.Handler):
    def __init__(self, feedback):
        super().__init__(logging.INFO)
        self.feedback = feedback

    def emit(self, record):
        try:
            message = self.format(record)
            if record.levelno >= logging.WARNING:
                self.feedback.reportError(message, fatalError=False)
            else:
                self.feedback.pushInfo(message)
        except Exception:  # a log line must never break the run
            pass


@contextlib.contextmanager
def run_library(feedback):
    """Send lczmap's log to ``feedback`` and turn lczmap's user errors into Processing errors."""
    lczmap = require_lczmap()
    logger = logging.getLogger("lczmap")
    handler = _FeedbackHandler(feedback) if feedback is not None else None
    old_level = logger.level
    if handler is not None:
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield lczmap
    except lczmap.LczmapError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, lczmap.OutputExistsError):
            message += " (in QGIS: tick 'Replace existing outputs')"
        raise QgsProcessingException(message) from None
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(old_level)


# Post-processors must outlive the algorithm run that creates them: keep them here.
_STYLERS = {}


class _Styler(QgsProcessingLayerPostProcessorInterface):
    """Applies a QGIS style (a .qml file, or .qml text) to an output layer when Processing adds it
    to the project."""

    def __init__(self, qml=None, text=None):
        super().__init__()
        self.qml = None if qml is None else str(qml)
        self.text = text

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        if self.text is not None:
            doc = QDomDocument()
            doc.setContent(self.text)
            ok, message = layer.importNamedStyle(doc)
        else:
            message, ok = layer.loadNamedStyle(self.qml)
        if not ok and feedback is not None:
            feedback.reportError(f"could not apply the lczmap style: {message}", fatalError=False)
        layer.triggerRepaint()


def load_on_completion(context, path, name, qml=None, qml_text=None):
    """Name an output that Processing will add to the project, and style it with the ``qml``
    file (where it exists) or the ``qml_text``."""
    path = str(path)
    if not context.willLoadLayerOnCompletion(path):
        return
    details = context.layerToLoadOnCompletionDetails(path)
    details.name = name
    details.forceName = True
    styler = None
    if qml is not None and Path(qml).exists():
        styler = _STYLERS.setdefault(("file", str(qml)), _Styler(qml=qml))
    elif qml_text is not None:
        styler = _STYLERS.setdefault(("text", qml_text), _Styler(text=qml_text))
    if styler is not None:
        details.setPostProcessor(styler)

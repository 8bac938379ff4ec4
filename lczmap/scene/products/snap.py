"""SNAP and pyroSAR outputs: one file per polarisation whose name carries the polarisation, the
normalisation and the scale as tokens, e.g. pyroSAR's ``..._VV_gamma0-rtc_db.tif`` or
``..._VV_sigma0-elp.tif``, SNAP's ``Sigma0_VV_db.tif``. A ``db`` token means decibels, none
linear power (SNAP's convention); the other polarisations are found by swapping the
polarisation token. Band descriptions in the same style (``Sigma0_VV_db``) are read by
the raster reader itself (:mod:`lczmap.scene.raster`)."""

from __future__ import annotations

import os
import re

from .base import POL_TOKEN, InPair, Product, other_pol_file, parse_tokens

__all__ = ["recognise", "IN_PAIR"]

IN_PAIR: InPair = "meaning"


def recognise(path: str) -> Product | None:
    """The SNAP/pyroSAR output ``path`` is (its name names a polarisation and sigma0, gamma0 or
    beta0), or None."""
    path = os.fspath(path)
    name = os.path.basename(path)
    pol, quantity, units = parse_tokens(os.path.splitext(name)[0])
    if pol is None or quantity is None or os.path.isdir(path):
        return None
    files = other_pol_file(path, pol, POL_TOKEN) if re.search(POL_TOKEN, name) else {pol: path}
    return Product(
        "snap", "SNAP/pyroSAR", tuple((f, p) for p, f in files.items()), quantity, units or "linear", f"the file name ({name})"
    )

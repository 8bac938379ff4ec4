"""Class settings and labelled-SAR budgets: which patches a study cell sees, and with which labels."""

from __future__ import annotations

import logging

import numpy as np

from ..classes import class_codes, name_of
from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

__all__ = ["select_classes", "draw_budget", "parse_budget"]


def select_classes(labels: np.ndarray, setting: str, split: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """Positions of the patches whose class is in ``setting`` and their output index.

    ``labels`` holds So2Sat label indices (0-16, LCZ code - 1). Returns ``(positions, y)`` with
    ``y[k]`` in ``0..K-1``, the index of the patch's code in :func:`lczmap.classes.class_codes`.
    Raises :class:`DataError` when a class of the setting has no patch.
    """
    codes = class_codes(setting)
    lut = np.full(17, -1, dtype=np.int64)
    lut[np.asarray(codes) - 1] = np.arange(len(codes))
    y_all = lut[np.asarray(labels, dtype=np.int64)]
    positions = np.flatnonzero(y_all >= 0)
    y = y_all[positions]
    counts = np.bincount(y, minlength=len(codes))
    empty = [codes[k] for k in np.flatnonzero(counts == 0)]
    if empty:
        names = ", ".join(f"LCZ {c} ({name_of(c)})" for c in empty)
        raise DataError(
            f"class setting {setting!r} has no patches of {names} in {split}: choose another class setting or check the data"
        )
    return positions, y


def parse_budget(budget: int | str) -> int | None:
    """Normalise a labelled-SAR budget: a positive integer, or ``"all"`` (returned as None)."""
    if isinstance(budget, str):
        text = budget.strip().lower()
        if text == "all":
            return None
        if not text.isdigit():
            raise ConfigError(f"labelled SAR budget {budget!r} is not a number: give e.g. 32, 128, 1024 or 'all'")
        budget = int(text)
    if int(budget) < 1:
        raise ConfigError(f"labelled SAR budget {budget} must be at least 1: give e.g. 32, 128, 1024 or 'all'")
    return int(budget)


def draw_budget(y: np.ndarray, budget: int | str, seed: int = 0, stratified: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..len(y)-1`` into a labelled set of ``budget`` and the unlabelled rest.

    ``stratified`` (default) spreads the budget as evenly as the classes allow: every class gets
    ``budget // K`` (fewer where a class has fewer patches, the shortfall going to the others),
    and the remainder goes to randomly chosen classes. Otherwise a plain random draw. Both are
    exact (``len(labelled) == budget``) and reproducible by ``seed``. Returns sorted int64 arrays.
    """
    y = np.asarray(y, dtype=np.int64)
    n = len(y)
    b = parse_budget(budget)
    if b is None:
        return np.arange(n, dtype=np.int64), np.empty(0, dtype=np.int64)
    if b > n:
        raise DataError(
            f"labelled SAR budget {b} is larger than the {n} SAR training patches of this class setting: "
            "give a smaller --labels or 'all'"
        )
    rng = np.random.default_rng(seed)
    if not stratified:
        labelled = rng.choice(n, size=b, replace=False)
    else:
        classes = np.unique(y)
        k = len(classes)
        if b < k:
            log.warning("budget %d is below the %d classes: some classes get no labelled SAR patch", b, k)
        pools = {c: rng.permutation(np.flatnonzero(y == c)) for c in classes}
        take = {c: 0 for c in classes}
        remaining = b
        # water-filling: repeatedly give each class with patches left an equal share
        while remaining > 0:
            open_classes = [c for c in classes if take[c] < len(pools[c])]
            share, extra = divmod(remaining, len(open_classes))
            lucky = set(rng.choice(open_classes, size=extra, replace=False).tolist()) if extra else set()
            for c in open_classes:
                want = share + (1 if c in lucky else 0)
                got = min(want, len(pools[c]) - take[c])
                take[c] += got
                remaining -= got
        labelled = np.concatenate([pools[c][: take[c]] for c in classes])
    labelled = np.sort(labelled.astype(np.int64))
    mask = np.ones(n, dtype=bool)
    mask[labelled] = False
    return labelled, np.flatnonzero(mask).astype(np.int64)

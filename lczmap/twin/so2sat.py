"""The So2Sat LCZ42 twin: So2Sat's HDF5 files, written from the class models (:func:`write_twin`).

Patches come in cities (:mod:`lczmap.twin.cities`); each patch is rendered with a halo around it so
the refined Lee filter (:mod:`lczmap.speckle`, the one prediction runs) and the shadows see its
surroundings, exactly as in a scene. Files and keys are
So2Sat's (``sen1``, ``sen2``, ``label``) in the v1, v2 or v3 layout.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from .. import __version__
from .._io import atomic_path, writing
from ..data.so2sat import V3_VARIANTS
from ..errors import ConfigError, OutputError, OutputExistsError
from ..speckle import HALO as LEE_HALO
from .cities import City, make_cities
from .lee import polsar_lee
from .materials import CLASS_MODELS, HALO, SO2SAT_CLASS_COUNTS, material_maps, optical_reflectance, radar_sigma0
from .noise import MASK64, speckle, stream_key

__all__ = ["PATCH", "LAYOUTS", "Layout", "MIN_PATCHES", "TWIN_PATCHES", "render_patches", "twin_files", "write_twin"]

log = logging.getLogger(__name__)

#: Patch side in pixels (So2Sat: 32 x 32 pixels of 10 m).
PATCH = 32
Layout = Literal["v1", "v2", "v3"]
#: Accepted ``layout`` names (So2Sat releases).
LAYOUTS: tuple[Layout, ...] = ("v1", "v2", "v3")
#: Fewest patches per split: one of each LCZ class.
MIN_PATCHES = len(CLASS_MODELS)
#: Default patch counts of a twin's (training, validation, testing) splits.
TWIN_PATCHES = (2000, 500, 500)


def render_patches(
    labels: np.ndarray,
    cities: list[City],
    city_index: np.ndarray,
    origins: np.ndarray,
    key: int,
    eo: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Render So2Sat patches.

    labels: (B,) label index 0-16; city_index: (B,) index into ``cities``; origins: (B, 2) int64
    world pixel coordinates (x, y) of each patch's upper-left pixel; key: the twin's hash key.
    Returns ``sen1`` (B, 32, 32, 8) float64 in So2Sat channel order and ``sen2`` (B, 32, 32, 10)
    float64 (or None when ``eo`` is false).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = PATCH + 2 * HALO
    offs = np.arange(-HALO, PATCH + HALO, dtype=np.int64)
    x = origins[:, 0, None, None] + offs[None, None, :]
    y = origins[:, 1, None, None] + offs[None, :, None]
    x, y = np.broadcast_arrays(x, y)
    cls = np.broadcast_to(labels[:, None, None], (len(labels), n, n))
    table = lambda attr: np.array([getattr(c, attr) for c in cities], dtype=np.float64)[city_index]  # noqa: E731
    per = lambda v: v[:, None, None]  # noqa: E731
    m = material_maps(cls, x, y, key, per(table("height_scale")).astype(np.float32))
    vv, vh = radar_sigma0(m, per(table("sar_gain_db")), per(table("vh_offset_db")), per(table("water_roughness_db")))
    s_vv, s_vh = speckle(vv, vh, x, y, key)
    i_vh, i_vv, cov = polsar_lee(s_vh, s_vv)
    c1, c2 = HALO, HALO + PATCH
    l1, l2 = HALO - LEE_HALO, HALO - LEE_HALO + PATCH  # the filter's output is LEE_HALO pixels in
    sen1 = np.stack(
        [
            s_vh.real[:, c1:c2, c1:c2],
            s_vh.imag[:, c1:c2, c1:c2],
            s_vv.real[:, c1:c2, c1:c2],
            s_vv.imag[:, c1:c2, c1:c2],
            i_vh[:, l1:l2, l1:l2],
            i_vv[:, l1:l2, l1:l2],
            cov.real[:, l1:l2, l1:l2],
            cov.imag[:, l1:l2, l1:l2],
        ],
        axis=-1,
    )
    sen2 = None
    if eo:
        e = optical_reflectance(m, x, y, key, table("eo_gain"), table("haze"))  # (B, 10, n-2, n-2)
        e1, e2 = HALO - 1, HALO - 1 + PATCH
        sen2 = np.moveaxis(e[:, :, e1:e2, e1:e2], 1, -1).astype(np.float64)
    return sen1, sen2


def twin_files(layout: str = "v2") -> tuple[str, ...]:
    """Relative paths of the HDF5 files of a twin layout."""
    match layout:
        case "v1":
            return ("training.h5", "validation.h5")
        case "v2":
            return ("training.h5", "validation.h5", "testing.h5")
        case "v3":
            return tuple(f"{d}/{s}.h5" for d in V3_VARIANTS for s in ("training", "testing"))
    raise ConfigError(f"unknown So2Sat layout {layout!r}: choose {', '.join(LAYOUTS[:-1])} or {LAYOUTS[-1]}")


def _class_counts(n: int, weights: np.ndarray) -> np.ndarray:
    """Deterministic counts per class summing to ``n``, proportional to ``weights``, with every
    class present at least ``min(3, n // 17)`` times (so every split of >= 17 patches has all)."""
    k = len(weights)
    floor = min(3, n // k)
    rest = n - floor * k
    share = weights / weights.sum() * rest
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: rest - counts.sum()]] += 1
    return counts + floor


def _split_plan(layout: str, n_train: int, n_val: int, n_test: int, seed: int) -> list[dict]:
    """Which file gets how many patches from which cities."""
    n_tr_c = int(np.clip(n_train // 250, 3, 42))
    n_ho_c = int(np.clip((n_val + n_test) // 150, 2, 10))
    train_c = make_cities(n_tr_c, seed, "train", stream=1)
    held_c = make_cities(n_ho_c, seed, "heldout", stream=2)
    match layout:
        case "v1":
            plan = [("training.h5", n_train, train_c, 1), ("validation.h5", n_val, held_c, 2)]
        case "v2":
            plan = [
                ("training.h5", n_train, train_c, 1),
                ("validation.h5", n_val, held_c, 2),  # "western halves" of the held-out cities
                ("testing.h5", n_test, held_c, 3),  # "eastern halves"
            ]
        case "v3":
            plan = []
            for j, folder in enumerate(V3_VARIANTS):
                test_c = held_c if folder == "culture_10" else train_c
                plan += [
                    (f"{folder}/training.h5", n_train, train_c, 10 + 2 * j),
                    (f"{folder}/testing.h5", n_test, test_c, 11 + 2 * j),
                ]
        case _:
            twin_files(layout)  # raises
    return [{"file": f, "n": n, "cities": c, "stream": s} for f, n, c, s in plan]


_QUANT = {  # key -> (low, high) physical range mapped onto an integer dtype's range
    "sen1": (-2.0, 2.0),
    "sen2": (0.0, 1.0),
    "label": (0.0, 1.0),
}


def _to_dtype(a: np.ndarray, key: str, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        return a.astype(dtype)
    info = np.iinfo(dtype)
    if key == "label":
        return a.astype(dtype)
    lo, hi = _QUANT[key]
    scaled = (np.clip(a, lo, hi) - lo) / (hi - lo) * (info.max - info.min) + info.min
    return np.rint(scaled).astype(dtype)


def _write_split(
    path: Path,
    spec: dict,
    seed: int,
    key: int,
    dtype: np.dtype,
    compression: str | None,
    chunk: int,
    params: dict,
    advance: Callable[[int], None] | None,
) -> None:
    import h5py

    n = spec["n"]
    cities = spec["cities"]
    rng = np.random.default_rng([seed & MASK64, spec["stream"], 0x7715])
    counts = _class_counts(n, np.asarray(SO2SAT_CLASS_COUNTS, dtype=np.float64))
    labels = rng.permutation(np.repeat(np.arange(len(CLASS_MODELS)), counts))
    cw = np.array([c.class_weights for c in cities])  # (n_cities, 17)
    probs = cw[:, labels].T
    probs /= probs.sum(axis=1, keepdims=True)
    city_index = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    city_index = np.minimum(city_index, len(cities) - 1)
    # Each patch sits somewhere in its city: world coordinates far apart per city and split.
    origins = np.stack([rng.integers(0, 1 << 40, n), rng.integers(0, 1 << 40, n)], axis=1).astype(np.int64)
    skey = int(stream_key(key, spec["stream"]))
    with atomic_path(path, overwrite=True, suffix=".h5") as tmp, writing(path, None, tmp), h5py.File(tmp, "w") as f:
        shapes = {"sen1": (n, PATCH, PATCH, 8), "sen2": (n, PATCH, PATCH, 10), "label": (n, 17)}
        ds = {}
        for name, shape in shapes.items():
            kw = {}
            if compression is not None:
                kw = {"compression": compression, "chunks": (max(1, min(n, 64)),) + shape[1:]}
            ds[name] = f.create_dataset(name, shape=shape, dtype=dtype, **kw)
            if dtype.kind != "f" and name != "label":
                lo, hi = _QUANT[name]
                info = np.iinfo(dtype)
                ds[name].attrs["scale"] = (hi - lo) / (info.max - info.min)
                ds[name].attrs["offset"] = lo - info.min * (hi - lo) / (info.max - info.min)
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            lab = labels[a:b]
            sen1, sen2 = render_patches(lab, cities, city_index[a:b], origins[a:b], skey)
            assert sen2 is not None  # rendered with eo=True
            onehot = np.zeros((b - a, 17), dtype=np.float64)
            onehot[np.arange(b - a), lab] = 1.0
            ds["sen1"][a:b] = _to_dtype(sen1, "sen1", dtype)
            ds["sen2"][a:b] = _to_dtype(sen2, "sen2", dtype)
            ds["label"][a:b] = _to_dtype(onehot, "label", dtype)
            if advance:
                advance(b - a)
        meta = dict(params, file=spec["file"], cities=[c.name for c in cities])
        f.attrs["lczmap_synthetic"] = json.dumps(meta)


#: Keys of the ``lczmap_synthetic`` attribute that are not parameters of the data (the writer's
#: module name, the file, its cities): left out when deciding whether a file can be kept.
_NOT_PARAMS = ("generator", "file", "cities")


def _existing_params(path: Path) -> dict | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("lczmap_synthetic")
    except OSError:
        return None
    if raw is None:
        return None
    meta = json.loads(raw)
    for key in _NOT_PARAMS:
        meta.pop(key, None)
    return meta


def write_twin(
    out_dir: str | os.PathLike,
    n_train: int = TWIN_PATCHES[0],
    n_val: int = TWIN_PATCHES[1],
    n_test: int = TWIN_PATCHES[2],
    seed: int = 0,
    layout: Layout = "v2",
    dtype: str | np.dtype = "float64",
    compression: str | None = None,
    progress: Callable | None = None,
    overwrite: bool = False,
    chunk: int = 256,
) -> Path:
    """Write a synthetic So2Sat LCZ42 twin into ``out_dir`` and return its path.

    Files and keys are So2Sat's: ``sen1`` (N, 32, 32, 8), ``sen2`` (N, 32, 32, 10), ``label``
    (N, 17) one-hot, float64 by default. Each split holds at least :data:`MIN_PATCHES` patches,
    so that every class is present. ``layout``: ``v2`` writes training/validation/testing.h5
    (``n_train``/``n_val``/``n_test`` patches; validation and testing from the same held-out
    cities, none of them training cities); ``v1`` writes training/validation.h5; ``v3`` writes
    random/, block/ and culture_10/, each with training.h5 (``n_train``) and testing.h5
    (``n_test``): random and block test on training cities, culture_10 on held-out cities.

    ``dtype`` other than float (e.g. ``uint8``, as torchgeo's test files) quantises sen1 from
    [-2, 2] and sen2 from [0, 1] onto the integer range (attributes ``scale``/``offset`` recover
    the values); ``compression`` (e.g. ``"gzip"``) writes chunked, compressed datasets.

    Files are written one by one, atomically, ``chunk`` patches at a time (bounded memory). A file
    that exists and was written with the same parameters is kept (so an interrupted run resumes);
    any other existing file raises :class:`~lczmap.errors.OutputExistsError` unless ``overwrite``.
    ``progress``: optional ``(total=, desc=) -> tqdm-like`` factory.
    """
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if int(value) != value or value < MIN_PATCHES:
            raise ConfigError(
                f"{name} must be a positive integer of at least {MIN_PATCHES} (one patch per class), not {value!r}: "
                f"pass a patch count >= {MIN_PATCHES} (--{name.replace('_', '-')})"
            )
    if int(chunk) < 1:
        raise ConfigError(f"chunk must be >= 1, not {chunk!r}")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ConfigError(f"unknown dtype {dtype!r}: use e.g. float64, float32 or uint8") from None
    if dt.kind not in "fiu":
        raise ConfigError(f"dtype {dt} cannot hold So2Sat data: use a float or integer dtype")
    twin_files(layout)  # refuses an unknown layout before anything is written
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder: choose another output folder")
    plan = _split_plan(layout, int(n_train), int(n_val), int(n_test), int(seed))
    params = {
        "generator": "lczmap.twin",
        "lczmap_version": __version__,
        "layout": layout,
        "seed": int(seed),
        "n_train": int(n_train),
        "n_val": int(n_val),
        "n_test": int(n_test),
        "dtype": dt.name,
        "compression": compression,
        "lee": "refined Lee 7x7, SNAP side rule (lczmap.speckle)",  # twins with another filter are not kept
    }
    todo = []
    for spec in plan:
        path = out / spec["file"]
        if path.exists() and not overwrite:
            if _existing_params(path) == {k: v for k, v in params.items() if k not in _NOT_PARAMS}:
                log.info("keeping %s: already written with the same parameters", path)
                continue
            raise OutputExistsError(f"{path} exists: pass --overwrite (overwrite=True) to replace it")
        todo.append((path, spec))
    for d in sorted({p.parent for p, _ in todo}):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {d} ({exc.strerror}): choose a writable output folder") from None
    bar = progress(total=sum(s["n"] for _, s in todo), desc="So2Sat twin") if progress and todo else None
    key = int(stream_key(int(seed) & MASK64, 0x5EED))
    try:
        for path, spec in todo:
            log.info("writing %s (%d patches)", path, spec["n"])
            _write_split(path, spec, int(seed), key, dt, compression, int(chunk), params, bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    return out

"""Speckle filtering as So2Sat LCZ42 had it: the refined Lee filter, 7 x 7, in torch.

So2Sat's ``sen1`` channels 4-7 are SNAP's Polarimetric-Speckle-Filter "Refined Lee" (7 x 7) of the
dual-pol covariance matrix of single-look sigma0 (Hu et al. 2018; the So2Sat group's SNAP graphs).
The filter (Lee 1981, "Refined filtering of image noise using local statistics"; Lee, Grunes & De
Grandi 1999, "Polarimetric SAR speckle filtering and its implication for classification", IEEE
TGRS 37(5)), for each pixel and its 7 x 7 window:

1. the window's nine 3 x 3 sub-windows (step 2) are averaged on the *span* (the sum of the
   intensity channels);
2. four gradients of that 3 x 3 array of means (vertical, horizontal and the two diagonal edges)
   pick the edge direction with the largest magnitude, and one of its two sides is kept, so one of
   8 edge-aligned, non-square windows of 28 pixels (a half window or a triangle, the centre line
   included) is used. ``side="snap"`` (the default, So2Sat's): the side of the smaller sub-window
   means, by the gradient's sign, as SNAP and PolSARpro choose; this darkens flat areas (single
   look -13 %, 4.4 looks -7 %), and a model trained on So2Sat learnt that. ``side="lee"``: the
   side whose three sub-window means are closer to the centre sub-window's (lczmap's reading of
   Lee et al. 1999; flat areas -2 % and -0.4 %);
3. in that window the span's mean ``m`` and variance ``v`` give the weight
   ``b = max(0, (v - m^2 / L) / (1 + 1 / L)) / v`` (``L`` looks; ``b = 0`` where ``v = 0``), and
   every channel ``z`` becomes ``mean_w(z) + b (z_centre - mean_w(z))``.

The weight is shared by all channels given together (the covariance form: VV, VH intensities and
the real/imaginary parts of VV VH*); one channel alone is the intensity form. Variances are
population variances (``E[x^2] - E[x]^2``). Nodata (NaN) never spreads: a pixel whose 7 x 7
window is not wholly valid is filtered with the local statistics of the window's valid pixels
(the plain Lee filter, weight from the span), and an invalid pixel stays NaN.

Inputs are linear intensities (power), never dB. Outputs are 'valid': three pixels (:data:`HALO`)
smaller on each side, so a tile read with that halo filters exactly as the whole scene would.
torch is imported on first use, so that the names here load light (the CLI's choices).

Every window sum is a fixed sequence of additions (row runs, each added left to right, the rows
top to bottom), so the output bits depend on neither the image's size nor the strip of rows it
is computed in; around them the work is kept small (strips that stay in the CPU's cache, window
choices made with bit masks, not argmax and gather): about 6 % of predict's tile loop on the CPU,
with the bits of the plainer code it replaced (docs/benchmarks.md, "Refined Lee filter's share
of predict"; tests/test_speckle_identity.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from .bands import BandSet
from .errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = [
    "SpeckleFilter",
    "Side",
    "SPECKLE_FILTERS",
    "SIZE",
    "HALO",
    "LOOKS",
    "GRD_LOOKS",
    "refined_lee",
    "refined_lee_intensity",
    "refined_lee_c2",
    "filter_channels",
    "filtered_channels",
    "default_speckle_filter",
    "check_speckle_channels",
    "resolve_speckle_filter",
]

SpeckleFilter = Literal["refined-lee", "none"]
#: How the refined Lee filter picks the side of an edge (see the module docstring).
Side = Literal["snap", "lee"]
#: Accepted speckle filter names (``--speckle-filter``).
SPECKLE_FILTERS: tuple[SpeckleFilter, ...] = ("refined-lee", "none")
#: Window side of the refined Lee filter (So2Sat: 7 x 7).
SIZE = 7
#: Extra pixels the filter needs on each side of what it outputs.
HALO = SIZE // 2
#: Number of looks in the weight for single-look data (SNAP's default; So2Sat filtered SLC).
LOOKS = 1.0
#: Number of looks in the weight for delivered intensities (GRD, RTC: multi-looked; ESA gives
#: about 4.4 equivalent looks for IW GRDH), what ``lczmap predict`` filters with.
GRD_LOOKS = 4.4

#: Quantities the filter applies to (So2Sat's Lee-filtered channels); the span sums the intensities.
_FILTERED = ("intensity", "covariance_real", "covariance_imag")


def _edge_masks(size: int = SIZE) -> np.ndarray:
    """The 8 edge-aligned windows (8, size, size) bool, in the order the direction index picks them."""
    y, x = np.mgrid[0:size, 0:size]
    h, last = size // 2, size - 1
    return np.stack([x >= h, x >= y, y <= h, x <= last - y, x <= h, x <= y, y >= h, x >= last - y])


def _weight(m: torch.Tensor, v: torch.Tensor, looks: float) -> torch.Tensor:
    """The Lee weight ``b`` from the span's local mean ``m`` and variance ``v``."""
    import torch

    cu2 = 1.0 / looks
    var_x = torch.clamp((v - m * m * cu2) / (1.0 + cu2), min=0.0)
    positive = v > 0
    return _keep(var_x.div_(_keep(v.clone(), positive, 1.0)), positive, 0.0)


class _Segments:
    """Row-run sums of a stack of images (K, N, H, W): ``seg[l - 1][..., x] = a[..., x] + ... +
    a[..., x + l - 1]`` (l = 1..7, added left to right), from which every window sum is added up
    row by row, top to bottom: each pixel's sum never depends on the image's size, so tiles (and
    the twin's chunks) give bit-identical results."""

    def __init__(self, a: torch.Tensor, ws: _Workspace):
        import torch

        self.h, self.w = a.shape[-2] - 2 * HALO, a.shape[-1] - 2 * HALO
        self.seg = [a]
        for n in range(1, SIZE):
            shape = (*a.shape[:-1], a.shape[-1] - n)
            self.seg.append(torch.add(self.seg[-1][..., : a.shape[-1] - n], a[..., n:], out=ws.get(f"seg{n}", shape)))

    def rows(
        self, runs: list[tuple[int, int, int]], k: slice, out: torch.Tensor | None = None, more: tuple[int, int] = (0, 0)
    ) -> torch.Tensor:
        """Sum of row runs ``(row, first column, length)`` (at least two) of images ``k``, added
        in their order, for every output pixel and ``more`` (rows, columns) beyond; into ``out``."""
        import torch

        h, w = self.h + more[0], self.w + more[1]
        (y0, x0, n0), (y1, x1, n1), *rest = runs
        seg = self.seg
        total = torch.add(seg[n0 - 1][k, :, y0 : y0 + h, x0 : x0 + w], seg[n1 - 1][k, :, y1 : y1 + h, x1 : x1 + w], out=out)
        for y, x, n in rest:
            total.add_(seg[n - 1][k, :, y : y + h, x : x + w])
        return total


class _Workspace:
    """Tensors reused from strip to strip (a fresh allocation costs as much as the arithmetic in
    it: the pages are new): ``get(name, shape)`` is the named buffer's leading part of ``shape``,
    the buffer made (uninitialised) the first time or when ``shape`` is larger."""

    def __init__(self, dtype: torch.dtype, device: torch.device):
        self.dtype, self.device = dtype, device
        self.buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> torch.Tensor:
        import torch

        dtype = dtype or self.dtype
        buf = self.buffers.get(name)
        if buf is None or buf.dtype != dtype or buf.ndim != len(shape) or any(n > b for n, b in zip(shape, buf.shape)):
            buf = self.buffers[name] = torch.empty(shape, dtype=dtype, device=self.device)
        return buf[tuple(slice(0, n) for n in shape)]


def _runs(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """A window mask as row runs ``(row, first column, length)`` (each row's run is contiguous)."""
    out = []
    for y, row in enumerate(mask):
        cols = np.flatnonzero(row)
        if cols.size:
            out.append((y, int(cols[0]), int(cols.size)))
    return out


_EDGE_RUNS = [_runs(m) for m in _edge_masks()]
_EDGE_PIXELS = int(_edge_masks()[0].sum())  # 28
#: Input pixels per image a strip of rows holds on the CPU (strips keep the work in the cache) and
#: on an accelerator (strips bound the memory of large tiles: about 55 planes of a strip's size).
_STRIP_PIXELS, _STRIP_PIXELS_ACCELERATOR = 1 << 17, 1 << 22
#: Output rows a strip holds at least (wide images: the halo's rows would otherwise dominate).
_STRIP_ROWS = 32


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The integer view of float tensor ``t`` (same size), for selections that copy bits exactly."""
    import torch

    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def _on_cpu(x: torch.Tensor) -> bool:
    """Whether ``x``'s filter runs in the CPU's small strips of rows and skips work that a test on
    the data shows is not needed (on an accelerator such a test would make the host wait for the
    device): the same bits either way."""
    return x.device.type == "cpu"


def _finite(t: torch.Tensor) -> torch.Tensor:
    """``torch.isfinite(t)`` of a float tensor in two operations (``t - t`` is 0 exactly when
    ``t`` is finite, NaN for NaN and infinities)."""
    return (t - t) == 0


def _keep(t: torch.Tensor, keep: torch.Tensor, value: float) -> torch.Tensor:
    """``t`` where boolean ``keep`` (broadcast) is True, else ``value`` (the bits ``torch.full``
    gives it), in place and returned: ``torch.where(keep, t, value)``, bit for bit, faster."""
    import torch

    k = _mask(keep, t)
    fill = _bits(torch.full((), value, dtype=t.dtype, device=t.device))
    _bits(t).bitwise_and_(k).bitwise_or_(k.bitwise_not_().bitwise_and_(fill))
    return t


def _mask(m: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Boolean ``m`` as all bits set (True) or none (False), in ``_bits(like)``'s integer type."""
    return m.to(_bits(like).dtype).neg_()


def refined_lee(x: torch.Tensor, span: torch.Tensor | None = None, looks: float = LOOKS, side: Side = "snap") -> torch.Tensor:
    """Refined Lee 7 x 7 of ``x`` (..., C, H, W), the C channels sharing one weight.

    ``span`` (..., H, W): the image the edge direction and weight come from; default the sum of
    the channels (right when all are intensities; give it when some are covariance parts).
    Returns (..., C, H - 6, W - 6), NaN where the centre pixel is NaN in any channel or the span.
    ``looks``: equivalent number of looks in the weight; ``side``: how an edge's side is picked
    (module docstring). Runs on ``x``'s device and dtype; every output pixel is computed in the
    same order whatever the image size, so tiles with a :data:`HALO` give identical bits (the
    image is filtered in strips of rows: on the CPU small ones, which keep the work in the cache).
    """
    import torch

    if x.ndim < 3 or x.shape[-1] < SIZE or x.shape[-2] < SIZE:
        raise ConfigError(f"refined Lee needs (..., C, H, W) with H, W >= {SIZE}, got {tuple(x.shape)}")
    if not looks > 0:
        raise ConfigError(f"looks must be positive, got {looks!r}")
    if side not in get_args(Side):
        raise ConfigError(f"unknown side rule {side!r}: choose one of {', '.join(get_args(Side))}")
    lead, (c, hh, ww) = x.shape[:-3], x.shape[-3:]
    x = x.reshape(-1, c, hh, ww)
    s = x.sum(1) if span is None else span.reshape(-1, hh, ww).to(x.dtype)
    h, w = hh - 2 * HALO, ww - 2 * HALO
    out = torch.empty((x.shape[0], c, h, w), dtype=x.dtype, device=x.device)
    step = max(_STRIP_ROWS, (_STRIP_PIXELS if _on_cpu(x) else _STRIP_PIXELS_ACCELERATOR) // (ww * x.shape[0]) - 2 * HALO)
    ws = _Workspace(x.dtype, x.device)
    for r in range(0, h, step):
        r1 = min(h, r + step)
        _refined_lee_rows(x[..., r : r1 + 2 * HALO, :], s[:, r : r1 + 2 * HALO], looks, side, out[..., r:r1, :], ws)
    return out.reshape(*lead, c, h, w)


def _refined_lee_rows(x: torch.Tensor, s: torch.Tensor, looks: float, side: Side, out: torch.Tensor, ws: _Workspace) -> None:
    """:func:`refined_lee` of ``x`` (N, C, H, W) with span ``s`` (N, H, W) into ``out`` (N, C,
    H - 6, W - 6), its larger temporaries in ``ws``."""
    import torch

    nb, c, hh, ww = x.shape
    h, w = hh - 2 * HALO, ww - 2 * HALO
    valid = _finite(x).all(1) & _finite(s)  # (N, H, W)
    keep = _mask(valid, x)
    # one stack of the images whose window sums are needed: the span, its square, the channels
    # (nodata as 0: its bits cleared) and the valid pixels (1, else 0); the first 2 + c need the
    # edge-aligned window's sums too
    img = ws.get("img", (c + 3, nb, hh, ww))
    torch.bitwise_and(_bits(s), keep, out=_bits(img[0]))
    torch.mul(img[0], img[0], out=img[1])
    torch.bitwise_and(_bits(x), keep[:, None], out=_bits(img[2 : 2 + c].transpose(0, 1)))
    img[-1].copy_(valid)
    edged = slice(0, c + 2)
    sums = _Segments(img, ws)

    # edge direction from the 3 x 3 sub-window sums of the span (9 x their means): m(j, i) is the
    # sub-window of rows 2j..2j+2 and columns 2i..2i+2, all slices of one plane of 3 x 3 sums
    s3 = sums.seg[2][0]
    sub = s3[:, : hh - 2] + s3[:, 1 : hh - 1]
    sub.add_(s3[:, 2:hh])

    def m(j: int, i: int) -> torch.Tensor:
        return sub[:, 2 * j : 2 * j + h, 2 * i : 2 * i + w]

    # the two sides of each edge direction: window k keeps side a_k, window k + 4 side b_k
    cols = sub[:, :h] + sub[:, 2 : 2 + h]  # m(0, i) + m(1, i) + m(2, i), column by column
    cols.add_(sub[:, 4 : 4 + h])
    rows = sub[..., :w] + sub[..., 2 : 2 + w]  # m(j, 0) + m(j, 1) + m(j, 2), row by row
    rows.add_(sub[..., 4 : 4 + w])
    sides = [
        (cols[..., 4 : 4 + w], cols[..., :w]),  # right | left: a vertical edge
        ((m(0, 1) + m(0, 2)).add_(m(1, 2)), (m(1, 0) + m(2, 0)).add_(m(2, 1))),  # upper right | lower left
        (rows[:, :h], rows[:, 4 : 4 + h]),  # top | bottom: a horizontal edge
        ((m(0, 0) + m(0, 1)).add_(m(1, 0)), (m(1, 2) + m(2, 1)).add_(m(2, 2))),  # upper left | lower right
    ]
    # the direction: the first of the largest |a_k - b_k|, NaN counting as the largest (as
    # torch.argmax has it); and on its side (window k + 4) or not (window k)
    g = [(a_k - b_k).abs_() for a_k, b_k in sides]
    best = torch.maximum(torch.maximum(g[0], g[1]), torch.maximum(g[2], g[3]))  # NaN if any is
    if _on_cpu(x) and not bool(torch.isnan(best).any()):
        is_best = [g_k == best for g_k in g]
    else:
        is_best = [(g_k == best) | torch.isnan(g_k) for g_k in g]
    if side == "snap":  # the darker side
        other_k = [a_k > b_k for a_k, b_k in sides]
    else:  # the side closer to the centre sub-window
        centre3 = 3 * m(1, 1)
        other_k = [(b_k - centre3).abs() < (a_k - centre3).abs() for a_k, b_k in sides]
    masks = []  # bits of window k's sums kept where the pixel picks window k
    before = torch.ones_like(best, dtype=torch.bool)  # no earlier direction is the largest
    for k in range(4):
        first = before & is_best[k] if k < 3 else before
        if k < 3:
            before &= ~is_best[k]
        masks.append((_mask(first & ~other_k[k], x), _mask(first & other_k[k], x)))

    # sums over the picked edge-aligned window (span, its square, channels; as the OR of each
    # window's sums masked) and over the whole window (all images). The half windows come in
    # shifted pairs: left and right halves (windows 4, 0) are one plane of 4-pixel runs, the top
    # half (2) is the whole window's first four rows and the bottom half (6) the same three rows on
    # (the same additions in the same order)
    halves = sums.rows(_EDGE_RUNS[4], edged, out=ws.get("halves", (c + 2, nb, h, w + HALO)), more=(0, HALO))
    edge = torch.bitwise_and(_bits(halves[..., HALO:]), masks[0][0], out=_bits(ws.get("edge", (c + 2, nb, h, w))))
    edge.bitwise_or_(_bits(halves[..., :w]).bitwise_and_(masks[0][1]))
    del halves
    tops = sums.rows(_EDGE_RUNS[2], slice(None), out=ws.get("tops", (c + 3, nb, h + HALO, w)), more=(HALO, 0))
    scratch = _bits(ws.get("scratch", (c + 2, nb, h, w)))
    edge.bitwise_or_(torch.bitwise_and(_bits(tops[edged, :, :h]), masks[2][0], out=scratch))
    edge.bitwise_or_(torch.bitwise_and(_bits(tops[edged, :, HALO:]), masks[2][1], out=scratch))
    box = torch.add(tops[:, :, :h], sums.seg[SIZE - 1][:, :, 4 : 4 + h, :w], out=ws.get("box", (c + 3, nb, h, w)))
    del tops
    for y in range(5, SIZE):
        box.add_(sums.seg[SIZE - 1][:, :, y : y + h, :w])
    for k in (1, 3, 5, 7):
        edge.bitwise_or_(_bits(sums.rows(_EDGE_RUNS[k], edged, out=scratch.view(x.dtype))).bitwise_and_(masks[k % 4][k // 4]))
    del sums, scratch
    edge_sums = edge.view(x.dtype)
    edge_sums.div_(_EDGE_PIXELS)  # edge-window means

    ms = edge_sums[0]
    b = _weight(ms, torch.clamp(edge_sums[1] - ms * ms, min=0.0), looks)
    mz = edge_sums[2:]
    zc = img[2 : 2 + c, :, HALO : HALO + h, HALO : HALO + w]
    filtered = (zc - mz).mul_(b).add_(mz)  # mz + b (zc - mz)
    # windows with nodata: local statistics of their valid pixels (weight from the span)
    n = box[-1]
    full = n == SIZE * SIZE
    if not _on_cpu(x) or not bool(full.all()):
        n = torch.clamp(n, min=1.0)
        ls = box[0] / n
        lb = _weight(ls, torch.clamp(box[1] / n - ls * ls, min=0.0), looks)
        lz = box[2 : 2 + c].div_(n)
        local = (zc - lz).mul_(lb).add_(lz)  # lz + lb (zc - lz)
        kept = _mask(full, x)
        _bits(filtered).bitwise_and_(kept).bitwise_or_(_bits(local).bitwise_and_(kept.bitwise_not_()))
    # NaN (as torch.full makes it) where the centre pixel is nodata
    out.copy_(_keep(filtered, valid[:, HALO : HALO + h, HALO : HALO + w], float("nan")).transpose(0, 1))


def refined_lee_intensity(x: torch.Tensor, looks: float = LOOKS, side: Side = "snap") -> torch.Tensor:
    """The intensity form: each channel of ``x`` (..., C, H, W) filtered on its own weight."""
    return refined_lee(x.unsqueeze(-3), looks=looks, side=side).squeeze(-3)


def refined_lee_c2(
    vh: np.ndarray, vv: np.ndarray, looks: float = LOOKS, dtype: type = np.float64, rows: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """So2Sat's ``sen1`` channels 4-7 from single-look complex VH and VV (numpy in and out, 'valid'
    mode: :data:`HALO` pixels smaller on each side): the dual-pol covariance matrix (``|VH|^2``,
    ``|VV|^2``, ``VV VH*``) refined-Lee filtered with one weight from its span ``|VH|^2 + |VV|^2``,
    as SNAP's Polarimetric-Speckle-Filter filters a C2 matrix. Returns ``(vh_intensity,
    vv_intensity, covariance)`` in ``dtype`` (float64 or float32; the covariance complex).
    Filtered ``rows`` output rows at a time (with their halo), which bounds memory and gives the
    same bits as one pass (:func:`refined_lee` is tiling-invariant)."""
    vh = np.asarray(vh)
    vv = np.asarray(vv)
    out_h = vh.shape[-2] - 2 * HALO
    if out_h <= rows:
        return _c2(vh, vv, looks, dtype)
    parts = [
        _c2(vh[..., r0 : r0 + rows + 2 * HALO, :], vv[..., r0 : r0 + rows + 2 * HALO, :], looks, dtype)
        for r0 in range(0, out_h, rows)
    ]
    vh_i, vv_i, cov = (np.concatenate([p[k] for p in parts], axis=-2) for k in range(3))
    return vh_i, vv_i, cov


def _c2(vh: np.ndarray, vv: np.ndarray, looks: float, dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import torch

    a: np.ndarray = vh.real.astype(dtype)
    b: np.ndarray = vh.imag.astype(dtype)
    c: np.ndarray = vv.real.astype(dtype)
    d: np.ndarray = vv.imag.astype(dtype)
    i_vh = a * a + b * b
    i_vv = c * c + d * d
    # VV * conj(VH), in real arithmetic so that results do not depend on array sizes (SIMD paths).
    cov_re = c * a + d * b
    cov_im = d * a - c * b
    stack = torch.from_numpy(np.stack([i_vh, i_vv, cov_re, cov_im], axis=-3))
    out = refined_lee(stack, torch.from_numpy(i_vh + i_vv), looks=looks).numpy()
    return out[..., 0, :, :], out[..., 1, :, :], out[..., 2, :, :] + 1j * out[..., 3, :, :]


def filtered_channels(band_set: BandSet) -> tuple[int, ...]:
    """Indices of ``band_set``'s channels the filter applies to (intensities, covariance parts)."""
    return tuple(i for i, ch in enumerate(band_set.channels) if ch.quantity in _FILTERED)


def default_speckle_filter(band_set: BandSet) -> SpeckleFilter:
    """What a model trained on ``band_set`` expects: ``refined-lee`` for So2Sat's Lee-filtered
    channels (intensities, covariance), ``none`` when it reads unfiltered complex channels."""
    complex_parts = any(ch.quantity.startswith("complex") for ch in band_set.channels)
    return "refined-lee" if filtered_channels(band_set) and not complex_parts else "none"


def check_speckle_channels(name: str | None, band_set: BandSet) -> None:
    """Refuse a speckle filter ``name`` that no scene read for ``band_set`` can take: an unknown
    name, or ``refined-lee`` for a band set without channels to filter. What a run checks before
    it opens the scene; :func:`resolve_speckle_filter` checks it too."""
    if name is not None and name not in SPECKLE_FILTERS:
        raise ConfigError(f"unknown speckle filter {name!r} (--speckle-filter): choose one of {', '.join(SPECKLE_FILTERS)}")
    if name == "refined-lee" and not filtered_channels(band_set):
        raise ConfigError(
            f"band set {band_set.name} has no intensity channels to filter: pass --speckle-filter none (speckle_filter='none')"
        )


def resolve_speckle_filter(name: str | None, band_set: BandSet, prefiltered: bool = False) -> SpeckleFilter:
    """The speckle filter a run applies: ``name`` (None: :func:`default_speckle_filter`) checked
    against ``band_set``; ``prefiltered``: the scene's reader filtered the Lee channels already
    (none is applied, and ``refined-lee`` is refused)."""
    if prefiltered:
        if name == "refined-lee":
            raise ConfigError(
                "the scene's Lee channels are speckle-filtered already (an IW SLC filtered as it was "
                "read, in radar geometry as So2Sat, or a file whose SPECKLE_FILTER tag says so): "
                "filtering them again would smooth twice; drop --speckle-filter refined-lee"
            )
        return "none"
    check_speckle_channels(name, band_set)
    if name is None:
        return default_speckle_filter(band_set)
    return "refined-lee" if name == "refined-lee" else "none"


def filter_channels(block: torch.Tensor, band_set: BandSet, looks: float = LOOKS) -> torch.Tensor:
    """``block`` (..., C, H, W) in ``band_set``'s channel order -> (..., C, H - 6, W - 6): its
    intensity and covariance channels refined-Lee filtered with one weight from the span of the
    intensities (So2Sat's covariance form; one intensity alone: the intensity form), the other
    channels (unfiltered complex parts) cropped. NaN stays NaN and never spreads."""

    idx = filtered_channels(band_set)
    if not idx:
        raise ConfigError(f"band set {band_set.name} has no intensity channels to filter")
    chans = band_set.channels
    span_idx = [i for i in idx if chans[i].quantity == "intensity"]
    if not span_idx:
        raise ConfigError(f"band set {band_set.name} has covariance channels without intensities: cannot form the span")
    every = len(idx) == block.shape[-3]  # all channels filtered (intensities and covariance)
    sel = block if every else block[..., list(idx), :, :]
    span = block[..., span_idx, :, :].sum(-3)
    # a pixel invalid in any channel is invalid in all (the span sees only the intensities)
    span = _keep(span, _finite(block).all(-3), float("nan"))
    filtered = refined_lee(sel, span, looks)
    if every:
        out = filtered
    else:
        out = block[..., HALO:-HALO, HALO:-HALO].clone()
        out[..., list(idx), :, :] = filtered
    return _keep(out, _finite(filtered).all(-3, keepdim=True), float("nan"))

"""The refined Lee filter (lczmap.speckle) against the code it replaced (lczmap 0.x at cc46d80,
kept below as the reference, unchanged but for names): the same bits on random speckle, float32
and float64, with nodata, both side rules, the covariance form, overflowing sums, images of many
strips, and tiles with a halo as predict cuts them (issue 29, item 2: the filter was made faster
and must not change a single output bit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lczmap import speckle
from lczmap.bands import band_set
from lczmap.speckle import HALO, SIZE, filter_channels, refined_lee

# ---- the reference: lczmap/speckle.py as of cc46d80 -------------------------------------------


def _ref_edge_masks(size: int = SIZE) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    h, last = size // 2, size - 1
    return np.stack([x >= h, x >= y, y <= h, x <= last - y, x <= h, x <= y, y >= h, x >= last - y])


def _ref_weight(m, v, looks):
    cu2 = 1.0 / looks
    var_x = torch.clamp((v - m * m * cu2) / (1.0 + cu2), min=0.0)
    return torch.where(v > 0, var_x / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))


class _RefSums:
    def __init__(self, a):
        self.h, self.w = a.shape[-2] - 2 * HALO, a.shape[-1] - 2 * HALO
        self.seg = [a]
        for n in range(1, SIZE):
            self.seg.append(self.seg[-1][..., : a.shape[-1] - n] + a[..., n:])

    def rows(self, runs):
        (y, x, n), *rest = runs
        total = self.seg[n - 1][..., y : y + self.h, x : x + self.w]
        for y, x, n in rest:
            total = total + self.seg[n - 1][..., y : y + self.h, x : x + self.w]
        return total

    def box(self):
        return self.rows([(y, 0, SIZE) for y in range(SIZE)])

    def edges(self):
        return torch.stack([self.rows(runs) for runs in _REF_EDGE_RUNS], 1)

    def sub3(self, j, i):
        return self.rows([(2 * j + y, 2 * i, 3) for y in range(3)])


def _ref_runs(mask):
    out = []
    for y, row in enumerate(mask):
        cols = np.flatnonzero(row)
        if cols.size:
            out.append((y, int(cols[0]), int(cols.size)))
    return out


_REF_EDGE_RUNS = [_ref_runs(m) for m in _ref_edge_masks()]
_REF_EDGE_PIXELS = int(_ref_edge_masks()[0].sum())


def reference_refined_lee(x, span=None, looks=1.0, side="snap"):
    lead, (c, hh, ww) = x.shape[:-3], x.shape[-3:]
    x = x.reshape(-1, c, hh, ww)
    s = x.sum(1) if span is None else span.reshape(-1, hh, ww).to(x.dtype)
    valid = torch.isfinite(x).all(1) & torch.isfinite(s)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    x = torch.where(valid[:, None], x, zero)
    s = torch.where(valid, s, zero)
    h, w = hh - 2 * HALO, ww - 2 * HALO
    centre = (slice(None), slice(HALO, HALO + h), slice(HALO, HALO + w))
    span_sums = _RefSums(s)
    m = [[span_sums.sub3(j, i) for i in range(3)] for j in range(3)]
    a = torch.stack(
        [
            m[0][2] + m[1][2] + m[2][2],
            m[0][1] + m[0][2] + m[1][2],
            m[0][0] + m[0][1] + m[0][2],
            m[0][0] + m[0][1] + m[1][0],
        ]
    )
    b_ = torch.stack(
        [m[0][0] + m[1][0] + m[2][0], m[1][0] + m[2][0] + m[2][1], m[2][0] + m[2][1] + m[2][2], m[1][2] + m[2][1] + m[2][2]]
    )
    direction = (a - b_).abs().argmax(0)
    pick_a, pick_b = (torch.gather(t, 0, direction[None])[0] for t in (a, b_))
    if side == "snap":
        other = pick_a > pick_b
    else:
        other = (pick_b - 3 * m[1][1]).abs() < (pick_a - 3 * m[1][1]).abs()
    pick = (direction + 4 * other)[:, None]

    def edge_mean(sums):
        return torch.gather(sums.edges(), 1, pick)[:, 0] / _REF_EDGE_PIXELS

    square_sums = _RefSums(s * s)
    ms = edge_mean(span_sums)
    b = _ref_weight(ms, torch.clamp(edge_mean(square_sums) - ms * ms, min=0.0), looks)
    n = _RefSums(valid.to(x.dtype)).box()
    full = n == SIZE * SIZE
    n = torch.clamp(n, min=1.0)
    ls = span_sums.box() / n
    lb = _ref_weight(ls, torch.clamp(square_sums.box() / n - ls * ls, min=0.0), looks)
    out = []
    for k in range(c):
        z, zc = x[:, k], x[:, k][centre]
        sums = _RefSums(z)
        mz, lz = edge_mean(sums), sums.box() / n
        out.append(torch.where(full, mz + b * (zc - mz), lz + lb * (zc - lz)))
    nan = torch.full((), float("nan"), dtype=x.dtype, device=x.device)
    result = torch.where(valid[centre][:, None], torch.stack(out, 1), nan)
    return result.reshape(*lead, c, h, w)


# ---- comparisons -------------------------------------------------------------------------------


def bits(t: torch.Tensor) -> torch.Tensor:
    """The bit patterns of float tensor ``t`` (NaN payloads and the sign of zero included)."""
    return t.contiguous().view({4: torch.int32, 8: torch.int64}[t.element_size()])


def assert_same_bits(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    differ = bits(a) != bits(b)
    assert not bool(differ.any()), f"{int(differ.sum())} of {a.numel()} values differ, e.g. {a[differ][:3]} vs {b[differ][:3]}"


def speckle_image(shape, dtype, seed, looks=1.0, nodata=True):
    """Gamma speckle on a field with edges (a bright block, a diagonal), nodata patches and a
    nodata border on two sides when ``nodata``."""
    g = torch.Generator().manual_seed(seed)
    *lead, h, w = shape
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    field = 1.0 + 4.0 * ((yy > h // 3) & (xx < w // 2)) + 2.0 * (xx > yy)
    gamma = torch.distributions.Gamma(torch.tensor(looks), torch.tensor(looks))
    x = (field * gamma.sample(tuple(shape)) / 1.0).to(dtype)
    if nodata:
        r = torch.rand(tuple(shape), generator=g)
        x[r < 0.01] = float("nan")
        x[..., : max(1, h // 8), :] = float("nan")  # a swath edge
        x[..., :, w - max(1, w // 10) :] = float("nan")
        x[..., h // 2 : h // 2 + 3, w // 3 : w // 3 + 5] = float("inf")
    return x


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("side", ["snap", "lee"])
@pytest.mark.parametrize("shape", [(1, 7, 7), (2, 8, 13), (3, 2, 40, 57), (1, 2, 300, 470)])
def test_same_bits_as_the_replaced_code(dtype, side, shape):
    for seed, looks in ((0, 1.0), (1, 4.4)):
        x = speckle_image(shape, dtype, seed)
        assert_same_bits(refined_lee(x, looks=looks, side=side), reference_refined_lee(x, looks=looks, side=side))


def test_a_scene_of_many_strips_and_a_batch_has_the_same_bits():
    """Taller than a CPU strip (so several strips, the last one short), and a batch of images."""
    x = speckle_image((2, 2, 200, 2000), torch.float32, 3)  # strips of 32 rows (the least)
    assert_same_bits(refined_lee(x, looks=4.4), reference_refined_lee(x, looks=4.4))
    one = speckle_image((1, 1, 1500, 95), torch.float64, 4)  # strips of 131072 / 95 - 6 = 1373 rows
    assert_same_bits(refined_lee(one), reference_refined_lee(one))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_covariance_form_with_negative_parts_and_signed_zeros(dtype):
    g = torch.Generator().manual_seed(5)
    vh, vv = (torch.rand((1, 33, 41), generator=g, dtype=dtype) for _ in range(2))
    re, im = (torch.randn((1, 33, 41), generator=g, dtype=dtype) for _ in range(2))
    re[0, ::3, ::4] = -0.0
    im[0, 10:20, 5] = 0.0
    vv[0, 2, 3] = float("nan")
    x = torch.stack([vh, vv, re, im], -3)
    span = vh + vv
    for side in ("snap", "lee"):
        assert_same_bits(refined_lee(x, span, 1.0, side), reference_refined_lee(x, span, 1.0, side))


def test_ties_and_overflowing_sums_pick_the_window_as_argmax_did():
    """Equal gradients pick the first direction and, with equal sides, window k (not k + 4):
    two channels whose span is the same everywhere (all gradients 0) but whose windows differ.
    Sub-window sums that overflow to inf make NaN gradients (inf - inf), which torch.argmax took
    as the largest, the first of them: as before."""
    g = torch.Generator().manual_seed(6)
    ch0 = torch.randint(0, 4, (1, 24, 26), generator=g).float()
    split = torch.stack([ch0, 3.0 - ch0], -3)  # span 3 everywhere
    huge = speckle_image((1, 2, 30, 34), torch.float32, 6, nodata=False)
    huge[..., 4:20, 6:25] = 1e38  # the span (2e38) is finite, its 3 x 3 sums are not
    huge[..., 8:12, 12:16] = 5e37
    for x in (split, huge):
        for side in ("snap", "lee"):
            assert_same_bits(refined_lee(x, side=side), reference_refined_lee(x, side=side))
    assert not bool(torch.isnan(reference_refined_lee(split)).any())
    assert not torch.equal(reference_refined_lee(split)[0], ch0[3:-3, 3:-3])  # the windows filtered the channels


def reference_filter_channels(block, band, looks):
    """filter_channels as of cc46d80 (unchanged since), on the reference filter."""
    idx = speckle.filtered_channels(band)
    span_idx = [i for i in idx if band.channels[i].quantity == "intensity"]
    sel = block[..., list(idx), :, :]
    span = block[..., span_idx, :, :].sum(-3)
    nan = torch.full((), float("nan"), dtype=block.dtype)
    span = torch.where(torch.isfinite(block).all(-3), span, nan)
    filtered = reference_refined_lee(sel, span, looks)
    out = block[..., HALO:-HALO, HALO:-HALO].clone()
    out[..., list(idx), :, :] = filtered
    return torch.where(~torch.isfinite(filtered).all(-3, keepdim=True), nan, out)


def test_predict_tiles_with_a_halo_equal_the_whole_and_the_replaced_code():
    """Blocks cut as predict cuts tiles (the tile's rows and columns and HALO more on each side)
    filter to the same bits as the whole scene, and as the replaced code filtered the whole."""
    band = band_set("lee-intensity", "sar")
    scene = speckle_image((2, 260, 310), torch.float32, 7, looks=4.4)
    whole = filter_channels(scene, band, looks=speckle.GRD_LOOKS)
    assert_same_bits(whole, reference_filter_channels(scene, band, speckle.GRD_LOOKS))
    h, w = whole.shape[-2:]
    tile = 96
    for r in range(0, h, tile):
        for c in range(0, w, tile):
            r1, c1 = min(h, r + tile), min(w, c + tile)
            block = scene[:, r : r1 + 2 * HALO, c : c1 + 2 * HALO]
            assert_same_bits(filter_channels(block, band, looks=speckle.GRD_LOOKS), whole[:, r:r1, c:c1])


def test_a_float64_c2_matrix_in_strips_has_the_same_bits_as_before():
    """refined_lee_c2 (the twin's and the SLC reader's So2Sat channels), float64 on complex input."""
    g = np.random.default_rng(8)
    vh = g.standard_normal((45, 52)) + 1j * g.standard_normal((45, 52))
    vv = g.standard_normal((45, 52)) + 1j * g.standard_normal((45, 52))
    a, b, c_, d = (t.astype(np.float64) for t in (vh.real, vh.imag, vv.real, vv.imag))
    i_vh, i_vv = a * a + b * b, c_ * c_ + d * d
    stack = torch.from_numpy(np.stack([i_vh, i_vv, c_ * a + d * b, d * a - c_ * b], axis=-3))
    span = torch.from_numpy(i_vh + i_vv)
    new = speckle.refined_lee_c2(vh, vv, rows=16)
    ref = reference_refined_lee(stack, span).numpy()
    np.testing.assert_array_equal(new[0], ref[0])
    np.testing.assert_array_equal(new[1], ref[1])
    np.testing.assert_array_equal(new[2], ref[2] + 1j * ref[3])


def test_the_accelerator_path_in_one_pass_has_the_same_bits(monkeypatch):
    """What runs on CUDA (large strips, no test of the data read back), run here on the CPU: one
    pass, and strips (made small here)."""
    monkeypatch.setattr(speckle, "_on_cpu", lambda x: False)
    x = speckle_image((2, 2, 90, 75), torch.float32, 10)
    tall = speckle_image((1, 1, 400, 64), torch.float32, 11)
    assert_same_bits(refined_lee(tall), reference_refined_lee(tall))  # one pass
    monkeypatch.setattr(speckle, "_STRIP_PIXELS_ACCELERATOR", 64 * 40)
    assert_same_bits(refined_lee(tall), reference_refined_lee(tall))  # strips of 34 rows
    huge = speckle_image((1, 2, 30, 34), torch.float32, 6, nodata=False)
    huge[..., 4:20, 6:25] = 1e38
    for side in ("snap", "lee"):
        for t in (x, huge, x.double()):
            assert_same_bits(refined_lee(t, looks=4.4, side=side), reference_refined_lee(t, looks=4.4, side=side))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_same_bits_as_the_replaced_code_on_cuda():
    x = speckle_image((2, 2, 120, 150), torch.float32, 9).cuda()
    for side in ("snap", "lee"):
        assert_same_bits(refined_lee(x, looks=4.4, side=side).cpu(), reference_refined_lee(x, looks=4.4, side=side).cpu())

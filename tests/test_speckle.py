"""The refined Lee filter (lczmap.speckle) against a plain-numpy reference written from Lee,
Grunes & De Grandi (1999): equality on random inputs, mean kept, looks raised, edges kept, nodata."""

import numpy as np
import pytest
import torch

from lczmap.bands import band_set
from lczmap.errors import ConfigError
from lczmap.speckle import (
    HALO,
    default_speckle_filter,
    filter_channels,
    refined_lee,
    refined_lee_intensity,
    resolve_speckle_filter,
)


def _reference_window(z, span, looks, side):
    """One 7 x 7 window: z (C, 7, 7), span (7, 7) -> filtered centre (C,), loop by loop."""
    sub = np.empty((3, 3))
    for j in range(3):  # nine 3 x 3 sub-windows, step 2
        for i in range(3):
            sub[j, i] = span[2 * j : 2 * j + 3, 2 * i : 2 * i + 3].mean()
    left, right = sub[:, 0].sum(), sub[:, 2].sum()
    top, bottom = sub[0].sum(), sub[2].sum()
    upper_right = sub[0, 1] + sub[0, 2] + sub[1, 2]
    lower_left = sub[1, 0] + sub[2, 0] + sub[2, 1]
    upper_left = sub[0, 0] + sub[0, 1] + sub[1, 0]
    lower_right = sub[1, 2] + sub[2, 1] + sub[2, 2]
    sides = [(right, left), (upper_right, lower_left), (top, bottom), (upper_left, lower_right)]
    grads = [a - b for a, b in sides]
    k = int(np.argmax(np.abs(grads)))
    a, b = sides[k]
    if side == "snap":
        first = a <= b  # keep the side of the smaller means
    else:
        first = not abs(b - 3 * sub[1, 1]) < abs(a - 3 * sub[1, 1])  # the side closer to the centre
    window = np.zeros((7, 7), bool)
    for y in range(7):
        for x in range(7):
            window[y, x] = [
                (x >= 3, x <= 3),  # vertical edge: right or left half
                (x >= y, x <= y),  # diagonal edge: upper-right or lower-left triangle
                (y <= 3, y >= 3),  # horizontal edge: top or bottom half
                (x + y <= 6, x + y >= 6),  # anti-diagonal: upper-left or lower-right triangle
            ][k][0 if first else 1]
    assert window.sum() == 28
    m = span[window].mean()
    v = (span[window] ** 2).mean() - m * m
    var_x = max(0.0, (v - m * m / looks) / (1 + 1 / looks))
    b = var_x / v if v > 0 else 0.0
    out = []
    for zc in z:
        mz = zc[window].mean()
        out.append(mz + b * (zc[3, 3] - mz))
    return np.array(out)


def _reference_partial(z, span, valid, looks):
    """A window with nodata: plain Lee over its valid pixels, weight from the span."""
    m = span[valid].mean()
    v = (span[valid] ** 2).mean() - m * m
    var_x = max(0.0, (v - m * m / looks) / (1 + 1 / looks))
    b = var_x / v if v > 0 else 0.0
    return np.array([zc[valid].mean() + b * (zc[3, 3] - zc[valid].mean()) for zc in z])


def reference(z, span=None, looks=1.0, side="snap"):
    """Plain numpy refined Lee 7 x 7: z (C, H, W) -> (C, H - 6, W - 6)."""
    z = np.asarray(z, np.float64)
    span = z.sum(0) if span is None else np.asarray(span, np.float64)
    valid = np.isfinite(z).all(0) & np.isfinite(span)
    c, hh, ww = z.shape
    out = np.full((c, hh - 6, ww - 6), np.nan)
    for r in range(hh - 6):
        for q in range(ww - 6):
            if not valid[r + 3, q + 3]:
                continue
            win = (slice(None), slice(r, r + 7), slice(q, q + 7))
            ok = valid[r : r + 7, q : q + 7]
            if ok.all():
                out[:, r, q] = _reference_window(z[win], span[win[1:]], looks, side)
            else:
                out[:, r, q] = _reference_partial(z[win], span[win[1:]], ok, looks)
    return out


def _speckle(shape, looks, seed=0, mean=1.0):
    return np.random.default_rng(seed).gamma(looks, mean / looks, size=shape)


@pytest.mark.parametrize("seed, side", [(0, "snap"), (1, "snap"), (2, "lee"), (3, "lee")])
def test_equals_the_numpy_reference_on_random_inputs(seed, side):
    rng = np.random.default_rng(seed)
    z = rng.gamma(1.0, 1.0, (2, 30, 37)) * (1 + 5 * (rng.random((1, 30, 37)) > 0.7))
    got = refined_lee(torch.from_numpy(z), side=side).numpy()
    np.testing.assert_allclose(got, reference(z, side=side), rtol=1e-10, atol=1e-12)
    # intensity form: each channel its own weight
    ref1 = reference(z[1:], looks=4.4, side=side)
    got1 = refined_lee_intensity(torch.from_numpy(z[1:]), looks=4.4, side=side).numpy()
    np.testing.assert_allclose(got1, ref1, rtol=1e-10, atol=1e-12)
    # float32 (what predict runs): equal within rounding but where rounding flips a near-tie
    got32 = refined_lee_intensity(torch.from_numpy(z[1:]).float(), looks=4.4, side=side).numpy()
    assert np.isclose(got32, ref1, rtol=1e-4, atol=1e-6).mean() > 0.99


def test_covariance_form_shares_the_span_weight_and_keeps_nodata():
    rng = np.random.default_rng(5)
    vh, vv = rng.gamma(1.0, 0.05, (25, 28)), rng.gamma(1.0, 0.3, (25, 28))
    cov = rng.normal(0, 0.1, (2, 25, 28))
    z = np.stack([vh, vv, *cov])
    z[:, 10:13, 4:9] = np.nan  # a nodata patch
    z[1, 0, 0] = np.nan
    span = vh + vv
    got = refined_lee(torch.from_numpy(z), torch.from_numpy(span)).numpy()
    np.testing.assert_allclose(got, reference(z, span), rtol=1e-10, atol=1e-12)
    inner = np.isfinite(z).all(0)[3:-3, 3:-3]
    assert (np.isfinite(got).all(0) == inner).all()  # no NaN spread, invalid stays invalid


def test_filter_channels_follows_the_band_set():
    lee = band_set("lee-intensity", "sar")
    rng = np.random.default_rng(1)
    block = torch.from_numpy(rng.gamma(1.0, 0.1, (2, 20, 20)))
    block[0, 5, 5] = float("nan")
    got = filter_channels(block, lee)
    np.testing.assert_allclose(
        got.numpy(),
        reference(
            block.numpy(), block.numpy()[0] * 0 + np.nansum(block.numpy(), 0) + np.where(np.isnan(block.numpy()[0]), np.nan, 0)
        ),
        rtol=1e-10,
    )
    assert default_speckle_filter(lee) == "refined-lee"
    for complex_set in ("vv-complex", "dual-complex", "s1-all"):
        assert default_speckle_filter(band_set(complex_set, "sar")) == "none"
    with pytest.raises(ConfigError, match="--speckle-filter none"):
        resolve_speckle_filter("refined-lee", band_set("vv-complex", "sar"))
    with pytest.raises(ConfigError, match="choose one of"):
        resolve_speckle_filter("lee", lee)


def _enl(a):
    return a.mean() ** 2 / a.var()


# (input looks, side, ENL out at least, mean ratio, tolerance). Figures, 400 x 400 gamma speckle,
# seed 0, looks=1 in the weight (So2Sat's): single look ENL 0.99 -> 20.7 (snap) / 17.0 (lee),
# mean x 0.870 / 0.982; 4.4 looks ENL 4.39 -> 148 / 86, mean x 0.934 / 0.996.
@pytest.mark.parametrize(
    "looks, side, min_enl, ratio, tol",
    [
        (1.0, "snap", 18.0, 0.870, 0.02),
        (4.4, "snap", 120.0, 0.934, 0.02),
        (1.0, "lee", 15.0, 1.0, 0.03),
        (4.4, "lee", 70.0, 1.0, 0.01),
    ],
)
def test_mean_kept_and_looks_raised_on_homogeneous_speckle(looks, side, min_enl, ratio, tol):
    z = _speckle((1, 400, 400), looks)
    out = refined_lee(torch.from_numpy(z), side=side).numpy()[0]
    assert abs(_enl(z[0]) / looks - 1) < 0.05
    assert _enl(out) > min_enl
    # side="lee" keeps the mean; SNAP's side rule (So2Sat's) darkens flat areas by a fixed share
    assert abs(out.mean() / z.mean() - ratio) < tol


def _transition_width(profile):
    """Pixels of a rising step profile strictly between its 10 % and 90 % levels."""
    lo, hi = profile[:10].mean(), profile[-10:].mean()
    t = (profile - lo) / (hi - lo)
    return int(((t > 0.1) & (t < 0.9)).sum())


@pytest.mark.parametrize("side, width", [("snap", 3), ("lee", 1)])
def test_step_edge_stays_sharp(side, width):
    """A 10 dB step: a 7 x 7 box mean spreads it over 6 pixels; refined Lee keeps the dark side
    sharp to the pixel, and SNAP's side rule (So2Sat's) softens the bright side over 3 pixels."""
    z = _speckle((1, 200, 120), 4.4, seed=3)
    z[0, :, 60:] *= 10.0
    out = refined_lee(torch.from_numpy(z), side=side).numpy()[0]  # output column k = input column k + 3
    box = torch.nn.functional.avg_pool2d(torch.from_numpy(z)[None], 7, stride=1)[0, 0].numpy()
    assert _transition_width(np.median(box, 0)) >= 5
    assert _transition_width(np.median(out, 0)) <= width
    assert np.median(out[:, 60 - 3 - 1]) < 1.1 * np.median(z[0, :, :60])  # the last dark pixel stays dark


def test_halo_tiles_equal_the_whole():
    z = torch.from_numpy(_speckle((2, 64, 64), 1.0, seed=4))
    whole = refined_lee(z)
    top = refined_lee(z[:, : 30 + 2 * HALO])
    bottom = refined_lee(z[:, 30:])
    torch.testing.assert_close(torch.cat([top, bottom], 1), whole)


def test_c2_in_strips_equals_one_pass():
    """So2Sat's covariance form from complex VH/VV, filtered a few rows at a time, gives the same bits."""
    from lczmap.speckle import refined_lee_c2

    rng = np.random.default_rng(7)
    vh, vv = ((rng.normal(size=(61, 47)) + 1j * rng.normal(size=(61, 47))) * s for s in (0.1, 0.3))
    vh[20:24, 5:9] = np.nan
    whole = refined_lee_c2(vh, vv, rows=1000)
    strips = refined_lee_c2(vh, vv, rows=8)
    for a, b in zip(whole, strips):
        assert a.shape == (55, 41)
        assert np.array_equal(a, b, equal_nan=True)

"""The CPU inference copy (lczmap.models.inference): the same logits and classes as the network run
as it is, the network itself untouched, sub-batches in order, and the same map from predict."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import rasterio
import torch
from torch import nn

from lczmap.bands import band_set
from lczmap.models import Architecture, YNet
from lczmap.models.inference import (
    ChannelsLastInstanceNorm,
    CpuInference,
    channels_last_instance_norm,
    cpu_inference_network,
    fold_batch_norm,
)
from lczmap.predict import Model, predict_scene

torch.set_num_threads(1)

ARCH = Architecture(width=8, depth=3, blocks=2, embedding=16, projection=8)
LEE = band_set("lee-intensity", "sar")
CODES = (2, 3, 5, 6, 8, 9)


def _windows(n: int, seed: int = 0, labels: bool = False):
    """``n`` (2, 32, 32) windows of gamma-distributed intensities around 0.1, each with one of
    ``len(CODES)`` patterns (a brighter quarter, a brighter centre, or none) at a random overall
    brightness; with ``labels`` also the pattern of each window."""
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 0.05, size=(n, 2, 32, 32)) * (1 + 3 * rng.random((n, 1, 1, 1)))
    y = rng.integers(0, len(CODES), n)
    regions = [np.s_[:16, :16], np.s_[:16, 16:], np.s_[16:, :16], np.s_[16:, 16:], np.s_[8:24, 8:24]]
    for i, k in enumerate(y):
        if k < len(regions):
            x[(i, slice(None)) + regions[k]] *= 3.0
    xt = torch.from_numpy(x.astype(np.float32))
    return (xt, torch.from_numpy(y)) if labels else xt


def _network(norm: str, seed: int = 0) -> nn.Module:
    """A fresh copy of :func:`_trained` (trained once per norm and seed)."""
    return copy.deepcopy(_trained(norm, seed))


@functools.cache
def _trained(norm: str, seed: int) -> nn.Module:
    """A SAR network in eval mode, trained for a few steps to tell the patterns of :func:`_windows`
    apart (so the classes vary and are not decided by rounding), with non-trivial norm weights
    and, for batch norm, running statistics from that training."""
    torch.manual_seed(seed)
    net = YNet(3, 2, len(CODES), norm, ARCH)
    net.sar_encoder.standardize.set_stats([0.2, 0.2], [0.2, 0.2])
    sar = net.sar_network()
    with torch.no_grad():
        for m in sar.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)):
                m.weight.uniform_(0.5, 2.0)
                m.bias.uniform_(-0.5, 0.5)
    opt = torch.optim.Adam(sar.parameters(), lr=1e-2)
    sar.train()
    for step in range(25):
        x, y = _windows(48, seed=1000 * seed + step, labels=True)
        loss = nn.functional.cross_entropy(sar(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return sar.eval()


def _state(net: nn.Module) -> dict:
    return {
        "tensors": {k: v.detach().clone() for k, v in net.state_dict().items()},
        "strides": {k: v.stride() for k, v in net.state_dict().items()},
        "training": [m.training for m in net.modules()],
        "grad": [p.requires_grad for p in net.parameters()],
        "types": [type(m) for m in net.modules()],
    }


def _assert_same_state(net: nn.Module, before: dict) -> None:
    after = _state(net)
    assert after["types"] == before["types"]
    assert after["training"] == before["training"]
    assert after["grad"] == before["grad"]
    assert after["strides"] == before["strides"]  # not moved to channels-last memory
    assert after["tensors"].keys() == before["tensors"].keys()
    for k, v in before["tensors"].items():
        assert torch.equal(after["tensors"][k], v), k


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_copy_gives_the_same_logits_and_classes(norm):
    net = _network(norm)
    before = _state(net)
    x = _windows(150, seed=1)
    with torch.inference_mode():
        ref = net(x)
        fast = cpu_inference_network(net)
        got = fast(x)
    assert isinstance(fast, CpuInference) and not fast.training
    assert got.shape == ref.shape == (150, len(CODES))
    torch.testing.assert_close(got, ref, atol=5e-5, rtol=1e-5)
    assert torch.equal(got.argmax(1), ref.argmax(1))
    assert len(set(ref.argmax(1).tolist())) > 1  # the classes vary: the comparison means something
    _assert_same_state(net, before)
    if norm == "batch":
        # batch norm folded away and channels-last memory; the original keeps its norms
        assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
        assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
        assert fast.channels_last
        conv = next(m for m in fast.modules() if isinstance(m, nn.Conv2d))
        assert conv.bias is not None and conv.weight.is_contiguous(memory_format=torch.channels_last)
    else:
        # instance norm has no running statistics to fold: computed for channels-last memory, with
        # the ReLU after it, and the whole copy in channels-last memory
        assert not any(isinstance(m, (nn.InstanceNorm2d, nn.ReLU)) for m in fast.network.encoder.features)
        assert sum(isinstance(m, ChannelsLastInstanceNorm) for m in fast.modules()) == ARCH.depth * ARCH.blocks
        assert fast.channels_last
    assert not any(p.requires_grad for p in fast.parameters())


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_instance_norm_equals_torchs(affine, relu, channels_last):
    """Each window and channel normalised by its own mean and biased variance, then the affine
    weights and the ReLU, as torch's instance norm does, in either memory layout of the input."""
    torch.manual_seed(3)
    norm = nn.InstanceNorm2d(5, affine=affine, eps=1e-3)
    if affine:
        with torch.no_grad():
            norm.weight.uniform_(0.5, 2.0)
            norm.bias.uniform_(-1.0, 1.0)
    x = torch.randn(7, 5, 12, 10) * torch.rand(7, 5, 1, 1) * 4 + torch.randn(7, 5, 1, 1) * 3
    ref = norm(x)
    if relu:
        ref = torch.relu(ref)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    got = ChannelsLastInstanceNorm(norm, relu)(x)
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)
    assert (got >= 0).all() if relu else (got < 0).any()
    if channels_last:
        assert got.is_contiguous(memory_format=torch.channels_last)


def test_instance_norm_with_running_statistics_is_left_as_it_is():
    """An instance norm that normalises by running statistics in eval mode is not a per-window
    norm: the copy keeps it (and then NCHW memory); a per-window one beside it is replaced."""
    seq = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.InstanceNorm2d(4, affine=True),
        nn.ReLU(),
    ).eval()
    out = channels_last_instance_norm(copy.deepcopy(seq))
    assert isinstance(out[1], nn.InstanceNorm2d) and isinstance(out[2], nn.ReLU)
    assert isinstance(out[4], ChannelsLastInstanceNorm) and out[4].relu and isinstance(out[5], nn.Identity)
    fast = cpu_inference_network(seq)
    assert not fast.channels_last
    x = torch.randn(3, 2, 8, 8)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), seq(x), atol=2e-5, rtol=1e-5)


def test_folded_batch_norm_is_not_the_identity():
    """The fold carries the running statistics: folding a copy whose statistics differ gives
    other logits (so the equality above is not the fold doing nothing)."""
    net = _network("batch")
    other = _network("batch")
    for m in other.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.mul_(4.0)
    x = _windows(20, seed=2)
    with torch.inference_mode():
        assert not torch.allclose(cpu_inference_network(net)(x), cpu_inference_network(other)(x), atol=1e-3)


def test_original_in_training_mode_stays_so_and_the_copy_runs_in_eval_mode():
    net = _network("batch").train()
    before = _state(net)
    x = _windows(9, seed=3)
    with torch.inference_mode():
        got = cpu_inference_network(net)(x)
    _assert_same_state(net, before)
    assert net.training
    with torch.inference_mode():
        ref = net.eval()(x)
    torch.testing.assert_close(got, ref, atol=5e-5, rtol=1e-5)


def test_fold_only_where_a_convolution_feeds_a_batch_norm_with_running_statistics():
    conv = nn.Conv2d(2, 4, 3, padding=1)
    stats_free = nn.BatchNorm2d(4, track_running_stats=False)
    seq = nn.Sequential(conv, nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.ReLU(), nn.BatchNorm2d(4), stats_free)
    folded = fold_batch_norm(seq.eval())
    kinds = [type(m) for m in folded]
    assert kinds == [nn.Conv2d, nn.Identity, nn.ReLU, nn.Conv2d, nn.ReLU, nn.BatchNorm2d, nn.BatchNorm2d]
    assert isinstance(seq[1], nn.BatchNorm2d)  # the original is not changed


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize("n", [1, 6, 7, 23, 50])
def test_sub_batches_give_the_same_result_in_order(norm, n):
    net = _network(norm)
    x = _windows(n, seed=5)
    with torch.inference_mode():
        ref = net(x)
        whole = cpu_inference_network(net, sub_batch=1000)(x)
        parts = cpu_inference_network(net, sub_batch=7)(x)
    assert parts.shape == ref.shape == (n, len(CODES))
    torch.testing.assert_close(parts, whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(parts, ref, atol=5e-5, rtol=1e-5)
    assert torch.equal(parts.argmax(1), ref.argmax(1))


def test_no_windows_and_sub_batch_floor():
    net = _network("batch")
    with torch.inference_mode():
        out = cpu_inference_network(net, sub_batch=0)(torch.zeros(0, 2, 32, 32))
    assert out.shape == (0, len(CODES))
    assert cpu_inference_network(net, sub_batch=0).sub_batch == 1


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_predict_map_is_the_same_with_and_without_the_copy(norm, tmp_path):
    from lczmap.twin import write_scene

    scene, _ = write_scene(tmp_path / "scene.tif", size=(180, 230), seed=3)
    net = _network(norm)
    before = _state(net)
    fill = (0.1, 0.4)
    fast_model = Model(net, CODES, LEE, fill=fill)
    plain_model = Model(net, CODES, LEE, fill=fill, cpu_inference=False)
    cpu = torch.device("cpu")
    assert isinstance(fast_model.on(cpu), CpuInference)
    assert not isinstance(plain_model.on(cpu), CpuInference)
    outs = {}
    for name, model in (("plain", plain_model), ("fast", fast_model)):
        res = predict_scene(
            scene, tmp_path / f"{name}.tif", model, probabilities=tmp_path / f"{name}_p.tif", device="cpu", tile_size=7
        )
        with rasterio.open(res.out) as ds:
            codes = ds.read(1)
        with rasterio.open(res.probabilities) as ds:
            probs = ds.read()
        outs[name] = (codes, probs)
    codes, probs = outs["fast"]
    plain_codes, plain_probs = outs["plain"]
    np.testing.assert_array_equal(codes, plain_codes)
    np.testing.assert_allclose(probs, plain_probs, atol=1e-5, equal_nan=True)
    assert (codes == 0).any() and len(set(np.unique(codes)) - {0}) > 1  # a nodata frame and several classes
    _assert_same_state(net, before)

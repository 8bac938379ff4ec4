"""Encoders, norms and the Y-network."""

import pytest
import torch

from lczmap.errors import ConfigError
from lczmap.models import Architecture, Encoder, YNet, check_norm

torch.set_num_threads(1)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_shapes(norm):
    net = YNet(3, 2, 4, norm=norm, arch=Architecture(width=8, depth=2, blocks=1, embedding=16, projection=8))
    eo = torch.randn(5, 3, 32, 32)
    sar = torch.randn(5, 2, 32, 32)
    assert net.eo_encoder(eo).shape == (5, 16)
    assert net.sar_encoder(sar).shape == (5, 16)
    assert net.sar_network()(sar).shape == (5, 4)
    assert net.projector(net.eo_encoder(eo)).shape == (5, 8)


def test_instance_norm_has_learned_affine_and_no_running_stats():
    enc = Encoder(2, "instance", Architecture(width=4, depth=1, blocks=1, embedding=4))
    norms = [m for m in enc.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(m.affine and m.weight.requires_grad and not m.track_running_stats for m in norms)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in enc.modules())


def test_batch_norm_used_for_batch():
    enc = Encoder(2, "batch", Architecture(width=4, depth=1, blocks=1, embedding=4))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in enc.modules())


def test_standardisation_inside_network():
    torch.manual_seed(0)
    enc = Encoder(2, "instance", Architecture(width=4, depth=1, blocks=1, embedding=4)).eval()
    x = torch.randn(3, 2, 32, 32)
    ref = enc(x)
    enc.standardize.set_stats([10.0, -5.0], [2.0, 0.5])
    scaled = x * torch.tensor([2.0, 0.5])[:, None, None] + torch.tensor([10.0, -5.0])[:, None, None]
    torch.testing.assert_close(enc(scaled), ref, atol=1e-5, rtol=1e-5)


def test_unknown_norm_and_bad_architecture():
    with pytest.raises(ConfigError, match="choose batch or instance"):
        check_norm("group")
    with pytest.raises(ConfigError, match="choose batch or instance"):
        YNet(3, 2, 4, norm="layer")
    with pytest.raises(ConfigError, match="width"):
        Architecture(width=0)
    with pytest.raises(ConfigError, match="too deep"):
        Architecture(depth=6)


def test_copy_eo_to_sar_copies_all_but_first_conv():
    net = YNet(3, 2, 4, arch=Architecture(width=4, depth=2, blocks=1, embedding=8))
    copied = net.copy_eo_to_sar()
    assert "features.0.weight" not in copied  # 3 vs 2 input channels
    assert "embed.weight" in copied
    torch.testing.assert_close(net.sar_encoder.embed.weight, net.eo_encoder.embed.weight)
    assert not any(name.startswith("standardize.") for name in copied)  # SAR keeps its own statistics

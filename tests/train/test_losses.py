"""Losses against their reference implementations (test-only dependencies: POT, pytorch-metric-learning)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from lczmap.losses import (
    random_projections,
    sliced_wasserstein,
    supcon_loss,
    swd_class_conditional,
    swd_marginal,
)

ot = pytest.importorskip("ot")
pml_losses = pytest.importorskip("pytorch_metric_learning.losses")

torch.set_num_threads(1)


def _pair(n, m, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(m, d, generator=g, dtype=torch.float64) * 1.5 + 0.3
    theta = random_projections(d, 20, torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    return x, y, theta


@pytest.mark.parametrize("n,m", [(16, 16), (16, 9), (7, 30), (1, 5)])
@pytest.mark.parametrize("p", [1, 2])
def test_swd_equals_pot_values_and_gradients(n, m, p):
    x, y, theta = _pair(n, m, 6, seed=n * 31 + m)
    x1, y1 = x.clone().requires_grad_(), y.clone().requires_grad_()
    ours = sliced_wasserstein(x1, y1, theta, p=p)
    ours.backward()
    x2, y2 = x.clone().requires_grad_(), y.clone().requires_grad_()
    ref = ot.sliced_wasserstein_distance(x2, y2, projections=theta, p=p)
    ref.backward()
    assert abs(ours.item() - ref.item()) < 1e-6
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), atol=1e-6)
    np.testing.assert_allclose(y1.grad.numpy(), y2.grad.numpy(), atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 25), m=st.integers(1, 25), d=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_swd_equals_pot_property(n, m, d, seed):
    x, y, theta = _pair(n, m, d, seed)
    ours = sliced_wasserstein(x, y, theta)
    ref = ot.sliced_wasserstein_distance(x, y, projections=theta)
    assert abs(ours.item() - ref.item()) < 1e-6


def test_swd_properties():
    x, y, theta = _pair(12, 12, 4, 3)
    assert sliced_wasserstein(x, x, theta).item() == 0.0
    assert sliced_wasserstein(x, y, theta).item() > 0.1
    # duplicating a set does not change its distribution: quantile matching gives the same value
    torch.testing.assert_close(sliced_wasserstein(torch.cat([x, x]), y, theta), sliced_wasserstein(x, y, theta))
    torch.testing.assert_close(swd_marginal(x, y, theta), sliced_wasserstein(x, y, theta))
    proj = random_projections(8, 100, torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.linalg.vector_norm(proj, dim=0), torch.ones(100))
    with pytest.raises(ValueError, match="non-empty"):
        sliced_wasserstein(x[:0], y, theta)


def test_class_conditional_is_mean_of_per_class_terms():
    x, y, theta = _pair(20, 10, 4, 5)
    yx = torch.tensor([0, 1, 2, 3] * 5)
    yy = torch.tensor([0, 1] * 5)  # class 2, 3 absent on the SAR side: skipped
    expected = (sliced_wasserstein(x[yx == 0], y[yy == 0], theta) + sliced_wasserstein(x[yx == 1], y[yy == 1], theta)) / 2
    torch.testing.assert_close(swd_class_conditional(x, yx, y, yy, theta), expected)
    none = swd_class_conditional(x, torch.full((20,), 5), y.requires_grad_(), yy, theta)
    assert none.item() == 0.0 and none.requires_grad


@pytest.mark.parametrize("temperature", [0.07, 0.1, 0.5])
def test_supcon_equals_pytorch_metric_learning(temperature):
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(24, 8, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 0, 5] * 4)  # label 5 has positives; all anchors do
    labels[3] = 9  # an anchor without positives: excluded by both
    e1, e2 = emb.clone().requires_grad_(), emb.clone().requires_grad_()
    ours = supcon_loss(e1, labels, temperature)
    ref = pml_losses.SupConLoss(temperature=temperature)(e2, labels)
    ours.backward()
    ref.backward()
    assert abs(ours.item() - ref.item()) < 1e-6
    np.testing.assert_allclose(e1.grad.numpy(), e2.grad.numpy(), atol=1e-6)


def test_supcon_degenerate_batches():
    emb = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert supcon_loss(emb, torch.arange(4)).item() == 0.0  # no positives
    assert supcon_loss(emb, torch.zeros(4, dtype=torch.long)).item() == 0.0  # no negatives
    assert pml_losses.SupConLoss()(emb, torch.arange(4)).item() == 0.0


def test_supcon_lower_for_clustered_views():
    g = torch.Generator().manual_seed(1)
    centres = torch.randn(4, 16, generator=g) * 5
    labels = torch.arange(4).repeat(8)
    tight = centres[labels] + 0.01 * torch.randn(32, 16, generator=g)
    loose = torch.randn(32, 16, generator=g)
    assert supcon_loss(tight, labels).item() < supcon_loss(loose, labels).item()

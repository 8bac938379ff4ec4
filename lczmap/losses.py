"""Sliced Wasserstein distances (marginal and class-conditional) and supervised contrastive loss.

:func:`sliced_wasserstein` equals POT's ``ot.sliced_wasserstein_distance`` for the same
projections (values and gradients): both sets are projected on L unit directions, each 1-D
projection is compared through its quantile function (sorted values; for sets of unequal size the
exact 1-D Wasserstein distance between the two empirical distributions, matching quantiles on the
merged grid of cumulative weights), and the result is ``(mean over projections of W_p^p)^(1/p)``.

:func:`supcon_loss` is Khosla et al.'s supervised contrastive loss as implemented by
pytorch-metric-learning's ``SupConLoss`` with its default reducer (``AvgNonZeroReducer``): the
mean, over anchors that have at least one positive, of minus the mean log-probability of the
positives; no ``base_temperature`` factor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "random_projections",
    "sliced_wasserstein",
    "swd_marginal",
    "swd_class_conditional",
    "supcon_loss",
]


def random_projections(
    dim: int,
    n_projections: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``n_projections`` random unit directions in R^dim as a (dim, L) matrix (POT's layout)."""
    theta = torch.randn(dim, n_projections, generator=generator, dtype=dtype)
    theta = theta / torch.linalg.vector_norm(theta, dim=0, keepdim=True)
    return theta.to(device) if device is not None else theta


def _quantile(qs: torch.Tensor, cws: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Quantile function of sorted values ``xs`` (n, L) with cumulative weights ``cws`` (n, L)
    at levels ``qs`` (m, L)."""
    n = xs.shape[0]
    idx = torch.searchsorted(cws.T.contiguous(), qs.T.contiguous()).T.clamp(0, n - 1)
    return torch.take_along_dim(xs, idx, dim=0)


def wasserstein_1d(u: torch.Tensor, v: torch.Tensor, p: int = 2) -> torch.Tensor:
    """W_p^p between the uniform empirical distributions of the columns of ``u`` (n, L) and
    ``v`` (m, L); returns (L,). Equal sizes: mean of |sorted u - sorted v|^p."""
    n, m = u.shape[0], v.shape[0]
    u_sorted, _ = torch.sort(u, dim=0)
    v_sorted, _ = torch.sort(v, dim=0)
    if n == m:
        return torch.mean(torch.abs(u_sorted - v_sorted) ** p, dim=0)
    L = u.shape[1]
    u_cw = torch.cumsum(torch.full((n, L), 1.0 / n, dtype=u.dtype, device=u.device), 0)
    v_cw = torch.cumsum(torch.full((m, L), 1.0 / m, dtype=v.dtype, device=v.device), 0)
    qs, _ = torch.sort(torch.cat((u_cw, v_cw), 0), dim=0)
    uq = _quantile(qs, u_cw, u_sorted)
    vq = _quantile(qs, v_cw, v_sorted)
    delta = qs - F.pad(qs, (0, 0, 1, 0))[:-1]
    return torch.sum(delta * torch.abs(uq - vq) ** p, dim=0)


def sliced_wasserstein(
    x: torch.Tensor,
    y: torch.Tensor,
    projections: torch.Tensor | None = None,
    n_projections: int = 50,
    p: int = 2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sliced p-Wasserstein distance between point sets ``x`` (n, D) and ``y`` (m, D).

    ``projections`` (D, L) unit columns; when None, ``n_projections`` are drawn from
    ``generator``. Returns a scalar ``(mean_l W_p^p(x theta_l, y theta_l))^(1/p)``, as POT.
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"sliced_wasserstein needs (n, D) and (m, D) inputs, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError("sliced_wasserstein needs non-empty point sets")
    if projections is None:
        projections = random_projections(x.shape[1], n_projections, generator, x.device, x.dtype)
    projections = projections.to(device=x.device, dtype=x.dtype)
    w = wasserstein_1d(x @ projections, y @ projections, p)
    return torch.mean(w) ** (1.0 / p)


def swd_marginal(z_eo: torch.Tensor, z_sar: torch.Tensor, projections: torch.Tensor, p: int = 2) -> torch.Tensor:
    """SWD between EO embeddings (n, D) and all SAR embeddings (m, D), labelled and unlabelled."""
    return sliced_wasserstein(z_eo, z_sar, projections, p=p)


def swd_class_conditional(
    z_eo: torch.Tensor,
    y_eo: torch.Tensor,
    z_sar: torch.Tensor,
    y_sar: torch.Tensor,
    projections: torch.Tensor,
    p: int = 2,
) -> torch.Tensor:
    """Mean over classes present in both batches of SWD(EO of class j, labelled SAR of class j).

    Returns 0 (with a graph) when no class is present in both. lczmap averages over classes (the
    paper sums), so that ``eta`` means the same for 4 and 17 classes.
    """
    terms = []
    for cls in torch.unique(y_sar).tolist():
        a = z_eo[y_eo == cls]
        b = z_sar[y_sar == cls]
        if len(a) and len(b):
            terms.append(sliced_wasserstein(a, b, projections, p=p))
    if not terms:
        return (z_eo.sum() + z_sar.sum()) * 0.0
    return torch.stack(terms).mean()


def supcon_loss(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss over a multiview batch.

    ``embeddings`` (N, P), L2-normalised here; ``labels`` (N,), the two views of a sample share
    its label. For each anchor i with positives P(i) (same label, not i) and candidates A(i)
    (all but i): ``l_i = -mean_{p in P(i)} log(exp(s_ip / t) / sum_{a in A(i)} exp(s_ia / t))``,
    with cosine similarity s. Returns the mean of l_i over anchors with at least one positive
    and a non-zero loss (pytorch-metric-learning's ``AvgNonZeroReducer``); 0 when the batch has
    no positive pair or no negative.
    """
    z = F.normalize(embeddings, dim=1)
    n = z.shape[0]
    sim = z @ z.T / temperature
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    same = labels[:, None] == labels[None, :]
    pos = same & ~self_mask
    neg = ~same
    if not pos.any() or not neg.any():
        return embeddings.sum() * 0.0
    sim = sim - sim.max(dim=1, keepdim=True).values.detach()
    logits = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(logits, dim=1, keepdim=True)
    n_pos = pos.sum(dim=1)
    losses = -(log_prob * pos).sum(dim=1) / n_pos.clamp(min=1)
    keep = (n_pos > 0) & (losses != 0)
    if not keep.any():
        return embeddings.sum() * 0.0
    return losses[keep].mean()

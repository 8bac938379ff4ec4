"""The SAR stage of an adaptation, run from a trained Y-network on a scene's patches.

Both methods train the SAR encoder only; the classifier is the base model's and stays fixed, so
every class of the base model stays reachable, including those the training areas lack, and the
embedding space keeps the meaning the EO stage gave it. Batch-norm statistics follow the scene's
patches (the network trains in ``train`` mode, as in ``lczmap train``). Each epoch is
``ceil((labelled + unlabelled) / batch)`` steps for both methods, as in ``lczmap train``.

``finetune``
    cross-entropy on the labelled scene patches, run by :class:`lczmap.train.stages.StageRunner`
    exactly as ``lczmap train``'s SAR stage.
``swd``
    Rostami et al.'s SAR-stage objective with the EO side taken from the checkpoint. A
    checkpoint holds no EO patches, so the EO embeddings are replaced by what the base model
    makes of the scene: the reference set is the base model's SAR embeddings of all the scene's
    patches (labelled and unlabelled), each with the class the base classifier gives it.
    ``CE(labelled SAR) + lambda * SWD(reference, all SAR) + eta * mean_j SWD(reference of
    class j, labelled SAR of class j)``: the marginal term keeps the scene's embedding
    distributed as the base model's (to which the classifier is fitted, as the EO embeddings were),
    the class-conditional term moves the labelled patches of class j towards where the
    classifier puts class j. A class the base model never predicts on the scene has no
    reference; its patches enter the cross-entropy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .._device import resolve_device
from ..checkpoint import Checkpoint
from ..losses import random_projections, sliced_wasserstein, swd_class_conditional
from ..models.networks import YNet
from ..train.config import TrainConfig
from ..train.data import TrainData, augment
from ..train.distributed import DistInfo
from ..train.stages import StageRunner, Tally, epoch_generator, make_optimizer
from .options import AdaptOptions

__all__ = ["Reference", "stage_config", "reference_embeddings", "fit_sar_stage"]


class Reference:
    """The swd reference set: embeddings ``z`` (R, D) and classes ``y`` (R,) (output indices),
    with per-class draws for the class-conditional term."""

    def __init__(self, z: torch.Tensor, y: torch.Tensor, n_classes: int):
        self.z, self.y = z, y
        self.order = torch.argsort(y)
        counts = torch.bincount(y, minlength=n_classes)
        self.counts = counts
        self.starts = torch.cumsum(counts, 0) - counts

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` reference indices drawn uniformly (with replacement)."""
        return torch.randint(0, len(self.y), (n,), generator=generator)

    def draw_like(self, labels: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """For each label (CPU, output index), a reference index of the same class; and the mask of
        labels whose class has a reference."""
        cnt = self.counts[labels]
        has = cnt > 0
        u = torch.rand(len(labels), generator=generator)
        pos = self.starts[labels] + torch.clamp((u * cnt).long(), max=torch.clamp(cnt - 1, min=0))
        return self.order[torch.clamp(pos, max=len(self.order) - 1)], has


def stage_config(ckpt: Checkpoint, options: AdaptOptions) -> TrainConfig:
    """The :class:`~lczmap.train.TrainConfig` of the SAR stage: the base model's architecture,
    band sets, norm and class setting with the adaptation's method and SAR-stage options."""
    meta = ckpt.meta
    arch = ckpt.architecture
    return TrainConfig(
        data=None,
        method=options.method,
        classes=str(meta["classes"]),
        labels="all",
        seed=options.seed,
        eo_bands=ckpt.eo_bands.name,
        sar_bands=ckpt.sar_bands.name,
        norm=ckpt.norm,
        swd_lambda=options.swd_lambda,
        swd_eta=options.swd_eta,
        projections=options.projections,
        eo_epochs=0,
        sar_epochs=options.sar_epochs,
        sar_lr=options.sar_lr,
        batch_size=options.batch_size,
        augment=options.augment,
        width=arch.width,
        depth=arch.depth,
        blocks=arch.blocks,
        embedding=arch.embedding,
        projection=arch.projection,
        val_split=None,
        device=options.device,
        amp=options.amp,
    )


@torch.no_grad()
def reference_embeddings(net: YNet, x: torch.Tensor, device: torch.device, batch: int = 256) -> Reference:
    """The base model's SAR embeddings of ``x`` (N, C, 32, 32) and the classes its classifier
    gives them (eval mode), on ``device``."""
    net.eval()
    zs, ys = [], []
    for start in range(0, len(x), batch):
        z = net.sar_encoder(x[start : start + batch].to(device)).float()
        zs.append(z)
        ys.append(net.classifier(z).argmax(1).cpu())
    z_all = torch.cat(zs) if zs else torch.zeros((0, net.arch.embedding), device=device)
    y_all = torch.cat(ys) if ys else torch.zeros(0, dtype=torch.long)
    return Reference(z_all, y_all, net.classifier.out_features)


def _swd_epoch(
    runner: StageRunner, net: YNet, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], epoch: int, ref: Reference
) -> dict[str, float]:
    cfg, data = runner.cfg, runner.data
    gen = epoch_generator(cfg.seed, 2, epoch)
    b = cfg.batch_size
    steps = math.ceil(data.n_sar / b)
    n_lab, n_unl = len(data.x_sar_lab), len(data.x_sar_unl)
    net.train()
    tally = Tally(runner.progress, steps, f"SAR stage epoch {epoch + 1}/{cfg.sar_epochs}")
    for _ in range(steps):
        li = torch.randint(0, n_lab, (b,), generator=gen)
        xl = data.x_sar_lab[li]
        if cfg.augment:
            xl = augment(xl, gen)
        yl_cpu = data.y_sar_lab[li]
        ui = torch.randint(0, n_unl, (b,), generator=gen)
        ri = ref.draw(b, gen)
        ci, has = ref.draw_like(yl_cpu, gen)
        theta = random_projections(cfg.embedding, cfg.projections, gen).to(runner.device)
        xl, yl = runner.to(xl), runner.to(yl_cpu)
        xu = runner.to(data.x_sar_unl[ui])
        ri, ci, has = runner.to(ri), runner.to(ci), runner.to(has)
        with runner.autocast():
            z_s = net.sar_encoder(torch.cat([xl, xu]))
            z_l = z_s[:b]
            ce = F.cross_entropy(net.classifier(z_l).float(), yl)
            z_s32 = z_s.float()
            marg = sliced_wasserstein(ref.z[ri], z_s32, theta)
            cc = swd_class_conditional(ref.z[ci][has], ref.y.to(runner.device)[ci][has], z_s32[:b][has], yl[has], theta)
            loss = ce + cfg.swd_lambda * marg + cfg.swd_eta * cc
            parts = {"ce_sar": ce, "swd_marginal": marg, "swd_class": cc}
        runner.step(loss, optimizer, params)
        tally.add(loss, parts)
    out = runner.finish(net, tally, "sar", epoch)
    out["samples"] = 2 * b * steps
    return out


def fit_sar_stage(
    ckpt: Checkpoint,
    x_lab: torch.Tensor,
    y_lab: torch.Tensor,
    x_unl: torch.Tensor,
    options: AdaptOptions,
    progress: Callable | None = None,
) -> tuple[YNet, list[dict]]:
    """Adapt the SAR encoder of ``ckpt``'s network to labelled patches ``x_lab`` (N, C, 32, 32)
    with output indices ``y_lab`` (N,) and unlabelled ``x_unl`` (M, C, 32, 32), all float32 in
    the model's units. Returns the adapted network (CPU, eval mode) and one row per epoch
    (mean loss terms). Deterministic for a seed on the CPU."""
    cfg = stage_config(ckpt, options)
    device = resolve_device(options.device)
    torch.manual_seed(options.seed)
    net = ckpt.model().to(device)
    net.requires_grad_(False)
    net.sar_encoder.requires_grad_(True)
    params = list(net.sar_encoder.parameters())
    unl = x_unl if len(x_unl) else x_lab
    meta = ckpt.meta
    data = TrainData(
        codes=ckpt.codes,
        x_sar_lab=x_lab,
        y_sar_lab=y_lab,
        x_sar_unl=unl,
        x_eo=None,
        y_eo=None,
        sar_stats=(list(meta.get("sar_mean") or []), list(meta.get("sar_std") or [])),
        eo_stats=None,
        x_val=None,
        y_val=None,
        x_val_eo=None,
        n_sar=len(x_lab) + len(x_unl),
        n_unlabelled=len(x_unl),
    )
    runner = StageRunner(cfg, data, DistInfo(), device, progress)
    ref = reference_embeddings(net, torch.cat([x_lab, x_unl]), device) if options.method == "swd" else None
    optimizer = make_optimizer(params, cfg.sar_lr, cfg.weight_decay)
    history = []
    for epoch in range(cfg.sar_epochs):
        if ref is None:
            stats = runner.sar_epoch(net, optimizer, params, epoch)
        else:
            stats = _swd_epoch(runner, net, optimizer, params, epoch, ref)
        history.append({"epoch": epoch + 1, **{k: round(float(v), 6) for k, v in stats.items()}})
    net.requires_grad_(True)
    return net.cpu().eval(), history

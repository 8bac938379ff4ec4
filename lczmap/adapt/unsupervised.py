"""The seed method at deployment: the SAR encoder aligned to the EO reference the checkpoint
carries (:mod:`lczmap.train.reference`), on a scene's unlabelled patches, with labels or without.

Each step draws a batch of the scene's unlabelled patches (and, with training areas, a batch of
labelled ones) and minimises::

    CE(labelled SAR) + lambda * SWD(EO reference drawn at the scene's class mix, all SAR)
                     + eta * mean_j SWD(EO reference of class j, SAR patches of class j)

where the SAR patches of class j are the labelled ones of class j and the unlabelled ones whose
**pseudo-label** is j: the classifier's class for them, kept when its softmax confidence is at
least ``confidence`` and among the ``pseudo_share`` most confident of the patches the model put
in class j at the start of the epoch (a threshold per class: rare classes keep their share, so
that the term does not favour the classes the model already maps most; the mean over classes
weighs each class alike). The scene's class mix for the marginal term is the one the model
(batch-norm statistics re-estimated) predicts before the first epoch, smoothed, and stays fixed:
a class the model starts to drop keeps its share of the reference. The classifier, the EO
encoder and the input statistics stay the base model's (as in :mod:`lczmap.adapt.fit`).

Batch norm: before the first epoch and after each the SAR encoder's running statistics are
re-estimated on the scene's patches (a mean over all of them, batches weighted by size); the steps use them as
they are (batch-norm layers in eval mode), as the map will: statistics of 64-patch batches
follow the batch's class mix, and drifting with them cost 7 points of agreement on the twin.

The stopping rule needs no label (:class:`EpochCheck`): after each epoch a fixed sample of the
scene's patches is embedded (eval mode) and scored by the class-conditional SWD of its embeddings
to the EO reference, classes as the model predicts them (fixed projections and reference draws,
so the figures are comparable between epochs); also recorded: the marginal SWD, the mean
prediction entropy, the agreement with the previous epoch's classes and the class shares. The
model kept is the one with the lowest score among the base model, the model with re-estimated
statistics and each epoch; training stops after ``patience`` epochs without a lower score, and at
once when a class collapses (a class the first check gives at least 2 % of the patches falls to
under a quarter of that share, or a class it maps vanishes from the map): that epoch is never
kept. With training areas only the epochs are
candidates (those without a collapsed class first) and a collapse does not stop training: the
labels are what the user adapts for, and may rightly shrink a class the base model over-mapped; the
label-free score must not hand back a model that never saw them (on the twin it kept the
re-estimated statistics and threw away the labelled epochs).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._device import resolve_device
from ..checkpoint import Checkpoint
from ..errors import ZonesError
from ..losses import random_projections, sliced_wasserstein, swd_class_conditional
from ..models.networks import YNet
from ..train.data import TrainData, augment
from ..train.distributed import DistInfo
from ..train.reference import EoReference
from ..train.stages import StageRunner, Tally, epoch_generator, make_optimizer
from .fit import stage_config
from .options import AdaptOptions

__all__ = [
    "CHECK_PATCHES",
    "COLLAPSE_SHARE",
    "ReferencePool",
    "EpochCheck",
    "StopReport",
    "reestimate_batch_norm",
    "check_model",
    "choose",
    "fit_reference_stage",
]

log = logging.getLogger(__name__)

#: Scene patches the stopping rule scores each epoch on (a fixed, seeded sample).
CHECK_PATCHES = 2048
#: Projections of the stopping rule's SWD (fixed for the run).
CHECK_PROJECTIONS = 128
#: A class of at least this share of the first check's classes that falls under a quarter of
#: it has collapsed (and so has any class the first check maps that vanishes from the map).
COLLAPSE_SHARE = 0.02
#: Least patches of a predicted class for the class-conditional score to count it.
MIN_CLASS_PATCHES = 8


class ReferencePool:
    """The EO reference on the compute device, with draws by class: ``z`` (R, D) float32 there,
    ``y`` (R,) output indices on the CPU."""

    def __init__(self, ref: EoReference, device: torch.device):
        self.z = ref.z.float().to(device)
        self.y = ref.y.long()
        self.y_dev = self.y.to(device)
        self.n_classes = len(ref.codes)
        self.counts = torch.bincount(self.y, minlength=self.n_classes)
        self.order = torch.argsort(self.y, stable=True)
        self.starts = torch.cumsum(self.counts, 0) - self.counts

    def draw_like(self, labels: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """For each label (CPU output index) a reference index of its class, and the mask of labels
        whose class the reference holds."""
        cnt = self.counts[labels]
        u = torch.rand(len(labels), generator=generator)
        pos = self.starts[labels] + torch.clamp((u * cnt).long(), max=torch.clamp(cnt - 1, min=0))
        return self.order[torch.clamp(pos, max=len(self.order) - 1)], cnt > 0

    def draw(self, n: int, weights: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``n`` reference indices, their classes drawn with ``weights`` (K,) (classes the
        reference lacks get none)."""
        w = weights * (self.counts > 0)
        classes = torch.multinomial(w / w.sum(), n, replacement=True, generator=generator)
        return self.draw_like(classes, generator)[0]


@dataclass
class EpochCheck:
    """The label-free figures of one model on the check sample: ``score`` (class-conditional SWD
    to the EO reference, the stopping rule's), ``marginal`` (SWD at the scene's class mix),
    ``entropy`` (mean prediction entropy, nats), ``agreement`` (share of the check patches whose
    class equals the previous check's), ``shares`` (K,) predicted class shares."""

    name: str
    score: float
    marginal: float
    entropy: float
    agreement: float | None
    shares: np.ndarray
    collapsed: list[int] = field(default_factory=list)

    def row(self, codes: tuple[int, ...]) -> dict[str, Any]:
        return {
            "model": self.name,
            "score": round(self.score, 6),
            "swd_marginal": round(self.marginal, 6),
            "entropy": round(self.entropy, 6),
            "agreement_with_previous": None if self.agreement is None else round(self.agreement, 6),
            "classes_mapped": int((self.shares > 0).sum()),
            "collapsed": [int(codes[k]) for k in self.collapsed],
        }


@dataclass
class StopReport:
    """What the stopping rule did: the checks in order, the one kept and why training stopped."""

    checks: list[EpochCheck]
    kept: str
    reason: str

    def to_dict(self, codes: tuple[int, ...]) -> dict[str, Any]:
        return {"checks": [c.row(codes) for c in self.checks], "kept": self.kept, "stopped": self.reason}


_BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.SyncBatchNorm)
_BatchNormLayer = torch.nn.BatchNorm1d | torch.nn.BatchNorm2d | torch.nn.BatchNorm3d | torch.nn.SyncBatchNorm


def _batch_norms(module: torch.nn.Module) -> list[_BatchNormLayer]:
    return [m for m in module.modules() if isinstance(m, _BATCH_NORMS)]


@torch.no_grad()
def reestimate_batch_norm(encoder: torch.nn.Module, x: torch.Tensor, device: torch.device, batch: int = 256) -> int:
    """Re-estimate the running statistics of ``encoder``'s batch-norm layers on ``x`` (N, C, 32,
    32): reset, then a mean over batches weighted by their size (train mode, no gradient). Returns the number
    of layers (0 for an instance-norm encoder, left as it was)."""
    layers = _batch_norms(encoder)
    if not layers:
        return 0
    was = encoder.training
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
    encoder.train()
    seen = 0
    for s in range(0, len(x), batch):
        part = x[s : s + batch]
        seen += len(part)
        for m in layers:
            m.momentum = len(part) / seen  # a running mean weighted by batch size: the scene's mean
        encoder(part.to(device))
    for m, mom in zip(layers, momenta):
        m.momentum = mom
    encoder.train(was)
    return len(layers)


@torch.no_grad()
def _embed(net: YNet, x: torch.Tensor, device: torch.device, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    net.eval()
    zs, ps = [], []
    for s in range(0, len(x), batch):
        z = net.sar_encoder(x[s : s + batch].to(device)).float()
        zs.append(z)
        ps.append(F.softmax(net.classifier(z).float(), 1))
    return torch.cat(zs), torch.cat(ps)


@torch.no_grad()
def check_model(
    name: str,
    net: YNet,
    x: torch.Tensor,
    pool: ReferencePool,
    ref_idx: torch.Tensor,
    theta: torch.Tensor,
    previous: torch.Tensor | None,
    first_shares: np.ndarray | None,
    device: torch.device,
) -> tuple[EpochCheck, torch.Tensor]:
    """The figures of ``net`` on the check patches ``x``: the marginal SWD to ``pool.z[ref_idx]``
    and the class-conditional score over predicted classes with at least
    :data:`MIN_CLASS_PATCHES` patches (projections ``theta``); returns the check and the classes."""
    z, p = _embed(net, x, device)
    pred = p.argmax(1)
    marg = float(sliced_wasserstein(pool.z[ref_idx], z, theta))
    terms = []
    for k in torch.unique(pred).tolist():
        mine = z[pred == k]
        if len(mine) >= MIN_CLASS_PATCHES and int(pool.counts[k]) > 0:
            terms.append(float(sliced_wasserstein(pool.z[pool.y_dev == k], mine, theta)))
    score = float(np.mean(terms)) if terms else math.inf
    entropy = float(-(p * torch.log(p.clamp_min(1e-12))).sum(1).mean())
    pred_cpu = pred.cpu()
    shares = torch.bincount(pred_cpu, minlength=pool.n_classes).numpy() / max(len(pred_cpu), 1)
    agreement = None if previous is None else float((pred_cpu == previous).double().mean())
    collapsed = []
    if first_shares is not None:
        # a class of a share that falls under a quarter of it, or one the first check mapped that
        # vanishes from the map
        shrunk = (first_shares >= COLLAPSE_SHARE) & (shares < first_shares / 4)
        vanished = (first_shares > 0) & (shares == 0)
        collapsed = [int(k) for k in np.flatnonzero(shrunk | vanished)]
    return EpochCheck(name, score, marg, entropy, agreement, shares, collapsed), pred_cpu


def choose(checks: list[EpochCheck]) -> EpochCheck:
    """The check the stopping rule keeps: the lowest score among those without a collapsed
    class (the first on a tie)."""
    fine = [c for c in checks if not c.collapsed]
    return min(fine or checks[:1], key=lambda c: c.score)


def _pseudo_thresholds(probs: torch.Tensor, n_classes: int, confidence: float, share: float) -> torch.Tensor:
    """Per class: the least confidence of a pseudo-label, the higher of ``confidence`` and the
    confidence of the ``share`` most confident patches the model puts in the class."""
    conf, pred = probs.max(1)
    thr = torch.full((n_classes,), 2.0)  # a class no patch is predicted as gets no pseudo-label
    for k in torch.unique(pred).tolist():
        c = conf[pred == k].float().cpu()
        thr[k] = max(confidence, float(torch.quantile(c, 1.0 - share)))
    return thr


def fit_reference_stage(
    ckpt: Checkpoint,
    reference: EoReference,
    x_unl: torch.Tensor,
    options: AdaptOptions,
    progress: Callable | None = None,
    x_lab: torch.Tensor | None = None,
    y_lab: torch.Tensor | None = None,
) -> tuple[YNet, list[dict], StopReport]:
    """Adapt the SAR encoder of ``ckpt``'s network to the scene's unlabelled patches ``x_unl``
    (M, C, 32, 32) by alignment to ``reference``, with labelled patches ``x_lab`` / ``y_lab``
    (output indices) when given. Returns the network the stopping rule keeps (CPU, eval mode),
    one row per epoch (mean loss terms and the epoch's check) and the :class:`StopReport`.
    Deterministic for a seed on the CPU."""
    b = options.batch_size
    if len(x_unl) < b:
        raise ZonesError(
            f"the scene gives {len(x_unl)} valid unlabelled patches, fewer than a batch ({b}): adapt on a larger "
            "scene or area of interest, or lower --batch-size"
        )
    labelled = x_lab is not None and y_lab is not None and len(x_lab) > 0
    cfg = stage_config(ckpt, dataclasses.replace(options, method="swd"))
    device = resolve_device(options.device)
    torch.manual_seed(options.seed)
    net = ckpt.model().to(device)
    net.requires_grad_(False)
    net.sar_encoder.requires_grad_(True)
    params = list(net.sar_encoder.parameters())
    pool = ReferencePool(reference, device)
    k = pool.n_classes
    meta = ckpt.meta
    data = TrainData(
        codes=ckpt.codes,
        x_sar_lab=x_lab if labelled and x_lab is not None else x_unl[:0],
        y_sar_lab=y_lab if labelled and y_lab is not None else torch.zeros(0, dtype=torch.long),
        x_sar_unl=x_unl,
        x_eo=None,
        y_eo=None,
        sar_stats=(list(meta.get("sar_mean") or []), list(meta.get("sar_std") or [])),
        eo_stats=None,
        x_val=None,
        y_val=None,
        x_val_eo=None,
        n_sar=len(x_unl) + (len(x_lab) if labelled and x_lab is not None else 0),
        n_unlabelled=len(x_unl),
    )
    runner = StageRunner(cfg, data, DistInfo(), device, progress)

    # the stopping rule's fixed sample, reference draws and projections
    gen0 = epoch_generator(options.seed, 3, 0)
    chk = torch.randperm(len(x_unl), generator=gen0)[: min(CHECK_PATCHES, len(x_unl))].sort().values
    x_chk = x_unl[chk]
    theta_chk = random_projections(cfg.embedding, CHECK_PROJECTIONS, gen0).to(device)
    checks: list[EpochCheck] = []
    states: dict[str, dict[str, torch.Tensor]] = {}

    def state_of(model: YNet) -> dict[str, torch.Tensor]:
        return {n: t.detach().clone() for n, t in model.sar_encoder.state_dict().items()}

    def check(name: str, previous: torch.Tensor | None, first: np.ndarray | None, ref_idx: torch.Tensor) -> torch.Tensor:
        c, pred = check_model(name, net, x_chk, pool, ref_idx, theta_chk, previous, first, device)
        checks.append(c)
        states[name] = state_of(net)
        log.info(
            "%s: score %.4f, marginal %.4f, entropy %.3f%s%s",
            name,
            c.score,
            c.marginal,
            c.entropy,
            "" if c.agreement is None else f", agreement with previous {c.agreement:.3f}",
            f", collapsed LCZ {[ckpt.codes[i] for i in c.collapsed]}" if c.collapsed else "",
        )
        return pred

    # the base model's classes give the scene's class mix (re-estimated after batch norm)
    _, p0 = _embed(net, x_chk, device)
    n_bn = reestimate_batch_norm(net.sar_encoder, x_unl, device, 256)
    if n_bn:
        _, p0 = _embed(net, x_chk, device)
    counts = torch.bincount(p0.argmax(1).cpu(), minlength=k).double()
    prior = ((counts + 0.5) / (counts.sum() + 0.5 * k)).float()
    ref_idx_chk = pool.draw(len(x_chk), prior, gen0)
    first = counts.numpy() / max(float(counts.sum()), 1.0)
    if n_bn:  # the base model as it was, then with the scene's statistics
        base = copy.deepcopy(net)
        base.sar_encoder.load_state_dict(ckpt.model().sar_encoder.state_dict())
        c_base, _ = check_model("base", base, x_chk, pool, ref_idx_chk, theta_chk, None, None, device)
        checks.append(c_base)
        states["base"] = state_of(base)
        del base
        pred = check("batch-norm statistics", None, first, ref_idx_chk)
    else:
        pred = check("base", None, first, ref_idx_chk)

    optimizer = make_optimizer(params, cfg.sar_lr, cfg.weight_decay)
    history: list[dict] = []
    n_before = len(checks)  # with training areas only the epochs after these are candidates
    best, since, reason = (math.inf if labelled else choose(checks).score), 0, f"ran {cfg.sar_epochs} epochs"
    for epoch in range(cfg.sar_epochs):
        _, probs = _embed(net, x_chk, device)
        thr = _pseudo_thresholds(probs.cpu(), k, options.confidence, options.pseudo_share).to(device)
        stats = _epoch(runner, net, optimizer, params, epoch, pool, prior, thr, labelled)
        reestimate_batch_norm(net.sar_encoder, x_unl, device, 256)
        name = f"epoch {epoch + 1}"
        pred = check(name, pred, first, ref_idx_chk)
        c = checks[-1]
        history.append({"epoch": epoch + 1, **{k_: round(float(v), 6) for k_, v in stats.items()}, **c.row(ckpt.codes)})
        if c.collapsed and not labelled:  # with labels a class may shrink rightly: recorded, kept last
            reason = f"stopped after epoch {epoch + 1}: LCZ {', '.join(str(ckpt.codes[i]) for i in c.collapsed)} collapsed"
            break
        if c.score < best:
            best, since = c.score, 0
        else:
            since += 1
            if since >= options.patience:
                reason = f"stopped after epoch {epoch + 1}: no lower score in {options.patience} epochs"
                break
    kept = choose(checks[n_before:] if labelled and len(checks) > n_before else checks)
    net.sar_encoder.load_state_dict(states[kept.name])
    log.info("kept %s (%s)", kept.name, reason)
    net.requires_grad_(True)
    return net.cpu().eval(), history, StopReport(checks, kept.name, reason)


def _epoch(
    runner: StageRunner,
    net: YNet,
    optimizer: torch.optim.Optimizer,
    params: list[torch.nn.Parameter],
    epoch: int,
    pool: ReferencePool,
    prior: torch.Tensor,
    thresholds: torch.Tensor,
    labelled: bool,
) -> dict[str, float]:
    cfg, data = runner.cfg, runner.data
    gen = epoch_generator(cfg.seed, 4, epoch)
    b = cfg.batch_size
    steps = math.ceil(data.n_sar / b)
    n_lab, n_unl = len(data.x_sar_lab), len(data.x_sar_unl)
    net.train()
    for m in _batch_norms(net.sar_encoder):  # the scene's statistics, re-estimated after each epoch
        m.eval()
    tally = Tally(runner.progress, steps, f"adaptation epoch {epoch + 1}/{cfg.sar_epochs}")
    pseudo = 0
    for _ in range(steps):
        ui = torch.randint(0, n_unl, (b,), generator=gen)
        xu = runner.to(data.x_sar_unl[ui])
        theta = random_projections(cfg.embedding, cfg.projections, gen).to(runner.device)
        ri = runner.to(pool.draw(b * (2 if labelled else 1), prior, gen))
        if labelled:
            li = torch.randint(0, n_lab, (b,), generator=gen)
            xl = data.x_sar_lab[li]
            if cfg.augment:
                xl = augment(xl, gen)
            yl = data.y_sar_lab[li]
            x = torch.cat([runner.to(xl), xu])
        else:
            x = xu
        with runner.autocast():
            z = net.sar_encoder(x).float()
            logits = net.classifier(z).float()
            z_u, lg_u = z[-b:], logits[-b:]
            conf, pl = F.softmax(lg_u.detach(), 1).max(1)
            keep = conf >= thresholds[pl]
            pseudo += int(keep.sum())
            labels = pl[keep].cpu()
            emb = z_u[keep]
            if labelled:
                ce = F.cross_entropy(logits[:b], runner.to(yl))
                labels = torch.cat([yl, labels])
                emb = torch.cat([z[:b], emb])
            else:
                ce = z.sum() * 0.0
            marg = sliced_wasserstein(pool.z[ri], z, theta)
            ci, has = pool.draw_like(labels, gen)
            ci, has_d = runner.to(ci), runner.to(has)
            if bool(has.any()):
                cc = swd_class_conditional(pool.z[ci][has_d], pool.y_dev[ci][has_d], emb[has_d], runner.to(labels)[has_d], theta)
            else:
                cc = z.sum() * 0.0
            loss = ce + cfg.swd_lambda * marg + cfg.swd_eta * cc
            parts = {"ce_sar": ce, "swd_marginal": marg, "swd_class": cc}
        runner.step(loss, optimizer, params)
        tally.add(loss, parts)
    out = runner.finish(net, tally, "sar", epoch)
    out["pseudo_labelled"] = pseudo / (steps * b)
    return out

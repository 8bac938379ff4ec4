"""One epoch of each stage: the EO stage (cross-entropy, optionally SupCon) and the SAR stage
(cross-entropy on labelled SAR; for ``swd`` the joint objective with both SWD terms), with mixed
precision, the gradient average of a distributed run and per-epoch seeded generators.

Every random draw of an epoch (batch indices, augmentations, SWD projections) comes from that
epoch's CPU generators, drawn up front in the order the steps use them and moved to the device in
one copy. When the patches are on the device (``device_data``) the steps gather their batches
there; otherwise they gather on the host and copy each batch. Either way the numbers are the same.
The stages share no random state: the SAR stage's numbers do not depend on how its EO stage was
obtained (trained here or loaded from ``eo_checkpoint``); each stage starts its own gradient scaler."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .._device import cuda_amp_dtype
from ..errors import TrainingError
from ..evaluate import predict_logits
from ..losses import random_projections, sliced_wasserstein, supcon_loss, swd_class_conditional
from ..models.networks import SarNetwork, YNet
from .config import TrainConfig
from .data import TrainData, apply_augment, augment_draws, device_data_fits
from .distributed import DistInfo, all_reduce_grads, all_true

__all__ = ["epoch_generator", "make_optimizer", "Tally", "StageRunner", "diverged_message", "use_device_data"]

log = logging.getLogger(__name__)


def epoch_generator(seed: int, stage: int, epoch: int, rank: int = 0) -> torch.Generator:
    """The generator of one epoch, seeded by (seed, stage, epoch, rank): a run resumed at an
    epoch boundary draws exactly what an uninterrupted one would."""
    state = np.random.SeedSequence([seed, stage, epoch, rank]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def make_optimizer(params: list[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, the optimiser of both stages."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def diverged_message(cfg: TrainConfig, stage: str, epoch: int, bad_terms: list[str], weights_ok: bool) -> str:
    """The one line that says where training diverged and which option to change."""
    if stage == "eo":
        total = cfg.eo_epochs
        if cfg.supcon and bad_terms and set(bad_terms) <= {"supcon", "loss"} and weights_ok:
            where = "the SupCon term of the EO stage"
            fix = (
                f"raise --temperature (now {cfg.temperature:g}), lower --supcon-weight (now {cfg.supcon_weight:g}) "
                f"or lower --eo-lr (now {cfg.eo_lr:g})"
            )
        else:
            where = "the EO stage" + (" (with SupCon)" if cfg.supcon else "")
            fix = f"lower --eo-lr (now {cfg.eo_lr:g})"
    else:
        total = cfg.sar_epochs
        where = "the SAR stage"
        fix = f"lower --sar-lr (now {cfg.sar_lr:g})"
        if bad_terms and set(bad_terms) <= {"swd_marginal", "swd_class", "loss"} and weights_ok:
            fix += f", --lambda (now {cfg.swd_lambda:g}) or --eta (now {cfg.swd_eta:g})"
    what = (
        "the weights"
        if not weights_ok
        else "the loss" + (f" ({', '.join(t for t in bad_terms if t != 'loss')})" if set(bad_terms) - {"loss"} else "")
    )
    return f"training diverged in {where} at epoch {epoch + 1}/{total}: {what} became NaN or infinite: {fix}"


class Tally:
    """Mean of each loss term over an epoch's steps, and the epoch's progress bar.

    The sums stay on the device, with a flag per term that turns false when a step's value is not
    finite: reading them at the end of the epoch (:meth:`close`) is the epoch's one device sync
    (the progress bar shows the running loss every :attr:`SHOW_EVERY` steps)."""

    #: Steps between two updates of the loss the progress bar shows (each one a device sync).
    SHOW_EVERY = 50

    def __init__(self, progress: Callable | None, steps: int, desc: str):
        self.steps = steps
        self.keys: list[str] | None = None
        self.sums: torch.Tensor | None = None
        self.finite: torch.Tensor | None = None
        self.bar = progress(total=steps, desc=desc) if progress else None
        self.done = 0

    def add(self, loss: torch.Tensor, parts: dict) -> None:
        values = torch.stack([loss.detach().float(), *(v.detach().float() for v in parts.values())])
        if self.sums is None or self.finite is None:
            self.keys = ["loss", *parts]
            wide = torch.float32 if values.device.type == "mps" else torch.float64  # MPS has no float64
            self.sums = torch.zeros_like(values, dtype=wide)
            self.finite = torch.ones_like(values, dtype=torch.bool)
        self.sums += values
        self.finite &= torch.isfinite(values)
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if self.done % self.SHOW_EVERY == 1:
                self.bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)

    def close(self) -> tuple[dict, list[str]]:
        """The mean of each term, and the names of the terms that were not finite at some step."""
        if self.bar is not None:
            self.bar.close()
        if self.sums is None or self.finite is None or self.keys is None:
            return {}, []
        sums, finite = self.sums.tolist(), self.finite.tolist()
        means = {k: v / self.steps for k, v in zip(self.keys, sums)}
        return means, [k for k, ok in zip(self.keys, finite) if not ok]


def use_device_data(cfg: TrainConfig, data: TrainData, device: torch.device) -> bool:
    """Whether the run keeps its training patches on ``device`` (``cfg.device_data``; ``auto``:
    when they fit, :func:`~lczmap.train.data.device_data_fits`)."""
    match cfg.device_data:
        case "on":
            return True
        case "off":
            return False
    return device_data_fits(data.training_bytes(), device)


class StageRunner:
    """Runs the epochs of both stages of one run on ``device``; each epoch returns the mean of
    each loss term and the number of samples (patches through an encoder, all processes)."""

    def __init__(self, cfg: TrainConfig, data: TrainData, dist_info: DistInfo, device: torch.device, progress: Callable | None):
        self.cfg = cfg
        self.data = data
        self.dist = dist_info
        self.device = device
        self.progress = progress if dist_info.main else None
        self.amp_dtype = None
        if device.type == "cuda" and cfg.amp:
            self.amp_dtype = cuda_amp_dtype(device)
        self.scaler: torch.amp.GradScaler | None = None
        self.begin_stage()
        self.on_device = use_device_data(cfg, data, device)
        tensors = data.training_tensors()
        if self.on_device:
            moved: dict[int, torch.Tensor] = {}  # the unlabelled pool may be the labelled set itself
            self.tensors = {k: moved.setdefault(id(v), v.to(device)) for k, v in tensors.items()}
        else:
            self.tensors = tensors
        self.data_device = device if self.on_device else torch.device("cpu")
        log.debug(
            "training patches: %.1f MB %s", data.training_bytes() / 2**20, f"on {device}" if self.on_device else "in host memory"
        )

    def begin_stage(self) -> None:
        """Start a stage: a fresh gradient scaler (float16 autocast), so that no state passes
        from the EO stage to the SAR stage."""
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None

    def autocast(self) -> torch.autocast:
        if self.amp_dtype is None:
            return torch.autocast("cpu", enabled=False)
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def to(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True)

    def take(self, name: str, index: torch.Tensor) -> torch.Tensor:
        """``tensors[name][index]`` on the compute device (``index`` on the data's device)."""
        return self.to(self.tensors[name][index])

    def upload(self, draws: dict[str, torch.Tensor], indices: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """An epoch's draws on the devices that use them: ``indices`` where the patches are, the
        rest on the compute device (pinned first on CUDA: one asynchronous copy each)."""
        out = {}
        for key, value in draws.items():
            target = self.data_device if key in indices else self.device
            if target.type == "cuda":
                value = value.pin_memory().to(target, non_blocking=True)
            out[key] = value
        return out

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(optimizer)
        else:
            loss.backward()
        all_reduce_grads(params, self.dist)
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def eo_epoch(self, net: YNet, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], epoch: int) -> dict:
        cfg, data = self.cfg, self.data
        if data.x_eo is None or data.y_eo is None:
            raise TrainingError("the EO stage has no EO patches: this is a bug in lczmap")
        gen = epoch_generator(cfg.seed, 1, epoch)  # same permutation on every rank
        n = len(data.x_eo)
        perm = torch.randperm(n, generator=gen)
        aug_gen = epoch_generator(cfg.seed, 11, epoch, self.dist.rank)
        global_batch = cfg.batch_size * self.dist.world
        steps = math.ceil(n / global_batch)
        # this rank's share of each step, and its augmentations in the order the steps draw them
        mine, views1, views2 = [], [], []
        for s in range(steps):
            chunk = perm[s * global_batch : (s + 1) * global_batch]
            part = chunk[self.dist.rank :: self.dist.world] if len(chunk) >= self.dist.world else chunk
            mine.append(part)
            if cfg.supcon:
                if cfg.augment:
                    views1.append(augment_draws(len(part), aug_gen))
                views2.append(augment_draws(len(part), aug_gen))  # the second view is always augmented
            elif cfg.augment:
                views1.append(augment_draws(len(part), aug_gen))
        sizes = [len(p) for p in mine]
        draws = {"index": torch.cat(mine)}
        if views1:
            draws["view1"] = torch.cat(views1, dim=1)
        if views2:
            draws["view2"] = torch.cat(views2, dim=1)
        draws = self.upload(draws, ("index",))
        net.train()
        tally = Tally(self.progress, steps, f"EO stage epoch {epoch + 1}/{cfg.eo_epochs}")
        offset = 0
        for size in sizes:
            sl = slice(offset, offset + size)
            offset += size
            idx = draws["index"][sl]
            xb, yb = self.take("x_eo", idx), self.take("y_eo", idx)
            with self.autocast():
                if cfg.supcon:
                    v1 = apply_augment(xb, draws["view1"][:, sl]) if cfg.augment else xb
                    v2 = apply_augment(xb, draws["view2"][:, sl])
                    x2 = torch.cat([v1, v2])
                    y2 = torch.cat([yb, yb])
                    z = net.eo_encoder(x2)
                    ce = F.cross_entropy(net.classifier(z).float(), y2)
                    sc = supcon_loss(net.projector(z).float(), y2, cfg.temperature)
                    loss = ce + cfg.supcon_weight * sc
                    parts = {"ce_eo": ce, "supcon": sc}
                else:
                    xa = apply_augment(xb, draws["view1"][:, sl]) if cfg.augment else xb
                    z = net.eo_encoder(xa)
                    ce = F.cross_entropy(net.classifier(z).float(), yb)
                    loss = ce
                    parts = {"ce_eo": ce}
            self.step(loss, optimizer, params)
            tally.add(loss, parts)
        out = self.finish(net, tally, "eo", epoch)
        out["samples"] = n
        return out

    def sar_draws(self, gen: torch.Generator, steps: int) -> dict[str, torch.Tensor]:
        """Every draw of a SAR-stage epoch from ``gen``, in the order the steps use them: per step
        the labelled batch and its augmentation, then for ``swd`` the EO batch, the unlabelled
        batch, the EO augmentation and the projections. Each (steps, ...)."""
        cfg, data = self.cfg, self.data
        b, swd = cfg.batch_size, cfg.method == "swd"
        n_lab, n_unl = len(data.x_sar_lab), len(data.x_sar_unl)
        n_eo = 0 if data.x_eo is None else len(data.x_eo)
        keys = ["lab"] + (["aug_lab"] if cfg.augment else [])
        if swd:
            keys += ["eo", "unl"] + (["aug_eo"] if cfg.augment else []) + ["theta"]
        rows: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
        for _ in range(steps):
            rows["lab"].append(torch.randint(0, n_lab, (b,), generator=gen))
            if cfg.augment:
                rows["aug_lab"].append(augment_draws(b, gen))
            if swd:
                rows["eo"].append(torch.randint(0, n_eo, (b,), generator=gen))
                rows["unl"].append(torch.randint(0, n_unl, (b,), generator=gen))
                if cfg.augment:
                    rows["aug_eo"].append(augment_draws(b, gen))
                rows["theta"].append(random_projections(cfg.embedding, cfg.projections, gen))
        return {k: torch.stack(v) for k, v in rows.items()}

    def sar_epoch(self, net: YNet, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], epoch: int) -> dict:
        cfg, data = self.cfg, self.data
        gen = epoch_generator(cfg.seed, 2, epoch, self.dist.rank)
        b = cfg.batch_size
        steps = math.ceil(data.n_sar / (b * self.dist.world))
        swd = cfg.method == "swd"
        if swd and (data.x_eo is None or data.y_eo is None):
            raise TrainingError("swd has no EO patches: this is a bug in lczmap")
        draws = self.upload(self.sar_draws(gen, steps), ("lab", "eo", "unl"))
        samples = 0
        net.train()
        if swd and cfg.freeze_eo:
            net.eo_encoder.eval()
        tally = Tally(self.progress, steps, f"SAR stage epoch {epoch + 1}/{cfg.sar_epochs}")
        for s in range(steps):
            li = draws["lab"][s]
            xl = self.take("x_sar_lab", li)
            if cfg.augment:
                xl = apply_augment(xl, draws["aug_lab"][s])
            yl = self.take("y_sar_lab", li)
            with self.autocast():
                if not swd:
                    ce = F.cross_entropy(net.classifier(net.sar_encoder(xl)).float(), yl)
                    loss, parts = ce, {"ce_sar": ce}
                    samples += b
                else:
                    ei, ui = draws["eo"][s], draws["unl"][s]
                    xe = self.take("x_eo", ei)
                    if cfg.augment:
                        xe = apply_augment(xe, draws["aug_eo"][s])
                    ye = self.take("y_eo", ei)
                    xu = self.take("x_sar_unl", ui)
                    theta = draws["theta"][s]
                    z_e = net.eo_encoder(xe)
                    z_s = net.sar_encoder(torch.cat([xl, xu]))
                    z_l = z_s[:b]  # the unlabelled rest of z_s enters only the marginal SWD term
                    ce_eo = F.cross_entropy(net.classifier(z_e).float(), ye)
                    ce_sar = F.cross_entropy(net.classifier(z_l).float(), yl)
                    z_e32, z_s32 = z_e.float(), z_s.float()
                    marg = sliced_wasserstein(z_e32, z_s32, theta)
                    cc = swd_class_conditional(z_e32, ye, z_l.float(), yl, theta)
                    loss = ce_eo + ce_sar + cfg.swd_lambda * marg + cfg.swd_eta * cc
                    parts = {"ce_eo": ce_eo, "ce_sar": ce_sar, "swd_marginal": marg, "swd_class": cc}
                    samples += 3 * b
            self.step(loss, optimizer, params)
            tally.add(loss, parts)
        out = self.finish(net, tally, "sar", epoch)
        out["samples"] = samples * self.dist.world
        return out

    def finish(self, net: YNet, tally: Tally, stage: str, epoch: int) -> dict:
        """Close the epoch's tally and check that its losses and the weights are finite: a
        diverged epoch raises :class:`TrainingError` naming the stage, the epoch and the option to
        change, before anything is recorded or saved from it."""
        tensors = [t for t in net.state_dict().values() if t.is_floating_point()]
        weights_ok = torch.stack([torch.isfinite(t).all() for t in tensors]).all()
        means, bad = tally.close()
        ok = all_true(bool(weights_ok) and not bad, self.dist, self.device)
        if not ok:
            raise TrainingError(diverged_message(self.cfg, stage, epoch, bad, bool(weights_ok)))
        return means

    def val_accuracy(self, network: SarNetwork, stage: str) -> float | None:
        """Accuracy of ``network`` on the validation patches of ``stage`` (None without them)."""
        x = self.data.x_val_eo if stage == "eo" else self.data.x_val
        y = self.data.y_val
        if x is None or y is None:
            return None
        logits = predict_logits(network, x, batch_size=256, device=self.device)
        return float((logits.argmax(1) == y).double().mean())

"""Training checks that need a CUDA device (skipped elsewhere): patches kept on the GPU give the
numbers of patches copied per step, a shared EO stage the checkpoint of a run that trains it, and
an epoch's steps make no host-device synchronisation."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SMALL = dict(
    width=8,
    depth=2,
    blocks=1,
    embedding=16,
    projection=8,
    batch_size=64,
    eo_epochs=2,
    sar_epochs=2,
    val_max=64,
    device="cuda",
    projections=10,
    amp=False,
)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "home"))


def _state(path):
    from safetensors.torch import load_file

    return load_file(str(path))


@cuda
def test_data_on_the_gpu_gives_the_numbers_of_host_batches(twin_dir, tmp_path):
    from lczmap.train import TrainConfig, train

    cfg = TrainConfig(data=str(twin_dir), method="swd", supcon=True, **SMALL)
    on = train(replace(cfg, device_data="on"), tmp_path / "on.safetensors")
    off = train(replace(cfg, device_data="off"), tmp_path / "off.safetensors")
    a, b = _state(on.checkpoint), _state(off.checkpoint)
    for k in a:  # cuDNN may pick other kernels from run to run: equal within float tolerance
        assert torch.allclose(a[k].float(), b[k].float(), rtol=1e-3, atol=1e-4), k
    assert [r["loss"] for r in on.history] == pytest.approx([r["loss"] for r in off.history], rel=1e-3)


@cuda
def test_a_shared_eo_stage_on_the_gpu(twin_dir, tmp_path):
    from lczmap.train import TrainConfig, train, train_eo_stage

    cfg = TrainConfig(data=str(twin_dir), method="finetune", **SMALL)
    inside = train(cfg, tmp_path / "inside.safetensors")
    stage = train_eo_stage(cfg, tmp_path / "eo.safetensors")
    shared = train(replace(cfg, eo_checkpoint=str(stage)), tmp_path / "shared.safetensors")
    a, b = _state(inside.checkpoint), _state(shared.checkpoint)
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), rtol=1e-3, atol=1e-4), k


@cuda
def test_an_epoch_on_the_gpu_does_not_synchronise_per_step(twin_dir):
    """With the patches on the GPU, a finetune SAR epoch's steps run under sync-debug "error" (only
    the epoch's end reads the loss sums back)."""
    from lczmap.train import TrainConfig
    from lczmap.train.data import load_training_data
    from lczmap.train.distributed import DistInfo
    from lczmap.train.runner import _build_net
    from lczmap.train.stages import StageRunner, make_optimizer

    cfg = TrainConfig(data=str(twin_dir), method="finetune", device_data="on", **SMALL)
    data = load_training_data(cfg, None)
    device = torch.device("cuda")
    net = _build_net(cfg, data, data.eo_stats, device)
    runner = StageRunner(cfg, data, DistInfo(), device, None)
    params = list(net.sar_encoder.parameters()) + list(net.classifier.parameters())
    opt = make_optimizer(params, cfg.sar_lr, cfg.weight_decay)
    runner.begin_stage()
    runner.sar_epoch(net, opt, params, 0)  # warm-up (allocations, cuDNN choice)
    finish = runner.finish
    runner.finish = lambda *a: (torch.cuda.set_sync_debug_mode(0), finish(*a))[1]  # type: ignore[method-assign]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        stats = runner.sar_epoch(net, opt, params, 1)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert stats["ce_sar"] > 0

"""Checks that need a CUDA device: run by scripts/gpu_check.sh on a GPU machine; skipped elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def gpu_twin(tmp_path_factory):
    from lczmap.twin import write_twin

    return write_twin(tmp_path_factory.mktemp("twin"), n_train=1500, n_val=300, n_test=300, seed=0)


@cuda
def test_training_on_cuda_with_amp_gives_a_portable_checkpoint(gpu_twin, tmp_path):
    from lczmap.checkpoint import load_checkpoint
    from lczmap.evaluate import evaluate
    from lczmap.train import TrainConfig, train

    config = TrainConfig(
        data=str(gpu_twin),
        method="swd",
        classes="lowrise",
        labels=128,
        sar_bands="lee-intensity",
        eo_epochs=4,
        sar_epochs=6,
        device="cuda",
        amp=True,
    )
    result = train(config, tmp_path / "m.safetensors")
    ckpt = load_checkpoint(result.checkpoint)  # loads on a CPU-only machine too: tensors are saved on the CPU
    assert all(t.device.type == "cpu" for t in ckpt.state.values())
    report = evaluate(result.checkpoint, gpu_twin, device="cuda")
    assert report["overall_accuracy"] > 0.4  # 4 classes: chance is 0.25


@cuda
def test_predict_on_cuda_equals_cpu(gpu_twin, tmp_path):
    from lczmap.predict import predict_scene
    from lczmap.train import TrainConfig, train
    from lczmap.twin import write_scene

    config = TrainConfig(
        data=str(gpu_twin),
        method="sar-only",
        classes="urban",
        labels=256,
        sar_bands="lee-intensity",
        eo_epochs=0,
        sar_epochs=2,
        device="cuda",
    )
    model = train(config, tmp_path / "m.safetensors").checkpoint
    scene, _ = write_scene(tmp_path / "scene.tif", size=(700, 900), seed=3, units="db")
    predict_scene(scene, tmp_path / "cpu.tif", model=model, device="cpu")
    predict_scene(scene, tmp_path / "gpu.tif", model=model, device="cuda", amp=False)
    predict_scene(scene, tmp_path / "amp.tif", model=model, device="cuda", amp=True, tile_size=256)
    with (
        rasterio.open(tmp_path / "cpu.tif") as a,
        rasterio.open(tmp_path / "gpu.tif") as b,
        rasterio.open(tmp_path / "amp.tif") as c,
    ):
        cpu, gpu, amp = a.read(1), b.read(1), c.read(1)
    assert (cpu == gpu).mean() > 0.999  # float32 on both: differences only at exact ties
    assert (cpu == amp).mean() > 0.98  # mixed precision flips only near-tied windows
    assert set(np.unique(cpu)) - {0}


def _block_with_nodata():
    """A tile's input block whose windows are partly nodata: dense and sparse batches both run."""
    from _predict_fixtures import grd

    block = grd(32 + 10 * 63, 32 + 10 * 47, seed=5)  # 64 x 48 windows at stride 10
    block[:, :300, :200] = np.nan
    return block


def _tiny_model(tmp_path):
    from _predict_fixtures import tiny_checkpoint

    from lczmap.predict import load_model

    return load_model(tiny_checkpoint(tmp_path / "tiny.safetensors"))


@cuda
def test_launching_a_tile_never_waits_for_the_gpu(tmp_path):
    """launch_tile queues a tile's work without synchronising the device, so the GPU can run a
    tile ahead of the host: any synchronising call in it raises in sync-debug mode."""
    from lczmap.predict import PredictOptions, compute_tile, finish_tile, launch_tile, prepare_block

    m = _tiny_model(tmp_path)
    plan = PredictOptions(stride=10, max_nodata=0.5, batch_size=512, device="cuda", amp=True).resolve(m, None)
    block = _block_with_nodata()
    finish_tile(
        launch_tile(
            prepare_block(block.copy(), plan, pin=True),
            m,
            plan,  # warm-up: model, LUT
            probabilities=True,
        )
    )
    prep = prepare_block(block.copy(), plan, pin=True)
    assert prep.any_invalid and 0.2 < prep.valid.mean() < 0.95
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        launched = launch_tile(prep, m, plan, probabilities=True)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    res = finish_tile(launched)
    ref = compute_tile(
        block.copy(),
        m,
        PredictOptions(stride=10, max_nodata=0.5, batch_size=512, device="cpu").resolve(m, None),
        probabilities=True,
    )
    assert ((res.codes == 0) == ~prep.valid).all() and ((ref.codes == 0) == ~prep.valid).all()
    assert (res.codes == ref.codes).mean() > 0.98  # bf16 on the GPU, float32 on the CPU
    assert res.device_span is not None and res.device_span > 0


@cuda
def test_cuda_out_of_memory_halves_the_batch(tmp_path, caplog):
    """With little GPU memory left, a batch too large for it is halved until it fits, and the map
    equals one made with a small batch from the start."""
    import logging

    from _predict_fixtures import grd, write_tif

    from lczmap.predict import predict_scene

    m = _tiny_model(tmp_path)
    scene = write_tif(tmp_path / "s.tif", grd(2600, 2600, seed=2), descriptions=["VV", "VH"])
    ref = predict_scene(scene, tmp_path / "ref.tif", m, device="cuda", amp=False, batch_size=2048, tile_size=256)
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info()
    hog = torch.empty(max(0, free - (1 << 30)), dtype=torch.uint8, device="cuda")  # leave ~1 GiB
    try:
        with caplog.at_level(logging.WARNING, logger="lczmap.predict"):
            big = predict_scene(scene, tmp_path / "big.tif", m, device="cuda", amp=False, batch_size=65536, tile_size=256)
    finally:
        del hog
        torch.cuda.empty_cache()
    assert any("batch size halved" in r.getMessage() for r in caplog.records)
    with rasterio.open(ref.out) as a, rasterio.open(big.out) as b:
        assert (a.read(1) == b.read(1)).mean() > 0.999


@cuda
def test_mixed_precision_dtype_follows_the_gpu():
    from lczmap._device import cuda_amp_dtype

    major = torch.cuda.get_device_properties(0).major
    assert cuda_amp_dtype(torch.device("cuda")) == (torch.bfloat16 if major >= 8 else torch.float16)
    assert cuda_amp_dtype(torch.device("cuda:0")) is cuda_amp_dtype(torch.device("cuda"))

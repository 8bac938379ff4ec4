"""Checks that need a CUDA device: run by scripts/gpu_check.sh on a GPU machine; skipped elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def gpu_twin(tmp_path_factory):
    from lczmap.data.synthetic import write_twin

    return write_twin(tmp_path_factory.mktemp("twin"), n_train=1500, n_val=300, n_test=300, seed=0)


@cuda
def test_training_on_cuda_with_amp_gives_a_portable_checkpoint(gpu_twin, tmp_path):
    from lczmap.checkpoint import load_checkpoint
    from lczmap.evaluate import evaluate
    from lczmap.train import TrainConfig, train

    config = TrainConfig(data=str(gpu_twin), method="swd", classes="lowrise", labels=128, sar_bands="lee-intensity",
                         eo_epochs=4, sar_epochs=6, device="cuda", amp=True)
    result = train(config, tmp_path / "m.safetensors")
    ckpt = load_checkpoint(result.checkpoint)  # loads on a CPU-only machine too: tensors are saved on the CPU
    assert all(t.device.type == "cpu" for t in ckpt.state.values())
    report = evaluate(result.checkpoint, gpu_twin, device="cuda")
    assert report["overall_accuracy"] > 0.4  # 4 classes: chance is 0.25


@cuda
def test_predict_on_cuda_equals_cpu(gpu_twin, tmp_path):
    from lczmap.data.synthetic import write_scene
    from lczmap.predict import predict_scene
    from lczmap.train import TrainConfig, train

    config = TrainConfig(data=str(gpu_twin), method="sar-only", classes="urban", labels=256,
                         sar_bands="lee-intensity", eo_epochs=0, sar_epochs=2, device="cuda")
    model = train(config, tmp_path / "m.safetensors").checkpoint
    scene, _ = write_scene(tmp_path / "scene.tif", size=(700, 900), seed=3, units="db")
    predict_scene(scene, tmp_path / "cpu.tif", model=model, device="cpu")
    predict_scene(scene, tmp_path / "gpu.tif", model=model, device="cuda", amp=False)
    predict_scene(scene, tmp_path / "amp.tif", model=model, device="cuda", amp=True, tile_size=256)
    with rasterio.open(tmp_path / "cpu.tif") as a, rasterio.open(tmp_path / "gpu.tif") as b, \
            rasterio.open(tmp_path / "amp.tif") as c:
        cpu, gpu, amp = a.read(1), b.read(1), c.read(1)
    assert (cpu == gpu).mean() > 0.999  # float32 on both: differences only at exact ties
    assert (cpu == amp).mean() > 0.98  # mixed precision flips only near-tied windows
    assert set(np.unique(cpu)) - {0}

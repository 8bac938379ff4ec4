"""Shared EO stages in a study, threads per worker and cells per GPU: each EO stage trained once
and its cells identical to cells that train it themselves; --dry-run lists the stages; a failed
stage fails only its cells, with the reason."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import ConfigError
from lczmap.study import EO_FOLDER, parse_spec, plan_eo_stages, read_results, run_cell, run_study
from lczmap.study.cluster import default_cells_per_gpu, tune_worker, worker_threads

TINY_TRAIN = {
    "eo_epochs": 1,
    "sar_epochs": 1,
    "batch_size": 32,
    "width": 4,
    "depth": 2,
    "embedding": 16,
    "projection": 16,
    "projections": 8,
    "val_split": "none",
}

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True)
def _user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "lczmap-home"))


@pytest.fixture(scope="module")
def shared_twin(tmp_path_factory):
    from lczmap.twin import write_twin

    return write_twin(tmp_path_factory.mktemp("shared-twin"), n_train=300, n_val=20, n_test=120, seed=0)


def _spec(data, **grid):
    base = {
        "method": ["sar-only", "finetune", "swd"],
        "classes": "lowrise",
        "labels": [16, 32],
        "norm": "instance",
        "supcon": False,
        "seed": [0],
    }
    return parse_spec({"data": str(data), "grid": {**base, **grid}, "train": TINY_TRAIN})


def _md5(path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_study_trains_each_eo_stage_once_with_the_same_results(shared_twin, tmp_path):
    spec = _spec(shared_twin)
    out = tmp_path / "study"
    stages = plan_eo_stages(spec, out)
    assert [(state, len(cells)) for _, state, cells in stages] == [("todo", 4)]  # finetune + swd, 2 budgets
    result = run_study(spec, out, workers=2)
    assert (result.cells, result.ran, result.failed) == (6, 6, 0)
    sid = stages[0][0]
    assert sorted(os.listdir(out / EO_FOLDER)) == [f"{sid}.safetensors"]
    table = read_results(out).set_index("cell_id")
    shared = table[table.method != "sar-only"]
    assert (shared.eo_checkpoint == f"{EO_FOLDER}/{sid}.safetensors").all()
    assert (table[table.method == "sar-only"].eo_checkpoint.fillna("") == "").all()
    # torch threads per worker: the machine's cores shared by the two workers
    assert (table.threads == worker_threads(os.cpu_count() or 1, 2)).all()

    # identity: a cell trained on its own (its EO stage inside) writes the same checkpoint and scores
    cell = next(c for c in spec.cells() if c.method == "swd")
    # (the checkpoint records the data path and device as the study gives them)
    alone = run_cell(cell, str(shared_twin.resolve()), None, tmp_path / "alone", "testing", spec.device)
    assert alone["status"] == "ok"
    assert _md5(tmp_path / "alone" / "model.safetensors") == _md5(out / table.loc[cell.cell_id].checkpoint)
    assert alone["accuracy"] == table.loc[cell.cell_id].accuracy and alone["kappa"] == table.loc[cell.cell_id].kappa

    # --dry-run lists the shared stage as done; a rerun trains nothing
    args = [
        "study",
        str(shared_twin),
        "--out",
        str(out),
        "--method",
        "sar-only,finetune,swd",
        "--classes",
        "lowrise",
        "--labels",
        "16,32",
        "--norm",
        "instance",
        "--supcon",
        "off",
        "--seeds",
        "1",
        *[a for k, v in TINY_TRAIN.items() for a in ("--train", f"{k}={v}")],
    ]
    dry = CliRunner().invoke(main, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{sid}  done    lowrise, instance norm, SupCon off, seed 0: 4 cells (" in dry.output
    assert dry.output.endswith("1 EO stages for 4 cells: 1 done, 0 to train\n"), dry.output
    mtime = os.stat(out / EO_FOLDER / f"{sid}.safetensors").st_mtime_ns
    again = run_study(spec, out, workers=1)
    assert (again.ran, again.skipped) == (0, 6)
    assert os.stat(out / EO_FOLDER / f"{sid}.safetensors").st_mtime_ns == mtime


def test_dry_run_lists_the_shared_eo_stages_of_the_quick_preset(tmp_path):
    res = CliRunner().invoke(main, ["study", "--quick", "--dry-run", "--out", str(tmp_path / "q")])
    assert res.exit_code == 0, res.output
    assert "60 cells: 0 done, 0 failed, 60 to run" in res.output
    assert res.output.endswith("12 EO stages for 48 cells: 0 done, 12 to train\n")
    assert "todo    urban, instance norm, SupCon off, seed 2: 4 cells (" in res.output
    assert not (tmp_path / "q").exists()


def test_a_failed_eo_stage_fails_only_its_cells_with_the_reason(shared_twin, tmp_path):
    from lczmap.study.tasks import cell_task, eo_task

    spec = _spec(shared_twin, method=["finetune"], labels=[16])
    cell = spec.cells()[0]
    path = tmp_path / "study" / EO_FOLDER / f"{cell.eo_stage_id}.safetensors"
    failed = eo_task(cell, str(tmp_path / "no-such-data"), None, str(path), "cpu", 1)
    assert failed["status"] == "failed" and failed["error"].startswith("DataError")
    assert path.with_suffix(".error.txt").is_file() and not path.exists()
    row = cell_task(cell, str(shared_twin), None, str(tmp_path / "cell"), "testing", "cpu", 1, failed)
    assert row["status"] == "failed"
    assert row["error"] == f"shared EO stage {cell.eo_stage_id} failed: {failed['error']}"
    assert "shared EO stage" in (tmp_path / "cell" / "error.txt").read_text()
    assert torch.get_num_threads() == 1  # the task sized this process's threads


def test_threads_and_cells_per_gpu():
    assert worker_threads(16, 4) == 4 and worker_threads(2, 2) == 1 and worker_threads(2, 5) == 1
    gib = 1 << 30
    assert default_cells_per_gpu(80 * gib, 2 * gib, cores=16, gpus=1) == 16  # 32 fit: the cores bound
    assert default_cells_per_gpu(80 * gib, 16 * gib, cores=16, gpus=1) == 4  # memory bounds
    assert default_cells_per_gpu(8 * gib, 16 * gib, cores=16, gpus=2) == 1  # at least one
    before = torch.get_num_threads()
    try:
        tune_worker(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match="--cells-per-gpu 0"):
        run_study(parse_spec({"data": "x", "grid": {"method": "sar-only"}}), "out", cells_per_gpu=0)
    res = CliRunner().invoke(main, ["study", "--quick", "--dry-run", "--out", "q", "--cells-per-gpu", "0"])
    assert res.exit_code == 2 and "--cells-per-gpu" in res.output
    with pytest.raises(ConfigError, match="not a study option"):
        parse_spec({"data": "x", "train": {"eo_checkpoint": "eo.safetensors"}})


@cuda
@pytest.mark.slow
def test_several_cells_share_a_gpu(shared_twin, tmp_path):
    spec = parse_spec(
        {
            "data": str(shared_twin),
            "device": "cuda",
            "train": TINY_TRAIN,
            "grid": {
                "method": ["finetune", "swd"],
                "classes": "lowrise",
                "labels": [16, 32],
                "norm": "instance",
                "supcon": False,
                "seed": [0],
            },
        }
    )
    result = run_study(spec, tmp_path / "study", cells_per_gpu=2)
    assert (result.ran, result.failed) == (4, 0)
    table = read_results(tmp_path / "study")
    assert len({w.split("/")[-1] for w in table.worker}) >= 1 and (table.threads >= 1).all()

"""lczmap study runs: the grid on a real dask LocalCluster with resume and a failing cell, the
study folder and its lock, data checks before anything runs, the GPU worker plugin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import DataError, OutputError, StudyError
from lczmap.study import LOCK_NAME, GpuPerWorker, parse_spec, read_results, run_study

#: The smallest schedule and network the training accepts: cells take seconds.
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


@pytest.fixture(autouse=True)
def _user_dir(tmp_path, monkeypatch):
    # train() records its last checkpoint in the user data dir: keep it out of the real one
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "lczmap-home"))


@pytest.fixture(scope="module")
def tiny_twin(tmp_path_factory):
    from lczmap.twin import write_twin

    out = tmp_path_factory.mktemp("study-twin")
    return write_twin(out, n_train=300, n_val=20, n_test=120, seed=0)


def test_data_problems_stop_before_anything_runs(tmp_path, so2sat_file_factory):
    path = so2sat_file_factory("training.h5", labels=np.arange(64) % 4)  # LCZ 1-4 only
    spec = parse_spec(
        {
            "data": str(path),
            "split": "training",
            "grid": {"method": "sar-only", "classes": "lowrise", "labels": 8, "norm": "instance", "supcon": False, "seed": 0},
            "train": TINY_TRAIN,
        }
    )
    with pytest.raises(DataError, match="no patches of LCZ 6"):
        run_study(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_study_end_to_end_on_a_local_cluster_with_resume_and_a_failing_cell(tiny_twin, tmp_path):
    spec = parse_spec(
        {
            "title": "tiny twin (synthetic)",
            "data": str(tiny_twin),
            "grid": {
                "method": ["sar-only"],
                "classes": ["lowrise"],
                "labels": [16, 1024],
                "norm": ["instance"],
                "supcon": [False],
                "seed": [0, 1],
            },
            "extra": [{"method": ["finetune"], "labels": [16], "seed": [0]}],
            "train": TINY_TRAIN,
        }
    )
    out = tmp_path / "study"
    result = run_study(spec, out, workers=2)
    assert (result.cells, result.ran, result.skipped, result.failed) == (5, 5, 0, 2)
    table = read_results(out)
    assert len(table) == 5 and list(table["cell_id"]) == [c.cell_id for c in spec.cells()]
    ok, failed = table[table.status == "ok"], table[table.status == "failed"]
    assert set(failed["labels"]) == {"1024"}
    assert all("labelled SAR budget 1024 is larger than" in e for e in failed["error"])
    assert all((out / "cells" / i / "error.txt").is_file() for i in failed["cell_id"])
    assert len(ok) == 3 and ok["accuracy"].between(0, 1).all() and ok["kappa"].notna().all()
    assert (ok["seconds"] > 0).all() and (ok["n_test"] > 0).all()
    assert {w.split("/")[-1] for w in ok["worker"]} <= {"0", "1"}  # ran on the cluster's workers
    for r in ok.itertuples():
        report = json.loads((out / r.report).read_text())
        assert report["overall_accuracy"] == pytest.approx(r.accuracy)
        assert (out / r.checkpoint).is_file() and r.checkpoint == f"cells/{r.cell_id}/model.safetensors"
    assert (table["eo_epochs"] == 1).all() and (table["width"] == 4).all()  # full configuration per row
    assert (out / "accuracy_vs_labels.png").is_file()
    from lczmap.checkpoint import last_checkpoint

    assert last_checkpoint() is None  # study cells never become the model `lczmap predict` picks
    summary = (out / "summary.md").read_text()
    assert "| lowrise | sar-only | instance | off | 1024 | 0 (2 failed) |" in summary

    # the same grid from the command line: --dry-run shows the states, a rerun keeping failed cells
    # runs nothing and leaves the table as it was
    args = [
        "study",
        str(tiny_twin),
        "--out",
        str(out),
        "--method",
        "sar-only",
        "--classes",
        "lowrise",
        "--labels",
        "16,1024",
        "--norm",
        "instance",
        "--supcon",
        "off",
        "--seeds",
        "2",
        *[a for k, v in TINY_TRAIN.items() for a in ("--train", f"{k}={v}")],
    ]
    dry = CliRunner().invoke(main, [*args, "--dry-run"])
    assert dry.exit_code == 0 and dry.output.endswith("4 cells: 2 done, 2 failed, 2 to run\n"), dry.output
    assert f"{failed.cell_id.iloc[0]}  failed  sar-only, lowrise, 1024 labels" in dry.output
    before = (out / "results.csv").read_text()
    cli = CliRunner().invoke(main, [*args, "--keep-failed"])
    assert cli.exit_code == 0, cli.output
    assert "4 cells: 0 run, 4 finished earlier, 2 failed" in cli.output
    assert (out / "results.csv").read_text() == before

    # a cell whose row was lost (interrupted after training) is tested from its checkpoint without
    # training again; failed cells are tried again (and fail again)
    kept = ok.iloc[0]
    mtime = os.stat(out / kept.checkpoint).st_mtime_ns
    table[table.cell_id != kept.cell_id].to_csv(out / "results.csv", index=False)
    again = run_study(spec, out, workers=1, table_format="parquet")
    assert (again.ran, again.skipped, again.failed) == (3, 2, 2)
    assert again.table == out / "results.parquet"
    assert list(pd.read_parquet(again.table)["cell_id"]) == list(read_results(out)["cell_id"])
    assert os.stat(out / kept.checkpoint).st_mtime_ns == mtime
    row = read_results(out).set_index("cell_id").loc[kept.cell_id]
    assert row.status == "ok" and row.accuracy == pytest.approx(kept.accuracy)


def test_study_folder_belongs_to_its_data(tiny_twin, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("not a study")
    spec = parse_spec(
        {
            "data": str(tiny_twin),
            "grid": {"method": "sar-only", "classes": "lowrise", "labels": 16, "norm": "instance", "supcon": False, "seed": 0},
        }
    )
    with pytest.raises(Exception, match="holds no study"):
        run_study(spec, tmp_path)  # a non-empty folder that is not a study
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "study.json").write_text(json.dumps({"spec": {"data": str(tmp_path / "elsewhere")}}))
    with pytest.raises(Exception, match="holds a study of the data"):
        run_study(spec, tmp_path / "s")


def test_gpu_plugin_gives_each_worker_its_own_device():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.register_plugin(GpuPerWorker(["3", "5"]), name=GpuPerWorker.name)
        seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
    assert sorted(seen.values()) == ["3", "5"]


def _one_cell(data) -> dict:
    return {
        "data": str(data),
        "grid": {"method": "sar-only", "classes": "lowrise", "labels": 16, "norm": "instance", "supcon": False, "seed": 0},
        "train": TINY_TRAIN,
    }


def test_unusable_out_is_an_output_error(tiny_twin, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError, match="is not a folder: choose another --out"):
        run_study(parse_spec(_one_cell(tiny_twin)), tmp_path / "file")


def _hold_lock(path: Path) -> subprocess.Popen:
    """Another process that holds the study lock ``path`` until it is killed."""
    code = (
        "import sys, time\nfrom filelock import FileLock\nlock = FileLock(sys.argv[1])\nlock.acquire()\n"
        "print('locked', flush=True)\ntime.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_live_run_locks_its_folder_and_a_killed_one_does_not(tiny_twin, tmp_path):
    spec = parse_spec(_one_cell(tiny_twin))
    out = tmp_path / "study"
    out.mkdir()
    holder = _hold_lock(out / LOCK_NAME)
    try:
        with pytest.raises(StudyError, match=f"another lczmap study is running in {out}") as info:
            run_study(spec, out, workers=1)
        assert "\n" not in str(info.value)
        assert not (out / "results.csv").exists() and not (out / "cells").exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up: the lock file stays behind
        holder.wait()
        holder.stdout.close()
    assert (out / LOCK_NAME).exists()
    result = run_study(spec, out, workers=1)  # the dead run's lock blocks nothing
    assert (result.cells, result.ran, result.failed) == (1, 1, 0)
    assert read_results(out)["status"].tolist() == ["ok"]

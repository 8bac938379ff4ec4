"""Training end to end on the So2Sat twin: methods, reproducibility, resume, outputs, bad input, CLI, DDP."""

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from lczmap.checkpoint import load_checkpoint
from lczmap.cli import main
from lczmap.data import open_patches
from lczmap.errors import ConfigError, DataError, OutputExistsError
from lczmap.evaluate import classification_metrics, confusion_matrix, evaluate
from lczmap.train import TrainConfig, augment, output_paths, train

torch.set_num_threads(1)

TINY = dict(
    width=4,
    depth=2,
    blocks=1,
    embedding=16,
    projection=8,
    batch_size=32,
    eo_epochs=1,
    sar_epochs=1,
    val_max=64,
    device="cpu",
    projections=10,
)


def tiny(data, **kw):
    return TrainConfig(data=str(data), **{**TINY, **kw})


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "home"))


def test_end_to_end_above_chance(twin_dir, tmp_path):
    """A small swd run learns the twin: test accuracy clearly above chance (4 classes)."""
    cfg = TrainConfig(
        data=str(twin_dir),
        method="swd",
        width=8,
        eo_epochs=10,
        sar_epochs=4,
        batch_size=32,
        eo_lr=3e-3,
        sar_lr=3e-3,
        labels=64,
        projections=20,
        val_split=None,
        device="cpu",
    )
    result = train(cfg, tmp_path / "m.safetensors")
    report = evaluate(result.checkpoint, twin_dir, out_dir=tmp_path / "eval")
    y = open_patches(twin_dir, "testing", "vv-complex").labels
    lowrise = np.isin(y + 1, [3, 6, 7, 8])
    majority = np.bincount(y[lowrise]).max() / lowrise.sum()
    assert report["split"] == "testing" and report["n"] == lowrise.sum()
    assert report["overall_accuracy"] > max(0.5, majority + 0.15), report["overall_accuracy"]
    # chance is kappa 0; 0.3 passed on one machine and 0.28 came on another CPU's BLAS kernels
    # (AMD EPYC, at the base commit too): 0.2 is still clearly above chance
    assert report["kappa"] > 0.2


@pytest.mark.parametrize(
    "kw",
    [
        dict(method="sar-only", norm="batch"),
        dict(method="finetune", norm="instance", supcon=True, temperature=0.07),
        dict(method="swd", norm="batch", freeze_eo=True, labels="all"),
    ],
    ids=["sar-only-batch", "finetune-supcon", "swd-frozen-all"],
)
def test_methods_write_self_describing_outputs(twin_dir, tmp_path, kw):
    result = train(tiny(twin_dir, **kw), tmp_path / "m.safetensors")
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.meta["method"] == kw["method"] and ckpt.meta["norm"] == kw["norm"]
    assert ckpt.codes == (3, 6, 7, 8) and ckpt.meta["classes"] == "lowrise"
    assert ckpt.sar_bands.name == "vv-complex"
    assert [c["quantity"] for c in ckpt.meta["sar_bands"]["channels"]] == ["complex_real", "complex_imag"]
    assert len(ckpt.meta["sar_mean"]) == 2 and all(s > 0 for s in ckpt.meta["sar_std"])
    assert result.metrics["sar_samples_per_s"] > 0 and "seconds" not in ckpt.meta["metrics"]
    if kw["method"] == "sar-only":
        assert ckpt.meta["eo_mean"] is None and "eo_epochs" not in ckpt.meta["metrics"]
    else:
        assert ckpt.meta["metrics"]["eo_epochs"] == 1
    logits = ckpt.sar_network()(torch.zeros(2, 2, 32, 32))
    assert logits.shape == (2, 4) and torch.isfinite(logits).all()
    rows = list(csv.DictReader(io.StringIO(result.csv.read_text())))
    assert [r["stage"] for r in rows] == (["sar"] if kw["method"] == "sar-only" else ["eo", "sar"])
    assert all(r["val_accuracy"] != "" for r in rows)
    if kw.get("supcon"):
        assert float(rows[0]["supcon"]) > 0
    assert result.curve.stat().st_size > 1000
    assert not output_paths(result.checkpoint)["resume"].exists()


def test_swd_logs_its_terms(twin_dir, tmp_path):
    result = train(tiny(twin_dir, method="swd"), tmp_path / "m.safetensors")
    sar = result.history[-1]
    assert sar["swd_marginal"] > 0 and sar["swd_class"] > 0 and sar["ce_eo"] > 0 and sar["ce_sar"] > 0
    assert sar["loss"] == pytest.approx(sar["ce_eo"] + sar["ce_sar"] + sar["swd_marginal"] + sar["swd_class"], rel=1e-4)


def test_same_seed_same_result(twin_dir, tmp_path):
    a = train(tiny(twin_dir, method="swd", seed=3), tmp_path / "a.safetensors")
    b = train(tiny(twin_dir, method="swd", seed=3), tmp_path / "b.safetensors")
    c = train(tiny(twin_dir, method="swd", seed=4), tmp_path / "c.safetensors")
    ta, tb, tc = (load_file(str(r.checkpoint)) for r in (a, b, c))
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert not all(torch.equal(ta[k], tc[k]) for k in ta)
    # the same file, byte for byte: no timings in it, and a header in one order
    assert hashlib.md5(a.checkpoint.read_bytes()).digest() == hashlib.md5(b.checkpoint.read_bytes()).digest()
    assert a.metrics["seconds"] > 0 and "seconds" not in load_checkpoint(a.checkpoint).meta["metrics"]


class _Interrupt(Exception):
    pass


def test_resume_continues_exactly(twin_dir, tmp_path):
    cfg = tiny(twin_dir, method="finetune", eo_epochs=2, sar_epochs=2, seed=1)
    full = train(cfg, tmp_path / "full.safetensors")

    calls = []

    def interrupting(total=None, desc=None, **kw):
        if desc and "stage epoch" in desc:
            calls.append(desc)
            if len(calls) == 3:  # during the first SAR epoch
                raise _Interrupt
        from tqdm import tqdm

        return tqdm(total=total, disable=True)

    out = tmp_path / "cut.safetensors"
    with pytest.raises(_Interrupt):
        train(cfg, out, progress=interrupting)
    paths = output_paths(out)
    assert paths["resume"].exists() and not out.exists()
    with pytest.raises(OutputExistsError, match="--resume"):
        train(cfg, out)
    with pytest.raises(ConfigError, match="sar_lr"):
        train(tiny(twin_dir, method="finetune", eo_epochs=2, sar_epochs=2, seed=1, sar_lr=0.1), out, resume=True)
    resumed = train(cfg, out, resume=True)
    assert resumed.checkpoint.read_bytes() == full.checkpoint.read_bytes()  # the same file
    assert [r["stage"] for r in resumed.history] == ["eo", "eo", "sar", "sar"]


def test_refuses_to_overwrite(twin_dir, tmp_path):
    out = tmp_path / "m.safetensors"
    train(tiny(twin_dir, method="sar-only"), out)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        train(tiny(twin_dir, method="sar-only"), out)
    train(tiny(twin_dir, method="sar-only"), out, overwrite=True)
    with pytest.raises(ConfigError, match=".safetensors"):
        train(tiny(twin_dir, method="sar-only"), tmp_path / "m.pt")


def test_bad_configuration(twin_dir, tmp_path):
    out = tmp_path / "m.safetensors"
    with pytest.raises(ConfigError, match="unknown method 'dann'.*sar-only, finetune, swd"):
        train(tiny(twin_dir, method="dann"), out)
    with pytest.raises(ConfigError, match="unknown norm 'layer'.*batch or instance"):
        train(tiny(twin_dir, norm="layer"), out)
    with pytest.raises(ConfigError, match="unknown SAR band set 'hh'"):
        train(tiny(twin_dir, sar_bands="hh"), out)
    with pytest.raises(ConfigError, match="unknown EO band set"):
        train(tiny(twin_dir, eo_bands="vv-complex"), out)
    with pytest.raises(ConfigError, match="sar-only does not have"):
        train(tiny(twin_dir, method="sar-only", supcon=True), out)
    with pytest.raises(DataError, match="larger than.*smaller --labels"):
        train(tiny(twin_dir, labels=100_000), out)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        train(tiny(twin_dir, device="cuda"), out)
    assert not out.exists()


def test_bands_the_data_lacks(twin_dir, tmp_path):
    from lczmap.data import prepare

    cache = prepare(twin_dir, tmp_path / "cache", band_sets=["rgb", "vv-complex"], splits=["training"])
    ok = train(
        TrainConfig(data=None, cache=str(cache), val_split=None, **{**TINY, "method": "sar-only"}), tmp_path / "ok.safetensors"
    )
    assert ok.checkpoint.exists()
    with pytest.raises(DataError, match="lee-intensity"):
        train(TrainConfig(data=None, cache=str(cache), sar_bands="lee-intensity", **TINY), tmp_path / "m.safetensors")


def test_augment_keeps_content():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    y = augment(x, g, shift=0)
    for i in range(2):  # a rotation/flip permutes pixels: same multiset per channel
        assert torch.equal(torch.sort(y[i].flatten(1)).values, torch.sort(x[i].flatten(1)).values)
    shifted = augment(x, torch.Generator().manual_seed(1), shift=2)
    assert shifted.shape == x.shape and not torch.equal(shifted, x)


def test_metrics_by_hand():
    cm = confusion_matrix(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 2, 2]), 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    m = classification_metrics(cm)
    assert m["overall_accuracy"] == pytest.approx(4 / 6)
    pe = (3 * 2 + 2 * 2 + 1 * 2) / 36
    assert m["kappa"] == pytest.approx((4 / 6 - pe) / (1 - pe))
    assert m["precision"] == pytest.approx([1.0, 0.5, 0.5])
    assert m["recall"] == pytest.approx([2 / 3, 0.5, 1.0])
    assert m["f1"][0] == pytest.approx(0.8)


def test_evaluate_writes_report(twin_dir, tmp_path):
    result = train(tiny(twin_dir, method="sar-only"), tmp_path / "m.safetensors")
    out = tmp_path / "eval"
    report = evaluate(result.checkpoint, twin_dir, split="validation", out_dir=out)
    saved = json.loads((out / "report.json").read_text())
    assert saved["overall_accuracy"] == report["overall_accuracy"] and saved["split"] == "validation"
    assert [r["name"] for r in saved["per_class"]] == [
        "Compact low-rise",
        "Open low-rise",
        "Lightweight low-rise",
        "Large low-rise",
    ]
    cm = np.array(saved["confusion_matrix"])
    assert cm.sum() == saved["n"] and np.trace(cm) / cm.sum() == pytest.approx(saved["overall_accuracy"])
    rows = list(csv.reader(io.StringIO((out / "confusion.csv").read_text())))
    assert rows[0][1] == "LCZ 3 Compact low-rise" and len(rows) == 5
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OutputExistsError):
        evaluate(result.checkpoint, twin_dir, split="validation", out_dir=out)


# --- CLI ------------------------------------------------------------------------------------------

CLI_TINY = [
    "--width",
    "4",
    "--depth",
    "2",
    "--embedding",
    "16",
    "--eo-epochs",
    "1",
    "--sar-epochs",
    "1",
    "--batch-size",
    "32",
    "--projections",
    "10",
    "--device",
    "cpu",
]


def test_cli_train_evaluate_info(twin_dir, tmp_path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        res = runner.invoke(main, ["-q", "train", str(twin_dir), "-o", "m.safetensors", "--labels", "32", *CLI_TINY])
        assert res.exit_code == 0, res.output
        assert "checkpoint: m.safetensors" in res.output and "validation accuracy (SAR)" in res.output
        res = runner.invoke(main, ["-q", "evaluate", "m.safetensors", str(twin_dir)])
        assert res.exit_code == 0, res.output
        assert "testing:" in res.output and "overall accuracy" in res.output and "Large low-rise" in res.output
        assert os.path.exists("m.eval-testing/report.json")
        res = runner.invoke(main, ["-q", "evaluate", "m.safetensors", str(twin_dir)])
        assert res.exit_code == 1 and "Error:" in res.output and "--overwrite" in res.output
        res = runner.invoke(main, ["-q", "evaluate", "--split", "validation", "--json", "m.safetensors", str(twin_dir)])
        assert res.exit_code == 0 and json.loads(res.output)["split"] == "validation"
        res = runner.invoke(main, ["info", "m.safetensors"])
        assert res.exit_code == 0 and "swd" in res.output and "vv-complex" in res.output
        # only DATA: the last checkpoint train wrote
        res = runner.invoke(main, ["-q", "evaluate", str(twin_dir), "--out-dir", "e2", "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["checkpoint"].endswith("m.safetensors")
        shutil.rmtree("m.eval-testing")


def test_cli_errors(twin_dir, tmp_path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        res = runner.invoke(main, ["train", str(twin_dir), "--method", "dann"])
        assert res.exit_code == 2 and "dann" in res.output
        res = runner.invoke(main, ["train", str(twin_dir), "--norm", "group"])
        assert res.exit_code == 2 and "group" in res.output
        res = runner.invoke(main, ["train", str(twin_dir), "--labels", "many"])
        assert res.exit_code == 2 and "not a budget" in res.output
        res = runner.invoke(main, ["train", str(twin_dir), "--method", "sar-only", "--supcon"])
        assert res.exit_code == 2 and "--supcon" in res.output
        res = runner.invoke(main, ["-q", "train", str(twin_dir), "--labels", "99999", *CLI_TINY])
        assert res.exit_code == 1 and res.output.startswith("Error: labelled SAR budget 99999")
        assert "Traceback" not in res.output
        with open("x.safetensors", "w") as fh:
            fh.write("not a model")
        res = runner.invoke(main, ["evaluate", "x.safetensors", str(twin_dir)])
        assert res.exit_code == 1 and "Error:" in res.output and "not an lczmap checkpoint" in res.output
        res = runner.invoke(main, ["train"])
        assert res.exit_code == 2 and "DATA" in res.output


# --- distributed ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_torchrun_two_processes(twin_dir, tmp_path):
    """`torchrun --nproc_per_node 2 -m lczmap train` on the CPU (gloo) writes one checkpoint."""
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LCZMAP_HOME": str(tmp_path / "home")}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "lczmap",
        "-q",
        "train",
        str(twin_dir),
        "-o",
        str(out),
        "--method",
        "swd",
        *CLI_TINY,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers
        proc.communicate()
        raise
    assert proc.returncode == 0, stdout + stderr
    ckpt = load_checkpoint(out)
    assert ckpt.meta["metrics"]["world_size"] == 2
    assert stdout.count("checkpoint:") == 1  # only rank 0 reports and writes
    assert torch.isfinite(ckpt.sar_network()(torch.zeros(1, 2, 32, 32))).all()


def test_val_split_none_skips_validation(twin_dir, tmp_path):
    result = train(tiny(twin_dir, method="sar-only", val_split="none"), tmp_path / "m.safetensors")
    assert result.history[-1]["val_accuracy"] is None
    assert "sar_val_accuracy" not in result.metrics
    with pytest.raises(DataError, match="split 'nope' not found"):
        train(tiny(twin_dir, method="sar-only", val_split="nope"), tmp_path / "n.safetensors")


def test_labelled_budget_stratified_or_random(twin_dir, tmp_path):
    """--labels 32 over the 4 lowrise classes: 8 each by default; --random-budget draws plainly."""
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        res = runner.invoke(
            main, ["-q", "train", str(twin_dir), "-o", "s.safetensors", "--labels", "32", "--method", "sar-only", *CLI_TINY]
        )
        assert res.exit_code == 0, res.output
        strat = load_checkpoint("s.safetensors").meta
        assert strat["metrics"]["n_sar_labelled_per_lcz"] == {"3": 8, "6": 8, "7": 8, "8": 8}
        res = runner.invoke(
            main,
            [
                "-q",
                "train",
                str(twin_dir),
                "-o",
                "r.safetensors",
                "--labels",
                "32",
                "--method",
                "sar-only",
                "--random-budget",
                *CLI_TINY,
            ],
        )
        assert res.exit_code == 0, res.output
        rand = load_checkpoint("r.safetensors").meta
        assert rand["config"]["stratified"] is False
        counts = rand["metrics"]["n_sar_labelled_per_lcz"]
        assert sum(counts.values()) == 32 and counts != strat["metrics"]["n_sar_labelled_per_lcz"]

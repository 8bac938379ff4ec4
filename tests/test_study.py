"""lczmap study: spec parsing and validation, the grid on a real dask LocalCluster with resume and
a failing cell, aggregation arithmetic, figures, the CLI."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import ConfigError, DataError
from lczmap.study import (
    QUICK_SPEC,
    GpuPerWorker,
    StudySpec,
    aggregate,
    load_spec,
    make_figures,
    parse_spec,
    plot_figures,
    read_results,
    run_study,
    standard_error,
    summary_markdown,
)

torch.set_num_threads(1)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "study_quick.toml"

#: The smallest schedule and network the training accepts: cells take seconds.
TINY_TRAIN = {"eo_epochs": 1, "sar_epochs": 1, "batch_size": 32, "width": 4, "depth": 2, "embedding": 16,
              "projection": 16, "projections": 8, "val_split": "none"}


@pytest.fixture(autouse=True)
def _user_dir(tmp_path, monkeypatch):
    # train() records its last checkpoint in the user data dir: keep it out of the real one
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "lczmap-home"))


@pytest.fixture(scope="module")
def tiny_twin(tmp_path_factory):
    from lczmap.data.synthetic import write_twin

    out = tmp_path_factory.mktemp("study-twin")
    return write_twin(out, n_train=300, n_val=20, n_test=120, seed=0)


# --- spec ------------------------------------------------------------------------------------------


def _cells(spec):
    return [(c.method, c.classes, c.labels, c.norm, c.supcon, c.seed) for c in spec.cells()]


def test_default_spec_is_the_papers_grid_without_sar_only_supcon():
    cells = _cells(StudySpec().check())
    full = 3 * 3 * 4 * 2 * 2 * 5
    assert len(cells) == full - 1 * 3 * 4 * 2 * 1 * 5  # sar-only has no SupCon cells
    assert not any(m == "sar-only" and s for m, _, _, _, s, _ in cells)
    assert len(set(cells)) == len(cells)
    assert {c[2] for c in cells} == {32, 128, 1024, "all"}


def test_example_file_is_the_quick_preset():
    example, preset = load_spec(EXAMPLE), parse_spec(QUICK_SPEC)
    assert _cells(example) == _cells(preset)
    assert example.train == preset.train and example.title == preset.title
    assert [c.cell_id for c in example.cells()] == [c.cell_id for c in preset.cells()]
    # 3 methods x 2 settings x 2 budgets x 3 seeds + (2 methods x 2 budgets x 3 seeds) x 2
    assert len(preset.cells()) == 36 + 12 + 12


def test_toml_and_yaml_specs_agree(tmp_path):
    (tmp_path / "s.toml").write_text(
        'data = "so2sat"\n[grid]\nmethod = ["swd", "finetune"]\nclasses = "lowrise"\nlabels = [32, "all"]\n'
        'norm = "instance"\nsupcon = ["off", "on"]\nseeds = 2\n[[extra]]\nnorm = ["batch"]\nsupcon = false\n'
        '[train]\neo_epochs = 2\nsar-epochs = "3"\n'
    )
    (tmp_path / "s.yaml").write_text(
        "data: so2sat\ngrid:\n  method: [swd, finetune]\n  classes: lowrise\n  labels: [32, all]\n"
        "  norm: instance\n  supcon: [false, true]\n  seed: [0, 1]\nextra:\n  - norm: batch\n    supcon: false\n"
        "train:\n  eo_epochs: 2\n  sar_epochs: 3\n"
    )
    toml, yaml = load_spec(tmp_path / "s.toml"), load_spec(tmp_path / "s.yaml")
    assert _cells(toml) == _cells(yaml)
    assert len(toml.cells()) == 2 * 2 * 2 * 2 + 2 * 2 * 2  # base grid + batch-norm grid
    assert toml.train == {"eo_epochs": 2, "sar_epochs": 3}
    assert toml.data == str(tmp_path / "so2sat")  # relative to the spec file


def test_cell_ids_follow_the_training_configuration():
    spec = parse_spec({"grid": {"method": "swd", "classes": "lowrise", "labels": 32, "norm": "instance",
                                "supcon": False, "seed": 0}})
    (cell,) = spec.cells()
    assert cell.cell_id == parse_spec({**QUICK_SPEC, "grid": spec.grid, "extra": [], "train": {}}).cells()[0].cell_id
    other = parse_spec({"grid": spec.grid, "train": {"eo_epochs": 3}}).cells()[0]
    assert other.cell_id != cell.cell_id
    assert len({c.cell_id for c in StudySpec().cells()}) == len(StudySpec().cells())


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"grids": {}}, "unknown key 'grids'"),
        ({"grid": {"methods": ["swd"]}}, "unknown axis 'methods'"),
        ({"grid": {"method": ["swd", "cyclegan"]}}, "unknown method 'cyclegan'"),
        ({"grid": {"classes": ["suburban"]}}, "unknown classes 'suburban'"),
        ({"grid": {"labels": [0]}}, "labels 0 is not a budget"),
        ({"grid": {"labels": ["many"]}}, "labels 'many' is not a budget"),
        ({"grid": {"norm": ["layer"]}}, "unknown norm 'layer'"),
        ({"grid": {"supcon": ["maybe"]}}, "'maybe' is not on/off"),
        ({"grid": {"seed": [-1]}}, "seed -1 is not a seed"),
        ({"grid": {"seed": [0], "seeds": 3}}, "not both"),
        ({"grid": {"method": []}}, "axis 'method' is empty"),
        ({"extra": {"norm": ["batch"]}}, "extra must be a list"),
        ({"extra": [{"norms": ["batch"]}]}, r"\[\[extra\]\] #1: unknown axis 'norms'"),
        ({"train": {"epochs": 3}}, "unknown training option 'epochs'"),
        ({"train": {"method": "swd"}}, "'method' is an axis"),
        ({"train": {"eo_epochs": "three"}}, "eo_epochs 'three' must be an integer"),
        ({"train": {"sar_epochs": 0}}, "sar-epochs must be at least 1"),
        ({"grid": {"method": ["sar-only"], "supcon": [True]}}, "the grid has no cells"),
        ({"figure_norm": "group"}, "figure_norm 'group'"),
    ],
)
def test_bad_specs_raise_one_clear_error(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec(spec)


def test_bad_spec_files(tmp_path):
    (tmp_path / "broken.toml").write_text("[grid\nmethod = 1\n")
    with pytest.raises(ConfigError, match="cannot parse the study spec .*broken.toml"):
        load_spec(tmp_path / "broken.toml")
    (tmp_path / "spec.ini").write_text("[grid]\n")
    with pytest.raises(ConfigError, match="must end in .toml, .yaml"):
        load_spec(tmp_path / "spec.ini")
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "missing.toml")


def test_cli_bad_spec_stops_before_anything_runs(tmp_path):
    (tmp_path / "s.toml").write_text('[grid]\nmethod = ["swd"]\nschedule = "long"\n')
    runner = CliRunner()
    result = runner.invoke(main, ["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Error: [grid]: unknown axis 'schedule'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
    result = runner.invoke(main, ["study", str(tmp_path), "--out", str(tmp_path / "out"), "--labels", "32,lots"])
    assert result.exit_code == 2
    assert "labels 'lots' is not a budget" in result.output
    result = runner.invoke(main, ["study", "--out", str(tmp_path / "out"), "--train", "epochs=3", "--dry-run"])
    assert result.exit_code == 1 and "unknown training option 'epochs'" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_dry_run_lists_cells(tmp_path):
    result = CliRunner().invoke(main, ["study", "--quick", "--out", str(tmp_path / "q"), "--dry-run", "--seeds", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("20 cells: 0 done, 0 failed, 20 to run")
    assert "swd, lowrise, 32 labels, batch norm, SupCon off, seed 0" in result.output
    assert not (tmp_path / "q").exists()


def test_data_problems_stop_before_anything_runs(tmp_path, so2sat_file_factory):
    path = so2sat_file_factory("training.h5", labels=np.arange(64) % 4)  # LCZ 1-4 only
    spec = parse_spec({"data": str(path), "split": "training",
                       "grid": {"method": "sar-only", "classes": "lowrise", "labels": 8, "norm": "instance",
                                "supcon": False, "seed": 0}, "train": TINY_TRAIN})
    with pytest.raises(DataError, match="no patches of LCZ 6"):
        run_study(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- aggregation -----------------------------------------------------------------------------------


def _fake_results(rng):
    """A results table in the study's form (values drawn at random) to check the arithmetic on."""
    rows = []
    for method in ("sar-only", "finetune", "swd"):
        for labels in ("32", "128", "all"):
            for norm in ("batch", "instance"):
                for supcon in (False, True):
                    if method == "sar-only" and supcon:
                        continue
                    for seed in range(4):
                        acc = rng.uniform(0.2, 0.9)
                        rows.append({"cell_id": f"{method}{labels}{norm}{supcon}{seed}", "status": "ok", "error": "",
                                     "method": method, "classes": "lowrise", "labels": labels, "norm": norm,
                                     "supcon": supcon, "seed": seed, "accuracy": acc, "kappa": acc - 0.1,
                                     "seconds": rng.uniform(1, 9)})
    rows[0].update(status="failed", error="DataError: boom", accuracy=np.nan, kappa=np.nan)
    return pd.DataFrame(rows)


def test_aggregate_mean_and_standard_error_match_numpy():
    df = _fake_results(np.random.default_rng(1))
    agg = aggregate(df)
    assert len(agg) == 3 * 2 * (2 + 2 + 1) * 1  # labels x norm x (methods x supcon)
    for r in agg.itertuples():
        g = df[(df.method == r.method) & (df.labels == r.labels) & (df.norm == r.norm) & (df.supcon == r.supcon)]
        ok = g[g.status == "ok"]["accuracy"].to_numpy()
        assert r.seeds == len(ok) and r.failed == len(g) - len(ok)
        assert r.accuracy_mean == pytest.approx(np.mean(ok))
        assert r.accuracy_se == pytest.approx(np.std(ok, ddof=1) / np.sqrt(len(ok)))
        kappa = g[g.status == "ok"]["kappa"].to_numpy()
        assert r.kappa_se == pytest.approx(np.std(kappa, ddof=1) / np.sqrt(len(kappa)))
    first = agg[(agg.method == "sar-only") & (agg.labels == "32") & (agg.norm == "batch")].iloc[0]
    assert (first.seeds, first.failed) == (3, 1)
    # paper order: labels numerically with 'all' last
    assert list(agg[(agg.method == "swd") & (agg.norm == "batch") & ~agg.supcon]["labels"]) == ["32", "128", "all"]
    assert math.isnan(standard_error([0.5])) and standard_error([0.2, 0.4]) == pytest.approx(0.1)


def test_summary_markdown_shows_percent_mean_and_standard_error():
    df = _fake_results(np.random.default_rng(2))
    agg = aggregate(df)
    text = summary_markdown(agg, title="twin")
    assert text.startswith("# twin\n")
    g = df[(df.method == "swd") & (df.labels == "128") & (df.norm == "instance") & df.supcon]["accuracy"].to_numpy()
    expected = f"{100 * g.mean():.1f} ± {100 * g.std(ddof=1) / np.sqrt(len(g)):.1f}"
    assert f"| lowrise | swd | instance | on | 128 | 4 | {expected} |" in text
    assert "| lowrise | sar-only | batch | off | 32 | 3 (1 failed) |" in text
    assert text.count("\n|") == len(agg) + 2


def test_figures_have_labels_legends_and_units(tmp_path):
    df = _fake_results(np.random.default_rng(3))
    df = pd.concat([df, df.assign(classes="urban", cell_id=df.cell_id + "u")])
    figures = make_figures(df, title="synthetic")
    assert set(figures) == {"accuracy_vs_labels.png", "norm.png", "supcon.png"}
    assert len(figures["accuracy_vs_labels.png"].axes) == 2  # one panel per class setting
    for name, fig in figures.items():
        assert "synthetic" in fig._suptitle.get_text()
        for ax in fig.axes:
            assert ax.get_xlabel() == "labelled SAR patches (count)"
            assert ax.get_ylabel() == "test accuracy (%)"
            assert [t.get_text() for t in ax.get_xticklabels()] == ["32", "128", "all"]
            legend = [t.get_text() for t in ax.get_legend().get_texts()]
            assert "chance (1 / classes)" in legend
    legend = [t.get_text() for t in figures["accuracy_vs_labels.png"].axes[0].get_legend().get_texts()]
    assert legend[:3] == ["SAR only", "fine-tune", "SWD transfer"]
    legend = [t.get_text() for t in figures["norm.png"].axes[0].get_legend().get_texts()]
    assert "SWD transfer, batch norm" in legend and "fine-tune, instance norm" in legend
    legend = [t.get_text() for t in figures["supcon.png"].axes[0].get_legend().get_texts()]
    assert "SWD transfer, SupCon" in legend and "fine-tune, no SupCon" in legend
    # a study without the norm/SupCon cells draws only the first figure
    only = df[(df.norm == "instance") & ~df.supcon]
    written = plot_figures(only, tmp_path)
    assert written == [tmp_path / "accuracy_vs_labels.png"]
    assert (tmp_path / "accuracy_vs_labels.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- running -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_study_end_to_end_on_a_local_cluster_with_resume_and_a_failing_cell(tiny_twin, tmp_path):
    spec = parse_spec({
        "title": "tiny twin (synthetic)",
        "data": str(tiny_twin),
        "grid": {"method": ["sar-only"], "classes": ["lowrise"], "labels": [16, 1024], "norm": ["instance"],
                 "supcon": [False], "seed": [0, 1]},
        "extra": [{"method": ["finetune"], "labels": [16], "seed": [0]}],
        "train": TINY_TRAIN,
    })
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
    args = ["study", str(tiny_twin), "--out", str(out), "--method", "sar-only", "--classes", "lowrise",
            "--labels", "16,1024", "--norm", "instance", "--supcon", "off", "--seeds", "2",
            *[a for k, v in TINY_TRAIN.items() for a in ("--train", f"{k}={v}")]]
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
    spec = parse_spec({"data": str(tiny_twin), "grid": {"method": "sar-only", "classes": "lowrise", "labels": 16,
                                                          "norm": "instance", "supcon": False, "seed": 0}})
    with pytest.raises(Exception, match="holds no study"):
        run_study(spec, tmp_path)  # a non-empty folder that is not a study
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "study.json").write_text(json.dumps({"spec": {"data": str(tmp_path / "elsewhere")}}))
    with pytest.raises(Exception, match="holds a study of the data"):
        run_study(spec, tmp_path / "s")


def test_gpu_plugin_gives_each_worker_its_own_device():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        client.register_plugin(GpuPerWorker(["3", "5"]), name=GpuPerWorker.name)
        seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
    assert sorted(seen.values()) == ["3", "5"]

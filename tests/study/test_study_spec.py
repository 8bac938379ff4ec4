"""lczmap study specs: parsing and validation of spec files and the command line, the grid's
cells, the --quick preset and its example file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lczmap.classes import CLASS_SETTINGS
from lczmap.cli import main
from lczmap.errors import ConfigError
from lczmap.study import AXES, QUICK_SPEC, StudySpec, load_spec, parse_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "study_quick.toml"


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
    assert "\n20 cells: 0 done, 0 failed, 20 to run\n" in result.output
    assert result.output.endswith("\n4 EO stages for 16 cells: 0 done, 4 to train\n")
    assert "swd, lowrise, 32 labels, batch norm, SupCon off, seed 0" in result.output
    assert not (tmp_path / "q").exists()


def test_axes_are_the_librarys_choices():
    from lczmap.models import NORMS
    from lczmap.train import METHODS

    assert AXES["method"] == METHODS
    assert AXES["norm"] == NORMS
    assert AXES["classes"] == tuple(CLASS_SETTINGS)


def test_method_evidence_spec():
    spec = load_spec(EXAMPLE.with_name("study_method_evidence.toml"))
    cells = _cells(spec)
    assert len(cells) == 3 * 5 + 2 * 3 + 3 * 3 + 2 * 3  # main + batch norm + 32 labels + SupCon
    assert {c[1] for c in cells} == {"lowrise"} and spec.split == "testing"
    main_cells = [c for c in cells if c[2:5] == (128, "instance", False)]
    assert sorted({(c[0], c[5]) for c in main_cells}) == [(m, s) for m in ("finetune", "sar-only", "swd") for s in range(5)]
    # an ablation: other training options, every grid folded into the main configuration
    ablation = spec.with_axes({"method": ["swd"], "labels": [128], "norm": ["instance"], "supcon": [False],
                               "seed": [0, 1, 2]}).with_train({"swd_lambda": "0", "swd_eta": "0"})
    assert _cells(ablation) == [("swd", "lowrise", 128, "instance", False, s) for s in range(3)]
    assert ablation.train["swd_lambda"] == 0.0 and ablation.cells()[0].config().swd_eta == 0.0

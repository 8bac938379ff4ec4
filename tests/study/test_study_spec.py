"""lczmap study specs: the cells a spec's axes imply (computed here from the spec itself, not
counted by hand), parsing and validation of spec files and the command line, the --quick preset
and the example files."""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import ConfigError
from lczmap.study import AXES, AXIS_NAMES, QUICK_SPEC, StudySpec, load_spec, parse_spec
from lczmap.train import METHODS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "study_quick.toml"


def _cells(spec):
    return [(c.method, c.classes, c.labels, c.norm, c.supcon, c.seed) for c in spec.cells()]


def _grid(table, base):
    """``base`` with the axes of a spec table (``[grid]`` or one ``[[extra]]``) replaced."""
    grid = dict(base)
    for key, raw in table.items():
        if key == "seeds":
            grid["seed"] = list(range(raw))
            continue
        values = raw if isinstance(raw, list) else [raw]
        if key == "supcon":
            values = [v if isinstance(v, bool) else str(v).lower() in ("on", "true") for v in values]
        grid[key] = values
    return grid


def _expand(raw):
    """The cells a raw spec mapping implies, as the spec format defines them: the base grid (the
    paper's values for an axis it leaves out) and each extra grid over it, the Cartesian product of
    each in axis order, without repeats, without sar-only SupCon cells (sar-only has no EO stage)."""
    base = _grid(raw.get("grid", {}), {a: list(AXES[a]) for a in AXIS_NAMES})
    cells = []
    for grid in [base, *(_grid(e, base) for e in raw.get("extra", []))]:
        for cell in itertools.product(*(grid[a] for a in AXIS_NAMES)):
            if not (cell[0] == "sar-only" and cell[4]) and cell not in cells:
                cells.append(cell)
    return cells


def test_a_grid_expands_to_its_cells_in_order():
    spec = parse_spec(
        {
            "grid": {
                "method": ["sar-only", "swd"],
                "classes": "lowrise",
                "labels": [32, "all"],
                "norm": "instance",
                "supcon": ["off", "on"],
                "seed": 0,
            },
            "extra": [{"method": "swd", "labels": 32, "norm": "batch"}, {"method": "swd", "supcon": "on", "labels": 32}],
        }
    )  # a repeat of the base grid
    assert _cells(spec) == [
        ("sar-only", "lowrise", 32, "instance", False, 0),
        ("sar-only", "lowrise", "all", "instance", False, 0),
        ("swd", "lowrise", 32, "instance", False, 0),
        ("swd", "lowrise", 32, "instance", True, 0),
        ("swd", "lowrise", "all", "instance", False, 0),
        ("swd", "lowrise", "all", "instance", True, 0),
        ("swd", "lowrise", 32, "batch", False, 0),
        ("swd", "lowrise", 32, "batch", True, 0),
    ]


def test_the_default_spec_is_the_papers_grid():
    cells = _cells(StudySpec().check())
    assert cells == _expand({})
    assert not any(m == "sar-only" and supcon for m, _, _, _, supcon, _ in cells)
    for i, axis in enumerate(AXIS_NAMES):  # every value of every axis is studied
        assert {c[i] for c in cells} == set(AXES[axis]), axis


@pytest.mark.parametrize("name", ["study_quick.toml", "study_method_evidence.toml"])
def test_example_files_expand_to_the_cells_their_axes_imply(name):
    path = EXAMPLES / name
    raw = tomllib.loads(path.read_text())
    spec = load_spec(path)
    assert _cells(spec) == _expand(raw)
    assert set(spec.train) == set(raw["train"])  # values typed as TrainConfig's ("none" -> None)
    assert spec.title == raw["title"] and spec.split == raw.get("split")


def test_example_file_is_the_quick_preset():
    example, preset = load_spec(EXAMPLE), parse_spec(QUICK_SPEC)
    assert _cells(preset) == _expand(QUICK_SPEC)
    assert _cells(example) == _cells(preset)
    assert example.train == preset.train and example.title == preset.title
    assert [c.cell_id for c in example.cells()] == [c.cell_id for c in preset.cells()]


def test_cells_share_an_eo_stage_exactly_when_their_eo_stage_options_agree():
    cells = parse_spec(QUICK_SPEC).cells()
    for c in cells:
        assert (c.eo_stage_id is None) == (c.method == "sar-only")
    stage_cells = [c for c in cells if c.eo_stage_id is not None]
    for a, b in itertools.combinations(stage_cells, 2):
        same_eo = (a.classes, a.norm, a.supcon, a.seed) == (b.classes, b.norm, b.supcon, b.seed)
        assert (a.eo_stage_id == b.eo_stage_id) == same_eo, (a, b)


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
    assert _cells(toml) == _cells(yaml) == _expand(tomllib.loads((tmp_path / "s.toml").read_text()))
    assert toml.train == {"eo_epochs": 2, "sar_epochs": 3}  # keys spelt either way, values typed
    assert toml.data == str(tmp_path / "so2sat")  # relative to the spec file


def test_cell_ids_follow_the_training_configuration():
    spec = parse_spec(
        {"grid": {"method": "swd", "classes": "lowrise", "labels": 32, "norm": "instance", "supcon": False, "seed": 0}}
    )
    (cell,) = spec.cells()
    assert cell.cell_id == parse_spec({**QUICK_SPEC, "grid": spec.grid, "extra": [], "train": {}}).cells()[0].cell_id
    other = parse_spec({"grid": spec.grid, "train": {"eo_epochs": 3}}).cells()[0]
    assert other.cell_id != cell.cell_id
    assert len({c.cell_id for c in StudySpec().cells()}) == len(StudySpec().cells())


def test_every_cell_is_a_valid_training_configuration_with_its_axes():
    for cell in StudySpec().cells():
        config = cell.config()
        assert {a: getattr(config, a) for a in AXIS_NAMES} == cell.axes()
    with pytest.raises(ConfigError, match=f"unknown method 'cyclegan': choose from {', '.join(METHODS)}"):
        parse_spec({"grid": {"method": ["cyclegan"]}})


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
    cells = _expand(
        {**QUICK_SPEC, "grid": {**QUICK_SPEC["grid"], "seed": [0]}, "extra": [{**e, "seed": [0]} for e in QUICK_SPEC["extra"]]}
    )
    eo_cells = [c for c in cells if c[0] != "sar-only"]
    stages = {(c[1], c[3], c[4], c[5]) for c in eo_cells}  # classes, norm, SupCon, seed
    assert f"\n{len(cells)} cells: 0 done, 0 failed, {len(cells)} to run\n" in result.output
    assert result.output.endswith(f"\n{len(stages)} EO stages for {len(eo_cells)} cells: 0 done, {len(stages)} to train\n")
    assert "swd, lowrise, 32 labels, batch norm, SupCon off, seed 0" in result.output
    assert not (tmp_path / "q").exists()


def test_an_ablation_folds_every_grid_into_one_configuration():
    spec = load_spec(EXAMPLES / "study_method_evidence.toml")
    ablation = spec.with_axes(
        {"method": ["swd"], "labels": [128], "norm": ["instance"], "supcon": [False], "seed": [0, 1, 2]}
    ).with_train({"swd_lambda": "0", "swd_eta": "0"})
    assert _cells(ablation) == [("swd", "lowrise", 128, "instance", False, s) for s in range(3)]
    assert ablation.train["swd_lambda"] == 0.0 and ablation.cells()[0].config().swd_eta == 0.0

"""TrainConfig: frozen, validated on construction, one home for its defaults and choices."""

import dataclasses
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lczmap.errors import ConfigError
from lczmap.models import DEFAULT_ARCHITECTURE, NORMS, Architecture, Encoder
from lczmap.train import METHODS, TrainConfig


def test_frozen_and_check_returns_a_copy():
    cfg = TrainConfig(data=None, val_split="none")
    assert cfg.val_split is None  # normalised on construction
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.method = "finetune"  # type: ignore[misc]
    checked = cfg.check()
    assert checked == cfg and checked is not cfg
    other = dataclasses.replace(cfg, method="finetune")
    assert other.method == "finetune" and cfg.method == "swd"
    with pytest.raises(ConfigError, match="sar-only does not have"):
        dataclasses.replace(cfg, method="sar-only", supcon=True)


def test_validated_on_construction_naming_the_option():
    with pytest.raises(ConfigError, match="unknown method 'dann'"):
        TrainConfig(data=None, method="dann")
    with pytest.raises(ConfigError, match=r"--lambda \(swd_lambda\) must be 0 or more"):
        TrainConfig(data=None, swd_lambda=-1)
    with pytest.raises(ConfigError, match="--eo-epochs must be 0 or more"):
        TrainConfig(data=None, eo_epochs=-1)
    with pytest.raises(ConfigError, match=r"width \(--width\)"):
        TrainConfig(data=None, width=0)


def test_one_home_for_the_default_architecture():
    cfg = TrainConfig(data=None)
    assert cfg.architecture == DEFAULT_ARCHITECTURE == Architecture()
    assert DEFAULT_ARCHITECTURE.width == 16
    # the figures the models docstring states
    params = sum(p.numel() for p in Encoder(2, "instance", DEFAULT_ARCHITECTURE).parameters())
    assert params == 76_320
    assert sum(p.numel() for p in Encoder(3, "instance", DEFAULT_ARCHITECTURE).parameters()) == 76_464


def test_cli_defaults_and_choices_are_the_library_s():
    from lczmap.cli import main

    command = main.commands["train"]
    params = {p.name: p for p in command.params}
    for f in dataclasses.fields(TrainConfig):
        if f.name in params and f.name not in ("data", "cache", "labels", "batch_size", "seed", "device"):
            assert params[f.name].default == f.default, f.name
    assert tuple(params["method"].type.choices) == METHODS
    assert tuple(params["norm"].type.choices) == NORMS
    res = CliRunner().invoke(main, ["train", "x", "--lambda", "-1"])
    assert res.exit_code == 2 and "--lambda" in res.output


def test_configuration_loads_without_the_training_stack():
    code = "import sys, lczmap.train.config; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert not [m for m in loaded if m in ("lczmap.train.runner", "lczmap.train.stages", "lczmap.models.networks")]


def test_verb_noun_names():
    from lczmap.evaluate import evaluate, evaluate_model
    from lczmap.train import train, train_model

    assert train_model is train and evaluate_model is evaluate

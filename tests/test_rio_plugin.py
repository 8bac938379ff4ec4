"""``rio lczmap ...``: lczmap's commands through rasterio's own CLI (the rasterio.rio_plugins entry point)."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from rasterio.rio.main import main_group as rio

from lczmap.cli import main as lczmap_main


@pytest.fixture
def runner():
    return CliRunner()


def test_rio_lists_the_lczmap_plugin(runner):
    result = runner.invoke(rio, ["--help"])
    assert result.exit_code == 0, result.output
    assert "lczmap" in result.output
    # click-plugins swaps a plugin that fails to import for a stand-in that only prints an error
    assert "Warning: entry point could not be loaded" not in result.output
    assert rio.commands["lczmap"].name == "lczmap"


def test_rio_lczmap_help_lists_every_lczmap_command(runner):
    result = runner.invoke(rio, ["lczmap", "--help"], prog_name="rio")
    assert result.exit_code == 0, result.output
    assert "Usage: rio lczmap" in result.output
    for name in lczmap_main.commands:
        assert name in result.output
    assert sorted(rio.commands["lczmap"].commands) == sorted(lczmap_main.commands)


def test_rio_lczmap_shares_the_lczmap_commands(runner):
    """The plugin holds no command of its own: one added to ``lczmap`` shows under ``rio lczmap``."""

    @click.command("echo-twice")
    @click.argument("word")
    def echo_twice(word):
        click.echo(word * 2)

    lczmap_main.add_command(echo_twice)
    try:
        result = runner.invoke(rio, ["lczmap", "echo-twice", "ab"])
    finally:
        del lczmap_main.commands["echo-twice"]
    assert result.exit_code == 0, result.output
    assert result.output == "abab\n"


def test_rio_lczmap_info_matches_lczmap_info(runner, so2sat_file_factory):
    path = so2sat_file_factory("validation.h5", n=24, seed=3)
    via_rio = runner.invoke(rio, ["lczmap", "info", "--json", str(path)])
    assert via_rio.exit_code == 0, via_rio.output
    direct = runner.invoke(lczmap_main, ["info", "--json", str(path)])
    assert direct.exit_code == 0, direct.output
    assert json.loads(via_rio.output) == json.loads(direct.output)
    assert json.loads(via_rio.output)["splits"]["validation"]["patches"] == 24


def test_rio_lczmap_user_error_is_one_line_without_traceback(runner, tmp_path):
    result = runner.invoke(rio, ["lczmap", "info", str(tmp_path / "missing.h5")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert "missing.h5" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_rio_lczmap_version(runner):
    from lczmap import __version__

    result = runner.invoke(rio, ["lczmap", "--version"])
    assert result.exit_code == 0, result.output
    assert __version__ in result.output

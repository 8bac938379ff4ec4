import json

import numpy as np
import pytest
from _so2sat_files import write_so2sat_file
from click.testing import CliRunner

from lczmap import __version__
from lczmap.cli import main


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_version_and_help():
    result = run(["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    result = run(["--help"])
    for command in ("info", "prepare", "demo-data", "demo"):
        assert command in result.output


def test_info_on_so2sat_folder_and_cache(tmp_path):
    data = tmp_path / "so2sat"
    data.mkdir()
    labels = np.array([0] * 5 + [16] * 3 + [9] * 2)
    write_so2sat_file(data / "training.h5", labels=labels)
    write_so2sat_file(data / "validation.h5", n=4)
    result = run(["info", "--json", str(data)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["kind"] == "so2sat" and info["layout"] == "v1"
    counts = info["splits"]["training"]["patches_per_class"]
    assert counts["LCZ 1 (Compact high-rise)"] == 5 and counts["LCZ G (Water)"] == 3
    assert counts["LCZ 10 (Heavy industry)"] == 2
    assert info["splits"]["training"]["datasets"]["sen1"] == {"shape": [10, 32, 32, 8], "dtype": "float64"}

    result = run(["-q", "prepare", str(data), str(tmp_path / "cache"), "--sar-bands", "lee-intensity"])
    assert result.exit_code == 0, result.output
    result = run(["info", str(tmp_path / "cache")])
    assert result.exit_code == 0
    assert "kind: cache" in result.output and "lee-intensity: complete" in result.output
    assert "rgb: complete" in result.output


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "does not exist"),
        (lambda p: write_so2sat_file(p, sen1_shape=(64, 32, 32, 4)), "sen1 has shape"),
        (lambda p: write_so2sat_file(p, n=4, label_rows=np.eye(4, 17) * 2), "not one-hot"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path, make, message):
    path = tmp_path / "training.h5"
    make(path)
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_unknown_band_set_and_split(tmp_path):
    data = tmp_path / "so2sat"
    data.mkdir()
    write_so2sat_file(data / "training.h5", n=4)
    result = CliRunner().invoke(main, ["prepare", str(data), str(tmp_path / "c"), "--sar-bands", "hh"])
    assert result.exit_code == 2 and "'hh' is not one of" in result.output
    result = CliRunner().invoke(main, ["prepare", str(data), str(tmp_path / "c"), "--split", "testing"])
    assert result.exit_code == 1 and "split 'testing' not found" in result.output
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    "labels, args, message",
    [
        ([2, 5, 6] * 10, ["--classes", "lowrise"], "has no patches of LCZ 8 (Large low-rise)"),
        ([2, 5, 6, 7] * 10, ["--classes", "lowrise", "--labels", "41"], "budget 41 is larger than the 40"),
        ([2, 5, 6, 7] * 10, ["--classes", "suburbs"], "'suburbs' is not one of"),
        ([2, 5, 6, 7] * 10, ["--sar-bands", "hh-complex"], "'hh-complex' is not one of"),
        ([2, 5, 6, 7] * 10, ["--method", "dann"], "'dann' is not one of"),
    ],
)
def test_train_refuses_bad_data_and_options_in_one_line(tmp_path, labels, args, message):
    data = tmp_path / "so2sat"
    data.mkdir()
    write_so2sat_file(data / "training.h5", labels=np.array(labels))
    result = CliRunner().invoke(
        main,
        [
            "-q",
            "train",
            str(data),
            "-o",
            str(tmp_path / "m.safetensors"),
            "--eo-epochs",
            "1",
            "--sar-epochs",
            "1",
            "--device",
            "cpu",
            *args,
        ],
    )
    assert result.exit_code in (1, 2), result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m.safetensors").exists()

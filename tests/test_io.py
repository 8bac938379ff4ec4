import pytest

from lczmap._io import atomic_path, check_output
from lczmap.errors import LczmapError, OutputExistsError


def test_atomic_path_renames_only_on_success(tmp_path):
    out = tmp_path / "map.tif"
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []  # neither the output nor the temporary file
    with atomic_path(out) as tmp:
        tmp.write_text("whole")
    assert out.read_text() == "whole" and list(tmp_path.iterdir()) == [out]


def test_existing_outputs_are_kept_without_overwrite(tmp_path):
    out = tmp_path / "map.tif"
    out.write_text("mine")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        with atomic_path(out) as tmp:
            tmp.write_text("new")
    assert out.read_text() == "mine"
    with atomic_path(out, overwrite=True) as tmp:
        tmp.write_text("new")
    assert out.read_text() == "new"


def test_unusable_folders(tmp_path):
    with pytest.raises(LczmapError, match="does not exist"):
        check_output(tmp_path / "nowhere" / "map.tif")
    with pytest.raises(LczmapError, match="cannot write in /proc"):  # os.access would say yes to root
        check_output("/proc/map.tif")

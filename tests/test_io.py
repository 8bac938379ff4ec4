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


def test_errors_are_of_the_output_kind(tmp_path):
    from lczmap.errors import OutputError

    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "nowhere" / "map.tif")
    with pytest.raises(OSError):  # OutputError is also the built-in a caller expects
        check_output(tmp_path / "nowhere" / "map.tif")
    (tmp_path / "out.tif").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path / "out.tif", overwrite=True)
    with pytest.raises(OutputError, match="too long"):
        check_output(tmp_path / ("x" * 300 + ".tif"))


def test_a_failed_check_keeps_the_old_output(tmp_path):
    out = tmp_path / "map.tif"
    out.write_text("good")

    def verify(tmp):
        if tmp.read_text() != "whole":
            raise OSError("truncated")

    with pytest.raises(OSError, match="truncated"):
        with atomic_path(out, overwrite=True, verify=verify) as tmp:
            tmp.write_text("half")
    assert out.read_text() == "good" and list(tmp_path.iterdir()) == [out]


def test_outputs_that_are_inputs_are_refused(tmp_path):
    from lczmap._io import check_not_inputs
    from lczmap.errors import OutputError

    scene = tmp_path / "scene.tif"
    scene.write_text("data")
    (tmp_path / "link.tif").symlink_to(scene)
    (tmp_path / "sub").mkdir()
    for same in (scene, tmp_path / "link.tif", tmp_path / "sub" / ".." / "scene.tif"):
        with pytest.raises(OutputError, match="is also an input"):
            check_not_inputs([tmp_path / "other.tif", same], [None, scene])
    check_not_inputs([tmp_path / "other.tif"], [scene, "/vsicurl/https://host/scene.tif"])


def test_a_full_disk_is_one_line_and_loses_nothing(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) stands in for a full disk: writes fail with EFBIG."""
    import subprocess
    import sys

    out = tmp_path / "map.bin"
    out.write_bytes(b"old")
    code = f"""
import resource, signal, sys
from pathlib import Path
from lczmap._io import atomic_path
from lczmap.errors import OutputError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    with atomic_path(Path({str(out)!r}), overwrite=True) as tmp:
        tmp.write_bytes(b"x" * 100_000)
except OutputError as exc:
    print(exc)
    sys.exit(3)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 3, run.stderr
    message = run.stdout.strip()
    assert message.startswith(f"no space left on {tmp_path}") and "MB free" in message and "\n" not in message
    assert out.read_bytes() == b"old" and list(tmp_path.iterdir()) == [out]


def test_free_space_is_checked_up_front(tmp_path):
    from lczmap._io import check_free_space
    from lczmap.errors import OutputError

    check_free_space(tmp_path / "map.tif", 1)
    with pytest.raises(OutputError, match=r"no space left on .*: [\d,.]+ MB needed, [\d,.]+ MB free"):
        check_free_space(tmp_path / "map.tif", 10**18)

"""Regenerate the docs' pictures from the current demo, in one command:

    python scripts/docs/make_pictures.py        # a few minutes on two CPU cores

It runs ``lczmap demo`` afresh (seed 0, the demo's own defaults) in a temporary folder, with
``SOURCE_DATE_EPOCH`` pinned so the maps' date tag is the same on every run, then draws

- ``docs/img/lcz_map.png``: the demo's map as QGIS draws it (``scripts/docs/render_qgis_map.py``
  under ``.venv-qgis/bin/python``, which ``scripts/dev/install_qgis.sh`` builds; ``--qgis-python``
  names another), and
- ``docs/img/demo_base_and_adapted.png``: the trained model's map and the adapted model's, side
  by side, as ``lczmap render`` draws them;

runs the test-sized demo (:data:`lczmap.demo.QUICK_DEMO`) and writes ``docs/img/pictures.json``:
the demo's configuration, the class counts of its maps and the figures it measured, the quick
demo's class counts, and the sha256 of each picture. ``tests/test_docs_pictures.py`` fails when
the pictures, the demo's configuration or what the demo's code makes drift from this record.
Exit status 1 with a one-line message when QGIS's Python is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"
RECORD = IMG / "pictures.json"
#: The date tag of the demo's maps (2026-01-01T00:00:00Z): pinned, so a rerun of the same code
#: draws the same pictures.
SOURCE_DATE_EPOCH = "1767225600"
#: The demo's folder name, as the maps' ``model`` tag and the pictures show it.
DEMO_DIR = "lczmap-demo"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def demo_config() -> dict:
    """The demo's configuration: :func:`lczmap.demo.run_demo`'s defaults (what ``lczmap demo`` runs)."""
    from lczmap.demo import run_demo

    skip = {"out_dir", "overwrite", "progress", "log"}
    return {name: p.default for name, p in inspect.signature(run_demo).parameters.items() if name not in skip}


def as_json(config: dict) -> dict:
    """``config`` as JSON holds it (tuples as lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()}


def side_by_side(left: Path, right: Path, out: Path, width: int = 1600) -> None:
    """The two PNGs ``left`` and ``right`` next to each other, scaled to ``width`` pixels."""
    from PIL import Image

    with Image.open(left) as first, Image.open(right) as second:
        a, b = first.convert("RGB"), second.convert("RGB")
    both = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), "white")
    both.paste(a, (0, 0))
    both.paste(b, (a.width, 0))
    scaled = both.resize((width, round(both.height * width / both.width)), Image.Resampling.LANCZOS)
    scaled.save(out, format="PNG", optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--qgis-python",
        default=str(ROOT / ".venv-qgis" / "bin" / "python"),
        help="Python with PyQGIS, for lcz_map.png [default: .venv-qgis/bin/python]",
    )
    parser.add_argument("--keep", type=Path, default=None, help="Keep the demo's outputs in this folder.")
    args = parser.parse_args(argv)
    if not Path(args.qgis_python).exists():
        print(
            f"make_pictures: no QGIS Python at {args.qgis_python}: run scripts/dev/install_qgis.sh or pass --qgis-python",
            file=sys.stderr,
        )
        return 1
    os.environ["SOURCE_DATE_EPOCH"] = SOURCE_DATE_EPOCH
    from lczmap import __version__
    from lczmap.demo import QUICK_DEMO, map_class_counts, run_demo
    from lczmap.maps import render_map

    work = Path(tempfile.mkdtemp(prefix="lczmap-pictures.")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)  # the maps' model tag names the demo folder relative to here
    config = demo_config()
    report = run_demo(DEMO_DIR, overwrite=True, log=lambda msg: print(msg, file=sys.stderr), **config)
    o = report.outputs
    subprocess.run(
        [
            args.qgis_python,
            str(ROOT / "scripts" / "docs" / "render_qgis_map.py"),
            str(o["lcz_map"]),
            "-o",
            str(IMG / "lcz_map.png"),
            "--width-mm",
            "220",
            "--dpi",
            "120",
        ],
        check=True,
    )
    base = render_map(o["lcz_map"], work / "base.png", overwrite=True)
    adapted = render_map(o["adapted_map"], work / "adapted.png", overwrite=True)
    side_by_side(base, adapted, IMG / "demo_base_and_adapted.png")

    print("quick demo (the test-sized run tests/test_docs_pictures.py repeats)", file=sys.stderr)
    quick = run_demo("quick", overwrite=True, **QUICK_DEMO)
    record = {
        "command": "python scripts/docs/make_pictures.py",
        "lczmap_version": __version__,
        "source_date_epoch": SOURCE_DATE_EPOCH,
        "demo": as_json(config),
        "maps": {
            name: map_class_counts(o[key])
            for name, key in (("scene_lcz.tif", "lcz_map"), ("scene_lcz_adapted.tif", "adapted_map"))
        },
        "figures": report.figures,
        "quick": {"config": as_json(dict(QUICK_DEMO)), "scene_lcz.tif": map_class_counts(quick.outputs["lcz_map"])},
        "pictures": {name: sha256(IMG / name) for name in ("lcz_map.png", "demo_base_and_adapted.png")},
    }
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    print(report.summary())
    print(f"wrote {IMG / 'lcz_map.png'}, {IMG / 'demo_base_and_adapted.png'} and {RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

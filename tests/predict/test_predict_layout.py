"""LCZ maps laid out as the community's tools read them: the LCZ Generator's three bands
(``--layout lcz-generator``) and A-G coded 101-107 (``--codes 101-107``) on every LCZ output."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
import torch
from _predict_fixtures import grd, tiny_checkpoint, write_tif
from click.testing import CliRunner

from lczmap.classes import LCZ_CLASSES
from lczmap.cli import main
from lczmap.errors import ConfigError
from lczmap.predict import PredictOptions, predict_dataarray, predict_scene
from lczmap.zones import inspect_lcz

torch.set_num_threads(1)

#: Classes with built types and land cover, so that A-G occur in the maps.
CLASSES = (6, 8, 11, 14, 17)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "m.safetensors", classes=CLASSES, seed=3)


@pytest.fixture(scope="module")
def scene_tif(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    return write_tif(folder / "scene.tif", grd(160, 180, border=12), descriptions=["VV", "VH"])


@pytest.fixture(scope="module")
def plain(ckpt, scene_tif, tmp_path_factory):
    """The one-band map, its confidence and its filtered map, codes 1-17."""
    d = tmp_path_factory.mktemp("plain")
    r = predict_scene(
        scene_tif, d / "lcz.tif", ckpt, confidence=d / "conf.tif", filtered=d / "filtered.tif", device="cpu", stride=5
    )
    with rasterio.open(r.out) as a, rasterio.open(r.confidence) as c, rasterio.open(r.filtered) as f:
        return a.read(1), c.read(1), f.read(1)


@pytest.fixture(scope="module")
def generator(ckpt, scene_tif, tmp_path_factory):
    out = tmp_path_factory.mktemp("generator") / "lcz_generator.tif"
    predict_scene(scene_tif, out, ckpt, device="cpu", stride=5, layout="lcz-generator")
    return out


def _w2w_band(path):
    """The band w2w maps: it opens the file with rioxarray and takes band index 1 (0-based)
    when ``lczFilter`` is among the ``long_name`` band names, else band 0."""
    import rioxarray

    da = rioxarray.open_rasterio(path)
    band = 1 if "long_name" in da.attrs and "lczFilter" in da.attrs["long_name"] else 0
    return da[band].values


def test_lcz_generator_layout_holds_raw_filtered_and_percent_bands(generator, plain):
    raw, conf, filtered = plain
    with rasterio.open(generator) as ds:
        assert ds.count == 3 and ds.dtypes == ("uint8",) * 3
        assert ds.descriptions == ("lcz", "lczFilter", "classProbability")
        lcz, lcz_filter, percent = ds.read()
        tags = ds.tags()
    assert np.array_equal(lcz, raw)
    assert np.array_equal(lcz_filter, filtered)
    valid = raw > 0
    assert valid.any() and not valid.all()  # the NaN border is nodata in every band
    assert np.array_equal(percent[valid], np.rint(conf[valid] * 100).astype(np.uint8))
    assert (percent[~valid] == 0).all() and percent[valid].min() >= 1 and percent.max() <= 100
    assert tags["product"] == "lcz-generator" and tags["lcz_coding"] == "1-17"


def test_w2w_and_lcz4r_pick_the_filtered_band(generator, plain):
    assert np.array_equal(_w2w_band(generator), plain[2])
    with rasterio.open(generator) as ds:  # LCZ4r selects the band by name
        assert np.array_equal(ds.read(ds.descriptions.index("lczFilter") + 1), plain[2])


def test_a_one_band_map_is_what_w2w_reads_by_default(plain, ckpt, scene_tif, tmp_path):
    out = predict_scene(scene_tif, tmp_path / "lcz.tif", ckpt, device="cpu", stride=5).out
    assert np.array_equal(_w2w_band(out), plain[0])


def test_lcz_generator_style_shows_the_filtered_band(generator):
    root = ET.fromstring(generator.with_suffix(".qml").read_text().split("\n", 1)[1])
    renderer = root.find(".//rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "2"
    aux = ET.fromstring(generator.with_name(generator.name + ".aux.xml").read_text())
    assert [b.get("band") for b in aux.findall("PAMRasterBand")] == ["1", "2"]


def test_codes_101_107_on_every_lcz_output(ckpt, scene_tif, plain, generator, tmp_path):
    r = predict_scene(
        scene_tif, tmp_path / "lcz.tif", ckpt, filtered=tmp_path / "filtered.tif", device="cpu", stride=5, codes="101-107"
    )
    gen = predict_scene(
        scene_tif, tmp_path / "gen.tif", ckpt, device="cpu", stride=5, layout="lcz-generator", codes="101-107"
    ).out
    recode = np.array([0] + list(range(1, 11)) + list(range(101, 108)), dtype=np.uint8)
    with rasterio.open(r.out) as a, rasterio.open(r.filtered) as f, rasterio.open(gen) as g, rasterio.open(generator) as g17:
        assert np.array_equal(a.read(1), recode[plain[0]])
        assert np.array_equal(f.read(1), recode[plain[2]])
        assert np.array_equal(g.read(1), recode[g17.read(1)]) and np.array_equal(g.read(2), recode[g17.read(2)])
        assert np.array_equal(g.read(3), g17.read(3))
        assert (a.read(1) >= 101).any() and not ((a.read(1) >= 11) & (a.read(1) <= 17)).any()
        cmap = a.colormap(1)
        assert a.tags()["lcz_coding"] == "101-107" and g.tags()["lcz_coding"] == "101-107"
    by_code = {c.code: c for c in LCZ_CLASSES}
    assert cmap[101][:3] == by_code[11].rgb and cmap[107][:3] == by_code[17].rgb and cmap[10][:3] == by_code[10].rgb
    qml = r.out.with_suffix(".qml").read_text()
    assert 'value="101"' in qml and 'value="11"' not in qml
    aux = ET.fromstring(r.out.with_name(r.out.name + ".aux.xml").read_text())
    cats = [c.text for c in aux.find(".//CategoryNames")]
    assert cats[101] == by_code[11].title and cats[107] == by_code[17].title and not cats[11]
    info = inspect_lcz(r.out)  # lczmap's own readers take it back as codes 1-17
    assert info.scheme == "101-107" and set(info.raw_values.values()) <= set(range(1, 18))


def test_predict_dataarray_gives_the_layout_and_the_coding(ckpt, scene_tif, generator):
    import rioxarray

    da = rioxarray.open_rasterio(scene_tif).assign_coords(band=["VV", "VH"])
    ds = predict_dataarray(da, ckpt, device="cpu", stride=5, layout="lcz-generator", codes="101-107")
    recode = np.array([0] + list(range(1, 11)) + list(range(101, 108)), dtype=np.uint8)
    with rasterio.open(generator) as g:
        assert np.array_equal(ds["lcz"].values, recode[g.read(1)])
        assert np.array_equal(ds["lczFilter"].values, recode[g.read(2)])
        assert np.array_equal(ds["classProbability"].values, g.read(3))
    assert ds.attrs["lcz_coding"] == "101-107"


def test_unknown_layout_or_coding_is_one_line(ckpt, scene_tif, tmp_path):
    with pytest.raises(ConfigError, match="unknown layout 'lcz-gen'.*--layout.*lcz-generator"):
        PredictOptions(layout="lcz-gen")
    with pytest.raises(ConfigError, match="--codes"):
        PredictOptions(codes="11-17")
    res = CliRunner().invoke(main, ["predict", str(scene_tif), str(tmp_path / "o.tif"), "-m", str(ckpt), "--layout", "wudapt"])
    assert res.exit_code == 2 and "Invalid value for '--layout'" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o.tif").exists()


def test_cli_writes_the_lcz_generator_layout(ckpt, scene_tif, generator, tmp_path):
    out = tmp_path / "gen.tif"
    res = CliRunner().invoke(
        main,
        [
            "predict",
            str(scene_tif),
            str(out),
            "-m",
            str(ckpt),
            "--device",
            "cpu",
            "--stride",
            "5",
            "--layout",
            "lcz-generator",
            "--codes",
            "101-107",
        ],
    )
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as a, rasterio.open(generator) as b:
        assert a.descriptions == b.descriptions and np.array_equal(a.read(3), b.read(3))
        assert a.tags()["lcz_coding"] == "101-107"


def test_old_product_spelling_still_works_for_one_release(ckpt, scene_tif, generator, tmp_path):
    """``--product`` is a hidden alias of ``--layout``: same file, a note on stderr, not in --help,
    refused beside --layout."""
    out = tmp_path / "old.tif"
    res = CliRunner().invoke(
        main,
        ["predict", str(scene_tif), str(out), "-m", str(ckpt), "--device", "cpu", "--stride", "5", "--product", "lcz-generator"],
    )
    assert res.exit_code == 0, res.output
    assert "--product is now --layout" in res.stderr
    with rasterio.open(out) as a, rasterio.open(generator) as b:
        assert np.array_equal(a.read(), b.read()) and a.tags()["product"] == "lcz-generator"
    both = CliRunner().invoke(
        main,
        ["predict", str(scene_tif), str(tmp_path / "both.tif"), "-m", str(ckpt), "--product", "lcz", "--layout", "lcz-generator"],
    )
    assert both.exit_code == 2 and "give only --layout" in both.output
    assert not (tmp_path / "both.tif").exists()
    helptext = CliRunner().invoke(main, ["predict", "--help"]).output
    assert "--layout" in helptext and "--product" not in helptext

"""``lczmap check-areas`` / :func:`lczmap.adapt.check_areas` on the twin: relabelled polygons are
found, each reason is given where it applies, the layer keeps the user's polygons, bad inputs end
in one line and nothing is overwritten without --overwrite."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lczmap.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: Pooled over the two cities below with the tests' tiny model (tests/adapt/conftest.py: one epoch per
#: stage, width 8), measured: 14 of 18 relabelled polygons flagged "another class" among 21 flags
#: (recall 0.78, precision 0.67); the thresholds leave a margin of two polygons. With the quick demo's
#: model, scripts/bench/check_areas_evidence.py measures recall 0.93, precision 0.71 (docs/adapt.md).
MIN_RECALL = 0.65
MIN_PRECISION = 0.5
CITIES = (31, 32)


def _cpu():
    from lczmap.adapt import AdaptOptions, CheckOptions

    return CheckOptions(adapt=AdaptOptions(device="cpu"))


def _relabel(codes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """10 % of the polygons given another class of the areas, at random."""
    rng = np.random.default_rng([seed, 27])
    wrong = np.zeros(len(codes), bool)
    wrong[rng.choice(len(codes), max(1, round(0.1 * len(codes))), replace=False)] = True
    classes = np.unique(codes)
    new = codes.copy()
    for i in np.flatnonzero(wrong):
        new[i] = rng.choice(classes[classes != codes[i]])
    return new, wrong


@pytest.fixture(scope="module")
def cities(tmp_path_factory):
    """Two twin cities (GRD, dB, 600 x 720 pixels) with training areas drawn from their truth
    (up to 10 squares of 3 x 3 pixels per class, WGS84, class as 'class', a field of the user's
    own, 'note'), 10 % of them relabelled: (scene, areas file, relabelled mask) per city."""
    from lczmap.adapt.areas import areas_from_map
    from lczmap.twin import write_scene

    out = []
    for seed in CITIES:
        folder = tmp_path_factory.mktemp(f"check_city{seed}")
        scene, truth = write_scene(folder / "scene.tif", size=(600, 720), seed=seed, kind="grd", units="db")
        frame = areas_from_map(truth, 10, size=3, seed=seed).to_crs("EPSG:4326")
        codes, wrong = _relabel(frame["lcz"].to_numpy(np.int64), seed)
        frame = frame.drop(columns="lcz").assign(**{"class": codes, "note": [f"polygon {i}" for i in range(len(frame))]})
        path = folder / "areas.gpkg"
        frame[["class", "note", "geometry"]].to_file(path, driver="GPKG")
        out.append((scene, path, wrong))
    return out


@pytest.fixture(scope="module")
def checked(tiny_model, cities, tmp_path_factory):
    """The check of each city's areas (Python, default scorer), with the relabelled mask."""
    from lczmap.adapt import check_areas

    folder = tmp_path_factory.mktemp("check_out")
    return [
        (check_areas(tiny_model, scene, areas, folder / f"checked_{i}.gpkg", options=_cpu()), wrong)
        for i, (scene, areas, wrong) in enumerate(cities)
    ]


def test_the_flags_find_most_relabelled_polygons(checked):
    hit = flags = relabelled = 0
    for result, wrong in checked:
        another = result.frame["reason"].str.contains("another class").to_numpy(bool)
        hit += int((another & wrong).sum())
        flags += int(another.sum())
        relabelled += int(wrong.sum())
    assert relabelled >= 15
    assert hit / relabelled >= MIN_RECALL, (hit, relabelled, flags)
    assert hit / flags >= MIN_PRECISION, (hit, relabelled, flags)
    # a relabelled polygon flagged is predicted as a class other than its (wrong) label
    result, wrong = checked[0]
    rows = result.frame[wrong & result.frame["reason"].str.contains("another class").to_numpy(bool)]
    assert (rows["predicted"] != rows["lcz"]).all() and (rows["p_predicted"] >= 1.5 * rows["p_labelled"]).all()


def test_the_layer_keeps_each_polygon_with_its_fields_and_the_check(checked, cities):
    import geopandas as gpd

    from lczmap.adapt.check import CHECK_COLUMNS

    result, _ = checked[0]
    areas = gpd.read_file(cities[0][1])
    layer = gpd.read_file(result.path)
    assert len(layer) == len(areas) and layer.crs == areas.crs
    assert layer["note"].tolist() == areas["note"].tolist() and layer["class"].tolist() == areas["class"].tolist()
    assert all(a.equals_exact(b, 1e-9) for a, b in zip(layer.geometry, areas.geometry))
    assert set(CHECK_COLUMNS) <= set(layer.columns)
    assert layer["flag"].astype(bool).tolist() == (layer["reason"] != "").tolist()
    probs = layer[[c for c in layer.columns if c.startswith("p_") and c not in ("p_labelled", "p_predicted")]]
    assert len(probs.columns) == areas["class"].nunique()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)  # every polygon here has windows
    assert (layer["fold"].between(0, 4)).all() and layer["windows"].gt(0).all()
    assert result.summary().startswith(f"{result.path}: {int(layer['flag'].sum())} of {len(layer)} training polygons flagged")


def test_each_reason_is_given_where_it_applies(tiny_model, cities, checked, tmp_path):
    """Beside the city's polygons: one off the scene, one over a nodata hole, one too small, one
    over two zones (mixed), one plainly relabelled and one of a class drawn once, each where no
    other polygon lies."""
    import geopandas as gpd
    import pandas as pd
    import rasterio
    from shapely.geometry import MultiPolygon, box

    from lczmap.adapt import check_areas

    scene_src, areas_path, wrong = cities[0]
    first, _ = checked[0]
    scene = tmp_path / "scene.tif"
    shutil.copy(scene_src, scene)
    areas = gpd.read_file(areas_path)
    f0 = first.frame
    sure = f0[~wrong & (f0["predicted"] == f0["lcz"]).to_numpy()]
    sure = sure[sure["lcz"].map(areas["class"].value_counts()).to_numpy() >= 4]  # classes of several polygons
    sure = sure.sort_values("p_labelled", ascending=False)  # the surest first
    best = sure.groupby("lcz")["p_labelled"].mean().sort_values(ascending=False).index  # the clearest classes first
    a, b = (sure[sure["lcz"] == k].index[0] for k in best[:2])  # the mixed polygon: two clear classes
    d = sure[~sure.index.isin([a, b])].index[0]
    c, e, s = sure[~sure.index.isin([a, b, d])].index[:3]
    with rasterio.open(scene) as src:
        crs = src.crs
    utm = areas.to_crs(crs).geometry
    with rasterio.open(scene, "r+") as dst:  # a nodata hole around polygon c (NaN, as the scene's border)
        x0, y0, x1, y1 = utm[c].buffer(200).bounds
        r0, c0 = dst.index(x0, y1)
        r1, c1 = dst.index(x1, y0)
        dst.write(np.full((2, r1 - r0, c1 - c0), np.nan, np.float32), window=((r0, r1), (c0, c1)))
    mid = utm[s].centroid
    label = {k: int(areas.loc[k, "class"]) for k in (a, b, d, s)}
    extra = [
        (label[a], box(mid.x + 1e6, mid.y, mid.x + 1e6 + 300, mid.y + 300), "off"),
        (label[s], box(mid.x - 40, mid.y - 40, mid.x + 60, mid.y + 60), "small"),
        (label[a], MultiPolygon([utm[a], utm[b]]), "mixed"),
        (label[a] if label[d] != label[a] else label[b], utm[d], "relabelled"),
        (next(k for k in range(1, 18) if k not in set(areas["class"])), utm[e], "once"),
    ]
    own = areas.to_crs(crs).drop(index=[a, b, d, e, s])
    added = gpd.GeoDataFrame(
        {"class": [x[0] for x in extra], "note": [x[2] for x in extra]}, geometry=[x[1] for x in extra], crs=crs
    )
    test_areas = tmp_path / "areas.gpkg"
    gpd.GeoDataFrame(pd.concat([own, added], ignore_index=True), crs=crs).to_file(test_areas, driver="GPKG")
    result = check_areas(tiny_model, scene, test_areas, tmp_path / "checked.gpkg", options=_cpu())
    f = result.frame.set_index("note")
    hole = areas.loc[c, "note"]
    assert f.loc["off", "reason"] == "off the scene" and f.loc["off", "detail"] == "outside the scene"
    assert f.loc[hole, "reason"] == "off the scene" and "no window of valid data" in f.loc[hole, "detail"]
    assert (
        f.loc["small", "reason"].split("; ")[0] == "too small" and f.loc["small", "pixels"] < 4 and f.loc["small", "windows"] > 0
    )
    assert "mixed classes" in f.loc["mixed", "reason"] and f.loc["mixed", "share_second"] >= 0.35
    assert "another class" in f.loc["relabelled", "reason"]
    assert "not scored: no other polygon of LCZ" in f.loc["once", "detail"] and not f.loc["once", "flag"]
    assert set(result.counts()) == {"off the scene", "too small", "another class", "mixed classes"}


def test_the_adapt_scorer_scores_with_adapted_models(tiny_model, city, city_areas, tmp_path):
    from lczmap.adapt import AdaptOptions, check_areas

    options = _cpu()
    result = check_areas(
        tiny_model,
        city[0],
        city_areas,
        tmp_path / "checked.geojson",
        scorer="adapt",
        folds=2,
        adapt=AdaptOptions(device="cpu", sar_epochs=1, unlabelled=1.0, field="class"),
        ratio=options.ratio,
    )
    f = result.frame
    probs = f[[c for c in f.columns if c.startswith("p_") and c not in ("p_labelled", "p_predicted")]]
    scored = f["windows"].gt(0).to_numpy()
    np.testing.assert_allclose(probs[scored].sum(axis=1), 1.0, atol=1e-6)
    assert set(f.loc[scored, "fold"]) == {0, 1} and result.scorer == "adapt" and "scorer adapt" in result.summary()
    assert (tmp_path / "checked.geojson").exists()


def test_check_areas_runs_from_the_command_line(tiny_model, cities, tmp_path):
    from click.testing import CliRunner

    from lczmap.cli import main

    scene, areas, _ = cities[1]
    out = tmp_path / "checked.gpkg"
    args = ["check-areas", str(tiny_model), str(scene), str(areas), "-o", str(out), "--device", "cpu", "--ratio", "2"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert "training polygons flagged" in done.output and out.exists()
    before = out.read_bytes()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1
    assert again.output.startswith("Error: ") and "--overwrite" in again.output and len(again.output.strip().splitlines()) == 1
    assert out.read_bytes() == before
    assert CliRunner().invoke(main, [*args, "--overwrite"]).exit_code == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ratio", "1"], "ratio must be a finite number above 1 (--ratio)"),
        (["--mixed", "0.8"], "mixed must be a finite number in (0, 0.5] (--mixed)"),
        (["--folds", "1"], "folds must be an integer of at least 2 (--folds)"),
        (["--min-pixels", "0"], "min_pixels must be an integer of at least 1 (--min-pixels)"),
    ],
)
def test_bad_options_are_one_usage_line(tiny_model, city, city_areas, tmp_path, extra, message):
    from click.testing import CliRunner

    from lczmap.cli import main

    done = CliRunner().invoke(
        main, ["check-areas", str(tiny_model), str(city[0]), str(city_areas), "-o", str(tmp_path / "c.gpkg"), *extra]
    )
    assert done.exit_code == 2 and message in done.output and "Traceback" not in done.output
    assert not (tmp_path / "c.gpkg").exists()


@pytest.mark.parametrize("case", ["one class", "off the scene", "bad extension"])
def test_bad_inputs_are_one_line(tiny_model, city, city_areas, tmp_path, case):
    import geopandas as gpd
    from click.testing import CliRunner
    from shapely.geometry import box

    from lczmap.cli import main

    areas, out = city_areas, tmp_path / "c.gpkg"
    if case == "one class":
        frame = gpd.read_file(city_areas)
        areas = tmp_path / "one.gpkg"
        frame.assign(**{"class": 6}).to_file(areas)
        expected = "hold one class (LCZ 6): the check scores each polygon"
    elif case == "off the scene":
        areas = tmp_path / "far.gpkg"
        boxes = [box(100.0, 10.0, 100.01, 10.01), box(100.02, 10.0, 100.03, 10.01)]
        gpd.GeoDataFrame({"lcz": [2, 6]}, geometry=boxes, crs="EPSG:4326").to_file(areas)
        expected = "lies outside the scene"
    else:
        out = tmp_path / "c.xyz"
        expected = ".xyz"
    done = CliRunner().invoke(main, ["check-areas", str(tiny_model), str(city[0]), str(areas), "-o", str(out), "--device", "cpu"])
    errors = [line for line in done.output.splitlines() if line.startswith("Error: ")]
    assert done.exit_code == 1 and len(errors) == 1 and expected in errors[0], done.output
    assert "Traceback" not in done.output and done.output.strip().splitlines()[-1] == errors[0]
    assert not out.exists()


def test_check_options_are_validated():
    from lczmap.adapt import CheckOptions

    with pytest.raises(ConfigError, match="--scorer"):
        CheckOptions(scorer="forest")
    with pytest.raises(ConfigError, match="--ratio"):
        CheckOptions(ratio=float("inf"))
    with pytest.raises(ConfigError, match="--folds"):
        CheckOptions(folds=True)
    with pytest.raises(ConfigError, match="AdaptOptions"):
        CheckOptions(adapt={"device": "cpu"})  # type: ignore[arg-type]
    assert CheckOptions(ratio=2, folds=3).ratio == 2.0


def test_check_areas_refuses_options_of_another_kind(tiny_model, city, city_areas, tmp_path):
    from lczmap.adapt import AdaptOptions, check_areas

    with pytest.raises(ConfigError, match="options must be a CheckOptions"):
        check_areas(tiny_model, city[0], city_areas, tmp_path / "c.gpkg", options=AdaptOptions())  # type: ignore[arg-type]

"""The stratified estimators of Olofsson et al. (2014): the paper's worked example, coverage of the
intervals on a synthetic map with known truth, and the bad inputs.

The worked example is section 5 of Olofsson, P., Foody, G. M., Herold, M., Stehman, S. V.,
Woodcock, C. E., Wulder, M. A. (2014), Good practices for estimating area and assessing accuracy of
land change, Remote Sensing of Environment 148:42-57: Table 8 (the error matrix of sample counts,
rows map, columns reference; map areas 200,000 / 150,000 / 3,200,000 / 6,450,000 Landsat pixels of
30 m), Table 9 (the same as estimated area proportions) and the estimates printed on p. 54 (user's,
producer's and overall accuracy with their 95 % margins; the areas in ha with theirs). The
figures are the paper's, as also transcribed by two independent implementations: the R package
mapaccuracy (H. Costa; CRAN, man/olofsson.Rd, "Example of table 8 in Olofsson et al. (2014)") and
acc_assessment (github.com/boothmanrylan/accuracyAssessmentTools, tests/test_olofsson.py).

Two printed margins do not follow from the paper's own eq. 7 for producer's accuracy: forest gain
"0.85 +- 0.23" (eq. 7 gives 0.254) and stable non-forest "0.96 +- 0.01" (eq. 7 gives 0.018); both
implementations above find the same (acc_assessment leaves those two checks out for that reason).
The test pins the eq. 7 values and names the printed ones.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _maps_fixtures import UTM, run, write_raster
from affine import Affine
from shapely.geometry import Point

from lczmap.errors import ZonesError
from lczmap.maps import assess_sample
from lczmap.maps.design import allocate, draw_pixels
from lczmap.maps.olofsson import estimate

#: Table 8: sample counts, rows map class, columns reference class (deforestation, forest gain,
#: stable forest, stable non-forest).
TABLE_8 = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
#: The map's pixels of each class (section 5), 30 m Landsat pixels.
MAP_PIXELS = np.array([200_000, 150_000, 3_200_000, 6_450_000])
PIXEL_M2 = 30.0 * 30.0
#: Table 9: estimated area proportions, to the printed 4 decimals.
TABLE_9 = np.array(
    [
        [0.0176, 0.0000, 0.0013, 0.0011],
        [0.0000, 0.0110, 0.0016, 0.0024],
        [0.0019, 0.0000, 0.2967, 0.0213],
        [0.0040, 0.0020, 0.0179, 0.6212],
    ]
)
#: p. 54: user's and producer's accuracy with their 95 % margins (2 decimals) ...
USERS = [(0.88, 0.07), (0.73, 0.10), (0.93, 0.04), (0.96, 0.02)]
PRODUCERS = [(0.75, 0.21), (0.85, None), (0.93, 0.03), (0.96, None)]  # None: printed 0.23 and 0.01, see above
PRODUCERS_EQ7 = {1: 0.25, 3: 0.02}
OVERALL = (0.95, 0.02)
#: ... and the areas in ha with their 95 % margins (whole ha).
AREAS_HA = [(21_158, 6_158), (11_686, 3_756), (285_770, 15_510), (581_386, 16_282)]
#: LCZ codes standing in for the paper's four classes when the example runs through files.
STAND_INS = (1, 2, 11, 14)


def _check_paper(e) -> None:
    z = e.z
    assert z == pytest.approx(1.96, abs=0.0005)
    np.testing.assert_array_equal(np.round(e.proportions, 4), TABLE_9)
    for i, (value, margin) in enumerate(USERS):
        assert round(e.users[i], 2) == value
        assert round(1.96 * e.users_se[i], 2) == margin
    for i, (value, margin) in enumerate(PRODUCERS):
        assert round(e.producers[i], 2) == value
        assert round(1.96 * e.producers_se[i], 2) == (margin if margin is not None else PRODUCERS_EQ7[i])
    assert (round(e.overall, 2), round(1.96 * e.overall_se, 2)) == OVERALL
    for i, (area, margin) in enumerate(AREAS_HA):
        assert round(e.area[i] / 1e4) == area
        assert round(1.96 * e.area_se[i] / 1e4) == margin


def test_paper_example_table_8():
    _check_paper(estimate(TABLE_8, MAP_PIXELS * PIXEL_M2, STAND_INS))


def test_paper_example_units_do_not_matter():
    """Stratum sizes in pixels, m2 or as weights give the same accuracies and shares."""
    a = estimate(TABLE_8, MAP_PIXELS.astype(float))
    b = estimate(TABLE_8, MAP_PIXELS / MAP_PIXELS.sum())
    for name in ("overall", "overall_se", "users", "users_se", "producers", "producers_se", "share", "share_se"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12)


def _paper_map(tmp_path):
    """The example's map at 1/1000 of its pixels (10,000), each pixel 1000 times the area of a
    30 m pixel: the same strata in ha, through a real GeoTIFF."""
    counts = MAP_PIXELS // 1000
    codes = np.repeat(np.array(STAND_INS, np.uint8), counts)
    np.random.default_rng(0).shuffle(codes)
    side = np.sqrt(PIXEL_M2 * 1000)
    path = write_raster(tmp_path / "change.tif", codes.reshape(100, 100), transform=Affine(side, 0, 500000, 0, -side, 5001000))
    return path, codes.reshape(100, 100), side


def _paper_sample(codes, side, counts=TABLE_8):
    """A sample as lczmap design writes it (map_lcz, stratum_px, reference), counts[i, j] points
    in pixels of map class i labelled as reference class j."""
    rng = np.random.default_rng(1)
    rows = []
    for i, mapped in enumerate(STAND_INS):
        where = np.argwhere(codes == mapped)
        picks = where[rng.choice(len(where), int(counts[i].sum()), replace=False)]
        labels = np.repeat([str(c) for c in STAND_INS], counts[i])
        for (r, c), label in zip(picks, labels):
            at = Point(500000 + (c + 0.5) * side, 5001000 - (r + 0.5) * side)
            rows.append((mapped, int((codes == mapped).sum()), label, at))
    frame = pd.DataFrame(rows, columns=["map_lcz", "stratum_px", "reference", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=UTM)


def test_paper_example_through_files(tmp_path):
    """The example through a GeoTIFF and a labelled sample file: the map's exact pixel areas give
    the paper's figures; JSON, CSV and figure written."""
    path, codes, side = _paper_map(tmp_path)
    _paper_sample(codes, side).to_file(tmp_path / "sample.gpkg", layer="sample")
    out = {k: tmp_path / f"a.{k}" for k in ("json", "csv", "png")}
    result = assess_sample(path, tmp_path / "sample.gpkg", json_path=out["json"], csv_path=out["csv"], figure_path=out["png"])
    assert result.estimate.classes == STAND_INS
    _check_paper(result.estimate)
    data = json.loads(out["json"].read_text())
    assert data["points"] == TABLE_8.sum() and data["error_matrix"]["counts"] == TABLE_8.tolist()
    assert round(data["classes"][0]["area_km2"] * 100) == 21_158  # km2 -> ha
    table = pd.read_csv(out["csv"])
    assert list(table["scope"]) == ["LCZ 1", "LCZ 2", "LCZ A", "LCZ D", "overall"]
    assert round(table.loc[4, "overall"], 2) == 0.95
    assert out["png"].read_bytes()[:4] == b"\x89PNG"


def test_cli_assess_design(tmp_path):
    path, codes, side = _paper_map(tmp_path)
    _paper_sample(codes, side).to_file(tmp_path / "sample.gpkg", layer="sample")
    res = run(["assess", path, tmp_path / "sample.gpkg", "--design", "--json", tmp_path / "a.json"])
    assert res.exit_code == 0, res.output
    assert "overall accuracy 0.947 [0.928-0.965]" in res.output
    assert "LCZ  1:      211.6 km2 [150 to 273.2]" in res.output  # 21,158 +- 6,158 ha
    again = run(["assess", path, tmp_path / "sample.gpkg", "--design", "--json", tmp_path / "a.json"])
    assert again.exit_code == 1 and "exists" in again.output
    both = run(["assess", path, tmp_path / "sample.gpkg", "--design", "--against", path])
    assert both.exit_code == 2 and "--design" in both.output


# --- coverage of the intervals on a synthetic map with known truth ---------------------------

#: The synthetic population: map class shares and, per map class, the true classes' shares
#: (rows: map; columns: truth), with commission errors into and out of a rare class.
SHARES = np.array([0.02, 0.08, 0.30, 0.60])
TRUTH = np.array(
    [
        [0.80, 0.10, 0.05, 0.05],
        [0.05, 0.55, 0.30, 0.10],
        [0.01, 0.03, 0.90, 0.06],
        [0.005, 0.015, 0.03, 0.95],
    ]
)


def _population(size=400_000, seed=7):
    rng = np.random.default_rng(seed)
    counts = np.round(SHARES * size).astype(int)
    mapped = np.repeat(np.array(STAND_INS, np.uint8), counts)
    truth = np.empty_like(mapped)
    for i, code in enumerate(STAND_INS):
        sel = mapped == code
        truth[sel] = rng.choice(np.array(STAND_INS, np.uint8), size=int(sel.sum()), p=TRUTH[i])
    order = rng.permutation(mapped.size)
    return mapped[order].reshape(400, -1), truth[order].reshape(400, -1)


def _coverage(reps=600, seed=11, shrink=1.0):
    """Share of ``reps`` stratified samples (600 points, at least 50 per class) whose 95 % interval
    of each class's area share covers the true share; ``shrink`` scales the standard errors."""
    mapped, truth = _population()
    pixels = np.bincount(mapped.ravel(), minlength=18)
    n_h = allocate(pixels, 600, "proportional", 50)
    true_share = np.array([(truth == c).mean() for c in STAND_INS])
    index = {c: i for i, c in enumerate(STAND_INS)}
    rng = np.random.default_rng(seed)
    hits = np.zeros((reps, 4), bool)
    overall = np.zeros(reps, bool)
    true_oa = (mapped == truth).mean()
    area = pixels[list(STAND_INS)].astype(float)
    for k in range(reps):
        rows, cols, strata = draw_pixels([(0, mapped)], pixels, n_h, rng)
        counts = np.zeros((4, 4), int)
        np.add.at(counts, ([index[s] for s in strata], [index[t] for t in truth[rows, cols]]), 1)
        e = estimate(counts, area, STAND_INS)
        lo, hi = e.interval(e.share, e.share_se * shrink)
        hits[k] = (lo <= true_share) & (true_share <= hi)
        olo, ohi = e.interval(e.overall, e.overall_se * shrink)
        overall[k] = olo <= true_oa <= ohi
    return hits.mean(axis=0), overall.mean()


def test_intervals_cover_the_true_areas():
    """600 seeded samples: the 95 % intervals of the area shares cover the true shares 93-96.5 %
    of the time over the four classes, each class at least 89 % (the binomial SD of a coverage
    over 600 samples is about 0.01). The rare class (2 % of the map, much of its true area hidden
    as omission in the large strata) is covered less than 95 %: 0.916 over 3,000 samples (seed
    99), the normal interval's known weakness for small, skewed proportions; the common classes
    0.948-0.953. Intervals with the standard error halved (the check's power) cover about 65 %
    and fail the same bounds."""
    per_class, overall = _coverage()
    assert np.all(per_class >= 0.89) and np.all(per_class <= 0.975), per_class
    assert 0.93 <= per_class.mean() <= 0.965, per_class
    assert 0.925 <= overall <= 0.975, overall
    narrow, narrow_overall = _coverage(reps=200, shrink=0.5)
    assert np.all(narrow < 0.8) and narrow_overall < 0.8, (narrow, narrow_overall)


def test_mapped_areas_are_biased_where_the_estimates_are_not():
    """The synthetic map overstates its rare class: the mapped share lies outside the estimate's
    interval, and the estimate recovers the truth."""
    mapped, truth = _population()
    pixels = np.bincount(mapped.ravel(), minlength=18)
    rng = np.random.default_rng(3)
    n_h = allocate(pixels, 3000, "equal", 50)
    rows, cols, strata = draw_pixels([(0, mapped)], pixels, n_h, rng)
    index = {c: i for i, c in enumerate(STAND_INS)}
    counts = np.zeros((4, 4), int)
    np.add.at(counts, ([index[s] for s in strata], [index[t] for t in truth[rows, cols]]), 1)
    e = estimate(counts, pixels[list(STAND_INS)].astype(float), STAND_INS)
    lo, hi = e.interval(e.share, e.share_se)
    true_share = np.array([(truth == c).mean() for c in STAND_INS])
    assert np.all((lo <= true_share) & (true_share <= hi))
    assert not lo[1] <= SHARES[1] <= hi[1]  # mapped 8 %, truly 6.4 %


# --- bad inputs -------------------------------------------------------------------------------


def test_stratum_without_sample():
    counts = TABLE_8.copy()
    counts[1] = 0
    with pytest.raises(ZonesError, match=r"stratum LCZ 2 has no labelled sample point"):
        estimate(counts, MAP_PIXELS.astype(float), STAND_INS)


def test_stratum_with_one_point():
    counts = TABLE_8.copy()
    counts[0] = [1, 0, 0, 0]
    with pytest.raises(ZonesError, match=r"stratum LCZ 1 has only one labelled sample point"):
        estimate(counts, MAP_PIXELS.astype(float), STAND_INS)
    # a stratum sampled whole (one pixel, one point) is known exactly: no variance
    e = estimate(counts, MAP_PIXELS.astype(float), STAND_INS, stratum_pixels=np.array([1, 150_000, 3_200_000, 6_450_000]))
    assert e.users[0] == 1 and e.users_se[0] == 0


def test_reference_class_not_on_the_map():
    """A reference class the map never shows is a column without stratum: its area comes from
    the other strata's points; user's accuracy undefined (NaN)."""
    counts = np.array([[8, 2, 0], [1, 8, 1], [0, 0, 0]])
    e = estimate(counts, np.array([100.0, 300.0, 0.0]), (1, 2, 3))
    assert np.isnan(e.users[2]) and e.share[2] == pytest.approx(0.75 * 1 / 10)
    assert e.share.sum() == pytest.approx(1.0)


def test_sample_without_labels(tmp_path):
    path, codes, side = _paper_map(tmp_path)
    sample = _paper_sample(codes, side)
    sample["reference"] = ""
    sample.to_file(tmp_path / "empty.gpkg", layer="sample")
    res = run(["assess", path, tmp_path / "empty.gpkg", "--design"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"Error: {tmp_path / 'empty.gpkg'} has no reference labels filled in (field 'reference' is empty at all 640 points): "
        "label the points (LCZ 1-10, A-G) in QGIS or Google Earth first"
    ]


def test_partly_labelled_sample_and_empty_stratum(tmp_path, caplog):
    path, codes, side = _paper_map(tmp_path)
    sample = _paper_sample(codes, side)
    sample.loc[sample.index[:10], "reference"] = None  # ten of stratum 1 unlabelled: left out, logged
    result = assess_sample(path, sample)
    assert result.points == 630 and result.unlabelled == 10 and "10 of 640 points" in caplog.text
    sample.loc[sample["map_lcz"] == 2, "reference"] = ""
    with pytest.raises(ZonesError, match=r"stratum LCZ 2 has no labelled sample point"):
        assess_sample(path, sample)


def test_sample_not_from_a_design(tmp_path):
    path, codes, side = _paper_map(tmp_path)
    plain = _paper_sample(codes, side).drop(columns=["stratum_px"])
    plain.to_file(tmp_path / "plain.gpkg")
    res = run(["assess", path, tmp_path / "plain.gpkg", "--design"])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert "is not a sample drawn by lczmap design (no fields map_lcz and stratum_px)" in res.output


def test_sample_from_another_map(tmp_path):
    path, codes, side = _paper_map(tmp_path)
    sample = _paper_sample(codes, side)
    sample.loc[sample["map_lcz"] == 11, "stratum_px"] = 3000
    with pytest.raises(ZonesError, match=r"was not drawn from .*: the design recorded 3000 pixels of LCZ A, the map has 3200"):
        assess_sample(path, sample)


def test_bad_reference_value(tmp_path):
    path, codes, side = _paper_map(tmp_path)
    sample = _paper_sample(codes, side)
    sample.loc[sample.index[0], "reference"] = "forest"
    with pytest.raises(ZonesError, match=r"field 'reference' holds values that are not LCZ codes \('forest'\)"):
        assess_sample(path, sample)

"""Scores of confusion matrices and normalisation of reference codes."""

from __future__ import annotations

import numpy as np
import pytest

from lczmap.errors import ZonesError
from lczmap.maps import WEIGHTS, normalise_codes
from lczmap.maps.metrics import bootstrap, class_scores, confusion, scores


def _cm(ref, mapped):
    cm = np.zeros((17, 17))
    np.add.at(cm, (np.asarray(ref) - 1, np.asarray(mapped) - 1), 1)
    return cm


def test_oa_and_kappa_equal_a_direct_count():
    rng = np.random.default_rng(3)
    ref = rng.integers(1, 18, 500)
    mapped = np.where(rng.random(500) < 0.6, ref, rng.integers(1, 18, 500))
    s = scores(_cm(ref, mapped))
    oa = np.mean(ref == mapped)
    pe = sum(np.mean(ref == k) * np.mean(mapped == k) for k in range(1, 18))
    assert s["OA"] == pytest.approx(oa)
    assert s["kappa"] == pytest.approx((oa - pe) / (1 - pe))


def test_urban_built_and_weighted_scores_follow_their_definitions():
    # rows reference, columns map: 1->1 x4, 1->2 x2, 2->2 x1, A->A x4, D->D x3, 1->A x1, E->1 x1
    ref = [1] * 7 + [2] + [11] * 4 + [14] * 3 + [15]
    mapped = [1] * 4 + [2] * 2 + [11] + [2] + [11] * 4 + [14] * 3 + [1]
    s = scores(_cm(ref, mapped))
    assert s["OAu"] == pytest.approx(5 / 7)  # urban reference and urban map only: 4 + 1 of 7
    assert s["OAbu"] == pytest.approx(14 / 15)  # E left out; 1->A is the one built/natural error
    expected_w = (4 + 2 * WEIGHTS[0, 1] + WEIGHTS[0, 10] + 1 + 4 + 3 + WEIGHTS[14, 0]) / 16
    assert s["OAw"] == pytest.approx(expected_w)


def test_weights_are_the_published_symmetric_matrix():
    assert WEIGHTS.shape == (17, 17)
    assert np.array_equal(WEIGHTS, WEIGHTS.T)
    assert np.all(np.diag(WEIGHTS) == 1.0)
    assert WEIGHTS[0, 1] == 0.92 and WEIGHTS[0, 13] == 0.0 and WEIGHTS[16, 15] == 0.92  # 1-2, 1-D, G-F
    with pytest.raises(ValueError):
        WEIGHTS[0, 1] = 0.5  # read-only


def test_class_scores_precision_recall_f1():
    s = class_scores(_cm([1, 1, 1, 2], [1, 1, 2, 2]))
    assert s["recall"][0] == pytest.approx(2 / 3) and s["precision"][0] == pytest.approx(1.0)
    assert s["precision"][1] == pytest.approx(0.5) and s["recall"][1] == pytest.approx(1.0)
    assert s["f1"][0] == pytest.approx(0.8)
    assert np.isnan(s["f1"][5])  # absent from both


def test_bootstrap_is_seeded_and_sums_units():
    ref = np.array([1, 2, 11, 14])
    hist = np.eye(17)[[0, 0, 10, 13]] * np.array([[5], [3], [4], [2]])
    assert np.array_equal(confusion(ref, hist)[0], hist[0] + 0)  # unit 1: 5 pixels mapped 1
    a, b = bootstrap(ref, hist, draws=25, seed=7), bootstrap(ref, hist, draws=25, seed=7)
    assert np.array_equal(a.draws, b.draws, equal_nan=True) and a.draws.shape == (25, 5)
    assert not np.array_equal(a.draws, bootstrap(ref, hist, draws=25, seed=8).draws, equal_nan=True)
    summary = a.summary()
    assert summary["OA"]["low"] <= summary["OA"]["mean"] <= summary["OA"]["high"]
    assert a.confusion.shape == (17, 17) and a.confusion.sum() > 0


@pytest.mark.parametrize(
    "values, expected",
    [
        ([1, 10, 11, 17], [1, 10, 11, 17]),
        ([1, 10, 101, 107], [1, 10, 11, 17]),
        (["A", "g", "LCZ 6", "lcz_B", "LCZ-10", "3"], [11, 17, 6, 12, 10, 3]),
        ([2.0, 104.0], [2, 14]),
    ],
)
def test_codes_in_either_convention_are_normalised(values, expected):
    assert normalise_codes(values).tolist() == expected


def test_codes_outside_both_conventions_are_refused():
    with pytest.raises(ZonesError, match=r"not LCZ codes \(.*18.*\)"):
        normalise_codes([1, 18])
    with pytest.raises(ZonesError, match="mixed"):
        normalise_codes([12, 103])
    with pytest.raises(ZonesError, match="'water'"):
        normalise_codes(["A", "water"])
    with pytest.raises(ZonesError):
        normalise_codes([12, 103], codes="1-17")

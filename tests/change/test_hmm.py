"""The per-pixel HMM against a case worked by hand: 2 classes, 3 dates, every path enumerated."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lczmap.change.hmm import emissions_from, forward_backward, transition_matrix, viterbi

A = np.array([[0.9, 0.1], [0.1, 0.9]])
E = np.array([[[0.8, 0.2]], [[0.3, 0.7]], [[0.6, 0.4]]])  # (T=3, N=1, K=2)


def test_transition_prior_makes_built_to_natural_rarer():
    a = transition_matrix([6, 8, 14], stay=0.9, built_to_natural=0.1)
    np.testing.assert_allclose(a.sum(axis=1), 1)
    np.testing.assert_allclose(np.diag(a), 0.9)
    assert a[0, 2] == pytest.approx(0.1 * 0.1 / 1.1)  # open low-rise -> low plants: a tenth of -> large low-rise
    assert a[0, 1] == pytest.approx(0.1 / 1.1)
    assert a[2, 0] == a[2, 1] == pytest.approx(0.05)  # natural -> built: no penalty


def test_forward_backward_and_viterbi_by_hand():
    # the joint probability of each of the 8 paths, 0.5 * e1 * a * e2 * a * e3, by hand:
    by_hand = {
        (0, 0, 0): 0.05832,
        (0, 0, 1): 0.00432,
        (0, 1, 0): 0.00168,
        (0, 1, 1): 0.01008,
        (1, 0, 0): 0.00162,
        (1, 0, 1): 0.00012,
        (1, 1, 0): 0.00378,
        (1, 1, 1): 0.02268,
    }
    total = sum(by_hand.values())  # 0.1026
    for path in itertools.product((0, 1), repeat=3):  # the table is the model's
        p = 0.5 * E[0, 0, path[0]] * A[path[0], path[1]] * E[1, 0, path[1]] * A[path[1], path[2]] * E[2, 0, path[2]]
        assert p == pytest.approx(by_hand[path])
    post = forward_backward(E, A)
    assert post.log_likelihood[0] == pytest.approx(np.log(total))
    p_first_a = (0.05832 + 0.00432 + 0.00168 + 0.01008) / total  # 0.72515
    p_mid_a = (0.05832 + 0.00432 + 0.00162 + 0.00012) / total  # 0.62749
    np.testing.assert_allclose(post.marginals[:, 0, 0], [p_first_a, p_mid_a, (0.05832 + 0.00168 + 0.00162 + 0.00378) / total])
    assert post.p_change[0] == pytest.approx(1 - (0.05832 + 0.02268) / total)  # 0.21053
    assert post.p_step[0, 0] == pytest.approx((0.00168 + 0.01008 + 0.00162 + 0.00012) / total)
    assert post.p_step[1, 0] == pytest.approx((0.00432 + 0.00168 + 0.00012 + 0.00378) / total)
    np.testing.assert_array_equal(viterbi(E, A)[:, 0], [0, 0, 0])  # the largest of the 8: AAA
    # under a weak prior the middle date flips: ABA 0.5*.8*.45*.7*.45*.6 = 0.03402 beats ABB 0.02772 and AAA 0.01089
    weak = np.array([[0.55, 0.45], [0.45, 0.55]])
    np.testing.assert_array_equal(viterbi(E, weak)[:, 0], [0, 1, 0])


def test_missing_date_says_nothing_and_floor_keeps_paths_open():
    p = np.array([[[1.0, 0.0]], [[np.nan, np.nan]], [[0.0, 1.0]]])
    e = emissions_from(p, 1e-3)
    np.testing.assert_array_equal(e[1, 0], [1, 1])
    assert e[0, 0, 1] == 1e-3
    path = viterbi(e, A)[:, 0]
    assert path[0] == 0 and path[2] == 1  # the change is kept, somewhere in the gap
    assert forward_backward(e, A).p_change[0] == pytest.approx(1.0, abs=1e-2)

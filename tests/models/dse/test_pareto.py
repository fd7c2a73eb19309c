"""Pareto filter, ranks and hypervolume against brute force and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from models.dse import (
    hypervolume,
    hypervolume_ratio,
    nondominated_ranks,
    pareto_mask,
    to_minimization,
)


def _brute(Y: np.ndarray) -> np.ndarray:
    Y = np.where(np.isnan(Y), np.inf, Y)
    n = len(Y)
    return np.array(
        [not any(np.all(Y[j] <= Y[i]) and np.any(Y[j] < Y[i]) for j in range(n)) for i in range(n)]
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [2, 3])
def test_filter_matches_brute_force_with_ties_infinities_duplicates(seed, k):
    rng = np.random.default_rng(seed)
    n = 700  # more than one chunk of the filter
    Y = rng.integers(0, 6, (n, k)).astype(float)  # few levels: many ties and duplicates
    Y[rng.integers(0, n, 20), rng.integers(0, k, 20)] = np.inf
    Y[rng.integers(0, n, 5), rng.integers(0, k, 5)] = -np.inf
    Y[rng.integers(0, n, 5), 0] = np.nan
    Y[:10] = Y[10]  # explicit duplicates
    np.testing.assert_array_equal(pareto_mask(Y), _brute(Y))


def test_duplicates_on_the_front_are_all_kept():
    Y = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(pareto_mask(Y), [True, True, True, False])


def test_maximized_objectives_are_negated():
    Y = to_minimization(np.array([[1.0, 10.0], [2.0, 20.0]]), ["min", "max"])
    np.testing.assert_array_equal(Y, [[1.0, -10.0], [2.0, -20.0]])
    assert pareto_mask(Y).all()  # faster-but-worse vs slower-but-better: both on the front


def test_ranks_peel_fronts():
    Y = np.array([[1, 3], [3, 1], [2, 2], [2, 3], [3, 3], [4, 4]], dtype=float)
    # front 0: (1,3),(3,1),(2,2); then (2,3) dominates (3,3), then (4,4)
    np.testing.assert_array_equal(nondominated_ranks(Y), [0, 0, 0, 1, 2, 3])


def test_hypervolume_closed_forms():
    # 2-D staircase: union of [1,4]x[3,4], [2,4]x[2,4], [3,4]x[1,4] = 3 + 4 + 3 - overlaps = 6
    assert hypervolume(np.array([[1, 3], [2, 2], [3, 1]]), [4, 4]) == pytest.approx(6.0)
    # a single point: the box to the reference point
    assert hypervolume(np.array([[1.0, 2.0, 3.0]]), [2, 4, 7]) == pytest.approx(1 * 2 * 4)
    # two 3-D boxes [0,2]x[0,1]x[0,1] and [0,1]x[0,2]x[0,1] relative to ref (2,2,1): 2 + 2 - 1 = 3
    assert hypervolume(np.array([[0, 1, 0], [1, 0, 0]], dtype=float), [2, 2, 1]) == pytest.approx(
        3.0
    )
    # dominated and out-of-box points add nothing
    assert hypervolume(np.array([[1, 3], [2, 2], [3, 1], [3, 3], [5, 0]]), [4, 4]) == pytest.approx(
        6.0
    )


def test_hypervolume_3d_matches_monte_carlo():
    rng = np.random.default_rng(1)
    Y = rng.random((30, 3))
    ref = np.ones(3)
    U = rng.random((200_000, 3))
    covered = np.zeros(len(U), bool)
    for y in Y:
        covered |= np.all(U >= y, axis=1)
    assert hypervolume(Y, ref) == pytest.approx(covered.mean(), abs=4e-3)


def test_ratio_of_a_subset_front_is_below_one():
    Y = np.array([[1, 3], [2, 2], [3, 1]], dtype=float)
    r, ref = hypervolume_ratio(Y[:2], Y)
    assert r < 1.0
    assert hypervolume_ratio(Y, Y)[0] == pytest.approx(1.0)
    np.testing.assert_allclose(ref, [3.2, 3.2])  # nadir (3, 3) + 10 % of the range (2)


def test_two_objective_fast_path_matches_the_general_filter():
    # the O(n log n) 2-D sweep against the chunked filter (forced by a zero third column),
    # on sets full of ties, duplicates, infinities and NaN
    from models.dse.pareto import pareto_mask

    rng = np.random.default_rng(11)
    for trial in range(30):
        n = int(rng.integers(1, 400))
        Y = rng.integers(0, 6, size=(n, 2)).astype(float)
        Y[rng.random((n, 2)) < 0.05] = np.inf
        Y[rng.random((n, 2)) < 0.03] = np.nan
        general = pareto_mask(np.column_stack([Y, np.zeros(n)]))
        np.testing.assert_array_equal(pareto_mask(Y), general, err_msg=f"trial {trial}")

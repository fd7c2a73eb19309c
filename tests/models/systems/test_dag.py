"""Call graphs (models.systems.dag): structure, cycles, and the critical path by brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.systems import (
    CallGraphError,
    critical_path_s,
    finish_times,
    graph_depth,
    layered_graph,
    parse_call_graph,
    topological_order,
)


def test_layered_graphs_by_hand():
    # 5 calls in 2 levels of width ceil(5 / 2) = 3: calls 3 and 4 wait for 0, 1 and 2
    assert layered_graph(5, 2) == ((), (), (), (0, 1, 2), (0, 1, 2))
    # a chain
    assert layered_graph(3, 3) == ((), (0,), (1,))
    # independent calls
    assert layered_graph(4, 1) == ((), (), (), ())
    # 4 calls in 3 levels: width 2 would leave the third level empty, so the levels are spread 1 / 1 / 2
    g = layered_graph(4, 3)
    assert graph_depth(g) == 3 and len(g) == 4


def test_edge_lists_and_their_errors():
    assert parse_call_graph("0>2, 1>2, 3") == ((), (), (0, 1), ())
    with pytest.raises(CallGraphError, match="cycle through calls 0 > 1 > 2 > 0"):
        parse_call_graph("0>1,1>2,2>0")
    with pytest.raises(CallGraphError, match="depends on itself"):
        parse_call_graph("1>1")
    with pytest.raises(CallGraphError, match="edge 'a>b'"):
        parse_call_graph("a>b")
    with pytest.raises(CallGraphError, match="empty"):
        parse_call_graph(" , ")
    with pytest.raises(CallGraphError, match="call_depth = 5"):
        layered_graph(3, 5)
    with pytest.raises(CallGraphError, match="n_calls = 0"):
        layered_graph(0, 1)


def test_critical_path_of_a_diamond():
    # 0 (1 s) -> {1 (2 s), 2 (5 s)} -> 3 (1 s): the longest path 0, 2, 3 takes 7 s
    g = parse_call_graph("0>1,0>2,1>3,2>3")
    d = np.array([[1.0], [2.0], [5.0], [1.0]])
    assert critical_path_s(d, g)[0] == 7.0
    # call 1 cannot be dispatched before 9 s: it finishes at 11 s, call 3 at 12 s
    f = finish_times(d, g, ready_s=np.array([[0.0], [9.0], [0.0], [0.0]]))
    assert f[:, 0].tolist() == [1.0, 11.0, 6.0, 12.0]


def _longest_path(d: list[float], deps: tuple[tuple[int, ...], ...]) -> float:
    """Brute force: the heaviest of every chain of calls that the edges allow."""
    n = len(d)
    best = 0.0
    for r in range(1, n + 1):
        for chain in itertools.permutations(range(n), r):
            if all(chain[i] in deps[chain[i + 1]] for i in range(r - 1)):
                best = max(best, sum(d[c] for c in chain))
    return best


@st.composite
def _dags(draw: st.DrawFn) -> tuple[list[float], tuple[tuple[int, ...], ...]]:
    n = draw(st.integers(1, 6))
    deps = tuple(tuple(j for j in range(i) if draw(st.booleans())) for i in range(n))
    d = draw(st.lists(st.floats(0.0, 100.0), min_size=n, max_size=n))
    return d, deps


@settings(max_examples=60, deadline=None)
@given(_dags())
def test_critical_path_is_the_longest_chain(dag):
    d, deps = dag
    got = critical_path_s(np.array(d)[:, None], deps)[0]
    assert got == pytest.approx(_longest_path(d, deps), rel=1e-12, abs=1e-12)
    # and never below the longest call nor above the sequential sum
    assert max(d) - 1e-9 <= got <= sum(d) + 1e-9
    order = topological_order(deps)
    assert all(order.index(j) < order.index(i) for i in range(len(deps)) for j in deps[i])

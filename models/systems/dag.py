"""Call graphs: the dependency DAG of an agent's function calls, and its timing.

A call graph has ``n`` calls numbered ``0 .. n - 1``; ``deps[i]`` are the calls that must finish
before call ``i`` starts. It is given either as a *layered* graph (``depth`` levels of calls, each
call of a level depending on every call of the level before: width ``ceil(n / depth)``, the last
level holding the rest) or as an edge list written ``"0>2,1>2"`` (call 0 and call 1 before call
2). Every timing function takes durations of shape ``(n, *points)`` and broadcasts over design
points; the only loop is over the calls, in topological order.

- :func:`finish_times`: ``f_i = max(r_i, max_{j in deps(i)} f_j) + d_i`` (``r_i`` the time call
  ``i`` can be dispatched, 0 by default);
- :func:`critical_path_s`: ``max_i f_i`` with ``r = 0``, the longest path of durations (the
  latency of the graph run with unbounded parallelism);
- a sequential run (one call at a time, ReAct) takes ``sum_i d_i``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["MAX_CALLS", "CallGraphError", "critical_path_s", "finish_times", "graph_depth", "layered_graph",
           "parse_call_graph", "topological_order"]

MAX_CALLS = 4096
_EDGE = re.compile(r"^\s*(\d+)\s*>\s*(\d+)\s*$")

Deps = tuple[tuple[int, ...], ...]


class CallGraphError(ValueError):
    """A call graph that cannot run: a cycle, a bad edge, a bad size. The message says what and what is allowed."""

    def __init__(self, message: str, *, knob: str | None = None) -> None:
        super().__init__(message)
        self.knob = knob


def layered_graph(n_calls: int, depth: int) -> Deps:
    """Dependencies of ``n_calls`` calls in ``depth`` levels (module docstring).

    Raises
    ------
    CallGraphError
        ``n_calls`` below 1 or above :data:`MAX_CALLS`, ``depth`` below 1 or above ``n_calls``.
    """
    if int(n_calls) != n_calls or not 1 <= n_calls <= MAX_CALLS:
        raise CallGraphError(f"n_calls = {n_calls!r}; allowed: a whole number of calls from 1 to {MAX_CALLS}",
                             knob="n_calls")
    if int(depth) != depth or not 1 <= depth <= n_calls:
        raise CallGraphError(f"call_depth = {depth!r}: a graph of {n_calls} calls has 1 to {n_calls} levels; "
                             f"allowed: a whole number from 1 to {n_calls}", knob="call_depth")
    n, d = int(n_calls), int(depth)
    width = -(-n // d)
    level = [min(i // width, d - 1) for i in range(n)]
    if len(set(level)) < d:  # the levels ceil(n / d) wide leave the last ones empty: spread instead
        level = [i * d // n for i in range(n)]
    first = {lv: level.index(lv) for lv in range(d)}
    out: list[tuple[int, ...]] = []
    for i in range(n):
        lv = level[i]
        out.append(() if lv == 0 else tuple(range(first[lv - 1], first[lv])))
    return tuple(out)


def parse_call_graph(text: str) -> Deps:
    """Dependencies of an edge list ``"a>b,c>d"`` over calls ``0 .. n - 1`` (``n`` = the largest
    call named, plus one; a call named in no edge is written ``"k"`` alone).

    Raises
    ------
    CallGraphError
        An edge that is not ``<call>><call>``, more than :data:`MAX_CALLS` calls, a self-loop or
        a cycle (the cycle is named).
    """
    items = [s for s in str(text).replace(";", ",").split(",") if s.strip()]
    if not items:
        raise CallGraphError("call_graph: empty; allowed: edges '<call>><call>' separated by commas, calls "
                             "numbered from 0 (e.g. '0>2,1>2')", knob="call_graph")
    edges: list[tuple[int, int]] = []
    nodes: set[int] = set()
    for s in items:
        m = _EDGE.match(s)
        if m is None:
            if s.strip().isdigit():
                nodes.add(int(s))
                continue
            raise CallGraphError(f"call_graph: edge {s.strip()!r}; allowed: '<call>><call>' (call numbers from 0, "
                                 "e.g. '0>2'), or a lone call number", knob="call_graph")
        a, b = int(m.group(1)), int(m.group(2))
        if a == b:
            raise CallGraphError(f"call_graph: call {a} depends on itself ({a}>{b}), a cycle; allowed: a graph "
                                 "without cycles", knob="call_graph")
        edges.append((a, b))
        nodes |= {a, b}
    n = max(nodes) + 1
    if n > MAX_CALLS:
        raise CallGraphError(f"call_graph: {n} calls; allowed: up to {MAX_CALLS}", knob="call_graph")
    deps: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        if a not in deps[b]:
            deps[b].append(a)
    out = tuple(tuple(sorted(d)) for d in deps)
    topological_order(out)  # raises on a cycle
    return out


def topological_order(deps: Deps) -> tuple[int, ...]:
    """The calls in an order where every call comes after its dependencies (smallest ready first).

    Raises
    ------
    CallGraphError
        A cycle (one is named) or a dependency on a call that does not exist.
    """
    n = len(deps)
    for i, d in enumerate(deps):
        for j in d:
            if not 0 <= j < n:
                raise CallGraphError(f"call graph: call {i} depends on call {j}, which does not exist; allowed: "
                                     f"calls 0 to {n - 1}", knob="call_graph")
    indeg = [len(d) for d in deps]
    users: list[list[int]] = [[] for _ in range(n)]
    for i, d in enumerate(deps):
        for j in d:
            users[j].append(i)
    ready = sorted(i for i in range(n) if indeg[i] == 0)
    order: list[int] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
        ready.sort()
    if len(order) < n:
        raise CallGraphError(f"call graph: a cycle through calls {_cycle(deps, set(order))}; allowed: a graph "
                             "without cycles (a call cannot wait for itself)", knob="call_graph")
    return tuple(order)


def _cycle(deps: Deps, done: set[int]) -> str:
    """One cycle among the calls not in ``done``, as ``a > b > ... > a``."""
    start = next(i for i in range(len(deps)) if i not in done)
    path, seen = [start], {start: 0}
    while True:
        nxt = next(j for j in deps[path[-1]] if j not in done)
        if nxt in seen:
            cyc = path[seen[nxt]:] + [nxt]
            return " > ".join(str(c) for c in reversed(cyc))
        seen[nxt] = len(path)
        path.append(nxt)


def graph_depth(deps: Deps) -> int:
    """Calls on the longest dependency chain."""
    level = [0] * len(deps)
    for i in topological_order(deps):
        level[i] = 1 + max((level[j] for j in deps[i]), default=0)
    return max(level, default=0)


def finish_times(durations_s: ArrayLike, deps: Deps, ready_s: ArrayLike | None = None,
                 order: Sequence[int] | None = None) -> np.ndarray:
    """Finish time of every call, shape ``(n, *points)`` (module docstring).

    ``durations_s`` and ``ready_s`` have a leading axis of the ``n`` calls (or of 1: the same for
    every call); the other axes broadcast.
    """
    n = len(deps)
    d = np.asarray(durations_s, dtype=np.float64)
    r = np.zeros((1,)) if ready_s is None else np.asarray(ready_s, dtype=np.float64)
    for name, a in (("durations_s", d), ("ready_s", r)):
        if a.ndim == 0 or a.shape[0] not in (1, n):
            raise ValueError(f"{name}: shape {a.shape}; allowed: a leading axis of the {n} calls (or of 1)")
    shape = np.broadcast_shapes(d.shape[1:], r.shape[1:])
    d, r = np.broadcast_to(d, (n, *shape)), np.broadcast_to(r, (n, *shape))
    f = np.empty((n, *shape))
    for i in (order if order is not None else topological_order(deps)):
        start = r[i]
        for j in deps[i]:
            start = np.maximum(start, f[j])
        f[i] = start + d[i]
    return f


def critical_path_s(durations_s: ArrayLike, deps: Deps) -> np.ndarray:
    """Latency of the graph with unbounded parallelism: the longest path of durations."""
    return np.max(finish_times(durations_s, deps), axis=0)

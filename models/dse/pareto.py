"""Pareto fronts: a vectorized non-dominated filter, non-domination ranks and hypervolume.

Every function works on a matrix ``Y`` of shape ``(n_points, n_objectives)`` in which every
objective is to be *minimized*; :func:`to_minimization` flips maximized columns first. NaN
counts as the worst possible value (+inf). Equal points do not dominate each other, so
duplicates on the front are all kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from models.dse.space import DIRECTIONS, Objective

__all__ = [
    "feasible_mask",
    "hypervolume",
    "hypervolume_ratio",
    "nondominated_ranks",
    "pareto_front",
    "pareto_mask",
    "parse_objectives",
    "to_minimization",
]

_CHUNK = 512


def to_minimization(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """``(n, k)`` values with maximized columns negated and NaN replaced by +inf."""
    y = np.array(values, dtype=np.float64, copy=True).reshape(len(values), len(directions) if len(values) == 0 else -1)
    if y.shape[1] != len(directions):
        raise ValueError(f"{y.shape[1]} objective columns but {len(directions)} directions")
    for j, d in enumerate(directions):
        if d not in DIRECTIONS:
            raise ValueError(f"direction {d!r}; allowed: {', '.join(DIRECTIONS)}")
        if DIRECTIONS[d] == "maximize":
            y[:, j] = -y[:, j]
    y[np.isnan(y)] = np.inf
    return y


def _dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))``: True where a[i] dominates b[j] (<= everywhere, < somewhere)."""
    le = np.all(a[:, None, :] <= b[None, :, :], axis=2)
    lt = np.any(a[:, None, :] < b[None, :, :], axis=2)
    return le & lt


def _pareto_mask_2d(Y: np.ndarray) -> np.ndarray:
    """Two objectives in O(n log n). Sort lexicographically; every point before a point's group
    of duplicates is distinct from it and no worse in the first objective, so the point is
    dominated iff one of them has a second objective <= its own. Duplicates share a status."""
    n = Y.shape[0]
    order = np.lexsort((Y[:, 1], Y[:, 0]))
    s0, s1 = Y[order, 0], Y[order, 1]
    new = np.ones(n, bool)
    new[1:] = (s0[1:] != s0[:-1]) | (s1[1:] != s1[:-1])
    start = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    best_before = np.concatenate([[np.inf], np.minimum.accumulate(s1)[:-1]])[start]
    nd = (s1 < best_before) | (start == 0)
    mask = np.empty(n, bool)
    mask[order] = nd
    return mask


def pareto_mask(Y: np.ndarray) -> np.ndarray:
    """``(n,)`` True for the non-dominated rows of ``Y`` (minimization).

    Two objectives use an O(n log n) sweep. Otherwise rows are visited in lexicographic order,
    in chunks: a row can only be dominated by a row that sorts before it, so each chunk is
    compared (as one array operation) with the front found so far and with itself.
    """
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2-D (n_points, n_objectives), got shape {Y.shape}")
    n = Y.shape[0]
    mask = np.zeros(n, bool)
    if n == 0:
        return mask
    Y = np.where(np.isnan(Y), np.inf, Y)
    if Y.shape[1] == 2:
        return _pareto_mask_2d(Y)
    order = np.lexsort(Y.T[::-1])
    front = np.empty((0, Y.shape[1]))
    for s in range(0, n, _CHUNK):
        idx = order[s : s + _CHUNK]
        c = Y[idx]
        dom = _dominates(front, c).any(axis=0) if front.shape[0] else np.zeros(len(idx), bool)
        dom |= _dominates(c, c).any(axis=0)
        keep = idx[~dom]
        mask[keep] = True
        front = np.concatenate([front, Y[keep]])
    return mask


def nondominated_ranks(Y: np.ndarray) -> np.ndarray:
    """``(n,)`` non-domination rank of each row: 0 for the front, 1 for the next, ..."""
    Y = np.asarray(Y, dtype=np.float64)
    ranks = np.full(Y.shape[0], -1, dtype=np.int64)
    left = np.arange(Y.shape[0])
    r = 0
    while left.size:
        m = pareto_mask(Y[left])
        ranks[left[m]] = r
        left = left[~m]
        r += 1
    return ranks


def hypervolume(Y: np.ndarray, ref: Sequence[float] | np.ndarray) -> float:
    """Volume dominated by ``Y`` and bounded by the reference point ``ref`` (minimization).

    Points not strictly better than ``ref`` in every objective add nothing. Exact for any
    number of objectives (sweep in 2-D, slicing along the last objective above); meant for
    fronts of up to a few thousand points in 3-D.
    """
    ref = np.asarray(ref, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(-1, ref.size)
    Y = Y[np.all(Y < ref, axis=1)]
    if Y.shape[0] == 0:
        return 0.0
    Y = Y[pareto_mask(Y)]
    Y = np.unique(Y, axis=0)
    return float(_hv(Y, ref))


def _hv(Y: np.ndarray, ref: np.ndarray) -> float:
    k = Y.shape[1]
    if k == 1:
        return float(ref[0] - Y[:, 0].min())
    if k == 2:
        Y = Y[np.lexsort((Y[:, 1], Y[:, 0]))]
        ymin = np.minimum.accumulate(Y[:, 1])
        # each point contributes the strip from its x to the next x, at the best y so far
        x_next = np.append(Y[1:, 0], ref[0])
        return float(np.sum((x_next - Y[:, 0]) * (ref[1] - ymin)))
    # slice along the last objective: between consecutive z levels the covered (k-1)-D set is
    # the front of the points with z <= level
    Y = Y[np.argsort(Y[:, -1], kind="stable")]
    z = Y[:, -1]
    levels = np.append(np.unique(z), ref[-1])
    total = 0.0
    for a, b in zip(levels[:-1], levels[1:], strict=True):
        sub = Y[z <= a][:, :-1]
        sub = sub[pareto_mask(sub)]
        total += _hv(sub, ref[:-1]) * (b - a)
    return total


def hypervolume_ratio(
    Y_search: np.ndarray,
    Y_reference: np.ndarray,
    ref: Sequence[float] | None = None,
    margin: float = 0.1,
) -> tuple[float, np.ndarray]:
    """Hypervolume of a search front over that of a reference (exhaustive) front.

    ``ref`` defaults to the reference front's nadir plus ``margin`` times its range in every
    objective. Returns ``(ratio, ref)``.
    """
    Yr = np.asarray(Y_reference, dtype=np.float64)
    Yr = Yr[np.all(np.isfinite(Yr), axis=1)]
    Yr = Yr[pareto_mask(Yr)]
    if ref is None:
        lo, hi = Yr.min(axis=0), Yr.max(axis=0)
        span = np.where(hi > lo, hi - lo, np.abs(hi) + 1.0)
        ref_a = hi + margin * span
    else:
        ref_a = np.asarray(ref, dtype=np.float64)
    hv_ref = hypervolume(Yr, ref_a)
    if hv_ref <= 0:
        raise ValueError("the reference front has zero hypervolume for this reference point")
    return hypervolume(Y_search, ref_a) / hv_ref, ref_a


def feasible_mask(df: pl.DataFrame) -> pl.Series:
    """The ``feasible`` column of a results frame (all True without one).

    Raises ValueError when the column is not boolean (a damaged or foreign file).
    """
    if "feasible" not in df.columns:
        return pl.Series("feasible", [True] * df.height, dtype=pl.Boolean)
    col = df["feasible"]
    if col.dtype != pl.Boolean:
        raise ValueError(f"column 'feasible' holds {col.dtype} values; true/false values are required "
                         "(or leave the column out)")
    return col.fill_null(False)


def parse_objectives(specs: Sequence[str]) -> list[Objective]:
    """``["latency_s:min", "tokens_per_s:max"]`` -> objectives."""
    out = []
    for s in specs:
        name, sep, d = s.rpartition(":")
        if not sep or not name:
            raise ValueError(f"objective {s!r}: expected NAME:min or NAME:max")
        if d not in DIRECTIONS:
            raise ValueError(f"objective {s!r}: direction {d!r}; allowed: {', '.join(DIRECTIONS)}")
        out.append(Objective(metric=name, direction=DIRECTIONS[d]))
    return out


def pareto_front(
    df: pl.DataFrame,
    objectives: Sequence[Objective],
    *,
    feasible_only: bool = True,
    ranks: bool = False,
) -> pl.DataFrame:
    """The non-dominated rows of a results frame (feasible rows only, when it has ``feasible``).

    With ``ranks=True`` returns every (feasible) row with a ``pareto_rank`` column instead.
    """
    from models.dse.export import columns_text

    for o in objectives:
        if o.metric not in df.columns:
            raise KeyError(f"objective {o.metric!r} is not a column of the results; columns: {columns_text(df)}")
        if not df[o.metric].dtype.is_numeric():
            raise ValueError(f"objective {o.metric!r}: column of {df[o.metric].dtype} values; a numeric column is "
                             "required")
    if feasible_only and "feasible" in df.columns:
        df = df.filter(feasible_mask(df))
    Y = to_minimization(
        df.select([o.metric for o in objectives]).to_numpy(), [o.direction for o in objectives]
    )
    if ranks:
        return df.with_columns(pl.Series("pareto_rank", nondominated_ranks(Y)))
    return df.filter(pl.Series(pareto_mask(Y)))

"""Vectorized sweeps: a full grid (or a seeded random sample) evaluated in bounded chunks."""

from __future__ import annotations

import itertools
import sys
from typing import Any

import numpy as np
import polars as pl

from models.dse.evaluator import GroupModel, assemble, evaluate_points, split_parameters
from models.dse.space import DesignSpace, _frame

__all__ = ["sweep", "sample"]


def _progress(total: int, desc: str, progress: bool | None) -> Any:
    from tqdm import tqdm

    disable = (not sys.stderr.isatty()) if progress is None else (not progress)
    return tqdm(
        total=total, desc=desc, unit="pt", unit_scale=True, file=sys.stderr, disable=disable
    )


def _product_frame(params: list, grids: list) -> pl.DataFrame:
    if not params:
        return pl.DataFrame()
    rows = list(itertools.product(*grids))
    return _frame(params, {p.name: [r[i] for r in rows] for i, p in enumerate(params)})


def sweep(
    space: DesignSpace,
    *,
    chunk_size: int = 1 << 18,
    progress: bool | None = None,
    keep: str = "all",
    max_points: int | None = None,
) -> pl.DataFrame:
    """Evaluate the full grid of ``space``.

    The grid is ordered structural parameters (outermost), workload-row parameters, then
    hardware-row parameters (innermost), so each structural group is one table build and one
    target compile, and each chunk is a few contiguous runs of hardware rows.

    Parameters
    ----------
    space
        The design space.
    chunk_size
        Points evaluated at once; memory stays ``O(chunk_size x n_ops)`` whatever the grid size.
    progress
        Show a tqdm bar on stderr; ``None`` shows it only when stderr is a terminal.
    keep
        ``"all"`` returns every point; ``"feasible"`` only feasible ones; ``"none"`` returns an
        empty frame (benchmarks).
    max_points
        Refuse grids larger than this (ValueError) instead of running for hours.

    Returns
    -------
    polars.DataFrame
        Parameters (SI), metrics, ``constraint_<kind>`` columns and ``feasible``, one row per point.
    """
    if keep not in ("all", "feasible", "none"):
        raise ValueError(f"keep={keep!r}; allowed: all, feasible, none")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}; allowed: >= 1")
    struct, wrow, hrow = split_parameters(space)
    total = space.n_grid_points
    if max_points is not None and total > max_points:
        raise ValueError(
            f"grid of {space.name!r} has {total} points, more than max_points={max_points}"
        )
    s_grids = [p.grid() for p in struct]
    w_frame = _product_frame(wrow, [p.grid() for p in wrow])
    h_frame = _product_frame(hrow, [p.grid() for p in hrow])
    n_w, n_h = max(w_frame.height, 1), max(h_frame.height, 1)
    per_group = n_w * n_h
    w_np = {c: w_frame[c].to_numpy() for c in w_frame.columns}
    h_np = {c: h_frame[c].to_numpy() for c in h_frame.columns}
    parts: list[pl.DataFrame] = []
    cache: dict[Any, Any] = {}
    with _progress(total, f"sweep {space.name}", progress) as bar:
        for combo in itertools.product(*s_grids):
            s_vals = {
                p.name: _frame([p], {p.name: [v]})[p.name]
                for p, v in zip(struct, combo, strict=True)
            }
            model = GroupModel(
                space,
                {p.name: v for p, v in zip(struct, combo, strict=True)},
                w_frame,
                h_frame,
                cache=cache,
            )
            for s in range(0, per_group, chunk_size):
                e = min(per_group, s + chunk_size)
                flat = np.arange(s, e, dtype=np.int64)
                w_idx, h_idx = flat // n_h, flat % n_h
                m = model.run(w_idx, h_idx, kernel="blocked")
                bar.update(e - s)
                if keep == "none":
                    continue
                cols: dict[str, Any] = {}
                for p in space.parameters:
                    if p.name in s_vals:
                        cols[p.name] = s_vals[p.name].new_from_index(0, e - s)
                    elif p.name in w_np:
                        cols[p.name] = w_np[p.name][w_idx]
                    else:
                        cols[p.name] = h_np[p.name][h_idx]
                df = assemble(space, cols, m, n=e - s)
                if keep == "feasible":
                    df = df.filter(pl.col("feasible"))
                parts.append(df)
    if not parts:
        return assemble(space, _frame(space.parameters, {p.name: [] for p in space.parameters}), {})
    return pl.concat(parts, how="vertical")


def sample(
    space: DesignSpace,
    n: int,
    *,
    seed: int,
    chunk_size: int = 1 << 16,
    progress: bool | None = None,
) -> pl.DataFrame:
    """Evaluate ``n`` seeded random points of ``space`` (in chunks)."""
    if n < 0:
        raise ValueError(f"n={n}; allowed: >= 0")
    pts = space.sample_frame(n, seed)
    parts = []
    with _progress(n, f"sample {space.name}", progress) as bar:
        for s in range(0, max(n, 1), chunk_size):
            chunk = pts.slice(s, chunk_size)
            parts.append(evaluate_points(space, chunk))
            bar.update(chunk.height)
    return pl.concat(parts, how="vertical")

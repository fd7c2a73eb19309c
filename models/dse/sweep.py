"""Vectorized sweeps: a full grid (or a seeded random sample), streamed in bounded chunks.

The grid of a space is its structural groups (the product of its categorical parameters:
target, workload, formats...), and within a group the product of its numeric knob axes and its
hardware rows (the product of its target-field parameters, flattened into one axis). A chunk is
a product sub-grid: single values of the outer axes, a slice of one axis, all of the inner ones,
so that it holds at most ``chunk_size`` points. Each chunk is one
:func:`models.point.build_point` call, whose numeric knobs are arrays on their own axes, and one
:func:`models.perf.evaluate` call on the target compiled for the chunk's hardware rows (the last
axis): broadcasting prices the product, and a decode projection that depends on the batch only
is priced once per batch value. No grid is ever built in memory: chunks come from index
arithmetic, results stream to a Parquet file and to a running Pareto front, so memory is bounded
by the chunk size whatever the number of points.

Rows come out group by group, then in row-major order of (numeric knob axes in parameter order,
hardware rows in parameter order).
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.dse.evaluator import (
    Group,
    PlanCache,
    assemble,
    evaluate_group,
    evaluate_points,
    group_of,
    metric_arrays,
    split_parameters,
)
from models.dse.export import with_integer_parameters
from models.dse.pareto import pareto_front
from models.dse.space import DEFAULT_MAX_POINTS, DesignSpace, Parameter, SpaceError, _frame
from models.parallel.plan import ParallelError
from models.perf import CompiledTarget, compile_target

__all__ = ["DEFAULT_MAX_POINTS", "KEEP", "SweepLayout", "check_budget", "sample", "sweep", "sweep_chunks",
           "sweep_layout", "sweep_rows"]

KEEP = ("all", "feasible", "front", "none")
DEFAULT_CHUNK = 1 << 16


def check_budget(space: DesignSpace, max_points: int | None, *, n: int | None = None, what: str = "grid") -> int:
    """The number of points ``space``'s grid holds (or ``n``), refused above ``max_points``.

    ``max_points=None`` lifts the budget. Counting builds nothing (:attr:`DesignSpace.n_grid_points`),
    so a 10**12-point space is refused at once.

    Raises
    ------
    SpaceError
        Naming the space file, the number of points, the budget and how to change either.
    """
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int)
                                   or max_points < 1):
        raise ValueError(f"max_points = {max_points!r}; allowed: an integer >= 1, or None (no budget)")
    total = space.n_grid_points if n is None else n
    if max_points is not None and total > max_points:
        raise SpaceError(
            f"{space.source}: the {what} of {space.name!r} has {total:,} points, more than the budget of "
            f"{max_points:,} (max_points; default models.dse.DEFAULT_MAX_POINTS = {DEFAULT_MAX_POINTS:,}); "
            "lower n_grid or the values of its parameters, or raise the budget (tradespace sweep --max-points N)")
    return total


def _progress(total: int, desc: str, progress: bool | None) -> Any:
    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if progress is None else (not progress)
    return tqdm(total=total, desc=desc, unit="pt", unit_scale=True, file=sys.stderr, disable=disable)


@dataclass(frozen=True)
class _Grid:
    struct: list[Parameter]
    s_grids: list[list[Any]]
    knobs: list[Parameter]
    k_grids: list[np.ndarray]
    hw: list[Parameter]
    h_grids: list[np.ndarray]

    @property
    def n_h(self) -> int:
        return int(np.prod([g.size for g in self.h_grids], dtype=np.int64)) if self.hw else 1

    @property
    def dims(self) -> tuple[int, ...]:
        return (*(g.size for g in self.k_grids), self.n_h)

    @property
    def n_groups(self) -> int:
        return int(np.prod([len(g) for g in self.s_grids], dtype=np.int64)) if self.struct else 1


def _grid(space: DesignSpace) -> _Grid:
    struct, knobs, hw = split_parameters(space)
    return _Grid(struct=struct, s_grids=[list(p.grid()) for p in struct], knobs=knobs,
                 k_grids=[np.asarray(p.grid(), dtype=np.float64) for p in knobs], hw=hw,
                 h_grids=[np.asarray(p.grid(), dtype=np.float64) for p in hw])


def _chunks(dims: tuple[int, ...], chunk: int) -> Iterator[tuple[slice, ...]]:
    """Product sub-grids of ``dims`` of at most ``chunk`` points, in row-major order."""
    suffix = 1
    k = len(dims) - 1
    while k > 0 and suffix * dims[k] <= chunk:
        suffix *= dims[k]
        k -= 1
    # axes > k are whole; axis k is cut in pieces of `piece`; axes < k take one index at a time
    if suffix * dims[k] <= chunk:
        piece = dims[k]
    else:
        piece = max(1, chunk // suffix)
    outer = [range(d) for d in dims[:k]]
    for idx in itertools.product(*outer):
        for a in range(0, dims[k], piece):
            yield (*(slice(i, i + 1) for i in idx), slice(a, min(dims[k], a + piece)),
                   *(slice(0, d) for d in dims[k + 1:]))


def _hw_overrides(g: _Grid, rows: slice) -> dict[str, np.ndarray]:
    """Target-field values of hardware rows ``rows`` (flat indices into the product)."""
    if not g.hw:
        return {}
    flat = np.arange(rows.start, rows.stop, dtype=np.int64)
    idx = np.unravel_index(flat, tuple(x.size for x in g.h_grids))
    return {p.key: g.h_grids[j][idx[j]] for j, p in enumerate(g.hw)}


def sweep_chunks(space: DesignSpace, *, chunk_size: int = DEFAULT_CHUNK,
                 max_points: int | None = DEFAULT_MAX_POINTS) -> Iterator[pl.DataFrame]:
    """The evaluated grid of ``space`` as a stream of frames of at most ``chunk_size`` rows.

    Each frame holds the parameters (SI), the metrics, the ``constraint_<kind>`` columns and
    ``feasible`` (see :func:`models.dse.evaluate_points`). A grid of more than ``max_points``
    points is refused (:func:`check_budget`) before anything is built.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}; allowed: >= 1")
    check_budget(space, max_points)
    return _sweep_chunks(space, chunk_size)


def _sweep_chunks(space: DesignSpace, chunk_size: int) -> Iterator[pl.DataFrame]:
    # the whole grid is the range of all its rows: the local sweep and a cluster's parts share
    # one evaluation path (_sweep_range), block for block
    return _sweep_range(space, 0, sweep_layout(space, chunk_size).n_points, chunk_size)


@dataclass(frozen=True)
class SweepLayout:
    """Where the blocks of a sweep start, by index arithmetic (nothing is built).

    A sweep evaluates its grid in *blocks*: the product sub-grids of at most ``chunk_size``
    points that :func:`sweep_chunks` yields, group after group. Block ``b`` holds the rows
    ``[block_start(b), block_start(b + 1))`` of the sweep's row order (see the module
    docstring). A range of rows whose ends are block starts is evaluated block for block as
    the whole sweep evaluates it, so its results are the same to the last bit.
    """

    dims: tuple[int, ...]
    n_groups: int
    chunk_size: int
    k: int  # axes > k are whole in every block, axis k is cut in pieces, axes < k take one index
    suffix: int  # points of the whole axes > k
    piece: int  # indices of axis k per block

    @property
    def group_size(self) -> int:
        """Points of one structural group."""
        return math.prod(self.dims)

    @property
    def n_points(self) -> int:
        """Points of the grid."""
        return self.n_groups * self.group_size

    @property
    def _per_outer(self) -> int:
        return -(-self.dims[self.k] // self.piece) if self.piece else 0

    @property
    def blocks_per_group(self) -> int:
        """Blocks of one group."""
        return math.prod(self.dims[: self.k]) * self._per_outer if self.group_size else 0

    @property
    def n_blocks(self) -> int:
        """Blocks of the grid."""
        return self.n_groups * self.blocks_per_group

    def _start_in_group(self, j: int) -> int:
        o, q = divmod(j, self._per_outer)
        return o * self.dims[self.k] * self.suffix + min(q * self.piece, self.dims[self.k]) * self.suffix

    def block_start(self, b: int) -> int:
        """First row of block ``b`` (``n_points`` for ``b == n_blocks``)."""
        if not 0 <= b <= self.n_blocks:
            raise ValueError(f"block {b}; allowed: 0 to {self.n_blocks}")
        if b == self.n_blocks:
            return self.n_points
        gi, j = divmod(b, self.blocks_per_group)
        return gi * self.group_size + self._start_in_group(j)

    def _block_in_group(self, r: int) -> int:
        """The block of a group that holds row ``r`` of the group."""
        span = self.dims[self.k] * self.suffix
        o, w = divmod(r, span)
        return o * self._per_outer + (w // self.suffix) // self.piece

    def _slices(self, j: int) -> tuple[slice, ...]:
        """The product sub-grid of block ``j`` of a group (what _chunks yields j-th)."""
        o, q = divmod(j, self._per_outer)
        idx = np.unravel_index(o, self.dims[: self.k]) if self.k else ()
        a = q * self.piece
        return (*(slice(int(i), int(i) + 1) for i in idx), slice(a, min(self.dims[self.k], a + self.piece)),
                *(slice(0, d) for d in self.dims[self.k + 1:]))


def sweep_layout(space: DesignSpace, chunk_size: int = DEFAULT_CHUNK) -> SweepLayout:
    """The blocks :func:`sweep_chunks` evaluates ``space`` in (:class:`SweepLayout`)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}; allowed: >= 1")
    struct, knobs, hw = split_parameters(space)
    n_h = math.prod(p.n_values for p in hw)
    dims = (*(p.n_values for p in knobs), n_h)
    # the same cut as _chunks
    suffix = 1
    k = len(dims) - 1
    while k > 0 and suffix * dims[k] <= chunk_size:
        suffix *= dims[k]
        k -= 1
    piece = dims[k] if suffix * dims[k] <= chunk_size else max(1, chunk_size // suffix)
    return SweepLayout(dims=dims, n_groups=math.prod(p.n_values for p in struct), chunk_size=chunk_size,
                       k=k, suffix=suffix, piece=piece)


def sweep_rows(space: DesignSpace, start: int, stop: int, *,
               chunk_size: int = DEFAULT_CHUNK) -> Iterator[pl.DataFrame]:
    """Rows ``[start, stop)`` of the sweep of ``space``, evaluated, in the sweep's own order.

    The frames are those of :func:`sweep_chunks` (same columns, same row order) restricted to
    the range: with ``start`` and ``stop`` at block starts (:meth:`SweepLayout.block_start`)
    they are the very blocks the whole sweep evaluates, so a grid cut into such ranges and
    evaluated range by range (on a cluster, say) gives bit-identical rows. A range that cuts a
    block evaluates the cut block as a few smaller product sub-grids. No budget applies: the
    range itself bounds the work.
    """
    layout = sweep_layout(space, chunk_size)
    if not 0 <= start <= stop <= layout.n_points:
        raise ValueError(f"rows [{start}, {stop}) of a sweep of {layout.n_points} points; allowed: "
                         f"0 <= start <= stop <= {layout.n_points}")
    return _sweep_range(space, start, stop, chunk_size)


def _boxes(shape: tuple[int, ...], a: int, b: int) -> Iterator[tuple[slice, ...]]:
    """Product sub-grids covering the flat row-major range ``[a, b)`` of ``shape``, in order."""
    if a >= b:
        return
    if len(shape) == 1:
        yield (slice(a, b),)
        return
    inner = math.prod(shape[1:])
    whole = tuple(slice(0, d) for d in shape[1:])
    i0, r0 = divmod(a, inner)
    i1, r1 = divmod(b, inner)
    if i0 == i1:
        for s in _boxes(shape[1:], r0, r1):
            yield (slice(i0, i0 + 1), *s)
        return
    if r0:
        for s in _boxes(shape[1:], r0, inner):
            yield (slice(i0, i0 + 1), *s)
        i0 += 1
    if i1 > i0:
        yield (slice(i0, i1), *whole)
    if r1:
        for s in _boxes(shape[1:], 0, r1):
            yield (slice(i1, i1 + 1), *s)


def _sweep_range(space: DesignSpace, start: int, stop: int, chunk_size: int) -> Iterator[pl.DataFrame]:
    layout = sweep_layout(space, chunk_size)
    G = layout.group_size
    if start >= stop or G == 0:
        return
    g = _grid(space)
    sizes = tuple(len(x) for x in g.s_grids)
    for gi in range(start // G, (stop - 1) // G + 1):
        idx = [int(i) for i in np.unravel_index(gi, sizes)] if sizes else []
        svals = {p.name: g.s_grids[j][idx[j]] for j, p in enumerate(g.struct)}
        group: Group = group_of(space, svals)
        plans = PlanCache()
        compiled: dict[tuple[int, int], CompiledTarget] = {}
        lo, hi = max(start - gi * G, 0), min(stop - gi * G, G)
        for j in range(layout._block_in_group(lo), layout._block_in_group(hi - 1) + 1):
            sl = layout._slices(j)
            bs, be = layout._start_in_group(j), layout._start_in_group(j + 1)
            if lo <= bs and be <= hi:
                yield _evaluate_block(space, g, svals, group, sl, plans, compiled)
                continue
            # a block cut by the range: the part inside it, as product sub-grids of the block
            shape = tuple(s.stop - s.start for s in sl)
            for box in _boxes(shape, max(lo, bs) - bs, min(hi, be) - bs):
                sub = tuple(slice(s.start + x.start, s.start + x.stop) for s, x in zip(sl, box, strict=True))
                yield _evaluate_block(space, g, svals, group, sub, plans, compiled)


def _evaluate_block(space: DesignSpace, g: _Grid, svals: dict[str, Any], group: Group, sl: tuple[slice, ...],
                    plans: PlanCache, compiled: dict[tuple[int, int], CompiledTarget]) -> pl.DataFrame:
    """The evaluated product sub-grid ``sl`` of one group (one build_point, one evaluate call)."""
    dims = g.dims
    hrows = sl[-1]
    key = (hrows.start, hrows.stop)
    ct = compiled.get(key)
    if ct is None:
        compiled.clear()  # one hardware slice at a time keeps memory bounded
        plans.clear()
        ct = compiled[key] = compile_target(group.target, _hw_overrides(g, hrows))
    nd = len(dims)
    knob_vals = {}
    for j, p in enumerate(g.knobs):
        shape = [1] * nd
        vals = g.k_grids[j][sl[j]]
        shape[j] = vals.size
        knob_vals[p.sets] = vals.reshape(shape)
    cshape = tuple(s.stop - s.start for s in sl)
    try:
        r, err, area, mac = evaluate_group(space, group, knob_vals, ct, plans=plans)
        metrics = None
    except ParallelError:
        # parallel degrees this model or device count cannot take: the block's points are infeasible
        # (NaN metrics), as models.dse.evaluator.evaluate_points reports them
        metrics = {name: np.full(int(np.prod(cshape)), np.nan) for name in space.metrics()}
    if metrics is None and r.shape != cshape:  # a chunk whose values are all fixed (no numeric parameter)
        r = _expand(r, cshape)
        err, area = np.broadcast_to(err, cshape), np.broadcast_to(area, cshape)
    n = int(np.prod(cshape))
    cols: dict[str, Any] = {}
    hw_vals = _hw_overrides(g, hrows)
    for p in space.parameters:
        if p.name in svals:
            cols[p.name] = _frame([p], {p.name: [svals[p.name]]})[p.name].new_from_index(0, n)
        elif p.scope == "target_field":
            cols[p.name] = np.ascontiguousarray(np.broadcast_to(hw_vals[p.key], cshape)).reshape(-1)
        else:
            cols[p.name] = np.ascontiguousarray(np.broadcast_to(knob_vals[p.sets], cshape)).reshape(-1)
    # integer knobs stay integers in every output (CSV, Parquet, JSON)
    if metrics is None:
        metrics = metric_arrays(space, r, err, area, mac)
    return with_integer_parameters(assemble(space, cols, metrics, n=n), space)


def _expand(r: Any, shape: tuple[int, ...]) -> Any:
    from dataclasses import replace

    def b(v: np.ndarray) -> np.ndarray:
        return np.broadcast_to(v, shape)

    return replace(r, latency_s=b(r.latency_s), energy_J=b(r.energy_J), dynamic_energy_J=b(r.dynamic_energy_J),
                   static_energy_J=b(r.static_energy_J), stalled_energy_J=b(r.stalled_energy_J),
                   n_items=b(r.n_items), peak_memory_B=b(r.peak_memory_B),
                   memory_capacity_B=b(r.memory_capacity_B), n_points=int(np.prod(shape)),
                   phase_latency_s={k: b(v) for k, v in r.phase_latency_s.items()},
                   phase_energy_J={k: b(v) for k, v in r.phase_energy_J.items()})


def _empty(space: DesignSpace) -> pl.DataFrame:
    return with_integer_parameters(assemble(space, _frame(space.parameters, {p.name: [] for p in space.parameters}),
                                            {}), space)


def sweep(
    space: DesignSpace,
    *,
    out: str | Path | None = None,
    keep: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool | None = None,
    max_points: int | None = DEFAULT_MAX_POINTS,
    out_rows: str = "all",
) -> pl.DataFrame:
    """Evaluate the full grid of ``space``.

    Parameters
    ----------
    space
        The design space.
    out
        A ``.parquet`` or ``.csv`` file that receives the points as they are evaluated (written
        to a temporary file beside it and renamed at the end: an interrupted sweep leaves
        nothing behind; a destination that cannot be written is refused before the sweep).
    keep
        What the returned frame holds: ``"all"`` points, the ``"feasible"`` ones, the Pareto
        ``"front"`` of the feasible points under the space's objectives, or ``"none"``. Default:
        ``"all"`` without ``out``, ``"front"`` with it (memory then stays bounded by the chunk
        size and the front).
    chunk_size
        Points evaluated at once.
    progress
        Show a tqdm bar on stderr; ``None`` shows it only when stderr is a terminal.
    max_points
        Refuse grids larger than this (:class:`~models.dse.SpaceError`, before anything is
        built) instead of running for hours; ``None``: no budget.
    out_rows
        What ``out`` receives: ``"all"`` points or the ``"feasible"`` ones.

    Returns
    -------
    polars.DataFrame
        Parameters (SI), metrics, ``constraint_<kind>`` columns and ``feasible``, one row per
        kept point.
    """
    keep = keep or ("all" if out is None else "front")
    if keep not in KEEP:
        raise ValueError(f"keep={keep!r}; allowed: {', '.join(KEEP)}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}; allowed: >= 1")
    if out_rows not in ("all", "feasible"):
        raise ValueError(f"out_rows={out_rows!r}; allowed: all, feasible")
    stream: type[_ParquetStream] | type[_CsvStream] | None = None
    if out is not None:
        suffix = Path(out).suffix.lower()
        if suffix not in _STREAMS:
            raise ValueError(f"out={str(out)!r}: a sweep streams to {', '.join(_STREAMS)} (other formats: "
                             "models.dse.export of the returned frame)")
        stream = _STREAMS[suffix]
    total = check_budget(space, max_points)

    def run(writer: Any = None) -> pl.DataFrame:
        parts: list[pl.DataFrame] = []
        front: pl.DataFrame | None = None
        with _progress(total, f"sweep {space.name}", progress) as bar:
            for df in _sweep_chunks(space, chunk_size):
                if writer is not None:
                    writer.write(df if out_rows == "all" else df.filter(pl.col("feasible")))
                if keep == "all":
                    parts.append(df)
                elif keep == "feasible":
                    parts.append(df.filter(pl.col("feasible")))
                elif keep == "front":
                    f = pareto_front(df, space.objectives)
                    front = f if front is None else pareto_front(pl.concat([front, f]), space.objectives)
                bar.update(df.height)
        if keep == "front":
            return front if front is not None else _empty(space)
        if not parts:
            return _empty(space)
        return pl.concat(parts, how="vertical")

    if out is None or stream is None:
        return run()
    from models.io import atomic_write

    result: list[pl.DataFrame] = []

    def write(tmp: Path) -> None:
        with stream(tmp) as w:
            result.append(run(w))
            if w.n_writes == 0:  # no chunk at all: the columns, without rows
                w.write(_empty(space))

    atomic_write(out, write)
    return result[0]


class _ParquetStream:
    """Chunks appended to one Parquet file, one row group each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: Any = None
        self.n_rows = 0
        self.n_writes = 0

    def __enter__(self) -> _ParquetStream:
        return self

    def write(self, df: pl.DataFrame) -> None:
        import pyarrow.parquet as pq

        t = df.to_arrow()
        if self.writer is None:
            # dictionary encoding only for the text columns (categorical parameters): on floats it
            # costs more time than the rest of the sweep and saves little
            text = [f.name for f in t.schema if str(f.type) in ("string", "large_string", "string_view")]
            self.writer = pq.ParquetWriter(str(self.path), t.schema, compression="zstd", compression_level=1,
                                           use_dictionary=text)
        self.writer.write_table(t)
        self.n_rows += df.height
        self.n_writes += 1

    def __exit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()


class _CsvStream:
    """Chunks appended to one CSV file, the header once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh: Any = None
        self.n_rows = 0
        self.n_writes = 0

    def __enter__(self) -> _CsvStream:
        self.fh = open(self.path, "wb")  # noqa: SIM115 - closed in __exit__
        return self

    def write(self, df: pl.DataFrame) -> None:
        df.write_csv(self.fh, include_header=self.n_writes == 0)
        self.n_rows += df.height
        self.n_writes += 1

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()


_STREAMS: dict[str, type[_ParquetStream] | type[_CsvStream]] = {".parquet": _ParquetStream, ".csv": _CsvStream}


def sample(
    space: DesignSpace,
    n: int,
    *,
    seed: int,
    chunk_size: int = 1 << 16,
    progress: bool | None = None,
    max_points: int | None = DEFAULT_MAX_POINTS,
) -> pl.DataFrame:
    """Evaluate ``n`` seeded random points of ``space``, drawn and evaluated in chunks.

    The points depend on ``n`` and ``seed`` only (not on ``chunk_size``): they are drawn in
    blocks of :data:`_SAMPLE_BLOCK` from one generator. More than ``max_points`` points are
    refused before anything is drawn.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n={n!r}; allowed: an integer >= 0")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}; allowed: >= 1")
    check_budget(space, max_points, n=n, what="sample")
    rng = np.random.default_rng(seed)
    parts: list[pl.DataFrame] = []
    with _progress(n, f"sample {space.name}", progress) as bar:
        for s in range(0, n, _SAMPLE_BLOCK):
            m = min(_SAMPLE_BLOCK, n - s)
            block = _frame(space.parameters, {p.name: p.sample(m, rng) for p in space.parameters})
            for c in range(0, m, chunk_size):
                chunk = block.slice(c, chunk_size)
                parts.append(with_integer_parameters(evaluate_points(space, chunk), space))
                bar.update(chunk.height)
    if not parts:
        return _empty(space)
    return pl.concat(parts, how="vertical")


# Points drawn at once by sample(): fixed, so that the points do not depend on the chunk size.
_SAMPLE_BLOCK = 1 << 16


def grid_order(space: DesignSpace) -> Sequence[str]:
    """Parameter names in the order sweep rows vary: structural, numeric knobs, target fields."""
    struct, knobs, hw = split_parameters(space)
    return [p.name for p in (*struct, *knobs, *hw)]

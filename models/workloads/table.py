"""The operator table: what a workload asks of a target.

One row per distinct operator, with a repeat ``count`` (32 identical decoder layers are one
row with count 32). Static facts about each operator (name, phase, kind, datatypes) are
columns of a small polars frame, ``meta``. Everything a knob can change (shapes, FLOPs, bytes,
counts) is numeric and held *per operator*: ``columns[i][field]`` is an array that broadcasts
to the table's point shape ``shape``.

Each operator keeps the shape its values really have. Built for a grid of batch sizes (axis 0)
and context lengths (axis 1), a decode projection depends on the batch only and stays
``(n_batch, 1)``, while attention is ``(n_batch, n_context)``; the perf model prices each
operator at its own shape and broadcasts only the sums. Nothing is copied to a common shape
unless asked for (:attr:`OperatorTable.arrays`).

Conventions
-----------
- ``flop`` counts operations in the compute datatype, two per multiply-accumulate (MAC).
  ``mac`` is derived (``flop / 2`` for gemm/gemv/conv kinds).
- Bytes are per operator instance, per operand: weights read, activations read and
  written, KV cache read and written.
- ``footprint_B`` is the working set of one instance; the perf model puts an operator's
  traffic at the innermost memory level that holds it.
- A table of one design point has shape ``()``; of a list of ``P`` points ``(P,)``; of a grid
  any shape. Legacy code that indexes ``(points, operators)`` arrays uses :attr:`arrays`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from models.hardware.dtypes import DTYPE_INDEX, DTYPES
from models.workloads.kinds import MAC_KINDS, OP_KINDS, PHASES

__all__ = ["ARRAY_FIELDS", "BYTES_MEMO", "BYTE_FIELDS", "FUSED_TAG", "META_COLUMNS", "PHASES", "PIPELINED_TAG",
           "OperatorTable", "broadcast_shape", "concat_tables", "fused_hosts", "fused_name"]

META_COLUMNS = ("name", "phase", "kind", "compute_dtype", "weight_dtype", "act_dtype", "kv_dtype",
                "acc_dtype")
# Numeric per-(point, operator) fields, with their units.
ARRAY_FIELDS: dict[str, str] = {
    "count": "count",  # repeats of this operator per workload run
    "m": "count",  # GEMM view of the shape: output rows (tokens x batch, output pixels x batch)
    "n": "count",  # output columns (output features/channels)
    "k": "count",  # reduction length (input features, in_ch/groups x kh x kw)
    "flop": "FLOP",  # operations per instance (2 per MAC)
    "n_params": "count",  # weight elements per instance
    "weight_read_B": "B",
    "act_read_B": "B",
    "act_write_B": "B",
    "kv_read_B": "B",
    "kv_write_B": "B",
    "footprint_B": "B",
}
BYTE_FIELDS = ("weight_read_B", "act_read_B", "act_write_B", "kv_read_B", "kv_write_B")
# Optional key of a column: (the five byte-field arrays, their sum) when a builder computed the
# sum anyway; used only while the column still holds those very arrays.
BYTES_MEMO = "_bytes_B"
_KIND_INDEX = {k: i for i, k in enumerate(OP_KINDS)}

Column = Mapping[str, np.ndarray]


FUSED_TAG = ":fused:"
"""Marks an operator row whose work runs inside another operator's kernel (see :func:`fused_name`)."""
PIPELINED_TAG = ":pipelined:"
"""Marks an operator row that runs on its own unit beside another operator (see :func:`fused_name`)."""
_TAG_RE = re.compile(r"\[[^\[\]]*(?:" + re.escape(FUSED_TAG) + "|" + re.escape(PIPELINED_TAG) + r")[^\[\]]*\]")


def fused_name(host: str, what: str, dtype: str, *, pipelined: bool = False) -> str:
    """The name of a row of ``what`` work in ``dtype`` that runs with the row named ``host``:
    ``host[what:fused:dtype]``, or ``host[what:pipelined:dtype]``.

    - fused: inside the host's kernel, its instructions issued by the same schedulers (a low-bit
      GEMM's in-register dequantization): its compute time adds to the host's.
    - pipelined: on a unit of its own that works on the host's tiles as they are produced (FLAT's
      1D softmax array beside its 2D matmul array): the pair takes the larger compute time.

    Either row keeps its own kind, datatype, operations and energy and moves no bytes of its own;
    the memory time and the overhead of the host overlap the combined compute as usual, and the
    row counts no kernel launch (:func:`models.perf.evaluate`). Its host is the one row before it
    in the same phase whose name is the row's name without the bracket (two such rows are refused
    as ambiguous), so a suffix added to both names later keeps the pair.
    """
    return f"{host}[{what}{PIPELINED_TAG if pipelined else FUSED_TAG}{dtype}]"


def fused_hosts(meta: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per operator row of ``meta``: the index of the row it runs with (:func:`fused_name`), or -1,
    and whether it is pipelined beside that row (else fused into its kernel). Raises ValueError
    for such a row with no host before it, or with several."""
    names, phases = meta["name"].to_list(), meta["phase"].to_list()
    out = np.full(len(names), -1, dtype=np.int64)
    piped = np.zeros(len(names), dtype=bool)
    rows: dict[tuple[str, str], list[int]] | None = None  # (name, phase) -> row indices, built on first use
    for o, nm in enumerate(names):
        if FUSED_TAG not in nm and PIPELINED_TAG not in nm:
            continue
        mt = _TAG_RE.search(nm)
        if mt is None:
            continue
        if rows is None:
            rows = {}
            for i, key in enumerate(zip(names, phases, strict=True)):
                rows.setdefault(key, []).append(i)
        host = nm[:mt.start()] + nm[mt.end():]
        before = [i for i in rows.get((host, phases[o]), []) if i < o]
        if not before:
            raise ValueError(f"operator {nm!r} runs with {host!r}, but no operator of that name comes before it "
                             f"in phase {phases[o]!r}")
        if len(before) > 1:
            raise ValueError(f"operator {nm!r} runs with {host!r}, but {len(before)} operators of phase "
                             f"{phases[o]!r} have that name; a fused or pipelined row needs a host of its own name")
        j = before[0]
        out[o] = j
        piped[o] = PIPELINED_TAG in mt.group(0)
    return out, piped


def broadcast_shape(shapes: Any) -> tuple[int, ...]:
    """The broadcast of a collection of shapes (ValueError if they do not broadcast)."""
    distinct = {tuple(s) for s in shapes} - {()}
    if not distinct:
        return ()
    if len(distinct) == 1:
        return next(iter(distinct))
    return tuple(np.broadcast_shapes(*distinct))


def _f64(v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a


@dataclass(frozen=True, kw_only=True)
class OperatorTable:
    """Operators of one workload, for one or many design points.

    Attributes
    ----------
    workload
        Name of the workload (``"llama-2-7b"``).
    meta
        polars frame with one row per operator and the columns :data:`META_COLUMNS`.
    columns
        One mapping per operator: every key of :data:`ARRAY_FIELDS` -> float64 array that
        broadcasts to :attr:`shape`.
    peak_memory_B
        ``phase -> array`` broadcasting to :attr:`shape`: weights + KV cache + live activations.
    n_items
        Items produced per run (tokens generated, images), broadcasting to :attr:`shape`.
    item_name
        What an item is (``"token"``, ``"image"``, ``"sample"``).
    knobs
        The workload knob values the table was built for.
    stored_params
        Parameters the model stores, when the builder knows them (each weight once, whatever
        the phases and repeat counts); see :meth:`total_params`.
    memory_parts_B
        ``phase -> {part: bytes}`` when the builder knows what the resident memory is made of:
        ``"weights"``, ``"kv_cache"``, ``"activations"`` (and for training ``"gradients"``,
        ``"optimizer_state"``); the parts of a phase sum to its ``peak_memory_B``.
    host_dispatch_s, host_overlap
        Host time to dispatch one operator instance (s) and whether the host runs ahead of the
        device (asynchronous launch), set by the ``launch_mode`` algorithm knob
        (:mod:`models.algorithms.launch`); the default (0 s) is a CUDA-graph step.
    fresh_outputs
        Each operator's result is a new buffer from the runtime's allocator (eager PyTorch, numpy
        expressions): on a target that declares ``first_touch_threshold`` / ``first_touch_bandwidth``
        an output at least the threshold pays the OS's first touch of its pages
        (:meth:`models.perf.roofline.Plan.overhead_of`). False: results go to buffers planned ahead
        (a graph runtime's arena, ``out=`` arguments). Set by the ``output_buffers`` knob.
    collectives, comm_overlap, allreduce_algorithm, collective_base_latency_s, n_devices, pipeline_fill
        A multi-device plan's share (:mod:`models.parallel.plan`): the collectives of one device per
        run, the fraction of the shorter of compute and communication hidden under the other
        (0: in series), the all-reduce algorithm, the fixed cost of one ring / tree collective call
        (None: NCCL's), the node size and scale-out link (a ``data/links.toml`` name) of the
        placement and the all-to-all algorithm (``node_devices``, ``scaleout_link``,
        ``all_to_all_algorithm``; None: one domain), the devices of one unit (the table is one device's
        share; results report the unit's energy) and the share of a pipeline step a device computes
        (its dynamic energy; the rest is the pipeline bubble). One device: none, 0, ring, 1, 1.
    concurrent_pim
        The table holds two independent sub-batches (NeuPIMs sub-batch interleaving,
        ``pim_concurrency = "interleaved"``): a target's PIM engines run one sub-batch's operators
        while its other engines run the other's, so a phase takes the larger of the two sides'
        times instead of their sum (:func:`models.perf.evaluate`); a bool, or a bool array over the
        design points (a batch of one is not split). False: every operator in series.
    """

    workload: str
    meta: pl.DataFrame
    columns: tuple[Column, ...]
    peak_memory_B: Mapping[str, np.ndarray]
    n_items: np.ndarray
    item_name: str
    knobs: Mapping[str, np.ndarray] = field(default_factory=dict)
    stored_params: float | None = None
    memory_parts_B: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    host_dispatch_s: float = 0.0
    host_overlap: bool = True
    fresh_outputs: bool = True
    collectives: tuple[Any, ...] = ()
    comm_overlap: float = 0.0
    allreduce_algorithm: str = "ring"
    collective_base_latency_s: float | None = None
    node_devices: int | None = None
    scaleout_link: str | None = None
    all_to_all_algorithm: str = "flat"
    n_devices: int = 1
    pipeline_fill: np.ndarray = field(default_factory=lambda: np.ones(()))
    concurrent_pim: Any = False

    def __post_init__(self) -> None:
        # totals are at least 1-D (a table of one point has n_items of shape (1,))
        object.__setattr__(self, "n_items", np.atleast_1d(np.asarray(self.n_items, dtype=np.float64)))
        object.__setattr__(self, "peak_memory_B", {p: np.atleast_1d(np.asarray(v, dtype=np.float64))
                                                   for p, v in self.peak_memory_B.items()})
        missing = [c for c in META_COLUMNS if c not in self.meta.columns]
        if missing:
            raise ValueError(f"operator table meta lacks columns {missing}")
        if len(self.columns) != self.meta.height:
            raise ValueError(f"operator table has {self.meta.height} meta rows but {len(self.columns)} columns")
        for i, col in enumerate(self.columns):
            lack = [k for k in ARRAY_FIELDS if k not in col]
            if lack:
                raise ValueError(f"operator {self.meta['name'][i]!r} lacks fields {lack}")
        bad_kind = set(self.meta["kind"].to_list()) - set(OP_KINDS)
        if bad_kind:
            raise ValueError(f"unknown operator kinds {sorted(bad_kind)}; allowed: {', '.join(OP_KINDS)}")
        bad_phase = set(self.meta["phase"].to_list()) - set(PHASES)
        if bad_phase:
            raise ValueError(f"unknown phases {sorted(bad_phase)}; allowed: {', '.join(PHASES)}")
        for mc in ("compute_dtype", "weight_dtype", "act_dtype", "kv_dtype", "acc_dtype"):
            bad = set(self.meta[mc].to_list()) - set(DTYPES) - {""}
            if bad:
                raise ValueError(f"unknown datatypes in {mc}: {sorted(bad)}; allowed: {', '.join(DTYPES)}")
        try:
            self.shape  # noqa: B018 - the shapes must broadcast
        except ValueError:
            raise ValueError(f"operator table {self.workload!r}: the operators' values do not broadcast to "
                             "one point shape") from None

    @classmethod
    def from_arrays(cls, *, workload: str, meta: pl.DataFrame, arrays: Mapping[str, np.ndarray],
                    peak_memory_B: Mapping[str, Any], n_items: Any, item_name: str,
                    knobs: Mapping[str, Any] | None = None, stored_params: float | None = None) -> OperatorTable:
        """A table from ``field -> (..., n_ops)`` arrays (the last axis is the operator)."""
        n_ops = meta.height
        cols: list[dict[str, np.ndarray]] = [{} for _ in range(n_ops)]
        for k in ARRAY_FIELDS:
            if k not in arrays:
                raise ValueError(f"operator table lacks array {k!r}")
            a = _f64(arrays[k])
            if a.ndim == 0 or a.shape[-1] != n_ops:
                raise ValueError(f"array {k!r} must have shape (..., {n_ops}), got {a.shape}")
            for i in range(n_ops):
                cols[i][k] = a[..., i]
        return cls(workload=workload, meta=meta, columns=tuple(cols),
                   peak_memory_B={p: _f64(v) for p, v in peak_memory_B.items()}, n_items=_f64(n_items),
                   item_name=item_name, knobs=dict(knobs or {}), stored_params=stored_params)

    # ------------------------------------------------------------------ shape
    @property
    def n_ops(self) -> int:
        return self.meta.height

    @functools.cached_property
    def shape(self) -> tuple[int, ...]:
        """The point shape every value broadcasts to (``()`` for one design point)."""
        shapes = {c[k].shape for c in self.columns for k in ARRAY_FIELDS}
        shapes |= {np.shape(v) for v in self.peak_memory_B.values()} | {np.shape(self.n_items)}
        return broadcast_shape(shapes)

    @property
    def points_shape(self) -> tuple[int, ...]:
        """:attr:`shape`, at least one-dimensional (the legacy ``(n_points,)``)."""
        return self.shape if self.shape else (1,)

    @property
    def n_points(self) -> int:
        """Number of design points (the product of :attr:`shape`)."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    def field(self, name: str) -> list[np.ndarray]:
        """One field of every operator (arrays of each operator's own shape)."""
        if name not in ARRAY_FIELDS:
            raise KeyError(f"unknown field {name!r}; allowed: {', '.join(ARRAY_FIELDS)}")
        return [c[name] for c in self.columns]

    def column_bytes_B(self, i: int) -> np.ndarray:
        """Bytes moved by one instance of operator ``i`` (sum of the byte fields)."""
        c = self.columns[i]
        memo = c.get(BYTES_MEMO)
        if memo is not None and all(c[k] is a for k, a in zip(BYTE_FIELDS, memo, strict=False)):
            return memo[-1]
        out = c["weight_read_B"]
        for k in BYTE_FIELDS[1:]:
            v = c[k]
            if v.ndim or v != 0.0:  # most operators move no KV cache: skip adding zeros
                out = out + v
        return out

    def _stack(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        nd = len(self.points_shape)
        shp = np.broadcast_shapes((1,) * nd, *[np.shape(p) for p in parts]) if parts else (1,) * nd
        if not parts:
            return np.zeros((*shp, 0))
        return np.stack([np.broadcast_to(p, shp) for p in parts], axis=-1)

    @functools.cached_property
    def arrays(self) -> Mapping[str, np.ndarray]:
        """``field -> (*shape or 1s, n_ops)``: the values copied to one array per field.

        A field the same for every point keeps length-1 point axes (``(1, n_ops)`` for a list of
        points). For reading and legacy code; the perf model reads :attr:`columns`.
        """
        return {k: self._stack(self.field(k)) for k in ARRAY_FIELDS}

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    # ------------------------------------------------------------------ derived
    @property
    def bytes_B(self) -> np.ndarray:
        """Total bytes moved per instance, ``(*shape or 1s, n_ops)``."""
        return self._stack([self.column_bytes_B(i) for i in range(self.n_ops)])

    @property
    def mac(self) -> np.ndarray:
        """Multiply-accumulates per instance (``flop / 2`` for MAC-based kinds, else 0)."""
        kinds = self.meta["kind"].to_list()
        return self._stack([c["flop"] / 2.0 if kinds[i] in MAC_KINDS else 0.0 * c["flop"]
                            for i, c in enumerate(self.columns)])

    @property
    def compute_dtype_index(self) -> np.ndarray:
        return np.array([DTYPE_INDEX[d] for d in self.meta["compute_dtype"].to_list()], dtype=np.int64)

    @property
    def kind_index(self) -> np.ndarray:
        return np.array([_KIND_INDEX[k] for k in self.meta["kind"].to_list()], dtype=np.int64)

    def total(self, fld: str, phase: str | Sequence[str] | None = None) -> np.ndarray:
        """Sum of ``count x field`` over operators (optionally of some phases), at least 1-D.

        ``fld`` is a key of :data:`ARRAY_FIELDS`, ``"bytes_B"`` or ``"mac"``.
        """
        phases = None if phase is None else ((phase,) if isinstance(phase, str) else tuple(phase))
        ph = self.meta["phase"].to_list()
        kinds = self.meta["kind"].to_list()
        out: np.ndarray = np.zeros(1)
        for i, c in enumerate(self.columns):
            if phases is not None and ph[i] not in phases:
                continue
            if fld == "bytes_B":
                v = self.column_bytes_B(i)
            elif fld == "mac":
                v = c["flop"] / 2.0 if kinds[i] in MAC_KINDS else 0.0 * c["flop"]
            else:
                v = c[fld]
            out = out + c["count"] * v
        return np.atleast_1d(out)

    def total_params(self) -> np.ndarray:
        """Parameters of the model (weights counted once), at least 1-D.

        The builder's ``stored_params`` when given (LLM builders give it: a decode table's
        counts include every generated token). Otherwise the weights of the first phase present
        (prefill or forward): backward/update phases re-read the same weights.
        """
        if self.stored_params is not None:
            return np.atleast_1d(np.asarray(self.stored_params, dtype=np.float64))
        phases = self.meta["phase"].unique(maintain_order=True).to_list()
        first = "prefill" if "prefill" in phases else ("forward" if "forward" in phases else phases[0])
        return self.total("n_params", first)

    def peak_memory(self) -> np.ndarray:
        """Largest resident memory over the phases (B), at least 1-D."""
        out: np.ndarray = np.zeros(1)
        for v in self.peak_memory_B.values():
            out = np.maximum(out, v)
        return np.atleast_1d(out)

    # ------------------------------------------------------------------ transforms
    def select(self, mask: np.ndarray | Sequence[bool]) -> OperatorTable:
        """The operators where ``mask`` is true."""
        m = np.asarray(mask, dtype=bool)
        if m.shape != (self.n_ops,):
            raise ValueError(f"select: mask of shape {m.shape}; expected ({self.n_ops},)")
        keep = np.flatnonzero(m)
        return replace(self, meta=self.meta[keep.tolist()] if keep.size else self.meta.clear(),
                       columns=tuple(self.columns[i] for i in keep.tolist()))

    def phase(self, *phases: str) -> OperatorTable:
        """Only the operators of the given phases."""
        for p in phases:
            if p not in PHASES:
                raise ValueError(f"unknown phase {p!r}; allowed: {', '.join(PHASES)}")
        return self.select(np.isin(self.meta["phase"].to_numpy(), phases))

    def with_arrays(self, **arrays: np.ndarray | Sequence[Any]) -> OperatorTable:
        """A copy with some fields replaced.

        Each value is an array whose last axis is the operator (``(n_ops,)`` gives one number
        per operator, ``(..., n_ops)`` values per point), or a sequence of ``n_ops`` per-operator
        arrays (each broadcasting to the point shape).
        """
        cols = [dict(c) for c in self.columns]
        for k, v in arrays.items():
            if k not in ARRAY_FIELDS:
                raise KeyError(f"unknown array {k!r}; allowed: {', '.join(ARRAY_FIELDS)}")
            if isinstance(v, np.ndarray):
                a = _f64(v)
                if a.ndim == 0 or a.shape[-1] != self.n_ops:
                    raise ValueError(f"with_arrays {k!r}: shape {a.shape}; the last axis must be the "
                                     f"{self.n_ops} operators")
                for i in range(self.n_ops):
                    cols[i][k] = a[..., i]
            else:
                seq = list(v)
                if len(seq) != self.n_ops:
                    raise ValueError(f"with_arrays {k!r}: {len(seq)} values for {self.n_ops} operators")
                for i, x in enumerate(seq):
                    cols[i][k] = _f64(x)
        return replace(self, columns=tuple(cols))

    def with_meta(self, **columns: Sequence[str] | str) -> OperatorTable:
        """A copy with meta columns replaced (a string sets the whole column)."""
        meta = self.meta.with_columns(
            [pl.lit(v).alias(k) if isinstance(v, str) else pl.Series(k, list(v), dtype=pl.String)
             for k, v in columns.items()]
        )
        return replace(self, meta=meta)

    def with_trailing_axis(self) -> OperatorTable:
        """The same table with a length-1 point axis appended to every array.

        A table built for ``W`` workload points (shape ``(W,)``) becomes ``(W, 1)``, so it
        broadcasts against ``H`` hardware points on the last axis: ``(W, H)``.
        """
        def up(a: np.ndarray) -> np.ndarray:
            return a.reshape(*a.shape, 1) if a.ndim else a

        return replace(self, columns=tuple({k: up(c[k]) for k in ARRAY_FIELDS} for c in self.columns),
                       peak_memory_B={p: up(v) for p, v in self.peak_memory_B.items()}, n_items=up(self.n_items),
                       memory_parts_B={p: {k: up(np.asarray(v)) for k, v in d.items()}
                                       for p, d in self.memory_parts_B.items()})

    def point(self, i: int) -> OperatorTable:
        """The table of one design point (``i`` indexes the flattened :attr:`shape`), shape ``(1,)``."""
        shp = self.points_shape
        idx = np.unravel_index(int(i), shp)

        def pick(a: Any) -> np.ndarray:
            a = np.asarray(a, dtype=np.float64)
            a = a.reshape((1,) * (len(shp) - a.ndim) + a.shape)
            return np.asarray(a[tuple(j if n > 1 else 0 for j, n in zip(idx, a.shape, strict=True))]).reshape(1)

        return replace(
            self,
            columns=tuple({k: pick(c[k]) for k in ARRAY_FIELDS} for c in self.columns),
            peak_memory_B={k: pick(v) for k, v in self.peak_memory_B.items()},
            n_items=pick(self.n_items),
            memory_parts_B={p: {k: pick(v) for k, v in d.items()} for p, d in self.memory_parts_B.items()},
            knobs={k: pick(v) if np.size(v) > 1 else np.atleast_1d(v) for k, v in self.knobs.items()},
            collectives=tuple(replace(c, bytes_B=pick(c.bytes_B), count=pick(c.count)) for c in self.collectives),
            pipeline_fill=pick(self.pipeline_fill),
        )

    def frame(self, point: int = 0) -> pl.DataFrame:
        """One design point as a tidy polars frame, one row per operator, unit-suffixed columns."""
        p = self.point(point) if self.n_points > 1 else self
        cols: dict[str, np.ndarray] = {k: np.array([float(np.asarray(c[k]).reshape(-1)[0]) for c in p.columns])
                                       for k in ARRAY_FIELDS}
        cols["bytes_B"] = sum((cols[k] for k in BYTE_FIELDS), np.zeros(self.n_ops))
        is_mac = np.isin(self.meta["kind"].to_numpy(), MAC_KINDS)
        cols["mac"] = np.where(is_mac, cols["flop"] / 2.0, 0.0)
        cols["intensity_FLOP_per_B"] = np.divide(cols["flop"], cols["bytes_B"],
                                                 out=np.full_like(cols["flop"], np.inf), where=cols["bytes_B"] > 0)
        return self.meta.with_columns([pl.Series(k, v) for k, v in cols.items()])


def concat_tables(tables: Sequence[OperatorTable], workload: str | None = None) -> OperatorTable:
    """Join operator tables of the same design points (for example prefill + decode)."""
    if not tables:
        raise ValueError("concat_tables needs at least one table")
    peak: dict[str, np.ndarray] = {}
    for t in tables:
        for ph, v in t.peak_memory_B.items():
            peak[ph] = np.maximum(peak[ph], v) if ph in peak else v
    knobs: dict[str, np.ndarray] = {}
    for t in tables:
        knobs.update(t.knobs)
    stored = next((t.stored_params for t in tables if t.stored_params is not None), None)
    parts: dict[str, Mapping[str, np.ndarray]] = {}
    for t in tables:
        for ph, d in t.memory_parts_B.items():
            parts.setdefault(ph, d)
    parts = {ph: d for ph, d in parts.items() if ph in peak}
    return OperatorTable(workload=workload or tables[0].workload,
                         meta=pl.concat([t.meta for t in tables], how="vertical"),
                         columns=tuple(c for t in tables for c in t.columns), peak_memory_B=peak,
                         n_items=tables[-1].n_items, item_name=tables[-1].item_name, knobs=knobs,
                         stored_params=stored, memory_parts_B=parts, host_dispatch_s=tables[0].host_dispatch_s,
                         host_overlap=tables[0].host_overlap, fresh_outputs=tables[0].fresh_outputs,
                         collectives=tuple(c for t in tables for c in t.collectives),
                         comm_overlap=tables[0].comm_overlap, allreduce_algorithm=tables[0].allreduce_algorithm,
                         collective_base_latency_s=tables[0].collective_base_latency_s,
                         node_devices=tables[0].node_devices, scaleout_link=tables[0].scaleout_link,
                         all_to_all_algorithm=tables[0].all_to_all_algorithm,
                         n_devices=tables[0].n_devices, pipeline_fill=tables[0].pipeline_fill)

"""The operator table: what a workload asks of a target.

One row per distinct operator, with a repeat ``count`` (32 identical decoder layers are one
row with count 32). Static facts about each operator (name, phase, kind, datatypes) are
columns of a small polars frame, ``meta``. Everything a workload knob can change (shapes,
FLOPs, bytes, counts) is a numpy array of shape ``(n_points, n_ops)``, or ``(1, n_ops)`` when
it is the same for every design point, so one table covers many design points and the perf
model broadcasts over them.

Conventions
-----------
- ``flop`` counts operations in the compute datatype, two per multiply-accumulate (MAC).
  ``mac`` is derived (``flop / 2`` for gemm/gemv/conv kinds).
- Bytes are per operator instance, per operand: weights read, activations read and
  written, KV cache read and written.
- ``footprint_B`` is the working set of one instance; the perf model puts an operator's
  traffic at the innermost memory level that holds it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from models.hardware.dtypes import DTYPE_INDEX, DTYPES
from models.hardware.schema import OP_KINDS

__all__ = ["ARRAY_FIELDS", "META_COLUMNS", "PHASES", "OperatorTable", "concat_tables"]

PHASES = ("prefill", "decode", "forward", "backward", "update")
META_COLUMNS = ("name", "phase", "kind", "compute_dtype", "weight_dtype", "act_dtype", "kv_dtype",
                "acc_dtype")
# Numeric per-(point, operator) arrays, with their units.
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
_BYTES = ("weight_read_B", "act_read_B", "act_write_B", "kv_read_B", "kv_write_B")
_MAC_KINDS = ("gemm", "gemv", "conv", "dwconv", "attention")


@dataclass(frozen=True, kw_only=True)
class OperatorTable:
    """Operators of one workload, for one or many design points.

    Attributes
    ----------
    workload
        Name of the workload (``"llama-2-7b"``).
    meta
        polars frame with one row per operator and the columns :data:`META_COLUMNS`.
    arrays
        ``field -> ndarray (n_points or 1, n_ops)`` for every key of :data:`ARRAY_FIELDS`.
    peak_memory_B
        ``phase -> ndarray (n_points or 1,)``: weights + KV cache + live activations.
    n_items
        Items produced per run, per point (tokens generated, images), ``(n_points or 1,)``.
    item_name
        What an item is (``"token"``, ``"image"``, ``"sample"``).
    knobs
        The workload knob arrays the table was built for, each ``(n_points,)`` or scalar.
    stored_params
        Parameters the model stores, when the builder knows them (each weight once, whatever
        the phases and repeat counts); see :meth:`total_params`.
    """

    workload: str
    meta: pl.DataFrame
    arrays: Mapping[str, np.ndarray]
    peak_memory_B: Mapping[str, np.ndarray]
    n_items: np.ndarray
    item_name: str
    knobs: Mapping[str, np.ndarray] = field(default_factory=dict)
    stored_params: float | None = None

    def __post_init__(self) -> None:
        missing = [c for c in META_COLUMNS if c not in self.meta.columns]
        if missing:
            raise ValueError(f"operator table meta lacks columns {missing}")
        n_ops = self.meta.height
        for k in ARRAY_FIELDS:
            if k not in self.arrays:
                raise ValueError(f"operator table lacks array {k!r}")
            a = self.arrays[k]
            if a.ndim != 2 or a.shape[1] != n_ops:
                raise ValueError(f"array {k!r} must have shape (n_points, {n_ops}), got {a.shape}")
        bad_kind = set(self.meta["kind"].to_list()) - set(OP_KINDS)
        if bad_kind:
            raise ValueError(f"unknown operator kinds {sorted(bad_kind)}; allowed: {', '.join(OP_KINDS)}")
        bad_phase = set(self.meta["phase"].to_list()) - set(PHASES)
        if bad_phase:
            raise ValueError(f"unknown phases {sorted(bad_phase)}; allowed: {', '.join(PHASES)}")
        for col in ("compute_dtype", "weight_dtype", "act_dtype", "kv_dtype", "acc_dtype"):
            bad = set(self.meta[col].to_list()) - set(DTYPES) - {""}
            if bad:
                raise ValueError(f"unknown datatypes in {col}: {sorted(bad)}; allowed: {', '.join(DTYPES)}")

    # ------------------------------------------------------------------ shape
    @property
    def n_ops(self) -> int:
        return self.meta.height

    @property
    def n_points(self) -> int:
        """Number of design points (the largest leading dimension of any array)."""
        sizes = [a.shape[0] for a in self.arrays.values()] + [np.shape(self.n_items)[0] if np.ndim(self.n_items) else 1]
        return max(sizes)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    # ------------------------------------------------------------------ derived
    @property
    def bytes_B(self) -> np.ndarray:
        """Total bytes moved per instance, ``(n_points or 1, n_ops)``."""
        a = self.arrays
        return a["weight_read_B"] + a["act_read_B"] + a["act_write_B"] + a["kv_read_B"] + a["kv_write_B"]

    @property
    def mac(self) -> np.ndarray:
        """Multiply-accumulates per instance (``flop / 2`` for MAC-based kinds, else 0)."""
        is_mac = np.isin(self.meta["kind"].to_numpy(), _MAC_KINDS)
        return np.where(is_mac[None, :], self.arrays["flop"] / 2.0, 0.0)

    @property
    def compute_dtype_index(self) -> np.ndarray:
        return np.array([DTYPE_INDEX[d] for d in self.meta["compute_dtype"].to_list()], dtype=np.int64)

    @property
    def kind_index(self) -> np.ndarray:
        idx = {k: i for i, k in enumerate(OP_KINDS)}
        return np.array([idx[k] for k in self.meta["kind"].to_list()], dtype=np.int64)

    def total(self, fld: str, phase: str | Sequence[str] | None = None) -> np.ndarray:
        """Sum of ``count x field`` over operators (optionally of some phases), ``(n_points or 1,)``."""
        vals = self.bytes_B if fld == "bytes_B" else (self.mac if fld == "mac" else self.arrays[fld])
        w = self.arrays["count"] * vals
        if phase is not None:
            phases = (phase,) if isinstance(phase, str) else tuple(phase)
            mask = np.isin(self.meta["phase"].to_numpy(), phases)
            w = w[:, mask]
        return w.sum(axis=1)

    def total_params(self) -> np.ndarray:
        """Parameters of the model (weights counted once), ``(n_points or 1,)``.

        The builder's ``stored_params`` when given (LLM builders give it: a decode table's
        counts include every generated token). Otherwise the weights of the first phase present
        (prefill or forward): backward/update phases re-read the same weights.
        """
        if self.stored_params is not None:
            return np.atleast_1d(np.asarray(self.stored_params, dtype=np.float64))
        phases = self.meta["phase"].unique(maintain_order=True).to_list()
        first = "prefill" if "prefill" in phases else ("forward" if "forward" in phases else phases[0])
        return self.total("n_params", first)

    # ------------------------------------------------------------------ transforms
    def select(self, mask: np.ndarray | Sequence[bool]) -> OperatorTable:
        """The operators where ``mask`` is true."""
        m = np.asarray(mask, dtype=bool)
        return replace(self, meta=self.meta.filter(pl.Series(m)),
                       arrays={k: v[:, m] for k, v in self.arrays.items()})

    def phase(self, *phases: str) -> OperatorTable:
        """Only the operators of the given phases."""
        for p in phases:
            if p not in PHASES:
                raise ValueError(f"unknown phase {p!r}; allowed: {', '.join(PHASES)}")
        return self.select(np.isin(self.meta["phase"].to_numpy(), phases))

    def with_arrays(self, **arrays: np.ndarray) -> OperatorTable:
        """A copy with some arrays replaced (broadcast to ``(n, n_ops)``)."""
        new = dict(self.arrays)
        for k, v in arrays.items():
            if k not in ARRAY_FIELDS:
                raise KeyError(f"unknown array {k!r}; allowed: {', '.join(ARRAY_FIELDS)}")
            v = np.asarray(v, dtype=np.float64)
            if v.ndim == 1:
                v = v[None, :]
            new[k] = v
        return replace(self, arrays=new)

    def with_meta(self, **columns: Sequence[str] | str) -> OperatorTable:
        """A copy with meta columns replaced (a string sets the whole column)."""
        meta = self.meta.with_columns(
            [pl.lit(v).alias(k) if isinstance(v, str) else pl.Series(k, list(v)) for k, v in columns.items()]
        )
        return replace(self, meta=meta)

    def point(self, i: int) -> OperatorTable:
        """The table of one design point (arrays of shape ``(1, n_ops)``)."""
        def pick(a: np.ndarray) -> np.ndarray:
            return a[i:i + 1] if a.shape[0] > 1 else a
        return replace(
            self,
            arrays={k: pick(v) for k, v in self.arrays.items()},
            peak_memory_B={k: np.atleast_1d(v)[i:i + 1] if np.size(v) > 1 else np.atleast_1d(v)
                           for k, v in self.peak_memory_B.items()},
            n_items=np.atleast_1d(self.n_items)[i:i + 1] if np.size(self.n_items) > 1 else np.atleast_1d(self.n_items),
            knobs={k: np.atleast_1d(v)[i:i + 1] if np.size(v) > 1 else np.atleast_1d(v) for k, v in self.knobs.items()},
        )

    def frame(self, point: int = 0) -> pl.DataFrame:
        """One design point as a tidy polars frame, one row per operator, unit-suffixed columns."""
        cols: dict[str, np.ndarray] = {}
        for k in ARRAY_FIELDS:
            a = self.arrays[k]
            row = a[point] if a.shape[0] > 1 else a[0]
            cols[k] = row
        cols["bytes_B"] = functools.reduce(operator.add, (cols[k] for k in _BYTES))
        mac = self.mac
        cols["mac"] = mac[point] if mac.shape[0] > 1 else mac[0]
        cols["intensity_FLOP_per_B"] = np.divide(cols["flop"], cols["bytes_B"],
                                                 out=np.full_like(cols["flop"], np.inf), where=cols["bytes_B"] > 0)
        return self.meta.with_columns([pl.Series(k, v) for k, v in cols.items()])


def concat_tables(tables: Sequence[OperatorTable], workload: str | None = None) -> OperatorTable:
    """Join operator tables of the same design points (for example prefill + decode)."""
    if not tables:
        raise ValueError("concat_tables needs at least one table")
    n = max(t.n_points for t in tables)

    def grow(a: np.ndarray) -> np.ndarray:
        return np.broadcast_to(a, (n, a.shape[1])) if a.shape[0] == 1 and n > 1 else a

    arrays = {}
    for k in ARRAY_FIELDS:
        parts = [t.arrays[k] for t in tables]
        if all(p.shape[0] == 1 for p in parts):
            arrays[k] = np.concatenate(parts, axis=1)
        else:
            arrays[k] = np.concatenate([grow(p) for p in parts], axis=1)
    peak: dict[str, np.ndarray] = {}
    for t in tables:
        for ph, v in t.peak_memory_B.items():
            peak[ph] = np.maximum(peak[ph], v) if ph in peak else v
    knobs: dict[str, np.ndarray] = {}
    for t in tables:
        knobs.update(t.knobs)
    stored = next((t.stored_params for t in tables if t.stored_params is not None), None)
    return OperatorTable(workload=workload or tables[0].workload,
                         meta=pl.concat([t.meta for t in tables], how="vertical"),
                         arrays=arrays, peak_memory_B=peak, n_items=tables[-1].n_items,
                         item_name=tables[-1].item_name, knobs=knobs, stored_params=stored)

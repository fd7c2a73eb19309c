"""Building blocks: single operators with shapes and datatypes, vectorized over design points.

Each function returns an :class:`Op`, one row of an operator table whose numeric fields are
arrays (or scalars) broadcast over design points. :func:`table_from_ops` stacks them into an
:class:`~models.workloads.table.OperatorTable`. The workload builders use these, and users can
too, to price an operator directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from models.hardware.dtypes import DTYPE_BITS, check_dtype
from models.workloads.table import ARRAY_FIELDS, BYTE_FIELDS, BYTES_MEMO, META_COLUMNS, OperatorTable

__all__ = ["Op", "attention_op", "broadcast_max", "conv", "elementwise", "gemm", "gemv", "norm", "softmax",
           "table_from_ops", "bytes_per_element"]

ArrayLike = float | int | np.ndarray


def bytes_per_element(dtype: str) -> float:
    """Storage bytes of one element of ``dtype`` (fractional for sub-byte types)."""
    return DTYPE_BITS[check_dtype(dtype)] / 8.0


def _prod(*factors: ArrayLike) -> np.ndarray:
    """The product of the factors, smallest first: a grid-sized array is touched once."""
    fs = sorted((np.asarray(f, dtype=np.float64) for f in factors), key=lambda a: a.size)
    out = fs[0]
    for f in fs[1:]:
        out = out * f
    return out


def _scaled(c: float, a: np.ndarray) -> np.ndarray | float:
    """``c x a``, or the scalar 0 when ``c`` is 0 (no array of zeros)."""
    return 0.0 if c == 0 else c * a


def broadcast_max(values: Iterable[ArrayLike]) -> np.ndarray:
    """Elementwise max of arrays of different (broadcastable) shapes.

    Arrays of one shape are reduced at that shape first, so a grid over batch x context pays a
    full-size pass only for the values that depend on both.
    """
    groups: dict[tuple[int, ...], np.ndarray] = {}
    for v in values:
        a = np.asarray(v, dtype=np.float64)
        g = groups.get(a.shape)
        if g is None:
            groups[a.shape] = a.copy() if a.ndim else a
        else:
            groups[a.shape] = np.maximum(g, a, out=g) if g.ndim else np.maximum(g, a)
    out: np.ndarray = np.zeros(())
    for a in groups.values():
        out = np.maximum(out, a)
    return out


@dataclass(frozen=True, kw_only=True)
class Op:
    """One operator row: meta strings and numeric fields (arrays broadcast over points).

    ``bytes_B`` is the sum of the byte fields when the builder computed it anyway (every
    operator of this module does: it is also their working set); the perf model then does not
    add the fields up again.
    """

    meta: Mapping[str, str]
    values: Mapping[str, ArrayLike] = field(default_factory=dict)
    bytes_B: ArrayLike | None = None

    def replace(self, **values: ArrayLike) -> Op:
        """A copy with some numeric fields replaced (``bytes_B`` kept unless a byte field changes)."""
        keep = self.bytes_B if not (set(values) & set(BYTE_FIELDS)) else None
        return Op(meta=self.meta, values={**self.values, **values}, bytes_B=keep)


def _meta(name: str, phase: str, kind: str, compute: str, weight: str = "", act: str = "",
          kv: str = "", acc: str = "") -> dict[str, str]:
    for d in (compute, weight, act, kv, acc):
        if d:
            check_dtype(d, where=f"operator {name!r}")
    return {"name": name, "phase": phase, "kind": kind, "compute_dtype": compute, "weight_dtype": weight,
            "act_dtype": act or compute, "kv_dtype": kv,
            "acc_dtype": acc or ("int32" if compute.startswith("int") else "fp32")}


def gemm(name: str, m: ArrayLike, n: ArrayLike, k: ArrayLike, *, dtype: str = "bf16",
         weight_dtype: str | None = None, count: ArrayLike = 1, phase: str = "forward",
         kind: str = "gemm", weights: bool = True) -> Op:
    """``C[m, n] = A[m, k] @ W[k, n]``: 2mnk FLOP; W read once, A read once, C written once.

    With ``weights=False`` both operands are activations (as in attention's Q K^T).
    """
    wd = weight_dtype or dtype
    m_, n_, k_ = (np.asarray(x, dtype=np.float64) for x in (m, n, k))
    b_act, b_w = bytes_per_element(dtype), bytes_per_element(wd)
    w_bytes = _prod(k_, n_, b_w)
    a_in = _prod(m_, k_, b_act)
    a_out = _prod(m_, n_, b_act)
    vals = {"count": count, "m": m_, "n": n_, "k": k_, "flop": _prod(2.0, m_, n_, k_),
            "n_params": _prod(k_, n_) if weights else 0.0,
            "weight_read_B": w_bytes if weights else 0.0,
            "act_read_B": a_in if weights else a_in + w_bytes,
            "act_write_B": a_out, "kv_read_B": 0.0, "kv_write_B": 0.0}
    vals["footprint_B"] = total = (a_in + a_out) + w_bytes
    return Op(meta=_meta(name, phase, kind, dtype, wd if weights else "", dtype), values=vals, bytes_B=total)


def gemv(name: str, n: ArrayLike, k: ArrayLike, *, dtype: str = "bf16", weight_dtype: str | None = None,
         count: ArrayLike = 1, phase: str = "decode") -> Op:
    """Matrix-vector product: a GEMM with m = 1, kind ``gemv``."""
    return gemm(name, 1, n, k, dtype=dtype, weight_dtype=weight_dtype, count=count, phase=phase, kind="gemv")


def elementwise(name: str, n_elements: ArrayLike, *, dtype: str = "fp16", flop_per_element: float = 1.0,
                n_inputs: int = 1, n_outputs: int = 1, count: ArrayLike = 1, phase: str = "forward",
                kind: str = "elementwise") -> Op:
    """An elementwise operator: reads ``n_inputs`` tensors and writes ``n_outputs`` of ``n_elements``."""
    e = np.asarray(n_elements, dtype=np.float64)
    b = bytes_per_element(dtype)
    rd = _scaled(n_inputs * b, e)
    wr = rd if n_outputs == n_inputs else _scaled(n_outputs * b, e)  # one array when they are equal
    total = _scaled((n_inputs + n_outputs) * b, e)
    vals = {"count": count, "m": e, "n": 1.0, "k": 1.0, "flop": e if flop_per_element == 1.0 else flop_per_element * e,
            "n_params": 0.0, "weight_read_B": 0.0, "act_read_B": rd, "act_write_B": wr,
            "kv_read_B": 0.0, "kv_write_B": 0.0, "footprint_B": total}
    return Op(meta=_meta(name, phase, kind, dtype, "", dtype), values=vals, bytes_B=total)


def norm(name: str, rows: ArrayLike, width: ArrayLike, *, dtype: str = "fp16", count: ArrayLike = 1,
         phase: str = "forward", n_params: ArrayLike = 0.0) -> Op:
    """RMSNorm/LayerNorm over ``rows`` vectors of ``width``: about 5 FLOP per element (square,
    sum, scale, multiply by gain, plus the mean for LayerNorm), one read, one write."""
    r, w = np.asarray(rows, dtype=np.float64), np.asarray(width, dtype=np.float64)
    b = bytes_per_element(dtype)
    p = np.asarray(n_params, dtype=np.float64)
    act = _prod(r, w, b)
    total = _prod(r, w, 2.0 * b) + p * b
    vals = {"count": count, "m": r, "n": w, "k": 1.0, "flop": _prod(r, w, 5.0), "n_params": p,
            "weight_read_B": p * b, "act_read_B": act, "act_write_B": act, "kv_read_B": 0.0,
            "kv_write_B": 0.0, "footprint_B": total}
    return Op(meta=_meta(name, phase, "norm", dtype, dtype if np.any(p > 0) else "", dtype), values=vals,
              bytes_B=total)


def softmax(name: str, rows: ArrayLike, width: ArrayLike, *, dtype: str = "fp16", count: ArrayLike = 1,
            phase: str = "forward") -> Op:
    """Row softmax: max, exp, sum, divide (about 5 FLOP per element, exp counted as one);
    three-pass-with-recompute traffic is priced by ``models.algorithms.softmax``; here one read
    and one write per element (the fused ideal)."""
    r, w = np.asarray(rows, dtype=np.float64), np.asarray(width, dtype=np.float64)
    b = bytes_per_element(dtype)
    e = r * w
    vals = {"count": count, "m": r, "n": w, "k": 1.0, "flop": 5.0 * e, "n_params": 0.0, "weight_read_B": 0.0,
            "act_read_B": e * b, "act_write_B": e * b, "kv_read_B": 0.0, "kv_write_B": 0.0,
            "footprint_B": 2 * e * b}
    return Op(meta=_meta(name, phase, "softmax", dtype, "", dtype), values=vals)


def conv(name: str, batch: ArrayLike, h_out: ArrayLike, w_out: ArrayLike, c_in: ArrayLike, c_out: ArrayLike,
         kernel: ArrayLike, *, groups: ArrayLike = 1, stride: ArrayLike = 1, dtype: str = "fp16",
         count: ArrayLike = 1, phase: str = "forward", kernel_w: ArrayLike | None = None) -> Op:
    """2-D convolution in GEMM view: m = batch x h_out x w_out, n = c_out, k = c_in/groups x kh x kw.

    Kind is ``dwconv`` when ``groups == c_in == c_out`` for every point, else ``conv``. Input
    activations are read once (im2col reuse is the engine's job), weights once, output once.
    """
    bt, ho, wo, ci, co, kh = (np.asarray(x, dtype=np.float64) for x in (batch, h_out, w_out, c_in, c_out, kernel))
    kw = kh if kernel_w is None else np.asarray(kernel_w, dtype=np.float64)
    g = np.asarray(groups, dtype=np.float64)
    s = np.asarray(stride, dtype=np.float64)
    if np.any(np.mod(ci, g) != 0) or np.any(np.mod(co, g) != 0):
        raise ValueError(f"conv {name!r}: groups must divide c_in and c_out")
    b = bytes_per_element(dtype)
    m = bt * ho * wo
    k = ci / g * kh * kw
    params = co * k
    h_in, w_in = ho * s, wo * s
    a_in = bt * h_in * w_in * ci * b
    a_out = m * co * b
    vals = {"count": count, "m": m, "n": co, "k": k, "flop": 2.0 * m * co * k, "n_params": params,
            "weight_read_B": params * b, "act_read_B": a_in, "act_write_B": a_out, "kv_read_B": 0.0,
            "kv_write_B": 0.0, "footprint_B": params * b + a_in + a_out}
    is_dw = bool(np.all(g == ci) and np.all(g == co) and np.all(g > 1))
    return Op(meta=_meta(name, phase, "dwconv" if is_dw else "conv", dtype, dtype, dtype), values=vals)


def attention_op(name: str, batch: ArrayLike, n_heads: ArrayLike, q_len: ArrayLike, kv_len: ArrayLike,
                 head_dim: ArrayLike, *, n_kv_heads: ArrayLike | None = None, causal: bool = False,
                 dtype: str = "bf16", kv_dtype: str | None = None, count: ArrayLike = 1,
                 phase: str = "prefill", kv_in_cache: bool = False) -> Op:
    """Scaled dot-product attention as one operator (QK^T, softmax, PV).

    FLOP follows the FlashAttention benchmark convention: ``4 B N_q N_kv H d``, halved when
    causal (and ``q_len == kv_len``). Traffic is the fused (FlashAttention-style, SRAM-resident
    S and P) minimum: Q read, K and V read once per KV head, O written. With ``kv_in_cache``
    K and V are counted as KV-cache reads (decode). ``models.algorithms.attention`` prices
    other tilings.
    """
    B, H, Nq, Nk, d = (np.asarray(x, dtype=np.float64) for x in (batch, n_heads, q_len, kv_len, head_dim))
    Hkv = H if n_kv_heads is None else np.asarray(n_kv_heads, dtype=np.float64)
    b = bytes_per_element(dtype)
    bkv = bytes_per_element(kv_dtype or dtype)
    flop = _prod(2.0 if causal else 4.0, B, Nq, Nk, H, d)
    q = _prod(B, Nq, H, d, b)
    o = q
    kv = _prod(2.0, B, Nk, Hkv, d, bkv)
    vals = {"count": count, "m": _prod(B, H, Nq), "n": Nk, "k": d, "flop": flop, "n_params": 0.0,
            "weight_read_B": 0.0, "act_read_B": q if kv_in_cache else q + kv, "act_write_B": o,
            "kv_read_B": kv if kv_in_cache else 0.0, "kv_write_B": 0.0, "footprint_B": (q + o) + kv}
    return Op(meta=_meta(name, phase, "attention", dtype, "", dtype, kv_dtype or dtype), values=vals,
              bytes_B=vals["footprint_B"])


def table_from_ops(ops: Sequence[Op], *, workload: str = "custom", n_items: ArrayLike = 1.0,
                   item_name: str = "run", peak_memory_B: Mapping[str, ArrayLike] | None = None,
                   knobs: Mapping[str, ArrayLike] | None = None,
                   stored_params: float | None = None,
                   memory_parts_B: Mapping[str, Mapping[str, ArrayLike]] | None = None) -> OperatorTable:
    """Operator rows as a table. Each operator keeps the shape of its own values (no copies);
    the values of all operators must broadcast to one point shape."""
    if not ops:
        raise ValueError("table_from_ops needs at least one operator")
    columns = []
    for op in ops:
        unknown = set(op.values) - set(ARRAY_FIELDS)
        if unknown:
            raise KeyError(f"unknown operator field {sorted(unknown)[0]!r} of {op.meta['name']!r}; "
                           f"allowed: {', '.join(ARRAY_FIELDS)}")
        col: dict[str, Any] = {k: np.asarray(op.values.get(k, 0.0), dtype=np.float64) for k in ARRAY_FIELDS}
        if op.bytes_B is not None:
            col[BYTES_MEMO] = (*(col[k] for k in BYTE_FIELDS), np.asarray(op.bytes_B, dtype=np.float64))
        columns.append(col)
    meta = pl.DataFrame({c: [op.meta[c] for op in ops] for c in META_COLUMNS},
                        schema={c: pl.String for c in META_COLUMNS})
    if peak_memory_B is None:
        # Sum of all weights plus the largest single working set per phase: a simple default.
        peak: dict[str, np.ndarray] = {}
        for op, c in zip(ops, columns, strict=True):
            ph = op.meta["phase"]
            w, ws = peak.get(ph + ".w", np.zeros(())), peak.get(ph + ".ws", np.zeros(()))
            peak[ph + ".w"] = w + c["count"] * c["weight_read_B"]
            peak[ph + ".ws"] = np.maximum(ws, c["footprint_B"])
        phases = dict.fromkeys(op.meta["phase"] for op in ops)
        peak_memory_B = {ph: peak[ph + ".w"] + peak[ph + ".ws"] for ph in phases}
    return OperatorTable(workload=workload, meta=meta, columns=tuple(columns),
                         peak_memory_B={k: np.asarray(v, dtype=np.float64) for k, v in peak_memory_B.items()},
                         n_items=np.asarray(n_items, dtype=np.float64), item_name=item_name,
                         knobs={k: np.asarray(v) for k, v in (knobs or {}).items()},
                         stored_params=stored_params,
                         memory_parts_B={p: {k: np.asarray(v, dtype=np.float64) for k, v in d.items()}
                                         for p, d in (memory_parts_B or {}).items()})

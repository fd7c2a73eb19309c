"""Building blocks: single operators with shapes and datatypes, vectorized over design points.

Each function returns an :class:`Op`, one row of an operator table whose numeric fields are
arrays (or scalars) broadcast over design points. :func:`table_from_ops` stacks them into an
:class:`~models.workloads.table.OperatorTable`. The workload builders use these, and users can
too, to price an operator directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from models.hardware.dtypes import DTYPE_BITS, check_dtype
from models.workloads.table import ARRAY_FIELDS, META_COLUMNS, OperatorTable

__all__ = ["Op", "attention_op", "conv", "elementwise", "gemm", "gemv", "norm", "softmax", "table_from_ops",
           "bytes_per_element"]

ArrayLike = float | int | np.ndarray


def bytes_per_element(dtype: str) -> float:
    """Storage bytes of one element of ``dtype`` (fractional for sub-byte types)."""
    return DTYPE_BITS[check_dtype(dtype)] / 8.0


@dataclass(frozen=True, kw_only=True)
class Op:
    """One operator row: meta strings and numeric fields (arrays broadcast over points)."""

    meta: Mapping[str, str]
    values: Mapping[str, ArrayLike] = field(default_factory=dict)


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
    w_bytes = k_ * n_ * b_w
    a_in = m_ * k_ * b_act
    a_out = m_ * n_ * b_act
    vals = {"count": count, "m": m_, "n": n_, "k": k_, "flop": 2.0 * m_ * n_ * k_,
            "n_params": k_ * n_ if weights else 0.0,
            "weight_read_B": w_bytes if weights else 0.0,
            "act_read_B": a_in + (0.0 if weights else w_bytes),
            "act_write_B": a_out, "kv_read_B": 0.0, "kv_write_B": 0.0}
    vals["footprint_B"] = w_bytes + a_in + a_out
    return Op(meta=_meta(name, phase, kind, dtype, wd if weights else "", dtype), values=vals)


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
    vals = {"count": count, "m": e, "n": 1.0, "k": 1.0, "flop": flop_per_element * e, "n_params": 0.0,
            "weight_read_B": 0.0, "act_read_B": n_inputs * e * b, "act_write_B": n_outputs * e * b,
            "kv_read_B": 0.0, "kv_write_B": 0.0, "footprint_B": (n_inputs + n_outputs) * e * b}
    return Op(meta=_meta(name, phase, kind, dtype, "", dtype), values=vals)


def norm(name: str, rows: ArrayLike, width: ArrayLike, *, dtype: str = "fp16", count: ArrayLike = 1,
         phase: str = "forward", n_params: ArrayLike = 0.0) -> Op:
    """RMSNorm/LayerNorm over ``rows`` vectors of ``width``: about 5 FLOP per element (square,
    sum, scale, multiply by gain, plus the mean for LayerNorm), one read, one write."""
    r, w = np.asarray(rows, dtype=np.float64), np.asarray(width, dtype=np.float64)
    b = bytes_per_element(dtype)
    e = r * w
    p = np.asarray(n_params, dtype=np.float64)
    vals = {"count": count, "m": r, "n": w, "k": 1.0, "flop": 5.0 * e, "n_params": p,
            "weight_read_B": p * b, "act_read_B": e * b, "act_write_B": e * b, "kv_read_B": 0.0,
            "kv_write_B": 0.0, "footprint_B": 2 * e * b + p * b}
    return Op(meta=_meta(name, phase, "norm", dtype, dtype if np.any(p > 0) else "", dtype), values=vals)


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
    flop = 4.0 * B * Nq * Nk * H * d
    if causal:
        flop = flop / 2.0
    q = B * Nq * H * d * b
    o = B * Nq * H * d * b
    kv = 2.0 * B * Nk * Hkv * d * bkv
    vals = {"count": count, "m": B * H * Nq, "n": Nk, "k": d, "flop": flop, "n_params": 0.0,
            "weight_read_B": 0.0, "act_read_B": q + (0.0 if kv_in_cache else kv), "act_write_B": o,
            "kv_read_B": kv if kv_in_cache else 0.0, "kv_write_B": 0.0, "footprint_B": q + o + kv}
    return Op(meta=_meta(name, phase, "attention", dtype, "", dtype, kv_dtype or dtype), values=vals)


def table_from_ops(ops: Sequence[Op], *, workload: str = "custom", n_items: ArrayLike = 1.0,
                   item_name: str = "run", peak_memory_B: Mapping[str, ArrayLike] | None = None,
                   knobs: Mapping[str, ArrayLike] | None = None,
                   stored_params: float | None = None) -> OperatorTable:
    """Stack operator rows into a table; numeric fields broadcast to a common number of points."""
    if not ops:
        raise ValueError("table_from_ops needs at least one operator")
    n = 1
    for op in ops:
        for k, v in op.values.items():
            if k not in ARRAY_FIELDS:
                raise KeyError(f"unknown operator field {k!r}")
            n = max(n, int(np.size(v)) if np.ndim(v) else 1)
    arrays: dict[str, np.ndarray] = {}
    for k in ARRAY_FIELDS:
        cols = []
        for op in ops:
            v = np.asarray(op.values.get(k, 0.0), dtype=np.float64).reshape(-1)
            if v.size not in (1, n):
                raise ValueError(f"field {k!r} of {op.meta['name']!r} has {v.size} points, expected 1 or {n}")
            cols.append(v)
        if all(c.size == 1 for c in cols):
            arrays[k] = np.array([[c[0] for c in cols]], dtype=np.float64)
        else:
            arrays[k] = np.stack([np.broadcast_to(c, (n,)) for c in cols], axis=1)
    meta = pl.DataFrame({c: [op.meta[c] for op in ops] for c in META_COLUMNS})
    if peak_memory_B is None:
        # Sum of all weights plus the largest single working set per phase: a simple default.
        peak = {}
        for ph in meta["phase"].unique(maintain_order=True).to_list():
            mask = (meta["phase"] == ph).to_numpy()
            w = (arrays["count"] * arrays["weight_read_B"])[:, mask].sum(axis=1)
            ws = arrays["footprint_B"][:, mask].max(axis=1)
            peak[ph] = w + ws
    else:
        peak = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in peak_memory_B.items()}
    return OperatorTable(workload=workload, meta=meta, arrays=arrays, peak_memory_B=peak,
                         n_items=np.atleast_1d(np.asarray(n_items, dtype=np.float64)), item_name=item_name,
                         knobs={k: np.atleast_1d(np.asarray(v)) for k, v in (knobs or {}).items()},
                         stored_params=stored_params)

"""Multiplication primitives of ShiftAddViT: shift layers, additive attention, mult/shift experts.

ShiftAddViT (You, Shi, Guo, Lin, NeurIPS 2023, arXiv 2306.06446) reparameterizes a pre-trained
ViT with cheaper primitives than multiplications:

- **additive attention** (``add_attention``): queries and keys are mapped to binary codes in
  Hamming space and attention is computed linearly as ``Q (K^T V)``; with binary ``K`` and
  ``Q`` each of the two products is a sum of signed values, so per (image, head) of ``N`` tokens
  and head dimension ``d``: ``K^T V`` is ``d x d`` outputs of ``N`` additions and ``Q (K^T V)``
  is ``N x d`` outputs of ``d`` additions: ``2 N d^2`` additions, no multiplication (against
  ``2 N^2 d`` multiply-accumulates for ``Q K^T`` and ``P V``);
- **shift layers** (``shift``): linear-layer weights are powers of two (a sign and a shift
  amount, DeepShift-PS), so each multiply-accumulate becomes one bitwise shift and one addition;
- **mixture of experts** of a multiplication expert and a shift expert in the MLPs, with a
  latency-aware router: ``shift_expert_fraction`` of the tokens go to the shift expert, the
  rest to the multiplication expert (the router itself is a ``hidden x 2`` linear layer).

How the pricing kernel sees them (:func:`apply_shiftadd`, called by
:func:`models.point.build_point` for the knobs ``vit_mult_primitive`` and
``shift_expert_fraction``): a GPU's tensor cores do not shift or add on their own, so shift and
add work runs on the vector (CUDA-core / SIMD) engine as ``elementwise`` rows. Op convention
(as :mod:`models.algorithms.lowbit_gemm`): each lane operation, a shift or an add, occupies the
issue slot of one multiply-accumulate lane and is counted as 2 operations of the row's
datatype, so the target's rate and energy per operation of that datatype price it. Shift-layer
activations are 16-bit fixed point (``int16``) and weights one byte (sign + 5-bit shift amount,
``int8`` storage); additive attention reads ``Q`` and ``K`` as 1-bit codes (``int1``) and ``V``
in the activation datatype.

The energy of the primitives themselves (not data movement) on the 45 nm table ShiftAddViT
uses for its energy figures is :func:`primitive_energy_J` (:data:`PRIMITIVE_ENERGY_45NM_J`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from models.workloads.ops import bytes_per_element
from models.workloads.table import OperatorTable

__all__ = [
    "PRIMITIVE_ENERGY_45NM_J",
    "PrimitiveCounts",
    "VIT_PRIMITIVES",
    "add_attention_counts",
    "apply_shiftadd",
    "mult_linear_counts",
    "primitive_energy_J",
    "shift_linear_counts",
    "split_tokens",
]

VIT_PRIMITIVES = ("mult", "shift", "add_attention", "shiftadd")
"""``mult``: the ViT as built; ``shift``: every linear layer of the encoder blocks (qkv, proj,
and the MLP's fc1/fc2 by the expert routing) as shift layers; ``add_attention``: additive
attention; ``shiftadd``: both (the ShiftAddViT model)."""

# Energy per primitive operation at 45 nm (J). mult and add: Horowitz, ISSCC 2014 (published-
# numbers.md C1: 32-bit FP mult 3.7 pJ, FP add 0.9 pJ; 8-bit int mult 0.2 pJ, add 0.03 pJ);
# shift: the values ShiftAddViT's own energy model takes (GATECH-EIC/ShiftAddViT
# pvt/hw_utils.py, get_unit_energy: unit_shift = 0.13 pJ at 32 bit, 0.024 pJ at 8 bit, beside
# unit_mult 3.7 / 0.2 and unit_add 0.9 / 0.03, the same Horowitz values).
PRIMITIVE_ENERGY_45NM_J: dict[int, dict[str, float]] = {
    32: {"mult": 3.7e-12, "add": 0.9e-12, "shift": 0.13e-12},
    8: {"mult": 0.2e-12, "add": 0.03e-12, "shift": 0.024e-12},
}

_SHIFT_ACT_DTYPE = "int16"  # DeepShift fixed-point activations (hw_utils: 16-bit data with 5-bit shifts)
_SHIFT_WEIGHT_DTYPE = "int8"  # sign + 5-bit shift amount, one byte per weight on a byte-addressed GPU
_CODE_DTYPE = "int1"  # binary Q/K codes in Hamming space
_LINEAR_ROWS = ("qkv", "proj")
_MLP_ROWS = ("fc1", "fc2")

ArrayLike = float | int | np.ndarray


@dataclass(frozen=True, kw_only=True)
class PrimitiveCounts:
    """Multiplications, additions and shifts of one operator (arrays broadcast over points)."""

    n_mult: np.ndarray
    n_add: np.ndarray
    n_shift: np.ndarray

    @property
    def lane_ops(self) -> np.ndarray:
        """Operations in the kernel's convention: a MAC is 2; an unfused add or shift is a lane
        slot, 2 as well."""
        fused = np.minimum(self.n_mult, self.n_add)  # a multiply and its add are one MAC slot
        return 2.0 * (self.n_mult + self.n_add + self.n_shift - fused)


def _arr(name: str, v: ArrayLike) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if np.any(~np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name}={v!r}; must be finite and >= 0")
    return a


def mult_linear_counts(m: ArrayLike, n: ArrayLike, k: ArrayLike) -> PrimitiveCounts:
    """A linear layer ``[m, k] x [k, n]`` with multipliers: ``m n k`` multiplies and adds."""
    mnk = _arr("m", m) * _arr("n", n) * _arr("k", k)
    return PrimitiveCounts(n_mult=mnk, n_add=mnk, n_shift=np.zeros_like(mnk))


def shift_linear_counts(m: ArrayLike, n: ArrayLike, k: ArrayLike) -> PrimitiveCounts:
    """A shift layer (power-of-two weights): ``m n k`` shifts and ``m n k`` adds, no multiply."""
    mnk = _arr("m", m) * _arr("n", n) * _arr("k", k)
    return PrimitiveCounts(n_mult=np.zeros_like(mnk), n_add=mnk, n_shift=mnk)


def add_attention_counts(batch_heads: ArrayLike, n_tokens: ArrayLike, head_dim: ArrayLike) -> PrimitiveCounts:
    """Additive linear attention with binary Q and K: ``2 N d^2`` adds per (image, head)."""
    adds = 2.0 * _arr("batch_heads", batch_heads) * _arr("n_tokens", n_tokens) * _arr("head_dim", head_dim) ** 2
    return PrimitiveCounts(n_mult=np.zeros_like(adds), n_add=adds, n_shift=np.zeros_like(adds))


def primitive_energy_J(counts: PrimitiveCounts, *, bits: int = 32) -> np.ndarray:
    """Energy of the primitives alone on the 45 nm table (:data:`PRIMITIVE_ENERGY_45NM_J`)."""
    if bits not in PRIMITIVE_ENERGY_45NM_J:
        raise ValueError(f"primitive energy bits={bits!r}; allowed: {', '.join(map(str, PRIMITIVE_ENERGY_45NM_J))}")
    e = PRIMITIVE_ENERGY_45NM_J[bits]
    return counts.n_mult * e["mult"] + counts.n_add * e["add"] + counts.n_shift * e["shift"]


def split_tokens(m: ArrayLike, shift_fraction: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Token rows ``m`` routed to ``(multiplication expert, shift expert)``."""
    f = np.asarray(shift_fraction, dtype=np.float64)
    if np.any(~np.isfinite(f)) or np.any(f < 0) or np.any(f > 1):
        raise ValueError(f"shift_expert_fraction={shift_fraction!r}; allowed: 0 <= fraction <= 1")
    m_ = np.asarray(m, dtype=np.float64)
    return m_ * (1.0 - f), m_ * f


# ---------------------------------------------------------------------------- table rewrite
def _row(meta: dict[str, str], values: Mapping[str, np.ndarray]) -> tuple[dict[str, str], Mapping[str, np.ndarray]]:
    return meta, values


def _shift_row(meta: dict[str, str], c: Mapping[str, np.ndarray], m: np.ndarray, act_dtype: str) -> tuple[
        dict[str, str], Mapping[str, np.ndarray]]:
    """A linear row (with bias) as a shift layer over ``m`` token rows: elementwise int16 lane ops."""
    n, k = c["n"], c["k"]
    cnt = shift_linear_counts(m, n, k)
    b_act, b_sh, b_w = (bytes_per_element(d) for d in (act_dtype, _SHIFT_ACT_DTYPE, _SHIFT_WEIGHT_DTYPE))
    w = c["n_params"] * b_w  # the layer's parameters (biases included, as built) at one byte each
    a_in = m * k * b_sh
    a_out = m * n * b_act
    vals = {"count": c["count"], "m": m, "n": n, "k": k, "flop": cnt.lane_ops, "n_params": c["n_params"],
            "weight_read_B": w, "act_read_B": a_in, "act_write_B": a_out, "kv_read_B": np.zeros(()),
            "kv_write_B": np.zeros(()), "footprint_B": w + a_in + a_out}
    new = {**meta, "name": f"{meta['name']}[shift]", "kind": "elementwise", "compute_dtype": _SHIFT_ACT_DTYPE,
           "weight_dtype": _SHIFT_WEIGHT_DTYPE, "act_dtype": _SHIFT_ACT_DTYPE, "acc_dtype": "int32"}
    return _row(new, vals)


def _scaled_row(meta: dict[str, str], c: Mapping[str, np.ndarray], m: np.ndarray, suffix: str) -> tuple[
        dict[str, str], Mapping[str, np.ndarray]]:
    """The multiplication expert: the row as built over ``m`` of its token rows."""
    r = m / np.maximum(c["m"], 1e-300)
    vals = {**c, "m": m, "flop": c["flop"] * r, "act_read_B": c["act_read_B"] * r,
            "act_write_B": c["act_write_B"] * r,
            "footprint_B": c["weight_read_B"] + (c["act_read_B"] + c["act_write_B"]) * r}
    return _row({**meta, "name": f"{meta['name']}{suffix}"}, vals)


def _add_attention_row(meta: dict[str, str], c: Mapping[str, np.ndarray]) -> tuple[
        dict[str, str], Mapping[str, np.ndarray]]:
    """An attention row (``m = B H N``, ``n = N``, ``k = d``) as additive linear attention."""
    n_tok, d = c["n"], c["k"]
    bh = c["m"] / np.maximum(n_tok, 1e-300)
    cnt = add_attention_counts(bh, n_tok, d)
    dt = meta["act_dtype"] or meta["compute_dtype"]
    b = bytes_per_element(dt)
    codes = 2.0 * bh * n_tok * d * bytes_per_element(_CODE_DTYPE)  # binary Q and K
    v_in = bh * n_tok * d * b
    out = bh * n_tok * d * b
    kv_state = bh * d * d * 4.0  # K^T V of every (image, head), accumulated in fp32
    vals = {"count": c["count"], "m": c["m"], "n": d, "k": n_tok, "flop": cnt.lane_ops, "n_params": np.zeros(()),
            "weight_read_B": np.zeros(()), "act_read_B": codes + v_in, "act_write_B": out,
            "kv_read_B": np.zeros(()), "kv_write_B": np.zeros(()),
            "footprint_B": codes + v_in + out + kv_state}
    new = {**meta, "name": f"{meta['name']}[add]", "kind": "elementwise", "compute_dtype": dt, "act_dtype": dt,
           "kv_dtype": "", "acc_dtype": "fp32"}
    return _row(new, vals)


def apply_shiftadd(table: OperatorTable, primitive: str, shift_fraction: ArrayLike = 1.0) -> OperatorTable:
    """Reparameterize a ViT table (:func:`models.workloads.vit.vit`) with ShiftAddViT's primitives.

    Parameters
    ----------
    table
        A ViT operator table (rows ``qkv``, ``attention``, ``proj``, ``fc1``, ``fc2``).
    primitive
        One of :data:`VIT_PRIMITIVES`.
    shift_fraction
        Share of the MLP's token rows routed to the shift expert (``shift`` / ``shiftadd``);
        ``0`` leaves ``fc1``/``fc2`` as built, ``1`` makes them shift layers. Between the two
        the MLP rows split by tokens and a router row (``hidden x 2`` linear) is added.

    Raises
    ------
    ValueError
        An unknown primitive, a fraction outside [0, 1], or a table without the ViT rows.
    """
    if primitive not in VIT_PRIMITIVES:
        raise ValueError(f"vit_mult_primitive={primitive!r}; allowed: {', '.join(VIT_PRIMITIVES)}")
    f = np.asarray(shift_fraction, dtype=np.float64)
    split_tokens(1.0, f)  # validates the fraction
    if primitive == "mult":
        return table
    meta = table.meta
    names = meta["name"].to_list()
    kinds = meta["kind"].to_list()
    if not {"qkv", "attention", "fc1"} <= set(names):
        raise ValueError(f"vit_mult_primitive={primitive!r}: workload {table.workload!r} is not a ViT (needs the "
                         "rows qkv, attention, proj, fc1, fc2); allowed on the vit-* workloads")
    shift = primitive in ("shift", "shiftadd")
    add = primitive in ("add_attention", "shiftadd")
    rows: list[tuple[dict[str, str], Mapping[str, np.ndarray]]] = []
    scalar_f = f.ndim == 0
    for i, (nm, kind) in enumerate(zip(names, kinds, strict=True)):
        mrow = {c: str(meta[c][i]) for c in meta.columns}
        c = table.columns[i]
        act_dt = mrow["act_dtype"] or mrow["compute_dtype"]
        if add and kind == "attention":
            rows.append(_add_attention_row(mrow, c))
        elif shift and nm in _LINEAR_ROWS:
            rows.append(_shift_row(mrow, c, c["m"], act_dt))
        elif shift and nm in _MLP_ROWS:
            m_mult, m_shift = split_tokens(c["m"], f)
            if scalar_f and float(f) == 0.0:
                rows.append((mrow, c))  # every token on the multiplication expert: the row as built
                continue
            if not (scalar_f and float(f) == 1.0):
                rows.append(_scaled_row(mrow, c, m_mult, "[mult-expert]"))
            rows.append(_shift_row(mrow, c, m_shift, act_dt))
            if nm == "fc1" and not (scalar_f and float(f) == 1.0):
                rows.append(_router_row(mrow, c))
        else:
            rows.append((mrow, c))
    new_meta = pl.DataFrame([r[0] for r in rows], schema={col: pl.String for col in meta.columns})
    out = replace(table, meta=new_meta, columns=tuple(r[1] for r in rows))
    # resident weights: the shift expert's one-byte weights beside (or instead of) the originals
    dw = out.total("weight_read_B", "forward") - table.total("weight_read_B", "forward")
    peak = {ph: v + dw if ph == "forward" else v for ph, v in table.peak_memory_B.items()}
    parts = {ph: ({**d, "weights": d.get("weights", 0.0) + dw} if ph == "forward" else d)
             for ph, d in table.memory_parts_B.items()}
    return replace(out, peak_memory_B=peak, memory_parts_B=parts)


def _router_row(meta: dict[str, str], c: Mapping[str, np.ndarray]) -> tuple[dict[str, str], Mapping[str, np.ndarray]]:
    """The MoE router: a ``hidden -> 2`` linear layer over every token (with the fc1 row's shapes)."""
    m, k = c["m"], c["k"]
    dt = meta["compute_dtype"]
    b = bytes_per_element(dt)
    w = 2.0 * k * b
    a_in, a_out = m * k * b, m * 2.0 * b
    vals = {"count": c["count"], "m": m, "n": np.full((), 2.0), "k": k, "flop": 2.0 * m * 2.0 * k,
            "n_params": 2.0 * k, "weight_read_B": w, "act_read_B": a_in, "act_write_B": a_out,
            "kv_read_B": np.zeros(()), "kv_write_B": np.zeros(()), "footprint_B": w + a_in + a_out}
    return _row({**meta, "name": "moe_router"}, vals)

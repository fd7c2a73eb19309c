"""A training step (forward + backward + weight update) from a forward operator table.

For a layer ``C[m, n] = A[m, k] W[k, n]`` (conv in GEMM view, or a linear layer) the
backward pass has two products of the same size as the forward one:

- ``dA = dC W^T`` (grad wrt the input, "dgrad"): reads dC and W, writes dA. The first layer
  with weights skips it (nothing upstream needs the gradient of the input image).
- ``dW = A^T dC`` (grad wrt the weights, "wgrad"): reads the saved A and dC, writes dW.

So a conv net's training step costs about 3x the forward FLOPs. Other kinds:

- attention: backward = 2.5x the forward FLOPs (the FlashAttention benchmark convention);
  reads Q, K, V, O and dO, writes dQ, dK, dV;
- gemm without weights: 2x the forward FLOPs (grads of both operands);
- elementwise, norm, softmax, pooling: as many FLOPs as forward; read the saved input and
  the output gradient, write the input gradient (norm also writes its parameter grads);
- embedding: no backward row (a sparse update, not modelled).

The update phase is one elementwise row over all parameters: SGD reads weights and grads and
writes weights (2 FLOP per parameter); SGD with momentum also reads and writes the momentum
(4 FLOP); Adam reads and writes two moments (about 12 FLOP: two moment updates, bias
correction, square root and division).

Peak memory per phase (all ``(P or 1,)``): the optimizer state is always resident;
``forward`` = weights + state + activations saved for backward (every forward output, an
upper bound that ignores recomputation and in-place fusion); ``backward`` = that + weight
gradients; ``update`` = weights + gradients + state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import polars as pl
from numpy.typing import ArrayLike

from models.workloads.ops import bytes_per_element, elementwise
from models.workloads.table import ARRAY_FIELDS, OperatorTable, concat_tables

__all__ = ["OPTIMIZERS", "PULP_COPY_INSTR_PER_ELEMENT", "PULP_INSTR_PER_MAC", "PULP_SCALAR_INSTR_PER_MAC",
           "conv_geometry", "copy_cycles", "matmul_cycles", "parallel_efficiency", "pulp_passes", "pulp_trainlib_step",
           "split_rows", "training_step"]

# optimizer -> (state tensors per parameter, FLOP per parameter)
OPTIMIZERS: dict[str, tuple[int, float]] = {
    "sgd": (0, 2.0),
    "momentum": (1, 4.0),
    "adam": (2, 12.0),
}

_WEIGHT_KINDS = ("conv", "dwconv", "gemm", "gemv")
_ELEMENTWISE_KINDS = ("elementwise", "norm", "softmax")


def _rows_like(
    fwd: OperatorTable, meta: pl.DataFrame, arrays: dict[str, np.ndarray]
) -> OperatorTable:
    """New rows with the workload, items and knobs of ``fwd`` (peak memory is set on the
    whole step)."""
    return OperatorTable.from_arrays(
        workload=fwd.workload,
        meta=meta,
        arrays=arrays,
        peak_memory_B={},
        n_items=fwd.n_items,
        item_name=fwd.item_name,
        knobs=fwd.knobs,
    )


def _rows(
    fwd: OperatorTable, mask: np.ndarray, suffix: str, phase: str, arrays: dict[str, np.ndarray]
) -> OperatorTable | None:
    """Operators derived from the ``mask`` rows of ``fwd``, in reverse order (backward runs
    from the last layer to the first)."""
    if not np.any(mask):
        return None
    idx = np.flatnonzero(mask)[::-1]
    meta = fwd.meta[idx.tolist()]
    meta = meta.with_columns(meta["name"] + suffix, meta["phase"].str.replace(r".*", phase))
    out: dict[str, np.ndarray] = {}
    for k in ARRAY_FIELDS:
        a = np.asarray(arrays.get(k, 0.0), dtype=np.float64)
        if a.ndim == 0:
            a = np.broadcast_to(a, (fwd.n_ops,))
        out[k] = a[..., idx]
    return _rows_like(fwd, meta, out)


def _grad(a: Mapping[str, np.ndarray], **fields: np.ndarray) -> dict[str, np.ndarray]:
    """Arrays of backward rows derived from the forward arrays ``a``: the forward count and
    ``m, n, k`` unless ``fields`` give them, no parameters of their own, and a footprint of all
    the bytes they touch."""
    v = {
        "count": a["count"],
        "m": a["m"],
        "n": a["n"],
        "k": a["k"],
        "n_params": np.zeros_like(a["flop"]),
        **fields,
    }
    v["footprint_B"] = v["weight_read_B"] + v["act_read_B"] + v["act_write_B"]
    return v


def training_step(
    forward_table: OperatorTable,
    optimizer: str = "sgd",
    *,
    update_dtype: str | None = None,
    skip_first_input_grad: bool = True,
) -> OperatorTable:
    """Forward, backward and weight-update operators of one training step.

    Parameters
    ----------
    forward_table
        A table whose ``forward`` rows are the model's forward pass (other phases ignored).
    optimizer
        "sgd", "momentum" or "adam".
    update_dtype
        Datatype of weights, gradients and optimizer state in the update (default: the
        weight datatype of the first layer with weights).
    skip_first_input_grad
        Do not compute the input gradient of the first layer with weights.

    Returns
    -------
    OperatorTable
        Phases "forward", "backward", "update"; ``n_items`` as the forward table (samples
        per step).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    fwd = forward_table.phase("forward")
    if fwd.n_ops == 0:
        raise ValueError("forward_table has no operators of phase 'forward'")
    a = fwd.arrays
    kinds = fwd.meta["kind"].to_numpy()
    has_w = np.any(a["n_params"].reshape(-1, fwd.n_ops) > 0, axis=0)
    is_layer = np.isin(kinds, _WEIGHT_KINDS) & has_w
    is_attn = kinds == "attention"
    is_act_gemm = np.isin(kinds, _WEIGHT_KINDS) & ~has_w
    is_ew = np.isin(kinds, _ELEMENTWISE_KINDS)
    layer_idx = np.flatnonzero(is_layer)
    dgrad_mask = is_layer.copy()
    if skip_first_input_grad and layer_idx.size:
        dgrad_mask[layer_idx[0]] = False

    zero = np.zeros_like(a["flop"])
    dgrad = _grad(
        a,
        n=a["k"],
        k=a["n"],
        flop=a["flop"],
        weight_read_B=a["weight_read_B"],
        act_read_B=a["act_write_B"],
        act_write_B=a["act_read_B"],
    )
    wgrad = _grad(
        a,
        m=a["k"],
        k=a["m"],
        flop=a["flop"],
        weight_read_B=zero,
        act_read_B=a["act_read_B"] + a["act_write_B"],
        act_write_B=a["weight_read_B"],
    )
    attn = _grad(
        a,
        flop=2.5 * a["flop"],
        weight_read_B=zero,
        act_read_B=a["act_read_B"] + a["kv_read_B"] + 2.0 * a["act_write_B"],
        act_write_B=a["act_read_B"] + a["kv_read_B"],
    )
    act_gemm = _grad(
        a,
        flop=2.0 * a["flop"],
        weight_read_B=zero,
        act_read_B=a["act_read_B"] + a["act_write_B"],
        act_write_B=a["act_read_B"],
    )
    ew = _grad(
        a,
        flop=a["flop"],
        weight_read_B=a["weight_read_B"],
        act_read_B=a["act_read_B"] + a["act_write_B"],
        act_write_B=a["act_read_B"] + a["weight_read_B"],
    )
    parts: list[OperatorTable] = [fwd]
    for mask, suffix, vals in (
        (is_ew, ".bwd", ew),
        (is_attn, ".bwd", attn),
        (is_act_gemm, ".bwd", act_gemm),
        (dgrad_mask, ".dgrad", dgrad),
        (is_layer, ".wgrad", wgrad),
    ):
        t = _rows(fwd, mask, suffix, "backward", vals)
        if t is not None:
            parts.append(t)

    # Weight update over every parameter.
    n_state, flop_per_param = OPTIMIZERS[optimizer]
    if update_dtype is None:
        wd = fwd.meta["weight_dtype"].to_numpy()[layer_idx] if layer_idx.size else np.array([])
        update_dtype = str(wd[0]) if wd.size and wd[0] else fwd.meta["compute_dtype"][0]
    b = bytes_per_element(update_dtype)
    n_params = fwd.total_params()
    upd_op = elementwise(
        f"update.{optimizer}",
        n_params,
        dtype=update_dtype,
        flop_per_element=flop_per_param,
        phase="update",
    )
    p_B = n_params * b
    upd_vals = {
        **upd_op.values,
        "weight_read_B": p_B,
        "act_read_B": (1 + n_state) * p_B,
        "act_write_B": (1 + n_state) * p_B,
        "footprint_B": (3 + 2 * n_state) * p_B,
    }
    upd_arrays = {k: np.asarray(upd_vals.get(k, 0.0), dtype=np.float64)[..., None] for k in ARRAY_FIELDS}
    upd_meta = fwd.meta[:1].with_columns(
        fwd.meta[:1]["name"].str.replace(r".*", f"update.{optimizer}"),
        fwd.meta[:1]["phase"].str.replace(r".*", "update"),
        fwd.meta[:1]["kind"].str.replace(r".*", "elementwise"),
        *[
            fwd.meta[:1][c].str.replace(r".*", upd_op.meta[c])
            for c in ("compute_dtype", "act_dtype", "acc_dtype")
        ],
        fwd.meta[:1]["weight_dtype"].str.replace(r".*", update_dtype),
        fwd.meta[:1]["kv_dtype"].str.replace(r".*", ""),
    )
    parts.append(_rows_like(fwd, upd_meta, upd_arrays))

    table = concat_tables(parts, workload=f"{fwd.workload}-train-{optimizer}")
    weights_B = fwd.total("weight_read_B")
    stash_B = fwd.total("act_write_B")
    grads_B = weights_B
    state_B = n_state * p_B
    resident = {
        "forward": {"weights": weights_B, "optimizer_state": state_B, "activations": stash_B},
        "backward": {"weights": weights_B, "gradients": grads_B, "optimizer_state": state_B, "activations": stash_B},
        "update": {"weights": weights_B, "gradients": grads_B, "optimizer_state": state_B},
    }
    return replace(
        table,
        peak_memory_B={ph: sum(d.values(), np.zeros(1)) for ph, d in resident.items()},
        memory_parts_B=resident,
        n_items=fwd.n_items,
        item_name=fwd.item_name,
    )


# ---------------------------------------------------------------------------------- MCU kernels
# The training kernels of a PULP-class RISC-V cluster (PULP-TrainLib, github.com/pulp-platform/
# pulp-trainlib, lib/sources/pulp_conv2d_fp16.c, pulp_conv_pw_fp16.c, pulp_conv_dw_fp16.c,
# pulp_matmul_fp16.c, pulp_matmul_fp32.c), as used by Nadalini et al. (FGCS 2023) on an 8+1-core
# cluster. Each pass of a layer is a shape transform (im2row / transposition, one scalar load and one
# store per element) and a MatMul whose output rows N are split over the worker cores in blocks of
# ceil(N / P) (``blockSize = (N + NUM_CORES - 1) / NUM_CORES`` in every mm_* kernel). Instructions per
# MAC of the inner loops, counted from the kernels' source (single-issue cores, one instruction per
# clock; hardware loops and post-increment loads add none):
PULP_INSTR_PER_MAC: dict[tuple[str, str], float] = {
    # mm_unroll_1x2 (FP32): per k one load of A, two of B, two fmadd -> 5 instructions per 2 MACs
    ("fp32", "b_t"): 2.5,
    ("fp32", "b_n"): 2.5,
    # mm_fp16_SIMD_2x4, B transposed: per 2 k, one v2f16 load of A, two of B, two vfmac -> 5 per 4 MACs
    ("fp16", "b_t"): 1.25,
    # mm_fp16_SIMD_2x4, B not transposed: as above plus two pv.shuffle to broadcast A -> 7 per 4 MACs
    ("fp16", "b_n"): 1.75,
}
# a scalar MAC (mm_fp16 / mm_dw_fp16, the M-leftover column, FP32 or FP16): two loads and one fmac
PULP_SCALAR_INSTR_PER_MAC = 3.0
# im2row, block transposition of weights, transposition: one load and one store per element
PULP_COPY_INSTR_PER_ELEMENT = 2.0


def split_rows(n: ArrayLike, n_workers: int) -> np.ndarray:
    """Rows of the busiest worker when ``n`` rows are split in blocks of ``ceil(n / P)``."""
    return np.ceil(np.asarray(n, dtype=np.float64) / n_workers)


def parallel_efficiency(n: ArrayLike, n_workers: int) -> np.ndarray:
    """``n / (P ceil(n / P))``: the busy fraction of ``P`` workers sharing ``n`` rows (1 when P divides n)."""
    n = np.asarray(n, dtype=np.float64)
    return np.asarray(n / (n_workers * split_rows(n, n_workers)))


def matmul_cycles(n: ArrayLike, k: ArrayLike, m: ArrayLike, *, dtype: str, b_transposed: bool,
                  n_workers: int, scalar: bool = False) -> np.ndarray:
    """Cycles of the busiest worker of a PULP-TrainLib MatMul ``C[N, M] = A[N, K] B[K, M]``.

    ``ceil(N / P)`` rows of ``K x M`` MACs at the inner loop's instructions per MAC
    (:data:`PULP_INSTR_PER_MAC`; FP16 and BF16 share the v2f16 SIMD loop); the kernels unroll by two
    columns, and an odd last column runs scalar (:data:`PULP_SCALAR_INSTR_PER_MAC`); ``scalar``: the
    naive kernel (depthwise, or ``M < 2``), scalar throughout.
    """
    n, k, m = (np.asarray(x, dtype=np.float64) for x in (n, k, m))
    rows = split_rows(n, n_workers)
    if scalar:
        return rows * k * m * PULP_SCALAR_INSTR_PER_MAC
    d = "fp32" if dtype == "fp32" else "fp16"
    ipm = PULP_INSTR_PER_MAC[(d, "b_t" if b_transposed else "b_n")]
    even = 2.0 * np.floor(m / 2.0)
    return rows * k * (even * ipm + (m - even) * PULP_SCALAR_INSTR_PER_MAC)


def copy_cycles(n_elements: ArrayLike, n_workers: int) -> np.ndarray:
    """Cycles of the busiest worker of a shape transform over ``n_elements`` elements."""
    return np.ceil(np.asarray(n_elements, dtype=np.float64) / n_workers) * PULP_COPY_INSTR_PER_ELEMENT


def conv_geometry(m: ArrayLike, k: ArrayLike, in_elements: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(kh x kw, stride)`` of a conv row from its GEMM view (``m`` output pixels, ``k = C_in kh kw``,
    ``in_elements = C_in H_in W_in``, :func:`models.workloads.ops.conv`): ``kh kw / s^2 = k m / in_elements``;
    ``s`` is the smallest stride (1..4) making ``kh kw`` a whole number (a 3x3 stride-1 conv gives 9 at s = 1,
    a 1x1 stride-2 shortcut 1/4 at s = 1, so s = 2)."""
    mm, kk_, e = (np.asarray(x, dtype=np.float64) for x in (m, k, in_elements))
    r = kk_ * mm / np.maximum(e, 1e-300)
    s = np.full_like(r, 4.0)
    for cand in (3.0, 2.0, 1.0):
        kk = r * cand * cand
        ok = (np.abs(kk - np.round(kk)) < 1e-6) & (np.round(kk) >= 1.0)
        s = np.where(ok, cand, s)
    return np.round(r * s * s), s


Pass = tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], bool, bool]


def pulp_passes(kind: str, m: ArrayLike, n: ArrayLike, k: ArrayLike, in_elements: ArrayLike) -> dict[str, Pass]:
    """The PULP-TrainLib lowering (CHW layout) of one layer with weights, per pass.

    Returns ``pass -> (elements copied, (N, K, M) of the MatMul, B transposed, scalar kernel)`` for
    ``"forward"``, ``"wgrad"`` and ``"dgrad"``, from the forward row's GEMM view (``m`` output pixels x
    batch, ``n = C_out``, ``k = C_in/groups kh kw``, ``in_elements`` input activations):

    - conv with im2row (``k m != in_elements``): forward im2row of the input (``k m`` elements), MatMul
      ``(C_out, k, m)`` with B transposed; weight gradient: im2row of the input again, ``(C_out, m, k)``,
      B not transposed; input gradient: im2row of the output gradient over the input grid
      (``kh kw C_out H_in W_in`` elements) and a block transposition of the weights (``C_out k``),
      ``(C_in, kh kw C_out, H_in W_in)``, B transposed (pulp_conv2d_fp16.c);
    - pointwise (1x1 stride 1, ``k m = in_elements``): no im2row; forward ``(C_out, C_in, m)`` B not
      transposed; weight gradient ``(C_out, m, C_in)`` B transposed; input gradient: transposition of the
      weights, ``(C_in, C_out, m)`` B not transposed (pulp_conv_pw_fp16.c);
    - depthwise (``dwconv``): im2row per pass as conv, scalar MatMuls split over the ``C`` channels
      (mm_dw_fp16: ``C`` rows of ``kh kw`` MACs per output pixel) (pulp_conv_dw_fp16.c);
    - gemm / gemv (linear layers): the naive scalar kernel (mm_fp16 when ``M < 2``), rows split over
      ``C_out`` (forward, weight gradient) and ``C_in`` (input gradient).
    """
    m, n, k, e_in = (np.asarray(x, dtype=np.float64) for x in (m, n, k, in_elements))
    zero = np.zeros_like(m)
    if kind in ("gemm", "gemv"):
        return {"forward": (zero, (n, k, m), True, True), "wgrad": (zero, (n, m, k), False, True),
                "dgrad": (zero, (k, n, m), True, True)}
    if kind == "dwconv":  # k = kh kw (one input channel per group)
        c, kk = n, k
        pix_in = e_in / c
        return {"forward": (kk * c * m, (c, kk, m), True, True), "wgrad": (kk * c * m, (c, m, kk), False, True),
                "dgrad": (kk * c * pix_in, (c, kk, pix_in), True, True)}
    kk, s = conv_geometry(m, k, e_in)
    c_in = k / kk
    pix_in = e_in / c_in
    pw = (kk == 1.0) & (s == 1.0)
    im2row = np.where(pw, 0.0, k * m)
    dgrad_copy = np.where(pw, n * k, kk * n * pix_in + n * k)
    return {"forward": (im2row, (n, k, m), bool(not np.all(pw)), False),
            "wgrad": (im2row, (n, m, k), bool(np.all(pw)), False),
            "dgrad": (dgrad_copy, (c_in, kk * n, pix_in), bool(not np.all(pw)), False)}


def pulp_trainlib_step(table: OperatorTable, *, n_units: int, n_workers: int,
                       ops_per_cycle: Mapping[str, float]) -> OperatorTable:
    """A training table priced as PULP-TrainLib runs it on a cluster of ``n_units`` cores (``n_workers``
    of them computing).

    Every forward, input-gradient (``.dgrad``) and weight-gradient (``.wgrad``) row of a layer with
    weights keeps its MACs (``flop``); per pass, two rows are added in the row's datatype, phase and
    count, so that the one pricing kernel charges the cycles of the busiest worker:

    - ``<row>[pulp:copy]`` (elementwise): the shape transforms of :func:`pulp_passes`, ``ceil(E / P) x 2``
      cycles (:data:`PULP_COPY_INSTR_PER_ELEMENT`), reading and writing the ``E`` elements;
    - ``<row>[pulp:mm]`` (elementwise, no bytes): the issue slots of the MatMul beyond its MACs at the
      cluster's FMA peak: loads and shuffles of the inner loop, the scalar leftover column, the workers
      idle while the busiest one finishes (ceil split) and the cores that do not compute.

    A cycle of the busiest worker is ``n_units x ops_per_cycle[dtype]`` operations of the engine (its peak),
    so the MatMul row and its ``[pulp:mm]`` row together take :func:`matmul_cycles` at the engine's rate
    (and its efficiency, as every row). ``ops_per_cycle`` is per core and datatype (the preset's SIMD width).
    """
    if n_workers < 1 or n_workers > n_units:
        raise ValueError(f"n_workers must be in 1..n_units = {n_units}, got {n_workers}")
    meta = table.meta
    names, kinds, phases = meta["name"].to_list(), meta["kind"].to_list(), meta["phase"].to_list()
    cdt = meta["compute_dtype"].to_list()
    fwd_geo: dict[str, tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    for i, c in enumerate(table.columns):
        if phases[i] == "forward" and kinds[i] in _WEIGHT_KINDS and np.any(c["n_params"] > 0):
            b = bytes_per_element(meta["act_dtype"][i] or cdt[i])
            fwd_geo[names[i]] = (kinds[i], c["m"], c["n"], c["k"], c["act_read_B"] / b)
    extra_cols: list[dict[str, np.ndarray]] = []
    extra_meta: list[dict[str, str]] = []
    zero = np.zeros(())
    for i, c in enumerate(table.columns):
        if kinds[i] not in _WEIGHT_KINDS or phases[i] not in ("forward", "backward"):
            continue
        base, _, role = names[i].rpartition(".")
        if phases[i] == "forward":
            base, role = names[i], "forward"
        if role not in ("forward", "dgrad", "wgrad") or base not in fwd_geo:
            continue
        kind, m, n, k, e_in = fwd_geo[base]
        elems, (nn, kk_, mm), b_t, scalar = pulp_passes(kind, m, n, k, e_in)[role]
        dt = cdt[i]
        if dt not in ops_per_cycle:
            raise ValueError(f"pulp_trainlib_step: no FP rate for datatype {dt!r} of {names[i]!r}; rates for "
                             f"{', '.join(ops_per_cycle)}")
        per_cycle = n_units * float(ops_per_cycle[dt])
        mm_flop = matmul_cycles(nn, kk_, mm, dtype=dt, b_transposed=b_t, n_workers=n_workers,
                                scalar=scalar) * per_cycle
        b = bytes_per_element(dt)
        rows = [("mm", np.maximum(mm_flop - c["flop"], 0.0), zero),
                ("copy", copy_cycles(elems, n_workers) * per_cycle, elems * b)]
        for what, flop, moved_B in rows:
            if not np.any(flop > 0):
                continue
            extra_cols.append({"count": c["count"], "m": c["m"], "n": c["n"], "k": np.ones(()), "flop": flop,
                               "n_params": zero, "weight_read_B": zero, "act_read_B": moved_B,
                               "act_write_B": moved_B, "kv_read_B": zero, "kv_write_B": zero,
                               "footprint_B": 2.0 * moved_B})
            extra_meta.append({"name": f"{names[i]}[pulp:{what}]", "phase": phases[i], "kind": "elementwise",
                               "compute_dtype": dt, "weight_dtype": "", "act_dtype": dt, "kv_dtype": "",
                               "acc_dtype": dt})
    if not extra_cols:
        return table
    extra = replace(table, meta=pl.DataFrame(extra_meta, schema={col: pl.String for col in table.meta.columns}),
                    columns=tuple(extra_cols))
    out = concat_tables([table, extra], workload=table.workload)
    return replace(out, peak_memory_B=table.peak_memory_B, memory_parts_B=table.memory_parts_B,
                   n_items=table.n_items, item_name=table.item_name, knobs=table.knobs,
                   stored_params=table.stored_params)

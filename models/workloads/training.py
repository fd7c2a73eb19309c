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

from models.workloads.ops import bytes_per_element, elementwise
from models.workloads.table import ARRAY_FIELDS, OperatorTable, concat_tables

__all__ = ["OPTIMIZERS", "training_step"]

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

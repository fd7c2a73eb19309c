"""Single-operator workloads: one GEMM, one attention call, one softmax, one group convolution.

They are what kernel-level questions are about ("a 4096 x 4096 GEMV in int4 with T-MAC on a
Pi 5", "FlashAttention-2 on an A100 at 8k tokens", "two-pass softmax on AVX-512"), and they take
the same algorithm knobs as whole models, through the same builder and pricing kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.workloads.ops import attention_op, conv, gemm, softmax, table_from_ops
from models.workloads.table import OperatorTable

__all__ = ["attention_workload", "gemm_workload", "group_conv_workload", "softmax_workload"]


def _n(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def gemm_workload(*, m: Any, n: Any, k: Any, dtype: str, weight_dtype: str) -> OperatorTable:
    """``C[m, n] = A[m, k] @ W[k, n]`` with weights ``W`` (one instance; item: the GEMM)."""
    op = gemm("gemm", _n(m), _n(n), _n(k), dtype=dtype, weight_dtype=weight_dtype, phase="forward")
    return table_from_ops([op], workload="gemm", n_items=1.0, item_name="gemm",
                          knobs={"m": _n(m), "n": _n(n), "k": _n(k)})


def attention_workload(*, batch: Any, n_heads: Any, n_kv_heads: Any, seq_len: Any, head_dim: Any, causal: bool,
                       dtype: str) -> OperatorTable:
    """One self-attention call (Q K^T, softmax, P V) over ``seq_len`` tokens; ``n_kv_heads`` 0
    means as many as query heads (item: the call)."""
    h = _n(n_heads)
    hkv = np.where(_n(n_kv_heads) > 0, _n(n_kv_heads), h)
    op = attention_op("attention", _n(batch), h, _n(seq_len), _n(seq_len), _n(head_dim), n_kv_heads=hkv,
                      causal=causal, dtype=dtype, phase="forward")
    return table_from_ops([op], workload="attention", n_items=1.0, item_name="call")


def softmax_workload(*, rows: Any, n_elements: Any, dtype: str) -> OperatorTable:
    """``rows`` softmaxes over ``n_elements`` each, fused (one read, one write per element);
    the ``softmax_variant`` knob gives its pass structure (item: the softmax call)."""
    op = softmax("softmax", _n(rows), _n(n_elements), dtype=dtype, phase="forward")
    return table_from_ops([op], workload="softmax", n_items=1.0, item_name="call")


def group_conv_workload(*, batch: Any, channels: Any, h_out: Any, w_out: Any, group_size: Any, kernel: Any,
                        stride: Any, dtype: str) -> OperatorTable:
    """One ``kernel x kernel`` group convolution ``channels -> channels`` with ``group_size``
    channels per group (E2GC); 1 is depthwise (item: the layer)."""
    from models.workloads.cnn import check_divides

    c, g = _n(channels), _n(group_size)
    check_divides("group_size", g, c, "the layer")
    op = conv("gconv", _n(batch), _n(h_out), _n(w_out), c, c, _n(kernel), groups=c / g, stride=_n(stride),
              dtype=dtype)
    return table_from_ops([op], workload="group-conv", n_items=1.0, item_name="layer")

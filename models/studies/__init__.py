"""Questions answered by evaluating design points along the one path.

Each function here is a small study over the public path: build points with
:func:`models.point.build_point` (or :func:`models.perf.evaluate_point`), price them with
:func:`models.perf.evaluate`, read a metric. None has a model of its own, so what it answers
is what a sweep over the same knobs gives. The validation cases and the notebooks use them.

- softmax: :func:`softmax_time`, :func:`softmax_speedup` (the ``softmax`` workload and the
  ``softmax_variant`` knob);
- group size: :func:`group_conv_cost`, :func:`optimal_group_size`, :func:`e2gc_gain`;
- scaling: :func:`scaled_net_cost`;
- attention: :func:`fa2_forward_efficiency` (the ``attention`` workload, FlashAttention-2 tiling);
- low-bit GEMM: :func:`decode_tokens_per_s` (T-MAC / llama.cpp style decode on CPU cores),
  :func:`gemm_speedup` (a GEMM in two format/strategy settings, COMET style).
"""

from models.studies.studies import (
    SoftmaxTiming,
    decode_tokens_per_s,
    e2gc_gain,
    fa2_forward_efficiency,
    gemm_speedup,
    group_conv_cost,
    optimal_group_size,
    scaled_net_cost,
    softmax_speedup,
    softmax_time,
)

__all__ = [
    "SoftmaxTiming",
    "decode_tokens_per_s",
    "e2gc_gain",
    "fa2_forward_efficiency",
    "gemm_speedup",
    "group_conv_cost",
    "optimal_group_size",
    "scaled_net_cost",
    "softmax_speedup",
    "softmax_time",
]

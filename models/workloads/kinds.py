"""The vocabulary of operator tables: operator kinds and phases.

Operator kinds belong to workloads (a workload says what each operator is); hardware files
refer to them (which kinds an engine runs, an efficiency per kind). This module imports
nothing, so both layers can use it.
"""

from __future__ import annotations

__all__ = ["MAC_KINDS", "OP_KINDS", "PHASES"]

OP_KINDS = (
    "gemm",
    "gemv",
    "conv",
    "dwconv",
    "attention",
    "softmax",
    "norm",
    "elementwise",
    "embedding",
)
# Kinds whose FLOPs are multiply-accumulates (2 FLOP per MAC).
MAC_KINDS = ("gemm", "gemv", "conv", "dwconv", "attention")
PHASES = ("prefill", "decode", "forward", "backward", "update")

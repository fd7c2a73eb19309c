"""Workloads as operator tables."""

from models.workloads.ops import (
    Op,
    attention_op,
    bytes_per_element,
    conv,
    elementwise,
    gemm,
    gemv,
    norm,
    softmax,
    table_from_ops,
)
from models.workloads.table import ARRAY_FIELDS, META_COLUMNS, PHASES, OperatorTable, concat_tables

__all__ = [
    "ARRAY_FIELDS",
    "META_COLUMNS",
    "PHASES",
    "Op",
    "OperatorTable",
    "attention_op",
    "bytes_per_element",
    "concat_tables",
    "conv",
    "elementwise",
    "gemm",
    "gemv",
    "norm",
    "softmax",
    "table_from_ops",
]

"""Compute datatypes known to the engines, their widths, and the explicit fallback chains.

A datatype here is what an engine computes in (``int4``, ``fp8``, ``bf16`` ...). Storage
formats with scales and blocks (MXFP4, NF4, per-group INT4 ...) live in
``models.algorithms.quant`` and map onto one of these for compute.

When an engine has no native rate for a datatype, the operator runs at the first datatype
of the chain below that the engine has, and the result records that it fell back. An engine
that has none of the chain cannot run the operator at all.
"""

from __future__ import annotations

__all__ = ["DTYPES", "DTYPE_BITS", "DTYPE_INDEX", "FALLBACK", "fallback_chain", "check_dtype"]

# Ordered list: the index of a datatype in this tuple is its code in compiled arrays.
DTYPES: tuple[str, ...] = (
    "fp64",
    "fp32",
    "tf32",
    "bf16",
    "fp16",
    "fp8",
    "fp6",
    "fp4",
    "int32",
    "int16",
    "int8",
    "int4",
    "int2",
    "int1",
)

DTYPE_BITS: dict[str, int] = {
    "fp64": 64,
    "fp32": 32,
    "tf32": 32,  # stored as fp32, computed with a 10-bit mantissa
    "bf16": 16,
    "fp16": 16,
    "fp8": 8,
    "fp6": 6,
    "fp4": 4,
    "int32": 32,
    "int16": 16,
    "int8": 8,
    "int4": 4,
    "int2": 2,
    "int1": 1,
}

DTYPE_INDEX: dict[str, int] = {d: i for i, d in enumerate(DTYPES)}

# What an engine computes instead when it lacks a datatype, in order of preference.
# Integers widen within the integer family first (unpack to int8 is how CPUs and GPUs run
# int4), then move to the narrowest float that holds them exactly.
FALLBACK: dict[str, tuple[str, ...]] = {
    "fp64": (),
    "fp32": ("fp64",),
    "tf32": ("fp32", "fp64"),
    "bf16": ("fp32", "fp64"),
    "fp16": ("fp32", "fp64"),
    "fp8": ("fp16", "bf16", "fp32"),
    "fp6": ("fp8", "fp16", "bf16", "fp32"),
    "fp4": ("fp6", "fp8", "fp16", "bf16", "fp32"),
    "int32": ("fp64",),
    "int16": ("int32", "fp32"),
    "int8": ("int16", "fp16", "bf16", "int32", "fp32"),
    "int4": ("int8", "int16", "fp16", "bf16", "fp32"),
    "int2": ("int4", "int8", "int16", "fp16", "bf16", "fp32"),
    "int1": ("int2", "int4", "int8", "int16", "fp16", "bf16", "fp32"),
}


def check_dtype(dtype: str, *, where: str = "datatype") -> str:
    """Return ``dtype`` if known, else raise a ValueError naming the allowed datatypes."""
    if dtype not in DTYPE_INDEX:
        raise ValueError(f"{where}: unknown datatype {dtype!r}; allowed: {', '.join(DTYPES)}")
    return dtype


def fallback_chain(dtype: str) -> tuple[str, ...]:
    """The datatype itself followed by what it falls back to."""
    check_dtype(dtype)
    return (dtype, *FALLBACK[dtype])

"""Predictors for the foundation identities: peak rate from units x rate x clock, ridge points."""

from __future__ import annotations

from models.hardware import get_target
from models.units import from_si
from models.validation.suite import predictor


@predictor("foundation.peak")
def peak(*, target: str, dtype: str, unit: str = "TFLOP/s", engine: str | None = None) -> float:
    """Native peak of ``target`` for ``dtype`` (n_units x ops/cycle x clock), in ``unit``."""
    return from_si(get_target(target).peak_op_per_s(dtype, engine), unit)


@predictor("foundation.ridge_point")
def ridge_point(*, target: str, dtype: str, engine: str | None = None, memory: str | None = None) -> float:
    """Peak / main-memory bandwidth of ``target`` for ``dtype``, in FLOP/B."""
    return get_target(target).ridge_point_FLOP_per_B(dtype, engine, memory)

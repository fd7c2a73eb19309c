"""Vectorized hierarchical roofline and energy model."""

from models.perf.charts import roofline_ceilings, roofline_curve
from models.perf.compiled import CompiledTarget, compile_target
from models.perf.roofline import BOUND_COMPUTE, BOUND_OVERHEAD, PerfResult, evaluate

__all__ = [
    "BOUND_COMPUTE",
    "BOUND_OVERHEAD",
    "CompiledTarget",
    "PerfResult",
    "compile_target",
    "evaluate",
    "roofline_ceilings",
    "roofline_curve",
]

"""Vectorized hierarchical roofline and energy model: one pricing kernel, one evaluate."""

from models.perf.charts import roofline_ceilings, roofline_curve
from models.perf.compiled import CompiledTarget, compile_target
from models.perf.kernel import Path, Priced, Route, price, prune_routes
from models.perf.point import PointResult, evaluate_point, split_point_settings
from models.perf.roofline import (
    BOUND_COMPUTE,
    BOUND_OVERHEAD,
    ENGINE_POLICIES,
    MODES,
    PerfResult,
    Plan,
    evaluate,
    plan_routes,
)

__all__ = [
    "BOUND_COMPUTE",
    "BOUND_OVERHEAD",
    "ENGINE_POLICIES",
    "MODES",
    "CompiledTarget",
    "Path",
    "PerfResult",
    "Plan",
    "PointResult",
    "Priced",
    "Route",
    "compile_target",
    "evaluate",
    "evaluate_point",
    "plan_routes",
    "price",
    "prune_routes",
    "roofline_ceilings",
    "roofline_curve",
    "split_point_settings",
]

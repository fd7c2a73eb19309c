"""System models above the one-request tables: serving streams, agents' function calls, federated rounds.

Each system model prices nothing itself: it builds the operator tables it needs with
:func:`models.point.build_point`, prices them with :func:`models.perf.evaluate` and combines the
results with its own algebra. A design point turns one on with its switch knob (``serving``,
``function_calling``, ``federated``); :func:`evaluate_system` is the one dispatch that
``tradespace evaluate`` (:func:`models.perf.evaluate_point`), sweeps and searches
(:mod:`models.dse.evaluator`) call, so a point gets the same numbers whoever asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.systems.dag import (
    MAX_CALLS,
    CallGraphError,
    critical_path_s,
    finish_times,
    graph_depth,
    layered_graph,
    parse_call_graph,
    topological_order,
)

__all__ = [
    "MAX_CALLS",
    "SYSTEM_SWITCHES",
    "CallGraphError",
    "critical_path_s",
    "evaluate_system",
    "finish_times",
    "graph_depth",
    "layered_graph",
    "parse_call_graph",
    "system_metrics",
    "system_model",
    "topological_order",
]

# switch knob of each system model (its "off" value prices one request)
SYSTEM_SWITCHES = ("serving", "function_calling", "federated")


def _value(knobs: Mapping[str, Any], name: str) -> str:
    for k in (name, f"algorithm.{name}"):
        if k in knobs:
            return str(knobs[k])
    return "off"


def system_model(knobs: Mapping[str, Any]) -> str | None:
    """The switch knob of the system model a point's settings turn on, or None.

    Raises
    ------
    ValueError
        Two system models at once (each prices a different question).
    """
    on = [s for s in SYSTEM_SWITCHES if _value(knobs, s) != "off"]
    if len(on) > 1:
        raise ValueError(f"algorithm knobs {' and '.join(repr(s) for s in on)} together: each is a separate system "
                         "model (a request stream, an agent's task, federated training); allowed: one of them on")
    return on[0] if on else None


def system_metrics(switch: str) -> tuple[str, ...]:
    """The metric names a system model adds to a point's totals."""
    if switch == "serving":
        from models.serving import SERVING_METRICS

        return SERVING_METRICS
    if switch == "function_calling":
        from models.systems.function_calling import FUNCTION_CALLING_METRICS

        # the item of an agent's result is the task
        return (*FUNCTION_CALLING_METRICS, "tasks_per_s", "energy_J_per_task", "tasks_per_s_per_device")
    from models.systems.federated import FEDERATED_METRICS

    return FEDERATED_METRICS


def evaluate_system(ct: Any, target: Any, workload: Any, knobs: Mapping[str, Any], *, engine: Any = None,
                    policy: str = "time", mode: str = "calibrated", detail: bool = False) -> Any:
    """``(PerfResult, BuiltPoint)`` of the system model ``knobs`` turn on, or None when none is on."""
    switch = system_model(knobs)
    if switch is None:
        return None
    if switch == "serving":
        from models.serving import evaluate_serving as run
    elif switch == "function_calling":
        from models.systems.function_calling import evaluate_function_calling as run
    else:
        from models.systems.federated import evaluate_federated as run
    return run(ct, target, workload, knobs, engine=engine, policy=policy, mode=mode, detail=detail)

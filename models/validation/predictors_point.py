"""The generic predictor: one design point, evaluated as users evaluate it, one metric read.

``point.metric`` is what ``tradespace evaluate --target T --workload W --set k=v ...`` prints:
:func:`models.perf.evaluate_point` builds the point with the one builder and prices it with the
one kernel, and the case names the total it compares (``latency_s``, ``tokens_per_s``,
``energy_J_per_token``, ``average_power_W``, ``decode_latency_s``...). Cases measured on
several identical devices running independent replicas (MLPerf's 8-GPU offline systems, a
data-parallel server) give ``n_devices``: rates and power scale with it, per-item figures and
latencies do not. Nothing else is modelled here: no factor, no per-case table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.perf import evaluate_point
from models.units import dimension_of, from_si
from models.validation.suite import predictor

# metrics that add up over independent replicas on n devices
_ADDITIVE = ("_per_s", "average_power_W")


@predictor("point.metric")
def point_metric(*, target: str, workload: str, metric: str, unit: str, settings: Mapping[str, Any] | None = None,
                 engine: str | Mapping[str, str] | None = None, n_devices: int = 1, mode: str = "calibrated") -> float:
    """``metric`` of the design point (``target``, ``workload``, ``settings``) in ``unit``.

    Raises
    ------
    KeyError
        ``metric`` is not a total of the point (the message lists the totals).
    ValueError
        ``n_devices`` below 1, or ``unit`` of another dimension than the metric.
    """
    if isinstance(n_devices, bool) or not isinstance(n_devices, int) or n_devices < 1:
        raise ValueError(f"n_devices = {n_devices!r}; allowed: an integer >= 1")
    r = evaluate_point(target, workload, dict(settings or {}), engine=engine, mode=mode, detail=False)
    totals = r.perf.metrics()
    if metric not in totals:
        raise KeyError(f"metric {metric!r} is not a total of this point; allowed: {', '.join(sorted(totals))}")
    value = float(np.asarray(totals[metric]).reshape(-1)[0])
    if n_devices > 1 and metric.endswith(_ADDITIVE):
        value *= n_devices
    want = _metric_dimension(metric)
    if want is not None and dimension_of(unit) != want:
        raise ValueError(f"unit {unit!r} is a {dimension_of(unit)} unit; metric {metric!r} needs a {want} unit")
    return from_si(value, unit)


@predictor("point.ratio")
def point_ratio(*, target: str, workload: str, metric: str, settings: Mapping[str, Any] | None = None,
                baseline: Mapping[str, Any], invert: bool = False, engine: str | Mapping[str, str] | None = None,
                operators: Sequence[str] | None = None, mode: str = "calibrated") -> float:
    """``metric`` of a design point over the same metric of a baseline point (both as evaluated by users).

    The form of a paper's relative claim ("2.6x faster than X", "79% of the energy of Y"): the
    point is (``target``, ``workload``, ``settings``); ``baseline`` holds the keys that differ
    (``target``, ``workload``, ``settings``, ``engine``; absent keys are the point's). With
    ``invert`` the ratio is baseline over point: a speedup is ``metric = "latency_s"`` with
    ``invert = true``. Both points go through :func:`models.perf.evaluate_point`. With
    ``operators`` the metric is ``latency_s`` or ``energy_J`` summed over those operators of the
    per-operator breakdown (what ``tradespace evaluate`` lists: a paper's "expert forward time").

    Raises
    ------
    KeyError
        ``metric`` is not a total of a point, or ``baseline`` has a key other than the four, or an
        operator is in neither point's table.
    ValueError
        The baseline's metric is zero.
    """
    extra = set(baseline) - {"target", "workload", "settings", "engine"}
    if extra:
        raise KeyError(f"baseline: unknown key(s) {', '.join(sorted(extra))}; allowed: target, workload, settings, "
                       "engine")

    op_metrics = {"latency_s": "total_latency_s", "energy_J": "total_energy_J"}
    if operators is not None and metric not in op_metrics:
        raise KeyError(f"metric {metric!r} with operators: allowed: {', '.join(op_metrics)} (summed over them)")
    seen: set[str] = set()

    def one(t: str, w: str, s: Mapping[str, Any] | None, e: str | Mapping[str, str] | None) -> float:
        r = evaluate_point(t, w, dict(s or {}), engine=e, mode=mode, detail=operators is not None)
        if operators is not None:
            bd = r.perf.breakdown(0)
            names = bd["name"].to_list()
            seen.update(n for n in operators if n in names)
            return float(sum(v for n, v in zip(names, bd[op_metrics[metric]].to_list(), strict=True)
                             if n in operators))
        totals = r.perf.metrics()
        if metric not in totals:
            raise KeyError(f"metric {metric!r} is not a total of this point; allowed: {', '.join(sorted(totals))}")
        return float(np.asarray(totals[metric]).reshape(-1)[0])

    a = one(target, workload, settings, engine)
    b = one(baseline.get("target", target), baseline.get("workload", workload),
            baseline.get("settings", settings), baseline.get("engine", engine))
    missing = [n for n in operators or () if n not in seen]
    if missing:
        raise KeyError(f"operators: {', '.join(missing)} in neither point's table")
    num, den = (b, a) if invert else (a, b)
    if den == 0.0:
        raise ValueError(f"point.ratio: the {'point' if invert else 'baseline'}'s {metric} is 0; no ratio")
    return num / den


def _metric_dimension(metric: str) -> str | None:
    """The dimension of a unit-suffixed metric name (None when the suffix names none)."""
    if metric.endswith("_per_s"):
        return "frequency"
    for suffix, dim in (("_s", "time"), ("_W", "power"), ("_B", "bytes")):
        if metric.endswith(suffix):
            return dim
    if metric.endswith("_J") or "_J_per_" in metric:
        return "energy"
    return None


@predictor("point.mac_per_cycle")
def point_mac_per_cycle(*, target: str, workload: str, settings: Mapping[str, Any] | None = None,
                        engine: str | Mapping[str, str] | None = None, mode: str = "calibrated") -> float:
    """MACs of the design point's table over its latency in clock cycles of ``target``.

    The clock-free form of a measured time: a paper that gives MAC/clk but not its clock (or
    SoC) is compared without one. The point is evaluated by :func:`models.perf.evaluate_point`.
    """
    r = evaluate_point(target, workload, dict(settings or {}), engine=engine, mode=mode, detail=False)
    mac = float(np.asarray(r.built.table.total("mac")).reshape(-1)[0])
    return mac / (float(np.asarray(r.perf.latency_s).reshape(-1)[0]) * r.target.clock_Hz)

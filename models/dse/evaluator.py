"""Evaluate design points of a space along the one model path.

A design point of a space is priced exactly as ``tradespace evaluate`` prices it: its workload
and algorithm knobs go through :func:`models.point.build_point`, its target-field values become
overrides of :func:`models.perf.compile_target`, and :func:`models.perf.evaluate` prices the
table. Points are grouped by their *structural* parameters (target, workload, categorical knobs,
engine assignments); within a group the numeric knobs and target fields are arrays, so a group
is one build and one evaluation whatever its number of points:

- a list of points (a search batch, a random sample) passes every array as ``(P,)``: point ``i``
  is knob values ``i`` on hardware values ``i``;
- a sweep passes each numeric knob on its own axis and the hardware rows on the last one
  (:mod:`models.dse.sweep`), and broadcasting prices the whole product.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from models.dse.space import DesignSpace, Parameter
from models.hardware import Target, get_target
from models.parallel.plan import ParallelError
from models.perf import CompiledTarget, PerfResult, Plan, compile_target, evaluate, plan_routes
from models.point import build_point

__all__ = ["Group", "assemble", "constraint_values", "evaluate_group", "evaluate_points", "group_of",
           "point_result", "split_parameters"]


def _structural(space: DesignSpace, p: Parameter) -> bool:
    """Grouped by: categorical, or a numeric knob whose declaration says it changes the operators."""
    if p.structural:
        return True
    if p.scope == "algorithm":
        # an algorithm knob that reshapes the table (a parallel degree): one value per group
        from models.point.knobs import ALGORITHM_KNOBS

        return bool(getattr(ALGORITHM_KNOBS.get(p.key), "structural", False))
    if p.scope != "workload_knob":
        return False
    from models.workloads import workload_spec

    return any(workload_spec(w).knob(p.key).structural for w in space.workloads())


def split_parameters(space: DesignSpace) -> tuple[list[Parameter], list[Parameter], list[Parameter]]:
    """Parameters split into (structural, numeric knobs, target fields)."""
    struct, knobs, hw = [], [], []
    for p in space.parameters:
        if _structural(space, p):
            struct.append(p)
        elif p.scope == "target_field":
            hw.append(p)
        else:
            knobs.append(p)
    return struct, knobs, hw


@dataclass(frozen=True, kw_only=True)
class Group:
    """The fixed settings of one structural group of a space.

    Attributes
    ----------
    target, workload
        The target and workload of every point of the group.
    knobs
        Fixed workload and algorithm knobs (qualified names: ``workload.batch``,
        ``algorithm.weight_format``), from the space's fixed settings and the structural values.
    engine
        Engine assignment ``{kind: engine}``.
    """

    target: Target
    workload: str
    knobs: Mapping[str, Any] = field(default_factory=dict)
    engine: Mapping[str, str] = field(default_factory=dict)


def group_of(space: DesignSpace, values: Mapping[str, Any]) -> Group:
    """The :class:`Group` of a point's structural parameter ``values`` (by parameter name)."""
    params = {p.name: p for p in space.parameters}
    target, workload = space.target, space.workload
    knobs: dict[str, Any] = {f"workload.{k}": v for k, v in space.workload_knobs.items()}
    knobs.update({f"algorithm.{k}": v for k, v in space.algorithm_knobs.items()})
    engine = dict(space.engine)
    for name, v in values.items():
        p = params[name]
        if p.scope == "target":
            target = str(v)
        elif p.scope == "workload":
            workload = str(v)
        elif p.scope == "engine":
            engine[p.key] = str(v)
        else:
            knobs[p.sets] = v.item() if isinstance(v, np.generic) else v
    return Group(target=get_target(target), workload=workload, knobs=knobs, engine=engine)


class PlanCache:
    """The :func:`models.perf.plan_routes` of each (compiled target, table structure), reused by
    the chunks of a sweep that share their hardware rows.

    A plan holds arrays over the hardware points: the cache keeps a few, and the compiled
    targets they belong to (so that an identity never refers to another target).
    """

    MAX = 8

    def __init__(self) -> None:
        self._plans: dict[Any, tuple[CompiledTarget, Plan]] = {}

    def clear(self) -> None:
        self._plans.clear()

    def get(self, ct: CompiledTarget, meta: pl.DataFrame, group: Group, space: DesignSpace) -> Plan:
        key = (id(ct), tuple(tuple(meta[c].to_list()) for c in ("kind", "compute_dtype", "phase")))
        hit = self._plans.get(key)
        if hit is not None and hit[0] is ct:
            return hit[1]
        if len(self._plans) >= self.MAX:
            self._plans.clear()
        plan = plan_routes(ct, meta, engine=group.engine or None, policy=space.policy, mode=space.mode)
        self._plans[key] = (ct, plan)
        return plan


def evaluate_group(space: DesignSpace, group: Group, knobs: Mapping[str, Any], ct: CompiledTarget, *,
                   plans: PlanCache | None = None,
                   detail: bool = False) -> tuple[PerfResult, np.ndarray, np.ndarray, np.ndarray]:
    """Price the points of one group.

    Parameters
    ----------
    knobs
        Numeric knob values by qualified name (arrays that broadcast with each other and with
        the hardware points of ``ct`` on the last axis).
    ct
        The group's target compiled with the points' target-field overrides.

    Returns
    -------
    (PerfResult, error_proxy, area_m2, mac_per_item)
        The evaluation, and the accuracy proxy, die area and multiply-accumulates per item of
        the built table (:meth:`OperatorTable.total` ``"mac"`` over ``n_items``; the ``macs``
        constraint) broadcast to its shape.
    """
    from models.systems import evaluate_system

    merged = {**group.knobs, **knobs}
    # a system model (models.systems: a request stream, an agent's task, federated rounds): its
    # tables go through build_point and evaluate each
    layered = evaluate_system(ct, group.target, group.workload, merged, engine=group.engine or None,
                              policy=space.policy, mode=space.mode, detail=detail)
    if layered is not None:
        r, built = layered
        return (r, np.broadcast_to(built.error_proxy, r.shape), np.broadcast_to(ct.area_m2, r.shape),
                np.full(r.shape, np.nan))
    built = build_point(group.workload, merged, target=group.target)
    plan = (plans or PlanCache()).get(ct, built.table.meta, group, space)
    r = evaluate(ct, built.table, mode=space.mode, detail=detail, plan=plan)
    area = ct.area_m2
    mac = _mac_per_item(built.table, r.shape)
    return r, np.broadcast_to(built.error_proxy, r.shape), np.broadcast_to(area, r.shape), mac


def _mac_per_item(table: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Multiply-accumulates per item of ``table``, broadcast to the result ``shape`` (the table's
    point axes lead; hardware points, if any, are the trailing axis)."""
    mac = np.asarray(table.total("mac") / np.asarray(table.n_items, dtype=np.float64), dtype=np.float64)
    return np.broadcast_to(mac.reshape(()) if mac.size == 1 else mac, shape)


def metric_arrays(space: DesignSpace, r: PerfResult, error_proxy: np.ndarray,
                  area: np.ndarray, mac_per_item: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The metric columns of :meth:`DesignSpace.metrics`, flattened (NaN where a metric does not apply)."""
    m = r.metrics()
    m["error_proxy"] = error_proxy
    m["area_m2"] = area
    if mac_per_item is not None:
        m["mac_per_item"] = mac_per_item
    n = int(np.prod(r.shape))
    out = {}
    for name in space.metrics():
        v = m.get(name)
        out[name] = np.full(n, np.nan) if v is None else np.ascontiguousarray(np.broadcast_to(v, r.shape)).reshape(-1)
    return out


def constraint_values(space: DesignSpace, m: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Constraint columns (``<= 0`` is feasible), relative to the limit, by constraint kind."""
    out = {}
    for c in space.constraints:
        if c.kind == "memory":
            out["constraint_memory"] = m["peak_memory_B"] / m["memory_capacity_B"] - 1.0
        elif c.kind == "power":
            # a power cap is a device's (its TDP or board limit): one device's share of a plan's unit
            out["constraint_power"] = m["average_power_W_per_device"] / float(c.limit) - 1.0  # type: ignore[arg-type]
        elif c.kind == "macs":
            out["constraint_macs"] = m["mac_per_item"] / float(c.limit) - 1.0  # type: ignore[arg-type]
        else:
            out["constraint_accuracy"] = m["error_proxy"] / float(c.limit) - 1.0  # type: ignore[arg-type]
    return out


def provenance_column(space: DesignSpace, cols: Mapping[str, Any], n: int) -> pl.Series:
    """How each row's numbers were obtained (``models.perf.roofline.result_provenance``):
    ``ideal`` in ideal mode, else the provenance of the row's target."""
    from models.perf.roofline import result_provenance

    tp = next((p for p in space.parameters if p.scope == "target"), None)
    if space.mode == "ideal" or tp is None or tp.name not in cols:
        value = result_provenance(get_target(space.targets()[0]).provenance, space.mode)
        return pl.repeat(value, n, dtype=pl.String, eager=True).alias("provenance")
    by_name = {str(c): result_provenance(get_target(str(c)).provenance, space.mode) for c in tp.choices}
    names = pl.Series(cols[tp.name]).cast(pl.String)
    return names.replace_strict(by_name, return_dtype=pl.String).alias("provenance")


def assemble(space: DesignSpace, points: pl.DataFrame | Mapping[str, Any], metrics: Mapping[str, np.ndarray],
             n: int | None = None) -> pl.DataFrame:
    """Points + metric columns + constraint columns + ``feasible``.

    ``points`` is a frame, or a mapping of ready columns (polars Series or numpy arrays) of
    ``n`` rows (the fast path used by sweeps).
    """
    if isinstance(points, pl.DataFrame):
        n = points.height
        cols: dict[str, Any] = {c: points[c] for c in points.columns}
    else:
        if n is None:
            raise ValueError("assemble: n (the number of rows) is required when points is a mapping")
        cols = dict(points)
    full = {name: (np.full(n, np.nan) if metrics.get(name) is None else np.asarray(metrics[name], dtype=np.float64))
            for name in space.metrics()}
    cols.update(full)
    cols["provenance"] = provenance_column(space, cols, n)
    feas = np.ones(n, dtype=np.bool_)
    for name, v in constraint_values(space, full).items():
        cols[name] = v
        feas &= v <= 0
    cols["feasible"] = feas
    return pl.DataFrame(cols)


def _si_values(p: Parameter, col: pl.Series) -> np.ndarray | list[Any]:
    return col.to_numpy().astype(np.float64) if p.kind in ("float", "int") else col.to_list()


def evaluate_points(space: DesignSpace, points: pl.DataFrame, *,
                    infeasible: dict[int, str] | None = None) -> pl.DataFrame:
    """Evaluate arbitrary design points (one column per parameter, SI values).

    Parameters
    ----------
    space
        The design space.
    points
        Frame with a column per parameter of ``space`` (extra columns are kept).
    infeasible
        If given, filled with ``row -> reason`` for the points that cannot be evaluated at all (a
        parallel plan the model or the device count cannot take): their metrics are NaN.

    Returns
    -------
    polars.DataFrame
        ``points`` with the metric columns of :meth:`DesignSpace.metrics`, one
        ``constraint_<kind>`` column per constraint (``<= 0`` feasible) and ``feasible``.
    """
    missing = [p for p in space.names if p not in points.columns]
    if missing:
        raise KeyError(f"points lack parameter column {missing[0]!r}; expected: {', '.join(space.names)}")
    struct, knobs, hw = split_parameters(space)
    n = points.height
    metrics: dict[str, np.ndarray] = {name: np.full(n, np.nan) for name in space.metrics()}
    if n == 0:
        return assemble(space, points, {})
    sidx = points.with_row_index("__i")
    groups: Sequence[tuple[tuple[Any, ...], pl.DataFrame]]
    if struct:
        groups = [(k if isinstance(k, tuple) else (k,), g)
                  for k, g in sidx.group_by([p.name for p in struct], maintain_order=True)]
    else:
        groups = [((), sidx)]
    for key, g in groups:
        group = group_of(space, dict(zip([p.name for p in struct], key, strict=True)))
        kn = {p.sets: np.asarray(_si_values(p, g[p.name])) for p in knobs}
        ov = {p.key: np.asarray(_si_values(p, g[p.name])) for p in hw}
        ct = compile_target(group.target, ov)
        try:
            r, err, area, mac = evaluate_group(space, group, kn, ct)
        except ParallelError as exc:
            # a combination of parallel degrees this model or this device count cannot take (a
            # degree that does not divide the heads, more devices than the deployment has): the
            # group's points are infeasible (NaN metrics), the others are evaluated
            if infeasible is not None:
                infeasible.update(dict.fromkeys(g["__i"].to_list(), str(exc)))
            continue
        m = metric_arrays(space, _to_length(r, g.height), np.broadcast_to(err, (g.height,)),
                          np.broadcast_to(area, (g.height,)), _flat_length(mac, g.height))
        idx = g["__i"].to_numpy()
        for k, v in m.items():
            metrics[k][idx] = v
    return assemble(space, points, metrics)


def _flat_length(v: np.ndarray, n: int) -> np.ndarray:
    """A per-point array of shape (1,) or (n,) (or a scalar) as n values."""
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    return np.broadcast_to(a[:1] if a.size == 1 else a, (n,))


def _to_length(r: PerfResult, n: int) -> PerfResult:
    """A result of shape (1,) or (n,) seen as n points (a group whose knobs and fields are all fixed)."""
    if r.shape == (n,):
        return r
    from dataclasses import replace

    def b(v: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(v).reshape(-1)[:1] if np.size(v) == 1 else v, (n,))

    return replace(r, latency_s=b(r.latency_s), energy_J=b(r.energy_J), dynamic_energy_J=b(r.dynamic_energy_J),
                   static_energy_J=b(r.static_energy_J), stalled_energy_J=b(r.stalled_energy_J),
                   n_items=b(r.n_items), peak_memory_B=b(r.peak_memory_B),
                   memory_capacity_B=b(r.memory_capacity_B), n_points=n,
                   phase_latency_s={k: b(v) for k, v in r.phase_latency_s.items()},
                   phase_energy_J={k: b(v) for k, v in r.phase_energy_J.items()},
                   serving={k: b(v) for k, v in r.serving.items()},
                   system={k: b(v) for k, v in r.system.items()})


def point_result(space: DesignSpace, row: Mapping[str, Any]) -> PerfResult:
    """The full evaluation (with the per-operator breakdown) of one design point of ``space``.

    ``row`` holds a value per parameter name (SI values, as in a results frame row; extra keys
    are ignored). Its ``latency_s`` and ``energy_J`` equal the sweep's and the search's for the
    same point.
    """
    missing = [n for n in space.names if n not in row]
    if missing:
        raise KeyError(f"design point lacks parameter {missing[0]!r}; expected: {', '.join(space.names)}")
    struct, knobs, hw = split_parameters(space)
    group = group_of(space, {p.name: row[p.name] for p in struct})
    ct = compile_target(group.target, {p.key: float(row[p.name]) for p in hw})
    r, _, _, _ = evaluate_group(space, group, {p.sets: float(row[p.name]) for p in knobs}, ct, detail=True)
    return r

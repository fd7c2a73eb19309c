"""One design point, from its settings to its numbers: the path every caller takes.

:func:`evaluate_point` builds the point's operator table with :func:`models.point.build_point`,
applies its target-field overrides with :func:`models.perf.compile_target` and prices it with
:func:`models.perf.evaluate`. ``tradespace evaluate``, the dashboard's Roofline and Compare
pages, the notebooks and the validation cases call it; sweeps and searches call the same three
functions with arrays (:mod:`models.dse.evaluator`), so a point gets the same numbers whoever
asks.

Settings are given by name, as on the command line: a workload knob (``batch``), an algorithm
knob (``weight_format``), or qualified: ``workload.batch``, ``algorithm.gemm_strategy``,
``target.memories.hbm.bandwidth`` (a target-field override, SI), ``engine.gemv`` (the engine of
every GEMV).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.hardware import Target, get_target, with_overrides
from models.perf.compiled import compile_target
from models.perf.roofline import PerfResult, evaluate
from models.point import BuiltPoint, build_point, setting
from models.workloads import WorkloadSpec, workload_spec

__all__ = ["PointResult", "evaluate_point", "split_point_settings"]


@dataclass(frozen=True, kw_only=True)
class PointResult:
    """The evaluation of one design point and how it was set.

    Attributes
    ----------
    perf
        Totals and (with ``detail``) the per-operator breakdown.
    built
        The operator table and the accuracy proxy.
    target
        The target with the point's overrides applied.
    overrides, engine
        Target-field overrides (SI) and engine assignment of the point.
    """

    perf: PerfResult
    built: BuiltPoint
    target: Target
    overrides: Mapping[str, float] = field(default_factory=dict)
    engine: Mapping[str, str] = field(default_factory=dict)

    @property
    def error_proxy(self) -> float:
        return float(np.asarray(self.built.error_proxy).reshape(-1)[0])

    def summary(self) -> dict[str, Any]:
        """Totals of the point (SI units in every key) and how they were obtained, JSON-ready."""
        r = self.perf
        tot = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in r.metrics().items()}
        tot["fits_in_memory"] = bool(tot["peak_memory_B"] <= tot["memory_capacity_B"])
        tot["error_proxy"] = self.error_proxy
        parts = {ph: {k: float(np.asarray(v).reshape(-1)[0]) for k, v in d.items()}
                 for ph, d in self.built.table.memory_parts_B.items()}
        return {"target": self.target.name, "workload": self.built.workload, "knobs": dict(self.built.knobs),
                "algorithm": dict(self.built.algorithm), "overrides": dict(self.overrides),
                "engine": dict(self.engine), "mode": r.mode, "result_kind": r.result_kind,
                "provenance": r.provenance, "item": r.item_name,
                "totals": tot, "memory_parts_B": parts, "notes": list(self.built.notes)}


def split_point_settings(settings: Mapping[str, Any], target: Target,
                         workload: str | WorkloadSpec) -> tuple[dict[str, Any], dict[str, float], dict[str, str]]:
    """``(knobs, target overrides, engine assignment)`` of a point's settings, each checked
    against its declaration (workload and algorithm knobs are checked by the builder)."""
    knobs: dict[str, Any] = {}
    overrides: dict[str, float] = {}
    engine: dict[str, str] = {}
    for name, v in settings.items():
        head = name.partition(".")[0]
        if head == "target":
            decl = setting(name, target=target)
            overrides[name.partition(".")[2]] = float(decl.check(v))
        elif head == "engine":
            decl = setting(name, target=target)
            engine[name.partition(".")[2]] = str(decl.check(v))
        else:
            knobs[name] = v
    return knobs, overrides, engine


def evaluate_point(target: str | Target, workload: str | WorkloadSpec, settings: Mapping[str, Any] | None = None, *,
                   overrides: Mapping[str, float] | None = None, engine: str | Mapping[str, str] | None = None,
                   policy: str = "time", mode: str = "calibrated", detail: bool = True) -> PointResult:
    """Evaluate one design point (or a broadcast grid of them, with array-valued knobs).

    Parameters
    ----------
    target
        A preset name, a target file path, or a :class:`~models.hardware.Target`.
    workload
        A workload name, a Hugging Face ``config.json`` path, or a spec.
    settings
        Knobs and qualified settings by name (see the module docstring).
    overrides
        Target-field overrides (SI), merged with the ``target.*`` settings.
    engine
        An engine for every operator, or ``{kind: engine}``, merged with the ``engine.*`` settings.
    policy, mode
        As in :func:`models.perf.evaluate`.
    detail
        Keep the per-operator breakdown.

    Raises
    ------
    ValueError, KeyError
        A bad setting (the message names it and what is allowed), or no engine that can run
        an operator.
    """
    t = get_target(target) if isinstance(target, str) else target
    spec = workload if isinstance(workload, WorkloadSpec) else workload_spec(workload)
    knobs, ov, eng = split_point_settings(dict(settings or {}), t, spec)
    ov.update({k: float(v) for k, v in (overrides or {}).items()})
    force: str | dict[str, str] | None
    if isinstance(engine, str):
        if eng:
            raise ValueError("engine: give one engine for everything or engine.<kind> settings, not both")
        force = engine
    else:
        force = {**dict(engine or {}), **eng} or None
    tt = with_overrides(t, ov) if ov else t
    from models.systems import evaluate_system  # above models.perf: imported when called

    # a system model (a request stream, an agent's task, federated rounds): its tables are built and
    # priced along this same path
    layered = evaluate_system(compile_target(tt), t, spec, knobs, engine=force, policy=policy, mode=mode,
                              detail=detail)
    if layered is not None:
        r, built = layered
        return PointResult(perf=r, built=built, target=tt, overrides=ov,
                           engine={"*": force} if isinstance(force, str) else dict(force or {}))
    # the table is built from the preset's facts, as a sweep over the overridden fields builds it
    built = build_point(spec, knobs, target=t)
    r = evaluate(compile_target(tt), built.table, engine=force, policy=policy, mode=mode, detail=detail)
    return PointResult(perf=r, built=built, target=tt, overrides=ov,
                       engine={"*": force} if isinstance(force, str) else dict(force or {}))

"""Pure functions computing what the dashboard plots show (house style 6).

Every function here takes plain values (names, knob dicts, frames) and returns polars frames or
numpy arrays with unit-suffixed columns. They import neither Panel nor HoloViews, so the tests
check plot data without a browser and a notebook can call them directly.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.hardware import Target, get_target, target_to_toml, with_overrides
from models.hardware.registry import user_targets_dir
from models.io import atomic_write
from models.perf import evaluate
from models.units import from_si, to_si
from models.workloads import OperatorTable, workload_spec

__all__ = [
    "INTENSITY_RANGE_FLOP_PER_B",
    "MEMORY_PARTS",
    "ResultInputs",
    "RooflineData",
    "SweepKeeper",
    "COMPARE_METRICS",
    "SERVING_COMPARE_COLUMNS",
    "SERVING_COMPARE_METRICS",
    "apply_field_edits",
    "compare_data",
    "compare_metrics",
    "compare_normalized",
    "dominant_bound",
    "failed_targets",
    "field_edit_problem",
    "knob_values",
    "point_table",
    "roofline_data",
    "save_target_copy",
    "serving_on",
    "target_diff",
    "target_fields_frame",
    "target_toml",
    "user_targets_dir",
    "workload_phases",
]

# Arithmetic-intensity span of the roofline chart (FLOP/B): from embedding lookups (~0.01) to
# large GEMMs (~1e4); the ceiling polylines are drawn over this span.
INTENSITY_RANGE_FLOP_PER_B = (1e-2, 1e5)
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def knob_values(workload: str, knobs: Mapping[str, Any], phase: str = "all") -> dict[str, Any]:
    """Knob values for :func:`models.point.build_point`: the workload's own knobs and the
    algorithm knobs that apply to it, phase folded in.

    ``phase`` ``"all"`` maps to an LLM's ``"inference"`` (prefill + decode); other phases set the
    LLM ``phase`` knob when it allows them. Knobs of other workloads are dropped, so switching
    workload keeps the shared knobs (batch, datatypes, formats) and forgets the rest.
    """
    from models.point import applicable_knobs

    spec = workload_spec(workload)
    names = {k.name for k in spec.knobs} | {k.name for k in applicable_knobs(spec)}
    out = {k: v for k, v in knobs.items() if k in names and k != "phase"}
    if "phase" in names:
        choices = spec.knob("phase").choices
        out["phase"] = "inference" if phase == "all" else phase
        if out["phase"] not in choices:
            raise ValueError(f"phase {phase!r} is not available for workload {workload!r}; "
                             f"allowed: all, {', '.join(c for c in choices if c != 'inference')}")
    for k in spec.knobs:
        if k.kind == "int" and k.name in out and not isinstance(out[k.name], str):
            out[k.name] = int(round(float(out[k.name])))
    return out


def workload_phases(workload: str) -> list[str]:
    """The phases a page can show for ``workload`` besides ``"all"``: an LLM's ``phase`` knob
    choices (without ``inference``, which is "all"), else the phases of its default table."""
    spec = workload_spec(workload)
    if "phase" in {k.name for k in spec.knobs}:
        return [c for c in spec.knob("phase").choices if c != "inference"]
    return sorted(set(spec.build().meta["phase"].to_list()))


def point_table(target: Target, workload: str, knobs: Mapping[str, Any], phase: str = "all") -> OperatorTable:
    """The operator table of ``workload`` with ``knobs`` on ``target`` (the one builder),
    restricted to ``phase`` (or all)."""
    from models.point import build_point

    table = build_point(workload, knob_values(workload, knobs, phase), target=target).table
    if phase != "all":
        mask = (table.meta["phase"] == phase).to_numpy()
        if not mask.any():
            have = sorted(set(table.meta["phase"].to_list()))
            raise ValueError(f"phase {phase!r}: workload {workload!r} has no such operators; "
                             f"allowed: all, {', '.join(have)}")
        table = table.select(mask)
    return table


@dataclass(frozen=True, kw_only=True)
class ResultInputs:
    """The inputs a result was computed from: what a page shows it as (never the widgets' values).

    Attributes
    ----------
    targets
        Target names asked for, in order (the working ones and the failing ones).
    workload, phase, mode
        Workload name, phase shown (``"all"`` or one) and model mode.
    knobs
        Knob values set (name -> value, SI); absent ones are at their defaults.
    """

    targets: tuple[str, ...]
    workload: str
    phase: str
    mode: str
    knobs: Mapping[str, Any]

    def label(self) -> str:
        """``"llama-2-7b · decode · h100-sxm, a100-80gb"``: the header line of a result."""
        return f"{self.workload} · {self.phase} · {', '.join(self.targets)}"


def _failure_frame(rows: Sequence[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame({"target": [r[0] for r in rows], "reason": [r[1] for r in rows]},
                        schema={"target": pl.String, "reason": pl.String})


def _per_target(targets: Sequence[str], fn: Any) -> tuple[list[tuple[str, Any]], list[tuple[str, str]]]:
    """``fn(target)`` for each name: ``([(name, value)...], [(name, reason)...])``.

    One target that cannot be evaluated (no engine computes the datatype, a bad override) is a
    failure of that target only, with the reason (:func:`app.dashboard.safety.error_message`:
    an expected error's text, else ``internal error <id>``, logged); the others are evaluated.
    """
    from app.dashboard.safety import error_message

    ok: list[tuple[str, Any]] = []
    bad: list[tuple[str, str]] = []
    for name in targets:
        try:
            ok.append((name, fn(name)))
        except Exception as exc:  # per target: the others still count
            bad.append((name, error_message(exc)))
    return ok, bad


def failed_targets(failures: pl.DataFrame) -> str:
    """``"neupims: <reason>; ..."``: one line naming each failing target and why."""
    return "; ".join(f"{r['target']}: {r['reason']}" for r in failures.iter_rows(named=True))


# The parts of resident memory a builder reports (OperatorTable.memory_parts_B), in display order.
MEMORY_PARTS = ("weights", "kv_cache", "activations", "gradients", "optimizer_state")


def _memory_rows(target: Target, table: OperatorTable, capacity_B: float) -> list[dict[str, Any]]:
    """Resident memory of the largest phase split into its parts, against the target's capacity."""
    peaks = {ph: float(np.max(v)) for ph, v in table.peak_memory_B.items()}
    if not peaks:
        return []
    phase = max(peaks, key=lambda ph: peaks[ph])
    parts: Mapping[str, Any] = table.memory_parts_B.get(phase) or {"resident": peaks[phase]}
    order = [p for p in MEMORY_PARTS if p in parts] + [p for p in parts if p not in MEMORY_PARTS]
    return [{"target": target.name, "phase": phase, "part": p, "bytes_B": float(np.max(parts[p])),
             "capacity_B": capacity_B} for p in order]


@dataclass(frozen=True, kw_only=True)
class RooflineData:
    """Everything the Roofline page draws.

    Attributes
    ----------
    ceilings
        One row per polyline vertex: target, ceiling (label), engine, dtype, level,
        intensity_FLOP_per_B, attainable_FLOP_per_s, line (int id of the polyline).
    ops
        One row per (target, operator) with flop > 0 and bytes > 0: operator, phase, kind,
        count, flop, bytes_B, intensity_FLOP_per_B, achieved_FLOP_per_s, latency_s (one
        instance), total_latency_s, total_energy_J, bound, engine, compute_dtype.
    breakdown
        One row per (target, operator), every operator: total_latency_s, total_energy_J, bound.
    totals
        One row per target that could be evaluated: latency_s, energy_J, n_items, item_name,
        n_fallback_ops (operators computed in another datatype than asked for).
    failures
        One row per target that could not be evaluated: target, reason.
    memory
        One row per (target, part of resident memory): phase (the largest), part (weights,
        kv_cache, activations...), bytes_B, capacity_B (the target's main memory).
    inputs
        What the result was computed from.

    ``ops`` also has ``asked_dtype`` (the datatype the operator asks for) and ``fallback``
    (true when the engine computes it in another one, ``compute_dtype``).
    """

    ceilings: pl.DataFrame
    ops: pl.DataFrame
    breakdown: pl.DataFrame
    totals: pl.DataFrame
    failures: pl.DataFrame = dataclasses.field(default_factory=lambda: _failure_frame([]))
    memory: pl.DataFrame = dataclasses.field(default_factory=pl.DataFrame)
    inputs: ResultInputs | None = None


def _ceilings(target: Target, used: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Polyline vertices of every (engine, dtype) in ``used`` against each level of its path
    (the ceilings of :func:`models.perf.roofline_ceilings`)."""
    from models.perf import roofline_ceilings, roofline_curve

    lo, hi = INTENSITY_RANGE_FLOP_PER_B
    rows: list[dict[str, Any]] = []
    c = roofline_ceilings(target)
    for eng, dtype in used:
        for r in c.filter((pl.col("engine") == eng) & (pl.col("dtype") == dtype)).iter_rows(named=True):
            peak, bw = r["peak_op_per_s"], r["bandwidth_B_per_s"]
            xs = np.array([lo, min(max(r["ridge_FLOP_per_B"], lo), hi), hi])
            ys = roofline_curve(peak, bw, xs)
            label = f"{target.name} {eng} {dtype} / {r['level']}"
            for x, y in zip(xs, ys, strict=True):
                rows.append({"target": target.name, "ceiling": label, "engine": eng, "dtype": dtype,
                             "level": r["level"], "intensity_FLOP_per_B": float(x), "attainable_FLOP_per_s": float(y)})
    return rows


def _inputs(targets: Sequence[str], workload: str, knobs: Mapping[str, Any], phase: str, mode: str) -> ResultInputs:
    return ResultInputs(targets=tuple(targets), workload=workload, phase=phase, mode=mode, knobs=dict(knobs))


def _roofline_one(name: str, workload: str, knobs: Mapping[str, Any], phase: str, mode: str) -> dict[str, Any]:
    t = get_target(name)
    table = point_table(t, workload, knobs, phase)
    res = evaluate(t, table, mode=mode)
    bd = res.breakdown(0).with_columns(pl.Series("asked_dtype", table.meta["compute_dtype"].to_list(),
                                                 dtype=pl.String), pl.lit(name).alias("target"))
    used = sorted(set(zip(bd["engine"].to_list(), bd["compute_dtype"].to_list(), strict=True)))
    cap = float(np.asarray(res.memory_capacity_B).reshape(-1)[0])
    return {
        "ceilings": _ceilings(t, used),
        "breakdown": bd.select("target", pl.col("name").alias("operator"), "phase", "kind", "count",
                               "total_latency_s", "total_energy_J", "bound", "engine", "compute_dtype",
                               "asked_dtype", "fallback"),
        "ops": bd.filter((pl.col("flop") > 0) & (pl.col("bytes_B") > 0) & (pl.col("latency_s") > 0))
        .select("target", pl.col("name").alias("operator"), "phase", "kind", "count", "flop", "bytes_B",
                (pl.col("flop") / pl.col("bytes_B")).alias("intensity_FLOP_per_B"),
                (pl.col("flop") / pl.col("latency_s")).alias("achieved_FLOP_per_s"),
                "latency_s", "total_latency_s", "total_energy_J", "bound", "engine", "compute_dtype",
                "asked_dtype", "fallback"),
        "totals": {"target": name, "latency_s": float(res.latency_s[0]), "energy_J": float(res.energy_J[0]),
                   "n_items": float(np.asarray(res.n_items).reshape(-1)[0]), "item_name": res.item_name,
                   "n_fallback_ops": int(bd["fallback"].sum()), "provenance": res.provenance},
        "memory": _memory_rows(t, table, cap),
    }


def roofline_data(targets: Sequence[str], workload: str, knobs: Mapping[str, Any], *, phase: str = "all",
                  mode: str = "calibrated") -> RooflineData:
    """Rooflines of ``targets`` and the operators of ``workload`` placed on them.

    Each operator sits at its arithmetic intensity ``flop / bytes_B`` (FLOP/B) and its achieved
    rate ``flop / latency_s`` (FLOP/s) for one instance; the ceilings are drawn for every engine
    and datatype that the operators actually ran on, against each memory level of that engine.
    A target that cannot be evaluated is a row of ``failures`` with its reason; the others are
    drawn.
    """
    if not targets:
        raise ValueError("targets: got an empty selection; pick at least one target")
    if serving_on(workload, knobs):
        raise ValueError("algorithm knob 'serving': the Roofline page draws the operators of one request; a "
                         "served request stream (TTFT, TPOT, tokens/s) is on the Compare and Explore pages; "
                         "allowed here: serving off")
    ok, bad = _per_target(targets, lambda n: _roofline_one(n, workload, knobs, phase, mode))
    parts = [p for _, p in ok]
    ceil_rows = [r for p in parts for r in p["ceilings"]]
    ceilings = pl.DataFrame(ceil_rows) if ceil_rows else pl.DataFrame(
        schema={"target": pl.String, "ceiling": pl.String, "engine": pl.String, "dtype": pl.String,
                "level": pl.String, "intensity_FLOP_per_B": pl.Float64, "attainable_FLOP_per_s": pl.Float64})
    mem_rows = [r for p in parts for r in p["memory"]]
    totals_schema = {"target": pl.String, "latency_s": pl.Float64, "energy_J": pl.Float64, "n_items": pl.Float64,
                     "item_name": pl.String, "n_fallback_ops": pl.Int64, "provenance": pl.String}
    return RooflineData(
        ceilings=ceilings,
        ops=pl.concat([p["ops"] for p in parts]) if parts else pl.DataFrame(),
        breakdown=pl.concat([p["breakdown"] for p in parts]) if parts else pl.DataFrame(),
        totals=pl.DataFrame([p["totals"] for p in parts], schema=totals_schema),
        failures=_failure_frame(bad),
        memory=pl.DataFrame(mem_rows) if mem_rows else pl.DataFrame(
            schema={"target": pl.String, "phase": pl.String, "part": pl.String, "bytes_B": pl.Float64,
                    "capacity_B": pl.Float64}),
        inputs=_inputs(targets, workload, knobs, phase, mode))


def dominant_bound(breakdown: pl.DataFrame) -> str:
    """The bound (compute, overhead or a memory level) holding the largest share of latency."""
    g = breakdown.group_by("bound").agg(pl.col("total_latency_s").sum()).sort("total_latency_s", descending=True)
    return str(g["bound"][0]) if g.height else ""


# Serving metrics of a request stream (models.serving), shown by Compare when serving is on: the
# column, its display unit and whether smaller is better; null on a one-request comparison.
SERVING_COMPARE_COLUMNS = {"ttft_s": ("s", True), "tpot_s": ("s", True),
                           "output_tokens_per_s_per_device": ("tokens/s", False),
                           "output_tokens_per_s_per_user": ("tokens/s", False),
                           "energy_J_per_output_token": ("J", True), "n_max_batch": ("1", False)}
COMPARE_SCHEMA = {"target": pl.String, "target_class": pl.String, "latency_s": pl.Float64,
                  "energy_J": pl.Float64, "energy_J_per_item": pl.Float64, "items_per_s": pl.Float64,
                  "edp_J_s": pl.Float64, "peak_memory_B": pl.Float64, "memory_capacity_B": pl.Float64,
                  "fits_memory": pl.Boolean, "bound": pl.String, "item_name": pl.String, "n_fallback_ops": pl.Int64,
                  **{c: pl.Float64 for c in SERVING_COMPARE_COLUMNS},
                  "provenance": pl.String, "reason": pl.String}


def serving_on(workload: str, knobs: Mapping[str, Any]) -> bool:
    """Whether ``knobs`` serve a request stream (``serving`` = aggregated / disaggregated) on ``workload``."""
    from models.serving import serving_mode

    return serving_mode(knob_values(workload, knobs)) != "off"


def _compare_one(name: str, workload: str, knobs: Mapping[str, Any], phase: str, mode: str) -> dict[str, Any]:
    t = get_target(name)
    serving: dict[str, float] = {}
    if phase == "all" and serving_on(workload, knobs):
        # a request stream: priced by the serving model along the one path (models.perf.evaluate_point)
        from models.perf import evaluate_point

        res = evaluate_point(t, workload, knob_values(workload, knobs, phase), mode=mode).perf
        serving = {c: float(np.asarray(res.serving[c]).reshape(-1)[0]) for c in SERVING_COMPARE_COLUMNS}
    else:
        res = evaluate(t, point_table(t, workload, knobs, phase), mode=mode)
    cap = float(np.asarray(res.memory_capacity_B).reshape(-1)[0])
    peak_mem = float(np.asarray(res.peak_memory_B).reshape(-1)[0])
    bd = res.breakdown(0)
    return {
        "target": name, "target_class": t.target_class,
        "latency_s": float(res.latency_s[0]), "energy_J": float(res.energy_J[0]),
        "energy_J_per_item": float(res.energy_J_per_item[0]), "items_per_s": float(res.items_per_s[0]),
        "edp_J_s": float(res.edp_J_s[0]), "peak_memory_B": peak_mem, "memory_capacity_B": float(cap),
        "fits_memory": peak_mem <= cap, "bound": dominant_bound(bd), "item_name": res.item_name,
        "n_fallback_ops": int(bd["fallback"].sum()), **serving, "provenance": res.provenance, "reason": None,
    }


def compare_data(targets: Sequence[str], workload: str, knobs: Mapping[str, Any], *, phase: str = "all",
                 mode: str = "calibrated") -> pl.DataFrame:
    """One workload across ``targets`` of any class: one row per target, in the order asked.

    Columns: target, target_class, latency_s, energy_J, energy_J_per_item, items_per_s, edp_J_s,
    peak_memory_B, memory_capacity_B, fits_memory, bound (what holds most of the latency),
    item_name, n_fallback_ops, the serving metrics of :data:`SERVING_COMPARE_COLUMNS` (ttft_s,
    tpot_s, output tokens/s per device and per user, J per output token, n_max_batch: set when the
    knobs serve a request stream, ``serving`` = aggregated / disaggregated, null otherwise),
    provenance (how the numbers were obtained: ideal, datasheet, calibrated-microbenchmark,
    calibrated-trace), reason. A target that cannot be evaluated keeps its row: its metrics are
    null and ``reason`` says why (null for the others).
    """
    if not targets:
        raise ValueError("targets: got an empty selection; pick at least one target")
    if phase != "all" and serving_on(workload, knobs):
        raise ValueError(f"phase {phase!r} with serving on: serving prices the whole request stream (prefill "
                         "and decode steps); allowed: phase all, or serving off")
    ok, bad = _per_target(targets, lambda n: _compare_one(n, workload, knobs, phase, mode))
    rows = {n: r for n, r in ok}
    reasons = dict(bad)
    out = [rows[n] if n in rows else {"target": n, "reason": reasons[n]} for n in targets]
    return pl.DataFrame(out, schema=COMPARE_SCHEMA)


# Metrics the Compare page normalises to its baseline target (smaller is better for each).
COMPARE_METRICS = {"latency_s": "latency per run", "energy_J_per_item": "energy per item",
                   "edp_J_s": "energy-delay product"}


# With serving on, the ratios are of the stream's metrics (smaller is better for each).
SERVING_COMPARE_METRICS = {"ttft_s": "time to first token", "tpot_s": "time per output token",
                           "energy_J_per_output_token": "energy per output token"}


def compare_metrics(frame: pl.DataFrame | None) -> dict[str, str]:
    """The metrics a :func:`compare_data` frame is normalised on: :data:`SERVING_COMPARE_METRICS`
    when it holds a served stream, else :data:`COMPARE_METRICS`."""
    served = frame is not None and "ttft_s" in frame.columns and frame["ttft_s"].drop_nulls().len() > 0
    return SERVING_COMPARE_METRICS if served else COMPARE_METRICS


def compare_normalized(frame: pl.DataFrame, baseline: str) -> pl.DataFrame:
    """The evaluated rows of a :func:`compare_data` frame relative to the ``baseline`` target.

    Columns: target, then ``<metric>_ratio`` for each of :func:`compare_metrics` (the target's
    value over the baseline's: 2.0 = twice the baseline's latency), and the metrics themselves.
    """
    ok = frame.filter(pl.col("reason").is_null())
    base = ok.filter(pl.col("target") == baseline)
    if not base.height:
        raise ValueError(f"baseline {baseline!r}: not an evaluated target of the comparison; allowed: "
                         f"{', '.join(ok['target'].to_list()) or 'none'}")
    metrics = compare_metrics(frame)
    ratios = [(pl.col(m) / float(base[m][0])).alias(f"{m}_ratio") for m in metrics]
    return ok.select("target", *ratios, *metrics)


# ---------------------------------------------------------------------------------- targets page
def target_fields_frame(target: Target) -> pl.DataFrame:
    """Every numeric field of ``target`` in its display unit, with bounds and source.

    Columns: field (override path), value, unit, low, high (display unit; low/high of the
    declared :data:`models.hardware.FIELD_SPECS` range), value_SI, source.
    """
    rows = []
    for path, (v, spec, src) in target.numeric_fields().items():
        if v is None:
            continue
        unit = spec.unit
        rows.append({"field": path, "value": float(from_si(v, unit)) if unit not in ("1", "count") else float(v),
                     "unit": unit,
                     "low": float(from_si(spec.low, unit)) if unit not in ("1", "count") else spec.low,
                     "high": float(from_si(spec.high, unit)) if unit not in ("1", "count") else spec.high,
                     "value_SI": float(v), "source": src})
    return pl.DataFrame(rows)


def apply_field_edits(target: Target, new_name: str, edits: Mapping[str, float],
                      *, display_name: str | None = None) -> Target:
    """A renamed copy of ``target`` with ``edits`` ({field path: value in the display unit}).

    Each value is converted to SI and checked against the field's declared range; a bad name,
    an unknown field or an out-of-range value raises ValueError/KeyError naming it. An edited
    field keeps its document source and says what was changed (``<source>; edited in the
    dashboard: 0.801 -> 0.9``); the other fields keep theirs untouched.
    """
    if not _NAME_RE.match(new_name or ""):
        raise ValueError(f"name {new_name!r}: allowed: 1-64 characters a-z 0-9 . _ - starting with a letter or digit")
    fields = target.numeric_fields()
    t = target
    for path, value in edits.items():
        if path not in fields:
            raise KeyError(f"field {path!r} of target {target.name!r}: unknown; allowed: {', '.join(fields)}")
        old, spec, src = fields[path]
        unit = spec.unit
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"field {path!r}: got {value!r}; a number is required") from None
        si = x if unit in ("1", "count") else float(to_si(x, unit))
        was = "unset" if old is None else f"{_display(old, unit):.6g}"
        t = with_overrides(t, {path: si}, source=f"{src}; edited in the dashboard: {was} -> {x:.6g}{_unit(unit)}")
    return t.replace(name=new_name, display_name=display_name or f"{target.display_name} (edited)", path=None)


def _unit(unit: str) -> str:
    """`` GB/s`` after a number; nothing for a plain fraction."""
    return "" if unit == "1" else f" {unit}"


def _display(si: float, unit: str) -> float:
    return float(si) if unit in ("1", "count") else float(from_si(si, unit))


def field_edit_problem(target: Target, path: str, value: Any) -> str | None:
    """Why ``value`` (display unit) cannot be typed into field ``path`` of ``target``, or None.

    Names the field, the value received and the allowed range with its unit (the field's
    declaration, :data:`models.hardware.FIELD_SPECS`); the value the field already has is no
    edit either.
    """
    fields = target.numeric_fields()
    if path not in fields:
        return f"field {path!r} of target {target.name!r}: unknown; allowed: {', '.join(fields)}"
    old, spec, _ = fields[path]
    unit = spec.unit
    try:
        x = float(value)
    except (TypeError, ValueError):
        return f"field {path!r}: got {value!r}; a number is required"
    if not np.isfinite(x):
        return f"field {path!r}: got {x!r}; a finite number is required"
    lo = _display(spec.low, unit) if spec.low is not None else -np.inf
    hi = _display(spec.high, unit) if spec.high is not None else np.inf
    below = x < lo or (spec.low_open and x == lo)
    if below or x > hi:
        left = "(" if spec.low_open else "["
        return (f"field {path!r}: got {x:.6g}{_unit(unit)}; allowed: {left}{lo:.6g}, {hi:.6g}]{_unit(unit)} "
                "(not applied: the field keeps its value and source)")
    if old is not None and np.isclose(x, _display(old, unit), rtol=1e-12, atol=0.0):
        return f"field {path!r}: {x:.6g}{_unit(unit)} is its value already; nothing to edit"
    return None


def target_diff(a: Target, b: Target) -> pl.DataFrame:
    """The numeric fields of two targets side by side, in display units.

    Columns: field, unit, value_a, value_b (null where a target lacks the field), ratio
    (``value_b / value_a``; null where either is missing or ``value_a`` is 0), differs, source_a,
    source_b. Rows follow ``a``'s field order, then the fields only ``b`` has.
    """
    fa, fb = target_fields_frame(a), target_fields_frame(b)
    left = fa.select("field", "unit", pl.col("value").alias("value_a"), pl.col("source").alias("source_a"))
    right = fb.select("field", pl.col("unit").alias("unit_b"), pl.col("value").alias("value_b"),
                      pl.col("source").alias("source_b"))
    df = left.join(right, on="field", how="full", coalesce=True, maintain_order="left_right")
    df = df.with_columns(pl.coalesce("unit", "unit_b").alias("unit")).drop("unit_b")
    ratio = pl.when((pl.col("value_a") != 0) & pl.col("value_b").is_not_null()).then(
        pl.col("value_b") / pl.col("value_a")).otherwise(None)
    differs = (pl.col("value_a").is_null() | pl.col("value_b").is_null()
               | ((pl.col("value_a") - pl.col("value_b")).abs() > 1e-12 * pl.col("value_a").abs()))
    return df.select("field", "unit", "value_a", "value_b", ratio.alias("ratio"), differs.alias("differs"),
                     "source_a", "source_b")


def target_toml(target: Target) -> str:
    """``target`` as the TOML a target file holds (every number with its source); loads back as is."""
    return target_to_toml(target)


def save_target_copy(target: Target, folder: Path | None = None, *, overwrite: bool = False) -> Path:
    """Write ``target`` as ``<folder>/<name>.toml``; refuses to shadow a built-in preset.

    The file is written to a temporary name and renamed, so nothing half-written is left.
    """
    from models.hardware import TARGETS_DIR, available_targets, load_target_file

    folder = folder or user_targets_dir()
    if (TARGETS_DIR / f"{target.name}.toml").exists():
        raise ValueError(f"name {target.name!r}: a built-in preset has this name; choose another")
    path = folder / f"{target.name}.toml"
    if path.exists() and not overwrite:
        # the folder is the server's: the message names the file, not where it is
        raise ValueError(f"name {target.name!r}: a saved target {path.name} exists already; choose another name")
    if not overwrite and target.name in available_targets():
        raise ValueError(f"name {target.name!r}: a target with this name exists already; choose another")
    folder.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        tmp.write_text(target_to_toml(target), encoding="utf-8")
        load_target_file(tmp)  # round-trip check before the file appears: it must load

    return atomic_write(path, write)


# ---------------------------------------------------------------------------------- explore page
def axis_unit(sets: str, workload: str | None = None) -> str:
    """Display unit of an Explore axis, from the setting's declaration (``"1"`` when unknown)."""
    from models.point import SettingError, setting

    try:
        return setting(sets, workload=workload).unit
    except (SettingError, KeyError):
        return "1"


def axis_defaults(sets: str, target: str, workload: str) -> tuple[float, float, bool]:
    """Default ``(low, high, log)`` of an Explore axis in its display unit, from the declaration:
    a target field spans half to twice its preset value (within its declared range), a knob its
    declared range (a batch from 1 to 256)."""
    from models.point import setting

    t = get_target(target)
    decl = setting(sets, workload=workload, target=t)
    lo, hi = decl.low if decl.low is not None else 0.0, decl.high if decl.high is not None else 1.0
    if sets.startswith("target."):
        v = t.numeric_fields()[sets.partition(".")[2]][0]
        assert v is not None
        lo, hi = max(lo, 0.5 * v), min(hi, 2.0 * v)
        if decl.name.endswith("efficiency") or decl.unit == "1":
            hi = min(hi, decl.high if decl.high is not None else hi)
    elif decl.name == "batch":
        hi = min(hi, 256.0)
    elif decl.name.endswith("_parallel"):  # a parallel degree: one 8-device node (log grid: 1, 2, 4, 8 at n = 4)
        hi = min(hi, 8.0)
    elif decl.log and hi / max(lo, 1e-300) > 1e4:
        hi = lo * 1e4
    return decl.from_si(lo), decl.from_si(hi), decl.log


def explore_front(space: Any, results: pl.DataFrame) -> pl.DataFrame:
    """The Pareto front of ``results`` under the space's objectives (feasible points), sorted by x.

    :func:`models.dse.pareto_front` (one sort for two objectives: a million points in about
    half a second). Rows with a NaN objective are dropped first: they cannot be drawn on the
    log axes, so they are never on the dashboard's front.
    """
    from models.dse import pareto_front

    objectives = list(space.objectives)
    for o in objectives:
        if o.metric not in results.columns:
            raise KeyError(f"objective {o.metric!r} is not a result column; columns: {', '.join(results.columns)}")
    df = results.filter(pl.all_horizontal([pl.col(o.metric).is_not_nan() for o in objectives]))
    return pareto_front(df, objectives).sort(objectives[0].metric)


class SweepKeeper:
    """What the Explore page keeps of a sweep streamed chunk by chunk.

    Every ``stride``-th grid point (all of them with stride 1) for the cloud, and the exact
    Pareto front of :func:`explore_front`, merged chunk by chunk: the front of (front so far +
    this chunk's front) is the front of every point seen, because a point dominated within its
    chunk is dominated by a point of that chunk's front. Memory: the kept sample, the front and
    one chunk.
    """

    def __init__(self, space: Any, *, stride: int = 1) -> None:
        if stride < 1:
            raise ValueError(f"stride {stride}; allowed: >= 1")
        self.space, self.stride = space, int(stride)
        self.n_seen = 0
        self.front: pl.DataFrame | None = None
        self._parts: list[pl.DataFrame] = []

    def add(self, chunk: pl.DataFrame) -> None:
        """Take the next chunk of the sweep (grid order)."""
        if self.stride == 1:
            self._parts.append(chunk)
        else:
            first = (-self.n_seen) % self.stride  # grid index n_seen + first is a multiple of the stride
            if first < chunk.height:
                self._parts.append(chunk.gather_every(self.stride, offset=first))
        f = explore_front(self.space, chunk)
        self.front = f if self.front is None else explore_front(
            self.space, pl.concat([self.front, f], how="vertical_relaxed"))
        self.n_seen += chunk.height

    def cloud(self) -> pl.DataFrame:
        """The kept points (every ``stride``-th, in grid order)."""
        if not self._parts:
            raise ValueError("sweep: no points were evaluated")
        return pl.concat(self._parts, how="vertical_relaxed")


def point_breakdown(space: Any, row: Mapping[str, Any]) -> pl.DataFrame:
    """Per-operator breakdown of one design point (a row of a results frame).

    :func:`models.dse.point_result` prices the point on the path the sweep took (algorithm
    knobs such as formats, GEMM strategy and attention tiling included), so the breakdown's
    total latency is the row's ``latency_s``.
    """
    from models.dse import point_result

    return point_result(space, row).breakdown(0)

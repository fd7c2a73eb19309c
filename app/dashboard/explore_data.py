"""Pure functions behind the Explore page (house style 6): what a parameter may be, its label and
default bounds, why a point is infeasible, de-duplicated fronts, hypervolume over trials, the
space as TOML, and exports of the front or of all points.

They import neither Panel nor HoloViews; numbers stay in SI and unit-suffixed columns. Formulas
live in :mod:`models.dse` (Pareto front, hypervolume, space validation, exports); this module only
arranges their inputs and outputs for the page.
"""

from __future__ import annotations

import html
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

__all__ = [
    "AxisChoice",
    "ExploreResult",
    "POINT_EXPORT_FORMATS",
    "axis_choices",
    "axis_label",
    "categorical_values",
    "dedupe_designs",
    "default_axes",
    "export_points",
    "hypervolume_history",
    "infeasible_reasons",
    "parallel_coordinates",
    "space_toml",
    "space_inputs",
]

POINT_EXPORT_FORMATS = ("csv", "parquet", "json", "html", "png")
# Engine, memory and field names spelled as people write them in labels.
_UPPER = {"hbm", "sram", "dram", "lpddr", "lpddr5", "ddr", "ddr4", "ddr5", "l1", "l2", "l3", "llc", "pim", "npu",
          "gemm", "kv", "tdp", "fp32", "fp16", "bf16", "fp8", "int8", "int4", "int16", "int32", "simd", "avx"}
_WORDS = {"n_units": "units", "op_overhead": "per-operator overhead", "energy_per_op": "energy per op",
          "energy_per_byte": "energy per byte", "ops_per_cycle": "ops per cycle", "static_power": "static power",
          "process_node": "process node", "efficiency_by_kind": "efficiency by kind", "clock": "clock",
          "bandwidth": "bandwidth", "capacity": "capacity", "efficiency": "efficiency"}


def _word(w: str) -> str:
    return w.upper() if w.lower() in _UPPER else _WORDS.get(w, w.replace("_", " "))


def axis_label(sets: str) -> str:
    """A readable label of a setting (the raw path goes in the tooltip).

    ``target.memories.hbm.bandwidth`` -> ``HBM bandwidth``; ``target.engines.tensor.energy_per_op.fp8``
    -> ``tensor engine: energy per op (FP8)``; ``algorithm.weight_format`` -> ``weight format``;
    ``target`` -> ``target (preset)``.
    """
    head, _, rest = sets.partition(".")
    if not rest:
        return f"{head} (preset)" if head in ("target", "workload") else head
    parts = rest.split(".")
    if head == "target" and parts[0] == "memories" and len(parts) >= 3:
        return f"{_word(parts[1])} {_word(parts[2])}" + (f" ({_word(parts[3])})" if len(parts) > 3 else "")
    if head == "target" and parts[0] == "engines" and len(parts) >= 3:
        tail = f" ({', '.join(_word(p) for p in parts[3:])})" if len(parts) > 3 else ""
        return f"{_word(parts[1])} engine: {_word(parts[2])}{tail}"
    if head == "engine":
        return f"engine for {rest.replace('_', ' ')} operators"
    return " ".join(_word(p) for p in parts)


@dataclass(frozen=True, kw_only=True)
class AxisChoice:
    """One setting an Explore parameter may set, for the current target and workload."""

    sets: str
    label: str
    kind: str  # float, int, categorical, bool
    unit: str
    help: str

    @property
    def numeric(self) -> bool:
        return self.kind in ("float", "int")

    @property
    def tooltip(self) -> str:
        return f"{self.sets}: {self.help}" if self.help else self.sets


def axis_choices(target: str, workload: str) -> list[AxisChoice]:
    """Every setting an Explore parameter may set for ``target`` and ``workload``, from the one
    registry (:mod:`models.params` declarations through :func:`models.point.setting`): the target
    itself and its numeric fields, the workload's knobs (numeric and categorical; not the
    structural shape knobs that make another network) and the algorithm knobs that apply to it."""
    from models.hardware import get_target
    from models.point import applicable_knobs
    from models.workloads import workload_spec

    t = get_target(target)
    spec = workload_spec(workload)
    out = [AxisChoice(sets="target", label=axis_label("target"), kind="categorical", unit="1",
                      help="the device preset (any class)")]
    for p, (v, decl, _src) in t.numeric_fields().items():
        if v is not None:
            out.append(AxisChoice(sets=f"target.{p}", label=axis_label(f"target.{p}"), kind=decl.kind,
                                  unit=decl.unit, help=decl.help))
    for k in spec.knobs:
        if k.name == "phase":  # the phase is what a run prices (a fixed knob), not a trade-off
            continue
        out.append(AxisChoice(sets=f"workload.{k.name}", label=axis_label(f"workload.{k.name}"), kind=k.kind,
                              unit=k.unit, help=k.help))
    for k in applicable_knobs(spec):
        if k.name == "pim_concurrency" and not _pim_beside_other(t):
            continue  # NPU/PIM concurrency needs both sides on the target
        out.append(AxisChoice(sets=f"algorithm.{k.name}", label=axis_label(f"algorithm.{k.name}"), kind=k.kind,
                              unit=k.unit, help=k.help))
    return out


def _pim_beside_other(target: Any) -> bool:
    try:
        target.pim_engines()
    except ValueError:
        return False
    return True


def categorical_values(sets: str, target: str, workload: str) -> list[str]:
    """The values a categorical parameter may take (target presets, knob choices), as text."""
    from models.hardware import available_targets, get_target
    from models.point import setting

    if sets == "target":
        return list(available_targets())
    if sets == "workload":
        from models.workloads import available_workloads

        return list(available_workloads())
    decl = setting(sets, workload=workload, target=get_target(target))
    return [str(c).lower() if isinstance(c, bool) else str(c) for c in decl.choices]


def _main_memory(target: str) -> str | None:
    """The memory level the memory constraint holds the working set against: the largest."""
    from models.hardware import get_target

    t = get_target(target)
    best: tuple[float, str] | None = None
    for p, (v, _d, _s) in t.numeric_fields().items():
        parts = p.split(".")
        if len(parts) == 3 and parts[0] == "memories" and parts[2] == "capacity" and v is not None:
            if best is None or v > best[0]:
                best = (float(v), parts[1])
    return best[1] if best else None


def default_axes(target: str, workload: str) -> list[str]:
    """Three default parameters that exist for ``target`` and ``workload``: the batch (or the
    first numeric workload knob), the main memory's bandwidth and the clock."""
    from models.workloads import workload_spec

    have = {c.sets for c in axis_choices(target, workload)}
    spec = workload_spec(workload)
    knob = "workload.batch" if "workload.batch" in have else next(
        (f"workload.{k.name}" for k in spec.knobs if k.numeric and f"workload.{k.name}" in have), "")
    mem = _main_memory(target)
    bw = f"target.memories.{mem}.bandwidth" if mem else ""
    out = [a for a in (knob, bw if bw in have else "", "target.clock" if "target.clock" in have else "")]
    return out


def infeasible_reasons(points: pl.DataFrame) -> pl.Series:
    """Why each point is infeasible (``""`` when feasible), from its constraint columns
    (``constraint_<kind>`` > 0: the constraint is broken, by that fraction of its limit).

    Vectorized (a sweep's cloud holds up to a million points): ``does not fit memory (peak 3.2x
    the capacity)``, ``above the power limit by 12%``, ``above the error limit by 40%``.
    """
    texts = {"power": "above the power limit by ", "accuracy": "above the error limit by "}
    parts = []
    for col in [c for c in points.columns if c.startswith("constraint_")]:
        kind = col.removeprefix("constraint_")
        c = pl.col(col)
        if kind == "memory":
            msg = pl.concat_str(pl.lit("does not fit memory (peak "), (c + 1.0).round(2).cast(pl.String),
                                pl.lit("x the capacity)"))
        else:
            msg = pl.concat_str(pl.lit(texts.get(kind, f"breaks the {kind} constraint by ")),
                                (100.0 * c).round(0).cast(pl.Int64, strict=False).cast(pl.String), pl.lit("%"))
        # NaN (not computed) counts as broken, as in the evaluator's `feasible`
        parts.append(pl.when(c.is_nan()).then(pl.lit(f"{kind} constraint not computed"))
                     .when(c > 0).then(msg.fill_null(f"breaks the {kind} constraint")))
    if not parts:
        expr = pl.lit("", dtype=pl.String)
    else:
        expr = pl.concat_str(parts, separator="; ", ignore_nulls=True).fill_null("")
    cons = [c for c in points.columns if c.startswith("constraint_")]
    if cons:
        # no constraint computed at all: the point could not be priced (the evaluator leaves its
        # metrics NaN), which today means a parallel plan the model or the devices cannot take
        unpriced = pl.all_horizontal([pl.col(c).is_nan() for c in cons])
        expr = pl.when(unpriced).then(pl.lit(UNPRICED)).otherwise(expr)
    if "feasible" in points.columns:
        feas = pl.col("feasible").fill_null(False)
        expr = pl.when(feas).then(pl.lit("")).when(expr == "").then(pl.lit("infeasible")).otherwise(expr)
    return points.select(expr.alias("reason")).to_series()


UNPRICED = ("not priced: its settings cannot run together (a parallel plan whose degrees do not divide the "
            "model's heads, layers or experts, or that needs more devices than serving_devices)")


def dedupe_designs(front: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """``front`` with identical designs (equal values of every parameter in ``names``) kept once
    (the first row of each; a search asks the same design again and again)."""
    keys = [n for n in names if n in front.columns]
    if not keys or not front.height:
        return front
    return front.unique(subset=keys, keep="first", maintain_order=True)


def _normalised(Y: np.ndarray) -> np.ndarray:
    """Objectives (minimisation form) mapped to [0, 1] over the rows given, log10 where every
    value is positive (latency and energy span decades)."""
    Z = np.array(Y, dtype=np.float64, copy=True)
    for j in range(Z.shape[1]):
        col = Z[:, j]
        if np.all(col > 0):
            col = np.log10(col)
        lo, hi = float(np.min(col)), float(np.max(col))
        Z[:, j] = (col - lo) / (hi - lo) if hi > lo else 0.0
    return Z


def hypervolume_history(results: pl.DataFrame, objectives: Sequence[Any], *, n_steps: int = 60) -> pl.DataFrame:
    """Hypervolume of the feasible front of the first ``n`` trials, for ``n`` up to all of them.

    Objectives are normalised over every feasible trial (log10 of positive ones) and the
    reference point is 1.1 in each, so the values of one run compare (a history never falls).
    Columns: ``n_trials``, ``hypervolume``. Rows are in trial order (``trial`` when present).
    """
    from models.dse import hypervolume, to_minimization

    df = results.sort("trial") if "trial" in results.columns else results
    if "feasible" in df.columns:
        feas = df["feasible"].fill_null(False).to_numpy()
    else:
        feas = np.ones(df.height, bool)
    Y = to_minimization(df.select([o.metric for o in objectives]).to_numpy(), [o.direction for o in objectives])
    ok = feas & np.all(np.isfinite(Y), axis=1)
    if not ok.any():
        return pl.DataFrame({"n_trials": np.arange(1, df.height + 1, dtype=np.int64)[-1:],
                             "hypervolume": np.zeros(min(1, df.height))})
    Z = np.full_like(Y, np.inf)
    Z[ok] = _normalised(Y[ok])
    ref = np.full(Y.shape[1], 1.1)
    ns = np.unique(np.linspace(1, df.height, min(n_steps, df.height)).round().astype(np.int64))
    hv = [hypervolume(Z[:n][ok[:n]], ref) for n in ns]
    return pl.DataFrame({"n_trials": ns, "hypervolume": np.asarray(hv, dtype=np.float64)})


def parallel_coordinates(points: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Long frame of a parallel-coordinates chart: one row per (point, axis) with the value
    scaled to [0, 1] over the points (categorical values by their sorted index).

    Columns: ``point`` (row index), ``axis`` (position), ``column``, ``value`` (raw, as text),
    ``scaled``, ``feasible``.
    """
    cols = [c for c in columns if c in points.columns]
    n = points.height
    feas = points["feasible"].fill_null(False).to_numpy() if "feasible" in points.columns else np.ones(n, bool)
    parts = []
    for j, c in enumerate(cols):
        s = points[c]
        if s.dtype.is_numeric():
            v = s.cast(pl.Float64).to_numpy()
            w = np.log10(v) if np.all(v > 0) else v
            lo, hi = (float(np.nanmin(w)), float(np.nanmax(w))) if n else (0.0, 0.0)
            scaled = (w - lo) / (hi - lo) if hi > lo else np.full(n, 0.5)
        else:
            txt = s.cast(pl.String).to_list()
            levels = sorted(set(txt))
            idx = {t: i for i, t in enumerate(levels)}
            scaled = np.array([idx[t] / max(1, len(levels) - 1) if len(levels) > 1 else 0.5 for t in txt])
        parts.append(pl.DataFrame({"point": np.arange(n, dtype=np.int64), "axis": np.full(n, j, dtype=np.int64),
                                   "column": [c] * n, "value": s.cast(pl.String).to_list(),
                                   "scaled": np.asarray(scaled, dtype=np.float64), "feasible": feas}))
    if not parts:
        return pl.DataFrame(schema={"point": pl.Int64, "axis": pl.Int64, "column": pl.String, "value": pl.String,
                                    "scaled": pl.Float64, "feasible": pl.Boolean})
    return pl.concat(parts)


# ---------------------------------------------------------------------------------- space files
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"space value {v!r}: TOML holds finite numbers only here")
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, Sequence):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise ValueError(f"space value {v!r}: no TOML form for {type(v).__name__}")


def space_toml(space: Mapping[str, Any]) -> str:
    """A space mapping (the layout :func:`models.dse.parse_space` reads, as in ``data/spaces/``)
    as TOML text; :func:`models.dse.load_space` reads it back."""
    lines = ["# Design space saved from the Tradespace Explore page; bounds are exploration ranges in each",
             "# parameter's unit, not device facts (the preset's own values carry their sources)."]
    for k, v in space.items():
        if k in ("parameters", "objectives", "constraints"):
            continue
        if isinstance(v, Mapping) and not v:
            continue
        lines.append(f"{k} = {_toml_value(v)}")
    for table in ("parameters", "constraints", "objectives"):
        for row in space.get(table, []):
            lines += ["", f"[[{table}]]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in row.items() if v is not None]
    return "\n".join(lines) + "\n"


def _grid_gives(p: Any, decl: Any, lo: float, hi: float) -> bool:
    """Whether the page's grid of ``len(p.values)`` points from ``lo`` to ``hi`` (log where the
    parameter is) is the parameter's own value list (1, 2, 4, 8 on a log grid)."""
    n = len(p.values)
    vals = sorted(float(decl.from_si(v)) if decl is not None else float(v) for v in p.values)
    if n < 2:
        return False
    grid = np.geomspace(lo, hi, n) if p.log and lo > 0 else np.linspace(lo, hi, n)
    if p.kind == "int":
        grid = np.round(grid)
    return bool(np.allclose(grid, vals, rtol=1e-9, atol=0.0))


def space_inputs(space: Any, n_axes: int) -> tuple[dict[str, Any], list[str]]:
    """Explore-state inputs of a loaded :class:`models.dse.DesignSpace`, and what the page
    cannot hold of it (a message each): parameters beyond ``n_axes``, a third objective,
    explicit value lists (taken as their range)."""
    from models.point import setting

    notes: list[str] = []
    where = Path(str(space.source)).name  # the file's name: the server's folders stay private
    params = list(space.parameters)
    if len(params) > n_axes:
        dropped = ", ".join(repr(p.name) for p in params[n_axes:])
        notes.append(f"{where}: the Explore page holds {n_axes} parameters; {dropped} not loaded")
    out: dict[str, Any] = {"target": space.target if space.target else "h100-sxm", "workload": space.workload,
                           "fixed_knobs": {**dict(space.workload_knobs),
                                           **{f"algorithm.{k}": v for k, v in space.algorithm_knobs.items()}},
                           "memory_constraint": any(c.kind == "memory" for c in space.constraints),
                           "extra_constraints": [{"kind": c.kind, "limit": c.limit} for c in space.constraints
                                                 if c.kind != "memory"]}
    for p in params:
        if p.scope == "target":
            out["target"] = str(p.choices[0]) if space.target not in p.choices else space.target
    for i in range(1, n_axes + 1):
        p = params[i - 1] if i <= len(params) else None
        out[f"axis{i}"] = p.sets if p is not None else ""
        if p is None:
            continue
        if p.kind in ("categorical", "bool"):
            out[f"axis{i}_values"] = [str(c).lower() if isinstance(c, bool) else str(c) for c in p.choices]
            continue
        decl = None if p.scope in ("target", "workload") else setting(p.sets, workload=space.workload)
        lo, hi = float(p.low), float(p.high)
        if decl is not None:
            lo, hi = decl.from_si(lo), decl.from_si(hi)
        if p.values and not _grid_gives(p, decl, lo, hi):
            notes.append(f"{where}: parameter {p.name!r} lists {len(p.values)} values; the page sweeps "
                         f"{len(p.values)} grid points over their range")
        out.update({f"axis{i}_low": float(lo), f"axis{i}_high": float(hi),
                    f"axis{i}_n": int(len(p.values) or p.n_grid)})
    objs = list(space.objectives)
    item = _item_name(space.workload)
    generic = {f"energy_J_per_{item}": "energy_J_per_item", f"{item}s_per_s": "items_per_s"}
    objs = [type(o)(metric=generic.get(o.metric, o.metric), direction=o.direction) for o in objs]
    if len(objs) > 2:
        notes.append(f"{where}: the page plots two objectives; {', '.join(o.metric for o in objs[2:])} "
                     "not loaded")
    if objs:
        out.update(x_metric=objs[0].metric, x_direction=objs[0].direction)
    if len(objs) > 1:
        out.update(y_metric=objs[1].metric, y_direction=objs[1].direction)
    return out, notes


def _item_name(workload: str) -> str:
    from models.workloads import workload_spec

    return str(workload_spec(workload).item_name)


# ---------------------------------------------------------------------------------- exports
@dataclass(frozen=True, kw_only=True)
class ExploreResult:
    """What the Explore page shows: the points of one run and where they came from.

    Attributes
    ----------
    space
        The :class:`models.dse.DesignSpace` evaluated (names, objectives, parameters).
    inputs
        The page inputs the space was built from (a result is shown only while they are current).
    method
        ``"sweep"`` or ``"search"``.
    state
        ``"running"``, ``"done"``, ``"cancelled"`` or ``"failed"``.
    points
        Evaluated points kept for the cloud (every k-th of a huge sweep), feasible or not,
        with a ``reason`` column (``""`` when feasible).
    front
        Pareto front of the feasible points, one row per distinct design, sorted by x.
    n_evaluated, n_total
        Points (trials) evaluated so far, and asked for.
    n_front_rows
        Front rows before identical designs were merged.
    history
        Hypervolume over trials (a search), else None.
    """

    space: Any
    inputs: Mapping[str, Any]
    method: str
    state: str
    points: pl.DataFrame
    front: pl.DataFrame
    n_evaluated: int
    n_total: int
    n_front_rows: int = 0
    history: pl.DataFrame | None = None

    @property
    def target(self) -> str:
        ts = self.space.targets()
        return ts[0] if len(ts) == 1 else ", ".join(ts)

    @property
    def workload(self) -> str:
        return str(self.space.workload)

    @property
    def n_infeasible(self) -> int:
        return int((~self.points["feasible"].fill_null(False)).sum()) if "feasible" in self.points.columns else 0

    def summary(self) -> str:
        """One line naming what the result is, for the page header."""
        unit = "trials" if self.method == "search" else "points"
        what = {"running": f"running: {self.n_evaluated} of {self.n_total} {unit}",
                "done": f"{self.n_evaluated} {unit}",
                "cancelled": f"cancelled after {self.n_evaluated} of {self.n_total} {unit}",
                "failed": f"failed after {self.n_evaluated} {unit}"}[self.state]
        infeas = f", {self.n_infeasible} infeasible (grey)" if self.n_infeasible else ""
        how = ""
        if "provenance" in self.points.columns and self.points.height:
            how = f"; numbers: {', '.join(sorted(set(self.points['provenance'].drop_nulls().to_list())))}"
        return (f"{self.workload} on {self.target}: {what}; {self.front.height} distinct designs on the "
                f"Pareto front{infeas}{how}")


def export_points(frame: pl.DataFrame, fmt: str, *, space: Any, what: str = "front") -> bytes:
    """``frame`` (the front or all points) as ``fmt`` (:data:`POINT_EXPORT_FORMATS`).

    CSV, Parquet and JSON go through :func:`models.dse.export` (JSON with the provenance
    metadata: space, targets with the source of every number, version, date); PNG and the plot
    of the HTML page through :mod:`models.plots`; the HTML page adds a table of the rows.
    """
    from models import plots as mplots

    if fmt not in POINT_EXPORT_FORMATS:
        raise ValueError(f"export format {fmt!r}; allowed: {', '.join(POINT_EXPORT_FORMATS)}")
    if what not in ("front", "points"):
        raise ValueError(f"export of {what!r}; allowed: front, points")
    with tempfile.TemporaryDirectory(prefix="tradespace-export-") as d:
        path = Path(d) / f"{what}.{fmt}"
        mplots.export(frame, path, fmt, space=space, meta={"exported": what, "rows": frame.height,
                                                           "source": "Tradespace dashboard, Explore page"})
        data = path.read_bytes()
    if fmt != "html":
        return data
    shown = frame.drop([c for c in frame.columns if c.startswith("constraint_")])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>"
                   for r in shown.iter_rows())
    table = (f"<h2>{html.escape(what)}: {frame.height} rows ({html.escape(space.workload)} on "
             f"{html.escape(', '.join(space.targets()))}); columns in SI units (the suffix names the unit)</h2>"
             f"<table border='1' class='ts-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    text = data.decode()
    i = text.rfind("</body>")
    return (text[:i] + table + text[i:] if i >= 0 else text + table).encode()

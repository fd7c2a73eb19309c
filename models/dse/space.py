"""Design spaces: parameters, constraints and objectives, from TOML or Python.

A parameter says what it sets with ``sets``; every setting is declared once (see
:mod:`models.point.knobs`), and the declaration gives the parameter its default unit, log flag and
allowed range or choices:

- ``"target"``: the target itself (categorical over preset names, any class);
- ``"target.<override path>"``: a numeric target field (``"target.memories.hbm.bandwidth"``),
  given in ``unit`` and converted to SI (:data:`models.hardware.FIELD_SPECS`);
- ``"workload"``: the workload (categorical over :func:`models.workloads.available_workloads`);
- ``"workload.<knob>"``: a workload knob (``batch``, ``prompt_len``, ``group_size`` ...);
- ``"algorithm.<knob>"``: an algorithm knob of :data:`models.point.ALGORITHM_KNOBS` (formats,
  GEMM strategy, attention tiling and SRAM, softmax variant, scaling);
- ``"engine.<kind>"``: the engine that runs every operator of a kind (categorical).

Fixed settings: ``target``, ``workload``, ``mode``, ``workload_knobs``, ``algorithm_knobs``,
``engine`` (``{kind = "engine"}``) and ``policy`` (``"time"`` or ``"energy"``).

Example (``data/spaces/*.toml``)::

    name = "llama-h100"
    target = "h100-sxm"
    workload = "llama-2-7b"
    [[parameters]]
    name = "hbm_bandwidth_B_per_s"
    sets = "target.memories.hbm.bandwidth"
    kind = "float"
    bounds = [1, 8]
    unit = "TB/s"
    n_grid = 8
    [[objectives]]
    metric = "latency_s"
    direction = "minimize"
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.hardware import available_targets, get_target
from models.io import UnreadableFile, read_text
from models.params import Param, ParamError, did_you_mean
from models.units import to_si

# Grids larger than this are refused unless the caller raises the budget (max_points=); shared by
# sweeps, grid frames, the grid sampler of searches and the dashboard.
DEFAULT_MAX_POINTS = 100_000_000
# The most values one parameter's grid may have (a float axis of this many is 8 GB already).
MAX_N_GRID = 1_000_000_000
# Integer log grids up to this size are counted by building them (n_values).
_EXACT_COUNT_UP_TO = 1 << 22

__all__ = [
    "DEFAULT_MAX_POINTS",
    "MAX_N_GRID",
    "Constraint",
    "DesignSpace",
    "Objective",
    "Parameter",
    "SpaceError",
    "load_space",
    "parse_space",
    "METRICS",
    "KINDS",
    "DIRECTIONS",
    "CONSTRAINT_KINDS",
]

KINDS = ("float", "int", "categorical", "bool")
DIRECTIONS = {"minimize": "minimize", "min": "minimize", "maximize": "maximize", "max": "maximize"}
CONSTRAINT_KINDS = ("memory", "power", "accuracy", "macs")
# Metric columns the evaluator produces for every point ("{item}s_per_s" and
# "energy_J_per_{item}" are added for the workload's item name).
METRICS = (
    "latency_s",
    "energy_J",
    "dynamic_energy_J",
    "static_energy_J",
    "stalled_energy_J",
    "edp_J_s",
    "items_per_s",
    "energy_J_per_item",
    "average_power_W",
    "items_per_s_per_device",
    "average_power_W_per_device",
    "peak_memory_B",
    "memory_capacity_B",
    "error_proxy",
    "area_m2",
    "prefill_latency_s",
    "decode_latency_s",
    "forward_latency_s",
    "prefill_energy_J",
    "decode_energy_J",
    "forward_energy_J",
)
_PARAM_KEYS = {
    "name",
    "sets",
    "kind",
    "bounds",
    "choices",
    "values",
    "unit",
    "log",
    "n_grid",
    "description",
}
_SPACE_KEYS = {
    "name",
    "description",
    "target",
    "workload",
    "mode",
    "workload_knobs",
    "algorithm_knobs",
    "engine",
    "policy",
    "parameters",
    "constraints",
    "objectives",
}


class SpaceError(ValueError):
    """An invalid design space; the message names the file, field, value and what is allowed."""


@dataclass(frozen=True, kw_only=True)
class Parameter:
    """One dimension of a design space.

    Attributes
    ----------
    name
        Column name in point frames and results.
    sets
        What it sets (see the module docstring).
    kind
        One of :data:`KINDS`.
    low, high
        Bounds in SI (float/int parameters).
    choices
        Allowed values (categorical/bool).
    unit
        Display unit the bounds were written in (``"1"`` for dimensionless).
    log
        Sample and grid on a log scale.
    n_grid
        Grid points for float (and wide int) parameters.
    values
        Explicit grid values in SI (overrides ``n_grid``).
    """

    name: str
    sets: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    unit: str = "1"
    log: bool = False
    n_grid: int = 5
    values: tuple[float, ...] = ()
    description: str = ""

    @property
    def scope(self) -> str:
        """``"target"``, ``"target_field"``, ``"workload"``, ``"workload_knob"``, ``"algorithm"`` or
        ``"engine"``."""
        head, _, rest = self.sets.partition(".")
        if head == "target":
            return "target_field" if rest else "target"
        if head == "workload":
            return "workload_knob" if rest else "workload"
        return "engine" if head == "engine" else "algorithm"

    @property
    def structural(self) -> bool:
        """Changes the structure of the evaluation (grouped by, not vectorized over)."""
        return self.kind in ("categorical", "bool") or self.scope in ("target", "workload", "engine")

    @property
    def key(self) -> str:
        """The override path or knob name (after the scope prefix)."""
        return self.sets.partition(".")[2]

    @property
    def n_values(self) -> int:
        """Number of grid values, computed without building the grid (see :meth:`grid`).

        Exact, except for an integer grid of more than 2**22 values on a log scale, where it is
        counted in closed form: the values closer together than 1 merge when rounded (every
        integer between them appears once), the others stay distinct.
        """
        if self.kind in ("categorical", "bool"):
            return len(self.choices)
        if self.values:
            return len(self.values)
        if self.kind == "float":
            return int(self.n_grid)
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if hi - lo + 1 <= self.n_grid:
            return max(0, math.ceil(hi + 1.0 - lo))  # the length np.arange(lo, hi + 1) has
        if not self.log:
            # the steps of the linear grid exceed 1 (more integers than grid points): no two
            # grid values round to the same integer
            return int(self.n_grid)
        if self.n_grid <= _EXACT_COUNT_UP_TO:
            return len(self.grid())
        n = int(self.n_grid)
        r = (hi / lo) ** (1.0 / (n - 1))
        threshold = 1.0 / (r - 1.0)  # values below it are less than 1 apart
        k = 0 if lo >= threshold else min(n - 1, math.ceil(math.log(threshold / lo) / math.log(r)))
        g_k = hi if k == n - 1 else lo * r**k
        return int(round(g_k) - round(lo) + 1 + (n - 1 - k))

    def grid(self) -> np.ndarray | list[Any]:
        """Grid values (SI for numeric parameters)."""
        if self.kind in ("categorical", "bool"):
            return list(self.choices)
        if self.values:
            return np.asarray(self.values, dtype=np.float64)
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.kind == "int":
            if hi - lo + 1 <= self.n_grid:
                return np.arange(lo, hi + 1, dtype=np.float64)
            g = np.geomspace(lo, hi, self.n_grid) if self.log else np.linspace(lo, hi, self.n_grid)
            return np.unique(np.round(g))
        return np.geomspace(lo, hi, self.n_grid) if self.log else np.linspace(lo, hi, self.n_grid)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray | list[Any]:
        """``n`` random values (uniform, or log-uniform when ``log``)."""
        if self.kind in ("categorical", "bool"):
            idx = rng.integers(0, len(self.choices), n)
            return [self.choices[i] for i in idx]
        if self.values:  # an explicit list of values: sample among them
            return np.asarray(self.values, dtype=np.float64)[rng.integers(0, len(self.values), n)]
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.kind == "int":
            if self.log:
                v = np.floor(np.exp(rng.uniform(np.log(lo), np.log(hi + 1), n)))
            else:
                v = rng.integers(int(lo), int(hi) + 1, n).astype(np.float64)
            return np.clip(v, lo, hi)
        return (
            np.exp(rng.uniform(np.log(lo), np.log(hi), n)) if self.log else rng.uniform(lo, hi, n)
        )


@dataclass(frozen=True, kw_only=True)
class Constraint:
    """A feasibility rule. ``kind``: ``memory`` (peak memory fits the target's main memory),
    ``power`` (average power at most ``limit`` W), ``accuracy`` (``error_proxy`` at most
    ``limit``, the accuracy floor expressed as an error ceiling) or ``macs`` (multiply-accumulates
    per item, ``mac_per_item``, at most ``limit``: a MAC budget, as NAS papers search under)."""

    kind: str
    limit: float | None = None


@dataclass(frozen=True, kw_only=True)
class Objective:
    """A metric column and a direction (``"minimize"`` or ``"maximize"``)."""

    metric: str
    direction: str = "minimize"

    @property
    def sign(self) -> float:
        """+1 for minimize, -1 for maximize (multiply to turn every objective into a minimum)."""
        return 1.0 if self.direction == "minimize" else -1.0


@dataclass(frozen=True, kw_only=True)
class DesignSpace:
    """Parameters, fixed settings, constraints and objectives of one exploration."""

    name: str
    parameters: tuple[Parameter, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    target: str = "h100-sxm"
    workload: str = "llama-2-7b"
    mode: str = "calibrated"
    workload_knobs: Mapping[str, Any] = field(default_factory=dict)
    algorithm_knobs: Mapping[str, Any] = field(default_factory=dict)
    engine: Mapping[str, str] = field(default_factory=dict)
    policy: str = "time"
    description: str = ""
    source: str = "<python>"

    def __post_init__(self) -> None:
        _validate(self)

    # ------------------------------------------------------------------ access
    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"{self.source}: no parameter {name!r}; allowed: {', '.join(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def n_grid_points(self) -> int:
        """Size of the full grid (exact integer arithmetic; no grid is built)."""
        return math.prod(p.n_values for p in self.parameters)

    def targets(self) -> list[str]:
        """Every target the space can reach."""
        for p in self.parameters:
            if p.scope == "target":
                return [str(c) for c in p.choices]
        return [self.target]

    def workloads(self) -> list[str]:
        for p in self.parameters:
            if p.scope == "workload":
                return [str(c) for c in p.choices]
        return [self.workload]

    def metrics(self) -> tuple[str, ...]:
        """Metric columns the evaluator produces for this space."""
        from models.workloads import workload_spec

        extra = []
        for w in self.workloads():
            item = workload_spec(w).item_name
            extra += [f"{item}s_per_s", f"energy_J_per_{item}", f"{item}s_per_s_per_device"]
        if any(c.kind == "macs" for c in self.constraints) or any(o.metric == "mac_per_item" for o in self.objectives):
            extra.append("mac_per_item")  # the MAC budget's column, or an objective (models.dse.evaluator)
        from models.systems import SYSTEM_SWITCHES, system_metrics

        for switch in SYSTEM_SWITCHES:
            if self.algorithm_knobs.get(switch, "off") != "off" or any(
                    p.sets == f"algorithm.{switch}" for p in self.parameters):
                extra += list(system_metrics(switch))
        return tuple(dict.fromkeys((*METRICS, *extra)))

    # ------------------------------------------------------------------ points
    def grid_frame(self, *, max_points: int = DEFAULT_MAX_POINTS) -> pl.DataFrame:
        """Every grid point as a frame, in the order of ``itertools.product`` over the parameters.

        For small spaces (sweeps evaluate chunks instead). Raises :class:`SpaceError` when the
        grid holds more than ``max_points`` points, before building anything.
        """
        n = self.n_grid_points
        if n > max_points:
            raise _err(self, f"grid of {n:,} points, more than max_points = {max_points:,}; build rows in "
                             "slices with grid_rows(start, stop)")
        return self.grid_rows(0, n)

    def grid_rows(self, start: int, stop: int) -> pl.DataFrame:
        """Rows ``start`` to ``stop - 1`` of :meth:`grid_frame`, by index arithmetic.

        Row ``i`` is the mixed-radix decomposition of ``i`` over the parameters' grid sizes (the
        last parameter varies fastest), so a slice costs its own size whatever the grid's.
        """
        n = self.n_grid_points
        if not 0 <= start <= stop <= n:
            raise ValueError(f"rows [{start}, {stop}) of a grid of {n} points; allowed: 0 <= start <= stop <= {n}")
        if n >= 2**63:
            raise _err(self, f"grid of {n:,} points is too large to index")
        flat = np.arange(start, stop, dtype=np.int64)
        idx = np.unravel_index(flat, tuple(p.n_values for p in self.parameters)) if self.parameters else ()
        cols: dict[str, Any] = {}
        for p, i in zip(self.parameters, idx, strict=True):
            g = p.grid()
            cols[p.name] = g[i] if isinstance(g, np.ndarray) else [g[j] for j in i.tolist()]
        return _frame(self.parameters, cols)

    def sample_frame(self, n: int, seed: int) -> pl.DataFrame:
        """``n`` random points, seeded."""
        rng = np.random.default_rng(seed)
        return _frame(self.parameters, {p.name: p.sample(n, rng) for p in self.parameters})

    def to_dict(self) -> dict[str, Any]:
        """A JSON/TOML-friendly description (bounds in SI, units as declared)."""
        return {
            "name": self.name,
            "description": self.description,
            "target": self.target,
            "workload": self.workload,
            "mode": self.mode,
            "source": self.source,
            "workload_knobs": dict(self.workload_knobs),
            "algorithm_knobs": dict(self.algorithm_knobs),
            "engine": dict(self.engine),
            "policy": self.policy,
            "parameters": [
                {
                    "name": p.name,
                    "sets": p.sets,
                    "kind": p.kind,
                    "low_SI": p.low,
                    "high_SI": p.high,
                    "choices": list(p.choices),
                    "unit": p.unit,
                    "log": p.log,
                    "n_grid": p.n_grid,
                    "values_SI": list(p.values),
                }
                for p in self.parameters
            ],
            "constraints": [{"kind": c.kind, "limit": c.limit} for c in self.constraints],
            "objectives": [{"metric": o.metric, "direction": o.direction} for o in self.objectives],
        }


def _frame(params: Sequence[Parameter], cols: Mapping[str, Any]) -> pl.DataFrame:
    series = []
    for p in params:
        v = cols[p.name]
        if p.kind in ("float", "int"):
            series.append(pl.Series(p.name, np.asarray(v, dtype=np.float64)))
        elif p.kind == "bool":
            series.append(pl.Series(p.name, [bool(x) for x in v], dtype=pl.Boolean))
        else:
            series.append(pl.Series(p.name, [str(x) for x in v], dtype=pl.String))
    return pl.DataFrame(series)


# ---------------------------------------------------------------------------------- validation
def _err(space_or_src: Any, msg: str) -> SpaceError:
    src = space_or_src if isinstance(space_or_src, str) else space_or_src.source
    return SpaceError(f"{src}: {msg}")


def declaration(p: Parameter, *, workload: str | None = None, target: str | None = None) -> Param | None:
    """The :class:`~models.params.Param` behind a parameter (None for ``target`` and ``workload``).

    ``workload`` / ``target`` name the workload and target the parameter applies to (needed for
    workload knobs and engine assignments).
    """
    from models.point import setting

    if p.scope in ("target", "workload"):
        return None
    t = get_target(target) if target is not None else None
    return setting(p.sets, workload=workload, target=t)


def _validate(s: DesignSpace) -> None:
    from models.point import SettingError, setting, split_settings
    from models.workloads import available_workloads

    if s.mode not in ("calibrated", "ideal"):
        raise _err(s, f"mode = {s.mode!r}; allowed: calibrated, ideal")
    if s.policy not in ("time", "energy"):
        raise _err(s, f"policy = {s.policy!r}; allowed: time, energy")
    targets_all = available_targets()
    workloads_all = available_workloads()
    problem = _workload_problem(s.workload, workloads_all)
    if problem is not None:
        raise _err(s, f"workload = {s.workload!r}: {problem}")
    if s.target not in targets_all:
        raise _err(s, f"target = {s.target!r}: unknown target{did_you_mean(s.target, targets_all)}; "
                      f"allowed: {', '.join(targets_all)}")
    seen: set[str] = set()
    if not s.parameters:
        raise _err(s, "parameters: a design space needs at least one parameter")
    for p in s.parameters:
        where = f"parameter {p.name!r}"
        if p.name in seen:
            raise _err(s, f"{where}: duplicate parameter name")
        seen.add(p.name)
        if p.kind not in KINDS:
            raise _err(s, f"{where}: kind = {p.kind!r}; allowed: {', '.join(KINDS)}")
        if p.kind in ("categorical", "bool"):
            if not p.choices:
                raise _err(s, f"{where}: choices = [] is an empty range; give at least one choice")
        else:
            if p.low is None or p.high is None:
                article = "an" if p.kind == "int" else "a"
                raise _err(s, f"{where}: {article} {p.kind} parameter needs bounds = [low, high]")
            if not (np.isfinite(p.low) and np.isfinite(p.high)):
                raise _err(s, f"{where}: bounds = [{p.low:g}, {p.high:g}] (SI); allowed: finite numbers")
            if p.low > p.high:
                raise _err(s, f"{where}: bounds = [{p.low:g}, {p.high:g}] (SI) is an empty range; need low <= high")
            if p.log and p.low <= 0:
                raise _err(s, f"{where}: log = true needs low > 0, got {p.low:g}")
            if p.kind == "int" and np.floor(p.high) < np.ceil(p.low):
                raise _err(s, f"{where}: bounds [{p.low:g}, {p.high:g}] hold no integer (empty range)")
            if isinstance(p.n_grid, bool) or not isinstance(p.n_grid, int) or not 1 <= p.n_grid <= MAX_N_GRID:
                raise _err(s, f"{where}: n_grid = {_shown(p.n_grid)}; allowed: an integer from 1 to {MAX_N_GRID:,}")
        scope = p.scope
        if scope == "target":
            bad = [c for c in p.choices if c not in targets_all]
            if bad:
                raise _err(s, f"{where}: unknown target {bad[0]!r}{did_you_mean(bad[0], targets_all)}; "
                              f"allowed: {', '.join(targets_all)}")
            continue
        if scope == "workload":
            for c in p.choices:
                problem = _workload_problem(c, workloads_all)
                if problem is not None:
                    raise _err(s, f"{where}: workload {c!r}: {problem}")
            continue
        head, _, key = p.sets.partition(".")
        if head not in ("target", "workload", "algorithm", "engine") or not key:
            raise _err(s, f"{where}: sets = {p.sets!r}; allowed: target, target.<field>, workload, "
                          "workload.<knob>, algorithm.<knob>, engine.<kind>")
        if head == "algorithm" and key in ("weight_dtype", "act_dtype", "kv_dtype"):
            raise _err(s, f"{where}: sets = {p.sets!r}: {key} is a workload knob; use sets = 'workload.{key}' "
                          f"(or algorithm.{key.split('_')[0]}_format for any workload)")
        # the declaration on every target / workload the parameter meets
        scopes = [(w, t) for w in s.workloads() for t in s.targets()] if head in ("workload", "engine", "target") \
            else [(s.workload, s.target)]
        for w, t in scopes:
            try:
                decl = setting(p.sets, workload=w, target=get_target(t))
            except (SettingError, KeyError) as exc:
                raise _err(s, f"{where}: {exc.args[0] if exc.args else exc}") from None
            if decl.numeric and p.kind in ("categorical", "bool"):
                raise _err(s, f"{where}: {decl.role} {decl.name!r} is {decl.kind}; kind = {p.kind!r} is not allowed "
                              f"(a list of numbers: kind = \"{decl.kind}\" with values = [...])")
            if not decl.numeric and p.kind in ("float", "int"):
                raise _err(s, f"{where}: {decl.role} {decl.name!r} is categorical; give kind = \"categorical\" and "
                              f"choices from: {', '.join(map(str, decl.choices))}")
            if decl.kind == "int" and p.kind == "float" and not p.values:
                # a float grid between bounds holds fractions (2.83 sequences, 4.75 units) that the
                # evaluation would refuse half-way through a sweep or a search
                raise _err(s, f"{where}: {decl.role} {decl.name!r} takes whole numbers; give kind = \"int\" (or "
                              "values = [...] of whole numbers)")
            vals: tuple[Any, ...] = p.choices if p.kind in ("categorical", "bool") else \
                tuple(v for v in (p.low, p.high, *p.values) if v is not None)
            for v in vals:
                problem = decl.problem(v)
                if problem is not None:
                    shown = f"{v:g} (SI)" if isinstance(v, float) else repr(v)
                    raise _err(s, f"{where}: value {shown} not allowed for {decl.name}; {problem}")
    if not s.objectives:
        raise _err(s, "objectives: at least one objective is needed")
    metrics = s.metrics()
    for o in s.objectives:
        if o.metric not in metrics:
            from models.serving import SERVING_METRICS

            hint = (" (a serving metric: set algorithm_knobs serving = \"aggregated\" or \"disaggregated\" on "
                    "an LLM workload)") if o.metric in SERVING_METRICS else ""
            raise _err(s, f"objective metric = {o.metric!r}: unknown metric{hint}; allowed: {', '.join(metrics)}")
        if o.direction not in ("minimize", "maximize"):
            raise _err(s, f"objective {o.metric!r}: direction = {o.direction!r}; allowed: minimize, maximize "
                          "(min, max)")
    for c in s.constraints:
        if c.kind not in CONSTRAINT_KINDS:
            raise _err(s, f"constraint kind = {c.kind!r}; allowed: {', '.join(CONSTRAINT_KINDS)}")
        if c.kind in ("power", "accuracy", "macs") and (c.limit is None or not np.isfinite(c.limit) or c.limit <= 0):
            raise _err(s, f"constraint {c.kind!r}: limit = {c.limit!r}; allowed: a positive number")
    # fixed settings: every workload/algorithm knob and engine assignment, on every workload/target
    for w in s.workloads():
        try:
            split_settings({**s.workload_knobs, **{f"algorithm.{k}": v for k, v in s.algorithm_knobs.items()}}, w)
        except (SettingError, ParamError) as exc:
            raise _err(s, f"workload {w!r}: {exc.args[0] if exc.args else exc}") from None
        except KeyError as exc:
            raise _err(s, str(exc.args[0] if exc.args else exc)) from None
    for kind, eng in s.engine.items():
        for t in s.targets():
            try:
                decl = setting(f"engine.{kind}", target=get_target(t))
            except SettingError as exc:
                raise _err(s, f"engine: {exc.args[0]}") from None
            if eng not in decl.choices:
                raise _err(s, f"engine {kind} = {eng!r} on target {t!r}; allowed: {', '.join(decl.choices)}")


# ---------------------------------------------------------------------------------- parsing
def parse_space(data: Mapping[str, Any], *, source: str = "<dict>") -> DesignSpace:
    """Build a :class:`DesignSpace` from a parsed TOML/JSON mapping (strict: unknown keys are errors)."""
    if not isinstance(data, Mapping):
        raise _err(source, f"a design space is a table of keys, got {type(data).__name__}")
    unknown = set(data) - _SPACE_KEYS
    if unknown:
        raise _err(source, f"unknown key {sorted(map(str, unknown))[0]!r}; allowed: {', '.join(sorted(_SPACE_KEYS))}")
    # the type of every key first, so that what follows can rely on it
    for key in ("name", "description", "target", "workload", "mode", "policy"):
        if key in data and not isinstance(data[key], str):
            raise _err(source, f"{key} = {_shown(data[key])}; a string is required")
    for key in ("parameters", "objectives", "constraints"):
        if key in data and not isinstance(data[key], list):
            raise _err(source, f"{key} = {_shown(data[key])}; a list of tables ([[{key}]]) is required")
    for key in ("workload_knobs", "algorithm_knobs", "engine"):
        if key in data and not isinstance(data[key], Mapping):
            raise _err(source, f"{key} = {_shown(data[key])}; a table is required")
    for k, v in data.get("engine", {}).items():
        if not isinstance(v, str):
            raise _err(source, f"engine {k} = {_shown(v)}; an engine name (a string) is required")
    workloads = [str(data.get("workload", "llama-2-7b"))]
    targets = [str(data.get("target", "h100-sxm"))]
    raw_params = data.get("parameters", [])
    for raw in raw_params:
        if isinstance(raw, Mapping) and isinstance(raw.get("choices"), list):
            if raw.get("sets") == "workload":
                workloads = [str(c) for c in raw["choices"]]
            elif raw.get("sets") == "target":
                targets = [str(c) for c in raw["choices"]]
    params = []
    for i, raw in enumerate(raw_params):
        params.append(_parse_param(raw, f"{source}: parameters[{i}]", workloads, targets))
    objectives = []
    for i, raw in enumerate(data.get("objectives", [])):
        if not isinstance(raw, Mapping):
            raise _err(source, f"objectives[{i}]: a table is required")
        bad = set(raw) - {"metric", "direction"}
        if bad:
            raise _err(source, f"objectives[{i}]: unknown key {sorted(bad)[0]!r}; allowed: metric, direction")
        d = raw.get("direction", "minimize")
        if not isinstance(d, str) or d not in DIRECTIONS:
            raise _err(source, f"objectives[{i}] ({_shown(raw.get('metric'))}): direction = {_shown(d)}; allowed: "
                               f"{', '.join(DIRECTIONS)}")
        if "metric" not in raw:
            raise _err(source, f"objectives[{i}]: missing key 'metric'")
        if not isinstance(raw["metric"], str):
            raise _err(source, f"objectives[{i}]: metric = {_shown(raw['metric'])}; a metric name is required")
        objectives.append(Objective(metric=raw["metric"], direction=DIRECTIONS[d]))
    constraints = []
    for i, raw in enumerate(data.get("constraints", [])):
        if not isinstance(raw, Mapping):
            raise _err(source, f"constraints[{i}]: a table is required")
        bad = set(raw) - {"kind", "limit", "unit"}
        if bad:
            raise _err(source, f"constraints[{i}]: unknown key {sorted(bad)[0]!r}; allowed: kind, limit, unit")
        lim = raw.get("limit")
        if lim is not None:
            lim = _finite(lim, f"{source}: constraints[{i}]: limit")
            if "unit" in raw:
                if not isinstance(raw["unit"], str):
                    raise _err(source, f"constraints[{i}]: unit = {_shown(raw['unit'])}; a unit name is required")
                try:
                    lim = to_si(lim, raw["unit"])
                except ValueError as exc:
                    raise _err(source, f"constraints[{i}]: {exc}") from None
        if not isinstance(raw.get("kind"), str):
            raise _err(source, f"constraints[{i}]: kind = {_shown(raw.get('kind'))}; allowed: "
                               f"{', '.join(CONSTRAINT_KINDS)}")
        constraints.append(Constraint(kind=raw["kind"], limit=None if lim is None else float(lim)))
    try:
        return DesignSpace(
            name=str(data.get("name", Path(source).stem)),
            description=str(data.get("description", "")),
            target=str(data.get("target", "h100-sxm")),
            workload=str(data.get("workload", "llama-2-7b")),
            mode=str(data.get("mode", "calibrated")),
            workload_knobs=dict(data.get("workload_knobs", {})),
            algorithm_knobs=dict(data.get("algorithm_knobs", {})),
            engine={str(k): str(v) for k, v in data.get("engine", {}).items()},
            policy=str(data.get("policy", "time")),
            parameters=tuple(params),
            objectives=tuple(objectives),
            constraints=tuple(constraints),
            source=source,
        )
    except KeyError as exc:
        raise _err(source, str(exc.args[0] if exc.args else exc)) from None


def _workload_problem(name: object, names: Sequence[str]) -> str | None:
    """None when ``name`` is a workload name or a path :func:`models.workloads.workload_spec`
    resolves (a Hugging Face ``config.json`` or an ONNX graph, relative to the working folder),
    else why not (unknown name with a suggestion, or the file's own error)."""
    from models.workloads import workload_spec

    if isinstance(name, str) and name in names:
        return None
    if not isinstance(name, str):
        return f"unknown workload; allowed: {', '.join(names)}"
    try:
        workload_spec(name)
    except (KeyError, ValueError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        return str(msg)
    return None


def _declared(sets: str, workloads: Sequence[str], targets: Sequence[str]) -> Param | None:
    """The declaration of a numeric parameter's setting (for its default unit and log flag)."""
    from models.point import SettingError, setting
    from models.workloads import available_workloads

    head = sets.partition(".")[0]
    if head == "target":
        t = next((x for x in targets if x in available_targets()), None)
        try:
            return setting(sets, target=get_target(t) if t is not None else None)
        except SettingError:
            return setting(sets)  # a field other targets have: the per-target check names it
    if head == "workload":
        for w in workloads:
            if w in available_workloads() or _workload_problem(w, ()) is None:
                try:
                    return setting(sets, workload=w)
                except SettingError:
                    continue
        return None
    try:
        return setting(sets)
    except SettingError:
        return None


def _parse_param(raw: Mapping[str, Any], where: str, workloads: Sequence[str] = (),
                 targets: Sequence[str] = ()) -> Parameter:
    from models.point import SettingError

    if not isinstance(raw, Mapping):
        raise SpaceError(f"{where}: a table is required, got {type(raw).__name__}")
    bad = set(raw) - _PARAM_KEYS
    if bad:
        raise SpaceError(f"{where}: unknown key {sorted(bad)[0]!r}; allowed: {', '.join(sorted(_PARAM_KEYS))}")
    for k in ("name", "sets", "kind"):
        if k not in raw:
            raise SpaceError(f"{where}: missing key {k!r}")
        if not isinstance(raw[k], str) or not raw[k]:
            raise SpaceError(f"{where}: {k} = {_shown(raw[k])}; a non-empty string is required")
    if "description" in raw and not isinstance(raw["description"], str):
        raise SpaceError(f"{where}: description = {_shown(raw['description'])}; a string is required")
    name, sets, kind = str(raw["name"]), str(raw["sets"]), str(raw["kind"])
    where = f"{where} ({name!r})"
    if kind not in KINDS:
        raise SpaceError(f"{where}: kind = {kind!r}; allowed: {', '.join(KINDS)}")
    p = Parameter(name=name, sets=sets, kind=kind, description=str(raw.get("description", "")))
    if kind == "bool":
        return replace(p, choices=(False, True))
    if kind == "categorical":
        ch = raw.get("choices", raw.get("values"))
        if not isinstance(ch, list):
            raise SpaceError(f"{where}: a categorical parameter needs choices = [...], got {_shown(ch)}")
        if not ch:
            raise SpaceError(f"{where}: choices = [] is an empty range; give at least one choice")
        return replace(p, choices=tuple(ch))
    if sets.partition(".")[0] not in ("target", "workload", "algorithm", "engine") or "." not in sets:
        raise SpaceError(f"{where}: sets = {sets!r}; a {kind} parameter sets target.<field>, workload.<knob> or "
                         "algorithm.<knob>")
    try:
        decl = _declared(sets, workloads, targets)
    except SettingError as exc:
        raise SpaceError(f"{where}: {exc.args[0]}") from None
    unit = raw.get("unit")
    log = raw.get("log")
    if unit is not None and not isinstance(unit, str):
        raise SpaceError(f"{where}: unit = {_shown(unit)}; a unit name is required")
    if log is not None and not isinstance(log, bool):
        raise SpaceError(f"{where}: log = {_shown(log)}; allowed: true, false")
    unit = unit or (decl.unit if decl is not None else "1")
    log = (decl.log if decl is not None else False) if log is None else log

    def si(v: Any) -> float:
        x = _finite(v, f"{where}: value")
        if decl is None:
            return x
        try:
            return decl.to_si(x, unit)
        except ParamError as exc:
            raise SpaceError(f"{where}: unit = {unit!r}: {exc.allowed}") from None

    bounds = raw.get("bounds")
    values = raw.get("values")
    if values is not None:
        if not isinstance(values, list) or not values:
            raise SpaceError(f"{where}: values = {_shown(values)} is an empty range; give at least one value")
        vals = tuple(si(v) for v in values)
        lo, hi = min(vals), max(vals)
    elif isinstance(bounds, list) and len(bounds) == 2:
        vals = ()
        lo, hi = si(bounds[0]), si(bounds[1])
        if lo > hi:
            raise SpaceError(f"{where}: bounds = {bounds!r} is an empty range; need low <= high")
    else:
        raise SpaceError(f"{where}: {'an' if kind == 'int' else 'a'} {kind} parameter needs bounds = [low, high] or "
                         f"values = [...], got bounds = {_shown(bounds)}")
    n_grid = raw.get("n_grid", 5)
    if isinstance(n_grid, bool) or not isinstance(n_grid, int) or not 1 <= n_grid <= MAX_N_GRID:
        raise SpaceError(f"{where}: n_grid = {_shown(n_grid)}; allowed: an integer from 1 to {MAX_N_GRID:,}")
    return replace(p, low=lo, high=hi, values=vals, unit=str(unit), log=bool(log), n_grid=n_grid)


def _shown(v: Any) -> str:
    """A value for a message, short (a 400-digit integer is not repeated)."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v).bit_length() > 64:
        return "an integer of more than 19 digits"
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _finite(v: Any, where: str) -> float:
    """``v`` as a finite float; SpaceError for a bool, a non-number, NaN, inf or an integer beyond floats."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SpaceError(f"{where} = {_shown(v)}; a number is required")
    try:
        x = float(v)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise SpaceError(f"{where} = {_shown(v)}; allowed: a finite number")
    return x


def load_space(path: str | Path) -> DesignSpace:
    """Read a design space from a TOML file (see the module docstring for the format)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"design space file {str(path)!r} does not exist")
    try:
        text = read_text(path)
    except UnreadableFile as exc:
        raise SpaceError(f"{path}: {exc.where}: {exc.why}; a TOML file in UTF-8 is required") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise SpaceError(f"{path}: <toml>: tables or arrays nested too deeply; a design space nests a few "
                         "levels only") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise SpaceError(f"{path}: <toml>: invalid TOML number ({str(exc).split(';')[0]})") from None
    return parse_space(data, source=str(path))


def _rebuild(d: Mapping[str, Any], source: str) -> DesignSpace:
    """Inverse of :meth:`DesignSpace.to_dict` (used to hand a space to worker processes)."""
    params = tuple(
        Parameter(
            name=p["name"],
            sets=p["sets"],
            kind=p["kind"],
            low=p["low_SI"],
            high=p["high_SI"],
            choices=tuple(p["choices"]),
            unit=p["unit"],
            log=p["log"],
            n_grid=p["n_grid"],
            values=tuple(p["values_SI"]),
        )
        for p in d["parameters"]
    )
    return DesignSpace(
        name=d["name"],
        description=d.get("description", ""),
        target=d["target"],
        workload=d["workload"],
        mode=d["mode"],
        workload_knobs=d["workload_knobs"],
        algorithm_knobs=d["algorithm_knobs"],
        engine=d.get("engine", {}),
        policy=d.get("policy", "time"),
        parameters=params,
        objectives=tuple(Objective(**o) for o in d["objectives"]),
        constraints=tuple(Constraint(**c) for c in d["constraints"]),
        source=source,
    )

"""Design spaces: parameters, constraints and objectives, from TOML or Python.

A parameter says what it sets with ``sets``:

- ``"target"``: the target itself (categorical over preset names, any class);
- ``"target.<override path>"``: a numeric target field (``"target.memories.hbm.bandwidth"``),
  given in ``unit`` and converted to SI with :func:`models.units.to_si`; the unit and log flag
  default to the field's :data:`models.hardware.FIELD_SPECS` entry;
- ``"workload"``: the workload (categorical over :func:`models.workloads.registry.available_workloads`);
- ``"workload.<knob>"``: a workload knob (``batch``, ``prompt_len``, ``group_size`` ...); the
  unit, log flag and allowed range default to the workload's
  :class:`~models.workloads.registry.Knob` declaration;
- ``"algorithm.<knob>"``: an algorithm knob of :func:`models.dse.knobs.knob_handlers` (formats,
  GEMM strategy, attention tiling, softmax variant, scaling); unit, log flag and allowed range
  or choices come from its :class:`~models.dse.knobs.KnobHandler` declaration.

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

import itertools
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.hardware import available_targets, field_spec, get_target
from models.units import to_si

__all__ = [
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
CONSTRAINT_KINDS = ("memory", "power", "accuracy")
# Metric columns the evaluator produces for every point ("{item}s_per_s" and
# "energy_J_per_{item}" are added for the workload's item name).
METRICS = (
    "latency_s",
    "energy_J",
    "dynamic_energy_J",
    "static_energy_J",
    "edp_J_s",
    "items_per_s",
    "energy_J_per_item",
    "average_power_W",
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
        """``"target"``, ``"target_field"``, ``"workload"``, ``"workload_knob"`` or ``"algorithm"``."""
        head, _, rest = self.sets.partition(".")
        if head == "target":
            return "target_field" if rest else "target"
        if head == "workload":
            return "workload_knob" if rest else "workload"
        return "algorithm"

    @property
    def key(self) -> str:
        """The override path or knob name (after the scope prefix)."""
        return self.sets.partition(".")[2]

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
    ``power`` (average power at most ``limit`` W) or ``accuracy`` (``error_proxy`` at most
    ``limit``, the accuracy floor expressed as an error ceiling)."""

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
        """Size of the full grid."""
        return (
            int(np.prod([len(p.grid()) for p in self.parameters], dtype=np.float64))
            if self.parameters
            else 1
        )

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
        from models.dse.workloads import get_workload

        extra = []
        for w in self.workloads():
            item = get_workload(w).item_name
            extra += [f"{item}s_per_s", f"energy_J_per_{item}"]
        return tuple(dict.fromkeys((*METRICS, *extra)))

    # ------------------------------------------------------------------ points
    def grid_frame(self) -> pl.DataFrame:
        """Every grid point as a frame (small spaces; sweeps build chunks instead)."""
        grids = [p.grid() for p in self.parameters]
        rows = list(itertools.product(*grids))
        return _frame(
            self.parameters, {p.name: [r[i] for r in rows] for i, p in enumerate(self.parameters)}
        )

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


def _validate(s: DesignSpace) -> None:
    from models.dse.workloads import available_workloads, get_knob, get_workload, knob_handlers

    if s.mode not in ("calibrated", "ideal"):
        raise _err(s, f"mode = {s.mode!r}; allowed: calibrated, ideal")
    targets_all = available_targets()
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
                raise _err(s, f"{where}: a {p.kind} parameter needs bounds = [low, high]")
            if not (np.isfinite(p.low) and np.isfinite(p.high)) or p.low > p.high:
                raise _err(
                    s,
                    f"{where}: bounds = [{p.low:g}, {p.high:g}] (SI) is an empty range; need low <= high",
                )
            if p.log and p.low <= 0:
                raise _err(s, f"{where}: log = true needs low > 0, got {p.low:g}")
            if p.kind == "int" and np.floor(p.high) < np.ceil(p.low):
                raise _err(
                    s, f"{where}: bounds [{p.low:g}, {p.high:g}] hold no integer (empty range)"
                )
            if p.n_grid < 1:
                raise _err(s, f"{where}: n_grid = {p.n_grid}; allowed: an integer >= 1")
        scope = p.scope
        if scope == "target":
            bad = [c for c in p.choices if c not in targets_all]
            if bad:
                raise _err(
                    s, f"{where}: unknown target {bad[0]!r}; allowed: {', '.join(targets_all)}"
                )
        elif scope == "target_field":
            for t in s.targets():
                fields = get_target(t).numeric_fields()
                if p.key not in fields:
                    raise _err(
                        s,
                        f"{where}: sets = {p.sets!r}: target {t!r} has no field {p.key!r}; "
                        f"allowed: target.<{', '.join(sorted(fields))}>",
                    )
            spec = field_spec(p.key)
            for v in (p.low, p.high, *p.values):
                if v is not None and spec.check(float(v)) is not None:
                    raise _err(
                        s, f"{where}: value {v:g} (SI) out of the field's range; {spec.allowed()}"
                    )
        elif scope == "workload":
            bad = [c for c in p.choices if c not in available_workloads()]
            if bad:
                raise _err(
                    s,
                    f"{where}: unknown workload {bad[0]!r}; allowed: {', '.join(available_workloads())}",
                )
        elif scope == "workload_knob":
            for w in s.workloads():
                ws = get_workload(w)
                if p.key not in ws.declarations:
                    raise _err(
                        s,
                        f"{where}: sets = {p.sets!r}: workload {w!r} has no knob {p.key!r}; "
                        f"allowed: {', '.join(sorted(ws.declarations))}",
                    )
                kd = ws.declarations[p.key]
                if p.kind in ("categorical", "bool"):
                    vals: tuple[Any, ...] = p.choices
                else:
                    vals = tuple(v for v in (p.low, p.high, *p.values) if v is not None)
                for v in vals:
                    try:
                        kd.check(v)
                    except ValueError as exc:
                        raise _err(s, f"{where}: workload {w!r}: {exc}") from None
        else:
            head, _, key = p.sets.partition(".")
            if head != "algorithm" or not key:
                raise _err(
                    s,
                    f"{where}: sets = {p.sets!r}; allowed: target, target.<field>, workload, "
                    "workload.<knob>, algorithm.<knob>",
                )
            try:
                h = get_knob(key)
            except KeyError:
                raise _err(
                    s,
                    f"{where}: unknown algorithm knob {key!r}; allowed: "
                    f"{', '.join(sorted(knob_handlers()))}",
                ) from None
            if h.choices:
                bad = [c for c in p.choices if c not in h.choices]
                if bad:
                    raise _err(
                        s,
                        f"{where}: value {bad[0]!r} not allowed for {key}; allowed: "
                        f"{', '.join(map(str, h.choices))}",
                    )
            if h.builder_kwarg is not None:
                for w in s.workloads():
                    decl = get_workload(w).declarations
                    if h.builder_kwarg not in decl:
                        raise _err(
                            s,
                            f"{where}: algorithm knob {key!r} sets the builder knob "
                            f"{h.builder_kwarg!r}, which workload {w!r} lacks; its knobs: "
                            f"{', '.join(sorted(decl))} (use algorithm.{key.split('_')[0]}_format "
                            "for any workload)",
                        )
            if h.kind in ("float", "int") and p.kind in ("categorical", "bool"):
                raise _err(s, f"{where}: algorithm knob {key!r} is {h.kind}; kind = {p.kind!r} is not allowed")
            if h.kind in ("categorical", "bool") and p.kind in ("float", "int"):
                raise _err(
                    s,
                    f"{where}: algorithm knob {key!r} is categorical; give kind = \"categorical\" "
                    f"and choices from: {', '.join(map(str, h.choices))}",
                )
            for v in (p.low, p.high, *p.values):
                if v is not None:
                    try:
                        h.check(v)
                    except ValueError as exc:
                        raise _err(s, f"{where}: {exc}") from None
    if s.workload not in available_workloads():
        raise _err(
            s,
            f"workload = {s.workload!r}: unknown workload; allowed: {', '.join(available_workloads())}",
        )
    if s.target not in targets_all:
        raise _err(s, f"target = {s.target!r}: unknown target; allowed: {', '.join(targets_all)}")
    if not s.objectives:
        raise _err(s, "objectives: at least one objective is needed")
    metrics = s.metrics()
    for o in s.objectives:
        if o.metric not in metrics:
            raise _err(
                s, f"objective metric = {o.metric!r}: unknown metric; allowed: {', '.join(metrics)}"
            )
        if o.direction not in ("minimize", "maximize"):
            raise _err(
                s,
                f"objective {o.metric!r}: direction = {o.direction!r}; allowed: minimize, maximize (min, max)",
            )
    for c in s.constraints:
        if c.kind not in CONSTRAINT_KINDS:
            raise _err(s, f"constraint kind = {c.kind!r}; allowed: {', '.join(CONSTRAINT_KINDS)}")
        if c.kind in ("power", "accuracy") and (
            c.limit is None or not np.isfinite(c.limit) or c.limit <= 0
        ):
            raise _err(s, f"constraint {c.kind!r}: limit = {c.limit!r}; allowed: a positive number")


# ---------------------------------------------------------------------------------- parsing
def parse_space(data: Mapping[str, Any], *, source: str = "<dict>") -> DesignSpace:
    """Build a :class:`DesignSpace` from a parsed TOML/JSON mapping (strict: unknown keys are errors)."""
    unknown = set(data) - _SPACE_KEYS
    if unknown:
        raise _err(
            source, f"unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(_SPACE_KEYS))}"
        )
    workloads = [str(data.get("workload", "llama-2-7b"))]
    for raw in data.get("parameters", []):
        if isinstance(raw, Mapping) and raw.get("sets") == "workload" and isinstance(raw.get("choices"), list):
            workloads = [str(c) for c in raw["choices"]]
    params = []
    for i, raw in enumerate(data.get("parameters", [])):
        params.append(_parse_param(raw, f"{source}: parameters[{i}]", workloads))
    objectives = []
    for i, raw in enumerate(data.get("objectives", [])):
        bad = set(raw) - {"metric", "direction"}
        if bad:
            raise _err(
                source,
                f"objectives[{i}]: unknown key {sorted(bad)[0]!r}; allowed: metric, direction",
            )
        d = str(raw.get("direction", "minimize"))
        if d not in DIRECTIONS:
            raise _err(
                source,
                f"objectives[{i}] ({raw.get('metric')!r}): direction = {d!r}; allowed: "
                f"{', '.join(DIRECTIONS)}",
            )
        if "metric" not in raw:
            raise _err(source, f"objectives[{i}]: missing key 'metric'")
        objectives.append(Objective(metric=str(raw["metric"]), direction=DIRECTIONS[d]))
    constraints = []
    for i, raw in enumerate(data.get("constraints", [])):
        bad = set(raw) - {"kind", "limit", "unit"}
        if bad:
            raise _err(
                source,
                f"constraints[{i}]: unknown key {sorted(bad)[0]!r}; allowed: kind, limit, unit",
            )
        lim = raw.get("limit")
        if lim is not None and "unit" in raw:
            lim = to_si(lim, raw["unit"])
        constraints.append(
            Constraint(kind=str(raw.get("kind")), limit=None if lim is None else float(lim))
        )
    try:
        return DesignSpace(
            name=str(data.get("name", Path(source).stem)),
            description=str(data.get("description", "")),
            target=str(data.get("target", "h100-sxm")),
            workload=str(data.get("workload", "llama-2-7b")),
            mode=str(data.get("mode", "calibrated")),
            workload_knobs=dict(data.get("workload_knobs", {})),
            algorithm_knobs=dict(data.get("algorithm_knobs", {})),
            parameters=tuple(params),
            objectives=tuple(objectives),
            constraints=tuple(constraints),
            source=source,
        )
    except KeyError as exc:
        raise _err(source, str(exc.args[0] if exc.args else exc)) from None


# display units of workload knobs that are counts, not physical quantities (no SI conversion)
_COUNT_UNITS = {"", "1", "count", "tokens", "token", "px", "frames", "images", "samples"}


def _declared(sets: str, workloads: Sequence[str]) -> tuple[str | None, bool | None]:
    """Unit and log flag declared for a ``workload.<knob>`` or ``algorithm.<knob>`` parameter."""
    from models.dse.knobs import knob_handlers
    from models.dse.workloads import available_workloads, get_workload

    head, _, key = sets.partition(".")
    if head == "algorithm":
        h = knob_handlers().get(key)
        return (h.unit, h.log) if h is not None else (None, None)
    if head == "workload" and key:
        for w in workloads:
            if w in available_workloads():
                kd = get_workload(w).declarations.get(key)
                if kd is not None:
                    return (kd.unit or "1"), kd.log
    return None, None


def _parse_param(raw: Mapping[str, Any], where: str, workloads: Sequence[str] = ()) -> Parameter:
    bad = set(raw) - _PARAM_KEYS
    if bad:
        raise SpaceError(
            f"{where}: unknown key {sorted(bad)[0]!r}; allowed: {', '.join(sorted(_PARAM_KEYS))}"
        )
    for k in ("name", "sets", "kind"):
        if k not in raw:
            raise SpaceError(f"{where}: missing key {k!r}")
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
            raise SpaceError(f"{where}: a categorical parameter needs choices = [...], got {ch!r}")
        if not ch:
            raise SpaceError(f"{where}: choices = [] is an empty range; give at least one choice")
        return replace(p, choices=tuple(ch))
    unit = raw.get("unit")
    log = raw.get("log")
    spec = None
    if sets.startswith("target."):
        try:
            spec = field_spec(sets.partition(".")[2])
        except KeyError:
            raise SpaceError(f"{where}: sets = {sets!r}: unknown target field") from None
        unit = unit or spec.unit
        log = spec.log if log is None else log
    else:
        d_unit, d_log = _declared(sets, workloads)
        unit = unit or d_unit
        log = d_log if log is None else log
    unit = unit or "1"

    def si(v: Any) -> float:
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise SpaceError(f"{where}: value {v!r} is not a number") from None
        if unit in _COUNT_UNITS:
            return x
        return to_si(x, unit, dimension=spec.dimension if spec else None)

    bounds = raw.get("bounds")
    values = raw.get("values")
    if values is not None:
        if not isinstance(values, list) or not values:
            raise SpaceError(
                f"{where}: values = {values!r} is an empty range; give at least one value"
            )
        vals = tuple(si(v) for v in values)
        lo, hi = min(vals), max(vals)
    elif isinstance(bounds, list) and len(bounds) == 2:
        vals = ()
        lo, hi = si(bounds[0]), si(bounds[1])
        if lo > hi:
            raise SpaceError(f"{where}: bounds = {bounds!r} is an empty range; need low <= high")
    else:
        raise SpaceError(
            f"{where}: a {kind} parameter needs bounds = [low, high] or values = [...], got {bounds!r}"
        )
    n_grid = raw.get("n_grid", 5)
    if not isinstance(n_grid, int) or n_grid < 1:
        raise SpaceError(f"{where}: n_grid = {n_grid!r}; allowed: an integer >= 1")
    return replace(p, low=lo, high=hi, values=vals, unit=str(unit), log=bool(log), n_grid=n_grid)


def load_space(path: str | Path) -> DesignSpace:
    """Read a design space from a TOML file (see the module docstring for the format)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"design space file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"{path}: not valid TOML: {exc}") from None
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
        parameters=params,
        objectives=tuple(Objective(**o) for o in d["objectives"]),
        constraints=tuple(Constraint(**c) for c in d["constraints"]),
        source=source,
    )

"""Page state of the dashboard as ``param.Parameterized`` classes (house style 7).

These classes import neither Panel nor HoloViews: a notebook or a test drives them directly.
Inputs are parameters (synced to the URL query by the views); outputs (``data``, ``error``,
``progress``...) are parameters the views watch. Model code runs in methods here and in
:mod:`app.dashboard.data`, never in view callbacks.

Inputs are checked before anything is computed or loaded (:mod:`app.dashboard.safety`): target
and workload names must be registry names, knob values must fit their declarations. A rejected
input is put back to the last valid one, so the page never shows one value while another is
evaluated, and the message says so. Errors never escape: they go to ``error`` (a message naming
the field, the value received and what is allowed, or ``internal error <id>`` for an unexpected
one, logged server-side), and ``n_errors`` counts them so that a repeated message still
notifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import param
import polars as pl

from app.dashboard import data as D
from app.dashboard.safety import (
    InputError,
    check_knobs,
    check_target_name,
    check_targets,
    check_workload_name,
    error_message,
    shown,
)
from models.dse import DEFAULT_MAX_POINTS
from models.workloads.kinds import PHASES as WORKLOAD_PHASES

__all__ = ["CLOUD_MAX_POINTS", "CompareState", "EXPLORE_METRICS", "ExploreState", "PAGES", "PHASES",
           "POINT_BUDGET", "PointBudget", "RooflineState", "TargetsState"]

# the dashboard's pages, in navigation order, and the phases a page can show ("all" or one)
PAGES = ("roofline", "compare", "explore", "targets")
PHASES = ("all", *WORKLOAD_PHASES)
# Metrics offered as Explore objectives (columns of models.dse results), with display units.
EXPLORE_METRICS = {"latency_s": "s", "energy_J": "J", "energy_J_per_item": "J/item", "items_per_s": "items/s",
                   "edp_J_s": "J·s", "average_power_W": "W", "peak_memory_B": "B", "error_proxy": "1"}
# A sweep keeps at most this many points for the cloud (every k-th point of a larger grid, about
# 200 B each); its Pareto front is exact, merged chunk by chunk. A session's memory stays bounded
# whatever the grid size.
CLOUD_MAX_POINTS = 1_000_000
# An Explore axis: a qualified setting name (what models.point.setting reads), or "" (unused).
_AXIS = re.compile(r"^(target|workload|algorithm)\.[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


class PointBudget:
    """Design points being evaluated at once by every session of one server process.

    Each Explore run reserves its points (grid size, or trials of a search) before it starts and
    gives them back when it ends, however it ends; a run that would exceed the capacity is
    refused with a message instead of queuing, so many tabs cannot exhaust the server's memory
    or CPU. Thread-safe: sessions run their sweeps in worker threads.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"PointBudget capacity {capacity}; allowed: >= 1")
        self.capacity = int(capacity)
        self._in_use = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        """Points reserved now."""
        with self._lock:
            return self._in_use

    def acquire(self, n: int, what: str = "run") -> int:
        """Reserve ``n`` points (returned, for :meth:`release`), or raise ValueError saying why not."""
        if n < 0:
            raise ValueError(f"{what}: {n} points; allowed: >= 0")
        with self._lock:
            if n > self.capacity:
                raise ValueError(f"{what}: {n:,} points; the dashboard evaluates at most {self.capacity:,} points "
                                 "at once (models.dse.DEFAULT_MAX_POINTS); lower the grid sizes or trials")
            if self._in_use + n > self.capacity:
                raise ValueError(f"{what}: {n:,} points, but other sessions of this server are evaluating "
                                 f"{self._in_use:,} of the {self.capacity:,} points it evaluates at once; only "
                                 f"{self.capacity - self._in_use:,} are free; lower the grid sizes, or run again "
                                 "when they finish")
            self._in_use += n
        return n

    def release(self, n: int) -> None:
        """Give back ``n`` points reserved by :meth:`acquire`."""
        with self._lock:
            self._in_use = max(0, self._in_use - n)

    @contextlib.contextmanager
    def reserve(self, n: int, what: str = "run") -> Iterator[int]:
        """``with budget.reserve(n):`` holds ``n`` points for the block."""
        got = self.acquire(n, what)
        try:
            yield got
        finally:
            self.release(got)


# One per server process: every session of `tradespace serve` shares it.
POINT_BUDGET = PointBudget(DEFAULT_MAX_POINTS)


class _Base(param.Parameterized):
    error = param.String(default="", doc="last error message ('' when the last update succeeded)")
    n_errors = param.Integer(default=0, doc="errors so far (changes on every error, even a repeated one)")

    # the inputs a URL or a widget may set; a rejected change puts them back to ``_good``
    _inputs: tuple[str, ...] = ()

    _KEPT = " (not applied: the page still shows the last valid inputs)"

    def __init__(self, **params: Any) -> None:
        self._good: dict[str, Any] | None = None
        self._muted = False
        self._collecting: list[tuple[str, bool]] | None = None
        super().__init__(**params)

    def _fail(self, exc: BaseException, *, kept: bool = False) -> None:
        """Report ``exc`` on ``error`` (:func:`app.dashboard.safety.error_message`: an expected
        error's message without server paths, else ``internal error <id>``, logged)."""
        self._report(error_message(exc), kept)

    def _report(self, msg: str, kept: bool = False) -> None:
        if self._collecting is not None:
            self._collecting.append((msg, kept))
            return
        self.param.update(error=msg + (self._KEPT if kept else ""), n_errors=self.n_errors + 1)

    @contextlib.contextmanager
    def collect_errors(self, prefix: str = "") -> Iterator[list[tuple[str, bool]]]:
        """Errors reported inside the block become one message at its end (one notification).

        Yields the list of ``(message, kept)`` pairs, to which the caller may add its own.
        """
        outer, self._collecting = self._collecting, []
        got = self._collecting
        try:
            yield got
        finally:
            self._collecting = outer
            if got:
                msgs = list(dict.fromkeys(m for m, _ in got))
                self._report(prefix + "; ".join(msgs), any(k for _, k in got))

    def apply(self, **values: Any) -> None:
        """Set several inputs at once (a URL query); a rejected set leaves the last valid state."""
        try:
            self.param.update(**values)
        except Exception as exc:  # param refuses a type or bound: report it, keep the state
            self._fail(exc, kept=self._good is not None)
            self._revert()

    def _snapshot(self) -> dict[str, Any]:
        def copy(v: Any) -> Any:
            return list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v

        return {n: copy(getattr(self, n)) for n in self._inputs}

    @contextlib.contextmanager
    def _mute(self) -> Iterator[None]:
        """Changes made inside are not checked again (they are the checked or last valid values)."""
        old, self._muted = self._muted, True
        try:
            yield
        finally:
            self._muted = old

    def _revert(self) -> None:
        """Put the inputs back to the last valid ones (a no-op before the first valid state)."""
        if self._good is None:
            return
        changed = {n: v for n, v in self._good.items() if getattr(self, n) != v}
        if changed:
            with self._mute():
                self.param.update(**changed)


class _WorkloadInputs(_Base):
    targets = param.List(default=["h100-sxm"], item_type=str, doc="target preset names")
    workload = param.String(default="llama-2-7b", doc="workload name (models.workloads)")
    phase = param.Selector(default="decode", objects=list(PHASES), doc="phase shown ('all' = every phase)")
    mode = param.Selector(default="calibrated", objects=["calibrated", "ideal"],
                          doc="calibrated estimate or ideal roofline bound")
    knobs = param.Dict(default={}, doc="workload/algorithm knob values (name -> value); defaults when absent")

    _inputs = ("targets", "workload", "phase", "mode", "knobs")

    def __init__(self, **params: Any) -> None:
        self._knob_specs: dict[str, list[Any]] = {}
        super().__init__(**params)

    def set_knob(self, name: str, value: Any) -> None:
        """Set one knob (the whole dict is replaced so watchers and the URL see the change)."""
        self.knobs = {**self.knobs, name: value}

    def knob_specs(self, workload: str | None = None) -> list[Any]:
        """The declarations of the workload's knobs (without ``phase``: its own widget) and of
        the algorithm knobs that apply to it (:func:`models.point.applicable_knobs`); none for
        a name that is not a registered workload (nothing is read for it)."""
        from models.point import applicable_knobs
        from models.workloads import workload_spec

        try:
            name = check_workload_name(self.workload if workload is None else workload)
        except InputError:
            return []
        cached = self._knob_specs.get(name)
        if cached is None:  # applicable_knobs builds the workload's table: once per workload
            spec = workload_spec(name)
            cached = self._knob_specs[name] = [k for k in spec.knobs if k.name != "phase"] + applicable_knobs(spec)
        return list(cached)

    def knob_value(self, name: str) -> Any:
        """The knob's value: set, else its default (None: an algorithm knob left as built)."""
        for k in self.knob_specs():
            if k.name == name:
                return self.knobs.get(name, k.default)
        raise KeyError(f"workload {self.workload!r} has no knob {name!r}")

    def clear_knob(self, name: str) -> None:
        """Unset a knob (back to its default / as built)."""
        if name in self.knobs:
            self.knobs = {k: v for k, v in self.knobs.items() if k != name}

    def checked_inputs(self) -> dict[str, Any]:
        """The inputs, checked (InputError / ParamError naming the bad one otherwise).

        Switching the workload alone keeps the knobs it shares with the last one (batch,
        datatypes, formats) and drops the others, and shows all phases when it has not the one
        shown; knobs given together with a workload (a URL) must all apply to it.
        """
        problems: list[str] = []  # every bad input in one message
        targets: list[str] = []
        try:
            targets = check_targets(self.targets)
        except InputError as exc:
            problems.append(str(exc))
        try:
            workload = check_workload_name(self.workload)
        except InputError as exc:  # the knobs cannot be checked without their workload
            raise InputError("; ".join([*problems, str(exc)])) from None
        if problems:
            try:
                check_knobs(workload, self.knobs, self.knob_specs(workload))
            except InputError as exc:
                problems.append(str(exc))
            raise InputError("; ".join(problems))
        specs = self.knob_specs(workload)
        knobs, phase = dict(self.knobs), self.phase
        good = self._good
        if good is not None and workload != good["workload"]:
            if knobs == good["knobs"]:
                names = {k.name for k in specs}
                knobs = {k: v for k, v in knobs.items() if k in names}
            if phase == good["phase"] and phase != "all" and phase not in D.workload_phases(workload):
                phase = "all"
        return {"targets": targets, "workload": workload, "phase": phase, "mode": self.mode,
                "knobs": check_knobs(workload, knobs, specs)}


class _ComputedFromInputs(_WorkloadInputs):
    """A page whose ``data`` is one pure function of the workload inputs, recomputed on change."""

    data = param.Parameter(default=None, doc="result of the last successful update")
    # the page's pure data function: f(targets, workload, knobs, *, phase, mode)
    _data_fn: Any = None

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.refresh()

    @param.depends("targets", "workload", "phase", "mode", "knobs", watch=True)
    def refresh(self) -> None:
        """Check the inputs and compute ``data``; a rejected input goes back to the last valid one."""
        if self._muted:
            return
        try:
            inputs = self.checked_inputs()
            fn = type(self)._data_fn
            data = fn(inputs["targets"], inputs["workload"], inputs["knobs"], phase=inputs["phase"],
                      mode=inputs["mode"])
        except Exception as exc:  # any failure: report it (an unexpected one with an id) and keep the last state
            self._fail(exc, kept=self._good is not None)
            self._revert()
            return
        self._good = inputs
        changed = {n: v for n, v in inputs.items() if getattr(self, n) != v}  # checked or dropped knobs
        with self._mute():
            self.param.update(data=data, error="", **changed)


class RooflineState(_ComputedFromInputs):
    """Roofline page: targets x workload -> :class:`app.dashboard.data.RooflineData`."""

    _data_fn = staticmethod(D.roofline_data)


class CompareState(_ComputedFromInputs):
    """Compare page: one workload across targets of any class -> one row per target (polars frame)."""

    targets = param.List(default=["h100-sxm", "a100-80gb", "raspberry-pi-5", "hbm-pim"], item_type=str)
    _data_fn = staticmethod(D.compare_data)


class TargetsState(_Base):
    """Targets page: browse a preset with sources, edit a copy within bounds, save it as TOML."""

    target = param.String(default="h100-sxm", doc="preset being browsed")
    new_name = param.String(default="", doc="name of the edited copy (file stem)")
    edits = param.Dict(default={}, doc="field path -> value in the field's display unit")
    fields = param.Parameter(default=None, doc="polars frame of target_fields_frame (with edits applied)")
    n_targets = param.Integer(default=0, doc="targets the registry finds (changes after a save)")
    message = param.String(default="", doc="last success message")
    saved_path = param.String(default="")

    _inputs = ("target",)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.refresh()

    def available(self) -> list[str]:
        from models.hardware import available_targets

        return available_targets()

    @param.depends("target", watch=True)
    def _new_target(self) -> None:
        if self._muted:
            return
        with self._mute():  # refresh once below, not once per cleared parameter
            self.param.update(edits={}, new_name="")
        self.refresh()

    @param.depends("edits", watch=True)
    def refresh(self) -> None:
        """Load the target (a checked name) and its fields with the edits applied."""
        if self._muted:
            return
        from models.hardware import get_target

        try:
            t = get_target(check_target_name(self.target))
            if self.edits:
                t = D.apply_field_edits(t, t.name + "-edit", self.edits)
            fields = D.target_fields_frame(t)
            n = len(self.available())
        except Exception as exc:  # report it (an unexpected one with an id) and keep the last state
            self._fail(exc, kept=self._good is not None)
            self._revert()
            return
        self._good = self._snapshot()
        self.param.update(fields=fields, n_targets=n, error="")

    def edit(self, path: str, value: float) -> bool:
        """Record one edit (display unit) after checking it against the field's declared range."""
        from models.hardware import get_target

        try:
            D.apply_field_edits(get_target(check_target_name(self.target)), "check", {**self.edits, path: value})
        except Exception as exc:
            self._fail(exc)
            return False
        self.edits = {**self.edits, path: float(value)}
        return True

    def save(self, folder: Path | None = None) -> Path | None:
        """Save the edited copy as ``<user targets dir>/<new_name>.toml``; None (and ``error``) on failure."""
        from models.hardware import get_target

        try:
            t = D.apply_field_edits(get_target(check_target_name(self.target)), self.new_name.strip(), self.edits)
            path = D.save_target_copy(t, folder)
        except Exception as exc:
            self._fail(exc)
            return None
        # the folder is the server's; the browser is told the name it is now listed under
        self.param.update(saved_path=str(path), message=f"saved {t.name} (listed under the target presets now)",
                          n_targets=len(self.available()))
        return path


@dataclasses.dataclass(frozen=True, kw_only=True)
class Axis:
    """One explored parameter as the Explore page declares it (bounds in ``unit``)."""

    sets: str
    low: float
    high: float
    n_grid: int
    unit: str


class ExploreState(_Base):
    """Explore page: a design space from widgets, a background sweep or search, its Pareto front."""

    target = param.String(default="h100-sxm")
    workload = param.String(default="llama-2-7b", doc="workload name (models.dse registry)")
    # Default space with a real trade-off: a larger batch amortizes the weight reads over more
    # sequences (less energy per token) but makes each run longer; HBM bandwidth and clock move
    # the whole curve. The grids of batch, bandwidth and clock are logarithmic (their declared scale).
    axis1 = param.String(default="workload.batch")
    axis1_low = param.Number(default=1.0)
    axis1_high = param.Number(default=256.0)
    axis1_n = param.Integer(default=10, bounds=(1, 10_000))
    axis2 = param.String(default="target.memories.hbm.bandwidth")
    axis2_low = param.Number(default=1000.0)
    axis2_high = param.Number(default=8000.0)
    axis2_n = param.Integer(default=10, bounds=(1, 10_000))
    axis3 = param.String(default="target.clock")
    axis3_low = param.Number(default=1.0)
    axis3_high = param.Number(default=2.0)
    axis3_n = param.Integer(default=10, bounds=(1, 10_000))
    x_metric = param.Selector(default="latency_s", objects=list(EXPLORE_METRICS))
    y_metric = param.Selector(default="energy_J_per_item", objects=list(EXPLORE_METRICS))
    x_direction = param.Selector(default="minimize", objects=["minimize", "maximize"])
    y_direction = param.Selector(default="minimize", objects=["minimize", "maximize"])
    memory_constraint = param.Boolean(default=True, doc="peak memory must fit the target's main memory")
    method = param.Selector(default="sweep", objects=["sweep", "search"])
    n_trials = param.Integer(default=200, bounds=(1, 100_000))
    seed = param.Integer(default=0, bounds=(0, 2**32 - 1))

    # outputs
    running = param.Boolean(default=False)
    progress = param.Number(default=0.0, bounds=(0.0, 1.0))
    status = param.String(default="idle")
    results = param.Parameter(default=None, doc="polars frame of the evaluated points kept for the cloud")
    n_evaluated = param.Integer(default=0, doc="points the last run evaluated (results may hold a sample)")
    front = param.Parameter(default=None, doc="polars frame of the Pareto front (feasible points)")
    selected = param.Integer(default=-1, doc="row of ``front`` clicked (-1: none)")
    breakdown = param.Parameter(default=None, doc="per-operator breakdown of the selected front point")
    cancel_requested = param.Boolean(default=False)

    _inputs = ("target", "workload", "axis1", "axis1_low", "axis1_high", "axis1_n", "axis2", "axis2_low",
               "axis2_high", "axis2_n", "axis3", "axis3_low", "axis3_high", "axis3_n", "x_metric", "y_metric",
               "x_direction", "y_direction", "memory_constraint", "method", "n_trials", "seed")
    # every session of a server shares one budget; a test may give an instance its own
    point_budget: PointBudget = POINT_BUDGET

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._space: Any = None  # the space of the results shown (labels, breakdown, export)
        try:
            self.check_inputs()
            self._good = self._snapshot()
        except Exception as exc:
            self._fail(exc)

    # ------------------------------------------------------------------ inputs
    def check_inputs(self) -> None:
        """Raise InputError naming every bad target or workload name, axis name or bound."""
        problems: list[str] = []
        for check, value in ((check_target_name, self.target), (check_workload_name, self.workload)):
            try:
                check(value)
            except InputError as exc:
                problems.append(str(exc))
        for i in (1, 2, 3):
            sets = getattr(self, f"axis{i}")
            if sets.strip() and not _AXIS.match(sets.strip()):
                problems.append(f"axis{i} {shown(sets)}: a setting such as workload.batch or "
                                "target.memories.hbm.bandwidth is required (target.<field>, workload.<knob> or "
                                "algorithm.<knob>), or empty")
            for end in ("low", "high"):
                v = getattr(self, f"axis{i}_{end}")
                if not math.isfinite(v):
                    problems.append(f"axis{i}_{end} {shown(v)}: a finite number is required")
        if problems:
            raise InputError("; ".join(problems))

    @param.depends("target", "workload", "axis1", "axis1_low", "axis1_high", "axis2", "axis2_low", "axis2_high",
                   "axis3", "axis3_low", "axis3_high", watch=True)
    def _inputs_changed(self) -> None:
        if self._muted:
            return
        try:
            self.check_inputs()
        except Exception as exc:
            self._fail(exc, kept=self._good is not None)
            self._revert()
            return
        self._good = self._snapshot()

    @param.depends("x_metric", "y_metric", "x_direction", "y_direction", "memory_constraint", "method",
                   "axis1_n", "axis2_n", "axis3_n", "n_trials", "seed", watch=True)
    def _choice_changed(self) -> None:
        # values param itself checked (choices, bounds); keep them as the last valid state
        if not self._muted and self._good is not None:
            self._good = self._snapshot()

    # ------------------------------------------------------------------ space
    def axes(self) -> list[Axis]:
        out = []
        for i in (1, 2, 3):
            sets = getattr(self, f"axis{i}").strip()
            if sets:
                out.append(Axis(sets=sets, low=getattr(self, f"axis{i}_low"), high=getattr(self, f"axis{i}_high"),
                                n_grid=getattr(self, f"axis{i}_n"), unit=D.axis_unit(sets, self.workload)))
        return out

    def space_dict(self) -> dict[str, Any]:
        from models.point import SettingError, setting

        params = []
        for ax in self.axes():
            name = ax.sets.rsplit(".", 1)[-1] if not ax.sets.startswith("target.") else ax.sets.partition(".")[2]
            try:
                kind = setting(ax.sets, workload=self.workload).kind
            except (SettingError, KeyError):
                kind = "float"  # the space's validation names the bad setting
            params.append({"name": name.replace(".", "_"), "sets": ax.sets, "kind": kind,
                           "bounds": [ax.low, ax.high], "unit": ax.unit, "n_grid": ax.n_grid})
        return {
            "name": "dashboard", "target": self.target, "workload": self.workload, "parameters": params,
            "objectives": [{"metric": self.x_metric, "direction": self.x_direction},
                           {"metric": self.y_metric, "direction": self.y_direction}],
            "constraints": [{"kind": "memory"}] if self.memory_constraint else [],
        }

    def build_space(self) -> Any:
        """The design space of the inputs (checked names; a sweep grid within the point budget)."""
        from models.dse import parse_space

        self.check_inputs()  # names before anything is loaded
        if self.x_metric == self.y_metric:
            raise ValueError(f"objectives: x and y are both {self.x_metric!r}; choose two different metrics")
        space = parse_space(self.space_dict(), source="explore page")
        if self.method == "sweep" and space.n_grid_points > DEFAULT_MAX_POINTS:
            raise ValueError(f"grid of {space.n_grid_points:,} points: the dashboard sweeps at most "
                             f"{DEFAULT_MAX_POINTS:,} (models.dse.DEFAULT_MAX_POINTS); lower the grid sizes (grid n)")
        return space

    # ------------------------------------------------------------------ running
    def cancel(self) -> None:
        if self.running:
            self.cancel_requested = True

    async def run(self) -> None:
        """Sweep or search in worker threads, updating ``progress``; the event loop stays free.

        The run's points are reserved on the server-wide :class:`PointBudget` first: a run that
        does not fit is refused with a message.
        """
        if self.running:
            return
        try:
            space = self.build_space()
            n = space.n_grid_points if self.method == "sweep" else self.n_trials
            held = self.point_budget.acquire(n, what=f"{self.method} of {n:,} points")
        except Exception as exc:
            self._fail(exc)
            self.status = "refused"
            return
        self.param.update(running=True, cancel_requested=False, progress=0.0, selected=-1, breakdown=None,
                          status=f"{self.method}: starting")
        try:
            if self.method == "sweep":
                out = await self._run_sweep(space)
            else:
                out = await self._run_search(space)
            if out is None:
                self.status = "cancelled"
                return
            results, front, n_done = out
            if front is None:
                front = await asyncio.to_thread(D.explore_front, space, results)
            self._space = space
            sampled = (f"; the cloud shows 1 point in {-(-n_done // results.height)}"
                       if results.height < n_done else "")
            self.param.update(results=results, front=front, n_evaluated=n_done, progress=1.0, error="",
                              status=f"done: {n_done} points, {front.height} on the Pareto front{sampled}")
        except Exception as exc:  # report it (an unexpected one with an id); the last results stay
            self._fail(exc)
            self.status = "failed"
        finally:
            self.point_budget.release(held)
            self.param.update(running=False, cancel_requested=False)

    async def _run_sweep(self, space: Any) -> tuple[pl.DataFrame, pl.DataFrame | None, int] | None:
        from models.dse import sweep_chunks

        total = space.n_grid_points
        keeper = D.SweepKeeper(space, stride=max(1, -(-total // CLOUD_MAX_POINTS)))
        chunks = sweep_chunks(space, chunk_size=max(1, min(1 << 16, -(-total // 20))))

        def step() -> int | None:
            part = next(chunks, None)
            if part is None:
                return None
            keeper.add(part)
            return keeper.n_seen

        while True:
            if self.cancel_requested:
                return None
            done = await asyncio.to_thread(step)
            if done is None:
                break
            self.param.update(progress=done / total, status=f"sweep: {done} of {total} points")
        return keeper.cloud(), keeper.front, keeper.n_seen

    async def _run_search(self, space: Any) -> tuple[pl.DataFrame, None, int] | None:
        from models.dse.search import search

        folder = Path(tempfile.mkdtemp(prefix="tradespace-search-"))
        try:
            url = f"journal:{folder / 'study.log'}"
            name = f"dashboard-{uuid.uuid4().hex[:8]}"
            step = max(1, min(50, self.n_trials // 10 or 1))
            done, res = 0, None
            while done < self.n_trials:
                if self.cancel_requested:
                    return None
                done = min(self.n_trials, done + step)
                res = await asyncio.to_thread(search, space, done, storage=url, study_name=name, seed=self.seed,
                                              batch_size=step, population_size=max(4, min(50, step)),
                                              progress=False)
                self.param.update(progress=done / self.n_trials,
                                  status=f"search: {done} of {self.n_trials} trials")
            assert res is not None  # n_trials >= 1
            return res, None, res.height
        finally:  # the study lives only as long as the run
            shutil.rmtree(folder, ignore_errors=True)

    def select(self, index: int) -> None:
        """Show the breakdown of front row ``index`` (priced in the space of the run shown)."""
        if self.front is None or self._space is None or not (0 <= index < self.front.height):
            return
        try:
            bd = D.point_breakdown(self._space, self.front.row(index, named=True))
            self.param.update(selected=index, breakdown=bd)
        except Exception as exc:
            self._fail(exc)

    def export(self, fmt: str) -> bytes:
        """The Pareto front in ``fmt`` (csv, parquet, json, html)."""
        if self.front is None or self._space is None:
            raise ValueError("export: nothing to export yet; run a sweep or a search first")
        sp = self._space
        return D.export_front(self.front, fmt, title=f"Pareto front: {sp.workload} on {sp.target}")

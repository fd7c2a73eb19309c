"""Page state of the dashboard as ``param.Parameterized`` classes (house style 7).

These classes import neither Panel nor HoloViews: a notebook or a test drives them directly.
Inputs are parameters (synced to the URL query by the views); outputs (``data``, ``error``,
``progress``...) are parameters the views watch. Model code runs in methods here and in
:mod:`app.dashboard.data`, never in view callbacks.

Errors from bad input never escape: they go to ``error`` (a message naming the field, the
value received and what is allowed), and ``n_errors`` counts them so that a repeated message
still notifies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import uuid
from pathlib import Path
from typing import Any

import param
import polars as pl

from app.dashboard import data as D
from models.workloads.kinds import PHASES as WORKLOAD_PHASES

__all__ = ["CompareState", "EXPLORE_METRICS", "ExploreState", "PAGES", "PHASES", "RooflineState", "TargetsState"]

# the dashboard's pages, in navigation order, and the phases a page can show ("all" or one)
PAGES = ("roofline", "compare", "explore", "targets")
PHASES = ("all", *WORKLOAD_PHASES)
# Metrics offered as Explore objectives (columns of models.dse results), with display units.
EXPLORE_METRICS = {"latency_s": "s", "energy_J": "J", "energy_J_per_item": "J/item", "items_per_s": "items/s",
                   "edp_J_s": "J·s", "average_power_W": "W", "peak_memory_B": "B", "error_proxy": "1"}
MAX_EXPLORE_POINTS = 5_000_000


class _Base(param.Parameterized):
    error = param.String(default="", doc="last error message ('' when the last update succeeded)")
    n_errors = param.Integer(default=0, doc="errors so far (changes on every error, even a repeated one)")

    def _fail(self, exc: BaseException) -> None:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        self.param.update(error=str(msg), n_errors=self.n_errors + 1)


class _WorkloadInputs(_Base):
    targets = param.List(default=["h100-sxm"], item_type=str, doc="target preset names")
    workload = param.String(default="llama-2-7b", doc="workload name (models.workloads)")
    phase = param.Selector(default="decode", objects=list(PHASES), doc="phase shown ('all' = every phase)")
    mode = param.Selector(default="calibrated", objects=["calibrated", "ideal"],
                          doc="calibrated estimate or ideal roofline bound")
    knobs = param.Dict(default={}, doc="workload/algorithm knob values (name -> value); defaults when absent")

    def set_knob(self, name: str, value: Any) -> None:
        """Set one knob (the whole dict is replaced so watchers and the URL see the change)."""
        self.knobs = {**self.knobs, name: value}

    def knob_specs(self) -> list[Any]:
        """The declarations of the workload's knobs (without ``phase``: its own widget) and of
        the algorithm knobs that apply to it (:func:`models.point.applicable_knobs`)."""
        from models.point import applicable_knobs
        from models.workloads import workload_spec

        try:
            spec = workload_spec(self.workload)
        except KeyError:
            return []
        return [k for k in spec.knobs if k.name != "phase"] + applicable_knobs(spec)

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
        try:
            fn = type(self)._data_fn
            self.data = fn(self.targets, self.workload, self.knobs, phase=self.phase, mode=self.mode)
            self.error = ""
        except (KeyError, ValueError, TypeError) as exc:
            self._fail(exc)


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

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.refresh()

    def available(self) -> list[str]:
        from models.hardware import available_targets

        return available_targets()

    @param.depends("target", watch=True)
    def _new_target(self) -> None:
        self.param.update(edits={}, new_name="")

    @param.depends("target", "edits", watch=True)
    def refresh(self) -> None:
        from models.hardware import get_target

        try:
            t = get_target(self.target)
            if self.edits:
                t = D.apply_field_edits(t, t.name + "-edit", self.edits)
            self.fields = D.target_fields_frame(t)
            self.n_targets = len(self.available())
            self.error = ""
        except (KeyError, ValueError, TypeError) as exc:
            self._fail(exc)

    def edit(self, path: str, value: float) -> bool:
        """Record one edit (display unit) after checking it against the field's declared range."""
        from models.hardware import get_target

        try:
            D.apply_field_edits(get_target(self.target), "check", {**self.edits, path: value})
        except (KeyError, ValueError, TypeError) as exc:
            self._fail(exc)
            return False
        self.edits = {**self.edits, path: float(value)}
        return True

    def save(self, folder: Path | None = None) -> Path | None:
        """Save the edited copy as ``<user targets dir>/<new_name>.toml``; None (and ``error``) on failure."""
        from models.hardware import get_target

        try:
            t = D.apply_field_edits(get_target(self.target), self.new_name.strip(), self.edits)
            path = D.save_target_copy(t, folder)
        except (KeyError, ValueError, TypeError, OSError) as exc:
            self._fail(exc)
            return None
        self.param.update(saved_path=str(path), message=f"saved {t.name} to {path}",
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
    seed = param.Integer(default=0)

    # outputs
    running = param.Boolean(default=False)
    progress = param.Number(default=0.0, bounds=(0.0, 1.0))
    status = param.String(default="idle")
    results = param.Parameter(default=None, doc="polars frame of every evaluated point")
    front = param.Parameter(default=None, doc="polars frame of the Pareto front (feasible points)")
    selected = param.Integer(default=-1, doc="row of ``front`` clicked (-1: none)")
    breakdown = param.Parameter(default=None, doc="per-operator breakdown of the selected front point")
    cancel_requested = param.Boolean(default=False)

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
        from models.dse import parse_space

        if self.x_metric == self.y_metric:
            raise ValueError(f"objectives: x and y are both {self.x_metric!r}; choose two different metrics")
        space = parse_space(self.space_dict(), source="explore page")
        if self.method == "sweep" and space.n_grid_points > MAX_EXPLORE_POINTS:
            raise ValueError(f"grid of {space.n_grid_points} points: allowed at most {MAX_EXPLORE_POINTS} "
                             "in the dashboard; lower the grid sizes")
        return space

    # ------------------------------------------------------------------ running
    def cancel(self) -> None:
        if self.running:
            self.cancel_requested = True

    async def run(self) -> None:
        """Sweep or search in worker threads, updating ``progress``; the event loop stays free."""
        if self.running:
            return
        try:
            space = self.build_space()
        except (KeyError, ValueError, TypeError) as exc:
            self._fail(exc)
            return
        self.param.update(running=True, cancel_requested=False, progress=0.0, selected=-1, breakdown=None,
                          status=f"{self.method}: starting")
        try:
            if self.method == "sweep":
                results = await self._run_sweep(space)
            else:
                results = await self._run_search(space)
            if results is None:
                self.status = "cancelled"
                return
            front = await asyncio.to_thread(D.explore_front, space, results)
            self.param.update(results=results, front=front, progress=1.0, error="",
                              status=f"done: {results.height} points, {front.height} on the Pareto front")
            self._space = space
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            self._fail(exc)
            self.status = "failed"
        finally:
            self.param.update(running=False, cancel_requested=False)

    async def _run_sweep(self, space: Any) -> pl.DataFrame | None:
        from models.dse import sweep_chunks

        total = space.n_grid_points
        chunks = sweep_chunks(space, chunk_size=max(1, min(1 << 16, -(-total // 20))))
        parts: list[pl.DataFrame] = []
        done = 0
        while True:
            if self.cancel_requested:
                return None
            part = await asyncio.to_thread(next, chunks, None)
            if part is None:
                break
            parts.append(part)
            done += part.height
            self.param.update(progress=done / total, status=f"sweep: {done} of {total} points")
        return pl.concat(parts, how="vertical")

    async def _run_search(self, space: Any) -> pl.DataFrame | None:
        from models.dse.search import search

        folder = Path(tempfile.mkdtemp(prefix="tradespace-search-"))
        url = f"journal:{folder / 'study.log'}"
        name = f"dashboard-{uuid.uuid4().hex[:8]}"
        step = max(1, min(50, self.n_trials // 10 or 1))
        done, res = 0, None
        while done < self.n_trials:
            if self.cancel_requested:
                return None
            done = min(self.n_trials, done + step)
            res = await asyncio.to_thread(search, space, done, storage=url, study_name=name, seed=self.seed,
                                          batch_size=step, population_size=max(4, min(50, step)), progress=False)
            self.param.update(progress=done / self.n_trials, status=f"search: {done} of {self.n_trials} trials")
        return res

    def select(self, index: int) -> None:
        """Show the breakdown of front row ``index``."""
        if self.front is None or not (0 <= index < self.front.height):
            return
        try:
            bd = D.point_breakdown(self.build_space(), self.front.row(index, named=True))
            self.param.update(selected=index, breakdown=bd)
        except (KeyError, ValueError, TypeError) as exc:
            self._fail(exc)

    def export(self, fmt: str) -> bytes:
        """The Pareto front in ``fmt`` (csv, parquet, json, html)."""
        if self.front is None:
            raise ValueError("export: nothing to export yet; run a sweep or a search first")
        return D.export_front(self.front, fmt, title=f"Pareto front: {self.workload} on {self.target}")


"""Page state of the dashboard as ``param.Parameterized`` classes (house style 7).

These classes import neither Panel nor HoloViews: a notebook or a test drives them directly.
Inputs are parameters (synced to the URL query by the views); outputs (``data``, ``error``,
``progress``...) are parameters the views watch. Model code runs in methods here and in
:mod:`app.dashboard.data`, never in view callbacks.

Inputs are checked before anything is computed or loaded (:mod:`app.dashboard.safety`): target
and workload names must be registry names, knob values must fit their declarations. A rejected
input is put back to the last valid one, so the page never shows one value while another is
evaluated, and the message says so.

Roofline and Compare show the result of exactly their current inputs (``data``, with the inputs
it was computed from in ``result_inputs``), say "computing" while it is computed (``status``),
or say why it cannot be: never an older result. A phase the workload lacks is replaced by all
its phases with a ``note``; a target that cannot be evaluated is a failure row of the result
(with its reason), not an error of the page; inputs no target can run are a rejected input.

Errors never escape: they go to ``error`` (a message naming
the field, the value received and what is allowed, or ``internal error <id>`` for an unexpected
one, logged server-side), and ``n_errors`` counts them so that a repeated message still
notifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import math
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import param
import polars as pl

from app.dashboard import data as D
from app.dashboard import explore_data as EX
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
from models.point.knobs import SERVING_KNOBS
from models.workloads.kinds import PHASES as WORKLOAD_PHASES

__all__ = ["CLOUD_MAX_POINTS", "CompareState", "EXPLORE_METRICS", "ExploreState", "PAGES", "PHASES",
           "POINT_BUDGET", "PointBudget", "RooflineState", "STATUSES", "TargetsState"]

# the dashboard's pages, in navigation order, and the phases a page can show ("all" or one)
PAGES = ("roofline", "compare", "explore", "targets", "fidelity")
PHASES = ("all", *WORKLOAD_PHASES)
# Metrics offered as Explore objectives (columns of models.dse results), with display units.
EXPLORE_METRICS = {"latency_s": "s", "energy_J": "J", "energy_J_per_item": "J/item", "items_per_s": "items/s",
                   "edp_J_s": "J·s", "average_power_W": "W", "peak_memory_B": "B", "error_proxy": "1",
                   "mac_per_item": "MAC/item",
                   # LLM serving (algorithm.serving = aggregated / disaggregated; models.serving)
                   "output_tokens_per_s_per_device": "tokens/s/device", "output_tokens_per_s_per_user": "tokens/s",
                   "output_tokens_per_s": "tokens/s", "ttft_s": "s", "tpot_s": "s",
                   "energy_J_per_output_token": "J/token", "goodput_output_tokens_per_s": "tokens/s"}
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
    # algorithm knobs the page does not offer (they do not change what it draws)
    _hidden_knobs: frozenset[str] = frozenset()

    def __init__(self, **params: Any) -> None:
        self._knob_specs: dict[str, list[Any]] = {}
        self._notes: list[str] = []  # what checked_inputs replaced (a phase the workload lacks)
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
            cached = self._knob_specs[name] = [k for k in spec.knobs if k.name != "phase"] + [
                k for k in applicable_knobs(spec) if k.name not in self._hidden_knobs]
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
        if good is not None and workload != good["workload"] and knobs == good["knobs"]:
            names = {k.name for k in specs}
            knobs = {k: v for k, v in knobs.items() if k in names}
        offered = D.workload_phases(workload)
        if phase != "all" and phase not in offered:
            # a phase the workload lacks (decode of a CNN): its default view, every phase, said so
            self._notes.append(f"phase {phase!r} is not offered by workload {workload!r} (it has: "
                               f"{', '.join(offered)}); showing all its phases")
            phase = "all"
        return {"targets": targets, "workload": workload, "phase": phase, "mode": self.mode,
                "knobs": check_knobs(workload, knobs, specs)}


# What a page's status says: "computing" while the result of the current inputs is computed,
# "ready" (every target evaluated), "partial" (some targets failed: their rows say why),
# "error" (nothing could be computed: ``error`` says why; no result is shown).
STATUSES = ("computing", "ready", "partial", "error")


class _ComputedFromInputs(_WorkloadInputs):
    """A page whose result is one pure function of the workload inputs, recomputed on change.

    ``data`` is always the result of exactly the current inputs (``result_inputs`` says which),
    or None while it is computed and when it cannot be: never an older result. A rejected input
    (unknown name, bad knob value) is put back to the last valid one, so the result shown stays
    that of the inputs shown; a phase the workload lacks is replaced by all its phases with a
    ``note``; a target that cannot be evaluated is a failure row of the result, not of the page.
    """

    data = param.Parameter(default=None, doc="result of the current inputs (None while computing or on error)")
    result_inputs = param.Parameter(default=None, doc="D.ResultInputs of ``data`` (None when there is no data)")
    status = param.Selector(default="computing", objects=list(STATUSES), doc="where the result stands")
    note = param.String(default="", doc="what was replaced in the inputs and why ('' when nothing)")
    n_notes = param.Integer(default=0, doc="notes so far (changes on every note, even a repeated one)")
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
        self._notes = []
        try:
            inputs = self.checked_inputs()
        except Exception as exc:  # a bad input: report it (an unexpected one with an id), keep the last state
            self._fail(exc, kept=self._good is not None)
            self._revert()
            if self._good is None:  # nothing valid yet: nothing to show
                self.param.update(data=None, result_inputs=None, status="error")
            return
        prev_good, prev_status = self._good, self.status
        self._good = inputs
        changed = {n: v for n, v in inputs.items() if getattr(self, n) != v}  # checked or dropped knobs
        notes = list(dict.fromkeys(self._notes))
        with self._mute():
            self.param.update(status="computing", **changed)
        try:
            fn = type(self)._data_fn
            data = fn(inputs["targets"], inputs["workload"], inputs["knobs"], phase=inputs["phase"],
                      mode=inputs["mode"])
        except Exception as exc:  # nothing computable: say why, show no result (never an older one)
            self.param.update(data=None, result_inputs=None, status="error")
            self._fail(exc)
            self._set_note(notes)
            return
        failures = self.failures_of(data)
        result_inputs = D.ResultInputs(targets=tuple(inputs["targets"]), workload=inputs["workload"],
                                       phase=inputs["phase"], mode=inputs["mode"], knobs=dict(inputs["knobs"]))
        everything_failed = failures.height == len(inputs["targets"])
        if everything_failed and prev_good is not None:
            # no target can run these inputs (a knob combination the model refuses, or only
            # targets lacking a datatype): a rejected input; the last valid inputs and their
            # result stay, and the message says why
            self._good = prev_good
            self._report("no target could be evaluated: " + D.failed_targets(failures), kept=True)
            self._revert()
            self.status = prev_status if prev_status != "computing" else "ready"
            return
        status = "error" if everything_failed else "partial" if failures.height else "ready"
        self.param.update(data=data, result_inputs=result_inputs, status=status, error="")
        if everything_failed:  # nothing valid before either (a URL): the failure rows say why
            self._report("no target could be evaluated: " + D.failed_targets(failures))
        self._set_note(notes)

    def _set_note(self, notes: list[str]) -> None:
        if notes:
            self.param.update(note="; ".join(notes), n_notes=self.n_notes + 1)
        elif self.note:
            self.note = ""

    @staticmethod
    def failures_of(data: Any) -> pl.DataFrame:
        """The targets of ``data`` that could not be evaluated: target, reason."""
        raise NotImplementedError

    @property
    def table(self) -> pl.DataFrame | None:
        """One row per target of the result shown (the failing ones with their reason); None
        when there is no result."""
        raise NotImplementedError


class RooflineState(_ComputedFromInputs):
    """Roofline page: targets x workload -> :class:`app.dashboard.data.RooflineData`."""

    _data_fn = staticmethod(D.roofline_data)
    # the page draws one request's operators: a request stream's knobs are on Compare and Explore
    _hidden_knobs = frozenset(SERVING_KNOBS)

    @staticmethod
    def failures_of(data: Any) -> pl.DataFrame:
        return data.failures

    @property
    def table(self) -> pl.DataFrame | None:
        """Per target: latency_s, energy_J per run, n_fallback_ops, provenance, reason (null when
        evaluated), in the order of the result's targets."""
        if self.data is None or self.result_inputs is None:
            return None
        d = self.data
        order = pl.DataFrame({"target": list(self.result_inputs.targets)})
        ok = d.totals.select("target", "latency_s", "energy_J", "n_items", "item_name", "n_fallback_ops",
                             "provenance")
        return order.join(ok, on="target", how="left").join(d.failures, on="target", how="left")


class CompareState(_ComputedFromInputs):
    """Compare page: one workload across targets of any class -> one row per target (polars frame).

    ``baseline`` names the target the bars are normalised to ('' or a target not in the result:
    the first target that could be evaluated).
    """

    targets = param.List(default=["h100-sxm", "a100-80gb", "raspberry-pi-5", "hbm-pim"], item_type=str)
    baseline = param.String(default="", doc="target the comparison is normalised to ('' = the first one)")
    _data_fn = staticmethod(D.compare_data)

    @staticmethod
    def failures_of(data: Any) -> pl.DataFrame:
        return data.filter(pl.col("reason").is_not_null()).select("target", "reason")

    @property
    def table(self) -> pl.DataFrame | None:
        """The compare frame: one row per target, failing ones with null metrics and a reason."""
        return self.data

    def baseline_target(self) -> str | None:
        """The target the comparison is normalised to: ``baseline`` when it was evaluated, else
        the first target that was; None when none was."""
        if self.data is None:
            return None
        ok = self.data.filter(pl.col("reason").is_null())["target"].to_list()
        if not ok:
            return None
        return self.baseline if self.baseline in ok else ok[0]

    @property
    def normalized(self) -> pl.DataFrame | None:
        """:func:`app.dashboard.data.compare_normalized` of the result to :meth:`baseline_target`."""
        base = self.baseline_target()
        if self.data is None or base is None:
            return None
        return D.compare_normalized(self.data, base)


class TargetsState(_Base):
    """Targets page: browse a preset with sources, edit a copy within bounds, save it as TOML,
    compare it field by field with another target."""

    target = param.String(default="h100-sxm", doc="preset being browsed")
    compare_to = param.String(default="", doc="second target of the side-by-side diff ('' = none)")
    new_name = param.String(default="", doc="name of the edited copy (file stem)")
    edits = param.Dict(default={}, doc="field path -> value in the field's display unit")
    fields = param.Parameter(default=None, doc="polars frame of target_fields_frame (with edits applied)")
    diff = param.Parameter(default=None, doc="polars frame of target_diff(target with edits, compare_to)")
    shown = param.Parameter(default=None, doc="(target, compare_to) that ``fields`` and ``diff`` were made from")
    n_targets = param.Integer(default=0, doc="targets the registry finds (changes after a save)")
    message = param.String(default="", doc="last success message")
    saved_path = param.String(default="")

    _inputs = ("target", "compare_to")

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

    def edited_target(self) -> Any:
        """The target (a checked name) with the edits applied (the preset itself without edits)."""
        from models.hardware import get_target

        t = get_target(check_target_name(self.target))
        return D.apply_field_edits(t, t.name + "-edit", self.edits) if self.edits else t

    @param.depends("edits", "compare_to", watch=True)
    def refresh(self) -> None:
        """Load the target (a checked name) and its fields with the edits applied, and the diff."""
        if self._muted:
            return
        from models.hardware import get_target

        try:
            t = self.edited_target()
            fields = D.target_fields_frame(t)
            other = self.compare_to.strip()
            diff = D.target_diff(t, get_target(check_target_name(other))) if other else None
            n = len(self.available())
        except Exception as exc:  # report it (an unexpected one with an id) and keep the last state
            self._fail(exc, kept=self._good is not None)
            self._revert()
            return
        self._good = self._snapshot()
        self.param.update(fields=fields, diff=diff, n_targets=n, error="", shown=(self.target, other))

    def edit(self, path: str, value: float) -> bool:
        """Record one edit (display unit) after checking it against the field's declared range.

        A value out of range (or not a number, or the field's value already) is refused with a
        message naming the field, the value and the allowed range: no edit is recorded, and the
        field keeps its value and its source.
        """
        try:
            t = self.edited_target()
            why = D.field_edit_problem(t, path, value)
            if why is not None:
                raise InputError(why)
            D.apply_field_edits(t, "check", {path: value})  # the rules between fields too
        except Exception as exc:
            self._fail(exc)
            return False
        self.edits = {**self.edits, path: float(value)}
        return True

    def toml(self) -> str:
        """The browsed target with the edits applied as a target file (``new_name`` when set)."""
        t = self.edited_target()
        name = self.new_name.strip()
        if name:
            t = D.apply_field_edits(t, name, {})
        return D.target_toml(t)

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
    """One explored parameter as the Explore page declares it (bounds in ``unit``; ``values``
    for a categorical one)."""

    sets: str
    low: float
    high: float
    n_grid: int
    unit: str
    kind: str = "float"
    values: tuple[str, ...] = ()


# Explore parameters (axes) the page holds: enough for every space file in data/spaces/.
N_AXES = 4
# A running sweep or search shows its points at most this often (s): drawing a cloud costs more
# than evaluating a chunk of it.
PUBLISH_EVERY_S = 0.5
_AXIS_FIELDS = ("", "_low", "_high", "_n", "_values")


class ExploreState(_Base):
    """Explore page: a design space from widgets (or a ``data/spaces`` file), a background sweep
    or search drawn as its points arrive, its de-duplicated Pareto front.

    The parameters offered are those the current target and workload have
    (:func:`app.dashboard.explore_data.axis_choices`); changing either replaces a parameter they
    lack by a default one and resets every parameter's bounds from the registry and the preset
    (unless the same change sets them: a URL). ``result`` is the run of exactly the current
    inputs, updated while it runs; any input change clears it (a result never outlives its
    inputs), so a view shows that result, a running status, or a message.
    """

    target = param.String(default="h100-sxm")
    workload = param.String(default="llama-2-7b", doc="workload name (models.dse registry)")
    # Default space with a real trade-off: a larger batch amortizes the weight reads over more
    # sequences (less energy per token) but makes each run longer; HBM bandwidth and clock move
    # the whole curve. The grids of batch, bandwidth and clock are logarithmic (their declared scale).
    axis1 = param.String(default="workload.batch")
    axis1_low = param.Number(default=1.0)
    axis1_high = param.Number(default=256.0)
    axis1_n = param.Integer(default=10, bounds=(1, 10_000))
    axis1_values = param.List(default=[], item_type=str, doc="values of a categorical parameter 1")
    axis2 = param.String(default="target.memories.hbm.bandwidth")
    axis2_low = param.Number(default=1000.0)
    axis2_high = param.Number(default=8000.0)
    axis2_n = param.Integer(default=10, bounds=(1, 10_000))
    axis2_values = param.List(default=[], item_type=str)
    axis3 = param.String(default="target.clock")
    axis3_low = param.Number(default=1.0)
    axis3_high = param.Number(default=2.0)
    axis3_n = param.Integer(default=10, bounds=(1, 10_000))
    axis3_values = param.List(default=[], item_type=str)
    axis4 = param.String(default="")
    axis4_low = param.Number(default=1.0)
    axis4_high = param.Number(default=2.0)
    axis4_n = param.Integer(default=5, bounds=(1, 10_000))
    axis4_values = param.List(default=[], item_type=str)
    fixed_knobs = param.Dict(default={}, doc="fixed workload / algorithm.<knob> settings (from a space file)")
    extra_constraints = param.List(default=[], doc="power / accuracy constraints {kind, limit} (from a space file)")
    x_metric: Any = param.Selector(default="latency_s", objects=list(EXPLORE_METRICS))
    y_metric: Any = param.Selector(default="energy_J_per_item", objects=list(EXPLORE_METRICS))
    x_direction: Any = param.Selector(default="minimize", objects=["minimize", "maximize"])
    y_direction: Any = param.Selector(default="minimize", objects=["minimize", "maximize"])
    memory_constraint = param.Boolean(default=True, doc="peak memory must fit the target's main memory")
    method: Any = param.Selector(default="sweep", objects=["sweep", "search"])
    n_trials = param.Integer(default=200, bounds=(1, 100_000))
    seed = param.Integer(default=0, bounds=(0, 2**32 - 1))

    # outputs
    running = param.Boolean(default=False)
    progress = param.Number(default=0.0, bounds=(0.0, 1.0))
    status = param.String(default="idle")
    result = param.Parameter(default=None, doc="ExploreResult of the current inputs (None: none yet)")
    results = param.Parameter(default=None, doc="polars frame of the evaluated points kept for the cloud")
    n_evaluated = param.Integer(default=0, doc="points the last run evaluated (results may hold a sample)")
    front = param.Parameter(default=None, doc="polars frame of the Pareto front (feasible, distinct designs)")
    selected = param.Integer(default=-1, doc="row of ``front`` clicked (-1: none)")
    breakdown = param.Parameter(default=None, doc="per-operator breakdown of the selected front point")
    cancel_requested = param.Boolean(default=False)
    message = param.String(default="", doc="last note (a space file loaded, parameters replaced)")

    _inputs = ("target", "workload",
               *(f"axis{i}{f}" for i in range(1, N_AXES + 1) for f in _AXIS_FIELDS),
               "fixed_knobs", "extra_constraints", "x_metric", "y_metric", "x_direction", "y_direction",
               "memory_constraint", "method", "n_trials", "seed")
    # every session of a server shares one budget; a test may give an instance its own
    point_budget: PointBudget = POINT_BUDGET

    def __init__(self, **params: Any) -> None:
        self._deferred: set[str] | None = None
        self._stop = threading.Event()
        self._run_inputs: dict[str, Any] | None = None
        super().__init__(**params)
        self._space: Any = None  # the space of the results shown (labels, breakdown, export)
        try:
            self.check_inputs(fit=False)
            with self._mute():
                self._fit_axes(changed=set(params) & {"target", "workload", *(f"axis{i}" for i in
                                                                            range(1, N_AXES + 1))},
                               explicit=set(params))
            self.check_inputs()
            self._good = self._snapshot()
        except Exception as exc:
            self._fail(exc)
        self.param.watch(self._inputs_changed, list(self._inputs))

    def apply(self, **values: Any) -> None:
        """Set several inputs at once (a URL query), checked together once all are set: bounds
        given together with a target, workload or parameter are kept, the others reset from the
        declaration and the preset. A rejected value leaves the last valid state."""
        n_err = self.n_errors
        self._deferred = set()
        try:
            super().apply(**values)  # a value param refuses: reported and put back (nothing deferred runs)
        finally:
            deferred, self._deferred = self._deferred, None
        if deferred and self.n_errors == n_err:
            self._handle(deferred, explicit=set(values))

    # ------------------------------------------------------------------ inputs
    def axis_choices(self) -> list[Any]:
        """:func:`app.dashboard.explore_data.axis_choices` of the current (checked) target and workload."""
        return _axis_choices(check_target_name(self.target), check_workload_name(self.workload))

    def check_inputs(self, *, fit: bool = True) -> None:
        """Raise InputError naming every bad target or workload name, axis name or bound, and
        (``fit``) every parameter the current target and workload do not have."""
        problems: list[str] = []
        names_ok = True
        for check, value in ((check_target_name, self.target), (check_workload_name, self.workload)):
            try:
                check(value)
            except InputError as exc:
                problems.append(str(exc))
                names_ok = False
        choices = {c.sets: c for c in self.axis_choices()} if names_ok and fit else None
        used: set[str] = set()
        for i in range(1, N_AXES + 1):
            sets = getattr(self, f"axis{i}").strip()
            if sets and sets != "target" and not _AXIS.match(sets):
                problems.append(f"axis{i} {shown(sets)}: a setting such as workload.batch or "
                                "target.memories.hbm.bandwidth is required (target, target.<field>, workload.<knob> "
                                "or algorithm.<knob>), or empty")
                continue
            if sets and sets in used:
                problems.append(f"axis{i} {shown(sets)}: already explored by another parameter; choose another")
            used.add(sets)
            for end in ("low", "high"):
                v = getattr(self, f"axis{i}_{end}")
                if not math.isfinite(v):
                    problems.append(f"axis{i}_{end} {shown(v)}: a finite number is required")
            if choices is not None and sets:
                if sets not in choices:
                    problems.append(f"axis{i} {shown(sets)}: {self.target} with {self.workload} has no such setting; "
                                    f"allowed: {', '.join(choices)}")
                elif not choices[sets].numeric:
                    allowed = EX.categorical_values(sets, self.target, self.workload)
                    vals = getattr(self, f"axis{i}_values")
                    bad = [v for v in vals if v not in allowed]
                    if bad or not vals:
                        problems.append(f"axis{i}_values {shown(vals)}: {'values ' + shown(bad) if bad else 'none'} "
                                        f"of {sets}; allowed: one or more of {', '.join(allowed)}")
        if problems:
            raise InputError("; ".join(problems))

    def _fit_axes(self, *, changed: set[str], explicit: set[str]) -> list[str]:
        """After the target or workload changed: replace the parameters they lack by default
        ones and reset bounds (of those whose bounds were not set in the same change); returns
        a note per replaced parameter."""
        axes_changed = {i for i in range(1, N_AXES + 1) if f"axis{i}" in changed}
        context = bool(changed & {"target", "workload"})
        if not context and not axes_changed:
            return []
        target, workload = check_target_name(self.target), check_workload_name(self.workload)
        choices = {c.sets: c for c in _axis_choices(target, workload)}
        current = [getattr(self, f"axis{i}").strip() for i in range(1, N_AXES + 1)]
        spare = [a for a in EX.default_axes(target, workload) if a and a not in current]
        notes: list[str] = []
        updates: dict[str, Any] = {}
        for i in range(1, N_AXES + 1):
            sets = current[i - 1]
            if sets and sets not in choices and not context:
                continue  # a setting chosen for this target and workload that they lack: the check refuses it
            if sets and sets not in choices:
                new = spare.pop(0) if spare else ""
                notes.append(f"parameter {i} {sets}: {target} with {workload} has no such setting; "
                             + (f"replaced by {new}" if new else "left empty"))
                sets = new
                updates[f"axis{i}"] = new
                explicit = explicit - {f"axis{i}_low", f"axis{i}_high", f"axis{i}_values"}
            if not sets or not (context or i in axes_changed or f"axis{i}" in updates):
                continue
            c = choices[sets]
            if c.numeric and not {f"axis{i}_low", f"axis{i}_high"} & explicit:
                lo, hi, _log = _axis_bounds(sets, target, workload)
                updates.update({f"axis{i}_low": lo, f"axis{i}_high": hi, f"axis{i}_values": []})
            elif not c.numeric and f"axis{i}_values" not in explicit:
                updates[f"axis{i}_values"] = _default_values(sets, target, workload,
                                                             getattr(self, f"axis{i}_values"))
        if "workload" in changed and self.fixed_knobs and "fixed_knobs" not in explicit:
            from models.point import SettingError, knob

            kept = {}
            for k, v in self.fixed_knobs.items():
                try:
                    knob(k, workload)
                    kept[k] = v
                except (SettingError, KeyError):
                    notes.append(f"fixed knob {k} = {v!r}: {workload} has no such knob; dropped")
            if kept != self.fixed_knobs:
                updates["fixed_knobs"] = kept
        if updates:
            self.param.update(**updates)
        return notes

    def choose_axis(self, i: int, sets: str) -> None:
        """Set parameter ``i`` to ``sets`` (``""``: unused), with the default bounds (or values)
        of its declaration on the current preset, as choosing it in the widget does."""
        if not 1 <= i <= N_AXES:
            raise ValueError(f"parameter {i}; allowed: 1 to {N_AXES}")
        self.apply(**{f"axis{i}": sets})

    def _inputs_changed(self, *events: Any) -> None:
        if self._muted:
            return
        if self._deferred is not None:  # inside apply: checked once every value is set
            self._deferred.update(e.name for e in events)
            return
        self._handle({e.name for e in events}, explicit=set())

    def _handle(self, changed: set[str], *, explicit: set[str]) -> None:
        """Check changed inputs; fit the parameters to a new target, workload or setting."""
        try:
            self.check_inputs(fit=False)
            with self._mute():
                notes = self._fit_axes(changed=changed, explicit=explicit)
            self.check_inputs()
        except Exception as exc:
            self._fail(exc, kept=self._good is not None)
            self._revert()
            return
        self._good = self._snapshot()
        if notes:
            self.message = "; ".join(notes)
        self._drop_stale()

    def _drop_stale(self) -> None:
        """The inputs changed: a result (finished or running) of other inputs is not shown."""
        if self._run_inputs is not None and self._run_inputs != self._snapshot():
            if self.running:
                self._stop.set()
                self.cancel_requested = True
            self._run_inputs = None
        if self.result is not None and self.result.inputs != self._snapshot():
            self._space = None
            self.param.update(result=None, results=None, front=None, n_evaluated=0, selected=-1, breakdown=None,
                              progress=0.0, status="inputs changed: press Run to compute this space")

    # ------------------------------------------------------------------ space
    def axes(self) -> list[Axis]:
        out = []
        for i in range(1, N_AXES + 1):
            sets = getattr(self, f"axis{i}").strip()
            if sets:
                kind = _axis_kind(sets, self.target, self.workload)
                out.append(Axis(sets=sets, low=getattr(self, f"axis{i}_low"), high=getattr(self, f"axis{i}_high"),
                                n_grid=getattr(self, f"axis{i}_n"), unit=D.axis_unit(sets, self.workload),
                                kind=kind, values=tuple(getattr(self, f"axis{i}_values"))))
        return out

    def space_dict(self) -> dict[str, Any]:
        """The space of the inputs in the layout of ``data/spaces/*.toml`` (:func:`models.dse.parse_space`)."""
        params: list[dict[str, Any]] = []
        for ax in self.axes():
            name = ax.sets.rsplit(".", 1)[-1] if not ax.sets.startswith("target.") else ax.sets.partition(".")[2]
            name = name.replace(".", "_") or ax.sets
            if ax.kind in ("categorical", "bool"):
                vals: list[Any] = [v == "true" for v in ax.values] if ax.kind == "bool" else list(ax.values)
                params.append({"name": name, "sets": ax.sets, "kind": "categorical", "choices": vals})
            else:
                params.append({"name": name, "sets": ax.sets, "kind": ax.kind, "bounds": [ax.low, ax.high],
                               "unit": ax.unit, "n_grid": ax.n_grid})
        wk = {k: v for k, v in self.fixed_knobs.items() if not k.startswith("algorithm.")}
        ak = {k.removeprefix("algorithm."): v for k, v in self.fixed_knobs.items() if k.startswith("algorithm.")}
        out: dict[str, Any] = {"name": "dashboard", "target": self.target, "workload": self.workload}
        if wk:
            out["workload_knobs"] = wk
        if ak:
            out["algorithm_knobs"] = ak
        out.update({
            "parameters": params,
            "objectives": [{"metric": self.x_metric, "direction": self.x_direction},
                           {"metric": self.y_metric, "direction": self.y_direction}],
            "constraints": ([{"kind": "memory"}] if self.memory_constraint else [])
            + [dict(c) for c in self.extra_constraints],
        })
        return out

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

    def space_toml(self) -> str:
        """The current space as TOML (``data/spaces`` layout); :func:`models.dse.load_space` reads it."""
        self.build_space()  # only a valid space is saved
        return EX.space_toml(self.space_dict())

    def load_space(self, source: str | Path, text: str | None = None) -> bool:
        """Load a space file (``data/spaces/<name>.toml``, a path, or uploaded ``text`` named
        ``source``) into the inputs with :func:`models.dse.load_space`; its errors go to
        ``error``. Returns whether it was loaded."""
        from models.dse import load_space

        try:
            if text is None:
                if isinstance(source, Path):  # from code: any file
                    path = source
                else:  # from the page: a name listed in data/spaces, never a server path
                    names = sorted(f.stem for f in SPACES_DIR.glob("*.toml"))
                    if source not in names:
                        raise ValueError(f"space file {shown(source)}: not in data/spaces; allowed: "
                                         f"{', '.join(names)} (or upload a .toml file)")
                    path = SPACES_DIR / f"{source}.toml"
                space = load_space(path)
            else:
                with tempfile.TemporaryDirectory(prefix="tradespace-space-") as d:
                    path = Path(d) / (Path(str(source)).name or "space.toml")
                    path.write_text(text, encoding="utf-8")
                    space = load_space(path)
            values, notes = EX.space_inputs(space, N_AXES)
        except Exception as exc:
            self._fail(exc)
            return False
        n_err = self.n_errors
        self.apply(**values)
        if self.n_errors != n_err:
            return False
        self.message = "; ".join([f"loaded {Path(str(source)).name}", *notes])
        return True

    # ------------------------------------------------------------------ running
    def cancel(self) -> None:
        """Stop the run; the points (trials) finished so far stay on the page."""
        if self.running:
            self._stop.set()
            self.cancel_requested = True

    def _publish(self, space: Any, inputs: dict[str, Any], state: str, points: pl.DataFrame, front: pl.DataFrame,
                 n_done: int, n_total: int, history: pl.DataFrame | None = None) -> None:
        """Show the run's points so far (or final), unless the inputs changed meanwhile."""
        if self._run_inputs is not inputs:
            return
        names = list(space.names)
        dedup = EX.dedupe_designs(front, names)
        points = points.with_columns(EX.infeasible_reasons(points))
        res = EX.ExploreResult(space=space, inputs=inputs, method=str(inputs["method"]), state=state,
                               points=points, front=dedup, n_evaluated=n_done, n_total=n_total,
                               n_front_rows=front.height, history=history)
        self._space = space
        self.param.update(result=res, results=points, front=dedup, n_evaluated=n_done,
                          progress=min(1.0, n_done / max(1, n_total)))

    async def run(self) -> None:
        """Sweep or search in worker threads; the points are published as they arrive.

        The run's points are reserved on the server-wide :class:`PointBudget` first: a run that
        does not fit is refused with a message. Cancel keeps what finished.
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
        inputs = self._snapshot()
        self._run_inputs = inputs
        self._stop.clear()
        self._space = None
        self.param.update(running=True, cancel_requested=False, progress=0.0, selected=-1, breakdown=None,
                          result=None, results=None, front=None, n_evaluated=0, status=f"{self.method}: starting")
        try:
            if self.method == "sweep":
                await self._run_sweep(space, inputs)
            else:
                await self._run_search(space, inputs)
            if self._run_inputs is not inputs:  # the inputs changed: _drop_stale said so
                return
            r = self.result
            unit = "trials" if self.method == "search" else "points"
            if r is None:
                self.status = "cancelled before any point finished" if self.cancel_requested else "done: no points"
            elif r.state == "cancelled":
                self.status = (f"cancelled after {r.n_evaluated} of {r.n_total} {unit}; "
                               f"{r.front.height} on the Pareto front")
            else:
                sampled = (f"; the cloud shows 1 point in {-(-r.n_evaluated // r.points.height)}"
                           if r.points.height < r.n_evaluated else "")
                none = ""
                if r.front.height == 0 and r.points.height:
                    top = r.points.filter(pl.col("reason") != "")["reason"].head(1).to_list()
                    none = f"; none of them is feasible: {top[0] if top else 'infeasible'}; shown in grey"
                self.param.update(progress=1.0, error="", status=f"done: {r.n_evaluated} points, "
                                  f"{r.front.height} on the Pareto front{sampled}{none}")
        except Exception as exc:  # report it (an unexpected one with an id); the points so far stay
            self._fail(exc)
            self.status = "failed" + (f" after {self.result.n_evaluated} points (kept)" if self.result else "")
            if self.result is not None:
                self.result = dataclasses.replace(self.result, state="failed")
        finally:
            self.point_budget.release(held)
            self.param.update(running=False, cancel_requested=False)
            if self._run_inputs is inputs:
                self._run_inputs = None

    async def _run_sweep(self, space: Any, inputs: dict[str, Any]) -> None:
        from models.dse import sweep_chunks

        total = space.n_grid_points
        keeper = D.SweepKeeper(space, stride=max(1, -(-total // CLOUD_MAX_POINTS)))
        # about 20 chunks (progress), of at least 256 points (a chunk of a few costs as much as one of hundreds)
        chunks = sweep_chunks(space, chunk_size=max(min(total, 256), min(1 << 16, -(-total // 20))))

        def step() -> int | None:
            part = next(chunks, None)
            if part is None:
                return None
            keeper.add(part)
            return keeper.n_seen

        last = -math.inf
        while True:
            if self._stop.is_set():
                break
            done = await asyncio.to_thread(step)
            if done is None or self._run_inputs is not inputs:
                break
            assert keeper.front is not None
            self.status = f"sweep: {done} of {total} points"
            # the first chunk at once (first points drawn), then at most every PUBLISH_EVERY_S:
            # drawing costs more than evaluating a chunk
            if time.monotonic() - last < PUBLISH_EVERY_S:
                continue
            last = time.monotonic()
            self._publish(space, inputs, "running", keeper.cloud(), keeper.front, done, total)
        if keeper.n_seen and keeper.front is not None:
            state = "done" if keeper.n_seen >= total else "cancelled"
            self._publish(space, inputs, state, keeper.cloud(), keeper.front, keeper.n_seen, total)

    async def _run_search(self, space: Any, inputs: dict[str, Any]) -> None:
        from models.dse import open_study, results_frame
        from models.dse.search import SearchInterrupted, search

        folder = Path(tempfile.mkdtemp(prefix="tradespace-search-"))
        try:
            url = f"journal:{folder / 'study.log'}"
            name = f"dashboard-{uuid.uuid4().hex[:8]}"
            step = max(1, min(50, self.n_trials // 10 or 1))
            pop = max(4, min(50, step))
            done, res = 0, None
            while done < self.n_trials and not self._stop.is_set():
                want = min(self.n_trials, done + step)
                try:
                    res = await asyncio.to_thread(search, space, want, storage=url, study_name=name, seed=self.seed,
                                                  batch_size=step, population_size=pop, progress=False,
                                                  stop=self._stop)
                except SearchInterrupted:  # cancelled mid-step: the trials told so far are kept
                    study = await asyncio.to_thread(open_study, space, url, name, seed=self.seed,
                                                    population_size=pop)
                    res = await asyncio.to_thread(results_frame, space, study)
                done = res.height if res is not None else 0
                if res is None or self._run_inputs is not inputs:
                    break
                state = "done" if done >= self.n_trials else ("cancelled" if self._stop.is_set() else "running")
                front = await asyncio.to_thread(D.explore_front, space, res)
                hist = await asyncio.to_thread(EX.hypervolume_history, res, space.objectives)
                self._publish(space, inputs, state, res, front, done, self.n_trials, hist)
                if state == "running":
                    self.status = f"search: {done} of {self.n_trials} trials"
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

    def export(self, fmt: str, what: str = "front") -> bytes:
        """The Pareto front (``what="front"``) or every point kept (``"points"``) as ``fmt``
        (:data:`app.dashboard.explore_data.POINT_EXPORT_FORMATS`: csv, parquet, json with
        provenance metadata, html with the plot and a table, png)."""
        if fmt not in EX.POINT_EXPORT_FORMATS:
            raise ValueError(f"export format {fmt!r}; allowed: {', '.join(EX.POINT_EXPORT_FORMATS)}")
        r = self.result
        if r is None:
            raise ValueError("export: nothing to export for the current inputs; run a sweep or a search first")
        return EX.export_points(r.front if what == "front" else r.points, fmt, space=r.space, what=what)


# data/spaces: the space files the Explore page offers
SPACES_DIR = Path(__file__).resolve().parents[2] / "data" / "spaces"


@functools.lru_cache(maxsize=64)
def _axis_choices_cached(target: str, workload: str) -> tuple[Any, ...]:
    return tuple(EX.axis_choices(target, workload))


def _axis_choices(target: str, workload: str) -> list[Any]:
    """:func:`app.dashboard.explore_data.axis_choices`, cached per (target, workload): the
    applicable knobs come from building the workload's table."""
    return list(_axis_choices_cached(target, workload))


def _axis_kind(sets: str, target: str, workload: str) -> str:
    for c in _axis_choices(target, workload):
        if c.sets == sets:
            return str(c.kind)
    return "float"  # the space's validation names the bad setting


def _axis_bounds(sets: str, target: str, workload: str) -> tuple[float, float, bool]:
    lo, hi, log = D.axis_defaults(sets, target, workload)
    if _axis_kind(sets, target, workload) == "int":
        lo, hi = float(math.ceil(lo)), float(max(math.ceil(lo), math.floor(hi)))
    return float(lo), float(hi), log


def _default_values(sets: str, target: str, workload: str, keep: list[str]) -> list[str]:
    """Values of a categorical parameter: those of ``keep`` still allowed, else the current
    target (for ``target``) or the declared default and the next choices, four in all."""
    allowed = EX.categorical_values(sets, target, workload)
    kept = [v for v in keep if v in allowed]
    if kept:
        return kept
    if sets == "target":
        return [target]
    from models.hardware import get_target
    from models.point import setting

    decl = setting(sets, workload=workload, target=get_target(target))
    default = str(decl.default).lower() if isinstance(decl.default, bool) else str(decl.default)
    first = [default] if default in allowed else []
    return list(dict.fromkeys([*first, *allowed]))[:4]

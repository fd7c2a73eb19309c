"""Roofline page: targets, workload, phase and knobs; rooflines with operators; breakdown bars."""

from __future__ import annotations

from typing import Any

import panel as pn

from app.dashboard import plots
from app.dashboard.safety import markdown_text
from app.dashboard.state import PHASES, CompareState, RooflineState
from app.dashboard.views.common import bind_two_way, notify_errors, page, sync_url, watch

URL_PARAMS = {"targets": "targets", "workload": "workload", "phase": "phase", "mode": "mode", "knobs": "knobs"}


AS_BUILT = "(as built)"


def knob_widget(state: RooflineState | CompareState, knob: Any) -> pn.widgets.Widget:
    """One widget for a workload or algorithm knob, bounded by its declaration, writing to
    ``state.knobs``; an algorithm knob without a default offers "(as built)" (not set)."""
    value = state.knob_value(knob.name)
    label = f"{knob.name} ({knob.unit})" if knob.unit and knob.unit != "1" else knob.name
    css = [f"knob-{knob.name}"]
    unset = knob.default is None
    if knob.kind == "categorical":
        options = ([AS_BUILT] if unset else []) + [str(c) for c in knob.choices]
        if value is not None and str(value) not in options:
            options.append(str(value))
        w = pn.widgets.Select(label=label, options=options, value=AS_BUILT if value is None else str(value),
                              css_classes=css)
    elif knob.kind == "bool":
        w = pn.widgets.Checkbox(label=label, value=bool(value), css_classes=css)
    elif knob.kind == "int":
        w = pn.widgets.IntInput(label=label, value=int(value), start=int(knob.low), end=int(knob.high), css_classes=css)
    else:
        lo, hi = knob.display_bounds()
        w = pn.widgets.FloatInput(label=label, value=None if value is None else knob.from_si(float(value)),
                                  start=lo, end=hi, css_classes=css, placeholder=AS_BUILT if unset else "")

    def changed(e: Any) -> None:
        try:
            if e.new == _shown_value(state, knob):
                return  # the widget was set from the state (a rejected value put back)
        except KeyError:  # the workload changed: this widget is about to be replaced
            return
        if e.new is None or e.new == AS_BUILT:
            state.clear_knob(knob.name)
        elif knob.kind == "float":
            state.set_knob(knob.name, knob.to_si(float(e.new)))
        else:
            state.set_knob(knob.name, e.new)

    def follow(e: Any) -> None:
        # the state may reject the value and keep its last valid one: the widget shows that one
        try:
            v = _shown_value(state, knob)
        except KeyError:  # the workload changed: this widget is about to be replaced
            return
        if w.value != v:
            if isinstance(w, pn.widgets.Select) and v not in w.options:
                w.options = [*w.options, v]
            w.value = v

    watch(state, w, changed, "value")
    watch(state, state, follow, "knobs")
    return w


def _shown_value(state: RooflineState | CompareState, knob: Any) -> Any:
    """What the knob's widget shows for the state's current value (display unit, "(as built)");
    KeyError when the state's workload has no such knob."""
    value = state.knob_value(knob.name)
    if knob.kind == "categorical":
        return AS_BUILT if value is None else str(value)
    if knob.kind == "bool":
        return bool(value)
    if knob.kind == "int":
        return int(value)
    return None if value is None else knob.from_si(float(value))


def workload_inputs(state: RooflineState | CompareState) -> list[Any]:
    """Sidebar widgets shared by Roofline and Compare."""
    from models.hardware import available_targets
    from models.workloads import available_workloads

    targets = pn.widgets.MultiChoice(label="targets", options=available_targets(), value=list(state.targets),
                                     css_classes=["w-targets"])
    bind_two_way(targets, state, "targets", to_state=list, to_widget=list)
    workload = pn.widgets.Select(label="workload", options=available_workloads(), value=state.workload,
                                 css_classes=["w-workload"])
    bind_two_way(workload, state, "workload")
    phase = pn.widgets.Select(label="phase", options=list(PHASES), value=state.phase, css_classes=["w-phase"])
    bind_two_way(phase, state, "phase")
    mode = pn.widgets.RadioButtonGroup(options=["calibrated", "ideal"], value=state.mode, css_classes=["w-mode"])
    bind_two_way(mode, state, "mode")
    knobs = pn.Column(*[knob_widget(state, k) for k in state.knob_specs()], css_classes=["w-knobs"])

    def rebuild(event: Any) -> None:
        knobs.objects = [knob_widget(state, k) for k in state.knob_specs()]

    watch(state, state, rebuild, "workload")
    return [targets, workload, phase, pn.pane.Markdown("**model**", margin=(0, 10)), mode,
            pn.pane.Markdown("**workload and algorithm knobs**", margin=(0, 10)), knobs]


def _summary(data: Any) -> str:
    if data is None:
        return ""
    rows = ["| target | latency per run (s) | energy per run (J) |", "|---|---|---|"]
    for r in data.totals.iter_rows(named=True):
        rows.append(f"| {markdown_text(r['target'])} | {r['latency_s']:.4g} | {r['energy_J']:.4g} |")
    return "\n".join(rows)


def view(state: RooflineState) -> pn.Column:
    notify_errors(state)
    sync_url(state, URL_PARAMS)
    # Bokeh figures updated in place: a knob change sends only the sources whose data changed
    roof = plots.RooflineFigure(state.data)
    bars = [plots.BreakdownFigure(state.data, col) for col in plots.BREAKDOWN_METRICS]
    summary = pn.pane.Markdown(_summary(state.data), css_classes=["roofline-summary"])

    def redraw(event: Any) -> None:
        with pn.io.hold():  # one document patch per knob change
            roof.update(state.data)
            for b in bars:
                b.update(state.data)
            summary.object = _summary(state.data)

    watch(state, state, redraw, "data")
    roof_pane = pn.pane.Bokeh(roof.figure, sizing_mode="stretch_width", min_height=440, css_classes=["roofline-plot"])
    row = pn.Row(*[pn.pane.Bokeh(b.figure) for b in bars])
    return page("Roofline", "roofline", workload_inputs(state), [summary, roof_pane, row])


def create(**params: Any) -> pn.Column:
    return view(RooflineState(**params))

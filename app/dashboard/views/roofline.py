"""Roofline page: targets, workload, phase and knobs; rooflines with operators; breakdown bars.

:class:`Roofline` is a ``pn.viewable.Viewer`` over a :class:`app.dashboard.state.RooflineState`:
``Roofline(targets=["h100-sxm"], workload="llama-2-7b")`` in a notebook cell shows the page the
browser shows, and ``view.state`` is read and set from code.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param
import polars as pl

from app.dashboard import plots
from app.dashboard.safety import html_text
from app.dashboard.state import PHASES, CompareState, RooflineState
from app.dashboard.views.common import (
    PageComponent,
    apply_soon,
    bind_two_way,
    knob_label,
    knob_tooltip,
    message_pane,
    notify_errors,
    page,
    result_header,
    sync_url,
    watch,
)
from models.units import format_si

URL_PARAMS = {"targets": "targets", "workload": "workload", "phase": "phase", "mode": "mode", "knobs": "knobs"}


AS_BUILT = "(as built)"


def knob_widget(state: RooflineState | CompareState, knob: Any) -> pn.widgets.Widget:
    """One widget for a workload or algorithm knob, bounded by its declaration, writing to
    ``state.knobs``; an algorithm knob without a default offers "(as built)" (not set)."""
    from models.point import knob as find_knob

    value = state.knob_value(knob.name)
    label = knob_label(knob)
    try:
        path = find_knob(knob.name, state.workload)[0]
    except Exception:  # a knob of the workload being replaced
        path = knob.name
    tip = knob_tooltip(path, knob)
    css = [f"knob-{knob.name}"]
    unset = knob.default is None
    if knob.kind == "categorical":
        options = ([AS_BUILT] if unset else []) + [str(c) for c in knob.choices]
        if value is not None and str(value) not in options:
            options.append(str(value))
        w = pn.widgets.Select(label=label, options=options, value=AS_BUILT if value is None else str(value),
                              css_classes=css, description=tip)
    elif knob.kind == "bool":
        w = pn.widgets.Checkbox(label=label, value=bool(value), css_classes=css)
    elif knob.kind == "int":
        w = pn.widgets.IntInput(label=label, value=None if value is None else int(value), start=int(knob.low),
                                end=int(knob.high), css_classes=css, description=tip,
                                placeholder=AS_BUILT if unset else "")
    else:
        lo, hi = knob.display_bounds()
        w = pn.widgets.FloatInput(label=label, value=None if value is None else knob.from_si(float(value)),
                                  start=lo, end=hi, css_classes=css, placeholder=AS_BUILT if unset else "",
                                  description=tip)

    def changed(e: Any) -> None:
        try:
            if e.new == _shown_value(state, knob):
                return  # the widget was set from the state (a rejected value put back)
        except KeyError:  # the workload changed: this widget is about to be replaced
            return
        if e.new is None or e.new == AS_BUILT:
            apply_soon(state, lambda: {"knobs": {k: v for k, v in state.knobs.items() if k != knob.name}})
        else:
            v = knob.to_si(float(e.new)) if knob.kind == "float" else e.new
            apply_soon(state, lambda: {"knobs": {**state.knobs, knob.name: v}})

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
    if value is None:
        return None
    if knob.kind == "int":
        return int(value)
    return knob.from_si(float(value))


def workload_inputs(state: RooflineState | CompareState) -> list[Any]:
    """Sidebar widgets shared by Roofline and Compare."""
    from models.hardware import available_targets
    from models.workloads import available_workloads

    targets = pn.widgets.MultiChoice(label="targets", options=available_targets(), value=list(state.targets),
                                     css_classes=["w-targets"])
    bind_two_way(targets, state, "targets", to_state=list, to_widget=list, defer=True)
    workload = pn.widgets.Select(label="workload", options=available_workloads(), value=state.workload,
                                 css_classes=["w-workload"])
    bind_two_way(workload, state, "workload", defer=True)
    phase = pn.widgets.Select(label="phase", options=list(PHASES), value=state.phase, css_classes=["w-phase"])
    bind_two_way(phase, state, "phase", defer=True)
    mode = pn.widgets.RadioButtonGroup(options=["calibrated", "ideal"], value=state.mode, css_classes=["w-mode"])
    bind_two_way(mode, state, "mode", defer=True)
    knobs = pn.Column(*[knob_widget(state, k) for k in state.knob_specs()], css_classes=["w-knobs"])

    def rebuild(event: Any) -> None:
        knobs.objects = [knob_widget(state, k) for k in state.knob_specs()]

    watch(state, state, rebuild, "workload")
    return [targets, workload, phase, pn.pane.Markdown("**model**", margin=(0, 10)), mode,
            pn.pane.Markdown("**workload and algorithm knobs**", margin=(0, 10)), knobs]


def _summary(state: RooflineState) -> str:
    """Per target of the result (HTML table): latency and energy per run, fallbacks, resident
    memory against capacity; a failing target with its reason."""
    t = state.table
    if t is None:
        return ""
    head = "".join(f"<th style='text-align:left;padding:2px 10px'>{h}</th>" for h in (
        "target", "latency per run", "energy per run", "datatype fallbacks", "resident memory", "how obtained"))
    rows = []
    mem = state.data.memory
    for r in t.iter_rows(named=True):
        name = html_text(r["target"])
        if r["reason"] is not None:
            rows.append(f"<tr class='ts-failed'><td style='padding:2px 10px'>{name}</td><td colspan='5' "
                        "style='color:#8b0000;padding:2px 10px'>"
                        f"<b>cannot be evaluated:</b> {html_text(r['reason'])}</td></tr>")
            continue
        m = mem.filter(pl.col("target") == r["target"])
        fits = ""
        if m.height:
            used, cap = float(m["bytes_B"].sum()), float(m["capacity_B"][0])
            fits = f"{format_si(used, 'B')} of {format_si(cap, 'B')}" + ("" if used <= cap else " (does not fit)")
        fb = r["n_fallback_ops"]
        cells = (name, format_si(r["latency_s"], "s"), format_si(r["energy_J"], "J"),
                 f"{fb} operator{'s' if fb != 1 else ''}", html_text(fits), html_text(r["provenance"]))
        rows.append("<tr>" + "".join(f"<td style='padding:2px 10px'>{c}</td>" for c in cells) + "</tr>")
    return (f"<table style='border-collapse:collapse;font-size:14px'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _fallbacks(state: RooflineState) -> str:
    """The operators computed in another datatype than they ask for, per target (HTML)."""
    d = state.data
    if d is None or not d.breakdown.height:
        return ""
    fb = d.breakdown.filter(pl.col("fallback"))
    if not fb.height:
        return '<div class="ts-fallbacks">no datatype fallback: every operator runs in the datatype it asks for</div>'
    g = fb.group_by("target", "asked_dtype", "compute_dtype", "engine", maintain_order=True).agg(pl.col("operator"))
    items = []
    for r in g.iter_rows(named=True):
        ops = ", ".join(r["operator"][:8]) + (" ..." if len(r["operator"]) > 8 else "")
        items.append(f"<li><b>{html_text(r['target'])}</b>: {html_text(r['asked_dtype'])} computed as "
                     f"<b>{html_text(r['compute_dtype'])}</b> on its {html_text(r['engine'])} engine "
                     f"({len(r['operator'])} operators: {html_text(ops)})</li>")
    return ('<div class="ts-fallbacks"><b>datatype fallbacks</b> (triangles on the roofline)<ul>'
            + "".join(items) + "</ul></div>")


def layout(state: RooflineState) -> pn.Column:
    """The page over ``state``: inputs in the sidebar; header of the result, messages, summary
    table, roofline, breakdown and memory figures in the main area."""
    # Bokeh figures updated in place: a knob change sends only the sources whose data changed
    roof = plots.RooflineFigure(state.data)
    bars = [plots.BreakdownFigure(state.data, col) for col in plots.BREAKDOWN_METRICS]
    memory = plots.MemoryFigure(state.data)
    summary = pn.pane.HTML(_summary(state), css_classes=["roofline-summary"], sizing_mode="stretch_width")
    fallbacks = pn.pane.HTML(_fallbacks(state), css_classes=["roofline-fallbacks"], sizing_mode="stretch_width")

    def redraw(event: Any) -> None:
        with pn.io.hold():  # one document patch per knob change
            roof.update(state.data)
            for b in bars:
                b.update(state.data)
            memory.update(state.data)
            summary.object = _summary(state)
            fallbacks.object = _fallbacks(state)

    watch(state, state, redraw, "data")
    roof_pane = pn.pane.Bokeh(roof.figure, sizing_mode="stretch_width", min_height=440, css_classes=["roofline-plot"])
    row = pn.Row(*[pn.pane.Bokeh(b.figure) for b in bars])
    mem_pane = pn.pane.Bokeh(memory.figure, sizing_mode="stretch_width", css_classes=["roofline-memory"])
    main = [result_header(state), message_pane(state), summary, roof_pane, fallbacks, row, mem_pane]
    return page("Roofline", "roofline", workload_inputs(state), main)


class Roofline(PageComponent):
    """The Roofline page as a component: ``Roofline(targets=["h100-sxm"], workload="llama-2-7b")``.

    Keyword arguments are :class:`RooflineState` inputs (or pass ``state=``); ``state`` is the
    page state, read and set from code (``view.state.workload = "resnet-50"``, then
    ``view.state.table``).
    """

    state_class = RooflineState
    build = staticmethod(layout)
    state = param.ClassSelector(class_=RooflineState, doc="the page state")


def view(state: RooflineState) -> pn.Column:
    """The served page: URL query and notifications wired to ``state``, then the layout."""
    notify_errors(state)
    sync_url(state, URL_PARAMS)
    return Roofline(state=state).__panel__()


def create(**params: Any) -> pn.Column:
    return view(RooflineState(**params))

"""Explore page: design space widgets, background sweep/search, Pareto scatter, breakdown, export."""

from __future__ import annotations

import io
from typing import Any

import holoviews as hv
import panel as pn

from app.dashboard import plots
from app.dashboard.data import EXPORT_FORMATS, axis_defaults, axis_unit, explore_axis_choices
from app.dashboard.safety import check_target_name, check_workload_name, markdown_text
from app.dashboard.state import EXPLORE_METRICS, ExploreState
from app.dashboard.views.common import bind_two_way, guarded, notify_errors, on_click, page, sync_url, watch

URL_PARAMS = {n: n for n in (
    "target", "workload", "axis1", "axis1_low", "axis1_high", "axis1_n", "axis2", "axis2_low", "axis2_high", "axis2_n",
    "axis3", "axis3_low", "axis3_high", "axis3_n", "x_metric", "y_metric", "x_direction", "y_direction",
    "memory_constraint", "method", "n_trials", "seed")}


def _w(widget: pn.widgets.Widget, state: ExploreState, name: str) -> pn.widgets.Widget:
    bind_two_way(widget, state, name)
    return widget


def _bind_axis(sel: pn.widgets.Select, state: ExploreState, i: int) -> None:
    """Axis select <-> ``state.axis<i>``; a parameter chosen in the widget gets the default bounds
    of its declaration (:func:`app.dashboard.data.axis_defaults`), one set from the URL keeps its own."""
    from_state = {"on": False}

    def w2s(event: Any) -> None:
        if from_state["on"] or event.new == getattr(state, f"axis{i}"):
            return
        state.apply(**{f"axis{i}": event.new})
        if event.new and getattr(state, f"axis{i}") == event.new:  # accepted by the state's checks
            try:
                lo, hi, _ = axis_defaults(event.new, state.target, state.workload)
            except (KeyError, ValueError) as exc:
                state._fail(exc)  # noqa: SLF001 - the state's error channel
                return
            state.apply(**{f"axis{i}_low": lo, f"axis{i}_high": hi})

    def s2w(event: Any) -> None:
        cur = getattr(state, f"axis{i}")  # the current value: a rejected one has been put back
        from_state["on"] = True
        try:
            if cur not in sel.options:
                sel.options = sorted({*sel.options, cur})
            sel.value = cur
        finally:
            from_state["on"] = False

    watch(state, sel, w2s, "value")
    watch(state, state, s2w, f"axis{i}")


def view(state: ExploreState) -> pn.Column:
    from models.hardware import available_targets
    from models.workloads import available_workloads

    notify_errors(state)
    sync_url(state, URL_PARAMS)
    target = _w(pn.widgets.Select(label="target", options=available_targets(), value=state.target,
                                  css_classes=["w-target"]), state, "target")
    workload = _w(pn.widgets.Select(label="workload", options=available_workloads(), value=state.workload,
                                    css_classes=["w-workload"]), state, "workload")
    axes = []
    for i in (1, 2, 3):
        try:  # names checked first: nothing is loaded for a name the registries do not list
            choices = ["", *explore_axis_choices(check_target_name(state.target), check_workload_name(state.workload))]
        except (KeyError, ValueError):
            choices = [""]
        cur = getattr(state, f"axis{i}")
        sel = pn.widgets.Select(label=f"parameter {i}", options=sorted(set(choices) | {cur}), value=cur,
                                css_classes=[f"w-axis{i}"])
        _bind_axis(sel, state, i)
        unit = pn.pane.Markdown(pn.bind(guarded(state, lambda s: "bounds in **"
                                                + markdown_text(axis_unit(s, state.workload) if s else "-") + "**"),
                                        sel), margin=(0, 10))
        lo = _w(pn.widgets.FloatInput(label="low", value=getattr(state, f"axis{i}_low"), width=95,
                                      css_classes=[f"w-axis{i}-low"]), state, f"axis{i}_low")
        hi = _w(pn.widgets.FloatInput(label="high", value=getattr(state, f"axis{i}_high"), width=95,
                                      css_classes=[f"w-axis{i}-high"]), state, f"axis{i}_high")
        n = _w(pn.widgets.IntInput(label="grid n", value=getattr(state, f"axis{i}_n"), start=1, end=10_000, width=80,
                                   css_classes=[f"w-axis{i}-n"]), state, f"axis{i}_n")
        axes += [sel, unit, pn.Row(lo, hi, n)]
    metrics = list(EXPLORE_METRICS)
    xm = _w(pn.widgets.Select(label="objective x", options=metrics, value=state.x_metric, width=150,
                              css_classes=["w-xm"]), state, "x_metric")
    xd = _w(pn.widgets.Select(label="direction", options=["minimize", "maximize"], value=state.x_direction,
                              width=120), state, "x_direction")
    ym = _w(pn.widgets.Select(label="objective y", options=metrics, value=state.y_metric, width=150,
                              css_classes=["w-ym"]), state, "y_metric")
    yd = _w(pn.widgets.Select(label="direction", options=["minimize", "maximize"], value=state.y_direction,
                              width=120), state, "y_direction")
    mem = _w(pn.widgets.Checkbox(label="constraint: peak memory fits main memory", value=state.memory_constraint),
             state, "memory_constraint")
    method = _w(pn.widgets.RadioButtonGroup(options=["sweep", "search"], value=state.method,
                                            css_classes=["w-method"]), state, "method")
    trials = _w(pn.widgets.IntInput(label="search trials (Optuna NSGA-II)", value=state.n_trials, start=1,
                                    end=100_000, css_classes=["w-trials"]), state, "n_trials")
    run = pn.widgets.Button(label="Run", color="primary", css_classes=["w-run"])
    cancel = pn.widgets.Button(label="Cancel", color="warning", css_classes=["w-cancel"], disabled=True)
    progress = pn.indicators.Progress(value=0, max=1000, sizing_mode="stretch_width", css_classes=["w-progress"])
    status = pn.pane.Str(state.status, css_classes=["w-status"])

    def on_progress(event: Any) -> None:
        progress.value = int(round(state.progress * 1000))

    def on_status(event: Any) -> None:
        status.object = state.status

    def on_running(event: Any) -> None:
        run.disabled = state.running
        cancel.disabled = not state.running

    watch(state, state, on_progress, "progress")
    watch(state, state, on_status, "status")
    watch(state, state, on_running, "running")

    async def on_run(event: Any) -> None:  # a coroutine function, so Panel awaits it on the event loop
        await state.run()

    on_click(state, run, on_run)
    on_click(state, cancel, lambda e: state.cancel())

    # plot: rebuilt when a run finishes; the front is a real glyph with hover and tap
    plot_pane = pn.pane.HoloViews(sizing_mode="stretch_width", min_height=470, css_classes=["explore-plot"])
    # redrawn whole on each selection (not a DynamicMap): the empty chart and the stacked,
    # legend-carrying bars of a selected point are different element shapes
    bd_pane = pn.pane.HoloViews(plots.explore_breakdown(state.breakdown), sizing_mode="stretch_width",
                                min_height=340, css_classes=["explore-breakdown"])

    def draw_breakdown(event: Any) -> None:
        bd_pane.object = plots.explore_breakdown(state.breakdown)

    watch(state, state, draw_breakdown, "breakdown")

    def draw(event: Any = None) -> None:
        # the axes of the run shown (its objectives), not the widgets' current choice
        space = state._space  # noqa: SLF001 - the space of the results
        x, y = (o.metric for o in space.objectives) if space is not None else (state.x_metric, state.y_metric)
        overlay, fpts = plots.explore_scatter(state.results, state.front, x, y, EXPLORE_METRICS.get(x, "1"),
                                              EXPLORE_METRICS.get(y, "1"), n_points=state.n_evaluated)
        tap = hv.streams.Selection1D(source=fpts)
        tap.add_subscriber(guarded(state, lambda index: state.select(index[0]) if index else None))
        plot_pane.object = overlay

    watch(state, state, draw, "front")
    guarded(state, draw)()

    def downloader(fmt: str) -> pn.widgets.FileDownload:
        def cb() -> io.BytesIO:
            try:
                return io.BytesIO(state.export(fmt))
            except Exception as exc:  # an expected error's message, else an internal error id
                state._fail(exc)  # noqa: SLF001
                return io.BytesIO(b"")
        return pn.widgets.FileDownload(callback=cb, filename=f"pareto-front.{fmt}", label=f"Export {fmt.upper()}",
                                       embed=False, css_classes=[f"w-export-{fmt}"], width=120)

    exports = pn.Row(*[downloader(f) for f in EXPORT_FORMATS])
    sidebar = [target, workload, pn.pane.Markdown("**design space**", margin=(0, 10)), *axes,
               pn.Row(xm, xd), pn.Row(ym, yd), mem, method, trials, pn.Row(run, cancel), progress, status]
    return page("Explore", "explore", sidebar, [plot_pane, exports, bd_pane])


def create(**params: Any) -> pn.Column:
    return view(ExploreState(**params))

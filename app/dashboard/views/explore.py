"""Explore page: design space widgets, background sweep/search drawn as it runs, Pareto scatter,
parallel coordinates, hypervolume over trials, trial table, breakdown, space files and exports.

:class:`Explore` is a ``pn.viewable.Viewer`` over :class:`app.dashboard.state.ExploreState`: a
notebook cell ``Explore(target="h100-sxm", workload="llama-2-7b")`` shows the same view as the
browser, and ``view.state`` is read and set from code.
"""

from __future__ import annotations

import io
from typing import Any

import holoviews as hv
import panel as pn
import param

from app.dashboard import explore_plots as XP
from app.dashboard import plots
from app.dashboard.data import axis_unit
from app.dashboard.explore_data import POINT_EXPORT_FORMATS, categorical_values
from app.dashboard.safety import markdown_text
from app.dashboard.state import EXPLORE_METRICS, N_AXES, SPACES_DIR, ExploreState
from app.dashboard.views.common import bind_two_way, guarded, notify, notify_errors, on_click, page, sync_url, watch

__all__ = ["Explore", "URL_PARAMS", "create", "view"]

URL_PARAMS = {n: n for n in ExploreState._inputs}
_NONE = "(none)"


def _w(widget: pn.widgets.Widget, state: ExploreState, name: str) -> pn.widgets.Widget:
    bind_two_way(widget, state, name)
    return widget


def _options(state: ExploreState, cur: str) -> dict[str, str]:
    """Axis options for the current target and workload: readable label -> setting path."""
    try:
        choices = state.axis_choices()
    except Exception:  # a bad name: its own message; nothing is offered
        choices = []
    out = {_NONE: ""}
    for c in choices:
        out[f"{c.label} [{c.sets}]" if list(out).count(c.label) else c.label] = c.sets
    if cur and cur not in out.values():
        out[cur] = cur
    # labels repeat across engines/levels only with different paths: keep every path reachable
    return out


class _AxisWidgets:
    """The widgets of one parameter: the setting (readable label, raw path in the tooltip), its
    bounds and grid size (numeric) or its values (categorical)."""

    def __init__(self, state: ExploreState, i: int) -> None:
        self.state, self.i = state, i
        cur = getattr(state, f"axis{i}")
        self.sel = pn.widgets.Select(label=f"parameter {i}", options=_options(state, cur), value=cur,
                                     css_classes=[f"w-axis{i}"], width=300)
        self.unit = pn.pane.Markdown("", margin=(0, 10), css_classes=[f"w-axis{i}-unit"])
        self.lo = _w(pn.widgets.FloatInput(label="low", value=getattr(state, f"axis{i}_low"), width=95,
                                           css_classes=[f"w-axis{i}-low"]), state, f"axis{i}_low")
        self.hi = _w(pn.widgets.FloatInput(label="high", value=getattr(state, f"axis{i}_high"), width=95,
                                           css_classes=[f"w-axis{i}-high"]), state, f"axis{i}_high")
        self.n = _w(pn.widgets.IntInput(label="grid n", value=getattr(state, f"axis{i}_n"), start=1, end=10_000,
                                        width=80, css_classes=[f"w-axis{i}-n"]), state, f"axis{i}_n")
        self.values = pn.widgets.MultiChoice(label="values", options=[], value=[], width=300,
                                             css_classes=[f"w-axis{i}-values"])
        self.bounds = pn.Row(self.lo, self.hi, self.n)
        self.busy = {"on": False}
        watch(state, self.sel, self._w2s, "value")
        watch(state, self.values, self._values_w2s, "value")
        watch(state, state, self.refresh, f"axis{i}", f"axis{i}_values", "target", "workload")
        self.refresh()

    def _w2s(self, event: Any) -> None:
        if self.busy["on"] or event.new == getattr(self.state, f"axis{self.i}"):
            return
        self.state.choose_axis(self.i, event.new or "")

    def _values_w2s(self, event: Any) -> None:
        if self.busy["on"] or list(event.new) == getattr(self.state, f"axis{self.i}_values"):
            return
        self.state.apply(**{f"axis{self.i}_values": [str(v) for v in event.new]})

    def refresh(self, *events: Any) -> None:
        """Options from the current target and workload; the state's current values."""
        st, i = self.state, self.i
        cur = getattr(st, f"axis{i}")
        self.busy["on"] = True
        try:
            opts = _options(st, cur)
            if self.sel.options != opts:
                self.sel.options = opts
            self.sel.value = cur
            kind = next((c.kind for c in self._choices() if c.sets == cur), "float")
            numeric = kind in ("float", "int")
            self.bounds.visible = bool(cur) and numeric
            self.values.visible = bool(cur) and not numeric
            help_ = next((c.tooltip for c in self._choices() if c.sets == cur), cur)
            self.sel.description = help_ or "not explored"
            if cur and not numeric:
                try:
                    allowed = categorical_values(cur, st.target, st.workload)
                except Exception:
                    allowed = []
                self.values.options = allowed
                self.values.value = [v for v in getattr(st, f"axis{i}_values") if v in allowed]
            unit = axis_unit(cur, st.workload) if cur and numeric else ""
            self.unit.object = (f"{markdown_text(cur)}: bounds in **{markdown_text(unit)}**" if unit
                                else (markdown_text(cur) if cur else ""))
        finally:
            self.busy["on"] = False

    def _choices(self) -> list[Any]:
        try:
            return self.state.axis_choices()
        except Exception:
            return []

    def layout(self) -> list[Any]:
        return [self.sel, self.unit, self.bounds, self.values]


def _space_files() -> list[str]:
    return sorted(p.stem for p in SPACES_DIR.glob("*.toml"))


def build(state: ExploreState, *, served: bool = True) -> pn.viewable.Viewable:
    """The Explore page of ``state`` (``served``: the page layout with header, URL sync and
    notifications; else the sidebar and main area in a row, for a notebook)."""
    from models.hardware import available_targets
    from models.workloads import available_workloads

    if served:
        notify_errors(state)
        sync_url(state, URL_PARAMS)
    target = pn.widgets.Select(label="target", options=available_targets(), value=state.target,
                               css_classes=["w-target"])
    bind_two_way(target, state, "target")
    workload = _w(pn.widgets.Select(label="workload", options=available_workloads(), value=state.workload,
                                    css_classes=["w-workload"]), state, "workload")

    def refresh_names(event: Any = None) -> None:
        names = available_targets()  # a target saved on the Targets page appears here
        if list(target.options) != list(names):
            target.options = names

    watch(state, state, refresh_names, "target")
    axes = [_AxisWidgets(state, i) for i in range(1, N_AXES + 1)]
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
    wrap = ["pre { white-space: pre-wrap; word-break: break-word; }"]  # long statuses stay in the sidebar
    status = pn.pane.Str(state.status, css_classes=["w-status"], stylesheets=wrap, width=320)
    note = pn.pane.Str(state.message, css_classes=["w-message"], stylesheets=wrap, width=320)

    # space files: load one of data/spaces (or an uploaded file) with models.dse.load_space; save the current one
    space_sel = pn.widgets.Select(label="space file (data/spaces)", options=["", *_space_files()], value="",
                                  css_classes=["w-space-file"], width=220)
    load = pn.widgets.Button(label="Load", css_classes=["w-space-load"], width=70)
    upload = pn.widgets.FileInput(accept=".toml", css_classes=["w-space-upload"], width=300)

    def on_load(event: Any) -> None:
        if space_sel.value:
            state.load_space(space_sel.value)

    def on_upload(event: Any) -> None:
        if upload.value:
            text = bytes(upload.value).decode("utf-8", errors="replace")
            state.load_space(upload.filename or "uploaded.toml", text=text)

    on_click(state, load, on_load)
    watch(state, upload, on_upload, "value")

    def space_cb() -> io.BytesIO:
        try:
            return io.BytesIO(state.space_toml().encode())
        except Exception as exc:
            state._fail(exc)  # noqa: SLF001 - the state's error channel
            return io.BytesIO(b"")

    save = pn.widgets.FileDownload(callback=space_cb, filename="explore-space.toml", label="Save space (TOML)",
                                   embed=False, css_classes=["w-space-save"], width=160)

    def on_progress(*events: Any) -> None:
        progress.value = int(round(state.progress * 1000))
        r = state.result
        # a run with no feasible point is not a success: the bar says so
        progress.bar_color = "warning" if r is not None and r.front.height == 0 else (
            "secondary" if r is not None and r.state == "cancelled" else "success")

    def on_status(event: Any = None) -> None:
        status.object = state.status

    def on_message(event: Any = None) -> None:
        note.object = state.message
        if served and state.message:
            notify("info", state.message)

    def on_running(event: Any = None) -> None:
        run.disabled = state.running
        cancel.disabled = not state.running

    watch(state, state, on_progress, "progress", "result")
    watch(state, state, on_status, "status")
    watch(state, state, on_message, "message")
    watch(state, state, on_running, "running")

    async def on_run(event: Any) -> None:  # a coroutine function, so Panel awaits it on the event loop
        await state.run()

    on_click(state, run, on_run)
    on_click(state, cancel, lambda e: state.cancel())

    # main area: what the result is (from the result itself), the plots, the exports
    header = pn.pane.Markdown("", css_classes=["w-result"], sizing_mode="stretch_width")
    colour = pn.widgets.Select(label="colour feasible points by", options={"(none)": ""}, value="",
                               css_classes=["w-colour"], width=260)
    plot_pane = pn.pane.HoloViews(sizing_mode="stretch_width", min_height=470, css_classes=["explore-plot"])
    par_pane = pn.pane.HoloViews(sizing_mode="stretch_width", min_height=370, css_classes=["explore-parallel"])
    hv_pane = pn.pane.HoloViews(sizing_mode="stretch_width", min_height=320, css_classes=["explore-hypervolume"])
    table = pn.widgets.Tabulator(None, pagination="remote", page_size=15, sizing_mode="stretch_width",
                                 disabled=True, css_classes=["explore-trials"], visible=False)
    # redrawn whole on each selection (not a DynamicMap): the empty chart and the stacked,
    # legend-carrying bars of a selected point are different element shapes
    bd_pane = pn.pane.HoloViews(plots.explore_breakdown(state.breakdown), sizing_mode="stretch_width",
                                min_height=340, css_classes=["explore-breakdown"])

    def draw_breakdown(event: Any) -> None:
        bd_pane.object = plots.explore_breakdown(state.breakdown)

    watch(state, state, draw_breakdown, "breakdown")

    def draw_header(*events: Any) -> None:
        r = state.result
        if r is not None:
            header.object = f"**Result:** {markdown_text(r.summary())}"
        elif state.running:
            header.object = f"**{markdown_text(state.status)}**"
        else:
            header.object = "**No result for these inputs**: press **Run** to compute the space in the sidebar."

    watch(state, state, draw_header, "result", "running", "status")
    draw_header()

    def draw(*events: Any) -> None:
        r = state.result
        names = list(r.space.names) if r is not None else []
        opts = {"(none)": "", **{n: n for n in names}}
        if colour.options != opts:
            colour.options = opts
            if colour.value not in opts.values():
                colour.value = ""
        # no result for these inputs: the plots are hidden (never an older run's), not redrawn empty
        plot_pane.visible = r is not None
        par_pane.visible = r is not None and r.state != "running"  # drawn once the run ends
        if r is None:
            hv_pane.visible = table.visible = False
            return
        overlay, fpts = XP.explore_live_scatter(r, EXPLORE_METRICS, colour_by=colour.value)
        tap = hv.streams.Selection1D(source=fpts)
        tap.add_subscriber(guarded(state, lambda index: state.select(index[0]) if index else None))
        plot_pane.object = overlay
        if r.state != "running":  # many lines: drawn once the run ends
            par_pane.object = XP.explore_parallel(r)
        is_search = r.method == "search"
        if is_search or hv_pane.visible:  # hidden for a sweep: not drawn
            hv_pane.object = XP.explore_hypervolume(r)
        hv_pane.visible = is_search
        table.visible = is_search
        if is_search:
            cols = [c for c in ("trial", *r.space.names, *(o.metric for o in r.space.objectives), "feasible",
                                "reason", "provenance") if c in r.points.columns]
            table.value = r.points.select(cols).sort("trial").to_pandas()

    watch(state, state, draw, "result")
    watch(state, colour, draw, "value")
    guarded(state, draw)()

    what = pn.widgets.RadioButtonGroup(options={"Pareto front": "front", "all points": "points"}, value="front",
                                       css_classes=["w-export-what"])

    def downloader(fmt: str) -> pn.widgets.FileDownload:
        def cb() -> io.BytesIO:
            try:
                return io.BytesIO(state.export(fmt, what.value))
            except Exception as exc:  # an expected error's message, else an internal error id
                state._fail(exc)  # noqa: SLF001
                return io.BytesIO(b"")

        dl = pn.widgets.FileDownload(callback=cb, filename=f"pareto-front.{fmt}", label=f"Export {fmt.upper()}",
                                     embed=False, css_classes=[f"w-export-{fmt}"], width=120)

        def rename(event: Any) -> None:
            dl.filename = f"{'pareto-front' if what.value == 'front' else 'all-points'}.{fmt}"

        watch(state, what, rename, "value")
        return dl

    exports = pn.Row(what, *[downloader(f) for f in POINT_EXPORT_FORMATS])
    sidebar = [target, workload, pn.Row(space_sel, load), upload, save,
               pn.pane.Markdown("**design space** (labels from the registry; hover a ? for the setting path)",
                                margin=(0, 10)),
               *[w for a in axes for w in a.layout()],
               pn.Row(xm, xd), pn.Row(ym, yd), mem, method, trials, pn.Row(run, cancel), progress, status, note]
    main = [header, colour, plot_pane, exports, bd_pane,
            pn.Tabs(("Parallel coordinates", par_pane), ("Hypervolume", hv_pane), ("Trials", table),
                    dynamic=False, sizing_mode="stretch_width")]
    if served:
        return page("Explore", "explore", sidebar, main)
    return pn.Row(pn.Column(*sidebar, width=340), pn.Column(*main, sizing_mode="stretch_width"),
                  sizing_mode="stretch_width")


class Explore(pn.viewable.Viewer):
    """The Explore page as a component: ``Explore(target="h100-sxm", workload="llama-2-7b")``.

    Keyword arguments are :class:`~app.dashboard.state.ExploreState` inputs (or pass
    ``state=``); ``view.state`` is that state, to read (``view.state.result``) and set
    (``view.state.axis1_high = 64``; ``await view.state.run()``) from code.
    """

    state = param.ClassSelector(class_=ExploreState, doc="the page state (inputs and result)")

    def __init__(self, state: ExploreState | None = None, *, served: bool = False, **inputs: Any) -> None:
        super().__init__(state=state if state is not None else ExploreState(**inputs))
        self._served = served
        self._layout: pn.viewable.Viewable | None = None

    def __panel__(self) -> pn.viewable.Viewable:
        if self._layout is None:
            assert self.state is not None  # set in __init__
            import holoviews.plotting.bokeh  # noqa: F401 - the backend the plots' options are for

            self._layout = build(self.state, served=self._served)
        return self._layout


def view(state: ExploreState) -> pn.viewable.Viewable:
    """The served Explore page of ``state``."""
    return build(state, served=True)


def create(**params: Any) -> pn.viewable.Viewable:
    state = ExploreState(**params)
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        # a closed tab stops its run: its worker threads and its share of the server's point
        # budget are freed instead of running on for nobody
        pn.state.on_session_destroyed(lambda _ctx: state.cancel())
    return view(state)

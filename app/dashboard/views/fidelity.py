"""Fidelity page: how close the models come to published measurements.

The data of ``tradespace validate`` (:class:`app.dashboard.fidelity_state.FidelityState`): the
CLI's headline (median and 90th-percentile |error| over every measured case, gaps included), a
log-log parity plot per kind of quantity (y = x, the tolerance band, checks and gaps coloured),
a table by paper and the known gaps grouped by the mechanism the model lacks.

:class:`Fidelity` is a ``pn.viewable.Viewer`` over the state (``Fidelity(paper=...)`` in a cell).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import panel as pn
import param

from app.dashboard import fmt
from app.dashboard.fidelity_state import FidelityState, ParityData
from app.dashboard.safety import html_text
from app.dashboard.views.common import PageComponent, page, watch

GROUP_TITLES = {"time": "Time", "rate": "Rate (per second)", "energy": "Energy", "power": "Power",
                "ratio": "Ratio (speed-up, gain, fraction)"}


def parity_figure(d: ParityData) -> Any:
    """A log-log parity plot of one group: cases as points (coloured by role), the y = x line
    and the band of the tolerance most of its cases use."""
    from bokeh.models import ColumnDataSource, Range1d
    from bokeh.models.annotations import Band
    from bokeh.plotting import figure

    n = len(d.columns["id"])
    fig = figure(title=f"{GROUP_TITLES.get(d.group, d.group)}: {n} case{'s' if n != 1 else ''}",
                 x_axis_type="log", y_axis_type="log", width=400, height=380,
                 x_range=Range1d(start=d.lo, end=d.hi), y_range=Range1d(start=d.lo, end=d.hi), x_axis_label="published",
                 y_axis_label="predicted", tools="pan,wheel_zoom,box_zoom,reset,save")
    fig.xaxis.formatter = fmt.tick_formatter(d.unit)
    fig.yaxis.formatter = fmt.tick_formatter(d.unit)
    xs = [d.lo, d.hi]
    band = ColumnDataSource({"x": xs, "lower": [x * (1 - d.tolerance) for x in xs],
                             "upper": [x * (1 + d.tolerance) for x in xs]})
    fig.add_layout(Band(base="x", lower="lower", upper="upper", source=band, fill_color="#888888",
                        fill_alpha=0.18, line_color="#888888", line_alpha=0.4))
    fig.line(xs, xs, color="#555555", line_dash="dashed", legend_label=f"y = x, band ±{d.tolerance:.0%}")
    src = ColumnDataSource(d.columns)
    # one renderer per role, so that the legend names checks, gaps and calibration cases
    from bokeh.models import CDSView, GroupFilter

    pts = []
    for role, label in (("check", "check"), ("gap", "known gap"), ("calibration", "calibration")):
        if role not in d.columns["role"]:
            continue
        view = CDSView(filter=GroupFilter(column_name="role", group=role))
        pts.append(fig.scatter("published", "predicted", source=src, view=view, size=8, color="colour",
                               line_color="black", line_width=0.5, alpha=0.85, legend_label=label,
                               marker="circle" if role != "gap" else "triangle"))
    if pts:
        fig.add_tools(fmt.hover_tool([("case", "id"), ("paper", "paper"), ("published", "published_text"),
                                      ("predicted", "predicted_text"), ("error", "error_text"),
                                      ("status", "status")], renderers=pts))
    fig.legend.location = "top_left"
    fig.legend.label_text_font_size = "11px"
    fig.legend.background_fill_alpha = 0.7
    return fig


def _headline(state: FidelityState) -> pn.pane.HTML:
    s = state.summary
    data = html_text(json.dumps({"n_measured": s["n_measured"], "median": s["median_abs_error_measured"],
                                 "p90": s["p90_abs_error_measured"], "n_cases": len(state.result.results)}))
    return pn.pane.HTML(
        f'<div class="ts-fidelity-headline" data-summary="{data}" style="font-size:15px">'
        f"<p><b>{html_text(state.headline)}</b></p><p>{html_text(state.counts_line)}</p>"
        "<p>Predicted by the same public path as every page (<code>tradespace validate</code> prints the same "
        "figures). A <i>check</i> must lie within its tolerance; a <i>known gap</i> is a published number the "
        "model does not meet, kept in the headline with the mechanism it lacks; a <i>calibration</i> case set "
        "a target-wide factor and is in no error figure.</p></div>", sizing_mode="stretch_width")


def _table(state: FidelityState) -> Any:
    frame = state.table().drop("abs_error")
    # fixed widths that fit the main area of a 1600 px window; the long columns wrap
    widths = {"case": 270, "quantity": 400, "predicted": 105, "published": 150, "error": 85, "tolerance": 100,
              "status": 85}
    return pn.widgets.Tabulator(frame.to_pandas(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                groupby=["paper"], layout="fit_columns", height=560, widths=widths,
                                css_classes=["fidelity-table"], hidden_columns=["paper"],
                                formatters={"quantity": {"type": "textarea"}, "case": {"type": "textarea"}})


def _gaps_html(state: FidelityState) -> str:
    groups = state.gaps_by_reason()
    if not groups:
        return '<div class="ts-gaps"><p>No known gap in this selection.</p></div>'
    items = []
    for reason, rs in groups:
        cases = ", ".join(f"{html_text(r.case.id)} ({fmt.pct(r.relative_error)})" for r in rs)
        items.append(f"<li><b>{len(rs)} case{'s' if len(rs) != 1 else ''}</b>: {html_text(reason)}"
                     f'<br><span style="color:#555;font-size:12px">{cases}</span></li>')
    return (f'<div class="ts-gaps"><h3>Known gaps by reason ({sum(len(r) for _, r in groups)} cases, '
            f"{len(groups)} reasons)</h3><ul>{''.join(items)}</ul></div>")


URL_PARAMS = ("paper", "role")


def _url_errors(state: FidelityState, search: str) -> list[str]:
    """Apply ``?paper=...&role=...`` to ``state``; a value the state does not list is refused
    (the message names it and what is allowed) and the default stays."""
    errors = []
    for key, value in urllib.parse.parse_qsl(search.lstrip("?"), keep_blank_values=True):
        if key not in URL_PARAMS:
            continue
        allowed = list(state.param[key].objects)
        if value in allowed:
            setattr(state, key, value)
        else:
            shown = allowed if len(allowed) <= 6 else [*allowed[:5], f"... ({len(allowed)} in all)"]
            errors.append(f"URL query: {key}={value!r} is not one of: {', '.join(shown)}; showing {key}=all")
    return errors


def sync_url(state: FidelityState, message: pn.pane.HTML) -> None:
    """Read ``paper`` and ``role`` from the URL once (refused values reported in ``message``), then
    keep the URL equal to what the page shows, so a copied link reopens the same selection."""
    loc = pn.state.location
    if loc is None:
        return
    errors = _url_errors(state, loc.search or "")
    if errors:
        message.object = "".join(f'<div class="ts-error" style="color:#8b0000">{html_text(e)}</div>' for e in errors)

    def write(*_: Any) -> None:
        q = urllib.parse.urlencode({n: getattr(state, n) for n in URL_PARAMS if getattr(state, n) != "all"})
        search = f"?{q}" if q else ""
        if (loc.search or "") != search:
            loc.search = search

    watch(state, state, write, *URL_PARAMS)
    write()


def layout(state: FidelityState, message: pn.pane.HTML | None = None) -> pn.Column:
    message = message if message is not None else pn.pane.HTML("", sizing_mode="stretch_width",
                                                                css_classes=["ts-message"])
    paper = pn.widgets.Select(name="Paper or source", options=list(state.param.paper.objects), value=state.paper,
                              css_classes=["fidelity-paper"], width=310)
    role = pn.widgets.RadioButtonGroup(name="Cases", options=list(state.param.role.objects), value=state.role,
                                       css_classes=["fidelity-role"])
    def bind(widget: Any, name: str) -> None:
        """widget.value <-> state.<name> (the selectors refuse what they do not list)."""

        def to_state(event: Any) -> None:
            setattr(state, name, event.new)

        def to_widget(event: Any) -> None:
            widget.value = event.new

        watch(state, widget, to_state, "value")
        watch(state, state, to_widget, name)

    bind(paper, "paper")
    bind(role, "role")
    plots = pn.FlexBox(*[pn.pane.Bokeh(parity_figure(state.parity(g))) for g in state.groups],
                       css_classes=["fidelity-parity"], sizing_mode="stretch_width")
    table = pn.Column(_table(state), sizing_mode="stretch_width")
    gaps = pn.pane.HTML(_gaps_html(state), sizing_mode="stretch_width")

    def update(*_: Any) -> None:
        plots.objects = [pn.pane.Bokeh(parity_figure(state.parity(g))) for g in state.groups]
        table.objects = [_table(state)]
        gaps.object = _gaps_html(state)

    watch(state, state, update, "paper", "role")
    sidebar = [pn.pane.Markdown("Show the cases of one paper or source, and of one role. The headline is over "
                                "every measured case.", width=310), paper, pn.pane.Markdown("Cases", margin=(0, 10)),
               role]
    main = [message, _headline(state), pn.pane.Markdown("### Predicted vs published, per kind of quantity"), plots,
            pn.pane.Markdown("### Cases by paper or source"), table, gaps]
    return page("Fidelity", "fidelity", sidebar, main)


class Fidelity(PageComponent):
    """The Fidelity page as a component; keyword arguments are :class:`FidelityState` inputs."""

    state_class = FidelityState
    build = staticmethod(layout)
    state = param.ClassSelector(class_=FidelityState, doc="the page state")


def create(**params: Any) -> pn.Column:
    """The served page (fresh state per session), its selection in the URL."""
    state = FidelityState(**params)
    message = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["ts-message"])
    sync_url(state, message)  # before the layout: the widgets start from the URL's selection
    return layout(state, message)

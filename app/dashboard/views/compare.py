"""Compare page: one workload across targets of any class, normalised to a baseline target.

:class:`Compare` is a ``pn.viewable.Viewer`` over a :class:`app.dashboard.state.CompareState`
(``Compare(targets=["h100-sxm", "a100-80gb"], workload="resnet-50")`` in a notebook cell).
A target that cannot be evaluated keeps its row in the table, with the reason.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param
import polars as pl

from app.dashboard import fmt, plots
from app.dashboard.data import SERVING_COMPARE_METRICS, compare_metrics
from app.dashboard.state import CompareState
from app.dashboard.views.common import (
    PageComponent,
    bind_two_way,
    guarded,
    message_pane,
    notify_errors,
    page,
    result_header,
    sync_url,
    watch,
)
from app.dashboard.views.roofline import URL_PARAMS, workload_inputs
from models.units import format_si

COMPARE_URL_PARAMS = {**URL_PARAMS, "baseline": "baseline"}


def _table_frame(frame: pl.DataFrame) -> Any:
    """The rows the table shows (a pandas frame): short headers, the values in SI prefixes."""
    items = frame["item_name"].drop_nulls()
    item = items[0] if items.len() else "item"

    def si(col: str, unit: str) -> pl.Expr:
        return pl.col(col).map_elements(lambda v: format_si(v, unit), return_dtype=pl.String)

    # short headers (units in the values: SI prefixes), so that the columns fit the main area
    # of a 1400 px window; a failing target keeps its row, its reason in the last column
    if compare_metrics(frame) is SERVING_COMPARE_METRICS:  # a served request stream: its metrics
        metrics = [si("ttft_s", "s").alias("TTFT"), si("tpot_s", "s").alias("TPOT"),
                   fmt.si_expr("output_tokens_per_s_per_device", "1").alias("tokens/s per device"),
                   fmt.si_expr("output_tokens_per_s_per_user", "1").alias("tokens/s per user"),
                   si("energy_J_per_output_token", "J").alias("energy per output token"),
                   pl.col("n_max_batch").cast(pl.Int64).cast(pl.String).fill_null("").alias("max batch")]
    else:
        metrics = [si("latency_s", "s").alias("latency"), si("energy_J", "J").alias("energy"),
                   si("energy_J_per_item", "J").alias(f"energy per {item}"),
                   fmt.si_expr("items_per_s", "1").alias(f"{item}s per s"), si("edp_J_s", "J·s").alias("EDP")]
    show = frame.select(
        "target", pl.col("target_class").alias("class"), *metrics, si("peak_memory_B", "B").alias("peak memory"),
        si("memory_capacity_B", "B").alias("capacity"),
        pl.when(pl.col("fits_memory")).then(pl.lit("yes")).when(pl.col("fits_memory").not_()).then(pl.lit("no"))
        .otherwise(pl.lit("")).alias("fits"),
        pl.col("bound").alias("bound by"), pl.col("n_fallback_ops").cast(pl.String).fill_null("").alias("fallback ops"),
        pl.col("provenance").fill_null("").alias("how obtained"),
        pl.col("reason").fill_null("").alias("cannot be evaluated because"))
    return show.to_pandas()


class _Table:
    """One Tabulator for the page's lifetime: a new result replaces its rows (and headers), not
    the widget, so the browser updates the table it has instead of building another."""

    def __init__(self) -> None:
        self.widget: Any = None
        self.pane = pn.Column(sizing_mode="stretch_width", visible=False)

    def show(self, frame: pl.DataFrame | None) -> None:
        if frame is None:  # no result: nothing under the header
            self.pane.visible = False
            return
        rows = _table_frame(frame)
        if self.widget is None:
            self.widget = pn.widgets.Tabulator(
                rows, disabled=True, show_index=False, sizing_mode="stretch_width", css_classes=["compare-table"],
                layout="fit_columns", configuration={"columnDefaults": {"headerWordWrap": True}},
                formatters={"cannot be evaluated because": {"type": "textarea"}})
            self.pane.objects = [self.widget]
        else:
            self.widget.value = rows
        self.pane.visible = True


def layout(state: CompareState) -> pn.Column:
    """The page over ``state``: inputs and the baseline in the sidebar; header, messages, the
    table, the normalised bars and the latency-energy scatter in the main area."""
    figs = plots.CompareFigures()
    figs.update(state.normalized)
    table = _Table()
    baseline = pn.widgets.Select(label="baseline (bars are ratios to it)", options=[""] + list(state.targets),
                                 value=state.baseline, css_classes=["w-baseline"])
    bind_two_way(baseline, state, "baseline")
    base_note = pn.pane.Markdown("", css_classes=["compare-baseline"])

    def redraw(*events: Any) -> None:
        with pn.io.hold():
            figs.update(state.normalized)
            if not events or any(e.name == "data" for e in events):  # a new baseline leaves the rows as they are
                table.show(state.data)
            base = state.baseline_target()
            base_note.object = f"ratios to **{base}** (1x: the dashed line)" if base else ""

    def targets_changed(*events: Any) -> None:
        baseline.options = [""] + list(state.targets)

    watch(state, state, redraw, "data", "baseline")
    watch(state, state, targets_changed, "targets")
    guarded(state, redraw)()
    # the bars of the metrics the result is normalised on (one request, or a served stream)
    row = pn.Row()
    shown_bars = {m: pn.pane.Bokeh(f) for m, (f, _) in figs.bars.items()}

    def pick_bars(*events: Any) -> None:
        row.objects = [shown_bars[m] for m in compare_metrics(state.data)]

    watch(state, state, pick_bars, "data")
    pick_bars()
    main = [result_header(state), message_pane(state), table.pane, base_note, row, pn.pane.Bokeh(figs.scatter)]
    return page("Compare", "compare", [*workload_inputs(state), baseline], main)


class Compare(PageComponent):
    """The Compare page as a component; keyword arguments are :class:`CompareState` inputs."""

    state_class = CompareState
    build = staticmethod(layout)
    state = param.ClassSelector(class_=CompareState, doc="the page state")


def view(state: CompareState) -> pn.Column:
    notify_errors(state)
    sync_url(state, COMPARE_URL_PARAMS)
    return Compare(state=state).__panel__()


def create(**params: Any) -> pn.Column:
    return view(CompareState(**params))

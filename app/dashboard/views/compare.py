"""Compare page: one workload across targets of any class."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import panel as pn
import polars as pl

from app.dashboard import plots
from app.dashboard.state import CompareState
from app.dashboard.views.common import guarded, notify_errors, page, sync_url
from app.dashboard.views.roofline import URL_PARAMS, workload_inputs


def _table(frame: pl.DataFrame | None) -> Any:
    if frame is None:
        return pn.pane.Markdown("")
    item = frame["item_name"][0]
    # short headers (units kept) and 3 significant digits, so that all 11 columns fit the main
    # area of a 1400 px window without horizontal scrolling; long headers wrap
    show = frame.select(
        "target", pl.col("target_class").alias("class"), pl.col("latency_s").alias("latency (s)"),
        pl.col("energy_J").alias("energy (J)"), pl.col("energy_J_per_item").alias(f"J per {item}"),
        pl.col("items_per_s").alias(f"{item}s per s"), pl.col("edp_J_s").alias("EDP (J·s)"),
        (pl.col("peak_memory_B") / 1e9).alias("peak memory (GB)"),
        (pl.col("memory_capacity_B") / 1e9).alias("capacity (GB)"),
        pl.when(pl.col("fits_memory")).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("fits"),
        pl.col("bound").alias("bound by"))
    # format at the display edge only (the state keeps floats)
    show = show.with_columns([pl.col(c).map_elements(lambda v: f"{v:.3g}", return_dtype=pl.String)
                              for c in show.columns if show[c].dtype == pl.Float64])
    return pn.widgets.Tabulator(show.to_pandas(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                css_classes=["compare-table"], layout="fit_columns",
                                configuration={"columnDefaults": {"headerWordWrap": True}})


def view(state: CompareState) -> pn.Column:
    notify_errors(state)
    sync_url(state, URL_PARAMS)
    bars = pn.pane.HoloViews(hv.DynamicMap(pn.bind(plots.compare_bars, state.param.data)),
                             sizing_mode="stretch_width", min_height=320)
    table = pn.panel(pn.bind(guarded(state, _table), state.param.data))
    return page("Compare", "compare", workload_inputs(state), [table, bars])


def create(**params: Any) -> pn.Column:
    return view(CompareState(**params))

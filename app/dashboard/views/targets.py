"""Targets page: every preset with the sources of its numbers; edit a copy and save it as TOML."""

from __future__ import annotations

from typing import Any

import panel as pn
import polars as pl

from app.dashboard.safety import markdown_text
from app.dashboard.state import TargetsState
from app.dashboard.views.common import bind_two_way, guarded, notify, notify_errors, on_click, page, sync_url, watch


def _fields_table(frame: pl.DataFrame | None) -> Any:
    if frame is None:
        return pn.pane.Markdown("")
    show = frame.select("field", "value", "unit", "low", "high", "source").with_columns(
        [pl.col(c).map_elements(lambda v: f"{v:.6g}", return_dtype=pl.String) for c in ("value", "low", "high")])
    return pn.widgets.Tabulator(show.to_pandas(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                layout="fit_data_table", css_classes=["fields-table"], page_size=40,
                                pagination="local",
                                # long sources wrap in a fixed-width column instead of running off the page
                                formatters={"source": {"type": "textarea"}}, widths={"source": 470})


def view(state: TargetsState) -> pn.Column:
    notify_errors(state)
    sync_url(state, {"target": "target"})
    target = pn.widgets.Select(label="target preset", options=state.available(), value=state.target,
                               css_classes=["w-target"])
    bind_two_way(target, state, "target")

    def refresh_options(event: Any) -> None:
        target.options = state.available()

    watch(state, state, refresh_options, "n_targets")

    fields = list(state.fields["field"]) if state.fields is not None else []
    field = pn.widgets.Select(label="field to edit", options=fields, css_classes=["w-field"])
    value = pn.widgets.FloatInput(label="new value", css_classes=["w-value"])
    bounds = pn.pane.Markdown("", css_classes=["w-bounds"])

    def on_field(event: Any = None) -> None:
        f = state.fields
        if f is None or field.value is None:
            return
        row = f.filter(pl.col("field") == field.value).row(0, named=True)
        # declared range (FIELD_SPECS) drives the widget bounds
        value.param.update(start=row["low"], end=row["high"], value=row["value"])
        bounds.object = f"unit **{markdown_text(row['unit'])}**, allowed [{row['low']:.6g}, {row['high']:.6g}]"

    def on_target(event: Any) -> None:
        field.options = list(state.fields["field"]) if state.fields is not None else []
        on_field()

    watch(state, field, on_field, "value")
    watch(state, state, on_target, "target")
    guarded(state, on_field)()
    apply = pn.widgets.Button(label="Apply edit", color="primary", css_classes=["w-apply"])
    on_click(state, apply, lambda e: state.edit(field.value, value.value))
    name = pn.widgets.TextInput(label="name of the copy", placeholder="e.g. h100-fast-hbm", css_classes=["w-name"])
    bind_two_way(name, state, "new_name")
    save = pn.widgets.Button(label="Save as new target", color="success", css_classes=["w-save"])

    def on_save(event: Any) -> None:
        if state.save() is not None:
            notify("success", state.message, duration=6000)

    on_click(state, save, on_save)
    edits = pn.pane.Markdown(pn.bind(guarded(state, lambda e: "**edits:** " + (
        ", ".join(f"{markdown_text(k)} = {v:g}" for k, v in e.items()) or "none")), state.param.edits),
                             css_classes=["w-edits"])
    table = pn.panel(pn.bind(guarded(state, _fields_table), state.param.fields))
    sidebar = [target, pn.pane.Markdown("**edit a copy**", margin=(0, 10)), field, bounds, value, apply, edits,
               name, save]
    return page("Targets", "targets", sidebar, [table])


def create(**params: Any) -> pn.Column:
    return view(TargetsState(**params))

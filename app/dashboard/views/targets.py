"""Targets page: every preset with the sources of its numbers; edit a copy within the declared
ranges, save it or download it as TOML; compare two targets side by side.

:class:`Targets` is a ``pn.viewable.Viewer`` over a :class:`app.dashboard.state.TargetsState`.
A value out of range is refused with a message naming the field, the value and the allowed
range: no edit is recorded and the field keeps its value and source.
"""

from __future__ import annotations

import io
from typing import Any

import panel as pn
import param
import polars as pl

from app.dashboard.safety import markdown_text
from app.dashboard.state import TargetsState
from app.dashboard.views.common import (
    PageComponent,
    bind_two_way,
    guarded,
    message_pane,
    notify,
    notify_errors,
    on_click,
    page,
    sync_url,
    target_header,
    watch,
)


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


def _diff_table(frame: pl.DataFrame | None, a: str, b: str) -> Any:
    if frame is None:
        return pn.pane.Markdown("pick a second target to compare the two field by field", css_classes=["diff-table"])

    if a == b:  # a target with its edits against its preset
        a, b = f"{a} (edited)", f"{b} (preset)"

    def num(col: str) -> pl.Expr:
        return pl.col(col).map_elements(lambda v: f"{v:.6g}", return_dtype=pl.String).fill_null("—")

    show = frame.sort("differs", descending=True, maintain_order=True).select(
        "field", "unit", num("value_a").alias(a), num("value_b").alias(b),
        num("ratio").alias(f"{b} / {a}"), pl.when(pl.col("differs")).then(pl.lit("≠")).otherwise(pl.lit(""))
        .alias("differs"), pl.col("source_a").fill_null("").alias(f"source ({a})"),
        pl.col("source_b").fill_null("").alias(f"source ({b})"))
    return pn.widgets.Tabulator(show.to_pandas(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                layout="fit_data_table", css_classes=["diff-table"], page_size=40,
                                pagination="local", formatters={f"source ({a})": {"type": "textarea"},
                                                                f"source ({b})": {"type": "textarea"}},
                                widths={f"source ({a})": 300, f"source ({b})": 300})


def layout(state: TargetsState) -> pn.Column:
    target = pn.widgets.Select(label="target preset", options=state.available(), value=state.target,
                               css_classes=["w-target"])
    bind_two_way(target, state, "target")
    other = pn.widgets.Select(label="compare with", options=["", *state.available()], value=state.compare_to,
                              css_classes=["w-compare-to"])
    bind_two_way(other, state, "compare_to")

    def refresh_options(event: Any) -> None:
        target.options = state.available()
        other.options = ["", *state.available()]

    watch(state, state, refresh_options, "n_targets")

    fields = list(state.fields["field"]) if state.fields is not None else []
    field = pn.widgets.Select(label="field to edit", options=fields, css_classes=["w-field"])
    # no start/end: a widget clamps an out-of-range value to its bound, and the edit would then
    # record the bound; the state checks the range and refuses the value with a message instead
    value = pn.widgets.FloatInput(label="new value", css_classes=["w-value"])
    bounds = pn.pane.Markdown("", css_classes=["w-bounds"])

    def on_field(event: Any = None) -> None:
        f = state.fields
        if f is None or field.value is None:
            return
        row = f.filter(pl.col("field") == field.value).row(0, named=True)
        value.value = row["value"]
        unit = "" if row["unit"] == "1" else f"unit **{markdown_text(row['unit'])}**, "
        bounds.object = f"{unit}allowed [{row['low']:.6g}, {row['high']:.6g}]"

    def on_target(event: Any) -> None:
        field.options = list(state.fields["field"]) if state.fields is not None else []
        on_field()

    watch(state, field, on_field, "value")
    watch(state, state, on_target, "target")
    guarded(state, on_field)()
    apply = pn.widgets.Button(label="Apply edit", color="primary", css_classes=["w-apply"])
    on_click(state, apply, lambda e: state.edit(field.value, value.value))  # type: ignore[arg-type]  # None: refused
    name = pn.widgets.TextInput(label="name of the copy", placeholder="e.g. h100-fast-hbm", css_classes=["w-name"])
    bind_two_way(name, state, "new_name")
    save = pn.widgets.Button(label="Save as new target", color="success", css_classes=["w-save"])

    def on_save(event: Any) -> None:
        if state.save() is not None:
            notify("success", state.message, duration=6000)

    on_click(state, save, on_save)

    def toml_file() -> io.BytesIO | None:
        try:
            return io.BytesIO(state.toml().encode())
        except Exception as exc:
            state._fail(exc)  # noqa: SLF001 - the state's error channel
            return None

    download = pn.widgets.FileDownload(callback=toml_file, filename=f"{state.target}.toml", label="Download TOML",
                                       embed=False, css_classes=["w-download"])

    def on_name(*events: Any) -> None:
        download.filename = f"{state.new_name.strip() or state.target}.toml"

    watch(state, state, on_name, "target", "new_name")
    edits = pn.pane.Markdown(pn.bind(guarded(state, lambda e: "**edits:** " + (
        ", ".join(f"{markdown_text(k)} = {v:g}" for k, v in e.items()) or "none")), state.param.edits),
                             css_classes=["w-edits"])
    table = pn.panel(pn.bind(guarded(state, _fields_table), state.param.fields))
    diff = pn.panel(pn.bind(guarded(state, lambda d, a, b: _diff_table(d, a, b or "—")), state.param.diff,
                            state.param.target, state.param.compare_to))
    sidebar = [target, other, pn.pane.Markdown("**edit a copy**", margin=(0, 10)), field, bounds, value, apply, edits,
               name, save, download]
    tabs = pn.Tabs(("fields and sources", table), ("side by side", diff), dynamic=False, sizing_mode="stretch_width")
    return page("Targets", "targets", sidebar, [target_header(state), message_pane(state), tabs])


class Targets(PageComponent):
    """The Targets page as a component; keyword arguments are :class:`TargetsState` inputs."""

    state_class = TargetsState
    build = staticmethod(layout)
    state = param.ClassSelector(class_=TargetsState, doc="the page state")


def view(state: TargetsState) -> pn.Column:
    notify_errors(state)
    sync_url(state, {"target": "target", "compare_to": "compare_to"})
    return Targets(state=state).__panel__()


def create(**params: Any) -> pn.Column:
    return view(TargetsState(**params))

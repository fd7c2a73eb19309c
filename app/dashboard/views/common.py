"""Shared view helpers: page template, navigation, notifications, two-way widget binding."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import panel as pn
import param

from app.dashboard.state import PAGES


def nav(current: str) -> pn.pane.Markdown:
    links = " · ".join(f"<b>{p.title()}</b>" if p == current else
                       f'<a href="/{p}" style="color:#cfe3ff">{p.title()}</a>' for p in PAGES)
    return pn.pane.HTML(f'<div style="font-size:16px;padding-top:14px">{links}</div>', css_classes=["ts-nav"])


def notify_errors(state: param.Parameterized) -> None:
    """Show every error of ``state`` as a notification (never a traceback)."""

    def show(event: Any) -> None:
        if state.error and pn.state.notifications is not None:
            pn.state.notifications.error(state.error, duration=8000)

    state.param.watch(show, "n_errors")


def bind_two_way(widget: pn.widgets.Widget, state: param.Parameterized, name: str,
                 to_state: Callable[[Any], Any] = lambda v: v, to_widget: Callable[[Any], Any] = lambda v: v) -> None:
    """Keep ``widget.value`` and ``state.<name>`` equal in both directions."""

    def w2s(event: Any) -> None:
        try:
            v = to_state(event.new)
        except (TypeError, ValueError) as exc:
            state._fail(exc)  # noqa: SLF001 - the state's error channel
            return
        if v != getattr(state, name):
            setattr(state, name, v)

    def s2w(event: Any) -> None:
        v = to_widget(event.new)
        if v != widget.value:
            widget.value = v

    widget.param.watch(w2s, "value")
    state.param.watch(s2w, name)


def sync_url(state: param.Parameterized, mapping: Mapping[str, str]) -> None:
    """Mirror ``state`` parameters in the URL query; bad query values become a notification."""
    loc = pn.state.location
    if loc is None:
        return

    def on_error(values: Mapping[str, Any]) -> None:
        state._fail(ValueError(f"URL query: could not apply {dict(values)!r}; check the names and values"))  # noqa: SLF001

    loc.sync(state, dict(mapping), on_error=on_error)


def page(title: str, current: str, sidebar: list[Any], main: list[Any]) -> pn.Column:
    """The page layout: header with navigation, a sidebar of inputs, the main area.

    Plain layouts rather than a template: the templates load fonts or scripts from CDNs, which
    fails offline and shows console errors.
    """
    header = pn.Row(pn.pane.Markdown(f"## Tradespace · {title}", margin=(0, 20)), nav(current),
                    styles={"background": "#2c3e50", "color": "white"}, sizing_mode="stretch_width",
                    css_classes=["ts-header"])
    side = pn.Column(*sidebar, width=340, styles={"background": "#f4f6f8"}, css_classes=["ts-sidebar"])
    body = pn.Column(*main, sizing_mode="stretch_width", css_classes=["ts-main"])
    return pn.Column(header, pn.Row(side, body, sizing_mode="stretch_width"), sizing_mode="stretch_width")

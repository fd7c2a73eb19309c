"""Shared view helpers: page template, navigation, notifications, two-way widget binding, URL sync.

What a page shows from a browser's input is made inert here: notifications render HTML, so their
text is escaped (:func:`notify`); callbacks are wrapped (:func:`guarded`) so that an exception
becomes a message on the state's error channel, never a traceback; the URL query is read and
written by :func:`sync_url` through the state's checks, so a rejected value is reported once and
the URL settles on the state the page shows.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import panel as pn
import param

from app.dashboard.safety import html_text, internal_error, query_string, query_values
from app.dashboard.state import PAGES


def nav(current: str) -> pn.pane.HTML:
    links = " · ".join(f"<b>{p.title()}</b>" if p == current else
                       f'<a href="/{p}" style="color:#cfe3ff">{p.title()}</a>' for p in PAGES)
    return pn.pane.HTML(f'<div style="font-size:16px;padding-top:14px">{links}</div>', css_classes=["ts-nav"])


def notify(kind: str, text: str, duration: int = 8000) -> None:
    """A notification of ``kind`` (error, success, info, warning) showing ``text`` as plain text.

    Panel's notifications render their message as HTML: the text is escaped first, so a value
    echoed from a URL (``<img onerror=...>``) shows as itself and runs nothing.
    """
    if pn.state.notifications is not None:
        getattr(pn.state.notifications, kind)(html_text(text), duration=duration)


def notify_errors(state: param.Parameterized) -> None:
    """Show every error of ``state`` as a notification (escaped; never a traceback).

    An error raised while the page is built (a bad URL value) is held until the browser has
    loaded the page: a notification sent earlier is lost.
    """
    pending: list[str] = []
    loaded = {"on": False}

    def flush() -> None:
        loaded["on"] = True
        for msg in dict.fromkeys(pending):
            notify("error", msg)
        pending.clear()

    def show(event: Any) -> None:
        if not state.error:
            return
        if loaded["on"]:
            notify("error", state.error)
        else:
            pending.append(state.error)

    state.param.watch(show, "n_errors")
    pn.state.onload(guarded(None, flush))


def report(state: param.Parameterized | None, exc: BaseException) -> None:
    """Report an exception of a callback: on ``state``'s error channel, else as a notification."""
    if state is not None and hasattr(state, "_fail"):
        state._fail(exc)  # noqa: SLF001 - the state's error channel (message or internal error id)
    else:
        notify("error", internal_error(exc))


def guarded(state: param.Parameterized | None, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a callback, plain or async) that reports any exception instead of raising it."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                report(state, exc)
                return None

        return run_async

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            report(state, exc)
            return None

    return run


def watch(state: param.Parameterized, obj: param.Parameterized, fn: Callable[[Any], Any], *names: str) -> None:
    """``obj.param.watch`` of a guarded ``fn`` (exceptions reported on ``state``)."""
    obj.param.watch(guarded(state, fn), list(names))


def on_click(state: param.Parameterized, button: pn.widgets.Button, fn: Callable[[Any], Any]) -> None:
    """``button.on_click`` of a guarded ``fn``."""
    button.on_click(guarded(state, fn))


def bind_two_way(widget: pn.widgets.Widget, state: param.Parameterized, name: str,
                 to_state: Callable[[Any], Any] = lambda v: v, to_widget: Callable[[Any], Any] = lambda v: v) -> None:
    """Keep ``widget.value`` and ``state.<name>`` equal in both directions.

    The widget follows the state's *current* value, not the event's: when the state rejects a
    value and puts back the last valid one, the widget ends on that one whatever order the
    events arrive in.
    """

    def w2s(event: Any) -> None:
        v = to_state(event.new)
        if v != getattr(state, name):
            state.apply(**{name: v})

    def s2w(event: Any) -> None:
        v = to_widget(getattr(state, name))
        if v != widget.value:
            widget.value = v

    watch(state, widget, w2s, "value")
    watch(state, state, s2w, name)


def sync_url(state: param.Parameterized, mapping: Mapping[str, str]) -> None:
    """Mirror ``state`` parameters in the URL query, through the state's checks.

    On load (and when the browser changes the query: back, forward) the query is read into typed
    values (:func:`app.dashboard.safety.query_values`) and applied at once with
    ``state.apply``; a value that cannot be read or is rejected gives one message, and the page
    keeps the last valid state. The URL is then rewritten from the state (what the page shows),
    so it never flips between a rejected value and a valid one.
    """
    loc = pn.state.location
    if loc is None:
        return
    writing = {"on": False}
    # the query last read: the browser reports the page's query once it connects, the one read
    # while the page was built; reading it again would repeat the message
    last = {"read": None}

    def write(event: Any = None) -> None:
        q = query_string(state, mapping)
        if loc.search != q:
            writing["on"] = True
            try:
                loc.search = q
            finally:
                writing["on"] = False

    def read(event: Any = None) -> None:
        if writing["on"]:
            return
        if loc.search == last["read"]:
            write()
            return
        last["read"] = loc.search
        values, errors = query_values(state, mapping, loc.search or "")
        changed = {n: v for n, v in values.items() if v != getattr(state, n)}
        # what could not be read and what the state rejects: one message, one notification
        with state.collect_errors("URL query: ") as found:
            found.extend((e, True) for e in errors)
            if changed:
                state.apply(**changed)
        write()

    guarded(state, read)()
    watch(state, loc, read, "search")
    watch(state, state, write, *mapping)


def error_page(message: str) -> pn.Column:
    """A page showing only ``message`` (escaped), for a page that could not be built."""
    header = pn.Row(pn.pane.Markdown("## Tradespace", margin=(0, 20)), nav(""),
                    styles={"background": "#2c3e50", "color": "white"}, sizing_mode="stretch_width")
    body = pn.pane.HTML(f'<div class="ts-error" style="color:#8b0000;font-size:15px;padding:20px">'
                        f"This page could not be built: {html_text(message)}</div>", sizing_mode="stretch_width")
    return pn.Column(header, body, sizing_mode="stretch_width")


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

"""Shared view helpers: page template, navigation, notifications, two-way widget binding, URL sync.

What a page shows from a browser's input is made inert here: notifications render HTML, so their
text is escaped (:func:`notify`); callbacks are wrapped (:func:`guarded`) so that an exception
becomes a message on the state's error channel, never a traceback; the URL query is read and
written by :func:`sync_url` through the state's checks, so a rejected value is reported once and
the URL settles on the state the page shows.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import panel as pn
import param

from app.dashboard.safety import html_text, internal_error, query_string, query_values
from app.dashboard.state import PAGES

# the header bar of every page: light text on a dark bar
HEADER_STYLES = {"background": "#2c3e50", "color": "white"}


def nav(current: str) -> pn.pane.HTML:
    """The links to every page (the current one in bold), light on the dark header bar."""
    links = " · ".join(f'<b style="color:#ffffff">{p.title()}</b>' if p == current else
                       f'<a href="/{p}" style="color:#cfe3ff">{p.title()}</a>' for p in PAGES)
    return pn.pane.HTML(f'<div style="font-size:16px;padding-top:14px">{links}</div>', css_classes=["ts-nav"])


def title_pane(title: str) -> pn.pane.HTML:
    """The header title: white on the dark bar (a Markdown heading kept its dark theme colour),
    ``Tradespace`` linking to the landing page."""
    sub = f" · {html_text(title)}" if title else ""
    return pn.pane.HTML(f'<h2 class="ts-title" style="color:#ffffff;margin:10px 0"><a href="/" style="color:#ffffff;'
                        f'text-decoration:none">Tradespace</a>{sub}</h2>', margin=(0, 20),
                        css_classes=["ts-title-pane"])


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


def apply_soon(state: param.Parameterized, values: Callable[[], dict[str, Any]]) -> None:
    """Apply ``values()`` to ``state`` on the next tick of a served session, after its ``status``
    says "computing" (sent to the browser first); at once elsewhere (a notebook, a test).

    ``values`` is called when the change is applied, so two quick changes (batch, then a
    datatype) both count: the second is computed from the state the first left. A change the
    state rejects (nothing recomputed) puts the status back.
    """
    doc = pn.state.curdoc
    if doc is None or getattr(doc, "session_context", None) is None or "status" not in state.param:
        state.apply(**values())
        return
    before = state.status
    state.status = "computing"

    def run() -> None:
        state.apply(**values())
        if state.status == "computing":
            state.status = before

    doc.add_next_tick_callback(guarded(state, run))


def bind_two_way(widget: pn.widgets.Widget, state: param.Parameterized, name: str,
                 to_state: Callable[[Any], Any] = lambda v: v, to_widget: Callable[[Any], Any] = lambda v: v,
                 *, defer: bool = False) -> None:
    """Keep ``widget.value`` and ``state.<name>`` equal in both directions.

    The widget follows the state's *current* value, not the event's: when the state rejects a
    value and puts back the last valid one, the widget ends on that one whatever order the
    events arrive in. With ``defer`` the state shows "computing" before it recomputes
    (:func:`apply_soon`).
    """

    def w2s(event: Any) -> None:
        v = to_state(event.new)
        if v != getattr(state, name):
            if defer:
                apply_soon(state, lambda: {name: v})
            else:
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

    def write(*events: Any) -> None:
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


def knob_label(knob: Any) -> str:
    """A readable label of a registry declaration (``weight_format`` -> ``Weight format``,
    ``attention_sram_B`` -> ``Attention SRAM (KiB)``): its name without the SI-unit suffix, with
    its display unit; the raw path is in :func:`knob_tooltip`."""
    words = knob.name.split("_")
    if len(words) > 1 and words[-1] in ("B", "s", "W", "J", "Hz"):
        words = words[:-1]
    text = " ".join({"sram": "SRAM", "kv": "KV", "gemm": "GEMM", "act": "activation", "bn": "BN",
                     "dtype": "datatype", "n": "number of"}.get(w, w) for w in words)
    text = text[:1].upper() + text[1:]
    return f"{text} ({knob.unit})" if knob.unit and knob.unit not in ("1", "count") else text


def knob_tooltip(path: str, knob: Any) -> str:
    """The tooltip of a knob's widget: its raw path (``algorithm.weight_format``), help and range."""
    parts = [path, knob.help, knob.allowed() if hasattr(knob, "allowed") else ""]
    return html_text(" — ".join(p for p in parts if p))


STATUS_TEXT = {"computing": "computing…", "ready": "ready", "partial": "partly computed: some targets failed",
               "error": "cannot be computed"}


def result_header(state: param.Parameterized) -> pn.pane.HTML:
    """The line naming what the result shown was computed from (``llama-2-7b · decode · h100-sxm``)
    and where it stands (computing, ready, partial, error), as ``.ts-result`` with ``data-status``
    and ``data-inputs`` (JSON of the result's inputs) for tests and screen readers."""
    import json

    def render(*_: Any) -> str:
        status = state.status
        ri = state.result_inputs
        label = html_text(ri.label()) if ri is not None else "no result"
        data = html_text(json.dumps({"targets": list(ri.targets), "workload": ri.workload, "phase": ri.phase,
                                     "mode": ri.mode, "knobs": dict(ri.knobs)} if ri is not None else {}))
        spin = ('<span class="ts-spinner" style="display:inline-block;width:10px;height:10px;border:2px solid '
                '#888;border-top-color:transparent;border-radius:50%;margin-right:6px"></span>'
                if status == "computing" else "")
        color = {"ready": "#1b5e20", "partial": "#8a5a00", "error": "#8b0000"}.get(status, "#444")
        return (f'<div class="ts-result" data-status="{status}" data-inputs="{data}" '
                f'style="font-size:15px;padding:4px 0"><b>{label}</b> '
                f'<span class="ts-status" style="color:{color}">{spin}{html_text(STATUS_TEXT[status])}</span></div>')

    return live_html(state, render, "status", "result_inputs")


def target_header(state: param.Parameterized) -> pn.pane.HTML:
    """The Targets page's ``.ts-result`` line: the target (and the one compared with) whose fields
    are shown, from the state's ``shown`` (set with the fields, never from the widgets)."""
    import json

    def render(*_: Any) -> str:
        shown = state.shown
        if shown is None:
            return '<div class="ts-result" data-status="error" data-inputs="{}"><b>no target</b></div>'
        target, other = shown
        n = len(state.edits)
        label = target + (f" ({n} edit{'s' if n != 1 else ''})" if n else "") + (
            f" · compared with {other}" if other else "")
        with contextlib.suppress(KeyError, ValueError, OSError):  # a target removed since: no provenance shown
            from models.hardware import get_target

            label += f" · numbers: {get_target(target).provenance}" + (" + edits" if n else "")
        data = html_text(json.dumps({"targets": [t for t in (target, other) if t]}))
        return (f'<div class="ts-result" data-status="ready" data-inputs="{data}" style="font-size:15px;'
                f'padding:4px 0"><b>{html_text(label)}</b></div>')

    return live_html(state, render, "shown", "fields")


def live_html(state: param.Parameterized, render: Callable[[], str], *names: str) -> pn.pane.HTML:
    """An HTML pane showing ``render()``, redrawn whenever one of the state's ``names`` changes."""
    pane = pn.pane.HTML(render(), sizing_mode="stretch_width", css_classes=["ts-result-pane"])

    def update(*events: Any) -> None:
        pane.object = render()

    watch(state, state, update, *names)
    return pane


def message_pane(state: param.Parameterized) -> pn.pane.HTML:
    """What is wrong or was replaced, kept visible (not only a toast): ``error`` and ``note``."""

    def render(*_: Any) -> str:
        out = []
        if state.error:
            out.append(f'<div class="ts-error" style="color:#8b0000">{html_text(state.error)}</div>')
        if getattr(state, "note", ""):
            out.append(f'<div class="ts-note" style="color:#8a5a00">note: {html_text(state.note)}</div>')
        return "".join(out)

    pane = pn.pane.HTML(render(), sizing_mode="stretch_width", css_classes=["ts-message"])

    def update(*events: Any) -> None:
        pane.object = render()

    names = ["error", "n_errors"] + (["note", "n_notes"] if "note" in state.param else [])
    watch(state, state, update, *names)
    def toast(event: Any) -> None:
        note = getattr(state, "note", "")
        if note:
            notify("warning", note)

    if "note" in state.param:
        watch(state, state, toast, "n_notes")
    return pane


def error_page(message: str) -> pn.Column:
    """A page showing only ``message`` (escaped), for a page that could not be built."""
    header = pn.Row(title_pane(""), nav(""), styles=HEADER_STYLES, sizing_mode="stretch_width")
    body = pn.pane.HTML(f'<div class="ts-error" style="color:#8b0000;font-size:15px;padding:20px">'
                        f"This page could not be built: {html_text(message)}</div>", sizing_mode="stretch_width")
    return pn.Column(header, body, sizing_mode="stretch_width")


def page(title: str, current: str, sidebar: list[Any], main: list[Any]) -> pn.Column:
    """The page layout: header with navigation, a sidebar of inputs, the main area.

    Plain layouts rather than a template: the templates load fonts or scripts from CDNs, which
    fails offline and shows console errors.
    """
    header = pn.Row(title_pane(title), nav(current), styles=HEADER_STYLES, sizing_mode="stretch_width",
                    css_classes=["ts-header"])
    side = pn.Column(*sidebar, width=340, styles={"background": "#f4f6f8"}, css_classes=["ts-sidebar"])
    body = pn.Column(*main, sizing_mode="stretch_width", css_classes=["ts-main"])
    return pn.Column(header, pn.Row(side, body, sizing_mode="stretch_width"), sizing_mode="stretch_width")


class PageComponent(pn.viewable.Viewer):
    """A page as a component a notebook cell shows, over its Parameterized page state.

    A subclass names its state class (``state_class``, with a matching ``state`` parameter) and
    the function that lays the page out for a state (``build``). ``Page(**inputs)`` makes a
    fresh state from the inputs (or pass ``state=``); ``view.state`` is read and set from code,
    and the layout is built once, on first display.
    """

    state_class: type[param.Parameterized] = param.Parameterized
    build: Callable[[Any], pn.viewable.Viewable]
    state = param.ClassSelector(class_=param.Parameterized, doc="the page state")

    def __init__(self, state: param.Parameterized | None = None, **params: Any) -> None:
        super().__init__(state=state if state is not None else self.state_class(**params))
        self._layout: pn.viewable.Viewable | None = None

    def __panel__(self) -> pn.viewable.Viewable:
        if self._layout is None:
            assert self.state is not None  # set in __init__
            self._layout = type(self).build(self.state)
        return self._layout

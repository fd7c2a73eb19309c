"""Dashboard entry points: ``create_app(page)`` and the routes ``tradespace serve`` serves.

Under ``panel serve app/dashboard/app.py`` the Roofline page is served (``?page=`` picks
another); ``tradespace serve`` serves the landing page at ``/`` and every page of
:data:`app.dashboard.state.PAGES` at ``/<page>`` (``/roofline``, ``/compare``, ``/explore``,
``/targets``, ``/fidelity``).

No traceback reaches a browser: a page that cannot be built shows an escaped message
(:func:`build_page`), and an exception of any callback Panel runs is logged server-side with an
id and notified as ``internal error <id>`` (:func:`on_callback_exception`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import holoviews as hv
import panel as pn

from app.dashboard.safety import error_message
from app.dashboard.state import PAGES

# the page served at "/": what the tool is and a link to every page
LANDING = "landing"


def on_callback_exception(exc: BaseException) -> None:
    """Panel's exception handler: an exception no view caught is logged with an id and shown as
    a notification (an expected error's message without paths, else the id)."""
    from app.dashboard.views.common import notify

    notify("error", error_message(exc))


def _setup() -> None:
    hv.extension("bokeh", logo=False)
    pn.extension("tabulator", notifications=True)
    # Panel's default re-raises (the traceback goes to the log without an id) or, with
    # notifications, shows the exception's text as HTML
    pn.config.exception_handler = on_callback_exception


def create_app(page: str = "roofline", **params: Any) -> Any:
    """The template of one page, with fresh state (one per browser session)."""
    from app.dashboard.views import compare, explore, fidelity, landing, roofline, targets

    _setup()
    makers: dict[str, Callable[..., Any]] = {"roofline": roofline.create, "compare": compare.create,
                                             "explore": explore.create, "targets": targets.create,
                                             "fidelity": fidelity.create, LANDING: landing.create}
    if page not in makers:
        raise KeyError(f"unknown page {page!r}; allowed: {', '.join((LANDING, *PAGES))}")
    return makers[page](**params)


def build_page(page: str, **params: Any) -> Any:
    """:func:`create_app`, or, when building fails, a page with the escaped message (an expected
    error's text without server paths, else ``internal error <id>``, logged with the traceback)."""
    try:
        return create_app(page, **params)
    except Exception as exc:
        from app.dashboard.views.common import error_page

        return error_page(error_message(exc))


def routes() -> dict[str, Callable[[], Any]]:
    """``{url path: factory}`` for ``pn.serve`` (the landing page at ``/``, each page at
    ``/<page>``); each call builds a new session's page."""

    def maker(p: str) -> Callable[[], Any]:
        return lambda: build_page(p)

    return {"/": maker(LANDING), **{p: maker(p) for p in PAGES}}


if pn.state.served:
    _page = pn.state.session_args.get("page", [b"roofline"])[0].decode() if pn.state.session_args else "roofline"
    build_page(_page if _page in (LANDING, *PAGES) else "roofline").servable()

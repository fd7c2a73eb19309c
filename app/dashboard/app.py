"""Dashboard entry points: ``create_app(page)`` and the routes ``tradespace serve`` serves.

Under ``panel serve app/dashboard/app.py`` the Roofline page is served (``?page=`` picks
another); ``tradespace serve`` serves every page at ``/roofline``, ``/compare``, ``/explore``
and ``/targets``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import holoviews as hv
import panel as pn

from app.dashboard.state import PAGES


def _setup() -> None:
    hv.extension("bokeh", logo=False)
    pn.extension("tabulator", notifications=True)


def create_app(page: str = "roofline", **params: Any) -> Any:
    """The template of one page, with fresh state (one per browser session)."""
    from app.dashboard.views import compare, explore, roofline, targets

    _setup()
    makers: dict[str, Callable[..., Any]] = {"roofline": roofline.create, "compare": compare.create,
                                             "explore": explore.create, "targets": targets.create}
    if page not in makers:
        raise KeyError(f"unknown page {page!r}; allowed: {', '.join(PAGES)}")
    return makers[page](**params)


def routes() -> dict[str, Callable[[], Any]]:
    """``{url path: factory}`` for ``pn.serve``; each call builds a new session's page."""

    def maker(p: str) -> Callable[[], Any]:
        return lambda: create_app(p)

    return {p: maker(p) for p in PAGES}


if pn.state.served:
    _page = pn.state.session_args.get("page", [b"roofline"])[0].decode() if pn.state.session_args else "roofline"
    create_app(_page if _page in PAGES else "roofline").servable()
